/* replay.c - a plain driver for the fuzz harnesses: runs the harness it is
 * linked with over every file named on the command line (directories: every
 * file in them), as libFuzzer would run one input, and prints one line
 * "NAME: N inputs, 0 crashes".  A crash or a sanitizer report ends the
 * process, so a regression input that still breaks a parser fails
 * `make test`.  Built by the normal compiler: no clang needed. */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

static long n_inputs;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: cannot open '%s'\n", path);
		return -1;
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	/* an exact-size heap copy, so a read past the input is caught */
	uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
	if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
		fprintf(stderr, "replay: cannot read '%s'\n", path);
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	n_inputs++;
	return 0;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv)
{
	LLVMFuzzerInitialize(&argc, &argv);
	const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			DIR *d = opendir(argv[i]);
			struct dirent *e;
			char **names = NULL;
			size_t nn = 0;
			while (d && (e = readdir(d)))
				if (e->d_name[0] != '.') {
					names = realloc(names, (nn + 1) * sizeof *names);
					names[nn++] = strdup(e->d_name);
				}
			if (d)
				closedir(d);
			qsort(names, nn, sizeof *names, cmp);
			for (size_t k = 0; k < nn; k++) {
				char p[4096];
				snprintf(p, sizeof p, "%s/%s", argv[i], names[k]);
				rc |= run_file(p);
				free(names[k]);
			}
			free(names);
		} else {
			rc |= run_file(argv[i]);
		}
	}
	printf("%s: %ld inputs, 0 crashes\n", name, n_inputs);
	return rc ? 1 : 0;
}
