/* fuzz_tokjson.c - the tokenizer.json reader (model/tokenizer_hf.c, through
 * fp_tokenizer_load_hf_json) on arbitrary bytes as tokenizer.json.  Byte 0
 * picks the companion files (bits 0-1: none, a tokenizer_config.json adding
 * "<s>" as BOS, one with add_bos_token false, a special_tokens_map.json).
 * A tokenizer that loads then encodes a few fixed texts and the first 256
 * bytes of its own file, with and without its BOS rule: every id must be in
 * its vocabulary and decode; ids -1 and n_vocab must not.  FUZZ_VERBOSE=1
 * prints each outcome. */
#include "fuzz.h"
#include "../../model/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *TEXTS[] = {
	"Hello world", " a b ab  ab", "\xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x98\x80 \t\n", "<s>ab</s>", "1234 x\r\n", "",
};

static void encode(const fp_tokenizer *t, const char *s, size_t n)
{
	int V = fp_tokenizer_n_vocab(t);
	char out[64];
	for (int bos = -1; bos <= 0; bos++) {
		int32_t *ids = NULL;
		int k = 0;
		fp_error err = {0};
		if (fp_tokenize(t, s, n, bos, &ids, &k, &err))
			continue;
		for (int i = 0; i < k; i++)
			if (ids[i] < 0 || ids[i] >= V || fp_token_decode(t, ids[i], out, sizeof out) < 0)
				abort();
		free(ids);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 65536)
		return 0;
	static const char *config[4] = {NULL, "{\"add_bos_token\": true, \"bos_token\": \"<s>\"}",
					 "{\"add_bos_token\": false}", NULL};
	static const char special[] = "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}";
	int pick = data[0] & 3;
	data++, size--;
	fuzz_mem_begin();
	fp_tokenizer *t = NULL;
	fp_error err = {0};
	int rc = fp_tokenizer_load_hf_json(&t, (const char *)data, size, config[pick],
					   config[pick] ? strlen(config[pick]) : 0, pick == 3 ? special : NULL,
					   pick == 3 ? strlen(special) : 0, "fuzz", &err);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "%s\n", rc ? err.msg : "loads");
	if (rc == 0) {
		int V = fp_tokenizer_n_vocab(t);
		char out[64];
		if (V <= 0 || fp_token_decode(t, -1, out, sizeof out) >= 0 || fp_token_decode(t, V, out, sizeof out) >= 0)
			abort();
		for (size_t i = 0; i < sizeof TEXTS / sizeof TEXTS[0]; i++)
			encode(t, TEXTS[i], strlen(TEXTS[i]));
		encode(t, (const char *)data, size < 256 ? size : 256);
		fp_tokenizer_free(t);
	}
	fuzz_mem_end(size, 0);
	return 0;
}
