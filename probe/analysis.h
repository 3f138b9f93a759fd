/* analysis.h - the computations behind the query commands (dot, lens,
 * neurons, top-examples): capturing a prompt's hooks, the logit lens, direct
 * logit attribution, neuron ablation, concept directions, and reading
 * recordings.  Library code: returns an fp_error, never prints.
 *
 * Conventions (TransformerLens where it has one):
 * - Layers are numbered from 0.  "resid" index 0 is blocks.0.hook_resid_pre
 *   (the embeddings) and index l+1 is blocks.l.hook_resid_post.
 * - Direct logit attribution freezes the final norm's scale at the position
 *   read: a component c of the residual stream contributes
 *   (c - mean(c) for LayerNorm) . (w_ln * u) / scale, where u is the target's
 *   unembedding row (minus the --vs token's row for a logit difference),
 *   w_ln the final norm weight and scale the final residual's RMS (or std).
 *   The per-component terms then sum to the logit minus the norm's bias term,
 *   exactly, as with TransformerLens' apply_ln_to_stack.
 * - A neuron's input row is W_in (the up projection for gated MLPs, as in
 *   TransformerLens; gpt2's only input); its output row is W_out's column.
 */
#ifndef ANALYSIS_H
#define ANALYSIS_H

#include <stdint.h>

#include "../model/model.h"
#include "directions.h"
#include "h5out.h"
#include "stats.h"

/* ---- prompt runs ---- */

/* Hook activations of one prompt at every layer: resid [L+1][T][D] (see
 * above), resid_mid [L][T][D], mlp_post [L][T][F], logits [T][V] (all
 * positions).  Fields the caller did not ask for stay NULL. */
typedef struct an_run {
	int n_tok, n_layers, d_model, d_mlp, n_vocab;
	float *resid, *resid_mid, *mlp_post, *logits;
} an_run;

enum { AN_RESID = 1, AN_RESID_MID = 2, AN_MLP_POST = 4, AN_LOGITS = 8 };

int an_run_prompt(fp_model *m, const int32_t *ids, int n, unsigned what, an_run *r, fp_error *err);
void an_run_free(an_run *r);
/* One per-layer hook (kind) at every layer and position into out
 * [L][n][width]; width = fp_hook_width(m, kind). */
int an_capture(fp_model *m, const int32_t *ids, int n, int kind, float *out, fp_error *err);

/* Tokens [*s0, *s1) that overlap the first occurrence of subject in text
 * (ids are text's tokens; has_bos: ids[0] is a BOS with no text).  Returns
 * 0, or -1 (and *s0 = *s1 = -1) when the subject is not in the text. */
int an_subject_span(const fp_model *m, const char *text, const char *subject, const int32_t *ids, int n,
		    int has_bos, int *s0, int *s1);

/* The single token of a target word such as " basketball".  A word of
 * several tokens is an error naming them, unless multi is 1 (first token). */
int an_target_token(const fp_model *m, const char *word, int multi_first, int *id, fp_error *err);

/* ---- final norm, logit lens, attribution ---- */

/* out[r] = final norm of x[r] (weight and bias applied) for rows rows; the
 * scale (RMS or std, eps included) of each row into scale (may be NULL). */
void an_final_norm(const fp_model *m, const float *x, int rows, float *out, float *scale);
/* logits [rows][V] of residual rows through the final norm and the
 * unembedding (the logit lens), soft-capped as the model's own (gemma2);
 * tmp is rows*D floats. */
void an_lens_logits(const fp_model *m, const float *x, int rows, float *logits, float *tmp);
/* A norm (RMSNorm, or LayerNorm for gpt2 and gptneox) with weight w and
 * bias b (may be NULL) applied to one row of D values; returns its scale. */
float an_norm_row(const fp_model *m, const float *w, const float *b, const float *x, float *out);
/* indices of the k largest of x[0..n), largest first (k <= n) */
void an_top_k(const float *x, int n, int k, int *out);
/* log(sum exp x) of x[0..n), in double, shifted by the maximum */
double an_logsumexp(const float *x, int n);
/* log-softmax value of logits[id] (double precision) and its rank (1 = top) */
double an_logprob(const float *logits, int V, int id, int *rank);

/* The logit lens at positions pos[0..npos) of a run holding resid: for each
 * resid index r (R = L + 1 of them: 0 the embeddings, l + 1 after block l)
 * and position, the top k tokens and their probabilities, and the target's
 * probability and rank (1 = top).  target < 0: the model's final top token
 * at the last of the positions (then set in out->target). */
typedef struct an_lens {
	int R, npos, k, target;
	int32_t *top_id;  /* [R][npos][k] */
	float *top_p;     /* [R][npos][k] */
	float *tprob;     /* [R][npos] */
	int32_t *trank;   /* [R][npos] */
} an_lens;
int an_lens_run(const fp_model *m, const an_run *run, const int *pos, int npos, int k, int target, an_lens *out,
		fp_error *err);
void an_lens_free(an_lens *l);
/* A recorded prompt (h5out.h) as a run holding resid [L+1][n][D]: row 0
 * (the embeddings) computed, the recorded blocks.L.hook_resid_post rows
 * read, positions without rows NaN; p gets the prompt (free with
 * h5rec_recorded_free). */
int an_run_recorded(const fp_model *m, const char *path, long i, h5rec_recorded *p, an_run *run, fp_error *err);

/* The DLA read direction g (length D): w_ln * (u_target - u_vs), centred
 * for LayerNorm models.  vs < 0: no baseline token. */
void an_dla_dir(const fp_model *m, int target, int vs, float *g);
/* Per-neuron direct logit attribution at one position for every layer:
 * dla[l][f] = act[l][f] * (W_out[l][:, f] . g) / scale; with a post-MLP
 * norm (gemma) W_out[l][:, f] * w_post / s_l, that norm's scale s_l at this
 * position frozen too.  The terms add up to the target's logit before any
 * final soft-cap (gemma2's logits are cap tanh(logit / cap) of it). */
void an_neuron_dla(const fp_model *m, const float *mlp_post_at, /* [L][F] */ const float *g, float scale,
		   float *dla /* [L][F] */);

/* Every neuron's scores at position pos of a run holding resid, resid_mid
 * and mlp_post (arrays [L][F]): act; dla (final norm scale frozen at pos);
 * w_in = cos(the MLP's normalised input at pos, W_in row); w_out =
 * cos(W_out row, the DLA direction). */
void an_neuron_scores(const fp_model *m, const an_run *run, int pos, int target, int vs, float *act, float *dla,
		      float *w_in, float *w_out);

/* The n tokens neuron f of block l promotes most through the unembedding
 * (its W_out column times the final norm weight), with the sign of its
 * activation (a negative one promotes what the column suppresses). */
int an_promotes(const fp_model *m, int l, int f, float sign, int n, int *top);

/* ---- neuron ablation ---- */

typedef struct an_ablation {
	int layer, neuron;
	float value;       /* what the activation is replaced by (0: zero ablation) */
} an_ablation;

/* log p(target) at the last position of the prompt with each group of
 * ablations applied, for n_groups groups; group g is ablations
 * [start[g], start[g+1]) applied at positions [pos_from, pos_to).  vs >= 0 gives the logit
 * difference target - vs instead.  Groups are packed into shared forward
 * passes of about batch_tokens tokens. */
int an_ablate_groups(fp_model *m, const int32_t *ids, int n, int pos_from, int pos_to, const an_ablation *abl,
		     const int *start, int n_groups, int target, int vs, int batch_tokens, double *out,
		     fp_error *err);
/* A progress report for the ablations below: progress(user, groups done,
 * groups in all) after each packed forward pass (NULL: none). */
typedef struct an_progress {
	void (*progress)(void *user, long done, long total);
	void *user;
} an_progress;
/* an_ablate_groups, reporting its progress to pg (NULL: none) */
int an_ablate_groups_pg(fp_model *m, const int32_t *ids, int n, int pos_from, int pos_to, const an_ablation *abl,
			const int *start, int n_groups, int target, int vs, int batch_tokens, double *out,
			const an_progress *pg, fp_error *err);

/* Each candidate neuron cand[c] (an index l * F + f) ablated alone at
 * position pos (to refm[index], or 0 when refm is NULL): out[index] = clean -
 * the metric (log p(target), or the logit difference with vs) with it
 * ablated.  Other entries of out are left alone. */
int an_ablate_each(fp_model *m, const int32_t *ids, int n, int pos, const int *cand, int n_cand, const float *refm,
		   int target, int vs, double clean, float *out, const an_progress *pg, fp_error *err);
/* The top k neurons top[0..k) (indices l * F + f) ablated together at pos,
 * against R random draws of k other neurons from the same layers (stats.h's
 * generator from seed): *top_metric (the metric with the top k ablated) and
 * rand_metric[R]. */
int an_ablate_random(fp_model *m, const int32_t *ids, int n, int pos, const int *top, int k, int R, uint64_t seed,
		     const float *refm, int target, int vs, double *top_metric, double *rand_metric, const an_progress *pg,
		     fp_error *err);

/* an_ablate_random as effects, the drop from clean (the metric without any
 * ablation): top_effect = clean - *top_metric, effects[r] = clean -
 * rand_metric[r], and the draws' mean, standard deviation, minimum and
 * maximum (st_summarize). */
typedef struct an_random_cmp {
	double top_metric, top_effect;
	double *effects;   /* [R], malloc'ed; an_random_cmp_free */
	st_summary draws;  /* of effects */
} an_random_cmp;
int an_compare_random(fp_model *m, const int32_t *ids, int n, int pos, const int *top, int k, int R, uint64_t seed,
		      const float *refm, int target, int vs, double clean, an_random_cmp *out, const an_progress *pg,
		      fp_error *err);
void an_random_cmp_free(an_random_cmp *c);

/* Each neuron's mean activation (mlp.hook_post) over every token of a
 * prompt file: mean [L][F], for mean ablation. */
int an_mean_mlp_post(fp_model *m, const char *path, float *mean, fp_error *err);

/* Mean over a prompt file of a hook's rows (kind) at every layer: each
 * prompt's last row (all_tokens 0; *count = prompts) or every token's
 * (all_tokens 1; *count = tokens).  mean is [L][W]. */
int an_prompts_mean(fp_model *m, const char *path, int kind, int all_tokens, float *mean, int W, long *count,
		    fp_error *err);

#endif
