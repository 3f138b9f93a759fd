/* gguf.c - GGUF v2/v3 parser over a read-only mapping (see gguf.h).
 *
 * The cursor never reads past the end: every read goes through need(), and
 * every count is compared with the bytes that remain (each element takes at
 * least one byte, each string at least eight) before an array is allocated.
 */
#include "gguf.h"
#include "quant.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAGIC 0x46554747u
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_NAME 256 /* ggml allows 64; be lenient but bounded */

typedef struct cursor {
	const uint8_t *p, *end, *base;
	const char *name;
	fp_error *err;
} cursor;

static const size_t VT_SIZE[GGUF_VT_COUNT] = {
	[GGUF_VT_U8] = 1, [GGUF_VT_I8] = 1, [GGUF_VT_U16] = 2, [GGUF_VT_I16] = 2,
	[GGUF_VT_U32] = 4, [GGUF_VT_I32] = 4, [GGUF_VT_F32] = 4, [GGUF_VT_BOOL] = 1,
	[GGUF_VT_STRING] = 0, [GGUF_VT_ARRAY] = 0, [GGUF_VT_U64] = 8,
	[GGUF_VT_I64] = 8, [GGUF_VT_F64] = 8,
};

static const char *VT_NAME[GGUF_VT_COUNT] = {
	"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string",
	"array", "u64", "i64", "f64",
};

const char *gguf_vtype_name(uint32_t t)
{
	return t < GGUF_VT_COUNT ? VT_NAME[t] : "unknown";
}

static size_t remaining(const cursor *c)
{
	return (size_t)(c->end - c->p);
}

static int need(cursor *c, uint64_t n, const char *what)
{
	if (n > remaining(c))
		return fp_error_set(c->err, FP_ERR_FORMAT,
			"'%s': truncated at byte %zu while reading %s (needs %" PRIu64
			" bytes, %zu left)", c->name, (size_t)(c->p - c->base), what,
			n, remaining(c));
	return 0;
}

static int rd_u32(cursor *c, uint32_t *v, const char *what)
{
	if (need(c, 4, what))
		return FP_ERR_FORMAT;
	memcpy(v, c->p, 4);
	c->p += 4;
	return 0;
}

static int rd_u64(cursor *c, uint64_t *v, const char *what)
{
	if (need(c, 8, what))
		return FP_ERR_FORMAT;
	memcpy(v, c->p, 8);
	c->p += 8;
	return 0;
}

static int rd_str(cursor *c, gguf_str *s, const char *what)
{
	uint64_t n;
	if (rd_u64(c, &n, what) || need(c, n, what))
		return FP_ERR_FORMAT;
	s->ptr = (const char *)c->p;
	s->len = n;
	c->p += n;
	return 0;
}

static int str_eq(gguf_str s, const char *z)
{
	size_t n = strlen(z);
	return s.len == n && memcmp(s.ptr, z, n) == 0;
}

char *gguf_strdup(gguf_str s)
{
	char *r = malloc(s.len + 1);
	if (r) {
		memcpy(r, s.ptr, s.len);
		r[s.len] = 0;
	}
	return r;
}

/* Parses the value of kv (type already read). */
static int rd_value(cursor *c, gguf_kv *kv)
{
	char what[320];
	snprintf(what, sizeof what, "the value of '%.*s'", (int)(kv->key.len > 200 ? 200 : kv->key.len),
		 kv->key.ptr);
	if (kv->type >= GGUF_VT_COUNT)
		return fp_error_set(c->err, FP_ERR_FORMAT, "'%s': %s has unknown value type %u",
				    c->name, what, kv->type);
	if (kv->type == GGUF_VT_STRING) {
		gguf_str s;
		kv->data = c->p;
		return rd_str(c, &s, what);
	}
	if (kv->type != GGUF_VT_ARRAY) {
		kv->data = c->p;
		if (need(c, VT_SIZE[kv->type], what))
			return FP_ERR_FORMAT;
		c->p += VT_SIZE[kv->type];
		return 0;
	}
	if (rd_u32(c, &kv->arr_type, what) || rd_u64(c, &kv->arr_n, what))
		return FP_ERR_FORMAT;
	if (kv->arr_type >= GGUF_VT_COUNT || kv->arr_type == GGUF_VT_ARRAY)
		return fp_error_set(c->err, FP_ERR_FORMAT,
			"'%s': %s is an array of %s elements (type %u), which GGUF does not allow",
			c->name, what, gguf_vtype_name(kv->arr_type), kv->arr_type);
	kv->data = c->p;
	if (kv->arr_type != GGUF_VT_STRING) {
		size_t es = VT_SIZE[kv->arr_type];
		if (kv->arr_n > remaining(c) / es)
			return fp_error_set(c->err, FP_ERR_FORMAT,
				"'%s': %s claims %" PRIu64 " elements but only %zu bytes remain",
				c->name, what, kv->arr_n, remaining(c));
		c->p += kv->arr_n * es;
		return 0;
	}
	if (kv->arr_n > remaining(c) / 8)
		return fp_error_set(c->err, FP_ERR_FORMAT,
			"'%s': %s claims %" PRIu64 " strings but only %zu bytes remain",
			c->name, what, kv->arr_n, remaining(c));
	kv->strs = malloc((kv->arr_n ? kv->arr_n : 1) * sizeof *kv->strs);
	if (!kv->strs)
		return fp_error_set(c->err, FP_ERR_NOMEM, "'%s': out of memory for %s", c->name, what);
	for (uint64_t i = 0; i < kv->arr_n; i++)
		if (rd_str(c, &kv->strs[i], what))
			return FP_ERR_FORMAT;
	return 0;
}

void gguf_close(gguf_file *f)
{
	if (!f)
		return;
	if (f->kv)
		for (uint64_t i = 0; i < f->n_kv; i++)
			free(f->kv[i].strs);
	free(f->kv);
	free(f->tensors);
	if (f->owns_map && f->map)
		munmap(f->map, f->size);
	free(f->path);
	free(f);
}

static int str_cmp(const void *a, const void *b)
{
	const gguf_str *x = *(const gguf_str *const *)a, *y = *(const gguf_str *const *)b;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->ptr, y->ptr, x->len);
}

/* *dup = a metadata key (tensors 0) or tensor name (tensors 1) that occurs
 * twice, or NULL; sorting, so that a file of many entries stays fast */
static int first_dup(const gguf_file *f, int tensors, const gguf_str **dup)
{
	uint64_t n = tensors ? f->n_tensors : f->n_kv;
	*dup = NULL;
	if (n < 2)
		return 0;
	const gguf_str **v = malloc(n * sizeof *v);
	if (!v)
		return FP_ERR_NOMEM;
	for (uint64_t i = 0; i < n; i++)
		v[i] = tensors ? &f->tensors[i].name : &f->kv[i].key;
	qsort(v, n, sizeof *v, str_cmp);
	for (uint64_t i = 1; i < n && !*dup; i++)
		if (!str_cmp(&v[i - 1], &v[i]))
			*dup = v[i];
	free(v);
	return 0;
}

/* magic, version and the two counts, checked against the bytes left; then
 * the kv and tensor arrays */
static int parse_header(gguf_file *f, cursor *c, fp_error *err)
{
	uint32_t magic;
	if (f->size < 4 || (memcpy(&magic, f->map, 4), magic != GGUF_MAGIC))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': not a GGUF file (bad magic)", f->path);
	c->p += 4;
	if (rd_u32(c, &f->version, "the version"))
		return FP_ERR_FORMAT;
	if (f->version != 2 && f->version != 3)
		return fp_error_set(err, FP_ERR_UNSUPPORTED,
			"'%s': GGUF version %u is not supported (only 2 and 3)", f->path, f->version);
	if (rd_u64(c, &f->n_tensors, "the tensor count") || rd_u64(c, &f->n_kv, "the metadata count"))
		return FP_ERR_FORMAT;
	/* each kv takes >= 12 bytes (key length + type), each tensor info >= 24 */
	if (f->n_kv > remaining(c) / 12)
		return fp_error_set(err, FP_ERR_FORMAT,
			"'%s': header claims %" PRIu64 " metadata entries but the file has only %zu bytes left",
			f->path, f->n_kv, remaining(c));
	if (f->n_tensors > remaining(c) / 24 || f->n_kv * 12 + f->n_tensors * 24 > remaining(c))
		return fp_error_set(err, FP_ERR_FORMAT,
			"'%s': header claims %" PRIu64 " tensors but the file has only %zu bytes left",
			f->path, f->n_tensors, remaining(c));
	f->kv = calloc(f->n_kv ? f->n_kv : 1, sizeof *f->kv);
	f->tensors = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *f->tensors);
	if (!f->kv || !f->tensors)
		return fp_error_set(err, FP_ERR_NOMEM, "'%s': out of memory", f->path);
	return 0;
}

/* the metadata: every kv, general.alignment checked as it is read, and no
 * key twice */
static int parse_kvs(gguf_file *f, cursor *c, fp_error *err)
{
	f->alignment = GGUF_DEFAULT_ALIGNMENT;
	for (uint64_t i = 0; i < f->n_kv; i++) {
		gguf_kv *kv = &f->kv[i];
		char what[64];
		snprintf(what, sizeof what, "metadata entry %" PRIu64, i);
		if (rd_str(c, &kv->key, what) || rd_u32(c, &kv->type, what) || rd_value(c, kv))
			return FP_ERR_FORMAT;
		if (str_eq(kv->key, "general.alignment")) {
			uint32_t a;
			if (kv->type != GGUF_VT_U32)
				return fp_error_set(err, FP_ERR_FORMAT,
					"'%s': general.alignment must be u32, not %s", f->path,
					gguf_vtype_name(kv->type));
			memcpy(&a, kv->data, 4);
			if (a == 0 || (a & (a - 1)) || a > (1u << 20))
				return fp_error_set(err, FP_ERR_FORMAT,
					"'%s': general.alignment %u is not a power of two up to 1 MiB", f->path, a);
			f->alignment = a;
		}
	}
	const gguf_str *dup_key;
	if (first_dup(f, 0, &dup_key))
		return fp_error_set(err, FP_ERR_NOMEM, "'%s': out of memory", f->path);
	if (dup_key) /* llama.cpp refuses these too: which value would count? */
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': duplicate metadata key '%.*s'", f->path,
			(int)(dup_key->len < 200 ? dup_key->len : 200), dup_key->ptr);
	return 0;
}

/* tensor info i: name, shape (its element count without overflow), type and
 * offset; nbytes from the type's blocks */
static int parse_tensor_info(gguf_file *f, cursor *c, uint64_t i, fp_error *err)
{
	gguf_tensor *t = &f->tensors[i];
	char what[64];
	snprintf(what, sizeof what, "tensor info %" PRIu64, i);
	if (rd_str(c, &t->name, what) || rd_u32(c, &t->n_dims, what))
		return FP_ERR_FORMAT;
	if (t->name.len > GGUF_MAX_NAME)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': tensor %" PRIu64 " has a name of %"
			PRIu64 " bytes", f->path, i, t->name.len);
	int nl = (int)t->name.len;
	if (t->n_dims < 1 || t->n_dims > 4)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': tensor '%.*s' has %u dimensions (1..4 allowed)",
			f->path, nl, t->name.ptr, t->n_dims);
	t->n_elem = 1;
	for (int d = 0; d < 4; d++)
		t->ne[d] = 1;
	for (uint32_t d = 0; d < t->n_dims; d++) {
		if (rd_u64(c, &t->ne[d], what))
			return FP_ERR_FORMAT;
		/* INT64_MAX bound as ggml does; the product check below catches overflow */
		if (t->ne[d] == 0 || t->ne[d] > (uint64_t)INT64_MAX ||
		    t->n_elem > (uint64_t)INT64_MAX / t->ne[d])
			return fp_error_set(err, FP_ERR_FORMAT,
				"'%s': tensor '%.*s' has an absurd shape (dimension %u = %" PRIu64 ")",
				f->path, nl, t->name.ptr, d, t->ne[d]);
		t->n_elem *= t->ne[d];
	}
	if (rd_u32(c, &t->type, what) || rd_u64(c, &t->offset, what))
		return FP_ERR_FORMAT;
	uint32_t be = ggml_type_block_elems(t->type), bb = ggml_type_block_bytes(t->type);
	if (!be)
		return fp_error_set(err, FP_ERR_UNSUPPORTED, "'%s': tensor '%.*s' has unknown ggml type %u",
			f->path, nl, t->name.ptr, t->type);
	if (t->ne[0] % be)
		return fp_error_set(err, FP_ERR_FORMAT,
			"'%s': tensor '%.*s' of type %s has a row of %" PRIu64
			" values, not a multiple of the block size %u",
			f->path, nl, t->name.ptr, ggml_type_name(t->type), t->ne[0], be);
	t->nbytes = t->n_elem / be * bb; /* < 2^63 * 292 / 256: may overflow, checked next */
	if (t->n_elem / be > UINT64_MAX / bb)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': tensor '%.*s' is too large",
			f->path, nl, t->name.ptr);
	return 0;
}

/* the data section after the header, padded to the alignment; every
 * tensor aligned within it and inside the file */
static int place_tensors(gguf_file *f, const cursor *c, fp_error *err)
{
	size_t here = (size_t)(c->p - c->base);
	size_t data = (here + f->alignment - 1) / f->alignment * f->alignment;
	if (f->n_tensors && data > f->size)
		return fp_error_set(err, FP_ERR_FORMAT,
			"'%s': truncated before the tensor data (header ends at byte %zu, file has %zu)",
			f->path, here, f->size);
	f->data_offset = data;
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		gguf_tensor *t = &f->tensors[i];
		int nl = (int)t->name.len;
		if (t->offset % f->alignment)
			return fp_error_set(err, FP_ERR_FORMAT,
				"'%s': tensor '%.*s' offset %" PRIu64 " is not a multiple of the alignment %u",
				f->path, nl, t->name.ptr, t->offset, f->alignment);
		if (t->offset > f->size - data || t->nbytes > f->size - data - t->offset)
			return fp_error_set(err, FP_ERR_FORMAT,
				"'%s': tensor '%.*s' (%" PRIu64 " bytes at offset %" PRIu64
				") runs past the end of the file (%zu bytes of data): the file is truncated",
				f->path, nl, t->name.ptr, t->nbytes, t->offset, f->size - data);
		t->data = f->map + data + t->offset;
	}
	return 0;
}

static int parse(gguf_file *f, fp_error *err)
{
	cursor c = {f->map, f->map + f->size, f->map, f->path, err};
	int rc;
	if ((rc = parse_header(f, &c, err)) || (rc = parse_kvs(f, &c, err)))
		return rc;
	for (uint64_t i = 0; i < f->n_tensors; i++)
		if ((rc = parse_tensor_info(f, &c, i, err)))
			return rc;
	const gguf_str *dup;
	if (first_dup(f, 1, &dup))
		return fp_error_set(err, FP_ERR_NOMEM, "'%s': out of memory", f->path);
	if (dup)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': duplicate tensor name '%.*s'", f->path, (int)dup->len,
			dup->ptr);
	return place_tensors(f, &c, err);
}

static int parse_into(gguf_file **out, gguf_file *f, fp_error *err)
{
	int rc = parse(f, err);
	if (rc) {
		gguf_close(f);
		return rc;
	}
	*out = f;
	return 0;
}

int gguf_parse_buffer(gguf_file **out, const void *buf, size_t size, const char *name, fp_error *err)
{
	gguf_file *f = calloc(1, sizeof *f);
	*out = NULL;
	if (!f || !(f->path = strdup(name))) {
		free(f);
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	}
	f->map = (uint8_t *)buf;
	f->size = size;
	return parse_into(out, f, err);
}

int fp_map_file(const char *path, size_t min, const char *kind, uint8_t **map, size_t *size, fp_error *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return fp_error_set(err, FP_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return fp_error_set(err, FP_ERR_IO, "cannot read '%s': not a regular file", path);
	}
	if ((size_t)st.st_size < min) {
		close(fd);
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': not a %s file (only %lld bytes)", path, kind,
				    (long long)st.st_size);
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return fp_error_set(err, FP_ERR_IO, "cannot map '%s': %s", path, strerror(errno));
	*map = p, *size = (size_t)st.st_size;
	return 0;
}

int gguf_open(gguf_file **out, const char *path, fp_error *err)
{
	uint8_t *map;
	size_t size;
	*out = NULL;
	int rc = fp_map_file(path, 24, "GGUF", &map, &size, err);
	if (rc)
		return rc;
	gguf_file *f = calloc(1, sizeof *f);
	if (!f || !(f->path = strdup(path))) {
		free(f);
		munmap(map, size);
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	}
	f->map = map;
	f->size = size;
	f->owns_map = 1;
	return parse_into(out, f, err);
}

const gguf_kv *gguf_find_key(const gguf_file *f, const char *key)
{
	for (uint64_t i = 0; i < f->n_kv; i++)
		if (str_eq(f->kv[i].key, key))
			return &f->kv[i];
	return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name)
{
	for (uint64_t i = 0; i < f->n_tensors; i++)
		if (str_eq(f->tensors[i].name, name))
			return &f->tensors[i];
	return NULL;
}

static int is_int(uint32_t t)
{
	return t <= GGUF_VT_I32 || t == GGUF_VT_U64 || t == GGUF_VT_I64 || t == GGUF_VT_BOOL;
}

double gguf_kv_num(const gguf_kv *kv, uint64_t i)
{
	uint32_t t = kv->type == GGUF_VT_ARRAY ? kv->arr_type : kv->type;
	const uint8_t *p = kv->data + i * VT_SIZE[t < GGUF_VT_COUNT ? t : 0];
	union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
		float f32; uint64_t u64; int64_t i64; double f64; } v;
	if (t >= GGUF_VT_COUNT || !VT_SIZE[t])
		return 0;
	memcpy(&v, p, VT_SIZE[t]);
	switch (t) {
	case GGUF_VT_U8: case GGUF_VT_BOOL: return v.u8;
	case GGUF_VT_I8: return v.i8;
	case GGUF_VT_U16: return v.u16;
	case GGUF_VT_I16: return v.i16;
	case GGUF_VT_U32: return v.u32;
	case GGUF_VT_I32: return v.i32;
	case GGUF_VT_F32: return v.f32;
	case GGUF_VT_U64: return (double)v.u64;
	case GGUF_VT_I64: return (double)v.i64;
	case GGUF_VT_F64: return v.f64;
	}
	return 0;
}

static int get_int(const gguf_file *f, const char *key, int64_t lo, uint64_t hi, uint64_t *u, int64_t *s,
		   fp_error *err)
{
	const gguf_kv *kv = gguf_find_key(f, key);
	if (!kv)
		return -1;
	if (!is_int(kv->type))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': metadata '%s' is %s, expected an integer",
				    f->path, key, gguf_vtype_name(kv->type));
	int neg = 0;
	uint64_t mag = 0;
	union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
		uint64_t u64; int64_t i64; } v;
	memcpy(&v, kv->data, VT_SIZE[kv->type]);
	switch (kv->type) {
	case GGUF_VT_U8: case GGUF_VT_BOOL: mag = v.u8; break;
	case GGUF_VT_U16: mag = v.u16; break;
	case GGUF_VT_U32: mag = v.u32; break;
	case GGUF_VT_U64: mag = v.u64; break;
	case GGUF_VT_I8: neg = v.i8 < 0; mag = neg ? (uint64_t)(-(int64_t)v.i8) : (uint64_t)v.i8; break;
	case GGUF_VT_I16: neg = v.i16 < 0; mag = neg ? (uint64_t)(-(int64_t)v.i16) : (uint64_t)v.i16; break;
	case GGUF_VT_I32: neg = v.i32 < 0; mag = neg ? (uint64_t)(-(int64_t)v.i32) : (uint64_t)v.i32; break;
	case GGUF_VT_I64: neg = v.i64 < 0; mag = neg ? 0 - (uint64_t)v.i64 : (uint64_t)v.i64; break;
	}
	if ((neg && (lo == 0 || mag > (uint64_t)(-(lo + 1)) + 1)) || (!neg && mag > hi))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': metadata '%s' = %s%" PRIu64 " is out of range",
				    f->path, key, neg ? "-" : "", mag);
	if (u)
		*u = mag;
	if (s)
		*s = neg ? (int64_t)(0 - mag) : (int64_t)mag;
	return 0;
}

int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, fp_error *err)
{
	return get_int(f, key, 0, UINT64_MAX, out, NULL, err);
}

int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, fp_error *err)
{
	uint64_t v;
	int rc = get_int(f, key, 0, UINT32_MAX, &v, NULL, err);
	if (!rc)
		*out = (uint32_t)v;
	return rc;
}

int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, fp_error *err)
{
	return get_int(f, key, INT64_MIN, INT64_MAX, NULL, out, err);
}

int gguf_get_f32(const gguf_file *f, const char *key, float *out, fp_error *err)
{
	const gguf_kv *kv = gguf_find_key(f, key);
	if (!kv)
		return -1;
	if (kv->type == GGUF_VT_ARRAY || kv->type == GGUF_VT_STRING)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': metadata '%s' is %s, expected a number",
				    f->path, key, gguf_vtype_name(kv->type));
	*out = (float)gguf_kv_num(kv, 0);
	return 0;
}

int gguf_get_bool(const gguf_file *f, const char *key, int *out, fp_error *err)
{
	const gguf_kv *kv = gguf_find_key(f, key);
	if (!kv)
		return -1;
	if (!is_int(kv->type))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': metadata '%s' is %s, expected bool",
				    f->path, key, gguf_vtype_name(kv->type));
	*out = gguf_kv_num(kv, 0) != 0;
	return 0;
}

int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, fp_error *err)
{
	const gguf_kv *kv = gguf_find_key(f, key);
	if (!kv)
		return -1;
	if (kv->type != GGUF_VT_STRING)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': metadata '%s' is %s, expected a string",
				    f->path, key, gguf_vtype_name(kv->type));
	memcpy(&out->len, kv->data, 8);
	out->ptr = (const char *)kv->data + 8;
	return 0;
}

static void fmt_scalar(uint32_t t, const gguf_kv *kv, uint64_t i, char *buf, size_t n)
{
	double v = gguf_kv_num(kv, i);
	if (t == GGUF_VT_F32 || t == GGUF_VT_F64)
		snprintf(buf, n, "%g", v);
	else if (t == GGUF_VT_BOOL)
		snprintf(buf, n, "%s", v != 0 ? "true" : "false");
	else
		snprintf(buf, n, "%.0f", v);
}

void gguf_kv_format(const gguf_kv *kv, char *buf, size_t n)
{
	if (kv->type == GGUF_VT_STRING) {
		uint64_t len;
		memcpy(&len, kv->data, 8);
		snprintf(buf, n, "%.*s%s", (int)(len > 80 ? 80 : len), (const char *)kv->data + 8,
			 len > 80 ? "..." : "");
	} else if (kv->type == GGUF_VT_ARRAY) {
		size_t used = (size_t)snprintf(buf, n, "[%s x %" PRIu64 "]", gguf_vtype_name(kv->arr_type),
					       kv->arr_n);
		for (uint64_t i = 0; i < kv->arr_n && i < 4 && used + 40 < n; i++) {
			char one[64];
			if (kv->arr_type == GGUF_VT_STRING)
				snprintf(one, sizeof one, "%.*s", (int)(kv->strs[i].len > 20 ? 20 : kv->strs[i].len),
					 kv->strs[i].ptr);
			else
				fmt_scalar(kv->arr_type, kv, i, one, sizeof one);
			used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? ", " : " ", one);
		}
		if (kv->arr_n > 4 && used + 5 < n)
			snprintf(buf + used, n - used, ", ...");
	} else {
		fmt_scalar(kv->type, kv, 0, buf, n);
	}
}
