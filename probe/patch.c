/* patch.c - see patch.h. */
#include "patch.h"
#include "analysis.h"

#include <stdlib.h>
#include <string.h>

typedef struct patch_ctx {
	const pt_spec *s;
	int width;
	const float *src; /* clean [L][n_src][width] */
	int n_src;
} patch_ctx;

static int patch_hook(void *user, const fp_hook_event *ev)
{
	patch_ctx *c = user;
	const pt_spec *s = c->s;
	if (ev->kind != s->kind || ev->layer < s->l0 || ev->layer > s->l1 || (s->layer_sel && !s->layer_sel[ev->layer]))
		return 0;
	for (int i = 0; i < s->n_pos; i++) {
		float *d = ev->data + (size_t)s->dst_pos[i] * c->width;
		const float *src = c->src + ((size_t)ev->layer * c->n_src + s->src_pos[i]) * c->width;
		if (s->cols)
			for (int j = 0; j < s->n_cols; j++)
				d[s->cols[j]] = src[s->cols[j]];
		else
			memcpy(d, src, (size_t)c->width * sizeof(float));
	}
	return 0;
}

double pt_metric(const float *lg, int V, int target, int vs)
{
	return vs >= 0 ? (double)lg[target] - lg[vs] : an_logprob(lg, V, target, NULL);
}

int pt_patch(fp_model *m, const int32_t *ids_a, int na, const int32_t *ids_b, int nb, const pt_spec *s, int target,
	     int vs, double *m_clean, double *m_cor, double *m_patched, fp_error *err)
{
	int L = m->cfg.n_layers, V = m->cfg.n_vocab, W = fp_hook_width(m, s->kind), rc;
	float *cap = malloc((size_t)L * na * W * sizeof *cap), *lg = malloc((size_t)V * sizeof *lg);
	if (!cap || !lg) {
		free(cap), free(lg);
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	}
	patch_ctx pc = {s, W, cap, na};
	fp_forward_opts o = {0};
	o.hook = patch_hook, o.user = &pc, o.hook_mask = FP_HOOK_BIT(s->kind);
	if (!(rc = an_capture(m, ids_a, na, s->kind, cap, err)) && !(rc = fp_model_forward(m, ids_a, na, NULL, lg, err))) {
		*m_clean = pt_metric(lg, V, target, vs);
		if (!(rc = fp_model_forward(m, ids_b, nb, NULL, lg, err))) {
			*m_cor = pt_metric(lg, V, target, vs);
			if (!(rc = fp_model_forward(m, ids_b, nb, &o, lg, err)))
				*m_patched = pt_metric(lg, V, target, vs);
		}
	}
	free(cap), free(lg);
	return rc;
}
