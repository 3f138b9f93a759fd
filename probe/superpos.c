/* superpos.c - see superpos.h. */
#include "superpos.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 1024 /* Gram rows per block */

void sp_normalize_rows(float *V, long n, int d)
{
	for (long i = 0; i < n; i++) {
		double s = 0;
		for (int k = 0; k < d; k++)
			s += (double)V[i * d + k] * V[i * d + k];
		s = s > 0 ? 1 / sqrt(s) : 0;
		for (int k = 0; k < d; k++)
			V[i * d + k] = (float)(V[i * d + k] * s);
	}
}

double sp_deg(double c)
{
	return acos(c > 1 ? 1 : c < -1 ? -1 : c) * 180 / M_PI;
}

double sp_welch_deg(long n, int d)
{
	if (n <= d)
		return 90.0;
	return sp_deg(sqrt((double)(n - d) / ((double)d * (n - 1))));
}

double sp_m2_min(long n, int d)
{
	return n > d ? ((double)n / d - 1) / (double)(n - 1) : 0;
}

double sp_m4_min(long n, int d)
{
	double m = (3.0 * n / ((double)d * (d + 2)) - 1) / (double)(n - 1);
	return n > 1 && m > 0 ? m : 0;
}

int sp_opt_init(sp_opt *o, long n, int d, st_rng *rng)
{
	*o = (sp_opt){n, d, malloc((size_t)n * d * sizeof(float)), malloc((size_t)n * d * sizeof(float)),
		      malloc((size_t)BLOCK * n * sizeof(float)), 1.0f};
	if (!o->V || !o->grad || !o->G) {
		sp_opt_free(o);
		return -1;
	}
	for (size_t i = 0; i < (size_t)n * d; i++)
		o->V[i] = (float)st_rng_gauss(rng);
	sp_normalize_rows(o->V, n, d);
	return 0;
}

void sp_opt_free(sp_opt *o)
{
	free(o->V), free(o->grad), free(o->G);
	o->V = o->grad = o->G = NULL;
}

void sp_opt_step(sp_opt *o, int s, int steps)
{
	/* power 8, 16, 32, 64, 128 over the run; the step shrinks from 0.05 rad */
	int p = s < steps / 8 ? 8 : s < steps / 4 ? 16 : s < steps / 2 ? 32 : s < 3 * steps / 4 ? 64 : 128;
	float lr = 0.05f * (1.0f - 0.95f * s / (float)steps);
	float *V = o->V, *grad = o->grad, *G = o->G;
	long n = o->n;
	int d = o->d;
	/* overlaps are scaled by the last step's worst before the power, so the
	 * pairs that matter stay far from underflow even at p = 64 */
	float inv = 1.0f / (o->worst_seen > 1e-3f ? o->worst_seen : 1e-3f), worst = 0;
	for (long i0 = 0; i0 < n; i0 += BLOCK) {
		long b = n - i0 < BLOCK ? n - i0 : BLOCK;
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, (int)n, d, 1.0f, V + i0 * d, d, V, d, 0.0f, G, (int)n);
		for (long r = 0; r < b; r++) {
			float *g = G + r * n;
			g[i0 + r] = 0; /* no self term */
			/* g^(p-1) for p = 8, 16, 32, 64, 128, as products of repeated squares */
			for (long j = 0; j < n; j++) {
				float a = fabsf(g[j]);
				worst = a > worst ? a : worst;
				float x = g[j] * inv, x2 = x * x, x4 = x2 * x2, x8 = x4 * x4, y = x8 * x4 * x2 * x; /* x^15 */
				if (p == 8)
					y = x4 * x2 * x;
				else if (p >= 32) {
					float x16 = x8 * x8, x32 = x16 * x16;
					y *= x16; /* x^31 */
					if (p >= 64)
						y *= x32; /* x^63 */
					if (p == 128)
						y *= x32 * x32; /* x^127 */
				}
				g[j] = y;
			}
		}
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)b, d, (int)n, 1.0f, G, (int)n, V, d, 0.0f,
			    grad + i0 * d, d);
	}
	/* project on each tangent; the step is lr for the vector with the largest
	 * gradient and in proportion for the others, so the worst overlaps move most */
	double gmax = 0;
	for (long i = 0; i < n; i++) {
		float *v = V + i * d, *gr = grad + i * d;
		double dot = 0, gn = 0;
		for (int k = 0; k < d; k++)
			dot += (double)gr[k] * v[k];
		for (int k = 0; k < d; k++) {
			gr[k] -= (float)(dot * v[k]);
			gn += (double)gr[k] * gr[k];
		}
		gmax = gn > gmax ? gn : gmax;
	}
	if (gmax > 0 && isfinite(gmax)) {
		double sc = lr / sqrt(gmax);
		for (size_t i = 0; i < (size_t)n * d; i++)
			V[i] -= (float)(sc * grad[i]);
	}
	o->worst_seen = worst;
	sp_normalize_rows(V, n, d);
}

void sp_summary_free(sp_summary *s)
{
	free(s->pair), free(s->nn);
	s->pair = s->nn = NULL;
}

int sp_measure(const float *V, long n, int d, sp_summary *s)
{
	float *G = malloc((size_t)BLOCK * n * sizeof *G);
	double *near = malloc((size_t)n * sizeof *near);
	s->pair = calloc(SP_BINS, sizeof(double));
	s->nn = calloc(SP_BINS, sizeof(double));
	if (!G || !near || !s->pair || !s->nn) {
		free(G), free(near);
		sp_summary_free(s);
		return -1;
	}
	for (long i = 0; i < n; i++)
		near[i] = 0;
	double in1 = 0, in5 = 0, pairs = 0, worst = 0, c4 = 0;
	for (long i0 = 0; i0 < n; i0 += BLOCK) {
		long b = n - i0 < BLOCK ? n - i0 : BLOCK;
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, (int)n, d, 1.0f, V + i0 * d, d, V, d, 0.0f, G, (int)n);
		for (long r = 0; r < b; r++) {
			long i = i0 + r;
			for (long j = 0; j < n; j++) {
				if (j == i)
					continue;
				double g = G[r * n + j], a = fabs(g);
				if (a > near[i])
					near[i] = a;
				if (j > i) {
					double deg = sp_deg(g);
					int bin = (int)(deg * 10);
					s->pair[bin < 0 ? 0 : bin >= SP_BINS ? SP_BINS - 1 : bin]++;
					pairs++;
					in1 += fabs(deg - 90) <= 1;
					in5 += fabs(deg - 90) <= 5;
					worst = a > worst ? a : worst;
					c4 += g * g * g * g;
				}
			}
		}
	}
	double sum_nn = 0, min_nn = 90;
	for (long i = 0; i < n; i++) {
		double deg = sp_deg(near[i]);
		int bin = (int)(deg * 10);
		s->nn[bin < 0 ? 0 : bin >= SP_BINS ? SP_BINS - 1 : bin]++;
		sum_nn += deg;
		min_nn = deg < min_nn ? deg : min_nn;
	}
	for (int k = 0; k < SP_BINS; k++) { /* densities per degree */
		s->pair[k] = pairs ? s->pair[k] / pairs / 0.1 : 0;
		s->nn[k] = s->nn[k] / n / 0.1;
	}
	s->n = n, s->dim = d;
	s->worst_deg = sp_deg(worst);
	s->welch_deg = sp_welch_deg(n, d);
	s->m4_min = sp_m4_min(n, d);
	s->m4_deg = sp_deg(pow(s->m4_min, 0.25));
	s->falls_deg = sp_deg(fmax(sqrt(3 * sp_m2_min(n, d)), pow(5 * s->m4_min, 0.25)));
	s->mean_c4 = pairs ? c4 / pairs : 0;
	s->mean_nn_deg = sum_nn / n;
	s->min_nn_deg = min_nn;
	s->within1 = pairs ? in1 / pairs : 0;
	s->within5 = pairs ? in5 / pairs : 0;
	free(G), free(near);
	return 0;
}
