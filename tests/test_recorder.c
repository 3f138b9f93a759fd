/* test_recorder.c - probe/recorder.c, recording through packed forward
 * passes: on the planted model, five prompts of different lengths recorded
 * with mlp.hook_post at every block, packed into passes of 8 tokens (so
 * prompts share passes and one runs alone), must hold for each prompt the
 * rows a forward pass of that prompt alone gives (an_capture), at the
 * positions each --positions mode names, with the subject span and the
 * tables; batch_tokens 0 (one prompt a pass) gives the same file. */
#include "check.h"
#include "tiny.h"
#include "../model/model.h"
#include "../probe/analysis.h"
#include "../probe/parse.h"
#include "../probe/recorder.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *TEXT[5] = {"abJ", "the J cat sat", "J", "xyJz", "a longer prompt about J here"};

/* records TEXT with subject "J"; returns 0 */
static int record(fp_model *m, const char *path, int pos_mode, int batch, h5rec_hook *hooks, int *n_hooks)
{
	fp_error err = {0};
	const fp_config *c = &m->cfg;
	h5rec_info info = {"test", "test", "tiny", "", c->arch_name, "gpt-2", RR_POS_NAME[pos_mode], "test",
			   c->n_layers, c->d_model, c->d_mlp, c->n_heads, c->n_kv_heads, c->n_vocab, 0, 0, batch, 0, 0, 0, 0, 0, NULL, NULL};
	h5rec *rec = NULL;
	rr_recorder *rr = NULL;
	int rc = ps_hook_select(m, "blocks.*.mlp.hook_post", NULL, hooks, 8, n_hooks, &err) ||
		 h5rec_create(&rec, path, &info, hooks, *n_hooks, &err) ||
		 rr_new(&rr, m, rec, hooks, *n_hooks, pos_mode, batch, "test", &err);
	for (int i = 0; i < 5 && !rc; i++) {
		int32_t *ids = NULL;
		int n = 0, s0, s1;
		fp_prompt p = {.text = (char *)TEXT[i], .len = strlen(TEXT[i]), .subject = (char *)"J", .line = i + 2};
		rc = fp_tokenize(m->tok, p.text, p.len, -1, &ids, &n, &err) ||
		     an_subject_span(m, p.text, "J", ids, n, 0, &s0, &s1) || rr_add(rr, &p, ids, n, s0, s1, &err);
		free(ids);
	}
	rc = rc || rr_flush(rr, &err);
	CHECK(!rc && rr_done(rr) == 5, "recorded 5 prompts (positions %s, batch %d): %s", RR_POS_NAME[pos_mode], batch,
	      err.msg);
	rr_free(rr);
	if (rec)
		rc |= h5rec_close(rec, 1, &err);
	return rc;
}

int main(void)
{
	fp_model *m = NULL;
	fp_error err = {0};
	CHECK(tiny_load_plant(&m, &err) == 0, "planted model: %s", err.msg);
	if (!m)
		return check_done("test_recorder");
	int L = m->cfg.n_layers, F = m->cfg.d_mlp, nh;
	h5rec_hook hooks[8];
	char path[2][64] = {"/tmp/fp_test_recorder_XXXXXX", "/tmp/fp_test_recorder_XXXXXX"};
	close(mkstemp(path[0])), close(mkstemp(path[1]));
	for (int mode = 0; mode < 4; mode++) {
		if (record(m, path[0], mode, 8, hooks, &nh))
			continue;
		h5rec_in *in = NULL;
		h5rec_meta mt;
		CHECK(h5rec_open(&in, path[0], &mt, &err) == 0 && mt.n_prompts == 5 && mt.complete, "it opens: %s", err.msg);
		if (!in)
			continue;
		double diff = 0;
		int rows_ok = 1;
		for (long i = 0; i < 5; i++) {
			h5rec_recorded p;
			if (h5rec_recorded_get(in, i, &p, &err))
				break;
			float *cap = malloc((size_t)L * p.n * F * sizeof *cap), *row = malloc((size_t)F * sizeof *row);
			an_capture(m, p.ids, p.n, FP_HOOK_MLP_POST, cap, &err);
			int want[64], nw = 0;
			for (int t = 0; t < p.n; t++)
				if (mode == RR_POS_ALL || (mode == RR_POS_LAST && t == p.n - 1) ||
				    (mode == RR_POS_SUBJECT && t >= p.s0 && t < p.s1) || (mode == RR_POS_SUBJECT_LAST && t == p.s1 - 1))
					want[nw++] = t;
			int got = 0;
			for (int t = 0; t < p.n; t++)
				got += p.row_of[t] >= 0;
			rows_ok &= got == nw && !strcmp(p.text, TEXT[i]);
			for (int w = 0; w < nw && rows_ok; w++) {
				int t = want[w], wd;
				rows_ok &= p.row_of[t] >= 0;
				for (int l = 0; l < L && rows_ok; l++) {
					char hn[64];
					snprintf(hn, sizeof hn, "blocks.%d.mlp.hook_post", l);
					h5rec_read(in, hn, p.row_of[t], 1, row, &wd, &err);
					for (int f = 0; f < F; f++)
						diff = fmax(diff, fabs(row[f] - cap[((size_t)l * p.n + t) * F + f]));
				}
			}
			free(cap), free(row);
			h5rec_recorded_free(&p);
		}
		h5rec_in_close(in);
		CHECK(rows_ok, "positions %s: each prompt's rows at the positions it names, with its text", RR_POS_NAME[mode]);
		CHECK_CLOSE(diff, 1e-4, "positions %s: packed rows against each prompt run alone (f32)", RR_POS_NAME[mode]);
	}
	/* one prompt a pass: the same rows */
	if (!record(m, path[0], RR_POS_ALL, 8, hooks, &nh) && !record(m, path[1], RR_POS_ALL, 0, hooks, &nh)) {
		h5rec_in *a = NULL, *b = NULL;
		h5rec_meta ma, mb;
		h5rec_open(&a, path[0], &ma, &err), h5rec_open(&b, path[1], &mb, &err);
		float *ra = malloc((size_t)ma.n_rows * F * sizeof *ra), *rb = malloc((size_t)mb.n_rows * F * sizeof *rb);
		int wd;
		double diff = ma.n_rows == mb.n_rows ? 0 : INFINITY;
		if (ma.n_rows == mb.n_rows && !h5rec_read(a, "blocks.1.mlp.hook_post", 0, ma.n_rows, ra, &wd, &err) &&
		    !h5rec_read(b, "blocks.1.mlp.hook_post", 0, mb.n_rows, rb, &wd, &err))
			for (long q = 0; q < ma.n_rows * F; q++)
				diff = fmax(diff, fabs(ra[q] - rb[q]));
		CHECK_CLOSE(diff, 1e-4, "batch 8 against one prompt a pass (%ld rows)", ma.n_rows);
		free(ra), free(rb);
		h5rec_in_close(a), h5rec_in_close(b);
	}
	unlink(path[0]), unlink(path[1]);
	fp_model_free(m);
	return check_done("test_recorder");
}
