/* cli.c - helpers shared by the subcommands (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void vreport(const char *cmd, const char *fmt, va_list ap)
{
	fprintf(stderr, "factprobe%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int cli_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(cmd, fmt, ap);
	va_end(ap);
	return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(cmd, fmt, ap);
	va_end(ap);
	fprintf(stderr, "hint: see 'factprobe %s --help'\n", cmd ? cmd : "");
	return 2;
}

void cli_hint(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("hint: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

const char *cli_model_path(const char *opt, char *buf, size_t n)
{
	const char *env = getenv("FACTPROBE_MODEL");
	if (opt && *opt)
		snprintf(buf, n, "%s", opt);
	else if (env && *env)
		snprintf(buf, n, "%s", env);
	else {
		const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
		if (xdg && *xdg)
			snprintf(buf, n, "%s/factprobe/%s", xdg, FP_DEFAULT_MODEL_FILE);
		else
			snprintf(buf, n, "%s/.cache/factprobe/%s", home ? home : ".", FP_DEFAULT_MODEL_FILE);
	}
	return buf;
}

int cli_weights = FP_WEIGHTS_DEFAULT;

fp_model *cli_load_model(const char *cmd, const char *opt_path)
{
	char path[PATH_MAX];
	fp_error err = {0};
	fp_model *m = NULL;
	int is_default = !(opt_path && *opt_path) && !(getenv("FACTPROBE_MODEL") && *getenv("FACTPROBE_MODEL"));
	cli_model_path(opt_path, path, sizeof path);
	if (fp_model_load_mode(&m, path, cli_weights, &err)) {
		cli_error(cmd, "%s", err.msg);
		if (is_default && err.code == FP_ERR_IO)
			cli_hint("the default model is fetched by 'make model'; or pass -m PATH / set FACTPROBE_MODEL");
		return NULL;
	}
	return m;
}

int cli_bad_option(const char *cmd, int c, char **argv)
{
	const char *opt = argv[optind - 1];
	if (c == ':')
		return cli_usage_error(cmd, "option '%s' needs a value", opt);
	return cli_usage_error(cmd, "unknown option '%s'", opt);
}

int cli_parse_int(const char *cmd, const char *opt, const char *s, int lo, int hi, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		cli_usage_error(cmd, "%s expects an integer from %d to %d, not '%s'", opt, lo, hi, s);
		return -1;
	}
	*out = (int)v;
	return 0;
}

void cli_tsv_escape(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '\t': fputs("\\t", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\\': fputs("\\\\", f); break;
		default: fputc(s[i], f);
		}
	}
}

char *cli_utf8_clean(const char *s, size_t n)
{
	char *o = malloc(3 * n + 1), *p = o;
	if (!o)
		return NULL;
	while (n) {
		long bad = fp_utf8_invalid_at(s, n);
		size_t good = bad < 0 ? n : (size_t)bad;
		memcpy(p, s, good);
		p += good, s += good, n -= good;
		if (n) {
			memcpy(p, "\xef\xbf\xbd", 3);
			p += 3, s++, n--;
		}
	}
	*p = 0;
	return o;
}

int cli_print_quoted(FILE *f, const char *s, size_t n)
{
	int cols = 2; /* the quotes; then one column per code point printed */
	long bad = fp_utf8_invalid_at(s, n);
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (bad >= 0 && (size_t)bad == i) { /* a piece of a character: show the byte */
			cols += fprintf(f, "\\x%02x", c);
			bad = i + 1 < n ? fp_utf8_invalid_at(s + i + 1, n - i - 1) : -1;
			if (bad >= 0)
				bad += (long)i + 1;
			continue;
		}
		if (c == '\n') cols += fputs("\\n", f) >= 0 ? 2 : 0;
		else if (c == '\t') cols += fputs("\\t", f) >= 0 ? 2 : 0;
		else if (c == '\r') cols += fputs("\\r", f) >= 0 ? 2 : 0;
		else if (c == '"') cols += fputs("\\\"", f) >= 0 ? 2 : 0;
		else if (c == '\\') cols += fputs("\\\\", f) >= 0 ? 2 : 0;
		else if (c < 0x20 || c == 0x7f)
			cols += fprintf(f, "\\x%02x", c);
		else {
			fputc(c, f);
			cols += (c & 0xc0) != 0x80;
		}
	}
	fputc('"', f);
	return cols;
}

char *cli_text_arg(const char *cmd, const char *text, size_t *len)
{
	if (strcmp(text, "-")) {
		*len = strlen(text);
		return strdup(text);
	}
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		size_t r = fread(buf + n, 1, cap - n - 1, stdin);
		n += r;
		if (r == 0)
			break;
		if (n + 1 == cap) {
			char *nb = cap > ((size_t)1 << 28) ? NULL : realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				cli_error(cmd, "standard input is too large");
				return NULL;
			}
			buf = nb, cap *= 2;
		}
	}
	if (!buf) {
		cli_error(cmd, "out of memory");
		return NULL;
	}
	buf[n] = 0;
	*len = n;
	return buf;
}

int cli_parse_at(const char *cmd, const char *s, unsigned allowed, int *mode, int *pos)
{
	fp_error err = {0};
	if (ps_at(s, allowed, mode, pos, &err)) {
		cli_usage_error(cmd, "%s", err.msg);
		return -1;
	}
	return 0;
}

int cli_at_position(const char *cmd, int mode, int pos, int n, int s1)
{
	fp_error err = {0};
	int p;
	if (ps_at_position(mode, pos, n, s1, &p, &err)) {
		cli_error(cmd, "%s", err.msg);
		return -1;
	}
	return p;
}

char *cli_token_text(const fp_model *m, int id)
{
	char buf[512];
	int l = fp_token_decode(m->tok, id, buf, sizeof buf);
	size_t n = l < 0 ? 0 : (size_t)l < sizeof buf ? (size_t)l : sizeof buf - 1;
	return cli_utf8_clean(buf, n);
}

int cli_parse_hook_pattern(const char *cmd, const fp_model *m, const char *s, int *kind, int *layer)
{
	fp_error err = {0};
	int rc = ps_hook_pattern_model(m, s, kind, layer, &err);
	if (rc == FP_ERR_FORMAT)
		cli_usage_error(cmd, "%s", err.msg);
	else if (rc)
		cli_error(cmd, "%s", err.msg);
	return rc ? -1 : 0;
}
