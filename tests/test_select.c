/* test_select.c - probe/select.c, selectivity over a recording, on planted
 * activations whose answer is known by construction: 40 prompts in groups
 * "a" (16) and "b" (24), two recorded layers (blocks 3 and 5) of 8 neurons
 * of uniform noise, except neuron 5.6, which is 2 above the noise for group
 * "a" (a perfect separator), and 3.1, which is 0.3 above (a weak one).
 * Checked: the stratified split holds out round(holdout * size) of each
 * group; 5.6 ranks first by d and by AUROC, with held-out AUROC 1; its d
 * matches a two-pass computation here; a group too small is skipped. */
#include "check.h"
#include "../probe/select.h"
#include "../probe/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { P = 40, NL = 2, F = 8 };

static void plant(sel_data *d, char *labels_a)
{
	static int layers[NL] = {3, 5};
	static float X[NL * P * F];
	static char *labels[P], *groups[2];
	static char A[] = "a", B[] = "b";
	st_rng r = st_rng_seed(11);
	for (int p = 0; p < P; p++) {
		labels_a[p] = p % 5 < 2; /* 16 of 40 */
		labels[p] = labels_a[p] ? A : B;
	}
	for (int l = 0; l < NL; l++)
		for (int p = 0; p < P; p++)
			for (int f = 0; f < F; f++) {
				float x = (float)(st_rng_next(&r) >> 40) / 16777216.0f;
				if (l == 1 && f == 6 && labels_a[p])
					x += 2;
				if (l == 0 && f == 1 && labels_a[p])
					x += 0.3f;
				X[((size_t)l * P + p) * F + f] = x;
			}
	groups[0] = labels[0], groups[1] = labels[2];
	*d = (sel_data){P, NL, F, layers, X, labels, groups, 2};
}

int main(void)
{
	sel_data d;
	char is_a[P], is_test[P], again[P], other[P];
	plant(&d, is_a);
	CHECK(!strcmp(d.groups[0], "a") && !strcmp(d.groups[1], "b"), "groups a, b");
	sel_split(&d, 0.25, 7, is_test);
	sel_split(&d, 0.25, 7, again);
	sel_split(&d, 0.25, 8, other);
	int te_a = 0, te_b = 0;
	for (int p = 0; p < P; p++)
		te_a += is_test[p] && is_a[p], te_b += is_test[p] && !is_a[p];
	CHECK(te_a == 4 && te_b == 6, "holdout 0.25 keeps round(0.25 n) of each group: %d of 16, %d of 24", te_a, te_b);
	CHECK(!memcmp(is_test, again, P) && memcmp(is_test, other, P), "one seed, one split; another seed, another");
	for (int stat_auroc = 0; stat_auroc < 2; stat_auroc++) {
		sel_result r;
		CHECK(sel_group(&d, is_test, 0, stat_auroc, 3, &r, NULL) == 0 && !r.skipped && r.k == 3,
		      "group a, top 3 by %s", stat_auroc ? "AUROC" : "d");
		if (r.skipped || !r.top)
			continue;
		CHECK(r.train_in == 12 && r.train_out == 18 && r.test_in == 4 && r.test_out == 6, "counts %d %d %d %d",
		      r.train_in, r.train_out, r.test_in, r.test_out);
		CHECK(r.top[0].layer == 5 && r.top[0].neuron == 6, "the planted 5.6 first by %s (got %d.%d)",
		      stat_auroc ? "AUROC" : "d", r.top[0].layer, r.top[0].neuron);
		CHECK(r.top[0].test_auroc == 1.0, "its held-out AUROC is 1 (%g)", r.top[0].test_auroc);
		CHECK(r.combined_auroc > 0.5, "the top 3 together beat chance though two are noise (%g)", r.combined_auroc);
		if (stat_auroc) {
			CHECK(r.top[0].stat == 1.0, "its training AUROC is 1 (%g)", r.top[0].stat);
		} else {
			/* d by two passes over the training split */
			double s[2] = {0}, n[2] = {0}, v[2] = {0};
			const float *x = d.X + ((size_t)1 * P) * F + 6;
			for (int p = 0; p < P; p++)
				if (!is_test[p])
					s[!is_a[p]] += x[(size_t)p * F], n[!is_a[p]]++;
			for (int p = 0; p < P; p++)
				if (!is_test[p]) {
					double e = x[(size_t)p * F] - s[!is_a[p]] / n[!is_a[p]];
					v[!is_a[p]] += e * e;
				}
			double dd = (s[0] / n[0] - s[1] / n[1]) / sqrt((v[0] + v[1]) / (n[0] + n[1] - 2));
			CHECK_CLOSE(fabs(r.top[0].stat - dd) / dd, 1e-6, "d of 5.6 (%.4f) against two passes (float32 stat)",
				    dd);
			CHECK_CLOSE(fabs(r.top[0].mean_in - r.top[0].mean_out - 2), 0.5,
				    "mean in - mean out of 5.6 is the planted 2 (noise of width 1)");
			CHECK(r.top[0].stat > r.top[1].stat && r.top[1].stat >= r.top[2].stat, "ranked by d, descending");
		}
		CHECK(r.top[0].test_se >= 0 && r.top[0].test_se < 0.2, "se of a perfect AUROC with 4 and 6: %g",
		      r.top[0].test_se);
		sel_result_free(&r);
	}
	/* a group with too few training prompts */
	sel_result r;
	CHECK(sel_group(&d, is_test, 0, 0, 1, &r, NULL) == 0 && r.combined_auroc == 1.0,
	      "top 1 together is 5.6 alone: AUROC 1 (%g)", r.combined_auroc);
	sel_result_free(&r);
	for (int p = 0; p < P; p++)
		is_test[p] = is_a[p] && p > 0; /* one a-prompt left for training */
	CHECK(sel_group(&d, is_test, 0, 0, 3, &r, NULL) == 0 && r.skipped && r.train_in == 1,
	      "one training prompt in the group: skipped (%d in)", r.train_in);
	sel_result_free(&r);
	return check_done("test_select");
}
