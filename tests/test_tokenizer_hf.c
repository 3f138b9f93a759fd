/* test_tokenizer_hf.c - tokenizer.json (model/tokenizer_hf.c) against the
 * `tokenizers` package: every family in tests/fixtures/hf_tok/ (tiny
 * tokenizers trained by scripts/oracle_hf_tokenizers.py with GPT-2,
 * Llama-3, Qwen2, SmolLM2-style digits, Llama-2 and Metaspace pipelines, and
 * transformers' tokenizer.json of the default model's GGUF) tokenizes every
 * test string to the ids in expected.json, with and without the BOS the
 * files ask for; decoding gives the text back.  With FACTPROBE_TEST_MODEL
 * set, the SmolLM2 tokenizer.json is compared with factprobe's GGUF
 * tokenizer of the same model.  Then bad files: one error naming the file
 * and the JSON field.
 * Usage: test_tokenizer_hf FIXTURE_DIR [MODEL] */
#include "check.h"
#include "../model/model.h"

#include <jansson.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fixdir[1024];

/* the whole file (decompressed with gzip -dc when gz), NULL if absent */
static char *slurp(const char *path, int gz, size_t *len)
{
	char cmd[1200];
	FILE *f;
	if (gz) {
		snprintf(cmd, sizeof cmd, "gzip -dc '%s' 2>/dev/null", path);
		f = popen(cmd, "r");
	} else {
		f = fopen(path, "rb");
	}
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *b = malloc(cap);
	for (size_t r; b && (r = fread(b + n, 1, cap - n - 1, f)) > 0;) {
		n += r;
		if (n + 1 == cap) {
			char *x = realloc(b, cap *= 2);
			if (!x)
				free(b);
			b = x;
		}
	}
	int bad = gz ? pclose(f) != 0 : (fclose(f), 0);
	if (!b || bad || !n) {
		free(b);
		return NULL;
	}
	b[n] = 0;
	*len = n;
	return b;
}

static char cachedir[1024];

/* a family's directory: under the fixtures, or (cached = 1) in the cache */
static fp_tokenizer *load_dir(const char *family, int cached, fp_error *e)
{
	char dir[1200], path[1300];
	fp_tokenizer *t = NULL;
	if (cached)
		snprintf(dir, sizeof dir, "%s/%s", cachedir, family);
	else
		snprintf(dir, sizeof dir, "%s/hf_tok/%s", fixdir, family);
	snprintf(path, sizeof path, "%s/tokenizer.json.gz", dir);
	size_t tl, cl = 0, sl = 0;
	char *tj = slurp(path, 1, &tl);
	if (!tj) { /* the plain directory, through the loader a checkpoint uses */
		if (fp_tokenizer_load_hf(&t, dir, e))
			return NULL;
		return t;
	}
	snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
	char *cfg = slurp(path, 0, &cl);
	snprintf(path, sizeof path, "%s/special_tokens_map.json", dir);
	char *stm = slurp(path, 0, &sl);
	if (fp_tokenizer_load_hf_json(&t, tj, tl, cfg, cl, stm, sl, dir, e))
		t = NULL;
	free(tj), free(cfg), free(stm);
	return t;
}

static fp_tokenizer *load_family(const char *family, fp_error *e)
{
	return load_dir(family, 0, e);
}

/* up to about 48 characters of s for a report line: control characters
 * escaped, cut only between UTF-8 characters (valid text for tests/run.sh's
 * grep); one of two static buffers */
static const char *show(const char *s)
{
	static char buf[2][256];
	static int k;
	char *o = buf[k ^= 1];
	size_t m = 0;
	for (size_t i = 0; s[i] && m < 200;) {
		unsigned char c = (unsigned char)s[i];
		size_t l = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
		if (c < 0x20) {
			m += (size_t)snprintf(o + m, 8, c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : "\\x%02x", c);
			i++;
			continue;
		}
		for (size_t j = 0; j < l && s[i]; j++)
			o[m++] = s[i++];
		if (m > 140)
			break;
	}
	o[m] = 0;
	return o;
}

static int same_ids(const int32_t *ids, int n, const json_t *want)
{
	if ((size_t)n != json_array_size(want))
		return 0;
	for (int i = 0; i < n; i++)
		if (ids[i] != json_integer_value(json_array_get(want, (size_t)i)))
			return 0;
	return 1;
}

static void print_ids(const char *what, const int32_t *ids, int n, const json_t *want)
{
	printf("     %s: factprobe", what);
	for (int i = 0; i < n && i < 24; i++)
		printf(" %d", ids[i]);
	printf("\n     %s: tokenizers", what);
	for (size_t i = 0; i < json_array_size(want) && i < 24; i++)
		printf(" %lld", (long long)json_integer_value(json_array_get(want, i)));
	printf("\n");
}

/* concatenated fp_token_decode of ids (malloc'ed) */
static char *decode_all(const fp_tokenizer *t, const int32_t *ids, int n, size_t *len)
{
	size_t cap = 64, m = 0;
	char *out = malloc(cap), piece[512];
	for (int i = 0; i < n && out; i++) {
		int l = fp_token_decode(t, ids[i], piece, sizeof piece);
		if (l < 0 || (size_t)l >= sizeof piece)
			continue;
		while (m + (size_t)l + 1 > cap) {
			char *x = realloc(out, cap *= 2);
			if (!x)
				free(out);
			out = x;
			if (!out)
				return NULL;
		}
		memcpy(out + m, piece, (size_t)l);
		m += (size_t)l;
	}
	if (out)
		out[m] = 0;
	*len = m;
	return out;
}

static void test_family(const char *family, const char *cached, const json_t *fam, const json_t *strings)
{
	fp_error e = {0};
	fp_tokenizer *t = load_dir(cached ? cached : family, cached != NULL, &e);
	CHECK(t != NULL, "%s: tokenizer.json loads: %s", family, e.msg);
	if (!t)
		return;
	json_t *want = json_object_get(fam, "ids"), *want_bos = json_object_get(fam, "ids_default");
	json_t *decoded = json_object_get(fam, "decoded");
	size_t ns = json_array_size(strings), bad = 0, bad_bos = 0, bad_dec = 0, n_dec = 0, tokens = 0;
	for (size_t i = 0; i < ns; i++) {
		const char *s = json_string_value(json_array_get(strings, i));
		size_t sl = json_string_length(json_array_get(strings, i));
		int32_t *ids = NULL;
		int n = 0;
		if (fp_tokenize(t, s, sl, 0, &ids, &n, &e)) {
			printf("     %s: string %zu: %s\n", family, i, e.msg);
			bad++, bad_bos++;
			continue;
		}
		tokens += (size_t)n;
		if (!same_ids(ids, n, json_array_get(want, i))) {
			if (bad < 3) {
				printf("     %s: string %zu \"%s\" differs\n", family, i, show(s));
				print_ids("ids", ids, n, json_array_get(want, i));
			}
			bad++;
		}
		/* decoding: the tokenizers decode of the same ids, up to one leading
		 * space that its Strip / Metaspace decoders drop from a whole text */
		if (i < json_array_size(decoded)) {
			size_t dl;
			char *d = decode_all(t, ids, n, &dl);
			const char *py = json_string_value(json_array_get(decoded, i));
			size_t pl = json_string_length(json_array_get(decoded, i));
			const char *g = d;
			if (d && dl == pl + 1 && d[0] == ' ')
				g++, dl--;
			n_dec++;
			if (!d || dl != pl || memcmp(g, py, pl)) {
				if (bad_dec < 2)
					printf("     %s: decoding string %zu gave \"%s\", tokenizers \"%s\"\n", family, i,
					       d ? show(d) : "(null)", show(py));
				bad_dec++;
			}
			free(d);
		}
		free(ids);
		if (fp_tokenize(t, s, sl, -1, &ids, &n, &e) == 0) {
			if (!same_ids(ids, n, json_array_get(want_bos, i))) {
				if (bad_bos < 2)
					print_ids("default BOS", ids, n, json_array_get(want_bos, i));
				bad_bos++;
			}
			free(ids);
		} else {
			bad_bos++;
		}
	}
	CHECK(bad == 0, "%s: ids of %zu strings (%zu tokens) equal tokenizers': %zu differ", family, ns, tokens, bad);
	CHECK(bad_bos == 0, "%s: with the file's own BOS rule, %zu strings: %zu differ", family, ns, bad_bos);
	CHECK(bad_dec == 0, "%s: decoding %zu strings gives tokenizers' text: %zu differ", family, n_dec, bad_dec);
	if (!bad && !bad_bos && !bad_dec)
		printf("ok   %s: %zu strings, %zu tokens, 0 mismatches (ids, ids with BOS, decoding)\n", family, ns, tokens);
	fp_tokenizer_free(t);
}

/* strings where t and u give different ids */
static size_t count_differ(const fp_tokenizer *t, const fp_tokenizer *u, const json_t *strings, int only_without_n,
			   int verbose)
{
	int ec;
	PCRE2_SIZE eo;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR) "\\p{N}", PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
	pcre2_match_data *md = pcre2_match_data_create(2, NULL);
	size_t differ = 0;
	fp_error e = {0};
	for (size_t i = 0; i < json_array_size(strings); i++) {
		const char *s = json_string_value(json_array_get(strings, i));
		size_t sl = json_string_length(json_array_get(strings, i));
		if (only_without_n && pcre2_match(re, (PCRE2_SPTR)s, sl, 0, 0, md, NULL) >= 0)
			continue;
		int32_t *a = NULL, *b = NULL;
		int na = 0, nb = 0;
		fp_tokenize(t, s, sl, 0, &a, &na, &e);
		fp_tokenize(u, s, sl, 0, &b, &nb, &e);
		if (na != nb || (na && memcmp(a, b, (size_t)na * sizeof *a))) {
			differ++;
			if (verbose)
				printf("     string %zu \"%s\": %d tokens against %d\n", i, show(s), na, nb);
		}
		free(a), free(b);
	}
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	return differ;
}

/* the SmolLM2 tokenizer.json (transformers' conversion of the GGUF) against
 * factprobe's GGUF tokenizer of the same file */
static void test_gguf_agrees(const char *model, const json_t *strings)
{
	fp_error e = {0};
	fp_model *m = NULL;
	fp_tokenizer *t = load_family("smollm2", &e), *fixed = NULL;
	CHECK(t && fp_model_load(&m, model, &e) == 0, "SmolLM2 GGUF and tokenizer.json load: %s", e.msg);
	if (!t || !m) {
		fp_tokenizer_free(t);
		fp_model_free(m);
		return;
	}
	size_t ns = json_array_size(strings);
	/* transformers' GGUF converter writes a plain ByteLevel pre-tokenizer for
	 * SmolLM2 and drops the digit split of its "smollm" pre-tokenizer (each
	 * \p{N} character alone): strings without such characters must agree */
	size_t all = count_differ(t, m->tok, strings, 0, 1), plain = count_differ(t, m->tok, strings, 1, 0);
	CHECK(plain == 0, "SmolLM2: transformers' tokenizer.json from the GGUF = factprobe's GGUF tokenizer on the strings "
	      "without numerals (\\p{N}): %zu differ (%zu of %zu strings in all)", plain, all, ns);
	/* with the pre-tokenizer SmolLM2's published tokenizer.json has,
	 * Sequence[Digits(individual_digits), ByteLevel], every string agrees */
	char path[1300];
	size_t tl;
	snprintf(path, sizeof path, "%s/hf_tok/smollm2/tokenizer.json.gz", fixdir);
	char *tj = slurp(path, 1, &tl);
	json_t *root = tj ? json_loadb(tj, tl, 0, NULL) : NULL;
	if (root) {
		json_t *pre = json_pack("{s:s, s:[{s:s, s:b}, {s:s, s:b, s:b, s:b}]}", "type", "Sequence", "pretokenizers",
					"type", "Digits", "individual_digits", 1, "type", "ByteLevel", "add_prefix_space", 0,
					"trim_offsets", 1, "use_regex", 1);
		json_object_set_new(root, "pre_tokenizer", pre);
		char *fixed_json = json_dumps(root, 0);
		if (fixed_json && fp_tokenizer_load_hf_json(&fixed, fixed_json, strlen(fixed_json), NULL, 0, NULL, 0, "smollm2", &e))
			fixed = NULL;
		free(fixed_json);
		json_decref(root);
	}
	free(tj);
	CHECK(fixed != NULL, "SmolLM2 tokenizer.json with the Digits pre-tokenizer loads: %s", e.msg);
	if (fixed) {
		size_t d = count_differ(fixed, m->tok, strings, 0, 1);
		CHECK(d == 0, "SmolLM2: tokenizer.json with Digits + ByteLevel = factprobe's GGUF tokenizer: %zu of %zu differ",
		      d, ns);
		if (!d && !plain)
			printf("ok   SmolLM2: tokenizer.json from the GGUF = GGUF tokenizer on %zu of %zu strings (the other %zu: "
			       "numerals such as ² and ½, which transformers' converter no longer splits off); with SmolLM2's Digits "
			       "pre-tokenizer put back, on all %zu\n", ns - all, ns, all, ns);
	}
	CHECK(fp_tokenizer_bos(t) == fp_tokenizer_bos(m->tok), "SmolLM2: the same BOS id (%d, GGUF %d)",
	      fp_tokenizer_bos(t), fp_tokenizer_bos(m->tok));
	printf("     SmolLM2 BOS by default: tokenizer.json (transformers' add_bos_token) %s, the GGUF %s; EOS %d against %d\n",
	       fp_tokenizer_adds_bos(t) ? "adds it" : "does not", fp_tokenizer_adds_bos(m->tok) ? "adds it" : "does not",
	       fp_tokenizer_eos(t), fp_tokenizer_eos(m->tok));
	fp_tokenizer_free(fixed);
	fp_tokenizer_free(t);
	fp_model_free(m);
}

/* Gemma-3-270M: transformers turns its SentencePiece GGUF into a Unigram
 * tokenizer.json; factprobe's GGUF tokenizer merges by score as llama.cpp
 * does.  How often the two agree is printed, not checked: they are
 * different algorithms. */
static void test_gemma_gguf(const char *cached, const char *gguf, const json_t *strings)
{
	fp_error e = {0};
	fp_model *m = NULL;
	fp_tokenizer *t = load_dir(cached, 1, &e);
	if (t && fp_model_load(&m, gguf, &e) == 0) {
		size_t d = count_differ(t, m->tok, strings, 0, 0);
		printf("     Gemma-3-270M: transformers' Unigram tokenizer.json and factprobe's GGUF tokenizer (llama.cpp's "
		       "score merges) agree on %zu of %zu strings\n", json_array_size(strings) - d, json_array_size(strings));
	}
	fp_tokenizer_free(t);
	fp_model_free(m);
}

/* ---- bad files ---- */

static void expect_bad(const char *json, const char *config, const char *want, const char *what)
{
	fp_tokenizer *t = NULL;
	fp_error e = {0};
	int rc = fp_tokenizer_load_hf_json(&t, json, strlen(json), config, config ? strlen(config) : 0, NULL, 0, "ckpt", &e);
	CHECK(rc != 0 && t == NULL && strstr(e.msg, want), "%s -> \"%s\" (want \"%s\")", what, e.msg, want);
	fp_tokenizer_free(t);
}

#define V "\"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}"
/* extra inside the model object (BPE) or at the top level (TOP) */
#define BPE(extra) "{\"model\": {\"type\": \"BPE\", " V ", \"merges\": [\"a b\"]" extra "}}"
#define TOP(extra) "{\"model\": {\"type\": \"BPE\", " V ", \"merges\": [\"a b\"]}" extra "}"

static void test_bad(void)
{
	expect_bad("{\"model\": {\"type\": \"BPE\", " V, NULL, "'ckpt/tokenizer.json': line 1", "truncated JSON");
	expect_bad("[1, 2]", NULL, "top level must be an object", "an array at the top");
	expect_bad("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", NULL, "model.vocab must be a non-empty array",
		   "a Unigram model without pieces");
	expect_bad("{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", -1.5], [\"b\"]]}}", NULL,
		   "model.vocab[1] must be [\"piece\", score]", "a Unigram piece without a score");
	expect_bad("{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", -1.5]], \"unk_id\": 1}}", NULL,
		   "model.unk_id must be an id of model.vocab (0 to 0)", "a Unigram unk_id out of range");
	expect_bad("{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", -1.5]], \"dropout\": 0.1}}", NULL,
		   "model.dropout is not supported (Unigram)", "an unknown Unigram field");
	expect_bad("{\"model\": {\"type\": \"WordPiece\"}}", NULL, "model.type 'WordPiece'", "a WordPiece model");
	expect_bad("{}", NULL, "model is missing", "no model");
	expect_bad("{\"model\": {\"type\": \"BPE\", \"vocab\": [], \"merges\": []}}", NULL, "model.vocab must be an object",
		   "vocab of the wrong type");
	expect_bad("{\"model\": {\"type\": \"BPE\", " V "}}", NULL, "model.merges must be an array", "no merges");
	expect_bad("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}", NULL,
		   "model.vocab: id 0 is given to both", "a duplicated id");
	expect_bad("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"a\": 1}, \"merges\": []}}", NULL,
		   "duplicate object key", "a duplicated token");
	expect_bad("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}", NULL,
		   "model.vocab['a'] must be an id from 0", "a negative id");
	expect_bad("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 99999999999}, \"merges\": []}}", NULL,
		   "model.vocab['a'] must be an id", "an absurd id");
	expect_bad("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"x\"}, \"merges\": []}}", NULL,
		   "model.vocab['a'] must be an id", "an id that is a string");
	expect_bad("{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}", NULL, "model.vocab is empty",
		   "an empty vocabulary");
	expect_bad("{\"model\": {\"type\": \"BPE\", " V ", \"merges\": [\"a c\"]}}", NULL,
		   "model.merges[0]: 'c' is not in model.vocab", "a merge naming an unknown token");
	expect_bad("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [[\"a\", \"b\"]]}}", NULL,
		   "model.merges[0]: 'ab' is not in model.vocab", "a merge whose result is no token");
	expect_bad("{\"model\": {\"type\": \"BPE\", " V ", \"merges\": [\"a b c\"]}}", NULL,
		   "model.merges[0] ('a b c') is not two tokens", "a merge of three");
	expect_bad("{\"model\": {\"type\": \"BPE\", " V ", \"merges\": [3]}}", NULL,
		   "model.merges[0] must be \"a b\" or [\"a\", \"b\"], not an integer", "a merge that is a number");
	expect_bad(BPE(", \"dropout\": 0.1"), NULL, "model.dropout must be null", "BPE dropout");
	expect_bad(BPE(", \"continuing_subword_prefix\": \"##\""), NULL, "model.continuing_subword_prefix '##' is not supported",
		   "a subword prefix");
	expect_bad(BPE(", \"end_of_word_suffix\": \"</w>\""), NULL, "model.end_of_word_suffix '</w>'", "a word suffix");
	expect_bad(BPE(", \"frobnicate\": true"), NULL, "model.frobnicate is not supported", "an unknown model field");
	expect_bad(BPE(", \"unk_token\": \"<unk>\""), NULL, "model.unk_token '<unk>' is not in model.vocab", "unk not in vocab");
	expect_bad(BPE(", \"byte_fallback\": 1"), NULL, "model.byte_fallback must be a boolean, not an integer",
		   "byte_fallback of the wrong type");
	expect_bad(BPE(", \"normalizer\": {\"type\": \"BertNormalizer\"}"), NULL, "model.normalizer is not supported",
		   "a normalizer inside the model");
	expect_bad(TOP(", \"normalizer\": {\"type\": \"BertNormalizer\"}"), NULL,
		   "normalizer.type 'BertNormalizer' is not supported", "an unsupported normalizer");
	expect_bad(TOP(", \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"}, {\"type\": \"Precompiled\"}]}"),
		   NULL, "normalizer.normalizers[1].type 'Precompiled' is not supported", "Precompiled in a sequence");
	expect_bad(TOP(", \"pre_tokenizer\": {\"type\": \"Whitespace\"}"), NULL,
		   "pre_tokenizer.type 'Whitespace' is not supported", "an unsupported pre-tokenizer");
	expect_bad(TOP(", \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(a\"}, \"behavior\": \"Isolated\", \"invert\": false}"),
		   NULL, "pre_tokenizer.pattern: regex does not compile", "a regex that does not compile");
	expect_bad(TOP(", \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"String\": \" \"}, \"behavior\": \"Sideways\"}"),
		   NULL, "pre_tokenizer.behavior 'Sideways' is not one of", "an unknown split behavior");
	expect_bad(TOP(", \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"ByteLevel\"}, {\"type\": \"Digits\"}]}"),
		   NULL, "pre_tokenizer.pretokenizers[1]: a pre-tokenizer after ByteLevel", "ByteLevel not last");
	expect_bad(TOP(", \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"ab\"}"), NULL,
		   "pre_tokenizer.replacement must be one character", "a Metaspace replacement of two characters");
	expect_bad(TOP(", \"post_processor\": {\"type\": \"BertProcessing\"}"), NULL,
		   "post_processor.type 'BertProcessing' is not supported", "BERT's post-processor");
	expect_bad(TOP(", \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"Sequence\": {\"id\": \"A\"}}, "
		       "{\"SpecialToken\": {\"id\": \"b\"}}], \"special_tokens\": {\"b\": {\"ids\": [1]}}}"),
		   NULL, "post_processor.single adds 'b' after the text", "an EOS after every prompt");
	expect_bad(TOP(", \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"b\"}}, "
		       "{\"Sequence\": {\"id\": \"A\"}}], \"special_tokens\": {\"b\": {\"ids\": [7]}}}"),
		   NULL, "post_processor.special_tokens['b'].ids: 7 is outside the vocabulary", "a template id out of range");
	expect_bad(TOP(", \"decoder\": {\"type\": \"WordPiece\"}"), NULL, "decoder.type 'WordPiece' is not supported",
		   "a WordPiece decoder");
	expect_bad(TOP(", \"truncation\": {\"max_length\": 8}"), NULL, "truncation is set", "truncation");
	expect_bad(TOP(", \"added_tokens\": [{\"id\": 1, \"content\": \"zz\", \"special\": true}]"), NULL,
		   "added_tokens[0]: 'zz' with id 1, but that id is another token's", "an added token on another's id");
	expect_bad(TOP(", \"added_tokens\": [{\"id\": 5, \"content\": \"\"}]"), NULL,
		   "added_tokens[0].content must be a non-empty string", "an empty added token");
	expect_bad(TOP(", \"added_tokens\": [{\"content\": \"x\"}]"), NULL, "added_tokens[0].id must be an id",
		   "an added token without id");
	expect_bad(TOP(", \"added_tokens\": {}"), NULL, "added_tokens must be an array", "added_tokens of the wrong type");
	expect_bad(TOP(""), "{\"tokenizer_class\": \"LlamaTokenizerFast\", \"add_bos_token\": true}", "'ckpt/tokenizer_config.json': add_bos_token is true but no bos_token",
		   "add_bos_token without a BOS");
	expect_bad(TOP(""), "{\"bos_token\": \"<s>\"}", "'ckpt/tokenizer_config.json': bos_token '<s>' is not a token",
		   "a BOS that is no token");
	expect_bad(TOP(""), "{\"tokenizer_class\": \"GemmaTokenizer\", \"add_bos_token\": \"yes\"}", "tokenizer_config.add_bos_token must be a boolean",
		   "add_bos_token of the wrong type");
	expect_bad(TOP(""), "{\"tokenizer_class\": \"LlamaTokenizer\", \"add_eos_token\": true}",
		   "add_eos_token is true (an EOS after every prompt): not supported", "add_eos_token");
	expect_bad(TOP(", \"pre_tokenizer\": {\"type\": \"ByteLevel\"}"), "{\"add_prefix_space\": 1}",
		   "tokenizer_config.add_prefix_space must be a boolean, not a number", "add_prefix_space of the wrong type");
	expect_bad(TOP(""), "{\"tokenizer_class\": 7}", "tokenizer_config.tokenizer_class must be a string",
		   "a tokenizer_class that is a number");
	expect_bad(TOP(""), "{\"bos_token\": ", "'ckpt/tokenizer_config.json': line 1", "a truncated tokenizer_config.json");

	/* a missing file names itself */
	fp_tokenizer *t = NULL;
	fp_error e = {0};
	CHECK(fp_tokenizer_load_hf(&t, "/nonexistent-dir", &e) != 0 && strstr(e.msg, "/nonexistent-dir/tokenizer.json"),
	      "a directory without tokenizer.json -> \"%s\"", e.msg);

	/* every truncation of a valid file is an error or a tokenizer, never a crash */
	const char *good = TOP(", \"normalizer\": {\"type\": \"NFC\"}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}, "
			       "\"added_tokens\": [{\"id\": 3, \"content\": \"<s>\", \"special\": true}]");
	size_t gl = strlen(good), errors = 0;
	for (size_t cut = 0; cut < gl; cut++) {
		t = NULL;
		if (fp_tokenizer_load_hf_json(&t, good, cut, NULL, 0, NULL, 0, "ckpt", &e))
			errors++;
		fp_tokenizer_free(t);
	}
	CHECK(errors == gl, "all %zu truncations of a %zu-byte tokenizer.json are errors (%zu were)", gl, gl, errors);
	CHECK(fp_tokenizer_load_hf_json(&t, good, gl, NULL, 0, NULL, 0, "ckpt", &e) == 0 && fp_tokenizer_n_vocab(t) == 4,
	      "the whole file loads (4 tokens): %s", e.msg);
	fp_tokenizer_free(t);
}

int main(int argc, char **argv)
{
	snprintf(fixdir, sizeof fixdir, "%s", argc > 1 ? argv[1] : "tests/fixtures");
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	if (xdg && *xdg)
		snprintf(cachedir, sizeof cachedir, "%s/factprobe", xdg);
	else
		snprintf(cachedir, sizeof cachedir, "%s/.cache/factprobe", home ? home : ".");
	char path[1200];
	snprintf(path, sizeof path, "%s/hf_tok/expected.json", fixdir);
	json_error_t je;
	json_t *x = json_load_file(path, JSON_ALLOW_NUL, &je);
	CHECK(x != NULL, "%s loads: %s", path, je.text);
	if (x) {
		json_t *strings = json_object_get(x, "strings"), *fams = json_object_get(x, "families"), *f;
		const char *name;
		printf("oracle: %s\n", json_string_value(json_object_get(x, "oracle")));
		json_t *in_cache = json_object_get(x, "in_cache");
		json_object_foreach(fams, name, f) {
			const char *cached = json_string_value(json_object_get(in_cache, name));
			char path2[1300];
			snprintf(path2, sizeof path2, "%s/%s/tokenizer.json", cachedir, cached ? cached : "");
			if (cached && access(path2, R_OK)) {
				/* not committed (14 MB): made by `make oracle` */
				printf("SKIP %s: %s is not there (scripts/oracle_hf_tokenizers.py converts it with "
				       "transformers, `make oracle`)\n", name, path2);
				continue;
			}
			test_family(name, cached, f, strings);
			if (cached && !strcmp(name, "gemma3") && getenv("FACTPROBE_TEST_GEMMA") && *getenv("FACTPROBE_TEST_GEMMA"))
				test_gemma_gguf(cached, getenv("FACTPROBE_TEST_GEMMA"), strings);
		}
		const char *model = argc > 2 && argv[2][0] ? argv[2] : getenv("FACTPROBE_TEST_MODEL");
		if (model && *model)
			test_gguf_agrees(model, strings);
		json_decref(x);
	}
	test_bad();
	return check_done("test_tokenizer_hf");
}
