/* test_stats.c - probe/stats.c against values computed independently by
 * scripts/stats_reference.py (numpy 2.4.6, scipy 1.17.1, scikit-learn 1.9.1;
 * the command is at the top of that script).  The data sets are formulas
 * computed here and there the same way; only the results are pasted. */
#include "check.h"
#include "../probe/stats.h"

#include <math.h>
#include <stdlib.h>

/* splitmix64 (Vigna's splitmix64.c, transcribed in Python) */
static const uint64_t SPLITMIX[2][5] = {
	{0, 16294208416658607535ull, 7960286522194355700ull, 487617019471545679ull, 17909611376780542444ull},
	{1234567, 6457827717110365317ull, 3203168211198807973ull, 9817491932198370423ull, 4593380528125082431ull},
};

/* n; AUROC (sklearn roc_auc_score); U / (n1 n2) (scipy mannwhitneyu, float32
 * scores); Hanley-McNeil se; mean and sd (ddof 1) of all scores; Cohen's d of
 * the positives against the negatives (pooled sd, numpy) */
static const double REF[2][7] = {
	{10, 0.6666666666666666, 0.6666666865348816, 0.18633899812498247, 6.129999899864197, 2.4850887353824223,
	 0.9384564563788105},
	{200, 0.6405729166666667, 0.6405729055404663, 0.04048820881749967, 6.441999999955296, 3.2820718992610565,
	 0.6126708123568231},
};

/* the data of stats_reference.py's data(n) */
static void data(int n, float *score, char *label)
{
	for (int i = 0; i < n; i++) {
		label[i] = (i * 7) % 5 < 2;
		score[i] = (float)((i * 37) % 101 / 10.0 + (i % 3 == 0) * 2.5 + label[i] * 1.5);
	}
}

static void test_rng(void)
{
	for (int k = 0; k < 2; k++) {
		st_rng r = st_rng_seed(SPLITMIX[k][0]);
		int same = 1;
		for (int i = 1; i < 5; i++)
			same &= st_rng_next(&r) == SPLITMIX[k][i];
		CHECK(same, "splitmix64 seed %llu: the first 4 outputs of the reference", (unsigned long long)SPLITMIX[k][0]);
	}
	/* Box-Muller: mean 0 and variance 1 within 6 standard errors over 200000 draws */
	st_rng r = st_rng_seed(7);
	st_acc a = {0}, a2 = {0};
	int n = 200000;
	for (int i = 0; i < n; i++) {
		double g = st_rng_gauss(&r);
		st_acc_add(&a, g), st_acc_add(&a2, g * g);
	}
	CHECK_CLOSE(fabs(st_acc_mean(&a)), 6 / sqrt(n), "gaussian mean over %d draws, 6 se", n);
	CHECK_CLOSE(fabs(st_acc_mean(&a2) - 1), 6 * sqrt(2.0 / n), "gaussian variance - 1 over %d draws, 6 se", n);
	/* st_rng_below and st_shuffle: every value in range; a permutation */
	int p[50], seen[50] = {0}, ok = 1;
	for (int i = 0; i < 50; i++)
		p[i] = i;
	st_shuffle(&r, p, 50);
	for (int i = 0; i < 50; i++)
		ok &= p[i] >= 0 && p[i] < 50 && !seen[p[i]]++;
	CHECK(ok, "st_shuffle gives a permutation");
	int cnt[3] = {0};
	for (int i = 0; i < 30000; i++)
		cnt[st_rng_below(&r, 3)]++;
	CHECK(abs(cnt[0] - 10000) < 600 && abs(cnt[1] - 10000) < 600 && abs(cnt[2] - 10000) < 600,
	      "st_rng_below(3) counts %d %d %d, each 10000 +- 600 (6 sd)", cnt[0], cnt[1], cnt[2]);
	st_rng r1 = st_rng_seed(99), r2 = st_rng_seed(99);
	CHECK(st_rng_gauss(&r1) == st_rng_gauss(&r2), "one seed, one stream");
}

static void test_reference(void)
{
	for (int k = 0; k < 2; k++) {
		int n = (int)REF[k][0];
		float *score = malloc((size_t)n * sizeof *score);
		char *label = malloc((size_t)n);
		double *x = malloc((size_t)n * sizeof *x);
		int *idx = malloc((size_t)n * sizeof *idx);
		data(n, score, label);
		st_acc pos = {0}, neg = {0};
		for (int i = 0; i < n; i++) {
			x[i] = score[i], idx[i] = n - 1 - i;
			st_acc_add(label[i] ? &pos : &neg, score[i]);
		}
		double A = st_auroc(score, label, NULL, n);
		CHECK_CLOSE(fabs(A - REF[k][1]), 1e-12, "n = %d: AUROC against sklearn's %.6f", n, REF[k][1]);
		CHECK_CLOSE(fabs(A - REF[k][2]), 1e-6, "n = %d: AUROC against scipy's U / (n1 n2) in float32", n);
		CHECK_CLOSE(fabs(st_auroc(score, label, idx, n) - A), 0, "n = %d: AUROC over idx (reversed) is the same", n);
		CHECK_CLOSE(fabs(st_auroc_se(A, pos.n, neg.n) - REF[k][3]), 1e-12, "n = %d: Hanley-McNeil se", n);
		double mean, sd;
		st_mean_sd(x, n, &mean, &sd);
		CHECK_CLOSE(fabs(mean - REF[k][4]), 1e-12, "n = %d: mean against numpy", n);
		CHECK_CLOSE(fabs(sd - REF[k][5]), 1e-12, "n = %d: sd (ddof 1) against numpy", n);
		st_acc all = {0};
		for (int i = 0; i < n; i++)
			st_acc_add(&all, x[i]);
		CHECK_CLOSE(fabs(st_acc_mean(&all) - REF[k][4]) + fabs(st_acc_sd(&all) - REF[k][5]), 1e-10,
			    "n = %d: running mean and sd against numpy", n);
		CHECK_CLOSE(fabs(st_acc_se(&all) - REF[k][5] / sqrt(n)), 1e-10, "n = %d: standard error", n);
		CHECK_CLOSE(fabs(st_cohens_d(&pos, &neg) - REF[k][6]), 1e-10, "n = %d: Cohen's d against numpy", n);
		free(score), free(label), free(x), free(idx);
	}
	/* edges: one class empty, perfect separation, all tied */
	float s[4] = {1, 2, 3, 4};
	char none[4] = {0}, sep[4] = {0, 0, 1, 1};
	float tied[4] = {5, 5, 5, 5};
	CHECK(isnan(st_auroc(s, none, NULL, 4)), "AUROC with no positives is NaN");
	CHECK(st_auroc(s, sep, NULL, 4) == 1.0, "AUROC of a perfect ranking is 1");
	CHECK(st_auroc(tied, sep, NULL, 4) == 0.5, "AUROC of all ties is 0.5");
	st_acc one = {0}, c = {0};
	st_acc_add(&one, 3);
	CHECK(isnan(st_acc_sd(&one)) && isnan(st_cohens_d(&one, &one)), "sd and d of one value are NaN");
	for (int i = 0; i < 3; i++)
		st_acc_add(&c, 0.1);
	CHECK(st_acc_sd(&c) == 0 && st_cohens_d(&c, &c) == 0, "sd of equal values is 0, and so is d");
}

static void test_order(void)
{
	float k[6] = {1, NAN, -3, 2, 1, -0.5f};
	int o[6], want[6] = {3, 0, 4, 5, 2, 1}, want_abs[6] = {2, 3, 0, 4, 5, 1}, ok = 1, ok_abs = 1;
	st_order_desc(k, 6, 0, o);
	for (int i = 0; i < 6; i++)
		ok &= o[i] == want[i];
	st_order_desc(k, 6, 1, o);
	for (int i = 0; i < 6; i++)
		ok_abs &= o[i] == want_abs[i];
	CHECK(ok, "st_order_desc: descending, ties by index, NaN last");
	CHECK(ok_abs, "st_order_desc by |key|");
}

/* st_summarize by hand: {2, 4, 4, 4, 5, 5, 7, 9} has mean 5 and squared
 * deviations summing to 32, so sd = sqrt(32 / 7) (numpy: np.std(x, ddof=1)
 * = 2.138089935299395) */
static void test_summary(void)
{
	double x[9] = {2, 4, 4, 4, 5, 5, 7, 9, NAN};
	st_summary s = st_summarize(x, 8);
	CHECK_CLOSE(fabs(s.mean - 5) + fabs(s.sd - 2.138089935299395), 1e-15, "st_summarize mean 5, sd sqrt(32/7)");
	CHECK(s.min == 2 && s.max == 9, "st_summarize min 2, max 9 (got %g, %g)", s.min, s.max);
	s = st_summarize(x, 9);
	CHECK(isnan(s.mean) && isnan(s.sd) && s.min == 2 && s.max == 9,
	      "with a NaN: mean and sd NaN, min and max pass over it (got %g %g %g %g)", s.mean, s.sd, s.min, s.max);
	s = st_summarize(x + 7, 1);
	CHECK(s.mean == 9 && isnan(s.sd) && s.min == 9 && s.max == 9, "one value: sd NaN, the rest the value");
	s = st_summarize(x, 0);
	CHECK(isnan(s.mean) && isnan(s.sd) && isnan(s.min) && isnan(s.max), "no value: all NaN");
}

/* equal-width bins by hand: 4 bins over [0, 8] have edges 0 2 4 6 8; a value
 * on an inner edge opens the next bin, 8 (the last edge) is in the last;
 * numpy's np.histogram([0, 1.5, 2, 3.999, 4, 6, 8], bins=4, range=(0, 8))
 * = [2, 2, 1, 2] for the values in range; -1 and 10 are clamped into the
 * first and last bins, NaN is not counted */
static void test_hist(void)
{
	double x[10] = {0, 1.5, 2, 3.999, 4, 6, 8, -1, 10, NAN}, c[4];
	int want_bin[10] = {0, 0, 1, 1, 2, 3, 3, 0, 3, -1}, ok = 1;
	st_hist h = st_hist_range(0, 8, 4);
	for (int i = 0; i < 10; i++)
		ok &= st_hist_bin(&h, x[i]) == want_bin[i];
	CHECK(ok && h.width == 2, "st_hist_bin on edges, inside, out of range and NaN");
	CHECK(st_hist_centre(&h, 0) == 1 && st_hist_centre(&h, 3) == 7, "bin centres 1 .. 7");
	double n = st_hist_count(&h, x, 7, NULL, 0, c);
	CHECK(n == 7 && c[0] == 2 && c[1] == 2 && c[2] == 1 && c[3] == 2, "in range: numpy's [2, 2, 1, 2] (got %g %g %g %g)",
	      c[0], c[1], c[2], c[3]);
	n = st_hist_count(&h, x, 10, NULL, 0, c);
	CHECK(n == 9 && c[0] == 3 && c[1] == 2 && c[2] == 1 && c[3] == 3, "all: [3, 2, 1, 3], 9 counted, NaN not");
	char sel[10] = {1, 0, 1, 0, 1, 0, 1, 0, 1, 0};
	double c0[4], n1 = st_hist_count(&h, x, 10, sel, 1, c), n0 = st_hist_count(&h, x, 10, sel, 0, c0);
	CHECK(n1 == 5 && n0 == 4 && c[0] == 1 && c[1] == 1 && c[2] == 1 && c[3] == 2 && c0[0] == 2 && c0[1] == 1 &&
		      c0[2] == 0 && c0[3] == 1,
	      "selected (0, 2, 4, 8, 10) and the rest (1.5, 3.999, 6, -1; NaN)");
	/* the span: the finite values' range (numpy: np.histogram([3, -1, 5], bins=3) = [1, 0, 2], edges -1 1 3 5) */
	double y[5] = {3, NAN, -1, INFINITY, 5};
	h = st_hist_span(y, 5, 3);
	n = st_hist_count(&h, y, 5, NULL, 0, c);
	CHECK(h.lo == -1 && h.width == 2 && n == 4 && c[0] == 1 && c[1] == 0 && c[2] == 3,
	      "st_hist_span over the finite values; +inf in the last bin (lo %g, width %g)", h.lo, h.width);
	h = st_hist_span(y, 2, 3);
	CHECK(h.lo == 3 && h.width == 1 && st_hist_bin(&h, 3) == 0, "one finite value: width 1, it in the first bin");
	h = st_hist_span(y + 1, 1, 3);
	CHECK(h.lo == 0 && h.width == 1, "no finite value: lo 0, width 1");
}

/* st_sample: distinct indices in range; all of them a permutation; and
 * uniform: over 50000 draws of 2 from 5, each of the 20 ordered pairs ~ 1/20
 * (chi-square with 19 degrees of freedom, 43.8 its 0.999 quantile) */
static void test_sample(void)
{
	st_rng r = st_rng_seed(11);
	long *idx = st_sample(&r, 10, 10);
	int seen[10] = {0}, perm = idx != NULL;
	for (int i = 0; perm && i < 10; i++)
		perm &= idx[i] >= 0 && idx[i] < 10 && !seen[idx[i]]++;
	CHECK(perm, "st_sample of 10 from 10: a permutation");
	free(idx);
	double cnt[5][5] = {{0}}, chi = 0;
	int T = 50000, ok = 1;
	for (int t = 0; t < T && ok; t++) {
		idx = st_sample(&r, 5, 2);
		ok = idx && idx[0] >= 0 && idx[0] < 5 && idx[1] >= 0 && idx[1] < 5 && idx[0] != idx[1];
		if (ok)
			cnt[idx[0]][idx[1]]++;
		free(idx);
	}
	for (int a = 0; a < 5; a++)
		for (int b = 0; b < 5; b++)
			if (a != b)
				chi += (cnt[a][b] - T / 20.0) * (cnt[a][b] - T / 20.0) / (T / 20.0);
	CHECK(ok, "st_sample of 2 from 5: two distinct indices in range, %d times", T);
	CHECK_CLOSE(chi, 43.8, "st_sample of 2 from 5: chi-square of the 20 ordered pairs over %d draws", T);
}

int main(void)
{
	test_sample();
	test_order();
	test_summary();
	test_hist();
	test_rng();
	test_reference();
	return check_done("test_stats");
}
