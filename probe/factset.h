/* factset.h - causal tracing over a fact set (ROME's dataset method; the
 * computation behind `factprobe trace -p`): which facts the model knows,
 * each known fact traced (trace.h) with noise or symmetric token
 * replacement, and the indirect effect (p restored - p corrupted) averaged
 * per token category and layer with its standard error.
 *
 * Token categories (ROME's Figure 2), for a prompt of n tokens whose subject
 * is tokens [s0, s1):
 *   0 first subject token      [s0, s0+1)
 *   1 middle subject tokens    [s0+1, s1-1)   (absent for 1- and 2-token subjects)
 *   2 last subject token       [s1-1, s1)
 *   3 first subsequent token   [s1, s1+1)     (absent when the subject ends the prompt)
 *   4 further tokens           [s1+1, n-1)
 *   5 last token               [n-1, n)
 * A prompt's value for a category is the mean over its tokens; the reported
 * mean and standard error are over the prompts that have the category.
 *
 * Symmetric token replacement: the corrupted prompt is the fact's text with
 * its subject replaced by another fact's subject (a different one, of the
 * same token count), kept only if it tokenizes to the same tokens outside
 * the subject; the other fact is searched from a random start (the
 * generator passed in).  Library code: returns an fp_error, never prints. */
#ifndef FACTSET_H
#define FACTSET_H

#include <stdint.h>

#include "stats.h"
#include "trace.h"

#define FS_NCAT 6
extern const char *const FS_CAT_NAME[FS_NCAT];

typedef struct fs_fact {
	char *text, *subject, *target;
	long line;
	int32_t *ids;
	int n, s0, s1, answer, known;
} fs_fact;

typedef struct fs_set {
	fs_fact *f;
	int n, cap;
} fs_set;

/* The subject's token span, checked to start and end on token boundaries (a
 * leading space may belong to the first token).  Returns 0, or < 0 with an
 * error naming both.  With cover, a subject off the boundaries keeps the
 * tokens that cover it (ROME's find_token_range) and the return is 1. */
int fs_subject_tokens(const fp_model *m, const char *text, const char *subject, const int32_t *ids, int n,
		      int has_bos, int cover, int *s0, int *s1, fp_error *err);

/* Adds a fact: tokenized, its subject span found (cover as above) and its
 * target's first token.  Returns 0, 1 when the subject was covered, or < 0
 * (the fact not added; err names the field at fault: "field 'subject': ..."
 * or "field 'target': ..."). */
int fs_add(fs_set *s, const fp_model *m, const char *text, size_t len, const char *subject, const char *target,
	   long line, int cover, fp_error *err);
void fs_free(fs_set *s);

/* Marks each fact known when the clean top-1 token is its target's first
 * token; returns the count known, or < 0 (err names the line).  progress
 * (may be NULL) is called before each fact. */
int fs_mark_known(fp_model *m, fs_set *s, void (*progress)(void *user, long done, long total), void *user,
		  fp_error *err);

/* The corrupted prompt of fact i for symmetric token replacement (above):
 * its ids (malloc'ed, f->n of them) or NULL when no fact fits. */
int32_t *fs_replacement(const fp_model *m, const fs_set *s, int i, st_rng *rng);

/* Token ranges [a[c], b[c]) of the categories; an empty range is absent. */
void fs_categories(int n, int s0, int s1, int a[FS_NCAT], int b[FS_NCAT]);

/* Per kind, category and layer: running sums of the prompts' values. */
typedef struct fs_acc {
	int n_layers;
	st_acc *a[TR_NKINDS]; /* [FS_NCAT][L] for the kinds traced, else NULL */
	long n[FS_NCAT];       /* prompts with each category */
} fs_acc;

int fs_acc_init(fs_acc *c, int n_layers, unsigned kinds);
/* Adds one traced prompt's indirect effects. */
void fs_acc_add(fs_acc *c, const tr_result *r);
/* mean and standard error [FS_NCAT][L] of kind k (NaN where fewer than one,
 * or two for se, prompts have the category); 0, or -1 for a kind not traced
 * or out of memory (mean and se then NULL). */
int fs_acc_result(const fs_acc *c, int k, double **mean, double **se);
void fs_acc_free(fs_acc *c);

/* Traces the known facts (at most limit, 0 for all) into c.  o is used for
 * every fact, with seed + i for fact i, and with replacement (replace 1) a
 * replacement prompt from rng; facts with none are counted in *no_repl.
 * Sums of p clean and corrupted, evaluations and passes into the totals.
 * progress (may be NULL) gets the facts traced so far. */
typedef struct fs_totals {
	int traced, no_repl;
	double high, low, evals, naive;
	long passes;
} fs_totals;
int fs_trace(fp_model *m, const fs_set *s, const tr_opts *o, int replace, int limit, st_rng *rng, fs_acc *c,
	     fs_totals *t, void (*progress)(void *user, long traced), void *user, fp_error *err);

/* ---- a fact set traced by several processes (factprobe-mpi) ----
 * A traced fact as a flat record of FS_REC_LEN(L) doubles: high, low,
 * evals, evals_naive, passes, whether each category is present (1/0)
 * [FS_NCAT], whether each kind was scored (1/0) [TR_NKINDS], and the values fs_acc_add adds [TR_NKINDS][FS_NCAT][L] (0 for
 * kinds not traced).  Adding the records in the set's order gives the very
 * sums fs_trace gives, whichever process traced which fact. */
#define FS_REC_LEN(L) (5 + FS_NCAT + TR_NKINDS + (size_t)TR_NKINDS * FS_NCAT * (size_t)(L))
void fs_record(const fs_acc *c, const tr_result *r, double *rec);
/* adds one record to c and (t not NULL) to the totals, as fs_trace does */
void fs_acc_add_record(fs_acc *c, fs_totals *t, const double *rec);
/* Traces the known facts [first, first + count) (counting known facts
 * only, in the set's order) with o's noise, fact i with seed + i as fs_trace
 * does, one record each into recs [count][FS_REC_LEN]; c gives the layers
 * and kinds (nothing is added to it). */
int fs_trace_records(fp_model *m, const fs_set *s, const tr_opts *o, int first, int count, const fs_acc *c,
		     double *recs, void (*progress)(void *user, long traced), void *user, fp_error *err);
/* A process-wide stand-in for fs_trace (NULL: none), with its arguments:
 * factprobe-mpi sets one that spreads the known facts over the ranks. */
typedef int (*fs_trace_fn)(fp_model *m, const fs_set *s, const tr_opts *o, int replace, int limit, st_rng *rng,
			   fs_acc *c, fs_totals *t, void (*progress)(void *user, long traced), void *user, fp_error *err);
void fs_set_trace_hook(fs_trace_fn fn);

#endif
