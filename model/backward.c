/* backward.c - the reverse sweep (see backward.h).  The forward pass runs
 * with a hook that keeps, after the caller's hooks, each block's inputs
 * (resid_pre, resid_mid), its MLP pre-activations and gemma's pre-norm
 * outputs; the sweep recomputes each layer's queries, keys, values and
 * attention pattern from resid_pre, and goes back through them with the
 * transposed products of fp_mat_mul_t.  Sums of squares are in double. */
#include "backward.h"
#include "model_internal.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *METRIC_NAMES[] = {"logprob", "prob", "logit-diff", "logit"};

int fp_metric_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, METRIC_NAMES[i]))
			return i;
	return -1;
}

const char *fp_metric_name(int kind)
{
	return kind >= 0 && kind < 4 ? METRIC_NAMES[kind] : "?";
}

static double log_sum_exp(const float *l, int V)
{
	double mx = l[0], s = 0;
	for (int v = 1; v < V; v++)
		mx = l[v] > mx ? l[v] : mx;
	for (int v = 0; v < V; v++)
		s += exp(l[v] - mx);
	return mx + log(s);
}

double fp_metric_value(const fp_model *m, const fp_metric *mt, const float *l)
{
	int V = m->cfg.n_vocab;
	switch (mt->kind) {
	case FP_METRIC_LOGPROB:
		return l[mt->target] - log_sum_exp(l, V);
	case FP_METRIC_PROB:
		return exp(l[mt->target] - log_sum_exp(l, V));
	case FP_METRIC_LOGIT_DIFF:
		return (double)l[mt->target] - l[mt->other];
	default:
		return l[mt->target];
	}
}

/* dl[V] = d metric / d logits (after the soft-cap) */
static void metric_grad(const fp_model *m, const fp_metric *mt, const float *l, float *dl)
{
	int V = m->cfg.n_vocab;
	memset(dl, 0, (size_t)V * sizeof(float));
	if (mt->kind == FP_METRIC_LOGPROB || mt->kind == FP_METRIC_PROB) {
		double lse = log_sum_exp(l, V), pt = exp(l[mt->target] - lse);
		double f = mt->kind == FP_METRIC_PROB ? pt : 1.0;
		for (int v = 0; v < V; v++)
			dl[v] = (float)(-f * exp(l[v] - lse));
		dl[mt->target] += (float)f;
	} else {
		dl[mt->target] = 1.0f;
		if (mt->kind == FP_METRIC_LOGIT_DIFF)
			dl[mt->other] -= 1.0f;
	}
}

typedef struct bw {
	fp_model *m;
	const fp_backward_opts *o;
	int n;
	float **resid_pre, **resid_mid, **pre, **pre_lin, **attn_pn, **mlp_pn; /* [L] -> [n, width] */
	float *x_final, *ln_final;                                          /* [n, D] */
	float *block;
} bw;

/* the forward pass's hook: the caller's first, then keep what the sweep needs */
static int keep(void *user, const fp_hook_event *ev)
{
	bw *b = user;
	const fp_backward_opts *o = b->o;
	if (o && o->hook && (o->hook_mask & FP_HOOK_BIT(ev->kind))) {
		int rc = o->hook(o->user, ev);
		if (rc)
			return rc;
	}
	int l = ev->layer;
	float *dst = NULL;
	switch (ev->kind) {
	case FP_HOOK_RESID_PRE: dst = b->resid_pre[l]; break;
	case FP_HOOK_RESID_MID: dst = b->resid_mid[l]; break;
	case FP_HOOK_MLP_PRE: dst = b->pre[l]; break;
	case FP_HOOK_MLP_PRE_LINEAR: dst = b->pre_lin[l]; break;
	case FP_HOOK_ATTN_OUT_PRE_NORM: dst = b->attn_pn[l]; break;
	case FP_HOOK_MLP_OUT_PRE_NORM: dst = b->mlp_pn[l]; break;
	case FP_HOOK_RESID_POST: dst = l == b->m->cfg.n_layers - 1 ? b->x_final : NULL; break;
	case FP_HOOK_LN_FINAL: dst = b->ln_final; break;
	default: break;
	}
	if (dst)
		memcpy(dst, ev->data, (size_t)ev->n_pos * ev->width * sizeof(float));
	return 0;
}

#define KEEP_MASK (FP_HOOK_BIT(FP_HOOK_RESID_PRE) | FP_HOOK_BIT(FP_HOOK_RESID_MID) | FP_HOOK_BIT(FP_HOOK_MLP_PRE) | \
		   FP_HOOK_BIT(FP_HOOK_MLP_PRE_LINEAR) | FP_HOOK_BIT(FP_HOOK_ATTN_OUT_PRE_NORM) |                  \
		   FP_HOOK_BIT(FP_HOOK_MLP_OUT_PRE_NORM) | FP_HOOK_BIT(FP_HOOK_RESID_POST) | FP_HOOK_BIT(FP_HOOK_LN_FINAL))

static int keep_alloc(bw *b)
{
	const fp_config *c = &b->m->cfg;
	size_t L = (size_t)c->n_layers, TD = (size_t)b->n * c->d_model, TF = (size_t)b->n * c->d_mlp;
	size_t per = 2 * TD + TF + (c->gated_mlp ? TF : 0) + (c->post_norms ? 2 * TD : 0);
	b->resid_pre = calloc(6 * L, sizeof(float *));
	b->block = malloc((L * per + 2 * TD) * sizeof(float));
	if (!b->resid_pre || !b->block)
		return -1;
	b->resid_mid = b->resid_pre + L, b->pre = b->resid_mid + L, b->pre_lin = b->pre + L;
	b->attn_pn = b->pre_lin + L, b->mlp_pn = b->attn_pn + L;
	float *p = b->block;
	for (size_t l = 0; l < L; l++) {
		b->resid_pre[l] = p, p += TD;
		b->resid_mid[l] = p, p += TD;
		b->pre[l] = p, p += TF;
		if (c->gated_mlp)
			b->pre_lin[l] = p, p += TF;
		if (c->post_norms) {
			b->attn_pn[l] = p, p += TD;
			b->mlp_pn[l] = p, p += TD;
		}
	}
	b->x_final = p, p += TD;
	b->ln_final = p;
	return 0;
}

/* gx (+)= the gradient at x of y = norm(x) w (+ b), given gy (gx may be gy
 * when not accumulating) */
static void norm_back(float *gx, const float *gy, const float *x, const float *w, int T, int D, float eps, int rms,
		      int acc)
{
	for (int t = 0; t < T; t++) {
		const float *xr = x + (size_t)t * D, *gr = gy + (size_t)t * D;
		float *dr = gx + (size_t)t * D;
		double mean, mg = 0, mgx = 0;
		double s = fp_row_moments(xr, D, eps, rms, &mean);
		for (int i = 0; i < D; i++) {
			double g = (double)gr[i] * w[i];
			mg += g;
			mgx += g * (xr[i] - mean) * s;
		}
		mg = rms ? 0 : mg / D, mgx /= D;
		for (int i = 0; i < D; i++) {
			double g = (double)gr[i] * w[i], d = s * (g - mg - (xr[i] - mean) * s * mgx);
			dr[i] = acc ? (float)(dr[i] + d) : (float)d;
		}
	}
}

static double sigmoid(double x)
{
	return 1.0 / (1.0 + exp(-x));
}

/* act(x) and act'(x) of the MLP's activation */
static void act_d(int act, double x, double *f, double *df)
{
	if (act == FP_ACT_SILU) {
		double s = sigmoid(x);
		*f = x * s, *df = s * (1 + x * (1 - s));
	} else if (act == FP_ACT_GELU_ERF) {
		double cdf = 0.5 * (1 + erf(x * M_SQRT1_2));
		*f = x * cdf, *df = cdf + x * exp(-0.5 * x * x) / sqrt(2 * M_PI);
	} else {
		const double k = 0.7978845608028654, a = 0.044715;
		double th = tanh(k * (x + a * x * x * x));
		*f = 0.5 * x * (1 + th), *df = 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * k * (1 + 3 * a * x * x);
	}
}

typedef struct gw {
	float *gx, *gt, *gxn, *gn2, *gz, *q, *k, *v, *qraw, *kraw, *gq, *gk, *gv, *gpost, *ga, *gb, *P, *dP, *C, *dl, *lrow,
		*scr, *emit;
	int *pos;
	void *block;
} gw;

static int gw_alloc(gw *g, const fp_model *m, int T, int n_seq, const int *seq)
{
	const fp_config *c = &m->cfg;
	size_t t = (size_t)T, ns = (size_t)n_seq, D = c->d_model, F = c->d_mlp, QE = (size_t)c->n_heads * c->d_head,
	       KE = (size_t)c->n_kv_heads * c->d_head, V = c->n_vocab, scr = 0, wide = D > F ? D : F;
	const fp_mat *ms[2] = {&m->unembed, &m->tok_embd};
	for (int i = 0; i < 2; i++) {
		size_t s = fp_mat_tile_floats(ms[i], n_seq);
		scr = s > scr ? s : scr;
	}
	for (int l = 0; l < c->n_layers; l++) {
		const fp_mat *ls[7];
		for (int i = 0, k = fp_layer_mats(&m->layers[l], ls); i < k; i++) {
			size_t s = fp_mat_tile_floats(ls[i], T);
			scr = s > scr ? s : scr;
		}
	}
	wide = wide > QE ? wide : QE;
	size_t emit = t * wide > ns * V ? t * wide : ns * V;
	size_t sz[] = {t * D, t * D, t * D, t * D, t * QE, t * QE, t * KE, t * KE, t * QE, t * KE, t * QE, t * KE, t * KE,
		       t * F, t * F, t * F, t * t, t * t, t * t, ns * V, ns * V, scr + 1, emit};
	size_t nb = sizeof sz / sizeof sz[0], total = 0;
	for (size_t i = 0; i < nb; i++)
		total += sz[i];
	float *p = malloc(total * sizeof(float) + t * sizeof(int));
	g->block = p;
	if (!p)
		return -1;
	float **dst[] = {&g->gx, &g->gt, &g->gxn, &g->gn2, &g->gz, &g->q, &g->k, &g->v, &g->qraw, &g->kraw, &g->gq,
			 &g->gk, &g->gv, &g->gpost, &g->ga, &g->gb, &g->P, &g->dP, &g->C, &g->dl, &g->lrow, &g->scr,
			 &g->emit};
	for (size_t i = 0; i < nb; i++)
		*dst[i] = p, p += sz[i];
	g->pos = (int *)(void *)p;
	for (int s = 0, i = 0; s < n_seq; s++)
		for (int j = 0; j < seq[s]; j++)
			g->pos[i++] = j;
	return 0;
}

typedef struct sweep {
	bw *b;
	gw *g;
	const fp_backward_opts *o;
	fp_error *err;
	int n_seq;
	const int *seq;
} sweep;

/* hands the caller the gradient of a hook (a copy: the caller may not
 * disturb the sweep), then applies the cut */
static int emit(sweep *s, int kind, int layer, float *grad, int n_pos, int first_pos, int width)
{
	const fp_backward_opts *o = s->o;
	char name[64];
	if (o && o->grad && (o->grad_mask & FP_HOOK_BIT(kind))) {
		size_t nv = (size_t)n_pos * width;
		memcpy(s->g->emit, grad, nv * sizeof(float));
		fp_hook_event ev = {kind, layer, fp_hook_name(kind, layer, name, sizeof name), n_pos, first_pos, width,
				    s->g->emit};
		if (o->grad(o->grad_user, &ev))
			return fp_error_set(s->err, FP_ERR_ABORTED, "backward pass stopped by the callback on '%s'", name);
	}
	if (o && (o->cut_mask & FP_HOOK_BIT(kind)) && first_pos >= 0)
		for (int t = 0; t < n_pos; t++)
			if (!o->cut_pos || o->cut_pos[first_pos + t])
				memset(grad + (size_t)t * width, 0, (size_t)width * sizeof(float));
	return 0;
}

/* one head of one sequence of Ts rows, backwards: the pattern recomputed
 * from q and k, then dq (overwritten), dk and dv (added to) from dz */
static void attn_head_back(gw *g, const float *qh, const float *kg, const float *vg, const float *dzh, float *gq,
			   float *gk, float *gv, int T, int E, int QE, int KE, int swa, float scale, float cap)
{
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, E, scale, qh, QE, kg, KE, 0.0f, g->P, T);
	for (int i = 0; i < T; i++) {
		int seen = i + 1, lo = swa && seen > swa ? seen - swa : 0;
		float *r = g->P + (size_t)i * T, *cr = g->C + (size_t)i * T;
		for (int j = lo; j < seen; j++) { /* the soft-cap's slope */
			float th = cap > 0 ? tanhf(r[j] / cap) : 0.0f;
			cr[j] = 1.0f - th * th;
		}
		fp_attn_row(r, lo, seen, T, cap);
	}
	/* dP = dZ_h V^T; dS = P (dP - rowsum(P dP)) (times the soft-cap's slope) */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, E, 1.0f, dzh, QE, vg, KE, 0.0f, g->dP, T);
	for (int i = 0; i < T; i++) {
		float *pr = g->P + (size_t)i * T, *dr = g->dP + (size_t)i * T, *cr = g->C + (size_t)i * T;
		double dot = 0;
		for (int j = 0; j <= i; j++)
			dot += (double)pr[j] * dr[j];
		for (int j = 0; j < T; j++)
			dr[j] = j <= i && pr[j] != 0.0f ? (float)(pr[j] * (dr[j] - dot)) * cr[j] : 0.0f;
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, E, T, scale, g->dP, T, kg, KE, 0.0f, gq, QE);
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, E, T, scale, g->dP, T, qh, QE, 1.0f, gk, KE);
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, E, T, 1.0f, g->P, T, dzh, QE, 1.0f, gv, KE);
}

/* attention of layer l, backwards: g->gz (d z) -> adds d resid_pre into g->gx
 * through norm 1 */
static void attn_back(sweep *s, int l)
{
	fp_model *m = s->b->m;
	gw *g = s->g;
	const fp_config *c = &m->cfg;
	const fp_layer *y = &m->layers[l];
	int T = s->b->n, D = c->d_model, E = c->d_head, H = c->n_heads, K = c->n_kv_heads, QE = H * E, KE = K * E;
	int group = H / K, swa = fp_config_layer_swa(c, l) ? c->n_swa : 0, rms = !c->layer_norm;
	float scale = c->attn_scale, cap = c->attn_softcap;
	/* the forward's queries, keys and values, recomputed */
	fp_norm_rows(g->gt, s->b->resid_pre[l], y->ln1_w, y->ln1_b, T, D, c->norm_eps, rms);
	const fp_mat *W[3] = {&y->wq, &y->wk, &y->wv};
	const float *B[3] = {y->bq, y->bk, y->bv};
	float *out[3] = {g->q, g->k, g->v};
	for (int i = 0; i < 3; i++) {
		int w = W[i]->rows;
		fp_mat_mul_scr(out[i], g->gt, W[i], T, g->scr);
		if (B[i])
			for (int t = 0; t < T; t++)
				for (int j = 0; j < w; j++)
					out[i][(size_t)t * w + j] += B[i][j];
	}
	if (c->qk_norm) {
		memcpy(g->qraw, g->q, (size_t)T * QE * sizeof(float));
		memcpy(g->kraw, g->k, (size_t)T * KE * sizeof(float));
		fp_norm_rows(g->q, g->q, y->q_norm, NULL, T * H, E, c->norm_eps, 1);
		fp_norm_rows(g->k, g->k, y->k_norm, NULL, T * K, E, c->norm_eps, 1);
	}
	if (c->rope_dim > 0) {
		fp_rope_rows(m, l, g->q, T, H, g->pos, 0);
		fp_rope_rows(m, l, g->k, T, K, g->pos, 0);
	}
	memset(g->gk, 0, (size_t)T * KE * sizeof(float));
	memset(g->gv, 0, (size_t)T * KE * sizeof(float));
	for (int sq = 0, a = 0; sq < s->n_seq; a += s->seq[sq++]) {
		int Ts = s->seq[sq];
		for (int h = 0; h < H; h++) {
			int kv = h / group;
			const float *qh = g->q + (size_t)a * QE + h * E, *kg = g->k + (size_t)a * KE + kv * E,
				    *vg = g->v + (size_t)a * KE + kv * E, *dzh = g->gz + (size_t)a * QE + h * E;
			attn_head_back(g, qh, kg, vg, dzh, g->gq + (size_t)a * QE + h * E, g->gk + (size_t)a * KE + kv * E,
				       g->gv + (size_t)a * KE + kv * E, Ts, E, QE, KE, swa, scale, cap);
		}
	}
	if (c->rope_dim > 0) {
		fp_rope_rows(m, l, g->gq, T, H, g->pos, 1);
		fp_rope_rows(m, l, g->gk, T, K, g->pos, 1);
	}
	if (c->qk_norm) {
		norm_back(g->gq, g->gq, g->qraw, y->q_norm, T * H, E, c->norm_eps, 1, 0);
		norm_back(g->gk, g->gk, g->kraw, y->k_norm, T * K, E, c->norm_eps, 1, 0);
	}
	fp_mat_mul_t(g->gxn, g->gq, &y->wq, T, 0.0f, g->scr);
	fp_mat_mul_t(g->gxn, g->gk, &y->wk, T, 1.0f, g->scr);
	fp_mat_mul_t(g->gxn, g->gv, &y->wv, T, 1.0f, g->scr);
	norm_back(g->gx, g->gxn, s->b->resid_pre[l], y->ln1_w, T, D, c->norm_eps, rms, 1);
}

/* block l backwards: g->gx holds d resid_post on entry, d resid_pre on exit */
static int block_back(sweep *s, int l)
{
	fp_model *m = s->b->m;
	gw *g = s->g;
	bw *b = s->b;
	const fp_config *c = &m->cfg;
	const fp_layer *y = &m->layers[l];
	int T = b->n, D = c->d_model, F = c->d_mlp, QE = c->n_heads * c->d_head, rms = !c->layer_norm, rc;
	size_t TD = (size_t)T * D, TF = (size_t)T * F;
	if ((rc = emit(s, FP_HOOK_RESID_POST, l, g->gx, T, 0, D)))
		return rc;
	/* the MLP */
	memcpy(g->gt, g->gx, TD * sizeof(float));
	if ((rc = emit(s, FP_HOOK_MLP_OUT, l, g->gt, T, 0, D)))
		return rc;
	if (c->post_norms) {
		norm_back(g->gt, g->gt, b->mlp_pn[l], y->post_mlp_norm, T, D, c->norm_eps, 1, 0);
		if ((rc = emit(s, FP_HOOK_MLP_OUT_PRE_NORM, l, g->gt, T, 0, D)))
			return rc;
	}
	fp_mat_mul_t(g->gpost, g->gt, &y->w_down, T, 0.0f, g->scr);
	if ((rc = emit(s, FP_HOOK_MLP_POST, l, g->gpost, T, 0, F)))
		return rc;
	const float *pre = b->pre[l];
	for (size_t i = 0; i < TF; i++) {
		double f, df;
		act_d(c->mlp_act, pre[i], &f, &df);
		if (c->gated_mlp) {
			g->ga[i] = (float)(g->gpost[i] * b->pre_lin[l][i] * df);
			g->gb[i] = (float)(g->gpost[i] * f);
		} else {
			g->ga[i] = (float)(g->gpost[i] * df);
		}
	}
	if (c->gated_mlp) {
		if ((rc = emit(s, FP_HOOK_MLP_PRE_LINEAR, l, g->gb, T, 0, F)) ||
		    (rc = emit(s, FP_HOOK_MLP_PRE, l, g->ga, T, 0, F)))
			return rc;
		fp_mat_mul_t(g->gxn, g->ga, &y->w_gate, T, 0.0f, g->scr);
		fp_mat_mul_t(g->gxn, g->gb, &y->w_up, T, 1.0f, g->scr);
	} else {
		if ((rc = emit(s, FP_HOOK_MLP_PRE, l, g->ga, T, 0, F)))
			return rc;
		fp_mat_mul_t(g->gxn, g->ga, &y->w_up, T, 0.0f, g->scr);
	}
	/* norm 2 reads resid_mid, or resid_pre with gptneox's parallel residual */
	const float *n2_in = c->parallel_resid ? b->resid_pre[l] : b->resid_mid[l];
	norm_back(g->gn2, g->gxn, n2_in, y->ln2_w, T, D, c->norm_eps, rms, 0);
	if (!c->parallel_resid)
		for (size_t i = 0; i < TD; i++)
			g->gx[i] += g->gn2[i];
	if ((rc = emit(s, FP_HOOK_RESID_MID, l, g->gx, T, 0, D)))
		return rc;
	/* attention */
	memcpy(g->gt, g->gx, TD * sizeof(float));
	if ((rc = emit(s, FP_HOOK_ATTN_OUT, l, g->gt, T, 0, D)))
		return rc;
	if (c->post_norms) {
		norm_back(g->gt, g->gt, b->attn_pn[l], y->post_attn_norm, T, D, c->norm_eps, 1, 0);
		if ((rc = emit(s, FP_HOOK_ATTN_OUT_PRE_NORM, l, g->gt, T, 0, D)))
			return rc;
	}
	fp_mat_mul_t(g->gz, g->gt, &y->wo, T, 0.0f, g->scr);
	if ((rc = emit(s, FP_HOOK_ATTN_Z, l, g->gz, T, 0, QE)))
		return rc;
	attn_back(s, l);
	if (c->parallel_resid)
		for (size_t i = 0; i < TD; i++)
			g->gx[i] += g->gn2[i];
	return emit(s, FP_HOOK_RESID_PRE, l, g->gx, T, 0, D);
}

int fp_model_backward(fp_model *m, const int32_t *tokens, int n, const fp_metric *mt, const fp_backward_opts *o,
		      double *value, float *logits_row, fp_error *err)
{
	const fp_config *c = &m->cfg;
	int D = c->d_model, V = c->n_vocab, rc, one = n;
	int pos = mt->pos < 0 ? n - 1 : mt->pos;
	int n_seq = o && o->n_seq > 0 ? o->n_seq : 1;
	const int *seq = o && o->n_seq > 0 ? o->seq_len : &one;
	if (n <= 0)
		return fp_error_set(err, FP_ERR_INVALID, "nothing to run: the prompt has no tokens");
	if (pos >= n)
		return fp_error_set(err, FP_ERR_INVALID, "metric position %d is past the prompt's %d tokens", pos, n);
	if (n_seq > 1 && mt->pos >= 0)
		return fp_error_set(err, FP_ERR_INVALID, "packed sequences read the metric at their last tokens (pos -1)");
	if (mt->kind < 0 || mt->kind > FP_METRIC_LOGIT || mt->target < 0 || mt->target >= V ||
	    (mt->kind == FP_METRIC_LOGIT_DIFF && (mt->other < 0 || mt->other >= V)))
		return fp_error_set(err, FP_ERR_INVALID, "metric: token id out of the vocabulary (0..%d)", V - 1);
	long total = 0;
	for (int i = 0; i < n_seq; i++)
		total += seq[i] > 0 ? seq[i] : -(long)n - 1;
	if (total != n) /* the forward pass checks the rest */
		return fp_error_set(err, FP_ERR_INVALID, "the sequence lengths do not add up to the %d tokens given", n);
	bw b = {.m = m, .o = o, .n = n};
	gw g = {0};
	if (keep_alloc(&b) || gw_alloc(&g, m, n, n_seq, seq)) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory for a backward pass of %d tokens", n);
		goto done;
	}
	fp_forward_opts fo = {.hook = keep, .user = &b, .hook_mask = KEEP_MASK | (o ? o->hook_mask : 0),
			      .seq_len = seq, .n_seq = n_seq};
	if ((rc = fp_model_forward(m, tokens, n, &fo, g.lrow, err)))
		goto done;
	/* the metric's logits: the forward's own for the last positions, else
	 * the unembedding of that row of ln_final (the same product) */
	if (pos != n - 1) {
		fp_mat_mul_scr(g.lrow, b.ln_final + (size_t)pos * D, &m->unembed, 1, g.scr);
		fp_model_add_unembed_bias(m, g.lrow, 1);
		fp_model_softcap_logits(m, g.lrow, (size_t)V);
	}
	for (int i = 0; i < n_seq; i++) {
		if (value)
			value[i] = fp_metric_value(m, mt, g.lrow + (size_t)i * V);
		metric_grad(m, mt, g.lrow + (size_t)i * V, g.dl + (size_t)i * V);
	}
	if (logits_row)
		memcpy(logits_row, g.lrow, (size_t)n_seq * V * sizeof(float));
	sweep s = {&b, &g, o, err, n_seq, seq};
	if ((rc = emit(&s, FP_HOOK_LOGITS, -1, g.dl, n_seq, n_seq == 1 ? pos : -1, V)))
		goto done;
	if (c->final_softcap > 0)
		for (size_t v = 0; v < (size_t)n_seq * V; v++) {
			float t = g.lrow[v] / c->final_softcap;
			g.dl[v] *= 1.0f - t * t;
		}
	/* d ln_final: each sequence's metric row, the rest zero */
	memset(g.gxn, 0, (size_t)n * D * sizeof(float));
	fp_mat_mul_t(g.gt, g.dl, &m->unembed, n_seq, 0.0f, g.scr);
	for (int i = 0, end = 0; i < n_seq; i++) {
		end += seq[i];
		int row = n_seq == 1 ? pos : end - 1;
		memcpy(g.gxn + (size_t)row * D, g.gt + (size_t)i * D, (size_t)D * sizeof(float));
	}
	if ((rc = emit(&s, FP_HOOK_LN_FINAL, -1, g.gxn, n, 0, D)))
		goto done;
	norm_back(g.gx, g.gxn, b.x_final, m->out_norm_w, n, D, c->norm_eps, !c->layer_norm, 0);
	for (int l = c->n_layers - 1; l >= 0; l--)
		if ((rc = block_back(&s, l)))
			goto done;
	if (m->pos_embd) {
		memcpy(g.gt, g.gx, (size_t)n * D * sizeof(float));
		if ((rc = emit(&s, FP_HOOK_POS_EMBED, -1, g.gt, n, 0, D)))
			goto done;
	}
	rc = emit(&s, FP_HOOK_EMBED, -1, g.gx, n, 0, D);
done:
	free(b.resid_pre), free(b.block), free(g.block);
	return rc;
}
