/* cmd_topex.c - `factprobe top-examples`: where a neuron fires most in a
 * corpus, Neuroscope-style. */
#include "analysis.h"
#include "cli.h"
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
	"  -m, --model PATH     GGUF model\n"
	"  -h, --help           this help\n\n"
	"example: factprobe top-examples --neuron 29.778 -p datasets/control.txt\n";

typedef struct example {
	float act;
	long line;
	int pos, n_ctx, at; /* at: index of the marked token in ctx */
	int32_t *ctx;
} example;

typedef struct topex_ctx {
	int layer, neuron, n, F, kind;
	float *col; /* [n] */
} topex_ctx;

static int topex_hook(void *user, const fp_hook_event *ev)
{
	topex_ctx *c = user;
	if (ev->kind != c->kind || ev->layer != c->layer)
		return 0;
	for (int t = 0; t < c->n; t++)
		c->col[t] = ev->data[(size_t)t * c->F + c->neuron];
	return 1; /* nothing later is needed: stop the pass here */
}

static int worst(const example *ex, int have)
{
	int w = 0;
	for (int i = 1; i < have; i++)
		if (ex[i].act < ex[w].act)
			w = i;
	return w;
}

/* keeps ex (have of k) the k largest; ctx is positions [t-ctxn, t+ctxn] of ids */
static int offer(example *ex, int *have, int k, float act, long line, const int32_t *ids, int n, int t, int ctxn)
{
	int slot;
	if (*have < k)
		slot = (*have)++;
	else if (act > ex[slot = worst(ex, *have)].act)
		free(ex[slot].ctx);
	else
		return 0;
	int a = t - ctxn < 0 ? 0 : t - ctxn, b = t + ctxn + 1 > n ? n : t + ctxn + 1;
	ex[slot] = (example){act, line, t, b - a, t - a, malloc((size_t)(b - a) * sizeof(int32_t))};
	if (!ex[slot].ctx)
		return -1;
	memcpy(ex[slot].ctx, ids + a, (size_t)(b - a) * sizeof(int32_t));
	return 0;
}

/* --from: the neuron's recorded activations, every prompt's recorded rows */
static int from_recording(fp_model *m, const char *path, int layer, int neuron, int kind, example *ex, int *have, int k,
			  int ctxn, long *n_prompts, long *n_tokens)
{
	fp_error err = {0};
	h5rec_in *rec = NULL;
	h5rec_meta mt;
	if (h5rec_open(&rec, path, &mt, &err))
		return cli_error("top-examples", "%s", err.msg);
	int rc = 0, F = m->cfg.d_mlp, w;
	long P = mt.n_prompts, R = mt.n_rows;
	char hn[96];
	snprintf(hn, sizeof hn, "blocks.%d.%s", layer, kind == FP_HOOK_MLP_POST ? "mlp.hook_post" : "mlp.hook_pre");
	long *rs = malloc((size_t)(P + 1) * sizeof *rs), *nr = malloc((size_t)(P + 1) * sizeof *nr);
	long *ts = malloc((size_t)(P + 1) * sizeof *ts), *nt = malloc((size_t)(P + 1) * sizeof *nt);
	long *pos = malloc((size_t)(R + 1) * sizeof *pos), *idl = NULL;
	float *chunk = malloc((size_t)256 * F * sizeof *chunk), *col = malloc((size_t)(R + 1) * sizeof *col);
	int32_t *ids = NULL;
	if (!rs || !nr || !ts || !nt || !pos || !chunk || !col) {
		rc = cli_error("top-examples", "out of memory");
		goto done;
	}
	if (mt.d_mlp != F || mt.n_layers != m->cfg.n_layers) {
		rc = cli_error("top-examples", "'%s' was recorded from another model (%d layers, d_mlp %d)", path, mt.n_layers,
			       mt.d_mlp);
		goto done;
	}
	if (h5rec_longs(rec, "prompts/row_start", rs, P, &err) || h5rec_longs(rec, "prompts/n_rows", nr, P, &err) ||
	    h5rec_longs(rec, "prompts/token_start", ts, P, &err) || h5rec_longs(rec, "prompts/n_tokens", nt, P, &err) ||
	    h5rec_longs(rec, "rows/position", pos, R, &err)) {
		rc = cli_error("top-examples", "%s", err.msg);
		goto done;
	}
	for (long r0 = 0; r0 < R || (R == 0 && r0 == 0); r0 += 256) { /* the neuron's column, 256 rows at a time */
		long cnt = R - r0 < 256 ? R - r0 : 256;
		if (h5rec_read(rec, hn, r0, cnt, chunk, &w, &err)) {
			rc = cli_error("top-examples", "%s", err.msg);
			goto done;
		}
		for (long q = 0; q < cnt; q++)
			col[r0 + q] = chunk[(size_t)q * w + neuron];
		if (R == 0)
			break;
	}
	long tot = P ? ts[P - 1] + nt[P - 1] : 0;
	idl = malloc((size_t)(tot + 1) * sizeof *idl);
	ids = malloc((size_t)(tot + 1) * sizeof *ids);
	if (!idl || !ids || h5rec_longs(rec, "tokens/id", idl, tot, &err)) {
		rc = cli_error("top-examples", "%s", idl && ids ? err.msg : "out of memory");
		goto done;
	}
	for (long q = 0; q < tot; q++)
		ids[q] = (int32_t)idl[q];
	for (long p = 0; p < P; p++) {
		for (long q = 0; q < nr[p]; q++) {
			long t = pos[rs[p] + q];
			if (t < 0 || t >= nt[p]) {
				rc = cli_error("top-examples", "'%s': prompt %ld has a row at position %ld of %ld", path, p, t, nt[p]);
				goto done;
			}
			if (offer(ex, have, k, col[rs[p] + q], p, ids + ts[p], (int)nt[p], (int)t, ctxn)) {
				rc = cli_error("top-examples", "out of memory");
				goto done;
			}
		}
		(*n_tokens) += nr[p];
	}
	*n_prompts = P;
done:
	free(rs), free(nr), free(ts), free(nt), free(pos), free(idl), free(chunk), free(col), free(ids);
	h5rec_in_close(rec);
	return rc;
}

static int by_act(const void *a, const void *b)
{
	float x = ((const example *)a)->act, y = ((const example *)b)->act;
	return x < y ? 1 : x > y ? -1 : 0;
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
		case 'h': fputs(HELP, stdout); return 0;
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
	int layer, neuron, rc = 0, have = 0;
	if (ps_neuron(neuron_s, strlen(neuron_s), m->cfg.n_layers, m->cfg.d_mlp, &layer, &neuron, &err)) {
		fp_model_free(m);
		return cli_error("top-examples", "--neuron: %s", err.msg);
	}
	example *ex = calloc((size_t)k, sizeof *ex);
	prompt_reader *pr = NULL;
	int32_t *ids = NULL;
	float *col = NULL;
	long n_prompts = 0, n_tokens = 0, total = corpus ? prompts_count(corpus) : 0;
	if (!ex) {
		rc = cli_error("top-examples", "out of memory");
		goto done;
	}
	if (from) {
		if ((rc = from_recording(m, from, layer, neuron, kind, ex, &have, k, ctxn, &n_prompts, &n_tokens)))
			goto done;
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
		float *nc = realloc(col, (size_t)n * sizeof *col);
		if (!nc) {
			rc = cli_error("top-examples", "out of memory");
			break;
		}
		col = nc;
		topex_ctx tc = {layer, neuron, n, m->cfg.d_mlp, kind, col};
		fp_forward_opts o = {0};
		o.hook = topex_hook;
		o.user = &tc;
		o.hook_mask = FP_HOOK_BIT(kind);
		if (fp_model_forward(m, ids, n, &o, NULL, &err) && err.code != FP_ERR_ABORTED) {
			rc = cli_error("top-examples", "'%s' line %ld: %s", corpus, p.line, err.msg);
			break;
		}
		for (int t = 0; t < n; t++)
			if (offer(ex, &have, k, col[t], p.line, ids, n, t, ctxn)) {
				rc = cli_error("top-examples", "out of memory");
				goto done;
			}
		n_prompts++, n_tokens += n;
		fp_progress_update(&pg, n_prompts, (double)n_tokens);
	}
	if (!rc && r >= 0)
		fp_progress_end(&pg, n_prompts, (double)n_tokens);
	if (r < 0)
		rc = cli_error("top-examples", "%s", err.msg);
	if (rc)
		goto done;
ranked:
	if (n_prompts == 0) {
		rc = cli_error("top-examples", "'%s' holds no prompts", corpus);
		goto done;
	}
	qsort(ex, (size_t)have, sizeof *ex, by_act);
	char tb[512];
	json_t *arr = fmt == FMT_JSON ? json_array() : NULL;
	if (fmt == FMT_TEXT)
		printf("neuron %d.%d (blocks.%d.%s), top %d of %ld tokens in %ld prompts of %s\n%4s %9s %6s %4s  context\n",
		       layer, neuron, layer, kind == FP_HOOK_MLP_POST ? "mlp.hook_post" : "mlp.hook_pre", have, n_tokens,
		       n_prompts, corpus, "rank", "act", "line", "pos");
	else if (fmt == FMT_TSV)
		printf("rank\tact\tline\tposition\ttoken\tcontext\n");
	for (int i = 0; i < have; i++) {
		example *e = &ex[i];
		if (fmt == FMT_JSON) {
			json_t *o = json_object(), *toks = json_array();
			size_t cap = 64, len = 0;
			char *ctxs = malloc(cap);
			for (int j = 0; j < e->n_ctx && ctxs; j++) {
				char *t = cli_token_text(m, e->ctx[j]);
				size_t need = strlen(t ? t : "") + 5;
				if (len + need + 1 > cap) {
					char *nc = realloc(ctxs, cap = 2 * (len + need + 1));
					if (!nc) {
						free(ctxs), ctxs = NULL;
						free(t);
						break;
					}
					ctxs = nc;
				}
				len += (size_t)sprintf(ctxs + len, "%s%s%s", j == e->at ? "[[" : "", t ? t : "", j == e->at ? "]]" : "");
				json_array_append_new(toks, json_string(t ? t : ""));
				free(t);
			}
			char *mt = cli_token_text(m, e->ctx[e->at]);
			json_object_set_new(o, "rank", json_integer(i + 1));
			json_object_set_new(o, "act", json_real(e->act));
			json_object_set_new(o, "line", json_integer(e->line));
			json_object_set_new(o, "position", json_integer(e->pos));
			json_object_set_new(o, "token", json_string(mt ? mt : ""));
			json_object_set_new(o, "context", json_string(ctxs ? ctxs : ""));
			json_object_set_new(o, "tokens", toks);
			json_object_set_new(o, "marked", json_integer(e->at));
			json_array_append_new(arr, o);
			free(mt), free(ctxs);
			continue;
		}
		if (fmt == FMT_TSV) {
			int tl = fp_token_decode(m->tok, e->ctx[e->at], tb, sizeof tb);
			printf("%d\t%.6g\t%ld\t%d\t", i + 1, e->act, e->line, e->pos);
			tb_tsv_escape(stdout, tb, tl < (int)sizeof tb ? (size_t)tl : sizeof tb - 1);
			putchar('\t');
		} else {
			printf("%4d %9.4f %6ld %4d  ", i + 1, e->act, e->line, e->pos);
		}
		/* the context as one string, the marked token in [[ ]] */
		size_t cap = 4096, len = 0;
		char *s = malloc(cap);
		for (int j = 0; j < e->n_ctx && s; j++) {
			int tl = fp_token_decode(m->tok, e->ctx[j], tb, sizeof tb);
			tl = tl < (int)sizeof tb ? tl : (int)sizeof tb - 1;
			if (len + (size_t)tl + 8 > cap) {
				char *ns = realloc(s, cap *= 2);
				if (!ns) {
					free(s), s = NULL;
					break;
				}
				s = ns;
			}
			if (j == e->at)
				memcpy(s + len, "[[", 2), len += 2;
			memcpy(s + len, tb, (size_t)tl), len += (size_t)tl;
			if (j == e->at)
				memcpy(s + len, "]]", 2), len += 2;
		}
		if (s) {
			if (fmt == FMT_TSV)
				tb_tsv_escape(stdout, s, len);
			else
				tb_print_quoted(stdout, s, len);
		}
		putchar('\n');
		free(s);
	}
	if (arr) {
		json_dumpf(arr, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(arr);
	}
done:
	cli_skip_bad_report("top-examples");
	for (int i = 0; ex && i < have; i++)
		free(ex[i].ctx);
	free(ex), free(ids), free(col);
	prompts_close(pr);
	fp_model_free(m);
	return rc;
}
