/* test_prompts.c - the prompt-set reader (probe/prompts.c) on hand-written
 * sets: headers of any width (the wanted columns past the 64th too), empty
 * header cells counted like the rows' cells, escapes, and the errors that
 * name the line and field.  The expected fields are written out here, by
 * hand, from the text of each set. */
#include "check.h"
#include "../probe/prompts.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/fp_prompts_XXXXXX";

/* writes text to dir/name and returns the path (static buffer) */
static const char *put(const char *name, const char *text)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		return path;
	fputs(text, f);
	fclose(f);
	return path;
}

static int streq(const char *a, const char *b) { return a && b && !strcmp(a, b); }

/* a header of n columns named c0, c1, ... with prompt, subject and target at
 * the given indices, and one row whose cell i is v<i> except those three */
static char *wide_set(int n, int ip, int is, int it, int row_cells)
{
	size_t cap = (size_t)n * 16 + 256, len = 0;
	char *s = malloc(cap);
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s%s", i ? "\t" : "",
					i == ip ? "prompt" : i == is ? "subject" : i == it ? "target" : "c");
	len += (size_t)snprintf(s + len, cap - len, "\n");
	for (int i = 0; i < row_cells; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s%s", i ? "\t" : "",
					i == ip ? "The capital of France is" : i == is ? "France" : i == it ? "Paris" : "x");
	snprintf(s + len, cap - len, "\n");
	return s;
}

static void test_wide(int n, int ip, int is, int it)
{
	char *text = wide_set(n, ip, is, it, n);
	prompt_reader *r = NULL;
	fp_error err = {0};
	fp_prompt p;
	int rc = prompts_open(&r, put("wide.tsv", text), &err);
	CHECK(rc == 0, "%d columns, prompt at %d: opens (%s)", n, ip, err.msg);
	if (!rc) {
		rc = prompts_next(r, &p, &err);
		CHECK(rc == 1 && streq(p.text, "The capital of France is") && streq(p.subject, "France") &&
			      streq(p.target, "Paris"),
		      "%d columns, prompt at %d, subject at %d, target at %d: the row's own cells (rc %d, %s)", n, ip, is,
		      it, rc, rc < 0 ? err.msg : "");
		CHECK(prompts_next(r, &p, &err) == 0, "%d columns: one row, then the end", n);
		prompts_close(r);
	}
	free(text);
	/* the same header and a row one cell short */
	text = wide_set(n, ip, is, it, n - 1);
	err = (fp_error){0};
	rc = prompts_open(&r, put("wide.tsv", text), &err);
	if (!rc) {
		rc = prompts_next(r, &p, &err);
		char want[128];
		snprintf(want, sizeof want, "line 2: %d columns, but the header has %d", n - 1, n);
		CHECK(rc < 0 && strstr(err.msg, want), "%d columns, a row of %d: '%s' (got '%s')", n, n - 1, want,
		      err.msg);
		prompts_close(r);
	}
	free(text);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		printf("cannot make a temporary directory\n");
		return 1;
	}
	/* wide headers: the wanted columns before and past index 63 */
	test_wide(3, 0, 1, 2);
	test_wide(64, 63, 1, 2);
	test_wide(65, 64, 63, 0);
	test_wide(70, 66, 68, 69);
	test_wide(300, 299, 200, 64);

	prompt_reader *r = NULL;
	fp_error err = {0};
	fp_prompt p;
	int rc;

	/* an empty header cell is a column, as an empty row cell is */
	rc = prompts_open(&r, put("gap.tsv", "prompt\t\tsubject\nThe capital of France is\tx\tFrance\n"), &err);
	CHECK(rc == 0, "header 'prompt<TAB><TAB>subject' opens (%s)", err.msg);
	if (!rc) {
		rc = prompts_next(r, &p, &err);
		CHECK(rc == 1 && streq(p.text, "The capital of France is") && streq(p.subject, "France"),
		      "header with an empty cell, a 3-cell row: prompt and subject from cells 0 and 2 (rc %d, %s)", rc,
		      rc < 0 ? err.msg : "");
		prompts_close(r);
	}
	err = (fp_error){0};
	rc = prompts_open(&r, put("gap.tsv", "prompt\t\tsubject\nThe capital of France is\tFrance\n"), &err);
	if (!rc) {
		rc = prompts_next(r, &p, &err);
		CHECK(rc < 0 && strstr(err.msg, "line 2: 2 columns, but the header has 3"),
		      "header with an empty cell, a 2-cell row: '%s'", err.msg);
		prompts_close(r);
	}
	/* a leading and a trailing empty header cell */
	err = (fp_error){0};
	rc = prompts_open(&r, put("edges.tsv", "\tprompt\t\nq\tab\tz\n"), &err);
	CHECK(rc == 0, "header '<TAB>prompt<TAB>' opens (%s)", err.msg);
	if (!rc) {
		rc = prompts_next(r, &p, &err);
		CHECK(rc == 1 && streq(p.text, "ab"), "header '<TAB>prompt<TAB>': the prompt is cell 1 of 3 (rc %d)", rc);
		prompts_close(r);
	}
	/* escapes in cells */
	err = (fp_error){0};
	rc = prompts_open(&r, put("esc.tsv", "prompt\tid\na\\tb\\\\c\\nd\tk\\1\n"), &err);
	if (!rc) {
		rc = prompts_next(r, &p, &err);
		CHECK(rc == 1 && streq(p.text, "a\tb\\c\nd") && streq(p.id, "k1"), "TSV escapes \\t \\\\ \\n (rc %d)", rc);
		prompts_close(r);
	}
	/* the header must name prompt */
	err = (fp_error){0};
	rc = prompts_open(&r, put("noprompt.tsv", "subject\t\ttarget\nx\ty\tz\n"), &err);
	CHECK(rc < 0 && strstr(err.msg, "line 1: the header has no 'prompt' column"), "no prompt column: '%s'",
	      err.msg);
	err = (fp_error){0};
	rc = prompts_open(&r, put("empty.tsv", ""), &err);
	CHECK(rc < 0 && strstr(err.msg, "empty.tsv': empty file"), "empty TSV: '%s'", err.msg);

	/* a NUL byte is an error naming the line and byte, in every format (it
	 * used to end the prompt there without a word) */
	static const char *nul_name[3] = {"nul.txt", "nul.tsv", "nul.jsonl"};
	static const char nul_text[3][64] = {"first\nab\0cd\n", "prompt\nfirst\nab\0cd\n",
					     "{\"prompt\": \"first\"}\n{\"prompt\": \"ab\"}\0cd\n"};
	static const size_t nul_len[3] = {12, 19, 40};
	static const long nul_byte[3] = {2, 2, 16};
	for (int k = 0; k < 3; k++) {
		char *m = malloc(nul_len[k]);
		memcpy(m, nul_text[k], nul_len[k]);
		FILE *fn = fmemopen(m, nul_len[k], "r");
		err = (fp_error){0};
		rc = prompts_open_stream(&r, fn, nul_name[k], &err);
		if (!rc) {
			int r1 = prompts_next(r, &p, &err);
			rc = prompts_next(r, &p, &err);
			char want[128];
			snprintf(want, sizeof want, "'%s' line %d: a NUL byte at byte %ld", nul_name[k], k == 1 ? 3 : 2,
				 nul_byte[k]);
			CHECK(r1 == 1 && rc < 0 && strstr(err.msg, want), "%s: a NUL byte in line %d: '%s'", nul_name[k],
			      k == 1 ? 3 : 2, err.msg);
			prompts_close(r);
		}
		free(m);
	}
	/* in a TSV header too */
	static char nul_hdr[] = "prompt\0x\tsubject\n";
	err = (fp_error){0};
	rc = prompts_open_stream(&r, fmemopen(nul_hdr, sizeof nul_hdr - 1, "r"), "nulhdr.tsv", &err);
	CHECK(rc < 0 && strstr(err.msg, "'nulhdr.tsv' line 1: a NUL byte at byte 6"), "a NUL byte in a TSV header: '%s'",
	      err.msg);

	/* a stream: the format from the name */
	static char buf[] = "{\"prompt\": \"The capital of France is\", \"subject\": \"France\"}\n";
	FILE *f = fmemopen(buf, strlen(buf), "r");
	err = (fp_error){0};
	rc = prompts_open_stream(&r, f, "mem.jsonl", &err);
	CHECK(rc == 0, "prompts_open_stream on fmemopen (%s)", err.msg);
	if (!rc) {
		rc = prompts_next(r, &p, &err);
		CHECK(rc == 1 && streq(p.text, "The capital of France is") && streq(p.subject, "France"),
		      "a JSONL stream: prompt and subject (rc %d)", rc);
		prompts_close(r);
	}
	static char hdr[] = "prompt\tsubject\n";
	f = fmemopen(hdr, strlen(hdr), "r");
	rc = prompts_open_stream(&r, f, "mem.tsv", &err);
	CHECK(rc == 0 && prompts_next(r, &p, &err) == 0, "a TSV stream with a header only: no prompts");
	prompts_close(r);

	unlink(put("wide.tsv", "")), unlink(put("gap.tsv", "")), unlink(put("edges.tsv", ""));
	unlink(put("esc.tsv", "")), unlink(put("noprompt.tsv", "")), unlink(put("empty.tsv", ""));
	rmdir(dir);
	return check_done("test_prompts");
}
