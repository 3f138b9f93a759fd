/* hf_families.c - the Hugging Face architecture families beyond the llama
 * family of hf.c (see hf_internal.h): GPT2LMHeadModel, GPTJForCausalLM,
 * GPTNeoXForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM (text),
 * Phi3ForCausalLM.  Each turns config.json into an fp_config as
 * transformers' modeling_<family>.py computes, and maps the checkpoint's
 * tensors to the GGUF names model.c's loader takes, changing them where the
 * layouts differ (each change is stated where it is made).  A config field
 * that changes the computation and is not implemented is an error naming it.
 * Each family is checked against transformers on a tiny random checkpoint
 * (scripts/make-hf-tiny.py, tests/test_hf.c). */
#include "hf_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define ERRC(err) ((err)->code ? (err)->code : FP_ERR_FORMAT)

/* ---- config helpers ---- */

/* an MLP activation by name: gelu_new / gelu_pytorch_tanh / gelu_fast (the
 * tanh approximation, one formula) or gelu (exact erf; not gated MLPs) */
static int act_of(hf_ckpt *h, const char *key, const char *dflt, int gated, int *act, fp_error *err)
{
	const char *a = hf_cfg_str(h, key);
	if (!a && hf_cfg_json(h, key))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': field '%s' is not a string", hf_cfg_path(h), key);
	if (!a)
		a = dflt;
	if (!strcmp(a, "gelu_new") || !strcmp(a, "gelu_pytorch_tanh") || !strcmp(a, "gelu_fast"))
		*act = FP_ACT_GELU_TANH;
	else if (!gated && !strcmp(a, "gelu"))
		*act = FP_ACT_GELU_ERF;
	else
		return fp_error_set(err, FP_ERR_UNSUPPORTED, "'%s': %s = '%.40s' is not supported by factprobe here "
				    "(supported: gelu_new, gelu_pytorch_tanh, gelu_fast%s)", hf_cfg_path(h), key, a,
				    gated ? "" : ", gelu");
	return 0;
}

/* a number in rope_scaling, for rope_scaling of type ty */
static int rs_num(hf_ckpt *h, json_t *rs, const char *key, const char *ty, double lo, double hi, double *out,
		  fp_error *err)
{
	json_t *v = json_object_get(rs, key);
	if (!v)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': rope_scaling of type '%s' needs the field "
				    "'rope_scaling.%s'", hf_cfg_path(h), ty, key);
	*out = json_is_number(v) ? json_number_value(v) : NAN;
	if (!(*out >= lo && *out < hi))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': rope_scaling.%s must be a number in [%g, %g)",
				    hf_cfg_path(h), key, lo, hi);
	return 0;
}

int hf_cfg_rope_scaling(hf_ckpt *h, fp_config *c, int allow, fp_error *err)
{
	json_t *rs = hf_cfg_json(h, "rope_scaling");
	if (!rs)
		return 0;
	json_t *t = json_object_get(rs, "rope_type");
	if (!t)
		t = json_object_get(rs, "type");
	const char *ty = json_is_string(t) ? json_string_value(t) : "?";
	double f, lo, hi, orig;
	int rc;
	if (!strcmp(ty, "default"))
		return 0;
	if ((allow & HF_ROPE_LINEAR) && !strcmp(ty, "linear")) {
		if ((rc = rs_num(h, rs, "factor", ty, 1, 1e4, &f, err)))
			return rc;
		c->rope_scale = (float)(1.0 / f);
		return 0;
	}
	if ((allow & HF_ROPE_LLAMA3) && !strcmp(ty, "llama3")) {
		/* transformers' _compute_llama3_parameters: every field required */
		if ((rc = rs_num(h, rs, "factor", ty, 1, 1e4, &f, err)) ||
		    (rc = rs_num(h, rs, "low_freq_factor", ty, 1e-6, 1e6, &lo, err)) ||
		    (rc = rs_num(h, rs, "high_freq_factor", ty, 1e-6, 1e6, &hi, err)) ||
		    (rc = rs_num(h, rs, "original_max_position_embeddings", ty, 1, 1e9, &orig, err)))
			return rc;
		if (!(hi > lo))
			return fp_error_set(err, FP_ERR_FORMAT, "'%s': rope_scaling.high_freq_factor (%g) must exceed "
					    "low_freq_factor (%g)", hf_cfg_path(h), hi, lo);
		c->rope_l3_factor = (float)f, c->rope_l3_low = (float)lo, c->rope_l3_high = (float)hi;
		c->rope_l3_orig_ctx = (float)orig;
		return 0;
	}
	return fp_error_set(err, FP_ERR_UNSUPPORTED, "'%s': rope_scaling of type '%.30s' is not supported by factprobe "
			    "for %s (supported: none, default%s%s)", hf_cfg_path(h), ty, c->arch_name,
			    allow & HF_ROPE_LINEAR ? ", linear" : "", allow & HF_ROPE_LLAMA3 ? ", llama3" : "");
}

/* layer_types (transformers >= 4.53), else `pattern` (a global layer after
 * every pattern - 1 sliding ones): into c->swa_period.  The list must be
 * such a repeating pattern, which is what fp_config can say. */
static int swa_layers(hf_ckpt *h, fp_config *c, int pattern, fp_error *err)
{
	json_t *lt = hf_cfg_json(h, "layer_types");
	int L = c->n_layers, first_full = -1, rc;
	if (!lt) {
		if ((rc = hf_cfg_int(h, "sliding_window_pattern", 0, pattern, &pattern, err)))
			return rc;
		c->swa_period = pattern;
		return 0;
	}
	if (!json_is_array(lt) || (int)json_array_size(lt) != L)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': layer_types must list num_hidden_layers (%d) entries",
				    hf_cfg_path(h), L);
	for (int l = 0; l < L; l++) {
		const char *s = json_string_value(json_array_get(lt, (size_t)l));
		if (!s || (strcmp(s, "sliding_attention") && strcmp(s, "full_attention")))
			return fp_error_set(err, FP_ERR_UNSUPPORTED, "'%s': layer_types[%d] = '%.30s' is not supported "
					    "(supported: sliding_attention, full_attention)", hf_cfg_path(h), l, s ? s : "?");
		if (first_full < 0 && !strcmp(s, "full_attention"))
			first_full = l;
	}
	if (first_full == 0) { /* no layer slides: none may */
		c->n_swa = 0;
		first_full = 1;
	}
	c->swa_period = first_full < 0 ? 1 : first_full + 1;
	for (int l = 0; l < L; l++) {
		int slides = !strcmp(json_string_value(json_array_get(lt, (size_t)l)), "sliding_attention");
		if (slides != fp_config_layer_swa(c, l) && !(c->n_swa == 0 && !slides))
			return fp_error_set(err, FP_ERR_UNSUPPORTED, "'%s': layer_types is not a repeating pattern of "
					    "sliding layers followed by one full layer (layer %d), which factprobe cannot "
					    "represent", hf_cfg_path(h), l);
	}
	return 0;
}

/* the fields of the GPT-2-style configs (gpt2, gptj): n_embd, n_layer,
 * n_head, vocab_size, n_positions, n_inner (null: 4 n_embd),
 * layer_norm_epsilon; LayerNorm, one head per n_embd / n_head */
static int cfg_gpt_style(hf_ckpt *h, fp_config *c, int arch, fp_error *err)
{
	int rc;
	float eps;
	c->arch = arch;
	snprintf(c->arch_name, sizeof c->arch_name, "%s", FP_ARCH_NAMES[arch]);
	if ((rc = hf_cfg_int(h, "n_embd", 1, 0, &c->d_model, err)) || (rc = hf_cfg_int(h, "n_layer", 1, 0, &c->n_layers, err)) ||
	    (rc = hf_cfg_int(h, "n_head", 1, 0, &c->n_heads, err)) || (rc = hf_cfg_int(h, "vocab_size", 1, 0, &c->n_vocab, err)) ||
	    (rc = hf_cfg_int(h, "n_positions", 0, 1024, &c->n_ctx, err)))
		return rc;
	if (c->d_model % c->n_heads)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': n_embd %d is not a multiple of n_head %d", hf_cfg_path(h),
				    c->d_model, c->n_heads);
	if (c->n_layers > 4096)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': n_layer = %d is absurd", hf_cfg_path(h), c->n_layers);
	if ((rc = hf_cfg_int(h, "n_inner", 0, 4 * c->d_model, &c->d_mlp, err)) ||
	    (rc = hf_cfg_float(h, "layer_norm_epsilon", 0, 1e-5, &eps, err)) ||
	    (rc = act_of(h, "activation_function", "gelu_new", 0, &c->mlp_act, err)))
		return rc;
	if (!(eps > 0 && eps < 1))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': layer_norm_epsilon = %g is not in (0, 1)", hf_cfg_path(h), eps);
	c->norm_eps = eps;
	c->n_kv_heads = c->n_heads;
	c->d_head = c->d_model / c->n_heads;
	c->layer_norm = 1;
	c->gated_mlp = 0;
	c->embed_scale = 1.0f;
	c->attn_scale = 1.0f / sqrtf((float)c->d_head);
	c->rope_scale = 1.0f;
	return 0;
}

/* ---- tensor helpers ---- */

/* gguf_name <- hf_name [rows, cols], or zeros when the optional tensor is
 * absent (a bias a config switched off: adding zeros is exact) */
static int map_or_zero(hf_ckpt *h, const char *g, const char *n, uint64_t rows, uint64_t cols, fp_error *err)
{
	if (hf_tensor(h, n))
		return hf_map(h, g, n, rows, cols, 0, err);
	float *z = hf_alloc_f32(h, (size_t)rows * (cols ? cols : 1), err);
	return z ? hf_put(h, g, z, rows, cols, err) : ERRC(err);
}

/* Gemma's norms compute x (1 + w): the loader's norms compute x w */
static int map_plus1(hf_ckpt *h, const char *g, const char *n, uint64_t rows, fp_error *err)
{
	float *w = hf_f32(h, n, rows, 0, 0, err);
	if (!w)
		return ERRC(err);
	for (uint64_t i = 0; i < rows; i++)
		w[i] = 1.0f + w[i];
	return hf_put(h, g, w, rows, 0, err);
}

/* GPT-2's Conv1D stores W as [in, out]: transposed to [out, in] */
static int map_conv1d(hf_ckpt *h, const char *g, const char *n, uint64_t in, uint64_t out, fp_error *err)
{
	float *w = hf_f32(h, n, in, out, 0, err), *t;
	if (!w || !(t = hf_alloc_f32(h, (size_t)in * out, err)))
		return ERRC(err);
	for (uint64_t r = 0; r < in; r++)
		for (uint64_t c = 0; c < out; c++)
			t[c * in + r] = w[r * out + c];
	return hf_put(h, g, t, out, in, err);
}

static uint64_t dim_of(const fp_config *c, int d)
{
	uint64_t D = (uint64_t)c->d_model, F = (uint64_t)c->d_mlp, E = (uint64_t)c->d_head;
	uint64_t QE = (uint64_t)c->n_heads * E, KE = (uint64_t)c->n_kv_heads * E;
	switch (d) {
	case HF_DIM_D: return D;
	case HF_DIM_F: return F;
	case HF_DIM_E: return E;
	case HF_DIM_QE: return QE;
	case HF_DIM_KE: return KE;
	case HF_DIM_QKV: return QE + 2 * KE;
	case HF_DIM_2F: return 2 * F;
	case HF_DIM_3D: return 3 * D;
	default: return 0;
	}
}

int hf_map_layer(hf_ckpt *h, const fp_config *c, const char *prefix, int l, const hf_layer_tensor *t, size_t n,
		 fp_error *err)
{
	for (size_t i = 0; i < n; i++) {
		char g[96], hn[128];
		uint64_t rows = dim_of(c, t[i].rows), cols = dim_of(c, t[i].cols);
		int rc = 0;
		snprintf(g, sizeof g, "blk.%d.%s", l, t[i].gguf);
		snprintf(hn, sizeof hn, "%s%d.%s", prefix, l, t[i].hf);
		switch (t[i].how) {
		case HF_AS_IS: rc = hf_map(h, g, hn, rows, cols, 0, err); break;
		case HF_PLUS1: rc = map_plus1(h, g, hn, rows, err); break;
		case HF_OR_ZERO: rc = map_or_zero(h, g, hn, rows, cols, err); break;
		case HF_CONV1D: rc = map_conv1d(h, g, hn, rows, cols, err); break;
		case HF_IGNORE: hf_ignore(h, hn); break;
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* the unembedding: lm_head unless tied (then transformers uses the
 * embedding and ignores a stored copy) */
static int map_unembed(hf_ckpt *h, const fp_config *c, const char *name, fp_error *err)
{
	uint64_t V = (uint64_t)c->n_vocab, D = (uint64_t)c->d_model;
	if (!c->tied_unembed)
		return hf_map(h, "output.weight", name, V, D, 0, err);
	hf_ignore(h, name);
	return 0;
}

/* ---- GPT2LMHeadModel ---- */

static int cfg_gpt2(hf_ckpt *h, fp_config *c, fp_error *err)
{
	int rc, sc, tie;
	if ((rc = cfg_gpt_style(h, c, FP_ARCH_GPT2, err)) || (rc = hf_cfg_bool(h, "scale_attn_weights", 1, &sc, err)) ||
	    (rc = hf_cfg_refuse_true(h, "scale_attn_by_inverse_layer_idx", "attention scaled by 1/(layer + 1)", err)) ||
	    (rc = hf_cfg_refuse_true(h, "add_cross_attention", "cross-attention", err)) ||
	    (rc = hf_cfg_bool(h, "tie_word_embeddings", 1, &tie, err)))
		return rc;
	if (!sc)
		return fp_error_set(err, FP_ERR_UNSUPPORTED, "'%s': scale_attn_weights = false is not supported by "
				    "factprobe (unscaled attention scores)", hf_cfg_path(h));
	/* reorder_and_upcast_attn only changes the order of f32 operations */
	c->tied_unembed = tie;
	return 0;
}

/* the checkpoint's prefix of every GPT-2 tensor name: GPT2LMHeadModel saves
 * "transformer.h.0.ln_1.weight", and the original GPT-2 checkpoints (saved
 * from GPT2Model) "h.0.ln_1.weight" */
static const char *gpt2_prefix(hf_ckpt *h)
{
	return hf_tensor(h, "wte.weight") && !hf_tensor(h, "transformer.wte.weight") ? "" : "transformer.";
}

/* the checkpoint's name for the GPT-2 tensor `what` outside the layers */
static const char *gpt2_name(hf_ckpt *h, char *buf, size_t n, const char *what)
{
	snprintf(buf, n, "%s%s", gpt2_prefix(h), what);
	return buf;
}


static int w_gpt2(hf_ckpt *h, const fp_config *c, fp_error *err)
{
	/* c_attn's output columns are Q, K, V; every weight is a Conv1D */
	static const hf_layer_tensor LAYER[] = {
		/* the causal-mask buffers older checkpoints store */
		{"", "attn.bias", 0, 0, HF_IGNORE},
		{"", "attn.masked_bias", 0, 0, HF_IGNORE},
		{"attn_norm.weight", "ln_1.weight", HF_DIM_D, HF_DIM_NONE, HF_AS_IS},
		{"attn_norm.bias", "ln_1.bias", HF_DIM_D, HF_DIM_NONE, HF_AS_IS},
		{"attn_qkv.weight", "attn.c_attn.weight", HF_DIM_D, HF_DIM_3D, HF_CONV1D},
		{"attn_qkv.bias", "attn.c_attn.bias", HF_DIM_3D, HF_DIM_NONE, HF_AS_IS},
		{"attn_output.weight", "attn.c_proj.weight", HF_DIM_D, HF_DIM_D, HF_CONV1D},
		{"attn_output.bias", "attn.c_proj.bias", HF_DIM_D, HF_DIM_NONE, HF_AS_IS},
		{"ffn_norm.weight", "ln_2.weight", HF_DIM_D, HF_DIM_NONE, HF_AS_IS},
		{"ffn_norm.bias", "ln_2.bias", HF_DIM_D, HF_DIM_NONE, HF_AS_IS},
		{"ffn_up.weight", "mlp.c_fc.weight", HF_DIM_D, HF_DIM_F, HF_CONV1D},
		{"ffn_up.bias", "mlp.c_fc.bias", HF_DIM_F, HF_DIM_NONE, HF_AS_IS},
		{"ffn_down.weight", "mlp.c_proj.weight", HF_DIM_F, HF_DIM_D, HF_CONV1D},
		{"ffn_down.bias", "mlp.c_proj.bias", HF_DIM_D, HF_DIM_NONE, HF_AS_IS},
	};
	uint64_t D = (uint64_t)c->d_model, V = (uint64_t)c->n_vocab;
	char n[128], layers[32];
	int rc;
#define G(what) gpt2_name(h, n, sizeof n, what)
	if ((rc = hf_map(h, "token_embd.weight", G("wte.weight"), V, D, 0, err)) ||
	    (rc = hf_map(h, "position_embd.weight", G("wpe.weight"), (uint64_t)c->n_ctx, D, 0, err)) ||
	    (rc = hf_map(h, "output_norm.weight", G("ln_f.weight"), D, 0, 0, err)) ||
	    (rc = hf_map(h, "output_norm.bias", G("ln_f.bias"), D, 0, 0, err)) ||
	    (rc = map_unembed(h, c, "lm_head.weight", err)))
		return rc;
#undef G
	snprintf(layers, sizeof layers, "%sh.", gpt2_prefix(h));
	for (int l = 0; l < c->n_layers; l++)
		if ((rc = hf_map_layer(h, c, layers, l, LAYER, HF_COUNT(LAYER), err)))
			return rc;
	return 0;
}

/* ---- GPTJForCausalLM ---- */

static int cfg_gptj(hf_ckpt *h, fp_config *c, fp_error *err)
{
	int rc, tie;
	if ((rc = cfg_gpt_style(h, c, FP_ARCH_GPTJ, err)) || (rc = hf_cfg_bool(h, "tie_word_embeddings", 0, &tie, err)))
		return rc;
	/* rotary_dim of each head, in interleaved pairs (rotate_every_two);
	 * the base is fixed at 10000 in transformers' GPT-J */
	if (!hf_cfg_json(h, "rotary_dim"))
		return fp_error_set(err, FP_ERR_UNSUPPORTED, "'%s': rotary_dim = null (rotary over the whole embedding) "
				    "is not supported by factprobe", hf_cfg_path(h));
	if ((rc = hf_cfg_int(h, "rotary_dim", 1, 0, &c->rope_dim, err)))
		return rc;
	if (c->rope_dim > c->d_head || c->rope_dim % 2)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': rotary_dim %d must be even and at most the head size %d",
				    hf_cfg_path(h), c->rope_dim, c->d_head);
	c->rope_base = 10000.0f;
	c->rope_neox = 0;
	c->parallel_resid = 1;
	c->tied_unembed = tie;
	return 0;
}

static int w_gptj(hf_ckpt *h, const fp_config *c, fp_error *err)
{
	/* no biases on attention, one norm (ln_1) for attention and the MLP */
	static const hf_layer_tensor LAYER[] = {
		/* the causal-mask buffers older checkpoints store */
		{"", "attn.bias", 0, 0, HF_IGNORE},
		{"", "attn.masked_bias", 0, 0, HF_IGNORE},
		{"attn_norm.weight", "ln_1.weight", HF_DIM_D, HF_DIM_NONE, HF_AS_IS},
		{"attn_norm.bias", "ln_1.bias", HF_DIM_D, HF_DIM_NONE, HF_AS_IS},
		{"attn_q.weight", "attn.q_proj.weight", HF_DIM_D, HF_DIM_D, HF_AS_IS},
		{"attn_k.weight", "attn.k_proj.weight", HF_DIM_D, HF_DIM_D, HF_AS_IS},
		{"attn_v.weight", "attn.v_proj.weight", HF_DIM_D, HF_DIM_D, HF_AS_IS},
		{"attn_output.weight", "attn.out_proj.weight", HF_DIM_D, HF_DIM_D, HF_AS_IS},
		{"ffn_up.weight", "mlp.fc_in.weight", HF_DIM_F, HF_DIM_D, HF_AS_IS},
		{"ffn_up.bias", "mlp.fc_in.bias", HF_DIM_F, HF_DIM_NONE, HF_AS_IS},
		{"ffn_down.weight", "mlp.fc_out.weight", HF_DIM_D, HF_DIM_F, HF_AS_IS},
		{"ffn_down.bias", "mlp.fc_out.bias", HF_DIM_D, HF_DIM_NONE, HF_AS_IS},
	};
	uint64_t D = (uint64_t)c->d_model, V = (uint64_t)c->n_vocab;
	int rc;
	if ((rc = hf_map(h, "token_embd.weight", "transformer.wte.weight", V, D, 0, err)) ||
	    (rc = hf_map(h, "output_norm.weight", "transformer.ln_f.weight", D, 0, 0, err)) ||
	    (rc = hf_map(h, "output_norm.bias", "transformer.ln_f.bias", D, 0, 0, err)) ||
	    (rc = map_unembed(h, c, "lm_head.weight", err)) ||
	    (rc = hf_map(h, "output.bias", "lm_head.bias", V, 0, 0, err)))
		return rc;
	for (int l = 0; l < c->n_layers; l++)
		if ((rc = hf_map_layer(h, c, "transformer.h.", l, LAYER, HF_COUNT(LAYER), err)))
			return rc;
	return 0;
}

/* ---- GPTNeoXForCausalLM (Pythia) ---- */

static int cfg_gptneox(hf_ckpt *h, fp_config *c, fp_error *err)
{
	int rc, tie;
	float eps, pct, base;
	c->arch = FP_ARCH_GPTNEOX;
	snprintf(c->arch_name, sizeof c->arch_name, "gptneox");
	if ((rc = hf_cfg_int(h, "hidden_size", 1, 0, &c->d_model, err)) ||
	    (rc = hf_cfg_int(h, "num_hidden_layers", 1, 0, &c->n_layers, err)) ||
	    (rc = hf_cfg_int(h, "num_attention_heads", 1, 0, &c->n_heads, err)) ||
	    (rc = hf_cfg_int(h, "intermediate_size", 1, 0, &c->d_mlp, err)) ||
	    (rc = hf_cfg_int(h, "vocab_size", 1, 0, &c->n_vocab, err)) ||
	    (rc = hf_cfg_int(h, "max_position_embeddings", 0, 2048, &c->n_ctx, err)) ||
	    (rc = hf_cfg_float(h, "layer_norm_eps", 0, 1e-5, &eps, err)) ||
	    (rc = act_of(h, "hidden_act", "gelu", 0, &c->mlp_act, err)) ||
	    (rc = hf_cfg_bool(h, "use_parallel_residual", 1, &c->parallel_resid, err)) ||
	    (rc = hf_cfg_bool(h, "tie_word_embeddings", 0, &tie, err)) || (rc = hf_cfg_rope_scaling(h, c, 0, err)))
		return rc;
	/* transformers >= 4.49 writes partial_rotary_factor and rope_theta;
	 * older configs (Pythia's) rotary_pct and rotary_emb_base */
	if ((rc = hf_cfg_float(h, "rotary_pct", 0, 0.25, &pct, err)) ||
	    (rc = hf_cfg_float(h, "partial_rotary_factor", 0, pct, &pct, err)) ||
	    (rc = hf_cfg_float(h, "rotary_emb_base", 0, 10000, &base, err)) ||
	    (rc = hf_cfg_float(h, "rope_theta", 0, base, &base, err)))
		return rc;
	if (c->d_model % c->n_heads || c->n_layers > 4096)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': hidden_size %d is not a multiple of num_attention_heads %d",
				    hf_cfg_path(h), c->d_model, c->n_heads);
	c->d_head = c->d_model / c->n_heads;
	c->rope_dim = (int)(c->d_head * pct); /* transformers: int(head_size * rotary_pct) */
	if (!(pct > 0 && pct <= 1) || c->rope_dim % 2 || !(base > 1) || !(eps > 0 && eps < 1))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': rotary_pct %g (%d of %d dims: must be even), rope base %g "
				    "or layer_norm_eps %g out of range", hf_cfg_path(h), pct, c->rope_dim, c->d_head, base, eps);
	c->n_kv_heads = c->n_heads;
	c->norm_eps = eps;
	c->rope_base = base;
	c->rope_neox = 1;
	c->rope_scale = 1.0f;
	c->layer_norm = 1;
	c->embed_scale = 1.0f;
	c->attn_scale = 1.0f / sqrtf((float)c->d_head);
	c->tied_unembed = tie;
	return 0;
}

/* query_key_value is [3 D, D] with rows per head [q k v] (transformers views
 * it as [heads, 3 head_size]); the loader's attn_qkv wants all Q rows, then
 * K, then V */
static int map_neox_qkv(hf_ckpt *h, const fp_config *c, int l, fp_error *err)
{
	uint64_t D = (uint64_t)c->d_model, E = (uint64_t)c->d_head, H = (uint64_t)c->n_heads;
	char n[128];
	snprintf(n, sizeof n, "gpt_neox.layers.%d.attention.query_key_value.weight", l);
	float *w = hf_f32(h, n, 3 * D, D, 0, err), *ow, *ob, *b;
	if (!w)
		return ERRC(err);
	snprintf(n, sizeof n, "gpt_neox.layers.%d.attention.query_key_value.bias", l);
	err->code = 0;
	b = hf_f32(h, n, 3 * D, 0, HF_OPTIONAL, err); /* absent: attention_bias false */
	if (!b && err->code)
		return err->code;
	if (!(ow = hf_alloc_f32(h, (size_t)(3 * D * D), err)) || !(ob = hf_alloc_f32(h, (size_t)(3 * D), err)))
		return ERRC(err);
	for (uint64_t hd = 0; hd < H; hd++)
		for (uint64_t p = 0; p < 3; p++)
			for (uint64_t e = 0; e < E; e++) {
				uint64_t src = hd * 3 * E + p * E + e, dst = p * H * E + hd * E + e;
				memcpy(ow + dst * D, w + src * D, (size_t)D * sizeof(float));
				ob[dst] = b ? b[src] : 0.0f;
			}
	char g[96];
	snprintf(g, sizeof g, "blk.%d.attn_qkv.weight", l);
	int rc = hf_put(h, g, ow, 3 * D, D, err);
	snprintf(g, sizeof g, "blk.%d.attn_qkv.bias", l);
	return rc ? rc : hf_put(h, g, ob, 3 * D, 0, err);
}

static int w_gptneox(hf_ckpt *h, const fp_config *c, fp_error *err)
{
	static const hf_layer_tensor NORM[] = {
		/* the mask buffers Pythia's checkpoints store */
		{"", "attention.bias", 0, 0, HF_IGNORE},
		{"", "attention.masked_bias", 0, 0, HF_IGNORE},
		{"attn_norm.weight", "input_layernorm.weight", HF_DIM_D, HF_DIM_NONE, HF_AS_IS},
		{"attn_norm.bias", "input_layernorm.bias", HF_DIM_D, HF_DIM_NONE, HF_AS_IS},
	};
	/* after query_key_value (map_neox_qkv); dense.bias absent: attention_bias false */
	static const hf_layer_tensor REST[] = {
		{"attn_output.weight", "attention.dense.weight", HF_DIM_D, HF_DIM_D, HF_AS_IS},
		{"attn_output.bias", "attention.dense.bias", HF_DIM_D, HF_DIM_NONE, HF_OR_ZERO},
		{"ffn_norm.weight", "post_attention_layernorm.weight", HF_DIM_D, HF_DIM_NONE, HF_AS_IS},
		{"ffn_norm.bias", "post_attention_layernorm.bias", HF_DIM_D, HF_DIM_NONE, HF_AS_IS},
		{"ffn_up.weight", "mlp.dense_h_to_4h.weight", HF_DIM_F, HF_DIM_D, HF_AS_IS},
		{"ffn_up.bias", "mlp.dense_h_to_4h.bias", HF_DIM_F, HF_DIM_NONE, HF_AS_IS},
		{"ffn_down.weight", "mlp.dense_4h_to_h.weight", HF_DIM_D, HF_DIM_F, HF_AS_IS},
		{"ffn_down.bias", "mlp.dense_4h_to_h.bias", HF_DIM_D, HF_DIM_NONE, HF_AS_IS},
	};
	const char *P = "gpt_neox.layers.";
	uint64_t D = (uint64_t)c->d_model, V = (uint64_t)c->n_vocab;
	int rc;
	if ((rc = hf_map(h, "token_embd.weight", "gpt_neox.embed_in.weight", V, D, 0, err)) ||
	    (rc = hf_map(h, "output_norm.weight", "gpt_neox.final_layer_norm.weight", D, 0, 0, err)) ||
	    (rc = hf_map(h, "output_norm.bias", "gpt_neox.final_layer_norm.bias", D, 0, 0, err)) ||
	    (rc = map_unembed(h, c, "embed_out.weight", err)))
		return rc;
	for (int l = 0; l < c->n_layers; l++)
		if ((rc = hf_map_layer(h, c, P, l, NORM, HF_COUNT(NORM), err)) || (rc = map_neox_qkv(h, c, l, err)) ||
		    (rc = hf_map_layer(h, c, P, l, REST, HF_COUNT(REST), err)))
			return rc;
	return 0;
}

/* ---- Gemma2ForCausalLM, Gemma3ForCausalLM ---- */

static int cfg_gemma(hf_ckpt *h, fp_config *c, int arch, fp_error *err)
{
	int rc, tie;
	float qs;
	if ((rc = hf_cfg_llama_like(h, c, err)))
		return rc;
	c->arch = arch;
	snprintf(c->arch_name, sizeof c->arch_name, "%s", FP_ARCH_NAMES[arch]);
	/* the MLP's activation: hidden_activation (transformers' Gemma MLPs read it) */
	if ((rc = act_of(h, "hidden_activation", "gelu_pytorch_tanh", 1, &c->mlp_act, err)) ||
	    (rc = hf_cfg_bool(h, "tie_word_embeddings", 1, &tie, err)) ||
	    (rc = hf_cfg_refuse_true(h, "attention_bias", "biases on the attention projections", err)) ||
	    (rc = hf_cfg_refuse_true(h, "use_bidirectional_attention", "bidirectional attention", err)) ||
	    (rc = hf_cfg_float(h, "query_pre_attn_scalar", 0, 256, &qs, err)) ||
	    (rc = hf_cfg_int(h, "sliding_window", 0, 4096, &c->n_swa, err)))
		return rc;
	if (!(qs > 0))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': query_pre_attn_scalar = %g must be > 0", hf_cfg_path(h), qs);
	c->attn_scale = 1.0f / sqrtf(qs);
	/* the embedding times sqrt(hidden_size), in f32 here as in transformers for f32 weights */
	c->embed_scale = sqrtf((float)c->d_model);
	c->post_norms = 1;
	c->tied_unembed = tie;
	/* soft-caps: a number, or null for none; an absent key takes the config
	 * class's default as transformers does (Gemma2Config: 50 on the attention
	 * scores, 30 on the logits; Gemma3TextConfig: none) */
	float acap = 0, fcap = 0;
	int absent_a = !json_object_get(hf_cfg_object(h), "attn_logit_softcapping");
	int absent_f = !json_object_get(hf_cfg_object(h), "final_logit_softcapping");
	double dacap = arch == FP_ARCH_GEMMA2 && absent_a ? 50.0 : 0.0;
	double dfcap = arch == FP_ARCH_GEMMA2 && absent_f ? 30.0 : 0.0;
	if ((rc = hf_cfg_float(h, "attn_logit_softcapping", 0, dacap, &acap, err)) ||
	    (rc = hf_cfg_float(h, "final_logit_softcapping", 0, dfcap, &fcap, err)))
		return rc;
	if (!(acap >= 0 && fcap >= 0 && acap < 1e6f && fcap < 1e6f))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': soft-capping values %g, %g are absurd", hf_cfg_path(h), acap,
				    fcap);
	c->attn_softcap = acap, c->final_softcap = fcap;
	return 0;
}

static int cfg_gemma2(hf_ckpt *h, fp_config *c, fp_error *err)
{
	int rc = cfg_gemma(h, c, FP_ARCH_GEMMA2, err);
	/* layer 0 slides, then every other layer (transformers' default layer_types) */
	return rc ? rc : (rc = hf_cfg_rope_scaling(h, c, 0, err)) ? rc : swa_layers(h, c, 2, err);
}

static int cfg_gemma3(hf_ckpt *h, fp_config *c, fp_error *err)
{
	int rc = cfg_gemma(h, c, FP_ARCH_GEMMA3, err);
	if (rc)
		return rc;
	c->qk_norm = 1;
	/* sliding layers rotate with rope_local_base_freq, unscaled; the global
	 * ones with rope_theta and rope_scaling (linear on 4B and larger) */
	if ((rc = hf_cfg_float(h, "rope_local_base_freq", 0, 10000, &c->rope_base_swa, err)) ||
	    (rc = hf_cfg_rope_scaling(h, c, HF_ROPE_LINEAR, err)))
		return rc;
	if (!(c->rope_base_swa > 1))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': rope_local_base_freq = %g must be > 1", hf_cfg_path(h),
				    c->rope_base_swa);
	return swa_layers(h, c, 6, err);
}

static int w_gemma(hf_ckpt *h, const fp_config *c, fp_error *err)
{
	/* llama's layer plus norms after attention and the MLP; every Gemma norm
	 * is RMSNorm times (1 + w) */
	static const hf_layer_tensor LAYER[] = {
		{"attn_norm.weight", "input_layernorm.weight", HF_DIM_D, HF_DIM_NONE, HF_PLUS1},
		{"attn_q.weight", "self_attn.q_proj.weight", HF_DIM_QE, HF_DIM_D, HF_AS_IS},
		{"attn_k.weight", "self_attn.k_proj.weight", HF_DIM_KE, HF_DIM_D, HF_AS_IS},
		{"attn_v.weight", "self_attn.v_proj.weight", HF_DIM_KE, HF_DIM_D, HF_AS_IS},
		{"attn_output.weight", "self_attn.o_proj.weight", HF_DIM_D, HF_DIM_QE, HF_AS_IS},
		{"post_attention_norm.weight", "post_attention_layernorm.weight", HF_DIM_D, HF_DIM_NONE, HF_PLUS1},
		{"ffn_norm.weight", "pre_feedforward_layernorm.weight", HF_DIM_D, HF_DIM_NONE, HF_PLUS1},
		{"post_ffw_norm.weight", "post_feedforward_layernorm.weight", HF_DIM_D, HF_DIM_NONE, HF_PLUS1},
		{"ffn_gate.weight", "mlp.gate_proj.weight", HF_DIM_F, HF_DIM_D, HF_AS_IS},
		{"ffn_up.weight", "mlp.up_proj.weight", HF_DIM_F, HF_DIM_D, HF_AS_IS},
		{"ffn_down.weight", "mlp.down_proj.weight", HF_DIM_D, HF_DIM_F, HF_AS_IS},
	};
	static const hf_layer_tensor QK_NORM[] = { /* gemma3 */
		{"attn_q_norm.weight", "self_attn.q_norm.weight", HF_DIM_E, HF_DIM_NONE, HF_PLUS1},
		{"attn_k_norm.weight", "self_attn.k_norm.weight", HF_DIM_E, HF_DIM_NONE, HF_PLUS1},
	};
	const char *P = "model.layers.";
	uint64_t D = (uint64_t)c->d_model, V = (uint64_t)c->n_vocab;
	int rc;
	if ((rc = hf_map(h, "token_embd.weight", "model.embed_tokens.weight", V, D, 0, err)) ||
	    (rc = map_plus1(h, "output_norm.weight", "model.norm.weight", D, err)) ||
	    (rc = map_unembed(h, c, "lm_head.weight", err)))
		return rc;
	for (int l = 0; l < c->n_layers; l++)
		if ((rc = hf_map_layer(h, c, P, l, LAYER, HF_COUNT(LAYER), err)) ||
		    (c->qk_norm && (rc = hf_map_layer(h, c, P, l, QK_NORM, HF_COUNT(QK_NORM), err))))
			return rc;
	return 0;
}

/* ---- Phi3ForCausalLM ---- */

static int cfg_phi3(hf_ckpt *h, fp_config *c, fp_error *err)
{
	static const char *const SILU[] = {"silu", NULL};
	int rc, tie;
	float prf;
	if ((rc = hf_cfg_llama_like(h, c, err)))
		return rc;
	c->arch = FP_ARCH_PHI3;
	snprintf(c->arch_name, sizeof c->arch_name, "phi3");
	/* rope_scaling longrope / su / yarn (the 128k models) are refused */
	if ((rc = hf_cfg_str_in(h, "hidden_act", SILU, err)) || (rc = hf_cfg_rope_scaling(h, c, 0, err)) ||
	    (rc = hf_cfg_bool(h, "tie_word_embeddings", 0, &tie, err)) ||
	    (rc = hf_cfg_float(h, "partial_rotary_factor", 0, 1.0, &prf, err)))
		return rc;
	c->rope_dim = (int)(c->d_head * prf);
	if (!(prf > 0 && prf <= 1) || c->rope_dim % 2)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': partial_rotary_factor %g gives %d rotary dims of %d (must "
				    "be even)", hf_cfg_path(h), prf, c->rope_dim, c->d_head);
	/* sliding_window: every layer attends to keys with q - k < window */
	if (hf_cfg_json(h, "sliding_window")) {
		if ((rc = hf_cfg_int(h, "sliding_window", 1, 0, &c->n_swa, err)))
			return rc;
		c->swa_period = 1;
	}
	c->tied_unembed = tie;
	return 0;
}

static int w_phi3(hf_ckpt *h, const fp_config *c, fp_error *err)
{
	/* qkv_proj: rows Q, K, V; gate_up_proj: the gate's rows first */
	static const hf_layer_tensor LAYER[] = {
		{"attn_norm.weight", "input_layernorm.weight", HF_DIM_D, HF_DIM_NONE, HF_AS_IS},
		{"attn_qkv.weight", "self_attn.qkv_proj.weight", HF_DIM_QKV, HF_DIM_D, HF_AS_IS},
		{"attn_output.weight", "self_attn.o_proj.weight", HF_DIM_D, HF_DIM_QE, HF_AS_IS},
		{"ffn_norm.weight", "post_attention_layernorm.weight", HF_DIM_D, HF_DIM_NONE, HF_AS_IS},
		{"ffn_up.weight", "mlp.gate_up_proj.weight", HF_DIM_2F, HF_DIM_D, HF_AS_IS},
		{"ffn_down.weight", "mlp.down_proj.weight", HF_DIM_D, HF_DIM_F, HF_AS_IS},
	};
	uint64_t D = (uint64_t)c->d_model, V = (uint64_t)c->n_vocab;
	int rc;
	if ((rc = hf_map(h, "token_embd.weight", "model.embed_tokens.weight", V, D, 0, err)) ||
	    (rc = hf_map(h, "output_norm.weight", "model.norm.weight", D, 0, 0, err)) ||
	    (rc = map_unembed(h, c, "lm_head.weight", err)))
		return rc;
	for (int l = 0; l < c->n_layers; l++)
		if ((rc = hf_map_layer(h, c, "model.layers.", l, LAYER, HF_COUNT(LAYER), err)))
			return rc;
	return 0;
}

const hf_family hf_families_more[] = {
	{"GPT2LMHeadModel", cfg_gpt2, w_gpt2},
	{"GPTJForCausalLM", cfg_gptj, w_gptj},
	{"GPTNeoXForCausalLM", cfg_gptneox, w_gptneox},
	{"Gemma2ForCausalLM", cfg_gemma2, w_gemma},
	{"Gemma3ForCausalLM", cfg_gemma3, w_gemma},
	{"Phi3ForCausalLM", cfg_phi3, w_phi3},
	{NULL, NULL, NULL},
};
