/* fuzz_gguf.c - the GGUF reader and the model load on arbitrary bytes:
 * header, metadata (every value rendered and read back through the typed
 * getters), tensor table and data bounds; then, for a file the reader
 * accepts, the whole load (tokenizer, config and architecture validation,
 * dequantisation) and, for a model that loads, a two-token forward pass,
 * which must not read outside what the validated config allows. */
#include "fuzz.h"
#include "../../model/gguf.h"
#include "../../model/model.h"
#include "../../model/tokenizer.h"

#include <cblas.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[512];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(path, sizeof path, "%s/model.gguf", fuzz_tmpdir());
	openblas_set_num_threads(1);
	return 0;
}

static void walk(const gguf_file *g)
{
	char buf[256];
	fp_error err = {0};
	for (uint64_t i = 0; i < g->n_kv; i++) {
		const gguf_kv *kv = &g->kv[i];
		gguf_kv_format(kv, buf, sizeof buf);
		if (kv->type == GGUF_VT_ARRAY && kv->arr_n && kv->arr_type != GGUF_VT_STRING &&
		    kv->arr_type != GGUF_VT_ARRAY) {
			volatile double x = gguf_kv_num(kv, 0) + gguf_kv_num(kv, kv->arr_n - 1);
			(void)x;
		}
		char *key = gguf_strdup(kv->key);
		if (!key)
			continue;
		uint64_t u;
		int64_t s;
		float f;
		int b;
		gguf_str str;
		gguf_get_u64(g, key, &u, &err);
		gguf_get_u32(g, key, &(uint32_t){0}, &err);
		gguf_get_i64(g, key, &s, &err);
		gguf_get_f32(g, key, &f, &err);
		gguf_get_bool(g, key, &b, &err);
		if (gguf_get_str(g, key, &str, &err) == 0)
			free(gguf_strdup(str));
		free(key);
	}
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		const gguf_tensor *t = &g->tensors[i];
		volatile uint8_t x = 0;
		if (t->nbytes) /* the first and last byte of the data the table promises */
			x = (uint8_t)(t->data[0] + t->data[t->nbytes - 1]);
		(void)x;
		char *name = gguf_strdup(t->name);
		/* a tensor the table lists is found by its name (unless the name
		 * holds a NUL byte, which no C string can say) */
		if (name && strlen(name) == t->name.len && gguf_find_tensor(g, name) != t)
			abort();
		free(name);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	gguf_file *g = NULL;
	fp_error err = {0};
	fuzz_mem_begin();
	if (gguf_parse_buffer(&g, data, size, "fuzz.gguf", &err)) {
		fuzz_mem_end(size, 0);
		return 0;
	}
	walk(g);
	fp_tokenizer *tok = NULL;
	if (fp_tokenizer_load(&tok, g, &err) == 0) {
		int32_t *ids = NULL;
		int n = 0;
		if (fp_tokenize(tok, "Hello world, 2024!", 18, -1, &ids, &n, &err) == 0)
			free(ids);
		fp_tokenizer_free(tok);
	}
	gguf_close(g);

	/* the whole load goes through a file (fp_model_load maps a path) */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	size_t off = 0;
	while (off < size) {
		ssize_t w = write(fd, data + off, size - off);
		if (w <= 0)
			abort();
		off += (size_t)w;
	}
	close(fd);
	fp_model *m = NULL;
	size_t declared = 0;
	if (fp_model_load(&m, path, &err) == 0) {
		declared = m->block_floats * sizeof(float);
		const fp_config *c = &m->cfg;
		int32_t ids[2] = {0, c->n_vocab - 1};
		int n = c->n_ctx >= 2 ? 2 : 1;
		float *logits = malloc((size_t)c->n_vocab * sizeof *logits);
		fp_forward_opts o = {0};
		if (logits)
			fp_model_forward(m, ids, n, &o, logits, &err);
		free(logits);
		fp_model_free(m);
	}
	fuzz_mem_end(size, declared);
	return 0;
}
