/* test_table.c - probe/table.c, the table emitter: the same rows as text,
 * TSV and JSON; every output valid UTF-8 (checked with the model library's
 * own fp_utf8_invalid_at and, for JSON, by jansson reading it back); the
 * bytes of a partial character survive as \xNN (text, TSV) and as hex
 * (JSON). */
#include "check.h"
#include "../model/tokenizer.h"
#include "../probe/table.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const tb_col COLS[] = {
	{"n", "n", TB_INT, "%3d", 0, NULL},
	{"text", "text", TB_STR, "  %-8s", 1, "word"},
	{"x", "x", TB_REAL, " %6.2f", 0, NULL},
	{NULL, "only_json", TB_INT, NULL, 0, NULL},
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

int main(void)
{
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
	return check_done("test_table");
}
