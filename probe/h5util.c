/* h5util.c - see h5util.h. */
#include "h5util.h"

#include <string.h>
#include <unistd.h>

hid_t h5u_create(const char *path, int force, fp_error *err)
{
	if (!force && access(path, F_OK) == 0) {
		fp_error_set(err, FP_ERR_INVALID, "'%s' exists; pass --force to replace it", path);
		return -1;
	}
	H5E_auto2_t fn;
	void *fd;
	H5Eget_auto2(H5E_DEFAULT, &fn, &fd);
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	H5Eset_auto2(H5E_DEFAULT, fn, fd);
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
