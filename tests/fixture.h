/* fixture.h - reading the oracle fixtures (tests/fixtures: JSON written by
 * scripts/oracle_*.py, raw little-endian f32 arrays) and comparing against
 * them, for test_oracle and test_arch.  Static functions: each test program
 * includes it once, after check.h.  fixture_dir must be set first. */
#ifndef FIXTURE_H
#define FIXTURE_H

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tiny.h"
#include "../model/quant.h"

static const char *fixture_dir;

/* How many of n real-model cases (prompts, token counts) a loop runs: all
 * of them, or the first FACTPROBE_TEST_LIMIT (scripts/valgrind.sh, where one
 * forward pass of a real model takes a minute); the checks after such a
 * loop count the cases that ran. */
static size_t test_limit(size_t n)
{
	const char *s = getenv("FACTPROBE_TEST_LIMIT");
	long k = s && *s ? strtol(s, NULL, 10) : -1;
	return k >= 0 && (size_t)k < n ? (size_t)k : n;
}

static float *load_f32(const char *name, size_t *n)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", fixture_dir, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	float *v = malloc((size_t)sz);
	*n = fread(v, 1, (size_t)sz, f) / 4;
	fclose(f);
	return v;
}

static json_t *load_json(const char *name)
{
	char path[4096];
	json_error_t e;
	snprintf(path, sizeof path, "%s/%s", fixture_dir, name);
	json_t *j = json_load_file(path, 0, &e);
	if (!j)
		printf("FAIL cannot read fixture '%s': %s (line %d)\n", path, e.text, e.line);
	return j;
}

static int32_t *json_ids(json_t *a, int *n)
{
	*n = (int)json_array_size(a);
	int32_t *v = malloc((size_t)(*n ? *n : 1) * sizeof *v);
	for (int i = 0; i < *n; i++)
		v[i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
	return v;
}

static int same_ids(const int32_t *a, int na, const int32_t *b, int nb)
{
	return na == nb && (na == 0 || !memcmp(a, b, (size_t)na * sizeof *a));
}

static void print_ids(const char *label, const int32_t *v, int n)
{
	printf("     %s:", label);
	for (int i = 0; i < n; i++)
		printf(" %d", v[i]);
	printf("\n");
}

/* compares our log-probs lp with one oracle's top-10 ([[id, logp], ...]);
 * returns the max |diff| over the oracle's tokens and counts top-1 agreement */
static double compare_top(const float *lp, json_t *top, int *top1_same, int our_top1)
{
	double md = 0;
	for (size_t k = 0; k < json_array_size(top); k++) {
		json_t *pair = json_array_get(top, k);
		int id = (int)json_integer_value(json_array_get(pair, 0));
		double d = fabs(lp[id] - json_real_value(json_array_get(pair, 1)));
		md = d > md ? d : md;
	}
	*top1_same += (int)json_integer_value(json_array_get(json_array_get(top, 0), 0)) == our_top1;
	return md;
}

/* got[0..n) against ref[off..off+n) (clipped to nref values): raises *worst
 * to the largest |diff| and *scale to the largest |ref| */
static void diff_max_into(const float *got, const float *ref, size_t off, size_t n, size_t nref, double *worst,
		      double *scale)
{
	for (size_t k = 0; k < n && off + k < nref; k++) {
		double d = fabs((double)got[k] - ref[off + k]);
		*worst = d > *worst ? d : *worst;
		*scale = fabs(ref[off + k]) > *scale ? fabs(ref[off + k]) : *scale;
	}
}

/* the tokenizer test strings (cases: [{text, ids}]) give llama.cpp's ids, without BOS */
static void check_tokenizer(fp_model *m, json_t *cases, const char *label)
{
	size_t i;
	json_t *e;
	int agree = 0, total = 0;
	json_array_foreach(cases, i, e) {
		const char *text = json_string_value(json_object_get(e, "text"));
		int nw, n;
		int32_t *want = json_ids(json_object_get(e, "ids"), &nw), *got = NULL;
		fp_error err = {0};
		fp_tokenize(m->tok, text, strlen(text), 0, &got, &n, &err);
		int same = same_ids(got, n, want, nw);
		agree += same;
		total++;
		CHECK(same, "%s: token ids of %.40s equal llama.cpp's", label, text);
		if (!same)
			print_ids("factprobe", got, n), print_ids("llama.cpp", want, nw);
		free(want), free(got);
	}
	printf("ok   %s: %d of %d test strings give llama.cpp's ids exactly\n", label, agree, total);
}

/* One set of named tiny models (tests/tiny.c) against llama.cpp: for each
 * model, the runs of the fixture's "tiny" array that name its file: token
 * ids (and, where recorded, ids with the model's BOS rule) equal llama.cpp's,
 * and the logits at every position, whose max |diff| relative to the
 * largest |logit| must stay within tol(file, model).  blob holds the logits
 * at each run's offset. */
static void check_tiny_set(json_t *runs, const char *blob, int n_models, const char *(*named)(int, tiny_opts *),
			   double (*tol)(const char *file, const fp_model *m), int n_texts)
{
	size_t nref;
	float *ref = load_f32(blob, &nref);
	CHECK(ref != NULL, "%s present", blob);
	if (!ref)
		return;
	for (int mi = 0; mi < n_models; mi++) {
		tiny_opts o;
		const char *file = named(mi, &o);
		fp_model *m = NULL;
		fp_error err = {0};
		CHECK(tiny_load(&o, &m, &err) == 0, "load %s: %s", file, err.msg);
		if (!m)
			continue;
		size_t i;
		json_t *e;
		double worst = 0, scale = 0;
		int count = 0;
		json_array_foreach(runs, i, e) {
			if (strcmp(json_string_value(json_object_get(e, "model")), file))
				continue;
			const char *text = json_string_value(json_object_get(e, "text"));
			json_t *wb = json_object_get(e, "ids_with_bos");
			int nw, n;
			int32_t *want = json_ids(json_object_get(e, "ids"), &nw), *got = NULL;
			fp_tokenize(m->tok, text, strlen(text), 0, &got, &n, &err);
			CHECK(same_ids(got, n, want, nw), "%s: token ids of \"%s\" equal llama.cpp's", file, text);
			if (!same_ids(got, n, want, nw))
				print_ids("factprobe", got, n), print_ids("llama.cpp", want, nw);
			free(got);
			if (wb) {
				int nb, nbw;
				int32_t *want_bos = json_ids(wb, &nbw);
				/* llama.cpp's add_bos=True means "add the special tokens the model asks for" */
				fp_tokenize(m->tok, text, strlen(text), -1, &got, &nb, &err);
				CHECK(same_ids(got, nb, want_bos, nbw), "%s: ids with the model's BOS rule of \"%s\" equal llama.cpp's",
				      file, text);
				free(got), free(want_bos);
			}
			size_t off = (size_t)json_integer_value(json_object_get(e, "offset"));
			int V = m->cfg.n_vocab;
			float *lg = malloc((size_t)nw * V * sizeof *lg);
			fp_forward_opts fo = {0};
			fo.all_logits = 1;
			CHECK(fp_model_forward(m, want, nw, &fo, lg, &err) == 0, "forward: %s", err.msg);
			diff_max_into(lg, ref, off, (size_t)nw * V, nref, &worst, &scale);
			count++;
			free(lg), free(want);
		}
		CHECK(count == n_texts, "%s has %d recorded runs", file, n_texts);
		printf("     %s: max |diff| %.3g on logits up to %.3g\n", file, worst, scale);
		CHECK_CLOSE(worst / (scale > 0 ? scale : 1), tol(file, m),
			    "%s (%s, %s): logits at every position vs llama.cpp, relative", file, m->cfg.arch_name,
			    o.wtype == GGML_F32 ? "F32" : ggml_type_name(o.wtype));
		fp_model_free(m);
	}
	free(ref);
}

#endif
