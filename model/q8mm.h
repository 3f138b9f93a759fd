/* q8mm.h - products with 8-bit activations: the opt-in `--matmul q8` mode.
 *
 * llama.cpp multiplies a quantised weight matrix by quantising the f32
 * activations to 8 bits first (its "vec_dot_type": Q8_K blocks of 256 for
 * the K-quants, Q8_0 blocks of 32 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1)
 * and summing integer products.  That is several times faster than f32
 * arithmetic, and approximate: the results are not the f32 path's (about
 * 1e-3 relative per product), which is why factprobe's default products
 * stay exact (`--matmul exact`) and this mode is opted into.  q8mm
 * quantises the activations as llama.cpp's reference quantisers do, so its
 * products are llama.cpp's up to the order of the float sums.
 *
 * Status: interface only until model/q8mm.c lands. */
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
 * (q8mm_act_bytes(type, T, cols) bytes), as llama.cpp's reference quantiser
 * of type's activation type does, bit for bit. */
void q8mm_quantize(uint32_t type, const float *x, int T, int cols, void *act);

/* y[t * ldy + r] = dot(row r of W, row t of act) for t < T, r < rows: W is
 * `rows` rows of row_bytes bytes in ggml type `type`, act from
 * q8mm_quantize(type, ..., T, cols, act).  nthreads >= 1 (the caller's
 * own thread is one of them). */
void q8mm(float *y, size_t ldy, const void *act, int T, uint32_t type, const void *W, size_t row_bytes, int rows,
	  int cols, int nthreads);

/* The instruction set q8mm uses on this CPU ("avx512vnni", "avx2", "c"),
 * and for tests: 0 = detected, 1 = plain C, 2 = AVX2, 3 = AVX-512 (where
 * the CPU has it); returns the set now in use. */
const char *q8mm_isa(void);
const char *q8mm_force_isa(int which);

#endif
