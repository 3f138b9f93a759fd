/* test_grad.c - the backward pass (model/backward.c) against central finite
 * differences of the forward pass, on the tiny model of every architecture
 * (and the Q8_0 and F16 variants, whose transposed products go through
 * dequantised tiles: whole, and again in tiles of 8 rows).  For each hook
 * of each layer: a random direction u over the whole tensor (+-1 per value,
 * times the tensor's rms), the directional derivative sum(grad * u) against
 * a central difference of the metric along u, refined by Richardson
 * extrapolation (pairs of steps h and h/2: the truncation error falls to
 * O(h^4); of the steps 0.04 .. 0.005 the pairs whose estimates agree best),
 * the metric from f32 logits in double.  Relative error |fd - grad.u| /
 * max(|fd|, |grad.u|, sum|grad u| / 10) against a tolerance.  Also: the
 * other metrics, a metric at an earlier position, and the cut (an
 * overwritten hook as an input of its own). */
#include "check.h"
#include "tiny.h"
#include "../model/backward.h"
#include "../probe/stats.h"

#include <stdlib.h>
#include <string.h>

#define TOL 2e-3

typedef struct fd_ctx {
	int kind, layer;
	const float *u;   /* direction, [n_pos * width] */
	double h;
	float **fixed;    /* [L]: values the cut check writes into mlp_post, or NULL */
} fd_ctx;

static int fd_hook(void *user, const fp_hook_event *ev)
{
	fd_ctx *f = user;
	size_t nv = (size_t)ev->n_pos * ev->width;
	if (f->fixed && ev->kind == FP_HOOK_MLP_POST)
		memcpy(ev->data, f->fixed[ev->layer], nv * sizeof(float));
	if (ev->kind == f->kind && (ev->layer == f->layer || f->layer < 0) && f->u)
		for (size_t i = 0; i < nv; i++)
			ev->data[i] += (float)(f->h * f->u[i]);
	return 0;
}

static double run_metric(fp_model *m, const int32_t *ids, int n, const fp_metric *mt, fd_ctx *f, float *lg)
{
	fp_error err = {0};
	int pos = mt->pos < 0 ? n - 1 : mt->pos;
	fp_forward_opts fo = {.hook = fd_hook, .user = f, .hook_mask = FP_HOOK_ALL, .all_logits = 1};
	if (fp_model_forward(m, ids, n, &fo, lg, &err)) {
		printf("forward: %s\n", err.msg);
		return NAN;
	}
	return fp_metric_value(m, mt, lg + (size_t)pos * m->cfg.n_vocab);
}

typedef struct grab {
	int kind, layer;
	float *g;
	int n_pos, width, seen;
} grab;

static int grab_grad(void *user, const fp_hook_event *ev)
{
	grab *gb = user;
	if (ev->kind == gb->kind && ev->layer == gb->layer) {
		memcpy(gb->g, ev->data, (size_t)ev->n_pos * ev->width * sizeof(float));
		gb->n_pos = ev->n_pos, gb->width = ev->width, gb->seen = 1;
	}
	return 0;
}

typedef struct grab_act {
	int kind, layer;
	float *a;
	float **post; /* [L] copies of mlp_post, or NULL */
} grab_act;

static int grab_fwd(void *user, const fp_hook_event *ev)
{
	grab_act *ga = user;
	size_t nv = (size_t)ev->n_pos * ev->width;
	if (ev->kind == ga->kind && ev->layer == ga->layer)
		memcpy(ga->a, ev->data, nv * sizeof(float));
	if (ga->post && ev->kind == FP_HOOK_MLP_POST)
		memcpy(ga->post[ev->layer], ev->data, nv * sizeof(float));
	return 0;
}

/* one hook's check; returns the relative error (NAN: not run) */
static double check_hook(fp_model *m, const char *label, const int32_t *ids, int n, const fp_metric *mt, int kind,
			 int layer, uint32_t cut, float **fixed, double *worst)
{
	int width = fp_hook_width(m, kind), V = m->cfg.n_vocab;
	int rows = kind == FP_HOOK_LOGITS ? 1 : n;
	if (width <= 0)
		return NAN;
	size_t nv = (size_t)rows * width;
	float *g = calloc(nv, sizeof(float)), *a = calloc(nv, sizeof(float)), *u = malloc(nv * sizeof(float));
	float *lg = malloc((size_t)n * V * sizeof(float));
	grab gb = {kind, layer, g, 0, 0, 0};
	grab_act ga = {kind, layer, a, NULL};
	fp_backward_opts bo = {.hook = grab_fwd, .user = &ga, .hook_mask = FP_HOOK_BIT(kind), .grad = grab_grad,
			       .grad_user = &gb, .grad_mask = FP_HOOK_BIT(kind), .cut_mask = cut};
	fp_error err = {0};
	double val = 0;
	char name[64];
	fp_hook_name(kind, layer, name, sizeof name);
	int rc = fp_model_backward(m, ids, n, mt, &bo, &val, NULL, &err);
	CHECK(rc == 0 && gb.seen, "%s %s: backward ran and reported the hook (%s)", label, name, err.msg);
	double rel = NAN;
	if (rc == 0 && gb.seen) {
		/* the logits hook of a forward with all_logits has every row: u only on the metric's */
		int pos = mt->pos < 0 ? n - 1 : mt->pos;
		st_rng r = st_rng_seed(1234 + (uint64_t)kind * 31 + (uint64_t)(layer + 1));
		double ss = 0;
		for (size_t i = 0; i < nv; i++)
			ss += (double)a[i] * a[i];
		double rmsa = kind == FP_HOOK_LOGITS ? 1.0 : sqrt(ss / nv) + 1e-3;
		for (size_t i = 0; i < nv; i++)
			u[i] = (float)(((st_rng_next(&r) >> 63) ? 1.0 : -1.0) * rmsa);
		double an = 0, S = 0;
		for (size_t i = 0; i < nv; i++)
			an += (double)g[i] * u[i], S += fabs((double)g[i] * u[i]);
		float *ufull = u;
		if (kind == FP_HOOK_LOGITS) { /* the forward's logits hook has all n rows */
			ufull = calloc((size_t)n * V, sizeof(float));
			memcpy(ufull + (size_t)pos * V, u, (size_t)V * sizeof(float));
		}
		/* central differences at h = 0.04, 0.02, 0.01, 0.005 (times u), three
		 * Richardson estimates from neighbouring pairs; the two that agree
		 * best (large steps: truncation; small ones: f32 rounding) */
		double d[4], R[3], h = 0.04;
		for (int k = 0; k < 4; k++, h /= 2) {
			fd_ctx fp = {kind, layer, ufull, h, fixed}, fm = {kind, layer, ufull, -h, fixed};
			d[k] = (run_metric(m, ids, n, mt, &fp, lg) - run_metric(m, ids, n, mt, &fm, lg)) / (2 * h);
		}
		for (int k = 0; k < 3; k++)
			R[k] = (4 * d[k + 1] - d[k]) / 3;
		int b = fabs(R[0] - R[1]) <= fabs(R[1] - R[2]) ? 0 : 1;
		double fd = (R[b] + R[b + 1]) / 2;
		/* relative to the derivative, or to a tenth of the size of its terms
		 * where they cancel (f32 rounding scales with the terms) */
		double den = fmax(fmax(fabs(fd), fabs(an)), 0.1 * S);
		rel = den > 0 ? fabs(fd - an) / den : fabs(fd);
		CHECK_CLOSE(rel, TOL, "%s %s: grad.u %.6g (sum |terms| %.3g), finite difference %.6g, relative error", label,
			    name, an, S, fd);
		if (rel > *worst)
			*worst = rel;
		if (ufull != u)
			free(ufull);
	}
	free(g), free(a), free(u), free(lg);
	return rel;
}

static const int KINDS[] = {FP_HOOK_RESID_PRE, FP_HOOK_ATTN_Z, FP_HOOK_ATTN_OUT_PRE_NORM, FP_HOOK_ATTN_OUT,
			    FP_HOOK_RESID_MID, FP_HOOK_MLP_PRE, FP_HOOK_MLP_PRE_LINEAR, FP_HOOK_MLP_POST,
			    FP_HOOK_MLP_OUT_PRE_NORM, FP_HOOK_MLP_OUT, FP_HOOK_RESID_POST};

static void check_model(const char *label, const tiny_opts *o)
{
	fp_model *m = NULL;
	fp_error err = {0};
	CHECK(tiny_load(o, &m, &err) == 0, "%s loads: %s", label, err.msg);
	if (!m)
		return;
	/* longer than gemma's sliding window of 4 */
	const char *text = "the cat sat";
	int32_t *ids = NULL;
	int n = 0;
	fp_tokenize(m->tok, text, strlen(text), 0, &ids, &n, &err);
	CHECK(n >= 6, "%s: '%s' is %d tokens", label, text, n);
	fp_metric mt = {FP_METRIC_LOGPROB, 'a', 0, -1};
	double worst = 0;
	for (int l = 0; l < m->cfg.n_layers; l++)
		for (size_t k = 0; k < sizeof KINDS / sizeof KINDS[0]; k++)
			check_hook(m, label, ids, n, &mt, KINDS[k], l, 0, NULL, &worst);
	int glob[] = {FP_HOOK_EMBED, FP_HOOK_POS_EMBED, FP_HOOK_LN_FINAL, FP_HOOK_LOGITS};
	for (int k = 0; k < 4; k++)
		check_hook(m, label, ids, n, &mt, glob[k], -1, 0, NULL, &worst);
	/* the other metrics, and a metric at an earlier position */
	fp_metric mts[3] = {{FP_METRIC_PROB, 'e', 0, -1}, {FP_METRIC_LOGIT_DIFF, 'a', 'e', -1}, {FP_METRIC_LOGPROB, 'h', 0, 2}};
	const char *mn[3] = {"prob", "logit-diff", "logprob@2"};
	for (int i = 0; i < 3; i++) {
		char lab[96];
		snprintf(lab, sizeof lab, "%s %s", label, mn[i]);
		check_hook(m, lab, ids, n, &mts[i], FP_HOOK_RESID_PRE, 0, 0, NULL, &worst);
		check_hook(m, lab, ids, n, &mts[i], FP_HOOK_MLP_POST, m->cfg.n_layers - 1, 0, NULL, &worst);
	}
	/* the cut: mlp_post of every layer held at its clean values; the gradient
	 * at resid_pre 0 then passes only through attention and the residual */
	int L = m->cfg.n_layers, F = m->cfg.d_mlp;
	float **fixed = malloc((size_t)L * sizeof(float *));
	for (int l = 0; l < L; l++)
		fixed[l] = malloc((size_t)n * F * sizeof(float));
	float *a = malloc((size_t)n * m->cfg.d_model * sizeof(float));
	grab_act ga = {FP_HOOK_RESID_PRE, 0, a, fixed};
	fp_forward_opts fo = {.hook = grab_fwd, .user = &ga, .hook_mask = FP_HOOK_ALL};
	fp_model_forward(m, ids, n, &fo, NULL, &err);
	char lab[96];
	snprintf(lab, sizeof lab, "%s cut at mlp_post", label);
	check_hook(m, lab, ids, n, &mt, FP_HOOK_RESID_PRE, 0, FP_HOOK_BIT(FP_HOOK_MLP_POST), fixed, &worst);
	for (int l = 0; l < L; l++)
		free(fixed[l]);
	free(fixed), free(a);
	printf("     %s: largest relative error %.3g over every hook (tolerance %.3g)\n", label, worst, TOL);
	free(ids);
	fp_model_free(m);
}

/* packed sequences: each one's rows of the packed gradient are its own
 * backward pass's (the sum of independent metrics) */
static void check_packed(const char *label, const tiny_opts *o)
{
	fp_model *m = NULL;
	fp_error err = {0};
	if (tiny_load(o, &m, &err))
		return;
	const char *texts[3] = {"the cat sat", "on a mat", "hello there you"};
	int32_t ids[64], *one = NULL;
	int len[3], n = 0, D = m->cfg.d_model;
	for (int i = 0; i < 3; i++) {
		int k = 0;
		fp_tokenize(m->tok, texts[i], strlen(texts[i]), 0, &one, &k, &err);
		memcpy(ids + n, one, (size_t)k * sizeof *one);
		len[i] = k, n += k;
		free(one);
	}
	fp_metric mt = {FP_METRIC_LOGPROB, 'a', 0, -1};
	float *gp = calloc((size_t)n * D, sizeof *gp), *gs = calloc((size_t)n * D, sizeof *gs);
	grab gb = {FP_HOOK_RESID_PRE, 0, gp, 0, 0, 0};
	fp_backward_opts bo = {.grad = grab_grad, .grad_user = &gb, .grad_mask = FP_HOOK_BIT(FP_HOOK_RESID_PRE),
			       .seq_len = len, .n_seq = 3};
	double vals[3], v1, worst = 0, mx = 0;
	CHECK(fp_model_backward(m, ids, n, &mt, &bo, vals, NULL, &err) == 0, "%s packed: %s", label, err.msg);
	for (int i = 0, a = 0; i < 3; a += len[i++]) {
		grab g1 = {FP_HOOK_RESID_PRE, 0, gs + (size_t)a * D, 0, 0, 0};
		fp_backward_opts b1 = {.grad = grab_grad, .grad_user = &g1, .grad_mask = FP_HOOK_BIT(FP_HOOK_RESID_PRE)};
		CHECK(fp_model_backward(m, ids + a, len[i], &mt, &b1, &v1, NULL, &err) == 0, "%s alone: %s", label, err.msg);
		worst = fmax(worst, fabs(v1 - vals[i]));
	}
	for (int i = 0; i < n * D; i++)
		worst = fmax(worst, fabs(gp[i] - gs[i])), mx = fmax(mx, fabs(gs[i]));
	CHECK_CLOSE(worst / mx, 1e-5, "%s: 3 packed sequences against each alone (metrics and d/d resid_pre 0), relative",
		    label);
	free(gp), free(gs);
	fp_model_free(m);
}

int main(void)
{
	tiny_opts o;
	for (int i = 0; i < 4; i++) { /* tiny-llama, -llama-q8, -gpt2, -gpt2-f16 */
		const char *file = tiny_named(i, &o);
		check_model(file, &o);
	}
	for (int i = 0; i < tiny_n_arch_named(); i++) {
		const char *file = tiny_arch_named(i, &o);
		check_model(file, &o);
	}
	/* gptj (no llama.cpp oracle: its tiny model is not in the named set) */
	tiny_defaults(&o, "gptj");
	o.tied = 0;
	check_model("tiny-gptj", &o);
	check_packed("tiny-gptj", &o);
	/* the quantised models again with tiles of a few rows: the transposed
	 * products summed over many tiles (the default model's unembedding) */
	fp_set_tiles(1000, 1000, 512, 4096);
	for (int i = 1; i < 4; i += 2) {
		char label[64];
		snprintf(label, sizeof label, "%s in tiles", tiny_named(i, &o));
		check_model(label, &o);
	}
	for (int i = 0; i < tiny_n_arch_named(); i++) {
		const char *file = tiny_arch_named(i, &o);
		check_packed(file, &o);
	}
	check_packed(tiny_named(0, &o), &o);
	check_packed(tiny_named(2, &o), &o);
	fp_set_tiles((size_t)16 << 20, (size_t)64 << 20, (size_t)1 << 20, (size_t)4 << 20);
	return check_done("test_grad");
}
