/* recorder.c - see recorder.h. */
#include "recorder.h"
#include "progress.h"
#include "table.h"

#include <pthread.h>
#include <signal.h>
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

/* ---- the writer thread ----
 * Every HDF5 call of a recording happens on one writer thread (Debian's
 * libhdf5 is not thread-safe), in the order a single thread would make
 * them: per pack, the disk reservation, each hook's rows, the prompts'
 * tables, and a checkpoint when one is due.  The forward thread converts
 * each hook's rows to the file's dtype into a buffer from a pool and
 * queues it; the writer hands the buffer back once written.  Hooks of one
 * row width share a pool, which grows only while every one of its
 * buffers waits for the writer, to at most one buffer per hook of that
 * width: the writer runs at most one pack behind, and the buffers hold at
 * most one pack's activations, as a buffer per hook did.  The writer
 * keeps up, so a few buffers go round, stay in the cache and are not
 * faulted in afresh (a buffer per hook put a whole pack through new
 * memory: 141 MB of page faults for every MLP hook of SmolLM2).  A writer
 * error is kept and handed to the forward thread at its next hook or at
 * rr_sync; the ops after it are dropped, so the file stays at its last
 * checkpoint. */
enum { OP_RESERVE, OP_ROWS, OP_PROMPTS };

typedef struct wbuf {
	void *p;
	size_t cap;          /* bytes */
	int pool;            /* the pool (row width) it belongs to */
	struct wbuf *next;   /* in its pool's free list */
} wbuf;

typedef struct wop {
	int type, hook;      /* OP_ROWS: the hook, its rows in buf */
	long n_rows;         /* OP_RESERVE, OP_ROWS */
	wbuf *buf;           /* OP_ROWS, returned to the pool when written */
	pack *k;             /* OP_PROMPTS: the pack's prompts, owned by the op */
	char **tok_text;     /* OP_PROMPTS: [k->n_tokens] */
	struct wop *next;
} wop;

typedef struct writer {
	h5rec *rec;
	int n_hooks;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t work, space, idle;
	wop *head, *tail;
	long pending;        /* ops queued or being written */
	int quit, failed;
	fp_error err;        /* the writer's first error */
	wbuf *bufs;          /* [n_hooks] every buffer: n_bufs made so far */
	int n_bufs;
	int *pool;           /* [n_hooks] hook -> its pool: hooks of one row width share one */
	int *made, *max;     /* [pool] buffers made, hooks of that width */
	wbuf **free;         /* [pool] buffers not waiting for the writer, the last returned first */
	double last_ckpt;
} writer;

/* frees op, its buffer back to the pool (w->mu held when others run) */
static void op_free(writer *w, wop *op)
{
	if (op->buf) {
		op->buf->next = w->free[op->buf->pool];
		w->free[op->buf->pool] = op->buf;
	}
	if (op->type == OP_PROMPTS) {
		for (int t = 0; op->tok_text && t < op->k->n_tokens; t++)
			free(op->tok_text[t]);
		free(op->tok_text);
		pack_free(op->k);
		free(op->k);
	}
	free(op);
}

static int do_op(writer *w, const wop *op, fp_error *err)
{
	int rc;
	if (op->type == OP_RESERVE)
		return h5rec_reserve(w->rec, op->n_rows, err);
	if (op->type == OP_ROWS)
		return h5rec_write_converted(w->rec, op->hook, op->n_rows, op->buf->p, err);
	const pack *k = op->k;
	for (int i = 0; i < k->n; i++) {
		const pack_prompt *q = &k->p[i];
		h5rec_prompt hp = {q->text, q->subject, q->target, q->relation, q->id, q->line, q->n_tokens,
				   k->ids + q->token_at, op->tok_text + q->token_at, q->s0, q->s1, q->n_rows,
				   k->row_pos + q->row_at};
		if ((rc = h5rec_add(w->rec, &hp, err)))
			return rc;
	}
	/* checkpoints fall between packs only, so a resumed run packs the
	 * remaining prompts exactly as an uninterrupted one would */
	double t = fp_now();
	if (t - w->last_ckpt > 2.0 || h5rec_batch_full(w->rec)) {
		if ((rc = h5rec_checkpoint(w->rec, err)))
			return rc;
		w->last_ckpt = t;
	}
	return 0;
}

static void *writer_main(void *arg)
{
	writer *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->head && !w->quit)
			pthread_cond_wait(&w->work, &w->mu);
		if (!w->head)
			break;
		wop *op = w->head;
		if (!(w->head = op->next))
			w->tail = NULL;
		int skip = w->failed || w->quit;
		pthread_mutex_unlock(&w->mu);
		fp_error e = {0};
		int rc = skip ? 0 : do_op(w, op, &e);
		wbuf *b = op->buf;
		op->buf = NULL;
		op_free(w, op);
		pthread_mutex_lock(&w->mu);
		if (rc && !w->failed)
			w->failed = 1, w->err = e;
		if (b) {
			b->next = w->free[b->pool], w->free[b->pool] = b;
			pthread_cond_signal(&w->space);
		}
		if (--w->pending == 0)
			pthread_cond_broadcast(&w->idle);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* frees what writer_start allocated */
static void writer_free(writer *w)
{
	for (int i = 0; i < w->n_bufs; i++)
		free(w->bufs[i].p);
	free(w->bufs), free(w->pool), free(w->made), free(w->max), free(w->free);
	free(w);
}

static int writer_start(writer **out, h5rec *rec, int n_hooks, fp_error *err)
{
	writer *w = calloc(1, sizeof *w);
	size_t n = (size_t)n_hooks;
	if (w) {
		w->bufs = calloc(n, sizeof *w->bufs), w->pool = calloc(n, sizeof *w->pool);
		w->made = calloc(n, sizeof *w->made), w->max = calloc(n, sizeof *w->max);
		w->free = calloc(n, sizeof *w->free);
	}
	if (!w || !w->bufs || !w->pool || !w->made || !w->max || !w->free) {
		if (w)
			writer_free(w);
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	}
	w->rec = rec, w->n_hooks = n_hooks, w->last_ckpt = fp_now();
	/* a pool per row width, as many buffers at most as hooks of that width */
	for (int h = 0, n_pools = 0; h < n_hooks; h++) {
		int h2 = 0;
		while (h2 < h && h5rec_row_bytes(rec, h2) != h5rec_row_bytes(rec, h))
			h2++;
		w->pool[h] = h2 < h ? w->pool[h2] : n_pools++;
		w->max[w->pool[h]]++;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work, NULL), pthread_cond_init(&w->space, NULL), pthread_cond_init(&w->idle, NULL);
	/* signals (Ctrl-C, SIGTERM) go to the forward thread, which decides
	 * where to stop; the writer's own writes are never interrupted */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int e = pthread_create(&w->th, NULL, writer_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		writer_free(w);
		return fp_error_set(err, FP_ERR_NOMEM, "cannot start the writer thread: %s", strerror(e));
	}
	*out = w;
	return 0;
}

/* Stops the writer (dropping what it has not written) and frees it. */
static void writer_stop(writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->quit = 1;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->th, NULL);
	for (wop *op = w->head, *next; op; op = next)
		next = op->next, op_free(w, op);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->work), pthread_cond_destroy(&w->space), pthread_cond_destroy(&w->idle);
	writer_free(w);
}

/* the writer's error into err, if it has had one */
static int writer_error(writer *w, fp_error *err)
{
	return w->failed ? fp_error_set(err, w->err.code, "%s", w->err.msg) : 0;
}

static int writer_push(writer *w, wop *op, fp_error *err)
{
	pthread_mutex_lock(&w->mu);
	int rc = writer_error(w, err);
	if (rc) {
		op_free(w, op);
		pthread_mutex_unlock(&w->mu);
		return rc;
	}
	if (w->tail)
		w->tail->next = op;
	else
		w->head = op;
	w->tail = op;
	w->pending++;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

static int writer_sync(writer *w, fp_error *err)
{
	pthread_mutex_lock(&w->mu);
	while (w->pending > 0)
		pthread_cond_wait(&w->idle, &w->mu);
	int rc = writer_error(w, err);
	pthread_mutex_unlock(&w->mu);
	return rc;
}

/* hook h's rows of the pack, converted on this thread into a buffer of
 * its pool (a new one while every one waits for the writer and there are
 * fewer than hooks of that width, else the next one the writer returns),
 * then queued */
static int writer_rows(writer *w, int h, long n_rows, const float *src, const int32_t *rows, fp_error *err)
{
	int p = w->pool[h];
	pthread_mutex_lock(&w->mu);
	while (!w->free[p] && w->made[p] == w->max[p] && !w->failed)
		pthread_cond_wait(&w->space, &w->mu);
	int rc = writer_error(w, err);
	wbuf *b = NULL;
	if (!rc && w->free[p]) {
		b = w->free[p], w->free[p] = b->next;
	} else if (!rc) {
		b = &w->bufs[w->n_bufs++], w->made[p]++;
		b->pool = p;
	}
	pthread_mutex_unlock(&w->mu);
	if (rc)
		return rc;
	wop *op = calloc(1, sizeof *op);
	size_t need = (size_t)n_rows * h5rec_row_bytes(w->rec, h);
	void *q = need > b->cap ? realloc(b->p, need) : b->p;
	if (need > b->cap && q)
		b->p = q, b->cap = need;
	if (!op || (need > b->cap && !q)) {
		free(op);
		pthread_mutex_lock(&w->mu);
		b->next = w->free[p], w->free[p] = b;
		pthread_mutex_unlock(&w->mu);
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory for %ld rows", n_rows);
	}
	h5rec_convert_rows(w->rec, h, n_rows, src, rows, b->p);
	op->type = OP_ROWS, op->hook = h, op->n_rows = n_rows, op->buf = b;
	return writer_push(w, op, err);
}

typedef struct rec_ctx {
	int *index;       /* [kind * (n_layers + 1) + layer + 1] -> hook, -1 */
	int n_layers;
	const pack *k;
	writer *w;        /* each hook's rows go to the writer */
	fp_error err;     /* why a write failed */
} rec_ctx;

static int capture(void *user, const fp_hook_event *ev)
{
	rec_ctx *c = user;
	int h = c->index[ev->kind * (c->n_layers + 1) + ev->layer + 1];
	if (h < 0)
		return 0;
	/* logits are kept for every position when recorded, so row_tok indexes ev->data */
	return writer_rows(c->w, h, c->k->n_rows, ev->data, c->k->row_tok, &c->err) != 0;
}

struct rr_recorder {
	fp_model *m;
	writer *w;        /* NULL: a dry run */
	int pos_mode, batch_tokens, want_logits;
	uint32_t mask;
	const char *prompts_path;
	int *index;
	pack k;
	rec_ctx ctx;
	double toks;
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
	if (rec && writer_start(&r->w, rec, n_hooks, err)) {
		free(r), free(index);
		return err->code;
	}
	for (int i = 0; i < nk * (L + 1); i++)
		index[i] = -1;
	for (int h = 0; h < n_hooks; h++) {
		index[hooks[h].kind * (L + 1) + hooks[h].layer + 1] = h;
		r->want_logits |= hooks[h].kind == FP_HOOK_LOGITS;
		r->mask |= FP_HOOK_BIT(hooks[h].kind);
	}
	r->m = m, r->pos_mode = pos_mode, r->batch_tokens = batch_tokens, r->prompts_path = prompts_path;
	r->index = index;
	r->ctx = (rec_ctx){index, L, &r->k, r->w, {0, ""}};
	*out = r;
	return 0;
}

void rr_free(rr_recorder *r)
{
	if (!r)
		return;
	writer_stop(r->w);
	pack_free(&r->k);
	free(r->index);
	free(r);
}

void rr_drop(rr_recorder *r)
{
	pack_clear(&r->k);
}

int rr_sync(rr_recorder *r, fp_error *err)
{
	return r->w ? writer_sync(r->w, err) : 0;
}

long rr_done(const rr_recorder *r)
{
	return r->n_done;
}

double rr_tokens(const rr_recorder *r)
{
	return r->toks;
}

/* runs the pack: its rows to the writer as the pass makes them, then the
 * prompts' tables (their tokens' text decoded here) */
static int run_pack(rr_recorder *r, fp_error *err)
{
	pack *k = &r->k;
	fp_model *m = r->m;
	fp_forward_opts fo = {.hook = r->w ? capture : NULL, .user = &r->ctx, .hook_mask = r->mask,
			      .all_logits = r->want_logits, .seq_len = k->seq_len, .n_seq = k->n};
	int rc;
	wop *op = r->w ? calloc(1, sizeof *op) : NULL;
	if (r->w && !op)
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	if (op) {
		op->type = OP_RESERVE, op->n_rows = k->n_rows;
		if ((rc = writer_push(r->w, op, err)))
			return rc;
	}
	r->ctx.err = (fp_error){0, ""};
	if ((rc = fp_model_forward(m, k->ids, k->n_tokens, &fo, NULL, err))) {
		if (r->ctx.err.code)
			return fp_error_set(err, r->ctx.err.code, "%s", r->ctx.err.msg);
		char msg[sizeof err->msg];
		snprintf(msg, sizeof msg, "%s", err->msg);
		return fp_error_set(err, rc, "'%s' lines %ld-%ld: %s", r->prompts_path, k->p[0].line, k->p[k->n - 1].line,
				    msg);
	}
	for (int i = 0; i < k->n; i++)
		r->toks += k->p[i].n_tokens, r->n_done++;
	if (!r->w) {
		pack_clear(k);
		return 0;
	}
	/* the pack itself goes to the writer; the next one starts afresh */
	op = calloc(1, sizeof *op);
	pack *done = malloc(sizeof *done);
	char **tt = calloc((size_t)k->n_tokens + 1, sizeof *tt), dec[1024];
	if (!op || !done || !tt) {
		free(op), free(done), free(tt);
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	}
	int bad = 0;
	for (int t = 0; t < k->n_tokens; t++) {
		int dl = fp_token_decode(m->tok, k->ids[t], dec, sizeof dec);
		bad |= !(tt[t] = tb_utf8_clean(dec, (size_t)dl < sizeof dec ? (size_t)dl : sizeof dec - 1));
	}
	*done = *k;
	memset(k, 0, sizeof *k);
	op->type = OP_PROMPTS, op->k = done, op->tok_text = tt;
	if (bad) {
		op_free(r->w, op);
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	}
	return writer_push(r->w, op, err);
}

int rr_flush(rr_recorder *r, fp_error *err)
{
	int rc = r->k.n ? run_pack(r, err) : 0;
	return rc ? rc : rr_sync(r, err);
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
