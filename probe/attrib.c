/* attrib.c - see attrib.h. */
#include "attrib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct nctx {
	int pos, F;
	float *act;        /* [L*F] the forward's activations at pos (or NULL) */
	float *grad;       /* [L*F] the gradients at pos */
	const float *a, *ref; /* the path: ref + alpha (a - ref), or NULL */
	float alpha;
} nctx;

static int fwd_hook(void *user, const fp_hook_event *ev)
{
	nctx *c = user;
	float *row = ev->data + (size_t)c->pos * ev->width;
	size_t off = (size_t)ev->layer * c->F;
	if (c->a)
		for (int f = 0; f < c->F; f++) {
			float r = c->ref ? c->ref[off + f] : 0.0f;
			row[f] = r + c->alpha * (c->a[off + f] - r);
		}
	if (c->act)
		memcpy(c->act + off, row, (size_t)c->F * sizeof(float));
	return 0;
}

static int grad_hook(void *user, const fp_hook_event *ev)
{
	nctx *c = user;
	memcpy(c->grad + (size_t)ev->layer * c->F, ev->data + (size_t)c->pos * ev->width, (size_t)c->F * sizeof(float));
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
	nctx c = {.pos = pos, .F = m->cfg.d_mlp, .act = out};
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
	nctx c = {.pos = pos, .F = m->cfg.d_mlp, .act = a, .grad = est};
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

int at_neurons_ig(fp_model *m, const int32_t *ids, int n, const fp_metric *mt, int pos, const float *ref, int steps,
		  float *attr, double *m_in, double *m_base, fp_error *err)
{
	int NF = m->cfg.n_layers * m->cfg.d_mlp, rc;
	if ((rc = check_pos(pos, n, err)))
		return rc;
	if (steps < 1)
		return fp_error_set(err, FP_ERR_INVALID, "integrated gradients need at least 1 step, not %d", steps);
	float *a = malloc((size_t)NF * sizeof(float)), *g = malloc((size_t)NF * sizeof(float));
	double *sum = calloc((size_t)NF, sizeof(double)), *al = malloc((size_t)steps * 2 * sizeof(double));
	unsigned char *cut = calloc((size_t)n, 1);
	if (!a || !g || !sum || !cut || !al) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		goto done;
	}
	cut[pos] = 1;
	if ((rc = at_mlp_post_at(m, ids, n, pos, a, err)))
		goto done;
	nctx c = {.pos = pos, .F = m->cfg.d_mlp, .grad = g, .a = a, .ref = ref};
	fp_backward_opts bo = {.hook = fwd_hook, .user = &c, .hook_mask = FP_HOOK_BIT(FP_HOOK_MLP_POST),
			       .grad = grad_hook, .grad_user = &c, .grad_mask = FP_HOOK_BIT(FP_HOOK_MLP_POST),
			       .cut_mask = FP_HOOK_BIT(FP_HOOK_MLP_POST), .cut_pos = cut};
	gauss_legendre(steps, al, al + steps);
	for (int k = 0; k < steps; k++) {
		c.alpha = (float)al[k];
		if ((rc = fp_model_backward(m, ids, n, mt, &bo, NULL, NULL, err)))
			goto done;
		for (int i = 0; i < NF; i++)
			sum[i] += al[steps + k] * g[i];
	}
	for (int i = 0; i < NF; i++)
		attr[i] = (float)((a[i] - (ref ? ref[i] : 0.0f)) * sum[i]);
	/* the two ends, measured */
	bo.grad = NULL, bo.grad_mask = 0;
	c.alpha = 1.0f;
	if ((rc = fp_model_backward(m, ids, n, mt, &bo, m_in, NULL, err)))
		goto done;
	c.alpha = 0.0f;
	rc = fp_model_backward(m, ids, n, mt, &bo, m_base, NULL, err);
done:
	free(a), free(g), free(sum), free(cut), free(al);
	return rc;
}
