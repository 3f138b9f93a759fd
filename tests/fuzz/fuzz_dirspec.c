/* fuzz_dirspec.c - the direction-spec parser (an_dir_parse: tok:, emb:,
 * neuron:, neuron-in:, mean-diff:A,B@HOOK, file:PATH.h5:/dataset) on
 * arbitrary specs, against a tiny llama model.  The harness works in its own
 * temporary directory holding two prompt files (a.txt, b.tsv) and an HDF5
 * file of directions (d.h5: /v [D], /pl [L, D], /pl1 [L+1, D], /w [3],
 * /z [D] zeros, /c [2, 2, 2]); specs that would name a file outside it (an
 * absolute path, "..") are skipped.  Byte 0 picks --multi and normalize.
 * FUZZ_VERBOSE=1 prints each spec with its outcome. */
#include "fuzz.h"
#include "../tiny.h"
#include "../../probe/directions.h"

#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static fp_model *model;
static int home;

static void put(const char *name, const char *text)
{
	FILE *f = fopen(name, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
}

static void dset(hid_t f, const char *name, int rank, const hsize_t *dims, float fill)
{
	hsize_t n = 1;
	for (int i = 0; i < rank; i++)
		n *= dims[i];
	float *v = malloc(n * sizeof *v);
	for (hsize_t i = 0; i < n; i++)
		v[i] = fill == 0 ? 0 : fill * (float)((i * 7) % 13) - 3;
	hid_t sp = H5Screate_simple(rank, dims, NULL);
	hid_t d = H5Dcreate2(f, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
	H5Dclose(d);
	H5Sclose(sp);
	free(v);
}

static void cleanup(void) { fp_model_free(model); }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	tiny_opts o;
	tiny_defaults(&o, "llama");
	fp_error err = {0};
	if (tiny_load(&o, &model, &err)) {
		fprintf(stderr, "fuzz_dirspec: %s\n", err.msg);
		abort();
	}
	atexit(cleanup);
	/* libFuzzer reads and writes its corpus relative to the start
	 * directory, so the harness goes into its own only around the parse */
	if ((home = open(".", O_RDONLY | O_DIRECTORY)) < 0 || chdir(fuzz_tmpdir()))
		abort();
	put("a.txt", "the basketball\nJordan plays\n");
	put("b.tsv", "prompt\tsubject\nthe sport of Paris\tParis\n");
	int D = model->cfg.d_model, L = model->cfg.n_layers;
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	hid_t f = H5Fcreate("d.h5", H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	dset(f, "v", 1, (hsize_t[]){(hsize_t)D}, 1);
	dset(f, "pl", 2, (hsize_t[]){(hsize_t)L, (hsize_t)D}, 1);
	dset(f, "pl1", 2, (hsize_t[]){(hsize_t)L + 1, (hsize_t)D}, 1);
	dset(f, "w", 1, (hsize_t[]){3}, 1);
	dset(f, "z", 1, (hsize_t[]){(hsize_t)D}, 0);
	dset(f, "c", 3, (hsize_t[]){2, 2, 2}, 1);
	H5Fclose(f);
	if (fchdir(home))
		abort();
	return 0;
}

/* 1 if every file the spec could name is inside the working directory */
static int local_only(const char *s)
{
	if (strstr(s, ".."))
		return 0;
	const char *colon = strchr(s, ':');
	for (const char *p = strchr(s, '/'); p; p = strchr(p + 1, '/'))
		if (p == s || p[-1] != ':' || p - 1 == colon)
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 4096)
		return 0;
	int multi = data[0] % 3, normalize = (data[0] >> 2) & 1;
	fuzz_mem_begin();
	char *spec = fuzz_cstr(data + 1, size - 1);
	if (local_only(spec)) {
		an_dir *d = NULL;
		fp_error err = {0};
		if (chdir(fuzz_tmpdir()))
			abort();
		int rc = an_dir_parse(model, spec, multi, normalize, &d, &err);
		if (fchdir(home))
			abort();
		if (getenv("FUZZ_VERBOSE"))
			fprintf(stderr, "%s -> %d %s\n", spec, rc, rc ? err.msg : d->label);
		if (rc == 0) {
			/* every layer's vector is inside the direction */
			volatile float x = 0;
			for (int l = -1; l <= model->cfg.n_layers + 1; l++) {
				const float *v = an_dir_at(d, l);
				if (v)
					x += v[0] + v[d->width - 1];
			}
			(void)x;
			an_dir_free(d);
		}
	}
	free(spec);
	/* a direction holds at most one vector per layer (+1 from resid_pre),
	 * and mean-diff keeps two [L][W] means and their sums */
	const fp_config *c = &model->cfg;
	size_t W = (size_t)(c->d_mlp > c->d_model ? c->d_mlp : c->d_model);
	fuzz_mem_end(size, 6 * (size_t)(c->n_layers + 1) * W * sizeof(double));
	return 0;
}
