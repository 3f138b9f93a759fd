/* tokenizer_internal.h - the tokenizer's representation, shared by the GGUF
 * loader (tokenizer.c) and the tokenizer.json loader (tokenizer_hf.c).  Not
 * part of the library's interface. */
#ifndef TOKENIZER_INTERNAL_H
#define TOKENIZER_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tokenizer.h"

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

/* ---- a string -> int map and a u64 -> (rank, id) map, open addressing ---- */

typedef struct strmap {
	uint32_t cap;       /* power of two */
	int32_t *slot;      /* token id or -1 */
} strmap;

typedef struct pairmap {
	uint32_t cap;
	uint64_t *key;      /* (left id << 32 | right id) + 1; 0 = empty */
	int32_t *rank, *id;
} pairmap;

struct fp_hf;           /* tokenizer.json pipeline (tokenizer_hf.c) */

struct fp_tokenizer {
	int kind;
	char pre[32];
	int n_vocab;
	char *arena;        /* all pieces, NUL separated */
	uint32_t *off, *len;
	float *score;
	int32_t *type;
	strmap map;
	pairmap merges;
	int ignore_merges;
	int add_bos, add_space_prefix;
	int bos, eos, unk;
	int byte_tok[256];  /* SPM <0xXX> tokens, -1 if absent */
	int *user, n_user;  /* user-defined tokens (type 4), longest first */
	int n_re;
	pcre2_code *re[2];
	pcre2_match_data *md;
	uint32_t byte2cp[256];
	int16_t cp2byte[512]; /* inverse for code points < 512, -1 if none */
	struct fp_hf *hf;   /* set for a tokenizer.json tokenizer: its own pipeline */
};

typedef struct idbuf {
	int32_t *v;
	int n, cap;
} idbuf;

typedef struct span {
	size_t off, len;
} span;

typedef struct spans {
	span *v;
	size_t n, cap;
} spans;

typedef struct sym {
	size_t off, len; /* in the word buffer */
	int id;          /* token id of the symbol, -1 if not a token */
} sym;

int tok_ids_push(idbuf *b, int id);
int tok_spans_push(spans *s, size_t off, size_t len); /* empty spans are not pushed */
void tok_strmap_put(fp_tokenizer *t, int id);
int tok_pair_find(const pairmap *m, int a, int b, int *id);
/* replace: a pair already present takes the new rank and id (else the first stays) */
void tok_pair_put(pairmap *m, int a, int b, int rank, int id, int replace);
uint32_t tok_pow2_above(uint64_t n);
int tok_utf8_len(const unsigned char *s, size_t n, uint32_t *cp);
int tok_utf8_put(char *o, uint32_t cp);
void tok_init_byte_map(fp_tokenizer *t);
/* merges the ns symbols s lowest rank first (leftmost on ties); rank and mid
 * are scratch of ns entries.  Returns the number of symbols left. */
int tok_bpe_merge(const pairmap *m, sym *s, int ns, int *rank, int *mid);

/* tokenizer_hf.c: the text (valid UTF-8) onto out, without BOS */
int fp_hf_tokenize(const fp_tokenizer *t, const char *text, size_t len, idbuf *out, fp_error *err);
int fp_hf_decode(const fp_tokenizer *t, int id, char *buf, size_t n);
void fp_hf_free(struct fp_hf *h);

#endif
