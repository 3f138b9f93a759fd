/* test_forward.c - the forward pass and its hooks on tiny synthetic models,
 * for both architectures, checked against facts known by construction:
 *   - each hook sees what its name says (resid_mid = resid_pre + attn_out, ...);
 *   - with every block's output weights zeroed the logits are
 *     norm(embedding) . unembedding, computed here by hand;
 *   - with W_Q = 0 attention is uniform over the causal prefix, so each
 *     head's output is the mean of its KV group's values so far;
 *   - zeroing a neuron through mlp.hook_post equals zeroing its W_out column;
 *   - overwriting the last resid_post with another run's gives that run's logits;
 *   - a position's logits do not depend on later tokens;
 *   - bad calls (too long, bad ids, empty) are errors, and a hook can abort. */
#include "check.h"
#include "tiny.h"
#include "../model/model.h"
#include "../model/quant.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXH 64

typedef struct rec {
	float *buf[FP_HOOK_KIND_COUNT][8]; /* [kind][layer] copies, layer 0 for globals */
	int T;
} rec;

static int record_hook(void *user, const fp_hook_event *ev)
{
	rec *r = user;
	int l = ev->layer < 0 ? 0 : ev->layer;
	size_t n = (size_t)ev->n_pos * ev->width;
	free(r->buf[ev->kind][l]);
	r->buf[ev->kind][l] = malloc(n * sizeof(float));
	memcpy(r->buf[ev->kind][l], ev->data, n * sizeof(float));
	return 0;
}

static void rec_free(rec *r)
{
	for (int k = 0; k < FP_HOOK_KIND_COUNT; k++)
		for (int l = 0; l < 8; l++)
			free(r->buf[k][l]);
}

/* a matrix of a model loaded with FP_WEIGHTS_F32, as floats */
static const float *F32(const fp_mat *w)
{
	return w->type == GGML_F32 ? w->data : NULL;
}

static fp_model *load_tiny(const char *arch)
{
	tiny_opts o;
	fp_model *m;
	fp_error e = {0};
	tiny_defaults(&o, arch);
	o.weights = FP_WEIGHTS_F32; /* the tests below edit weights in place and read them as floats */
	if (tiny_load(&o, &m, &e))
		printf("cannot load: %s\n", e.msg);
	return m;
}

static double maxdiff(const float *a, const float *b, size_t n)
{
	double md = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - b[i]);
		md = d > md ? d : md;
	}
	return md;
}

/* the norm the model uses, written out plainly in double */
static void ref_norm(const fp_model *m, const float *x, const float *w, const float *b, float *y)
{
	int D = m->cfg.d_model, rms = !m->cfg.layer_norm;
	double mean = 0, var = 0;
	if (!rms) {
		for (int i = 0; i < D; i++)
			mean += x[i];
		mean /= D;
	}
	for (int i = 0; i < D; i++)
		var += (x[i] - mean) * (x[i] - mean);
	double inv = 1 / sqrt(var / D + m->cfg.norm_eps);
	for (int i = 0; i < D; i++)
		y[i] = (float)((x[i] - mean) * inv * w[i] + (b ? b[i] : 0));
}

static const int32_t TOKS[] = {116, 257, 282, 32, 270, 283, 50, 32, 259, 258, 67, 12};
#define NT ((int)(sizeof TOKS / sizeof TOKS[0]))

static void test_hooks(fp_model *m)
{
	const char *a = m->cfg.arch_name;
	int D = m->cfg.d_model, F = m->cfg.d_mlp, V = m->cfg.n_vocab, L = m->cfg.n_layers;
	rec r = {.T = NT};
	fp_forward_opts o = {.hook = record_hook, .user = &r, .hook_mask = FP_HOOK_ALL, .all_logits = 1};
	float *logits = malloc((size_t)NT * V * sizeof *logits);
	fp_error e = {0};
	CHECK(fp_model_forward(m, TOKS, NT, &o, logits, &e) == 0, "%s forward: %s", a, e.msg);
	size_t nd = (size_t)NT * D;
	double worst = 0;
	float *sum = malloc(nd * sizeof *sum);
	for (int l = 0; l < L; l++) {
		for (size_t i = 0; i < nd; i++)
			sum[i] = r.buf[FP_HOOK_RESID_PRE][l][i] + r.buf[FP_HOOK_ATTN_OUT][l][i];
		double d1 = maxdiff(sum, r.buf[FP_HOOK_RESID_MID][l], nd);
		for (size_t i = 0; i < nd; i++)
			sum[i] = r.buf[FP_HOOK_RESID_MID][l][i] + r.buf[FP_HOOK_MLP_OUT][l][i];
		double d2 = maxdiff(sum, r.buf[FP_HOOK_RESID_POST][l], nd);
		double d3 = l + 1 < L ? maxdiff(r.buf[FP_HOOK_RESID_POST][l], r.buf[FP_HOOK_RESID_PRE][l + 1], nd) : 0;
		worst = fmax(worst, fmax(d1, fmax(d2, d3)));
	}
	CHECK_CLOSE(worst, 0, "%s: resid_mid = resid_pre + attn_out, resid_post = resid_mid + mlp_out, "
		    "resid_post[l] = resid_pre[l+1]", a);
	/* the MLP nonlinearity between hook_pre and hook_post */
	double dm = 0;
	for (int l = 0; l < L; l++)
		for (size_t i = 0; i < (size_t)NT * F; i++) {
			double p = r.buf[FP_HOOK_MLP_PRE][l][i], want;
			if (m->cfg.mlp_act == FP_ACT_SILU)
				want = p / (1 + exp(-p));
			else if (m->cfg.mlp_act == FP_ACT_GELU_TANH)
				want = 0.5 * p * (1 + tanh(sqrt(2 / M_PI) * (p + 0.044715 * p * p * p)));
			else
				want = 0.5 * p * (1 + erf(p / sqrt(2)));
			if (m->cfg.gated_mlp)
				want *= r.buf[FP_HOOK_MLP_PRE_LINEAR][l][i];
			dm = fmax(dm, fabs(want - r.buf[FP_HOOK_MLP_POST][l][i]));
		}
	static const char *ACT[] = {"silu", "gelu_tanh", "gelu_erf"};
	CHECK_CLOSE(dm, 1e-5, "%s: mlp.hook_post = %s(hook_pre)%s", a, ACT[m->cfg.mlp_act],
		    m->cfg.gated_mlp ? " * hook_pre_linear" : "");
	if (m->cfg.post_norms) { /* gemma: hook_attn_out / hook_mlp_out = RMSNorm(*_pre_norm) * w_post */
		double dp = 0;
		for (int l = 0; l < L; l++)
			for (int t = 0; t < NT; t++) {
				ref_norm(m, r.buf[FP_HOOK_ATTN_OUT_PRE_NORM][l] + (size_t)t * D, m->layers[l].post_attn_norm, NULL, sum);
				dp = fmax(dp, maxdiff(sum, r.buf[FP_HOOK_ATTN_OUT][l] + (size_t)t * D, (size_t)D));
				ref_norm(m, r.buf[FP_HOOK_MLP_OUT_PRE_NORM][l] + (size_t)t * D, m->layers[l].post_mlp_norm, NULL, sum);
				dp = fmax(dp, maxdiff(sum, r.buf[FP_HOOK_MLP_OUT][l] + (size_t)t * D, (size_t)D));
			}
		CHECK_CLOSE(dp, 1e-5, "%s: hook_attn_out and hook_mlp_out = post-norm of their *_pre_norm hooks", a);
	}
	CHECK((r.buf[FP_HOOK_ATTN_OUT_PRE_NORM][0] != NULL) == (m->cfg.post_norms != 0),
	      "%s: hook_attn_out_pre_norm only with post norms", a);
	CHECK((r.buf[FP_HOOK_MLP_PRE_LINEAR][0] != NULL) == m->cfg.gated_mlp, "%s: hook_pre_linear only for gated MLPs", a);
	CHECK((r.buf[FP_HOOK_POS_EMBED][0] != NULL) == (m->cfg.arch == FP_ARCH_GPT2), "%s: hook_pos_embed only for gpt2", a);
	/* final norm and unembedding, by hand */
	float *y = malloc((size_t)D * sizeof *y);
	double dn = 0, dl = 0;
	for (int t = 0; t < NT; t++) {
		ref_norm(m, r.buf[FP_HOOK_RESID_POST][L - 1] + (size_t)t * D, m->out_norm_w, m->out_norm_b, y);
		dn = fmax(dn, maxdiff(y, r.buf[FP_HOOK_LN_FINAL][0] + (size_t)t * D, (size_t)D));
		for (int v = 0; v < V; v++) {
			double s = 0;
			for (int i = 0; i < D; i++)
				s += (double)r.buf[FP_HOOK_LN_FINAL][0][(size_t)t * D + i] * F32(&m->unembed)[(size_t)v * D + i];
			s += m->unembed_b ? m->unembed_b[v] : 0; /* gptj */
			if (m->cfg.final_softcap > 0) /* gemma2 */
				s = m->cfg.final_softcap * tanh(s / m->cfg.final_softcap);
			dl = fmax(dl, fabs(s - logits[(size_t)t * V + v]));
		}
	}
	CHECK_CLOSE(dn, 1e-5, "%s: ln_final.hook_normalized = norm(last resid_post)", a);
	CHECK_CLOSE(dl, 1e-4, "%s: logits = ln_final . unembedding%s%s", a, m->unembed_b ? " + its bias" : "",
		    m->cfg.final_softcap > 0 ? ", soft-capped" : "");
	CHECK(maxdiff(r.buf[FP_HOOK_LOGITS][0], logits, (size_t)NT * V) == 0, "%s: the logits hook sees the logits", a);
	free(y), free(sum), free(logits);
	rec_free(&r);
}

/* Every block's W_O and W_out zeroed (and their biases): the residual stream
 * is the embedding (+ positions) and the logits follow by hand. */
static void test_zero_blocks(fp_model *m)
{
	const char *a = m->cfg.arch_name;
	int D = m->cfg.d_model, V = m->cfg.n_vocab, L = m->cfg.n_layers;
	int QE = m->cfg.n_heads * m->cfg.d_head, F = m->cfg.d_mlp;
	for (int l = 0; l < L; l++) {
		fp_layer *y = &m->layers[l];
		memset((float *)y->wo.data, 0, (size_t)D * QE * sizeof(float));
		memset((float *)y->w_down.data, 0, (size_t)D * F * sizeof(float));
		if (y->bo)
			memset((float *)y->bo, 0, (size_t)D * sizeof(float));
		if (y->b_down)
			memset((float *)y->b_down, 0, (size_t)D * sizeof(float));
	}
	float *logits = malloc((size_t)NT * V * sizeof *logits), *x = malloc((size_t)D * 4), *xn = malloc((size_t)D * 4);
	fp_error e = {0};
	fp_forward_opts o = {0};
	o.all_logits = 1;
	CHECK(fp_model_forward(m, TOKS, NT, &o, logits, &e) == 0, "forward: %s", e.msg);
	double md = 0;
	for (int t = 0; t < NT; t++) {
		for (int i = 0; i < D; i++)
			x[i] = F32(&m->tok_embd)[(size_t)TOKS[t] * D + i] * m->cfg.embed_scale +
			       (m->pos_embd ? m->pos_embd[(size_t)t * D + i] : 0);
		ref_norm(m, x, m->out_norm_w, m->out_norm_b, xn);
		for (int v = 0; v < V; v++) {
			double s = 0;
			for (int i = 0; i < D; i++)
				s += (double)xn[i] * F32(&m->unembed)[(size_t)v * D + i];
			s += m->unembed_b ? m->unembed_b[v] : 0;
			if (m->cfg.final_softcap > 0)
				s = m->cfg.final_softcap * tanh(s / m->cfg.final_softcap);
			md = fmax(md, fabs(s - logits[(size_t)t * V + v]));
		}
	}
	CHECK_CLOSE(md, 1e-4, "%s with every block's output zeroed: logits = norm(embed%s) . unembed, by hand", a,
		    m->pos_embd ? " + pos" : "");
	free(logits), free(x), free(xn);
}

typedef struct zq {
	float *xn; /* captured normalised input of block 0 isn't a hook: recompute from resid_pre */
	float *z;
	float *resid_pre;
} zq;

static int capture_z(void *user, const fp_hook_event *ev)
{
	zq *c = user;
	size_t n = (size_t)ev->n_pos * ev->width * sizeof(float);
	if (ev->layer == 0 && ev->kind == FP_HOOK_ATTN_Z)
		c->z = memcpy(malloc(n), ev->data, n);
	if (ev->layer == 0 && ev->kind == FP_HOOK_RESID_PRE)
		c->resid_pre = memcpy(malloc(n), ev->data, n);
	return 0;
}

/* W_Q = 0 (and b_Q = 0): every score is 0, attention is uniform over
 * positions 0..t, so head h's output is the running mean of V for its
 * KV group g = h / (H/K). */
static void test_uniform_attention(fp_model *m)
{
	const fp_config *c = &m->cfg;
	int D = c->d_model, E = c->d_head, H = c->n_heads, K = c->n_kv_heads, QE = H * E, KE = K * E;
	const fp_layer *y = &m->layers[0];
	memset((float *)y->wq.data, 0, (size_t)QE * D * sizeof(float));
	if (y->bq)
		memset((float *)y->bq, 0, (size_t)QE * sizeof(float));
	zq cap = {0};
	fp_forward_opts o = {.hook = capture_z, .user = &cap, .hook_mask = FP_HOOK_BIT(FP_HOOK_ATTN_Z) | FP_HOOK_BIT(FP_HOOK_RESID_PRE), .all_logits = 0};
	fp_error e = {0};
	CHECK(fp_model_forward(m, TOKS, NT, &o, NULL, &e) == 0, "forward: %s", e.msg);
	float *xn = malloc((size_t)D * 4), *v = malloc((size_t)NT * KE * 4);
	for (int t = 0; t < NT; t++) {
		ref_norm(m, cap.resid_pre + (size_t)t * D, y->ln1_w, y->ln1_b, xn);
		for (int j = 0; j < KE; j++) {
			double s = y->bv ? y->bv[j] : 0;
			for (int i = 0; i < D; i++)
				s += (double)F32(&y->wv)[(size_t)j * D + i] * xn[i];
			v[(size_t)t * KE + j] = (float)s;
		}
	}
	double md = 0;
	for (int t = 0; t < NT; t++)
		for (int h = 0; h < H; h++)
			for (int d = 0; d < E; d++) {
				double mean = 0;
				int g = h / (H / K);
				for (int s = 0; s <= t; s++)
					mean += v[(size_t)s * KE + g * E + d];
				mean /= t + 1;
				md = fmax(md, fabs(mean - cap.z[(size_t)t * QE + h * E + d]));
			}
	CHECK_CLOSE(md, 1e-5, "%s with W_Q = 0: attn.hook_z is the causal running mean of V for each head's KV group "
		    "(%d heads, %d KV heads)", c->arch_name, H, K);
	free(xn), free(v), free(cap.z), free(cap.resid_pre);
}

typedef struct ablate {
	int layer, neuron;
} ablate;

static int zero_neuron(void *user, const fp_hook_event *ev)
{
	ablate *a = user;
	if (ev->kind == FP_HOOK_MLP_POST && ev->layer == a->layer)
		for (int t = 0; t < ev->n_pos; t++)
			ev->data[(size_t)t * ev->width + a->neuron] = 0;
	return 0;
}

static void test_ablation(fp_model *m)
{
	int V = m->cfg.n_vocab, D = m->cfg.d_model, F = m->cfg.d_mlp;
	float *base = malloc((size_t)V * 4), *hooked = malloc((size_t)V * 4), *edited = malloc((size_t)V * 4);
	ablate ab = {1, 17};
	fp_forward_opts o = {.hook = zero_neuron, .user = &ab, .hook_mask = FP_HOOK_BIT(FP_HOOK_MLP_POST), .all_logits = 0};
	fp_error e = {0};
	fp_model_forward(m, TOKS, NT, NULL, base, &e);
	fp_model_forward(m, TOKS, NT, &o, hooked, &e);
	float *w = (float *)m->layers[ab.layer].w_down.data, *saved = malloc((size_t)D * 4);
	for (int i = 0; i < D; i++)
		saved[i] = w[(size_t)i * F + ab.neuron], w[(size_t)i * F + ab.neuron] = 0;
	fp_model_forward(m, TOKS, NT, NULL, edited, &e);
	for (int i = 0; i < D; i++)
		w[(size_t)i * F + ab.neuron] = saved[i];
	CHECK(maxdiff(base, hooked, (size_t)V) > 1e-4, "%s: ablating neuron 1.17 changes the logits (by %.3g)",
	      m->cfg.arch_name, maxdiff(base, hooked, (size_t)V));
	CHECK_CLOSE(maxdiff(hooked, edited, (size_t)V), 1e-6,
		    "%s: zeroing neuron 1.17 in mlp.hook_post = zeroing its W_out column", m->cfg.arch_name);
	free(base), free(hooked), free(edited), free(saved);
}

typedef struct patch {
	float *src;
	int layer, save;
	size_t n;
} patch;

static int patch_hook(void *user, const fp_hook_event *ev)
{
	patch *p = user;
	if (ev->kind != FP_HOOK_RESID_POST || ev->layer != p->layer)
		return 0;
	if (p->save)
		memcpy(p->src, ev->data, p->n * sizeof(float));
	else
		memcpy(ev->data, p->src, p->n * sizeof(float));
	return 0;
}

static void test_patching(fp_model *m)
{
	int V = m->cfg.n_vocab, D = m->cfg.d_model, L = m->cfg.n_layers;
	int32_t other[NT];
	for (int i = 0; i < NT; i++)
		other[i] = (TOKS[i] * 7 + 3) % V;
	patch p = {malloc((size_t)NT * D * 4), L - 1, 1, (size_t)NT * D};
	float *clean = malloc((size_t)V * 4), *patched = malloc((size_t)V * 4);
	fp_forward_opts o = {.hook = patch_hook, .user = &p, .hook_mask = FP_HOOK_BIT(FP_HOOK_RESID_POST), .all_logits = 0};
	fp_error e = {0};
	fp_model_forward(m, TOKS, NT, &o, clean, &e);
	p.save = 0;
	fp_model_forward(m, other, NT, &o, patched, &e);
	CHECK_CLOSE(maxdiff(clean, patched, (size_t)V), 0,
		    "%s: another prompt with the last resid_post overwritten gives the first prompt's logits", m->cfg.arch_name);
	free(p.src), free(clean), free(patched);
}

static void test_causal(fp_model *m)
{
	int V = m->cfg.n_vocab, k = 5;
	float *full = malloc((size_t)NT * V * 4), *pre = malloc((size_t)k * V * 4);
	fp_forward_opts o = {0};
	o.all_logits = 1;
	fp_error e = {0};
	fp_model_forward(m, TOKS, NT, &o, full, &e);
	fp_model_forward(m, TOKS, k, &o, pre, &e);
	CHECK_CLOSE(maxdiff(full, pre, (size_t)k * V), 1e-4, "%s: logits of the first %d positions ignore later tokens",
		    m->cfg.arch_name, k);
	free(full), free(pre);
}

/* Three prompts packed into one pass give each prompt's own rows: every
 * hook row, every logit row, and (without all_logits) each last logit row. */
static void test_packed(fp_model *m)
{
	int V = m->cfg.n_vocab, D = m->cfg.d_model, L = m->cfg.n_layers;
	int lens[3] = {5, 12, 3}, n = 20;
	int32_t packed[20];
	for (int i = 0; i < n; i++)
		packed[i] = (TOKS[i % NT] * 5 + i) % V;
	rec all = {.T = n};
	float *lg = malloc((size_t)n * V * 4), *last = malloc(3 * (size_t)V * 4);
	fp_forward_opts o = {.hook = record_hook, .user = &all, .hook_mask = FP_HOOK_ALL, .all_logits = 1,
			     .seq_len = lens, .n_seq = 3};
	fp_error e = {0};
	CHECK(fp_model_forward(m, packed, n, &o, lg, &e) == 0, "packed forward: %s", e.msg);
	fp_forward_opts o2 = {.seq_len = lens, .n_seq = 3};
	CHECK(fp_model_forward(m, packed, n, &o2, last, &e) == 0, "packed forward, last logits: %s", e.msg);
	double dh = 0, dl = 0, dlast = 0;
	for (int s = 0, a = 0; s < 3; a += lens[s++]) {
		rec one = {.T = lens[s]};
		float *lg1 = malloc((size_t)lens[s] * V * 4);
		fp_forward_opts o1 = {.hook = record_hook, .user = &one, .hook_mask = FP_HOOK_ALL, .all_logits = 1};
		fp_model_forward(m, packed + a, lens[s], &o1, lg1, &e);
		for (int l = 0; l < L; l++)
			dh = fmax(dh, maxdiff(one.buf[FP_HOOK_RESID_POST][l], all.buf[FP_HOOK_RESID_POST][l] + (size_t)a * D,
					      (size_t)lens[s] * D));
		dl = fmax(dl, maxdiff(lg1, lg + (size_t)a * V, (size_t)lens[s] * V));
		dlast = fmax(dlast, maxdiff(lg1 + (size_t)(lens[s] - 1) * V, last + (size_t)s * V, (size_t)V));
		free(lg1);
		rec_free(&one);
	}
	/* gemma's residual stream is sqrt(d_model) times larger (its embeddings are scaled) */
	CHECK_CLOSE(dh, 1e-5 * m->cfg.embed_scale, "%s: 3 packed prompts (5, 12, 3 tokens): every resid_post row equals its own pass",
		    m->cfg.arch_name);
	CHECK_CLOSE(dl, 1e-4, "%s: packed logits at every position equal each prompt's own", m->cfg.arch_name);
	CHECK_CLOSE(dlast, 1e-4, "%s: packed, without all_logits: one row per prompt, its last token's", m->cfg.arch_name);
	int bad[2] = {5, 14};
	fp_forward_opts ob = {.seq_len = bad, .n_seq = 2};
	CHECK(fp_model_forward(m, packed, n, &ob, NULL, &e) == FP_ERR_INVALID && strstr(e.msg, "add up to 19"),
	      "sequence lengths that do not add up: %s", e.msg);
	free(lg), free(last);
	rec_free(&all);
}

static int abort_hook(void *user, const fp_hook_event *ev)
{
	(void)user;
	return ev->kind == FP_HOOK_MLP_POST && ev->layer == 1;
}

static void test_bad_calls(fp_model *m)
{
	int n = m->cfg.n_ctx + 1;
	int32_t *ids = calloc((size_t)n, sizeof *ids);
	fp_error e = {0};
	CHECK(fp_model_forward(m, ids, n, NULL, NULL, &e) == FP_ERR_INVALID && strstr(e.msg, "longer than the model's context"),
	      "prompt longer than the context: %s", e.msg);
	ids[3] = m->cfg.n_vocab;
	CHECK(fp_model_forward(m, ids, 5, NULL, NULL, &e) == FP_ERR_INVALID && strstr(e.msg, "position 3"),
	      "token id out of range: %s", e.msg);
	CHECK(fp_model_forward(m, ids, 0, NULL, NULL, &e) == FP_ERR_INVALID, "no tokens: %s", e.msg);
	fp_forward_opts o = {.hook = abort_hook, .user = NULL, .hook_mask = FP_HOOK_ALL, .all_logits = 0};
	ids[3] = 0;
	CHECK(fp_model_forward(m, ids, 5, &o, NULL, &e) == FP_ERR_ABORTED && strstr(e.msg, "blocks.1.mlp.hook_post"),
	      "a hook can stop the pass: %s", e.msg);
	free(ids);
}

static void test_names(fp_model *m)
{
	char buf[64];
	int k, l, ok = 1;
	for (k = 0; k < FP_HOOK_KIND_COUNT; k++) {
		int kk, ll;
		fp_hook_name(k, 3, buf, sizeof buf);
		ok &= fp_hook_parse(buf, &kk, &ll) == 0 && kk == k && ll == (fp_hook_is_layer(k) ? 3 : -1);
	}
	CHECK(ok, "hook names round-trip");
	CHECK(fp_hook_parse("blocks.12.mlp.hook_post", &k, &l) == 0 && k == FP_HOOK_MLP_POST && l == 12, "parse mlp.hook_post");
	CHECK(fp_hook_parse("blocks.x.hook_resid_pre", &k, &l) == -1 && fp_hook_parse("hook_nothing", &k, &l) == -1 &&
	      fp_hook_parse("blocks.1.hook_embed", &k, &l) == -1, "bad names rejected");
	CHECK(!strcmp(fp_hook_name(FP_HOOK_LN_FINAL, 0, buf, sizeof buf), "ln_final.hook_normalized"), "ln_final name");
	CHECK(fp_hook_width(m, FP_HOOK_MLP_POST) == m->cfg.d_mlp && fp_hook_width(m, FP_HOOK_LOGITS) == m->cfg.n_vocab,
	      "hook widths");
}

/* Starting at a layer from a saved residual, and continuing a sequence from
 * its cached keys and values, give the full pass's logits. */
static int keep_resid_pre(void *user, const fp_hook_event *ev)
{
	float **buf = user;
	if (ev->kind == FP_HOOK_RESID_PRE)
		memcpy(buf[ev->layer], ev->data, (size_t)ev->n_pos * ev->width * sizeof(float));
	return 0;
}

static void test_continue(fp_model *m)
{
	const char *arch = m->cfg.arch_name;
	int L = m->cfg.n_layers, D = m->cfg.d_model, V = m->cfg.n_vocab, n = 9;
	int32_t ids[9] = {116, 104, 101, 32, 98, 97, 115, 107, 101};
	float *pre[8] = {0}, *full = malloc((size_t)n * V * sizeof *full), *got = malloc((size_t)4 * V * sizeof *got);
	for (int l = 0; l < L; l++)
		pre[l] = malloc((size_t)n * D * sizeof(float));
	fp_kv_cache kv;
	fp_error err = {0};
	CHECK(fp_kv_cache_alloc(&kv, m, n) == 0, "kv cache");
	fp_forward_opts o = {0};
	o.hook = keep_resid_pre, o.user = pre, o.hook_mask = FP_HOOK_BIT(FP_HOOK_RESID_PRE), o.all_logits = 1;
	o.kv_save = &kv;
	CHECK(fp_model_forward(m, ids, n, &o, full, &err) == 0, "%s: full pass with kv_save: %s", arch, err.msg);
	/* from layer 1, all positions */
	fp_forward_opts s = {0};
	s.start_layer = 1, s.resid_in = pre[1];
	CHECK(fp_model_forward(m, NULL, n, &s, got, &err) == 0, "start at layer 1: %s", err.msg);
	double d = 0;
	for (int v = 0; v < V; v++)
		d = fmax(d, fabs(got[v] - full[(size_t)(n - 1) * V + v]));
	CHECK_CLOSE(d, 1e-5, "%s: a pass started at layer 1 from the saved resid_pre = the full pass, last logits", arch);
	/* three continued sequences packed: positions 3.., 6.., 8.. of the same prompt, from layers 0 and 1 */
	for (int start = 0; start < 2; start++) {
		int from[3] = {3, 6, 8}, lens[3], tot = 0;
		float *in = malloc((size_t)n * 3 * D * sizeof *in);
		const fp_kv_cache *kvs[3] = {&kv, &kv, &kv};
		for (int i = 0; i < 3; i++) {
			lens[i] = n - from[i];
			memcpy(in + (size_t)tot * D, pre[start] + (size_t)from[i] * D, (size_t)lens[i] * D * sizeof(float));
			tot += lens[i];
		}
		fp_forward_opts c = {0};
		c.start_layer = start, c.resid_in = in, c.seq_len = lens, c.n_seq = 3, c.prefix_kv = kvs, c.prefix_len = from;
		CHECK(fp_model_forward(m, NULL, tot, &c, got, &err) == 0, "continued sequences: %s", err.msg);
		d = 0;
		for (int i = 0; i < 3; i++)
			for (int v = 0; v < V; v++)
				d = fmax(d, fabs(got[(size_t)i * V + v] - full[(size_t)(n - 1) * V + v]));
		CHECK_CLOSE(d, 1e-5, "%s: 3 packed sequences continued from cached keys/values at positions 3, 6, 8 (start layer %d) = the full pass",
			    arch, start);
		free(in);
	}
	int bad_len = n + 1;
	const fp_kv_cache *kv1[1] = {&kv};
	fp_forward_opts b = {0};
	b.start_layer = 0, b.resid_in = pre[0], b.prefix_kv = kv1, b.prefix_len = &bad_len;
	CHECK(fp_model_forward(m, NULL, 1, &b, got, &err) == FP_ERR_INVALID, "a prefix longer than its cache is refused: %s",
	      err.msg);
	fp_kv_cache_free(&kv);
	for (int l = 0; l < L; l++)
		free(pre[l]);
	free(full), free(got);
}

int main(void)
{
	const char *arches[] = {"llama", "gpt2", "qwen2", "qwen3", "gemma2", "gemma3", "phi3", "gptneox", "gptj"};
	for (int i = 0; i < (int)(sizeof arches / sizeof arches[0]); i++) {
		fp_model *m = load_tiny(arches[i]);
		CHECK(m != NULL, "tiny %s loads", arches[i]);
		if (!m)
			continue;
		test_names(m);
		test_hooks(m);
		test_ablation(m);
		test_patching(m);
		test_causal(m);
		test_packed(m);
		test_continue(m);
		test_bad_calls(m);
		test_uniform_attention(m);
		test_zero_blocks(m); /* destroys the weights: last */
		fp_model_free(m);
	}
	return check_done("test_forward");
}
