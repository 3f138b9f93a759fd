/* test_tokenizer.c - tokenizer behaviour that the oracle comparison does not
 * pin down: invalid UTF-8 is rejected with its byte offset, decoding the
 * tokens gives back the text, BOS follows the metadata, unsupported
 * tokenizers are named.  With FACTPROBE_TEST_MODEL set, the round trip also
 * runs on the default model's vocabulary. */
#include "check.h"
#include "gguf_writer.h"
#include "tiny.h"
#include "../model/model.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static fp_model *tiny_model(int spm)
{
	tiny_opts o;
	fp_model *m;
	fp_error e = {0};
	tiny_defaults(&o, "llama");
	o.spm_vocab = spm;
	if (tiny_load(&o, &m, &e))
		printf("cannot load tiny model: %s\n", e.msg);
	return m;
}

/* decode(tokenize(text)) == text (SPM: minus the added prefix space) */
static int round_trip(fp_model *m, const char *text, int spm)
{
	int32_t *ids;
	int n;
	fp_error e = {0};
	if (fp_tokenize(m->tok, text, strlen(text), 0, &ids, &n, &e))
		return 0;
	size_t cap = 8 * strlen(text) + 64, len = 0;
	char *out = calloc(cap, 1), piece[256];
	for (int i = 0; i < n; i++) {
		int l = fp_token_decode(m->tok, ids[i], piece, sizeof piece);
		if (l < 0 || len + (size_t)l >= cap)
			break;
		memcpy(out + len, piece, (size_t)l);
		len += (size_t)l;
	}
	const char *got = out;
	if (spm && *text && out[0] == ' ')
		got++;
	int ok = strcmp(got, text) == 0;
	if (!ok)
		printf("     round trip of \"%s\" gave \"%s\"\n", text, got);
	free(out), free(ids);
	return ok;
}

static const char *TEXTS[] = {
	"the basketball is 12 in the park", "  two leading spaces", "trailing  ", "tabs\tand\nnewlines\r\n",
	"café naïve", "日本語 中文 한국어", "emoji 🙂👍🏽 🇫🇷", "don't stop", "x", "",
	"Michael Jordan plays the sport of basketball.",
};

static void test_invalid_utf8(fp_model *m)
{
	struct { const char *s; size_t n; long at; const char *what; } bad[] = {
		{"ok \xff rest", 8, 3, "0xff byte"},
		{"\xc0\xaf", 2, 0, "overlong '/'"},
		{"ab\xed\xa0\x80", 5, 2, "UTF-16 surrogate"},
		{"abc\xe6\x97", 5, 3, "truncated 3-byte sequence"},
		{"\xf4\x90\x80\x80", 4, 0, "above U+10FFFF"},
		{"a\x80", 2, 1, "stray continuation byte"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int32_t *ids = NULL;
		int n = -1;
		fp_error e = {0};
		char want[64];
		snprintf(want, sizeof want, "invalid UTF-8 at byte %ld", bad[i].at);
		int rc = fp_tokenize(m->tok, bad[i].s, bad[i].n, 0, &ids, &n, &e);
		CHECK(rc == FP_ERR_INVALID && strstr(e.msg, want) && ids == NULL && n == 0, "%s is rejected: %s",
		      bad[i].what, e.msg);
		CHECK(fp_utf8_invalid_at(bad[i].s, bad[i].n) == bad[i].at, "%s located", bad[i].what);
	}
	const char nul[] = "a\0b";
	int32_t *ids;
	int n;
	fp_error e = {0};
	CHECK(fp_tokenize(m->tok, nul, 3, 0, &ids, &n, &e) == 0 && n == 3, "an embedded NUL is a valid character");
	free(ids);
}

static void test_bos(fp_model *m, int spm)
{
	int32_t *ids;
	int n;
	fp_error e = {0};
	fp_tokenize(m->tok, "the", 3, 1, &ids, &n, &e);
	CHECK(n >= 2 && ids[0] == fp_tokenizer_bos(m->tok), "%s: BOS on request", spm ? "spm" : "bpe");
	free(ids);
	fp_tokenize(m->tok, "the", 3, -1, &ids, &n, &e);
	CHECK((ids[0] == fp_tokenizer_bos(m->tok)) == spm, "%s: BOS by default only for SentencePiece (metadata absent)",
	      spm ? "spm" : "bpe");
	free(ids);
	fp_tokenize(m->tok, "", 0, 0, &ids, &n, &e);
	CHECK(n == 0, "%s: empty text has no tokens", spm ? "spm" : "bpe");
	free(ids);
}

static void expect_load_error(gw *w, const char *want, const char *what)
{
	size_t n;
	uint8_t *buf = gw_build(w, 3, 32, &n);
	gguf_file *f = NULL;
	fp_tokenizer *t = NULL;
	fp_error e = {0};
	int rc = gguf_parse_buffer(&f, buf, n, "tok.gguf", &e);
	if (!rc)
		rc = fp_tokenizer_load(&t, f, &e);
	CHECK(rc != 0 && strstr(e.msg, want), "%s -> \"%s\"", what, e.msg);
	fp_tokenizer_free(t);
	gguf_close(f);
	free(buf);
	gw_free(w);
}

static void test_unsupported(void)
{
	gw *w = gw_new();
	gw_str(w, "tokenizer.ggml.model", "bert");
	expect_load_error(w, "tokenizer model 'bert' is not supported", "WordPiece model");
	/* a vocabulary whose pre-tokenizer we do not know */
	w = gw_new();
	const char *toks[2] = {"a", "b"};
	const char *merges[1] = {"a b"};
	gw_str(w, "tokenizer.ggml.model", "gpt2");
	gw_str(w, "tokenizer.ggml.pre", "deepseek-coder");
	gw_arr_str(w, "tokenizer.ggml.tokens", toks, 2);
	gw_arr_str(w, "tokenizer.ggml.merges", merges, 1);
	expect_load_error(w, "pre-tokenizer 'deepseek-coder' is not supported", "unknown pre-tokenizer");
	w = gw_new();
	gw_str(w, "tokenizer.ggml.model", "gpt2");
	gw_arr_str(w, "tokenizer.ggml.tokens", toks, 2);
	expect_load_error(w, "without tokenizer.ggml.merges", "BPE without merges");
	w = gw_new();
	gw_str(w, "tokenizer.ggml.model", "gpt2");
	gw_arr_str(w, "tokenizer.ggml.tokens", toks, 2);
	gw_arr_str(w, "tokenizer.ggml.merges", merges, 1);
	gw_u32(w, "tokenizer.ggml.bos_token_id", 7);
	expect_load_error(w, "bos_token_id = 7 is outside the vocabulary", "BOS id out of range");
	w = gw_new();
	gw_str(w, "tokenizer.ggml.model", "llama");
	gw_arr_str(w, "tokenizer.ggml.tokens", toks, 2);
	expect_load_error(w, "without tokenizer.ggml.scores", "SentencePiece without scores");
	w = gw_new();
	expect_load_error(w, "tokenizer.ggml.model is missing", "no tokenizer at all");
}

int main(void)
{
	for (int spm = 0; spm <= 1; spm++) {
		fp_model *m = tiny_model(spm);
		CHECK(m != NULL, "tiny %s model loads", spm ? "spm" : "bpe");
		if (!m)
			continue;
		int all = 1;
		for (size_t i = 0; i < sizeof TEXTS / sizeof TEXTS[0]; i++)
			all &= round_trip(m, TEXTS[i], spm);
		CHECK(all, "%s: decoding the tokens gives back the text (%zu texts)", spm ? "spm" : "bpe",
		      sizeof TEXTS / sizeof TEXTS[0]);
		test_invalid_utf8(m);
		test_bos(m, spm);
		if (!spm) {
			int32_t *ids;
			int n;
			fp_error e = {0};
			fp_tokenize(m->tok, " basketball", 11, 0, &ids, &n, &e);
			CHECK(n == 1 && fp_token_lookup(m->tok, "\xc4\xa0" "basketball", 12) == ids[0],
			      "merges build ' basketball' from 11 bytes in 10 steps");
			free(ids);
		}
		fp_model_free(m);
	}
	test_unsupported();
	const char *real = getenv("FACTPROBE_TEST_MODEL");
	if (real && *real) {
		fp_model *m = NULL;
		fp_error e = {0};
		CHECK(fp_model_load(&m, real, &e) == 0, "default model loads: %s", e.msg);
		if (m) {
			int all = 1;
			for (size_t i = 0; i < sizeof TEXTS / sizeof TEXTS[0]; i++)
				all &= round_trip(m, TEXTS[i], 0);
			CHECK(all, "default model: decoding the tokens gives back the text");
			fp_model_free(m);
		}
	}
	return check_done("test_tokenizer");
}
