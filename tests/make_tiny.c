/* make_tiny.c - writes the named tiny test models (tests/tiny.c) into a
 * directory, for the oracle script to run through llama.cpp, and the
 * planted-fact models the query tests use. */
#include "tiny.h"

#include <stdio.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_tiny DIR\n");
		return 2;
	}
	for (int i = 0; i < tiny_n_named(); i++) {
		tiny_opts o;
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", argv[1], tiny_named(i, &o));
		if (tiny_write(&o, path)) {
			fprintf(stderr, "make_tiny: cannot write '%s'\n", path);
			return 1;
		}
		printf("%s\n", path);
	}
	/* the newer architectures, in DIR/arch/ (tests/fixtures/llamacpp_arch.json) */
	char sub[4096];
	snprintf(sub, sizeof sub, "%s/arch", argv[1]);
	mkdir(sub, 0755);
	for (int i = 0; i < tiny_n_arch_named(); i++) {
		tiny_opts o;
		char path[8192];
		snprintf(path, sizeof path, "%s/%s", sub, tiny_arch_named(i, &o));
		if (tiny_write(&o, path)) {
			fprintf(stderr, "make_tiny: cannot write '%s'\n", path);
			return 1;
		}
		printf("%s\n", path);
	}
	/* gptj: llama.cpp names it but cannot run it, so not in DIR/arch/ (its
	 * oracle is transformers, through a Hugging Face checkpoint: test_hf) */
	{
		tiny_opts o;
		char path[4096];
		tiny_defaults(&o, "gptj");
		o.tied = 0;
		snprintf(path, sizeof path, "%s/tiny-gptj.gguf", argv[1]);
		if (tiny_write(&o, path)) {
			fprintf(stderr, "make_tiny: cannot write '%s'\n", path);
			return 1;
		}
		printf("%s\n", path);
	}
	/* the planted-fact models for the query tests (not in the oracle set) */
	for (int cut = 0; cut < 2; cut++) {
		tiny_opts o;
		char path[4096];
		tiny_defaults(&o, "llama");
		tiny_plant(&o);
		o.plant_cut = cut;
		snprintf(path, sizeof path, "%s/tiny-llama-plant%s.gguf", argv[1], cut ? "-cut" : "");
		if (tiny_write(&o, path)) {
			fprintf(stderr, "make_tiny: cannot write '%s'\n", path);
			return 1;
		}
		printf("%s\n", path);
	}
	return 0;
}
