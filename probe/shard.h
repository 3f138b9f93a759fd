/* shard.h - splitting a prompt set into contiguous blocks for separate
 * processes (`record --shard I/N`, the ranks of an MPI run, the facts of an
 * MPI trace).  Library code: returns an fp_error, never prints. */
#ifndef SHARD_H
#define SHARD_H

#include "../model/model.h"

/* "I/N" with 0 <= I < N <= 100000; -1 if not */
int shard_parse(const char *s, int *i, int *n);

/* Splits items 0..n_items-1 into n contiguous blocks balanced by weight,
 * cutting only before the candidates: cand[k] is an item index (ascending,
 * cand[0] = 0) and cum[k] the weight of the items before it; total is the
 * weight of all.  Block b is [bounds[b], bounds[b+1]): bounds[b] is the first
 * candidate whose weight before it is at least b/n of the total (a block may
 * be empty when one candidate block outweighs a share). */
void shard_bounds(const long *cand, const long long *cum, long n_cand, long n_items, long long total, int n,
		  long *bounds);

typedef struct shard_plan {
	int n;
	long n_prompts;     /* valid prompts in the set */
	long long n_tokens;
	long *bounds;       /* [n + 1] prompt indices */
	long *lines;        /* [n + 1] the file line where each block starts (LONG_MAX: the end) */
} shard_plan;

/* Reads and tokenizes the whole prompt set once and splits it into n blocks
 * balanced by token count, cut only where record's packing (batch_tokens,
 * as in `record --batch-tokens`; 0 = one prompt a pass) starts a new forward
 * pass, so each block is packed exactly as in one run over the whole set
 * and its values are bit for bit the same.  A prompt counts when it parses,
 * tokenizes, and fits the model's context (record's rule); a malformed line
 * is an error unless skip_bad. */
int shard_plan_prompts(shard_plan *p, const char *path, const fp_model *m, int bos, int batch_tokens, int skip_bad,
		       int n, fp_error *err);
void shard_plan_free(shard_plan *p);

#endif
