/* tokenizer.c - byte-level BPE and SentencePiece-style tokenizers from GGUF
 * metadata (see tokenizer.h for the behaviour this promises).
 *
 * Vocabulary strings are copied into one arena, so the tokenizer does not
 * borrow from the GGUF mapping.  Merging is the plain quadratic algorithm
 * over one pre-tokenized piece (a word); pair ranks of neighbours are cached
 * so each merge costs two hash lookups.
 */
#include "tokenizer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t fnv(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
	return h;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

int fp_token_lookup(const fp_tokenizer *t, const char *s, size_t n)
{
	uint32_t mask = t->map.cap - 1;
	for (uint32_t i = (uint32_t)fnv(s, n) & mask;; i = (i + 1) & mask) {
		int32_t id = t->map.slot[i];
		if (id < 0)
			return -1;
		if (t->len[id] == n && !memcmp(t->arena + t->off[id], s, n))
			return id;
	}
}

void tok_strmap_put(fp_tokenizer *t, int id)
{
	uint32_t mask = t->map.cap - 1;
	const char *s = t->arena + t->off[id];
	for (uint32_t i = (uint32_t)fnv(s, t->len[id]) & mask;; i = (i + 1) & mask) {
		int32_t o = t->map.slot[i];
		if (o < 0) {
			t->map.slot[i] = id;
			return;
		}
		if (t->len[o] == t->len[id] && !memcmp(t->arena + t->off[o], s, t->len[id]))
			return; /* duplicate piece: the first id wins, as in llama.cpp */
	}
}

int tok_pair_find(const pairmap *m, int a, int b, int *id)
{
	if (!m->cap || a < 0 || b < 0)
		return -1;
	uint64_t k = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1;
	uint32_t mask = m->cap - 1;
	for (uint32_t i = (uint32_t)mix64(k) & mask;; i = (i + 1) & mask) {
		if (!m->key[i])
			return -1;
		if (m->key[i] == k) {
			*id = m->id[i];
			return m->rank[i];
		}
	}
}

void tok_pair_put(pairmap *m, int a, int b, int rank, int id, int replace)
{
	uint64_t k = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1;
	uint32_t mask = m->cap - 1;
	for (uint32_t i = (uint32_t)mix64(k) & mask;; i = (i + 1) & mask) {
		if (m->key[i] == k) {
			if (replace)
				m->rank[i] = rank, m->id[i] = id;
			return; /* else keep the first (lowest) rank */
		}
		if (!m->key[i]) {
			m->key[i] = k;
			m->rank[i] = rank;
			m->id[i] = id;
			return;
		}
	}
}

uint32_t tok_pow2_above(uint64_t n)
{
	uint32_t c = 16;
	while (c < 2 * n)
		c *= 2;
	return c;
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid. */
int tok_utf8_len(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned c = s[0];
	int l;
	uint32_t v, min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		l = 2, v = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		l = 3, v = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		l = 4, v = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if ((size_t)l > n)
		return 0;
	for (int i = 1; i < l; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return l;
}

long fp_utf8_invalid_at(const char *s, size_t len)
{
	uint32_t cp;
	for (size_t i = 0; i < len;) {
		int l = tok_utf8_len((const unsigned char *)s + i, len - i, &cp);
		if (!l)
			return (long)i;
		i += (size_t)l;
	}
	return -1;
}

int tok_utf8_put(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	} else if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	} else if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* GPT-2's bytes_to_unicode: printable bytes map to themselves, the other 68
 * to 256, 257, ... in byte order. */
void tok_init_byte_map(fp_tokenizer *t)
{
	uint32_t next = 256;
	for (int i = 0; i < 512; i++)
		t->cp2byte[i] = -1;
	for (int b = 0; b < 256; b++) {
		int keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
		t->byte2cp[b] = keep ? (uint32_t)b : next++;
		t->cp2byte[t->byte2cp[b]] = (int16_t)b;
	}
}

/* ---- pre-tokenizer regexes ---- */

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define RE_LLAMA3 "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|" \
	"\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

static int compile_re(fp_tokenizer *t, const char *pat, fp_error *err)
{
	int ec;
	PCRE2_SIZE eo;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo,
				       NULL);
	if (!re) {
		PCRE2_UCHAR msg[128];
		pcre2_get_error_message(ec, msg, sizeof msg);
		return fp_error_set(err, FP_ERR_UNSUPPORTED, "pre-tokenizer regex does not compile: %s", (char *)msg);
	}
	t->re[t->n_re++] = re;
	return 0;
}

int tok_spans_push(spans *s, size_t off, size_t len)
{
	if (!len)
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		span *v = realloc(s->v, cap * sizeof *v);
		if (!v)
			return -1;
		s->v = v, s->cap = cap;
	}
	s->v[s->n++] = (span){off, len};
	return 0;
}

/* Splits every span of `in` by regex re into matches and the gaps between
 * them (gaps are kept as pieces, as llama.cpp's regex split does). */
static int split_re(const fp_tokenizer *t, pcre2_code *re, const char *text, const spans *in, spans *out)
{
	for (size_t k = 0; k < in->n; k++) {
		PCRE2_SPTR subj = (PCRE2_SPTR)(text + in->v[k].off);
		size_t n = in->v[k].len, pos = 0, last = 0;
		while (pos < n) {
			int rc = pcre2_match(re, subj, n, pos, 0, t->md, NULL);
			if (rc < 0)
				break;
			PCRE2_SIZE *ov = pcre2_get_ovector_pointer(t->md);
			if (ov[1] == ov[0]) { /* empty match: step one character */
				pos = ov[0] + 1;
				while (pos < n && (subj[pos] & 0xc0) == 0x80)
					pos++;
				continue;
			}
			if (tok_spans_push(out, in->v[k].off + last, ov[0] - last) ||
			    tok_spans_push(out, in->v[k].off + ov[0], ov[1] - ov[0]))
				return -1;
			last = pos = ov[1];
		}
		if (tok_spans_push(out, in->v[k].off + last, n - last))
			return -1;
	}
	return 0;
}

/* ---- output buffer ---- */

int tok_ids_push(idbuf *b, int id)
{
	if (b->n == b->cap) {
		int cap = b->cap ? 2 * b->cap : 64;
		int32_t *v = realloc(b->v, (size_t)cap * sizeof *v);
		if (!v)
			return -1;
		b->v = v, b->cap = cap;
	}
	b->v[b->n++] = id;
	return 0;
}

/* ---- merging ---- */

int tok_bpe_merge(const pairmap *m, sym *s, int ns, int *rank, int *mid)
{
	for (int i = 0; i + 1 < ns; i++)
		rank[i] = tok_pair_find(m, s[i].id, s[i + 1].id, &mid[i]);
	for (;;) {
		int best = -1;
		for (int i = 0; i + 1 < ns; i++)
			if (rank[i] >= 0 && (best < 0 || rank[i] < rank[best]))
				best = i;
		if (best < 0)
			break;
		s[best].len += s[best + 1].len;
		s[best].id = mid[best];
		memmove(s + best + 1, s + best + 2, (size_t)(ns - best - 2) * sizeof *s);
		memmove(rank + best + 1, rank + best + 2, (size_t)(ns - best - 2) * sizeof *rank);
		memmove(mid + best + 1, mid + best + 2, (size_t)(ns - best - 2) * sizeof *mid);
		ns--;
		if (best > 0)
			rank[best - 1] = tok_pair_find(m, s[best - 1].id, s[best].id, &mid[best - 1]);
		if (best + 1 < ns)
			rank[best] = tok_pair_find(m, s[best].id, s[best + 1].id, &mid[best]);
	}
	return ns;
}

/* one symbol per character of w, each the token it is (or -1) */
static int char_syms(const fp_tokenizer *t, const char *w, size_t n, sym *s)
{
	int ns = 0;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		int l = tok_utf8_len((const unsigned char *)w + i, n - i, &cp);
		s[ns++] = (sym){i, (size_t)l, fp_token_lookup(t, w + i, (size_t)l)};
		i += (size_t)l;
	}
	return ns;
}

/* Byte-level BPE of one encoded word w (n bytes). */
static int bpe_word(const fp_tokenizer *t, const char *w, size_t n, sym *s, int *rank, int *mid, idbuf *out)
{
	int ns;
	if (t->ignore_merges) {
		int id = fp_token_lookup(t, w, n);
		if (id >= 0)
			return tok_ids_push(out, id);
	}
	ns = char_syms(t, w, n, s);
	ns = tok_bpe_merge(&t->merges, s, ns, rank, mid);
	for (int i = 0; i < ns; i++) {
		if (s[i].id >= 0) {
			if (tok_ids_push(out, s[i].id))
				return -1;
			continue;
		}
		/* not a token: llama.cpp emits whichever single bytes are tokens */
		for (size_t j = 0; j < s[i].len; j++) {
			int id = fp_token_lookup(t, w + s[i].off + j, 1);
			if (id >= 0 && tok_ids_push(out, id))
				return -1;
		}
	}
	return 0;
}

static float spm_pair_score(const fp_tokenizer *t, const char *w, const sym *a, const sym *b, int *id)
{
	*id = fp_token_lookup(t, w + a->off, a->len + b->len);
	return *id >= 0 ? t->score[*id] : -1e30f;
}

/* SentencePiece-style merge over the whole (escaped) text. */
static int spm_text(const fp_tokenizer *t, const char *w, size_t n, sym *s, float *sc, int *mid, idbuf *out)
{
	int ns = char_syms(t, w, n, s);
	for (int i = 0; i + 1 < ns; i++)
		sc[i] = spm_pair_score(t, w, &s[i], &s[i + 1], &mid[i]);
	for (;;) {
		int best = -1;
		for (int i = 0; i + 1 < ns; i++)
			if (mid[i] >= 0 && (best < 0 || sc[i] > sc[best]))
				best = i;
		if (best < 0)
			break;
		s[best].len += s[best + 1].len;
		s[best].id = mid[best];
		memmove(s + best + 1, s + best + 2, (size_t)(ns - best - 2) * sizeof *s);
		memmove(sc + best + 1, sc + best + 2, (size_t)(ns - best - 2) * sizeof *sc);
		memmove(mid + best + 1, mid + best + 2, (size_t)(ns - best - 2) * sizeof *mid);
		ns--;
		if (best > 0)
			sc[best - 1] = spm_pair_score(t, w, &s[best - 1], &s[best], &mid[best - 1]);
		if (best + 1 < ns)
			sc[best] = spm_pair_score(t, w, &s[best], &s[best + 1], &mid[best]);
	}
	for (int i = 0; i < ns; i++) {
		if (s[i].id >= 0) {
			if (tok_ids_push(out, s[i].id))
				return -1;
			continue;
		}
		for (size_t j = 0; j < s[i].len; j++) {
			int id = t->byte_tok[(uint8_t)w[s[i].off + j]];
			if (id < 0)
				id = t->unk;
			if (id >= 0 && tok_ids_push(out, id))
				return -1;
		}
	}
	return 0;
}

/* Tokenizes one stretch of plain text (no user-defined token in it) onto
 * out.  prefix: add the SentencePiece prefix space (at the start of the text
 * and after a user-defined token, as llama.cpp does).  0 or FP_ERR_NOMEM. */
static int tokenize_raw(const fp_tokenizer *t, const char *text, size_t len, int prefix, idbuf *out)
{
	spans a = {0}, b = {0};
	char *w = NULL;
	sym *s = NULL;
	int *ia = NULL, *ib = NULL;
	int rc = FP_ERR_NOMEM;
	if (t->kind == FP_TOK_SPM) {
		/* escape spaces as U+2581 (3 bytes) and add the prefix space */
		size_t m = 0;
		w = malloc(3 * len + 4);
		s = malloc((len + 2) * sizeof *s);
		ia = malloc((len + 2) * sizeof *ia);
		ib = malloc((len + 2) * sizeof(float));
		if (!w || !s || !ia || !ib)
			goto fail;
		if (len && prefix && t->add_space_prefix)
			memcpy(w, "\xe2\x96\x81", 3), m = 3;
		for (size_t i = 0; i < len; i++) {
			if (text[i] == ' ')
				memcpy(w + m, "\xe2\x96\x81", 3), m += 3;
			else
				w[m++] = text[i];
		}
		if (m && spm_text(t, w, m, s, (float *)ib, ia, out))
			goto fail;
	} else {
		if (tok_spans_push(&a, 0, len))
			goto fail;
		for (int r = 0; r < t->n_re; r++) {
			b.n = 0;
			if (split_re(t, t->re[r], text, &a, &b))
				goto fail;
			spans tmp = a;
			a = b;
			b = tmp;
		}
		size_t maxw = 0;
		for (size_t k = 0; k < a.n; k++)
			if (a.v[k].len > maxw)
				maxw = a.v[k].len;
		w = malloc(2 * maxw + 1);
		s = malloc((2 * maxw + 1) * sizeof *s);
		ia = malloc((2 * maxw + 1) * sizeof *ia);
		ib = malloc((2 * maxw + 1) * sizeof *ib);
		if (!w || !s || !ia || !ib)
			goto fail;
		for (size_t k = 0; k < a.n; k++) {
			size_t m = 0;
			for (size_t i = 0; i < a.v[k].len; i++)
				m += (size_t)tok_utf8_put(w + m, t->byte2cp[(uint8_t)text[a.v[k].off + i]]);
			if (bpe_word(t, w, m, s, ia, ib, out))
				goto fail;
		}
	}
	rc = 0;
fail:
	free(a.v);
	free(b.v);
	free(w);
	free(s);
	free(ia);
	free(ib);
	return rc;
}

/* the text cut into plain stretches (id -1) and user-defined tokens */
typedef struct frag {
	size_t off, len;
	int id;
} frag;

typedef struct frags {
	frag *v;
	size_t n, cap;
} fragbuf;

/* the first place of needle (nl > 0 bytes) in hay, or NULL */
static const char *find_bytes(const char *hay, size_t hl, const char *needle, size_t nl)
{
	for (size_t i = 0; i + nl <= hl; i++)
		if (hay[i] == needle[0] && !memcmp(hay + i, needle, nl))
			return hay + i;
	return NULL;
}

/* replaces plain fragment k by [before bytes] [token id] [after bytes], the
 * empty ones left out */
static int frag_insert(fragbuf *f, size_t k, size_t before, int id, size_t after)
{
	if (f->n + 2 > f->cap) {
		size_t cap = 2 * f->cap > 16 ? 2 * f->cap : 16;
		frag *v = realloc(f->v, cap * sizeof *v);
		if (!v)
			return -1;
		f->v = v, f->cap = cap;
	}
	frag old = f->v[k], add[3];
	size_t na = 0, tl = old.len - before - after;
	if (before)
		add[na++] = (frag){old.off, before, -1};
	add[na++] = (frag){old.off + before, tl, id};
	if (after)
		add[na++] = (frag){old.off + before + tl, after, -1};
	memmove(f->v + k + na, f->v + k + 1, (f->n - k - 1) * sizeof *f->v);
	memcpy(f->v + k, add, na * sizeof *add);
	f->n += na - 1;
	return 0;
}

int fp_tokenize(const fp_tokenizer *t, const char *text, size_t len, int add_bos, int32_t **ids, int *n,
		fp_error *err)
{
	idbuf out = {0};
	fragbuf frags = {0};
	int rc = FP_ERR_NOMEM;
	*ids = NULL;
	*n = 0;
	long bad = fp_utf8_invalid_at(text, len);
	if (bad >= 0)
		return fp_error_set(err, FP_ERR_INVALID, "invalid UTF-8 at byte %ld of the text (byte 0x%02x)", bad,
				    (unsigned char)text[bad]);
	if (len > (size_t)1 << 28)
		return fp_error_set(err, FP_ERR_INVALID, "text of %zu bytes is too long to tokenize", len);
	if (add_bos < 0)
		add_bos = t->add_bos;
	if (add_bos && t->bos >= 0 && tok_ids_push(&out, t->bos))
		goto fail;
	if (t->hf) {
		if ((rc = fp_hf_tokenize(t, text, len, &out, err)))
			goto fail_hf;
		goto done;
	}
	/* User-defined tokens (type 4: Gemma's runs of spaces, newlines and tabs,
	 * its HTML tags) are cut out of the text first, as llama.cpp does even
	 * without parse_special: the longest token first, at each of its
	 * leftmost non-overlapping places in what is still plain text; the
	 * stretches left between them are tokenized as text. */
	frags.v = malloc(sizeof *frags.v);
	if (!frags.v)
		goto fail;
	frags.cap = 1;
	frags.v[0] = (frag){0, len, -1};
	frags.n = len ? 1 : 0;
	for (int u = 0; u < t->n_user; u++) {
		int id = t->user[u];
		const char *tok = t->arena + t->off[id];
		size_t tl = t->len[id];
		for (size_t k = 0; k < frags.n; k++) {
			if (frags.v[k].id >= 0 || frags.v[k].len < tl)
				continue;
			const char *base = text + frags.v[k].off;
			const char *hit = find_bytes(base, frags.v[k].len, tok, tl);
			if (!hit)
				continue;
			/* split fragment k into [before] [token] [after]; the loop then
			 * reaches [after] and searches it again */
			size_t before = (size_t)(hit - base), after = frags.v[k].len - before - tl;
			if (frag_insert(&frags, k, before, id, after))
				goto fail;
			k += before ? 1 : 0;
		}
	}
	int prefix = 1;
	for (size_t k = 0; k < frags.n; k++) {
		if (frags.v[k].id >= 0) {
			if (tok_ids_push(&out, frags.v[k].id))
				goto fail;
			prefix = 1;
			continue;
		}
		if (tokenize_raw(t, text + frags.v[k].off, frags.v[k].len, prefix, &out))
			goto fail;
		prefix = 0;
	}
done:
	*ids = out.v;
	*n = out.n;
	out.v = NULL;
	rc = 0;
fail:
	if (rc)
		fp_error_set(err, rc, "out of memory while tokenizing");
fail_hf:
	free(out.v);
	free(frags.v);
	return rc;
}

/* ---- loading ---- */

void fp_tokenizer_free(fp_tokenizer *t)
{
	if (!t)
		return;
	fp_hf_free(t->hf);
	for (int i = 0; i < t->n_re; i++)
		pcre2_code_free(t->re[i]);
	pcre2_match_data_free(t->md);
	free(t->arena);
	free(t->off);
	free(t->len);
	free(t->score);
	free(t->type);
	free(t->user);
	free(t->map.slot);
	free(t->merges.key);
	free(t->merges.rank);
	free(t->merges.id);
	free(t);
}

static int opt_token_id(const gguf_file *f, const char *key, int n_vocab, int *out, fp_error *err)
{
	uint32_t v;
	int rc = gguf_get_u32(f, key, &v, err);
	if (rc == -1)
		return 0; /* absent: keep the default */
	if (rc)
		return rc;
	if (v >= (uint32_t)n_vocab)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': %s = %u is outside the vocabulary of %d tokens",
				    f->path, key, v, n_vocab);
	*out = (int)v;
	return 0;
}

static int load_merges(fp_tokenizer *t, const gguf_file *f, fp_error *err)
{
	const gguf_kv *kv = gguf_find_key(f, "tokenizer.ggml.merges");
	if (!kv)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': BPE tokenizer without tokenizer.ggml.merges", f->path);
	if (kv->type != GGUF_VT_ARRAY || kv->arr_type != GGUF_VT_STRING)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': tokenizer.ggml.merges is not an array of strings",
				    f->path);
	if (kv->arr_n > (1u << 24))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': %llu merges is absurd", f->path,
				    (unsigned long long)kv->arr_n);
	t->merges.cap = tok_pow2_above(kv->arr_n);
	t->merges.key = calloc(t->merges.cap, sizeof *t->merges.key);
	t->merges.rank = malloc(t->merges.cap * sizeof *t->merges.rank);
	t->merges.id = malloc(t->merges.cap * sizeof *t->merges.id);
	char *buf = malloc(1024);
	if (!t->merges.key || !t->merges.rank || !t->merges.id || !buf) {
		free(buf);
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory loading merges");
	}
	for (uint64_t r = 0; r < kv->arr_n; r++) {
		gguf_str m = kv->strs[r];
		const char *sp = m.len ? memchr(m.ptr + 1, ' ', m.len - 1) : NULL;
		if (!sp || m.len >= 1024) {
			free(buf);
			return fp_error_set(err, FP_ERR_FORMAT, "'%s': merge %llu ('%.*s') is not two pieces separated by a space",
					    f->path, (unsigned long long)r, (int)(m.len > 40 ? 40 : m.len), m.ptr);
		}
		size_t la = (size_t)(sp - m.ptr), lb = m.len - la - 1;
		int a = fp_token_lookup(t, m.ptr, la), b = fp_token_lookup(t, sp + 1, lb);
		memcpy(buf, m.ptr, la);
		memcpy(buf + la, sp + 1, lb);
		int c = fp_token_lookup(t, buf, la + lb);
		if (a >= 0 && b >= 0 && c >= 0)
			tok_pair_put(&t->merges, a, b, (int)r, c, 0);
	}
	free(buf);
	return 0;
}

/* tokenizer.ggml.model: gpt2 (byte-level BPE) or llama (SentencePiece) */
static int read_kind(fp_tokenizer *t, const gguf_file *f, fp_error *err)
{
	gguf_str model = {0};
	int rc;
	if ((rc = gguf_get_str(f, "tokenizer.ggml.model", &model, err)) != 0) {
		if (rc == -1)
			rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': no tokenizer (tokenizer.ggml.model is missing)",
					  f->path);
		return rc;
	}
	if (model.len == 4 && !memcmp(model.ptr, "gpt2", 4))
		t->kind = FP_TOK_BPE;
	else if (model.len == 5 && !memcmp(model.ptr, "llama", 5))
		t->kind = FP_TOK_SPM;
	else
		return fp_error_set(err, FP_ERR_UNSUPPORTED,
				    "'%s': tokenizer model '%.*s' is not supported (gpt2 and llama are)", f->path,
				    (int)(model.len > 40 ? 40 : model.len), model.ptr);
	return 0;
}

/* tokenizer.ggml.tokens: the pieces into the arena, every token normal until
 * token_type says otherwise, and the piece -> id map */
static int read_tokens(fp_tokenizer *t, const gguf_file *f, fp_error *err)
{
	const gguf_kv *toks = gguf_find_key(f, "tokenizer.ggml.tokens");
	if (!toks || toks->type != GGUF_VT_ARRAY || toks->arr_type != GGUF_VT_STRING || toks->arr_n == 0 ||
	    toks->arr_n > (1u << 24))
		return fp_error_set(err, FP_ERR_FORMAT,
				    "'%s': tokenizer.ggml.tokens is missing or not a non-empty array of strings", f->path);
	t->n_vocab = (int)toks->arr_n;
	size_t total = 0;
	for (int i = 0; i < t->n_vocab; i++)
		total += toks->strs[i].len + 1;
	t->arena = malloc(total);
	t->off = malloc((size_t)t->n_vocab * sizeof *t->off);
	t->len = malloc((size_t)t->n_vocab * sizeof *t->len);
	t->score = calloc((size_t)t->n_vocab, sizeof *t->score);
	t->type = malloc((size_t)t->n_vocab * sizeof *t->type);
	t->map.cap = tok_pow2_above((uint64_t)t->n_vocab);
	t->map.slot = malloc(t->map.cap * sizeof *t->map.slot);
	if (!t->arena || !t->off || !t->len || !t->score || !t->type || !t->map.slot)
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory loading the vocabulary");
	memset(t->map.slot, 0xff, t->map.cap * sizeof *t->map.slot);
	size_t o = 0;
	for (int i = 0; i < t->n_vocab; i++) {
		if (toks->strs[i].len > 65535)
			return fp_error_set(err, FP_ERR_FORMAT, "'%s': token %d is %llu bytes long", f->path, i,
					    (unsigned long long)toks->strs[i].len);
		memcpy(t->arena + o, toks->strs[i].ptr, toks->strs[i].len);
		t->arena[o + toks->strs[i].len] = 0;
		t->off[i] = (uint32_t)o;
		t->len[i] = (uint32_t)toks->strs[i].len;
		t->type[i] = TT_NORMAL;
		o += toks->strs[i].len + 1;
	}
	for (int i = 0; i < t->n_vocab; i++)
		tok_strmap_put(t, i);
	return 0;
}

/* the numeric array `key` of one value per token, or NULL when absent */
static int find_per_token(const fp_tokenizer *t, const gguf_file *f, const char *key, const gguf_kv **kvp,
			  fp_error *err)
{
	const gguf_kv *kv = gguf_find_key(f, key);
	*kvp = kv;
	if (kv && (kv->type != GGUF_VT_ARRAY || kv->arr_n != (uint64_t)t->n_vocab || kv->arr_type == GGUF_VT_STRING))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': %s must be %d numbers", f->path, key, t->n_vocab);
	return 0;
}

/* tokenizer.ggml.token_type (optional), then the user-defined tokens that
 * tokenizing matches before anything else, longest first */
static int read_token_types(fp_tokenizer *t, const gguf_file *f, fp_error *err)
{
	const gguf_kv *kv;
	int rc = find_per_token(t, f, "tokenizer.ggml.token_type", &kv, err);
	if (rc)
		return rc;
	for (int i = 0; kv && i < t->n_vocab; i++) {
		/* llama.cpp's token types are 0 (undefined) to 6 (byte); anything
		 * else (and a float that is no integer) is a broken file, and a
		 * huge value would not even convert to int */
		double v = gguf_kv_num(kv, (uint64_t)i);
		if (!(v >= 0 && v <= TT_BYTE) || v != (int)v)
			return fp_error_set(err, FP_ERR_FORMAT,
					    "'%s': tokenizer.ggml.token_type[%d] is %g, not a token type (0 to %d)", f->path,
					    i, v, TT_BYTE);
		t->type[i] = (int32_t)v;
	}
	for (int i = 0; i < t->n_vocab; i++)
		t->n_user += t->type[i] == TT_USER && t->len[i] > 0;
	if (!t->n_user)
		return 0;
	t->user = malloc((size_t)t->n_user * sizeof *t->user);
	if (!t->user)
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory loading the vocabulary");
	int k = 0;
	for (int i = 0; i < t->n_vocab; i++)
		if (t->type[i] == TT_USER && t->len[i] > 0)
			t->user[k++] = i;
	/* longest first (insertion sort: a few hundred at most; equal lengths keep id order) */
	for (int i = 1; i < k; i++)
		for (int j = i; j > 0 && t->len[t->user[j]] > t->len[t->user[j - 1]]; j--) {
			int x = t->user[j];
			t->user[j] = t->user[j - 1], t->user[j - 1] = x;
		}
	return 0;
}

/* tokenizer.ggml.scores: SentencePiece needs them, BPE ranks merges instead */
static int read_scores(fp_tokenizer *t, const gguf_file *f, fp_error *err)
{
	const gguf_kv *kv;
	int rc = find_per_token(t, f, "tokenizer.ggml.scores", &kv, err);
	if (rc)
		return rc;
	if (!kv && t->kind == FP_TOK_SPM)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': SentencePiece tokenizer without tokenizer.ggml.scores",
				    f->path);
	for (int i = 0; kv && i < t->n_vocab; i++)
		t->score[i] = (float)gguf_kv_num(kv, (uint64_t)i);
	return 0;
}

/* BOS, EOS and UNK ids, and whether to add BOS and a leading space
 * (SentencePiece's defaults: both) */
static int read_specials(fp_tokenizer *t, const gguf_file *f, fp_error *err)
{
	int rc;
	if ((rc = opt_token_id(f, "tokenizer.ggml.bos_token_id", t->n_vocab, &t->bos, err)) ||
	    (rc = opt_token_id(f, "tokenizer.ggml.eos_token_id", t->n_vocab, &t->eos, err)) ||
	    (rc = opt_token_id(f, "tokenizer.ggml.unknown_token_id", t->n_vocab, &t->unk, err)))
		return rc;
	t->add_bos = t->kind == FP_TOK_SPM;
	t->add_space_prefix = t->kind == FP_TOK_SPM;
	if ((rc = gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &t->add_bos, err)) > 0 || rc < -1)
		return rc;
	if ((rc = gguf_get_bool(f, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix, err)) > 0 || rc < -1)
		return rc;
	return 0;
}

/* BPE: tokenizer.ggml.pre names the pre-tokenizer (gpt-2 when absent),
 * whose regular expressions split the text before merging; then the merges */
static int read_bpe(fp_tokenizer *t, const gguf_file *f, fp_error *err)
{
	gguf_str pre = {0};
	int rc = gguf_get_str(f, "tokenizer.ggml.pre", &pre, err);
	if (rc < -1)
		return rc;
	if (rc == -1)
		pre = (gguf_str){"gpt-2", 5};
	snprintf(t->pre, sizeof t->pre, "%.*s", (int)(pre.len < 31 ? pre.len : 31), pre.ptr);
	if (!strcmp(t->pre, "gpt-2") || !strcmp(t->pre, "gpt2")) {
		rc = compile_re(t, RE_GPT2, err);
	} else if (!strcmp(t->pre, "smollm")) {
		rc = compile_re(t, "\\p{N}", err);
		if (!rc)
			rc = compile_re(t, RE_GPT2, err);
	} else if (!strcmp(t->pre, "llama-bpe") || !strcmp(t->pre, "llama3") || !strcmp(t->pre, "llama-v3")) {
		rc = compile_re(t, RE_LLAMA3, err);
		t->ignore_merges = 1;
	} else {
		rc = fp_error_set(err, FP_ERR_UNSUPPORTED,
				  "'%s': pre-tokenizer '%s' is not supported (gpt-2, smollm and llama-bpe are)", f->path,
				  t->pre);
	}
	if (rc)
		return rc;
	t->md = pcre2_match_data_create(4, NULL);
	if (!t->md)
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	return load_merges(t, f, err);
}

/* SentencePiece: no pre-tokenizer; bytes without a piece fall back to the
 * <0xXX> tokens */
static void set_spm_bytes(fp_tokenizer *t)
{
	snprintf(t->pre, sizeof t->pre, "spm");
	for (int b = 0; b < 256; b++) {
		char name[8];
		snprintf(name, sizeof name, "<0x%02X>", b);
		t->byte_tok[b] = fp_token_lookup(t, name, 6);
	}
}

int fp_tokenizer_load(fp_tokenizer **out, const gguf_file *f, fp_error *err)
{
	int rc;
	*out = NULL;
	fp_tokenizer *t = calloc(1, sizeof *t);
	if (!t)
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	t->bos = t->eos = t->unk = -1;
	for (int i = 0; i < 256; i++)
		t->byte_tok[i] = -1;
	tok_init_byte_map(t);
	if ((rc = read_kind(t, f, err)) || (rc = read_tokens(t, f, err)) || (rc = read_token_types(t, f, err)) ||
	    (rc = read_scores(t, f, err)) || (rc = read_specials(t, f, err)))
		goto fail;
	if (t->kind == FP_TOK_SPM)
		set_spm_bytes(t);
	else if ((rc = read_bpe(t, f, err)))
		goto fail;
	*out = t;
	return 0;
fail:
	fp_tokenizer_free(t);
	return rc;
}

int fp_tokenizer_n_vocab(const fp_tokenizer *t) { return t->n_vocab; }
int fp_tokenizer_kind(const fp_tokenizer *t) { return t->kind; }
const char *fp_tokenizer_pre(const fp_tokenizer *t) { return t->pre; }
int fp_tokenizer_bos(const fp_tokenizer *t) { return t->bos; }
int fp_tokenizer_eos(const fp_tokenizer *t) { return t->eos; }
int fp_tokenizer_adds_bos(const fp_tokenizer *t) { return t->add_bos; }

const char *fp_token_piece(const fp_tokenizer *t, int id, size_t *len)
{
	if (id < 0 || id >= t->n_vocab)
		return NULL;
	if (len)
		*len = t->len[id];
	return t->arena + t->off[id];
}

int fp_token_decode(const fp_tokenizer *t, int id, char *buf, size_t n)
{
	size_t plen, m = 0;
	const char *p = fp_token_piece(t, id, &plen);
	char tmp[8];
	if (!p)
		return -1;
	if (t->hf)
		return fp_hf_decode(t, id, buf, n);
	int raw = t->type[id] == TT_CONTROL || t->type[id] == TT_USER || t->type[id] == TT_UNKNOWN;
	for (size_t i = 0; i < plen;) {
		uint32_t cp;
		int l = tok_utf8_len((const unsigned char *)p + i, plen - i, &cp), k = 0;
		if (!l) { /* vocabularies should be UTF-8; copy a stray byte as is */
			tmp[k++] = p[i];
			l = 1;
		} else if (raw) {
			memcpy(tmp, p + i, (size_t)l), k = l;
		} else if (t->kind == FP_TOK_BPE && cp < 512 && t->cp2byte[cp] >= 0) {
			tmp[k++] = (char)t->cp2byte[cp];
		} else if (t->kind == FP_TOK_SPM && cp == 0x2581) {
			tmp[k++] = ' ';
		} else if (t->kind == FP_TOK_SPM && t->type[id] == TT_BYTE && plen == 6) {
			tmp[k++] = (char)strtol(p + 3, NULL, 16);
			l = 6;
		} else {
			memcpy(tmp, p + i, (size_t)l), k = l;
		}
		for (int j = 0; j < k; j++, m++)
			if (m + 1 < n)
				buf[m] = tmp[j];
		i += (size_t)l;
	}
	if (n)
		buf[m < n ? m : n - 1] = 0;
	return (int)m;
}
