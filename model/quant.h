/* quant.h - ggml tensor types and their dequantisation to f32.
 *
 * Block layouts follow llama.cpp's ggml/src/ggml-common.h (block_q4_0 ..
 * block_q6_K) and the GGUF specification (ggml's docs/gguf.md):
 * F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K are
 * supported.  Other known types have their sizes listed (so files holding
 * them can still be parsed and described) but dequantising them is
 * FP_ERR_UNSUPPORTED.  Dequantisation is the only use of these formats:
 * weights are expanded once at load and all arithmetic is f32.
 */
#ifndef QUANT_H
#define QUANT_H

#include <stddef.h>
#include <stdint.h>

enum ggml_type {
	GGML_F32 = 0, GGML_F16 = 1, GGML_Q4_0 = 2, GGML_Q4_1 = 3,
	GGML_Q5_0 = 6, GGML_Q5_1 = 7, GGML_Q8_0 = 8, GGML_Q8_1 = 9,
	GGML_Q2_K = 10, GGML_Q3_K = 11, GGML_Q4_K = 12, GGML_Q5_K = 13,
	GGML_Q6_K = 14, GGML_Q8_K = 15, GGML_BF16 = 30, GGML_TYPE_MAX = 40
};

/* Name ("Q4_1"), or NULL for a type number ggml does not define. */
const char *ggml_type_name(uint32_t type);
/* Elements per block and bytes per block; 0 for an unknown type. */
uint32_t ggml_type_block_elems(uint32_t type);
uint32_t ggml_type_block_bytes(uint32_t type);
/* 1 if quant_dequantize handles the type. */
int ggml_type_supported(uint32_t type);

float fp16_to_f32(uint16_t h);
uint16_t f32_to_fp16(float f); /* round to nearest even; used by tests and writers */
float bf16_to_f32(uint16_t h);
/* y[i] = f32_to_fp16(x[i]), vectorised where the CPU has F16C (same results) */
void quant_f32_to_fp16_row(const float *x, uint16_t *y, size_t n);

/* Expands n elements (a multiple of the block size) of `type` at src into dst.
 * Returns 0, or -1 for an unsupported type or a bad n. */
int quant_dequantize(uint32_t type, const void *src, float *dst, uint64_t n);

#endif
