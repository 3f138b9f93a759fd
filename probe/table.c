/* table.c - see table.h. */
#include "table.h"
#include "../model/tokenizer.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* the index of the first byte of s[0..n) that is not part of a whole UTF-8
 * character at or after i, or n */
static size_t next_bad(const char *s, size_t n, size_t i)
{
	long b = i < n ? fp_utf8_invalid_at(s + i, n - i) : -1;
	return b < 0 ? n : i + (size_t)b;
}

/* ---- the one escaping of text and TSV cells ----
 * \t \n \r as such, every other control byte (C0, DEL) and every byte that is
 * not part of a whole UTF-8 character as \xNN; with ESC_BACKSLASH a backslash
 * as \\, with ESC_QUOTE a double quote as \". */
enum { ESC_BACKSLASH = 1, ESC_QUOTE = 2 };

/* the unit of s[0..n) at i (one whole character, or one byte that is not
 * part of one when i == bad) escaped into o (NUL-terminated); returns the
 * bytes of s it stands for, *cols the columns (code points) it prints */
static size_t esc_unit(const char *s, size_t n, size_t i, size_t bad, int flags, char o[8], int *cols)
{
	unsigned char c = (unsigned char)s[i];
	const char *e = NULL;
	*cols = 2;
	if (i == bad || ((c < 0x20 || c == 0x7f) && c != '\t' && c != '\n' && c != '\r')) {
		snprintf(o, 8, "\\x%02x", c);
		*cols = 4;
		return 1;
	}
	if (c == '\t') e = "\\t";
	else if (c == '\n') e = "\\n";
	else if (c == '\r') e = "\\r";
	else if (c == '\\' && (flags & ESC_BACKSLASH)) e = "\\\\";
	else if (c == '"' && (flags & ESC_QUOTE)) e = "\\\"";
	if (e) {
		strcpy(o, e);
		return 1;
	}
	/* a whole character: it ends before bad */
	size_t l = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	l = l < n - i ? l : n - i;
	memcpy(o, s + i, l);
	o[l] = 0;
	*cols = 1;
	return l;
}

/* s[0..n) escaped (flags) onto f, or only measured when f is NULL; returns
 * the columns (code points) */
static int put_escaped(FILE *f, const char *s, size_t n, int flags)
{
	int cols = 0, w;
	char o[8];
	for (size_t i = 0, bad = next_bad(s, n, 0); i < n;) {
		i += esc_unit(s, n, i, bad, flags, o, &w);
		if (i > bad)
			bad = next_bad(s, n, i);
		cols += w;
		if (f)
			fputs(o, f);
	}
	return cols;
}

void tb_tsv_escape(FILE *f, const char *s, size_t n)
{
	put_escaped(f, s, n, ESC_BACKSLASH);
}

/* a backslash stays one: a plain cell may hold text already quoted; f NULL
 * only measures */
int tb_print_plain(FILE *f, const char *s, size_t n)
{
	return put_escaped(f, s, n, 0);
}

int tb_print_quoted(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	int cols = put_escaped(f, s, n, ESC_BACKSLASH | ESC_QUOTE);
	fputc('"', f);
	return cols + 2;
}

size_t tb_label(char *buf, size_t cap, const char *s, size_t n, int width)
{
	size_t used = 0;
	int cols = 0, w;
	char o[8];
	for (size_t i = 0, bad = next_bad(s, n, 0); i < n && cap;) {
		size_t l = esc_unit(s, n, i, bad, 0, o, &w);
		size_t ol = strlen(o);
		if (cols + w > width || used + ol + 1 > cap)
			break;
		if (!strcmp(o, " "))
			o[0] = '_';
		memcpy(buf + used, o, ol);
		used += ol, cols += w, i += l;
		if (i > bad)
			bad = next_bad(s, n, i);
	}
	if (cap)
		buf[used] = 0;
	return used;
}

/* s[0..n) as valid UTF-8 (malloc'ed, NUL-terminated, *len its length),
 * invalid bytes as U+FFFD; with nul_ok a NUL byte is kept (the result is
 * then read with its length), else it becomes U+FFFD too */
static char *utf8_clean(const char *s, size_t n, int nul_ok, size_t *len)
{
	char *o = malloc(3 * n + 1), *p = o;
	if (!o)
		return NULL;
	while (n) {
		size_t good = next_bad(s, n, 0);
		const char *z = nul_ok ? NULL : memchr(s, 0, good);
		if (z)
			good = (size_t)(z - s);
		memcpy(p, s, good);
		p += good, s += good, n -= good;
		if (n) {
			memcpy(p, "\xef\xbf\xbd", 3);
			p += 3, s++, n--;
		}
	}
	*p = 0;
	*len = (size_t)(p - o);
	return o;
}

char *tb_utf8_clean(const char *s, size_t n)
{
	size_t len;
	return utf8_clean(s, n, 0, &len);
}

/* s[0..n) as a JSON string: invalid bytes as U+FFFD, a NUL byte kept
 * (\u0000) */
static json_t *json_text(const char *s, size_t n)
{
	size_t len = 0;
	char *clean = utf8_clean(s, n, 1, &len);
	json_t *j = json_stringn(clean ? clean : "", clean ? len : 0);
	free(clean);
	return j;
}

char *tb_hex(const char *s, size_t n)
{
	char *o = malloc(2 * n + 1);
	for (size_t i = 0; o && i < n; i++)
		snprintf(o + 2 * i, 3, "%02x", (unsigned char)s[i]);
	if (o)
		o[2 * n] = 0;
	return o;
}

/* a text conversion "PREFIX%[-]W..." split into its prefix length, width
 * (negative: left-aligned) and the conversion */
static void text_spec(const char *fmt, int *prefix, int *width)
{
	const char *pc = strchr(fmt, '%');
	*prefix = (int)(pc - fmt);
	*width = atoi(pc + 1); /* "-24" gives -24 */
}

static void text_header(tb_table *t)
{
	for (int c = 0; c < t->ncols; c++) {
		const char *fmt = t->cols[c].text;
		if (!fmt)
			continue;
		int prefix, width;
		text_spec(fmt, &prefix, &width);
		const tb_col *col = &t->cols[c];
		const char *lab = col->label ? col->label : col->name ? col->name : col->json;
		/* padded by the columns it prints (a label may be a token's text) */
		int cols = tb_print_plain(NULL, lab, strlen(lab)), pad = abs(width) > cols ? abs(width) - cols : 0;
		fprintf(t->f, "%.*s%*s", prefix, fmt, width > 0 ? pad : 0, "");
		tb_print_plain(t->f, lab, strlen(lab));
		fprintf(t->f, "%*s", width < 0 ? pad : 0, "");
	}
	fputc('\n', t->f);
}

/* t has columns in the TSV, or in the text table (a table of one format's
 * columns only writes nothing in the others) */
static int tsv_cols(const tb_table *t)
{
	for (int c = 0; c < t->ncols; c++)
		if (t->cols[c].name)
			return !t->inl;
	return 0;
}

static int text_cols(const tb_table *t)
{
	for (int c = 0; c < t->ncols; c++)
		if (t->cols[c].text)
			return 1;
	return 0;
}

void tb_begin_inline(tb_table *t, const tb_table *parent, const tb_col *cols, int ncols)
{
	*t = (tb_table){.f = parent->f, .fmt = parent->fmt, .cols = cols, .ncols = ncols, .inl = 1};
	if (t->fmt == TB_JSON)
		t->rows = json_array();
}

void tb_begin(tb_table *t, FILE *f, int fmt, const tb_col *cols, int ncols, int text_header_line)
{
	*t = (tb_table){.f = f, .fmt = fmt, .cols = cols, .ncols = ncols};
	if (fmt == TB_JSON) {
		t->rows = json_array();
	} else if (fmt == TB_TSV && tsv_cols(t)) {
		int first = 1;
		for (int c = 0; c < ncols; c++)
			if (cols[c].name) {
				fprintf(f, "%s%s", first ? "" : "\t", cols[c].name);
				first = 0;
			}
		fputc('\n', f);
	} else if (text_header_line) {
		text_header(t);
	}
}

/* the column about to be written; starts a row */
static const tb_col *cell(tb_table *t)
{
	if (t->col == 0 && t->fmt == TB_JSON)
		t->row = json_object();
	return &t->cols[t->col];
}

static int tsv_first(const tb_table *t)
{
	for (int c = 0; c < t->col; c++)
		if (t->cols[c].name)
			return 0;
	return 1;
}

static void next(tb_table *t)
{
	if (++t->col < t->ncols)
		return;
	t->col = 0;
	if (t->fmt == TB_JSON)
		json_array_append_new(t->rows, t->row), t->row = NULL;
	else if (t->fmt == TB_TEXT ? !t->inl && text_cols(t) : tsv_cols(t))
		fputc('\n', t->f);
}

/* this cell is written in t's format (an inline table writes no TSV) */
static int on(const tb_table *t, const tb_col *c)
{
	return t->fmt == TB_JSON ? c->json != NULL : t->fmt == TB_TSV ? c->name && !t->inl : c->text != NULL;
}

void tb_int(tb_table *t, long long v)
{
	const tb_col *c = cell(t);
	if (t->fmt == TB_JSON && c->json)
		json_object_set_new(t->row, c->json, json_integer(v));
	else if (t->fmt == TB_TSV && on(t, c))
		fprintf(t->f, "%s%lld", tsv_first(t) ? "" : "\t", v);
	else if (t->fmt == TB_TEXT && c->text) {
		char fmt[32];
		int prefix, width;
		text_spec(c->text, &prefix, &width);
		snprintf(fmt, sizeof fmt, "%.*s%%%dlld", prefix, c->text, width);
		fprintf(t->f, fmt, v);
	}
	next(t);
}

void tb_real(tb_table *t, double v)
{
	const tb_col *c = cell(t);
	if (t->fmt == TB_JSON && c->json)
		json_object_set_new(t->row, c->json, isfinite(v) ? json_real(v) : json_null());
	else if (t->fmt == TB_TSV && on(t, c))
		fprintf(t->f, "%s", tsv_first(t) ? "" : "\t"), fprintf(t->f, c->tsv ? c->tsv : "%.6g", v);
	else if (t->fmt == TB_TEXT && c->text)
		fprintf(t->f, c->text, v);
	next(t);
}

void tb_str(tb_table *t, const char *s, size_t n)
{
	const tb_col *c = cell(t);
	if (t->fmt == TB_JSON && c->json) {
		json_object_set_new(t->row, c->json, json_text(s, n));
		if (c->bytes) {
			char key[128], *hex = tb_hex(s, n);
			snprintf(key, sizeof key, "%s_bytes", c->json);
			json_object_set_new(t->row, key, json_string(hex ? hex : ""));
			free(hex);
		}
	} else if (t->fmt == TB_TSV && on(t, c)) {
		if (!tsv_first(t))
			fputc('\t', t->f);
		tb_tsv_escape(t->f, s, n);
	} else if (t->fmt == TB_TEXT && c->text && c->plain) {
		int prefix, width;
		text_spec(c->text, &prefix, &width);
		int cols = tb_print_plain(NULL, s, n), pad = abs(width) > cols ? abs(width) - cols : 0;
		fprintf(t->f, "%.*s%*s", prefix, c->text, width > 0 ? pad : 0, "");
		tb_print_plain(t->f, s, n);
		fprintf(t->f, "%*s", width < 0 ? pad : 0, "");
	} else if (t->fmt == TB_TEXT && c->text) {
		int prefix, width;
		text_spec(c->text, &prefix, &width);
		fprintf(t->f, "%.*s", prefix, c->text);
		int cols = tb_print_quoted(t->f, s, n), w = width < 0 ? -width : width;
		if (cols < w && c + 1 < t->cols + t->ncols)
			fprintf(t->f, "%*s", w - cols, "");
	}
	next(t);
}

void tb_json(tb_table *t, json_t *v)
{
	const tb_col *c = cell(t);
	if (t->fmt == TB_JSON && c->json)
		json_object_set_new(t->row, c->json, v ? v : json_null());
	else
		json_decref(v);
	next(t);
}

json_t *tb_end(tb_table *t)
{
	json_t *r = t->rows;
	t->rows = NULL;
	return r;
}

json_t *tb_end_row(tb_table *t)
{
	json_t *r = tb_end(t), *row = r ? json_incref(json_array_get(r, 0)) : NULL;
	json_decref(r);
	return row;
}

json_t *tb_end_columns(tb_table *t)
{
	if (!t->rows)
		return NULL;
	json_t *o = json_object();
	for (int c = 0; c < t->ncols; c++) {
		const char *k = t->cols[c].json;
		if (!k)
			continue;
		char key[128];
		for (int pass = 0; pass < 1 + (t->cols[c].type == TB_STR && t->cols[c].bytes); pass++) {
			snprintf(key, sizeof key, pass ? "%s_bytes" : "%s", k);
			json_t *a = json_array();
			size_t i;
			json_t *row;
			json_array_foreach(t->rows, i, row)
				json_array_append(a, json_object_get(row, key));
			json_object_set_new(o, key, a);
		}
	}
	json_decref(t->rows);
	t->rows = NULL;
	return o;
}

/* ---- documents ---- */

void tb_doc_begin(tb_doc *d, FILE *f, int fmt)
{
	*d = (tb_doc){.f = f, .fmt = fmt};
	if (fmt == TB_JSON)
		d->root = json_object();
}

/* the object keys go into now */
static json_t *doc_obj(const tb_doc *d)
{
	return d->depth ? d->open[d->depth - 1] : d->root;
}

void tb_doc_set(tb_doc *d, const char *key, json_t *v)
{
	if (d->root && v && !key) /* the whole document */
		json_decref(d->root), d->root = v, d->depth = 0;
	else if (d->root && v)
		json_object_set_new(doc_obj(d), key, v);
	else
		json_decref(v);
}

void tb_doc_int(tb_doc *d, const char *key, long long v)
{
	if (d->root)
		tb_doc_set(d, key, json_integer(v));
}

void tb_doc_real(tb_doc *d, const char *key, double v)
{
	if (d->root)
		tb_doc_set(d, key, isfinite(v) ? json_real(v) : json_null());
}

void tb_doc_bool(tb_doc *d, const char *key, int v)
{
	if (d->root)
		tb_doc_set(d, key, json_boolean(v));
}

void tb_doc_strn(tb_doc *d, const char *key, const char *s, size_t n)
{
	if (d->root)
		tb_doc_set(d, key, json_text(s, n));
}

void tb_doc_str(tb_doc *d, const char *key, const char *s)
{
	tb_doc_strn(d, key, s ? s : "", s ? strlen(s) : 0);
}

void tb_doc_open(tb_doc *d, const char *key)
{
	if (!d->root || d->depth == (int)(sizeof d->open / sizeof *d->open))
		return;
	json_t *o = json_object();
	json_object_set_new(doc_obj(d), key, o);
	d->open[d->depth++] = o;
}

void tb_doc_close(tb_doc *d)
{
	if (d->depth)
		d->depth--;
}

void tb_say(const tb_doc *d, const char *fmt, ...)
{
	if (d->fmt != TB_TEXT)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(d->f, fmt, ap);
	va_end(ap);
}

void tb_say_quoted(const tb_doc *d, const char *s, size_t n)
{
	if (d->fmt == TB_TEXT)
		tb_print_quoted(d->f, s, n);
}

void tb_say_plain(const tb_doc *d, const char *s, size_t n)
{
	if (d->fmt == TB_TEXT)
		tb_print_plain(d->f, s, n);
}

void tb_doc_table(tb_doc *d, tb_table *t, const tb_col *cols, int ncols, int text_header)
{
	tb_begin(t, d->f, d->fmt, cols, ncols, text_header);
}

void tb_doc_end(tb_doc *d)
{
	if (d->root) {
		json_dumpf(d->root, d->f, JSON_INDENT(2));
		fputc('\n', d->f);
		json_decref(d->root);
	}
	*d = (tb_doc){0};
}

json_t *tb_json_reals(const double *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, isfinite(v[i]) ? json_real(v[i]) : json_null());
	return a;
}

json_t *tb_json_grid(const double *v, size_t rows, size_t cols)
{
	json_t *a = json_array();
	for (size_t r = 0; a && r < rows; r++)
		json_array_append_new(a, tb_json_reals(v + r * cols, cols));
	return a;
}
