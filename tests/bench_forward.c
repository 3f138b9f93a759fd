/* bench_forward.c - speed of the batched forward pass (run by 'make bench',
 * never by the tests).  Measures in one run, side by side:
 *   - cblas_sgemm GFLOP/s on this machine (the model's largest product shape
 *     at 512 tokens, and 1024^3);
 *   - load time, peak RSS against the f32 weight size;
 *   - forward passes at 16, 128 and 512 tokens: tokens/s and GFLOP/s.
 * usage: bench_forward MODEL.gguf [REPEATS [native|f32|q8 [SIZES]]]   (SIZES: 16,128,512;
 *                                   q8: native weights and --matmul q8)
 *        bench_forward --sgemm [REPEATS]   (only the sgemm rates: 512x14336x4096
 *                                           and 1024^3, with OpenBLAS's core name)
 * With one repeat the warm-up pass runs only before the first size (an 8B
 * model's 512-token pass takes a minute).
 * $BENCH_LOGITS=FILE: the logits of the last position of the first size's
 * pass are written there (raw f32), for bench_summary.py to compare with
 * llama.cpp's. */
#include "../model/model.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* $BENCH_CLOCK=cpu: the process's CPU time instead of wall time (on a
 * shared machine, with OPENBLAS_NUM_THREADS=1, the work a pass does) */
static double now(void)
{
	static int cpu = -1;
	struct timespec ts;
	if (cpu < 0)
		cpu = getenv("BENCH_CLOCK") && !strcmp(getenv("BENCH_CLOCK"), "cpu");
	clock_gettime(cpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* median seconds of `reps` calls of C[M,N] = A[M,K] B[N,K]^T (the model's layout) */
static double sgemm_rate(int M, int N, int K, int reps)
{
	float *A = malloc((size_t)M * K * 4), *B = malloc((size_t)N * K * 4), *C = malloc((size_t)M * N * 4);
	double t[32];
	for (size_t i = 0; i < (size_t)M * K; i++)
		A[i] = (float)(i % 7) * 0.1f;
	for (size_t i = 0; i < (size_t)N * K; i++)
		B[i] = (float)(i % 5) * 0.1f;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, A, K, B, K, 0, C, N);
	for (int r = 0; r < reps; r++) {
		double t0 = now();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, A, K, B, K, 0, C, N);
		t[r] = now() - t0;
	}
	qsort(t, (size_t)reps, sizeof t[0], cmp);
	free(A), free(B), free(C);
	return 2.0 * M * N * K / t[reps / 2] / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_forward MODEL.gguf [REPEATS [native|f32|q8 [SIZES]]]\n"
				"       bench_forward --sgemm [REPEATS]\n");
		return 2;
	}
	if (!strcmp(argv[1], "--sgemm")) { /* what OpenBLAS's kernel choice (OPENBLAS_CORETYPE) costs */
		int n = argc > 2 ? atoi(argv[2]) : 5;
		n = n < 1 || n > 31 ? 5 : n;
		double a = sgemm_rate(512, 14336, 4096, n), b = sgemm_rate(1024, 1024, 1024, n);
		printf("OpenBLAS core %s, %d threads: sgemm %.1f GFLOP/s at 512x14336x4096, %.1f at 1024^3\n",
		       openblas_get_corename(), openblas_get_num_threads(), a, b);
		printf("RESULT sgemm_mlp %.2f\nRESULT sgemm_cube %.2f\n", a, b);
		return 0;
	}
	int reps = argc > 2 ? atoi(argv[2]) : 5;
	if (reps < 1 || reps > 31)
		reps = 5;
	fp_model *m = NULL;
	fp_error err = {0};
	double t0 = now();
	unsigned long tw, tb, ts, tl; /* $BENCH_TILES=whole,big,unit,max: fp_set_tiles, for tuning */
	if (getenv("BENCH_TILES") && sscanf(getenv("BENCH_TILES"), "%lu,%lu,%lu,%lu", &tw, &tb, &ts, &tl) == 4)
		fp_set_tiles(tw, tb, ts, tl);
	int q8 = argc > 3 && !strcmp(argv[3], "q8");
	int mode = q8 ? FP_WEIGHTS_NATIVE : argc > 3 ? fp_weights_parse(argv[3]) : FP_WEIGHTS_DEFAULT;
	if (mode < 0) {
		fprintf(stderr, "bench_forward: mode '%s' is not native, f32 or q8\n", argv[3]);
		return 2;
	}
	fp_load_opts lo = {mode, q8 ? FP_MATMUL_Q8 : FP_MATMUL_EXACT};
	if (fp_model_load_opts(&m, argv[1], &lo, &err)) {
		fprintf(stderr, "bench_forward: %s\n", err.msg);
		return 1;
	}
	double load = now() - t0;
	const fp_config *c = &m->cfg;
	double wmb = fp_model_weight_bytes(m) / 1e6;
	printf("model %s: %d layers, d_model %d, d_mlp %d; OpenBLAS %s, %d threads\n", argv[1], c->n_layers,
	       c->d_model, c->d_mlp, openblas_get_config(), openblas_get_num_threads());
	int big = (double)c->d_mlp * c->d_model > 2e7; /* 8B-class: fewer sgemm timings */
	double r_model = sgemm_rate(512, c->d_mlp, c->d_model, big ? 3 : 15);
	double r_big = sgemm_rate(1024, 1024, 1024, 7);
	printf("sgemm        %7.1f GFLOP/s at 512x%dx%d (the model's MLP shape), %7.1f GFLOP/s at 1024^3\n", r_model,
	       c->d_mlp, c->d_model, r_big);
	double ref = r_model > r_big ? r_model : r_big;
	printf("load         %7.3f s (%s weights: %.0f MB; --matmul %s)\n", load, fp_weights_name(m->weights), wmb,
	       fp_matmul_name(m->matmul));
	int sizes[8] = {16, 128, 512}, ns = 3, most = 0;
	if (argc > 4) {
		ns = 0;
		for (char *p = argv[4]; *p && ns < 8; p += *p == ',') {
			sizes[ns] = (int)strtol(p, &p, 10);
			if (sizes[ns] < 1 || sizes[ns] > c->n_ctx) {
				fprintf(stderr, "bench_forward: sizes must be 1..%d\n", c->n_ctx);
				return 2;
			}
			ns++;
		}
	}
	for (int s = 0; s < ns; s++)
		most = sizes[s] > most ? sizes[s] : most;
	int32_t *ids = malloc((size_t)most * sizeof *ids);
	for (int i = 0; i < most; i++)
		ids[i] = (int32_t)((i * 7919 + 13) % c->n_vocab);
	printf("%-8s %10s %10s %10s %12s\n", "tokens", "ms", "tokens/s", "GFLOP/s", "of sgemm");
	for (int s = 0; s < ns; s++) {
		int n = sizes[s];
		double t[32];
		if (reps > 1 || s == 0)
			fp_model_forward(m, ids, n, NULL, NULL, &err); /* warm-up (workspace allocation) */
		for (int r = 0; r < reps; r++) {
			double a = now();
			if (fp_model_forward(m, ids, n, NULL, NULL, &err)) {
				fprintf(stderr, "bench_forward: %s\n", err.msg);
				return 1;
			}
			t[r] = now() - a;
		}
		qsort(t, (size_t)reps, sizeof t[0], cmp);
		const char *lf = getenv("BENCH_LOGITS");
		if (s == 0 && lf && *lf) {
			float *lg = malloc((size_t)c->n_vocab * sizeof *lg);
			FILE *f = lg ? fopen(lf, "wb") : NULL;
			int ok = f && !fp_model_forward(m, ids, n, NULL, lg, &err) &&
				 fwrite(lg, sizeof *lg, (size_t)c->n_vocab, f) == (size_t)c->n_vocab;
			if (f)
				ok &= fclose(f) == 0;
			if (!ok)
				fprintf(stderr, "bench_forward: cannot write the logits to '%s'\n", lf);
			free(lg);
		}
		double med = t[reps / 2], gf = fp_model_flops(m, n, 0) / med / 1e9;
		printf("%-8d %10.1f %10.0f %10.1f %11.0f%%\n", n, med * 1e3, n / med, gf, 100 * gf / ref);
		printf("RESULT pp%d %.2f\n", n, n / med);
		fflush(stdout);
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double rss = ru.ru_maxrss / 1e3;
	printf("peak RSS     %7.0f MB = %.2f x the weights (%.0f MB)\n", rss, rss / wmb, wmb);
	printf("RESULT load %.3f\nRESULT rss %.0f\n", load, rss);
	free(ids);
	fp_model_free(m);
	return 0;
}
