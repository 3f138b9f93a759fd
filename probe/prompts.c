/* prompts.c - see prompts.h. */
#include "prompts.h"
#include "../model/tokenizer.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

enum { FMT_LINES, FMT_TSV, FMT_JSONL };
enum { COL_PROMPT, COL_SUBJECT, COL_TARGET, COL_RELATION, COL_ID, N_COLS };
static const char *COL_NAME[N_COLS] = {"prompt", "subject", "target", "relation", "id"};

struct prompt_reader {
	FILE *f;
	char *path;
	int fmt;
	int col[N_COLS];  /* TSV column index of each field, -1 if absent */
	int n_cols;
	long line;
	char *buf;
	size_t cap;
	char *field[N_COLS]; /* owned copies for the current prompt */
	int skip_bad;        /* pass over malformed lines (--skip-bad) */
	void (*warn)(void *user, const char *msg);
	void *warn_user;
	long n_skipped;
	int by_default;      /* skip_bad from prompts_skip_bad_default: counted there too */
};

/* --skip-bad for every reader opened from here on (see prompts.h) */
static struct {
	int on;
	void (*warn)(void *user, const char *msg);
	void *user;
	long n_skipped;
} skip_default;

static int ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n >= m && !strcmp(s + n - m, suf);
}

/* reads one line without its newline; returns its length or -1 at EOF */
static ssize_t read_line(prompt_reader *r)
{
	ssize_t n = getline(&r->buf, &r->cap, r->f);
	if (n < 0)
		return -1;
	r->line++;
	if (n && r->buf[n - 1] == '\n')
		r->buf[--n] = 0;
	if (n && r->buf[n - 1] == '\r')
		r->buf[--n] = 0;
	return n;
}

/* an error naming the line when the n bytes just read hold a NUL (a C
 * string would end there and drop the rest of the line without a word) */
static int check_nul(const prompt_reader *r, ssize_t n, fp_error *err)
{
	const char *z = memchr(r->buf, 0, (size_t)n);
	if (!z)
		return 0;
	return fp_error_set(err, FP_ERR_FORMAT, "'%s' line %ld: a NUL byte at byte %ld (a prompt set is text)", r->path,
			    r->line, (long)(z - r->buf));
}

/* unescapes a TSV cell in place; returns its new length */
static size_t unescape(char *s)
{
	char *o = s;
	for (char *p = s; *p; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			*o++ = *p == 't' ? '\t' : *p == 'n' ? '\n' : *p == 'r' ? '\r' : *p;
		} else {
			*o++ = *p;
		}
	}
	*o = 0;
	return (size_t)(o - s);
}

static void clear_fields(prompt_reader *r)
{
	for (int i = 0; i < N_COLS; i++) {
		free(r->field[i]);
		r->field[i] = NULL;
	}
}

void prompts_close(prompt_reader *r)
{
	if (!r)
		return;
	clear_fields(r);
	if (r->f)
		fclose(r->f);
	free(r->buf);
	free(r->path);
	free(r);
}

int prompts_has_subject(const prompt_reader *r)
{
	return r->fmt == FMT_JSONL || (r->fmt == FMT_TSV && r->col[COL_SUBJECT] >= 0);
}

static int start(prompt_reader **out, prompt_reader *r, fp_error *err);

int prompts_open(prompt_reader **out, const char *path, fp_error *err)
{
	*out = NULL;
	prompt_reader *r = calloc(1, sizeof *r);
	if (!r)
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	r->path = strdup(path);
	r->f = fopen(path, "r");
	if (!r->f || !r->path) {
		int rc = r->path ? fp_error_set(err, FP_ERR_IO, "cannot open '%s': %s", path, strerror(errno))
				 : fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		prompts_close(r);
		return rc;
	}
	return start(out, r, err);
}

int prompts_open_stream(prompt_reader **out, FILE *f, const char *name, fp_error *err)
{
	*out = NULL;
	prompt_reader *r = calloc(1, sizeof *r);
	if (!r || !(r->path = strdup(name))) {
		free(r);
		fclose(f);
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	}
	r->f = f;
	return start(out, r, err);
}

/* the format from the name; the header of a TSV set */
static int start(prompt_reader **out, prompt_reader *r, fp_error *err)
{
	const char *path = r->path;
	if (skip_default.on)
		prompts_skip_bad(r, skip_default.warn, skip_default.user), r->by_default = 1;
	r->fmt = ends_with(path, ".tsv") ? FMT_TSV : ends_with(path, ".jsonl") ? FMT_JSONL : FMT_LINES;
	for (int i = 0; i < N_COLS; i++)
		r->col[i] = -1;
	if (r->fmt == FMT_TSV) {
		ssize_t n = read_line(r);
		if (n < 0) {
			int rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': empty file (a TSV prompt set needs a header row)",
					      path);
			prompts_close(r);
			return rc;
		}
		int rc = check_nul(r, n, err);
		if (rc) {
			prompts_close(r);
			return rc;
		}
		/* every tab separates two cells, empty ones too, as in the rows */
		int c = 0;
		for (char *tok = r->buf;; c++) {
			char *tab = strchr(tok, '\t');
			if (tab)
				*tab = 0;
			for (int i = 0; i < N_COLS; i++)
				if (!strcmp(tok, COL_NAME[i]))
					r->col[i] = c;
			if (!tab)
				break;
			tok = tab + 1;
		}
		r->n_cols = c + 1;
		if (r->col[COL_PROMPT] < 0) {
			rc = fp_error_set(err, FP_ERR_FORMAT,
					      "'%s' line 1: the header has no 'prompt' column (columns: prompt, and "
					      "optionally subject, target, relation, id)", path);
			prompts_close(r);
			return rc;
		}
	}
	*out = r;
	return 0;
}

static int set_field(prompt_reader *r, int i, const char *s, size_t n, fp_error *err)
{
	long bad = fp_utf8_invalid_at(s, n);
	if (bad >= 0)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s' line %ld, field '%s': invalid UTF-8 at byte %ld", r->path,
				    r->line, COL_NAME[i], bad);
	r->field[i] = malloc(n + 1);
	if (!r->field[i])
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	memcpy(r->field[i], s, n);
	r->field[i][n] = 0;
	return 0;
}

static int parse_tsv(prompt_reader *r, fp_error *err)
{
	/* cell c of the row, for each wanted column c; the row may be as wide as
	 * the header, so the wanted cells are kept, not every cell */
	char *want[N_COLS] = {0};
	int nc = 0;
	char *p = r->buf;
	for (;;) {
		for (int i = 0; i < N_COLS; i++)
			if (r->col[i] == nc)
				want[i] = p;
		nc++;
		char *tab = strchr(p, '\t');
		if (!tab)
			break;
		*tab = 0;
		p = tab + 1;
	}
	if (nc != r->n_cols)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s' line %ld: %d columns, but the header has %d", r->path, r->line,
				    nc, r->n_cols);
	for (int i = 0; i < N_COLS; i++) {
		if (r->col[i] < 0)
			continue;
		char *c = want[i];
		size_t n = unescape(c);
		int rc = set_field(r, i, c, n, err);
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_jsonl(prompt_reader *r, fp_error *err)
{
	json_error_t je;
	json_t *o = json_loads(r->buf, JSON_REJECT_DUPLICATES, &je);
	if (!o || !json_is_object(o)) {
		json_decref(o);
		return fp_error_set(err, FP_ERR_FORMAT, "'%s' line %ld: not a JSON object (%s)", r->path, r->line,
				    o ? "another JSON value" : je.text);
	}
	int rc = 0;
	for (int i = 0; i < N_COLS && !rc; i++) {
		json_t *v = json_object_get(o, COL_NAME[i]);
		if (!v || json_is_null(v))
			continue;
		if (!json_is_string(v)) {
			rc = fp_error_set(err, FP_ERR_FORMAT, "'%s' line %ld, field '%s': not a string", r->path, r->line,
					  COL_NAME[i]);
			break;
		}
		rc = set_field(r, i, json_string_value(v), json_string_length(v), err);
	}
	json_decref(o);
	return rc;
}

static int next_line(prompt_reader *r, fp_prompt *p, fp_error *err);

int prompts_next(prompt_reader *r, fp_prompt *p, fp_error *err)
{
	for (;;) {
		int rc = next_line(r, p, err);
		if (rc >= 0 || !r->skip_bad)
			return rc;
		r->n_skipped++;
		if (r->warn)
			r->warn(r->warn_user, err->msg);
		skip_default.n_skipped += r->by_default;
	}
}

void prompts_skip_bad(prompt_reader *r, void (*warn)(void *user, const char *msg), void *user)
{
	r->skip_bad = 1, r->warn = warn, r->warn_user = user;
}

long prompts_skipped(const prompt_reader *r)
{
	return r->n_skipped;
}

void prompts_skip_bad_default(void (*warn)(void *user, const char *msg), void *user)
{
	skip_default.on = 1, skip_default.warn = warn, skip_default.user = user;
}

long prompts_skipped_default(void)
{
	return skip_default.n_skipped;
}

static int next_line(prompt_reader *r, fp_prompt *p, fp_error *err)
{
	clear_fields(r);
	ssize_t n = read_line(r);
	if (n < 0)
		return 0;
	int rc = check_nul(r, n, err);
	if (rc)
		return rc;
	if (r->fmt == FMT_TSV)
		rc = parse_tsv(r, err);
	else if (r->fmt == FMT_JSONL)
		rc = parse_jsonl(r, err);
	else
		rc = set_field(r, COL_PROMPT, r->buf, (size_t)n, err);
	if (rc)
		return rc;
	if (!r->field[COL_PROMPT] || !r->field[COL_PROMPT][0])
		return fp_error_set(err, FP_ERR_FORMAT, "'%s' line %ld, field 'prompt': %s", r->path, r->line,
				    r->field[COL_PROMPT] ? "empty" : "missing");
	if (r->field[COL_SUBJECT] && r->field[COL_SUBJECT][0] && !strstr(r->field[COL_PROMPT], r->field[COL_SUBJECT]))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s' line %ld, field 'subject': '%s' does not occur in the prompt",
				    r->path, r->line, r->field[COL_SUBJECT]);
	p->text = r->field[COL_PROMPT];
	p->len = strlen(p->text);
	p->subject = r->field[COL_SUBJECT] && r->field[COL_SUBJECT][0] ? r->field[COL_SUBJECT] : NULL;
	p->target = r->field[COL_TARGET];
	p->relation = r->field[COL_RELATION];
	p->id = r->field[COL_ID];
	p->line = r->line;
	return 1;
}

long prompts_count(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long n = 0;
	int c, last = '\n';
	while ((c = getc(f)) != EOF) {
		if (c == '\n')
			n++;
		last = c;
	}
	if (last != '\n')
		n++;
	fclose(f);
	return ends_with(path, ".tsv") && n > 0 ? n - 1 : n;
}
