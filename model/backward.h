/* backward.h - the gradient of one scalar metric of the logits with respect
 * to every hook's activations, in one reverse sweep after a forward pass
 * (activations only: no weight gradients).  Every architecture of model.h.
 *
 * fp_model_backward runs the forward pass (with the caller's forward hooks,
 * which may overwrite activations: patching, noise, scaling), keeps what the
 * reverse sweep needs, computes the metric at position metric->pos, then
 * walks the blocks backwards and hands the caller d metric / d hook through
 * the same hook names and shapes as the forward pass (fp_hook_event; data is
 * the gradient, [n_pos, width]), from the logits down to hook_embed.  Rows
 * after the metric's position are zero (attention is causal).
 *
 * Gradients are taken with respect to each hook's value as the forward hooks
 * left it.  A forward hook that overwrites its tensor does not stop the
 * gradient flowing to the activations upstream of it (they are differentiated
 * as if the hook had added a constant); cut_mask asks for the other reading:
 * the hook's value is an input of its own, so nothing flows upstream of it
 * (integrated gradients over several layers at once needs that).
 *
 * Products with weights go through the forward pass's fp_mat path (the same
 * tiles of dequantised rows), transposed. */
#ifndef BACKWARD_H
#define BACKWARD_H

#include "model.h"

enum fp_metric_kind {
	FP_METRIC_LOGPROB = 0, /* log p(target) (log-softmax of the logits) */
	FP_METRIC_PROB,        /* p(target) */
	FP_METRIC_LOGIT_DIFF,  /* logit(target) - logit(other) */
	FP_METRIC_LOGIT        /* logit(target) */
};

typedef struct fp_metric {
	int kind;   /* enum fp_metric_kind */
	int target; /* token id */
	int other;  /* FP_METRIC_LOGIT_DIFF: the token subtracted */
	int pos;    /* the position whose logits are read; -1: the last */
} fp_metric;

/* "logprob", "prob", "logit-diff", "logit" -> kind; -1 if none */
int fp_metric_parse(const char *s);
const char *fp_metric_name(int kind);
/* The metric of one row of logits (after the soft-cap, as the forward pass
 * returns them), accumulated in double. */
double fp_metric_value(const fp_model *m, const fp_metric *mt, const float *logits_row);

typedef struct fp_backward_opts {
	fp_hook_fn hook;      /* forward hooks, as in fp_forward_opts (may overwrite) */
	void *user;
	uint32_t hook_mask;
	fp_hook_fn grad;      /* called with each hook's gradient, from the logits down */
	void *grad_user;
	uint32_t grad_mask;   /* FP_HOOK_BIT(kind) of the gradients wanted */
	uint32_t cut_mask;    /* hook kinds whose values are inputs of their own (see above) */
	const unsigned char *cut_pos; /* [n]: rows the cut applies to; NULL: all */
	/* Packed sequences, as in fp_forward_opts: tokens[0..n) are n_seq
	 * prompts of seq_len[i] tokens, each attending only to itself.  The
	 * metric (pos -1 only) is read at each one's last token, and the
	 * gradient is that of their sum: each sequence's rows hold the gradient
	 * of its own metric.  value and logits_row then receive n_seq entries.
	 * n_seq 0: one sequence. */
	const int *seq_len;
	int n_seq;
} fp_backward_opts;

/* Forward and backward over tokens[0..n) (one sequence).  *value (may be
 * NULL) receives the metric; logits_row (may be NULL) the metric position's
 * logits [V] (packed: n_seq of each).  A grad callback returning nonzero stops the sweep
 * (FP_ERR_ABORTED).  Not reentrant on one model (it uses the model's
 * forward workspace). */
int fp_model_backward(fp_model *m, const int32_t *tokens, int n, const fp_metric *metric, const fp_backward_opts *o,
		      double *value, float *logits_row, fp_error *err);

#endif
