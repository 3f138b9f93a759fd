/* test_arch.c - the newer architectures (qwen2, qwen3, gemma2, gemma3, phi3,
 * gptneox; llama with llama 3.1's rope_freqs) and the second real model, Gemma-3-270M, against llama.cpp, from
 * the fixtures scripts/oracle_arch.py recorded (scripts/make-oracle.sh):
 *   - each tiny synthetic model (tests/tiny.c, regenerated here bit for bit):
 *     llama.cpp's token ids and its logits at every position of every text;
 *   - Gemma-3-270M Q4_K_M: llama.cpp's token ids for the tokenizer test set
 *     (SentencePiece-style, 262 144 pieces, user-defined tokens), the top-10
 *     log-probabilities of 24 prompts from llama.cpp on the file itself and
 *     on its weights dequantised to F32, and the three facts the issue cites;
 * and against Hugging Face transformers loading the same GGUF files, from the
 * fixtures scripts/oracle_tf_arch.py recorded (every layer, which llama.cpp
 * does not expose): on the tiny models it loads (not gptneox) the logits at
 * every position, every residual state and every mlp.hook_post (also on
 * tiny-llama and tiny-gpt2-hf, for the first two texts); on
 * Gemma-3-270M the top-10 logits at every position, every state's norm at
 * every position, the states at the last two and mlp.hook_post at the last.
 * usage: test_arch FIXTURE_DIR [GEMMA.gguf]  (also $FACTPROBE_TEST_GEMMA) */
#include "check.h"
#include "fixture.h"
#include "tiny.h"
#include "../model/model.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Tolerance on the tiny models' logits relative to the largest |logit|
 * (F32 weights: llama.cpp computes in f32, but its CPU GELU goes through an
 * f16 lookup table, ~5e-4 relative on the activations; gptneox also uses
 * the exact erf GELU of Pythia where llama.cpp approximates with tanh). */
static double arch_tol(const char *file, const fp_model *m)
{
	if (m->cfg.mlp_act != FP_ACT_SILU)
		return 2e-3;
	return 1e-5;
}

static void test_tiny_arch(json_t *lc, int n_texts)
{
	check_tiny_set(json_object_get(lc, "tiny"), "arch_logits.f32", tiny_n_arch_named(), tiny_arch_named, arch_tol,
		       n_texts);
}

/* tiny-llama3 without its rope_freqs tensor is another model: its logits
 * must be far from llama.cpp's, or the fixture could not tell whether the
 * divisors are applied */
static void test_rope_freqs_matter(json_t *lc)
{
	size_t nref, i;
	float *ref = load_f32("arch_logits.f32", &nref);
	tiny_opts o;
	const char *file = NULL;
	for (int k = 0; k < tiny_n_arch_named() && !file; k++)
		if (tiny_arch_named(k, &o) && o.l3_factor > 0)
			file = tiny_arch_named(k, &o);
	CHECK(ref && file, "a tiny model with rope_freqs (llama 3.1 RoPE scaling) is in the set");
	if (!ref || !file) {
		free(ref);
		return;
	}
	o.omit = "rope_freqs.weight";
	fp_model *m = NULL;
	fp_error err = {0};
	json_t *e;
	double worst = 0, scale = 0;
	CHECK(tiny_load(&o, &m, &err) == 0, "%s without rope_freqs loads: %s", file, err.msg);
	json_array_foreach(json_object_get(lc, "tiny"), i, e) {
		if (!m || strcmp(json_string_value(json_object_get(e, "model")), file))
			continue;
		int nw, V = m->cfg.n_vocab;
		int32_t *ids = json_ids(json_object_get(e, "ids"), &nw);
		float *lg = malloc((size_t)nw * V * sizeof *lg);
		fp_forward_opts fo = {.all_logits = 1};
		CHECK(fp_model_forward(m, ids, nw, &fo, lg, &err) == 0, "forward: %s", err.msg);
		diff_max_into(lg, ref, (size_t)json_integer_value(json_object_get(e, "offset")), (size_t)nw * V, nref, &worst,
			      &scale);
		free(lg), free(ids);
	}
	printf("     %s without rope_freqs: max |diff| %.3g relative to llama.cpp\n", file, worst / (scale > 0 ? scale : 1));
	CHECK(worst / (scale > 0 ? scale : 1) > 100 * arch_tol(file, m),
	      "%s with the divisors left out differs from llama.cpp by %.3g relative (> 100 x the tolerance): "
	      "the fixture sees the scaling", file, worst / (scale > 0 ? scale : 1));
	fp_model_free(m);
	free(ref);
}

/* log-softmax of the last position of ids */
static void last_logprobs(fp_model *m, const int32_t *ids, int n, float *lp)
{
	int V = m->cfg.n_vocab;
	fp_error err = {0};
	CHECK(fp_model_forward(m, ids, n, NULL, lp, &err) == 0, "forward: %s", err.msg);
	double mx = lp[0], sum = 0;
	for (int v = 0; v < V; v++)
		mx = lp[v] > mx ? lp[v] : mx;
	for (int v = 0; v < V; v++)
		sum += exp(lp[v] - mx);
	for (int v = 0; v < V; v++)
		lp[v] = (float)(lp[v] - mx - log(sum));
}

static int argmax(const float *x, int n)
{
	int b = 0;
	for (int i = 1; i < n; i++)
		if (x[i] > x[b])
			b = i;
	return b;
}

static void test_gemma_predict(fp_model *m, json_t *g)
{
	json_t *pq = json_object_get(g, "predict"), *pf = json_object_get(g, "predict_f32");
	size_t n = json_array_size(pq);
	int V = m->cfg.n_vocab, s_q = 0, s_f = 0, ids_ok = 0;
	double d_q = 0, d_f = 0;
	float *lp = malloc((size_t)V * sizeof *lp);
	CHECK(n >= 20 && json_array_size(pf) == n, "gemma3-270m: %zu prompts from both llama.cpp runs", n);
	n = test_limit(n);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(pq, i);
		const char *text = json_string_value(json_object_get(e, "prompt"));
		int nt, ng;
		int32_t *ids = json_ids(json_object_get(e, "ids"), &nt), *got = NULL;
		fp_error err = {0};
		fp_tokenize(m->tok, text, strlen(text), -1, &got, &ng, &err); /* the model's BOS rule: adds <bos> */
		ids_ok += same_ids(got, ng, ids, nt);
		last_logprobs(m, ids, nt, lp);
		int top1 = argmax(lp, V);
		double a = compare_top(lp, json_object_get(e, "top"), &s_q, top1);
		double b = compare_top(lp, json_object_get(json_array_get(pf, i), "top"), &s_f, top1);
		d_q = a > d_q ? a : d_q, d_f = b > d_f ? b : d_f;
		free(ids), free(got);
	}
	CHECK(ids_ok == (int)n, "gemma3-270m: prompt ids with the model's BOS equal llama.cpp's (%d of %zu)", ids_ok, n);
	/* with F32 weights llama.cpp differs from us only in summation order and
	 * its f16-table GELU; on the Q4_K_M file it also quantises activations to
	 * 8 bits per block in every product (Q8_0/Q8_K dot products) */
	CHECK_CLOSE(d_f, 0.05, "gemma3-270m: top-10 log-probs of %zu prompts vs llama.cpp on F32-dequantised weights "
		    "(top-1 same in %d)", n, s_f);
	CHECK(s_f == (int)n, "gemma3-270m: top-1 equals llama.cpp-F32's on every prompt (%d of %zu)", s_f, n);
	CHECK_CLOSE(d_q, 0.75, "gemma3-270m: top-10 log-probs vs llama.cpp on the Q4_K_M file itself (top-1 same in %d of %zu)",
		    s_q, n);
	CHECK(s_q >= (int)n - 2, "gemma3-270m: top-1 agrees with llama.cpp-Q4_K_M on all but at most 2 prompts (%d)", s_q);
	free(lp);
}

/* the facts the issue cites, tried as a new user would (the model's BOS) */
static void test_gemma_facts(fp_model *m)
{
	static const struct { const char *prompt, *answer; } FACTS[] = {
		{"Michael Jordan plays the sport of", "\xe2\x96\x81" "basketball"},
		{"Tom Brady plays the sport of", "\xe2\x96\x81" "football"},
		{"The Eiffel Tower is located in the city of", "\xe2\x96\x81" "Paris"},
	};
	int V = m->cfg.n_vocab;
	float *lp = malloc((size_t)V * sizeof *lp);
	for (size_t i = 0; i < test_limit(sizeof FACTS / sizeof FACTS[0]); i++) {
		int32_t *ids;
		int n;
		fp_error err = {0};
		int want = fp_token_lookup(m->tok, FACTS[i].answer, strlen(FACTS[i].answer));
		fp_tokenize(m->tok, FACTS[i].prompt, strlen(FACTS[i].prompt), -1, &ids, &n, &err);
		last_logprobs(m, ids, n, lp);
		int top = argmax(lp, V);
		CHECK(want >= 0 && top == want, "gemma3-270m: \"%s\" -> '%s' first (log p %.3f)", FACTS[i].prompt,
		      FACTS[i].answer + 3, want >= 0 ? lp[want] : 0.0);
		free(ids);
	}
	free(lp);
}

/* ---- transformers (tf_arch.json, scripts/oracle_tf_arch.py) ---- */

/* what transformers records, in its layout: states [L + 2][T][D] (0:
 * blocks.0.hook_resid_pre, 1 + l: blocks.l.hook_resid_post, L + 1:
 * ln_final.hook_normalized) and mlp [L][T][F] (blocks.l.mlp.hook_post) */
typedef struct tf_grab {
	float *states, *mlp;
	int T, D, F, L;
} tf_grab;

static int tf_grab_hook(void *user, const fp_hook_event *ev)
{
	tf_grab *g = user;
	size_t TD = (size_t)g->T * g->D;
	if (ev->kind == FP_HOOK_RESID_PRE && ev->layer == 0)
		memcpy(g->states, ev->data, TD * sizeof(float));
	else if (ev->kind == FP_HOOK_RESID_POST)
		memcpy(g->states + (size_t)(1 + ev->layer) * TD, ev->data, TD * sizeof(float));
	else if (ev->kind == FP_HOOK_LN_FINAL)
		memcpy(g->states + (size_t)(g->L + 1) * TD, ev->data, TD * sizeof(float));
	else if (ev->kind == FP_HOOK_MLP_POST)
		memcpy(g->mlp + (size_t)ev->layer * g->T * g->F, ev->data, (size_t)g->T * g->F * sizeof(float));
	return 0;
}

/* one forward pass: logits [T, V] at every position, states and mlp as above */
static int tf_run(fp_model *m, const int32_t *ids, int T, float *logits, tf_grab *g)
{
	g->T = T, g->D = m->cfg.d_model, g->F = m->cfg.d_mlp, g->L = m->cfg.n_layers;
	g->states = malloc((size_t)(g->L + 2) * T * g->D * sizeof(float));
	g->mlp = malloc((size_t)g->L * T * g->F * sizeof(float));
	fp_forward_opts fo = {.hook = tf_grab_hook, .user = g, .all_logits = 1,
			      .hook_mask = FP_HOOK_BIT(FP_HOOK_RESID_PRE) | FP_HOOK_BIT(FP_HOOK_RESID_POST) |
					   FP_HOOK_BIT(FP_HOOK_LN_FINAL) | FP_HOOK_BIT(FP_HOOK_MLP_POST)};
	fp_error err = {0};
	int rc = fp_model_forward(m, ids, T, &fo, logits, &err);
	CHECK(rc == 0, "forward: %s", err.msg);
	return rc;
}

/* the largest |diff| and |diff| / max |ref| over blocks of `each` values
 * (one state, one layer, one run's logits): each block relative to its own
 * largest value */
typedef struct tf_diff {
	double abs, rel;
} tf_diff;

static void tf_diff_blocks(tf_diff *d, const float *got, const float *ref, size_t n, size_t each)
{
	for (size_t b = 0; b + each <= n; b += each) {
		double md = 0, mx = 0;
		diff_max_into(got + b, ref + b, 0, each, each, &md, &mx);
		d->abs = fmax(d->abs, md);
		d->rel = fmax(d->rel, mx > 0 ? md / mx : md);
	}
}

/* the blob slice a fixture entry {offset, shape} names, or NULL (counted as a failure) */
static const float *tf_slice(const float *blob, size_t nblob, json_t *at, size_t want)
{
	size_t off = (size_t)json_integer_value(json_object_get(at, "offset")), n = 1, i;
	json_t *v;
	json_array_foreach(json_object_get(at, "shape"), i, v)
		n *= (size_t)json_integer_value(v);
	int ok = at && n == want && off + n <= nblob;
	CHECK(ok, "fixture slice of %zu values at %zu (of %zu) has the expected %zu", n, off, nblob, want);
	return ok ? blob + off : NULL;
}

/* Tolerances against transformers, relative to each block's largest value.
 * Both sides compute in f32 from the same f32 weights (the tiny models' own,
 * or gguf-py's dequantisation of Gemma-3-270M's Q4_K/Q6_K/Q5_0/Q8_0, which
 * ours equals to one rounding: test_oracle), the same formulas in a
 * different summation order (OpenBLAS against PyTorch's kernels): ~1e-7
 * per product, growing with depth (measured: at most 1.1e-6 on the tiny
 * models, 2.4e-6 on Gemma-3-270M's 18 layers). */
#define TF_TOL_TINY 1e-5
#define TF_TOL_GEMMA 2e-5

/* the runs of one tiny model in tf_arch.json against the forward pass;
 * returns how many there were */
static int test_tf_model(const char *file, const tiny_opts *o, json_t *tf, const float *blob, size_t nblob)
{
	size_t i;
	json_t *e;
	fp_model *m = NULL;
	fp_error err = {0};
	CHECK(tiny_load(o, &m, &err) == 0, "load %s: %s", file, err.msg);
	if (!m)
		return 0;
	int V = m->cfg.n_vocab, D = m->cfg.d_model, F = m->cfg.d_mlp, L = m->cfg.n_layers, runs = 0, with_states = 0;
	tf_diff dl = {0}, ds = {0}, dm = {0};
	json_array_foreach(json_object_get(tf, "tiny"), i, e) {
		if (strcmp(json_string_value(json_object_get(e, "model")), file))
			continue;
		int T;
		int32_t *ids = json_ids(json_object_get(e, "ids"), &T);
		float *lg = malloc((size_t)T * V * sizeof *lg);
		tf_grab g;
		if (tf_run(m, ids, T, lg, &g) == 0) {
			const float *r = tf_slice(blob, nblob, json_object_get(e, "logits"), (size_t)T * V);
			if (r)
				tf_diff_blocks(&dl, lg, r, (size_t)T * V, (size_t)T * V);
			if (json_object_get(e, "states")) {
				size_t ns = (size_t)(L + 2) * T * D, nm = (size_t)L * T * F;
				const float *rs = tf_slice(blob, nblob, json_object_get(e, "states"), ns);
				const float *rm = tf_slice(blob, nblob, json_object_get(e, "mlp_post"), nm);
				if (rs)
					tf_diff_blocks(&ds, g.states, rs, ns, (size_t)T * D);
				if (rm)
					tf_diff_blocks(&dm, g.mlp, rm, nm, (size_t)T * F);
				with_states++;
			}
		}
		runs++;
		free(g.states), free(g.mlp), free(lg), free(ids);
	}
	CHECK(with_states > 0, "%s: %d transformers runs, %d with every layer", file, runs, with_states);
	printf("     %s vs transformers: max |diff| logits %.3g, residual states %.3g, mlp.hook_post %.3g\n", file,
	       dl.abs, ds.abs, dm.abs);
	CHECK_CLOSE(dl.rel, TF_TOL_TINY, "%s (%s, F32): logits at every position vs transformers, relative", file,
		    m->cfg.arch_name);
	CHECK_CLOSE(ds.rel, TF_TOL_TINY, "%s: embedding, every hook_resid_post and ln_final.hook_normalized at "
		    "every position vs transformers' hidden states, relative to each state's largest", file);
	CHECK_CLOSE(dm.rel, TF_TOL_TINY, "%s: every layer's mlp.hook_post vs the input of transformers' "
		    "down_proj, relative to each layer's largest", file);
	fp_model_free(m);
	return runs;
}

static void test_tf_tiny(json_t *tf, const float *blob, size_t nblob, int n_texts)
{
	json_t *e;
	const char *key;
	json_object_foreach(json_object_get(tf, "not_loaded"), key, e)
		printf("     %s: not checked against transformers: %s\n", key, json_string_value(e));
	int checked = 0, l3 = 0;
	for (int mi = 0; mi < tiny_n_arch_named(); mi++) {
		tiny_opts o;
		const char *file = tiny_arch_named(mi, &o);
		if (json_object_get(json_object_get(tf, "not_loaded"), file))
			continue;
		if (o.l3_factor > 0) { /* transformers' GGUF loader does not read rope_freqs: llama.cpp only */
			printf("     %s: not checked against transformers (its GGUF loader ignores rope_freqs; "
			       "test_hf_arch checks rope_scaling llama3 on a checkpoint)\n", file);
			l3++;
			continue;
		}
		int runs = test_tf_model(file, &o, tf, blob, nblob);
		CHECK(runs == n_texts, "%s: all %d tiny texts run by transformers (%d)", file, n_texts, runs);
		checked++;
	}
	/* transformers 4.57 loads every GGUF architecture here but gptneox */
	CHECK(checked == tiny_n_arch_named() - 1 - l3, "%d of %d tiny architectures checked against transformers", checked,
	      tiny_n_arch_named());
	/* the older two: tiny-llama (transformers un-permutes its q and k) and
	 * tiny-gpt2-hf, on the first texts */
	for (int mi = 0; mi < tiny_n_named(); mi++) {
		tiny_opts o;
		const char *file = tiny_named(mi, &o);
		if (!strcmp(file, "tiny-llama.gguf") || !strcmp(file, "tiny-gpt2-hf.gguf"))
			CHECK(test_tf_model(file, &o, tf, blob, nblob) >= 2, "%s: transformers runs recorded", file);
	}
}

/* Gemma-3-270M: top-10 logits at every position, the norm of every state at
 * every position, the states at the last two positions and mlp.hook_post at
 * the last one */
static void test_tf_gemma(fp_model *m, json_t *tf, const float *blob, size_t nblob)
{
	json_t *gm = json_object_get(tf, "gemma3_270m"), *e;
	size_t i;
	int V = m->cfg.n_vocab, D = m->cfg.d_model, F = m->cfg.d_mlp, L = m->cfg.n_layers, top1 = 0, npos = 0;
	tf_diff dl = {0}, dn = {0}, ds = {0}, dm = {0};
	json_array_foreach(json_object_get(gm, "runs"), i, e) {
		int T;
		int32_t *ids = json_ids(json_object_get(e, "ids"), &T);
		float *lg = malloc((size_t)T * V * sizeof *lg);
		tf_grab g;
		if (tf_run(m, ids, T, lg, &g) == 0) {
			double scale = json_real_value(json_object_get(e, "max_abs_logit"));
			for (int p = 0; p < T; p++) {
				json_t *top = json_array_get(json_object_get(e, "top"), (size_t)p), *pair;
				size_t k;
				float *row = lg + (size_t)p * V;
				int best = 0;
				for (int v = 1; v < V; v++)
					best = row[v] > row[best] ? v : best;
				json_array_foreach(top, k, pair) {
					json_int_t id = json_integer_value(json_array_get(pair, 0));
					/* an id outside the vocabulary counts as an infinite difference */
					double d = id >= 0 && id < V ? fabs(row[id] - json_real_value(json_array_get(pair, 1))) : INFINITY;
					dl.abs = fmax(dl.abs, d), dl.rel = fmax(dl.rel, d / scale);
				}
				top1 += best == json_integer_value(json_array_get(json_array_get(top, 0), 0));
				npos++;
			}
			size_t TD = (size_t)T * D;
			const float *rn = tf_slice(blob, nblob, json_object_get(e, "state_norms"), (size_t)(L + 2) * T);
			const float *rs = tf_slice(blob, nblob, json_object_get(e, "states_last2"), (size_t)(L + 2) * 2 * D);
			const float *rm = tf_slice(blob, nblob, json_object_get(e, "mlp_post_last"), (size_t)L * F);
			for (int s = 0; rn && s < L + 2; s++)
				for (int p = 0; p < T; p++) {
					double nrm = 0, want = rn[(size_t)s * T + p];
					for (int d = 0; d < D; d++)
						nrm += (double)g.states[s * TD + (size_t)p * D + d] * g.states[s * TD + (size_t)p * D + d];
					dn.abs = fmax(dn.abs, fabs(sqrt(nrm) - want));
					dn.rel = fmax(dn.rel, fabs(sqrt(nrm) - want) / want);
				}
			float *last2 = malloc((size_t)(L + 2) * 2 * D * sizeof *last2), *mlast = malloc((size_t)L * F * sizeof *mlast);
			for (int s = 0; s < L + 2; s++)
				memcpy(last2 + (size_t)s * 2 * D, g.states + s * TD + (size_t)(T - 2) * D, 2 * (size_t)D * sizeof *last2);
			for (int l = 0; l < L; l++)
				memcpy(mlast + (size_t)l * F, g.mlp + ((size_t)l * T + T - 1) * F, (size_t)F * sizeof *mlast);
			if (rs)
				tf_diff_blocks(&ds, last2, rs, (size_t)(L + 2) * 2 * D, 2 * (size_t)D);
			if (rm)
				tf_diff_blocks(&dm, mlast, rm, (size_t)L * F, (size_t)F);
			free(last2), free(mlast);
		}
		free(g.states), free(g.mlp), free(lg), free(ids);
	}
	size_t n = json_array_size(json_object_get(gm, "runs"));
	CHECK(n >= 3 && top1 == npos, "gemma3-270m: top-1 token equals transformers' at all %d positions of %zu prompts (%d)",
	      npos, n, top1);
	printf("     gemma3-270m vs transformers: max |diff| top-10 logits %.3g, state norms %.3g, states %.3g, "
	       "mlp.hook_post %.3g\n", dl.abs, dn.abs, ds.abs, dm.abs);
	CHECK_CLOSE(dl.rel, TF_TOL_GEMMA, "gemma3-270m: top-10 logits at every position vs transformers, relative to "
		    "the largest |logit|");
	CHECK_CLOSE(dn.rel, TF_TOL_GEMMA, "gemma3-270m: norm of the embedding, of every hook_resid_post and of "
		    "ln_final.hook_normalized at every position vs transformers, relative");
	CHECK_CLOSE(ds.rel, TF_TOL_GEMMA, "gemma3-270m: those %d states at the last two positions vs transformers, "
		    "relative to each state's largest", L + 2);
	CHECK_CLOSE(dm.rel, TF_TOL_GEMMA, "gemma3-270m: mlp.hook_post of all %d layers at the last position vs "
		    "transformers, relative to each layer's largest", L);
}

int main(int argc, char **argv)
{
	fixture_dir = argc > 1 ? argv[1] : "tests/fixtures";
	const char *gemma = argc > 2 ? argv[2] : getenv("FACTPROBE_TEST_GEMMA");
	json_t *lc = load_json("llamacpp_arch.json"), *g = load_json("llamacpp_gemma3.json"), *tf = load_json("tf_arch.json");
	size_t ntf = 0;
	float *tfb = load_f32("tf_arch.f32", &ntf);
	CHECK(lc && g && tf && tfb, "fixtures load");
	if (!lc || !g || !tf || !tfb)
		return check_done("test_arch");
	printf("oracles: %s; %s\n", json_string_value(json_object_get(lc, "oracle")),
	       json_string_value(json_object_get(tf, "oracle")));
	json_t *in = load_json("oracle_inputs.json");
	int n_texts = in ? (int)json_array_size(json_object_get(in, "tiny_texts")) : 0;
	test_tiny_arch(lc, n_texts);
	test_rope_freqs_matter(lc);
	test_tf_tiny(tf, tfb, ntf, n_texts);
	json_decref(in);
	fp_model *m = NULL;
	fp_error err = {0};
	CHECK(gemma && fp_model_load(&m, gemma, &err) == 0, "Gemma-3-270M loads (%s): %s",
	      gemma ? gemma : "set FACTPROBE_TEST_GEMMA or run 'make model'", err.msg);
	if (m) {
		check_tokenizer(m, json_object_get(g, "tokenize"), "gemma3-270m tokenizer");
		test_gemma_predict(m, g);
		test_gemma_facts(m);
		test_tf_gemma(m, tf, tfb, ntf);
		fp_model_free(m);
	}
	json_decref(lc), json_decref(g), json_decref(tf);
	free(tfb);
	return check_done("test_arch");
}
