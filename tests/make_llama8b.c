/* make_llama8b.c - writes a synthetic GGUF with the exact shapes of
 * Llama-3-8B (32 layers, d_model 4096, d_mlp 14336, 32 heads, 8 KV heads of
 * 128, vocabulary 128256) and llama.cpp's Q4_K_M mix of types: Q4_K
 * everywhere except output.weight (Q6_K) and attn_v / ffn_down of the
 * layers llama.cpp gives more bits (the first and last eighth, and every
 * third between), which are Q6_K.  For benchmarks of memory and speed
 * ('make bench'), not for any answer: the weights are random quant blocks.
 *
 * Every block's scales are chosen so the weights are centred with a
 * standard deviation near 0.018 (about 1/sqrt(4096)), which keeps the
 * activations finite through the 32 layers:
 *   Q4_K: all 8 sub-block scales and mins equal v (4..11) and
 *         dmin = 7.5 d, so x = d v (q - 7.5) with q uniform on 0..15;
 *   Q6_K: all 16 scales v (4..11), x = d v (q - 32) with q uniform on 0..63.
 * The vocabulary is GPT-2 byte-level: the 256 byte tokens, one merge, the
 * Llama-3 BOS/EOS control tokens at 128000/128001 and filler tokens, so
 * llama.cpp and factprobe both load it and byte-level text tokenises.
 * The tensor data are streamed to the file (no 5 GB buffer).
 *
 * usage: make_llama8b OUT.gguf [N_LAYERS]   (N_LAYERS < 32: a slice, for tests) */
#include "../model/quant.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { D = 4096, F = 14336, H = 32, KV = 8, E = 128, V = 128256, ALIGN = 32 };

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void put(FILE *f, const void *p, size_t n)
{
	if (fwrite(p, 1, n, f) != n) {
		perror("make_llama8b: write");
		exit(1);
	}
}
static void u32(FILE *f, uint32_t v) { put(f, &v, 4); }
static void u64(FILE *f, uint64_t v) { put(f, &v, 8); }
static void str(FILE *f, const char *s) { u64(f, strlen(s)), put(f, s, strlen(s)); }
static void kv_u32(FILE *f, const char *k, uint32_t v) { str(f, k), u32(f, 4), u32(f, v); }
static void kv_f32(FILE *f, const char *k, float v) { str(f, k), u32(f, 6), put(f, &v, 4); }
static void kv_str(FILE *f, const char *k, const char *v) { str(f, k), u32(f, 8), str(f, v); }
static void kv_bool(FILE *f, const char *k, int v) { uint8_t b = (uint8_t)v; str(f, k), u32(f, 7), put(f, &b, 1); }

typedef struct tensor {
	char name[64];
	uint64_t ne0, ne1;
	uint32_t type;
	uint64_t offset, nbytes;
} tensor;

static int more_bits(int l, int n) /* llama.cpp's use_more_bits for Q4_K_M */
{
	return l < n / 8 || l >= 7 * n / 8 || (l - n / 8) % 3 == 2;
}

static void block_q4_k(uint8_t *b)
{
	uint64_t r = next();
	int v = 4 + (int)(r & 7);
	uint16_t d = f32_to_fp16(1.0f / 2048), dmin = f32_to_fp16(7.5f / 2048);
	memcpy(b, &d, 2), memcpy(b + 2, &dmin, 2);
	for (int j = 0; j < 8; j++)
		b[4 + j] = (uint8_t)v;             /* j < 4: sc = mn = v; high bits 0 */
	for (int j = 8; j < 12; j++)
		b[4 + j] = (uint8_t)(v | (v << 4)); /* j >= 4: sc = low nibble, mn = high nibble */
	for (int i = 0; i < 128; i += 8) {
		r = next();
		memcpy(b + 16 + i, &r, 8);
	}
}

static void block_q6_k(uint8_t *b)
{
	for (int i = 0; i < 192; i += 8) {
		uint64_t r = next();
		memcpy(b + i, &r, 8);
	}
	uint64_t r = next();
	for (int j = 0; j < 16; j++)
		b[192 + j] = (uint8_t)(4 + ((r >> (3 * j)) & 7));
	uint16_t d = f32_to_fp16(1.0f / 8192);
	memcpy(b + 208, &d, 2);
}

static void write_data(FILE *f, const tensor *t)
{
	static uint8_t buf[1 << 20];
	uint64_t n = t->ne0 * t->ne1;
	if (t->type == GGML_F32) {
		float one = 1.0f;
		for (uint64_t i = 0; i < n; i++)
			put(f, &one, 4);
	} else {
		uint32_t bb = ggml_type_block_bytes(t->type), nb = (uint32_t)(sizeof buf / bb);
		uint64_t blocks = n / 256;
		while (blocks) {
			uint32_t k = blocks < nb ? (uint32_t)blocks : nb;
			for (uint32_t i = 0; i < k; i++)
				(t->type == GGML_Q4_K ? block_q4_k : block_q6_k)(buf + (size_t)i * bb);
			put(f, buf, (size_t)k * bb);
			blocks -= k;
		}
	}
	static const uint8_t zero[ALIGN];
	put(f, zero, (size_t)((ALIGN - t->nbytes % ALIGN) % ALIGN));
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: make_llama8b OUT.gguf [N_LAYERS]\n");
		return 2;
	}
	int L = argc > 2 ? atoi(argv[2]) : 32;
	if (L < 1 || L > 32) {
		fprintf(stderr, "make_llama8b: N_LAYERS must be 1..32\n");
		return 2;
	}
	tensor *ts = calloc((size_t)(3 + 9 * L), sizeof *ts);
	int nt = 0;
#define ADD(nm, a, b, ty) (snprintf(ts[nt].name, sizeof ts[nt].name, "%s", nm), ts[nt].ne0 = (a), ts[nt].ne1 = (b), \
			   ts[nt].type = (ty), nt++)
	ADD("token_embd.weight", D, V, GGML_Q4_K);
	ADD("output_norm.weight", D, 1, GGML_F32);
	ADD("output.weight", D, V, GGML_Q6_K);
	for (int l = 0; l < L; l++) {
		char n[64];
		uint32_t hi = more_bits(l, 32) ? GGML_Q6_K : GGML_Q4_K;
#define LAYER(what, a, b, ty) (snprintf(n, sizeof n, "blk.%d.%s", l, what), ADD(n, a, b, ty))
		LAYER("attn_norm.weight", D, 1, GGML_F32);
		LAYER("attn_q.weight", D, H * E, GGML_Q4_K);
		LAYER("attn_k.weight", D, KV * E, GGML_Q4_K);
		LAYER("attn_v.weight", D, KV * E, hi);
		LAYER("attn_output.weight", H * E, D, GGML_Q4_K);
		LAYER("ffn_norm.weight", D, 1, GGML_F32);
		LAYER("ffn_gate.weight", D, F, GGML_Q4_K);
		LAYER("ffn_up.weight", D, F, GGML_Q4_K);
		LAYER("ffn_down.weight", F, D, hi);
	}
	uint64_t off = 0;
	for (int i = 0; i < nt; i++) {
		uint64_t n = ts[i].ne0 * ts[i].ne1;
		ts[i].nbytes = n / ggml_type_block_elems(ts[i].type) * ggml_type_block_bytes(ts[i].type);
		ts[i].offset = off;
		off += (ts[i].nbytes + ALIGN - 1) / ALIGN * ALIGN;
	}
	FILE *f = fopen(argv[1], "wb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	u32(f, 0x46554747), u32(f, 3), u64(f, (uint64_t)nt), u64(f, 22);
	kv_str(f, "general.architecture", "llama");
	kv_str(f, "general.name", "synthetic Llama-3-8B shapes (random Q4_K_M weights)");
	kv_u32(f, "general.file_type", 15); /* MOSTLY_Q4_K_M */
	kv_u32(f, "general.alignment", ALIGN);
	kv_u32(f, "llama.block_count", (uint32_t)L);
	kv_u32(f, "llama.context_length", 8192);
	kv_u32(f, "llama.embedding_length", D);
	kv_u32(f, "llama.feed_forward_length", F);
	kv_u32(f, "llama.attention.head_count", H);
	kv_u32(f, "llama.attention.head_count_kv", KV);
	kv_u32(f, "llama.rope.dimension_count", E);
	kv_f32(f, "llama.rope.freq_base", 500000.0f);
	kv_f32(f, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
	kv_u32(f, "llama.vocab_size", V);
	kv_str(f, "tokenizer.ggml.model", "gpt2");
	kv_str(f, "tokenizer.ggml.pre", "llama-bpe");
	/* tokens: the byte alphabet (GPT-2's bytes_to_unicode, in byte order), "Ġt", fillers, BOS/EOS */
	str(f, "tokenizer.ggml.tokens"), u32(f, 9), u32(f, 8), u64(f, V);
	int nextcp = 256;
	for (int b = 0; b < 256; b++) {
		int keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
		int cp = keep ? b : nextcp++;
		char s[3] = {0};
		if (cp < 0x80)
			s[0] = (char)cp;
		else
			s[0] = (char)(0xc0 | cp >> 6), s[1] = (char)(0x80 | (cp & 0x3f));
		str(f, s);
	}
	str(f, "\xc4\xa0t");
	for (int i = 257; i < V; i++) {
		char s[40];
		if (i == 128000)
			snprintf(s, sizeof s, "<|begin_of_text|>");
		else if (i == 128001)
			snprintf(s, sizeof s, "<|end_of_text|>");
		else
			snprintf(s, sizeof s, "<|filler_%d|>", i);
		str(f, s);
	}
	str(f, "tokenizer.ggml.token_type"), u32(f, 9), u32(f, 5), u64(f, V);
	for (int i = 0; i < V; i++)
		u32(f, i < 257 ? 1 : 3);
	str(f, "tokenizer.ggml.merges"), u32(f, 9), u32(f, 8), u64(f, 1);
	str(f, "\xc4\xa0 t");
	kv_u32(f, "tokenizer.ggml.bos_token_id", 128000);
	kv_u32(f, "tokenizer.ggml.eos_token_id", 128001);
	kv_bool(f, "tokenizer.ggml.add_bos_token", 0);
	for (int i = 0; i < nt; i++) {
		str(f, ts[i].name);
		int vec = ts[i].ne1 == 1;
		u32(f, vec ? 1 : 2), u64(f, ts[i].ne0);
		if (!vec)
			u64(f, ts[i].ne1);
		u32(f, ts[i].type), u64(f, ts[i].offset);
	}
	long pos = ftell(f);
	static const uint8_t zero[ALIGN];
	put(f, zero, (size_t)((ALIGN - pos % ALIGN) % ALIGN));
	for (int i = 0; i < nt; i++)
		write_data(f, &ts[i]);
	if (fclose(f)) {
		perror(argv[1]);
		return 1;
	}
	printf("%s: %d layers, %d tensors, %.2f GB of tensor data\n", argv[1], L, nt, off / 1e9);
	free(ts);
	return 0;
}
