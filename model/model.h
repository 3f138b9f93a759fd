/* model.h - transformer architectures read from GGUF metadata, and a batched
 * f32 forward pass with TransformerLens-named hook points.
 *
 * Architectures (general.architecture), each as llama.cpp computes it:
 *   llama    RMSNorm, RoPE on adjacent pairs (GGUF llama weights are
 *            permuted by the converter), grouped-query attention, SwiGLU MLP;
 *            llama 3.1+: RoPE frequencies divided per pair by rope_freqs.weight
 *   gpt2     learned positions, LayerNorm with bias, fused QKV with bias,
 *            GELU-tanh MLP
 *   qwen2    llama with bias on Q, K and V and half-split ("neox") RoPE
 *   qwen3    llama with RMSNorm on Q and K per head (before RoPE), neox RoPE
 *   gemma2   embeddings times sqrt(d_model); norms before and after attention
 *            and the MLP; GELU-tanh gated MLP; attention and final logit
 *            soft-capping; sliding window on even layers; query scale
 *            1/sqrt(d_head) (27B: 1/sqrt(d_model/heads)); neox RoPE
 *   gemma3   gemma2 without soft-capping, with RMSNorm on Q and K; five
 *            sliding-window layers (RoPE base 10000) to one global layer
 *   phi3     llama with fused QKV (attn_qkv) and fused gate+up (ffn_up:
 *            gate rows first), neox RoPE
 *   gptneox  Pythia: LayerNorm with bias, fused QKV with bias, partial neox
 *            RoPE, exact-erf GELU MLP with bias, parallel attention and MLP
 *            when gptneox.use_parallel_residual
 *   gptj     GPT-J: one LayerNorm (with bias) per block feeding attention
 *            and the MLP in parallel (x + attn(ln(x)) + mlp(ln(x))), Q, K, V
 *            and O without bias, RoPE on the first rope.dimension_count
 *            dims of each head in adjacent (interleaved) pairs, as Hugging
 *            Face's rotate_every_two on its unpermuted weights, GELU-tanh MLP
 *            with bias, final LayerNorm, unembedding with a bias (lm_head).
 *            llama.cpp names the architecture and its tensors but cannot run
 *            it; the tensor names here are llama.cpp's (blk.L.attn_norm,
 *            attn_q/k/v, attn_output, ffn_up, ffn_down, output.bias)
 * Gemma norm weights are used as the file stores them (x * w): llama.cpp's
 * converter already added Hugging Face's "1 +".  Everything is read from
 * metadata; nothing is specific to one model.
 *
 * Weight matrices (fp_mat) stay memory-mapped in the file's own type
 * (FP_WEIGHTS_NATIVE) or are dequantised once at load into one f32 block
 * (FP_WEIGHTS_F32); small vectors (norm weights, biases) are always f32.
 * Every matrix product is a cblas_sgemm over all positions at once; in the
 * native mode each matrix is dequantised into a reused f32 buffer just
 * before it: whole (up to 16M values: the f32 mode's very sgemm, the same
 * numbers) or a tile of rows at a time (larger ones, and the unembedding
 * of the last position: the same to about 1e-7 relative).
 * Matrices are stored as GGUF lays them out: W[out][in], row-major, so
 * y = x W^T.  Dimension letters: T positions, D d_model, F d_mlp, H heads,
 * K kv heads, E d_head, V vocab.
 *
 * Hook points (a callback sees each one and may overwrite it in place):
 *   hook_embed                  [T, D]  token embeddings (gemma: already
 *                                       times sqrt(D), as TransformerLens's W_E)
 *   hook_pos_embed              [T, D]  position embeddings (gpt2 only)
 *   blocks.L.hook_resid_pre     [T, D]  residual stream entering block L
 *   blocks.L.attn.hook_z        [T, H*E] attention heads' outputs before W_O
 *   blocks.L.hook_attn_out_pre_norm [T, D] gemma only: W_O z, before the
 *                                       post-attention norm
 *   blocks.L.hook_attn_out      [T, D]  attention output (after W_O, + b_O;
 *                                       gemma: after the post-attention norm),
 *                                       what the residual stream receives
 *   blocks.L.hook_resid_mid     [T, D]  resid_pre + attn_out (gptneox with a
 *                                       parallel residual, gptj: the MLP reads
 *                                       resid_pre, not this)
 *   blocks.L.mlp.hook_pre       [T, F]  gate pre-activation (ungated: W_in x + b)
 *   blocks.L.mlp.hook_pre_linear [T, F] up projection (gated MLPs only)
 *   blocks.L.mlp.hook_post      [T, F]  neuron activations: act(pre) * pre_linear
 *   blocks.L.hook_mlp_out_pre_norm [T, D] gemma only: W_out post, before the
 *                                       post-MLP norm
 *   blocks.L.hook_mlp_out       [T, D]  MLP output (after W_out, + b_out;
 *                                       gemma: after the post-MLP norm)
 *   blocks.L.hook_resid_post    [T, D]  resid_mid + mlp_out
 *   ln_final.hook_normalized    [T, D]  final norm output, weight (and bias)
 *                                       applied: exactly what the unembedding reads
 *   logits                      [T, V]  (only the last row unless all_logits;
 *                                       gptj: with the unembedding's bias;
 *                                       gemma2: after the final soft-cap)
 * Overwriting a hook's tensor changes everything downstream, as in
 * TransformerLens; overwriting hook_resid_pre of block L+1 is the same as
 * overwriting hook_resid_post of block L (they are one buffer).
 */
#ifndef MODEL_H
#define MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "fp_error.h"
#include "gguf.h"
#include "hf.h"
#include "tokenizer.h"

enum fp_arch {
	FP_ARCH_LLAMA = 0, FP_ARCH_GPT2 = 1, FP_ARCH_QWEN2, FP_ARCH_QWEN3, FP_ARCH_GEMMA2, FP_ARCH_GEMMA3,
	FP_ARCH_PHI3, FP_ARCH_GPTNEOX, FP_ARCH_GPTJ, FP_ARCH_COUNT
};
/* "llama, gpt2, qwen2, ..." : the names read_config accepts */
extern const char *const FP_ARCH_NAMES[FP_ARCH_COUNT];

enum fp_mlp_act { FP_ACT_SILU = 0, FP_ACT_GELU_TANH = 1, FP_ACT_GELU_ERF = 2 };

typedef struct fp_config {
	int arch;
	char arch_name[16];
	int n_layers, d_model, d_mlp, n_heads, n_kv_heads, d_head, n_vocab, n_ctx;
	float norm_eps;
	float rope_base;       /* rotary models (all but gpt2) */
	int rope_dim;          /* rotated dimensions per head (gptneox: a part) */
	int rope_neox;         /* 1: rotate (x[i], x[i + rope_dim/2]); 0: adjacent pairs (llama) */
	float rope_scale;      /* linear RoPE scaling: positions times this (1: none) */
	/* Llama 3 RoPE scaling (Hugging Face rope_scaling type "llama3"): each
	 * inverse frequency f_i = base^(-2i/rope_dim) is divided by a factor
	 * that is 1 for wavelengths 2 pi / f_i below orig_ctx / high,
	 * `factor` above orig_ctx / low, and blends the two in between
	 * (fp_rope_llama3_divisor).  factor 0: none.  A GGUF file carries the
	 * same divisors as the tensor rope_freqs.weight instead (fp_model.rope_freqs). */
	float rope_l3_factor, rope_l3_low, rope_l3_high, rope_l3_orig_ctx;
	float rope_base_swa;   /* base of the sliding-window layers (gemma3: 10000) */
	int tied_unembed;      /* 1: unembedding is token_embd */
	int gated_mlp;
	int mlp_act;           /* enum fp_mlp_act */
	int layer_norm;        /* 1: LayerNorm (mean removed, bias); 0: RMSNorm */
	int qk_norm;           /* RMSNorm on each head's query and key (qwen3, gemma3) */
	int post_norms;        /* norms after attention and after the MLP (gemma) */
	int parallel_resid;    /* attention and MLP both read resid_pre (gptneox, gptj; gptj's one norm
	                        * is both ln1 and ln2: the layer's ln2_w/ln2_b are ln1's) */
	float embed_scale;     /* embeddings are multiplied by this (gemma: sqrt(D)); 1 otherwise */
	float attn_scale;      /* query-key scale (1/sqrt(E) unless the family says otherwise) */
	float attn_softcap;    /* scores -> c tanh(scores / c) before the softmax; 0: none */
	float final_softcap;   /* logits -> c tanh(logits / c); 0: none */
	int n_swa;             /* sliding window (keys with q - k < n_swa); 0: none */
	int swa_period;        /* with n_swa: layer l slides when l % period < period - 1 (1: all) */
} fp_config;

/* The divisor of rotary pair i's inverse frequency under Llama 3 scaling,
 * as transformers' _compute_llama3_parameters and llama.cpp's converter
 * compute it (1 when c->rope_l3_factor is 0). */
double fp_rope_llama3_divisor(const fp_config *c, int i);

/* 1 if layer l of this model attends through the sliding window */
int fp_config_layer_swa(const fp_config *c, int l);

/* A weight matrix W[rows][cols] (rows = outputs, cols = inputs) in its
 * ggml type: rows of row_bytes bytes each, cols a multiple of the type's
 * block.  type GGML_F32 (0) means plain floats.  data NULL: absent. */
typedef struct fp_mat {
	uint32_t type;
	int rows, cols;
	size_t row_bytes;
	const void *data;
	int q8;       /* 1: products quantise the activations to 8 bits (--matmul q8, q8mm.h) */
} fp_mat;

/* FP_WEIGHTS_DEFAULT ("auto") resolves at load, by fp_weights_auto: f32
 * when the dequantised matrices take at most FP_WEIGHTS_AUTO_F32_MAX bytes
 * (small models: their products then skip a dequantisation per pass, and
 * the numbers are the same), native above (an 8B model in 5 GB, not 32). */
enum fp_weights { FP_WEIGHTS_DEFAULT = 0, FP_WEIGHTS_NATIVE = 1, FP_WEIGHTS_F32 = 2 };
#define FP_WEIGHTS_AUTO_F32_MAX (2.0 * 1024 * 1024 * 1024)
const char *fp_weights_name(int mode); /* "native" / "f32" */
/* Parses "auto" (FP_WEIGHTS_DEFAULT), "native" or "f32" ("quant" is a
 * synonym of native); -1 if none. */
int fp_weights_parse(const char *s);
/* The mode "auto" picks for a model with this config. */
int fp_weights_auto(const fp_config *c);

/* How products with quantised weight matrices are computed (--matmul).
 * FP_MATMUL_EXACT (the default): in f32 (the weights dequantised, OpenBLAS
 * or qmm), the same numbers in both weights modes.  FP_MATMUL_Q8: as
 * llama.cpp does, the activations quantised to 8 bits (Q8_K for the
 * K-quants, Q8_0/Q8_1 for the others) and multiplied with the weights'
 * integers (q8mm.h): faster, approximate (about 1e-3 relative per
 * product).  Only matrices of a type q8mm supports go that way; F32, F16
 * and BF16 matrices, attention's own products, norms and the backward
 * pass's transposed products stay exact.  Q8 needs the weights in their
 * own type: FP_WEIGHTS_DEFAULT resolves to native, FP_WEIGHTS_F32 is
 * refused.  A model none of whose matrices q8mm supports (F32, F16, BF16
 * GGUF files, most checkpoints) loads in FP_MATMUL_EXACT: m->matmul says
 * what the products do, not what was asked. */
enum fp_matmul { FP_MATMUL_EXACT = 0, FP_MATMUL_Q8 = 1 };
const char *fp_matmul_name(int mode); /* "exact" / "q8" */
/* Parses "exact" or "q8"; -1 if neither. */
int fp_matmul_parse(const char *s);

typedef struct fp_layer {
	const float *ln1_w, *ln1_b;        /* [D], [D] or NULL */
	fp_mat wq, wk, wv;                 /* [H*E, D], [K*E, D], [K*E, D] */
	const float *bq, *bk, *bv;         /* or NULL */
	fp_mat wo;                         /* [D, H*E] */
	const float *bo;                   /* [D] or NULL */
	const float *ln2_w, *ln2_b;        /* [D], [D] or NULL */
	const float *q_norm, *k_norm;      /* [E] (qwen3, gemma3) or NULL */
	const float *post_attn_norm;       /* [D] (gemma) or NULL */
	const float *post_mlp_norm;        /* [D] (gemma) or NULL */
	fp_mat w_gate;                     /* [F, D] (gated MLPs) */
	fp_mat w_up;                       /* [F, D] */
	const float *b_up;                 /* [F] or NULL */
	fp_mat w_down;                     /* [D, F] */
	const float *b_down;               /* [D] or NULL */
} fp_layer;

typedef struct fp_param_counts {
	uint64_t embed, attn, mlp, norm, unembed, other, total;
} fp_param_counts;

struct fp_work;

struct hf_ckpt;

typedef struct fp_model {
	fp_config cfg;
	gguf_file *gguf;             /* a Hugging Face checkpoint: a virtual one (hf.h), path = the directory */
	fp_tokenizer *tok;           /* NULL only for a checkpoint whose tokenizer failed to load: */
	fp_error tok_error;          /* then this says why (commands that need text refuse the model) */
	struct hf_ckpt *hf;          /* the checkpoint's files (NULL for GGUF) */
	int weights;                 /* FP_WEIGHTS_NATIVE or FP_WEIGHTS_F32 (auto resolved at load) */
	int matmul;                  /* FP_MATMUL_EXACT or FP_MATMUL_Q8 (only if q8_matrices > 0) */
	int q8_matrices;             /* q8 mode: how many matrices go through q8mm */
	float *block;                /* the f32 weights: vectors, and every matrix in f32 mode */
	size_t block_floats;
	size_t mapped_bytes;         /* native mode: the matrices' bytes in the mapped file */
	fp_mat tok_embd;             /* [V, D] */
	const float *pos_embd;       /* [n_ctx, D] (gpt2) or NULL */
	const float *out_norm_w, *out_norm_b; /* [D], [D] or NULL */
	fp_mat unembed;              /* [V, D]: output.weight or tok_embd */
	const float *unembed_b;      /* [V] output.bias (gptj) or NULL: logits = ln_final W_U^T + b */
	fp_layer *layers;            /* [n_layers] */
	fp_param_counts params;
	const float *rope_freqs;     /* [rope_dim/2] divisors of the inverse frequencies (GGUF rope_freqs.weight,
	                              * llama 3.1+), or NULL */
	float *rope_cos, *rope_sin;  /* [rope_pos_cap, rope_dim/2] */
	float *rope_cos_swa, *rope_sin_swa; /* the same for sliding-window layers with their own base, or NULL */
	int rope_pos_cap;
	struct fp_work *work;
} fp_model;

/* Loads a GGUF model, or a Hugging Face checkpoint directory (a cache
 * entry, or a model id ORG/NAME in the offline cache: hf.h): config,
 * tokenizer, and the weights in the default mode (FP_WEIGHTS_DEFAULT: auto). */
int fp_model_load(fp_model **out, const char *path, fp_error *err);
/* The same with the weights mode given (FP_WEIGHTS_DEFAULT: as above). */
int fp_model_load_mode(fp_model **out, const char *path, int weights, fp_error *err);
/* The same with the weights and matmul modes given; FP_ERR_INVALID for
 * FP_WEIGHTS_F32 with FP_MATMUL_Q8 (q8 multiplies the file's own types). */
typedef struct fp_load_opts {
	int weights; /* enum fp_weights */
	int matmul;  /* enum fp_matmul */
} fp_load_opts;
int fp_model_load_opts(fp_model **out, const char *path, const fp_load_opts *o, fp_error *err);
void fp_model_free(fp_model *m); /* accepts NULL */
/* Bytes the weights take in memory: the f32 block plus, in native mode, the
 * mapped matrices (file pages, shared and evictable). */
size_t fp_model_weight_bytes(const fp_model *m);

/* ---- weight matrices ---- */
/* A layer's weight matrices that it has (data != NULL), in the order wq,
 * wk, wv, wo, w_gate, w_up, w_down, into mats; returns how many (7 with a
 * gated MLP). */
int fp_layer_mats(const fp_layer *y, const fp_mat *mats[7]);

/* dst[0..cols) = row r of W, as f32. */
void fp_mat_row(const fp_mat *W, int r, float *dst);
/* dst[0..rows) = column c of W (element c of every row), as f32. */
void fp_mat_col(const fp_mat *W, int c, float *dst);
/* The whole of W as f32: W's own data when it is F32 (*owned = NULL), else
 * a malloc'ed copy put in *owned for the caller to free.  NULL: no memory. */
const float *fp_mat_f32(const fp_mat *W, float **owned);
/* y[T, rows] = x[T, cols] W^T, by the forward pass's own path (the same
 * numbers).  Returns 0 or FP_ERR_NOMEM. */
int fp_mat_mul(float *y, const float *x, const fp_mat *W, int T);
/* For tests and benchmarks: matrices of up to `whole` values (default
 * 16M) are dequantised whole before their sgemm, up to `big` (32M) whole
 * for products of 8 rows or more, else in tiles of T * `unit` values (1M)
 * for T rows, at most `max` (16M); 0 keeps unit or max.  Not thread-safe. */
void fp_set_tiles(size_t whole, size_t big, size_t unit, size_t max);
/* For tests and benchmarks: products of up to max_rows rows (default 16)
 * with a matrix of min_values values or more (default 4M) and min_cols
 * columns or more (default 2048) go through qmm (qmm.h: no f32 copy of
 * the matrix); max_rows 0 turns it off.  Not thread-safe. */
void fp_set_qmm(int max_rows, size_t min_values, int min_cols);
/* How many of the model's matrices (the blocks' and the unembedding) go
 * through qmm for products of few rows (0: none, e.g. the default model). */
int fp_model_qmm_matrices(const fp_model *m);
/* OpenBLAS's kernel family in use ("Haswell", "SkylakeX", ...) and its
 * thread count. */
const char *fp_blas_core(int *threads);

/* ---- hooks ---- */

enum fp_hook_kind {
	FP_HOOK_EMBED, FP_HOOK_POS_EMBED,
	FP_HOOK_RESID_PRE, FP_HOOK_ATTN_Z, FP_HOOK_ATTN_OUT, FP_HOOK_RESID_MID,
	FP_HOOK_MLP_PRE, FP_HOOK_MLP_PRE_LINEAR, FP_HOOK_MLP_POST, FP_HOOK_MLP_OUT,
	FP_HOOK_RESID_POST,
	FP_HOOK_LN_FINAL, FP_HOOK_LOGITS,
	/* block hooks of some families only (kept last so the numbers above stay) */
	FP_HOOK_ATTN_OUT_PRE_NORM, FP_HOOK_MLP_OUT_PRE_NORM,
	FP_HOOK_KIND_COUNT
};

#define FP_HOOK_BIT(k) (1u << (k))
#define FP_HOOK_ALL ((1u << FP_HOOK_KIND_COUNT) - 1)

typedef struct fp_hook_event {
	int kind;         /* enum fp_hook_kind */
	int layer;        /* block index, -1 for hooks outside the blocks */
	const char *name; /* TransformerLens name, e.g. "blocks.3.mlp.hook_post" */
	int n_pos;        /* rows (T; 1 for logits unless all_logits) */
	int first_pos;    /* token index of row 0 (-1: logits rows are the last tokens of packed sequences) */
	int width;        /* columns */
	float *data;      /* n_pos x width, row-major; writable */
} fp_hook_event;

/* Return 0 to continue, nonzero to abort the forward pass (FP_ERR_ABORTED). */
typedef int (*fp_hook_fn)(void *user, const fp_hook_event *ev);

/* Keys (after RoPE) and values of every layer for one sequence: what a
 * later pass needs to continue that sequence from a position on. */
typedef struct fp_kv_cache {
	int n_layers, n_pos, width; /* width: n_kv_heads * d_head */
	float *k, *v;               /* [n_layers][n_pos][width] each */
} fp_kv_cache;

int fp_kv_cache_alloc(fp_kv_cache *c, const fp_model *m, int n_pos);
void fp_kv_cache_free(fp_kv_cache *c);

typedef struct fp_forward_opts {
	fp_hook_fn hook;     /* NULL: no hooks */
	void *user;
	uint32_t hook_mask;  /* FP_HOOK_BIT(kind) set for the kinds to report */
	int all_logits;      /* 1: logits for every position, else only the last */
	/* Packed sequences: tokens[0..n) are n_seq prompts back to back, of
	 * seq_len[i] tokens each.  Each attends only to itself and its positions
	 * start at 0, so every row equals that prompt's own forward pass.
	 * n_seq = 0 (or seq_len NULL) means one sequence of n tokens. */
	const int *seq_len;
	int n_seq;
	/* Starting partway (for causal tracing and patching): run blocks
	 * start_layer.. only, from resid_in [n, D], the residual stream entering
	 * block start_layer (no embedding hooks fire).  0 / NULL: from the tokens. */
	int start_layer;
	const float *resid_in;
	/* Continuing sequences: sequence i's rows are positions prefix_len[i]..
	 * of a sequence whose earlier positions' keys and values are in
	 * prefix_kv[i] (NULL or prefix_len 0: a fresh sequence).  Its logits and
	 * hooks are for its own rows only; they equal a full pass's rows for
	 * those positions. */
	const fp_kv_cache *const *prefix_kv;
	const int *prefix_len;
	/* Filled with every run layer's keys and values (one sequence, no
	 * prefix; kv_save->n_pos >= n). */
	fp_kv_cache *kv_save;
} fp_forward_opts;

/* Runs tokens[0..n) through the model.  logits (may be NULL) receives
 * [n, V] when all_logits, else [n_seq, V]: the last position of each
 * sequence (one row without packing).  Hooks see all n packed rows; the
 * logits hook's first_pos is -1 when its rows are several sequences' last
 * positions.  The model's workspace is reused between calls, so one model
 * must not run two forward passes at once. */
int fp_model_forward(fp_model *m, const int32_t *tokens, int n, const fp_forward_opts *opts, float *logits,
		     fp_error *err);

/* Name of a hook: kind and layer -> "blocks.3.hook_resid_post" (layer ignored
 * for global hooks).  Returns buf. */
const char *fp_hook_name(int kind, int layer, char *buf, size_t n);
/* Parses a TransformerLens hook name.  *layer is -1 for global hooks.
 * Returns 0, or -1 if the name is not a hook. */
int fp_hook_parse(const char *name, int *kind, int *layer);
/* Width of a hook's rows on this model; 0 if the model has no such hook
 * (hook_pos_embed on llama, mlp.hook_pre_linear without a gated MLP, the
 * *_pre_norm hooks without post norms). */
int fp_hook_width(const fp_model *m, int kind);
int fp_hook_is_layer(int kind);

/* logits[rows, V] += the unembedding's bias (gptj); nothing when the model
 * has none.  Whatever unembeds a row of ln_final (the lens, the backward
 * pass) adds it as the forward pass does, before any soft-cap. */
void fp_model_add_unembed_bias(const fp_model *m, float *logits, int rows);

/* logits[0..n) -> final_softcap tanh(logits / final_softcap) when the model
 * soft-caps its logits (gemma2); nothing otherwise.  The logit lens applies
 * it to read a layer as the model reads its last one. */
void fp_model_softcap_logits(const fp_model *m, float *logits, size_t n);

/* Floating-point operations of one forward pass over n tokens (matrix
 * products and attention, 2 per multiply-add), for benchmarks. */
double fp_model_flops(const fp_model *m, int n, int all_logits);

#endif
