/* topex.h - a neuron's top-activating examples (the computation behind
 * `factprobe top-examples`): the k tokens of a corpus, or of a recording's
 * rows, where one MLP neuron's activation (mlp.hook_post or mlp.hook_pre) is
 * largest, each with the tokens around it.  Library code: returns an
 * fp_error, never prints. */
#ifndef TOPEX_H
#define TOPEX_H

#include "h5out.h"
#include "../model/model.h"

typedef struct tx_example {
	float act;
	long line;          /* the prompt's line (corpus) or index (recording) */
	int pos, n_ctx, at; /* at: index of the marked token in ctx */
	int32_t *ctx;       /* the tokens [pos - context, pos + context] within the prompt */
} tx_example;

typedef struct tx_set {
	int layer, neuron, kind, k, context;
	tx_example *ex;     /* [k], have of them */
	int have;
	long n_prompts, n_tokens;
} tx_set;

int tx_init(tx_set *s, int layer, int neuron, int kind, int k, int context);
void tx_free(tx_set *s);
/* Offers token t of ids[0..n): kept when among the k largest so far. */
int tx_offer(tx_set *s, float act, long line, const int32_t *ids, int n, int t);
/* One prompt of a corpus: the neuron at every token (the pass stops after
 * its layer), each token offered. */
int tx_prompt(fp_model *m, tx_set *s, const int32_t *ids, int n, long line, fp_error *err);
/* Every recorded row of a recording of the same model. */
int tx_recording(const fp_model *m, tx_set *s, const char *path, fp_error *err);
/* The examples, largest first. */
void tx_sort(tx_set *s);

#endif
