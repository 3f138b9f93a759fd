/* cli.c - helpers shared by the subcommands (see cli.h). */
#include "cli.h"
#include "prompts.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int g_rank, g_size = 1;

void cli_set_rank(int rank, int size)
{
	g_rank = rank, g_size = size;
}

/* the line is made whole first and written at once, so that lines of
 * processes sharing a terminal (MPI ranks) do not interleave */
static void vreport(const char *cmd, const char *fmt, va_list ap)
{
	char line[20000];
	int n = snprintf(line, sizeof line, "factprobe%s%s", cmd ? " " : "", cmd ? cmd : "");
	if (g_size > 1)
		n += snprintf(line + n, sizeof line - (size_t)n, " (rank %d of %d)", g_rank, g_size);
	n += snprintf(line + n, sizeof line - (size_t)n, ": ");
	vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	fflush(stderr);
	fprintf(stderr, "%s\n", line);
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
	if (g_rank == 0)
		fprintf(stderr, "hint: see 'factprobe %s --help'\n", cmd ? cmd : "");
	return 2;
}

void cli_hint(const char *fmt, ...)
{
	if (g_rank != 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	fputs("hint: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* the models 'make model' fetches, by the names -m and $FACTPROBE_MODEL take */
static const struct { const char *alias, *file; } MODEL_ALIASES[] = {
	{"smollm2", FP_DEFAULT_MODEL_FILE},
	{"gemma3-270m", "gemma-3-270m-q4_k_m.gguf"},
};

const char *cli_model_path(const char *opt, char *buf, size_t n)
{
	const char *env = getenv("FACTPROBE_MODEL"), *name = opt && *opt ? opt : env && *env ? env : NULL;
	const char *file = name ? NULL : FP_DEFAULT_MODEL_FILE;
	for (size_t i = 0; name && i < sizeof MODEL_ALIASES / sizeof MODEL_ALIASES[0]; i++)
		if (!strcmp(name, MODEL_ALIASES[i].alias) && access(name, F_OK) != 0)
			file = MODEL_ALIASES[i].file; /* an alias, unless a file has that name */
	if (!file) {
		/* a Hugging Face model id (ORG/NAME) or cache entry: its snapshot
		 * directory, so that the path hashed is the path loaded */
		fp_error e = {0};
		if (fp_hf_resolve(name, buf, n, &e) != 1)
			snprintf(buf, n, "%s", name);
	} else {
		const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
		if (xdg && *xdg)
			snprintf(buf, n, "%s/factprobe/%s", xdg, file);
		else
			snprintf(buf, n, "%s/.cache/factprobe/%s", home ? home : ".", file);
	}
	return buf;
}

static char command_line[4096] = "factprobe"; /* cli_set_command_line */

int cli_weights = FP_WEIGHTS_DEFAULT;
int cli_matmul = FP_MATMUL_EXACT;
const char *cli_weights_from = "--weights ", *cli_matmul_from = "--matmul ";

void cli_help(const char *help)
{
	fputs(help, stdout);
	fputs("\nglobal options (any command that loads a model; 'factprobe --help' says more):\n"
	      "  --weights auto|native|f32  weights in the file's types or f32 ($FACTPROBE_WEIGHTS)\n"
	      "  --matmul exact|q8          products in f32 (exact, the default) or, as llama.cpp,\n"
	      "                             with 8-bit activations: faster, approximate\n"
	      "                             ($FACTPROBE_MATMUL)\n",
	      stdout);
}

fp_model *cli_load_model(const char *cmd, const char *opt_path)
{
	char path[PATH_MAX];
	fp_error err = {0};
	fp_model *m = NULL;
	cli_model_path(opt_path, path, sizeof path);
	/* the default model or an alias (the path is not the name given): in the
	 * cache, where 'make model' puts it */
	const char *given = opt_path && *opt_path ? opt_path : getenv("FACTPROBE_MODEL");
	int is_default = !given || !*given || strcmp(given, path) != 0;
	fp_load_opts lo = {cli_weights, cli_matmul};
	if (cli_matmul == FP_MATMUL_Q8 && cli_weights == FP_WEIGHTS_F32) {
		/* the library refuses it too; here the words say where each came from */
		cli_error(cmd, "%sq8 multiplies the weights in the file's own types (8-bit activations times Q4_K, "
			  "Q8_0, ... blocks), so it cannot use %sf32 (weights dequantised at load); use native or auto",
			  cli_matmul_from, cli_weights_from);
		return NULL;
	}
	if (fp_model_load_opts(&m, path, &lo, &err)) {
		cli_error(cmd, "%s", err.msg);
		if (is_default && err.code == FP_ERR_IO)
			cli_hint("the default model and gemma3-270m are fetched by 'make model'; or pass -m PATH / set FACTPROBE_MODEL");
		return NULL;
	}
	if (!m->tok && strcmp(cmd, "info") && strcmp(cmd, "superposition")) {
		/* a checkpoint without a usable tokenizer: only what needs no text */
		cli_error(cmd, "%s", m->tok_error.msg);
		cli_hint("this checkpoint's weights load (factprobe info works), but this command needs its tokenizer");
		fp_model_free(m);
		return NULL;
	}
	static int warned;
	if (cli_matmul == FP_MATMUL_Q8 && m->matmul != FP_MATMUL_Q8 && !warned++) {
		/* a warning, not a refusal: the products are exact, the results
		 * right, and $FACTPROBE_MATMUL=q8 may be set for many models; the
		 * recordings (m->matmul) and the command line say exact */
		fprintf(stderr, "factprobe %s: warning: %sq8 has no effect on '%s': none of its matrices is of a type "
			"q8 multiplies (Q4_0 ... Q8_0, the K-quants); every product is exact\n", cmd, cli_matmul_from, path);
		size_t n = strlen(command_line), k = strlen(" --matmul q8");
		if (n >= k && !strcmp(command_line + n - k, " --matmul q8"))
			command_line[n - k] = 0;
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
	return tb_utf8_clean(buf, n);
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

static void warn_skip(void *cmd, const char *msg)
{
	fprintf(stderr, "factprobe %s: warning: skipping %s\n", (const char *)cmd, msg);
}

void cli_skip_bad(const char *cmd)
{
	prompts_skip_bad_default(warn_skip, (void *)cmd);
}

void cli_skip_bad_report(const char *cmd)
{
	long n = prompts_skipped_default();
	if (n)
		fprintf(stderr, "factprobe %s: warning: %ld malformed prompt lines skipped\n", cmd, n);
}


void cli_set_command_line(int argc, char **argv)
{
	res_command_line(argc, argv, command_line, sizeof command_line);
	/* the global option that changes the numbers (taken out of argv before) */
	size_t n = strlen(command_line);
	if (cli_matmul == FP_MATMUL_Q8 && n + 12 < sizeof command_line)
		memcpy(command_line + n, " --matmul q8", 13);
}

const char *cli_command_line(void)
{
	return command_line;
}

int cli_result_header(hid_t f, const char *format, const char *model_path, fp_error *err)
{
	char sha[65] = "";
	const char *base = model_path ? strrchr(model_path, '/') : NULL;
	if (model_path && res_sha256_file(model_path, sha))
		return fp_error_set(err, FP_ERR_IO, "cannot read '%s' to hash it", model_path);
	res_prov p = {FACTPROBE_VERSION, command_line, base ? base + 1 : model_path, sha};
	return res_header(f, format, &p, err);
}

json_t *cli_token_texts(const fp_model *m, const int32_t *ids, int n)
{
	json_t *a = json_array();
	for (int t = 0; a && t < n; t++) {
		char *tt = cli_token_text(m, ids[t]);
		json_array_append_new(a, json_string(tt ? tt : ""));
		free(tt);
	}
	return a;
}

size_t cli_token_bytes(const fp_model *m, int id, char *buf, size_t n)
{
	int l = fp_token_decode(m->tok, id, buf, n);
	return l < 0 ? 0 : (size_t)l < n ? (size_t)l : n - 1;
}

void cli_tb_token(tb_table *t, const fp_model *m, int id)
{
	char buf[512];
	tb_str(t, buf, cli_token_bytes(m, id, buf, sizeof buf));
}
