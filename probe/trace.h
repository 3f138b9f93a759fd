/* trace.h - causal tracing (Meng et al. 2022, "ROME"): corrupt the
 * subject, restore one hidden state (or a window of MLP or attention
 * outputs) from the clean run at one layer and token, and measure how much
 * of the answer's probability comes back.  Library code: returns an
 * fp_error, never prints.
 *
 * Conventions follow ROME's code: layers from 0; "resid" restores
 * blocks.L.hook_resid_post (the block's output hidden state) at one token;
 * "mlp" and "attn" restore blocks.J.hook_mlp_out / hook_attn_out at one
 * token for J in [L - window/2, L + window - window/2) clipped to the model;
 * noise is Gaussian, added to the subject tokens' embeddings, one draw per
 * sample, and every score is the mean of p(answer) over the samples.
 *
 * What is reused (the math allows it; tests check each against full passes):
 * - the clean run once, and each corrupted sample once, keeping every
 *   layer's residual stream, MLP and attention outputs, keys and values;
 * - a restoration at layer L starts at the first layer it changes (L + 1 for
 *   resid, L - window/2 for mlp and attn) from the corrupted residual there;
 * - it touches only positions >= its token, so earlier positions are not
 *   recomputed: the corrupted sample's cached keys and values stand in;
 * - tokens before the subject are the same in the clean and corrupted runs,
 *   so restoring them changes nothing: their score is the corrupted score,
 *   exactly, with no pass at all;
 * - every (token, sample) restoration of one (kind, layer) runs in the same
 *   packed forward passes, so the matrix products are large. */
#ifndef TRACE_H
#define TRACE_H

#include <stdint.h>

#include "../model/model.h"

enum { TR_RESID = 0, TR_MLP = 1, TR_ATTN = 2, TR_NKINDS = 3 };
extern const char *const TR_KIND_NAME[TR_NKINDS];

typedef struct tr_opts {
	unsigned kinds;         /* bit (1 << TR_*) */
	int window;             /* layers restored around each layer for mlp/attn (ROME: 10) */
	int samples;            /* noise draws (ROME: 10) */
	double noise;           /* std of the Gaussian noise added to subject embeddings */
	uint64_t seed;
	const int32_t *corrupt_ids; /* non-NULL: no noise; the corrupted run is these n tokens
				       (symmetric token replacement), one sample */
	int batch_tokens;       /* rows per packed forward pass (default 2048) */
	/* called (may be NULL) before each kind and layer is restored: done of
	 * total (kinds x layers), for a progress report */
	void (*progress)(void *user, long done, long total);
	void *progress_user;
} tr_opts;

typedef struct tr_result {
	int n_layers, n_tok, s0, s1, answer;
	double high, low;          /* p(answer): clean, and corrupted (mean over samples) */
	float *score[TR_NKINDS];   /* [L][n] p(answer) with the restoration, mean over samples; NULL if not run */
	double evals_naive, evals; /* token-layer evaluations: the naive count (one full pass per
				      kind, layer, token and sample) and what was computed */
	long passes;               /* forward calls made */
} tr_result;

/* The standard deviation of all token embedding entries as hook_embed holds
 * them, where the noise goes (ROME's noise is 3x the std of subject
 * embeddings; we use the whole embedding matrix; gemma's embeddings are
 * scaled by sqrt(d_model) before the blocks, so the std is too). */
double tr_embedding_std(const fp_model *m);

/* Traces answer (a token id) for the prompt ids[0..n) with subject tokens
 * [s0, s1).  r is filled (free with tr_result_free). */
int tr_trace(fp_model *m, const int32_t *ids, int n, int s0, int s1, int answer, const tr_opts *o, tr_result *r,
	     fp_error *err);
void tr_result_free(tr_result *r);

/* The same grid estimated by attribution patching (Nanda 2023; Kramar et
 * al. 2024; probe/trace_atp.c): one clean forward pass, then per noise
 * sample one corrupted forward pass and one backward pass of p(answer)
 * (model/backward.h).  A cell's score is p(corrupted) + the sum over the
 * restored states h (one resid_post, or the window's mlp_out / attn_out at
 * the token) of (h_clean - h_corrupted) . dp/dh at the corrupted run: the
 * first-order Taylor estimate of the exact restoration's p, averaged over
 * the same samples (the same noise draws as tr_trace; the samples' passes
 * packed, about 512 rows at a time).  No AtP* fixes: the
 * attention softmax is linearised like everything else, so saturated
 * attention and large effects are where it is a poor guide.  evals counts
 * a backward pass as two forward ones. */
/* tr_trace's and tr_trace_atp's start: r cleared and its shape set, the
 * arguments checked (S samples) */
int tr_start(const fp_model *m, int n, int s0, int s1, int answer, int S, tr_result *r, fp_error *err);

int tr_trace_atp(fp_model *m, const int32_t *ids, int n, int s0, int s1, int answer, const tr_opts *o,
		 tr_result *r, fp_error *err);

#endif
