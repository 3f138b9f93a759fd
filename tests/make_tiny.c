/* make_tiny.c - writes the named tiny test models (tests/tiny.c) into a
 * directory, for the oracle script to run through llama.cpp, and the
 * planted-fact models the query tests use. */
#include "tiny.h"

#include <stdio.h>
#include <sys/stat.h>

/* writes the n models of named into DIR/sub/ */
static int write_set(const char *dir, const char *sub, int n, const char *(*named)(int, tiny_opts *))
{
	char d[4096];
	snprintf(d, sizeof d, "%s/%s", dir, sub);
	mkdir(d, 0755);
	for (int i = 0; i < n; i++) {
		tiny_opts o;
		char path[8192];
		snprintf(path, sizeof path, "%s/%s", d, named(i, &o));
		if (tiny_write(&o, path)) {
			fprintf(stderr, "make_tiny: cannot write '%s'\n", path);
			return 1;
		}
		printf("%s\n", path);
	}
	return 0;
}

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
	/* the newer architectures, in DIR/arch/ (tests/fixtures/llamacpp_arch.json),
	 * and each quantised weight type, in DIR/qtype/ (llamacpp_qtype.json) */
	if (write_set(argv[1], "arch", tiny_n_arch_named(), tiny_arch_named) ||
	    write_set(argv[1], "qtype", tiny_n_qtype_named(), tiny_qtype_named))
		return 1;
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
