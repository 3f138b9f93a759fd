/* tiny.h - deterministic tiny synthetic models (every architecture of
 * model.h: llama, gpt2, qwen2, qwen3, gemma2, gemma3, phi3, gptneox) for tests:
 * a byte-level BPE vocabulary of 256 bytes plus a few merges, and weights
 * from a seeded generator.  The same options always give the same file, so
 * the llama.cpp outputs recorded for them (tests/fixtures) stay valid. */
#ifndef TINY_H
#define TINY_H

#include <stdint.h>

#include "gguf_writer.h"
#include "../model/model.h"

typedef struct tiny_opts {
	const char *arch;   /* general.architecture: "llama", "gpt2", "qwen2", ... */
	int n_layers, d_model, d_mlp, n_heads, n_kv_heads, n_ctx;
	int d_head;         /* 0: d_model / n_heads; written as attention.key_length when set (gemma: always) */
	int n_swa;          /* gemma2/3 sliding window (default n_ctx: no effect) */
	float attn_softcap, final_softcap; /* gemma2 (0: keys not written) */
	uint32_t wtype;     /* type of the 2-D weights: F32, F16, Q8_0 (quantised from floats), or
	                     * Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K (random blocks) */
	int tied;           /* 1: no output.weight */
	uint64_t seed;
	float scale;        /* weight scale */
	float rope_base;
	int spm_vocab;       /* 1: SentencePiece-style vocabulary instead of byte-level BPE */
	float l3_factor;     /* llama: Llama 3 RoPE scaling with this factor (low 1, high 4, original
	                      * context 32), written as rope_freqs.weight as llama.cpp's converter does */
	const char *pre;     /* byte-level BPE pre-tokenizer (default "gpt-2") */
	int zero_min;        /* random blocks: offsets (Q4_1/Q5_1 m, Q4_K/Q5_K dmin) 0 instead of centring */
	int weights;         /* fp_model_load_opts's weights mode (0: the default) */
	int matmul;          /* and its matmul mode (0: exact) */
	/* a planted fact: neuron plant_neuron of layer plant_layer reads
	 * direction e0 and writes e1; token plant_in's embedding gets +6 e0 and
	 * token plant_out's (tied unembedding) +6 e1, so the neuron fires on
	 * plant_in and promotes plant_out.  plant_cut zeroes the neuron's output
	 * column: the same model without the neuron's effect. */
	int plant, plant_layer, plant_neuron, plant_in, plant_out, plant_cut;
	/* fault injection for bad-input tests */
	const char *omit;          /* tensor left out */
	const char *q2k;           /* tensor written as (unsupported) Q2_K */
	const char *widen;         /* tensor written 32 values wider (ne0 + 32) than the metadata says */
	const char *arch_override; /* general.architecture written instead of arch */
	uint32_t layers_override;  /* block_count written instead of n_layers */
} tiny_opts;

void tiny_defaults(tiny_opts *o, const char *arch);
/* Adds the tiny vocabulary (byte-level BPE, pre-tokenizer gpt-2) to w. */
void tiny_add_vocab(gw *w, int *n_vocab);
void tiny_add_vocab_pre(gw *w, int *n_vocab, const char *pre);
/* Adds a SentencePiece-style vocabulary (tokenizer.ggml.model = llama). */
void tiny_add_vocab_spm(gw *w, int *n_vocab);
/* A writer holding the whole model; the caller may add or write it. */
gw *tiny_build(const tiny_opts *o);
int tiny_write(const tiny_opts *o, const char *path);

/* Writes the model to a temporary file, loads it and removes the file. */
int tiny_load(const tiny_opts *o, fp_model **m, fp_error *err);

/* The named test models (also written by make_tiny for the oracle script):
 * fills o for model i and returns its file name. */
int tiny_n_named(void);
/* The planted fact of tiny-llama-plant: neuron 1.5 reads 'J', writes 'Q'. */
void tiny_plant(tiny_opts *o);
/* Loads the planted llama model (tiny_defaults + tiny_plant). */
int tiny_load_plant(fp_model **m, fp_error *err);
const char *tiny_named(int i, tiny_opts *o);

/* The tiny models of the newer architectures (checked against llama.cpp by
 * tests/test_arch.c; make_tiny writes them to DIR/arch/): fills o for model
 * i and returns its file name. */
int tiny_n_arch_named(void);
const char *tiny_arch_named(int i, tiny_opts *o);

/* Tiny llama models with weights of each other quantised type that
 * --matmul q8 multiplies (Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, and the
 * four with offsets again with offsets 0; make_tiny writes them to
 * DIR/qtype/, tests/fixtures/llamacpp_qtype.json): fills o for model i and
 * returns its file name. */
int tiny_n_qtype_named(void);
const char *tiny_qtype_named(int i, tiny_opts *o);

/* Q8_0 quantisation of n values (n % 32 == 0) into dst (n/32*34 bytes). */
void tiny_quantize_q8_0(const float *x, uint8_t *dst, uint64_t n);

#endif
