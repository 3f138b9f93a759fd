/* tokenizer.h - tokenizers built from GGUF metadata (and from tokenizer.json:
 * fp_tokenizer_load_hf below).
 *
 * tokenizer.ggml.model = "gpt2": byte-level BPE.  The text is split by the
 *   pre-tokenizer named in tokenizer.ggml.pre ("gpt-2", alias "gpt2";
 *   "smollm"; "llama-bpe", aliases "llama3", "llama-v3"; a missing key means
 *   "gpt-2") with PCRE2 Unicode classes, each piece is
 *   mapped byte by byte to printable code points, and tokenizer.ggml.merges
 *   are applied lowest rank first (leftmost on ties), as llama.cpp and
 *   Hugging Face tokenizers do.  "llama-bpe" also takes a whole piece that is
 *   itself a token without merging (ignore_merges).
 * tokenizer.ggml.model = "llama": SentencePiece-style BPE.  Spaces become
 *   U+2581, a leading one is added when tokenizer.ggml.add_space_prefix is
 *   true (the default), adjacent symbols are merged highest score first while
 *   the merge is a token, and characters that are not tokens fall back to the
 *   <0xXX> byte tokens.
 *
 * Invalid UTF-8 is rejected (FP_ERR_INVALID, naming the byte offset): no
 *   reference tokenizer takes it either (Python strings cannot hold it), and
 *   a silent U+FFFD would change which token a probe position refers to.
 * Special tokens written in the text (e.g. "<|im_start|>") are NOT parsed:
 *   text is tokenized as plain text, like llama.cpp with parse_special=false.
 * BOS: added when tokenizer.ggml.add_bos_token says so; when the key is
 *   absent, SentencePiece models add it and byte-level BPE models do not.
 */
#ifndef TOKENIZER_H
#define TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "fp_error.h"
#include "gguf.h"

typedef struct fp_tokenizer fp_tokenizer;

enum fp_tok_kind { FP_TOK_BPE = 0, FP_TOK_SPM = 1 };

int fp_tokenizer_load(fp_tokenizer **out, const gguf_file *f, fp_error *err);
/* A Hugging Face tokenizer.json (model/tokenizer_hf.c states what of the
 * format is read: BPE models, byte-level or SentencePiece-style with byte
 * fallback, and Unigram models), from checkpoint directory dir: tokenizer.json, and for BOS/EOS
 * tokenizer_config.json (add_bos_token, bos_token, eos_token) and
 * special_tokens_map.json when present.  Anything in the file that would
 * change the ids and is not read is an error naming the JSON field.
 * Non-special added tokens are matched in the text (as tokenizers does);
 * special ones are not (the rule above). */
int fp_tokenizer_load_hf(fp_tokenizer **out, const char *dir, fp_error *err);
/* The same from buffers (config and special_map may be NULL); dir only names
 * the files in errors (may be NULL).  The fuzzing entry point. */
int fp_tokenizer_load_hf_json(fp_tokenizer **out, const char *json, size_t len, const char *config,
			      size_t config_len, const char *special_map, size_t special_len, const char *dir,
			      fp_error *err);
void fp_tokenizer_free(fp_tokenizer *t); /* accepts NULL */

/* Tokenizes len bytes of text.  add_bos: 1 yes, 0 no, -1 follow the model.
 * *ids is malloc'ed (caller frees), *n its length. */
int fp_tokenize(const fp_tokenizer *t, const char *text, size_t len, int add_bos,
		int32_t **ids, int *n, fp_error *err);

int fp_tokenizer_n_vocab(const fp_tokenizer *t);
int fp_tokenizer_kind(const fp_tokenizer *t);
const char *fp_tokenizer_pre(const fp_tokenizer *t);   /* "smollm", "spm", ... */
int fp_tokenizer_bos(const fp_tokenizer *t);           /* -1 if none */
int fp_tokenizer_eos(const fp_tokenizer *t);           /* -1 if none */
int fp_tokenizer_adds_bos(const fp_tokenizer *t);

/* The vocabulary entry as stored (e.g. "Ġbasketball"); NULL if out of range. */
const char *fp_token_piece(const fp_tokenizer *t, int id, size_t *len);
/* The bytes the token stands for (" basketball"), written to buf (NUL
 * terminated, truncated to n-1).  Returns the full byte length, or -1 if id is
 * out of range. */
int fp_token_decode(const fp_tokenizer *t, int id, char *buf, size_t n);
/* Looks up an exact vocabulary entry; -1 if absent. */
int fp_token_lookup(const fp_tokenizer *t, const char *piece, size_t len);

/* Offset of the first invalid UTF-8 byte in s, or -1 if s is valid. */
long fp_utf8_invalid_at(const char *s, size_t len);

#endif
