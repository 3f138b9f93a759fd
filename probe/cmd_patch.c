/* cmd_patch.c - `factprobe patch`: activation patching between two runs,
 * and zero or mean ablation of neuron sets. */
#include "analysis.h"
#include "cli.h"
#include "patch.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char HELP[] =
	"usage: factprobe patch [-m MODEL] --target TOKEN [--vs TOKEN] --clean PROMPT --corrupt PROMPT\n"
	"                       --hook H [--pos all|last|N[,N...]] [--neurons N[,N...]] [--tsv|--json]\n"
	"       factprobe patch [-m MODEL] --target TOKEN [--vs TOKEN] --ablate L.N[,L.N...]\n"
	"                       [--mode zero|mean --ref PROMPTS] [--pos all|last|N[,N...]] PROMPT\n\n"
	"Patching: runs both prompts, then runs the corrupted prompt again with the\n"
	"hook's value at the chosen layers and positions copied in from the clean run,\n"
	"and reports the metric for the three runs and the fraction restored,\n"
	"(patched - corrupted) / (clean - corrupted).  The metric is log p(target) at\n"
	"the last token, or the logit difference target - vs with --vs.\n\n"
	"Ablation: runs PROMPT with the listed neurons' activations (mlp.hook_post)\n"
	"replaced by zero or by their mean over --ref's tokens, at the chosen\n"
	"positions, and reports the metric before and after.\n\n"
	"  -t, --target TOKEN   the answer token (required)\n"
	"      --vs TOKEN       metric = logit(target) - logit(vs)\n"
	"      --clean P        the prompt values are copied from\n"
	"      --corrupt P      the prompt they are copied into\n"
	"      --hook H         blocks.*.hook_resid_post (every layer at once), blocks.5.mlp.hook_post,\n"
	"                       hook_attn_out, ... (TransformerLens names)\n"
	"      --layers RANGE   only these blocks of a blocks.* hook: 0-29, 5,7,9, 0-3,10 (default all)\n"
	"      --pos P          all (default; the prompts must have the same token count),\n"
	"                       last, or token indices (negative: from the end)\n"
	"      --neurons N,...  only these columns of the hook (e.g. neurons of mlp.hook_post)\n"
	"      --ablate L.N,..  neurons to ablate\n"
	"      --mode zero|mean ablation value (default zero); mean needs --ref PROMPTS\n"
	"      --skip-bad       warn about malformed lines of --ref and go on, as 'record'\n"
	"                       does (default: stop at the first)\n"
	"  -m, --model PATH     GGUF or HF checkpoint;  --tsv, --json  machine-readable;  -h  this help\n\n"
	"examples:\n"
	"  factprobe patch --target ' basketball' --hook blocks.*.hook_resid_post --layers 10-10 \\\n"
	"      --clean 'Michael Jordan plays the sport of' --corrupt 'Tom Brady plays the sport of'\n"
	"  factprobe patch --target ' basketball' --ablate 29.778,29.66 'Michael Jordan plays the sport of'\n";

#define MAXLIST 4096

static int parse_list(const char *s, int *out, int max)
{
	int n = 0;
	const char *p = s;
	while (*p && n < max) {
		char *e;
		long v = strtol(p, &e, 10);
		if (e == p)
			return -1;
		out[n++] = (int)v;
		if (*e == ',')
			p = e + 1;
		else if (!*e)
			break;
		else
			return -1;
	}
	return *p && n == max ? -1 : n;
}

static int resolve_pos(const char *spec, int n, int n_other, int *out, int *count, char *why, size_t wn)
{
	if (!spec || !strcmp(spec, "all")) {
		if (n != n_other) {
			snprintf(why, wn, "--pos all needs prompts of the same length (%d and %d tokens); give --pos last or "
					  "token indices", n_other, n);
			return -1;
		}
		for (int t = 0; t < n; t++)
			out[t] = t;
		*count = n;
		return 0;
	}
	if (!strcmp(spec, "last")) {
		out[0] = n - 1;
		*count = 1;
		return 0;
	}
	int k = parse_list(spec, out, MAXLIST);
	if (k <= 0) {
		snprintf(why, wn, "--pos takes all, last or token indices such as 3,4,-1, not '%s'", spec);
		return -1;
	}
	for (int i = 0; i < k; i++) {
		int p = out[i] < 0 ? n + out[i] : out[i];
		if (p < 0 || p >= n || p >= n_other) {
			snprintf(why, wn, "--pos %d is outside the prompts (%d and %d tokens)", out[i], n_other, n);
			return -1;
		}
		out[i] = p;
	}
	*count = k;
	return 0;
}

/* --ablate: the listed neurons ablated together over contiguous positions */
static int run_ablate(fp_model *m, const int32_t *ca, int na, const char *ablate_s, const char *pos_s, int mean_mode,
		      const char *ref, int target, int vs, double *m_clean, double *m_patch)
{
	int L = m->cfg.n_layers, F = m->cfg.d_mlp, V = m->cfg.n_vocab, n_pos = 0, rc = 0;
	fp_error err = {0};
	char why[256];
	int *dst = malloc(MAXLIST * sizeof *dst);
	float *lg = malloc((size_t)V * sizeof *lg), *refm = NULL;
	an_ablation *ab = NULL;
	if (!dst || !lg) {
		rc = cli_error("patch", "out of memory");
		goto done;
	}
	int k = 0, *ll = malloc(MAXLIST * sizeof *ll), *nn = malloc(MAXLIST * sizeof *nn);
	ab = malloc(MAXLIST * sizeof *ab);
	if (!ll || !nn || !ab ||
	    ps_neuron_list(ablate_s, m->cfg.n_layers, m->cfg.d_mlp, MAXLIST, ll, nn, &k, &err)) {
		rc = cli_error("patch", "--ablate: %s", ll && nn && ab ? err.msg : "out of memory");
		free(ll), free(nn);
		goto done;
	}
	for (int i = 0; i < k; i++)
		ab[i] = (an_ablation){ll[i], nn[i], 0};
	free(ll), free(nn);
	if (resolve_pos(pos_s, na, na, dst, &n_pos, why, sizeof why)) {
		rc = cli_error("patch", "%s", why);
		goto done;
	}
	if (mean_mode) { /* each neuron's mean over every token of the reference set */
		refm = malloc((size_t)L * F * sizeof *refm);
		if (!refm || an_mean_mlp_post(m, ref, refm, &err)) {
			rc = cli_error("patch", "--ref: %s", refm ? err.msg : "out of memory");
			goto done;
		}
		for (int i = 0; i < k; i++)
			ab[i].value = refm[(size_t)ab[i].layer * F + ab[i].neuron];
	}
	if (fp_model_forward(m, ca, na, NULL, lg, &err)) {
		rc = cli_error("patch", "%s", err.msg);
		goto done;
	}
	*m_clean = pt_metric(lg, V, target, vs);
	/* one group: every listed neuron over the chosen (contiguous) positions */
	int start[2] = {0, k};
	double out;
	int lo = dst[0], hi = dst[0];
	for (int i = 1; i < n_pos; i++)
		lo = dst[i] < lo ? dst[i] : lo, hi = dst[i] > hi ? dst[i] : hi;
	if (hi - lo + 1 != n_pos) {
		rc = cli_error("patch", "--ablate takes contiguous positions (all, last, or a range such as 3,4,5)");
		goto done;
	}
	if (an_ablate_groups(m, ca, na, lo, hi + 1, ab, start, 1, target, vs, 512, &out, &err)) {
		rc = cli_error("patch", "%s", err.msg);
		goto done;
	}
	*m_patch = out;
done:
	free(dst), free(lg), free(refm), free(ab);
	return rc;
}

/* the patching options */
typedef struct patch_args {
	const char *hook, *layers, *pos, *neurons;
} patch_args;

/* --clean/--corrupt: the hook's activations of the clean run patched into
 * the corrupted one at the chosen layers, positions and columns */
static int run_patch(fp_model *m, const int32_t *ca, int na, const int32_t *cb, int nb, const patch_args *a, int target,
		     int vs, double *m_clean, double *m_cor, double *m_patch)
{
	int L = m->cfg.n_layers, kind, hl, rc = 0, n_pos = 0, n_cols = 0;
	fp_error err = {0};
	char why[256], *layer_sel = NULL;
	int *dst = malloc(MAXLIST * sizeof *dst), *src = malloc(MAXLIST * sizeof *src), *cols = NULL;
	if (!dst || !src) {
		rc = cli_error("patch", "out of memory");
		goto done;
	}
	if (cli_parse_hook_pattern("patch", m, a->hook, &kind, &hl)) {
		rc = 2;
		goto done;
	}
	int W = fp_hook_width(m, kind), l0 = hl < 0 ? 0 : hl, l1 = hl < 0 ? L - 1 : hl;
	if (a->layers && hl >= 0) {
		rc = cli_usage_error("patch", "--layers needs a blocks.* hook (%s names one block)", a->hook);
		goto done;
	}
	if (a->layers && (!(layer_sel = malloc((size_t)L)) || ps_layers(a->layers, L, layer_sel, &err))) {
		rc = cli_usage_error("patch", "--layers %s", layer_sel ? err.msg : "out of memory");
		goto done;
	}
	if (a->pos && !strcmp(a->pos, "last")) {
		dst[0] = nb - 1, src[0] = na - 1, n_pos = 1;
	} else {
		if (resolve_pos(a->pos, nb, na, dst, &n_pos, why, sizeof why)) {
			rc = cli_error("patch", "%s", why);
			goto done;
		}
		memcpy(src, dst, (size_t)n_pos * sizeof *src);
	}
	if (a->neurons) {
		cols = malloc(MAXLIST * sizeof *cols);
		n_cols = cols ? parse_list(a->neurons, cols, MAXLIST) : -1;
		for (int i = 0; i < n_cols; i++)
			if (cols[i] < 0 || cols[i] >= W)
				n_cols = -1;
		if (n_cols <= 0) {
			rc = cli_error("patch", "--neurons takes column indices 0..%d of %s, such as 12,345", W - 1, a->hook);
			goto done;
		}
	}
	pt_spec ps = {kind, l0, l1, n_pos, dst, src, cols, n_cols, layer_sel};
	if (pt_patch(m, ca, na, cb, nb, &ps, target, vs, m_clean, m_cor, m_patch, &err))
		rc = cli_error("patch", "%s", err.msg);
done:
	free(dst), free(src), free(cols), free(layer_sel);
	return rc;
}

/* the result: one row (a JSON object); text says it in a sentence */
static const tb_col ABLATED[] = {
	{"metric", "metric", TB_STR, NULL, 0, NULL, 0, NULL},
	{"before", "before", TB_REAL, NULL, 0, NULL, 0, NULL},
	{"after", "after", TB_REAL, NULL, 0, NULL, 0, NULL},
};
static const tb_col PATCHED[] = {
	{"metric", "metric", TB_STR, NULL, 0, NULL, 0, NULL},
	{"clean", "clean", TB_REAL, NULL, 0, NULL, 0, NULL},
	{"corrupted", "corrupted", TB_REAL, NULL, 0, NULL, 0, NULL},
	{"patched", "patched", TB_REAL, NULL, 0, NULL, 0, NULL},
	{"restored_fraction", "restored_fraction", TB_REAL, NULL, 0, NULL, 0, NULL},
};

static void print_result(int fmt, int ablate, int mean_mode, int vs, double m_clean, double m_cor, double m_patch)
{
	const char *mname = vs >= 0 ? "logit difference" : "log p(target)";
	double frac = ablate ? NAN : (m_patch - m_cor) / (m_clean - m_cor);
	tb_doc d;
	tb_table t;
	tb_doc_begin(&d, stdout, fmt);
	tb_doc_table(&d, &t, ablate ? ABLATED : PATCHED, ablate ? 3 : 5, 0);
	tb_str(&t, mname, strlen(mname)), tb_real(&t, m_clean);
	if (!ablate)
		tb_real(&t, m_cor);
	tb_real(&t, m_patch);
	if (!ablate)
		tb_real(&t, frac);
	tb_doc_set(&d, NULL, tb_end_row(&t));
	if (ablate) {
		tb_say(&d, "%s: %.4f before, %.4f with the neurons %s-ablated (change %+.4f)\n", mname, m_clean, m_patch,
		       mean_mode ? "mean" : "zero", m_patch - m_clean);
		if (vs < 0)
			tb_say(&d, "p(target): %.4f -> %.4f\n", exp(m_clean), exp(m_patch));
	} else {
		tb_say(&d, "%s: clean %.4f, corrupted %.4f, patched %.4f; restored fraction %.3f\n", mname, m_clean, m_cor,
		       m_patch, frac);
	}
	tb_doc_end(&d);
}

int cmd_patch(int argc, char **argv)
{
	static const struct option opts[] = {
		{"model", required_argument, 0, 'm'}, {"target", required_argument, 0, 't'},
		{"vs", required_argument, 0, 'v'}, {"clean", required_argument, 0, 'C'},
		{"corrupt", required_argument, 0, 'X'}, {"hook", required_argument, 0, 'H'},
		{"layers", required_argument, 0, 'L'}, {"pos", required_argument, 0, 'P'},
		{"neurons", required_argument, 0, 'N'}, {"ablate", required_argument, 0, 'A'},
		{"mode", required_argument, 0, 'M'}, {"ref", required_argument, 0, 'R'},
		{"tsv", no_argument, 0, 'T'}, {"json", no_argument, 0, 'J'}, {"help", no_argument, 0, 'h'},
		{"skip-bad", no_argument, 0, 'B'},
		{0, 0, 0, 0}};
	const char *model = NULL, *target_s = NULL, *vs_s = NULL, *clean_s = NULL, *corrupt_s = NULL, *hook = NULL;
	const char *layers_s = NULL, *pos_s = NULL, *neurons_s = NULL, *ablate_s = NULL, *ref = NULL;
	int fmt = FMT_TEXT, mean_mode = 0, c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model = optarg; break;
		case 't': target_s = optarg; break;
		case 'v': vs_s = optarg; break;
		case 'C': clean_s = optarg; break;
		case 'X': corrupt_s = optarg; break;
		case 'H': hook = optarg; break;
		case 'L': layers_s = optarg; break;
		case 'P': pos_s = optarg; break;
		case 'N': neurons_s = optarg; break;
		case 'A': ablate_s = optarg; break;
		case 'M':
			if (!strcmp(optarg, "zero")) mean_mode = 0;
			else if (!strcmp(optarg, "mean")) mean_mode = 1;
			else return cli_usage_error("patch", "--mode takes zero or mean, not '%s'", optarg);
			break;
		case 'R': ref = optarg; break;
		case 'T': fmt = FMT_TSV; break;
		case 'J': fmt = FMT_JSON; break;
		case 'B': cli_skip_bad("patch"); break;
		case 'h': cli_help(HELP); return 0;
		default: return cli_bad_option("patch", c, argv);
		}
	}
	if (!target_s)
		return cli_usage_error("patch", "--target TOKEN is required");
	int ablate = ablate_s != NULL;
	if (ablate && (clean_s || corrupt_s || hook))
		return cli_usage_error("patch", "--ablate runs one PROMPT; --clean, --corrupt and --hook are for patching");
	if (!ablate && (!clean_s || !corrupt_s || !hook))
		return cli_usage_error("patch", "patching needs --clean, --corrupt and --hook (or --ablate L.N,... PROMPT)");
	if (ablate && argc - optind != 1)
		return cli_usage_error("patch", "--ablate expects exactly one PROMPT argument");
	if (!ablate && argc > optind)
		return cli_usage_error("patch", "unexpected argument '%s' (the prompts are --clean and --corrupt)", argv[optind]);
	if (mean_mode && !ref)
		return cli_usage_error("patch", "--mode mean needs --ref PROMPTS");
	fp_model *m = cli_load_model("patch", model);
	if (!m)
		return 1;
	int rc = 0, target, vs = -1;
	fp_error err = {0};
	int32_t *ca = NULL, *cb = NULL;
	int na = 0, nb = 0;
	double m_clean = NAN, m_cor = NAN, m_patch = NAN;
	if (an_target_token(m, target_s, 0, &target, &err) || (vs_s && an_target_token(m, vs_s, 0, &vs, &err))) {
		rc = cli_error("patch", "%s: %s", vs_s && err.msg[0] && strstr(err.msg, vs_s) ? "--vs" : "--target", err.msg);
		goto done;
	}
	const char *pa = ablate ? argv[optind] : clean_s, *pb = ablate ? argv[optind] : corrupt_s;
	if (fp_tokenize(m->tok, pa, strlen(pa), -1, &ca, &na, &err) || fp_tokenize(m->tok, pb, strlen(pb), -1, &cb, &nb, &err)) {
		rc = cli_error("patch", "%s", err.msg);
		goto done;
	}
	if (na == 0 || nb == 0) {
		rc = cli_error("patch", "a prompt is empty (no tokens)");
		goto done;
	}
	if (ablate) {
		if ((rc = run_ablate(m, ca, na, ablate_s, pos_s, mean_mode, ref, target, vs, &m_clean, &m_patch)))
			goto done;
	} else if ((rc = run_patch(m, ca, na, cb, nb, &(patch_args){hook, layers_s, pos_s, neurons_s}, target, vs, &m_clean,
				   &m_cor, &m_patch))) {
		goto done;
	}
	print_result(fmt, ablate, mean_mode, vs, m_clean, m_cor, m_patch);
done:
	cli_skip_bad_report("patch");
	free(ca), free(cb);
	fp_model_free(m);
	return rc;
}
