/* q8mm.h - products with 8-bit activations: the opt-in `--matmul q8` mode.
 *
 * llama.cpp multiplies a quantised weight matrix by quantising the f32
 * activations to 8 bits first (its "vec_dot_type": Q8_K blocks of 256 for
 * the K-quants, Q8_0 blocks of 32 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1)
 * and summing integer products.  That is several times faster than f32
 * arithmetic, and approximate: the results are not the f32 path's (about
 * 1e-3 relative per product), which is why factprobe's default products
 * stay exact (`--matmul exact`) and this mode is opted into.  q8mm
 * quantises the activations as llama.cpp's x86 CPU backend does (q8mm.c
 * says which of llama.cpp's quantisers it mirrors, and why).  For Q8_0,
 * Q4_0, Q5_0 and Q6_K its products are llama.cpp's up to the order of the
 * float sums: on tiny models (test_oracle) the logits are llama.cpp's to
 * 2.5e-7 at every position (the AVX2 block-32 kernels bit for bit).  For
 * the types with a block offset (Q4_1, Q5_1, Q4_K, Q5_K) the offset term is
 * added per block, where llama.cpp sums it apart and adds it at the end: on
 * tiny models with centred weights, whose two terms cancel, 1-11 of 113
 * positions differ by up to 1.7e-2 (with zero offsets, within 3.5e-7).
 *
 * The quantised activations (q8mm_quantize's output) are ggml's blocks, row
 * t of T at act + t * q8mm_act_bytes(type, 1, cols), cols / 256 or cols / 32
 * blocks a row, little-endian:
 *   Q8_K (weights Q4_K, Q5_K, Q6_K): {float d; int8 qs[256]; int16 bsums[16]}
 *     (292 bytes), value k = d * qs[k], bsums[j] = sum of qs[16j..16j+15];
 *   Q8_0 (weights Q4_0, Q5_0, Q8_0): {fp16 d; int8 qs[32]} (34 bytes),
 *     value k = d * qs[k];
 *   Q8_1 (weights Q4_1, Q5_1): {fp16 d; fp16 s; int8 qs[32]} (36 bytes),
 *     value k = d * qs[k], s = fp16(d * sum qs) with d before its rounding
 *     to fp16 (llama.cpp multiplies the weight block's min by s). */
#ifndef Q8MM_H
#define Q8MM_H

#include <stddef.h>
#include <stdint.h>

/* 1 if q8mm multiplies matrices of ggml type `type` whose rows hold `cols`
 * values (cols a multiple of the type's block), else 0 (the caller then
 * uses the exact path). */
int q8mm_supported(uint32_t type, int cols);

/* Bytes of the quantised activations for T rows of `cols` values, in the
 * activation type that `type` is multiplied with. */
size_t q8mm_act_bytes(uint32_t type, int T, int cols);

/* Quantises T rows of x (cols floats each, row t at x + t * cols) into act
 * (q8mm_act_bytes(type, T, cols) bytes, the layout above), as llama.cpp's
 * x86 CPU backend quantises them for type's vec_dot_type, bit for bit
 * (every instruction set gives the same bytes).  Activations beyond what
 * the block scale can hold (|x| > 65504 * 127 for Q8_0/Q8_1, a block sum of
 * d q beyond 65504 for Q8_1's s) give an infinite scale, as in llama.cpp;
 * a block whose every |x| is below 127 / FLT_MAX (3.7e-37) quantises to
 * zeros, d = +-0 (llama.cpp's Q8_0 / Q8_1 store q = -128 there: the same
 * products); non-finite activations give unspecified values.  Does nothing
 * when !q8mm_supported(type, cols). */
void q8mm_quantize(uint32_t type, const float *x, int T, int cols, void *act);

/* y[t * ldy + r] = dot(row r of W, row t of act) for t < T, r < rows: W is
 * `rows` rows of row_bytes bytes in ggml type `type`, act from
 * q8mm_quantize(type, ..., T, cols, act).  nthreads >= 1 (the caller's
 * own thread is one of them).  Reads only the rows' blocks (never past
 * the last row), writes only y[t * ldy + r] for r < rows; for the block-32
 * types on AVX-512 it allocates 8 T cols / 32 bytes (on failure it runs the
 * plain C path). */
void q8mm(float *y, size_t ldy, const void *act, int T, uint32_t type, const void *W, size_t row_bytes, int rows,
	  int cols, int nthreads);

/* The instruction set q8mm uses on this CPU ("avx512vnni", "avx2", "c"),
 * and for tests: 0 = detected, 1 = plain C, 2 = AVX2, 3 = AVX-512 (where
 * the CPU has it); returns the set now in use. */
const char *q8mm_isa(void);
const char *q8mm_force_isa(int which);

#endif
