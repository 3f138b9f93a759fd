/* make_tiny.c - writes the tiny test models into a directory, for the oracle
 * script (scripts/make-oracle.py) to run through llama.cpp. */
#include "tiny.h"
#include "../model/quant.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_tiny DIR\n");
		return 2;
	}
	struct { const char *file, *arch; uint32_t wtype; int tied, spm; } models[] = {
		{"tiny-llama.gguf", "llama", GGML_F32, 1, 0},
		{"tiny-llama-q8.gguf", "llama", GGML_Q8_0, 0, 0},
		{"tiny-gpt2.gguf", "gpt2", GGML_F32, 1, 0},
		{"tiny-gpt2-f16.gguf", "gpt2", GGML_F16, 0, 0},
		{"tiny-llama-spm.gguf", "llama", GGML_F32, 1, 1},
	};
	for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
		tiny_opts o;
		char path[4096];
		tiny_defaults(&o, models[i].arch);
		o.wtype = models[i].wtype;
		o.tied = models[i].tied;
		o.spm_vocab = models[i].spm;
		snprintf(path, sizeof path, "%s/%s", argv[1], models[i].file);
		if (tiny_write(&o, path)) {
			fprintf(stderr, "make_tiny: cannot write '%s'\n", path);
			return 1;
		}
		printf("%s\n", path);
	}
	return 0;
}
