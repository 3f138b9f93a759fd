/* hf_writer.c - see hf_writer.h. */
#include "hf_writer.h"
#include "../model/model.h"
#include "../model/quant.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GGUF tensor name -> the name transformers' GGUF loader gives it */
static int hf_name(const char *g, char *out, size_t n)
{
	static const char *const GLOBAL[][2] = {
		{"token_embd.weight", "model.embed_tokens.weight"},
		{"output_norm.weight", "model.norm.weight"},
		{"output.weight", "lm_head.weight"},
	};
	static const char *const LAYER[][2] = {
		{"attn_norm.weight", "input_layernorm.weight"},
		{"attn_q.weight", "self_attn.q_proj.weight"}, {"attn_q.bias", "self_attn.q_proj.bias"},
		{"attn_k.weight", "self_attn.k_proj.weight"}, {"attn_k.bias", "self_attn.k_proj.bias"},
		{"attn_v.weight", "self_attn.v_proj.weight"}, {"attn_v.bias", "self_attn.v_proj.bias"},
		{"attn_output.weight", "self_attn.o_proj.weight"},
		{"attn_q_norm.weight", "self_attn.q_norm.weight"}, {"attn_k_norm.weight", "self_attn.k_norm.weight"},
		{"ffn_norm.weight", "post_attention_layernorm.weight"},
		{"ffn_gate.weight", "mlp.gate_proj.weight"}, {"ffn_up.weight", "mlp.up_proj.weight"},
		{"ffn_down.weight", "mlp.down_proj.weight"},
	};
	for (size_t i = 0; i < sizeof GLOBAL / sizeof GLOBAL[0]; i++)
		if (!strcmp(g, GLOBAL[i][0]))
			return snprintf(out, n, "%s", GLOBAL[i][1]), 0;
	int l, k = 0;
	if (sscanf(g, "blk.%d.%n", &l, &k) == 1 && k > 0)
		for (size_t i = 0; i < sizeof LAYER / sizeof LAYER[0]; i++)
			if (!strcmp(g + k, LAYER[i][0]))
				return snprintf(out, n, "model.layers.%d.%s", l, LAYER[i][1]), 0;
	return -1;
}

static uint16_t to_bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40); /* a quiet NaN */
	u += 0x7fffu + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

typedef struct ent {
	char name[128];
	const gguf_tensor *t;
	int nd, heads; /* heads > 0: llama q/k rows to un-permute */
	uint64_t shape[4], nbytes;
} ent;

static int by_name(const void *a, const void *b)
{
	return strcmp(((const ent *)a)->name, ((const ent *)b)->name);
}

/* the tensor as the checkpoint stores it (bytes in out, esz per element) */
static int convert(const ent *e, float *f, float *tmp, uint8_t *out, int esz)
{
	const gguf_tensor *t = e->t;
	if (quant_dequantize(t->type, t->data, f, t->n_elem))
		return -1;
	if (e->heads) {
		/* llama.cpp's converter stored row h*E + 2j + k of each head at
		 * Hugging Face's h*E + k*E/2 + j: undo it */
		uint64_t cols = t->ne[0], rows = t->n_elem / cols, E = rows / (uint64_t)e->heads;
		memcpy(tmp, f, t->n_elem * 4);
		for (uint64_t h = 0; h < (uint64_t)e->heads; h++)
			for (uint64_t j = 0; j < E / 2; j++)
				for (uint64_t k = 0; k < 2; k++)
					memcpy(f + (h * E + k * (E / 2) + j) * cols, tmp + (h * E + 2 * j + k) * cols, cols * 4);
	}
	for (uint64_t i = 0; i < t->n_elem; i++) {
		if (esz == 4)
			memcpy(out + 4 * i, &f[i], 4);
		else {
			uint16_t h = esz == 2 ? f32_to_fp16(f[i]) : to_bf16(f[i]);
			memcpy(out + 2 * i, &h, 2);
		}
	}
	return 0;
}

static int write_config(const fp_model *m, const char *dir, const char *src, fp_error *err)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/config.json", dir);
	if (src) {
		FILE *in = fopen(src, "rb"), *out = fopen(p, "wb");
		char buf[4096];
		size_t n;
		int ok = in && out;
		while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
			ok = fwrite(buf, 1, n, out) == n;
		if (in)
			fclose(in);
		if (out && fclose(out))
			ok = 0;
		return ok ? 0 : fp_error_set(err, FP_ERR_IO, "cannot copy '%s' to '%s'", src, p);
	}
	const fp_config *c = &m->cfg;
	const char *arch = c->arch == FP_ARCH_QWEN2 ? "Qwen2ForCausalLM" : c->arch == FP_ARCH_QWEN3 ? "Qwen3ForCausalLM"
				: "LlamaForCausalLM";
	json_t *o = json_pack("{s:[s], s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:b, s:s}", "architectures",
			      arch, "model_type", c->arch == FP_ARCH_QWEN2 ? "qwen2" : c->arch == FP_ARCH_QWEN3 ? "qwen3" : "llama",
			      "hidden_size", c->d_model, "intermediate_size", c->d_mlp, "num_hidden_layers", c->n_layers,
			      "num_attention_heads", c->n_heads, "num_key_value_heads", c->n_kv_heads, "head_dim", c->d_head,
			      "vocab_size", c->n_vocab, "max_position_embeddings", c->n_ctx, "rms_norm_eps",
			      (double)c->norm_eps, "rope_theta", (double)c->rope_base, "tie_word_embeddings",
			      c->tied_unembed, "hidden_act", "silu");
	int rc = o && !json_dump_file(o, p, JSON_INDENT(2)) ? 0 : fp_error_set(err, FP_ERR_IO, "cannot write '%s'", p);
	json_decref(o);
	return rc;
}

int hfw_from_gguf(const char *gguf_path, const char *dir, const char *dtype, const char *config_src,
		  char **manifest, fp_error *err)
{
	int esz = !strcmp(dtype, "F32") ? 4 : !strcmp(dtype, "F16") ? 2 : !strcmp(dtype, "BF16") ? 3 : 0;
	if (!esz)
		return fp_error_set(err, FP_ERR_INVALID, "dtype '%s' is not F32, F16 or BF16", dtype);
	fp_model *m;
	int rc = fp_model_load_mode(&m, gguf_path, FP_WEIGHTS_NATIVE, err);
	if (rc)
		return rc;
	if (m->cfg.arch != FP_ARCH_LLAMA && m->cfg.arch != FP_ARCH_QWEN2 && m->cfg.arch != FP_ARCH_QWEN3) {
		rc = fp_error_set(err, FP_ERR_UNSUPPORTED, "'%s': %s is not a llama-family GGUF", gguf_path,
				  m->cfg.arch_name);
		fp_model_free(m);
		return rc;
	}
	const gguf_file *g = m->gguf;
	size_t n = (size_t)g->n_tensors, bsz = esz == 4 ? 4 : 2, maxn = 0;
	ent *e = calloc(n ? n : 1, sizeof *e);
	json_t *hdr = json_object();
	char *text = NULL, path[4096], tmp[4200];
	FILE *out = NULL;
	float *f = NULL, *scr = NULL;
	uint8_t *buf = NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	rc = FP_ERR_NOMEM;
	if (!e || !hdr || !md)
		goto done;
	for (size_t i = 0; i < n; i++) {
		const gguf_tensor *t = &g->tensors[i];
		char gn[128];
		snprintf(gn, sizeof gn, "%.*s", (int)t->name.len, t->name.ptr);
		if (hf_name(gn, e[i].name, sizeof e[i].name)) {
			rc = fp_error_set(err, FP_ERR_UNSUPPORTED, "'%s': tensor '%s' has no Hugging Face name here", gguf_path, gn);
			goto done;
		}
		e[i].t = t;
		e[i].nd = (int)t->n_dims;
		for (int d = 0; d < e[i].nd; d++)
			e[i].shape[d] = t->ne[e[i].nd - 1 - d];
		e[i].nbytes = t->n_elem * bsz;
		if (m->cfg.arch == FP_ARCH_LLAMA && strstr(gn, ".attn_q.weight"))
			e[i].heads = m->cfg.n_heads;
		if (m->cfg.arch == FP_ARCH_LLAMA && strstr(gn, ".attn_k.weight"))
			e[i].heads = m->cfg.n_kv_heads;
		if (t->n_elem > maxn)
			maxn = t->n_elem;
	}
	qsort(e, n, sizeof *e, by_name);
	uint64_t off = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *sh = json_array();
		for (int d = 0; d < e[i].nd; d++)
			json_array_append_new(sh, json_integer((json_int_t)e[i].shape[d]));
		json_object_set_new(hdr, e[i].name, json_pack("{s:s, s:o, s:[I, I]}", "dtype", dtype, "shape", sh,
							      "data_offsets", (json_int_t)off, (json_int_t)(off + e[i].nbytes)));
		off += e[i].nbytes;
	}
	json_object_set_new(hdr, "__metadata__", json_pack("{s:s}", "format", "pt"));
	if (!(text = json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER)) || !(f = malloc(maxn * 4)) ||
	    !(scr = malloc(maxn * 4)) || !(buf = malloc(maxn * 4)))
		goto done;
	if (dir) {
		snprintf(path, sizeof path, "%s/model.safetensors", dir);
		snprintf(tmp, sizeof tmp, "%s.tmp", path);
		size_t hl = strlen(text), pad = (8 - hl % 8) % 8;
		uint64_t hn = hl + pad;
		uint8_t le[8];
		for (int i = 0; i < 8; i++)
			le[i] = (uint8_t)(hn >> (8 * i));
		if (!(out = fopen(tmp, "wb")) || fwrite(le, 1, 8, out) != 8 || fwrite(text, 1, hl, out) != hl ||
		    fwrite("        ", 1, pad, out) != pad) {
			rc = fp_error_set(err, FP_ERR_IO, "cannot write '%s'", tmp);
			goto done;
		}
	}
	size_t mcap = n * 200 + 1, mlen = 0;
	char *man = manifest ? malloc(mcap) : NULL;
	if (manifest && !man)
		goto done;
	if (man)
		man[0] = 0;
	for (size_t i = 0; i < n; i++) {
		if (convert(&e[i], f, scr, buf, esz)) {
			free(man);
			rc = fp_error_set(err, FP_ERR_UNSUPPORTED, "'%s': cannot dequantise '%s'", gguf_path, e[i].name);
			goto done;
		}
		if (out && fwrite(buf, 1, e[i].nbytes, out) != e[i].nbytes) {
			free(man);
			rc = fp_error_set(err, FP_ERR_IO, "cannot write '%s'", tmp);
			goto done;
		}
		if (man) {
			unsigned char h[32];
			unsigned hl = 0;
			EVP_DigestInit_ex(md, EVP_sha256(), NULL);
			EVP_DigestUpdate(md, buf, e[i].nbytes);
			EVP_DigestFinal_ex(md, h, &hl);
			mlen += (size_t)snprintf(man + mlen, mcap - mlen, "%s\t%s\t[", e[i].name, dtype);
			for (int d = 0; d < e[i].nd; d++)
				mlen += (size_t)snprintf(man + mlen, mcap - mlen, "%s%llu", d ? ", " : "",
							 (unsigned long long)e[i].shape[d]);
			mlen += (size_t)snprintf(man + mlen, mcap - mlen, "]\t");
			for (int k = 0; k < 32; k++)
				mlen += (size_t)snprintf(man + mlen, mcap - mlen, "%02x", h[k]);
			mlen += (size_t)snprintf(man + mlen, mcap - mlen, "\n");
		}
	}
	if (manifest)
		*manifest = man;
	if (out) {
		int bad = fclose(out);
		out = NULL;
		if (bad || rename(tmp, path)) {
			rc = fp_error_set(err, FP_ERR_IO, "cannot write '%s'", path);
			goto done;
		}
		if ((rc = write_config(m, dir, config_src, err)))
			goto done;
	}
	rc = 0;
done:
	if (rc == FP_ERR_NOMEM)
		fp_error_set(err, rc, "out of memory");
	if (out)
		fclose(out);
	EVP_MD_CTX_free(md);
	free(text), free(f), free(scr), free(buf), free(e);
	json_decref(hdr);
	fp_model_free(m);
	return rc;
}
