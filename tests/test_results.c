/* test_results.c - probe/results.c, the header every -o result file
 * carries: res_header writes format, format_version and the provenance
 * attributes; res_check accepts the format it is asked for, refuses another
 * format (FP_ERR_FORMAT, naming both) and a newer version (FP_ERR_UNSUPPORTED);
 * res_sha256_file against the FIPS 180-2 test vector for "abc". */
#include "check.h"
#include "../probe/h5util.h"
#include "../probe/results.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	char path[] = "/tmp/fp_test_results_XXXXXX", txt[] = "/tmp/fp_test_results_abc_XXXXXX", hex[65] = "", s[128];
	close(mkstemp(path)), close(mkstemp(txt));
	FILE *f = fopen(txt, "wb");
	fputs("abc", f);
	fclose(f);
	CHECK(res_sha256_file(txt, hex) == 0 &&
		      !strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
	      "sha256(\"abc\") is the FIPS 180-2 vector: %s", hex);
	CHECK(res_sha256_file("/nonexistent/x", hex) == -1, "a missing file cannot be hashed");
	char line[64];
	char *argv[] = {"dot", "abJ", "-o", "x.h5"};
	res_command_line(4, argv, line, sizeof line);
	CHECK(!strcmp(line, "factprobe dot abJ -o x.h5"), "command line: %s", line);
	fp_error err = {0};
	hid_t h = h5u_create(path, 1, &err);
	res_prov p = {"9.9", line, "m.gguf", "00ff", };
	CHECK(h >= 0 && res_header(h, RES_LENS, &p, &err) == 0, "header written: %s", err.msg);
	double v = 0;
	CHECK(h5u_attr_read_str(h, "format", s, sizeof s) == 0 && !strcmp(s, RES_LENS) &&
		      h5u_attr_read_f64(h, "format_version", &v) == 0 && v == RES_FORMAT_VERSION &&
		      h5u_attr_read_str(h, "model_sha256", s, sizeof s) == 0 && !strcmp(s, "00ff") &&
		      h5u_attr_read_str(h, "created", s, sizeof s) == 0 && strlen(s) == 20 && s[19] == 'Z',
	      "format, format_version, model_sha256 and created (%s) read back", s);
	CHECK(res_check(h, path, RES_LENS, &err) == 0, "res_check accepts its own format");
	CHECK(res_check(h, path, RES_DOT, &err) == FP_ERR_FORMAT && strstr(err.msg, "not a factprobe-dot result") &&
		      strstr(err.msg, "factprobe-lens"), "another format: %s", err.msg);
	h5u_close(h, path, &err);
	h = h5u_create(path, 1, &err); /* a file from a later factprobe */
	h5u_attr_str(h, NULL, "format", RES_LENS), h5u_attr_i64(h, NULL, "format_version", RES_FORMAT_VERSION + 1);
	CHECK(res_check(h, path, RES_LENS, &err) == FP_ERR_UNSUPPORTED && strstr(err.msg, "version 2"),
	      "a newer version: %s", err.msg);
	h5u_close(h, path, &err);
	unlink(path), unlink(txt);
	return check_done("test_results");
}
