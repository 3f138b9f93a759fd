/* topex.c - see topex.h. */
#include "topex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int tx_init(tx_set *s, int layer, int neuron, int kind, int k, int context)
{
	*s = (tx_set){layer, neuron, kind, k, context, calloc((size_t)k, sizeof(tx_example)), 0, 0, 0};
	return s->ex ? 0 : FP_ERR_NOMEM;
}

void tx_free(tx_set *s)
{
	for (int i = 0; s->ex && i < s->have; i++)
		free(s->ex[i].ctx);
	free(s->ex);
	s->ex = NULL;
}

static int worst(const tx_example *ex, int have)
{
	int w = 0;
	for (int i = 1; i < have; i++)
		if (ex[i].act < ex[w].act)
			w = i;
	return w;
}

int tx_offer(tx_set *s, float act, long line, const int32_t *ids, int n, int t)
{
	tx_example *ex = s->ex;
	int slot, ctxn = s->context;
	if (s->have < s->k)
		slot = s->have++;
	else if (act > ex[slot = worst(ex, s->have)].act)
		free(ex[slot].ctx);
	else
		return 0;
	int a = t - ctxn < 0 ? 0 : t - ctxn, b = t + ctxn + 1 > n ? n : t + ctxn + 1;
	ex[slot] = (tx_example){act, line, t, b - a, t - a, malloc((size_t)(b - a) * sizeof(int32_t))};
	if (!ex[slot].ctx)
		return FP_ERR_NOMEM;
	memcpy(ex[slot].ctx, ids + a, (size_t)(b - a) * sizeof(int32_t));
	return 0;
}

int tx_prompt(fp_model *m, tx_set *s, const int32_t *ids, int n, long line, fp_error *err)
{
	float *col = malloc((size_t)(n ? n : 1) * sizeof *col);
	if (!col)
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	topex_ctx tc = {s->layer, s->neuron, n, m->cfg.d_mlp, s->kind, col};
	fp_forward_opts o = {0};
	o.hook = topex_hook, o.user = &tc, o.hook_mask = FP_HOOK_BIT(s->kind);
	int rc = fp_model_forward(m, ids, n, &o, NULL, err);
	if (rc == FP_ERR_ABORTED)
		rc = 0;
	for (int t = 0; !rc && t < n; t++)
		if (tx_offer(s, col[t], line, ids, n, t))
			rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	free(col);
	if (!rc)
		s->n_prompts++, s->n_tokens += n;
	return rc;
}

static int by_act(const void *a, const void *b)
{
	float x = ((const tx_example *)a)->act, y = ((const tx_example *)b)->act;
	return x < y ? 1 : x > y ? -1 : 0;
}

void tx_sort(tx_set *s)
{
	qsort(s->ex, (size_t)s->have, sizeof *s->ex, by_act);
}

/* --from: the neuron's recorded activations, every prompt's recorded rows */
int tx_recording(const fp_model *m, tx_set *s, const char *path, fp_error *err)
{
	int layer = s->layer, neuron = s->neuron, kind = s->kind;
	h5rec_in *rec = NULL;
	h5rec_meta mt;
	int rc;
	if ((rc = h5rec_open(&rec, path, &mt, err)))
		return rc;
	int F = m->cfg.d_mlp, w;
	long P = mt.n_prompts, R = mt.n_rows;
	char hn[96];
	snprintf(hn, sizeof hn, "blocks.%d.%s", layer, kind == FP_HOOK_MLP_POST ? "mlp.hook_post" : "mlp.hook_pre");
	long *rs = malloc((size_t)(P + 1) * sizeof *rs), *nr = malloc((size_t)(P + 1) * sizeof *nr);
	long *ts = malloc((size_t)(P + 1) * sizeof *ts), *nt = malloc((size_t)(P + 1) * sizeof *nt);
	long *pos = malloc((size_t)(R + 1) * sizeof *pos), *idl = NULL;
	float *chunk = malloc((size_t)256 * F * sizeof *chunk), *col = malloc((size_t)(R + 1) * sizeof *col);
	int32_t *ids = NULL;
	if (!rs || !nr || !ts || !nt || !pos || !chunk || !col) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		goto done;
	}
	if (mt.d_mlp != F || mt.n_layers != m->cfg.n_layers) {
		rc = fp_error_set(err, FP_ERR_INVALID, "'%s' was recorded from another model (%d layers, d_mlp %d)", path, mt.n_layers,
			       mt.d_mlp);
		goto done;
	}
	if ((rc = h5rec_longs(rec, "prompts/row_start", rs, P, err)) || (rc = h5rec_longs(rec, "prompts/n_rows", nr, P, err)) ||
	    (rc = h5rec_longs(rec, "prompts/token_start", ts, P, err)) ||
	    (rc = h5rec_longs(rec, "prompts/n_tokens", nt, P, err)) || (rc = h5rec_longs(rec, "rows/position", pos, R, err)))
		goto done;
	for (long r0 = 0; r0 < R || (R == 0 && r0 == 0); r0 += 256) { /* the neuron's column, 256 rows at a time */
		long cnt = R - r0 < 256 ? R - r0 : 256;
		if ((rc = h5rec_read(rec, hn, r0, cnt, chunk, &w, err)))
			goto done;
		for (long q = 0; q < cnt; q++)
			col[r0 + q] = chunk[(size_t)q * w + neuron];
		if (R == 0)
			break;
	}
	long tot = P ? ts[P - 1] + nt[P - 1] : 0;
	idl = malloc((size_t)(tot + 1) * sizeof *idl);
	ids = malloc((size_t)(tot + 1) * sizeof *ids);
	if (!idl || !ids) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		goto done;
	}
	if ((rc = h5rec_longs(rec, "tokens/id", idl, tot, err)))
		goto done;
	for (long q = 0; q < tot; q++)
		ids[q] = (int32_t)idl[q];
	for (long p = 0; p < P; p++) {
		for (long q = 0; q < nr[p]; q++) {
			long t = pos[rs[p] + q];
			if (t < 0 || t >= nt[p]) {
				rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': prompt %ld has a row at position %ld of %ld", path, p, t, nt[p]);
				goto done;
			}
			if (tx_offer(s, col[rs[p] + q], p, ids + ts[p], (int)nt[p], (int)t)) {
				rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
				goto done;
			}
		}
		s->n_tokens += nr[p];
	}
	s->n_prompts = P;
done:
	free(rs), free(nr), free(ts), free(nt), free(pos), free(idl), free(chunk), free(col), free(ids);
	h5rec_in_close(rec);
	return rc;
}

