/* attrib.c - see attrib.h. */
#include "attrib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct nctx {
	int pos, F, n;        /* n: the prompt's tokens (copies of it may be packed) */
	float *act;           /* [L*F] the forward's activations at pos (or NULL) */
	float *grad;          /* [L*F] the gradients at pos (one copy), or NULL */
	const float *a, *ref; /* the path: ref + alpha (a - ref), or a NULL */
	int copies;           /* packed copies of the prompt, copy q at alpha[q] */
	const double *alpha, *w; /* [copies] the path's points and quadrature weights */
	double *gsum;         /* [L*F] += w[q] * the gradient of copy q */
} nctx;

static int fwd_hook(void *user, const fp_hook_event *ev)
{
	nctx *c = user;
	size_t off = (size_t)ev->layer * c->F;
	for (int q = 0; c->a && q < c->copies; q++) {
		float *row = ev->data + ((size_t)q * c->n + c->pos) * ev->width, al = (float)c->alpha[q];
		for (int f = 0; f < c->F; f++) {
			float r = c->ref ? c->ref[off + f] : 0.0f;
			row[f] = r + al * (c->a[off + f] - r);
		}
	}
	if (c->act)
		memcpy(c->act + off, ev->data + (size_t)c->pos * ev->width, (size_t)c->F * sizeof(float));
	return 0;
}

static int grad_hook(void *user, const fp_hook_event *ev)
{
	nctx *c = user;
	size_t off = (size_t)ev->layer * c->F;
	if (c->grad)
		memcpy(c->grad + off, ev->data + (size_t)c->pos * ev->width, (size_t)c->F * sizeof(float));
	for (int q = 0; c->gsum && q < c->copies; q++) {
		const float *row = ev->data + ((size_t)q * c->n + c->pos) * ev->width;
		for (int f = 0; f < c->F; f++)
			c->gsum[off + f] += c->w[q] * row[f];
	}
	return 0;
}

static int check_pos(int pos, int n, fp_error *err)
{
	if (pos < 0 || pos >= n)
		return fp_error_set(err, FP_ERR_INVALID, "position %d is outside the prompt's %d tokens", pos, n);
	return 0;
}

int at_mlp_post_at(fp_model *m, const int32_t *ids, int n, int pos, float *out, fp_error *err)
{
	nctx c = {.pos = pos, .F = m->cfg.d_mlp, .n = n, .act = out, .copies = 1};
	fp_forward_opts fo = {.hook = fwd_hook, .user = &c, .hook_mask = FP_HOOK_BIT(FP_HOOK_MLP_POST)};
	int rc = check_pos(pos, n, err);
	return rc ? rc : fp_model_forward(m, ids, n, &fo, NULL, err);
}

int at_neurons_atp(fp_model *m, const int32_t *ids, int n, const fp_metric *mt, int pos, const float *ref,
		   float *act, float *est, double *clean, fp_error *err)
{
	int NF = m->cfg.n_layers * m->cfg.d_mlp, rc;
	if ((rc = check_pos(pos, n, err)))
		return rc;
	float *a = act ? act : malloc((size_t)NF * sizeof(float));
	if (!a)
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	nctx c = {.pos = pos, .F = m->cfg.d_mlp, .n = n, .act = a, .grad = est, .copies = 1};
	fp_backward_opts bo = {.hook = fwd_hook, .user = &c, .hook_mask = FP_HOOK_BIT(FP_HOOK_MLP_POST),
			       .grad = grad_hook, .grad_user = &c, .grad_mask = FP_HOOK_BIT(FP_HOOK_MLP_POST)};
	rc = fp_model_backward(m, ids, n, mt, &bo, clean, NULL, err);
	if (!rc)
		for (int i = 0; i < NF; i++)
			est[i] *= a[i] - (ref ? ref[i] : 0.0f);
	if (a != act)
		free(a);
	return rc;
}

/* Gauss-Legendre nodes and weights of n points on [0, 1] (Newton's method on
 * the Legendre polynomial P_n; Numerical Recipes' gauleg) */
static void gauss_legendre(int n, double *x, double *w)
{
	for (int i = 0; i < (n + 1) / 2; i++) {
		double z = cos(M_PI * (i + 0.75) / (n + 0.5)), dp = 1, z1;
		do {
			double p0 = 1, p1 = z;
			for (int k = 2; k <= n; k++) {
				double p2 = ((2.0 * k - 1) * z * p1 - (k - 1.0) * p0) / k;
				p0 = p1, p1 = p2;
			}
			if (n == 1)
				p0 = 1;
			dp = n * (z * p1 - p0) / (z * z - 1);
			z1 = z;
			z = z1 - p1 / dp;
		} while (fabs(z - z1) > 1e-15);
		double wi = 1.0 / ((1 - z * z) * dp * dp);
		x[i] = (1 - z) / 2, x[n - 1 - i] = (1 + z) / 2;
		w[i] = w[n - 1 - i] = wi;
	}
}

/* rows per packed pass of the path's points */
#define IG_BATCH_ROWS 512

int at_neurons_ig(fp_model *m, const int32_t *ids, int n, const fp_metric *mt, int pos, const float *ref, int steps,
		  float *attr, double *m_in, double *m_base, fp_error *err)
{
	int NF = m->cfg.n_layers * m->cfg.d_mlp, rc;
	if ((rc = check_pos(pos, n, err)))
		return rc;
	if (steps < 1)
		return fp_error_set(err, FP_ERR_INVALID, "integrated gradients need at least 1 step, not %d", steps);
	if (mt->pos >= 0 && mt->pos != n - 1)
		return fp_error_set(err, FP_ERR_INVALID, "integrated gradients read the metric at the last token");
	int per = IG_BATCH_ROWS / n < 2 ? 2 : IG_BATCH_ROWS / n; /* path points per packed pass */
	per = per > steps ? (steps > 2 ? steps : 2) : per;
	float *a = malloc((size_t)NF * sizeof(float));
	double *sum = calloc((size_t)NF, sizeof(double)), *al = malloc((size_t)steps * 2 * sizeof(double));
	unsigned char *cut = calloc((size_t)per * n, 1);
	int32_t *tok = malloc((size_t)per * n * sizeof *tok);
	int *lens = malloc((size_t)per * sizeof *lens);
	if (!a || !sum || !cut || !al || !tok || !lens) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		goto done;
	}
	for (int q = 0; q < per; q++) {
		cut[(size_t)q * n + pos] = 1, lens[q] = n;
		memcpy(tok + (size_t)q * n, ids, (size_t)n * sizeof *ids);
	}
	if ((rc = at_mlp_post_at(m, ids, n, pos, a, err)))
		goto done;
	gauss_legendre(steps, al, al + steps);
	fp_metric mlast = *mt;
	mlast.pos = -1;
	nctx c = {.pos = pos, .F = m->cfg.d_mlp, .n = n, .a = a, .ref = ref, .gsum = sum};
	fp_backward_opts bo = {.hook = fwd_hook, .user = &c, .hook_mask = FP_HOOK_BIT(FP_HOOK_MLP_POST),
			       .grad = grad_hook, .grad_user = &c, .grad_mask = FP_HOOK_BIT(FP_HOOK_MLP_POST),
			       .cut_mask = FP_HOOK_BIT(FP_HOOK_MLP_POST), .cut_pos = cut, .seq_len = lens};
	for (int k0 = 0; k0 < steps; k0 += per) {
		c.copies = bo.n_seq = steps - k0 < per ? steps - k0 : per;
		c.alpha = al + k0, c.w = al + steps + k0;
		if ((rc = fp_model_backward(m, tok, c.copies * n, &mlast, &bo, NULL, NULL, err)))
			goto done;
	}
	for (int i = 0; i < NF; i++)
		attr[i] = (float)((a[i] - (ref ? ref[i] : 0.0f)) * sum[i]);
	/* the two ends, measured, in one packed pass */
	double ends[2] = {1.0, 0.0}, val[2];
	bo.grad = NULL, bo.grad_mask = 0, bo.n_seq = 2;
	c.copies = 2, c.alpha = ends, c.gsum = NULL;
	if ((rc = fp_model_backward(m, tok, 2 * n, &mlast, &bo, val, NULL, err)))
		goto done;
	if (m_in)
		*m_in = val[0];
	if (m_base)
		*m_base = val[1];
done:
	free(a), free(sum), free(cut), free(al), free(tok), free(lens);
	return rc;
}
