/* qmm.h - products with weight matrices kept in a ggml type, without an
 * f32 copy of the matrix (see qmm.c). */
#ifndef QMM_H
#define QMM_H

#include <stddef.h>
#include <stdint.h>

/* y[t * ldy + r] = sum_k x[t * cols + k] W[r][k] for t < T, r < rows, where
 * W is `rows` rows of row_bytes bytes each in ggml type `type` (cols a
 * multiple of its block and of 16).  Each thread dequantises a few rows of W at a
 * time, a slice of columns that stays in the L1 cache, with
 * quant_dequantize (the very floats of the reference dequantiser) and
 * multiplies them with the T rows of x in f32 (AVX-512 or AVX2+FMA, picked
 * at run time, else plain C).  The sums are in another order than
 * OpenBLAS's, so results differ from sgemm's in the last bits (about 1e-7
 * relative).  nthreads >= 1 (the caller's own thread is one of them). */
void qmm(float *y, size_t ldy, const float *x, int T, uint32_t type, const void *W, size_t row_bytes, int rows,
	int cols, int nthreads);

/* The instruction set qmm uses on this CPU: "avx512", "avx2" or "c". */
const char *qmm_isa(void);
/* For tests: 0 = detected (the default), 1 = plain C, 2 = AVX2 (if the CPU
 * has it), 3 = AVX-512 (if the CPU has it).  Returns the set now in use. */
const char *qmm_force_isa(int which);

/* Runs fn(ctx, i) for i in [0, n) on nthreads threads (the caller's one of
 * them), items handed out one at a time.  A thread that cannot be started
 * leaves its items to the others (the caller's thread at least). */
void qmm_parallel(int n, int nthreads, void (*fn)(void *ctx, int i), void *ctx);

#endif
