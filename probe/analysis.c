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

/* ---- final norm, logit lens, attribution ---- */

void an_final_norm(const fp_model *m, const float *x, int rows, float *out, float *scale)
{
	int D = m->cfg.d_model;
	for (int r = 0; r < rows; r++) {
		float s = an_norm_row(m, m->out_norm_w, m->out_norm_b, x + (size_t)r * D, out + (size_t)r * D);
		if (scale)
			scale[r] = s;
	}
}

float an_norm_row(const fp_model *m, const float *w, const float *b, const float *x, float *out)
{
	int D = m->cfg.d_model;
	double mean = 0, ss = 0;
	if (m->cfg.arch == FP_ARCH_GPT2) {
		for (int d = 0; d < D; d++)
			mean += x[d];
		mean /= D;
	}
	for (int d = 0; d < D; d++)
		ss += (x[d] - mean) * (x[d] - mean);
	double s = sqrt(ss / D + m->cfg.norm_eps);
	for (int d = 0; d < D; d++)
		out[d] = (float)((x[d] - mean) / s) * w[d] + (b ? b[d] : 0);
	return (float)s;
}

void an_lens_logits(const fp_model *m, const float *x, int rows, float *logits, float *tmp)
{
	int D = m->cfg.d_model, V = m->cfg.n_vocab;
	an_final_norm(m, x, rows, tmp, NULL);
	if (fp_mat_mul(logits, tmp, &m->unembed, rows))
		for (size_t i = 0; i < (size_t)rows * V; i++)
			logits[i] = NAN;
	(void)D;
}

void an_top_k(const float *x, int n, int k, int *out)
{
	int have = 0;
	for (int v = 0; v < n; v++) {
		if (have == k && x[v] <= x[out[k - 1]])
			continue;
		int j = have < k ? have++ : k - 1;
		while (j > 0 && x[out[j - 1]] < x[v]) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = v;
	}
}

double an_logprob(const float *logits, int V, int id, int *rank)
{
	double mx = logits[0], sum = 0;
	int above = 0;
	for (int i = 1; i < V; i++)
		mx = logits[i] > mx ? logits[i] : mx;
	for (int i = 0; i < V; i++) {
		sum += exp(logits[i] - mx);
		above += logits[i] > logits[id];
	}
	if (rank)
		*rank = above + 1;
	return logits[id] - mx - log(sum);
}

void an_dla_dir(const fp_model *m, int target, int vs, float *g)
{
	int D = m->cfg.d_model;
	double mean = 0;
	fp_mat_row(&m->unembed, target, g);
	if (vs >= 0) {
		float *uv = malloc((size_t)D * sizeof *uv);
		if (uv)
			fp_mat_row(&m->unembed, vs, uv);
		for (int d = 0; d < D; d++)
			g[d] = uv ? g[d] - uv[d] : NAN;
		free(uv);
	}
	for (int d = 0; d < D; d++) {
		g[d] *= m->out_norm_w[d];
		mean += g[d];
	}
	if (m->cfg.arch == FP_ARCH_GPT2) /* LayerNorm: the mean is removed first */
		for (int d = 0; d < D; d++)
			g[d] -= (float)(mean / D);
}

void an_neuron_dla(const fp_model *m, const float *act, const float *g, float scale, float *dla)
{
	int L = m->cfg.n_layers, D = m->cfg.d_model, F = m->cfg.d_mlp;
	for (int l = 0; l < L; l++) {
		float *o = dla + (size_t)l * F, *own;
		/* W_out is [D, F]: o = W_out^T g */
		const float *wd = fp_mat_f32(&m->layers[l].w_down, &own);
		if (!wd) {
			for (int f = 0; f < F; f++)
				o[f] = NAN;
			continue;
		}
		cblas_sgemv(CblasRowMajor, CblasTrans, D, F, 1.0f, wd, F, g, 1, 0.0f, o, 1);
		free(own);
		for (int f = 0; f < F; f++)
			o[f] = o[f] * act[(size_t)l * F + f] / scale;
	}
}

void an_neuron_scores(const fp_model *m, const an_run *run, int pos, int target, int vs, float *act, float *dla,
		      float *w_in, float *w_out)
{
	int L = m->cfg.n_layers, F = m->cfg.d_mlp, D = m->cfg.d_model, n = run->n_tok;
	float *g = malloc((size_t)D * sizeof *g), *xn = malloc((size_t)D * sizeof *xn), scale;
	if (!g || !xn) {
		free(g), free(xn);
		return;
	}
	for (int l = 0; l < L; l++)
		memcpy(act + (size_t)l * F, run->mlp_post + ((size_t)l * n + pos) * F, (size_t)F * sizeof(float));
	an_final_norm(m, run->resid + ((size_t)L * n + pos) * D, 1, xn, &scale);
	an_dla_dir(m, target, vs, g);
	an_neuron_dla(m, act, g, scale, dla);
	double gn = 0;
	for (int d = 0; d < D; d++)
		gn += (double)g[d] * g[d];
	gn = sqrt(gn);
	for (int l = 0; l < L; l++) {
		const fp_layer *ly = &m->layers[l];
		float *own_up, *own_down;
		const float *w_up = fp_mat_f32(&ly->w_up, &own_up), *w_down = fp_mat_f32(&ly->w_down, &own_down);
		if (!w_up || !w_down) {
			free(own_up), free(own_down);
			for (int f = 0; f < F; f++)
				w_in[(size_t)l * F + f] = w_out[(size_t)l * F + f] = NAN;
			continue;
		}
		an_norm_row(m, ly->ln2_w, ly->ln2_b, run->resid_mid + ((size_t)l * n + pos) * D, xn);
		double xnn = 0;
		for (int d = 0; d < D; d++)
			xnn += (double)xn[d] * xn[d];
		xnn = sqrt(xnn);
		for (int f = 0; f < F; f++) {
			const float *wi = w_up + (size_t)f * D;
			double dot = 0, wn = 0, od = 0, on = 0;
			for (int d = 0; d < D; d++) {
				dot += (double)wi[d] * xn[d], wn += (double)wi[d] * wi[d];
				float wo = w_down[(size_t)d * F + f];
				od += (double)wo * g[d], on += (double)wo * wo;
			}
			size_t i = (size_t)l * F + f;
			w_in[i] = wn > 0 && xnn > 0 ? (float)(dot / sqrt(wn) / xnn) : 0;
			w_out[i] = on > 0 && gn > 0 ? (float)(od / sqrt(on) / gn) : 0;
		}
		free(own_up), free(own_down);
	}
	free(g), free(xn);
}

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
	}
done:
	free(tok), free(lens), free(logits);
	return rc;
}


/* ---- concept directions ---- */


/* strips one pair of surrounding double quotes */
static char *unquote(const char *s)
{
	size_t n = strlen(s);
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"')
		return strndup(s + 1, n - 2);
	return strdup(s);
}

static int tokens_of(const fp_model *m, const char *text, int32_t **ids, int *n, const char *what, fp_error *err)
{
	if (fp_tokenize(m->tok, text, strlen(text), 0, ids, n, err))
		return err ? err->code : FP_ERR_INVALID;
	if (*n == 0) {
		free(*ids);
		return fp_error_set(err, FP_ERR_INVALID, "%s: '%s' has no tokens", what, text);
	}
	return 0;
}

/* Mean over a prompt file of a hook's rows at every layer: each prompt's
 * last row (all_tokens 0; *count = prompts) or every token's (all_tokens 1;
 * *count = tokens).  mean is [L][W]. */
static int mean_acts(fp_model *m, const char *path, int kind, int all_tokens, float *mean, int W, long *count,
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
	return mean_acts(m, path, FP_HOOK_MLP_POST, 1, mean, m->cfg.d_mlp, &tokens, err);
}

static int read_dir_file(const char *path, const char *dset, an_dir *d, int L, fp_error *err)
{
	H5E_auto2_t fn;
	void *fd;
	H5Eget_auto2(H5E_DEFAULT, &fn, &fd);
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	int rc = 0;
	hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), ds = -1, sp = -1;
	if (f < 0) {
		rc = fp_error_set(err, FP_ERR_IO, "cannot open '%s' as an HDF5 file", path);
		goto done;
	}
	if (H5Lexists(f, dset, H5P_DEFAULT) <= 0 || (ds = H5Dopen2(f, dset, H5P_DEFAULT)) < 0) {
		rc = fp_error_set(err, FP_ERR_INVALID, "'%s' has no dataset '%s'", path, dset);
		goto done;
	}
	sp = H5Dget_space(ds);
	hsize_t dims[3] = {0};
	int rank = H5Sget_simple_extent_ndims(sp);
	if (rank < 1 || rank > 2) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s:%s' has %d dimensions; a direction is [width] or [layers, width]",
				  path, dset, rank);
		goto done;
	}
	H5Sget_simple_extent_dims(sp, dims, NULL);
	hsize_t rows = rank == 2 ? dims[0] : 1, W = rank == 2 ? dims[1] : dims[0];
	if (W == 0 || W > (1u << 24) || rows == 0 || rows > 4096) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s:%s' has an implausible shape", path, dset);
		goto done;
	}
	if (rank == 2 && rows != (hsize_t)L && rows != (hsize_t)L + 1) {
		rc = fp_error_set(err, FP_ERR_INVALID,
				  "'%s:%s' has %llu rows; a per-layer direction needs one per layer (%d, or %d from "
				  "resid_pre 0)", path, dset, (unsigned long long)rows, L, L + 1);
		goto done;
	}
	d->v = malloc(rows * W * sizeof(float));
	if (!d->v) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		goto done;
	}
	if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, d->v) < 0) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "cannot read '%s:%s' as numbers", path, dset);
		goto done;
	}
	d->width = (int)W;
	d->per_layer = rank == 2;
	d->n_layers = (int)rows;
	d->layer_offset = rows == (hsize_t)L + 1 ? -1 : 0;
done:
	if (sp >= 0)
		H5Sclose(sp);
	if (ds >= 0)
		H5Dclose(ds);
	if (f >= 0)
		H5Fclose(f);
	H5Eset_auto2(H5E_DEFAULT, fn, fd);
	return rc;
}

int an_dir_parse(fp_model *m, const char *spec, int multi, int normalize, an_dir **out, fp_error *err)
{
	const fp_config *c = &m->cfg;
	int D = c->d_model, F = c->d_mlp, L = c->n_layers, rc = 0;
	an_dir *d = calloc(1, sizeof *d);
	char *arg = NULL;
	*out = NULL;
	if (!d)
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	const char *colon = strchr(spec, ':');
	if (!colon) {
		rc = fp_error_set(err, FP_ERR_INVALID,
				  "direction '%s' has no kind: use tok:WORD, emb:TEXT, neuron:L.N, neuron-in:L.N, "
				  "mean-diff:A,B@HOOK or file:PATH.h5:/dataset", spec);
		goto done;
	}
	size_t kl = (size_t)(colon - spec);
	arg = unquote(colon + 1);
#define KIND(s) (kl == strlen(s) && !strncmp(spec, s, kl))
	if (KIND("tok") || KIND("emb")) {
		int is_tok = KIND("tok");
		int32_t *ids = NULL;
		int n = 0;
		if ((rc = tokens_of(m, arg, &ids, &n, is_tok ? "tok:" : "emb:", err)))
			goto done;
		if (is_tok && n > 1 && multi == 0) {
			fp_error e2 = {0};
			an_target_token(m, arg, -1, &(int){0}, &e2);
			rc = fp_error_set(err, FP_ERR_INVALID, "tok:%s; or say --multi mean|first", e2.msg);
			free(ids);
			goto done;
		}
		int use = is_tok && multi == 2 ? 1 : n;
		d->width = D;
		d->v = calloc((size_t)D, sizeof *d->v);
		if (!d->v) {
			free(ids);
			rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
			goto done;
		}
		const fp_mat *M = is_tok ? &m->unembed : &m->tok_embd;
		float *row = malloc((size_t)D * sizeof *row);
		if (!row) {
			free(ids);
			rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
			goto done;
		}
		for (int i = 0; i < use; i++) {
			fp_mat_row(M, ids[i], row);
			for (int k = 0; k < D; k++)
				d->v[k] += row[k] / use;
		}
		free(row);
		if (use == 1)
			snprintf(d->label, sizeof d->label, "%s:\"%s\" (%s of token %d)", is_tok ? "tok" : "emb", arg,
				 is_tok ? "unembedding row" : "input embedding", ids[0]);
		else
			snprintf(d->label, sizeof d->label, "%s:\"%s\" (mean %s of its %d tokens)", is_tok ? "tok" : "emb",
				 arg, is_tok ? "unembedding row" : "input embedding", use);
		free(ids);
	} else if (KIND("neuron") || KIND("neuron-in")) {
		int in = KIND("neuron-in"), l = 0, nn = 0;
		if ((rc = ps_neuron(arg, strlen(arg), m->cfg.n_layers, m->cfg.d_mlp, &l, &nn, err)))
			goto done;
		d->width = D;
		d->v = malloc((size_t)D * sizeof *d->v);
		if (!d->v) {
			rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
			goto done;
		}
		if (in)
			fp_mat_row(&m->layers[l].w_up, nn, d->v);
		else
			fp_mat_col(&m->layers[l].w_down, nn, d->v);
		snprintf(d->label, sizeof d->label, "%s:%d.%d (%s)", in ? "neuron-in" : "neuron", l, nn,
			 in ? "the neuron's input row, W_in" : "the neuron's output row, W_out");
	} else if (KIND("mean-diff")) {
		char *at = strrchr(arg, '@'), *comma = strchr(arg, ',');
		if (!at || !comma || comma > at) {
			rc = fp_error_set(err, FP_ERR_INVALID,
					  "mean-diff:%s: write mean-diff:A.txt,B.txt@HOOK, e.g. "
					  "mean-diff:pos.txt,neg.txt@blocks.*.hook_resid_post", arg);
			goto done;
		}
		*at = 0, *comma = 0;
		const char *fa = arg, *fb = comma + 1, *hook = at + 1;
		int kind, layer;
		if (ps_hook_pattern(hook, &kind, &layer, NULL) ||
		    !(kind == FP_HOOK_RESID_PRE || kind == FP_HOOK_RESID_POST || kind == FP_HOOK_RESID_MID ||
		      kind == FP_HOOK_MLP_POST)) {
			rc = fp_error_set(err, FP_ERR_INVALID,
					  "mean-diff: '%s' is not a hook it can use: blocks.*.hook_resid_pre, "
					  "hook_resid_mid, hook_resid_post or mlp.hook_post", hook);
			goto done;
		}
		if (layer >= L) {
			rc = fp_error_set(err, FP_ERR_INVALID, "mean-diff: layer %d is out of range (0..%d)", layer, L - 1);
			goto done;
		}
		int W = kind == FP_HOOK_MLP_POST ? F : D;
		float *ma = malloc((size_t)L * W * sizeof *ma), *mb = malloc((size_t)L * W * sizeof *mb);
		long na = 0, nb = 0;
		if (!ma || !mb)
			rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		else if (!(rc = mean_acts(m, fa, kind, 0, ma, W, &na, err)))
			rc = mean_acts(m, fb, kind, 0, mb, W, &nb, err);
		if (!rc) {
			for (size_t i = 0; i < (size_t)L * W; i++)
				ma[i] -= mb[i];
			d->width = W;
			if (layer < 0) {
				d->per_layer = 1;
				d->n_layers = L;
				d->layer_offset = 0;
				d->v = ma;
				ma = NULL;
			} else {
				d->v = malloc((size_t)W * sizeof *d->v);
				if (d->v)
					memcpy(d->v, ma + (size_t)layer * W, (size_t)W * sizeof(float));
				else
					rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
			}
			snprintf(d->label, sizeof d->label,
				 "mean-diff:%s,%s@%s (mean last-token activation of %ld prompts minus %ld)", fa, fb, hook,
				 na, nb);
		}
		free(ma), free(mb);
		if (rc)
			goto done;
	} else if (KIND("file")) {
		char *sep = strstr(arg, ":/");
		if (!sep) {
			rc = fp_error_set(err, FP_ERR_INVALID, "file:%s: write file:PATH.h5:/dataset", arg);
			goto done;
		}
		*sep = 0;
		if ((rc = read_dir_file(arg, sep + 1, d, L, err)))
			goto done;
		snprintf(d->label, sizeof d->label, "file:%s:%s (%s)", arg, sep + 1,
			 d->per_layer ? "one vector per layer" : "one vector");
	} else {
		rc = fp_error_set(err, FP_ERR_INVALID,
				  "unknown direction kind '%.*s': use tok, emb, neuron, neuron-in, mean-diff or file",
				  (int)kl, spec);
		goto done;
	}
#undef KIND
	d->normalized = normalize;
	int rows = d->per_layer ? d->n_layers : 1;
	for (int r = 0; r < rows; r++) {
		float *v = d->v + (size_t)r * d->width;
		double ss = 0;
		for (int k = 0; k < d->width; k++)
			ss += (double)v[k] * v[k];
		if (ss == 0 && !d->per_layer) {
			rc = fp_error_set(err, FP_ERR_INVALID, "direction %s is the zero vector", spec);
			goto done;
		}
		if (normalize && ss > 0)
			for (int k = 0; k < d->width; k++)
				v[k] = (float)(v[k] / sqrt(ss));
	}
	if (!d->per_layer)
		d->n_layers = 1;
done:
	free(arg);
	if (rc)
		an_dir_free(d);
	else
		*out = d;
	return rc;
}

const float *an_dir_at(const an_dir *d, int layer)
{
	if (!d->per_layer || layer < 0)
		return d->per_layer ? NULL : d->v;
	int i = layer - d->layer_offset;
	return i >= 0 && i < d->n_layers ? d->v + (size_t)i * d->width : NULL;
}

void an_dir_free(an_dir *d)
{
	if (d) {
		free(d->v);
		free(d);
	}
}

/* ---- reading recordings ---- */

struct an_rec {
	hid_t f;
	char path[1024];
	an_rec_meta meta;
};

static H5E_auto2_t save_fn;
static void *save_data;
static void h5quiet(void)
{
	H5Eget_auto2(H5E_DEFAULT, &save_fn, &save_data);
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}
static void h5loud(void)
{
	H5Eset_auto2(H5E_DEFAULT, save_fn, save_data);
}

static int rd_attr_ll(hid_t f, const char *name, long long *v)
{
	if (H5Aexists(f, name) <= 0)
		return -1;
	hid_t a = H5Aopen(f, name, H5P_DEFAULT);
	int rc = a >= 0 && H5Aread(a, H5T_NATIVE_LLONG, v) >= 0 ? 0 : -1;
	if (a >= 0)
		H5Aclose(a);
	return rc;
}

static int rd_attr_str(hid_t f, const char *name, char *buf, size_t n)
{
	buf[0] = 0;
	if (H5Aexists(f, name) <= 0)
		return -1;
	hid_t a = H5Aopen(f, name, H5P_DEFAULT), t = H5Tcopy(H5T_C_S1);
	H5Tset_size(t, H5T_VARIABLE);
	H5Tset_cset(t, H5T_CSET_UTF8);
	char *v = NULL;
	int rc = a >= 0 && H5Aread(a, t, &v) >= 0 && v ? 0 : -1;
	if (!rc) {
		snprintf(buf, n, "%s", v);
		H5free_memory(v);
	}
	H5Tclose(t);
	if (a >= 0)
		H5Aclose(a);
	return rc;
}

int an_rec_open(an_rec **out, const char *path, an_rec_meta *meta, fp_error *err)
{
	*out = NULL;
	an_rec *r = calloc(1, sizeof *r);
	if (!r)
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	snprintf(r->path, sizeof r->path, "%s", path);
	h5quiet();
	r->f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	char fmt[64];
	long long v;
	int rc = 0;
	if (r->f < 0) {
		rc = fp_error_set(err, FP_ERR_IO, "cannot open '%s' as an HDF5 file (missing, or not HDF5)", path);
		goto done;
	}
	if (rd_attr_str(r->f, "format", fmt, sizeof fmt) || strcmp(fmt, "factprobe-activations")) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s' is not a recording from 'factprobe record' (no format "
				  "attribute 'factprobe-activations')", path);
		goto done;
	}
	an_rec_meta *mt = &r->meta;
#define NEED(name, dst)                                                                                  \
	if (rd_attr_ll(r->f, name, &v)) {                                                                \
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s' lacks the root attribute '%s'", path, name); \
		goto done;                                                                               \
	}                                                                                                \
	dst = v;
	NEED("n_prompts", mt->n_prompts);
	NEED("n_layers", mt->n_layers);
	NEED("d_model", mt->d_model);
	NEED("d_mlp", mt->d_mlp);
	NEED("complete", mt->complete);
#undef NEED
	rd_attr_str(r->f, "hooks", mt->hooks, sizeof mt->hooks);
	rd_attr_str(r->f, "positions", mt->positions, sizeof mt->positions);
	rd_attr_str(r->f, "model_sha256", mt->model_sha256, sizeof mt->model_sha256);
	if (mt->n_prompts < 0 || mt->n_prompts > (1L << 40)) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': n_prompts %ld is implausible", path, mt->n_prompts);
		goto done;
	}
	mt->n_rows = 0;
	if (mt->n_prompts > 0) {
		long nr;
		long *all = malloc((size_t)mt->n_prompts * sizeof *all);
		if (!all) {
			rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
			goto done;
		}
		if (!(rc = an_rec_longs(r, "prompts/row_start", all, mt->n_prompts, err))) {
			nr = all[mt->n_prompts - 1];
			if (!(rc = an_rec_longs(r, "prompts/n_rows", all, mt->n_prompts, err)))
				mt->n_rows = nr + all[mt->n_prompts - 1];
		}
		free(all);
		if (rc)
			goto done;
	}
	if (meta)
		*meta = *mt;
done:
	h5loud();
	if (rc)
		an_rec_close(r);
	else
		*out = r;
	return rc;
}

int an_rec_has(an_rec *r, const char *hook)
{
	char p[256];
	snprintf(p, sizeof p, "acts/%s", hook);
	h5quiet();
	int yes = h5u_has(r->f, p);
	h5loud();
	return yes;
}

/* Rows [row0, row0+n) of a 1-D or 2-D dataset into out (memtype), all
 * columns.  *width (may be NULL) gets the column count (1 for 1-D), *rows
 * (may be NULL) the dataset's rows.  n = 0 or out NULL: only the shape. */
static int read_slab(an_rec *r, const char *path, hid_t memtype, long row0, long n, void *out, int *width,
		     long *rows, fp_error *err)
{
	h5quiet();
	int rc = 0, rank;
	hid_t ds = h5u_has(r->f, path) ? H5Dopen2(r->f, path, H5P_DEFAULT) : -1;
	hid_t sp = ds >= 0 ? H5Dget_space(ds) : -1, ms = -1;
	hsize_t dims[2] = {0, 1};
	if (sp < 0 || (rank = H5Sget_simple_extent_ndims(sp)) < 1 || rank > 2) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s' has no 1-D or 2-D dataset /%s", r->path, path);
		goto done;
	}
	H5Sget_simple_extent_dims(sp, dims, NULL);
	if (width)
		*width = (int)dims[1];
	if (rows)
		*rows = (long)dims[0];
	if (row0 < 0 || n < 0 || (hsize_t)(row0 + n) > dims[0]) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': /%s has %llu rows, fewer than its tables say (%ld)", r->path,
				  path, (unsigned long long)dims[0], row0 + n);
		goto done;
	}
	if (n == 0 || !out)
		goto done;
	hsize_t start[2] = {(hsize_t)row0, 0}, cnt[2] = {(hsize_t)n, dims[1]};
	H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, cnt, NULL);
	ms = H5Screate_simple(rank, cnt, NULL);
	if (H5Dread(ds, memtype, ms, sp, H5P_DEFAULT, out) < 0)
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': cannot read /%s", r->path, path);
done:
	if (ms >= 0)
		H5Sclose(ms);
	if (sp >= 0)
		H5Sclose(sp);
	if (ds >= 0)
		H5Dclose(ds);
	h5loud();
	return rc;
}

int an_rec_read(an_rec *r, const char *hook, long row0, long n, float *out, int *width, fp_error *err)
{
	char p[256];
	snprintf(p, sizeof p, "acts/%s", hook);
	if (!an_rec_has(r, hook))
		return fp_error_set(err, FP_ERR_INVALID,
				    "'%s' does not hold %s; record it with: factprobe record --hooks %s ...", r->path,
				    hook, hook);
	return read_slab(r, p, H5T_NATIVE_FLOAT, row0, n, out, width, NULL, err);
}

int an_rec_strings(an_rec *r, const char *field, char ***out, fp_error *err)
{
	char p[128];
	long n = r->meta.n_prompts;
	snprintf(p, sizeof p, "prompts/%s", field);
	*out = NULL;
	hid_t t = H5Tcopy(H5T_C_S1);
	H5Tset_size(t, H5T_VARIABLE);
	H5Tset_cset(t, H5T_CSET_UTF8);
	char **v = calloc((size_t)(n ? n : 1), sizeof *v);
	int rc = v ? read_slab(r, p, t, 0, n, v, NULL, NULL, err) : fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	H5Tclose(t);
	for (long i = 0; !rc && i < n; i++) { /* own copies, freed with free() */
		char *c = strdup(v[i] ? v[i] : "");
		if (v[i])
			H5free_memory(v[i]);
		v[i] = c;
	}
	if (rc)
		free(v);
	else
		*out = v;
	return rc;
}

int an_rec_longs(an_rec *r, const char *path, long *out, long n, fp_error *err)
{
	return an_rec_longs_at(r, path, 0, out, n, err);
}

int an_rec_longs_at(an_rec *r, const char *path, long start, long *out, long n, fp_error *err)
{
	int w = 1;
	int rc = read_slab(r, path, H5T_NATIVE_LONG, start, 0, NULL, &w, NULL, err);
	if (!rc && w != 1)
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': /%s is not 1-D", r->path, path);
	return rc ? rc : read_slab(r, path, H5T_NATIVE_LONG, start, n, out, NULL, NULL, err);
}

/* row i of /prompts/subject_span [P, 2] */
static int an_rec_longs_at_2d(an_rec *r, long i, long out[2])
{
	int w = 0;
	fp_error e = {0};
	if (read_slab(r, "prompts/subject_span", H5T_NATIVE_LONG, i, 0, NULL, &w, NULL, &e) || w != 2)
		return -1;
	return read_slab(r, "prompts/subject_span", H5T_NATIVE_LONG, i, 1, out, NULL, NULL, &e);
}

int an_rec_prompt_get(an_rec *r, long i, an_rec_prompt *p, fp_error *err)
{
	memset(p, 0, sizeof *p);
	p->s0 = p->s1 = -1;
	if (i < 0 || i >= r->meta.n_prompts)
		return fp_error_set(err, FP_ERR_INVALID, "'%s' has prompts 0..%ld, not %ld", r->path, r->meta.n_prompts - 1, i);
	long ts, nt, rs, nr, span[2];
	int rc;
	char **texts = NULL;
	if ((rc = an_rec_longs_at(r, "prompts/token_start", i, &ts, 1, err)) ||
	    (rc = an_rec_longs_at(r, "prompts/n_tokens", i, &nt, 1, err)) ||
	    (rc = an_rec_longs_at(r, "prompts/row_start", i, &rs, 1, err)) ||
	    (rc = an_rec_longs_at(r, "prompts/n_rows", i, &nr, 1, err)))
		return rc;
	if (nt <= 0 || nt > (1 << 20) || nr < 0 || nr > nt)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': prompt %ld has %ld tokens and %ld rows", r->path, i, nt, nr);
	long *ids = malloc((size_t)nt * sizeof *ids), *pos = malloc((size_t)(nr ? nr : 1) * sizeof *pos);
	p->ids = malloc((size_t)nt * sizeof *p->ids);
	p->row_of = malloc((size_t)nt * sizeof *p->row_of);
	if (!ids || !pos || !p->ids || !p->row_of) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		goto done;
	}
	if ((rc = an_rec_longs_at(r, "tokens/id", ts, ids, nt, err)) ||
	    (rc = an_rec_longs_at(r, "rows/position", rs, pos, nr, err)) || (rc = an_rec_strings(r, "text", &texts, err)))
		goto done;
	p->n = (int)nt;
	for (long t = 0; t < nt; t++)
		p->ids[t] = (int32_t)ids[t], p->row_of[t] = -1;
	for (long k = 0; k < nr; k++) {
		if (pos[k] < 0 || pos[k] >= nt) {
			rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': prompt %ld has a row at position %ld of %ld", r->path, i,
					  pos[k], nt);
			goto done;
		}
		p->row_of[pos[k]] = rs + k;
	}
	p->text = strdup(texts[i]);
	/* subject_span is [P, 2]: read it as 2P longs */
	if (an_rec_longs_at_2d(r, i, span) == 0)
		p->s0 = (int)span[0], p->s1 = (int)span[1];
done:
	if (texts)
		for (long k = 0; k < r->meta.n_prompts; k++)
			free(texts[k]);
	free(texts), free(ids), free(pos);
	if (rc)
		an_rec_prompt_free(p);
	return rc;
}

void an_rec_prompt_free(an_rec_prompt *p)
{
	free(p->text), free(p->ids), free(p->row_of);
	memset(p, 0, sizeof *p);
}

void an_rec_close(an_rec *r)
{
	if (!r)
		return;
	if (r->f >= 0)
		H5Fclose(r->f);
	free(r);
}
