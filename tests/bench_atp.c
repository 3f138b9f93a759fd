/* bench_atp.c - gradient attributions on a real model, for make bench:
 *   speed: one forward pass of the prompt, and all neurons of all layers
 *   scored by attribution patching (one forward and one backward pass),
 *   in the same run (medians of REPS);
 *   agreement: AtP scores (zero ablation at the last token, log p(target))
 *   against the measured single-neuron ablation for the top N by |AtP| and
 *   N random others: Spearman's rho, and the recall of the measured top 20
 *   (of those measured) within the AtP top 100.
 * usage: bench_atp MODEL [REPS] [N]  (default 5, 500) */
#include "../model/backward.h"
#include "../probe/analysis.h"
#include "../probe/attrib.h"
#include "../probe/stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *x, int n)
{
	qsort(x, (size_t)n, sizeof *x, cmp_d);
	return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

/* ranks (average ranks for ties) */
static void ranks(const double *x, int n, double *r)
{
	int *o = malloc((size_t)n * sizeof *o);
	for (int i = 0; i < n; i++)
		o[i] = i;
	for (int i = 1; i < n; i++) /* insertion sort by x: n is small */
		for (int j = i; j > 0 && x[o[j - 1]] > x[o[j]]; j--) {
			int t = o[j];
			o[j] = o[j - 1], o[j - 1] = t;
		}
	for (int i = 0; i < n;) {
		int j = i;
		while (j + 1 < n && x[o[j + 1]] == x[o[i]])
			j++;
		for (int k = i; k <= j; k++)
			r[o[k]] = (i + j) / 2.0;
		i = j + 1;
	}
	free(o);
}

static double pearson(const double *a, const double *b, int n)
{
	double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
	for (int i = 0; i < n; i++)
		ma += a[i] / n, mb += b[i] / n;
	for (int i = 0; i < n; i++)
		sab += (a[i] - ma) * (b[i] - mb), saa += (a[i] - ma) * (a[i] - ma), sbb += (b[i] - mb) * (b[i] - mb);
	return sab / sqrt(saa * sbb);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_atp MODEL [REPS] [N]\n");
		return 2;
	}
	int reps = argc > 2 ? atoi(argv[2]) : 5, N = argc > 3 ? atoi(argv[3]) : 500;
	fp_model *m = NULL;
	fp_error err = {0};
	if (fp_model_load(&m, argv[1], &err)) {
		fprintf(stderr, "bench_atp: %s\n", err.msg);
		return 1;
	}
	const char *prompt = "Q: What sport does Michael Jordan play?\nA: This athlete plays the sport of";
	int32_t *ids = NULL;
	int n = 0, target = -1, L = m->cfg.n_layers, F = m->cfg.d_mlp, NF = L * F, V = m->cfg.n_vocab;
	fp_tokenize(m->tok, prompt, strlen(prompt), -1, &ids, &n, &err);
	if (an_target_token(m, " basketball", 0, &target, &err)) {
		fprintf(stderr, "bench_atp: %s\n", err.msg);
		return 1;
	}
	float *logits = malloc((size_t)V * sizeof *logits), *est = malloc((size_t)NF * sizeof *est);
	double *tf = malloc((size_t)reps * sizeof *tf), *tb = malloc((size_t)reps * sizeof *tb), clean = 0;
	fp_metric mt = {FP_METRIC_LOGPROB, target, 0, -1};
	fp_model_forward(m, ids, n, NULL, logits, &err); /* warm-up */
	for (int r = 0; r < reps; r++) {
		double t0 = now();
		fp_model_forward(m, ids, n, NULL, logits, &err);
		double t1 = now();
		if (at_neurons_atp(m, ids, n, &mt, n - 1, NULL, NULL, est, &clean, &err)) {
			fprintf(stderr, "bench_atp: %s\n", err.msg);
			return 1;
		}
		tf[r] = t1 - t0, tb[r] = now() - t1;
	}
	double f = median(tf, reps), b = median(tb, reps);
	printf("%d-token prompt: one forward pass %.1f ms; all %d neurons scored by AtP (forward + backward) %.1f ms "
	       "= %.2fx one forward pass (medians of %d, same run)\n",
	       n, f * 1e3, NF, b * 1e3, b / f, reps);
	printf("RESULT atp_over_forward %.3f\n", b / f);

	/* agreement with the measured single-neuron zero ablation at the last token */
	int *sel = malloc((size_t)2 * N * sizeof *sel), *order = malloc((size_t)NF * sizeof *order), ns = 0;
	char *used = calloc((size_t)NF, 1);
	st_order_desc(est, NF, 1, order); /* by |AtP| */
	for (int i = 0; i < N && i < NF; i++)
		sel[ns++] = order[i], used[order[i]] = 1;
	st_rng rng = st_rng_seed(7);
	while (ns < 2 * N && ns < NF) {
		int i = (int)st_rng_below(&rng, (uint64_t)NF);
		if (!used[i])
			sel[ns++] = i, used[i] = 1;
	}
	an_ablation *ab = malloc((size_t)ns * sizeof *ab);
	int *start = malloc((size_t)(ns + 1) * sizeof *start);
	double *res = malloc((size_t)ns * sizeof *res), *x = calloc((size_t)ns, sizeof *x),
	       *y = calloc((size_t)ns, sizeof *y), *rx = malloc((size_t)ns * sizeof *rx),
	       *ry = malloc((size_t)ns * sizeof *ry);
	for (int i = 0; i < ns; i++)
		ab[i] = (an_ablation){sel[i] / F, sel[i] % F, 0.0f}, start[i] = i;
	start[ns] = ns;
	double t0 = now();
	if (an_ablate_groups(m, ids, n, n - 1, n, ab, start, ns, target, -1, 512, res, &err)) {
		fprintf(stderr, "bench_atp: %s\n", err.msg);
		return 1;
	}
	double ta = now() - t0;
	for (int i = 0; i < ns; i++)
		x[i] = est[sel[i]], y[i] = clean - res[i];
	ranks(x, ns, rx), ranks(y, ns, ry);
	double rho = pearson(rx, ry, ns), r_all = pearson(x, y, ns);
	int Nt = N < ns ? N : ns;
	ranks(x, Nt, rx), ranks(y, Nt, ry);
	double rho_top = pearson(rx, ry, Nt);
	/* the measured top 20 (by |effect|, of those measured) within the AtP top 100 (by |AtP|) */
	float *yf = malloc((size_t)ns * sizeof *yf);
	int *oy = malloc((size_t)ns * sizeof *oy), hit = 0;
	for (int i = 0; i < ns; i++)
		yf[i] = (float)y[i];
	st_order_desc(yf, ns, 1, oy);
	for (int j = 0; j < 20 && j < ns; j++)
		for (int i = 0; i < 100; i++)
			hit += order[i] == sel[oy[j]];
	printf("AtP vs measured zero ablation of single neurons (log p(' basketball') at the last token, %d measured "
	       "in %.1f s: the top %d by |AtP| and %d random others):\n",
	       ns, ta, N, ns - N);
	printf("  Spearman rho %.3f (all %d), %.3f (the top %d by |AtP|); Pearson r %.3f\n", rho, ns, rho_top, N, r_all);
	printf("  recall of the measured top 20 (by |effect|, of the %d) within the AtP top 100: %d/20\n", ns, hit);
	printf("  largest measured effects:");
	for (int j = 0; j < 5; j++)
		printf(" %d.%d %.3f (AtP %.3f)", sel[oy[j]] / F, sel[oy[j]] % F, y[oy[j]], x[oy[j]]);
	printf("\nRESULT atp_spearman %.4f\nRESULT atp_recall20_top100 %d\n", rho, hit);
	fp_model_free(m);
	free(ids), free(logits), free(est), free(tf), free(tb), free(sel), free(order), free(used);
	free(ab), free(start), free(res), free(x), free(y), free(rx), free(ry), free(yf), free(oy);
	return 0;
}
