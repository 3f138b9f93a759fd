/* safetensors.h - a memory-mapped reader for Hugging Face .safetensors files.
 *
 * File format (https://github.com/huggingface/safetensors, little-endian):
 *   u64 N                   length of the header in bytes
 *   N bytes of JSON         an object: for each tensor
 *                             "NAME": {"dtype": "F32", "shape": [d0, d1, ...],
 *                                      "data_offsets": [begin, end]}
 *                           and optionally "__metadata__": {string: string}.
 *                           The header may be padded with trailing spaces.
 *   the data                each tensor at 8 + N + begin .. 8 + N + end,
 *                           row-major (C order), shape[0] outermost, so a
 *                           PyTorch Linear weight [out, in] is `out` rows of
 *                           `in` values (the reverse of GGUF's ne order).
 * dtypes: BOOL U8 I8 F8_E4M3 F8_E5M2 I16 U16 F16 BF16 I32 U32 F32 I64 U64 F64.
 *
 * Checks before anything is used: N fits in the file and is at most 100 MB,
 * the header is a JSON object, every entry has a known dtype, a shape of 0..8
 * non-negative integers and two integer data_offsets with begin <= end <=
 * the data section's size, end - begin = product(shape) x the dtype's size
 * (computed without overflow), and no two tensors overlap.  A violation is
 * FP_ERR_FORMAT naming the file, the tensor and the field.
 * Only F32, F16 and BF16 are computed with (st_tensor.ggml_type is then
 * GGML_F32, GGML_F16 or GGML_BF16 from quant.h); others are described
 * (ggml_type -1) and refused by whoever takes them.
 *
 * Sharded checkpoints (model.safetensors.index.json) are model/hf.c's.
 */
#ifndef SAFETENSORS_H
#define SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "fp_error.h"

#define ST_MAX_DIMS 8

typedef struct st_tensor {
	char *name;
	char dtype[12];          /* as in the file: "F32", "BF16", ... */
	int ggml_type;           /* GGML_F32 / GGML_F16 / GGML_BF16, or -1 */
	int n_dims;
	uint64_t shape[ST_MAX_DIMS]; /* PyTorch order: shape[0] outermost */
	uint64_t n_elem, nbytes;
	const uint8_t *data;     /* points into the mapping */
	int used;                /* the caller's bookkeeping (hf.c: taken by a family) */
} st_tensor;

typedef struct st_file {
	char *path;
	uint8_t *map;
	size_t size;
	int owns_map;
	size_t n_tensors;
	st_tensor *tensors;      /* in file order of their data */
} st_file;

/* Maps and parses `path`.  On success *out owns the mapping. */
int st_open(st_file **out, const char *path, fp_error *err);
/* Parses a caller-owned buffer; `name` is used in messages (tests). */
int st_parse_buffer(st_file **out, const void *buf, size_t size, const char *name, fp_error *err);
void st_close(st_file *f); /* accepts NULL */
const st_tensor *st_find(const st_file *f, const char *name); /* NULL if absent */
/* bytes of one element of a dtype named as in the file; 0 if unknown */
size_t st_dtype_size(const char *dtype);

#endif
