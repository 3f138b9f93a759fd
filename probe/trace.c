/* trace.c - see trace.h. */
#include "trace.h"
#include "analysis.h"
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const TR_KIND_NAME[TR_NKINDS] = {"resid", "mlp", "attn"};

double tr_embedding_std(const fp_model *m)
{
	size_t n = (size_t)m->cfg.n_vocab * m->cfg.d_model;
	double s = 0, ss = 0;
	float *row = malloc((size_t)m->cfg.d_model * sizeof *row);
	if (!row)
		return NAN;
	for (int v = 0; v < m->cfg.n_vocab; v++) {
		fp_mat_row(&m->tok_embd, v, row);
		for (int i = 0; i < m->cfg.d_model; i++)
			s += row[i], ss += (double)row[i] * row[i];
	}
	free(row);
	double mean = s / n;
	return sqrt(ss / n - mean * mean) * m->cfg.embed_scale;
}

/* one run's saved states */
typedef struct states {
	float *pre0;     /* [n][D] resid_pre of block 0 (the embeddings, after noise) */
	float *post;     /* [L][n][D] resid_post */
	float *mlp, *attn; /* [L][n][D] hook_mlp_out, hook_attn_out */
	fp_kv_cache kv;
	double p;        /* p(answer) */
} states;

typedef struct save_ctx {
	states *st;
	int n, D;
	const float *noise; /* [s1-s0][D] or NULL */
	int s0, s1;
} save_ctx;

static int save_hook(void *user, const fp_hook_event *ev)
{
	save_ctx *c = user;
	size_t sz = (size_t)c->n * c->D;
	switch (ev->kind) {
	case FP_HOOK_EMBED:
		if (c->noise)
			for (int t = c->s0; t < c->s1; t++)
				for (int d = 0; d < c->D; d++)
					ev->data[(size_t)t * c->D + d] += c->noise[(size_t)(t - c->s0) * c->D + d];
		break;
	case FP_HOOK_RESID_PRE:
		if (ev->layer == 0)
			memcpy(c->st->pre0, ev->data, sz * sizeof(float));
		break;
	case FP_HOOK_RESID_POST: memcpy(c->st->post + (size_t)ev->layer * sz, ev->data, sz * sizeof(float)); break;
	case FP_HOOK_MLP_OUT: memcpy(c->st->mlp + (size_t)ev->layer * sz, ev->data, sz * sizeof(float)); break;
	case FP_HOOK_ATTN_OUT: memcpy(c->st->attn + (size_t)ev->layer * sz, ev->data, sz * sizeof(float)); break;
	}
	return 0;
}

static void states_free(states *s)
{
	free(s->pre0), free(s->post), free(s->mlp), free(s->attn);
	fp_kv_cache_free(&s->kv);
}

static int run_states(fp_model *m, const int32_t *ids, int n, const float *noise, int s0, int s1, int answer,
		      states *st, float *logits, fp_error *err)
{
	int L = m->cfg.n_layers, D = m->cfg.d_model;
	size_t sz = (size_t)n * D;
	memset(st, 0, sizeof *st);
	st->pre0 = malloc(sz * sizeof(float));
	st->post = malloc(L * sz * sizeof(float));
	st->mlp = malloc(L * sz * sizeof(float));
	st->attn = malloc(L * sz * sizeof(float));
	if (!st->pre0 || !st->post || !st->mlp || !st->attn || fp_kv_cache_alloc(&st->kv, m, n)) {
		states_free(st);
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory for the states of a %d-token trace", n);
	}
	save_ctx c = {st, n, D, noise, s0, s1};
	fp_forward_opts o = {0};
	o.hook = save_hook, o.user = &c;
	o.hook_mask = FP_HOOK_BIT(FP_HOOK_EMBED) | FP_HOOK_BIT(FP_HOOK_RESID_PRE) | FP_HOOK_BIT(FP_HOOK_RESID_POST) |
		      FP_HOOK_BIT(FP_HOOK_MLP_OUT) | FP_HOOK_BIT(FP_HOOK_ATTN_OUT);
	o.kv_save = &st->kv;
	int rc = fp_model_forward(m, ids, n, &o, logits, err);
	if (rc) {
		states_free(st);
		return rc;
	}
	st->p = exp(an_logprob(logits, m->cfg.n_vocab, answer, NULL));
	return 0;
}

/* the restorations of one packed pass */
typedef struct restore_ctx {
	int kind, a, b;        /* mlp/attn: restore layers [a, b) */
	int n_seq, D, n;
	const int *tok;        /* [n_seq] token restored (its row is each sequence's row 0) */
	const int *row0;       /* [n_seq] first row of each sequence */
	const states *clean;
} restore_ctx;

static int restore_hook(void *user, const fp_hook_event *ev)
{
	restore_ctx *c = user;
	if (ev->layer < c->a || ev->layer >= c->b)
		return 0;
	if ((c->kind == TR_MLP && ev->kind != FP_HOOK_MLP_OUT) || (c->kind == TR_ATTN && ev->kind != FP_HOOK_ATTN_OUT))
		return 0;
	const float *src = c->kind == TR_MLP ? c->clean->mlp : c->clean->attn;
	for (int i = 0; i < c->n_seq; i++)
		memcpy(ev->data + (size_t)c->row0[i] * c->D, src + ((size_t)ev->layer * c->n + c->tok[i]) * c->D,
		       (size_t)c->D * sizeof(float));
	return 0;
}

/* resid_pre of block l for one run, row t */
static const float *pre_row(const states *s, int l, int t, int n, int D)
{
	return l == 0 ? s->pre0 + (size_t)t * D : s->post + ((size_t)(l - 1) * n + t) * D;
}

int tr_start(const fp_model *m, int n, int s0, int s1, int answer, int S, tr_result *r, fp_error *err)
{
	memset(r, 0, sizeof *r);
	r->n_layers = m->cfg.n_layers, r->n_tok = n, r->s0 = s0, r->s1 = s1, r->answer = answer;
	if (n < 1 || s0 < 0 || s1 > n || s0 >= s1)
		return fp_error_set(err, FP_ERR_INVALID, "the subject span [%d, %d) is not inside the %d tokens", s0, s1, n);
	if (answer < 0 || answer >= m->cfg.n_vocab)
		return fp_error_set(err, FP_ERR_INVALID, "answer token %d is outside the vocabulary", answer);
	if (S < 1)
		return fp_error_set(err, FP_ERR_INVALID, "--samples must be at least 1");
	return 0;
}

int tr_trace(fp_model *m, const int32_t *ids, int n, int s0, int s1, int answer, const tr_opts *o, tr_result *r,
	     fp_error *err)
{
	const fp_config *c = &m->cfg;
	int L = c->n_layers, D = c->d_model, V = c->n_vocab;
	int S = o->corrupt_ids ? 1 : o->samples, W = o->window < 1 ? 1 : o->window;
	int batch = o->batch_tokens > 0 ? o->batch_tokens : 2048;
	int rc = tr_start(m, n, s0, s1, answer, S, r, err);
	if (rc)
		return rc;
	states clean = {0}, *cor = calloc((size_t)S, sizeof *cor);
	float *logits = malloc((size_t)V * sizeof *logits), *noise = NULL, *in = NULL, *lg = NULL, *tmp = NULL;
	int *lens = NULL, *plen = NULL, *tok = NULL, *row0 = NULL, *samp = NULL;
	const fp_kv_cache **kvs = NULL;
	if (!cor || !logits) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		goto done;
	}
	if ((rc = run_states(m, ids, n, NULL, 0, 0, answer, &clean, logits, err)))
		goto done;
	r->high = clean.p;
	r->passes++;
	r->evals_naive += (double)(1 + S) * n * L; /* the clean and corrupted runs, in both counts */
	r->evals += (double)n * L;
	noise = o->corrupt_ids ? NULL : malloc((size_t)(s1 - s0) * D * sizeof *noise);
	st_rng rs = st_rng_seed(o->seed ^ 0x5eed);
	for (int s = 0; s < S; s++) {
		if (noise)
			for (size_t i = 0; i < (size_t)(s1 - s0) * D; i++)
				noise[i] = (float)(o->noise * st_rng_gauss(&rs));
		if ((rc = run_states(m, o->corrupt_ids ? o->corrupt_ids : ids, n, noise, s0, s1, answer, &cor[s], logits,
				     err)))
			goto done;
		r->low += cor[s].p / S;
		r->passes++;
		r->evals += (double)n * L;
	}
	/* the packed restorations: at most every (token, sample) of one layer */
	int max_seq = n * S;
	lens = malloc((size_t)max_seq * sizeof *lens);
	plen = malloc((size_t)max_seq * sizeof *plen);
	tok = malloc((size_t)max_seq * sizeof *tok);
	row0 = malloc((size_t)max_seq * sizeof *row0);
	samp = malloc((size_t)max_seq * sizeof *samp);
	kvs = malloc((size_t)max_seq * sizeof *kvs);
	int cap_rows = batch > n ? batch : n;
	in = malloc((size_t)cap_rows * D * sizeof *in);
	lg = malloc((size_t)max_seq * V * sizeof *lg);
	tmp = malloc((size_t)D * sizeof *tmp);
	if (!lens || !plen || !tok || !row0 || !samp || !kvs || !in || !lg || !tmp) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		goto done;
	}
	long step = 0, steps = 0;
	for (int k = 0; k < TR_NKINDS; k++)
		steps += (o->kinds >> k & 1u) * (long)L;
	for (int k = 0; k < TR_NKINDS; k++) {
		if (!(o->kinds & (1u << k)))
			continue;
		float *sc = r->score[k] = calloc((size_t)L * n, sizeof(float));
		if (!sc) {
			rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
			goto done;
		}
		for (int l = 0; l < L; l++) {
			if (o->progress)
				o->progress(o->progress_user, step++, steps);
			int a = k == TR_RESID ? l + 1 : (l - W / 2 < 0 ? 0 : l - W / 2);
			int b = k == TR_RESID ? l + 1 : (l + W - W / 2 > L ? L : l + W - W / 2);
			for (int t = 0; t < s0; t++) /* unchanged by the corruption: nothing to restore */
				sc[(size_t)l * n + t] = (float)r->low;
			r->evals_naive += (double)s0 * S * n * L;
			if (a == L) { /* resid after the last block: the final norm and unembedding of one row */
				for (int t = s0; t < n; t++)
					for (int s = 0; s < S; s++) {
						const float *x = t == n - 1 ? clean.post + ((size_t)(L - 1) * n + n - 1) * D
									 : cor[s].post + ((size_t)(L - 1) * n + n - 1) * D;
						an_lens_logits(m, x, 1, logits, tmp);
						sc[(size_t)l * n + t] += (float)(exp(an_logprob(logits, V, answer, NULL)) / S);
						r->evals_naive += (double)n * L;
					}
				continue;
			}
			/* (t, s) pairs, packed into passes of about `batch` rows */
			int t = s0, s = 0;
			while (t < n) {
				int ns = 0, rows = 0;
				while (t < n && (ns == 0 || rows + (n - t) <= batch)) {
					lens[ns] = n - t, plen[ns] = t, tok[ns] = t, row0[ns] = rows, samp[ns] = s;
					kvs[ns] = &cor[s].kv;
					for (int p = t; p < n; p++)
						memcpy(in + (size_t)(rows + p - t) * D, pre_row(&cor[s], a, p, n, D),
						       (size_t)D * sizeof(float));
					if (k == TR_RESID) /* the restored state: clean resid_post of layer l = resid_pre of a */
						memcpy(in + (size_t)rows * D, pre_row(&clean, a, t, n, D), (size_t)D * sizeof(float));
					rows += n - t;
					ns++;
					if (++s == S)
						s = 0, t++;
				}
				restore_ctx rcx = {k, a, b, ns, D, n, tok, row0, &clean};
				fp_forward_opts fo = {0};
				fo.start_layer = a, fo.resid_in = in, fo.seq_len = lens, fo.n_seq = ns;
				fo.prefix_kv = kvs, fo.prefix_len = plen;
				if (k != TR_RESID) {
					fo.hook = restore_hook, fo.user = &rcx;
					fo.hook_mask = FP_HOOK_BIT(k == TR_MLP ? FP_HOOK_MLP_OUT : FP_HOOK_ATTN_OUT);
				}
				if ((rc = fp_model_forward(m, NULL, rows, &fo, lg, err)))
					goto done;
				r->passes++;
				r->evals += (double)rows * (L - a);
				for (int i = 0; i < ns; i++) {
					sc[(size_t)l * n + tok[i]] += (float)(exp(an_logprob(lg + (size_t)i * V, V, answer, NULL)) / S);
					r->evals_naive += (double)n * L;
				}
			}
		}
	}
done:
	states_free(&clean);
	for (int s = 0; cor && s < S; s++)
		states_free(&cor[s]);
	free(cor), free(logits), free(noise), free(in), free(lg), free(tmp);
	free(lens), free(plen), free(tok), free(row0), free(samp), free(kvs);
	if (rc)
		tr_result_free(r);
	return rc;
}

void tr_result_free(tr_result *r)
{
	for (int k = 0; k < TR_NKINDS; k++) {
		free(r->score[k]);
		r->score[k] = NULL;
	}
}
