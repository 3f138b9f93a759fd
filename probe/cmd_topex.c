/* cmd_topex.c - `factprobe top-examples`: where a neuron fires most in a
 * corpus, Neuroscope-style. */
#include "analysis.h"
#include "cli.h"
#include "topex.h"
#include "progress.h"
#include "prompts.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char HELP[] =
	"usage: factprobe top-examples [-m MODEL] --neuron L.N (-p CORPUS | --from ACTS.h5) [-k N]\n"
	"                              [--context C] [--hook mlp.hook_post|mlp.hook_pre] [--tsv | --json]\n\n"
	"Runs every prompt of CORPUS (.txt: one per line; .tsv/.jsonl as in 'record')\n"
	"and lists the N token positions where neuron N of layer L has its largest\n"
	"activation (blocks.L.mlp.hook_post unless --hook says otherwise), with the\n"
	"token marked in its context: ...the sport of [[ basketball]] and...\n\n"
	"  -n, --neuron L.N     the neuron (layer and index, from 0)\n"
	"  -p, --prompts FILE   the corpus\n"
	"      --from ACTS.h5   a recording holding the neuron's hook instead: its recorded\n"
	"                       rows, no model run (line = prompt index in the recording)\n"
	"  -k, --top N          examples listed (default 20)\n"
	"      --context C      tokens shown either side (default 12)\n"
	"      --hook H         mlp.hook_post (default) or mlp.hook_pre\n"
	"      --tsv            columns: rank act line position token context\n"
	"      --json           [{rank, act, line, position, token, context, tokens}]\n"
	"      --skip-bad       warn about malformed corpus lines and go on, as 'record'\n"
	"                       does (default: stop at the first)\n"
	"  -q, --quiet          no progress (else on stderr: a bar on a terminal, a line\n"
	"                       every 5 s otherwise)\n"
	"  -m, --model PATH     GGUF file or Hugging Face checkpoint (dir or ORG/NAME)\n"
	"  -h, --help           this help\n\n"
	"example: factprobe top-examples --neuron 29.778 -p datasets/control.txt\n";

/* an example a row: the context with the token marked [[ ]] */
static const tb_col COLS[] = {
	{"rank", "rank", TB_INT, "%4d", 0, NULL, 0, NULL},
	{"act", "act", TB_REAL, " %9.4f", 0, NULL, 0, NULL},
	{"line", "line", TB_INT, " %6d", 0, NULL, 0, NULL},
	{"position", "position", TB_INT, " %4d", 0, "pos", 0, NULL},
	{"token", "token", TB_STR, NULL, 1, NULL, 0, NULL},
	{"context", "context", TB_STR, "  %s", 1, NULL, 0, NULL},
	{NULL, "tokens", TB_NEST, NULL, 0, NULL, 0, NULL},
	{NULL, "marked", TB_INT, NULL, 0, NULL, 0, NULL},
};

/* the bytes of tokens ids[0..n), ids[at] in [[ ]] (malloc'ed; *len set) */
static char *context_bytes(const fp_model *m, const int32_t *ids, int n, int at, size_t *len)
{
	char tb[512];
	size_t cap = 4096;
	char *s = malloc(cap);
	*len = 0;
	for (int j = 0; j < n && s; j++) {
		size_t tl = cli_token_bytes(m, ids[j], tb, sizeof tb);
		if (*len + tl + 8 > cap) {
			char *ns = realloc(s, cap = 2 * (*len + tl + 8));
			if (!ns)
				free(s);
			s = ns;
			if (!s)
				break;
		}
		if (j == at)
			memcpy(s + *len, "[[", 2), *len += 2;
		memcpy(s + *len, tb, tl), *len += tl;
		if (j == at)
			memcpy(s + *len, "]]", 2), *len += 2;
	}
	return s;
}

/* the examples as text, TSV or JSON (an array of rows) */
static void print_examples(int fmt, const fp_model *m, const tx_set *set, const char *corpus)
{
	tb_doc d;
	tb_table t;
	tb_doc_begin(&d, stdout, fmt);
	tb_say(&d, "neuron %d.%d (blocks.%d.%s), top %d of %ld tokens in %ld prompts of %s\n", set->layer, set->neuron,
	       set->layer, set->kind == FP_HOOK_MLP_POST ? "mlp.hook_post" : "mlp.hook_pre", set->have, set->n_tokens,
	       set->n_prompts, corpus);
	tb_doc_table(&d, &t, COLS, 8, 1);
	for (int i = 0; i < set->have; i++) {
		const tx_example *e = &set->ex[i];
		size_t len;
		char *s = context_bytes(m, e->ctx, e->n_ctx, e->at, &len);
		tb_int(&t, i + 1), tb_real(&t, e->act), tb_int(&t, e->line), tb_int(&t, e->pos);
		cli_tb_token(&t, m, e->ctx[e->at]);
		tb_str(&t, s ? s : "", s ? len : 0);
		tb_json(&t, fmt == FMT_JSON ? cli_token_texts(m, e->ctx, e->n_ctx) : NULL);
		tb_int(&t, e->at);
		free(s);
	}
	tb_doc_set(&d, NULL, tb_end(&t));
	tb_doc_end(&d);
}

int cmd_top_examples(int argc, char **argv)
{
	static const struct option opts[] = {
		{"model", required_argument, 0, 'm'}, {"neuron", required_argument, 0, 'n'},
		{"prompts", required_argument, 0, 'p'}, {"top", required_argument, 0, 'k'},
		{"context", required_argument, 0, 'c'}, {"hook", required_argument, 0, 'H'},
		{"tsv", no_argument, 0, 'T'}, {"json", no_argument, 0, 'J'}, {"help", no_argument, 0, 'h'},
		{"skip-bad", no_argument, 0, 'B'}, {"quiet", no_argument, 0, 'q'},
		{"from", required_argument, 0, 'F'}, {0, 0, 0, 0}};
	const char *model = NULL, *neuron_s = NULL, *corpus = NULL, *from = NULL;
	int fmt = FMT_TEXT, k = 20, ctxn = 12, kind = FP_HOOK_MLP_POST, quiet = 0, c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:n:p:k:hq", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model = optarg; break;
		case 'n': neuron_s = optarg; break;
		case 'p': corpus = optarg; break;
		case 'k':
			if (cli_parse_int("top-examples", "-k", optarg, 1, 100000, &k))
				return 2;
			break;
		case 'c':
			if (cli_parse_int("top-examples", "--context", optarg, 0, 1000, &ctxn))
				return 2;
			break;
		case 'H':
			if (!strcmp(optarg, "mlp.hook_post")) kind = FP_HOOK_MLP_POST;
			else if (!strcmp(optarg, "mlp.hook_pre")) kind = FP_HOOK_MLP_PRE;
			else return cli_usage_error("top-examples", "--hook takes mlp.hook_post or mlp.hook_pre, not '%s'", optarg);
			break;
		case 'T': fmt = FMT_TSV; break;
		case 'J': fmt = FMT_JSON; break;
		case 'F': from = optarg; break;
		case 'B': cli_skip_bad("top-examples"); break;
		case 'q': quiet = 1; break;
		case 'h': cli_help(HELP); return 0;
		default: return cli_bad_option("top-examples", c, argv);
		}
	}
	if (argc > optind)
		return cli_usage_error("top-examples", "unexpected argument '%s' (the corpus is -p FILE)", argv[optind]);
	if (!neuron_s || (!corpus) == (!from))
		return cli_usage_error("top-examples", "--neuron L.N and one of -p CORPUS or --from ACTS.h5 are required");
	fp_model *m = cli_load_model("top-examples", model);
	if (!m)
		return 1;
	fp_error err = {0};
	int layer, neuron, rc = 0;
	if (ps_neuron(neuron_s, strlen(neuron_s), m->cfg.n_layers, m->cfg.d_mlp, &layer, &neuron, &err)) {
		fp_model_free(m);
		return cli_error("top-examples", "--neuron: %s", err.msg);
	}
	tx_set set;
	prompt_reader *pr = NULL;
	int32_t *ids = NULL;
	long total = corpus ? prompts_count(corpus) : 0;
	if (tx_init(&set, layer, neuron, kind, k, ctxn)) {
		fp_model_free(m);
		return cli_error("top-examples", "out of memory");
	}
	if (from) {
		if (tx_recording(m, &set, from, &err)) {
			rc = cli_error("top-examples", "%s", err.msg);
			goto done;
		}
		corpus = from;
		goto ranked;
	}
	if (prompts_open(&pr, corpus, &err)) {
		rc = cli_error("top-examples", "%s", err.msg);
		goto done;
	}
	fp_prompt p;
	int r;
	fp_progress pg;
	fp_progress_start(&pg, stderr, quiet, "top-examples", "prompts", "tokens", total);
	while ((r = prompts_next(pr, &p, &err)) == 1) {
		int n = 0;
		free(ids), ids = NULL;
		if (fp_tokenize(m->tok, p.text, p.len, -1, &ids, &n, &err)) {
			rc = cli_error("top-examples", "'%s' line %ld: %s", corpus, p.line, err.msg);
			break;
		}
		if (n == 0)
			continue;
		if (tx_prompt(m, &set, ids, n, p.line, &err)) {
			rc = err.code == FP_ERR_NOMEM ? cli_error("top-examples", "out of memory")
						      : cli_error("top-examples", "'%s' line %ld: %s", corpus, p.line, err.msg);
			break;
		}
		fp_progress_update(&pg, set.n_prompts, (double)set.n_tokens);
	}
	if (!rc && r >= 0)
		fp_progress_end(&pg, set.n_prompts, (double)set.n_tokens);
	if (r < 0)
		rc = cli_error("top-examples", "%s", err.msg);
	if (rc)
		goto done;
ranked:
	if (set.n_prompts == 0) {
		rc = cli_error("top-examples", "'%s' holds no prompts", corpus);
		goto done;
	}
	tx_sort(&set);
	print_examples(fmt, m, &set, corpus);
done:
	cli_skip_bad_report("top-examples");
	tx_free(&set);
	free(ids);
	prompts_close(pr);
	fp_model_free(m);
	return rc;
}
