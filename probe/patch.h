/* patch.h - activation patching (the computation behind `factprobe patch`):
 * a hook's vectors from a clean run written into a corrupted run at chosen
 * layers and positions (every column, or only some: single neurons of
 * mlp.hook_post), and the metric (log p(target), or the logit difference
 * target - vs) at the last position clean, corrupted and patched.  Library
 * code: returns an fp_error, never prints. */
#ifndef PATCH_H
#define PATCH_H

#include "../model/model.h"

typedef struct pt_spec {
	int kind, l0, l1;            /* hook kind, blocks [l0, l1] */
	int n_pos;
	const int *dst_pos, *src_pos; /* [n_pos] positions in the corrupted and the clean prompt */
	const int *cols;             /* NULL: every column */
	int n_cols;
	const char *layer_sel;       /* NULL: every block in [l0, l1]; else [n_layers], 1: patched */
} pt_spec;

/* the metric on a run's last-position logits */
double pt_metric(const float *logits, int V, int target, int vs);

/* Runs clean ids_a (capturing the hook), corrupted ids_b, and ids_b with
 * the clean vectors patched in: *m_clean, *m_cor, *m_patched. */
int pt_patch(fp_model *m, const int32_t *ids_a, int na, const int32_t *ids_b, int nb, const pt_spec *s, int target,
	     int vs, double *m_clean, double *m_cor, double *m_patched, fp_error *err);

#endif
