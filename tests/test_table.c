/* test_table.c - probe/table.c, the table emitter: the same rows as text,
 * TSV and JSON; every output valid UTF-8 (checked with the model library's
 * own fp_utf8_invalid_at and, for JSON, by jansson reading it back); the
 * bytes of a partial character survive as \xNN (text, TSV) and as hex
 * (JSON); control bytes are escaped the one way in text and TSV. */
#include "check.h"
#include "../model/tokenizer.h"
#include "../probe/table.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const tb_col COLS[] = {
	{"n", "n", TB_INT, "%3d", 0, NULL, 0, NULL},
	{"text", "text", TB_STR, "  %-8s", 1, "word", 0, NULL},
	{"x", "x", TB_REAL, " %6.2f", 0, NULL, 0, NULL},
	{NULL, "only_json", TB_INT, NULL, 0, NULL, 0, NULL},
};
/* "é" whole, then the first byte of "京" alone, a tab, a backslash */
static const char CELL[] = "\xc3\xa9\xe4\t\\";

static char *emit(int fmt, int columns)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	tb_table t;
	tb_begin(&t, f, fmt, COLS, 4, 1);
	for (int r = 0; r < 2; r++) {
		tb_int(&t, r);
		tb_str(&t, r ? "ab" : CELL, r ? 2 : sizeof CELL - 1);
		tb_real(&t, r ? NAN : 1.5);
		tb_int(&t, 7);
	}
	json_t *j = columns ? tb_end_columns(&t) : tb_end(&t);
	if (j) {
		json_dumpf(j, f, JSON_COMPACT);
		json_decref(j);
	}
	fclose(f);
	return buf;
}


/* a document: two facts, a table whose rows nest a table of their own */
static const tb_col ROWS[] = {
	{NULL, "layer", TB_STR, "%4s", 0, NULL, 1, NULL},
	{NULL, "p", TB_REAL, " %5.2f  ", 0, NULL, 0, NULL},
	{NULL, "top", TB_NEST, NULL, 0, NULL, 0, NULL},
};
static const tb_col TOPS[] = {
	{NULL, "token", TB_STR, " %s", 1, NULL, 0, NULL},
	{NULL, "id", TB_INT, NULL, 0, NULL, 0, NULL},
};

static char *emit_doc(int fmt)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	tb_doc d;
	tb_table t, top;
	tb_doc_begin(&d, f, fmt);
	tb_doc_str(&d, "prompt", "a\xe4");
	tb_doc_real(&d, "missing", NAN);
	tb_doc_open(&d, "inner");
	tb_doc_int(&d, "k", 2);
	tb_doc_close(&d);
	tb_say(&d, "prompt ");
	tb_say_quoted(&d, "a\xe4", 2);
	tb_say(&d, "\n");
	tb_doc_table(&d, &t, ROWS, 3, 0);
	for (int r = 0; r < 2; r++) {
		tb_str(&t, r ? "0" : "emb", r ? 1 : 3);
		tb_real(&t, 0.25 * r);
		tb_begin_inline(&top, &t, TOPS, 2);
		for (int j = 0; j < 2; j++)
			tb_str(&top, j ? "x" : "\xe6", 1), tb_int(&top, j);
		tb_json(&t, tb_end(&top));
	}
	tb_doc_set(&d, "rows", tb_end(&t));
	tb_doc_end(&d);
	fclose(f);
	return buf;
}

/* a cell writer's output into a string */
static char *cell_out(int which, const char *s, size_t n, int *ret)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	*ret = 0;
	if (which == 0)
		tb_tsv_escape(f, s, n);
	else
		*ret = tb_print_quoted(f, s, n);
	fclose(f);
	return buf;
}

/* control bytes: the one escaping of text and TSV cells (\t \n \r, other C0
 * and DEL as \xNN), a plain text cell and a header label padded by the
 * columns they print, short labels for a grid, a NUL byte kept in JSON */
static void test_control_bytes(void)
{
	char all[128], want[1024], *p = want;
	for (int c = 0; c < 128; c++) {
		all[c] = (char)c;
		if (c == '\t' || c == '\n' || c == '\r' || c == '\\')
			p += sprintf(p, "\\%c", c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : '\\');
		else if (c < 0x20 || c == 0x7f)
			p += sprintf(p, "\\x%02x", c);
		else
			*p++ = (char)c;
	}
	*p = 0;
	int cols;
	char *tsv = cell_out(0, all, sizeof all, &cols), *q;
	int raw = 0;
	for (q = tsv; *q; q++)
		raw += (unsigned char)*q < 0x20 || *q == 0x7f;
	CHECK(!strcmp(tsv, want) && raw == 0 && strlen(tsv) == strlen(want),
	      "TSV cell of the bytes 00..7F: \\t \\n \\r \\\\, other control bytes \\xNN, no raw control byte (%d):\n%s\nwanted:\n%s",
	      raw, tsv, want);
	char *quo = cell_out(1, "\0\x1f\x7f\"\xc3\xa9\xe4", 7, &cols);
	CHECK(!strcmp(quo, "\"\\x00\\x1f\\x7f\\\"\xc3\xa9\\xe4\"") && cols == 2 + 4 + 4 + 4 + 2 + 1 + 4,
	      "quoted text of 00 1F 7F \" é E4: %s, %d columns", quo, cols);
	free(tsv), free(quo);

	/* a plain text cell and a header label: padded by the columns printed */
	static const tb_col PL[] = {
		{NULL, NULL, TB_INT, "%5d", 0, "\xc3\xa9", 0, NULL},
		{NULL, NULL, TB_STR, " %-7s", 0, "w", 1, NULL},
		{NULL, NULL, TB_INT, "%2d", 0, "k", 0, NULL},
	};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	tb_table t;
	tb_begin(&t, f, TB_TEXT, PL, 3, 1);
	tb_int(&t, 1), tb_str(&t, "\xc3\xa9\x01", 3), tb_int(&t, 2);
	tb_end(&t);
	fclose(f);
	const char *want_pl = "    \xc3\xa9 w       k\n"
			      "    1 \xc3\xa9\\x01   2\n";
	CHECK(!strcmp(buf, want_pl), "a plain cell with a control byte and a header label 'é', padded by columns:\n%s\nwanted:\n%s",
	      buf, want_pl);
	free(buf);

	char lab[32];
	struct {
		const char *s;
		size_t n;
		int w;
		const char *want;
	} L[] = {
		{" basketball", 11, 7, "_basket"}, {"\n\xe4\xba", 3, 7, "\\n\\xe4"}, {"\xe6\x9d\xb1\xe4\xba\xac" "ab", 8, 3, "\xe6\x9d\xb1\xe4\xba\xac" "a"},
		{"\0", 1, 7, "\\x00"}, {"a\\b", 3, 7, "a\\b"}, {"\t", 1, 1, ""},
	};
	int lbad = 0;
	for (size_t i = 0; i < sizeof L / sizeof *L; i++) {
		size_t r = tb_label(lab, sizeof lab, L[i].s, L[i].n, L[i].w);
		if (strcmp(lab, L[i].want) || r != strlen(L[i].want))
			lbad++, printf("tb_label %zu: '%s', want '%s'\n", i, lab, L[i].want);
	}
	size_t r = tb_label(lab, 5, "abcdefgh", 8, 7);
	CHECK(lbad == 0 && r == 4 && !strcmp(lab, "abcd"),
	      "tb_label: a space as _, escapes whole, cut after what fits in the columns and in the buffer (%d wrong)", lbad);

	static const tb_col J[] = {{"s", "s", TB_STR, "%s", 1, NULL, 0, NULL}};
	buf = NULL, len = 0;
	f = open_memstream(&buf, &len);
	tb_begin(&t, f, TB_JSON, J, 1, 0);
	tb_str(&t, "a\0b", 3);
	json_t *js = tb_end(&t);
	json_dumpf(js, f, JSON_COMPACT);
	json_decref(js);
	fclose(f);
	CHECK(!strcmp(buf, "[{\"s\":\"a\\u0000b\",\"s_bytes\":\"610062\"}]"), "JSON of a cell holding a NUL byte keeps it: %s", buf);
	free(buf);

	/* a C string (token texts in HDF5 and JSON arrays) cannot hold a NUL:
	 * U+FFFD, as for a byte that is not part of a character, never a cut */
	char *c = tb_utf8_clean("a\0b\xe4" "c\0", 6);
	CHECK(c && !strcmp(c, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd"),
	      "tb_utf8_clean: NUL and a stray byte as U+FFFD, nothing cut: '%s'", c ? c : "(null)");
	free(c);
}

int main(void)
{
	test_control_bytes();
	char *text = emit(TB_TEXT, 0), *tsv = emit(TB_TSV, 0), *js = emit(TB_JSON, 0), *jc = emit(TB_JSON, 1);
	const char *want_text = "  n  word          x\n"
				"  0  \"é\\xe4\\t\\\\\"   1.50\n"
				"  1  \"ab\"        nan\n";
	CHECK(!strcmp(text, want_text), "text table:\n%s\nwanted:\n%s", text, want_text);
	const char *want_tsv = "n\ttext\tx\n0\t\xc3\xa9\\xe4\\t\\\\\t1.5\n1\tab\tnan\n";
	CHECK(!strcmp(tsv, want_tsv), "TSV:\n%s", tsv);
	const char *want_js = "[{\"n\":0,\"text\":\"\xc3\xa9\xef\xbf\xbd\\t\\\\\",\"text_bytes\":\"c3a9e4095c\",\"x\":1.5,"
			      "\"only_json\":7},{\"n\":1,\"text\":\"ab\",\"text_bytes\":\"6162\",\"x\":null,\"only_json\":7}]";
	CHECK(!strcmp(js, want_js), "JSON rows:\n%s\nwanted:\n%s", js, want_js);
	const char *want_jc = "{\"n\":[0,1],\"text\":[\"\xc3\xa9\xef\xbf\xbd\\t\\\\\",\"ab\"],\"text_bytes\":[\"c3a9e4095c\","
			      "\"6162\"],\"x\":[1.5,null],\"only_json\":[7,7]}";
	CHECK(!strcmp(jc, want_jc), "JSON columns:\n%s\nwanted:\n%s", jc, want_jc);
	const char *all[] = {text, tsv, js, jc};
	for (int i = 0; i < 4; i++)
		CHECK(fp_utf8_invalid_at(all[i], strlen(all[i])) < 0, "output %d is valid UTF-8", i);
	json_error_t je;
	json_t *back = json_loads(js, 0, &je);
	CHECK(back && json_array_size(back) == 2, "jansson reads the rows back: %s", back ? "" : je.text);
	json_decref(back);
	char *hex = tb_hex("\x00\xff", 2);
	CHECK(!strcmp(hex, "00ff"), "tb_hex of 00 ff: %s", hex);
	free(hex), free(text), free(tsv), free(js), free(jc);
	char *dt = emit_doc(TB_TEXT), *dv = emit_doc(TB_TSV), *dj = emit_doc(TB_JSON);
	const char *want_dt = "prompt \"a\\xe4\"\n"
			      " emb  0.00   \"\\xe6\" \"x\"\n"
			      "   0  0.25   \"\\xe6\" \"x\"\n";
	CHECK(!strcmp(dt, want_dt), "a document as text: its sentences, each row's nested table on its line:\n%s", dt);
	CHECK(!strcmp(dv, ""), "a document of text-only sentences and JSON-only tables gives no TSV: '%s'", dv);
	const char *want_dj = "{\n  \"prompt\": \"a\xef\xbf\xbd\",\n  \"missing\": null,\n  \"inner\": {\n    \"k\": 2\n  },\n"
			      "  \"rows\": [\n    {\n      \"layer\": \"emb\",\n      \"p\": 0.0,\n      \"top\": [\n"
			      "        {\n          \"token\": \"\xef\xbf\xbd\",\n          \"token_bytes\": \"e6\",\n"
			      "          \"id\": 0\n        },\n        {\n          \"token\": \"x\",\n"
			      "          \"token_bytes\": \"78\",\n          \"id\": 1\n        }\n      ]\n    },\n";
	CHECK(!strncmp(dj, want_dj, strlen(want_dj)), "a document as JSON: facts, a nested object, rows with nested rows:\n%s", dj);
	json_error_t de;
	json_t *dback = json_loads(dj, 0, &de);
	CHECK(dback && json_array_size(json_object_get(dback, "rows")) == 2 &&
		      json_array_size(json_object_get(json_array_get(json_object_get(dback, "rows"), 1), "top")) == 2 &&
		      fp_utf8_invalid_at(dj, strlen(dj)) < 0 && fp_utf8_invalid_at(dt, strlen(dt)) < 0,
	      "jansson reads the document back (2 rows of 2); text and JSON are valid UTF-8 %s", dback ? "" : de.text);
	json_decref(dback);
	free(dt), free(dv), free(dj);
	return check_done("test_table");
}
