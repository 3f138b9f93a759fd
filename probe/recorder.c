/* recorder.c - see recorder.h. */
#include "recorder.h"
#include "progress.h"
#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const RR_POS_NAME[4] = {"all", "last", "subject", "subject-last"};

/* prompts waiting for one packed forward pass */
typedef struct pack_prompt {
	char *text, *subject, *target, *relation, *id;
	long line;
	int n_tokens, token_at, n_rows, row_at, s0, s1;
} pack_prompt;

typedef struct pack {
	int n, n_tokens, n_rows;
	size_t cap_p, cap_s, cap_t, cap_r, cap_rp;
	pack_prompt *p;
	int *seq_len;
	int32_t *ids;       /* [n_tokens] */
	int32_t *row_pos;   /* [n_rows] position within its prompt */
	int32_t *row_tok;   /* [n_rows] token index within the pack */
} pack;

static int grow(void *pp, size_t *cap, size_t need, size_t esz)
{
	void **p = pp;
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 64;
	while (c < need)
		c *= 2;
	void *q = realloc(*p, c * esz);
	if (!q)
		return -1;
	*p = q, *cap = c;
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void pack_clear(pack *k)
{
	for (int i = 0; i < k->n; i++) {
		pack_prompt *p = &k->p[i];
		free(p->text), free(p->subject), free(p->target), free(p->relation), free(p->id);
	}
	k->n = k->n_tokens = k->n_rows = 0;
}

static void pack_free(pack *k)
{
	pack_clear(k);
	free(k->p), free(k->seq_len), free(k->ids), free(k->row_pos), free(k->row_tok);
}

typedef struct rec_ctx {
	int *index;       /* [kind * (n_layers + 1) + layer + 1] -> hook, -1 */
	int n_layers;
	const pack *k;
	h5rec *rec;       /* each hook's rows go straight to its dataset */
	fp_error err;     /* why a write failed */
} rec_ctx;

static int capture(void *user, const fp_hook_event *ev)
{
	rec_ctx *c = user;
	int h = c->index[ev->kind * (c->n_layers + 1) + ev->layer + 1];
	if (h < 0)
		return 0;
	/* logits are kept for every position when recorded, so row_tok indexes ev->data */
	return h5rec_write_rows(c->rec, h, c->k->n_rows, ev->data, c->k->row_tok, &c->err) != 0;
}

struct rr_recorder {
	fp_model *m;
	h5rec *rec;
	int pos_mode, batch_tokens, want_logits;
	uint32_t mask;
	const char *prompts_path;
	int *index;
	pack k;
	rec_ctx ctx;
	double last_ckpt, toks;
	long n_done;
};

int rr_new(rr_recorder **out, fp_model *m, h5rec *rec, const h5rec_hook *hooks, int n_hooks, int pos_mode,
	   int batch_tokens, const char *prompts_path, fp_error *err)
{
	int L = m->cfg.n_layers, nk = FP_HOOK_KIND_COUNT;
	rr_recorder *r = calloc(1, sizeof *r);
	int *index = malloc((size_t)nk * (L + 1) * sizeof *index);
	if (!r || !index) {
		free(r), free(index);
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	}
	for (int i = 0; i < nk * (L + 1); i++)
		index[i] = -1;
	for (int h = 0; h < n_hooks; h++) {
		index[hooks[h].kind * (L + 1) + hooks[h].layer + 1] = h;
		r->want_logits |= hooks[h].kind == FP_HOOK_LOGITS;
		r->mask |= FP_HOOK_BIT(hooks[h].kind);
	}
	r->m = m, r->rec = rec, r->pos_mode = pos_mode, r->batch_tokens = batch_tokens, r->prompts_path = prompts_path;
	r->index = index, r->last_ckpt = fp_now();
	r->ctx = (rec_ctx){index, L, &r->k, rec, {0, ""}};
	*out = r;
	return 0;
}

void rr_free(rr_recorder *r)
{
	if (!r)
		return;
	pack_free(&r->k);
	free(r->index);
	free(r);
}

void rr_drop(rr_recorder *r)
{
	pack_clear(&r->k);
}

long rr_done(const rr_recorder *r)
{
	return r->n_done;
}

double rr_tokens(const rr_recorder *r)
{
	return r->toks;
}

/* runs the pack: its rows to the recording, then the prompts' tables */
static int run_pack(rr_recorder *r, fp_error *err)
{
	pack *k = &r->k;
	fp_model *m = r->m;
	fp_forward_opts fo = {.hook = r->rec ? capture : NULL, .user = &r->ctx, .hook_mask = r->mask,
			      .all_logits = r->want_logits, .seq_len = k->seq_len, .n_seq = k->n};
	int rc;
	if (r->rec && (rc = h5rec_reserve(r->rec, k->n_rows, err)))
		return rc;
	if ((rc = fp_model_forward(m, k->ids, k->n_tokens, &fo, NULL, err))) {
		if (r->ctx.err.code)
			return fp_error_set(err, r->ctx.err.code, "%s", r->ctx.err.msg);
		char msg[sizeof err->msg];
		snprintf(msg, sizeof msg, "%s", err->msg);
		return fp_error_set(err, rc, "'%s' lines %ld-%ld: %s", r->prompts_path, k->p[0].line, k->p[k->n - 1].line,
				    msg);
	}
	for (int i = 0; i < k->n && !r->rec; i++)
		r->toks += k->p[i].n_tokens, r->n_done++;
	for (int i = 0; i < k->n && r->rec; i++) {
		pack_prompt *q = &k->p[i];
		char **tt = calloc((size_t)q->n_tokens, sizeof *tt), dec[1024];
		for (int t = 0; tt && t < q->n_tokens; t++) {
			int dl = fp_token_decode(m->tok, k->ids[q->token_at + t], dec, sizeof dec);
			tt[t] = tb_utf8_clean(dec, (size_t)dl < sizeof dec ? (size_t)dl : sizeof dec - 1);
		}
		h5rec_prompt hp = {q->text, q->subject, q->target, q->relation, q->id, q->line, q->n_tokens,
				   k->ids + q->token_at, tt, q->s0, q->s1, q->n_rows, k->row_pos + q->row_at};
		int arc = tt ? h5rec_add(r->rec, &hp, err) : fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		for (int t = 0; tt && t < q->n_tokens; t++)
			free(tt[t]);
		free(tt);
		if (arc)
			return arc;
		r->toks += q->n_tokens;
		r->n_done++;
	}
	pack_clear(k);
	/* checkpoints fall between packs only, so a resumed run packs the
	 * remaining prompts exactly as an uninterrupted one would */
	double t = fp_now();
	if (r->rec && (t - r->last_ckpt > 2.0 || h5rec_batch_full(r->rec))) {
		if ((rc = h5rec_checkpoint(r->rec, err)))
			return rc;
		r->last_ckpt = t;
	}
	return 0;
}

int rr_flush(rr_recorder *r, fp_error *err)
{
	return r->k.n ? run_pack(r, err) : 0;
}

int rr_add(rr_recorder *r, const fp_prompt *p, const int32_t *ids, int n, int s0, int s1, fp_error *err)
{
	pack *k = &r->k;
	int rc, pm = r->pos_mode, nr = pm == RR_POS_ALL ? n : pm == RR_POS_SUBJECT ? s1 - s0 : 1;
	/* run the pack when this prompt would overflow it */
	if (k->n && (r->batch_tokens == 0 || k->n_tokens + n > r->batch_tokens) && (rc = run_pack(r, err)))
		return rc;
	if (grow(&k->p, &k->cap_p, (size_t)k->n + 1, sizeof *k->p) ||
	    grow(&k->seq_len, &k->cap_s, (size_t)k->n + 1, sizeof *k->seq_len) ||
	    grow(&k->ids, &k->cap_t, (size_t)k->n_tokens + n, sizeof *k->ids) ||
	    grow(&k->row_pos, &k->cap_rp, (size_t)k->n_rows + nr, sizeof *k->row_pos) ||
	    grow(&k->row_tok, &k->cap_r, (size_t)k->n_rows + nr, sizeof *k->row_tok))
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	pack_prompt *q = &k->p[k->n];
	*q = (pack_prompt){dup_or_null(p->text), dup_or_null(p->subject), dup_or_null(p->target), dup_or_null(p->relation),
			   dup_or_null(p->id), p->line, n, k->n_tokens, nr, k->n_rows, s0, s1};
	memcpy(k->ids + k->n_tokens, ids, (size_t)n * sizeof *ids);
	for (int i = 0; i < nr; i++) {
		int posn = pm == RR_POS_ALL ? i : pm == RR_POS_LAST ? n - 1 : pm == RR_POS_SUBJECT ? s0 + i : s1 - 1;
		k->row_pos[k->n_rows + i] = posn;
		k->row_tok[k->n_rows + i] = k->n_tokens + posn;
	}
	k->seq_len[k->n++] = n;
	k->n_tokens += n, k->n_rows += nr;
	return 0;
}
