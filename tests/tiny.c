/* tiny.c - see tiny.h. */
#include "tiny.h"
#include "../model/quant.h"
#include "../model/model.h"
#include "../probe/stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void tiny_defaults(tiny_opts *o, const char *arch)
{
	memset(o, 0, sizeof *o);
	o->arch = arch;
	o->n_layers = 2;
	o->d_model = 64;
	o->d_mlp = 128;
	o->n_heads = 4;
	/* grouped-query attention where the family has it */
	o->n_kv_heads = strcmp(arch, "gpt2") && strcmp(arch, "gptneox") && strcmp(arch, "gptj") ? 2 : 4;
	o->n_ctx = 64;
	o->n_swa = 64;
	if (!strcmp(arch, "gemma3"))
		o->n_layers = 6; /* five sliding-window layers, then a global one */
	o->wtype = GGML_F32;
	o->tied = 1;
	o->seed = 42;
	o->scale = 0.15f;
	o->rope_base = 10000.0f;
}

static float rng_uniform(st_rng *s)
{
	return (float)((st_rng_next(s) >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

void tiny_quantize_q8_0(const float *x, uint8_t *dst, uint64_t n)
{
	for (uint64_t b = 0; b < n / 32; b++, x += 32, dst += 34) {
		float amax = 0;
		for (int j = 0; j < 32; j++)
			amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
		float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
		uint16_t h = f32_to_fp16(d);
		memcpy(dst, &h, 2);
		for (int j = 0; j < 32; j++)
			dst[2 + j] = (uint8_t)(int8_t)lrintf(x[j] * id);
	}
}

static void tiny_random_blocks(uint32_t type, uint8_t *dst, uint64_t n, float scale, int zero_min, st_rng *rng);

static void add_matrix(gw *w, const tiny_opts *o, st_rng *rng, const char *name, uint64_t ne0, uint64_t ne1,
		       float scale, float bias_one)
{
	uint64_t n = ne0 * ne1, ne[2] = {ne0, ne1};
	if (o->omit && !strcmp(o->omit, name))
		return;
	if (o->q2k && !strcmp(o->q2k, name)) {
		size_t nb = (size_t)(n / 256 * 84);
		uint8_t *z = calloc(nb ? nb : 1, 1);
		gw_tensor(w, name, 2, ne, GGML_Q2_K, z, nb);
		free(z);
		return;
	}
	if (o->widen && !strcmp(o->widen, name)) {
		ne[0] = ne0 += 32;
		n = ne0 * ne1;
	}
	float *x = malloc(n * sizeof *x);
	for (uint64_t i = 0; i < n; i++)
		x[i] = bias_one + scale * rng_uniform(rng);
	if (o->plant) {
		char nm[64];
		uint64_t D = (uint64_t)o->d_model, F = (uint64_t)o->d_mlp, nn = (uint64_t)o->plant_neuron;
		if (!strcmp(name, "token_embd.weight")) {
			x[(uint64_t)o->plant_in * D + 0] += 6.0f;
			x[(uint64_t)o->plant_out * D + 1] += 6.0f;
		}
		snprintf(nm, sizeof nm, "blk.%d.ffn_gate.weight", o->plant_layer);
		int gate = !strcmp(name, nm);
		snprintf(nm, sizeof nm, "blk.%d.ffn_up.weight", o->plant_layer);
		if (gate || !strcmp(name, nm)) /* row nn of [F][D] reads e0 */
			for (uint64_t d = 0; d < D; d++)
				x[nn * D + d] = d == 0 ? 2.0f : 0.0f;
		snprintf(nm, sizeof nm, "blk.%d.ffn_down.weight", o->plant_layer);
		if (!strcmp(name, nm)) /* column nn of [D][F] writes e1 */
			for (uint64_t d = 0; d < D; d++)
				x[d * F + nn] = d == 1 && !o->plant_cut ? 2.0f : 0.0f;
	}
	int is_vec = ne1 == 1;
	uint32_t t = is_vec ? GGML_F32 : o->wtype;
	if (t == GGML_F32) {
		gw_tensor(w, name, is_vec ? 1 : 2, ne, GGML_F32, x, n * 4);
	} else if (t == GGML_F16) {
		uint16_t *h = malloc(n * 2);
		for (uint64_t i = 0; i < n; i++)
			h[i] = f32_to_fp16(x[i]);
		gw_tensor(w, name, 2, ne, GGML_F16, h, n * 2);
		free(h);
	} else if (t == GGML_Q8_0) {
		uint8_t *q = malloc(n / 32 * 34);
		tiny_quantize_q8_0(x, q, n);
		gw_tensor(w, name, 2, ne, GGML_Q8_0, q, n / 32 * 34);
		free(q);
	} else {
		size_t nb = (size_t)(n / ggml_type_block_elems(t) * ggml_type_block_bytes(t));
		uint8_t *q = malloc(nb);
		tiny_random_blocks(t, q, n, scale, o->zero_min, rng);
		gw_tensor(w, name, 2, ne, t, q, nb);
		free(q);
	}
	free(x);
}

/* random blocks of a quantised type: random codes, a random scale per block
 * about |w| ~ scale, and the offsets (the minima of Q4_1/Q5_1/Q4_K/Q5_K)
 * set to centre each block's values on zero (zero_min: offsets 0, all
 * weights >= 0).  llama.cpp reads the same bytes, so the weights are
 * whatever these blocks say by construction. */
static void tiny_random_blocks(uint32_t type, uint8_t *dst, uint64_t n, float scale, int zero_min, st_rng *rng)
{
	float off = zero_min ? 0.0f : 1.0f;
	uint32_t be = ggml_type_block_elems(type), bb = ggml_type_block_bytes(type);
	/* typical |code - centre| times the typical sub-block scale, per type */
	float unit = type == GGML_Q4_0 || type == GGML_Q4_1 ? 4.0f : type == GGML_Q5_0 || type == GGML_Q5_1 ? 8.0f
		   : type == GGML_Q4_K ? 120.0f : type == GGML_Q5_K ? 240.0f : 1000.0f;
	for (uint64_t b = 0; b < n / be; b++, dst += bb) {
		for (uint32_t k = 0; k < bb; k++)
			dst[k] = (uint8_t)(st_rng_next(rng) >> 56);
		float d = scale / unit * (0.5f + 0.5f * (rng_uniform(rng) + 1.0f));
		uint16_t hd = f32_to_fp16(d), hm;
		float dq = fp16_to_f32(hd);
		switch (type) {
		case GGML_Q4_1: /* w = d q + m, q in 0..15 */
		case GGML_Q5_1: /* q in 0..31 */
			hm = f32_to_fp16(-(type == GGML_Q4_1 ? 7.5f : 15.5f) * dq * off);
			memcpy(dst + 2, &hm, 2);
			/* fall through */
		case GGML_Q4_0: /* w = d (q - 8) */
		case GGML_Q5_0: /* w = d (q - 16) */
			memcpy(dst, &hd, 2);
			break;
		case GGML_Q4_K: /* w = d sc_j q - dmin m_j, q in 0..15 (Q5_K: 0..31) */
		case GGML_Q5_K:
			/* 6-bit scales and minima equal (sc_j = m_j for every j), so
			 * w = sc_j (d q - dmin) with dmin = 7.5 d (15.5 d) is centred */
			memcpy(dst + 8, dst + 4, 4);
			for (int k = 12; k < 16; k++)
				dst[k] = (uint8_t)((dst[k] & 0x0f) | (dst[k] << 4));
			hm = f32_to_fp16((type == GGML_Q4_K ? 7.5f : 15.5f) * dq * off);
			memcpy(dst, &hd, 2);
			memcpy(dst + 2, &hm, 2);
			break;
		case GGML_Q6_K: /* w = d sc_j (q - 32), q in 0..63, sc_j int8 */
			memcpy(dst + 208, &hd, 2);
			break;
		default:
			abort();
		}
	}
}

static const char *MERGES[] = {
	"Ġ t", "h e", "Ġt he", "i n", "e r", "Ġ a", "o n", "r e", "Ġ s", "a t",
	"e n", "Ġ o", "o r", "Ġ w", "i s", "Ġ b", "a s", "Ġ c", "Ġ p", "l l",
	"Ġb as", "k e", "Ġbas ke", "t b", "Ġbaske tb", "a ll", "Ġbasketb all", "Ġ 1", "1 2",
};

void tiny_add_vocab(gw *w, int *n_vocab)
{
	tiny_add_vocab_pre(w, n_vocab, "gpt-2");
}

void tiny_add_vocab_pre(gw *w, int *n_vocab, const char *pre)
{
	size_t nm = sizeof MERGES / sizeof MERGES[0];
	int nv = 256 + (int)nm + 1;
	char **toks = calloc((size_t)nv, sizeof *toks);
	int32_t *types = malloc((size_t)nv * sizeof *types);
	/* byte-level alphabet in byte order, as GPT-2's bytes_to_unicode */
	int next = 256;
	for (int b = 0; b < 256; b++) {
		int keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
		int cp = keep ? b : next++;
		char *s = calloc(4, 1);
		if (cp < 0x80)
			s[0] = (char)cp;
		else {
			s[0] = (char)(0xc0 | cp >> 6);
			s[1] = (char)(0x80 | (cp & 0x3f));
		}
		toks[b] = s;
		types[b] = 1;
	}
	for (size_t i = 0; i < nm; i++) {
		const char *sp = strchr(MERGES[i], ' ');
		size_t la = (size_t)(sp - MERGES[i]);
		char *s = malloc(strlen(MERGES[i]));
		memcpy(s, MERGES[i], la);
		strcpy(s + la, sp + 1);
		toks[256 + i] = s;
		types[256 + i] = 1;
	}
	toks[nv - 1] = strdup("<|endoftext|>");
	types[nv - 1] = 3;
	gw_str(w, "tokenizer.ggml.model", "gpt2");
	gw_str(w, "tokenizer.ggml.pre", pre);
	gw_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks, (uint64_t)nv);
	gw_arr(w, "tokenizer.ggml.token_type", 5, types, (uint64_t)nv);
	gw_arr_str(w, "tokenizer.ggml.merges", MERGES, nm);
	gw_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)(nv - 1));
	gw_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)(nv - 1));
	gw_bool(w, "tokenizer.ggml.add_bos_token", 0);
	for (int i = 0; i < nv; i++)
		free(toks[i]);
	free(toks);
	free(types);
	*n_vocab = nv;
}


static const char *SPM_WORDS[] = {
	"the", "basketball", "ball", "basket", "plays", "play", "sport", "of", "is", "in", "Michael", "Jordan",
	"hello", "world", "capital", "France", "Paris", "and", "café", "naïve", "ing", "ed", "er", "12", "2024",
};

/* SentencePiece-style vocabulary: <unk> <s> </s>, the 256 byte tokens, the
 * printable ASCII characters and U+2581, and each word with and without the
 * U+2581 prefix together with all its prefixes (so pairwise merges can reach
 * it), scored so that longer pieces win. */
void tiny_add_vocab_spm(gw *w, int *n_vocab)
{
	int cap = 4096, nv = 0;
	char **toks = calloc((size_t)cap, sizeof *toks);
	float *scores = malloc((size_t)cap * sizeof *scores);
	int32_t *types = malloc((size_t)cap * sizeof *types);
#define ADD(str, sc, ty) do { int dup = 0; for (int q = 0; q < nv; q++) if (!strcmp(toks[q], str)) dup = 1; \
	if (!dup) { toks[nv] = strdup(str); scores[nv] = (sc); types[nv] = (ty); nv++; } } while (0)
	ADD("<unk>", 0, 2);
	ADD("<s>", 0, 3);
	ADD("</s>", 0, 3);
	for (int b = 0; b < 256; b++) {
		char name[8];
		snprintf(name, sizeof name, "<0x%02X>", b);
		ADD(name, 0, 6);
	}
	ADD("\xe2\x96\x81", -1.0f, 1);
	for (int c = 33; c < 127; c++) {
		char one[2] = {(char)c, 0};
		ADD(one, -2.0f, 1);
	}
	for (size_t i = 0; i < sizeof SPM_WORDS / sizeof SPM_WORDS[0]; i++) {
		for (int pre = 0; pre < 2; pre++) {
			char full[64];
			snprintf(full, sizeof full, "%s%s", pre ? "\xe2\x96\x81" : "", SPM_WORDS[i]);
			size_t L = strlen(full);
			for (size_t k = 2; k <= L; k++) {
				char p[64];
				if ((full[k - 1] & 0xc0) == 0xc0 || (k < L && (full[k] & 0xc0) == 0x80))
					continue; /* cut inside a character */
				memcpy(p, full, k);
				p[k] = 0;
				if (strlen(p) == 3 && pre)
					continue; /* U+2581 alone */
				ADD(p, (float)k - 0.01f * (float)i, 1);
			}
		}
	}
#undef ADD
	gw_str(w, "tokenizer.ggml.model", "llama");
	gw_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks, (uint64_t)nv);
	gw_arr(w, "tokenizer.ggml.scores", 6, scores, (uint64_t)nv);
	gw_arr(w, "tokenizer.ggml.token_type", 5, types, (uint64_t)nv);
	gw_u32(w, "tokenizer.ggml.bos_token_id", 1);
	gw_u32(w, "tokenizer.ggml.eos_token_id", 2);
	gw_u32(w, "tokenizer.ggml.unknown_token_id", 0);
	for (int i = 0; i < nv; i++)
		free(toks[i]);
	free(toks);
	free(scores);
	free(types);
	*n_vocab = nv;
}

gw *tiny_build(const tiny_opts *o)
{
	gw *w = gw_new();
	char key[128], name[128];
	const char *a = o->arch;
	int llama = !strcmp(a, "llama"), gpt2 = !strcmp(a, "gpt2"), neox = !strcmp(a, "gptneox"), phi3 = !strcmp(a, "phi3");
	int qwen2 = !strcmp(a, "qwen2"), qk_norm = !strcmp(a, "qwen3") || !strcmp(a, "gemma3");
	int gemma2 = !strcmp(a, "gemma2"), gemma = gemma2 || !strcmp(a, "gemma3"), gptj = !strcmp(a, "gptj");
	int ln = gpt2 || neox || gptj, nv;
	st_rng rng = st_rng_seed(o->seed);
	uint64_t D = (uint64_t)o->d_model, F = (uint64_t)o->d_mlp;
	uint64_t E = o->d_head ? (uint64_t)o->d_head : D / (uint64_t)o->n_heads;
	uint64_t QE = E * (uint64_t)o->n_heads, KE = E * (uint64_t)o->n_kv_heads;
	float s = o->scale;
	gw_str(w, "general.architecture", o->arch_override ? o->arch_override : a);
	/* not "tiny-phi3": llama.cpp gives models named phi3 special-token
	 * attributes by name, and those need SentencePiece's "</s>" */
	snprintf(name, sizeof name, "tiny-%s", phi3 ? "p3" : a);
	gw_str(w, "general.name", name);
	gw_u32(w, "general.alignment", 32);
#define DIM(suffix, v) (snprintf(key, sizeof key, "%s." suffix, a), gw_u32(w, key, (uint32_t)(v)))
#define F32(suffix, v) (snprintf(key, sizeof key, "%s." suffix, a), gw_f32(w, key, (v)))
	DIM("block_count", o->layers_override ? o->layers_override : (uint32_t)o->n_layers);
	DIM("context_length", o->n_ctx);
	DIM("embedding_length", o->d_model);
	DIM("feed_forward_length", o->d_mlp);
	DIM("attention.head_count", o->n_heads);
	DIM("attention.head_count_kv", o->n_kv_heads);
	/* llama.cpp's gemma converters always write the head width (transformers
	 * reads it; its Gemma configs default to 256) */
	if (o->d_head || gemma)
		DIM("attention.key_length", E), DIM("attention.value_length", E);
	if (!gpt2) {
		/* Pythia rotates a quarter of each head, GPT-J a part too */
		DIM("rope.dimension_count", neox ? E / 4 : gptj ? E / 2 : E);
		F32("rope.freq_base", o->rope_base);
	}
	if (ln)
		F32("attention.layer_norm_epsilon", 1e-5f);
	else
		F32("attention.layer_norm_rms_epsilon", 1e-5f);
	if (gemma)
		DIM("attention.sliding_window", o->n_swa);
	if (o->attn_softcap > 0)
		F32("attn_logit_softcapping", o->attn_softcap);
	if (o->final_softcap > 0)
		F32("final_logit_softcapping", o->final_softcap);
	if (neox)
		snprintf(key, sizeof key, "%s.use_parallel_residual", a), gw_bool(w, key, 1);
#undef DIM
#undef F32
	if (o->spm_vocab)
		tiny_add_vocab_spm(w, &nv);
	else
		tiny_add_vocab_pre(w, &nv, o->pre ? o->pre : "gpt-2");
	uint64_t V = (uint64_t)nv;
	if (o->l3_factor > 0 && !(o->omit && !strcmp(o->omit, "rope_freqs.weight"))) {
		/* the divisors of each rotary pair's frequency (llama 3.1's rope_freqs) */
		fp_config c = {.rope_base = o->rope_base, .rope_dim = (int)E, .rope_l3_factor = o->l3_factor,
			       .rope_l3_low = 1.0f, .rope_l3_high = 4.0f, .rope_l3_orig_ctx = 32.0f};
		float div[256];
		uint64_t half = E / 2;
		for (uint64_t i = 0; i < half && i < 256; i++)
			div[i] = (float)fp_rope_llama3_divisor(&c, (int)i);
		gw_tensor(w, "rope_freqs.weight", 1, &half, GGML_F32, div, half * 4);
	}
	add_matrix(w, o, &rng, "token_embd.weight", D, V, gemma ? 0.2f : 1.0f, 0);
	if (gpt2)
		add_matrix(w, o, &rng, "position_embd.weight", D, (uint64_t)o->n_ctx, 0.5f, 0);
	add_matrix(w, o, &rng, "output_norm.weight", D, 1, 0.2f, 1.0f);
	if (ln)
		add_matrix(w, o, &rng, "output_norm.bias", D, 1, 0.1f, 0);
	if (!o->tied)
		add_matrix(w, o, &rng, "output.weight", D, V, 1.0f, 0);
	if (gptj)
		add_matrix(w, o, &rng, "output.bias", V, 1, 0.5f, 0);
	for (int l = 0; l < o->n_layers; l++) {
#define T(what, ne0, ne1, sc, one) (snprintf(name, sizeof name, "blk.%d." what, l), \
				    add_matrix(w, o, &rng, name, ne0, ne1, sc, one))
		T("attn_norm.weight", D, 1, 0.2f, 1.0f);
		if (!gptj)
			T("ffn_norm.weight", D, 1, 0.2f, 1.0f);
		if (gptj) { /* one LayerNorm; Q, K, V, O without bias; the MLP with */
			T("attn_norm.bias", D, 1, 0.1f, 0);
			T("attn_q.weight", D, QE, s * 2, 0);
			T("attn_k.weight", D, KE, s * 2, 0);
			T("attn_v.weight", D, KE, s, 0);
			T("ffn_up.bias", F, 1, 0.1f, 0);
			T("ffn_down.bias", D, 1, 0.1f, 0);
		} else if (ln) {
			T("attn_norm.bias", D, 1, 0.1f, 0);
			T("ffn_norm.bias", D, 1, 0.1f, 0);
			T("attn_qkv.weight", D, QE + 2 * KE, s * 2, 0);
			T("attn_qkv.bias", QE + 2 * KE, 1, 0.1f, 0);
			T("attn_output.bias", D, 1, 0.1f, 0);
			T("ffn_up.bias", F, 1, 0.1f, 0);
			T("ffn_down.bias", D, 1, 0.1f, 0);
		} else if (phi3) {
			T("attn_qkv.weight", D, QE + 2 * KE, s * 2, 0);
		} else {
			T("attn_q.weight", D, QE, s * 2, 0);
			T("attn_k.weight", D, KE, s * 2, 0);
			T("attn_v.weight", D, KE, s, 0);
			T("ffn_gate.weight", D, F, s, 0);
		}
		if (qwen2) {
			T("attn_q.bias", QE, 1, 0.1f, 0);
			T("attn_k.bias", KE, 1, 0.1f, 0);
			T("attn_v.bias", KE, 1, 0.1f, 0);
		}
		if (qk_norm) {
			T("attn_q_norm.weight", E, 1, 0.2f, 1.0f);
			T("attn_k_norm.weight", E, 1, 0.2f, 1.0f);
		}
		if (gemma) {
			T("post_attention_norm.weight", D, 1, 0.2f, 1.0f);
			T("post_ffw_norm.weight", D, 1, 0.2f, 1.0f);
		}
		T("attn_output.weight", QE, D, s, 0);
		T("ffn_up.weight", D, phi3 ? 2 * F : F, s, 0);
		T("ffn_down.weight", F, D, s, 0);
#undef T
	}
	(void)llama;
	return w;
}

int tiny_write(const tiny_opts *o, const char *path)
{
	gw *w = tiny_build(o);
	int rc = gw_write(w, path, 3, 32);
	gw_free(w);
	return rc;
}

/* tiny-gpt2-hf has the context (1024) and MLP width (4 d_model) that
 * transformers' GGUF loader assumes for gpt2, so transformers can run it too. */
static const struct { const char *file, *arch; uint32_t wtype; int tied, spm, n_ctx, d_mlp; const char *pre; } NAMED[] = {
	{"tiny-llama.gguf", "llama", GGML_F32, 1, 0, 0, 0, NULL},
	{"tiny-llama-q8.gguf", "llama", GGML_Q8_0, 0, 0, 0, 0, NULL},
	{"tiny-gpt2.gguf", "gpt2", GGML_F32, 1, 0, 0, 0, NULL},
	{"tiny-gpt2-f16.gguf", "gpt2", GGML_F16, 0, 0, 0, 0, NULL},
	{"tiny-llama-spm.gguf", "llama", GGML_F32, 1, 1, 0, 0, NULL},
	{"tiny-gpt2-hf.gguf", "gpt2", GGML_F32, 1, 0, 1024, 256, NULL},
	{"tiny-llama-bpe.gguf", "llama", GGML_F32, 1, 0, 0, 0, "llama-bpe"},
};

void tiny_plant(tiny_opts *o)
{
	o->plant = 1;
	o->plant_layer = 1;
	o->plant_neuron = 5;
	o->plant_in = 'J';
	o->plant_out = 'Q';
}

int tiny_n_named(void)
{
	return (int)(sizeof NAMED / sizeof NAMED[0]);
}

const char *tiny_named(int i, tiny_opts *o)
{
	tiny_defaults(o, NAMED[i].arch);
	o->wtype = NAMED[i].wtype;
	o->tied = NAMED[i].tied;
	o->spm_vocab = NAMED[i].spm;
	if (NAMED[i].n_ctx)
		o->n_ctx = NAMED[i].n_ctx;
	if (NAMED[i].d_mlp)
		o->d_mlp = NAMED[i].d_mlp;
	o->pre = NAMED[i].pre;
	return NAMED[i].file;
}

/* the newer architectures, each with what makes it differ switched on where a
 * tiny model can show it: a sliding window shorter than the texts (gemma),
 * strong soft-caps (gemma2), heads wider than d_model / n_heads (gemma3,
 * qwen3), an untied unembedding (phi3, gptneox, as their checkpoints have) */
static const struct { const char *file, *arch; int tied, d_head, n_swa; float acap, fcap, l3; } ARCH_NAMED[] = {
	{"tiny-qwen2.gguf", "qwen2", 1, 0, 0, 0, 0, 0},
	{"tiny-qwen3.gguf", "qwen3", 1, 32, 0, 0, 0, 0},
	{"tiny-gemma2.gguf", "gemma2", 1, 0, 4, 2.0f, 5.0f, 0},
	{"tiny-gemma3.gguf", "gemma3", 1, 32, 4, 0, 0, 0},
	{"tiny-phi3.gguf", "phi3", 0, 0, 0, 0, 0, 0},
	{"tiny-gptneox.gguf", "gptneox", 0, 0, 0, 0, 0, 0},
	/* llama 3.1's RoPE scaling (rope_freqs), with a base of 100 so that the
	 * pairs fall in all three of its bands within the texts' positions */
	{"tiny-llama3.gguf", "llama", 1, 0, 0, 0, 0, 8.0f},
};

int tiny_n_arch_named(void)
{
	return (int)(sizeof ARCH_NAMED / sizeof ARCH_NAMED[0]);
}

const char *tiny_arch_named(int i, tiny_opts *o)
{
	tiny_defaults(o, ARCH_NAMED[i].arch);
	o->tied = ARCH_NAMED[i].tied;
	o->d_head = ARCH_NAMED[i].d_head;
	if (ARCH_NAMED[i].n_swa)
		o->n_swa = ARCH_NAMED[i].n_swa;
	o->attn_softcap = ARCH_NAMED[i].acap;
	o->final_softcap = ARCH_NAMED[i].fcap;
	if (!strcmp(o->arch, "gemma3"))
		o->rope_base = 1e6f; /* the global layers' base; the sliding ones use 10000 */
	if ((o->l3_factor = ARCH_NAMED[i].l3) > 0)
		o->rope_base = 100.0f;
	return ARCH_NAMED[i].file;
}

/* one model per quantised weight type that q8mm multiplies (tiny-llama-q8
 * is Q8_0): random blocks (tiny_random_blocks), an untied output matrix; the
 * K-quants' rows are 256 values, so their models are 256 wide */
static const struct { const char *file; uint32_t wtype; int zero_min; } QTYPE_NAMED[] = {
	{"tiny-llama-q4_0.gguf", GGML_Q4_0, 0}, {"tiny-llama-q4_1.gguf", GGML_Q4_1, 0},
	{"tiny-llama-q5_0.gguf", GGML_Q5_0, 0}, {"tiny-llama-q5_1.gguf", GGML_Q5_1, 0},
	{"tiny-llama-q4_k.gguf", GGML_Q4_K, 0}, {"tiny-llama-q5_k.gguf", GGML_Q5_K, 0},
	{"tiny-llama-q6_k.gguf", GGML_Q6_K, 0},
	/* the types with an offset, with offsets 0 (a model that is not centred) */
	{"tiny-llama-q4_1-m0.gguf", GGML_Q4_1, 1}, {"tiny-llama-q5_1-m0.gguf", GGML_Q5_1, 1},
	{"tiny-llama-q4_k-m0.gguf", GGML_Q4_K, 1}, {"tiny-llama-q5_k-m0.gguf", GGML_Q5_K, 1},
};

int tiny_n_qtype_named(void)
{
	return (int)(sizeof QTYPE_NAMED / sizeof QTYPE_NAMED[0]);
}

const char *tiny_qtype_named(int i, tiny_opts *o)
{
	tiny_defaults(o, "llama");
	o->wtype = QTYPE_NAMED[i].wtype;
	o->zero_min = QTYPE_NAMED[i].zero_min;
	o->tied = 0;
	if (ggml_type_block_elems(o->wtype) == 256)
		o->d_model = 256, o->d_mlp = 512;
	return QTYPE_NAMED[i].file;
}

int tiny_load(const tiny_opts *o, fp_model **m, fp_error *err)
{
	char path[] = "/tmp/fp-tiny-XXXXXX";
	int fd = mkstemp(path), rc;
	*m = NULL;
	if (fd < 0)
		return fp_error_set(err, FP_ERR_IO, "cannot create a temporary file");
	close(fd);
	if (tiny_write(o, path))
		rc = fp_error_set(err, FP_ERR_IO, "cannot write '%s'", path);
	else {
		fp_load_opts lo = {o->weights, o->matmul};
		rc = fp_model_load_opts(m, path, &lo, err);
	}
	unlink(path);
	return rc;
}

int tiny_load_plant(fp_model **m, fp_error *err)
{
	tiny_opts o;
	tiny_defaults(&o, "llama");
	tiny_plant(&o);
	return tiny_load(&o, m, err);
}
