/* h5util.h - small HDF5 result files (dot, lens, neurons, trace): a few
 * named datasets plus attributes, readable by h5py as plain arrays.  Library
 * code: returns an fp_error. */
#ifndef H5UTIL_H
#define H5UTIL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "../model/fp_error.h"

/* HDF5's error printing off (nested calls count) and back on */
void h5u_quiet(void);
void h5u_loud(void);

/* Creates path (refusing an existing file unless force). Returns -1 on error. */
hid_t h5u_create(const char *path, int force, fp_error *err);
int h5u_close(hid_t f, const char *path, fp_error *err);
/* datasets; name may contain '/' (groups are created as needed) */
int h5u_f32(hid_t f, const char *name, int rank, const size_t *dims, const float *data);
int h5u_f64(hid_t f, const char *name, int rank, const size_t *dims, const double *data);
int h5u_i32(hid_t f, const char *name, int rank, const size_t *dims, const int32_t *data);
int h5u_strs(hid_t f, const char *name, size_t n, char *const *strs);
int h5u_strs_nd(hid_t f, const char *name, int rank, const size_t *dims, char *const *strs);
/* attributes on obj (a file or a dataset opened by name: pass f and name, or name NULL for the root) */
int h5u_attr_str(hid_t f, const char *obj, const char *name, const char *val);
int h5u_attr_f64(hid_t f, const char *obj, const char *name, double val);
int h5u_attr_i64(hid_t f, const char *obj, const char *name, long long val);


/* ---- reading (results of dot, lens, neurons, trace, superposition) ---- */
/* Opens for reading; -1 (err set) if missing or not HDF5. */
hid_t h5u_open(const char *path, fp_error *err);
/* 1 if the dataset exists */
int h5u_has(hid_t f, const char *name);
/* A numeric dataset as doubles (malloc'ed); rank <= 3, dims filled. */
int h5u_read_f64(hid_t f, const char *path, const char *name, double **out, int *rank, size_t dims[3], fp_error *err);
/* A 1-D (or flattened n-D) string dataset (each malloc'ed; free with h5u_free_strs). */
int h5u_read_strs(hid_t f, const char *path, const char *name, char ***out, size_t *n, fp_error *err);
void h5u_free_strs(char **s, size_t n);
/* Root attributes: 0 or -1 if absent. */
int h5u_attr_read_str(hid_t f, const char *name, char *buf, size_t n);
int h5u_attr_read_f64(hid_t f, const char *name, double *v);
int h5u_attr_read_i64(hid_t f, const char *name, long long *v);

#endif
