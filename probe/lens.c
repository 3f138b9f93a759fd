/* lens.c - the final norm, the logit lens and direct logit attribution: see
 * analysis.h. */
#include "analysis.h"

#include <cblas.h>
#include <math.h>
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
