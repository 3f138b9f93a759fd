/* h5util.c - see h5util.h. */
#include "h5util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

hid_t h5u_create(const char *path, int force, fp_error *err)
{
	if (!force && access(path, F_OK) == 0) {
		fp_error_set(err, FP_ERR_INVALID, "'%s' exists; pass --force to replace it", path);
		return -1;
	}
	h5u_quiet();
	hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	h5u_loud();
	if (f < 0)
		fp_error_set(err, FP_ERR_IO, "cannot create '%s' (directory missing or not writable?)", path);
	return f;
}

int h5u_close(hid_t f, const char *path, fp_error *err)
{
	if (H5Fclose(f) < 0)
		return fp_error_set(err, FP_ERR_IO, "cannot finish writing '%s' (disk full?)", path);
	return 0;
}

static hid_t lcpl(void)
{
	hid_t p = H5Pcreate(H5P_LINK_CREATE);
	H5Pset_create_intermediate_group(p, 1);
	H5Pset_char_encoding(p, H5T_CSET_UTF8);
	return p;
}

static int write_ds(hid_t f, const char *name, hid_t ftype, hid_t mtype, int rank, const size_t *dims,
		    const void *data)
{
	hsize_t d[8];
	for (int i = 0; i < rank; i++)
		d[i] = dims[i];
	hid_t sp = H5Screate_simple(rank, d, NULL), pl = lcpl();
	hid_t ds = H5Dcreate2(f, name, ftype, sp, pl, H5P_DEFAULT, H5P_DEFAULT);
	int rc = ds >= 0 && H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0 ? 0 : -1;
	if (ds >= 0)
		H5Dclose(ds);
	H5Pclose(pl);
	H5Sclose(sp);
	return rc;
}

int h5u_f32(hid_t f, const char *name, int rank, const size_t *dims, const float *data)
{
	return write_ds(f, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, rank, dims, data);
}

int h5u_f64(hid_t f, const char *name, int rank, const size_t *dims, const double *data)
{
	return write_ds(f, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, rank, dims, data);
}

int h5u_i32(hid_t f, const char *name, int rank, const size_t *dims, const int32_t *data)
{
	return write_ds(f, name, H5T_STD_I32LE, H5T_NATIVE_INT32, rank, dims, data);
}

static hid_t str_type(void)
{
	hid_t t = H5Tcopy(H5T_C_S1);
	H5Tset_size(t, H5T_VARIABLE);
	H5Tset_cset(t, H5T_CSET_UTF8);
	return t;
}

int h5u_strs(hid_t f, const char *name, size_t n, char *const *strs)
{
	hid_t t = str_type();
	size_t dims[1] = {n};
	int rc = write_ds(f, name, t, t, 1, dims, strs);
	H5Tclose(t);
	return rc;
}

int h5u_strs_nd(hid_t f, const char *name, int rank, const size_t *dims, char *const *strs)
{
	hid_t t = str_type();
	int rc = write_ds(f, name, t, t, rank, dims, strs);
	H5Tclose(t);
	return rc;
}

static int attr(hid_t f, const char *obj, const char *name, hid_t type, const void *val)
{
	hid_t o = obj ? H5Oopen(f, obj, H5P_DEFAULT) : f;
	if (o < 0)
		return -1;
	hid_t sp = H5Screate(H5S_SCALAR);
	hid_t a = H5Acreate2(o, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
	int rc = a >= 0 && H5Awrite(a, type, val) >= 0 ? 0 : -1;
	if (a >= 0)
		H5Aclose(a);
	H5Sclose(sp);
	if (obj)
		H5Oclose(o);
	return rc;
}

int h5u_attr_str(hid_t f, const char *obj, const char *name, const char *val)
{
	hid_t t = str_type();
	int rc = attr(f, obj, name, t, &val);
	H5Tclose(t);
	return rc;
}

int h5u_attr_f64(hid_t f, const char *obj, const char *name, double val)
{
	return attr(f, obj, name, H5T_NATIVE_DOUBLE, &val);
}

int h5u_attr_i64(hid_t f, const char *obj, const char *name, long long val)
{
	return attr(f, obj, name, H5T_NATIVE_LLONG, &val);
}

static H5E_auto2_t q_fn;
static void *q_data;
static int q_depth;
void h5u_quiet(void)
{
	if (q_depth++ == 0) {
		H5Eget_auto2(H5E_DEFAULT, &q_fn, &q_data);
		H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	}
}
void h5u_loud(void)
{
	if (q_depth > 0 && --q_depth == 0)
		H5Eset_auto2(H5E_DEFAULT, q_fn, q_data);
}

hid_t h5u_open(const char *path, fp_error *err)
{
	h5u_quiet();
	hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	h5u_loud();
	if (f < 0)
		fp_error_set(err, FP_ERR_IO, "cannot open '%s' as an HDF5 file (missing, or not HDF5)", path);
	return f;
}

int h5u_has(hid_t f, const char *name)
{
	h5u_quiet();
	char buf[256];
	int ok = 1;
	/* every link on the way must exist */
	for (const char *p = name; ok && (p = strchr(p, '/')); p++) {
		snprintf(buf, sizeof buf, "%.*s", (int)(p - name), name);
		ok = !*buf || H5Lexists(f, buf, H5P_DEFAULT) > 0;
	}
	ok = ok && H5Lexists(f, name, H5P_DEFAULT) > 0;
	h5u_loud();
	return ok;
}

int h5u_read_f64(hid_t f, const char *path, const char *name, double **out, int *rank, size_t dims[3], fp_error *err)
{
	*out = NULL;
	if (!h5u_has(f, name))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s' has no dataset '%s'", path, name);
	h5u_quiet();
	int rc = 0;
	hid_t ds = H5Dopen2(f, name, H5P_DEFAULT), sp = ds >= 0 ? H5Dget_space(ds) : -1;
	hsize_t d[3] = {1, 1, 1};
	int r = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
	size_t total = 1;
	if (r < 0 || r > 3) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': '%s' is not an array of up to 3 dimensions", path, name);
		goto done;
	}
	H5Sget_simple_extent_dims(sp, d, NULL);
	for (int i = 0; i < r; i++) {
		if (d[i] > ((size_t)1 << 31)) {
			rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': '%s' is implausibly large", path, name);
			goto done;
		}
		total *= d[i];
		dims[i] = d[i];
	}
	*rank = r;
	*out = malloc((total ? total : 1) * sizeof(double));
	if (!*out) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory reading '%s'", name);
		goto done;
	}
	if (total && H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out) < 0) {
		free(*out), *out = NULL;
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': cannot read '%s' as numbers", path, name);
	}
done:
	if (sp >= 0)
		H5Sclose(sp);
	if (ds >= 0)
		H5Dclose(ds);
	h5u_loud();
	return rc;
}

int h5u_read_strs(hid_t f, const char *path, const char *name, char ***out, size_t *n, fp_error *err)
{
	*out = NULL, *n = 0;
	if (!h5u_has(f, name))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s' has no dataset '%s'", path, name);
	h5u_quiet();
	int rc = 0;
	hid_t ds = H5Dopen2(f, name, H5P_DEFAULT), sp = ds >= 0 ? H5Dget_space(ds) : -1, t = str_type();
	hssize_t cnt = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
	char **v = NULL;
	if (cnt < 0 || cnt > (1 << 26)) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': '%s' is not a string array", path, name);
		goto done;
	}
	v = calloc((size_t)(cnt ? cnt : 1), sizeof *v);
	if (!v || (cnt && H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)) {
		free(v);
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': cannot read '%s' as strings", path, name);
		goto done;
	}
	for (hssize_t i = 0; i < cnt; i++) { /* own copies */
		char *c = strdup(v[i] ? v[i] : "");
		if (v[i])
			H5free_memory(v[i]);
		v[i] = c;
	}
	*out = v, *n = (size_t)cnt;
done:
	H5Tclose(t);
	if (sp >= 0)
		H5Sclose(sp);
	if (ds >= 0)
		H5Dclose(ds);
	h5u_loud();
	return rc;
}

void h5u_free_strs(char **s, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		free(s[i]);
	free(s);
}

int h5u_attr_read_str(hid_t f, const char *name, char *buf, size_t n)
{
	buf[0] = 0;
	h5u_quiet();
	int rc = -1;
	if (H5Aexists(f, name) > 0) {
		hid_t a = H5Aopen(f, name, H5P_DEFAULT), t = str_type();
		char *v = NULL;
		if (a >= 0 && H5Aread(a, t, &v) >= 0 && v) {
			snprintf(buf, n, "%s", v);
			H5free_memory(v);
			rc = 0;
		}
		H5Tclose(t);
		if (a >= 0)
			H5Aclose(a);
	}
	h5u_loud();
	return rc;
}

/* a numeric root attribute as type */
static int attr_read_num(hid_t f, const char *name, hid_t type, void *v)
{
	h5u_quiet();
	int rc = -1;
	if (H5Aexists(f, name) > 0) {
		hid_t a = H5Aopen(f, name, H5P_DEFAULT);
		rc = a >= 0 && H5Aread(a, type, v) >= 0 ? 0 : -1;
		if (a >= 0)
			H5Aclose(a);
	}
	h5u_loud();
	return rc;
}

int h5u_attr_read_i64(hid_t f, const char *name, long long *v)
{
	return attr_read_num(f, name, H5T_NATIVE_LLONG, v);
}

int h5u_attr_read_f64(hid_t f, const char *name, double *v)
{
	return attr_read_num(f, name, H5T_NATIVE_DOUBLE, v);
}
