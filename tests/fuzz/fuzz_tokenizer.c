/* fuzz_tokenizer.c - the tokenizers on arbitrary bytes (encode) and
 * arbitrary ids (decode, piece, lookup), on the default model's vocabulary
 * (when the model is present: $FACTPROBE_TEST_MODEL or the cache) and on
 * tiny vocabularies written by tests/tiny.c: byte-level BPE under each
 * pre-tokenizer (gpt-2, smollm, llama-bpe) and SentencePiece.
 * Input: byte 0 picks the vocabulary (low bits) and what to do (bits 4-5),
 * the rest is the text or the ids.  Every id an encode returns must be in
 * the vocabulary, and decoding must fit the length it reports. */
#include "fuzz.h"
#include "../gguf_writer.h"
#include "../tiny.h"
#include "../../model/gguf.h"
#include "../../model/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VOCABS 5
static fp_tokenizer *toks[MAX_VOCABS];
static gguf_file *files[MAX_VOCABS];
static uint8_t *bufs[MAX_VOCABS];
static int n_toks;

static void add_tiny(int spm, const char *pre)
{
	gw *w = gw_new();
	int nv = 0;
	gw_str(w, "general.architecture", "llama");
	if (spm)
		tiny_add_vocab_spm(w, &nv);
	else
		tiny_add_vocab_pre(w, &nv, pre);
	size_t size = 0;
	uint8_t *buf = gw_build(w, 3, 32, &size);
	gw_free(w);
	fp_error err = {0};
	if (!buf || gguf_parse_buffer(&files[n_toks], buf, size, "tiny.gguf", &err) ||
	    fp_tokenizer_load(&toks[n_toks], files[n_toks], &err)) {
		fprintf(stderr, "fuzz_tokenizer: tiny vocabulary: %s\n", err.msg);
		abort();
	}
	bufs[n_toks++] = buf;
}

static void cleanup(void)
{
	for (int i = 0; i < n_toks; i++) {
		fp_tokenizer_free(toks[i]);
		gguf_close(files[i]);
		free(bufs[i]);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	add_tiny(0, "gpt-2");
	add_tiny(0, "smollm");
	add_tiny(0, "llama-bpe");
	add_tiny(1, NULL);
	char def[1024];
	const char *p = getenv("FACTPROBE_TEST_MODEL");
	if (!p || !*p) {
		const char *c = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
		snprintf(def, sizeof def, "%s%s/factprobe/SmolLM2-135M-Instruct.Q4_1.gguf", c ? c : h ? h : "",
			 c ? "" : "/.cache");
		p = def;
	}
	fp_error err = {0};
	if (gguf_open(&files[n_toks], p, &err) == 0) {
		if (fp_tokenizer_load(&toks[n_toks], files[n_toks], &err) == 0)
			n_toks++;
		else
			gguf_close(files[n_toks]);
	}
	atexit(cleanup);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "fuzz_tokenizer: %d vocabularies (the default model's: %s)\n", n_toks,
			n_toks > 4 ? p : "absent");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const fp_tokenizer *t = toks[(data[0] & 15) % n_toks];
	int mode = (data[0] >> 4) & 3, V = fp_tokenizer_n_vocab(t);
	data++, size--;
	fp_error err = {0};
	fuzz_mem_begin();
	char out[256];
	if (mode <= 1) { /* encode, with and without the model's BOS rule */
		int32_t *ids = NULL;
		int n = 0;
		if (fp_tokenize(t, (const char *)data, size, mode ? -1 : 0, &ids, &n, &err) == 0) {
			for (int i = 0; i < n; i++) {
				if (ids[i] < 0 || ids[i] >= V)
					abort();
				int len = fp_token_decode(t, ids[i], out, sizeof out);
				if (len < 0)
					abort();
			}
			free(ids);
		}
	} else if (mode == 2) { /* ids: 3 bytes each, any value, out of range too */
		for (size_t i = 0; i + 3 <= size; i += 3) {
			int id = (int)((uint32_t)data[i] | (uint32_t)data[i + 1] << 8 | (uint32_t)data[i + 2] << 16) -
				 (1 << 23) + V / 2;
			size_t plen = 0;
			const char *piece = fp_token_piece(t, id, &plen);
			int len = fp_token_decode(t, id, out, (size_t)(data[i] & 63) + 1);
			if ((piece == NULL) != (len < 0) || (id >= 0 && id < V && !piece))
				abort();
			if (piece && fp_token_lookup(t, piece, plen) < 0)
				abort(); /* every piece is found by its own text */
		}
	} else { /* lookup of arbitrary bytes */
		int id = fp_token_lookup(t, (const char *)data, size);
		if (id >= V || id < -1)
			abort();
	}
	fuzz_mem_end(size, 0);
	return 0;
}
