/* h5in.c - reading the recordings h5out.c writes (the format in h5out.h). */
#include "h5out.h"
#include "h5util.h"
#include "../model/model.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reading recordings ---- */

struct h5rec_in {
	hid_t f;
	char path[1024];
	h5rec_meta meta;
	long long d_vocab; /* root attribute, 0 if absent */
};

static int read_slab(h5rec_in *r, const char *path, hid_t memtype, long row0, long n, void *out, int *width,
		     long *rows, fp_error *err);

/* Every prompt's rows [row_start, +n_rows) inside /rows/position and its
 * tokens [token_start, +n_tokens) inside /tokens/id, so that readers can
 * index with them; the tables hold at least n_prompts entries (checked
 * before allocating).  Sets meta.n_rows. */
static int check_tables(h5rec_in *r, fp_error *err)
{
	static const char *const T[4] = {"prompts/row_start", "prompts/n_rows", "prompts/token_start", "prompts/n_tokens"};
	static const char *const D[2] = {"rows/position", "tokens/id"};
	long P = r->meta.n_prompts, len[4], total[2];
	int w, rc = 0;
	for (int i = 0; i < 4 && !rc; i++) {
		if ((rc = read_slab(r, T[i], H5T_NATIVE_LONG, 0, 0, NULL, &w, &len[i], err)))
			break;
		if (w != 1)
			rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': /%s is not 1-D", r->path, T[i]);
		else if (len[i] < P)
			rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': n_prompts is %ld, but /%s has %ld entries", r->path, P,
					  T[i], len[i]);
	}
	for (int i = 0; i < 2 && !rc; i++)
		rc = read_slab(r, D[i], H5T_NATIVE_LONG, 0, 0, NULL, NULL, &total[i], err);
	if (rc)
		return rc;
	long *v = malloc((size_t)P * 4 * sizeof *v);
	if (!v)
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	for (int i = 0; i < 4 && !rc; i++)
		rc = h5rec_longs(r, T[i], v + (size_t)i * P, P, err);
	for (long p = 0; p < P && !rc; p++)
		for (int k = 0; k < 2 && !rc; k++) {
			long start = v[(size_t)2 * k * P + p], n = v[(size_t)(2 * k + 1) * P + p];
			if (start < 0 || n < 0 || start > total[k] || n > total[k] - start)
				rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': prompt %ld: /%s %ld and /%s %ld point outside /%s (%ld "
						  "entries)", r->path, p, T[2 * k], start, T[2 * k + 1], n, D[k], total[k]);
		}
	if (!rc)
		r->meta.n_rows = v[P - 1] + v[(size_t)P + P - 1];
	free(v);
	return rc;
}

int h5rec_open(h5rec_in **out, const char *path, h5rec_meta *meta, fp_error *err)
{
	*out = NULL;
	h5rec_in *r = calloc(1, sizeof *r);
	if (!r)
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	snprintf(r->path, sizeof r->path, "%s", path);
	h5u_quiet();
	r->f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	char fmt[64];
	long long v;
	int rc = 0;
	if (r->f < 0) {
		rc = fp_error_set(err, FP_ERR_IO, "cannot open '%s' as an HDF5 file (missing, or not HDF5)", path);
		goto done;
	}
	if (h5u_attr_read_str(r->f, "format", fmt, sizeof fmt) || strcmp(fmt, H5REC_FORMAT)) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s' is not a recording from 'factprobe record' (no format "
				  "attribute '" H5REC_FORMAT "')", path);
		goto done;
	}
	h5rec_meta *mt = &r->meta;
#define NEED(name, dst)                                                                                  \
	if (h5u_attr_read_i64(r->f, name, &v)) {                                                                \
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s' lacks the root attribute '%s'", path, name); \
		goto done;                                                                               \
	}                                                                                                \
	dst = v;
	NEED("n_prompts", mt->n_prompts);
	NEED("n_layers", mt->n_layers);
	NEED("d_model", mt->d_model);
	NEED("d_mlp", mt->d_mlp);
	NEED("complete", mt->complete);
#undef NEED
	if (mt->n_layers < 1 || mt->n_layers > 4096 || mt->d_model < 1 || mt->d_model > (1 << 20) || mt->d_mlp < 1 ||
	    mt->d_mlp > (1 << 22) || h5u_attr_read_i64(r->f, "n_layers", &v) || v != mt->n_layers ||
	    h5u_attr_read_i64(r->f, "d_model", &v) || v != mt->d_model || h5u_attr_read_i64(r->f, "d_mlp", &v) ||
	    v != mt->d_mlp) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': implausible sizes (n_layers %d, d_model %d, d_mlp %d)", path,
				  mt->n_layers, mt->d_model, mt->d_mlp);
		goto done;
	}
	if (h5u_attr_read_i64(r->f, "d_vocab", &r->d_vocab) || r->d_vocab < 1 || r->d_vocab > (1 << 24))
		r->d_vocab = 0;
	h5u_attr_read_str(r->f, "hooks", mt->hooks, sizeof mt->hooks);
	h5u_attr_read_str(r->f, "positions", mt->positions, sizeof mt->positions);
	h5u_attr_read_str(r->f, "model_sha256", mt->model_sha256, sizeof mt->model_sha256);
	if (mt->n_prompts < 0 || mt->n_prompts > (1L << 40)) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': n_prompts %ld is implausible", path, mt->n_prompts);
		goto done;
	}
	mt->n_rows = 0;
	if (mt->n_prompts > 0 && (rc = check_tables(r, err)))
		goto done;
	if (meta)
		*meta = *mt;
done:
	h5u_loud();
	if (rc)
		h5rec_in_close(r);
	else
		*out = r;
	return rc;
}

int h5rec_has(h5rec_in *r, const char *hook)
{
	char p[256];
	snprintf(p, sizeof p, "acts/%s", hook);
	h5u_quiet();
	int yes = h5u_has(r->f, p);
	h5u_loud();
	return yes;
}

/* Rows [row0, row0+n) of a 1-D or 2-D dataset into out (memtype), all
 * columns.  *width (may be NULL) gets the column count (1 for 1-D), *rows
 * (may be NULL) the dataset's rows.  n = 0 or out NULL: only the shape. */
static int read_slab(h5rec_in *r, const char *path, hid_t memtype, long row0, long n, void *out, int *width,
		     long *rows, fp_error *err)
{
	h5u_quiet();
	int rc = 0, rank;
	hid_t ds = h5u_has(r->f, path) ? H5Dopen2(r->f, path, H5P_DEFAULT) : -1;
	hid_t sp = ds >= 0 ? H5Dget_space(ds) : -1, ms = -1;
	hsize_t dims[2] = {0, 1};
	if (sp < 0 || (rank = H5Sget_simple_extent_ndims(sp)) < 1 || rank > 2) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s' has no 1-D or 2-D dataset /%s", r->path, path);
		goto done;
	}
	H5Sget_simple_extent_dims(sp, dims, NULL);
	if (width)
		*width = (int)dims[1];
	if (rows)
		*rows = (long)dims[0];
	if (row0 < 0 || n < 0 || (hsize_t)row0 > dims[0] || (hsize_t)n > dims[0] - (hsize_t)row0) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': /%s has %llu rows, fewer than its tables say (%ld from %ld)",
				  r->path, path, (unsigned long long)dims[0], n, row0);
		goto done;
	}
	if (n == 0 || !out)
		goto done;
	hsize_t start[2] = {(hsize_t)row0, 0}, cnt[2] = {(hsize_t)n, dims[1]};
	H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, cnt, NULL);
	ms = H5Screate_simple(rank, cnt, NULL);
	if (H5Dread(ds, memtype, ms, sp, H5P_DEFAULT, out) < 0)
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': cannot read /%s", r->path, path);
done:
	if (ms >= 0)
		H5Sclose(ms);
	if (sp >= 0)
		H5Sclose(sp);
	if (ds >= 0)
		H5Dclose(ds);
	h5u_loud();
	return rc;
}

int h5rec_read(h5rec_in *r, const char *hook, long row0, long n, float *out, int *width, fp_error *err)
{
	char p[256];
	snprintf(p, sizeof p, "acts/%s", hook);
	if (!h5rec_has(r, hook))
		return fp_error_set(err, FP_ERR_INVALID,
				    "'%s' does not hold %s; record it with: factprobe record --hooks %s ...", r->path,
				    hook, hook);
	/* the width the hook has on the recorded model: callers size their rows
	 * by it, so a dataset of another width is an error, not a read past
	 * their buffer.  attn.hook_z is n_heads x d_head, which the recording
	 * does not say: its reader (dot) checks the width against the model
	 * with a shape query (n = 0) first. */
	int kind, layer, w = 0, want = r->meta.d_model;
	if (fp_hook_parse(hook, &kind, &layer) == 0) {
		if (kind == FP_HOOK_MLP_PRE || kind == FP_HOOK_MLP_POST || kind == FP_HOOK_MLP_PRE_LINEAR)
			want = r->meta.d_mlp;
		else if (kind == FP_HOOK_LOGITS)
			want = (int)r->d_vocab;
		else if (kind == FP_HOOK_ATTN_Z)
			want = -1;
	}
	int rc = read_slab(r, p, H5T_NATIVE_FLOAT, 0, 0, NULL, &w, NULL, err);
	if (!rc && want >= 0 && w != want)
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': /%s is %d wide, but the recording's sizes say %d", r->path, p, w,
				  want);
	if (width)
		*width = w;
	return rc ? rc : read_slab(r, p, H5T_NATIVE_FLOAT, row0, n, out, width, NULL, err);
}

int h5rec_strings(h5rec_in *r, const char *field, char ***out, fp_error *err)
{
	char p[128];
	long n = r->meta.n_prompts;
	snprintf(p, sizeof p, "prompts/%s", field);
	*out = NULL;
	hid_t t = H5Tcopy(H5T_C_S1);
	H5Tset_size(t, H5T_VARIABLE);
	H5Tset_cset(t, H5T_CSET_UTF8);
	char **v = calloc((size_t)(n ? n : 1), sizeof *v);
	int w = 0, rc = v ? read_slab(r, p, t, 0, 0, NULL, &w, NULL, err) : fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	if (!rc && w != 1)
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': /%s is not 1-D", r->path, p);
	if (!rc)
		rc = read_slab(r, p, t, 0, n, v, NULL, NULL, err);
	H5Tclose(t);
	for (long i = 0; !rc && i < n; i++) { /* own copies, freed with free() */
		char *c = strdup(v[i] ? v[i] : "");
		if (v[i])
			H5free_memory(v[i]);
		v[i] = c;
	}
	if (rc)
		free(v);
	else
		*out = v;
	return rc;
}

int h5rec_longs(h5rec_in *r, const char *path, long *out, long n, fp_error *err)
{
	return h5rec_longs_at(r, path, 0, out, n, err);
}

int h5rec_longs_at(h5rec_in *r, const char *path, long start, long *out, long n, fp_error *err)
{
	int w = 1;
	int rc = read_slab(r, path, H5T_NATIVE_LONG, start, 0, NULL, &w, NULL, err);
	if (!rc && w != 1)
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': /%s is not 1-D", r->path, path);
	return rc ? rc : read_slab(r, path, H5T_NATIVE_LONG, start, n, out, NULL, NULL, err);
}

/* row i of /prompts/subject_span [P, 2] */
static int h5rec_longs_at_2d(h5rec_in *r, long i, long out[2])
{
	int w = 0;
	fp_error e = {0};
	if (read_slab(r, "prompts/subject_span", H5T_NATIVE_LONG, i, 0, NULL, &w, NULL, &e) || w != 2)
		return -1;
	return read_slab(r, "prompts/subject_span", H5T_NATIVE_LONG, i, 1, out, NULL, NULL, &e);
}

int h5rec_recorded_get(h5rec_in *r, long i, h5rec_recorded *p, fp_error *err)
{
	memset(p, 0, sizeof *p);
	p->s0 = p->s1 = -1;
	if (i < 0 || i >= r->meta.n_prompts)
		return fp_error_set(err, FP_ERR_INVALID, "'%s' has prompts 0..%ld, not %ld", r->path, r->meta.n_prompts - 1, i);
	long ts, nt, rs, nr, span[2];
	int rc;
	char **texts = NULL;
	if ((rc = h5rec_longs_at(r, "prompts/token_start", i, &ts, 1, err)) ||
	    (rc = h5rec_longs_at(r, "prompts/n_tokens", i, &nt, 1, err)) ||
	    (rc = h5rec_longs_at(r, "prompts/row_start", i, &rs, 1, err)) ||
	    (rc = h5rec_longs_at(r, "prompts/n_rows", i, &nr, 1, err)))
		return rc;
	if (nt <= 0 || nt > (1 << 20) || nr < 0 || nr > nt)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': prompt %ld has %ld tokens and %ld rows", r->path, i, nt, nr);
	long *ids = malloc((size_t)nt * sizeof *ids), *pos = malloc((size_t)(nr ? nr : 1) * sizeof *pos);
	p->ids = malloc((size_t)nt * sizeof *p->ids);
	p->row_of = malloc((size_t)nt * sizeof *p->row_of);
	if (!ids || !pos || !p->ids || !p->row_of) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		goto done;
	}
	if ((rc = h5rec_longs_at(r, "tokens/id", ts, ids, nt, err)) ||
	    (rc = h5rec_longs_at(r, "rows/position", rs, pos, nr, err)) || (rc = h5rec_strings(r, "text", &texts, err)))
		goto done;
	p->n = (int)nt;
	for (long t = 0; t < nt; t++)
		p->ids[t] = (int32_t)ids[t], p->row_of[t] = -1;
	for (long k = 0; k < nr; k++) {
		if (pos[k] < 0 || pos[k] >= nt) {
			rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': prompt %ld has a row at position %ld of %ld", r->path, i,
					  pos[k], nt);
			goto done;
		}
		p->row_of[pos[k]] = rs + k;
	}
	p->text = strdup(texts[i]);
	/* subject_span is [P, 2]: read it as 2P longs */
	if (h5rec_longs_at_2d(r, i, span) == 0 && span[0] >= 0 && span[0] <= span[1] && span[1] <= nt)
		p->s0 = (int)span[0], p->s1 = (int)span[1];
done:
	if (texts)
		for (long k = 0; k < r->meta.n_prompts; k++)
			free(texts[k]);
	free(texts), free(ids), free(pos);
	if (rc)
		h5rec_recorded_free(p);
	return rc;
}

void h5rec_recorded_free(h5rec_recorded *p)
{
	free(p->text), free(p->ids), free(p->row_of);
	memset(p, 0, sizeof *p);
}

void h5rec_in_close(h5rec_in *r)
{
	if (!r)
		return;
	if (r->f >= 0)
		H5Fclose(r->f);
	free(r);
}
