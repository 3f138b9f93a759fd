/* make_seeds.c - writes the GGUF seeds of the fuzz corpus (tests/fuzz/gguf/):
 * small models from tests/tiny.c (llama and gpt2; F32, F16 and Q8_0
 * weights; byte-level BPE and SentencePiece vocabularies) and a metadata-only
 * file holding a value of every GGUF type (no .gguf suffix, which git
 * ignores).  Usage: make_seeds DIR.  The
 * other harnesses' seeds are short text files written by hand. */
#include "../gguf_writer.h"
#include "../tiny.h"
#include "../../model/quant.h"

#include <stdio.h>
#include <string.h>

static void small(tiny_opts *o, const char *arch)
{
	tiny_defaults(o, arch);
	o->n_layers = 1;
	o->d_model = 8;
	o->d_mlp = 16;
	o->n_heads = 2;
	o->n_kv_heads = strcmp(arch, "llama") ? 2 : 1;
	o->n_ctx = 8;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_seeds DIR\n");
		return 2;
	}
	char p[1024];
	tiny_opts o;
	int rc = 0;
	small(&o, "llama"), o.wtype = GGML_F16;
	snprintf(p, sizeof p, "%s/llama-f16", argv[1]), rc |= tiny_write(&o, p);
	small(&o, "gpt2"), o.tied = 0;
	snprintf(p, sizeof p, "%s/gpt2-f32", argv[1]), rc |= tiny_write(&o, p);
	small(&o, "llama"), o.spm_vocab = 1, o.wtype = GGML_F16;
	snprintf(p, sizeof p, "%s/llama-spm", argv[1]), rc |= tiny_write(&o, p);
	small(&o, "llama"), o.d_model = 32, o.d_mlp = 32, o.wtype = GGML_Q8_0, o.pre = "smollm";
	snprintf(p, sizeof p, "%s/llama-q8", argv[1]), rc |= tiny_write(&o, p);

	/* metadata only: one value of every type, arrays of numbers and strings */
	gw *w = gw_new();
	uint8_t b[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	for (uint32_t t = 0; t <= 12; t++)
		if (t != 8 && t != 9) {
			char key[16];
			snprintf(key, sizeof key, "k.t%u", t);
			gw_scalar(w, key, t, b, t == 0 || t == 1 || t == 7 ? 1 : t <= 3 ? 2 : t <= 6 ? 4 : 8);
		}
	gw_str(w, "general.architecture", "llama");
	gw_u32(w, "general.alignment", 64);
	int32_t a[3] = {-1, 0, 7};
	gw_arr(w, "k.arr", 5, a, 3);
	const char *s[2] = {"x", ""};
	gw_arr_str(w, "k.strs", s, 2);
	float f[2] = {1.5f, -2};
	uint64_t ne[2] = {2, 1};
	gw_tensor(w, "t", 2, ne, GGML_F32, f, sizeof f);
	snprintf(p, sizeof p, "%s/meta", argv[1]);
	rc |= gw_write(w, p, 3, 64);
	gw_free(w);
	snprintf(p, sizeof p, "%s/meta-v2", argv[1]);
	w = gw_new();
	gw_str(w, "general.architecture", "gpt2");
	gw_write(w, p, 2, 32);
	gw_free(w);
	/* a key twice: an error (the reader once took the first) */
	snprintf(p, sizeof p, "%s/dupkey", argv[1]);
	w = gw_new();
	gw_str(w, "general.architecture", "llama");
	gw_str(w, "general.architecture", "gpt2");
	gw_write(w, p, 3, 32);
	gw_free(w);
	return rc ? 1 : 0;
}
