/* test_factset.c - probe/factset.c, causal tracing over a fact set, on the
 * planted model (tests/tiny.h: neuron 1.5 reads 'J' and writes 'Q'), whose
 * answer is known by construction: facts whose prompt ends in J are known
 * (Q is the clean top-1), the others not; swapping J for another subject
 * (symmetric token replacement) takes Q away, and restoring the MLP output
 * of layer 1 at the J token brings it back, so the mean indirect effect sits
 * at (mlp, last subject token, layer 1).  Also: the six token categories on
 * spans worked out by hand, the replacement pairing, and the averaging (mean
 * and standard error against values computed here). */
#include "check.h"
#include "tiny.h"
#include "../model/model.h"
#include "../probe/factset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_categories(void)
{
	int a[FS_NCAT], b[FS_NCAT];
	/* 7 tokens, subject [1, 4): first 1, middle 2, last 3, first after 4, further 5, last 6 */
	fs_categories(7, 1, 4, a, b);
	int wa[FS_NCAT] = {1, 2, 3, 4, 5, 6}, wb[FS_NCAT] = {2, 3, 4, 5, 6, 7}, ok = 1;
	for (int c = 0; c < FS_NCAT; c++)
		ok &= a[c] == wa[c] && b[c] == wb[c];
	CHECK(ok, "7 tokens, subject [1, 4): one token in each category");
	/* a one-token subject that ends the prompt: no middle, no subsequent, no further */
	fs_categories(3, 2, 3, a, b);
	CHECK(b[0] - a[0] == 1 && b[1] <= a[1] && b[2] - a[2] == 1 && b[3] <= a[3] && b[4] <= a[4] && a[5] == 2 && b[5] == 3,
	      "3 tokens, subject [2, 3): first = last subject = last token; middle, subsequent, further absent");
}

static void test_acc(void)
{
	/* two prompts of 5 tokens, subject [1, 3), 2 layers; score = low + value */
	fs_acc c;
	CHECK(fs_acc_init(&c, 2, 1u << TR_MLP) == 0 && c.a[TR_MLP] && !c.a[TR_RESID], "accumulator for mlp only");
	float s1[10] = {0.1f, 0.3f, 0.5f, 0.1f, 0.1f, /* layer 1 */ 0.1f, 0.9f, 0.7f, 0.2f, 0.4f};
	float s2[10] = {0.1f, 0.5f, 0.1f, 0.3f, 0.1f, 0.1f, 0.1f, 0.1f, 0.6f, 0.2f};
	tr_result r1 = {2, 5, 1, 3, 0, 1, 0.1, {NULL, s1, NULL}, 0, 0, 0}, r2 = r1;
	r2.score[TR_MLP] = s2;
	fs_acc_add(&c, &r1);
	fs_acc_add(&c, &r2);
	double *mean, *se;
	double *rm, *rs;
	CHECK(fs_acc_result(&c, TR_RESID, &rm, &rs) == -1 && !rm && !rs, "no result for a kind not traced");
	CHECK(fs_acc_result(&c, TR_MLP, &mean, &se) == 0, "the mlp result");
	/* layer 1, last subject token (token 2): values 0.6 and 0.0; further tokens [4, 4) absent */
	double m = (0.6 + 0.0) / 2, sd = sqrt(((0.6 - m) * (0.6 - m) + (0.0 - m) * (0.0 - m)) / 1);
	CHECK_CLOSE(fabs(mean[2 * 2 + 1] - m) + fabs(se[2 * 2 + 1] - sd / sqrt(2)), 1e-6,
		    "mean and se at (last subject, layer 1): %.3f +- %.3f", m, sd / sqrt(2));
	/* layer 0, first subsequent token (token 3): 0.0 and 0.2 */
	CHECK_CLOSE(fabs(mean[3 * 2 + 0] - 0.1), 1e-6, "mean at (first subsequent, layer 0)");
	CHECK(c.n[0] == 2 && c.n[1] == 0 && c.n[4] == 0 && isnan(mean[1 * 2]) && isnan(se[4 * 2]),
	      "absent categories: n 0, mean and se NaN");
	free(mean), free(se);
	fs_acc_free(&c);
}

int main(void)
{
	test_categories();
	test_acc();
	fp_model *m = NULL;
	fp_error err = {0};
	CHECK(tiny_load_plant(&m, &err) == 0, "the planted model loads: %s", err.msg);
	if (!m)
		return check_done("test_factset");
	/* the planted set: facts ending in J are known, the others not */
	const char *text[] = {"xyJ", "qrs J", "abx", "ab yy", "bcJ", "the J z"}, *subj[] = {"J", "J", "x", "yy", "J", "J"};
	fs_set s = {0};
	int added = 1;
	for (int i = 0; i < 6; i++)
		added &= fs_add(&s, m, text[i], strlen(text[i]), subj[i], "Q", i + 2, 0, &err) == 0;
	CHECK(added && s.n == 6 && s.f[1].s0 == 4 && s.f[1].s1 == 5 && s.f[0].answer == 'Q', "6 facts added: %s", err.msg);
	CHECK(fs_add(&s, m, "abc", 3, "Z", "Q", 9, 0, &err) < 0 && strstr(err.msg, "field 'subject'") && s.n == 6,
	      "a subject not in the prompt: not added, %s", err.msg);
	int known = fs_mark_known(m, &s, NULL, NULL, &err);
	CHECK(known == 3 && s.f[0].known && s.f[1].known && s.f[4].known && !s.f[2].known,
	      "the facts ending in J are the known ones (%d)", known);
	/* replacement: J swapped for x (the only other one-token subject) */
	st_rng rng = st_rng_seed(1);
	int32_t *rid = fs_replacement(m, &s, 0, &rng);
	CHECK(rid && rid[0] == 'x' && rid[1] == 'y' && rid[2] == 'x', "xyJ's replacement is xyx");
	free(rid);
	fs_set same = {0};
	fs_add(&same, m, "xyJ", 3, "J", "Q", 1, 0, &err), fs_add(&same, m, "bcJ", 3, "J", "Q", 2, 0, &err);
	CHECK(!fs_replacement(m, &same, 0, &rng), "no replacement when every subject is the same");
	fs_free(&same);
	/* the whole method: symmetric replacement, the MLP restored one layer at a time */
	fs_acc c;
	fs_acc_init(&c, m->cfg.n_layers, 1u << TR_MLP);
	fs_totals t;
	tr_opts to = {1u << TR_MLP, 1, 1, 0, 5, NULL, 0, NULL, NULL};
	rng = st_rng_seed(1);
	CHECK(fs_trace(m, &s, &to, 1, 0, &rng, &c, &t, NULL, NULL, &err) == 0 && t.traced == 3,
	      "the 3 known facts traced: %s", err.msg);
	double *mean, *se;
	if (fs_acc_result(&c, TR_MLP, &mean, &se) == 0) {
		int L = m->cfg.n_layers;
		double ie1 = mean[2 * L + 1], ie0 = mean[2 * L + 0];
		printf("     clean p %.3f, corrupted %.3f; mlp IE at the last subject token: layer 0 %.3f, layer 1 %.3f +- %.3f\n",
		       t.high / t.traced, t.low / t.traced, ie0, ie1, se[2 * L + 1]);
		CHECK(ie1 > 0.5 && ie1 > 3 * fabs(ie0), "the effect sits at (mlp, last subject token, layer 1)");
		CHECK(c.n[2] == 3 && c.n[5] == 3, "every traced prompt has a last subject and a last token");
		free(mean), free(se);
	}
	fs_acc_free(&c);
	fs_free(&s);
	fp_model_free(m);
	return check_done("test_factset");
}
