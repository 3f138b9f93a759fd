/* test_qmm.c - qmm (model/qmm.c: products straight from quantised blocks)
 * against the reference: every weight dequantised by quant_dequantize (the
 * dequantiser test_quant checks by hand) and the dot products summed in
 * double.  Every type qmm is given in practice (each quantised type
 * quant_dequantize handles, F16, BF16), every instruction set this CPU
 * has, 1-3 threads, and shapes whose rows, columns and positions are not
 * multiples of qmm's groups (4 rows, 1024 columns, 4 positions).
 * Tolerance: f32 sums of K products differ from the exact sum by at most
 * about K * 2^-24 times sum |x w| (the classic bound); qmm's partial sums
 * (K/16 terms per lane, then a tree) do far better, and the check asks
 * |diff| <= 1e-6 * sum_k |x_k w_k| for every output. */
#include "check.h"
#include "../model/qmm.h"
#include "../model/quant.h"

#include <stdlib.h>
#include <string.h>

#include "xorshift.h"

/* one random block of `type` with finite scales (fp16 fields written from
 * small positive or negative floats) */
static void rand_block(uint32_t type, uint8_t *b)
{
	uint32_t bb = ggml_type_block_bytes(type);
	for (uint32_t i = 0; i < bb; i++)
		b[i] = (uint8_t)rnd();
	uint16_t d = f32_to_fp16(0.01f + 0.02f * (unif() + 1)), m = f32_to_fp16(0.1f * unif());
	switch (type) {
	case GGML_F16: put16(b, f32_to_fp16(unif())); break;
	case GGML_BF16: {
		float f = unif();
		uint32_t u;
		memcpy(&u, &f, 4);
		put16(b, (uint16_t)(u >> 16));
		break;
	}
	case GGML_Q4_0: case GGML_Q5_0: case GGML_Q8_0: put16(b, d); break;
	case GGML_Q4_1: case GGML_Q5_1: put16(b, d), put16(b + 2, m); break;
	case GGML_Q4_K: case GGML_Q5_K: put16(b, d), put16(b + 2, f32_to_fp16(0.005f)); break;
	case GGML_Q6_K: put16(b + 208, d); break;
	}
}

/* worst |qmm - exact| / sum |x w| over all outputs, for one shape */
static double one(uint32_t type, int rows, int cols, int T, int threads, size_t *bad_shape)
{
	uint32_t be = ggml_type_block_elems(type), bb = ggml_type_block_bytes(type);
	size_t rb = (size_t)cols / be * bb;
	uint8_t *W = malloc(rb * rows);
	float *wf = malloc((size_t)rows * cols * sizeof(float)), *x = malloc((size_t)T * cols * sizeof(float));
	float *y = malloc((size_t)T * (rows + 3) * sizeof(float));
	for (size_t i = 0; i < rb * rows; i += bb)
		rand_block(type, W + i);
	for (int r = 0; r < rows; r++)
		if (quant_dequantize(type, W + r * rb, wf + (size_t)r * cols, (uint64_t)cols))
			*bad_shape = 1;
	for (size_t i = 0; i < (size_t)T * cols; i++)
		x[i] = unif();
	size_t ldy = (size_t)rows + 3; /* a row stride wider than the rows: qmm must not write the gap */
	for (size_t i = 0; i < (size_t)T * ldy; i++)
		y[i] = 12345.0f;
	qmm(y, ldy, x, T, type, W, rb, rows, cols, threads);
	double worst = 0;
	for (int t = 0; t < T; t++) {
		for (int r = 0; r < rows; r++) {
			double s = 0, a = 0;
			for (int k = 0; k < cols; k++) {
				double p = (double)x[(size_t)t * cols + k] * wf[(size_t)r * cols + k];
				s += p, a += fabs(p);
			}
			double e = fabs(y[t * ldy + r] - s) / (a > 0 ? a : 1);
			worst = e > worst || isnan(e) ? e : worst;
		}
		for (size_t r = rows; r < ldy; r++)
			if (y[t * ldy + r] != 12345.0f)
				worst = INFINITY;
	}
	free(W), free(wf), free(x), free(y);
	return worst;
}

int main(void)
{
	const uint32_t types[] = {GGML_Q4_0, GGML_Q4_1, GGML_Q5_0, GGML_Q5_1, GGML_Q8_0, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K,
				  GGML_F16, GGML_BF16};
	const char *best = qmm_force_isa(0);
	printf("qmm on this CPU: %s\n", best);
	for (int isa = 1; isa <= 3; isa++) {
		const char *name = qmm_force_isa(isa);
		if ((isa == 2 && strcmp(name, "avx2")) || (isa == 3 && strcmp(name, "avx512")))
			continue; /* not on this CPU */
		for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
			uint32_t ty = types[i], be = ggml_type_block_elems(ty);
			/* columns: 2 chunks of 1024 + a partial one; rows 4k+1..3; T 1..9 */
			int cols = be == 256 ? 1280 : be == 32 ? 1184 : 1072;
			struct { int rows, T, threads; } sh[] = {{1, 1, 1}, {7, 5, 2}, {13, 9, 3}, {6, 16, 2}, {4, 4, 1}};
			double worst = 0;
			size_t bad = 0;
			for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++) {
				double e = one(ty, sh[s].rows, cols, sh[s].T, sh[s].threads, &bad);
				worst = e > worst || isnan(e) ? e : worst;
			}
			CHECK(!bad, "%s: reference dequantises", ggml_type_name(ty));
			CHECK_CLOSE(worst, 1e-6, "qmm %s %s, %d columns, 1-13 rows, 1-16 positions, 1-3 threads: |y - exact| / "
				    "sum |x w|", name, ggml_type_name(ty), cols);
		}
	}
	/* a K-type matrix of 4096 columns (the 8B shapes' rows), at the best ISA */
	qmm_force_isa(0);
	size_t bad = 0;
	CHECK_CLOSE(one(GGML_Q4_K, 9, 4096, 16, 2, &bad), 1e-6, "qmm %s Q4_K 9 x 4096, 16 positions, 2 threads", best);
	CHECK_CLOSE(one(GGML_Q6_K, 5, 14336, 3, 2, &bad), 1e-6, "qmm %s Q6_K 5 x 14336, 3 positions, 2 threads", best);
	return check_done("test_qmm");
}
