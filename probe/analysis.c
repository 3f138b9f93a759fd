/* analysis.c - see analysis.h. */
#include "analysis.h"
#include "h5util.h"
#include "parse.h"
#include "prompts.h"

#include <cblas.h>
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- prompt runs ---- */

typedef struct run_ctx {
	an_run *r;
} run_ctx;

static int run_hook(void *user, const fp_hook_event *ev)
{
	an_run *r = ((run_ctx *)user)->r;
	size_t T = (size_t)r->n_tok, D = (size_t)r->d_model, F = (size_t)r->d_mlp;
	switch (ev->kind) {
	case FP_HOOK_RESID_PRE:
		if (ev->layer == 0 && r->resid)
			memcpy(r->resid, ev->data, T * D * sizeof(float));
		break;
	case FP_HOOK_RESID_POST:
		if (r->resid)
			memcpy(r->resid + (size_t)(ev->layer + 1) * T * D, ev->data, T * D * sizeof(float));
		break;
	case FP_HOOK_RESID_MID:
		if (r->resid_mid)
			memcpy(r->resid_mid + (size_t)ev->layer * T * D, ev->data, T * D * sizeof(float));
		break;
	case FP_HOOK_MLP_POST:
		if (r->mlp_post)
			memcpy(r->mlp_post + (size_t)ev->layer * T * F, ev->data, T * F * sizeof(float));
		break;
	}
	return 0;
}

int an_run_prompt(fp_model *m, const int32_t *ids, int n, unsigned what, an_run *r, fp_error *err)
{
	memset(r, 0, sizeof *r);
	const fp_config *c = &m->cfg;
	size_t T = (size_t)n, L = (size_t)c->n_layers, D = (size_t)c->d_model, F = (size_t)c->d_mlp;
	r->n_tok = n, r->n_layers = c->n_layers, r->d_model = c->d_model, r->d_mlp = c->d_mlp, r->n_vocab = c->n_vocab;
	if (n <= 0)
		return fp_error_set(err, FP_ERR_INVALID, "the prompt has no tokens");
	if ((what & AN_RESID) && !(r->resid = malloc((L + 1) * T * D * sizeof(float))))
		goto nomem;
	if ((what & AN_RESID_MID) && !(r->resid_mid = malloc(L * T * D * sizeof(float))))
		goto nomem;
	if ((what & AN_MLP_POST) && !(r->mlp_post = malloc(L * T * F * sizeof(float))))
		goto nomem;
	if ((what & AN_LOGITS) && !(r->logits = malloc(T * (size_t)c->n_vocab * sizeof(float))))
		goto nomem;
	run_ctx ctx = {r};
	fp_forward_opts o = {0};
	o.hook = run_hook;
	o.user = &ctx;
	o.hook_mask = FP_HOOK_BIT(FP_HOOK_RESID_PRE) | FP_HOOK_BIT(FP_HOOK_RESID_POST) |
		      FP_HOOK_BIT(FP_HOOK_RESID_MID) | FP_HOOK_BIT(FP_HOOK_MLP_POST);
	o.all_logits = r->logits != NULL;
	int rc = fp_model_forward(m, ids, n, &o, r->logits, err);
	if (rc)
		an_run_free(r);
	return rc;
nomem:
	an_run_free(r);
	return fp_error_set(err, FP_ERR_NOMEM, "out of memory holding the activations of %d tokens", n);
}

typedef struct cap_ctx {
	int kind, n, w;
	float *out;
} cap_ctx;

static int cap_hook(void *user, const fp_hook_event *ev)
{
	cap_ctx *c = user;
	if (ev->kind == c->kind && ev->layer >= 0)
		memcpy(c->out + (size_t)ev->layer * c->n * c->w, ev->data, (size_t)c->n * c->w * sizeof(float));
	return 0;
}

int an_capture(fp_model *m, const int32_t *ids, int n, int kind, float *out, fp_error *err)
{
	if (!fp_hook_is_layer(kind) || fp_hook_width(m, kind) == 0)
		return fp_error_set(err, FP_ERR_INVALID, "this model has no per-layer hook of that kind");
	cap_ctx c = {kind, n, fp_hook_width(m, kind), out};
	fp_forward_opts o = {0};
	o.hook = cap_hook;
	o.user = &c;
	o.hook_mask = FP_HOOK_BIT(kind);
	return fp_model_forward(m, ids, n, &o, NULL, err);
}

void an_run_free(an_run *r)
{
	free(r->resid), free(r->resid_mid), free(r->mlp_post), free(r->logits);
	r->resid = r->resid_mid = r->mlp_post = r->logits = NULL;
}

int an_subject_span(const fp_model *m, const char *text, const char *subject, const int32_t *ids, int n,
		    int has_bos, int *s0, int *s1)
{
	*s0 = *s1 = -1;
	if (!subject || !*subject)
		return -1;
	const char *at = strstr(text, subject);
	if (!at)
		return -1;
	size_t sb = (size_t)(at - text), se = sb + strlen(subject), off = 0;
	char tmp[1024];
	for (int t = 0; t < n; t++) {
		size_t len = t == 0 && has_bos ? 0 : (size_t)fp_token_decode(m->tok, ids[t], tmp, sizeof tmp);
		size_t tb = off, te = off + len;
		off = te;
		if (te > sb && tb < se) {
			if (*s0 < 0)
				*s0 = t;
			*s1 = t + 1;
		}
	}
	return *s0 < 0 ? -1 : 0;
}

int an_target_token(const fp_model *m, const char *word, int multi_first, int *id, fp_error *err)
{
	int32_t *ids = NULL;
	int n = 0;
	if (!word || !*word)
		return fp_error_set(err, FP_ERR_INVALID, "the target token is empty");
	if (fp_tokenize(m->tok, word, strlen(word), 0, &ids, &n, err))
		return err ? err->code : FP_ERR_INVALID;
	if (n == 1 || (n > 1 && multi_first > 0)) {
		*id = ids[0];
		free(ids);
		return 0;
	}
	char pieces[300] = "", tmp[64];
	size_t off = 0;
	for (int i = 0; i < n && off < sizeof pieces - 80; i++) {
		int l = fp_token_decode(m->tok, ids[i], tmp, sizeof tmp);
		off += (size_t)snprintf(pieces + off, sizeof pieces - off, "%s'%.*s'", i ? " + " : "",
					l < (int)sizeof tmp ? l : (int)sizeof tmp - 1, tmp);
	}
	free(ids);
	return fp_error_set(err, FP_ERR_INVALID,
			    "'%s' is %d tokens (%s), not one token of the vocabulary; give a single token "
			    "(often with a leading space, e.g. ' basketball')%s",
			    word, n, pieces, multi_first >= 0 ? " or --multi first" : "");
}

int an_prompts_mean(fp_model *m, const char *path, int kind, int all_tokens, float *mean, int W, long *count,
		    fp_error *err)
{
	prompt_reader *pr = NULL;
	int rc = prompts_open(&pr, path, err), L = m->cfg.n_layers;
	if (rc)
		return rc;
	double *acc = calloc((size_t)L * W, sizeof *acc);
	fp_prompt p;
	*count = 0;
	if (!acc) {
		prompts_close(pr);
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	}
	while ((rc = prompts_next(pr, &p, err)) == 1) {
		int32_t *ids = NULL;
		int n = 0;
		if ((rc = fp_tokenize(m->tok, p.text, p.len, -1, &ids, &n, err)))
			break;
		if (n == 0) {
			free(ids);
			continue;
		}
		an_run r;
		unsigned what = kind == FP_HOOK_MLP_POST ? AN_MLP_POST : kind == FP_HOOK_RESID_MID ? AN_RESID_MID : AN_RESID;
		rc = an_run_prompt(m, ids, n, what, &r, err);
		free(ids);
		if (rc)
			break;
		for (int l = 0; l < L; l++)
			for (int t = all_tokens ? 0 : n - 1; t < n; t++) {
				const float *src;
				if (kind == FP_HOOK_MLP_POST)
					src = r.mlp_post + ((size_t)l * n + t) * W;
				else if (kind == FP_HOOK_RESID_MID)
					src = r.resid_mid + ((size_t)l * n + t) * W;
				else /* resid_pre of l is resid[l]; resid_post is resid[l+1] */
					src = r.resid + ((size_t)(l + (kind == FP_HOOK_RESID_POST)) * n + t) * W;
				for (int d = 0; d < W; d++)
					acc[(size_t)l * W + d] += src[d];
			}
		an_run_free(&r);
		*count += all_tokens ? n : 1;
	}
	prompts_close(pr);
	if (rc < 0) {
		free(acc);
		return rc;
	}
	if (*count == 0) {
		free(acc);
		return fp_error_set(err, FP_ERR_INVALID, "'%s' holds no prompts", path);
	}
	for (size_t i = 0; i < (size_t)L * W; i++)
		mean[i] = (float)(acc[i] / *count);
	free(acc);
	return 0;
}

int an_mean_mlp_post(fp_model *m, const char *path, float *mean, fp_error *err)
{
	long tokens;
	return an_prompts_mean(m, path, FP_HOOK_MLP_POST, 1, mean, m->cfg.d_mlp, &tokens, err);
}
