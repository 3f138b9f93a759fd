/* make_tiny.c - writes the named tiny test models (tests/tiny.c) into a
 * directory, for the oracle script to run through llama.cpp. */
#include "tiny.h"

#include <stdio.h>

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
	return 0;
}
