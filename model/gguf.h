/* gguf.h - a memory-mapped reader for GGUF files, versions 2 and 3.
 *
 * File format (all little-endian, packed):
 *   u32 magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
 *   n_kv    x { string key | u32 type | value }
 *   n_tensors x { string name | u32 n_dims (1..4) | u64 ne[n_dims] | u32 ggml_type | u64 offset }
 *   padding to general.alignment (u32, default 32, a power of two)
 *   tensor data; each tensor at data_start + offset (a multiple of the alignment)
 *   string = u64 length + bytes (no NUL); array = u32 elem_type + u64 count + elements.
 * ne[0] is the innermost (contiguous) dimension, so a PyTorch [out, in]
 * matrix has ne = {in, out} and its bytes are `out` rows of `in` values.
 *
 * Every count and size is checked against the bytes that remain before
 * anything is allocated; a truncated or absurd file is FP_ERR_FORMAT, never a
 * crash.  This is not a writer (tests/gguf_writer.c writes test files).
 */
#ifndef GGUF_H
#define GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "fp_error.h"

enum gguf_vtype {
	GGUF_VT_U8 = 0, GGUF_VT_I8 = 1, GGUF_VT_U16 = 2, GGUF_VT_I16 = 3,
	GGUF_VT_U32 = 4, GGUF_VT_I32 = 5, GGUF_VT_F32 = 6, GGUF_VT_BOOL = 7,
	GGUF_VT_STRING = 8, GGUF_VT_ARRAY = 9, GGUF_VT_U64 = 10, GGUF_VT_I64 = 11,
	GGUF_VT_F64 = 12, GGUF_VT_COUNT
};

typedef struct gguf_str {
	const char *ptr; /* points into the mapping; not NUL-terminated */
	uint64_t len;
} gguf_str;

typedef struct gguf_kv {
	gguf_str key;
	uint32_t type;          /* enum gguf_vtype */
	uint32_t arr_type;      /* element type when type == GGUF_VT_ARRAY */
	uint64_t arr_n;         /* element count when an array */
	const uint8_t *data;    /* the value (scalar) or first element (array) */
	gguf_str *strs;         /* arr_n entries for arrays of strings, else NULL */
} gguf_kv;

typedef struct gguf_tensor {
	gguf_str name;
	uint32_t n_dims;
	uint64_t ne[4];         /* unused dims are 1 */
	uint32_t type;          /* ggml type, see quant.h */
	uint64_t offset;        /* relative to the data section */
	uint64_t n_elem;
	uint64_t nbytes;
	const uint8_t *data;    /* points into the mapping */
} gguf_tensor;

typedef struct gguf_file {
	char *path;
	uint8_t *map;           /* whole file, read-only */
	size_t size;
	int owns_map;           /* 1: munmap on close; 0: caller's buffer */
	uint32_t version;
	uint32_t alignment;
	uint64_t n_kv, n_tensors;
	size_t data_offset;
	gguf_kv *kv;
	gguf_tensor *tensors;
} gguf_file;

/* Maps and parses `path`.  On success *out owns the mapping. */
int gguf_open(gguf_file **out, const char *path, fp_error *err);
/* Parses a caller-owned buffer (kept alive by the caller); `name` is used in
 * messages.  Used by tests to check every truncation point quickly. */
int gguf_parse_buffer(gguf_file **out, const void *buf, size_t size,
		      const char *name, fp_error *err);
void gguf_close(gguf_file *f); /* accepts NULL */
/* Maps a regular file of at least min bytes read-only (also used by
 * safetensors.c); kind names the format in the too-short error. */
int fp_map_file(const char *path, size_t min, const char *kind, uint8_t **map, size_t *size, fp_error *err);

const char *gguf_vtype_name(uint32_t t);

/* Lookups return NULL / -1 when absent. */
const gguf_kv *gguf_find_key(const gguf_file *f, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Typed getters.  Return 0 on success, -1 when the key is absent, and
 * FP_ERR_FORMAT (with err set) when it has an incompatible type or an
 * integer value out of range.  Integer getters accept any integer type. */
int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, fp_error *err);
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, fp_error *err);
int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, fp_error *err);
int gguf_get_f32(const gguf_file *f, const char *key, float *out, fp_error *err);
int gguf_get_bool(const gguf_file *f, const char *key, int *out, fp_error *err);
/* *out points into the mapping; copy with gguf_strdup if a C string is needed. */
int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, fp_error *err);
char *gguf_strdup(gguf_str s);

/* Scalar element i of a numeric array (or a scalar when i == 0) as double. */
double gguf_kv_num(const gguf_kv *kv, uint64_t i);
/* Value of a kv rendered as text (arrays abbreviated), for `factprobe info`. */
void gguf_kv_format(const gguf_kv *kv, char *buf, size_t n);

#endif
