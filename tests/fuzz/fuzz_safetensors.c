/* fuzz_safetensors.c - the safetensors reader and the Hugging Face
 * checkpoint load on arbitrary bytes.  Byte 0 even: the rest is parsed as a
 * .safetensors file: what parses must hold what safetensors.h promises
 * (every tensor inside the buffer, nbytes = elements x the dtype's size,
 * found again by its name; each tensor's first and last byte are read).  Byte 0 odd: the rest is written as model.safetensors next
 * to a fixed config.json of a tiny LlamaForCausalLM (hidden 8, MLP 16, one
 * layer, 2 heads, 1 KV head, vocabulary 16, tied) and the directory is
 * loaded; a model that loads runs a two-token forward pass. */
#include "fuzz.h"
#include "../../model/model.h"
#include "../../model/safetensors.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[512], path[600];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(dir, sizeof dir, "%s", fuzz_tmpdir());
	snprintf(path, sizeof path, "%s/config.json", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		abort();
	fputs("{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 8, \"intermediate_size\": 16,"
	      " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"num_key_value_heads\": 1,"
	      " \"vocab_size\": 16, \"max_position_embeddings\": 16, \"rms_norm_eps\": 1e-5,"
	      " \"tie_word_embeddings\": true, \"hidden_act\": \"silu\"}\n", f);
	fclose(f);
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	openblas_set_num_threads(1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	fp_error err = {0};
	fuzz_mem_begin();
	if (!(data[0] & 1)) {
		st_file *f = NULL;
		const uint8_t *b = data + 1;
		size_t n = size - 1;
		if (st_parse_buffer(&f, b, n, "fuzz.safetensors", &err) == 0) {
			volatile uint8_t sum = 0;
			for (size_t i = 0; i < f->n_tensors; i++) {
				const st_tensor *t = &f->tensors[i];
				uint64_t ne = 1;
				for (int d = 0; d < t->n_dims; d++)
					ne *= t->shape[d];
				if (t->n_dims < 0 || t->n_dims > ST_MAX_DIMS || ne != t->n_elem ||
				    t->nbytes != t->n_elem * st_dtype_size(t->dtype) || t->data < b || t->nbytes > n ||
				    t->data + t->nbytes > b + n || st_find(f, t->name) == NULL)
					abort();
				if (t->nbytes)
					sum += t->data[0] + t->data[t->nbytes - 1];
			}
			(void)sum; /* the reads above are what is checked (ASan) */
			st_close(f);
		}
		fuzz_mem_end(size, 0);
		return 0;
	}
	FILE *f = fopen(path, "wb");
	if (!f)
		abort();
	fwrite(data + 1, 1, size - 1, f);
	fclose(f);
	fp_model *m = NULL;
	if (fp_model_load(&m, dir, &err) == 0) {
		int32_t ids[2] = {1, 2};
		float *logits = malloc((size_t)m->cfg.n_vocab * sizeof(float));
		fp_model_forward(m, ids, 2, &(fp_forward_opts){0}, logits, &err);
		free(logits);
		fp_model_free(m);
	}
	/* the model's weights as f32 at most: what the input itself holds */
	fuzz_mem_end(size, 2 * size);
	return 0;
}
