/* tokenizer_hf.c - tokenizers from Hugging Face tokenizer.json files (the
 * `tokenizers` library's format), read with jansson.
 *
 * The pipeline is the file's own, step by step as `tokenizers` runs it:
 *   1. non-special added tokens are cut out of the text (leftmost-longest,
 *      with their lstrip / rstrip / single_word flags): first those with
 *      normalized = false on the raw text, then, after step 2, those with
 *      normalized = true on the normalized pieces.  Special added tokens
 *      (special = true) are NOT matched: text such as "<|im_start|>" is
 *      tokenized as plain text, the project's rule (tokenizer.h) and
 *      `tokenizers` with encode_special_tokens = True;
 *   2. normalizer: NFC, NFKC, NFD, NFKD and Lowercase (ICU), Replace (String
 *      or Regex pattern), Prepend, Strip, Sequence;
 *   3. pre_tokenizer: ByteLevel (add_prefix_space, use_regex: the GPT-2
 *      regex), Split (String or Regex pattern compiled from the file with
 *      PCRE2; behavior Removed, Isolated, MergedWithPrevious,
 *      MergedWithNext, Contiguous; invert), Metaspace (replacement,
 *      prepend_scheme first / always / never, split), Digits, Sequence.
 *      ByteLevel must come last: the pieces are then mapped byte by byte to
 *      GPT-2's printable code points;
 *   4. model BPE: merges by rank (lowest first, leftmost on ties), merges as
 *      "a b" strings or [a, b] arrays, ignore_merges, byte_fallback (<0xXX>
 *      tokens), unk_token with fuse_unk, dropout null or 0.  Or model
 *      Unigram (what transformers writes for a SentencePiece GGUF such as
 *      Gemma's): the best-scoring segmentation (Viterbi), unknown characters
 *      fused and byte_fallback;
 *   5. post_processor: TemplateProcessing (a special token before $A is the
 *      BOS; one after $A is refused), ByteLevel, Sequence, null.  When
 *      tokenizer_config.json names a tokenizer_class whose transformers
 *      class rewrites the template (Llama, CodeLlama, Gemma, GPTNeoX,
 *      Cohere), its add_bos_token overrides the template (add_eos_token is
 *      refused); other classes keep the template, as transformers does.
 *      Also as transformers does, a top-level ByteLevel pre_tokenizer takes
 *      the config's add_prefix_space (false when the key is absent).
 *      bos_token / eos_token come from
 *      tokenizer_config.json, else special_tokens_map.json, else the
 *      template.
 * Anything else that would change the ids (another model type (WordPiece), normalizer,
 * pre-tokenizer or post-processor, continuing_subword_prefix,
 * end_of_word_suffix, dropout) is an error naming it.
 *
 * Decoding one token (fp_token_decode) gives the bytes it stands for: an
 * added token's content as written; otherwise the file's decoder steps
 * (ByteFallback <0xXX> -> the byte, Replace, Metaspace replacement -> " ",
 * ByteLevel code points -> bytes; Fuse and Strip act on whole texts and are
 * no-ops for one token).
 */
#include "tokenizer_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#define MAX_VOCAB (1 << 24)
#define MAX_STEPS 64

enum { N_REPLACE, N_PREPEND, N_LOWER, N_STRIP, N_NFC, N_NFKC, N_NFD, N_NFKD };
enum { P_SPLIT, P_METASPACE, P_BYTELEVEL };
enum { B_REMOVED, B_ISOLATED, B_PREV, B_NEXT, B_CONTIG };
enum { D_BYTEFALLBACK, D_REPLACE, D_BYTELEVEL };

typedef struct hf_norm {
	int kind;
	char *pat, *rep;   /* Replace: literal pattern (or re) and content; Prepend: rep */
	size_t pl, rl;
	pcre2_code *re;
	int left, right;   /* Strip */
} hf_norm;

typedef struct hf_pre {
	int kind;
	pcre2_code *re;    /* Split; ByteLevel with use_regex */
	int behavior, invert;
	int prefix_space;  /* ByteLevel add_prefix_space */
	char rep[8];       /* Metaspace replacement */
	size_t rl;
	int prepend;       /* Metaspace: 0 never, 1 first, 2 always */
	int split;
} hf_pre;

typedef struct hf_dec {
	int kind;
	char *pat, *rep;
	size_t pl, rl;
} hf_dec;

typedef struct hf_added {
	int id, normalized, lstrip, rstrip, single_word;
} hf_added;

struct fp_hf {
	hf_norm norm[MAX_STEPS];
	int n_norm;
	hf_pre pre[MAX_STEPS];
	int n_pre;
	hf_dec dec[MAX_STEPS];
	int n_dec;
	int byte_level;
	int byte_fallback, unk, fuse_unk;
	int unigram;       /* model.type Unigram: Viterbi over uscore */
	double *uscore, min_score;
	size_t max_piece;  /* bytes of the longest piece */
	int byte_id[256];  /* <0xXX> model tokens, -1 if absent */
	uint8_t *in_model; /* 1 for ids of the model's vocab (not added-only) */
	hf_added *add;     /* the non-special added tokens, longest first */
	int n_add;
	pcre2_code *re_word;
	pcre2_match_data *md;
};

/* ---- errors ---- */

typedef struct ctx {
	const char *dir;
	const char *file; /* "tokenizer.json", ... */
	fp_error *err;
} ctx;

static int ferr(const ctx *c, int code, const char *fmt, ...)
{
	char msg[384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return fp_error_set(c->err, code, "'%s%s%s': %s", c->dir ? c->dir : "", c->dir ? "/" : "", c->file, msg);
}

/* ---- piece lists ---- */

typedef struct piece {
	char *s;
	size_t n;
	int id;  /* an added token's id, or -1 for text */
	int at0; /* starts at offset 0 of the original text */
} piece;

typedef struct plist {
	piece *v;
	size_t n, cap;
} plist;

static int pl_push(plist *l, const char *s, size_t n, int id, int at0)
{
	if (!n)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		piece *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return -1;
		l->v = v, l->cap = cap;
	}
	char *c = malloc(n + 1);
	if (!c)
		return -1;
	memcpy(c, s, n);
	c[n] = 0;
	l->v[l->n++] = (piece){c, n, id, at0};
	return 0;
}

static void pl_free(plist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].s);
	free(l->v);
	*l = (plist){0};
}

/* ---- Unicode helpers ---- */

static int is_ws(uint32_t c)
{
	return (c >= 9 && c <= 13) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
	       c == 0x3000;
}

/* the code point ending at s[end) (end > 0) */
static uint32_t cp_before(const char *s, size_t end)
{
	size_t i = end - 1;
	while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80)
		i--;
	uint32_t cp = 0;
	tok_utf8_len((const unsigned char *)s + i, end - i, &cp);
	return cp;
}

static uint32_t cp_at(const char *s, size_t i, size_t n)
{
	uint32_t cp = 0;
	tok_utf8_len((const unsigned char *)s + i, n - i, &cp);
	return cp;
}

static size_t cp_bytes(uint32_t c)
{
	return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
}

static int is_word_char(const struct fp_hf *h, uint32_t cp)
{
	char b[4];
	int l = tok_utf8_put(b, cp);
	return pcre2_match(h->re_word, (PCRE2_SPTR)b, (size_t)l, 0, PCRE2_ANCHORED, h->md, NULL) >= 0;
}

/* ICU normalization or lowercasing of s (n bytes) into a new buffer */
static int icu_apply(int kind, const char *s, size_t n, char **out, size_t *on)
{
	UErrorCode st = U_ZERO_ERROR;
	int32_t ul = 0, cap = (int32_t)n + 16, ol;
	UChar *u = malloc((size_t)cap * sizeof *u), *v = NULL;
	char *o = NULL;
	int rc = -1;
	if (!u || n > (1u << 28))
		goto done;
	u_strFromUTF8(u, cap, &ul, s, (int32_t)n, &st);
	if (U_FAILURE(st))
		goto done;
	for (int pass = 0; pass < 2; pass++) {
		int32_t vcap = pass ? ol + 1 : 2 * ul + 16;
		free(v);
		v = malloc((size_t)vcap * sizeof *v);
		if (!v)
			goto done;
		st = U_ZERO_ERROR;
		if (kind == N_LOWER) {
			/* code point by code point, with its full mapping (İ -> i̇) but
			 * no context (no final sigma), as Rust's char::to_lowercase */
			int over = 0;
			ol = 0;
			for (int32_t i = 0; i < ul;) {
				int32_t l = U16_IS_LEAD(u[i]) && i + 1 < ul ? 2 : 1, room = ol < vcap ? vcap - ol : 0;
				UErrorCode s2 = U_ZERO_ERROR;
				int32_t w = u_strToLower(room ? v + ol : NULL, room, u + i, l, "", &s2);
				if (s2 == U_BUFFER_OVERFLOW_ERROR)
					over = 1;
				else if (U_FAILURE(s2)) {
					st = s2;
					break;
				}
				ol += w;
				i += l;
			}
			if (over && U_SUCCESS(st))
				st = U_BUFFER_OVERFLOW_ERROR;
		} else {
			const UNormalizer2 *nm = kind == N_NFC	  ? unorm2_getNFCInstance(&st)
						 : kind == N_NFKC ? unorm2_getNFKCInstance(&st)
						 : kind == N_NFD  ? unorm2_getNFDInstance(&st)
								  : unorm2_getNFKDInstance(&st);
			if (U_FAILURE(st))
				goto done;
			ol = unorm2_normalize(nm, u, ul, v, vcap, &st);
		}
		if (st != U_BUFFER_OVERFLOW_ERROR)
			break;
	}
	if (U_FAILURE(st))
		goto done;
	o = malloc(4 * (size_t)ol + 1);
	int32_t bl = 0;
	if (!o)
		goto done;
	st = U_ZERO_ERROR;
	u_strToUTF8(o, 4 * ol + 1, &bl, v, ol, &st);
	if (U_FAILURE(st))
		goto done;
	*out = o, *on = (size_t)bl;
	o = NULL;
	rc = 0;
done:
	free(u), free(v), free(o);
	return rc;
}

/* every non-overlapping place of a literal pattern (pl > 0 bytes) replaced */
static int replace_lit(const char *s, size_t n, const char *pat, size_t pl, const char *rep, size_t rl, char **out,
		       size_t *on)
{
	size_t cnt = 0;
	for (size_t i = 0; i + pl <= n;)
		if (!memcmp(s + i, pat, pl))
			cnt++, i += pl;
		else
			i++;
	size_t cap = n + cnt * rl + 1;
	char *o = malloc(cap);
	if (!o)
		return -1;
	size_t m = 0;
	for (size_t i = 0; i < n;) {
		if (i + pl <= n && !memcmp(s + i, pat, pl)) {
			memcpy(o + m, rep, rl), m += rl, i += pl;
		} else {
			o[m++] = s[i++];
		}
	}
	o[m] = 0;
	*out = o, *on = m;
	return 0;
}

/* every match of re replaced by rep (literal) */
static int replace_re(const struct fp_hf *h, pcre2_code *re, const char *s, size_t n, const char *rep, size_t rl,
		      char **out, size_t *on)
{
	size_t cap = n + 16, m = 0, pos = 0, last = 0;
	char *o = malloc(cap);
	if (!o)
		return -1;
	while (pos <= n) {
		int rc = pcre2_match(re, (PCRE2_SPTR)s, n, pos, 0, h->md, NULL);
		if (rc < 0)
			break;
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(h->md);
		size_t need = m + (ov[0] - last) + rl + (n - ov[1]) + 1;
		if (need > cap) {
			char *x = realloc(o, cap = 2 * need);
			if (!x) {
				free(o);
				return -1;
			}
			o = x;
		}
		memcpy(o + m, s + last, ov[0] - last), m += ov[0] - last;
		memcpy(o + m, rep, rl), m += rl;
		last = ov[1];
		pos = ov[1];
		if (ov[1] == ov[0]) { /* empty match: step one character */
			if (pos >= n)
				break;
			pos++;
			while (pos < n && ((unsigned char)s[pos] & 0xc0) == 0x80)
				pos++;
			memcpy(o + m, s + last, pos - last), m += pos - last;
			last = pos;
		}
	}
	if (m + (n - last) + 1 > cap) {
		char *x = realloc(o, m + (n - last) + 1);
		if (!x) {
			free(o);
			return -1;
		}
		o = x;
	}
	memcpy(o + m, s + last, n - last), m += n - last;
	o[m] = 0;
	*out = o, *on = m;
	return 0;
}

/* ---- the pipeline ---- */

/* one normalizer step on a piece (in place) */
static int normalize(const struct fp_hf *h, const hf_norm *nm, piece *p)
{
	char *o = NULL;
	size_t on = 0;
	switch (nm->kind) {
	case N_REPLACE:
		if (nm->re ? replace_re(h, nm->re, p->s, p->n, nm->rep, nm->rl, &o, &on)
			   : replace_lit(p->s, p->n, nm->pat, nm->pl, nm->rep, nm->rl, &o, &on))
			return -1;
		break;
	case N_PREPEND:
		if (!p->n)
			return 0;
		if (!(o = malloc(p->n + nm->rl + 1)))
			return -1;
		memcpy(o, nm->rep, nm->rl);
		memcpy(o + nm->rl, p->s, p->n + 1);
		on = p->n + nm->rl;
		break;
	case N_STRIP: {
		size_t a = 0, b = p->n;
		uint32_t cp;
		while (nm->left && a < b) {
			int l = tok_utf8_len((const unsigned char *)p->s + a, b - a, &cp);
			if (!is_ws(cp))
				break;
			a += (size_t)l;
		}
		while (nm->right && b > a && is_ws(cp = cp_before(p->s, b)))
			b -= cp_bytes(cp);
		memmove(p->s, p->s + a, b - a);
		p->n = b - a;
		p->s[p->n] = 0;
		return 0;
	}
	default:
		if (icu_apply(nm->kind, p->s, p->n, &o, &on))
			return -1;
	}
	free(p->s);
	p->s = o, p->n = on;
	return 0;
}

/* Cuts the added tokens with this normalized flag out of the text pieces of
 * in onto out (leftmost-longest, then the flags, as tokenizers'
 * AddedVocabulary does). */
static int split_added(const fp_tokenizer *t, int normalized, plist *in, plist *out)
{
	const struct fp_hf *h = t->hf;
	for (size_t k = 0; k < in->n; k++) {
		piece *p = &in->v[k];
		if (p->id >= 0) {
			if (pl_push(out, p->s, p->n, p->id, p->at0))
				return -1;
			continue;
		}
		const char *s = p->s;
		size_t n = p->n, pos = 0, done = 0;
		while (pos < n) {
			size_t at = 0, tl = 0;
			const hf_added *best = NULL;
			for (size_t i = pos; i < n && !best; i++)
				for (int a = 0; a < h->n_add; a++) { /* longest first */
					const hf_added *ad = &h->add[a];
					size_t l = t->len[ad->id];
					if (ad->normalized == normalized && l <= n - i && s[i] == t->arena[t->off[ad->id]] &&
					    !memcmp(s + i, t->arena + t->off[ad->id], l)) {
						best = ad, at = i, tl = l;
						break;
					}
				}
			if (!best)
				break;
			size_t start = at, stop = at + tl;
			pos = stop;
			if (best->single_word && ((start > 0 && is_word_char(h, cp_before(s, start))) ||
						  (stop < n && is_word_char(h, cp_at(s, stop, n)))))
				continue;
			while (best->lstrip && start > done && is_ws(cp_before(s, start)))
				start -= cp_bytes(cp_before(s, start));
			while (best->rstrip && stop < n && is_ws(cp_at(s, stop, n)))
				stop += cp_bytes(cp_at(s, stop, n));
			if (pl_push(out, s + done, start - done, -1, p->at0 && done == 0) ||
			    pl_push(out, s + start, stop - start, best->id, 0))
				return -1;
			done = pos = stop;
		}
		if (pl_push(out, s + done, n - done, -1, p->at0 && done == 0))
			return -1;
	}
	return 0;
}

/* [a, b) pieces of a split, m: a match of the pattern */
typedef struct mt {
	size_t a, b;
	int m;
} mt;

/* Splits piece p by the pattern of pr (tokenizers' NormalizedString::split
 * with the step's behavior) onto out. */
static int split_piece(const struct fp_hf *h, const hf_pre *pr, int behavior, const piece *p, plist *out)
{
	size_t n = p->n, pos = 0, last = 0, k = 0;
	mt *v = malloc((2 * n + 2) * sizeof *v);
	if (!v)
		return -1;
	while (pos < n) {
		int rc = pcre2_match(pr->re, (PCRE2_SPTR)p->s, n, pos, 0, h->md, NULL);
		if (rc < 0)
			break;
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(h->md);
		if (ov[1] == ov[0]) { /* an empty match splits nothing: step one character */
			pos = ov[0] + 1;
			while (pos < n && ((unsigned char)p->s[pos] & 0xc0) == 0x80)
				pos++;
			continue;
		}
		if (ov[0] > last)
			v[k++] = (mt){last, ov[0], 0};
		v[k++] = (mt){ov[0], ov[1], 1};
		last = pos = ov[1];
	}
	if (last < n)
		v[k++] = (mt){last, n, 0};
	if (pr->invert)
		for (size_t i = 0; i < k; i++)
			v[i].m = !v[i].m;
	/* the behaviors, as tokenizers folds them */
	size_t w = 0;
	int prev = 0;
	if (behavior == B_NEXT) {
		for (size_t i = k; i-- > 0;) {
			if (v[i].m && !prev && w)
				v[k - w].a = v[i].a; /* reversed list in v[k - w ...]: merged into the next */
			else
				v[k - ++w] = v[i];
			prev = v[i].m;
		}
		memmove(v, v + k - w, w * sizeof *v);
	} else {
		for (size_t i = 0; i < k; i++) {
			mt x = v[i];
			if (behavior == B_REMOVED) {
				if (!x.m)
					v[w++] = x;
			} else if (behavior == B_ISOLATED) {
				v[w++] = x;
			} else if (behavior == B_PREV) {
				if (x.m && !prev && w)
					v[w - 1].b = x.b;
				else
					v[w++] = x;
			} else { /* B_CONTIG */
				if (x.m == prev && w)
					v[w - 1].b = x.b;
				else
					v[w++] = x;
			}
			prev = x.m;
		}
	}
	int rc = 0;
	for (size_t i = 0; i < w && !rc; i++)
		rc = pl_push(out, p->s + v[i].a, v[i].b - v[i].a, -1, p->at0 && v[i].a == 0);
	free(v);
	return rc;
}

/* one pre-tokenizer step on a text piece, onto out */
static int pre_step(const struct fp_hf *h, const hf_pre *pr, piece *p, plist *out)
{
	if (pr->kind == P_SPLIT)
		return split_piece(h, pr, pr->behavior, p, out);
	if (pr->kind == P_BYTELEVEL) {
		if (pr->prefix_space && p->s[0] != ' ') {
			char *o = malloc(p->n + 2);
			if (!o)
				return -1;
			o[0] = ' ';
			memcpy(o + 1, p->s, p->n + 1);
			free(p->s);
			p->s = o, p->n++;
		}
		if (pr->re)
			return split_piece(h, pr, B_ISOLATED, p, out);
		return pl_push(out, p->s, p->n, -1, p->at0);
	}
	/* Metaspace */
	char *o;
	size_t on;
	if (replace_lit(p->s, p->n, " ", 1, pr->rep, pr->rl, &o, &on))
		return -1;
	free(p->s);
	p->s = o, p->n = on;
	if ((pr->prepend == 2 || (pr->prepend == 1 && p->at0)) && !(p->n >= pr->rl && !memcmp(p->s, pr->rep, pr->rl))) {
		if (!(o = malloc(p->n + pr->rl + 1)))
			return -1;
		memcpy(o, pr->rep, pr->rl);
		memcpy(o + pr->rl, p->s, p->n + 1);
		free(p->s);
		p->s = o, p->n += pr->rl;
	}
	if (pr->split)
		return split_piece(h, pr, B_NEXT, p, out);
	return pl_push(out, p->s, p->n, -1, p->at0);
}

static int model_lookup(const fp_tokenizer *t, const char *s, size_t n)
{
	int id = fp_token_lookup(t, s, n);
	return id >= 0 && t->hf->in_model[id] ? id : -1;
}

/* the BPE model on one word (tokenizers' BPE::merge_word) */
static int bpe_hf(const fp_tokenizer *t, const char *w, size_t n, sym *s, int *rank, int *mid, idbuf *out)
{
	const struct fp_hf *h = t->hf;
	if (t->ignore_merges) {
		int id = model_lookup(t, w, n);
		if (id >= 0)
			return tok_ids_push(out, id);
	}
	int ns = 0, unk = 0;
	size_t unk_off = 0, unk_len = 0;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t l = (size_t)tok_utf8_len((const unsigned char *)w + i, n - i, &cp);
		int id = model_lookup(t, w + i, l), all = h->byte_fallback;
		for (size_t j = 0; j < l && all; j++)
			all = h->byte_id[(uint8_t)w[i + j]] >= 0;
		if (id >= 0) {
			if (unk)
				s[ns++] = (sym){unk_off, unk_len, h->unk}, unk = 0;
			s[ns++] = (sym){i, l, id};
		} else if (all) { /* a pending unknown stays pending, as in tokenizers */
			for (size_t j = 0; j < l; j++)
				s[ns++] = (sym){i + j, 1, h->byte_id[(uint8_t)w[i + j]]};
		} else if (h->unk >= 0) {
			if (unk && h->fuse_unk) {
				unk_len += l;
			} else {
				if (unk)
					s[ns++] = (sym){unk_off, unk_len, h->unk};
				unk = 1, unk_off = i, unk_len = l;
			}
		} /* no unk_token: the character is dropped, as in tokenizers */
		i += l;
	}
	if (unk)
		s[ns++] = (sym){unk_off, unk_len, h->unk};
	ns = tok_bpe_merge(&t->merges, s, ns, rank, mid);
	for (int i = 0; i < ns; i++)
		if (tok_ids_push(out, s[i].id))
			return -1;
	return 0;
}

/* the Unigram model on one word (tokenizers' Unigram::encode_optimized:
 * the best-scoring segmentation, a character that starts no piece costs
 * min_score - 10 as unknown; the first of equal scores wins; runs of
 * unknowns are fused, then looked up, else byte fallback, else unk) */
static int unigram_word(const fp_tokenizer *t, const char *w, size_t n, idbuf *out, fp_error *err)
{
	const struct fp_hf *h = t->hf;
	double *sc = malloc((n + 1) * sizeof *sc), unk_score = h->min_score - 10.0;
	long *from = malloc((n + 1) * sizeof *from);
	int *id = malloc((n + 1) * sizeof *id), rc = FP_ERR_NOMEM;
	span *seg = malloc((n + 1) * sizeof *seg);
	if (!sc || !from || !id || !seg)
		goto done;
	for (size_t i = 0; i <= n; i++)
		sc[i] = 0, from[i] = -1, id[i] = -1;
	for (size_t a = 0; a < n;) {
		uint32_t cp;
		size_t mb = (size_t)tok_utf8_len((const unsigned char *)w + a, n - a, &cp);
		int single = 0;
		for (size_t l = 1; l <= h->max_piece && a + l <= n; l++) {
			if (a + l < n && ((unsigned char)w[a + l] & 0xc0) == 0x80)
				continue; /* not a character boundary */
			int tid = model_lookup(t, w + a, l);
			if (tid < 0)
				continue;
			double cand = sc[a] + h->uscore[tid];
			if (from[a + l] < 0 || cand > sc[a + l])
				sc[a + l] = cand, from[a + l] = (long)a, id[a + l] = tid;
			single |= l == mb;
		}
		if (!single) {
			if (h->unk < 0) {
				rc = fp_error_set(err, FP_ERR_INVALID, "the character at byte %zu of a word is no piece of the "
						  "Unigram vocabulary, which has no unk_id", a);
				goto done;
			}
			double cand = sc[a] + unk_score;
			if (from[a + mb] < 0 || cand > sc[a + mb])
				sc[a + mb] = cand, from[a + mb] = (long)a, id[a + mb] = h->unk;
		}
		a += mb;
	}
	/* back from the end; seg[k] = [off, off + len) with id[] at its end, a
	 * fused run of unknowns as one segment marked by len's top bit */
	size_t k = 0, end = n;
	const size_t RUN = (size_t)1 << (sizeof(size_t) * 8 - 1);
	while (end > 0) {
		size_t a = (size_t)from[end];
		if (id[end] == h->unk && k && (seg[k - 1].len & RUN) && seg[k - 1].off == end)
			seg[k - 1].off = a, seg[k - 1].len = ((seg[k - 1].len & ~RUN) + end - a) | RUN;
		else
			seg[k++] = (span){a, (end - a) | (id[end] == h->unk ? RUN : 0)};
		end = a;
	}
	rc = FP_ERR_NOMEM;
	while (k-- > 0) {
		size_t a = seg[k].off, l = seg[k].len & ~RUN;
		int tid = model_lookup(t, w + a, l);
		if (!(seg[k].len & RUN) || tid >= 0) {
			if (tok_ids_push(out, tid >= 0 ? tid : h->unk))
				goto done;
			continue;
		}
		int all = h->byte_fallback;
		for (size_t j = 0; j < l && all; j++)
			all = h->byte_id[(uint8_t)w[a + j]] >= 0;
		for (size_t j = 0; all && j < l; j++)
			if (tok_ids_push(out, h->byte_id[(uint8_t)w[a + j]]))
				goto done;
		if (!all && tok_ids_push(out, h->unk))
			goto done;
	}
	rc = 0;
done:
	if (rc == FP_ERR_NOMEM)
		fp_error_set(err, rc, "out of memory while tokenizing");
	free(sc), free(from), free(id), free(seg);
	return rc;
}

int fp_hf_tokenize(const fp_tokenizer *t, const char *text, size_t len, idbuf *out, fp_error *err)
{
	const struct fp_hf *h = t->hf;
	plist a = {0}, b = {0};
	char *w = NULL;
	sym *s = NULL;
	int *ia = NULL, *ib = NULL;
	if (!len)
		return 0;
	if (pl_push(&a, text, len, -1, 1) || split_added(t, 0, &a, &b))
		goto nomem;
	pl_free(&a), a = b, b = (plist){0};
	for (size_t k = 0; k < a.n; k++)
		for (int i = 0; i < h->n_norm && a.v[k].id < 0; i++)
			if (normalize(h, &h->norm[i], &a.v[k]))
				goto nomem;
	if (split_added(t, 1, &a, &b))
		goto nomem;
	pl_free(&a), a = b, b = (plist){0};
	for (int i = 0; i < h->n_pre; i++) {
		for (size_t k = 0; k < a.n; k++) {
			piece *p = &a.v[k];
			if (p->id >= 0 ? pl_push(&b, p->s, p->n, p->id, 0) : pre_step(h, &h->pre[i], p, &b))
				goto nomem;
		}
		pl_free(&a), a = b, b = (plist){0};
	}
	size_t maxw = 0;
	for (size_t k = 0; k < a.n; k++)
		if (a.v[k].n > maxw)
			maxw = a.v[k].n;
	w = malloc(2 * maxw + 1);
	s = malloc((2 * maxw + 1) * sizeof *s);
	ia = malloc((2 * maxw + 1) * sizeof *ia);
	ib = malloc((2 * maxw + 1) * sizeof *ib);
	if (!w || !s || !ia || !ib)
		goto nomem;
	for (size_t k = 0; k < a.n; k++) {
		piece *p = &a.v[k];
		if (p->id >= 0) {
			if (tok_ids_push(out, p->id))
				goto nomem;
			continue;
		}
		const char *word = p->s;
		size_t m = p->n;
		if (h->byte_level) {
			m = 0;
			for (size_t i = 0; i < p->n; i++)
				m += (size_t)tok_utf8_put(w + m, t->byte2cp[(uint8_t)p->s[i]]);
			word = w;
		}
		if (h->unigram) {
			int rc = unigram_word(t, word, m, out, err);
			if (rc) {
				pl_free(&a);
				free(w), free(s), free(ia), free(ib);
				return rc;
			}
		} else if (bpe_hf(t, word, m, s, ia, ib, out)) {
			goto nomem;
		}
	}
	pl_free(&a);
	free(w), free(s), free(ia), free(ib);
	return 0;
nomem:
	pl_free(&a), pl_free(&b);
	free(w), free(s), free(ia), free(ib);
	return fp_error_set(err, FP_ERR_NOMEM, "out of memory while tokenizing");
}

/* ---- decoding one token ---- */

int fp_hf_decode(const fp_tokenizer *t, int id, char *buf, size_t n)
{
	const struct fp_hf *h = t->hf;
	size_t pl = t->len[id], m = 0;
	const char *p = t->arena + t->off[id];
	char *cur = malloc(pl + 1), *o;
	size_t cl = pl, on;
	if (!cur)
		return -1;
	memcpy(cur, p, pl + 1);
	int added = t->type[id] == TT_CONTROL || t->type[id] == TT_USER;
	for (int i = 0; i < h->n_dec && !added; i++) {
		const hf_dec *d = &h->dec[i];
		if (d->kind == D_BYTEFALLBACK) {
			if (cl == 6 && !memcmp(cur, "<0x", 3) && cur[5] == '>') {
				cur[0] = (char)strtol(cur + 3, NULL, 16);
				cl = 1;
				break; /* a raw byte: no later step applies to it */
			}
		} else if (d->kind == D_REPLACE) {
			if (replace_lit(cur, cl, d->pat, d->pl, d->rep, d->rl, &o, &on)) {
				free(cur);
				return -1;
			}
			free(cur);
			cur = o, cl = on;
		} else { /* ByteLevel: every code point back to its byte, else the token as is */
			size_t k = 0, j = 0;
			for (; j < cl;) {
				uint32_t cp;
				int l = tok_utf8_len((const unsigned char *)cur + j, cl - j, &cp);
				if (!l || cp >= 512 || t->cp2byte[cp] < 0)
					break;
				j += (size_t)l;
				k++;
			}
			if (j == cl) {
				size_t q = 0;
				for (j = 0; j < cl;) {
					uint32_t cp;
					j += (size_t)tok_utf8_len((const unsigned char *)cur + j, cl - j, &cp);
					cur[q++] = (char)t->cp2byte[cp];
				}
				cl = q;
			}
		}
	}
	for (size_t j = 0; j < cl; j++, m++)
		if (m + 1 < n)
			buf[m] = cur[j];
	if (n)
		buf[m < n ? m : n - 1] = 0;
	free(cur);
	return (int)m;
}

/* ---- loading ---- */

void fp_hf_free(struct fp_hf *h)
{
	if (!h)
		return;
	for (int i = 0; i < h->n_norm; i++) {
		free(h->norm[i].pat), free(h->norm[i].rep);
		pcre2_code_free(h->norm[i].re);
	}
	for (int i = 0; i < h->n_pre; i++)
		pcre2_code_free(h->pre[i].re);
	for (int i = 0; i < h->n_dec; i++)
		free(h->dec[i].pat), free(h->dec[i].rep);
	pcre2_code_free(h->re_word);
	pcre2_match_data_free(h->md);
	free(h->in_model);
	free(h->add);
	free(h->uscore);
	free(h);
}

static const char *jtype(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE: case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* optional boolean field; absent or null keeps *v */
static int get_bool(const ctx *c, const json_t *o, const char *path, const char *key, int *v)
{
	json_t *j = json_object_get(o, key);
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_boolean(j))
		return ferr(c, FP_ERR_FORMAT, "%s.%s must be a boolean, not %s", path, key, jtype(j));
	*v = json_is_true(j);
	return 0;
}

/* required (or, with opt, optional: *s = NULL) string field */
static int get_str(const ctx *c, const json_t *o, const char *path, const char *key, int opt, const char **s,
		   size_t *n)
{
	json_t *j = json_object_get(o, key);
	*s = NULL, *n = 0;
	if ((!j || json_is_null(j)) && opt)
		return 0;
	if (!j)
		return ferr(c, FP_ERR_FORMAT, "%s.%s is missing", path, key);
	if (!json_is_string(j))
		return ferr(c, FP_ERR_FORMAT, "%s.%s must be a string, not %s", path, key, jtype(j));
	*s = json_string_value(j), *n = json_string_length(j);
	return 0;
}

static int compile(const ctx *c, struct fp_hf *h, const char *pat, size_t n, int literal, const char *path,
		   pcre2_code **re)
{
	int ec;
	PCRE2_SIZE eo;
	*re = pcre2_compile((PCRE2_SPTR)pat, n, literal ? PCRE2_UTF | PCRE2_LITERAL : PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
	if (!*re) {
		PCRE2_UCHAR msg[128];
		pcre2_get_error_message(ec, msg, sizeof msg);
		return ferr(c, FP_ERR_UNSUPPORTED, "%s: regex does not compile (PCRE2, at offset %zu): %s", path,
			    (size_t)eo, (char *)msg);
	}
	return 0;
}

/* a pattern object {"String": s} or {"Regex": r}: compiled, and the literal kept */
static int get_pattern(const ctx *c, struct fp_hf *h, const json_t *o, const char *path, pcre2_code **re,
		       const char **lit, size_t *ll)
{
	json_t *p = json_object_get(o, "pattern");
	const char *s;
	size_t n;
	char sub[160];
	snprintf(sub, sizeof sub, "%s.pattern", path);
	if (!json_is_object(p))
		return ferr(c, FP_ERR_FORMAT, "%s must be an object with String or Regex", sub);
	int rc;
	if (json_object_get(p, "String")) {
		if ((rc = get_str(c, p, sub, "String", 0, &s, &n)))
			return rc;
		if (!n)
			return ferr(c, FP_ERR_FORMAT, "%s.String is empty", sub);
		if (lit)
			*lit = s, *ll = n;
		return re ? compile(c, h, s, n, 1, sub, re) : 0;
	}
	if ((rc = get_str(c, p, sub, "Regex", 0, &s, &n)))
		return rc;
	if (!re)
		return ferr(c, FP_ERR_UNSUPPORTED, "%s.Regex is not supported here (only String)", sub);
	if (lit)
		*lit = NULL;
	return compile(c, h, s, n, 0, sub, re);
}

static char *dupn(const char *s, size_t n)
{
	char *o = malloc(n + 1);
	if (o) {
		memcpy(o, s, n);
		o[n] = 0;
	}
	return o;
}

/* A component (normalizer, pre_tokenizer, decoder, post_processor): null,
 * a Sequence of components under list_key, or one step handed to leaf. */
typedef int (*leaf_fn)(const ctx *c, void *arg, const json_t *j, const char *path, const char *type);

static int walk(const ctx *c, const json_t *j, const char *path, const char *list_key, int depth, leaf_fn leaf,
		void *arg)
{
	const char *type;
	size_t tl;
	int rc;
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_object(j))
		return ferr(c, FP_ERR_FORMAT, "%s must be an object or null, not %s", path, jtype(j));
	if ((rc = get_str(c, j, path, "type", 0, &type, &tl)))
		return rc;
	if (strcmp(type, "Sequence"))
		return leaf(c, arg, j, path, type);
	json_t *a = json_object_get(j, list_key);
	if (!json_is_array(a))
		return ferr(c, FP_ERR_FORMAT, "%s.%s must be an array", path, list_key);
	if (depth > 8)
		return ferr(c, FP_ERR_FORMAT, "%s: Sequence nested too deep", path);
	for (size_t i = 0; i < json_array_size(a); i++) {
		char sub[160];
		snprintf(sub, sizeof sub, "%s.%s[%zu]", path, list_key, i);
		if ((rc = walk(c, json_array_get(a, i), sub, list_key, depth + 1, leaf, arg)))
			return rc;
	}
	return 0;
}

static int norm_leaf(const ctx *c, void *arg, const json_t *j, const char *path, const char *type)
{
	struct fp_hf *h = arg;
	int rc;
	if (h->n_norm == MAX_STEPS)
		return ferr(c, FP_ERR_FORMAT, "%s: more than %d normalizers", path, MAX_STEPS);
	hf_norm *nm = &h->norm[h->n_norm];
	*nm = (hf_norm){0};
	const char *s;
	size_t n;
	if (!strcmp(type, "Replace")) {
		nm->kind = N_REPLACE;
		const char *lit = NULL;
		size_t ll = 0;
		if ((rc = get_pattern(c, h, j, path, &nm->re, &lit, &ll)) || (rc = get_str(c, j, path, "content", 0, &s, &n)))
			goto fail;
		if (lit) { /* a literal: replaced by plain search */
			pcre2_code_free(nm->re);
			nm->re = NULL;
			nm->pat = dupn(lit, ll), nm->pl = ll;
		}
		nm->rep = dupn(s, n), nm->rl = n;
		if ((lit && !nm->pat) || !nm->rep) {
			rc = ferr(c, FP_ERR_NOMEM, "out of memory");
			goto fail;
		}
	} else if (!strcmp(type, "Prepend")) {
		nm->kind = N_PREPEND;
		if ((rc = get_str(c, j, path, "prepend", 0, &s, &n)))
			return rc;
		if (!(nm->rep = dupn(s, n)))
			return ferr(c, FP_ERR_NOMEM, "out of memory");
		nm->rl = n;
	} else if (!strcmp(type, "Lowercase")) {
		nm->kind = N_LOWER;
	} else if (!strcmp(type, "Strip")) {
		nm->kind = N_STRIP;
		nm->left = nm->right = 1;
		if ((rc = get_bool(c, j, path, "strip_left", &nm->left)) || (rc = get_bool(c, j, path, "strip_right", &nm->right)))
			return rc;
	} else if (!strcmp(type, "NFC") || !strcmp(type, "NFKC") || !strcmp(type, "NFD") || !strcmp(type, "NFKD")) {
		nm->kind = !strcmp(type, "NFC") ? N_NFC : !strcmp(type, "NFKC") ? N_NFKC : !strcmp(type, "NFD") ? N_NFD : N_NFKD;
	} else {
		return ferr(c, FP_ERR_UNSUPPORTED,
			    "%s.type '%.40s' is not supported (NFC, NFKC, NFD, NFKD, Lowercase, Replace, Prepend, Strip, "
			    "Sequence are)", path, type);
	}
	h->n_norm++;
	return 0;
fail:
	h->n_norm++; /* freed with the rest */
	return rc;
}

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

static int pre_leaf(const ctx *c, void *arg, const json_t *j, const char *path, const char *type)
{
	struct fp_hf *h = arg;
	const char *s;
	size_t n;
	int rc;
	if (h->n_pre == MAX_STEPS)
		return ferr(c, FP_ERR_FORMAT, "%s: more than %d pre-tokenizers", path, MAX_STEPS);
	if (h->n_pre && h->pre[h->n_pre - 1].kind == P_BYTELEVEL)
		return ferr(c, FP_ERR_UNSUPPORTED, "%s: a pre-tokenizer after ByteLevel is not supported", path);
	hf_pre *pr = &h->pre[h->n_pre];
	*pr = (hf_pre){0};
	if (!strcmp(type, "ByteLevel")) {
		int use_regex = 1;
		pr->kind = P_BYTELEVEL;
		if ((rc = get_bool(c, j, path, "add_prefix_space", &pr->prefix_space)) ||
		    (rc = get_bool(c, j, path, "use_regex", &use_regex)))
			return rc;
		if (use_regex && (rc = compile(c, h, RE_GPT2, PCRE2_ZERO_TERMINATED, 0, path, &pr->re)))
			return rc;
		h->byte_level = 1;
	} else if (!strcmp(type, "Split")) {
		pr->kind = P_SPLIT;
		h->n_pre++; /* owns pr->re from here */
		if ((rc = get_pattern(c, h, j, path, &pr->re, NULL, NULL)) || (rc = get_str(c, j, path, "behavior", 0, &s, &n)) ||
		    (rc = get_bool(c, j, path, "invert", &pr->invert)))
			return rc;
		static const char *const B[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
		pr->behavior = -1;
		for (int i = 0; i < 5; i++)
			if (!strcmp(s, B[i]))
				pr->behavior = i;
		if (pr->behavior < 0)
			return ferr(c, FP_ERR_UNSUPPORTED, "%s.behavior '%.40s' is not one of Removed, Isolated, "
				    "MergedWithPrevious, MergedWithNext, Contiguous", path, s);
		return 0;
	} else if (!strcmp(type, "Digits")) {
		int individual = 0;
		pr->kind = P_SPLIT;
		pr->behavior = B_ISOLATED;
		if ((rc = get_bool(c, j, path, "individual_digits", &individual)) ||
		    (rc = compile(c, h, individual ? "\\p{N}" : "\\p{N}+", PCRE2_ZERO_TERMINATED, 0, path, &pr->re)))
			return rc;
	} else if (!strcmp(type, "Metaspace")) {
		pr->kind = P_METASPACE;
		pr->split = 1;
		if ((rc = get_str(c, j, path, "replacement", 0, &s, &n)))
			return rc;
		uint32_t cp;
		if (!n || n > 4 || tok_utf8_len((const unsigned char *)s, n, &cp) != (int)n)
			return ferr(c, FP_ERR_FORMAT, "%s.replacement must be one character", path);
		memcpy(pr->rep, s, n), pr->rl = n;
		pr->prepend = 2;
		int legacy = 1;
		if ((rc = get_bool(c, j, path, "split", &pr->split)) || (rc = get_bool(c, j, path, "add_prefix_space", &legacy)))
			return rc;
		pr->prepend = legacy ? 2 : 0;
		if ((rc = get_str(c, j, path, "prepend_scheme", 1, &s, &n)))
			return rc;
		if (s) {
			pr->prepend = !strcmp(s, "never") ? 0 : !strcmp(s, "first") ? 1 : !strcmp(s, "always") ? 2 : -1;
			if (pr->prepend < 0)
				return ferr(c, FP_ERR_UNSUPPORTED, "%s.prepend_scheme '%.40s' is not one of first, always, never",
					    path, s);
		}
		if ((rc = compile(c, h, pr->rep, pr->rl, 1, path, &pr->re)))
			return rc;
	} else {
		return ferr(c, FP_ERR_UNSUPPORTED,
			    "%s.type '%.40s' is not supported (ByteLevel, Split, Metaspace, Digits, Sequence are)", path, type);
	}
	h->n_pre++;
	return 0;
}

static int dec_leaf(const ctx *c, void *arg, const json_t *j, const char *path, const char *type)
{
	struct fp_hf *h = arg;
	const char *s, *lit;
	size_t n, ll;
	int rc;
	if (!strcmp(type, "Fuse") || !strcmp(type, "Strip"))
		return 0; /* act on a whole decoded text, not on one token */
	if (h->n_dec == MAX_STEPS)
		return ferr(c, FP_ERR_FORMAT, "%s: more than %d decoders", path, MAX_STEPS);
	hf_dec *d = &h->dec[h->n_dec];
	*d = (hf_dec){0};
	if (!strcmp(type, "ByteLevel")) {
		d->kind = D_BYTELEVEL;
	} else if (!strcmp(type, "ByteFallback")) {
		d->kind = D_BYTEFALLBACK;
	} else if (!strcmp(type, "Replace") || !strcmp(type, "Metaspace")) {
		d->kind = D_REPLACE;
		if (!strcmp(type, "Replace")) {
			if ((rc = get_pattern(c, h, j, path, NULL, &lit, &ll)) || (rc = get_str(c, j, path, "content", 0, &s, &n)))
				return rc;
		} else {
			if ((rc = get_str(c, j, path, "replacement", 0, &lit, &ll)))
				return rc;
			if (!ll)
				return ferr(c, FP_ERR_FORMAT, "%s.replacement is empty", path);
			s = " ", n = 1;
		}
		h->n_dec++;
		d->pat = dupn(lit, ll), d->pl = ll;
		d->rep = dupn(s, n), d->rl = n;
		if (!d->pat || !d->rep)
			return ferr(c, FP_ERR_NOMEM, "out of memory");
		return 0;
	} else {
		return ferr(c, FP_ERR_UNSUPPORTED,
			    "%s.type '%.40s' is not supported (ByteLevel, ByteFallback, Replace, Metaspace, Fuse, Strip, "
			    "Sequence are)", path, type);
	}
	h->n_dec++;
	return 0;
}

/* post_processor: the id a template puts before the text (-1 if none) */
typedef struct post_arg {
	const fp_tokenizer *t;
	int bos;
} post_arg;

static int post_leaf(const ctx *c, void *arg, const json_t *j, const char *path, const char *type)
{
	post_arg *pa = arg;
	const fp_tokenizer *t = pa->t;
	int *bos = &pa->bos;
	if (!strcmp(type, "ByteLevel"))
		return 0; /* offsets only */
	if (strcmp(type, "TemplateProcessing"))
		return ferr(c, FP_ERR_UNSUPPORTED,
			    "%s.type '%.40s' is not supported (TemplateProcessing, ByteLevel, Sequence are)", path, type);
	json_t *single = json_object_get(j, "single"), *sp = json_object_get(j, "special_tokens");
	if (!json_is_array(single))
		return ferr(c, FP_ERR_FORMAT, "%s.single must be an array", path);
	int seen_a = 0;
	for (size_t i = 0; i < json_array_size(single); i++) {
		json_t *e = json_array_get(single, i), *x;
		if ((x = json_object_get(e, "Sequence"))) {
			if (seen_a)
				return ferr(c, FP_ERR_UNSUPPORTED, "%s.single[%zu]: a second sequence", path, i);
			seen_a = 1;
			continue;
		}
		x = json_object_get(e, "SpecialToken");
		json_t *name = json_object_get(x, "id");
		if (!json_is_string(name))
			return ferr(c, FP_ERR_FORMAT, "%s.single[%zu] must be {\"Sequence\": ...} or {\"SpecialToken\": {\"id\": NAME}}",
				    path, i);
		json_t *ids = json_object_get(json_object_get(sp, json_string_value(name)), "ids");
		if (!json_is_array(ids) || json_array_size(ids) != 1 || !json_is_integer(json_array_get(ids, 0)))
			return ferr(c, FP_ERR_UNSUPPORTED, "%s.special_tokens['%.40s'].ids must be one id", path,
				    json_string_value(name));
		json_int_t id = json_integer_value(json_array_get(ids, 0));
		if (id < 0 || id >= t->n_vocab)
			return ferr(c, FP_ERR_FORMAT, "%s.special_tokens['%.40s'].ids: %lld is outside the vocabulary of %d",
				    path, json_string_value(name), (long long)id, t->n_vocab);
		if (seen_a)
			return ferr(c, FP_ERR_UNSUPPORTED,
				    "%s.single adds '%.40s' after the text (an EOS after every prompt): not supported", path,
				    json_string_value(name));
		if (*bos >= 0)
			return ferr(c, FP_ERR_UNSUPPORTED, "%s.single adds more than one token before the text", path);
		*bos = (int)id;
	}
	return 0;
}

/* a token named in tokenizer_config.json / special_tokens_map.json: a string,
 * or an AddedToken object with "content"; -2 if absent or null */
static int named_token(const ctx *c, const fp_tokenizer *t, const json_t *o, const char *key, int *id)
{
	json_t *j = json_object_get(o, key);
	*id = -2;
	if (!j || json_is_null(j))
		return 0;
	if (json_is_object(j))
		j = json_object_get(j, "content");
	if (!json_is_string(j))
		return ferr(c, FP_ERR_FORMAT, "%s must be a string or an object with \"content\"", key);
	*id = fp_token_lookup(t, json_string_value(j), json_string_length(j));
	if (*id < 0)
		return ferr(c, FP_ERR_FORMAT, "%s '%.40s' is not a token of tokenizer.json", key, json_string_value(j));
	return 0;
}

/* ints_as_real: for the config files, whose model_max_length can be 1e30 */
static json_t *load_json(const ctx *c, const char *buf, size_t len, int ints_as_real, int *rc)
{
	json_error_t je;
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | (ints_as_real ? JSON_DECODE_INT_AS_REAL : 0),
			       &je);
	*rc = 0;
	if (!j)
		*rc = ferr(c, FP_ERR_FORMAT, "line %d, column %d: %s", je.line, je.column, je.text);
	else if (!json_is_object(j))
		*rc = ferr(c, FP_ERR_FORMAT, "the top level must be an object, not %s", jtype(j));
	if (*rc) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* The first pass over model.vocab (nv entries: ["piece", score] when list,
 * else "piece": id) and added_tokens: every entry checked, the pieces'
 * bytes into *total and the largest id into *max_id. */
static int vocab_measure(const ctx *c, const json_t *vocab, const json_t *added, int list, size_t *total,
			 int64_t *max_id)
{
	const char *key;
	json_t *v;
	size_t nv = list ? json_array_size(vocab) : json_object_size(vocab), na = json_array_size(added);
	if (nv > MAX_VOCAB || na > MAX_VOCAB)
		return ferr(c, FP_ERR_FORMAT, "%zu vocabulary entries and %zu added tokens: too many", nv, na);
	for (size_t i = 0; list && i < nv; i++) {
		json_t *e = json_array_get(vocab, i);
		if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_string(json_array_get(e, 0)) ||
		    !json_is_number(json_array_get(e, 1)))
			return ferr(c, FP_ERR_FORMAT, "model.vocab[%zu] must be [\"piece\", score]", i);
		*total += json_string_length(json_array_get(e, 0)) + 1;
		*max_id = (int64_t)i;
	}
	if (!list)
	json_object_foreach((json_t *)vocab, key, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= MAX_VOCAB)
			return ferr(c, FP_ERR_FORMAT, "model.vocab['%.40s'] must be an id from 0 to %d", key, MAX_VOCAB - 1);
		if (json_integer_value(v) > *max_id)
			*max_id = json_integer_value(v);
		*total += strlen(key) + 1;
	}
	for (size_t i = 0; i < na; i++) {
		json_t *a = json_array_get(added, i), *id = json_object_get(a, "id"), *ct = json_object_get(a, "content");
		if (!json_is_object(a) || !json_is_integer(id) || json_integer_value(id) < 0 ||
		    json_integer_value(id) >= MAX_VOCAB)
			return ferr(c, FP_ERR_FORMAT, "added_tokens[%zu].id must be an id from 0 to %d", i, MAX_VOCAB - 1);
		if (!json_is_string(ct) || !json_string_length(ct))
			return ferr(c, FP_ERR_FORMAT, "added_tokens[%zu].content must be a non-empty string", i);
		if (json_integer_value(id) > *max_id)
			*max_id = json_integer_value(id);
		*total += json_string_length(ct) + 1;
	}
	return 0;
}

/* t->n_vocab ids' tables, every id unused until a piece takes it; the arena
 * of total bytes after offset 0, the empty piece of an id no token has */
static int vocab_alloc(const ctx *c, fp_tokenizer *t, size_t total, size_t na)
{
	struct fp_hf *h = t->hf;
	size_t nt = (size_t)t->n_vocab;
	t->arena = malloc(total + nt + 1);
	t->off = calloc(nt, sizeof *t->off);
	t->len = malloc(nt * sizeof *t->len);
	t->score = calloc(nt, sizeof *t->score);
	t->type = malloc(nt * sizeof *t->type);
	h->in_model = calloc(nt, 1);
	h->add = malloc((na + 1) * sizeof *h->add);
	t->map.cap = tok_pow2_above(nt);
	t->map.slot = malloc(t->map.cap * sizeof *t->map.slot);
	if (!t->arena || !t->off || !t->len || !t->score || !t->type || !h->in_model || !h->add || !t->map.slot)
		return ferr(c, FP_ERR_NOMEM, "out of memory loading the vocabulary of %zu tokens", nt);
	memset(t->map.slot, 0xff, t->map.cap * sizeof *t->map.slot);
	for (size_t i = 0; i < nt; i++)
		t->len[i] = UINT32_MAX, t->type[i] = TT_UNUSED;
	t->arena[0] = 0;
	if (h->unigram && !(h->uscore = malloc(nt * sizeof *h->uscore)))
		return ferr(c, FP_ERR_NOMEM, "out of memory loading the vocabulary of %zu tokens", nt);
	return 0;
}

/* Unigram's [["piece", score], ...]: id i is entry i; a piece listed twice
 * maps to its last id, as in tokenizers' map */
static void vocab_put_list(fp_tokenizer *t, const json_t *vocab, size_t *o)
{
	struct fp_hf *h = t->hf;
	size_t nv = json_array_size(vocab);
	for (size_t i = 0; i < nv; i++) {
		json_t *e = json_array_get(vocab, i), *pc = json_array_get(e, 0);
		size_t l = json_string_length(pc);
		memcpy(t->arena + *o, json_string_value(pc), l);
		t->arena[*o + l] = 0;
		t->off[i] = (uint32_t)*o, t->len[i] = (uint32_t)l, t->type[i] = TT_NORMAL;
		h->uscore[i] = json_number_value(json_array_get(e, 1));
		t->score[i] = (float)h->uscore[i];
		h->in_model[i] = 1;
		*o += l + 1;
		if (l > h->max_piece)
			h->max_piece = l;
	}
	for (size_t i = nv; i-- > 0;)
		if (t->len[i])
			tok_strmap_put(t, (int)i);
}

/* BPE's {"piece": id, ...}: no id and no piece twice */
static int vocab_put_map(const ctx *c, fp_tokenizer *t, const json_t *vocab, size_t *o)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)vocab, key, v) {
		int id = (int)json_integer_value(v);
		size_t l = strlen(key);
		if (t->len[id] != UINT32_MAX)
			return ferr(c, FP_ERR_FORMAT, "model.vocab: id %d is given to both '%.40s' and '%.40s'", id,
				    t->arena + t->off[id], key);
		memcpy(t->arena + *o, key, l + 1);
		t->off[id] = (uint32_t)*o, t->len[id] = (uint32_t)l, t->type[id] = TT_NORMAL;
		t->hf->in_model[id] = 1;
		*o += l + 1;
		if (fp_token_lookup(t, key, l) >= 0)
			return ferr(c, FP_ERR_FORMAT, "model.vocab: '%.40s' appears twice", key);
		tok_strmap_put(t, id);
	}
	return 0;
}

/* added_tokens: a new piece, or the vocabulary's own token under the same
 * id; special ones are control tokens, the others user tokens matched
 * before the model runs (h->add) */
static int vocab_put_added(const ctx *c, fp_tokenizer *t, const json_t *added, size_t *o)
{
	struct fp_hf *h = t->hf;
	size_t na = json_array_size(added);
	for (size_t i = 0; i < na; i++) {
		json_t *a = json_array_get(added, i), *ct = json_object_get(a, "content");
		int id = (int)json_integer_value(json_object_get(a, "id")), special = 0;
		hf_added ad = {id, 1, 0, 0, 0};
		const char *s = json_string_value(ct);
		size_t l = json_string_length(ct);
		char path[48];
		snprintf(path, sizeof path, "added_tokens[%zu]", i);
		int rc;
		if ((rc = get_bool(c, a, path, "special", &special)))
			return rc;
		ad.normalized = !special;
		if ((rc = get_bool(c, a, path, "normalized", &ad.normalized)) || (rc = get_bool(c, a, path, "lstrip", &ad.lstrip)) ||
		    (rc = get_bool(c, a, path, "rstrip", &ad.rstrip)) || (rc = get_bool(c, a, path, "single_word", &ad.single_word)))
			return rc;
		int other = fp_token_lookup(t, s, l);
		if (t->len[id] != UINT32_MAX || other >= 0) {
			/* already a vocabulary token: allowed when it is the same one */
			if (other != id)
				return ferr(c, FP_ERR_FORMAT, "%s: '%.40s' with id %d, but %s", path, s, id,
					    other >= 0 ? "that text is another token's" : "that id is another token's");
		} else {
			memcpy(t->arena + *o, s, l);
			t->arena[*o + l] = 0;
			t->off[id] = (uint32_t)*o, t->len[id] = (uint32_t)l;
			*o += l + 1;
			tok_strmap_put(t, id);
		}
		t->type[id] = special ? TT_CONTROL : TT_USER;
		if (!special)
			h->add[h->n_add++] = ad;
	}
	return 0;
}

/* model.vocab: {"piece": id, ...} (BPE), or with h->unigram [["piece", score], ...] */
static int load_vocab(const ctx *c, fp_tokenizer *t, const json_t *vocab, const json_t *added)
{
	struct fp_hf *h = t->hf;
	size_t total = 0, o = 1, na = json_array_size(added);
	int64_t max_id = -1;
	int rc;
	if ((rc = vocab_measure(c, vocab, added, h->unigram, &total, &max_id)))
		return rc;
	if (max_id < 0)
		return ferr(c, FP_ERR_FORMAT, "model.vocab is empty");
	/* every id up to the largest gets a slot: unused ids may not outnumber
	 * the given ones (+1024), so that a few bytes cannot declare 16M slots */
	size_t nv = h->unigram ? json_array_size(vocab) : json_object_size(vocab);
	if ((size_t)max_id >= 2 * (nv + na) + 1024)
		return ferr(c, FP_ERR_FORMAT, "model.vocab: the largest id is %lld, but the file gives only %zu tokens "
			    "(ids must be nearly dense)", (long long)max_id, nv + na);
	t->n_vocab = (int)max_id + 1;
	if ((rc = vocab_alloc(c, t, total, na)))
		return rc;
	if (h->unigram)
		vocab_put_list(t, vocab, &o);
	else if ((rc = vocab_put_map(c, t, vocab, &o)))
		return rc;
	if ((rc = vocab_put_added(c, t, added, &o)))
		return rc;
	for (size_t i = 0; i < (size_t)t->n_vocab; i++)
		if (t->len[i] == UINT32_MAX)
			t->off[i] = 0, t->len[i] = 0;
	/* longest first (equal lengths keep the file's order) */
	for (int i = 1; i < h->n_add; i++)
		for (int j = i; j > 0 && t->len[h->add[j].id] > t->len[h->add[j - 1].id]; j--) {
			hf_added x = h->add[j];
			h->add[j] = h->add[j - 1], h->add[j - 1] = x;
		}
	return 0;
}

static int load_merges(const ctx *c, fp_tokenizer *t, const json_t *merges)
{
	size_t nm = json_array_size(merges);
	if (nm > MAX_VOCAB)
		return ferr(c, FP_ERR_FORMAT, "model.merges: %zu merges is too many", nm);
	t->merges.cap = tok_pow2_above(nm);
	t->merges.key = calloc(t->merges.cap, sizeof *t->merges.key);
	t->merges.rank = malloc(t->merges.cap * sizeof *t->merges.rank);
	t->merges.id = malloc(t->merges.cap * sizeof *t->merges.id);
	if (!t->merges.key || !t->merges.rank || !t->merges.id)
		return ferr(c, FP_ERR_NOMEM, "out of memory loading %zu merges", nm);
	char *buf = NULL;
	size_t cap = 0;
	int rc;
	for (size_t r = 0; r < nm; r++) {
		json_t *m = json_array_get(merges, r);
		const char *a, *b;
		size_t la, lb;
		if (json_is_string(m)) { /* "a b" */
			a = json_string_value(m);
			const char *sp = memchr(a, ' ', json_string_length(m));
			if (!sp || memchr(sp + 1, ' ', json_string_length(m) - (size_t)(sp + 1 - a))) {
				free(buf);
				return ferr(c, FP_ERR_FORMAT, "model.merges[%zu] ('%.40s') is not two tokens separated by one space",
					    r, a);
			}
			la = (size_t)(sp - a), b = sp + 1, lb = json_string_length(m) - la - 1;
		} else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
			   json_is_string(json_array_get(m, 1))) {
			a = json_string_value(json_array_get(m, 0)), la = json_string_length(json_array_get(m, 0));
			b = json_string_value(json_array_get(m, 1)), lb = json_string_length(json_array_get(m, 1));
		} else {
			free(buf);
			return ferr(c, FP_ERR_FORMAT, "model.merges[%zu] must be \"a b\" or [\"a\", \"b\"], not %s", r, jtype(m));
		}
		if (la + lb >= cap) {
			char *x = realloc(buf, cap = 2 * (la + lb) + 64);
			if (!x) {
				free(buf);
				return ferr(c, FP_ERR_NOMEM, "out of memory loading merges");
			}
			buf = x;
		}
		memcpy(buf, a, la);
		memcpy(buf + la, b, lb);
		int ia = model_lookup(t, a, la), ib = model_lookup(t, b, lb), ic = model_lookup(t, buf, la + lb);
		if (ia < 0 || ib < 0 || ic < 0) {
			const char *what = ia < 0 ? a : ib < 0 ? b : buf;
			int wl = (int)(ia < 0 ? la : ib < 0 ? lb : la + lb);
			rc = ferr(c, FP_ERR_FORMAT, "model.merges[%zu]: '%.*s' is not in model.vocab", r, wl > 40 ? 40 : wl, what);
			free(buf);
			return rc;
		}
		tok_pair_put(&t->merges, ia, ib, (int)r, ic, 1); /* a repeated pair: the last rank counts, as in tokenizers */
	}
	free(buf);
	return 0;
}

static int load_bpe(const ctx *c, fp_tokenizer *t, json_t *model, const json_t *added)
{
	struct fp_hf *h = t->hf;
	json_t *v;
	const char *s, *key;
	size_t n;
	int rc;
	json_object_foreach(model, key, v) {
		static const char *const K[] = {"type", "dropout", "unk_token", "continuing_subword_prefix",
						"end_of_word_suffix", "fuse_unk", "byte_fallback", "ignore_merges",
						"vocab", "merges"};
		int known = 0;
		for (size_t i = 0; i < sizeof K / sizeof *K; i++)
			known |= !strcmp(key, K[i]);
		if (!known)
			return ferr(c, FP_ERR_UNSUPPORTED, "model.%.40s is not supported", key);
	}
	v = json_object_get(model, "dropout");
	if (v && !json_is_null(v) && !(json_is_number(v) && json_number_value(v) == 0))
		return ferr(c, FP_ERR_UNSUPPORTED, "model.dropout must be null (BPE dropout is random)");
	static const char *const AFFIX[] = {"continuing_subword_prefix", "end_of_word_suffix"};
	for (int i = 0; i < 2; i++) {
		if ((rc = get_str(c, model, "model", AFFIX[i], 1, &s, &n)))
			return rc;
		if (n)
			return ferr(c, FP_ERR_UNSUPPORTED, "model.%s '%.40s' is not supported", AFFIX[i], s);
	}
	if ((rc = get_bool(c, model, "model", "fuse_unk", &h->fuse_unk)) ||
	    (rc = get_bool(c, model, "model", "byte_fallback", &h->byte_fallback)) ||
	    (rc = get_bool(c, model, "model", "ignore_merges", &t->ignore_merges)))
		return rc;
	json_t *vocab = json_object_get(model, "vocab"), *merges = json_object_get(model, "merges");
	if (!json_is_object(vocab))
		return ferr(c, FP_ERR_FORMAT, "model.vocab must be an object");
	if (!json_is_array(merges))
		return ferr(c, FP_ERR_FORMAT, "model.merges must be an array");
	if ((rc = load_vocab(c, t, vocab, added)) || (rc = load_merges(c, t, merges)))
		return rc;
	if ((rc = get_str(c, model, "model", "unk_token", 1, &s, &n)))
		return rc;
	h->unk = -1;
	if (s && (h->unk = model_lookup(t, s, n)) < 0)
		return ferr(c, FP_ERR_FORMAT, "model.unk_token '%.40s' is not in model.vocab", s);
	return 0;
}

/* model.type Unigram (as transformers writes for SentencePiece GGUFs such
 * as Gemma's): vocab [[piece, score], ...], unk_id, byte_fallback */
static int load_unigram(const ctx *c, fp_tokenizer *t, const json_t *model, const json_t *added)
{
	struct fp_hf *h = t->hf;
	const char *key;
	json_t *v, *vocab = json_object_get(model, "vocab"), *unk = json_object_get(model, "unk_id");
	int rc;
	json_object_foreach((json_t *)model, key, v)
		if (strcmp(key, "type") && strcmp(key, "vocab") && strcmp(key, "unk_id") && strcmp(key, "byte_fallback"))
			return ferr(c, FP_ERR_UNSUPPORTED, "model.%.40s is not supported (Unigram)", key);
	if (!json_is_array(vocab) || !json_array_size(vocab))
		return ferr(c, FP_ERR_FORMAT, "model.vocab must be a non-empty array of [piece, score]");
	h->unigram = 1;
	h->fuse_unk = 1; /* always, for Unigram */
	if ((rc = get_bool(c, model, "model", "byte_fallback", &h->byte_fallback)) || (rc = load_vocab(c, t, vocab, added)))
		return rc;
	h->unk = -1;
	if (unk && !json_is_null(unk)) {
		if (!json_is_integer(unk) || json_integer_value(unk) < 0 ||
		    json_integer_value(unk) >= (json_int_t)json_array_size(vocab))
			return ferr(c, FP_ERR_FORMAT, "model.unk_id must be an id of model.vocab (0 to %zu)",
				    json_array_size(vocab) - 1);
		h->unk = (int)json_integer_value(unk);
	}
	h->min_score = h->uscore[0];
	for (size_t i = 1; i < json_array_size(vocab); i++)
		if (h->uscore[i] < h->min_score)
			h->min_score = h->uscore[i];
	return 0;
}

static int load_model(const ctx *c, fp_tokenizer *t, const json_t *root)
{
	struct fp_hf *h = t->hf;
	json_t *model = json_object_get(root, "model");
	json_t *added = json_object_get(root, "added_tokens");
	const char *s;
	size_t n;
	int rc;
	if (!json_is_object(model))
		return ferr(c, FP_ERR_FORMAT, "model is missing or not an object");
	if ((rc = get_str(c, model, "model", "type", 0, &s, &n)))
		return rc;
	if (added && !json_is_null(added) && !json_is_array(added))
		return ferr(c, FP_ERR_FORMAT, "added_tokens must be an array");
	if (!strcmp(s, "Unigram")) {
		if ((rc = load_unigram(c, t, model, added)))
			return rc;
	} else if (strcmp(s, "BPE")) {
		return ferr(c, FP_ERR_UNSUPPORTED, "model.type '%.40s' is not supported (BPE and Unigram are)", s);
	} else if ((rc = load_bpe(c, t, model, added))) {
		return rc;
	}
	t->unk = h->unk;
	for (int b = 0; b < 256; b++) {
		char name[8];
		snprintf(name, sizeof name, "<0x%02X>", b);
		h->byte_id[b] = h->byte_fallback ? model_lookup(t, name, 6) : -1;
		if (h->byte_id[b] >= 0)
			t->type[h->byte_id[b]] = TT_BYTE;
	}
	return 0;
}

/* tokenizer.json's model and pipeline (normalizer, pre-tokenizer, decoder,
 * post-processor); *tpl_bos: the BOS the post-processor's template adds, or
 * -1.  A prompt is never cut or padded, so truncation and padding are refused. */
static int load_pipeline(const ctx *c, fp_tokenizer *t, json_t *root, int *tpl_bos)
{
	struct fp_hf *h = t->hf;
	int rc;
	json_t *trunc = json_object_get(root, "truncation"), *pad = json_object_get(root, "padding");
	if ((trunc && !json_is_null(trunc)) || (pad && !json_is_null(pad)))
		return ferr(c, FP_ERR_UNSUPPORTED, "%s is set: not supported (a prompt is never cut or padded)",
			    trunc && !json_is_null(trunc) ? "truncation" : "padding");
	post_arg pa = {t, -1};
	if ((rc = load_model(c, t, root)) ||
	    (rc = walk(c, json_object_get(root, "normalizer"), "normalizer", "normalizers", 0, norm_leaf, h)) ||
	    (rc = walk(c, json_object_get(root, "pre_tokenizer"), "pre_tokenizer", "pretokenizers", 0, pre_leaf, h)) ||
	    (rc = walk(c, json_object_get(root, "decoder"), "decoder", "decoders", 0, dec_leaf, h)) ||
	    (rc = walk(c, json_object_get(root, "post_processor"), "post_processor", "processors", 0, post_leaf, &pa)))
		return rc;
	*tpl_bos = pa.bos;
	t->kind = h->byte_level ? FP_TOK_BPE : FP_TOK_SPM;
	snprintf(t->pre, sizeof t->pre, "%s", h->byte_level ? "hf-byte-level" : "hf-sentencepiece");
	return 0;
}

/* special_tokens_map.json: bos_token and eos_token (-2 where absent) */
static int read_special_map(const ctx *c0, const fp_tokenizer *t, const char *buf, size_t len, int *bos, int *eos)
{
	ctx c = *c0;
	int rc;
	c.file = "special_tokens_map.json";
	json_t *stm = load_json(&c, buf, len, 1, &rc);
	if (stm && !(rc = named_token(&c, t, stm, "bos_token", bos)))
		rc = named_token(&c, t, stm, "eos_token", eos);
	json_decref(stm);
	return rc;
}

/* the tokenizer classes whose update_post_processor rewrites the template
 * from add_bos_token / add_eos_token (transformers 4.57), with or without
 * "Fast"; the others keep the file's own template */
static int class_updates_template(const char *cls)
{
	static const char *const UPDATES[] = {"LlamaTokenizer", "GemmaTokenizer", "GPTNeoXTokenizer",
					      "CohereTokenizer", "CodeLlamaTokenizer"};
	int updates = 0;
	for (size_t i = 0; cls && i < sizeof UPDATES / sizeof *UPDATES; i++) {
		size_t ul = strlen(UPDATES[i]);
		updates |= !strncmp(cls, UPDATES[i], ul) && (!cls[ul] || !strcmp(cls + ul, "Fast"));
	}
	return updates;
}

/* tokenizer_config.json: bos_token and eos_token override *bos and *eos
 * where given; add_bos_token into *add_bos (-1: the template decides) for
 * the classes that follow it; add_prefix_space for a top-level ByteLevel */
static int read_tokenizer_config(const ctx *c0, fp_tokenizer *t, const json_t *root, const char *buf, size_t len,
				 int *bos, int *eos, int *add_bos)
{
	ctx c = *c0;
	int b2, e2, add_eos = 0, rc;
	const char *cls;
	size_t cl;
	c.file = "tokenizer_config.json";
	json_t *cfg = load_json(&c, buf, len, 1, &rc);
	if (!cfg || (rc = named_token(&c, t, cfg, "bos_token", &b2)) || (rc = named_token(&c, t, cfg, "eos_token", &e2)) ||
	    (rc = get_str(&c, cfg, "tokenizer_config", "tokenizer_class", 1, &cls, &cl)))
		goto done;
	*bos = b2 != -2 ? b2 : *bos;
	*eos = e2 != -2 ? e2 : *eos;
	if (class_updates_template(cls) && ((rc = get_bool(&c, cfg, "tokenizer_config", "add_bos_token", add_bos)) ||
					    (rc = get_bool(&c, cfg, "tokenizer_config", "add_eos_token", &add_eos))))
		goto done;
	if (add_eos) {
		rc = ferr(&c, FP_ERR_UNSUPPORTED, "add_eos_token is true (an EOS after every prompt): not supported");
		goto done;
	}
	/* transformers sets a top-level ByteLevel's add_prefix_space to the
	 * config's (false when absent; null leaves it) */
	json_t *aps = json_object_get(cfg, "add_prefix_space");
	const char *ptype = json_string_value(json_object_get(json_object_get(root, "pre_tokenizer"), "type"));
	if (ptype && !strcmp(ptype, "ByteLevel") && !json_is_null(aps)) {
		if (aps && !json_is_boolean(aps)) {
			rc = ferr(&c, FP_ERR_FORMAT, "tokenizer_config.add_prefix_space must be a boolean, not %s", jtype(aps));
			goto done;
		}
		t->hf->pre[0].prefix_space = json_is_true(aps);
	}
done:
	json_decref(cfg);
	return rc;
}

/* t->bos, t->eos and t->add_bos from what the files named (-2: nothing):
 * add_bos_token, where a class follows it, rewrites the template as
 * transformers does; else the template's BOS decides */
static int set_bos_eos(const ctx *c0, fp_tokenizer *t, int bos, int eos, int add_bos, int tpl_bos)
{
	ctx c = *c0;
	c.file = "tokenizer_config.json"; /* add_bos >= 0 comes from there */
	t->eos = eos >= 0 ? eos : -1;
	if (add_bos >= 0) {
		t->add_bos = add_bos;
		t->bos = bos >= 0 ? bos : tpl_bos;
		if (add_bos && t->bos < 0)
			return ferr(&c, FP_ERR_FORMAT, "add_bos_token is true but no bos_token is named");
	} else {
		t->add_bos = tpl_bos >= 0;
		t->bos = tpl_bos >= 0 ? tpl_bos : bos >= 0 ? bos : -1;
	}
	return 0;
}

int fp_tokenizer_load_hf_json(fp_tokenizer **out, const char *json, size_t len, const char *config, size_t config_len,
			      const char *special_map, size_t special_len, const char *dir, fp_error *err)
{
	ctx c = {dir, "tokenizer.json", err};
	json_t *root = NULL;
	int rc, tpl_bos = -1, bos = -2, eos = -2, add_bos = -1;
	*out = NULL;
	fp_tokenizer *t = calloc(1, sizeof *t);
	if (!t || !(t->hf = calloc(1, sizeof *t->hf))) {
		free(t);
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	}
	struct fp_hf *h = t->hf;
	t->bos = t->eos = t->unk = -1;
	for (int i = 0; i < 256; i++)
		t->byte_tok[i] = -1;
	tok_init_byte_map(t);
	h->md = pcre2_match_data_create(4, NULL);
	if (!h->md) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		goto done;
	}
	if ((rc = compile(&c, h, "\\w", PCRE2_ZERO_TERMINATED, 0, "word", &h->re_word)) ||
	    !(root = load_json(&c, json, len, 0, &rc)) || (rc = load_pipeline(&c, t, root, &tpl_bos)))
		goto done;
	/* BOS and EOS: tokenizer_config.json, then special_tokens_map.json, then the template */
	if ((special_map && (rc = read_special_map(&c, t, special_map, special_len, &bos, &eos))) ||
	    (config && (rc = read_tokenizer_config(&c, t, root, config, config_len, &bos, &eos, &add_bos))))
		goto done;
	rc = set_bos_eos(&c, t, bos, eos, add_bos, tpl_bos);
done:
	json_decref(root);
	if (rc)
		fp_tokenizer_free(t);
	else
		*out = t;
	return rc;
}

/* the whole of dir/name into *buf (NUL terminated); 1 if there is no such file */
static int read_all(const char *dir, const char *name, char **buf, size_t *len, fp_error *err)
{
	char path[4096];
	*buf = NULL, *len = 0;
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
		return fp_error_set(err, FP_ERR_INVALID, "'%s': path too long", dir);
	FILE *f = fopen(path, "rb");
	if (!f) {
		if (errno == ENOENT)
			return 1;
		return fp_error_set(err, FP_ERR_IO, "'%s': cannot open: %s", path, strerror(errno));
	}
	long n = -1;
	if (fseek(f, 0, SEEK_END) == 0)
		n = ftell(f);
	if (n < 0 || n > (1L << 30) || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		return fp_error_set(err, FP_ERR_IO, "'%s': %s", path, n > 0 ? "larger than 1 GiB" : "cannot read its size");
	}
	*buf = malloc((size_t)n + 1);
	if (!*buf) {
		fclose(f);
		return fp_error_set(err, FP_ERR_NOMEM, "'%s': out of memory reading %ld bytes", path, n);
	}
	size_t got = fread(*buf, 1, (size_t)n, f);
	fclose(f);
	if (got != (size_t)n) {
		free(*buf);
		*buf = NULL;
		return fp_error_set(err, FP_ERR_IO, "'%s': read %zu of %ld bytes", path, got, n);
	}
	(*buf)[n] = 0;
	*len = (size_t)n;
	return 0;
}

int fp_tokenizer_load_hf(fp_tokenizer **out, const char *dir, fp_error *err)
{
	char *tj = NULL, *cfg = NULL, *stm = NULL;
	size_t tl, cl, sl;
	*out = NULL;
	int rc = read_all(dir, "tokenizer.json", &tj, &tl, err);
	if (rc == 1)
		rc = fp_error_set(err, FP_ERR_IO, "'%s/tokenizer.json': no such file (a checkpoint needs its tokenizer.json)",
				  dir);
	if (!rc && (rc = read_all(dir, "tokenizer_config.json", &cfg, &cl, err)) == 1)
		rc = 0;
	if (!rc && (rc = read_all(dir, "special_tokens_map.json", &stm, &sl, err)) == 1)
		rc = 0;
	if (!rc)
		rc = fp_tokenizer_load_hf_json(out, tj, tl, cfg, cl, stm, sl, dir, err);
	free(tj), free(cfg), free(stm);
	return rc;
}
