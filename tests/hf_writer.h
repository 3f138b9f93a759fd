/* hf_writer.h - writes a Hugging Face checkpoint directory from a GGUF of the
 * llama family (general.architecture llama, qwen2, qwen3), the way
 * transformers' GGUF loader + save_pretrained lays it out, without torch:
 *   model.safetensors  every tensor dequantised to f32 (factprobe's
 *                      dequantisation, bit-identical to gguf-py's), then
 *                      stored as F32, or rounded to nearest even as F16 or
 *                      BF16 (torch's .to()); names as transformers writes
 *                      them (model.layers.N.self_attn.q_proj.weight ...);
 *                      llama q/k rows un-permuted (transformers'
 *                      reverse_permute_weights, undoing llama.cpp's
 *                      converter); shapes in PyTorch order
 *   config.json        copied from config_src, or written from the GGUF's
 *                      metadata (architectures, dims, eps, rope_theta,
 *                      tie_word_embeddings)
 * No tokenizer files.  The tensors' sha256 are checked against the
 * transformers-made checkpoint's (tests/fixtures/hf_smollm2/tensors.tsv,
 * scripts/oracle_hf_checkpoint.py).  For tests and scripts; not the library. */
#ifndef HF_WRITER_H
#define HF_WRITER_H

#include "../model/fp_error.h"

/* dtype: "F32", "F16" or "BF16".  dir NULL: write nothing, only the
 * manifest.  manifest (may be NULL): receives one line per tensor,
 * "NAME\tDTYPE\t[d0, d1]\tSHA256-of-its-bytes\n", sorted by name (malloc'ed). */
int hfw_from_gguf(const char *gguf_path, const char *dir, const char *dtype, const char *config_src,
		  char **manifest, fp_error *err);

#endif
