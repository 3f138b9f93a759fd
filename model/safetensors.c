/* safetensors.c - see safetensors.h for the format and the checks. */
#include "safetensors.h"
#include "gguf.h"
#include "quant.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ST_MAX_HEADER ((uint64_t)100 << 20)

static const struct { const char *name; size_t size; int ggml; } DTYPES[] = {
	{"F32", 4, GGML_F32}, {"F16", 2, GGML_F16}, {"BF16", 2, GGML_BF16},
	{"BOOL", 1, -1}, {"U8", 1, -1}, {"I8", 1, -1}, {"F8_E4M3", 1, -1}, {"F8_E5M2", 1, -1},
	{"I16", 2, -1}, {"U16", 2, -1}, {"I32", 4, -1}, {"U32", 4, -1},
	{"I64", 8, -1}, {"U64", 8, -1}, {"F64", 8, -1},
};

size_t st_dtype_size(const char *dtype)
{
	for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
		if (!strcmp(dtype, DTYPES[i].name))
			return DTYPES[i].size;
	return 0;
}

static int st_dtype_ggml(const char *dtype)
{
	for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
		if (!strcmp(dtype, DTYPES[i].name))
			return DTYPES[i].ggml;
	return -1;
}

void st_close(st_file *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_tensors; i++)
		free(f->tensors[i].name);
	free(f->tensors);
	if (f->owns_map && f->map)
		munmap(f->map, f->size);
	free(f->path);
	free(f);
}

const st_tensor *st_find(const st_file *f, const char *name)
{
	for (size_t i = 0; i < f->n_tensors; i++)
		if (!strcmp(f->tensors[i].name, name))
			return &f->tensors[i];
	return NULL;
}

static int by_offset(const void *a, const void *b)
{
	const st_tensor *x = a, *y = b;
	uintptr_t xo = (uintptr_t)x->data, yo = (uintptr_t)y->data;
	return xo < yo ? -1 : xo > yo ? 1 : x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* one header entry -> t (data offsets relative to the data section, kept in
 * t->data as an integer until the mapping is known) */
static int parse_entry(const st_file *f, const char *name, json_t *v, st_tensor *t, uint64_t data_size,
		       uint64_t *begin, fp_error *err)
{
	const char *p = f->path;
	if (!json_is_object(v))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': header entry '%s' is not an object", p, name);
	json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"), *off = json_object_get(v, "data_offsets");
	if (!json_is_string(dt))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': tensor '%s': missing or non-string 'dtype'", p, name);
	const char *ds = json_string_value(dt);
	size_t esz = st_dtype_size(ds);
	if (!esz)
		return fp_error_set(err, FP_ERR_FORMAT,
				    "'%s': tensor '%s': unknown dtype '%.12s' (known: F32 F16 BF16 F64 I64 I32 I16 I8 U8 "
				    "U16 U32 U64 BOOL F8_E4M3 F8_E5M2)", p, name, ds);
	snprintf(t->dtype, sizeof t->dtype, "%s", ds);
	t->ggml_type = st_dtype_ggml(ds);
	if (!json_is_array(sh) || json_array_size(sh) > ST_MAX_DIMS)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': tensor '%s': 'shape' is not an array of at most %d integers",
				    p, name, ST_MAX_DIMS);
	t->n_dims = (int)json_array_size(sh);
	uint64_t n = 1;
	int zero = 0;
	for (int d = 0; d < t->n_dims; d++) {
		json_t *e = json_array_get(sh, (size_t)d);
		if (!json_is_integer(e) || json_integer_value(e) < 0)
			return fp_error_set(err, FP_ERR_FORMAT, "'%s': tensor '%s': shape[%d] is not a non-negative integer",
					    p, name, d);
		uint64_t s = (uint64_t)json_integer_value(e);
		t->shape[d] = s;
		if (s == 0)
			zero = 1;
		else if (!zero && n > UINT64_MAX / s)
			return fp_error_set(err, FP_ERR_FORMAT, "'%s': tensor '%s': shape overflows", p, name);
		else if (!zero)
			n *= s;
	}
	if (zero)
		n = 0;
	if (n > UINT64_MAX / esz)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': tensor '%s': shape overflows", p, name);
	t->n_elem = n;
	t->nbytes = n * esz;
	if (!json_is_array(off) || json_array_size(off) != 2 || !json_is_integer(json_array_get(off, 0)) ||
	    !json_is_integer(json_array_get(off, 1)))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': tensor '%s': 'data_offsets' is not [begin, end]", p, name);
	json_int_t b = json_integer_value(json_array_get(off, 0)), e = json_integer_value(json_array_get(off, 1));
	if (b < 0 || e < b)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': tensor '%s': data_offsets [%lld, %lld] are not ordered", p,
				    name, (long long)b, (long long)e);
	if ((uint64_t)e > data_size)
		return fp_error_set(err, FP_ERR_FORMAT,
				    "'%s': tensor '%s': data_offsets [%lld, %lld] run past the end of the data (%" PRIu64
				    " bytes): the file is truncated or the header is wrong", p, name, (long long)b,
				    (long long)e, data_size);
	if ((uint64_t)(e - b) != t->nbytes)
		return fp_error_set(err, FP_ERR_FORMAT,
				    "'%s': tensor '%s': data_offsets [%lld, %lld] hold %lld bytes, but shape and dtype %s "
				    "need %" PRIu64, p, name, (long long)b, (long long)e, (long long)(e - b), ds, t->nbytes);
	*begin = (uint64_t)b;
	return 0;
}

static int parse(st_file *f, fp_error *err)
{
	const char *p = f->path;
	if (f->size < 8)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': not a safetensors file (only %zu bytes)", p, f->size);
	uint64_t hn = 0;
	for (int i = 7; i >= 0; i--)
		hn = hn << 8 | f->map[i];
	if (hn > ST_MAX_HEADER || hn > f->size - 8)
		return fp_error_set(err, FP_ERR_FORMAT,
				    "'%s': header length %" PRIu64 " does not fit in the file (%zu bytes; at most 100 MB)", p,
				    hn, f->size);
	json_error_t je;
	json_t *root = json_loadb((const char *)f->map + 8, (size_t)hn, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': header is not valid JSON (byte %d: %s)", p,
				    je.position + 8, je.text);
	int rc = 0;
	if (!json_is_object(root)) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': header is not a JSON object", p);
		goto done;
	}
	size_t cap = json_object_size(root);
	f->tensors = calloc(cap ? cap : 1, sizeof *f->tensors);
	if (!f->tensors) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "'%s': out of memory", p);
		goto done;
	}
	uint64_t data_size = f->size - 8 - hn;
	const uint8_t *data = f->map + 8 + hn;
	const char *key;
	json_t *v;
	json_object_foreach(root, key, v) {
		if (!strcmp(key, "__metadata__")) {
			if (!json_is_object(v) && !json_is_null(v)) {
				rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': '__metadata__' is not an object", p);
				goto done;
			}
			continue;
		}
		st_tensor *t = &f->tensors[f->n_tensors];
		uint64_t begin = 0;
		if (!(t->name = strdup(key))) {
			rc = fp_error_set(err, FP_ERR_NOMEM, "'%s': out of memory", p);
			goto done;
		}
		f->n_tensors++;
		if ((rc = parse_entry(f, key, v, t, data_size, &begin, err)))
			goto done;
		t->data = data + begin;
	}
	qsort(f->tensors, f->n_tensors, sizeof *f->tensors, by_offset);
	for (size_t i = 1; i < f->n_tensors; i++) {
		const st_tensor *a = &f->tensors[i - 1], *b = &f->tensors[i];
		if (a->data + a->nbytes > b->data) {
			rc = fp_error_set(err, FP_ERR_FORMAT,
					  "'%s': tensors '%s' and '%s' overlap (data_offsets [%zu, %zu] and [%zu, %zu])", p,
					  a->name, b->name, (size_t)(a->data - data), (size_t)(a->data - data + a->nbytes),
					  (size_t)(b->data - data), (size_t)(b->data - data + b->nbytes));
			goto done;
		}
	}
done:
	json_decref(root);
	return rc;
}

static int parse_into(st_file **out, st_file *f, fp_error *err)
{
	int rc = parse(f, err);
	if (rc) {
		st_close(f);
		return rc;
	}
	*out = f;
	return 0;
}

int st_parse_buffer(st_file **out, const void *buf, size_t size, const char *name, fp_error *err)
{
	st_file *f = calloc(1, sizeof *f);
	*out = NULL;
	if (!f || !(f->path = strdup(name))) {
		free(f);
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	}
	f->map = (uint8_t *)buf;
	f->size = size;
	return parse_into(out, f, err);
}

int st_open(st_file **out, const char *path, fp_error *err)
{
	uint8_t *map;
	size_t size;
	*out = NULL;
	int rc = fp_map_file(path, 8, "safetensors", &map, &size, err);
	if (rc)
		return rc;
	st_file *f = calloc(1, sizeof *f);
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
