/* select.c - see select.h. */
#include "select.h"
#include "stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *trim(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return strndup(s, n);
}

void sel_free(sel_data *d)
{
	if (d->labels)
		for (long p = 0; p < d->P; p++)
			free(d->labels[p]);
	free(d->labels), free(d->groups), free(d->layers), free(d->X);
	memset(d, 0, sizeof *d);
}

int sel_find_group(const sel_data *d, const char *name)
{
	char *t = trim(name);
	int g = -1;
	for (int i = 0; t && i < d->n_groups && g < 0; i++)
		if (!strcmp(d->groups[i], t))
			g = i;
	free(t);
	return g;
}

int sel_load(h5rec_in *rec, const h5rec_meta *mt, const char *path, const char *field, sel_data *d, fp_error *err)
{
	memset(d, 0, sizeof *d);
	long P = mt->n_prompts, *row_start = NULL, *n_rows = NULL;
	int L = mt->n_layers, F = mt->d_mlp, rc = 0;
	d->P = P, d->F = F;
	if (P < 4)
		return fp_error_set(err, FP_ERR_INVALID, "'%s' holds %ld prompts; group statistics need at least 4", path, P);
	if ((rc = h5rec_strings(rec, field, &d->labels, err)))
		goto done;
	row_start = malloc((size_t)P * sizeof *row_start);
	n_rows = malloc((size_t)P * sizeof *n_rows);
	d->groups = calloc((size_t)P, sizeof *d->groups);
	d->layers = malloc((size_t)L * sizeof *d->layers);
	if (!row_start || !n_rows || !d->groups || !d->layers) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		goto done;
	}
	if ((rc = h5rec_longs(rec, "prompts/row_start", row_start, P, err)) ||
	    (rc = h5rec_longs(rec, "prompts/n_rows", n_rows, P, err)))
		goto done;
	for (long p = 0; p < P; p++) {
		if (n_rows[p] < 1) {
			rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': prompt %ld has no recorded rows", path, p);
			goto done;
		}
		char *t = trim(d->labels[p]);
		free(d->labels[p]);
		d->labels[p] = t;
		if (!t) {
			rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
			goto done;
		}
		if (!*t) {
			rc = fp_error_set(err, FP_ERR_INVALID,
					  "'%s': prompt %ld has an empty '%s'; --group-by needs it for every prompt", path, p,
					  field);
			goto done;
		}
		if (sel_find_group(d, t) < 0)
			d->groups[d->n_groups++] = t;
	}
	for (int l = 0; l < L; l++) {
		char hn[96];
		snprintf(hn, sizeof hn, "blocks.%d.mlp.hook_post", l);
		if (h5rec_has(rec, hn))
			d->layers[d->nl++] = l;
	}
	if (d->nl == 0) {
		rc = fp_error_set(err, FP_ERR_INVALID,
				  "'%s' holds no blocks.L.mlp.hook_post; record it with: factprobe record "
				  "--hooks 'blocks.*.mlp.hook_post' --positions subject-last ...", path);
		goto done;
	}
	d->X = malloc((size_t)d->nl * P * F * sizeof *d->X);
	if (!d->X) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory (%d layers x %ld prompts x %d neurons)", d->nl, P, F);
		goto done;
	}
	for (int li = 0; li < d->nl; li++) {
		char hn[96];
		snprintf(hn, sizeof hn, "blocks.%d.mlp.hook_post", d->layers[li]);
		for (long p = 0; p < P; p++) {
			int w;
			if ((rc = h5rec_read(rec, hn, row_start[p] + n_rows[p] - 1, 1, d->X + ((size_t)li * P + p) * F, &w,
					     err)))
				goto done;
			if (w != F) {
				rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': %s has width %d, not d_mlp %d", path, hn, w, F);
				goto done;
			}
		}
	}
done:
	free(row_start), free(n_rows);
	if (rc)
		sel_free(d);
	return rc;
}

void sel_split(const sel_data *d, double holdout, uint64_t seed, char *is_test)
{
	int *perm = malloc((size_t)d->P * sizeof *perm);
	st_rng rng = st_rng_seed(seed);
	memset(is_test, 0, (size_t)d->P);
	for (int g = 0; perm && g < d->n_groups; g++) {
		int cnt = 0;
		for (long p = 0; p < d->P; p++)
			if (!strcmp(d->labels[p], d->groups[g]))
				perm[cnt++] = (int)p;
		st_shuffle(&rng, perm, cnt);
		int nt = (int)floor(holdout * cnt + 0.5);
		if (nt >= cnt && cnt > 1)
			nt = cnt - 1;
		for (int i = 0; i < nt; i++)
			is_test[perm[i]] = 1;
	}
	free(perm);
}

void sel_result_free(sel_result *r)
{
	free(r->top);
	r->top = NULL;
}

/* neuron i's activations over the prompts */
static const float *column(const sel_data *d, int i, float *score)
{
	int li = i / d->F, f = i % d->F;
	for (long p = 0; p < d->P; p++)
		score[p] = d->X[((size_t)li * d->P + p) * d->F + f];
	return score;
}

int sel_group(const sel_data *d, const char *is_test, int g, int stat_auroc, int k, sel_result *r, fp_error *err)
{
	long P = d->P;
	int F = d->F, NF = d->nl * F, ntr = 0, nte = 0, rc = 0;
	memset(r, 0, sizeof *r);
	char *lab = malloc((size_t)P);
	int *train = malloc((size_t)P * sizeof *train), *test = malloc((size_t)P * sizeof *test);
	int *order = malloc((size_t)NF * sizeof *order);
	float *stat = malloc((size_t)NF * sizeof *stat), *score = malloc((size_t)P * sizeof *score);
	double *zsum = calloc((size_t)P, sizeof *zsum);
	if (!lab || !train || !test || !order || !stat || !score || !zsum) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		goto done;
	}
	for (long p = 0; p < P; p++) {
		lab[p] = !strcmp(d->labels[p], d->groups[g]);
		if (is_test[p])
			test[nte++] = (int)p, r->test_in += lab[p];
		else
			train[ntr++] = (int)p, r->train_in += lab[p];
	}
	r->train_out = ntr - r->train_in, r->test_out = nte - r->test_in;
	if (r->train_in < 2 || r->train_out < 2) {
		r->skipped = 1;
		goto done;
	}
	/* d per neuron on the training split (and AUROC when ranking by it) */
	for (int i = 0; i < NF; i++) {
		const float *x = d->X + ((size_t)(i / F) * P) * F + i % F;
		st_acc in = {0}, out = {0};
		for (int t = 0; t < ntr; t++)
			st_acc_add(lab[train[t]] ? &in : &out, x[(size_t)train[t] * F]);
		stat[i] = (float)st_cohens_d(&in, &out);
	}
	if (stat_auroc) { /* AUROC only for the neurons that could rank: top 20*k by |d| */
		st_order_desc(stat, NF, 1, order);
		int ncand = 20 * k < NF ? 20 * k : NF;
		float *au = malloc((size_t)NF * sizeof *au);
		if (!au) {
			rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
			goto done;
		}
		for (int i = 0; i < NF; i++)
			au[i] = NAN;
		for (int c = 0; c < ncand; c++)
			au[order[c]] = (float)st_auroc(column(d, order[c], score), lab, train, ntr);
		memcpy(stat, au, (size_t)NF * sizeof *stat);
		free(au);
	}
	st_order_desc(stat, NF, 0, order);
	r->k = k < NF ? k : NF;
	r->top = malloc((size_t)r->k * sizeof *r->top);
	if (!r->top) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		goto done;
	}
	/* held-out: each neuron's AUROC, and the mean z-score of the top k */
	for (int j = 0; j < r->k; j++) {
		int i = order[j];
		column(d, i, score);
		st_acc in = {0}, out = {0}, all = {0};
		for (int t = 0; t < ntr; t++) {
			double x = score[train[t]];
			st_acc_add(lab[train[t]] ? &in : &out, x);
			st_acc_add(&all, x);
		}
		double mi = st_acc_mean(&in), mo = st_acc_mean(&out), mu = st_acc_mean(&all);
		double sd = sqrt(fmax(all.ss / all.n - mu * mu, 1e-12)), sign = mi >= mo ? 1 : -1;
		for (long p = 0; p < P; p++)
			zsum[p] += sign * (score[p] - mu) / sd;
		double ta = nte ? st_auroc(score, lab, test, nte) : NAN;
		r->top[j] = (sel_neuron){d->layers[i / F], i % F, stat[i], mi, mo, ta,
					 r->test_in && r->test_out ? st_auroc_se(ta, r->test_in, r->test_out) : NAN};
	}
	for (long p = 0; p < P; p++)
		score[p] = (float)zsum[p];
	r->combined_auroc = nte ? st_auroc(score, lab, test, nte) : NAN;
	r->combined_se = r->test_in && r->test_out ? st_auroc_se(r->combined_auroc, r->test_in, r->test_out) : NAN;
done:
	free(lab), free(train), free(test), free(order), free(stat), free(score), free(zsum);
	if (rc)
		sel_result_free(r);
	return rc;
}
