/* fuzz_hfconfig.c - a Hugging Face checkpoint directory's JSON (model/hf.c,
 * through hf_open): arbitrary bytes as config.json beside a valid
 * model.safetensors of the tiny llama (byte 0 even), or as
 * model.safetensors.index.json beside a valid config.json and one shard
 * holding every tensor (byte 0 odd).  What opens must describe a model
 * whose tensors the virtual GGUF holds.  The directories live in the
 * harness's temporary directory; the shard's name is the only file an index
 * may name.  FUZZ_VERBOSE=1 prints each outcome. */
#include "fuzz.h"
#include "../hf_writer.h"
#include "../tiny.h"
#include "../../model/gguf.h"
#include "../../model/hf_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHARD "model-00001-of-00001.safetensors"

static char dir_a[300], dir_b[300];
static size_t st_size;

static void put(const char *dir, const char *name, const void *data, size_t n)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "wb");
	if (!f || fwrite(data, 1, n, f) != n)
		abort();
	fclose(f);
}

static void *slurp(const char *dir, const char *name, size_t *n)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "rb");
	if (!f)
		abort();
	fseek(f, 0, SEEK_END);
	*n = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	void *b = malloc(*n ? *n : 1);
	if (!b || fread(b, 1, *n, f) != *n)
		abort();
	fclose(f);
	return b;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = fuzz_tmpdir();
	char gguf[300];
	snprintf(gguf, sizeof gguf, "%s/tiny-llama.gguf", tmp);
	snprintf(dir_a, sizeof dir_a, "%s/a", tmp);
	snprintf(dir_b, sizeof dir_b, "%s/b", tmp);
	tiny_opts o;
	tiny_defaults(&o, "llama");
	fp_error err = {0};
	if (tiny_write(&o, gguf) || mkdir(dir_a, 0700) || mkdir(dir_b, 0700) ||
	    hfw_from_gguf(gguf, dir_a, "F32", NULL, NULL, &err)) {
		fprintf(stderr, "fuzz_hfconfig: the tiny checkpoint: %s\n", err.msg);
		abort();
	}
	size_t n;
	void *b = slurp(dir_a, "model.safetensors", &n);
	put(dir_b, SHARD, b, n);
	st_size = n;
	free(b);
	b = slurp(dir_a, "config.json", &n);
	put(dir_b, "config.json", b, n);
	free(b);
	unlink(gguf);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 65536)
		return 0;
	int index = data[0] & 1;
	data++, size--;
	put(index ? dir_b : dir_a, index ? "model.safetensors.index.json" : "config.json", data, size);
	fuzz_mem_begin();
	hf_ckpt *h = NULL;
	gguf_file *g = NULL;
	fp_config c;
	fp_error err = {0};
	int rc = hf_open(&h, index ? dir_b : dir_a, &c, &g, &err);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "%s\n", rc ? err.msg : "opens");
	if (rc == 0) {
		if (c.n_layers < 1 || c.d_model < 1 || c.n_vocab < 1 || !gguf_find_tensor(g, "token_embd.weight"))
			abort();
		gguf_close(g);
		hf_close(h);
	}
	/* the family may copy every tensor once as f32 (transposed, reordered) */
	fuzz_mem_end(size, 2 * st_size);
	return 0;
}
