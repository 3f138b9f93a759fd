/* test_hf_arch.c - Hugging Face checkpoints of every family against transformers:
 * the tiny random checkpoints scripts/make-hf-tiny.py wrote with
 * transformers (tests/fixtures/hf/NAME/: config.json, model.safetensors,
 * tokenizer.json) and transformers' own outputs for one text's token ids
 * (oracle.json + oracle.f32).  For each checkpoint, loaded by directory:
 *   logits at every position;
 *   hidden_states[0] = blocks.0.hook_resid_pre (the embeddings, Gemma's
 *     times sqrt(d_model), GPT-2's plus positions);
 *   hidden_states[l + 1] = blocks.l.hook_resid_post for every block but the
 *     last, and the last block's output (a forward hook in transformers) =
 *     its hook_resid_post;
 *   hidden_states[L] (after the final norm in transformers) =
 *     ln_final.hook_normalized;
 *   the input of each MLP's output projection = blocks.l.mlp.hook_post;
 * each as max |diff| relative to the largest |value| of that array, against
 * a tolerance of 1e-5 (f32 on both sides; only the order of the sums
 * differs).  Then config fields factprobe does not implement: each is
 * refused with an error naming it, and some that the tiny checkpoints show
 * change the logits far beyond the tolerance.
 * usage: test_hf_arch [FIXTURE_DIR]  (default tests/fixtures; the checkpoints are in its hf/) */
#include "check.h"
#pragma GCC diagnostic ignored "-Wunused-function" /* fixture.h: load_json and load_f32 only */
#include "fixture.h"
#include "../model/model.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *dir;

/* the checkpoints, and what each one tests beyond its family */
static const struct { const char *name, *what; } CKPTS[] = {
	{"gpt2", "Conv1D weights transposed, learned positions, tied unembedding"},
	{"gpt2-unprefixed", "the same under the original GPT-2 names (no 'transformer.', attn.bias buffers)"},
	{"gptj", "parallel block with one LayerNorm, partial rotary on interleaved pairs, lm_head bias"},
	{"gptneox", "Pythia: per-head [q k v] fused QKV, partial rotary, parallel residual"},
	{"gptneox-seq", "GPT-NeoX with use_parallel_residual false"},
	{"llama", "rotate_half RoPE on unpermuted weights, GQA"},
	{"llama3", "rope_scaling llama3 (base 100: every band of it within 20 positions), tied"},
	{"mistral", "sliding window 4 on every layer"},
	{"qwen2", "Q, K, V biases, tied"},
	{"qwen3", "Q/K RMSNorm per head, head_dim wider than hidden/heads"},
	{"gemma2", "1 + w norms, soft-caps 2 and 5, query_pre_attn_scalar 24, sliding window 4"},
	{"gemma3", "1 + w norms and Q/K norms, local RoPE base, layer_types sliding/full/sliding"},
	{"phi3", "fused qkv_proj and gate_up_proj"},
};
#define TOL 1e-5

typedef struct cap {
	int L, T, D, F;
	float *resid_pre0, *resid_post, *ln_final, *mlp_post; /* [T,D], [L,T,D], [T,D], [L,T,F] */
} cap;

static int hook(void *user, const fp_hook_event *ev)
{
	cap *c = user;
	size_t n = (size_t)ev->n_pos * ev->width;
	if (ev->kind == FP_HOOK_RESID_PRE && ev->layer == 0)
		memcpy(c->resid_pre0, ev->data, n * sizeof(float));
	else if (ev->kind == FP_HOOK_RESID_POST)
		memcpy(c->resid_post + (size_t)ev->layer * c->T * c->D, ev->data, n * sizeof(float));
	else if (ev->kind == FP_HOOK_LN_FINAL)
		memcpy(c->ln_final, ev->data, n * sizeof(float));
	else if (ev->kind == FP_HOOK_MLP_POST)
		memcpy(c->mlp_post + (size_t)ev->layer * c->T * c->F, ev->data, n * sizeof(float));
	return 0;
}

/* the oracle array `key` (offset, shape) at element `skip`, with n values */
static const float *array_at(json_t *meta, const float *blob, size_t nblob, const char *key, size_t skip, size_t n)
{
	json_t *a = json_object_get(json_object_get(meta, "arrays"), key);
	size_t off = (size_t)json_integer_value(json_object_get(a, "offset")), total = 1, i;
	json_t *d;
	json_array_foreach(json_object_get(a, "shape"), i, d)
		total *= (size_t)json_integer_value(d);
	if (!a || skip + n > total || off + total > nblob)
		return NULL;
	return blob + off + skip;
}

/* max |got - ref| / max |ref| over n values, into the running worst of a kind */
static double rel_diff(const float *got, const float *ref, size_t n)
{
	double d = 0, s = 0;
	for (size_t i = 0; i < n; i++) {
		d = fmax(d, fabs((double)got[i] - ref[i]));
		s = fmax(s, fabs(ref[i]));
	}
	return d / (s > 0 ? s : 1);
}

static void check_ckpt(const char *name, const char *what)
{
	char path[4096], mp[4096];
	snprintf(path, sizeof path, "%s/oracle.json", name);
	json_t *meta = load_json(path);
	snprintf(path, sizeof path, "%s/oracle.f32", name);
	size_t nblob = 0;
	float *blob = load_f32(path, &nblob);
	CHECK(meta && blob, "%s: oracle fixtures present in %s/%s", name, dir, name);
	snprintf(mp, sizeof mp, "%s/%s", dir, name);
	fp_model *m = NULL;
	fp_error err = {0};
	if (meta && blob)
		CHECK(fp_model_load(&m, mp, &err) == 0, "%s: the checkpoint directory loads: %s", name, err.msg);
	if (!m) {
		json_decref(meta), free(blob);
		return;
	}
	int T;
	json_t *jids = json_object_get(meta, "ids");
	T = (int)json_array_size(jids);
	int32_t *ids = malloc((size_t)T * sizeof *ids);
	for (int t = 0; t < T; t++)
		ids[t] = (int32_t)json_integer_value(json_array_get(jids, (size_t)t));
	const fp_config *c = &m->cfg;
	int L = c->n_layers, D = c->d_model, F = c->d_mlp, V = c->n_vocab;
	cap cp = {L, T, D, F, malloc((size_t)T * D * 4), malloc((size_t)L * T * D * 4), malloc((size_t)T * D * 4),
		  malloc((size_t)L * T * F * 4)};
	float *logits = malloc((size_t)T * V * sizeof *logits);
	fp_forward_opts o = {.hook = hook, .user = &cp, .all_logits = 1,
			     .hook_mask = FP_HOOK_BIT(FP_HOOK_RESID_PRE) | FP_HOOK_BIT(FP_HOOK_RESID_POST) |
					  FP_HOOK_BIT(FP_HOOK_LN_FINAL) | FP_HOOK_BIT(FP_HOOK_MLP_POST)};
	CHECK(fp_model_forward(m, ids, T, &o, logits, &err) == 0, "%s: forward: %s", name, err.msg);
	const float *r;
	double dl = -1, de = -1, dr = 0, dn = -1, dm = 0;
	int missing = 0;
	if ((r = array_at(meta, blob, nblob, "logits", 0, (size_t)T * V)))
		dl = rel_diff(logits, r, (size_t)T * V);
	if ((r = array_at(meta, blob, nblob, "hidden", 0, (size_t)T * D)))
		de = rel_diff(cp.resid_pre0, r, (size_t)T * D);
	for (int l = 0; l < L; l++) {
		r = l < L - 1 ? array_at(meta, blob, nblob, "hidden", (size_t)(l + 1) * T * D, (size_t)T * D)
			      : array_at(meta, blob, nblob, "resid_last", 0, (size_t)T * D);
		missing += !r;
		if (r)
			dr = fmax(dr, rel_diff(cp.resid_post + (size_t)l * T * D, r, (size_t)T * D));
		r = array_at(meta, blob, nblob, "mlp_post", (size_t)l * T * F, (size_t)T * F);
		missing += !r;
		if (r)
			dm = fmax(dm, rel_diff(cp.mlp_post + (size_t)l * T * F, r, (size_t)T * F));
	}
	if ((r = array_at(meta, blob, nblob, "hidden", (size_t)L * T * D, (size_t)T * D)))
		dn = rel_diff(cp.ln_final, r, (size_t)T * D);
	CHECK(dl >= 0 && de >= 0 && dn >= 0 && !missing, "%s: the oracle has every array at the model's shapes "
	      "(%d layers, %d tokens, d_model %d, d_mlp %d, vocab %d)", name, L, T, D, F, V);
	printf("     %s (%s): %s\n", name, c->arch_name, what);
	CHECK_CLOSE(dl, TOL, "%-11s logits at all %d positions vs transformers, relative", name, T);
	CHECK_CLOSE(de, TOL, "%-11s hidden_states[0] = blocks.0.hook_resid_pre, relative", name);
	CHECK_CLOSE(dr, TOL, "%-11s every block's output = blocks.L.hook_resid_post (%d layers), relative", name, L);
	CHECK_CLOSE(dn, TOL, "%-11s hidden_states[%d] (after the final norm) = ln_final.hook_normalized, relative", name, L);
	CHECK_CLOSE(dm, TOL, "%-11s the MLP output projection's input = blocks.L.mlp.hook_post, relative", name);
	/* the token ids of the text, where the checkpoint's tokenizer loaded */
	const char *text = json_string_value(json_object_get(meta, "text"));
	if (m->tok && text) {
		int32_t *got = NULL;
		int ng = 0;
		fp_tokenize(m->tok, text, strlen(text), 0, &got, &ng, &err);
		CHECK(ng == T && !memcmp(got, ids, (size_t)T * sizeof *ids), "%s: tokenizer.json gives the tokenizers "
		      "package's %d ids for the text (got %d)", name, T, ng);
		free(got);
	} else {
		printf("     %s: no tokenizer (%s): token ids not compared\n", name, m->tok_error.msg);
	}
	free(cp.resid_pre0), free(cp.resid_post), free(cp.ln_final), free(cp.mlp_post), free(logits), free(ids);
	fp_model_free(m);
	json_decref(meta), free(blob);
}

/* ---- config fields that are not implemented: errors naming them ---- */

/* a copy of checkpoint `name` in tmp (its weights linked) whose config.json
 * has key set to the JSON value `val` (NULL: removed) */
static int modified_copy(char *tmp, const char *name, const char *key, const char *val)
{
	char p[8192], src[8192], cwd[4096];
	json_error_t je;
	if (!mkdtemp(tmp))
		return -1;
	snprintf(p, sizeof p, "%s/%s/config.json", dir, name);
	json_t *cfg = json_load_file(p, 0, &je);
	if (!cfg)
		return -1;
	if (val)
		json_object_set_new(cfg, key, json_loads(val, JSON_DECODE_ANY, &je));
	else
		json_object_del(cfg, key);
	snprintf(p, sizeof p, "%s/config.json", tmp);
	json_dump_file(cfg, p, 0);
	json_decref(cfg);
	if (dir[0] == '/' || !getcwd(cwd, sizeof cwd))
		cwd[0] = 0;
	snprintf(src, sizeof src, "%s%s%s/%s/model.safetensors", cwd, cwd[0] ? "/" : "", dir, name);
	snprintf(p, sizeof p, "%s/model.safetensors", tmp);
	return symlink(src, p);
}

static void remove_copy(const char *tmp)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/model.safetensors", tmp);
	unlink(p);
	snprintf(p, sizeof p, "%s/config.json", tmp);
	unlink(p);
	rmdir(tmp);
}

/* the copy with key = val is refused by an error naming `want` */
static void check_refused(const char *name, const char *key, const char *val, const char *want)
{
	char tmp[] = "/tmp/fp-hf-XXXXXX";
	fp_model *m = NULL;
	fp_error err = {0};
	CHECK(modified_copy(tmp, name, key, val) == 0, "a modified copy of %s in %s", name, tmp);
	int rc = fp_model_load(&m, tmp, &err);
	CHECK(rc != 0 && strstr(err.msg, want), "%s with %s = %s: refused naming '%s': %s", name, key,
	      val ? val : "(absent)", want, rc ? err.msg : "it loaded");
	fp_model_free(m);
	remove_copy(tmp);
}

/* the copy with key = val computes something else: its logits are more
 * than 100 x TOL from transformers' on the original (so the comparison
 * above can see that field) */
static void check_matters(const char *name, const char *key, const char *val)
{
	char tmp[] = "/tmp/fp-hf-XXXXXX", path[4096];
	fp_model *m = NULL;
	fp_error err = {0};
	size_t nblob = 0;
	snprintf(path, sizeof path, "%s/oracle.json", name);
	json_t *meta = load_json(path), *jids = json_object_get(meta, "ids");
	snprintf(path, sizeof path, "%s/oracle.f32", name);
	float *blob = load_f32(path, &nblob);
	CHECK(modified_copy(tmp, name, key, val) == 0 && fp_model_load(&m, tmp, &err) == 0,
	      "%s with %s = %s loads: %s", name, key, val ? val : "(absent)", err.msg);
	if (m && meta && blob) {
		int T = (int)json_array_size(jids), V = m->cfg.n_vocab;
		int32_t *ids = malloc((size_t)T * sizeof *ids);
		float *lg = malloc((size_t)T * V * sizeof *lg);
		for (int t = 0; t < T; t++)
			ids[t] = (int32_t)json_integer_value(json_array_get(jids, (size_t)t));
		fp_forward_opts o = {.all_logits = 1};
		const float *r = array_at(meta, blob, nblob, "logits", 0, (size_t)T * V);
		double d = fp_model_forward(m, ids, T, &o, lg, &err) == 0 && r ? rel_diff(lg, r, (size_t)T * V) : 0;
		CHECK(d > 100 * TOL, "%s with %s = %s: logits %.3g (relative) from transformers' on the original, more "
		      "than 100 x the tolerance: the comparison sees the field", name, key, val ? val : "(absent)", d);
		printf("     %s with %s = %s instead: logits differ by %.3g relative\n", name, key, val ? val : "(absent)", d);
		free(ids), free(lg);
	}
	fp_model_free(m);
	remove_copy(tmp);
	json_decref(meta), free(blob);
}

/* logits at every position of the fixture's ids on a copy of NAME with KEY = VAL (NULL: removed); NULL on failure */
static float *copy_logits(const char *name, const char *key, const char *val, size_t *n)
{
	char tmp[] = "/tmp/fp-hf-XXXXXX", path[4096];
	fp_model *m = NULL;
	fp_error err = {0};
	float *lg = NULL;
	snprintf(path, sizeof path, "%s/oracle.json", name);
	json_t *meta = load_json(path), *jids = json_object_get(meta, "ids");
	if (modified_copy(tmp, name, key, val) == 0 && fp_model_load(&m, tmp, &err) == 0 && jids) {
		int T = (int)json_array_size(jids), V = m->cfg.n_vocab;
		int32_t *ids = malloc((size_t)T * sizeof *ids);
		lg = malloc((size_t)T * V * sizeof *lg);
		for (int t = 0; t < T; t++)
			ids[t] = (int32_t)json_integer_value(json_array_get(jids, (size_t)t));
		fp_forward_opts o = {.all_logits = 1};
		if (fp_model_forward(m, ids, T, &o, lg, &err) != 0)
			free(lg), lg = NULL;
		*n = (size_t)T * V;
		free(ids);
	}
	fp_model_free(m);
	remove_copy(tmp);
	json_decref(meta);
	return lg;
}

/* An absent KEY must compute what transformers' config class does by
 * default: the same logits as the copy that states DEFAULT. */
static void check_default(const char *name, const char *key, const char *dflt)
{
	size_t na = 0, nd = 0;
	float *a = copy_logits(name, key, NULL, &na), *d = copy_logits(name, key, dflt, &nd);
	double diff = a && d && na == nd ? rel_diff(a, d, na) : 1;
	CHECK(a && d && na == nd && diff == 0, "%s without %s = with %s: %s (transformers' default): logits differ by "
	      "%.3g relative (tolerance 0)", name, key, key, dflt, diff);
	printf("     %s without %s against %s = %s: logits differ by %.3g relative (tolerance 0)\n", name, key, key, dflt,
	       diff);
	free(a), free(d);
}

int main(int argc, char **argv)
{
	static char hf_dir[4096];
	snprintf(hf_dir, sizeof hf_dir, "%s/hf", argc > 1 ? argv[1] : "tests/fixtures");
	dir = fixture_dir = hf_dir;
	for (size_t i = 0; i < sizeof CKPTS / sizeof CKPTS[0]; i++)
		check_ckpt(CKPTS[i].name, CKPTS[i].what);
	/* fields whose effect the tiny checkpoints show */
	check_matters("llama3", "rope_scaling", NULL);
	check_matters("gemma3", "rope_local_base_freq", "1000000.0");
	check_matters("gemma2", "attn_logit_softcapping", NULL);
	check_matters("gemma2", "query_pre_attn_scalar", "16");
	check_default("gemma2", "attn_logit_softcapping", "50.0");
	check_default("gemma2", "final_logit_softcapping", "30.0");
	check_matters("gptj", "rotary_dim", "8");
	check_refused("phi3", "rope_scaling", "{\"type\": \"longrope\", \"long_factor\": [1], \"short_factor\": [1]}",
		      "rope_scaling");
	check_refused("gemma3", "rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 4}", "yarn");
	check_refused("gemma2", "rope_scaling", "{\"rope_type\": \"linear\", \"factor\": 4}", "rope_scaling");
	check_refused("gemma3", "layer_types", "[\"full_attention\", \"sliding_attention\", \"sliding_attention\"]",
		      "layer_types");
	check_refused("gemma3", "use_bidirectional_attention", "true", "use_bidirectional_attention");
	check_refused("gpt2", "scale_attn_by_inverse_layer_idx", "true", "scale_attn_by_inverse_layer_idx");
	check_refused("gpt2", "activation_function", "\"relu\"", "activation_function");
	check_refused("gptj", "rotary_dim", "null", "rotary_dim");
	check_refused("gptneox", "hidden_act", "\"relu\"", "hidden_act");
	check_refused("gptneox", "rope_scaling", "{\"rope_type\": \"dynamic\", \"factor\": 2}", "rope_scaling");
	check_refused("gemma2", "hidden_activation", "\"gelu\"", "hidden_activation");
	check_refused("phi3", "partial_rotary_factor", "0.375", "partial_rotary_factor");
	check_refused("llama", "rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 4}", "rope_scaling");
	check_refused("llama3", "rope_scaling", "{\"rope_type\": \"llama3\", \"factor\": 8}", "low_freq_factor");
	return check_done("test_hf_arch");
}
