/* lens.c - the final norm, the logit lens and direct logit attribution: see
 * analysis.h. */
#include "analysis.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	if (m->cfg.layer_norm) {
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
	fp_model_add_unembed_bias(m, logits, rows); /* gptj's lm_head bias */
	(void)D;
	fp_model_softcap_logits(m, logits, (size_t)rows * V); /* gemma2: as the model reads its last layer */
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

double an_logsumexp(const float *x, int n)
{
	double mx = x[0], sum = 0;
	for (int i = 1; i < n; i++)
		mx = x[i] > mx ? x[i] : mx;
	for (int i = 0; i < n; i++)
		sum += exp(x[i] - mx);
	return mx + log(sum);
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
	if (m->cfg.layer_norm) /* LayerNorm: the mean is removed first */
		for (int d = 0; d < D; d++)
			g[d] -= (float)(mean / D);
}

void an_neuron_dla(const fp_model *m, const float *act, const float *g, float scale, float *dla)
{
	int L = m->cfg.n_layers, D = m->cfg.d_model, F = m->cfg.d_mlp;
	float *y = NULL, *gl = NULL;
	if (m->cfg.post_norms) {
		y = malloc((size_t)D * sizeof *y), gl = malloc((size_t)D * sizeof *gl);
		if (!y || !gl) {
			free(y), free(gl);
			for (size_t i = 0; i < (size_t)L * F; i++)
				dla[i] = NAN;
			return;
		}
	}
	for (int l = 0; l < L; l++) {
		float *o = dla + (size_t)l * F, s = scale, *own;
		const float *gr = g;
		/* W_out is [D, F] */
		const float *wd = fp_mat_f32(&m->layers[l].w_down, &own);
		if (!wd) {
			for (int f = 0; f < F; f++)
				o[f] = NAN;
			continue;
		}
		if (y) {
			/* gemma: mlp_out = RMSNorm(W_out act) * w_post; with that norm's
			 * scale frozen too, the neurons' terms still add up to mlp_out */
			const float *wp = m->layers[l].post_mlp_norm, *a = act + (size_t)l * F;
			cblas_sgemv(CblasRowMajor, CblasNoTrans, D, F, 1.0f, wd, F, a, 1, 0.0f, y, 1);
			double ss = 0;
			for (int d = 0; d < D; d++)
				ss += (double)y[d] * y[d], gl[d] = g[d] * wp[d];
			s = scale * (float)sqrt(ss / D + m->cfg.norm_eps);
			gr = gl;
		}
		/* o = W_out^T g */
		cblas_sgemv(CblasRowMajor, CblasTrans, D, F, 1.0f, wd, F, gr, 1, 0.0f, o, 1);
		free(own);
		for (int f = 0; f < F; f++)
			o[f] = o[f] * act[(size_t)l * F + f] / s;
	}
	free(y), free(gl);
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
		/* what the MLP reads: resid_mid, or resid_pre with gptneox's parallel residual */
		const float *in = m->cfg.parallel_resid ? run->resid : run->resid_mid;
		an_norm_row(m, ly->ln2_w, ly->ln2_b, in + ((size_t)l * n + pos) * D, xn);
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

int an_lens_run(const fp_model *m, const an_run *run, const int *pos, int npos, int k, int target, an_lens *o,
		fp_error *err)
{
	int V = m->cfg.n_vocab, D = m->cfg.d_model, R = m->cfg.n_layers + 1, n = run->n_tok;
	size_t cells = (size_t)R * npos;
	k = k < V ? k : V;
	*o = (an_lens){R, npos, k, target, malloc(cells * k * sizeof(int32_t)), malloc(cells * k * sizeof(float)),
		       malloc(cells * sizeof(float)), malloc(cells * sizeof(int32_t))};
	float *logits = malloc((size_t)R * V * sizeof *logits), *tmp = malloc((size_t)R * D * sizeof *tmp);
	float *rows = malloc((size_t)R * D * sizeof *rows);
	int *ord = malloc((size_t)k * sizeof *ord);
	if (!logits || !tmp || !rows || !ord || !o->top_id || !o->top_p || !o->tprob || !o->trank) {
		free(logits), free(tmp), free(rows), free(ord);
		an_lens_free(o);
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	}
	int auto_target = target < 0;
	/* last position first when the target comes from the final top token */
	for (int ii = 0; ii < npos; ii++) {
		int i = auto_target ? npos - 1 - ii : ii, p = pos[i];
		for (int r = 0; r < R; r++)
			memcpy(rows + (size_t)r * D, run->resid + ((size_t)r * n + p) * D, (size_t)D * sizeof(float));
		an_lens_logits(m, rows, R, logits, tmp);
		if (o->target < 0) /* the model's final top token at this position */
			an_top_k(logits + (size_t)(R - 1) * V, V, 1, &o->target);
		for (int r = 0; r < R; r++) {
			const float *lg = logits + (size_t)r * V;
			size_t cell = (size_t)r * npos + i;
			double lse = an_logsumexp(lg, V);
			an_top_k(lg, V, k, ord);
			for (int j = 0; j < k; j++)
				o->top_id[cell * k + j] = ord[j], o->top_p[cell * k + j] = (float)exp(lg[ord[j]] - lse);
			int rank;
			o->tprob[cell] = (float)exp(an_logprob(lg, V, o->target, &rank));
			o->trank[cell] = rank;
		}
	}
	free(logits), free(tmp), free(rows), free(ord);
	return 0;
}

void an_lens_free(an_lens *l)
{
	free(l->top_id), free(l->top_p), free(l->tprob), free(l->trank);
	l->top_id = NULL, l->top_p = NULL, l->tprob = NULL, l->trank = NULL;
}

int an_run_recorded(const fp_model *m, const char *path, long i, h5rec_recorded *p, an_run *run, fp_error *err)
{
	int L = m->cfg.n_layers, D = m->cfg.d_model, rc = 0;
	h5rec_in *rec = NULL;
	h5rec_meta mt;
	memset(p, 0, sizeof *p);
	memset(run, 0, sizeof *run);
	if ((rc = h5rec_open(&rec, path, &mt, err)))
		return rc;
	if (mt.n_layers != L || mt.d_model != D) {
		h5rec_in_close(rec);
		return fp_error_set(err, FP_ERR_INVALID,
				    "'%s' was recorded from a model with %d layers of width %d, not this one (%d, %d)", path,
				    mt.n_layers, mt.d_model, L, D);
	}
	if ((rc = h5rec_recorded_get(rec, i, p, err))) {
		h5rec_in_close(rec);
		return rc;
	}
	int T = p->n;
	run->n_tok = T, run->n_layers = L, run->d_model = D;
	run->resid = malloc((size_t)(L + 1) * T * D * sizeof(float));
	if (!run->resid) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		goto done;
	}
	for (size_t q = 0; q < (size_t)(L + 1) * T * D; q++)
		run->resid[q] = NAN;
	for (int t = 0; t < T; t++) { /* blocks.0.hook_resid_pre: embeddings (+ positions) */
		if (p->ids[t] < 0 || p->ids[t] >= m->cfg.n_vocab) {
			rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': token id %d is outside this model's vocabulary", path,
					  p->ids[t]);
			goto done;
		}
		fp_mat_row(&m->tok_embd, p->ids[t], run->resid + (size_t)t * D);
		for (int d = 0; m->pos_embd && d < D; d++)
			run->resid[(size_t)t * D + d] += m->pos_embd[(size_t)t * D + d];
	}
	for (int l = 0; l < L && !rc; l++) {
		char hn[96];
		snprintf(hn, sizeof hn, "blocks.%d.hook_resid_post", l);
		for (int t = 0; t < T && !rc; t++) {
			int w;
			if (p->row_of[t] >= 0)
				rc = h5rec_read(rec, hn, p->row_of[t], 1, run->resid + ((size_t)(l + 1) * T + t) * D, &w, err);
		}
	}
done:
	h5rec_in_close(rec);
	if (rc)
		an_run_free(run), h5rec_recorded_free(p);
	return rc;
}

int an_promotes(const fp_model *m, int l, int f, float sign, int n, int *top)
{
	int D = m->cfg.d_model, V = m->cfg.n_vocab;
	float *tmp_d = malloc((size_t)D * sizeof *tmp_d), *tmp_v = malloc((size_t)V * sizeof *tmp_v);
	if (!tmp_d || !tmp_v) {
		free(tmp_d), free(tmp_v);
		for (int i = 0; i < n; i++)
			top[i] = 0;
		return FP_ERR_NOMEM;
	}
	fp_mat_col(&m->layers[l].w_down, f, tmp_d);
	for (int d = 0; d < D; d++)
		tmp_d[d] = (sign < 0 ? -1 : 1) * tmp_d[d] * m->out_norm_w[d] *
			   (m->layers[l].post_mlp_norm ? m->layers[l].post_mlp_norm[d] : 1.0f);
	if (fp_mat_mul(tmp_v, tmp_d, &m->unembed, 1)) /* out of memory: no ranking */
		for (int v = 0; v < V; v++)
			tmp_v[v] = 0;
	an_top_k(tmp_v, V, n, top);
	free(tmp_d), free(tmp_v);
	return 0;
}
