/* hf_internal.h - what an architecture family of Hugging Face checkpoints
 * provides and uses (model/hf.c: the llama family and the helpers;
 * model/hf_families.c: the other families).  Not installed.
 *
 * A family turns config.json into an fp_config and maps each Hugging Face
 * tensor to the GGUF tensor name model.c's loader expects (token_embd.weight,
 * blk.N.attn_q.weight, ...; see take_all in model.c), into a virtual
 * gguf_file: the loader then takes it exactly as it takes a GGUF (shapes,
 * native or f32 weights, vectors to f32).  Shapes here are PyTorch's: a
 * matrix is [rows, cols] = [out, in] (GPT-2's Conv1D stores [in, out]); a
 * vector is [rows] with cols 0.
 */
#ifndef HF_INTERNAL_H
#define HF_INTERNAL_H

#include <jansson.h>
#include <stdint.h>

#include "gguf.h"
#include "hf.h"
#include "model.h"
#include "safetensors.h"

typedef struct hf_ckpt hf_ckpt;

typedef struct hf_family {
	const char *arch; /* config.json's architectures[0], e.g. "LlamaForCausalLM" */
	/* fills c completely: arch (FP_ARCH_*), arch_name, dimensions, norms,
	 * activation, RoPE, flags; refuses values it does not implement */
	int (*config)(hf_ckpt *h, fp_config *c, fp_error *err);
	/* hf_map / hf_put every tensor the loader will take */
	int (*weights)(hf_ckpt *h, const fp_config *c, fp_error *err);
} hf_family;

/* model/hf_families.c: more families, terminated by an entry with arch NULL */
extern const hf_family hf_families_more[];

/* ---- config.json ---- */
const char *hf_cfg_path(const hf_ckpt *h);      /* "DIR/config.json", for messages */
json_t *hf_cfg_json(const hf_ckpt *h, const char *key); /* borrowed; NULL if absent or null */
json_t *hf_cfg_object(const hf_ckpt *h);             /* the whole config.json object (borrowed) */
/* An integer in 1..(1 << 20) (required: absent is an error naming the key;
 * else dflt when absent).  0 or an error. */
int hf_cfg_int(const hf_ckpt *h, const char *key, int required, int dflt, int *out, fp_error *err);
/* A finite number (integers accepted). */
int hf_cfg_float(const hf_ckpt *h, const char *key, int required, double dflt, float *out, fp_error *err);
int hf_cfg_bool(const hf_ckpt *h, const char *key, int dflt, int *out, fp_error *err);
/* NULL if absent, null or not a string */
const char *hf_cfg_str(const hf_ckpt *h, const char *key);
/* Error unless key is absent, null, or one of the values in allowed (a
 * NULL-terminated list of strings; the message lists them). */
int hf_cfg_str_in(const hf_ckpt *h, const char *key, const char *const *allowed, fp_error *err);
/* Error (FP_ERR_UNSUPPORTED naming key and value) when key is present and
 * true (a bool) or nonzero: a feature the family does not implement. */
int hf_cfg_refuse_true(const hf_ckpt *h, const char *key, const char *why, fp_error *err);
/* The fields of every llama-like decoder: hidden_size, intermediate_size,
 * num_hidden_layers, num_attention_heads, num_key_value_heads (default:
 * heads), head_dim (default hidden/heads), vocab_size,
 * max_position_embeddings (default 2048), rms_norm_eps (default 1e-6),
 * rope_theta (default 10000) into c, with llama defaults for the rest
 * (RMSNorm, SwiGLU, neox RoPE over the whole head, scale 1/sqrt(head_dim)).
 * Checks ranges and divisibility. */
int hf_cfg_llama_like(hf_ckpt *h, fp_config *c, fp_error *err);

/* rope_scaling: absent, null or type "default" always; with HF_ROPE_LINEAR
 * "linear" (positions times 1/factor), with HF_ROPE_LLAMA3 "llama3" (into
 * c->rope_l3_*, every field required as transformers requires it); any
 * other type FP_ERR_UNSUPPORTED naming it (model/hf_families.c) */
enum { HF_ROPE_LINEAR = 1, HF_ROPE_LLAMA3 = 2 };
int hf_cfg_rope_scaling(hf_ckpt *h, fp_config *c, int allow, fp_error *err);

/* ---- tensors ---- */
enum { HF_OPTIONAL = 1 };
/* the tensor by its Hugging Face name (whichever shard holds it), or NULL */
const st_tensor *hf_tensor(const hf_ckpt *h, const char *hf_name);
/* Maps hf_name ([rows, cols], cols 0 for a vector) to gguf_name without a
 * copy (the mapping, in its dtype).  Checks presence (unless HF_OPTIONAL:
 * absent adds nothing and returns 0), dtype (F32, F16, BF16) and shape:
 * "'FILE': tensor 'NAME' has shape [a, b], expected [c, d] (config.json ...)". */
int hf_map(hf_ckpt *h, const char *gguf_name, const char *hf_name, uint64_t rows, uint64_t cols, int flags,
	   fp_error *err);
/* An f32 copy of a checked tensor, owned by h (for tensors that must change:
 * transposed, rows reordered, 1 + w, split).  NULL with err set, or NULL with
 * err->code 0 for an absent optional tensor. */
float *hf_f32(hf_ckpt *h, const char *hf_name, uint64_t rows, uint64_t cols, int flags, fp_error *err);
/* Marks a stored tensor as deliberately unused (e.g. GPT-2's attn.bias mask
 * buffers).  After the family's weights(), hf_open refuses a checkpoint
 * holding any tensor no family took or ignored (silently dropping a bias
 * would change the computation); rotary_emb.inv_freq is always ignored. */
void hf_ignore(hf_ckpt *h, const char *hf_name);
/* n floats owned by h (zeroed); NULL with err set */
float *hf_alloc_f32(hf_ckpt *h, size_t n, fp_error *err);
/* Adds an f32 buffer owned by h as gguf_name [rows, cols]. */
int hf_put(hf_ckpt *h, const char *gguf_name, const float *data, uint64_t rows, uint64_t cols, fp_error *err);

/* One tensor of every layer l: GGUF "blk.l.<gguf>" <- "<prefix>l.<hf>" of
 * shape [rows, cols] (dimensions by name, HF_DIM_NONE cols for a vector),
 * taken as it is or changed as `how` says.  A family lists its layer's
 * tensors in a table and maps them with hf_map_layer (model/hf_families.c). */
enum hf_dim {
	HF_DIM_NONE, HF_DIM_D, HF_DIM_F, HF_DIM_E, HF_DIM_QE, HF_DIM_KE,
	HF_DIM_QKV, /* QE + 2 KE: Q, K and V fused */
	HF_DIM_2F,  /* gate and up fused */
	HF_DIM_3D,  /* GPT-2's Q, K and V fused */
};
enum hf_how {
	HF_AS_IS,   /* hf_map: no copy */
	HF_PLUS1,   /* Gemma's norms compute x (1 + w): 1 + w */
	HF_OR_ZERO, /* a bias a config may switch off: zeros when absent */
	HF_CONV1D,  /* GPT-2's Conv1D weight, stored [rows = in, cols = out]: transposed */
	HF_IGNORE,  /* a stored buffer the computation does not use (hf_ignore) */
};
typedef struct hf_layer_tensor {
	const char *gguf, *hf;
	unsigned char rows, cols; /* enum hf_dim */
	unsigned char how;        /* enum hf_how */
} hf_layer_tensor;
int hf_map_layer(hf_ckpt *h, const fp_config *c, const char *prefix, int l, const hf_layer_tensor *t, size_t n,
		 fp_error *err);
#define HF_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- for model.c ---- */
/* Opens the checkpoint directory dir: config.json -> *cfg (family config),
 * the weights -> *g (a virtual gguf_file whose tensors carry GGUF names; its
 * path is dir; kv holds config.json's scalars as "hf.KEY" plus
 * general.architecture and general.name).  *g is freed with gguf_close, then
 * h with hf_close. */
int hf_open(hf_ckpt **out, const char *dir, fp_config *cfg, gguf_file **g, fp_error *err);
void hf_close(hf_ckpt *h); /* accepts NULL */

#endif
