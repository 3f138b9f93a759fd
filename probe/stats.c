/* stats.c - see stats.h. */
#include "stats.h"

#include <math.h>
#include <stdlib.h>

uint64_t st_rng_next(st_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t st_rng_below(st_rng *r, uint64_t n)
{
	return st_rng_next(r) % n;
}

double st_rng_gauss(st_rng *r)
{
	double u1 = ((st_rng_next(r) >> 11) + 1.0) / 9007199254740993.0; /* (0, 1] */
	double u2 = (st_rng_next(r) >> 11) / 9007199254740992.0;          /* [0, 1) */
	return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

void st_shuffle(st_rng *r, int *a, int n)
{
	for (int i = n - 1; i > 0; i--) {
		int j = (int)st_rng_below(r, (uint64_t)(i + 1)), t = a[i];
		a[i] = a[j], a[j] = t;
	}
}

long *st_sample(st_rng *r, long rows, long n)
{
	long *idx = malloc((size_t)(rows > 0 ? rows : 1) * sizeof *idx);
	if (!idx)
		return NULL;
	for (long i = 0; i < rows; i++)
		idx[i] = i;
	for (long i = 0; i < n; i++) {
		long j = i + (long)st_rng_below(r, (uint64_t)(rows - i)), t = idx[i];
		idx[i] = idx[j], idx[j] = t;
	}
	return idx;
}

double st_acc_mean(const st_acc *a)
{
	return a->n > 0 ? a->s / a->n : NAN;
}

double st_acc_var(const st_acc *a)
{
	return a->n > 1 ? (a->ss - a->s * a->s / a->n) / (a->n - 1) : NAN;
}

double st_acc_sd(const st_acc *a)
{
	double v = st_acc_var(a);
	return isnan(v) ? v : v > 0 ? sqrt(v) : 0;
}

double st_acc_se(const st_acc *a)
{
	return st_acc_sd(a) / sqrt(a->n);
}

void st_mean_sd(const double *x, long n, double *mean, double *sd)
{
	double s = 0, ss = 0;
	for (long i = 0; i < n; i++)
		s += x[i];
	*mean = n ? s / n : NAN;
	for (long i = 0; i < n; i++)
		ss += (x[i] - *mean) * (x[i] - *mean);
	*sd = n > 1 ? sqrt(ss / (n - 1)) : NAN;
}

st_summary st_summarize(const double *x, long n)
{
	st_summary s = {NAN, NAN, NAN, NAN};
	st_mean_sd(x, n, &s.mean, &s.sd);
	for (long i = 0; i < n; i++) /* fmin and fmax pass over a NaN */
		s.min = fmin(s.min, x[i]), s.max = fmax(s.max, x[i]);
	return s;
}

double st_cohens_d(const st_acc *a, const st_acc *b)
{
	if (a->n < 2 || b->n < 2)
		return NAN;
	double sp = sqrt(((a->n - 1) * st_acc_var(a) + (b->n - 1) * st_acc_var(b)) / (a->n + b->n - 2));
	return sp > 0 ? (st_acc_mean(a) - st_acc_mean(b)) / sp : 0;
}

st_hist st_hist_range(double lo, double hi, int bins)
{
	return (st_hist){lo, hi > lo ? (hi - lo) / bins : 1, bins};
}

st_hist st_hist_span(const double *x, long n, int bins)
{
	double lo = INFINITY, hi = -INFINITY;
	for (long i = 0; i < n; i++)
		if (isfinite(x[i]))
			lo = x[i] < lo ? x[i] : lo, hi = x[i] > hi ? x[i] : hi;
	return st_hist_range(lo <= hi ? lo : 0, lo <= hi ? hi : 0, bins);
}

int st_hist_bin(const st_hist *h, double x)
{
	double q = (x - h->lo) / h->width; /* compared before the cast: an infinite or huge q has no int */
	if (isnan(q))
		return -1;
	return q < 1 ? 0 : q >= h->bins - 1 ? h->bins - 1 : (int)q;
}

double st_hist_centre(const st_hist *h, int b)
{
	return h->lo + (b + 0.5) * h->width;
}

double st_hist_count(const st_hist *h, const double *x, long n, const char *sel, int want, double *count)
{
	double total = 0;
	for (int b = 0; b < h->bins; b++)
		count[b] = 0;
	for (long i = 0; i < n; i++) {
		int b = sel && sel[i] != want ? -1 : st_hist_bin(h, x[i]);
		if (b >= 0)
			count[b]++, total++;
	}
	return total;
}

typedef struct order_ctx {
	const float *key;
	int by_abs;
} order_ctx;

static int by_key_desc(const void *a, const void *b, void *ctx)
{
	const order_ctx *c = ctx;
	int i = *(const int *)a, j = *(const int *)b;
	float x = c->key[i], y = c->key[j];
	if (c->by_abs)
		x = fabsf(x), y = fabsf(y);
	if (isnan(x) || isnan(y))
		return isnan(x) && isnan(y) ? i - j : isnan(x) ? 1 : -1;
	return x < y ? 1 : x > y ? -1 : i - j;
}

void st_order_desc(const float *key, int n, int by_abs, int *order)
{
	order_ctx c = {key, by_abs};
	for (int i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, (size_t)n, sizeof *order, by_key_desc, &c);
}

typedef struct scored {
	float x;
	char pos;
} scored;

static int by_score(const void *a, const void *b)
{
	float x = ((const scored *)a)->x, y = ((const scored *)b)->x;
	return x < y ? -1 : x > y;
}

double st_auroc(const float *score, const char *label, const int *idx, int n)
{
	scored *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
	if (!v)
		return NAN;
	double n_pos = 0;
	for (int i = 0; i < n; i++) {
		int k = idx ? idx[i] : i;
		v[i] = (scored){score[k], label[k] != 0};
		n_pos += v[i].pos;
	}
	qsort(v, (size_t)n, sizeof *v, by_score);
	/* U = sum over positives of (negatives below + half the negatives tied) */
	double u = 0, neg_below = 0;
	for (int i = 0; i < n;) {
		int j = i;
		double tie_pos = 0, tie_neg = 0;
		while (j < n && v[j].x == v[i].x)
			tie_pos += v[j].pos, tie_neg += !v[j].pos, j++;
		u += tie_pos * (neg_below + 0.5 * tie_neg);
		neg_below += tie_neg;
		i = j;
	}
	free(v);
	double n_neg = n - n_pos;
	return n_pos > 0 && n_neg > 0 ? u / (n_pos * n_neg) : NAN;
}

double st_auroc_se(double A, double n_pos, double n_neg)
{
	double q1 = A / (2 - A), q2 = 2 * A * A / (1 + A);
	return sqrt((A * (1 - A) + (n_pos - 1) * (q1 - A * A) + (n_neg - 1) * (q2 - A * A)) / (n_pos * n_neg));
}
