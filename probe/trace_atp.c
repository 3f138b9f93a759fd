/* trace_atp.c - the causal-trace grid estimated by attribution patching
 * (Nanda 2023; Kramar et al. 2024): see tr_trace_atp in trace.h. */
#include "trace.h"
#include "stats.h"

#include "../model/backward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const int KIND_HOOK[TR_NKINDS] = {FP_HOOK_RESID_POST, FP_HOOK_MLP_OUT, FP_HOOK_ATTN_OUT};

typedef struct atp_ctx {
	int n, D, s0, s1;        /* n: the prompt's tokens; copies of it are packed */
	int copies;              /* packed copies of the prompt (one per noise sample) */
	const float *noise;      /* [copies][s1-s0][D] or NULL */
	float *act[TR_NKINDS];   /* [L][copies * n][D] the run's resid_post, mlp_out, attn_out */
	float *grad[TR_NKINDS];  /* [L][copies * n][D] d p(answer) / d each (NULL: not wanted) */
} atp_ctx;

static int kind_of(int hook)
{
	for (int k = 0; k < TR_NKINDS; k++)
		if (KIND_HOOK[k] == hook)
			return k;
	return -1;
}

static int fwd(void *user, const fp_hook_event *ev)
{
	atp_ctx *c = user;
	size_t sz = (size_t)ev->n_pos * c->D, ns = (size_t)(c->s1 - c->s0) * c->D;
	if (ev->kind == FP_HOOK_EMBED) {
		for (int q = 0; c->noise && q < c->copies; q++)
			for (int t = c->s0; t < c->s1; t++)
				for (int d = 0; d < c->D; d++)
					ev->data[((size_t)q * c->n + t) * c->D + d] += c->noise[q * ns + (size_t)(t - c->s0) * c->D + d];
		return 0;
	}
	int k = kind_of(ev->kind);
	if (k >= 0)
		memcpy(c->act[k] + (size_t)ev->layer * sz, ev->data, sz * sizeof(float));
	return 0;
}

static int bwd(void *user, const fp_hook_event *ev)
{
	atp_ctx *c = user;
	size_t sz = (size_t)ev->n_pos * c->D;
	int k = kind_of(ev->kind);
	if (k >= 0 && c->grad[k])
		memcpy(c->grad[k] + (size_t)ev->layer * sz, ev->data, sz * sizeof(float));
	return 0;
}

#define ATP_MASK (FP_HOOK_BIT(FP_HOOK_EMBED) | FP_HOOK_BIT(FP_HOOK_RESID_POST) | FP_HOOK_BIT(FP_HOOK_MLP_OUT) | \
		  FP_HOOK_BIT(FP_HOOK_ATTN_OUT))

/* rows per packed pass of the corrupted samples */
#define ATP_BATCH_ROWS 512

int tr_trace_atp(fp_model *m, const int32_t *ids, int n, int s0, int s1, int answer, const tr_opts *o,
		 tr_result *r, fp_error *err)
{
	const fp_config *c = &m->cfg;
	int L = c->n_layers, D = c->d_model, V = c->n_vocab;
	int S = o->corrupt_ids ? 1 : o->samples, W = o->window < 1 ? 1 : o->window, rc = 0;
	if ((rc = tr_start(m, n, s0, s1, answer, S, r, err)))
		return rc;
	int per = ATP_BATCH_ROWS / n < 1 ? 1 : ATP_BATCH_ROWS / n; /* samples per packed pass */
	per = per > S ? S : per;
	size_t sz = (size_t)L * n * D, ns = (size_t)(s1 - s0) * D;
	atp_ctx cl = {n, D, 0, 0, 1, NULL, {0}, {0}}, co = {n, D, s0, s1, per, NULL, {0}, {0}};
	float *noise = o->corrupt_ids ? NULL : malloc((size_t)per * ns * sizeof *noise);
	int32_t *tok = malloc((size_t)per * n * sizeof *tok);
	int *lens = malloc((size_t)per * sizeof *lens);
	double *p = malloc((size_t)per * sizeof *p), *d = malloc((size_t)L * n * sizeof *d);
	float *logits = malloc((size_t)V * sizeof *logits);
	int nomem = (!o->corrupt_ids && !noise) || !tok || !lens || !p || !d || !logits;
	for (int k = 0; k < TR_NKINDS; k++) {
		cl.act[k] = malloc(sz * sizeof(float));
		co.act[k] = malloc(per * sz * sizeof(float));
		co.grad[k] = malloc(per * sz * sizeof(float));
		if (o->kinds & (1u << k))
			r->score[k] = calloc((size_t)L * n, sizeof(float));
		nomem |= !cl.act[k] || !co.act[k] || !co.grad[k] || ((o->kinds & (1u << k)) && !r->score[k]);
	}
	if (nomem) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory for the states of a %d-token trace", n);
		goto done;
	}
	fp_metric mt = {FP_METRIC_PROB, answer, 0, -1};
	fp_forward_opts fo = {.hook = fwd, .user = &cl, .hook_mask = ATP_MASK};
	if ((rc = fp_model_forward(m, ids, n, &fo, logits, err)))
		goto done;
	r->high = fp_metric_value(m, &mt, logits);
	r->passes++;
	r->evals_naive += (double)(1 + S) * n * L;
	r->evals += (double)n * L;
	co.noise = noise;
	for (int q = 0; q < per; q++) {
		memcpy(tok + (size_t)q * n, o->corrupt_ids ? o->corrupt_ids : ids, (size_t)n * sizeof *tok);
		lens[q] = n;
	}
	st_rng rs = st_rng_seed(o->seed ^ 0x5eed); /* tr_trace's noise, draw for draw */
	for (int s0_ = 0; s0_ < S; s0_ += per) {
		int k_n = S - s0_ < per ? S - s0_ : per; /* samples in this pass */
		co.copies = k_n;
		for (size_t i = 0; noise && i < (size_t)k_n * ns; i++)
			noise[i] = (float)(o->noise * st_rng_gauss(&rs));
		fp_backward_opts bo = {.hook = fwd, .user = &co, .hook_mask = ATP_MASK, .grad = bwd, .grad_user = &co,
				       .grad_mask = ATP_MASK & ~FP_HOOK_BIT(FP_HOOK_EMBED), .seq_len = lens, .n_seq = k_n};
		if ((rc = fp_model_backward(m, tok, k_n * n, &mt, &bo, p, NULL, err)))
			goto done;
		r->passes++;
		r->evals += 3.0 * k_n * n * L; /* a forward and a backward pass (about twice a forward) */
		size_t rows = (size_t)k_n * n;
		for (int q = 0; q < k_n; q++) {
			r->low += p[q] / S;
			for (int k = 0; k < TR_NKINDS; k++) {
				if (!r->score[k])
					continue;
				/* d[l][t] = (clean - corrupted) . grad at layer l, token t */
				for (int l = 0; l < L; l++)
					for (int t = 0; t < n; t++) {
						const float *a = cl.act[k] + ((size_t)l * n + t) * D;
						size_t off = ((size_t)l * rows + (size_t)q * n + t) * D;
						double sum = 0;
						for (int i = 0; i < D; i++)
							sum += ((double)a[i] - co.act[k][off + i]) * co.grad[k][off + i];
						d[(size_t)l * n + t] = sum;
					}
				for (int l = 0; l < L; l++) {
					int a = k == TR_RESID ? l : (l - W / 2 < 0 ? 0 : l - W / 2);
					int b = k == TR_RESID ? l + 1 : (l + W - W / 2 > L ? L : l + W - W / 2);
					for (int t = 0; t < n; t++) {
						double est = p[q];
						for (int j = a; j < b; j++)
							est += d[(size_t)j * n + t];
						r->score[k][(size_t)l * n + t] += (float)(est / S);
					}
				}
			}
		}
	}
	for (int k = 0; k < TR_NKINDS; k++)
		if (r->score[k])
			r->evals_naive += (double)L * n * S * n * L;
done:
	for (int k = 0; k < TR_NKINDS; k++)
		free(cl.act[k]), free(co.act[k]), free(co.grad[k]);
	free(noise), free(tok), free(lens), free(p), free(d), free(logits);
	if (rc)
		tr_result_free(r);
	return rc;
}
