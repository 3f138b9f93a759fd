/* select.h - selectivity over a recording: which MLP neurons tell one group
 * of prompts (those sharing a target, relation, subject or id) from the
 * rest, ranked on a training split and judged on held-out prompts (the
 * computation behind `factprobe neurons --from`).
 *
 * Each prompt contributes its last recorded row of blocks.L.mlp.hook_post at
 * every recorded layer.  The split is stratified: round(holdout * size) of
 * each group's prompts are held out (at least one kept for training), drawn
 * with stats.h's generator from the seed.  A neuron's training statistic is
 * Cohen's d of the group against the rest, or (stat_auroc) its AUROC,
 * computed for the 20 k neurons of largest |d|.  The top k by the statistic
 * are reported with their held-out AUROC and Hanley-McNeil standard error,
 * and together: the AUROC of each prompt's mean sign-aligned z-score over
 * the k (z from the training split's mean and population sd).
 * Library code: returns an fp_error, never prints. */
#ifndef SELECT_H
#define SELECT_H

#include <stdint.h>

#include "h5out.h"

typedef struct sel_data {
	long P;          /* prompts */
	int nl, F;       /* recorded layers, neurons per layer */
	int *layers;     /* [nl] the block of each recorded layer */
	float *X;        /* [nl][P][F] activations */
	char **labels;   /* [P] each prompt's group (trimmed) */
	char **groups;   /* [n_groups] distinct labels in order of first appearance (point into labels) */
	int n_groups;
} sel_data;

/* Reads a recording's groups (field: target, relation, subject or id) and
 * activations. */
int sel_load(h5rec_in *rec, const h5rec_meta *mt, const char *path, const char *field, sel_data *d, fp_error *err);
void sel_free(sel_data *d);
/* The group named (trimmed) or -1. */
int sel_find_group(const sel_data *d, const char *name);

/* is_test[P]: the stratified held-out split */
void sel_split(const sel_data *d, double holdout, uint64_t seed, char *is_test);

typedef struct sel_neuron {
	int layer, neuron;            /* block and index */
	double stat, mean_in, mean_out, test_auroc, test_se; /* NaN where there is no held-out prompt */
} sel_neuron;

typedef struct sel_result {
	int train_in, train_out, test_in, test_out;
	int skipped;                  /* 1: fewer than 2 training prompts in or out; nothing else set */
	int k;
	sel_neuron *top;              /* [k], malloc'ed */
	double combined_auroc, combined_se;
} sel_result;

/* Group g's top k neurons (k capped at the neuron count). */
int sel_group(const sel_data *d, const char *is_test, int g, int stat_auroc, int k, sel_result *r, fp_error *err);
void sel_result_free(sel_result *r);

#endif
