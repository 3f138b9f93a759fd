/* project.h - a hook's vectors against a concept direction (directions.h):
 * the dot product x.v, the cosine x.v / (|x| |v|) and |x| at each layer,
 * for one prompt's positions, summed over a prompt set, or over every row
 * of a recording (the computation behind `factprobe dot`).  Library code:
 * returns an fp_error, never prints. */
#ifndef PROJECT_H
#define PROJECT_H

#include "analysis.h"
#include "stats.h"

/* dot, cos (0 where x or v is 0) and |x| of x with v, in double */
void pj_dotcos(const float *x, const float *v, int W, double *dot, double *cos, double *norm);

/* One prompt: the hook (kind) captured at blocks [l0, l1) and positions
 * pos[0..npos); dot, cos and norm [l1 - l0][npos]. */
int pj_prompt(fp_model *m, const int32_t *ids, int n, int kind, const an_dir *dir, int l0, int l1, const int *pos,
	      int npos, double *dot, double *cos, double *norm, fp_error *err);

/* Running sums per layer, for a prompt set or a recording */
typedef struct pj_layer {
	st_acc dot, cos;
} pj_layer;

/* Adds positions [pa, pb) of one prompt to A[l1 - l0]. */
int pj_prompt_add(fp_model *m, const int32_t *ids, int n, int kind, const an_dir *dir, int l0, int l1, int pa, int pb,
		  pj_layer *A, fp_error *err);
/* Adds every recorded row of the hook at blocks [l0, l1) to A; the
 * recording must come from a model of the direction's width. */
int pj_recording(h5rec_in *rec, const h5rec_meta *mt, int kind, const an_dir *dir, int l0, int l1, pj_layer *A,
		 fp_error *err);

#endif
