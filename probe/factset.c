/* factset.c - see factset.h. */
#include "factset.h"
#include "analysis.h"
#include "parse.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const FS_CAT_NAME[FS_NCAT] = {"first subject token", "middle subject tokens", "last subject token",
					   "first subsequent token", "further tokens", "last token"};

int fs_subject_tokens(const fp_model *m, const char *text, const char *subject, const int32_t *ids, int n,
		      int has_bos, int cover, int *s0, int *s1, fp_error *err)
{
	if (an_subject_span(m, text, subject, ids, n, has_bos, s0, s1))
		return fp_error_set(err, FP_ERR_INVALID, "the subject '%s' is not in the prompt '%s'", subject, text);
	size_t sb = (size_t)(strstr(text, subject) - text), se = sb + strlen(subject), off = 0, tb = 0, te = 0;
	char tmp[1024];
	for (int t = 0; t < *s1; t++) {
		size_t len = t == 0 && has_bos ? 0 : (size_t)fp_token_decode(m->tok, ids[t], tmp, sizeof tmp);
		if (t == *s0)
			tb = off;
		off += len;
		if (t == *s1 - 1)
			te = off;
	}
	int start_ok = tb == sb || (tb + 1 == sb && text[tb] == ' ');
	if ((!start_ok || te != se) && cover)
		return 1;
	if (!start_ok || te != se) {
		char span[512] = "";
		size_t o = 0;
		for (int t = *s0; t < *s1 && o < sizeof span - 64; t++) {
			int l = fp_token_decode(m->tok, ids[t], tmp, sizeof tmp);
			o += (size_t)snprintf(span + o, sizeof span - o, "%s'%.*s'", t > *s0 ? " + " : "", l < 60 ? l : 60, tmp);
		}
		return fp_error_set(err, FP_ERR_INVALID,
				    "the subject '%s' tokenizes differently inside the prompt '%s': the tokens there are %s, "
				    "which %s; give the subject as those whole tokens",
				    subject, text, span, !start_ok ? "start before it" : "end after it");
	}
	return 0;
}

static void fact_free(fs_fact *f)
{
	free(f->text), free(f->subject), free(f->target), free(f->ids);
}

void fs_free(fs_set *s)
{
	for (int i = 0; i < s->n; i++)
		fact_free(&s->f[i]);
	free(s->f);
	memset(s, 0, sizeof *s);
}

int fs_add(fs_set *s, const fp_model *m, const char *text, size_t len, const char *subject, const char *target,
	   long line, int cover, fp_error *err)
{
	if (s->n == s->cap) {
		int cap = s->cap ? 2 * s->cap : 64;
		fs_fact *nf = realloc(s->f, (size_t)cap * sizeof *nf);
		if (!nf)
			return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		s->f = nf, s->cap = cap;
	}
	fs_fact *f = &s->f[s->n];
	memset(f, 0, sizeof *f);
	f->text = strndup(text, len), f->subject = strdup(subject), f->target = strdup(target);
	f->line = line;
	int rc = 0, cov = 0;
	char msg[sizeof err->msg + 64];
	if (!f->text || !f->subject || !f->target)
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	else if ((rc = fp_tokenize(m->tok, f->text, len, -1, &f->ids, &f->n, err)) || f->n == 0)
		rc = rc ? rc : fp_error_set(err, FP_ERR_INVALID, "no tokens");
	else if ((cov = fs_subject_tokens(m, f->text, f->subject, f->ids, f->n, ps_has_bos(m, f->ids, f->n, -1), cover,
					  &f->s0, &f->s1, err)) < 0) {
		snprintf(msg, sizeof msg, "field 'subject': %s", err->msg);
		rc = fp_error_set(err, cov, "%s", msg);
	} else if ((rc = an_target_token(m, f->target, 1, &f->answer, err))) {
		snprintf(msg, sizeof msg, "field 'target': %s", err->msg);
		rc = fp_error_set(err, rc, "%s", msg);
	}
	if (rc) {
		fact_free(f);
		return rc;
	}
	s->n++;
	return cov;
}

int fs_mark_known(fp_model *m, fs_set *s, void (*progress)(void *user, long done, long total), void *user,
		  fp_error *err)
{
	int V = m->cfg.n_vocab, known = 0;
	float *logits = malloc((size_t)V * sizeof *logits);
	if (!logits)
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	for (int i = 0; i < s->n; i++) {
		if (progress)
			progress(user, i, s->n);
		int rc = fp_model_forward(m, s->f[i].ids, s->f[i].n, NULL, logits, err);
		if (rc) {
			char msg[sizeof err->msg + 64];
			snprintf(msg, sizeof msg, "line %ld: %s", s->f[i].line, err->msg);
			free(logits);
			return fp_error_set(err, rc, "%s", msg);
		}
		int top;
		an_top_k(logits, V, 1, &top);
		s->f[i].known = top == s->f[i].answer;
		known += s->f[i].known;
	}
	free(logits);
	return known;
}

int32_t *fs_replacement(const fp_model *m, const fs_set *s, int i, st_rng *rng)
{
	const fs_fact *f = &s->f[i];
	const char *at = strstr(f->text, f->subject);
	if (!at)
		return NULL;
	int nf = s->n, start = (int)st_rng_below(rng, (uint64_t)nf);
	for (int q = 0; q < nf; q++) {
		const fs_fact *g = &s->f[(start + q) % nf];
		if (g == f || !strcmp(g->subject, f->subject) || g->s1 - g->s0 != f->s1 - f->s0)
			continue;
		size_t pre = (size_t)(at - f->text), sl = strlen(f->subject), gl = strlen(g->subject);
		size_t tl = strlen(f->text) - sl + gl;
		char *t = malloc(tl + 1);
		if (!t)
			return NULL;
		memcpy(t, f->text, pre);
		memcpy(t + pre, g->subject, gl);
		strcpy(t + pre + gl, at + sl);
		int32_t *ids = NULL;
		int n = 0;
		fp_error e = {0};
		int same = !fp_tokenize(m->tok, t, tl, -1, &ids, &n, &e) && n == f->n;
		for (int k = 0; same && k < n; k++)
			if ((k < f->s0 || k >= f->s1) && ids[k] != f->ids[k])
				same = 0;
		free(t);
		if (same)
			return ids;
		free(ids);
	}
	return NULL;
}

void fs_categories(int n, int s0, int s1, int a[FS_NCAT], int b[FS_NCAT])
{
	int ca[FS_NCAT] = {s0, s0 + 1, s1 - 1, s1, s1 + 1, n - 1}, cb[FS_NCAT] = {s0 + 1, s1 - 1, s1, s1 + 1, n - 1, n};
	if (s1 >= n)
		ca[3] = cb[3] = 0; /* no subsequent token */
	memcpy(a, ca, sizeof ca), memcpy(b, cb, sizeof cb);
}

int fs_acc_init(fs_acc *c, int n_layers, unsigned kinds)
{
	memset(c, 0, sizeof *c);
	c->n_layers = n_layers;
	for (int k = 0; k < TR_NKINDS; k++)
		if ((kinds & (1u << k)) && !(c->a[k] = calloc((size_t)FS_NCAT * n_layers, sizeof(st_acc)))) {
			fs_acc_free(c);
			return -1;
		}
	return 0;
}

void fs_acc_free(fs_acc *c)
{
	for (int k = 0; k < TR_NKINDS; k++)
		free(c->a[k]), c->a[k] = NULL;
}

void fs_record(const fs_acc *c, const tr_result *r, double *rec)
{
	int n = r->n_tok, L = c->n_layers, a[FS_NCAT], b[FS_NCAT];
	double *pres = rec + 5, *scored = pres + FS_NCAT, *val = scored + TR_NKINDS;
	for (int k = 0; k < TR_NKINDS; k++)
		scored[k] = r->score[k] != NULL;
	rec[0] = r->high, rec[1] = r->low, rec[2] = r->evals, rec[3] = r->evals_naive, rec[4] = (double)r->passes;
	memset(val, 0, (size_t)TR_NKINDS * FS_NCAT * L * sizeof *val);
	fs_categories(n, r->s0, r->s1, a, b);
	for (int cat = 0; cat < FS_NCAT; cat++) {
		pres[cat] = b[cat] > a[cat];
		if (b[cat] <= a[cat])
			continue;
		for (int k = 0; k < TR_NKINDS; k++) {
			if (!r->score[k] || !c->a[k])
				continue;
			for (int l = 0; l < L; l++) {
				double v = 0;
				for (int t = a[cat]; t < b[cat]; t++)
					v += r->score[k][(size_t)l * n + t] - r->low;
				val[((size_t)k * FS_NCAT + cat) * L + l] = v / (b[cat] - a[cat]);
			}
		}
	}
}

void fs_acc_add_record(fs_acc *c, fs_totals *t, const double *rec)
{
	int L = c->n_layers;
	const double *pres = rec + 5, *scored = pres + FS_NCAT, *val = scored + TR_NKINDS;
	if (t) {
		t->traced++;
		t->high += rec[0], t->low += rec[1], t->evals += rec[2], t->naive += rec[3];
		t->passes += (long)rec[4];
	}
	for (int cat = 0; cat < FS_NCAT; cat++) {
		if (!pres[cat])
			continue;
		c->n[cat]++;
		for (int k = 0; k < TR_NKINDS; k++)
			for (int l = 0; scored[k] && c->a[k] && l < L; l++)
				st_acc_add(&c->a[k][cat * L + l], val[((size_t)k * FS_NCAT + cat) * L + l]);
	}
}

void fs_acc_add(fs_acc *c, const tr_result *r)
{
	double *rec = malloc(FS_REC_LEN(c->n_layers) * sizeof *rec);
	if (!rec)
		return;
	fs_record(c, r, rec);
	fs_acc_add_record(c, NULL, rec);
	free(rec);
}

int fs_acc_result(const fs_acc *c, int k, double **mean, double **se)
{
	int L = c->n_layers;
	*mean = *se = NULL;
	if (!c->a[k])
		return -1;
	*mean = malloc((size_t)FS_NCAT * L * sizeof **mean);
	*se = malloc((size_t)FS_NCAT * L * sizeof **se);
	if (!*mean || !*se) {
		free(*mean), free(*se);
		*mean = *se = NULL;
		return -1;
	}
	for (int i = 0; i < FS_NCAT * L; i++)
		(*mean)[i] = st_acc_mean(&c->a[k][i]), (*se)[i] = st_acc_se(&c->a[k][i]);
	return 0;
}

typedef struct layer_ctx {
	void (*progress)(void *user, long traced);
	void *user;
	long traced;
} layer_ctx;

static void layer_progress(void *user, long done, long total)
{
	layer_ctx *c = user;
	c->progress(c->user, c->traced);
}

static fs_trace_fn trace_hook;

void fs_set_trace_hook(fs_trace_fn fn)
{
	trace_hook = fn;
}

int fs_trace_records(fp_model *m, const fs_set *s, const tr_opts *o, int first, int count, const fs_acc *c,
		     double *recs, void (*progress)(void *user, long traced), void *user, fp_error *err)
{
	layer_ctx lc = {progress, user, 0};
	for (int i = 0, k = -1, done = 0; i < s->n && done < count; i++) {
		const fs_fact *f = &s->f[i];
		if (!f->known || ++k < first)
			continue;
		if (progress)
			progress(user, done);
		tr_opts oi = *o;
		oi.seed = o->seed + (uint64_t)i, oi.corrupt_ids = NULL;
		if (progress)
			lc.traced = done, oi.progress = layer_progress, oi.progress_user = &lc;
		tr_result res;
		int rc = tr_trace(m, f->ids, f->n, f->s0, f->s1, f->answer, &oi, &res, err);
		if (rc) {
			char msg[sizeof err->msg + 64];
			snprintf(msg, sizeof msg, "line %ld: %s", f->line, err->msg);
			return fp_error_set(err, rc, "%s", msg);
		}
		fs_record(c, &res, recs + (size_t)done++ * FS_REC_LEN(c->n_layers));
		tr_result_free(&res);
	}
	return 0;
}

int fs_trace(fp_model *m, const fs_set *s, const tr_opts *o, int replace, int limit, st_rng *rng, fs_acc *c,
	     fs_totals *t, void (*progress)(void *user, long traced), void *user, fp_error *err)
{
	if (trace_hook)
		return trace_hook(m, s, o, replace, limit, rng, c, t, progress, user, err);
	int known = 0;
	for (int i = 0; i < s->n; i++)
		known += s->f[i].known;
	int todo = limit > 0 && limit < known ? limit : known;
	layer_ctx lc = {progress, user, 0};
	memset(t, 0, sizeof *t);
	for (int i = 0; i < s->n && t->traced < todo; i++) {
		if (progress)
			progress(user, t->traced);
		const fs_fact *f = &s->f[i];
		if (!f->known)
			continue;
		int32_t *cids = NULL;
		if (replace && !(cids = fs_replacement(m, s, i, rng))) {
			t->no_repl++;
			continue;
		}
		tr_opts oi = *o;
		oi.seed = o->seed + (uint64_t)i, oi.corrupt_ids = cids;
		if (progress)
			lc.traced = t->traced, oi.progress = layer_progress, oi.progress_user = &lc;
		tr_result res;
		int rc = tr_trace(m, f->ids, f->n, f->s0, f->s1, f->answer, &oi, &res, err);
		free(cids);
		if (rc) {
			char msg[sizeof err->msg + 64];
			snprintf(msg, sizeof msg, "line %ld: %s", f->line, err->msg);
			return fp_error_set(err, rc, "%s", msg);
		}
		t->traced++;
		t->high += res.high, t->low += res.low, t->evals += res.evals, t->naive += res.evals_naive;
		t->passes += res.passes;
		fs_acc_add(c, &res);
		tr_result_free(&res);
	}
	return 0;
}
