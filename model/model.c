/* model.c - loading GGUF models of the architectures model.h lists and the
 * batched forward pass (see model.h).  The forward pass is the plain, readable reference: each
 * step is one loop or one cblas_sgemm over all T positions. */
#include "model.h"
#include "kernels.h"
#include "hf_internal.h"
#include "q8mm.h"
#include "qmm.h"
#include "quant.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ATT_BLOCK 128           /* query rows per attention block */
#define FP_MAX_DIM (1 << 20)    /* sanity bound on any model dimension */
#define FP_MAX_LAYERS 4096

struct fp_work {
	int cap;          /* positions the buffers hold */
	int logits_rows;  /* rows the logits buffer holds */
	float *x;         /* [T, D] residual stream */
	float *xn;        /* [T, D] normalised */
	float *q;         /* [T, H*E] */
	float *k, *v;     /* [T, K*E] */
	float *z;         /* [T, H*E] */
	float *att;       /* [ATT_BLOCK, longest sequence] one head's scores */
	size_t att_floats; /* what att holds */
	float *tmp;       /* [T, D] */
	float *a, *b;     /* [T, F] */
	float *logits;    /* [logits_rows, V] */
	int *pos;         /* [T] position of each token within its sequence */
	float *kscr, *vscr; /* [scr_cap, K*E] a continued sequence's keys and values */
	int scr_cap;
	float *deq;       /* [deq_floats] a tile of dequantised weight rows */
	size_t deq_floats;
};

/* ---- hook names ---- */

static const char *HOOK_SUFFIX[FP_HOOK_KIND_COUNT] = {
	[FP_HOOK_EMBED] = "hook_embed",
	[FP_HOOK_POS_EMBED] = "hook_pos_embed",
	[FP_HOOK_RESID_PRE] = "hook_resid_pre",
	[FP_HOOK_ATTN_Z] = "attn.hook_z",
	[FP_HOOK_ATTN_OUT] = "hook_attn_out",
	[FP_HOOK_RESID_MID] = "hook_resid_mid",
	[FP_HOOK_MLP_PRE] = "mlp.hook_pre",
	[FP_HOOK_MLP_PRE_LINEAR] = "mlp.hook_pre_linear",
	[FP_HOOK_MLP_POST] = "mlp.hook_post",
	[FP_HOOK_MLP_OUT] = "hook_mlp_out",
	[FP_HOOK_RESID_POST] = "hook_resid_post",
	[FP_HOOK_LN_FINAL] = "ln_final.hook_normalized",
	[FP_HOOK_LOGITS] = "logits",
	[FP_HOOK_ATTN_OUT_PRE_NORM] = "hook_attn_out_pre_norm",
	[FP_HOOK_MLP_OUT_PRE_NORM] = "hook_mlp_out_pre_norm",
};

const char *const FP_ARCH_NAMES[FP_ARCH_COUNT] = {
	[FP_ARCH_LLAMA] = "llama", [FP_ARCH_GPT2] = "gpt2", [FP_ARCH_QWEN2] = "qwen2", [FP_ARCH_QWEN3] = "qwen3",
	[FP_ARCH_GEMMA2] = "gemma2", [FP_ARCH_GEMMA3] = "gemma3", [FP_ARCH_PHI3] = "phi3", [FP_ARCH_GPTNEOX] = "gptneox",
	[FP_ARCH_GPTJ] = "gptj",
};

int fp_hook_is_layer(int kind)
{
	return (kind >= FP_HOOK_RESID_PRE && kind <= FP_HOOK_RESID_POST) || kind == FP_HOOK_ATTN_OUT_PRE_NORM ||
	       kind == FP_HOOK_MLP_OUT_PRE_NORM;
}

int fp_config_layer_swa(const fp_config *c, int l)
{
	return c->n_swa > 0 && (c->swa_period <= 1 || l % c->swa_period < c->swa_period - 1);
}

const char *fp_hook_name(int kind, int layer, char *buf, size_t n)
{
	if (kind < 0 || kind >= FP_HOOK_KIND_COUNT)
		snprintf(buf, n, "?");
	else if (fp_hook_is_layer(kind))
		snprintf(buf, n, "blocks.%d.%s", layer, HOOK_SUFFIX[kind]);
	else
		snprintf(buf, n, "%s", HOOK_SUFFIX[kind]);
	return buf;
}

int fp_hook_parse(const char *name, int *kind, int *layer)
{
	*layer = -1;
	if (!strncmp(name, "blocks.", 7)) {
		char *end;
		long l = strtol(name + 7, &end, 10);
		if (end == name + 7 || *end != '.' || l < 0 || l > FP_MAX_LAYERS)
			return -1;
		for (int k = 0; k < FP_HOOK_KIND_COUNT; k++)
			if (fp_hook_is_layer(k) && !strcmp(end + 1, HOOK_SUFFIX[k])) {
				*kind = k;
				*layer = (int)l;
				return 0;
			}
		return -1;
	}
	for (int k = 0; k < FP_HOOK_KIND_COUNT; k++)
		if (!fp_hook_is_layer(k) && !strcmp(name, HOOK_SUFFIX[k])) {
			*kind = k;
			return 0;
		}
	return -1;
}

int fp_hook_width(const fp_model *m, int kind)
{
	const fp_config *c = &m->cfg;
	switch (kind) {
	case FP_HOOK_POS_EMBED: return m->pos_embd ? c->d_model : 0;
	case FP_HOOK_ATTN_Z: return c->n_heads * c->d_head;
	case FP_HOOK_MLP_PRE: case FP_HOOK_MLP_POST: return c->d_mlp;
	case FP_HOOK_MLP_PRE_LINEAR: return c->gated_mlp ? c->d_mlp : 0;
	case FP_HOOK_ATTN_OUT_PRE_NORM: case FP_HOOK_MLP_OUT_PRE_NORM: return c->post_norms ? c->d_model : 0;
	case FP_HOOK_LOGITS: return c->n_vocab;
	default: return kind >= 0 && kind < FP_HOOK_KIND_COUNT ? c->d_model : 0;
	}
}

/* ---- loading ---- */

typedef struct loader {
	fp_model *m;
	const gguf_file *f;
	fp_error *err;
	float *next;     /* bump pointer in m->block (NULL while counting) */
	size_t need;     /* floats counted */
	size_t mapped;   /* bytes of matrices left in the mapping */
} loader;

/* Finds a tensor and checks its shape (ne0, ne1; ne1 = 0 for vectors) and
 * type.  Returns 0 with *tp NULL when an optional tensor is absent. */
static int find_checked(loader *L, const gguf_tensor **tp, const char *name, uint64_t ne0, uint64_t ne1, int optional)
{
	const gguf_tensor *t = gguf_find_tensor(L->f, name);
	*tp = NULL;
	if (!t) {
		if (optional)
			return 0;
		return fp_error_set(L->err, FP_ERR_FORMAT, "'%s': missing tensor '%s' (required by %s)", L->f->path, name,
				    L->m->cfg.arch_name);
	}
	int ok = t->ne[0] == ne0 && (ne1 ? t->n_dims <= 2 && t->ne[1] == ne1 : t->n_elem == ne0);
	if (!ok)
		return fp_error_set(L->err, FP_ERR_FORMAT,
				    "'%s': tensor '%s' has shape [%llu, %llu], expected [%llu, %llu]", L->f->path, name,
				    (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
				    (unsigned long long)ne0, (unsigned long long)(ne1 ? ne1 : 1));
	if (!ggml_type_supported(t->type)) {
		const char *tn = ggml_type_name(t->type);
		return fp_error_set(L->err, FP_ERR_UNSUPPORTED,
				    "'%s': tensor '%s' has type %s (%u), which factprobe cannot dequantise "
				    "(supported: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K)",
				    L->f->path, name, tn ? tn : "unknown", t->type);
	}
	if (t->ne[0] % ggml_type_block_elems(t->type))
		return fp_error_set(L->err, FP_ERR_FORMAT, "'%s': tensor '%s' has rows of %llu values, not a multiple of "
				    "its type's block of %u", L->f->path, name, (unsigned long long)t->ne[0],
				    ggml_type_block_elems(t->type));
	*tp = t;
	return 0;
}

/* dequantises t into the block (second pass) or counts it (first) */
static int to_block(loader *L, const gguf_tensor *t, const float **dst, const char *name)
{
	if (!L->next) {
		L->need += t->n_elem;
		return 0;
	}
	if (quant_dequantize(t->type, t->data, L->next, t->n_elem))
		return fp_error_set(L->err, FP_ERR_FORMAT, "'%s': cannot dequantise tensor '%s'", L->f->path, name);
	*dst = L->next;
	L->next += t->n_elem;
	return 0;
}

/* A vector (or a small table such as gpt2's positions): always f32. */
static int take(loader *L, const float **dst, const char *name, uint64_t ne0, uint64_t ne1, int optional)
{
	const gguf_tensor *t;
	int rc = find_checked(L, &t, name, ne0, ne1, optional);
	*dst = NULL;
	return rc || !t ? rc : to_block(L, t, dst, name);
}

/* A weight matrix [ne1 rows][ne0 cols]: left in the mapping in its own type
 * (native mode), or dequantised into the block (f32 mode). */
static int take_mat(loader *L, fp_mat *dst, const char *name, uint64_t ne0, uint64_t ne1, int optional)
{
	const gguf_tensor *t;
	int rc = find_checked(L, &t, name, ne0, ne1, optional);
	memset(dst, 0, sizeof *dst);
	if (rc || !t)
		return rc;
	dst->rows = (int)ne1, dst->cols = (int)ne0;
	if (L->m->weights == FP_WEIGHTS_NATIVE) {
		dst->type = t->type;
		dst->row_bytes = t->nbytes / ne1;
		dst->data = t->data;
		dst->q8 = L->m->matmul == FP_MATMUL_Q8 && q8mm_supported(t->type, (int)ne0);
		if (!L->next)
			L->mapped += t->nbytes;
		return 0;
	}
	const float *p = NULL;
	dst->type = GGML_F32;
	dst->row_bytes = (size_t)ne0 * sizeof(float);
	rc = to_block(L, t, &p, name);
	dst->data = p;
	return rc;
}

static int take_layer(loader *L, const float **dst, int l, const char *what, uint64_t ne0, uint64_t ne1,
		      int optional)
{
	char name[96];
	snprintf(name, sizeof name, "blk.%d.%s", l, what);
	return take(L, dst, name, ne0, ne1, optional);
}

static int take_layer_mat(loader *L, fp_mat *dst, int l, const char *what, uint64_t ne0, uint64_t ne1, int optional)
{
	char name[96];
	snprintf(name, sizeof name, "blk.%d.%s", l, what);
	return take_mat(L, dst, name, ne0, ne1, optional);
}

/* rows [r0, r0 + n) of W as a matrix of their own (a part of a fused tensor) */
static fp_mat mat_rows(const fp_mat *W, int r0, int n)
{
	fp_mat s = *W;
	s.rows = n;
	s.data = W->data ? (const uint8_t *)W->data + (size_t)r0 * W->row_bytes : NULL;
	return s;
}

/* the tensors outside the blocks: the embedding (gpt2: and its learned
 * positions), llama 3.1+'s RoPE divisors, the final norm, the unembedding
 * (absent: tied to the embedding; gptj: with a bias) */
static int take_globals(loader *L)
{
	fp_model *m = L->m;
	const fp_config *c = &m->cfg;
	uint64_t D = (uint64_t)c->d_model, V = (uint64_t)c->n_vocab;
	int ln = c->layer_norm, rc;
	if ((rc = take_mat(L, &m->tok_embd, "token_embd.weight", D, V, 0)))
		return rc;
	if (c->arch == FP_ARCH_GPT2 && (rc = take(L, &m->pos_embd, "position_embd.weight", D, (uint64_t)c->n_ctx, 0)))
		return rc;
	/* llama 3.1+ GGUF: the Llama 3 RoPE scaling as divisors of each pair's frequency */
	if (c->arch == FP_ARCH_LLAMA && (rc = take(L, &m->rope_freqs, "rope_freqs.weight", (uint64_t)c->rope_dim / 2, 0, 1)))
		return rc;
	if ((rc = take(L, &m->out_norm_w, "output_norm.weight", D, 0, 0)) ||
	    (rc = take(L, &m->out_norm_b, "output_norm.bias", D, 0, !ln)) ||
	    (rc = take_mat(L, &m->unembed, "output.weight", D, V, 1)) ||
	    (c->arch == FP_ARCH_GPTJ && (rc = take(L, &m->unembed_b, "output.bias", V, 0, 0))))
		return rc;
	return 0;
}

/* layer l's MLP up (and gate) projection: llama's separate ffn_gate and
 * ffn_up; phi3's one [2F, D] matrix, the gate's rows first (Hugging Face's
 * gate_up_proj, chunked gate then up; llama.cpp's swiglu of the fused
 * product takes the first half as the gate) */
static int take_ffn_up(loader *L, fp_layer *y, int l, int mlp_biases)
{
	const fp_config *c = &L->m->cfg;
	uint64_t D = (uint64_t)c->d_model, F = (uint64_t)c->d_mlp;
	int rc;
	if (c->arch == FP_ARCH_PHI3) {
		fp_mat w;
		if ((rc = take_layer_mat(L, &w, l, "ffn_up.weight", D, 2 * F, 0)))
			return rc;
		y->w_gate = mat_rows(&w, 0, (int)F), y->w_up = mat_rows(&w, (int)F, (int)F);
		return 0;
	}
	if ((rc = take_layer_mat(L, &y->w_up, l, "ffn_up.weight", D, F, 0)) ||
	    (rc = take_layer(L, &y->b_up, l, "ffn_up.bias", F, 0, !mlp_biases)) ||
	    (c->gated_mlp && (rc = take_layer_mat(L, &y->w_gate, l, "ffn_gate.weight", D, F, 0))))
		return rc;
	return 0;
}

/* layer l's Q, K and V projections: separate (llama; qwen2 with biases), or
 * one fused [QE + 2 KE, D] matrix, rows Q, then K, then V (gpt2, gptneox:
 * the converter reordered Hugging Face's per-head [q k v] into this; phi3
 * files may have separate Q, K, V instead) */
static int take_qkv(loader *L, fp_layer *y, int l, int biases)
{
	const fp_config *c = &L->m->cfg;
	uint64_t D = (uint64_t)c->d_model, E = (uint64_t)c->d_head;
	uint64_t QE = (uint64_t)c->n_heads * E, KE = (uint64_t)c->n_kv_heads * E;
	int fused = c->arch == FP_ARCH_GPT2 || c->arch == FP_ARCH_GPTNEOX || c->arch == FP_ARCH_PHI3, rc;
	char name[96];
	snprintf(name, sizeof name, "blk.%d.attn_qkv.weight", l);
	if (fused && (c->arch != FP_ARCH_PHI3 || gguf_find_tensor(L->f, name))) {
		const float *b;
		fp_mat w;
		if ((rc = take_layer_mat(L, &w, l, "attn_qkv.weight", D, QE + 2 * KE, 0)) ||
		    (rc = take_layer(L, &b, l, "attn_qkv.bias", QE + 2 * KE, 0, !biases)))
			return rc;
		y->wq = mat_rows(&w, 0, (int)QE), y->wk = mat_rows(&w, (int)QE, (int)KE);
		y->wv = mat_rows(&w, (int)(QE + KE), (int)KE);
		if (b)
			y->bq = b, y->bk = b + QE, y->bv = b + QE + KE;
		return 0;
	}
	/* qwen2: bias on Q, K and V (not on O) */
	if ((rc = take_layer_mat(L, &y->wq, l, "attn_q.weight", D, QE, 0)) ||
	    (rc = take_layer_mat(L, &y->wk, l, "attn_k.weight", D, KE, 0)) ||
	    (rc = take_layer_mat(L, &y->wv, l, "attn_v.weight", D, KE, 0)) ||
	    (rc = take_layer(L, &y->bq, l, "attn_q.bias", QE, 0, c->arch != FP_ARCH_QWEN2)) ||
	    (rc = take_layer(L, &y->bk, l, "attn_k.bias", KE, 0, c->arch != FP_ARCH_QWEN2)) ||
	    (rc = take_layer(L, &y->bv, l, "attn_v.bias", KE, 0, c->arch != FP_ARCH_QWEN2)))
		return rc;
	return 0;
}

/* block l's tensors: norms (LayerNorm families: with biases; gptj: one
 * norm for both halves; qwen3, gemma3: per-head Q and K norms; gemma: norms
 * after attention and the MLP), projections and their biases */
static int take_block(loader *L, int l)
{
	const fp_config *c = &L->m->cfg;
	fp_layer *y = &L->m->layers[l];
	uint64_t D = (uint64_t)c->d_model, F = (uint64_t)c->d_mlp, E = (uint64_t)c->d_head;
	uint64_t QE = (uint64_t)c->n_heads * E;
	int gpt2 = c->arch == FP_ARCH_GPT2, neox = c->arch == FP_ARCH_GPTNEOX, gptj = c->arch == FP_ARCH_GPTJ;
	int ln = c->layer_norm, rc;
	/* the families whose attention and MLP projections carry biases (gptj:
	 * the MLP's only) */
	int biases = gpt2 || neox, mlp_biases = biases || gptj;
	if ((rc = take_layer(L, &y->ln1_w, l, "attn_norm.weight", D, 0, 0)) ||
	    (rc = take_layer(L, &y->ln1_b, l, "attn_norm.bias", D, 0, !ln)) ||
	    (rc = take_layer_mat(L, &y->wo, l, "attn_output.weight", QE, D, 0)) ||
	    (rc = take_layer(L, &y->bo, l, "attn_output.bias", D, 0, !biases)) ||
	    (!gptj && (rc = take_layer(L, &y->ln2_w, l, "ffn_norm.weight", D, 0, 0))) ||
	    (!gptj && (rc = take_layer(L, &y->ln2_b, l, "ffn_norm.bias", D, 0, !ln))) ||
	    (rc = take_layer_mat(L, &y->w_down, l, "ffn_down.weight", F, D, 0)) ||
	    (rc = take_layer(L, &y->b_down, l, "ffn_down.bias", D, 0, !mlp_biases)))
		return rc;
	if (gptj) /* one norm feeds both attention and the MLP */
		y->ln2_w = y->ln1_w, y->ln2_b = y->ln1_b;
	if (c->qk_norm && ((rc = take_layer(L, &y->q_norm, l, "attn_q_norm.weight", E, 0, 0)) ||
			   (rc = take_layer(L, &y->k_norm, l, "attn_k_norm.weight", E, 0, 0))))
		return rc;
	if (c->post_norms && ((rc = take_layer(L, &y->post_attn_norm, l, "post_attention_norm.weight", D, 0, 0)) ||
			      (rc = take_layer(L, &y->post_mlp_norm, l, "post_ffw_norm.weight", D, 0, 0))))
		return rc;
	if ((rc = take_ffn_up(L, y, l, mlp_biases)))
		return rc;
	return take_qkv(L, y, l, biases);
}

/* One pass over all tensors the architecture uses (count, then load). */
static int take_all(loader *L)
{
	int rc = take_globals(L);
	for (int l = 0; !rc && l < L->m->cfg.n_layers; l++)
		rc = take_block(L, l);
	return rc;
}

static int get_dim(const gguf_file *f, const char *arch, const char *suffix, int *out, int dflt, fp_error *err)
{
	char key[96];
	uint32_t v;
	snprintf(key, sizeof key, "%s.%s", arch, suffix);
	int rc = gguf_get_u32(f, key, &v, err);
	if (rc == -1) {
		if (dflt >= 0) {
			*out = dflt;
			return 0;
		}
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': missing metadata '%s'", f->path, key);
	}
	if (rc)
		return rc;
	if (v == 0 || v > FP_MAX_DIM)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': metadata '%s' = %u is absurd (allowed 1..%d)", f->path, key,
				    v, FP_MAX_DIM);
	*out = (int)v;
	return 0;
}

/* an optional f32 key <arch>.<suffix>: -1 absent (out untouched), 0 read, < -1 an error */
static int get_f32_opt(const gguf_file *f, const char *arch, const char *suffix, float *out, fp_error *err)
{
	char key[96];
	snprintf(key, sizeof key, "%s.%s", arch, suffix);
	return gguf_get_f32(f, key, out, err);
}

/* general.architecture: c->arch (one of FP_ARCH_NAMES) and c->arch_name, the
 * prefix of every other key */
static int read_arch(fp_config *c, const gguf_file *f, fp_error *err)
{
	gguf_str a;
	int rc = gguf_get_str(f, "general.architecture", &a, err);
	if (rc == -1)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': missing metadata 'general.architecture'", f->path);
	if (rc)
		return rc;
	snprintf(c->arch_name, sizeof c->arch_name, "%.*s", (int)(a.len < 15 ? a.len : 15), a.ptr);
	c->arch = -1;
	for (int i = 0; i < FP_ARCH_COUNT; i++)
		if (a.len == strlen(FP_ARCH_NAMES[i]) && !memcmp(a.ptr, FP_ARCH_NAMES[i], a.len))
			c->arch = i;
	if (c->arch < 0) {
		char list[160] = "";
		for (int i = 0; i < FP_ARCH_COUNT; i++)
			snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", FP_ARCH_NAMES[i]);
		return fp_error_set(err, FP_ERR_UNSUPPORTED,
				    "'%s': architecture '%.*s' is not supported (general.architecture; supported: %s)",
				    f->path, (int)(a.len > 40 ? 40 : a.len), a.ptr, list);
	}
	return 0;
}

/* the sizes: layers, widths, heads (grouped-query: n_heads a multiple of
 * n_kv_heads; gpt2 has no grouping and its heads span d_model) */
static int read_dims(fp_config *c, const gguf_file *f, fp_error *err)
{
	const char *n = c->arch_name;
	int rc;
	if ((rc = get_dim(f, n, "block_count", &c->n_layers, -1, err)) ||
	    (rc = get_dim(f, n, "embedding_length", &c->d_model, -1, err)) ||
	    (rc = get_dim(f, n, "feed_forward_length", &c->d_mlp, -1, err)) ||
	    (rc = get_dim(f, n, "attention.head_count", &c->n_heads, -1, err)) ||
	    (rc = get_dim(f, n, "attention.head_count_kv", &c->n_kv_heads, c->n_heads, err)) ||
	    (rc = get_dim(f, n, "context_length", &c->n_ctx, 2048, err)))
		return rc;
	if (c->n_layers > FP_MAX_LAYERS)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': %d layers is absurd", f->path, c->n_layers);
	if (c->d_model % c->n_heads)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': embedding_length %d is not a multiple of head_count %d",
				    f->path, c->d_model, c->n_heads);
	if ((rc = get_dim(f, n, "attention.key_length", &c->d_head, c->d_model / c->n_heads, err)))
		return rc;
	if (c->n_heads % c->n_kv_heads)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': head_count %d is not a multiple of head_count_kv %d",
				    f->path, c->n_heads, c->n_kv_heads);
	if (c->arch == FP_ARCH_GPT2 && c->n_kv_heads != c->n_heads)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': gpt2 models cannot have grouped-query attention", f->path);
	if (c->arch == FP_ARCH_GPT2 && c->d_head * c->n_heads != c->d_model)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': gpt2 heads must span embedding_length", f->path);
	if ((long)c->n_heads * c->d_head > FP_MAX_DIM)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': %d heads of %d is absurd", f->path, c->n_heads, c->d_head);
	return 0;
}

static int is_gemma(int arch)
{
	return arch == FP_ARCH_GEMMA2 || arch == FP_ARCH_GEMMA3;
}

/* What the family fixes, no key read.  llama: RMSNorm, SiLU-gated MLP,
 * sequential residual, no extra norms, unscaled embeddings; the rest differ
 * as written. */
static void set_family(fp_config *c)
{
	int arch = c->arch, gemma = is_gemma(arch);
	c->layer_norm = arch == FP_ARCH_GPT2 || arch == FP_ARCH_GPTNEOX || arch == FP_ARCH_GPTJ;
	c->gated_mlp = !c->layer_norm;
	c->mlp_act = gemma || arch == FP_ARCH_GPT2 || arch == FP_ARCH_GPTJ ? FP_ACT_GELU_TANH
		     : arch == FP_ARCH_GPTNEOX ? FP_ACT_GELU_ERF : FP_ACT_SILU;
	c->parallel_resid = arch == FP_ARCH_GPTJ;
	c->qk_norm = arch == FP_ARCH_QWEN3 || arch == FP_ARCH_GEMMA3;
	c->post_norms = gemma;
	/* gemma: embeddings times sqrt(d_model), in f32 as llama.cpp does
	 * (Hugging Face rounds the factor to the model's dtype first) */
	c->embed_scale = gemma ? sqrtf((float)c->d_model) : 1.0f;
	c->attn_scale = 1.0f / sqrtf((float)c->d_head);
	c->rope_scale = 1.0f;
}

/* the norm's epsilon: layer_norm_epsilon for the LayerNorm families,
 * layer_norm_rms_epsilon for the RMSNorm ones; 1e-5 when absent */
static int read_norm_eps(fp_config *c, const gguf_file *f, fp_error *err)
{
	char key[96];
	float eps = 1e-5f;
	int rc;
	snprintf(key, sizeof key, "%s.attention.%s", c->arch_name,
		 c->layer_norm ? "layer_norm_epsilon" : "layer_norm_rms_epsilon");
	if ((rc = gguf_get_f32(f, key, &eps, err)) < -1)
		return rc;
	if (!(eps > 0 && eps < 1))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': %s = %g is not in (0, 1)", f->path, key, eps);
	c->norm_eps = eps;
	return 0;
}

/* the query scale: 1/sqrt(d_head) (set_family) unless the family or the file
 * says otherwise; llama and gpt2 files are not asked */
static int read_attn_scale(fp_config *c, const gguf_file *f, fp_error *err)
{
	int arch = c->arch, rc;
	if (is_gemma(arch)) {
		/* the query scale: llama.cpp (after gemma_pytorch's config) uses
		 * 1/sqrt(d_head), except for the 27B models (46 layers in gemma2,
		 * 62 in gemma3): 1/sqrt(d_model / heads); <arch>.attention.scale,
		 * where a file has it, wins */
		int is27b = (arch == FP_ARCH_GEMMA2 && c->n_layers == 46) || (arch == FP_ARCH_GEMMA3 && c->n_layers == 62);
		if (is27b)
			c->attn_scale = 1.0f / sqrtf((float)(c->d_model / c->n_heads));
	}
	if (arch != FP_ARCH_GPT2 && arch != FP_ARCH_LLAMA) {
		float sc = 0;
		if ((rc = get_f32_opt(f, c->arch_name, "attention.scale", &sc, err)) < -1)
			return rc;
		if (rc == 0) {
			if (!(sc > 0 && sc < 1e3f))
				return fp_error_set(err, FP_ERR_FORMAT, "'%s': %s.attention.scale = %g is absurd", f->path,
						    c->arch_name, sc);
			c->attn_scale = sc;
		}
	}
	return 0;
}

/* <arch>.attention.sliding_window (gemma: the family's window by default;
 * phi3: a window over every layer only where the file has one) and its
 * _pattern, which overrides the family's swa_period */
static int read_sliding_window(fp_config *c, const gguf_file *f, fp_error *err)
{
	int gemma = is_gemma(c->arch), rc;
	char key[96];
	if ((rc = get_dim(f, c->arch_name, "attention.sliding_window", &c->n_swa, gemma ? c->n_swa : 0, err)))
		return rc;
	if (c->arch == FP_ARCH_PHI3)
		c->swa_period = 1;
	uint32_t per;
	snprintf(key, sizeof key, "%s.attention.sliding_window_pattern", c->arch_name);
	if ((rc = gguf_get_u32(f, key, &per, err)) == 0) {
		if (per < 1 || per > FP_MAX_LAYERS)
			return fp_error_set(err, FP_ERR_FORMAT, "'%s': %s = %u is absurd", f->path, key, per);
		c->swa_period = (int)per;
	} else if (rc != -1)
		return rc;
	return 0;
}

/* Soft-capping and sliding windows, which llama has neither of: gemma2
 * (both, every other layer slides), gemma3 (layers 0-4 of every 6 slide,
 * with a RoPE base of their own), phi3 (a window where the file has one). */
static int read_softcap_swa(fp_config *c, const gguf_file *f, fp_error *err)
{
	int arch = c->arch, rc;
	const char *n = c->arch_name;
	if (arch == FP_ARCH_GEMMA2) {
		/* llama.cpp's defaults when the keys are absent: 50 and 30 */
		c->attn_softcap = 50.0f, c->final_softcap = 30.0f;
		if ((rc = get_f32_opt(f, n, "attn_logit_softcapping", &c->attn_softcap, err)) < -1 ||
		    (rc = get_f32_opt(f, n, "final_logit_softcapping", &c->final_softcap, err)) < -1)
			return rc;
		c->n_swa = 4096, c->swa_period = 2; /* even layers slide */
	}
	if (arch == FP_ARCH_GEMMA3) {
		c->swa_period = 6; /* layers 0-4 of every 6 slide, the 6th is global */
		c->rope_base_swa = 10000.0f;
		if ((rc = get_f32_opt(f, n, "rope.freq_base_swa", &c->rope_base_swa, err)) < -1)
			return rc;
	}
	if ((is_gemma(arch) || arch == FP_ARCH_PHI3) && (rc = read_sliding_window(c, f, err)))
		return rc;
	if (arch == FP_ARCH_GEMMA3 && c->n_swa == 0) {
		/* without sliding layers llama.cpp builds gemma3 as one global stack
		 * and soft-caps the logits where the file gives a cap */
		if ((rc = get_f32_opt(f, n, "final_logit_softcapping", &c->final_softcap, err)) < -1)
			return rc;
	}
	if (!(c->attn_softcap >= 0 && c->final_softcap >= 0 && c->attn_softcap < 1e6f && c->final_softcap < 1e6f))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': soft-capping values %g, %g are absurd", f->path,
				    c->attn_softcap, c->final_softcap);
	return 0;
}

/* gptneox: use_parallel_residual, true when absent (gptj is always parallel,
 * the other families never) */
static int read_parallel_resid(fp_config *c, const gguf_file *f, fp_error *err)
{
	char key[96];
	int rc;
	if (c->arch != FP_ARCH_GPTNEOX)
		return 0;
	c->parallel_resid = 1;
	snprintf(key, sizeof key, "%s.use_parallel_residual", c->arch_name);
	if ((rc = gguf_get_bool(f, key, &c->parallel_resid, err)) > 0 || rc < -1)
		return rc;
	return 0;
}

/* <arch>.rope.scaling.type: none, or linear (gemma3 4B+: the global layers
 * only) with its factor; the per-dimension factor tensors of long-context
 * phi3 are refused, and rope_freqs.weight (llama 3.1+) outside llama */
static int read_rope_scaling(fp_config *c, const gguf_file *f, fp_error *err)
{
	const char *n = c->arch_name;
	char key[96];
	gguf_str st;
	int rc;
	snprintf(key, sizeof key, "%s.rope.scaling.type", n);
	if ((rc = gguf_get_str(f, key, &st, err)) == 0 && !(st.len == 4 && !memcmp(st.ptr, "none", 4))) {
		if (!(st.len == 6 && !memcmp(st.ptr, "linear", 6)))
			return fp_error_set(err, FP_ERR_UNSUPPORTED, "'%s': %s '%.*s' is not supported (linear is)",
					    f->path, key, (int)(st.len > 20 ? 20 : st.len), st.ptr);
		float fac = 1.0f;
		if ((rc = get_f32_opt(f, n, "rope.scaling.factor", &fac, err)) < -1)
			return rc;
		if (!(fac >= 1 && fac < 1e4f))
			return fp_error_set(err, FP_ERR_FORMAT, "'%s': rope.scaling.factor = %g is absurd", f->path, fac);
		c->rope_scale = 1.0f / fac;
	} else if (rc != 0 && rc != -1)
		return rc;
	if (gguf_find_tensor(f, "rope_factors_long.weight") || gguf_find_tensor(f, "rope_factors_short.weight"))
		return fp_error_set(err, FP_ERR_UNSUPPORTED,
				    "'%s': per-dimension RoPE factors (rope_factors_long/short, long-context "
				    "phi3) are not supported", f->path);
	/* llama 3.1+: Llama 3 scaling as per-pair divisors (take_all reads them) */
	if (c->arch != FP_ARCH_LLAMA && gguf_find_tensor(f, "rope_freqs.weight"))
		return fp_error_set(err, FP_ERR_UNSUPPORTED, "'%s': tensor 'rope_freqs.weight' (per-pair RoPE "
				    "frequency divisors) is supported on llama only, not on %s", f->path, n);
	return 0;
}

/* Rotary embeddings (gpt2 has learned positions instead).  llama: adjacent
 * pairs (the converter permuted Q and K); gptj: adjacent pairs of its own
 * (rotate_every_two); every other family here rotates the half-split pairs
 * of unpermuted weights. */
static int read_rope(fp_config *c, const gguf_file *f, fp_error *err)
{
	char key[96];
	int rc;
	c->rope_neox = c->arch != FP_ARCH_LLAMA && c->arch != FP_ARCH_GPTJ;
	c->rope_base = 10000.0f;
	snprintf(key, sizeof key, "%s.rope.freq_base", c->arch_name);
	if ((rc = gguf_get_f32(f, key, &c->rope_base, err)) < -1)
		return rc;
	if (!(c->rope_base > 1) || !(c->rope_base_swa == 0 || c->rope_base_swa > 1))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': %s = %g must be > 1", f->path, key, c->rope_base);
	if ((rc = get_dim(f, c->arch_name, "rope.dimension_count", &c->rope_dim, c->d_head, err)))
		return rc;
	if (c->rope_dim > c->d_head || c->rope_dim % 2)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': rope.dimension_count %d does not fit head size %d",
				    f->path, c->rope_dim, c->d_head);
	return read_rope_scaling(c, f, err);
}

/* vocabulary size: the embedding matrix decides (llama.vocab_size is
 * optional), and the tokenizer must agree */
static int read_n_vocab(fp_model *m, const gguf_file *f, fp_error *err)
{
	fp_config *c = &m->cfg;
	const gguf_tensor *te = gguf_find_tensor(f, "token_embd.weight");
	if (!te)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': missing tensor 'token_embd.weight'", f->path);
	if (te->n_dims != 2 || te->ne[1] > FP_MAX_DIM)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': token_embd.weight is not a [d_model, vocab] matrix", f->path);
	c->n_vocab = (int)te->ne[1];
	if (c->n_vocab != fp_tokenizer_n_vocab(m->tok))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': the tokenizer has %d tokens but token_embd.weight has %d rows",
				    f->path, fp_tokenizer_n_vocab(m->tok), c->n_vocab);
	return 0;
}

/* m->cfg from the file's metadata, in this order: family, sizes, the
 * family's fixed choices, then the keys that refine them */
static int read_config(fp_model *m, const gguf_file *f, fp_error *err)
{
	fp_config *c = &m->cfg;
	int rc;
	if ((rc = read_arch(c, f, err)) || (rc = read_dims(c, f, err)))
		return rc;
	set_family(c);
	if ((rc = read_norm_eps(c, f, err)) || (rc = read_attn_scale(c, f, err)) ||
	    (rc = read_softcap_swa(c, f, err)) || (rc = read_parallel_resid(c, f, err)) ||
	    (c->arch != FP_ARCH_GPT2 && (rc = read_rope(c, f, err))))
		return rc;
	return read_n_vocab(m, f, err);
}

static void count_params(fp_model *m)
{
	fp_param_counts *p = &m->params;
	const gguf_file *f = m->gguf;
	memset(p, 0, sizeof *p);
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		const gguf_tensor *t = &f->tensors[i];
		char name[128];
		snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
		uint64_t n = t->n_elem;
		if (strstr(name, "token_embd") || strstr(name, "position_embd"))
			p->embed += n;
		else if (strstr(name, "norm"))
			p->norm += n;
		else if (strstr(name, ".attn_"))
			p->attn += n;
		else if (strstr(name, ".ffn_"))
			p->mlp += n;
		else if (!strncmp(name, "output.", 7))
			p->unembed += n;
		else
			p->other += n;
		p->total += n;
	}
}

void fp_model_free(fp_model *m)
{
	if (!m)
		return;
	if (m->work) {
		struct fp_work *w = m->work;
		free(w->x), free(w->xn), free(w->q), free(w->k), free(w->v), free(w->z);
		free(w->att), free(w->tmp), free(w->a), free(w->b), free(w->logits), free(w->pos);
		free(w->kscr), free(w->vscr), free(w->deq);
		free(w);
	}
	free(m->rope_cos), free(m->rope_sin);
	free(m->rope_cos_swa), free(m->rope_sin_swa);
	free(m->layers);
	free(m->block);
	fp_tokenizer_free(m->tok);
	gguf_close(m->gguf);
	hf_close(m->hf);
	free(m);
}

const char *fp_weights_name(int mode)
{
	return mode == FP_WEIGHTS_F32 ? "f32" : "native";
}

/* The weight matrices' size in f32 (embedding, unembedding unless tied,
 * and every block's attention and MLP matrices), from the config. */
static double f32_matrix_bytes(const fp_config *c)
{
	double D = c->d_model, F = c->d_mlp, q = (double)c->n_heads * c->d_head, kv = (double)c->n_kv_heads * c->d_head;
	double block = D * q * 2 + D * kv * 2 + D * F * (c->gated_mlp ? 3 : 2);
	return 4.0 * ((double)c->n_vocab * D * (c->tied_unembed ? 1 : 2) + (double)c->n_layers * block);
}

int fp_weights_auto(const fp_config *c)
{
	return f32_matrix_bytes(c) <= FP_WEIGHTS_AUTO_F32_MAX ? FP_WEIGHTS_F32 : FP_WEIGHTS_NATIVE;
}

int fp_weights_parse(const char *s)
{
	if (!strcmp(s, "auto"))
		return FP_WEIGHTS_DEFAULT;
	if (!strcmp(s, "native") || !strcmp(s, "quant"))
		return FP_WEIGHTS_NATIVE;
	if (!strcmp(s, "f32"))
		return FP_WEIGHTS_F32;
	return -1;
}

const char *fp_matmul_name(int mode)
{
	return mode == FP_MATMUL_Q8 ? "q8" : "exact";
}

int fp_matmul_parse(const char *s)
{
	if (!strcmp(s, "exact"))
		return FP_MATMUL_EXACT;
	if (!strcmp(s, "q8"))
		return FP_MATMUL_Q8;
	return -1;
}

size_t fp_model_weight_bytes(const fp_model *m)
{
	return m->block_floats * sizeof(float) + m->mapped_bytes;
}

int fp_model_load(fp_model **out, const char *path, fp_error *err)
{
	return fp_model_load_mode(out, path, FP_WEIGHTS_DEFAULT, err);
}

int fp_model_load_mode(fp_model **out, const char *path, int weights, fp_error *err)
{
	fp_load_opts o = {weights, FP_MATMUL_EXACT};
	return fp_model_load_opts(out, path, &o, err);
}

int fp_layer_mats(const fp_layer *y, const fp_mat *mats[7])
{
	const fp_mat *all[7] = {&y->wq, &y->wk, &y->wv, &y->wo, &y->w_gate, &y->w_up, &y->w_down};
	int n = 0;
	for (int i = 0; i < 7; i++)
		if (all[i]->data)
			mats[n++] = all[i];
	return n;
}

/* the matrices whose products go through q8mm */
static int count_q8(const fp_model *m)
{
	int n = m->unembed.q8;
	for (int l = 0; l < m->cfg.n_layers; l++) {
		const fp_mat *ls[7];
		for (int i = 0, k = fp_layer_mats(&m->layers[l], ls); i < k; i++)
			n += ls[i]->q8;
	}
	return n;
}

int fp_model_load_opts(fp_model **out, const char *path, const fp_load_opts *o, fp_error *err)
{
	int rc, weights = o ? o->weights : FP_WEIGHTS_DEFAULT, matmul = o ? o->matmul : FP_MATMUL_EXACT;
	*out = NULL;
	if (weights != FP_WEIGHTS_DEFAULT && weights != FP_WEIGHTS_NATIVE && weights != FP_WEIGHTS_F32)
		return fp_error_set(err, FP_ERR_INVALID, "weights mode %d is neither native nor f32", weights);
	if (matmul != FP_MATMUL_EXACT && matmul != FP_MATMUL_Q8)
		return fp_error_set(err, FP_ERR_INVALID, "matmul mode %d is neither exact nor q8", matmul);
	if (matmul == FP_MATMUL_Q8 && weights == FP_WEIGHTS_F32)
		return fp_error_set(err, FP_ERR_INVALID, "q8 products multiply the weights in the file's own types "
				    "(8-bit activations times Q4_K, Q8_0, ... blocks): they cannot be dequantised to f32 "
				    "at load");
	fp_model *m = calloc(1, sizeof *m);
	if (!m)
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	m->weights = weights;
	m->matmul = matmul;
	char dir[4096];
	int hf = fp_hf_resolve(path, dir, sizeof dir, err);
	if (hf < 0) {
		rc = hf;
		goto fail;
	}
	if (hf) {
		/* a Hugging Face checkpoint: its family's config and a virtual GGUF
		 * of its tensors; the model loads without a tokenizer if that fails
		 * (m->tok_error says why) */
		if ((rc = hf_open(&m->hf, dir, &m->cfg, &m->gguf, err)))
			goto fail;
		if (fp_tokenizer_load_hf(&m->tok, dir, &m->tok_error))
			m->tok = NULL;
		else if (fp_tokenizer_n_vocab(m->tok) > m->cfg.n_vocab) {
			rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': the tokenizer has %d tokens but vocab_size is %d", dir,
					  fp_tokenizer_n_vocab(m->tok), m->cfg.n_vocab);
			goto fail;
		}
	} else if ((rc = gguf_open(&m->gguf, path, err)) || (rc = fp_tokenizer_load(&m->tok, m->gguf, err)) ||
		   (rc = read_config(m, m->gguf, err))) {
		goto fail;
	}
	if (m->weights == FP_WEIGHTS_DEFAULT) /* q8: the weights in their own types */
		m->weights = m->matmul == FP_MATMUL_Q8 ? FP_WEIGHTS_NATIVE : fp_weights_auto(&m->cfg);
	m->layers = calloc((size_t)m->cfg.n_layers, sizeof *m->layers);
	m->work = calloc(1, sizeof *m->work);
	if (!m->layers || !m->work) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		goto fail;
	}
	loader L = {m, m->gguf, err, NULL, 0, 0};
	if ((rc = take_all(&L)))
		goto fail;
	m->block_floats = L.need;
	m->mapped_bytes = L.mapped;
	m->block = malloc((L.need ? L.need : 1) * sizeof(float));
	if (!m->block) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "'%s': cannot allocate %.1f MB for the f32 weights", path,
				  L.need * 4.0 / 1e6);
		goto fail;
	}
	L.next = m->block;
	if ((rc = take_all(&L)))
		goto fail;
	for (int i = 0; m->rope_freqs && i < m->cfg.rope_dim / 2; i++)
		if (!(m->rope_freqs[i] > 0 && m->rope_freqs[i] < 1e6f)) {
			rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': rope_freqs.weight[%d] = %g is not a frequency divisor "
					  "(must be in (0, 1e6))", path, i, m->rope_freqs[i]);
			goto fail;
		}
	m->cfg.tied_unembed = m->unembed.data == NULL;
	if (!m->unembed.data)
		m->unembed = m->tok_embd;
	count_params(m);
	m->q8_matrices = count_q8(m);
	if (!m->q8_matrices) /* no matrix q8mm supports: every product exact, and said so */
		m->matmul = FP_MATMUL_EXACT;
	*out = m;
	return 0;
fail:
	fp_model_free(m);
	return rc;
}

/* ---- forward pass ---- */

static int work_reserve(fp_model *m, int T, int logit_rows)
{
	struct fp_work *w = m->work;
	const fp_config *c = &m->cfg;
	size_t D = (size_t)c->d_model, F = (size_t)c->d_mlp, QE = (size_t)(c->n_heads * c->d_head),
	       KE = (size_t)(c->n_kv_heads * c->d_head), t = (size_t)T;
	if (T > w->cap) {
		float *p[11];
		size_t sz[11] = {t * D, t * D, t * QE, t * KE, t * KE, t * QE, ATT_BLOCK * t, t * D, t * F, t * F, t};
		for (int i = 0; i < 11; i++)
			p[i] = malloc(sz[i] * sizeof(float));
		free(w->x), free(w->xn), free(w->q), free(w->k), free(w->v), free(w->z);
		free(w->att), free(w->tmp), free(w->a), free(w->b), free(w->pos);
		w->x = p[0], w->xn = p[1], w->q = p[2], w->k = p[3], w->v = p[4], w->z = p[5];
		w->att = p[6], w->tmp = p[7], w->a = p[8], w->b = p[9], w->pos = (int *)(void *)p[10];
		w->att_floats = sz[6];
		w->cap = T;
		for (int i = 0; i < 11; i++)
			if (!p[i]) {
				w->cap = 0;
				return -1;
			}
	}
	if (logit_rows > w->logits_rows) {
		free(w->logits);
		w->logits = malloc((size_t)logit_rows * (size_t)c->n_vocab * sizeof(float));
		w->logits_rows = w->logits ? logit_rows : 0;
		if (!w->logits)
			return -1;
	}
	return 0;
}

double fp_rope_llama3_divisor(const fp_config *c, int i)
{
	double factor = c->rope_l3_factor, lo = c->rope_l3_low, hi = c->rope_l3_high, orig = c->rope_l3_orig_ctx;
	if (!(factor > 0))
		return 1.0;
	double wavelen = 2.0 * M_PI / pow((double)c->rope_base, -2.0 * i / c->rope_dim);
	if (wavelen < orig / hi) /* high frequencies: kept */
		return 1.0;
	if (wavelen > orig / lo) /* low frequencies: divided by the factor */
		return factor;
	double smooth = (orig / wavelen - lo) / (hi - lo);
	return 1.0 / ((1.0 - smooth) / factor + smooth);
}

/* cos and sin of p * scale * base^(-2i/rope_dim) / div[i] for positions
 * 0..T (div NULL: 1) */
static int rope_table(const fp_config *c, float base, float scale, const double *div, int T, float **cos_out,
		      float **sin_out)
{
	int half = c->rope_dim / 2;
	float *cs = malloc((size_t)T * (size_t)half * sizeof(float));
	float *sn = malloc((size_t)T * (size_t)half * sizeof(float));
	if (!cs || !sn) {
		free(cs), free(sn);
		return -1;
	}
	for (int p = 0; p < T; p++)
		for (int i = 0; i < half; i++) {
			double theta = p * (double)scale * pow((double)base, -2.0 * i / c->rope_dim) / (div ? div[i] : 1.0);
			cs[(size_t)p * half + i] = (float)cos(theta);
			sn[(size_t)p * half + i] = (float)sin(theta);
		}
	free(*cos_out), free(*sin_out);
	*cos_out = cs, *sin_out = sn;
	return 0;
}

static int rope_reserve(fp_model *m, int T)
{
	const fp_config *c = &m->cfg;
	if (T <= m->rope_pos_cap)
		return 0;
	/* Llama 3 scaling: the file's rope_freqs divisors, or those of the config */
	int half = c->rope_dim / 2, scaled = m->rope_freqs || c->rope_l3_factor > 0;
	double *div = scaled ? malloc((size_t)half * sizeof *div) : NULL;
	if (scaled && !div)
		return -1;
	for (int i = 0; scaled && i < half; i++)
		div[i] = m->rope_freqs ? (double)m->rope_freqs[i] : fp_rope_llama3_divisor(c, i);
	/* sliding-window layers with a base of their own (gemma3) are not scaled */
	int rc = rope_table(c, c->rope_base, c->rope_scale, div, T, &m->rope_cos, &m->rope_sin) ||
		 (c->rope_base_swa > 0 && c->n_swa > 0 &&
		  rope_table(c, c->rope_base_swa, 1.0f, NULL, T, &m->rope_cos_swa, &m->rope_sin_swa));
	free(div);
	if (rc) {
		m->rope_pos_cap = 0;
		return -1;
	}
	m->rope_pos_cap = T;
	return 0;
}

/* ---- weight matrices ---- */

/* How a matrix in the file's type meets sgemm.  A matrix of up to
 * whole_max values (64 MB of f32) is dequantised whole, so its sgemm is the
 * very call the f32 mode makes: the same numbers (OpenBLAS's results depend
 * on the shape it is given; splitting the rows changes the last bits).  That
 * covers every block matrix of models up to about 1.5B parameters.  Up to
 * whole_big values (128 MB) a matrix is also dequantised whole for products
 * of FEW_ROWS rows or more.  Larger matrices (8B-class MLPs and
 * unembeddings) go in tiles.  A tile holds about T * tile_unit values, at
 * most tile_max: every sgemm call costs a fixed overhead (on a loaded
 * 2-core machine, waking OpenBLAS's threads), so the work per call grows
 * with the rows T; measured on the 8B-shaped model at 16 rows, tiles of 1M
 * values took 35 s a pass, 16M 17 s, whole matrices 22 s.  A tile is
 * dequantised by all the threads OpenBLAS uses (the same floats).
 *
 * Products of few rows (T <= qmm_t) with a matrix of qmm_min values or more
 * and rows of qmm_cols values or more (d_model >= 2048: models of about 1B
 * parameters and up) skip the f32 copy: qmm (qmm.c) dequantises a few rows
 * at a time into the L1 cache and multiplies them there.  At 16 rows it
 * took a third of the CPU time of dequantise-then-sgemm on the 8B-shaped
 * model's 4096 x 4096 Q4_K matrix and two thirds on its MLP matrices; from
 * 32 rows on sgemm is as fast or faster.  Its sums run in another order
 * than OpenBLAS's: about 5e-7 relative per product, 1.2e-6 on the default
 * model's logits where it was tried on its unembedding, above the 1e-6
 * the f32 mode is held to, so smaller models (the default one: d_model
 * 576) keep the products of the f32 mode.  test_oracle measures each path
 * against the f32 mode. */
#define FEW_ROWS 8
static size_t whole_max = (size_t)16 << 20, whole_big = (size_t)32 << 20;
static size_t tile_unit = (size_t)1 << 20, tile_max = (size_t)16 << 20;
static int qmm_t = 16, qmm_cols = 2048;
static size_t qmm_min = (size_t)4 << 20;

void fp_set_tiles(size_t whole, size_t big, size_t unit, size_t max)
{
	whole_max = whole, whole_big = big;
	tile_unit = unit ? unit : tile_unit;
	tile_max = max ? max : tile_max;
}

void fp_set_qmm(int max_rows, size_t min_values, int min_cols)
{
	qmm_t = max_rows, qmm_min = min_values, qmm_cols = min_cols;
}

static int use_qmm(const fp_mat *W, int T)
{
	return T <= qmm_t && (size_t)W->rows * W->cols >= qmm_min && W->cols >= qmm_cols && W->cols % 16 == 0;
}

static int tile_rows(const fp_mat *W, int T)
{
	size_t n = (size_t)W->rows * W->cols;
	if (n <= whole_max || (n <= whole_big && T >= FEW_ROWS))
		return W->rows;
	size_t vals = (size_t)T * tile_unit;
	size_t r = (vals < tile_max ? vals : tile_max) / (size_t)W->cols;
	return r < 1 ? 1 : r > (size_t)W->rows ? W->rows : (int)r;
}

const char *fp_blas_core(int *threads)
{
	*threads = openblas_get_num_threads();
	return openblas_get_corename();
}

int fp_model_qmm_matrices(const fp_model *m)
{
	int n = m->unembed.data && m->unembed.type != GGML_F32 && !m->unembed.q8 && use_qmm(&m->unembed, 1);
	for (int l = 0; l < m->cfg.n_layers; l++) {
		const fp_mat *ls[7];
		for (int i = 0, k = fp_layer_mats(&m->layers[l], ls); i < k; i++)
			n += ls[i]->type != GGML_F32 && !ls[i]->q8 && use_qmm(ls[i], 1);
	}
	return n;
}

/* the floats that hold T rows of W's 8-bit activations (q8 mode) */
static size_t q8_floats(const fp_mat *W, int T)
{
	return (q8mm_act_bytes(W->type, T, W->cols) + sizeof(float) - 1) / sizeof(float);
}

/* the scratch mat_mul needs for W and T rows (floats): the quantised
 * activations (q8 mode), or a tile of dequantised rows */
static size_t scratch_floats(const fp_mat *W, int T)
{
	if (W->q8)
		return q8_floats(W, T);
	return W->type == GGML_F32 || use_qmm(W, T) ? 0 : (size_t)tile_rows(W, T) * W->cols;
}

static void deq_rows(const fp_mat *W, int r0, int n, float *dst)
{
	quant_dequantize(W->type, (const uint8_t *)W->data + (size_t)r0 * W->row_bytes, dst, (uint64_t)n * W->cols);
}

typedef struct deq_job {
	const fp_mat *W;
	int r0, n, step;
	float *dst;
} deq_job;

static void deq_piece(void *ctx, int i)
{
	const deq_job *j = ctx;
	int a = i * j->step, n = j->n - a < j->step ? j->n - a : j->step;
	deq_rows(j->W, j->r0 + a, n, j->dst + (size_t)a * j->W->cols);
}

/* deq_rows on every thread OpenBLAS uses, in pieces of about 1M values */
static void deq_rows_par(const fp_mat *W, int r0, int n, float *dst)
{
	int nt = openblas_get_num_threads();
	deq_job j = {W, r0, n, (int)(((size_t)1 << 20) / (size_t)W->cols), dst};
	if (j.step < 1)
		j.step = 1;
	if (nt < 2 || n <= j.step) {
		deq_rows(W, r0, n, dst);
		return;
	}
	qmm_parallel((n + j.step - 1) / j.step, nt, deq_piece, &j);
}

/* y[T, rows] = x[T, cols] W^T: one sgemm for f32 weights, x quantised to
 * 8 bits into scr and q8mm in q8 mode, qmm for few rows and a large matrix,
 * else one sgemm per tile of rows dequantised into scr (scratch_floats(W,
 * T)). */
static void mat_mul(float *y, const float *x, const fp_mat *W, int T, float *scr)
{
	int in = W->cols, out = W->rows;
	if (W->type == GGML_F32) {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, out, in, 1.0f, x, in, W->data, in, 0.0f, y, out);
		return;
	}
	if (W->q8) {
		q8mm_quantize(W->type, x, T, in, scr);
		q8mm(y, (size_t)out, scr, T, W->type, W->data, W->row_bytes, out, in, openblas_get_num_threads());
		return;
	}
	if (use_qmm(W, T)) {
		qmm(y, (size_t)out, x, T, W->type, W->data, W->row_bytes, out, in, openblas_get_num_threads());
		return;
	}
	int R = tile_rows(W, T);
	for (int r0 = 0; r0 < out; r0 += R) {
		int nr = out - r0 < R ? out - r0 : R;
		deq_rows_par(W, r0, nr, scr);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, nr, in, 1.0f, x, in, scr, in, 0.0f, y + r0, out);
	}
}

void fp_mat_row(const fp_mat *W, int r, float *dst)
{
	deq_rows(W, r, 1, dst);
}

void fp_mat_col(const fp_mat *W, int c, float *dst)
{
	if (W->type == GGML_F32) {
		for (int r = 0; r < W->rows; r++)
			dst[r] = ((const float *)W->data)[(size_t)r * W->cols + c];
		return;
	}
	uint32_t be = ggml_type_block_elems(W->type), bb = ggml_type_block_bytes(W->type);
	float blk[256];
	const uint8_t *p = (const uint8_t *)W->data + (size_t)(c / be) * bb;
	for (int r = 0; r < W->rows; r++, p += W->row_bytes) {
		quant_dequantize(W->type, p, blk, be);
		dst[r] = blk[c % be];
	}
}

const float *fp_mat_f32(const fp_mat *W, float **owned)
{
	*owned = NULL;
	if (W->type == GGML_F32)
		return W->data;
	*owned = malloc((size_t)W->rows * W->cols * sizeof(float));
	if (*owned)
		deq_rows(W, 0, W->rows, *owned);
	return *owned;
}

int fp_mat_mul(float *y, const float *x, const fp_mat *W, int T)
{
	float *scr = NULL;
	size_t need = scratch_floats(W, T);
	if (need && !(scr = malloc(need * sizeof(float))))
		return FP_ERR_NOMEM;
	mat_mul(y, x, W, T, scr);
	free(scr);
	return 0;
}

/* the largest tile any matrix of the model needs for T positions */
static size_t deq_need(const fp_model *m, int T)
{
	size_t need = 0;
	const fp_mat *ms[2] = {&m->tok_embd, &m->unembed};
	for (int i = 0; i < 2; i++) {
		size_t n = scratch_floats(ms[i], T);
		need = n > need ? n : need;
	}
	for (int l = 0; l < m->cfg.n_layers; l++) {
		const fp_mat *ls[7];
		for (int i = 0, k = fp_layer_mats(&m->layers[l], ls); i < k; i++)
			{
				size_t n = scratch_floats(ls[i], T);
				need = n > need ? n : need;
			}
	}
	return need;
}

/* y[T, out] = x[T, in] W^T (+ bias) */
static void linear(fp_model *m, float *y, const float *x, const fp_mat *W, const float *bias, int T)
{
	int out = W->rows;
	mat_mul(y, x, W, T, m->work->deq);
	if (bias)
		for (int t = 0; t < T; t++)
			for (int j = 0; j < out; j++)
				y[(size_t)t * out + j] += bias[j];
}

double fp_row_moments(const float *xr, int D, float eps, int rms, double *mean)
{
	double m = 0, var = 0;
	if (!rms) {
		for (int i = 0; i < D; i++)
			m += xr[i];
		m /= D;
	}
	for (int i = 0; i < D; i++)
		var += (xr[i] - m) * (xr[i] - m);
	*mean = m;
	return 1.0 / sqrt(var / D + eps);
}

static void norm_rows(float *y, const float *x, const float *w, const float *b, int T, int D, float eps, int rms)
{
	for (int t = 0; t < T; t++) {
		const float *xr = x + (size_t)t * D;
		float *yr = y + (size_t)t * D;
		double mean;
		float scale = (float)fp_row_moments(xr, D, eps, rms, &mean);
		for (int i = 0; i < D; i++)
			yr[i] = (float)(xr[i] - mean) * scale * w[i] + (b ? b[i] : 0.0f);
	}
}

/* Rotates each head's pairs: adjacent (x[2i], x[2i+1]), llama.cpp's
 * "normal" RoPE, which GGUF llama weights need (the converter permuted Q and
 * K); or half-split (x[i], x[i + rope_dim/2]), the "neox" RoPE of every other
 * family.  Dimensions past rope_dim are left alone (partial rotary).  dir -1:
 * the inverse (transposed) rotation, for the backward pass. */
static void rope_dir(const fp_model *m, int l, float *x, int T, int n_heads, const int *pos, float dir)
{
	const fp_config *c = &m->cfg;
	int half = c->rope_dim / 2, E = c->d_head, i0 = c->rope_neox ? 1 : 2, i1 = c->rope_neox ? half : 1;
	const float *tc = m->rope_cos, *ts = m->rope_sin;
	if (m->rope_cos_swa && fp_config_layer_swa(c, l))
		tc = m->rope_cos_swa, ts = m->rope_sin_swa;
	for (int t = 0; t < T; t++) {
		const float *cs = tc + (size_t)pos[t] * half, *sn = ts + (size_t)pos[t] * half;
		for (int h = 0; h < n_heads; h++) {
			float *v = x + ((size_t)t * n_heads + h) * E;
			for (int i = 0; i < half; i++) {
				float *pa = v + i0 * i, *pb = pa + i1, a = *pa, b = *pb, sn_i = dir * sn[i];
				*pa = a * cs[i] - b * sn_i;
				*pb = a * sn_i + b * cs[i];
			}
		}
	}
}

static void rope(const fp_model *m, int l, float *x, int T, int n_heads, const int *pos)
{
	rope_dir(m, l, x, T, n_heads, pos, 1.0f);
}

/* One row of attention scores -> weights: keys lo..seen-1 (causal, and
 * within the window q - k < n_swa) soft-capped (gemma2: cap tanh(s / cap))
 * and softmaxed, the rest of the nk zero. */
static void attn_row(float *r, int lo, int seen, int nk, float cap)
{
	if (cap > 0)
		for (int j = lo; j < seen; j++)
			r[j] = cap * tanhf(r[j] / cap);
	kern_softmax(r + lo, seen - lo);
	for (int j = 0; j < lo; j++)
		r[j] = 0.0f;
	for (int j = seen; j < nk; j++)
		r[j] = 0.0f;
}

/* Causal attention for nq query rows q (stride H*E) whose keys and values
 * k, v (stride K*E) are npre earlier positions followed by the rows' own;
 * one head at a time, in blocks of query rows: rows [r0, r1) only meet keys
 * up to r1, so the masked upper triangle is mostly never computed. */
static void attend(fp_model *m, int l, const float *q, const float *k, const float *v, float *z, int nq, int npre)
{
	const fp_config *c = &m->cfg;
	struct fp_work *w = m->work;
	int E = c->d_head, H = c->n_heads, K = c->n_kv_heads, QE = H * E, KE = K * E, group = H / K;
	int swa = fp_config_layer_swa(c, l) ? c->n_swa : 0;
	float scale = c->attn_scale, cap = c->attn_softcap;
	for (int h = 0; h < H; h++) {
		int g = h / group;
		for (int r0 = 0; r0 < nq; r0 += ATT_BLOCK) {
			int r1 = r0 + ATT_BLOCK < nq ? r0 + ATT_BLOCK : nq, nr = r1 - r0, nk = npre + r1;
			/* att[nr, nk] = scale * Q_h[r0:r1] K_g[0:npre+r1]^T */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, nk, E, scale, q + (size_t)r0 * QE + h * E, QE,
				    k + g * E, KE, 0.0f, w->att, nk);
			for (int i = 0; i < nr; i++) {
				/* keys lo..seen-1: causal, and within the window q - k < n_swa */
				int seen = npre + r0 + i + 1, lo = swa && seen > swa ? seen - swa : 0;
				attn_row(w->att + (size_t)i * nk, lo, seen, nk, cap);
			}
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, E, nk, 1.0f, w->att, nk, v + g * E, KE, 0.0f,
				    z + (size_t)r0 * QE + h * E, QE);
		}
	}
}

/* one packed sequence [a, b) at layer l, continuing prefix kv (npre positions) */
static void attention(fp_model *m, int a, int b, int l, const fp_kv_cache *kv, int npre)
{
	const fp_config *c = &m->cfg;
	struct fp_work *w = m->work;
	int QE = c->n_heads * c->d_head, KE = c->n_kv_heads * c->d_head;
	if (!kv || npre <= 0) {
		attend(m, l, w->q + (size_t)a * QE, w->k + (size_t)a * KE, w->v + (size_t)a * KE, w->z + (size_t)a * QE, b - a, 0);
		return;
	}
	size_t pre = (size_t)npre * KE, own = (size_t)(b - a) * KE;
	const float *kp = kv->k + (size_t)l * kv->n_pos * KE, *vp = kv->v + (size_t)l * kv->n_pos * KE;
	memcpy(w->kscr, kp, pre * sizeof(float));
	memcpy(w->vscr, vp, pre * sizeof(float));
	memcpy(w->kscr + pre, w->k + (size_t)a * KE, own * sizeof(float));
	memcpy(w->vscr + pre, w->v + (size_t)a * KE, own * sizeof(float));
	attend(m, l, w->q + (size_t)a * QE, w->kscr, w->vscr, w->z + (size_t)a * QE, b - a, npre);
}

int fp_kv_cache_alloc(fp_kv_cache *c, const fp_model *m, int n_pos)
{
	size_t n = (size_t)m->cfg.n_layers * n_pos * m->cfg.n_kv_heads * m->cfg.d_head;
	c->n_layers = m->cfg.n_layers, c->n_pos = n_pos, c->width = m->cfg.n_kv_heads * m->cfg.d_head;
	c->k = malloc(n * sizeof(float));
	c->v = malloc(n * sizeof(float));
	if (!c->k || !c->v) {
		fp_kv_cache_free(c);
		return FP_ERR_NOMEM;
	}
	return 0;
}

void fp_kv_cache_free(fp_kv_cache *c)
{
	free(c->k), free(c->v);
	c->k = c->v = NULL;
}

typedef struct hook_ctx {
	const fp_forward_opts *o;
	fp_error *err;
} hook_ctx;

static int fire(const hook_ctx *hc, int kind, int layer, float *data, int n_pos, int first_pos, int width)
{
	const fp_forward_opts *o = hc->o;
	char name[64];
	if (!o || !o->hook || !(o->hook_mask & FP_HOOK_BIT(kind)))
		return 0;
	fp_hook_event ev = {kind, layer, fp_hook_name(kind, layer, name, sizeof name), n_pos, first_pos, width, data};
	if (o->hook(o->user, &ev))
		return fp_error_set(hc->err, FP_ERR_ABORTED, "forward pass stopped by the hook on '%s'", name);
	return 0;
}

/* x += y over n values (the residual stream update) */
static void add_into(float *x, const float *y, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] += y[i];
}

void fp_model_add_unembed_bias(const fp_model *m, float *logits, int rows)
{
	int V = m->cfg.n_vocab;
	if (m->unembed_b)
		for (int r = 0; r < rows; r++)
			for (int v = 0; v < V; v++)
				logits[(size_t)r * V + v] += m->unembed_b[v];
}

void fp_model_softcap_logits(const fp_model *m, float *logits, size_t n)
{
	float cap = m->cfg.final_softcap;
	if (cap > 0)
		for (size_t i = 0; i < n; i++)
			logits[i] = cap * tanhf(logits[i] / cap);
}

double fp_model_flops(const fp_model *m, int n, int all_logits)
{
	const fp_config *c = &m->cfg;
	double D = c->d_model, F = c->d_mlp, QE = (double)c->n_heads * c->d_head, KE = (double)c->n_kv_heads * c->d_head;
	double per_tok = 2 * D * (QE + 2 * KE) + 2 * QE * D + 2 * D * F * (c->gated_mlp ? 3 : 2);
	/* QK^T and AV over the causal triangle only: what the math needs (the
	 * blocked attention computes a little more, not counted) */
	double attn = 2.0 * 2.0 * ((double)n * (n + 1) / 2) * c->d_head * c->n_heads;
	return c->n_layers * (per_tok * n + attn) + 2.0 * D * c->n_vocab * (all_logits ? n : 1);
}

/* One forward pass's batch, read from the options once.  Dimension letters
 * as in fp_work: T = n rows, D, F, H*E = QE, K*E = KE, V. */
typedef struct fwd {
	fp_model *m;
	const fp_forward_opts *o; /* may be NULL */
	hook_ctx hc;
	int n;            /* rows: the packed sequences' tokens */
	int n_seq, one;   /* sequences; one: the length of the lone one */
	const int *seq;   /* [n_seq] their lengths */
	const int *plen;  /* [n_seq] positions each continues, or NULL */
	int all, rows;    /* logits for all n rows, or the n_seq last ones */
	int longest;      /* the longest sequence, prefix included */
	int scr;          /* the longest continued one: kscr / vscr rows */
} fwd;

/* the positions sequence s continues (0: a fresh one) */
static int fwd_prefix(const fwd *p, int s)
{
	return p->plen && p->o->prefix_kv[s] ? p->plen[s] : 0;
}

/* checks the batch against the options and the model (every error before
 * any work), and sizes p->longest and p->scr */
static int fwd_check(fwd *p, const int32_t *tokens, fp_error *err)
{
	const fp_config *c = &p->m->cfg;
	const fp_forward_opts *o = p->o;
	int n = p->n, KE = c->n_kv_heads * c->d_head;
	if (n <= 0)
		return fp_error_set(err, FP_ERR_INVALID, "nothing to run: the prompt has no tokens");
	if (o && (o->start_layer < 0 || o->start_layer > c->n_layers || (o->start_layer > 0 && !o->resid_in)))
		return fp_error_set(err, FP_ERR_INVALID, "start layer %d: must be 0..%d, with resid_in when above 0",
				    o->start_layer, c->n_layers);
	if (o && o->kv_save && (p->n_seq != 1 || p->plen || o->kv_save->n_pos < n || o->kv_save->width != KE ||
				o->kv_save->n_layers != c->n_layers))
		return fp_error_set(err, FP_ERR_INVALID, "kv_save takes one fresh sequence and a cache of its size");
	long total = 0;
	for (int s = 0; s < p->n_seq; s++) {
		int len = p->seq[s], pre = fwd_prefix(p, s);
		if (len <= 0)
			return fp_error_set(err, FP_ERR_INVALID, "sequence %d of the batch is empty", s);
		if (pre < 0 || (pre > 0 && (o->prefix_kv[s]->n_pos < pre || o->prefix_kv[s]->width != KE)))
			return fp_error_set(err, FP_ERR_INVALID, "sequence %d continues %d positions its cache does not hold", s,
					    pre);
		if (len + pre > c->n_ctx)
			return fp_error_set(err, FP_ERR_INVALID, "the prompt has %d tokens, longer than the model's context of %d",
					    len + pre, c->n_ctx);
		p->longest = len + pre > p->longest ? len + pre : p->longest;
		if (pre)
			p->scr = len + pre > p->scr ? len + pre : p->scr;
		total += len;
	}
	if (total != n)
		return fp_error_set(err, FP_ERR_INVALID, "the sequence lengths add up to %ld, not to the %d tokens given",
				    total, n);
	if (!(o && o->resid_in))
		for (int t = 0; t < n; t++)
			if (tokens[t] < 0 || tokens[t] >= c->n_vocab)
				return fp_error_set(err, FP_ERR_INVALID,
						    "token id %d at position %d is outside the vocabulary (0..%d)", tokens[t], t,
						    c->n_vocab - 1);
	return 0;
}

/* grows the workspace to this pass: the per-row buffers, the RoPE tables,
 * the attention scores, the dequantisation tile and the continued
 * sequences' keys and values */
static int fwd_reserve(const fwd *p, fp_error *err)
{
	fp_model *m = p->m;
	const fp_config *c = &m->cfg;
	int n = p->n, longest = p->longest, KE = c->n_kv_heads * c->d_head;
	if (work_reserve(m, n, p->rows) || (c->rope_dim > 0 && rope_reserve(m, longest)))
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory for a forward pass of %d tokens", n);
	struct fp_work *w = m->work;
	/* the scores of ATT_BLOCK query rows against every key they can see:
	 * sized by the longest sequence of this pass (prefix included), not by
	 * the context length a file declares */
	if ((size_t)ATT_BLOCK * (size_t)longest > w->att_floats) {
		free(w->att);
		w->att = malloc((size_t)ATT_BLOCK * (size_t)longest * sizeof(float));
		w->att_floats = w->att ? (size_t)ATT_BLOCK * (size_t)longest : 0;
		if (!w->att) {
			w->cap = 0; /* work_reserve allocates everything again */
			return fp_error_set(err, FP_ERR_NOMEM, "out of memory for a forward pass of %d tokens", n);
		}
	}
	size_t need = deq_need(m, n), need_logits = deq_need(m, p->rows);
	need = need_logits > need ? need_logits : need;
	if (need > w->deq_floats) {
		free(w->deq);
		w->deq = malloc(need * sizeof(float));
		w->deq_floats = w->deq ? need : 0;
		if (!w->deq)
			return fp_error_set(err, FP_ERR_NOMEM, "out of memory for a forward pass of %d tokens", n);
	}
	if (p->scr > w->scr_cap) {
		free(w->kscr), free(w->vscr);
		w->kscr = malloc((size_t)p->scr * KE * sizeof(float));
		w->vscr = malloc((size_t)p->scr * KE * sizeof(float));
		w->scr_cap = w->kscr && w->vscr ? p->scr : 0;
		if (!w->scr_cap)
			return fp_error_set(err, FP_ERR_NOMEM, "out of memory for a forward pass of %d tokens", n);
	}
	return 0;
}

/* w->pos and the residual stream entering the first block run: resid_in,
 * or the token embeddings (gemma: times embed_scale) plus gpt2's learned
 * positions */
static int fwd_embed(const fwd *p, const int32_t *tokens)
{
	fp_model *m = p->m;
	const fp_config *c = &m->cfg;
	struct fp_work *w = m->work;
	int n = p->n, D = c->d_model, rc;
	for (int s = 0, t = 0; s < p->n_seq; s++)
		for (int q = 0; q < p->seq[s]; q++)
			w->pos[t++] = q + fwd_prefix(p, s);
	if (p->o && p->o->resid_in) {
		memcpy(w->x, p->o->resid_in, (size_t)n * D * sizeof(float));
		return 0;
	}
	for (int t = 0; t < n; t++)
		fp_mat_row(&m->tok_embd, tokens[t], w->x + (size_t)t * D);
	if (c->embed_scale != 1.0f)
		for (size_t i = 0; i < (size_t)n * D; i++)
			w->x[i] *= c->embed_scale;
	if ((rc = fire(&p->hc, FP_HOOK_EMBED, -1, w->x, n, 0, D)))
		return rc;
	if (m->pos_embd) {
		for (int t = 0; t < n; t++)
			memcpy(w->tmp + (size_t)t * D, m->pos_embd + (size_t)w->pos[t] * D, (size_t)D * sizeof(float));
		if ((rc = fire(&p->hc, FP_HOOK_POS_EMBED, -1, w->tmp, n, 0, D)))
			return rc;
		add_into(w->x, w->tmp, (size_t)n * D);
	}
	return 0;
}

/* w->q, w->k, w->v of layer l from w->xn: projected, normalised per head
 * (qwen3, gemma3), rotated, and the keys and values saved to kv_save */
static void fwd_qkv(const fwd *p, int l)
{
	fp_model *m = p->m;
	const fp_config *c = &m->cfg;
	const fp_layer *y = &m->layers[l];
	struct fp_work *w = m->work;
	int n = p->n, KE = c->n_kv_heads * c->d_head;
	linear(m, w->q, w->xn, &y->wq, y->bq, n);
	linear(m, w->k, w->xn, &y->wk, y->bk, n);
	linear(m, w->v, w->xn, &y->wv, y->bv, n);
	if (c->qk_norm) { /* qwen3, gemma3: RMSNorm of each head's query and key, before RoPE */
		norm_rows(w->q, w->q, y->q_norm, NULL, n * c->n_heads, c->d_head, c->norm_eps, 1);
		norm_rows(w->k, w->k, y->k_norm, NULL, n * c->n_kv_heads, c->d_head, c->norm_eps, 1);
	}
	if (c->rope_dim > 0) {
		rope(m, l, w->q, n, c->n_heads, w->pos);
		rope(m, l, w->k, n, c->n_kv_heads, w->pos);
	}
	if (p->o && p->o->kv_save) {
		size_t off = (size_t)l * p->o->kv_save->n_pos * KE;
		memcpy(p->o->kv_save->k + off, w->k, (size_t)n * KE * sizeof(float));
		memcpy(p->o->kv_save->v + off, w->v, (size_t)n * KE * sizeof(float));
	}
}

/* block l's attention: resid_pre -> resid_mid in w->x; leaves in w->xn the
 * MLP's input when the residual is parallel (gptneox, gptj: the MLP reads
 * resid_pre's norm) */
static int fwd_attn_block(const fwd *p, int l)
{
	fp_model *m = p->m;
	const fp_config *c = &m->cfg;
	const fp_layer *y = &m->layers[l];
	struct fp_work *w = m->work;
	int n = p->n, D = c->d_model, QE = c->n_heads * c->d_head, rms = !c->layer_norm, rc;
	if ((rc = fire(&p->hc, FP_HOOK_RESID_PRE, l, w->x, n, 0, D)))
		return rc;
	norm_rows(w->xn, w->x, y->ln1_w, y->ln1_b, n, D, c->norm_eps, rms);
	fwd_qkv(p, l);
	for (int s = 0, a = 0; s < p->n_seq; a += p->seq[s++])
		attention(m, a, a + p->seq[s], l, p->plen ? p->o->prefix_kv[s] : NULL, p->plen ? p->plen[s] : 0);
	if ((rc = fire(&p->hc, FP_HOOK_ATTN_Z, l, w->z, n, 0, QE)))
		return rc;
	linear(m, w->tmp, w->z, &y->wo, y->bo, n);
	if (c->post_norms) { /* gemma: the residual stream receives the normalised output */
		if ((rc = fire(&p->hc, FP_HOOK_ATTN_OUT_PRE_NORM, l, w->tmp, n, 0, D)))
			return rc;
		norm_rows(w->tmp, w->tmp, y->post_attn_norm, NULL, n, D, c->norm_eps, 1);
	}
	if ((rc = fire(&p->hc, FP_HOOK_ATTN_OUT, l, w->tmp, n, 0, D)))
		return rc;
	/* gptneox's parallel residual: the MLP reads resid_pre's norm */
	if (c->parallel_resid)
		norm_rows(w->xn, w->x, y->ln2_w, y->ln2_b, n, D, c->norm_eps, rms);
	add_into(w->x, w->tmp, (size_t)n * D);
	return fire(&p->hc, FP_HOOK_RESID_MID, l, w->x, n, 0, D);
}

/* the MLP's hidden activations w->a [T, F] from w->xn: llama's
 * SiLU(x W_gate^T) * (x W_up^T) (gemma: GELU-tanh gated), or the ungated
 * GELU(x W_up^T + b) of gpt2, gptj (tanh) and gptneox (erf) */
static int fwd_mlp_hidden(const fwd *p, int l)
{
	fp_model *m = p->m;
	const fp_config *c = &m->cfg;
	const fp_layer *y = &m->layers[l];
	struct fp_work *w = m->work;
	int n = p->n, F = c->d_mlp, rc;
	size_t nf = (size_t)n * F;
	if (c->gated_mlp) {
		linear(m, w->a, w->xn, &y->w_gate, NULL, n);
		linear(m, w->b, w->xn, &y->w_up, y->b_up, n);
		if ((rc = fire(&p->hc, FP_HOOK_MLP_PRE, l, w->a, n, 0, F)) ||
		    (rc = fire(&p->hc, FP_HOOK_MLP_PRE_LINEAR, l, w->b, n, 0, F)))
			return rc;
		if (c->mlp_act == FP_ACT_SILU)
			kern_swiglu(w->a, w->b, nf);
		else
			kern_geglu(w->a, w->b, nf);
	} else {
		linear(m, w->a, w->xn, &y->w_up, y->b_up, n);
		if ((rc = fire(&p->hc, FP_HOOK_MLP_PRE, l, w->a, n, 0, F)))
			return rc;
		if (c->mlp_act == FP_ACT_GELU_ERF)
			kern_gelu_erf(w->a, nf);
		else
			kern_gelu_tanh(w->a, nf);
	}
	return fire(&p->hc, FP_HOOK_MLP_POST, l, w->a, n, 0, F);
}

/* block l's MLP: resid_mid -> resid_post in w->x */
static int fwd_mlp_block(const fwd *p, int l)
{
	fp_model *m = p->m;
	const fp_config *c = &m->cfg;
	const fp_layer *y = &m->layers[l];
	struct fp_work *w = m->work;
	int n = p->n, D = c->d_model, rc;
	if (!c->parallel_resid)
		norm_rows(w->xn, w->x, y->ln2_w, y->ln2_b, n, D, c->norm_eps, !c->layer_norm);
	if ((rc = fwd_mlp_hidden(p, l)))
		return rc;
	linear(m, w->tmp, w->a, &y->w_down, y->b_down, n);
	if (c->post_norms) {
		if ((rc = fire(&p->hc, FP_HOOK_MLP_OUT_PRE_NORM, l, w->tmp, n, 0, D)))
			return rc;
		norm_rows(w->tmp, w->tmp, y->post_mlp_norm, NULL, n, D, c->norm_eps, 1);
	}
	if ((rc = fire(&p->hc, FP_HOOK_MLP_OUT, l, w->tmp, n, 0, D)))
		return rc;
	add_into(w->x, w->tmp, (size_t)n * D);
	return fire(&p->hc, FP_HOOK_RESID_POST, l, w->x, n, 0, D);
}

/* the final norm and the logits [rows, V] (gemma2: soft-capped) into
 * w->logits and, when not NULL, logits */
static int fwd_unembed(const fwd *p, float *logits)
{
	fp_model *m = p->m;
	const fp_config *c = &m->cfg;
	struct fp_work *w = m->work;
	int n = p->n, D = c->d_model, rc;
	norm_rows(w->xn, w->x, m->out_norm_w, m->out_norm_b, n, D, c->norm_eps, !c->layer_norm);
	if ((rc = fire(&p->hc, FP_HOOK_LN_FINAL, -1, w->xn, n, 0, D)))
		return rc;
	/* unembed every row, or the last row of each sequence */
	const float *src = w->xn;
	if (!p->all) {
		for (int s = 0, end = 0; s < p->n_seq; s++) {
			end += p->seq[s];
			memcpy(w->tmp + (size_t)s * D, w->xn + (size_t)(end - 1) * D, (size_t)D * sizeof(float));
		}
		src = w->tmp;
	}
	linear(m, w->logits, src, &m->unembed, m->unembed_b, p->rows);
	fp_model_softcap_logits(m, w->logits, (size_t)p->rows * c->n_vocab);
	if ((rc = fire(&p->hc, FP_HOOK_LOGITS, -1, w->logits, p->rows, p->all ? 0 : p->n_seq == 1 ? n - 1 : -1,
		       c->n_vocab)))
		return rc;
	if (logits)
		memcpy(logits, w->logits, (size_t)p->rows * c->n_vocab * sizeof(float));
	return 0;
}

int fp_model_forward(fp_model *m, const int32_t *tokens, int n, const fp_forward_opts *o, float *logits,
		     fp_error *err)
{
	fwd p = {.m = m, .o = o, .hc = {o, err}, .n = n, .one = n};
	int rc;
	p.n_seq = o && o->n_seq > 0 ? o->n_seq : 1;
	p.seq = o && o->n_seq > 0 ? o->seq_len : &p.one;
	p.plen = o && o->prefix_kv ? o->prefix_len : NULL;
	p.all = o && o->all_logits;
	p.rows = p.all ? n : p.n_seq;
	if ((rc = fwd_check(&p, tokens, err)) || (rc = fwd_reserve(&p, err)) || (rc = fwd_embed(&p, tokens)))
		return rc;
	for (int l = o && o->resid_in ? o->start_layer : 0; l < m->cfg.n_layers; l++)
		if ((rc = fwd_attn_block(&p, l)) || (rc = fwd_mlp_block(&p, l)))
			return rc;
	return fwd_unembed(&p, logits);
}

/* ---- for the backward pass (model/backward.c, through model_internal.h) ---- */

size_t fp_mat_tile_floats(const fp_mat *W, int T)
{
	/* q8 mode: the forward products' activations, and the transposed
	 * products' tiles (those stay exact) */
	size_t tile = W->type == GGML_F32 ? 0 : (size_t)tile_rows(W, T) * W->cols, q = W->q8 ? q8_floats(W, T) : 0;
	return tile > q ? tile : q;
}

void fp_mat_mul_scr(float *y, const float *x, const fp_mat *W, int T, float *scr)
{
	mat_mul(y, x, W, T, scr);
}

/* dx[T, cols] = beta dx + dy[T, rows] W: the transposed product, through
 * the same tiles of dequantised rows as mat_mul */
void fp_mat_mul_t(float *dx, const float *dy, const fp_mat *W, int T, float beta, float *scr)
{
	int in = W->cols, out = W->rows;
	if (W->type == GGML_F32) {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, in, out, 1.0f, dy, out, W->data, in, beta, dx, in);
		return;
	}
	int R = tile_rows(W, T);
	for (int r0 = 0; r0 < out; r0 += R) {
		int nr = out - r0 < R ? out - r0 : R;
		deq_rows_par(W, r0, nr, scr);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, in, nr, 1.0f, dy + r0, out, scr, in,
			    r0 ? 1.0f : beta, dx, in);
	}
}

void fp_norm_rows(float *y, const float *x, const float *w, const float *b, int T, int D, float eps, int rms)
{
	norm_rows(y, x, w, b, T, D, eps, rms);
}

void fp_rope_rows(const fp_model *m, int l, float *x, int T, int n_heads, const int *pos, int inverse)
{
	rope_dir(m, l, x, T, n_heads, pos, inverse ? -1.0f : 1.0f);
}

void fp_attn_row(float *r, int lo, int seen, int nk, float cap)
{
	attn_row(r, lo, seen, nk, cap);
}
