/* gguf_writer.c - see gguf_writer.h.  Keeps every piece as bytes and lays
 * them out in GGUF order on gw_build. */
#include "gguf_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct buf {
	uint8_t *p;
	size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->n + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			abort();
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void put_strn(buf *b, const char *s, size_t n)
{
	put_u64(b, n);
	put(b, s, n);
}
static void put_str(buf *b, const char *s) { put_strn(b, s, strlen(s)); }

struct gw {
	buf kv, info, data;
	uint64_t n_kv, n_tensors;
	struct { size_t info_off_pos; size_t data_off; } *t;
};

gw *gw_new(void)
{
	return calloc(1, sizeof(gw));
}

void gw_free(gw *w)
{
	if (!w)
		return;
	free(w->kv.p), free(w->info.p), free(w->data.p), free(w->t);
	free(w);
}

void gw_scalar(gw *w, const char *key, uint32_t type, const void *bytes, size_t n)
{
	put_str(&w->kv, key);
	put_u32(&w->kv, type);
	put(&w->kv, bytes, n);
	w->n_kv++;
}

void gw_u32(gw *w, const char *key, uint32_t v) { gw_scalar(w, key, 4, &v, 4); }
void gw_i32(gw *w, const char *key, int32_t v) { gw_scalar(w, key, 5, &v, 4); }
void gw_f32(gw *w, const char *key, float v) { gw_scalar(w, key, 6, &v, 4); }
void gw_bool(gw *w, const char *key, int v)
{
	uint8_t b = (uint8_t)(v != 0);
	gw_scalar(w, key, 7, &b, 1);
}

void gw_str(gw *w, const char *key, const char *v)
{
	put_str(&w->kv, key);
	put_u32(&w->kv, 8);
	put_str(&w->kv, v);
	w->n_kv++;
}

static const size_t ESIZE[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

void gw_arr(gw *w, const char *key, uint32_t elem_type, const void *elems, uint64_t n)
{
	put_str(&w->kv, key);
	put_u32(&w->kv, 9);
	put_u32(&w->kv, elem_type);
	put_u64(&w->kv, n);
	put(&w->kv, elems, (size_t)n * ESIZE[elem_type]);
	w->n_kv++;
}

void gw_arr_strn(gw *w, const char *key, const char *const *strs, const size_t *lens, uint64_t n)
{
	put_str(&w->kv, key);
	put_u32(&w->kv, 9);
	put_u32(&w->kv, 8);
	put_u64(&w->kv, n);
	for (uint64_t i = 0; i < n; i++)
		put_strn(&w->kv, strs[i], lens ? lens[i] : strlen(strs[i]));
	w->n_kv++;
}

void gw_arr_str(gw *w, const char *key, const char *const *strs, uint64_t n)
{
	gw_arr_strn(w, key, strs, NULL, n);
}

void gw_tensor(gw *w, const char *name, int n_dims, const uint64_t *ne, uint32_t type, const void *data,
	       size_t nbytes)
{
	/* the offset is written at build time, once alignment is known */
	w->t = realloc(w->t, (size_t)(w->n_tensors + 1) * sizeof *w->t);
	put_str(&w->info, name);
	put_u32(&w->info, (uint32_t)n_dims);
	for (int d = 0; d < n_dims; d++)
		put_u64(&w->info, ne[d]);
	put_u32(&w->info, type);
	w->t[w->n_tensors].info_off_pos = w->info.n;
	put_u64(&w->info, 0);
	w->t[w->n_tensors].data_off = w->data.n;
	put(&w->data, data, nbytes);
	/* remember the size through the next tensor's start */
	w->n_tensors++;
}

uint8_t *gw_build(gw *w, uint32_t version, uint32_t alignment, size_t *size)
{
	buf out = {0}, data = {0};
	static const uint8_t zeros[4096];
	/* re-lay the data with each tensor aligned */
	for (uint64_t i = 0; i < w->n_tensors; i++) {
		size_t start = w->t[i].data_off;
		size_t end = i + 1 < w->n_tensors ? w->t[i + 1].data_off : w->data.n;
		uint64_t off = data.n;
		memcpy(w->info.p + w->t[i].info_off_pos, &off, 8);
		put(&data, w->data.p + start, end - start);
		size_t pad = (alignment - data.n % alignment) % alignment;
		put(&data, zeros, pad);
	}
	put_u32(&out, 0x46554747u);
	put_u32(&out, version);
	put_u64(&out, w->n_tensors);
	put_u64(&out, w->n_kv);
	put(&out, w->kv.p, w->kv.n);
	put(&out, w->info.p, w->info.n);
	put(&out, zeros, (alignment - out.n % alignment) % alignment);
	put(&out, data.p, data.n);
	free(data.p);
	*size = out.n;
	return out.p;
}

int gw_write(gw *w, const char *path, uint32_t version, uint32_t alignment)
{
	size_t n;
	uint8_t *b = gw_build(w, version, alignment, &n);
	FILE *f = fopen(path, "wb");
	int rc = -1;
	if (f) {
		rc = fwrite(b, 1, n, f) == n ? 0 : -1;
		rc |= fclose(f);
	}
	free(b);
	return rc;
}
