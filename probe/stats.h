/* stats.h - the statistics the query commands share: one seeded random
 * generator passed explicitly, running means and standard deviations, a
 * sample's summary, equal-width histograms, AUROC with its standard error,
 * and Cohen's d.  Library code: no output,
 * no global state.
 *
 * The generator is splitmix64 (Steele, Lea and Flood 2014; the constants of
 * Vigna's reference splitmix64.c): state += 0x9e3779b97f4a7c15, then two
 * xor-shift-multiply rounds.  Gaussians are Box-Muller from two draws.  The
 * same seed gives the same stream on every platform. */
#ifndef STATS_H
#define STATS_H

#include <stdint.h>

/* ---- random numbers ---- */

typedef struct st_rng {
	uint64_t s;
} st_rng;

/* the generator whose first draw follows state seed (the state is the seed) */
static inline st_rng st_rng_seed(uint64_t seed)
{
	return (st_rng){seed};
}
uint64_t st_rng_next(st_rng *r);
/* uniform in [0, n) (by remainder; n > 0) */
uint64_t st_rng_below(st_rng *r, uint64_t n);
/* standard normal (Box-Muller, one of the pair; two draws) */
double st_rng_gauss(st_rng *r);
/* uniform random permutation of a[0..n) (Fisher-Yates from the end) */
void st_shuffle(st_rng *r, int *a, int n);
/* n of the indices 0..rows-1 drawn uniformly without replacement, in the
 * order drawn: the first n entries of the returned idx[rows] (malloc'ed;
 * the rest are the indices not drawn).  A partial Fisher-Yates from the
 * front: draw i swaps entry i with entry i + st_rng_below(rows - i).
 * 0 <= n <= rows; NULL when out of memory. */
long *st_sample(st_rng *r, long rows, long n);

/* ---- means and spreads ---- */

/* Running sums of a sample: st_acc a = {0}; st_acc_add(&a, x) ... */
typedef struct st_acc {
	double n, s, ss;
} st_acc;

static inline void st_acc_add(st_acc *a, double x)
{
	a->n += 1, a->s += x, a->ss += x * x;
}
/* mean (NaN when empty) */
double st_acc_mean(const st_acc *a);
/* sample variance, n - 1 in the denominator (NaN below 2; may be slightly
 * negative from rounding when all values are equal) */
double st_acc_var(const st_acc *a);
/* sample standard deviation (NaN below 2 values, 0 where rounding makes the
 * variance negative) and the standard error of the mean, sd / sqrt(n) */
double st_acc_sd(const st_acc *a);
double st_acc_se(const st_acc *a);

/* Two-pass mean and sample standard deviation of x[0..n) (NaN where
 * undefined: n = 0 for the mean, n < 2 for sd). */
void st_mean_sd(const double *x, long n, double *mean, double *sd);

/* A sample's mean, sample standard deviation (n - 1 in the denominator;
 * NaN below 2 values), minimum and maximum (NaN values skipped by these
 * two; all four NaN when n = 0). */
typedef struct st_summary {
	double mean, sd, min, max;
} st_summary;
st_summary st_summarize(const double *x, long n);

/* Cohen's d of group a against group b: (mean a - mean b) / pooled sd, the
 * pooled variance ((na-1) va + (nb-1) vb) / (na + nb - 2).  0 when the
 * pooled sd is 0; NaN when a group has fewer than 2 values. */
double st_cohens_d(const st_acc *a, const st_acc *b);

/* ---- histograms ---- */

/* bins equal-width bins from lo: bin b holds [lo + b width, lo + (b + 1)
 * width); a value below lo counts in the first bin, one at or above the
 * last edge (lo + bins width) in the last. */
typedef struct st_hist {
	double lo, width;
	int bins;
} st_hist;

/* bins bins spanning [lo, hi]: width (hi - lo) / bins, or 1 when hi <= lo */
st_hist st_hist_range(double lo, double hi, int bins);
/* bins bins spanning the finite values of x[0..n) (lo 0 when there is none) */
st_hist st_hist_span(const double *x, long n, int bins);
/* the bin of x (clamped to 0..bins-1 as above), or -1 for NaN */
int st_hist_bin(const st_hist *h, double x);
/* the centre of bin b, lo + (b + 1/2) width */
double st_hist_centre(const st_hist *h, int b);
/* count[0..bins) (set, not added to): how many x[i] fall in each bin, of
 * those with sel[i] == want (every one when sel is NULL); returns how many
 * were counted (a NaN value is not). */
double st_hist_count(const st_hist *h, const double *x, long n, const char *sel, int want, double *count);

/* ---- ranking ---- */

/* order[0..n): the indices of key sorted by key (by_abs: by |key|)
 * descending; NaN last, ties by index. */
void st_order_desc(const float *key, int n, int by_abs, int *order);

/* ---- ranking quality ---- */

/* AUROC of score for the positives (label[i] != 0) against the negatives,
 * over the items idx[0..n) (idx NULL: items 0..n-1): the probability that a
 * random positive scores above a random negative, ties counting half (the
 * Mann-Whitney U / (n_pos n_neg)).  NaN when a class is empty.  O(n log n).
 * Scores must not be NaN (a NaN ties with nothing and sorts arbitrarily). */
double st_auroc(const float *score, const char *label, const int *idx, int n);
/* Standard error of an AUROC A from n_pos positives and n_neg negatives
 * (Hanley and McNeil 1982, eq. 2). */
double st_auroc_se(double A, double n_pos, double n_neg);

#endif
