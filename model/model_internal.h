/* model_internal.h - pieces of the forward pass (model.c) that the backward
 * pass (backward.c) reuses, so both compute the same numbers.  Not part of
 * the installed interface. */
#ifndef MODEL_INTERNAL_H
#define MODEL_INTERNAL_H

#include "model.h"

/* scratch floats the products with W over T rows need (0 for f32 weights) */
size_t fp_mat_tile_floats(const fp_mat *W, int T);
/* y[T, rows] = x[T, cols] W^T, as the forward pass computes it, with the
 * caller's scratch of fp_mat_tile_floats(W, T) floats */
void fp_mat_mul_scr(float *y, const float *x, const fp_mat *W, int T, float *scr);
/* dx[T, cols] = beta dx + dy[T, rows] W (the same tiles, transposed) */
void fp_mat_mul_t(float *dx, const float *dy, const fp_mat *W, int T, float beta, float *scr);
/* the forward pass's norm: LayerNorm (rms 0, b may be NULL) or RMSNorm */
/* One row's mean (0 for RMSNorm) into *mean, and 1 / sqrt(variance + eps) returned: what
 * the forward norm and its backward both need, computed once the same way. */
double fp_row_moments(const float *xr, int D, float eps, int rms, double *mean);
void fp_norm_rows(float *y, const float *x, const float *w, const float *b, int T, int D, float eps, int rms);
/* layer l's rotary embedding of T rows of n_heads heads at positions pos;
 * inverse 1: the transposed rotation */
void fp_rope_rows(const fp_model *m, int l, float *x, int T, int n_heads, const int *pos, int inverse);

/* one row of attention scores -> weights, as the forward pass: keys lo..seen-1
 * soft-capped (cap > 0) and softmaxed, keys seen..nk-1 and 0..lo-1 zero */
void fp_attn_row(float *r, int lo, int seen, int nk, float cap);

#endif
