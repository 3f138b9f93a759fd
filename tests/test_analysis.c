/* test_analysis.c - the query computations (probe/analysis.c) on synthetic
 * models whose answers are known by construction:
 *   - tiny-llama-plant: neuron 1.5 reads 'J' and writes 'Q' (tests/tiny.h).
 *     It must rank first by activation, by DLA and by weight alignment, and
 *     ablating it must give exactly the model whose neuron has no output
 *     column (the -cut twin);
 *   - DLA is complete: the per-neuron terms, plus the embeddings', attention
 *     outputs' and biases' terms with the same frozen scale, add up to the
 *     target's logit from the forward pass, on every architecture (RMSNorm,
 *     LayerNorm, gemma's post-MLP norms with their scale frozen too, gemma2's
 *     logit soft-cap undone);
 *   - the logit lens at the last layer is the model's own logits;
 *   - each direction kind is the vector it names; bad specs are errors. */
#include "check.h"
#include "tiny.h"
#include "../model/model.h"
#include "../probe/analysis.h"
#include "../probe/trace.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int argmax(const float *x, int n)
{
	int b = 0;
	for (int i = 1; i < n; i++)
		if (x[i] > x[b])
			b = i;
	return b;
}

static double dotd(const float *a, const float *b, int n)
{
	double s = 0;
	for (int i = 0; i < n; i++)
		s += (double)a[i] * b[i];
	return s;
}

static void test_plant(void)
{
	tiny_opts o, oc;
	tiny_defaults(&o, "llama");
	tiny_plant(&o);
	oc = o;
	oc.plant_cut = 1;
	fp_model *m = NULL, *mc = NULL;
	fp_error err = {0};
	CHECK(tiny_load(&o, &m, &err) == 0 && tiny_load(&oc, &mc, &err) == 0, "planted models load: %s", err.msg);
	if (!m || !mc)
		return;
	int L = m->cfg.n_layers, F = m->cfg.d_mlp, V = m->cfg.n_vocab, NF = L * F;
	int32_t *ids = NULL;
	int n = 0;
	fp_tokenize(m->tok, "abJ", 3, 0, &ids, &n, &err);
	CHECK(n == 3 && ids[2] == 'J', "'abJ' is 3 byte tokens ending in 'J'");
	an_run r, rc_;
	CHECK(an_run_prompt(m, ids, n, AN_RESID | AN_RESID_MID | AN_MLP_POST | AN_LOGITS, &r, &err) == 0, "run: %s",
	      err.msg);
	CHECK(an_run_prompt(mc, ids, n, AN_LOGITS, &rc_, &err) == 0, "run cut: %s", err.msg);
	const float *lg = r.logits + (size_t)(n - 1) * V, *lgc = rc_.logits + (size_t)(n - 1) * V;
	double lp = an_logprob(lg, V, 'Q', NULL), lpc = an_logprob(lgc, V, 'Q', NULL);
	printf("     planted: log p('Q') = %.4f with the neuron, %.4f without\n", lp, lpc);
	CHECK(argmax(lg, V) == 'Q' && lp > lpc + 1, "the planted neuron makes 'Q' the top prediction after 'J'");

	float *act = malloc(NF * sizeof *act), *dla = malloc(NF * sizeof *dla), *win = malloc(NF * sizeof *win);
	float *wout = malloc(NF * sizeof *wout), *ws = malloc(NF * sizeof *ws);
	an_neuron_scores(m, &r, n - 1, 'Q', -1, act, dla, win, wout);
	for (int i = 0; i < NF; i++)
		ws[i] = win[i] * wout[i];
	int planted = 1 * F + 5;
	printf("     neuron 1.5: act %.2f (next best %.2f), dla %.2f, w_in %.3f, w_out %.3f\n", act[planted],
	       act[argmax(act, planted)], dla[planted], win[planted], wout[planted]);
	CHECK(argmax(act, NF) == planted, "neuron 1.5 ranks first by activation");
	CHECK(argmax(dla, NF) == planted, "neuron 1.5 ranks first by DLA");
	CHECK(argmax(ws, NF) == planted, "neuron 1.5 ranks first by weight alignment");
	/* --vs: the logit difference Q - J ranks it first too */
	an_neuron_scores(m, &r, n - 1, 'Q', 'J', act, dla, win, wout);
	CHECK(argmax(dla, NF) == planted, "neuron 1.5 ranks first by DLA on the logit difference Q - J");

	/* ablation: zeroing the activation = removing the output column */
	an_ablation ab[2] = {{1, 5, 0.0f}, {0, 7, 0.0f}};
	int start[3] = {0, 1, 2};
	double out[2];
	CHECK(an_ablate_groups(m, ids, n, 0, n, ab, start, 2, 'Q', -1, 512, out, &err) == 0, "ablate: %s", err.msg);
	CHECK_CLOSE(fabs(out[0] - lpc), 1e-4, "zero-ablating neuron 1.5 at every position = the model without it, log p('Q') (about -68)");
	printf("     ablating 0.7 instead moves log p('Q') by %.4f; ablating 1.5 by %.4f\n", out[1] - lp, out[0] - lp);
	CHECK(fabs(out[1] - lp) < 0.1 * fabs(out[0] - lp), "an unplanted neuron matters far less than the planted one");
	/* packing: the same groups run one per pass agree */
	double out1[2];
	an_ablate_groups(m, ids, n, 0, n, ab, start, 2, 'Q', -1, 1, out1, &err);
	CHECK_CLOSE(fmax(fabs(out1[0] - out[0]), fabs(out1[1] - out[1])), 1e-4, "ablation groups packed = run alone");
	ab[0].neuron = F;
	CHECK(an_ablate_groups(m, ids, n, 0, n, ab, start, 1, 'Q', -1, 512, out, &err) == FP_ERR_INVALID &&
		      strstr(err.msg, "out of range"),
	      "a neuron out of range is an error: %s", err.msg);

	/* directions */
	an_dir *d = NULL;
	int D = m->cfg.d_model;
	CHECK(an_dir_parse(m, "tok:Q", 0, 0, &d, &err) == 0 && d->width == D, "tok:Q parses: %s", err.msg);
	if (d) {
		double diff = 0;
		float *u = malloc(D * sizeof *u);
		fp_mat_row(&m->unembed, 'Q', u);
		for (int k = 0; k < D; k++)
			diff = fmax(diff, fabs(d->v[k] - u[k]));
		free(u);
		CHECK_CLOSE(diff, 0, "tok:Q is the unembedding row of 'Q'");
		an_dir_free(d), d = NULL;
	}
	CHECK(an_dir_parse(m, "tok:\"Q\"", 0, 1, &d, &err) == 0, "quoted tok: parses: %s", err.msg);
	if (d) {
		CHECK_CLOSE(fabs(sqrt(dotd(d->v, d->v, D)) - 1), 1e-6, "--normalize gives a unit vector");
		an_dir_free(d), d = NULL;
	}
	CHECK(an_dir_parse(m, "neuron:1.5", 0, 0, &d, &err) == 0, "neuron:1.5 parses: %s", err.msg);
	if (d) {
		CHECK(d->v[1] == 2.0f && fabs(dotd(d->v, d->v, D) - 4) < 1e-6, "neuron:1.5 is the planted output row 2 e1");
		an_dir_free(d), d = NULL;
	}
	CHECK(an_dir_parse(m, "neuron-in:1.5", 0, 0, &d, &err) == 0, "neuron-in:1.5 parses: %s", err.msg);
	if (d) {
		CHECK(d->v[0] == 2.0f && fabs(dotd(d->v, d->v, D) - 4) < 1e-6, "neuron-in:1.5 is the planted input row 2 e0");
		an_dir_free(d), d = NULL;
	}
	CHECK(an_dir_parse(m, "emb:Jb", 0, 0, &d, &err) == 0, "emb:Jb parses: %s", err.msg);
	if (d) {
		double diff = 0;
		float *ej = malloc(D * sizeof *ej), *eb = malloc(D * sizeof *eb);
		fp_mat_row(&m->tok_embd, 'J', ej), fp_mat_row(&m->tok_embd, 'b', eb);
		for (int k = 0; k < D; k++)
			diff = fmax(diff, fabs(d->v[k] - 0.5 * (ej[k] + eb[k])));
		free(ej), free(eb);
		CHECK_CLOSE(diff, 1e-6, "emb:Jb is the mean embedding of 'J' and 'b'");
		an_dir_free(d), d = NULL;
	}
	/* mean-diff of two one-prompt sets = the difference of their last residuals */
	char fa[] = "/tmp/fp-md-a-XXXXXX.txt", fb[] = "/tmp/fp-md-b-XXXXXX.txt";
	int ffa = mkstemps(fa, 4), ffb = mkstemps(fb, 4);
	CHECK(ffa >= 0 && ffb >= 0 && write(ffa, "abJ\n", 4) == 4 && write(ffb, "ab\n", 3) == 3, "mean-diff files");
	close(ffa), close(ffb);
	char spec[128];
	snprintf(spec, sizeof spec, "mean-diff:%s,%s@blocks.*.hook_resid_post", fa, fb);
	CHECK(an_dir_parse(m, spec, 0, 0, &d, &err) == 0 && d && d->per_layer && d->n_layers == L, "%s: %s", spec, err.msg);
	if (d) {
		an_run rb;
		int32_t ib[2] = {'a', 'b'};
		an_run_prompt(m, ib, 2, AN_RESID, &rb, &err);
		double diff = 0;
		for (int l = 0; l < L; l++)
			for (int k = 0; k < D; k++) {
				double want = r.resid[((size_t)(l + 1) * n + n - 1) * D + k] - rb.resid[((size_t)(l + 1) * 2 + 1) * D + k];
				diff = fmax(diff, fabs(an_dir_at(d, l)[k] - want));
			}
		CHECK_CLOSE(diff, 1e-5, "mean-diff at blocks.*.hook_resid_post = the two prompts' last residuals' difference");
		an_run_free(&rb);
		an_dir_free(d), d = NULL;
	}
	unlink(fa), unlink(fb);
	static const struct { const char *spec, *want; } bad[] = {
		{"tok:QJ", "2 tokens"},      {"neuron:9.0", "layer 9 is out of range"},
		{"neuron:1.999", "out of range"}, {"neuron:x", "not a neuron"},
		{"vec:1", "unknown direction kind"}, {"basketball", "has no kind"},
		{"file:/nonexistent.h5:/v", "cannot open"}, {"mean-diff:a.txt@hook_resid_post", "write mean-diff"},
		{"mean-diff:/nonexistent-a.txt,/nonexistent-b.txt@blocks.*.hook_nope", "not a hook"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err.msg[0] = 0;
		int rc = an_dir_parse(m, bad[i].spec, 0, 0, &d, &err);
		CHECK(rc != 0 && d == NULL && strstr(err.msg, bad[i].want), "direction '%s' is refused: %s", bad[i].spec,
		      err.msg);
	}
	an_run_free(&r), an_run_free(&rc_);
	free(act), free(dla), free(win), free(wout), free(ws), free(ids);
	fp_model_free(m), fp_model_free(mc);
}

/* DLA completeness and the lens, on every architecture (the gemma2 model
 * with soft-caps that bite: 5 on the logits) */
static void test_dla_complete(const char *arch)
{
	tiny_opts o;
	tiny_defaults(&o, arch);
	if (!strcmp(arch, "gemma2"))
		o.attn_softcap = 2.0f, o.final_softcap = 5.0f;
	fp_model *m = NULL;
	fp_error err = {0};
	CHECK(tiny_load(&o, &m, &err) == 0, "%s loads: %s", arch, err.msg);
	if (!m)
		return;
	int L = m->cfg.n_layers, F = m->cfg.d_mlp, V = m->cfg.n_vocab, D = m->cfg.d_model, NF = L * F;
	int32_t ids[6] = {'t', 'h', 'e', ' ', 'c', 'a'};
	int n = 6;
	an_run r;
	CHECK(an_run_prompt(m, ids, n, AN_RESID | AN_RESID_MID | AN_MLP_POST | AN_LOGITS, &r, &err) == 0, "run: %s",
	      err.msg);
	float *attn = malloc((size_t)L * n * D * sizeof *attn), *pos = NULL;
	an_capture(m, ids, n, FP_HOOK_ATTN_OUT, attn, &err);
	float *act = malloc(NF * sizeof *act), *dla = malloc(NF * sizeof *dla), *win = malloc(NF * sizeof *win);
	float *wout = malloc(NF * sizeof *wout), *g = malloc(D * sizeof *g), *xn = malloc(D * sizeof *xn), scale;
	double worst = 0, worst_lens = 0;
	for (int p = 0; p < n; p++) {
		int target = argmax(r.logits + (size_t)p * V, V) ^ 1; /* not the top token: any token works */
		an_neuron_scores(m, &r, p, target, -1, act, dla, win, wout);
		an_final_norm(m, r.resid + ((size_t)L * n + p) * D, 1, xn, &scale);
		an_dla_dir(m, target, -1, g);
		double sum = 0;
		for (int i = 0; i < NF; i++)
			sum += dla[i];
		/* the rest of the residual: embeddings (+ positions), attention outputs, MLP biases */
		float *x = malloc(D * sizeof *x);
		memcpy(x, r.resid + (size_t)p * D, D * sizeof *x); /* resid_pre 0 = embed (+ pos) */
		for (int l = 0; l < L; l++)
			for (int k = 0; k < D; k++)
				x[k] += attn[((size_t)l * n + p) * D + k] + (m->layers[l].b_down ? m->layers[l].b_down[k] : 0);
		sum += dotd(x, g, D) / scale;
		if (m->out_norm_b) {
			fp_mat_row(&m->unembed, target, x);
			sum += dotd(m->out_norm_b, x, D);
		}
		if (m->unembed_b) /* gptj: the unembedding's bias */
			sum += m->unembed_b[target];
		double logit = r.logits[(size_t)p * V + target];
		if (m->cfg.final_softcap > 0) /* gemma2: the terms add up to the logit before the cap */
			logit = m->cfg.final_softcap * atanh(logit / m->cfg.final_softcap);
		worst = fmax(worst, fabs(sum - logit) / fmax(1, fabs(logit)));
		free(x);
		/* lens at the last layer = the logits */
		float *ll = malloc((size_t)V * sizeof *ll), *tmp = malloc(D * sizeof *tmp);
		an_lens_logits(m, r.resid + ((size_t)L * n + p) * D, 1, ll, tmp);
		for (int v = 0; v < V; v++)
			worst_lens = fmax(worst_lens, fabs(ll[v] - r.logits[(size_t)p * V + v]));
		free(ll), free(tmp);
	}
	CHECK_CLOSE(worst, 1e-4, "%s: neuron DLA + embedding, attention and bias terms = the target logit, relative", arch);
	CHECK_CLOSE(worst_lens, 1e-4, "%s: logit lens at the last layer = the forward pass's logits", arch);
	an_run_free(&r);
	free(attn), free(pos), free(act), free(dla), free(win), free(wout), free(g), free(xn);
	fp_model_free(m);
}

/* causal tracing: every cell against a naive full pass with the same
 * restoration (token replacement makes the corrupted run deterministic) */
typedef struct naive_ctx {
	int kind, a, b, t, D, n;
	const float *clean; /* [L][n][D] of the hook restored */
} naive_ctx;

static int naive_hook(void *user, const fp_hook_event *ev)
{
	naive_ctx *c = user;
	if (ev->layer >= c->a && ev->layer < c->b)
		memcpy(ev->data + (size_t)c->t * c->D, c->clean + ((size_t)ev->layer * c->n + c->t) * c->D,
		       (size_t)c->D * sizeof(float));
	return 0;
}

static void test_trace_exact(const char *arch, int window)
{
	tiny_opts o;
	tiny_defaults(&o, arch);
	o.n_layers = 4;
	fp_model *m = NULL;
	fp_error err = {0};
	CHECK(tiny_load(&o, &m, &err) == 0, "%s loads: %s", arch, err.msg);
	if (!m)
		return;
	int L = m->cfg.n_layers, D = m->cfg.d_model, V = m->cfg.n_vocab, n = 7, s0 = 2, s1 = 4;
	int32_t ids[7] = {'x', 'y', 'J', 'K', 'a', 'b', 'c'}, cids[7] = {'x', 'y', 'P', 'R', 'a', 'b', 'c'};
	float *lg = malloc((size_t)V * sizeof *lg);
	fp_model_forward(m, ids, n, NULL, lg, &err);
	int answer = argmax(lg, V);
	tr_opts to = {7, window, 1, 0, 1, cids, 64, NULL, NULL};
	tr_result r;
	CHECK(tr_trace(m, ids, n, s0, s1, answer, &to, &r, &err) == 0, "trace: %s", err.msg);
	float *clean[3];
	int kinds[3] = {FP_HOOK_RESID_POST, FP_HOOK_MLP_OUT, FP_HOOK_ATTN_OUT};
	for (int k = 0; k < 3; k++) {
		clean[k] = malloc((size_t)L * n * D * sizeof(float));
		an_capture(m, ids, n, kinds[k], clean[k], &err);
	}
	double worst = 0;
	for (int k = 0; k < 3; k++)
		for (int l = 0; l < L; l++)
			for (int t = 0; t < n; t++) {
				naive_ctx c = {kinds[k], l, l + 1, t, D, n, clean[k]};
				if (k) {
					c.a = l - window / 2 < 0 ? 0 : l - window / 2;
					c.b = l + window - window / 2 > L ? L : l + window - window / 2;
				}
				fp_forward_opts fo = {0};
				fo.hook = naive_hook, fo.user = &c, fo.hook_mask = FP_HOOK_BIT(kinds[k]);
				fp_model_forward(m, cids, n, &fo, lg, &err);
				double p = exp(an_logprob(lg, V, answer, NULL));
				worst = fmax(worst, fabs(p - r.score[k][(size_t)l * n + t]));
			}
	printf("     %s window %d: %ld passes, %.0f token-layer evaluations (naive %.0f)\n", arch, window, r.passes, r.evals,
	       r.evals_naive);
	CHECK_CLOSE(worst, 1e-5, "%s, window %d: every cell of the resid, mlp and attn traces = a naive full pass with that restoration, p(answer)",
		    arch, window);
	CHECK(r.evals < r.evals_naive, "the trace computes fewer token-layer evaluations than the naive count");
	CHECK_CLOSE(fabs(r.score[TR_RESID][(size_t)(L - 1) * n + n - 1] - r.high), 1e-6,
		    "%s: restoring the last layer's state at the last token = the clean probability", arch);
	tr_result_free(&r);
	/* zero noise: the corrupted run is the clean run, every effect is zero */
	tr_opts z = {7, window, 3, 0.0, 1, NULL, 64, NULL, NULL};
	CHECK(tr_trace(m, ids, n, s0, s1, answer, &z, &r, &err) == 0, "trace: %s", err.msg);
	double ie = fabs(r.low - r.high);
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < L * n; i++)
			ie = fmax(ie, fabs(r.score[k][i] - r.low));
	CHECK_CLOSE(ie, 1e-6, "%s: noise 0 gives no indirect effect anywhere (and low = high)", arch);
	tr_result_free(&r);
	for (int k = 0; k < 3; k++)
		free(clean[k]);
	free(lg);
	fp_model_free(m);
}

/* the planted fact (neuron 1.5 reads 'J') traces to its MLP layer */
static void test_trace_plant(void)
{
	tiny_opts o;
	tiny_defaults(&o, "llama");
	tiny_plant(&o);
	fp_model *m = NULL;
	fp_error err = {0};
	CHECK(tiny_load(&o, &m, &err) == 0, "planted model loads: %s", err.msg);
	if (!m)
		return;
	int32_t ids[4] = {'a', 'b', 'J', 'c'};
	int n = 4, L = m->cfg.n_layers;
	tr_opts to = {7, 1, 10, 20.0, 1, NULL, 0, NULL, NULL};
	tr_result r;
	CHECK(tr_trace(m, ids, 3, 2, 3, 'Q', &to, &r, &err) == 0, "trace: %s", err.msg);
	n = 3;
	double ie0 = r.score[TR_MLP][0 * n + 2] - r.low, ie1 = r.score[TR_MLP][1 * n + 2] - r.low;
	printf("     planted: p('Q') clean %.3f, corrupted %.3f; MLP indirect effect at 'J': layer 0 %.3f, layer 1 %.3f\n",
	       r.high, r.low, ie0, ie1);
	CHECK(r.high - r.low > 0.3, "noise of std 20 removes the planted fact");
	CHECK(ie1 > 0.3 && ie1 > 3 * fabs(ie0), "the MLP trace (window 1) finds the fact in layer 1, the planted layer");
	(void)L;
	tr_result_free(&r);
	fp_model_free(m);
}

/* the trace's noise scale is the std of what hook_embed holds: on gemma,
 * whose embeddings are scaled by sqrt(d_model), the std of the scaled rows */
typedef struct embed_acc {
	double s, ss;
	size_t n;
} embed_acc;

static int embed_hook(void *user, const fp_hook_event *ev)
{
	embed_acc *a = user;
	for (size_t i = 0; i < (size_t)ev->n_pos * ev->width; i++)
		a->s += ev->data[i], a->ss += (double)ev->data[i] * ev->data[i], a->n++;
	return 0;
}

static void test_noise_scale(const char *arch)
{
	tiny_opts o;
	tiny_defaults(&o, arch);
	fp_model *m = NULL;
	fp_error err = {0};
	CHECK(tiny_load(&o, &m, &err) == 0, "%s loads: %s", arch, err.msg);
	if (!m)
		return;
	embed_acc a = {0};
	fp_forward_opts fo = {.hook = embed_hook, .user = &a, .hook_mask = FP_HOOK_BIT(FP_HOOK_EMBED)};
	int32_t ids[32];
	for (int v0 = 0; v0 < m->cfg.n_vocab; v0 += 32) {
		int n = m->cfg.n_vocab - v0 < 32 ? m->cfg.n_vocab - v0 : 32;
		for (int i = 0; i < n; i++)
			ids[i] = v0 + i;
		fp_model_forward(m, ids, n, &fo, NULL, &err);
	}
	double mean = a.s / a.n, sd = sqrt(a.ss / a.n - mean * mean), got = tr_embedding_std(m);
	CHECK_CLOSE(fabs(got - sd) / sd, 1e-6, "%s: trace noise scale = std of hook_embed over the vocabulary (%.4g)", arch, sd);
	fp_model_free(m);
}

int main(void)
{
	test_noise_scale("llama");
	test_noise_scale("gemma3");
	test_plant();
	static const char *ARCHES[] = {"llama", "gpt2", "qwen2", "qwen3", "gemma2", "gemma3", "phi3", "gptneox", "gptj"};
	for (size_t i = 0; i < sizeof ARCHES / sizeof ARCHES[0]; i++)
		test_dla_complete(ARCHES[i]);
	test_trace_exact("llama", 1);
	test_trace_exact("llama", 3);
	test_trace_exact("gpt2", 2);
	test_trace_plant();
	return check_done("test_analysis");
}
