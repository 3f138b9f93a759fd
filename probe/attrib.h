/* attrib.h - gradient attributions of MLP neurons (model/backward.h): every
 * neuron of every layer at one position scored from one forward and one
 * backward pass (attribution patching) or from a path of them (integrated
 * gradients).  Scores are "clean minus patched": the metric's drop when the
 * neuron's activation is replaced by its reference value, the sign of the
 * measured ablation (an_ablate_groups). */
#ifndef ATTRIB_H
#define ATTRIB_H

#include "../model/backward.h"

/* Attribution patching (Nanda 2023; Kramar et al. 2024): est[l*F+f] =
 * (a - ref) * dm/da at position pos, a first-order estimate of m(clean) -
 * m(neuron patched to ref).  ref [L*F] (NULL: zero ablation).  act [L*F]
 * (may be NULL) receives the clean activations; *clean the metric. */
int at_neurons_atp(fp_model *m, const int32_t *ids, int n, const fp_metric *mt, int pos, const float *ref,
		   float *act, float *est, double *clean, fp_error *err);

/* Integrated gradients (Sundararajan et al. 2017; over neurons, Dai et al.
 * 2022) along the straight path from the baseline ref (NULL: zero) to the
 * clean activations, at position pos of every layer's mlp.hook_post at
 * once: attr = (a - ref) * the path integral of the gradient by steps-point
 * Gauss-Legendre quadrature (Captum's default; far more accurate than
 * equal steps where the metric turns sharply along the path, as a
 * saturating norm or softmax makes it), each layer's activations held at
 * the path's value (the
 * gradient's cut: no gradient flows through a later layer's neurons, which
 * are inputs of their own).  The attributions add up to m(clean) -
 * m(baseline), m(baseline) being the metric with every layer's neurons at
 * pos set to ref; *m_in and *m_base receive both (measured).  The path's
 * points run as packed copies of the prompt (about 512 rows a pass); the
 * metric is read at the last token (mt->pos -1 or n - 1). */
int at_neurons_ig(fp_model *m, const int32_t *ids, int n, const fp_metric *mt, int pos, const float *ref, int steps,
		  float *attr, double *m_in, double *m_base, fp_error *err);

/* mlp.hook_post of every layer at position pos of a prompt: out [L*F] */
int at_mlp_post_at(fp_model *m, const int32_t *ids, int n, int pos, float *out, fp_error *err);

#endif
