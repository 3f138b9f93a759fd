/* project.c - see project.h. */
#include "project.h"

#include <math.h>
#include <stdlib.h>

void pj_dotcos(const float *x, const float *v, int W, double *dot, double *cs, double *nx)
{
	double d = 0, xx = 0, vv = 0;
	for (int k = 0; k < W; k++)
		d += (double)x[k] * v[k], xx += (double)x[k] * x[k], vv += (double)v[k] * v[k];
	*dot = d;
	*nx = sqrt(xx);
	*cs = xx > 0 && vv > 0 ? d / sqrt(xx * vv) : 0;
}

int pj_prompt(fp_model *m, const int32_t *ids, int n, int kind, const an_dir *dir, int l0, int l1, const int *pos,
	      int npos, double *dot, double *cos, double *norm, fp_error *err)
{
	int L = m->cfg.n_layers, W = fp_hook_width(m, kind);
	float *cap = malloc((size_t)L * n * W * sizeof *cap);
	if (!cap)
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	int rc = an_capture(m, ids, n, kind, cap, err);
	for (int l = l0; !rc && l < l1; l++)
		for (int i = 0; i < npos; i++) {
			size_t k = (size_t)(l - l0) * npos + i;
			pj_dotcos(cap + ((size_t)l * n + pos[i]) * W, an_dir_at(dir, l), W, &dot[k], &cos[k], &norm[k]);
		}
	free(cap);
	return rc;
}

int pj_prompt_add(fp_model *m, const int32_t *ids, int n, int kind, const an_dir *dir, int l0, int l1, int pa, int pb,
		  pj_layer *A, fp_error *err)
{
	int np = pb - pa, nl = l1 - l0;
	int *pos = malloc((size_t)np * sizeof *pos);
	double *d = malloc((size_t)nl * np * 3 * sizeof *d);
	int rc = !pos || !d ? fp_error_set(err, FP_ERR_NOMEM, "out of memory") : 0;
	for (int i = 0; !rc && i < np; i++)
		pos[i] = pa + i;
	if (!rc && !(rc = pj_prompt(m, ids, n, kind, dir, l0, l1, pos, np, d, d + (size_t)nl * np, d + (size_t)2 * nl * np,
				    err)))
		for (int l = 0; l < nl; l++)
			for (int i = 0; i < np; i++) {
				st_acc_add(&A[l].dot, d[(size_t)l * np + i]);
				st_acc_add(&A[l].cos, d[(size_t)nl * np + (size_t)l * np + i]);
			}
	free(pos), free(d);
	return rc;
}

int pj_recording(h5rec_in *rec, const h5rec_meta *mt, int kind, const an_dir *dir, int l0, int l1, pj_layer *A,
		 fp_error *err)
{
	long chunk = 4096;
	int W = dir->width, rc = 0;
	float *cap = malloc((size_t)chunk * W * sizeof *cap);
	if (!cap)
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	for (int l = l0; !rc && l < l1; l++) {
		char hn[96];
		fp_hook_name(kind, l, hn, sizeof hn);
		/* the shape first: rows of another width than the direction's would
		 * be read past cap (attn.hook_z's width is not in the recording's
		 * sizes, so h5rec_read cannot tell) */
		int w0 = 0;
		if ((rc = h5rec_read(rec, hn, 0, 0, NULL, &w0, err)))
			break;
		if (w0 != W) {
			rc = fp_error_set(err, FP_ERR_FORMAT, "/acts/%s is %d wide, but the direction has %d dimensions", hn, w0,
					  W);
			break;
		}
		for (long r0 = 0; !rc && r0 < mt->n_rows; r0 += chunk) {
			long cnt = mt->n_rows - r0 < chunk ? mt->n_rows - r0 : chunk;
			int w;
			if ((rc = h5rec_read(rec, hn, r0, cnt, cap, &w, err)))
				break;
			for (long r = 0; r < cnt; r++) {
				double d, cs, nx;
				pj_dotcos(cap + (size_t)r * W, an_dir_at(dir, l), W, &d, &cs, &nx);
				st_acc_add(&A[l - l0].dot, d), st_acc_add(&A[l - l0].cos, cs);
			}
		}
	}
	free(cap);
	return rc;
}
