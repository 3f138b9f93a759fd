/* gguf_writer.h - a minimal GGUF writer for tests: builds tiny synthetic
 * models and deliberately malformed files.  Not part of the library. */
#ifndef GGUF_WRITER_H
#define GGUF_WRITER_H

#include <stddef.h>
#include <stdint.h>

typedef struct gw gw;

gw *gw_new(void);
void gw_free(gw *w);

void gw_u32(gw *w, const char *key, uint32_t v);
void gw_i32(gw *w, const char *key, int32_t v);
void gw_f32(gw *w, const char *key, float v);
void gw_bool(gw *w, const char *key, int v);
void gw_str(gw *w, const char *key, const char *v);
/* any scalar type: raw little-endian bytes of the value */
void gw_scalar(gw *w, const char *key, uint32_t type, const void *bytes, size_t n);
void gw_arr(gw *w, const char *key, uint32_t elem_type, const void *elems, uint64_t n);
void gw_arr_str(gw *w, const char *key, const char *const *strs, uint64_t n);
/* strs with explicit lengths (for pieces holding NULs) */
void gw_arr_strn(gw *w, const char *key, const char *const *strs, const size_t *lens, uint64_t n);

/* data is copied; nbytes must match the type and shape */
void gw_tensor(gw *w, const char *name, int n_dims, const uint64_t *ne, uint32_t type, const void *data,
	       size_t nbytes);

/* Serialises to a malloc'ed buffer.  version 2 or 3. */
uint8_t *gw_build(gw *w, uint32_t version, uint32_t alignment, size_t *size);
int gw_write(gw *w, const char *path, uint32_t version, uint32_t alignment);

#endif
