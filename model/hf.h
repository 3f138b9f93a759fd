/* hf.h - Hugging Face checkpoint directories, read natively.
 *
 * A checkpoint directory holds:
 *   config.json                      the architecture (`architectures`[0]) and
 *                                    its dimensions (model/hf.c turns it into
 *                                    an fp_config; unknown values that change
 *                                    the computation are errors)
 *   model.safetensors                the weights (safetensors.h), or
 *   model.safetensors.index.json     {"weight_map": {tensor: shard file}} and
 *     + the shards it names          the shards, in the same directory
 *   tokenizer.json                   (+ tokenizer_config.json,
 *                                    special_tokens_map.json) the tokenizer,
 *                                    read by fp_tokenizer_load_hf
 * fp_model_load / fp_model_load_mode accept such a directory wherever they
 * accept a GGUF file.  They also accept the Hugging Face cache's layout:
 *   HUB/models--ORG--NAME/                    (the snapshot refs/main names,
 *   HUB/models--ORG--NAME/snapshots/REV/       else the only snapshot)
 * and a model id "ORG/NAME" (or "NAME" when HUB/models--NAME exists),
 * looked up offline in HUB = $HF_HUB_CACHE, else $HF_HOME/hub, else
 * ~/.cache/huggingface/hub.  Nothing is ever downloaded.
 */
#ifndef HF_H
#define HF_H

#include <stddef.h>

#include "fp_error.h"

/* Resolves `name` to a checkpoint directory (a directory holding
 * config.json) in buf.  Returns 1 when name is a checkpoint (buf filled),
 * 0 when it is not one (a file, or a name that is neither a directory nor
 * in the cache: the caller treats it as a GGUF path), or a negative FP_ERR_*
 * with err naming where it looked (a directory that is not a checkpoint, an
 * ORG/NAME absent from the cache, a cache entry without a usable snapshot). */
int fp_hf_resolve(const char *name, char *buf, size_t n, fp_error *err);

#endif
