/* cmd_grad.c - `factprobe grad`: the gradient of one metric of the logits
 * (log p, p, a logit or a logit difference at a position) with respect to
 * hooks' activations, from one forward and one backward pass
 * (model/backward.h), written to HDF5 in the recording format of `record`
 * (probe/h5out.h): /acts/<hook> holds d metric / d activation, one row per
 * token of the prompt. */
#include "cli.h"
#include "h5out.h"
#include "h5util.h"
#include "parse.h"
#include "results.h"
#include "table.h"
#include "analysis.h"

#include "../model/backward.h"

#include <getopt.h>
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char HELP[] =
	"usage: factprobe grad [-m MODEL] --target TOKEN [--vs TOKEN] [--metric M]\n"
	"                      [--at last|N] [--hooks PATTERNS] -o OUT.h5 [--force] PROMPT\n\n"
	"The gradient of one scalar metric of the logits at one position with respect\n"
	"to hook activations at every layer and token, from one forward and one\n"
	"backward pass (activations only; no weight gradients), written as a\n"
	"recording ('factprobe record --help' describes the layout): /acts/<hook> is\n"
	"[tokens, width], row t the gradient at token t (rows after --at are zero:\n"
	"attention is causal).  h5py reads it as it reads a recording.\n\n"
	"  -t, --target TOKEN   the token the metric reads, e.g. ' basketball' (required)\n"
	"      --vs TOKEN       the token subtracted for --metric logit-diff\n"
	"      --metric M       logprob (default; logit-diff when --vs is given): log p(target);\n"
	"                       prob: p(target); logit: the target's logit; logit-diff:\n"
	"                       logit(target) - logit(--vs).  Logits after gemma2's soft-cap.\n"
	"      --at WHERE       last (default) or a token index: the position whose logits\n"
	"                       the metric reads\n"
	"      --hooks P        comma-separated hooks (default hook_resid_pre): per-layer\n"
	"                       names for every layer (hook_resid_pre, mlp.hook_post,\n"
	"                       attn.hook_z, ...), one layer's (blocks.5.mlp.hook_post),\n"
	"                       or hook_embed, hook_pos_embed, ln_final.hook_normalized\n"
	"  -o, --output FILE    the HDF5 file (required); --force replaces it\n"
	"  -m, --model PATH     GGUF or HF checkpoint;  -h, --help  this help\n"
	"Root attributes beside the recording's: content = \"gradient\", metric,\n"
	"target, target_id, vs, vs_id (-1 if none), metric_position, metric_value.\n"
	"A hook's tensor overwritten by nothing: the gradient is the ordinary one\n"
	"(TransformerLens's hook_point.grad after metric.backward()).\n\n"
	"example:\n"
	"  factprobe grad --target ' basketball' --hooks mlp.hook_post,hook_resid_pre -o g.h5 \\\n"
	"      $'Q: What sport does Michael Jordan play?\\nA: This athlete plays the sport of'\n";

typedef struct grad_ctx {
	h5rec *rec;
	int *index; /* [kind * (L + 1) + layer + 1] -> hook index, -1 */
	int L;
	fp_error err;
} grad_ctx;

static int take_grad(void *user, const fp_hook_event *ev)
{
	grad_ctx *c = user;
	int h = c->index[ev->kind * (c->L + 1) + ev->layer + 1];
	if (h < 0)
		return 0;
	return h5rec_write_rows(c->rec, h, ev->n_pos, ev->data, NULL, &c->err) != 0;
}

/* the hooks a comma list names; returns the count, or -1 after an error message */
static int select_hooks(const fp_model *m, const char *spec, h5rec_hook *hooks, int *index, uint32_t *mask)
{
	int L = m->cfg.n_layers, nh = 0;
	char *s = strdup(spec), *save = NULL;
	if (!s)
		return cli_error("grad", "out of memory"), -1;
	for (char *pat = strtok_r(s, ",", &save); pat; pat = strtok_r(NULL, ",", &save)) {
		int kind, layer;
		fp_error err = {0};
		if (fp_hook_parse(pat, &kind, &layer) == 0 && !fp_hook_is_layer(kind)) {
			if (kind == FP_HOOK_LOGITS || !fp_hook_width(m, kind)) {
				cli_error("grad", "--hooks: '%s' is not a hook this model has a gradient for", pat);
				free(s);
				return -1;
			}
		} else if (ps_hook_pattern_model(m, pat, &kind, &layer, &err)) {
			cli_error("grad", "--hooks: %s", err.msg);
			free(s);
			return -1;
		}
		int l0 = fp_hook_is_layer(kind) ? (layer < 0 ? 0 : layer) : -1;
		int l1 = fp_hook_is_layer(kind) ? (layer < 0 ? L : layer + 1) : 0;
		for (int l = l0; l < l1; l++) {
			int *ix = &index[kind * (L + 1) + l + 1];
			if (*ix >= 0)
				continue;
			*ix = nh;
			h5rec_hook *h = &hooks[nh++];
			fp_hook_name(kind, l, h->name, sizeof h->name);
			h->kind = kind, h->layer = l, h->width = fp_hook_width(m, kind);
			*mask |= FP_HOOK_BIT(kind);
		}
	}
	free(s);
	return nh;
}

static int run(const char *model_opt, const char *target_s, const char *vs_s, int metric, int at, int at_pos,
	       const char *hook_spec, const char *out, const char *prompt_arg)
{
	size_t len;
	char *text = cli_text_arg("grad", prompt_arg, &len);
	if (!text)
		return 1;
	fp_model *m = cli_load_model("grad", model_opt);
	if (!m) {
		free(text);
		return 1;
	}
	const fp_config *cf = &m->cfg;
	int L = cf->n_layers, nk = FP_HOOK_KIND_COUNT, rc = 1, n = 0, target = -1, vs = -1, pos;
	h5rec_hook *hooks = calloc((size_t)nk * (L + 1), sizeof *hooks);
	int *index = malloc((size_t)nk * (L + 1) * sizeof *index);
	int32_t *ids = NULL, *rows = NULL;
	char **tt = NULL;
	fp_error err = {0};
	h5rec *rec = NULL;
	uint32_t mask = 0;
	if (!hooks || !index) {
		cli_error("grad", "out of memory");
		goto done;
	}
	for (int i = 0; i < nk * (L + 1); i++)
		index[i] = -1;
	int nh = select_hooks(m, hook_spec, hooks, index, &mask);
	if (nh < 0)
		goto done;
	if (an_target_token(m, target_s, 0, &target, &err)) {
		cli_error("grad", "--target: %s", err.msg);
		goto done;
	}
	if (vs_s && an_target_token(m, vs_s, 0, &vs, &err)) {
		cli_error("grad", "--vs: %s", err.msg);
		goto done;
	}
	if (fp_tokenize(m->tok, text, len, -1, &ids, &n, &err)) {
		cli_error("grad", "%s", err.msg);
		goto done;
	}
	if (n == 0) {
		cli_error("grad", "the prompt is empty (no tokens)");
		goto done;
	}
	if ((pos = cli_at_position("grad", at, at_pos, n, -1)) < 0)
		goto done;
	char sha[65];
	if (res_sha256_file(m->gguf->path, sha)) {
		cli_error("grad", "cannot read '%s' to hash it", m->gguf->path);
		goto done;
	}
	const char *base = strrchr(m->gguf->path, '/');
	h5rec_info info = {FACTPROBE_VERSION, cli_command_line(), base ? base + 1 : m->gguf->path, sha, cf->arch_name,
			   fp_tokenizer_kind(m->tok) == FP_TOK_SPM ? "spm" : fp_tokenizer_pre(m->tok), "all", "",
			   cf->n_layers, cf->d_model, cf->d_mlp, cf->n_heads, cf->n_kv_heads, cf->n_vocab, 0, 0, n, 0, 0, 0, 0, 0, NULL,
			   fp_matmul_name(m->matmul)};
	if (h5rec_create(&rec, out, &info, hooks, nh, &err) || h5rec_reserve(rec, n, &err)) {
		cli_error("grad", "%s", err.msg);
		goto done;
	}
	grad_ctx gc = {rec, index, L, {0}};
	fp_metric mt = {metric, target, vs, pos};
	fp_backward_opts bo = {.grad = take_grad, .grad_user = &gc, .grad_mask = mask};
	double value = 0;
	if (fp_model_backward(m, ids, n, &mt, &bo, &value, NULL, &err)) {
		cli_error("grad", "%s", gc.err.code ? gc.err.msg : err.msg);
		goto done;
	}
	rows = malloc((size_t)n * sizeof *rows);
	tt = calloc((size_t)n, sizeof *tt);
	for (int t = 0; rows && tt && t < n; t++) {
		char dec[1024];
		int dl = fp_token_decode(m->tok, ids[t], dec, sizeof dec);
		rows[t] = t;
		tt[t] = tb_utf8_clean(dec, (size_t)dl < sizeof dec ? (size_t)dl : sizeof dec - 1);
	}
	char *target_t = cli_token_text(m, target);
	h5rec_prompt hp = {text, NULL, target_t, NULL, NULL, 0, n, ids, tt, -1, -1, n, rows};
	int arc = rows && tt ? h5rec_add(rec, &hp, &err) : fp_error_set(&err, FP_ERR_NOMEM, "out of memory");
	if (arc || h5rec_close(rec, 1, &err)) {
		if (!arc)
			rec = NULL;
		free(target_t);
		cli_error("grad", "%s", err.msg);
		goto done;
	}
	rec = NULL;
	/* what the rows are: the metric */
	hid_t f = H5Fopen(out, H5F_ACC_RDWR, H5P_DEFAULT);
	char *vs_t = vs >= 0 ? cli_token_text(m, vs) : NULL;
	int w = f < 0 || h5u_attr_str(f, NULL, "content", "gradient") ||
		h5u_attr_str(f, NULL, "metric", fp_metric_name(metric)) ||
		h5u_attr_str(f, NULL, "target", target_t ? target_t : "") || h5u_attr_i64(f, NULL, "target_id", target) ||
		h5u_attr_str(f, NULL, "vs", vs_t ? vs_t : "") || h5u_attr_i64(f, NULL, "vs_id", vs) ||
		h5u_attr_i64(f, NULL, "metric_position", pos) || h5u_attr_f64(f, NULL, "metric_value", value);
	free(target_t), free(vs_t);
	if (f >= 0 && H5Fclose(f) < 0)
		w = 1;
	if (w) {
		cli_error("grad", "cannot write the metric's attributes to '%s'", out);
		goto done;
	}
	printf("%s = %.6g at position %d; the gradients of %d hooks (%d tokens) written to %s\n",
	       fp_metric_name(metric), value, pos, nh, n, out);
	rc = 0;
done:
	if (rec)
		h5rec_abandon(rec);
	for (int t = 0; tt && t < n; t++)
		free(tt[t]);
	free(tt), free(rows), free(text), free(ids), free(hooks), free(index);
	fp_model_free(m);
	return rc;
}

int cmd_grad(int argc, char **argv)
{
	static const struct option opts[] = {
		{"model", required_argument, 0, 'm'}, {"target", required_argument, 0, 't'},
		{"vs", required_argument, 0, 'v'}, {"metric", required_argument, 0, 'M'},
		{"at", required_argument, 0, 'a'}, {"hooks", required_argument, 0, 'H'},
		{"output", required_argument, 0, 'o'}, {"force", no_argument, 0, 'f'}, {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0}};
	const char *model = NULL, *target = NULL, *vs = NULL, *hooks = "hook_resid_pre", *out = NULL;
	int metric = -1, at = AT_LAST, at_pos = 0, force = 0, c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:t:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model = optarg; break;
		case 't': target = optarg; break;
		case 'v': vs = optarg; break;
		case 'M':
			if ((metric = fp_metric_parse(optarg)) < 0)
				return cli_usage_error("grad", "--metric takes logprob, prob, logit or logit-diff, not '%s'", optarg);
			break;
		case 'a':
			if (cli_parse_at("grad", optarg, (1u << AT_LAST) | (1u << AT_POS), &at, &at_pos))
				return 2;
			break;
		case 'H': hooks = optarg; break;
		case 'o': out = optarg; break;
		case 'f': force = 1; break;
		case 'h': cli_help(HELP); return 0;
		default: return cli_bad_option("grad", c, argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("grad", "expects exactly one PROMPT argument (use '-' for standard input)");
	if (!target)
		return cli_usage_error("grad", "--target TOKEN is required, e.g. --target ' basketball'");
	if (!out)
		return cli_usage_error("grad", "-o OUT.h5 is required (the gradients are written there)");
	if (metric < 0)
		metric = vs ? FP_METRIC_LOGIT_DIFF : FP_METRIC_LOGPROB;
	if ((metric == FP_METRIC_LOGIT_DIFF) != (vs != NULL))
		return cli_usage_error("grad", "--metric logit-diff and --vs TOKEN go together");
	if (!force && access(out, F_OK) == 0)
		return cli_error("grad", "'%s' exists; pass --force to replace it", out);
	return run(model, target, vs, metric, at, at_pos, hooks, out, argv[optind]);
}
