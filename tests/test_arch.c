/* test_arch.c - the newer architectures (qwen2, qwen3, gemma2, gemma3, phi3,
 * gptneox) and the second real model, Gemma-3-270M, against llama.cpp, from
 * the fixtures scripts/oracle_arch.py recorded (scripts/make-oracle.sh):
 *   - each tiny synthetic model (tests/tiny.c, regenerated here bit for bit):
 *     llama.cpp's token ids and its logits at every position of every text;
 *   - Gemma-3-270M Q4_K_M: llama.cpp's token ids for the tokenizer test set
 *     (SentencePiece-style, 262 144 pieces, user-defined tokens), the top-10
 *     log-probabilities of 24 prompts from llama.cpp on the file itself and
 *     on its weights dequantised to F32, and the three facts the issue cites.
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
	for (size_t i = 0; i < sizeof FACTS / sizeof FACTS[0]; i++) {
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

int main(int argc, char **argv)
{
	fixture_dir = argc > 1 ? argv[1] : "tests/fixtures";
	const char *gemma = argc > 2 ? argv[2] : getenv("FACTPROBE_TEST_GEMMA");
	json_t *lc = load_json("llamacpp_arch.json"), *g = load_json("llamacpp_gemma3.json");
	CHECK(lc && g, "fixtures load");
	if (!lc || !g)
		return check_done("test_arch");
	printf("oracle: %s\n", json_string_value(json_object_get(lc, "oracle")));
	json_t *in = load_json("oracle_inputs.json");
	test_tiny_arch(lc, in ? (int)json_array_size(json_object_get(in, "tiny_texts")) : 0);
	json_decref(in);
	fp_model *m = NULL;
	fp_error err = {0};
	CHECK(gemma && fp_model_load(&m, gemma, &err) == 0, "Gemma-3-270M loads (%s): %s",
	      gemma ? gemma : "set FACTPROBE_TEST_GEMMA or run 'make model'", err.msg);
	if (m) {
		check_tokenizer(m, json_object_get(g, "tokenize"), "gemma3-270m tokenizer");
		test_gemma_predict(m, g);
		test_gemma_facts(m);
		fp_model_free(m);
	}
	json_decref(lc), json_decref(g);
	return check_done("test_arch");
}
