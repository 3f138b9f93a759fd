/* bench_q8mm.c - speed of q8mm (model/q8mm.c: quantise the activations to 8
 * bits, integer products) beside the exact path factprobe takes by default
 * for a prompt (the weights dequantised to f32 with quant_dequantize, then
 * OpenBLAS sgemm), in the same run, on Llama-3-8B's matrix shapes with
 * random blocks: attention 4096 x 4096 Q4_K, MLP gate/up 14336 x 4096 Q4_K,
 * MLP down 4096 x 14336 Q6_K, and 4096 x 4096 in Q8_0 and Q4_1 (the real
 * models' block-32 types), at T = 16, 128, 512 positions, on 1 and 2
 * threads.  Prints GOP/s = 2 T rows cols / seconds (the best of several
 * runs; q8mm's time includes q8mm_quantize) and the ratio, and q8mm's
 * GOP per CPU second (all threads): on a loaded machine the wall-clock
 * rate of 2 threads says little, the rate per CPU second still tells what
 * each core does (times 2: what 2 free cores would do, memory permitting).
 *
 * Usage: bench_q8mm [T ...]   (env Q8MM_ISA=1|2|3 forces an instruction set)
 * Measure on a quiet machine and note the load (/proc/loadavg). */
#include "../model/q8mm.h"
#include "../model/qmm.h"
#include "../model/quant.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define XORSHIFT_SEED 88172645u
#include "xorshift.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU seconds of the whole process (every thread) */
static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct deq {
	const uint8_t *W;
	size_t rb;
	uint32_t type;
	int cols;
	float *wf;
} deq;

static void deq_rows(void *ctx, int i)
{
	const deq *d = ctx;
	for (int r = 64 * i; r < 64 * i + 64; r++)
		quant_dequantize(d->type, d->W + (size_t)r * d->rb, d->wf + (size_t)r * d->cols, (uint64_t)d->cols);
}

int main(int argc, char **argv)
{
	struct { const char *name; uint32_t type; int rows, cols; } sh[] = {
		{"attn 4096x4096", GGML_Q4_K, 4096, 4096},
		{"gate/up 14336x4096", GGML_Q4_K, 14336, 4096},
		{"down 4096x14336", GGML_Q6_K, 4096, 14336},
		{"Q8_0 4096x4096", GGML_Q8_0, 4096, 4096}, /* the block-32 types of the real models */
		{"Q4_1 4096x4096", GGML_Q4_1, 4096, 4096},
	};
	int Ts[8] = {16, 128, 512}, nT = 3;
	if (argc > 1) {
		nT = 0;
		for (int i = 1; i < argc && nT < 8; i++)
			Ts[nT++] = atoi(argv[i]);
	}
	const char *e = getenv("Q8MM_ISA");
	printf("q8mm instruction set: %s\n", q8mm_force_isa(e ? atoi(e) : 0));
	FILE *f = fopen("/proc/loadavg", "r");
	char load[128] = "?";
	if (f) {
		if (!fgets(load, sizeof load, f))
			strcpy(load, "?");
		fclose(f);
	}
	printf("load at start: %s", load);
	printf("%-20s %5s %3s %12s %14s %7s %16s\n", "shape", "T", "thr", "q8mm GOP/s", "exact GOP/s", "ratio",
	       "q8mm GOP/cpu-s");
	for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++) {
		uint32_t ty = sh[s].type, bb = ggml_type_block_bytes(ty);
		int rows = sh[s].rows, cols = sh[s].cols;
		size_t rb = (size_t)cols / ggml_type_block_elems(ty) * bb;
		uint8_t *W = malloc(rb * rows);
		for (size_t i = 0; i < rb * rows; i++)
			W[i] = (uint8_t)rnd();
		for (size_t i = 0; i < rb * rows; i += bb) { /* finite scales */
			if (ty == GGML_Q6_K)
				put16(W + i + 208, f32_to_fp16(0.01f));
			else if (ty == GGML_Q8_0)
				put16(W + i, f32_to_fp16(0.01f));
			else
				put16(W + i, f32_to_fp16(0.01f)), put16(W + i + 2, f32_to_fp16(0.005f));
		}
		float *wf = malloc((size_t)rows * cols * sizeof(float));
		for (int ti = 0; ti < nT; ti++) {
			int T = Ts[ti];
			float *x = malloc((size_t)T * cols * sizeof(float)), *y = malloc((size_t)T * rows * sizeof(float));
			void *act = malloc(q8mm_act_bytes(ty, T, cols));
			for (size_t i = 0; i < (size_t)T * cols; i++)
				x[i] = unif();
			for (int th = 1; th <= 2; th++) {
				double ops = 2.0 * T * rows * cols, bq = 1e30, be = 1e30, bc = 1e30;
				openblas_set_num_threads(th);
				for (int rep = 0; rep < 3; rep++) {
					double t0 = now(), c0 = cpu_now();
					int n = 0;
					do { /* at least 0.2 s a sample */
						q8mm_quantize(ty, x, T, cols, act);
						q8mm(y, (size_t)rows, act, T, ty, W, rb, rows, cols, th);
						n++;
					} while (now() - t0 < 0.2);
					double t = (now() - t0) / n, c = (cpu_now() - c0) / n;
					bq = t < bq ? t : bq;
					bc = c < bc ? c : bc;
					t0 = now();
					n = 0;
					do {
						deq d = {W, rb, ty, cols, wf};
						qmm_parallel(rows / 64, th, deq_rows, &d);
						cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, rows, cols, 1.0f, x, cols, wf,
							    cols, 0.0f, y, rows);
						n++;
					} while (now() - t0 < 0.2);
					t = (now() - t0) / n;
					be = t < be ? t : be;
				}
				printf("%-20s %5d %3d %12.1f %14.1f %6.2fx %16.1f\n", sh[s].name, T, th, ops / bq * 1e-9,
				       ops / be * 1e-9, be / bq, ops / bc * 1e-9);
				fflush(stdout);
			}
			free(x), free(y), free(act);
		}
		free(W), free(wf);
	}
	f = fopen("/proc/loadavg", "r");
	if (f) {
		if (!fgets(load, sizeof load, f))
			strcpy(load, "?");
		fclose(f);
	}
	printf("load at end: %s", load);
	return 0;
}
