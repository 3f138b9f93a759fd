/* test_neurons.c - neurons' live-mode library parts (an_promotes,
 * an_ablate_each, an_ablate_random) on the planted model, where neuron 1.5
 * reads 'J' and writes 'Q' by construction: it promotes 'Q' first; ablated
 * alone it takes log p(Q) down by far more than any other neuron; ablated
 * as the "top 1" it beats every random draw from its layer, and one seed
 * gives one set of draws.  Activation patching (probe/patch.c): neuron 1.5's
 * activation at 'J' patched from "abJ" into "abx" brings log p(Q) back to
 * the clean value; another neuron's does nothing.  Top examples (probe/topex.c):
 * over a small corpus the two 'J' tokens are neuron 1.5's top two, and the k
 * kept are the k largest of all activations, in order. */
#include "check.h"
#include "tiny.h"
#include "../model/model.h"
#include "../probe/analysis.h"
#include "../probe/patch.h"
#include "../probe/topex.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* what an_progress reports: the calls, the last (done, total), rising? */
typedef struct pg_count {
	int calls, monotone;
	long done, total;
} pg_count;

static void count_progress(void *user, long done, long total)
{
	pg_count *c = user;
	c->monotone = c->calls ? c->monotone && done > c->done : 1;
	c->calls++, c->done = done, c->total = total;
}

int main(void)
{
	fp_model *m = NULL;
	fp_error err = {0};
	CHECK(tiny_load_plant(&m, &err) == 0, "planted model: %s", err.msg);
	if (!m)
		return check_done("test_neurons");
	int F = m->cfg.d_mlp, V = m->cfg.n_vocab, NF = m->cfg.n_layers * F, top[3];
	CHECK(an_promotes(m, 1, 5, 1.0f, 3, top) == 0 && top[0] == 'Q', "neuron 1.5 promotes 'Q' first (got %d)", top[0]);
	int32_t ids[3] = {'a', 'b', 'J'};
	float *logits = malloc((size_t)V * sizeof *logits), *eff = malloc((size_t)NF * sizeof *eff);
	fp_model_forward(m, ids, 3, NULL, logits, &err);
	double clean = an_logprob(logits, V, 'Q', NULL);
	int cand[NF];
	for (int i = 0; i < NF; i++)
		cand[i] = i, eff[i] = NAN;
	pg_count pc = {0};
	an_progress pg = {count_progress, &pc};
	CHECK(an_ablate_each(m, ids, 3, 2, cand, NF, NULL, 'Q', -1, clean, eff, &pg, &err) == 0, "every neuron ablated: %s",
	      err.msg);
	CHECK(pc.calls >= 1 && pc.done == NF && pc.total == NF && pc.monotone,
	      "the progress callback ran %d times, rising to %ld of %ld groups (%d neurons)", pc.calls, pc.done, pc.total, NF);
	double other = 0;
	for (int i = 0; i < NF; i++)
		if (i != F + 5)
			other = fmax(other, fabs(eff[i]));
	printf("     log p(Q) drop: neuron 1.5 %.3f, largest other %.4f\n", eff[F + 5], other);
	CHECK(eff[F + 5] > 10 * other + 1, "1.5's drop dwarfs every other neuron's");
	int one = F + 5;
	double t1, t2, r1[8], r2[8];
	CHECK(an_ablate_random(m, ids, 3, 2, &one, 1, 8, 7, NULL, 'Q', -1, &t1, r1, NULL, &err) == 0 &&
		      an_ablate_random(m, ids, 3, 2, &one, 1, 8, 7, NULL, 'Q', -1, &t2, r2, NULL, &err) == 0,
	      "ablate the top 1 against 8 random draws, twice: %s", err.msg);
	int beats = 1;
	for (int r = 0; r < 8; r++)
		beats &= t1 < r1[r] - 1;
	CHECK(beats && !memcmp(r1, r2, sizeof r1) && t1 == t2, "1.5 beats every random draw; one seed, one set of draws");
	/* as effects: clean minus each metric, with the draws' summary (by hand from r1) */
	an_random_cmp cmp;
	CHECK(an_compare_random(m, ids, 3, 2, &one, 1, 8, 7, NULL, 'Q', -1, clean, &cmp, NULL, &err) == 0,
	      "an_compare_random: %s", err.msg);
	double mean = 0, ss = 0, lo = INFINITY, hi = -INFINITY, dev = fabs(cmp.top_effect - (clean - t1));
	for (int r = 0; r < 8; r++) {
		double e = clean - r1[r];
		dev = fmax(dev, fabs(cmp.effects[r] - e));
		mean += e / 8, lo = fmin(lo, e), hi = fmax(hi, e);
	}
	for (int r = 0; r < 8; r++)
		ss += (clean - r1[r] - mean) * (clean - r1[r] - mean);
	CHECK_CLOSE(dev, 0, "an_compare_random: clean - metric, for the top 1 and each of the 8 draws");
	CHECK_CLOSE(fabs(cmp.draws.mean - mean) + fabs(cmp.draws.sd - sqrt(ss / 7)), 1e-9,
		    "the draws' mean and sd (n - 1) against the sums here");
	CHECK(cmp.draws.min == lo && cmp.draws.max == hi && cmp.top_metric == t1, "the draws' min %g and max %g", lo, hi);
	an_random_cmp_free(&cmp);
	/* relative: the drop is ~68 nats in float32 logits, from passes packed differently */
	CHECK_CLOSE(fabs((clean - t1) - eff[F + 5]) / eff[F + 5], 1e-6, "the top-1 group's drop equals 1.5 ablated alone");
	int32_t bad[3] = {'a', 'b', 'x'};
	int pos[1] = {2}, col5[1] = {5}, col4[1] = {4};
	double mc, mx, mp, mp4;
	pt_spec ps = {FP_HOOK_MLP_POST, 1, 1, 1, pos, pos, col5, 1, NULL};
	CHECK(pt_patch(m, ids, 3, bad, 3, &ps, 'Q', -1, &mc, &mx, &mp, &err) == 0, "patch 1.5: %s", err.msg);
	ps.cols = col4;
	pt_patch(m, ids, 3, bad, 3, &ps, 'Q', -1, &mc, &mx, &mp4, &err);
	printf("     log p(Q): clean %.4f, corrupted (abx) %.3f, 1.5 patched %.4f, 1.4 patched %.3f\n", mc, mx, mp, mp4);
	CHECK_CLOSE(fabs(mp - mc), 1e-3, "patching 1.5 at 'J' restores the clean log p(Q)");
	CHECK_CLOSE(fabs(mp4 - mx) / fabs(mc - mx), 0.01, "patching 1.4 restores under 1%% of the gap (fraction)");
	const char *corpus[3] = {"the cat", "abJ x", "yJz"};
	tx_set ts, all;
	tx_init(&ts, 1, 5, FP_HOOK_MLP_POST, 2, 1), tx_init(&all, 1, 5, FP_HOOK_MLP_POST, 100, 0);
	for (int i = 0; i < 3; i++) {
		int32_t *cid = NULL;
		int cn = 0;
		fp_tokenize(m->tok, corpus[i], strlen(corpus[i]), -1, &cid, &cn, &err);
		tx_prompt(m, &ts, cid, cn, i + 1, &err), tx_prompt(m, &all, cid, cn, i + 1, &err);
		free(cid);
	}
	tx_sort(&ts), tx_sort(&all);
	CHECK(ts.have == 2 && ts.ex[0].ctx[ts.ex[0].at] == 'J' && ts.ex[1].ctx[ts.ex[1].at] == 'J' && ts.n_tokens == 12,
	      "the 2 'J' tokens are 1.5's top 2 of %ld tokens", ts.n_tokens);
	CHECK(all.have == 12 && ts.ex[0].act == all.ex[0].act && ts.ex[1].act == all.ex[1].act && all.ex[1].act >= all.ex[2].act,
	      "the kept are the largest of all, in order");
	CHECK(ts.ex[0].n_ctx <= 3 && ts.ex[0].ctx[ts.ex[0].at] == 'J', "context 1: at most 3 tokens around the mark");
	tx_free(&ts), tx_free(&all);
	free(logits), free(eff);
	fp_model_free(m);
	return check_done("test_neurons");
}
