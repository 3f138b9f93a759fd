/* ablate.c - neuron ablation in packed forward passes: see analysis.h. */
#include "analysis.h"
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- neuron ablation ---- */

typedef struct abl_ctx {
	const an_ablation *abl;
	const int *start;
	int g0, ng, n, pos_from, pos_to, F;
} abl_ctx;

static int abl_hook(void *user, const fp_hook_event *ev)
{
	abl_ctx *c = user;
	if (ev->kind != FP_HOOK_MLP_POST)
		return 0;
	for (int g = 0; g < c->ng; g++)
		for (int a = c->start[c->g0 + g]; a < c->start[c->g0 + g + 1]; a++) {
			if (c->abl[a].layer != ev->layer)
				continue;
			for (int p = c->pos_from; p < c->pos_to; p++)
				ev->data[((size_t)g * c->n + p) * c->F + c->abl[a].neuron] = c->abl[a].value;
		}
	return 0;
}

int an_ablate_groups(fp_model *m, const int32_t *ids, int n, int pos_from, int pos_to, const an_ablation *abl,
		     const int *start, int n_groups, int target, int vs, int batch_tokens, double *out,
		     fp_error *err)
{
	return an_ablate_groups_pg(m, ids, n, pos_from, pos_to, abl, start, n_groups, target, vs, batch_tokens, out,
				   NULL, err);
}

int an_ablate_groups_pg(fp_model *m, const int32_t *ids, int n, int pos_from, int pos_to, const an_ablation *abl,
			const int *start, int n_groups, int target, int vs, int batch_tokens, double *out,
			const an_progress *pg, fp_error *err)
{
	int V = m->cfg.n_vocab, per = batch_tokens / n;
	if (per < 1)
		per = 1;
	if (per > n_groups)
		per = n_groups;
	for (int a = 0; a < start[n_groups]; a++)
		if (abl[a].layer < 0 || abl[a].layer >= m->cfg.n_layers || abl[a].neuron < 0 ||
		    abl[a].neuron >= m->cfg.d_mlp)
			return fp_error_set(err, FP_ERR_INVALID, "neuron %d.%d is out of range (%d layers of %d neurons)",
					    abl[a].layer, abl[a].neuron, m->cfg.n_layers, m->cfg.d_mlp);
	int32_t *tok = malloc((size_t)per * n * sizeof *tok);
	int *lens = malloc((size_t)per * sizeof *lens);
	float *logits = malloc((size_t)per * V * sizeof *logits);
	int rc = 0;
	if (!tok || !lens || !logits) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory for %d ablation runs", per);
		goto done;
	}
	for (int g = 0; g < per; g++) {
		memcpy(tok + (size_t)g * n, ids, (size_t)n * sizeof *ids);
		lens[g] = n;
	}
	for (int g0 = 0; g0 < n_groups; g0 += per) {
		int ng = n_groups - g0 < per ? n_groups - g0 : per;
		abl_ctx c = {abl, start, g0, ng, n, pos_from, pos_to, m->cfg.d_mlp};
		fp_forward_opts o = {0};
		o.hook = abl_hook;
		o.user = &c;
		o.hook_mask = FP_HOOK_BIT(FP_HOOK_MLP_POST);
		o.seq_len = lens;
		o.n_seq = ng;
		if ((rc = fp_model_forward(m, tok, ng * n, &o, logits, err)))
			goto done;
		for (int g = 0; g < ng; g++) {
			const float *lg = logits + (size_t)g * V;
			out[g0 + g] = vs >= 0 ? (double)lg[target] - lg[vs] : an_logprob(lg, V, target, NULL);
		}
		if (pg && pg->progress)
			pg->progress(pg->user, g0 + ng, n_groups);
	}
done:
	free(tok), free(lens), free(logits);
	return rc;
}

int an_ablate_each(fp_model *m, const int32_t *ids, int n, int pos, const int *cand, int n_cand, const float *refm,
		   int target, int vs, double clean, float *out, const an_progress *pg, fp_error *err)
{
	int F = m->cfg.d_mlp, rc = 0;
	an_ablation *ab = malloc((size_t)(n_cand ? n_cand : 1) * sizeof *ab);
	int *start = malloc((size_t)(n_cand + 1) * sizeof *start);
	double *res = malloc((size_t)(n_cand ? n_cand : 1) * sizeof *res);
	if (!ab || !start || !res)
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	for (int c = 0; !rc && c < n_cand; c++) {
		ab[c] = (an_ablation){cand[c] / F, cand[c] % F, refm ? refm[cand[c]] : 0.0f};
		start[c] = c;
	}
	if (!rc) {
		start[n_cand] = n_cand;
		rc = an_ablate_groups_pg(m, ids, n, pos, pos + 1, ab, start, n_cand, target, vs, 512, res, pg, err);
	}
	for (int c = 0; !rc && c < n_cand; c++)
		out[cand[c]] = (float)(clean - res[c]);
	free(ab), free(start), free(res);
	return rc;
}

int an_ablate_random(fp_model *m, const int32_t *ids, int n, int pos, const int *top, int k, int R, uint64_t seed,
		     const float *refm, int target, int vs, double *top_metric, double *rand_metric, const an_progress *pg,
		     fp_error *err)
{
	int F = m->cfg.d_mlp, NF = m->cfg.n_layers * F, rc = 0;
	an_ablation *ab = malloc((size_t)k * (R + 1) * sizeof *ab);
	int *start = malloc((size_t)(R + 2) * sizeof *start);
	double *res = malloc((size_t)(R + 1) * sizeof *res);
	char *used = calloc((size_t)NF, 1);
	if (!ab || !start || !res || !used) {
		free(ab), free(start), free(res), free(used);
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	}
	st_rng rng = st_rng_seed(seed);
	for (int j = 0; j < k; j++)
		ab[j] = (an_ablation){top[j] / F, top[j] % F, refm ? refm[top[j]] : 0.0f};
	start[0] = 0;
	for (int r = 0; r < R; r++) {
		memset(used, 0, (size_t)NF);
		for (int j = 0; j < k; j++)
			used[top[j]] = 1; /* random draws avoid the top k */
		start[r + 1] = k * (r + 1);
		for (int j = 0; j < k; j++) {
			int l = top[j] / F, f;
			do
				f = (int)st_rng_below(&rng, (uint64_t)F);
			while (used[l * F + f]);
			used[l * F + f] = 1;
			ab[k * (r + 1) + j] = (an_ablation){l, f, refm ? refm[l * F + f] : 0.0f};
		}
	}
	start[R + 1] = k * (R + 1);
	if (!(rc = an_ablate_groups_pg(m, ids, n, pos, pos + 1, ab, start, R + 1, target, vs, 512, res, pg, err))) {
		*top_metric = res[0];
		for (int r = 0; r < R; r++)
			rand_metric[r] = res[r + 1];
	}
	free(ab), free(start), free(res), free(used);
	return rc;
}

int an_compare_random(fp_model *m, const int32_t *ids, int n, int pos, const int *top, int k, int R, uint64_t seed,
		      const float *refm, int target, int vs, double clean, an_random_cmp *out, const an_progress *pg,
		      fp_error *err)
{
	*out = (an_random_cmp){0};
	if (!(out->effects = malloc((size_t)(R > 0 ? R : 1) * sizeof *out->effects)))
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	int rc = an_ablate_random(m, ids, n, pos, top, k, R, seed, refm, target, vs, &out->top_metric, out->effects, pg,
				  err);
	if (rc) {
		an_random_cmp_free(out);
		return rc;
	}
	out->top_effect = clean - out->top_metric;
	for (int r = 0; r < R; r++)
		out->effects[r] = clean - out->effects[r];
	out->draws = st_summarize(out->effects, R);
	return 0;
}

void an_random_cmp_free(an_random_cmp *c)
{
	free(c->effects);
	c->effects = NULL;
}
