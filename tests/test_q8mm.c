/* test_q8mm.c - q8mm (model/q8mm.c: products with 8-bit activations, as
 * llama.cpp computes them) against references it does not share code with:
 *
 * (a) the exact product of what q8mm multiplies: every weight block
 *     dequantised by quant_dequantize (checked by hand in test_quant), every
 *     activation value dequantised here from the activation layout q8mm.h
 *     documents (d * q), summed in double.  Tolerance: f32 block sums, 2e-6
 *     of sum_k |a_k| (|w_k| + the size of its min term);
 * (b) the exact product with the unquantised activations: the error of
 *     quantising them, within the bound the quantisation step allows,
 *     sum_k |w_k| e_k with e_k = amax/254 (+ 127 |fp16(d) - d| where d is
 *     stored as fp16), computed from x here, so a wrong quantiser fails;
 * (c) the Q8_0 quantiser against the gguf Python package
 *     (tests/fixtures/q8_quant.json, scripts/make-q8-fixture.py), which
 *     mirrors llama.cpp's quantize_row_q8_0_ref; q8mm follows the x86 AVX2
 *     quantize_row_q8_0 that llama.cpp runs here (see q8mm.c), which rounds
 *     halves to even and multiplies by 127/amax instead of 1/(amax/127):
 *     the test requires every difference to be one unit at such a tie.
 *     No independent Q8_K or Q8_1 quantiser exists (gguf has neither), so
 *     their defining properties are checked: the first element of largest
 *     |x| quantises to -127, d = 1/(-127/max), |d q - x| <= |d|/2, bsums
 *     are the sums of 16 q; Q8_1's q and d are Q8_0's, s = fp16(d sum q);
 * (d) every instruction set this CPU has against the plain C path;
 * (e) zero, tiny and huge activations (huge: within (b)'s bound), the
 *     Q6_K offset at saturated activations (by (a)), unsupported types
 *     and widths. */
#include "check.h"
#include "../model/q8mm.h"
#include "../model/quant.h"

#include <float.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "xorshift.h"
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static const uint32_t TYPES[] = {GGML_Q4_0, GGML_Q4_1, GGML_Q5_0, GGML_Q5_1, GGML_Q8_0, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K};
enum { NTYPES = sizeof TYPES / sizeof TYPES[0] };

/* the activation type and its block (q8mm.h): Q8_K {float d; int8 qs[256];
 * int16 bsums[16]}, Q8_0 {fp16 d; int8 qs[32]}, Q8_1 {fp16 d; fp16 s; int8 qs[32]} */
static int is_k(uint32_t type) { return type == GGML_Q4_K || type == GGML_Q5_K || type == GGML_Q6_K; }
static int is_q81(uint32_t type) { return type == GGML_Q4_1 || type == GGML_Q5_1; }
static int act_be(uint32_t type) { return is_k(type) ? 256 : 32; }
static int act_bb(uint32_t type) { return is_k(type) ? 292 : is_q81(type) ? 36 : 34; }

/* value k of activation row t, dequantised from the documented layout */
static double act_value(uint32_t type, const uint8_t *act, int cols, int t, int k)
{
	int be = act_be(type), bb = act_bb(type);
	const uint8_t *b = act + ((size_t)t * (cols / be) + k / be) * bb;
	if (is_k(type)) {
		float d;
		memcpy(&d, b, 4);
		return (double)d * (int8_t)b[4 + k % be];
	}
	return (double)fp16_to_f32(get16(b)) * (int8_t)b[(is_q81(type) ? 4 : 2) + k % be];
}

/* one random block with finite, realistic scales */
static void rand_block(uint32_t type, uint8_t *b)
{
	uint32_t bb = ggml_type_block_bytes(type);
	for (uint32_t i = 0; i < bb; i++)
		b[i] = (uint8_t)rnd();
	uint16_t d = f32_to_fp16(0.01f + 0.02f * (unif() + 1)), m = f32_to_fp16(0.1f * unif());
	switch (type) {
	case GGML_Q4_0: case GGML_Q5_0: case GGML_Q8_0: put16(b, d); break;
	case GGML_Q4_1: case GGML_Q5_1: put16(b, d), put16(b + 2, m); break;
	case GGML_Q4_K: case GGML_Q5_K: put16(b, d), put16(b + 2, f32_to_fp16(0.01f * (unif() + 1))); break;
	case GGML_Q6_K: put16(b + 208, d); break;
	}
}

/* dequantised rows of W: whole (w), the d part only (wd: the min fields
 * zeroed) and the min part only (wm: d zeroed), for the tolerances */
static void dequant_parts(uint32_t type, const uint8_t *W, size_t rb, int rows, int cols, float *w, float *wd, float *wm)
{
	uint8_t *tmp = malloc(rb);
	uint32_t bb = ggml_type_block_bytes(type);
	for (int r = 0; r < rows; r++) {
		const uint8_t *row = W + (size_t)r * rb;
		quant_dequantize(type, row, w + (size_t)r * cols, (uint64_t)cols);
		int dmin_at = type == GGML_Q4_K || type == GGML_Q5_K ? 2 : is_q81(type) ? 2 : -1;
		if (dmin_at < 0) {
			memcpy(wd + (size_t)r * cols, w + (size_t)r * cols, (size_t)cols * sizeof(float));
			memset(wm + (size_t)r * cols, 0, (size_t)cols * sizeof(float));
			continue;
		}
		memcpy(tmp, row, rb);
		for (size_t o = 0; o < rb; o += bb)
			put16(tmp + o + dmin_at, 0);
		quant_dequantize(type, tmp, wd + (size_t)r * cols, (uint64_t)cols);
		memcpy(tmp, row, rb);
		for (size_t o = 0; o < rb; o += bb)
			put16(tmp + o, 0);
		quant_dequantize(type, tmp, wm + (size_t)r * cols, (uint64_t)cols);
	}
	free(tmp);
}

/* activations: uniform at a scale, with an outlier (x40) every 97 values */
static void rand_x(float *x, size_t n, float scale)
{
	for (size_t i = 0; i < n; i++)
		x[i] = unif() * scale * (i % 97 == 5 ? 40.0f : 1.0f);
}

typedef struct worst {
	double a, b; /* (a): |y - exact(act)| / scale; (b): |y - exact(x)| / bound */
	double b_rel; /* (b) relative to sum |w x|, for information */
	int bad;      /* y outside the row's columns written, or NaN */
} worst;

/* q8mm on the instruction set in use: rows x cols weights W (rb bytes a
 * row) times T rows of x, checked by (a) and (b); y_out (T x rows) gets y */
static void check_product(uint32_t type, const uint8_t *W, size_t rb, const float *x, int rows, int cols, int T,
			  int threads, worst *wst, float *y_out)
{
	uint32_t bb = ggml_type_block_bytes(type);
	size_t nw = (size_t)rows * cols;
	float *w = malloc(nw * sizeof(float)), *wd = malloc(nw * sizeof(float)), *wm = malloc(nw * sizeof(float));
	size_t ldy = (size_t)rows + 3; /* wider than the rows: q8mm must not write the gap */
	float *y = malloc((size_t)T * ldy * sizeof(float));
	size_t abytes = q8mm_act_bytes(type, T, cols);
	uint8_t *act = malloc(abytes);
	dequant_parts(type, W, rb, rows, cols, w, wd, wm);
	for (size_t i = 0; i < (size_t)T * ldy; i++)
		y[i] = 12345.0f;
	q8mm_quantize(type, x, T, cols, act);
	q8mm(y, ldy, act, T, type, W, rb, rows, cols, threads);
	int abe = act_be(type);
	for (int t = 0; t < T; t++) {
		for (int r = 0; r < rows; r++) {
			const float *wr = w + (size_t)r * cols, *xr = x + (size_t)t * cols;
			double exact_a = 0, sc = 0, exact_x = 0, bound = 0, absx = 0;
			for (int k0 = 0; k0 < cols; k0 += abe) {
				float amax = 0;
				for (int k = k0; k < k0 + abe; k++)
					amax = fabsf(xr[k]) > amax ? fabsf(xr[k]) : amax;
				double dd = amax / 127.0, e = amax / 254.0;
				if (!is_k(type))
					e += 127 * fabs(fp16_to_f32(f32_to_fp16((float)dd)) - dd);
				double qsum = 0;
				for (int k = k0; k < k0 + abe; k++) {
					double a = act_value(type, act, cols, t, k);
					exact_a += wr[k] * a;
					sc += fabs(a) * (fabs(wd[(size_t)r * cols + k]) + fabs(wm[(size_t)r * cols + k]));
					exact_x += (double)wr[k] * xr[k];
					absx += fabs((double)wr[k] * xr[k]);
					bound += fabs(wr[k]) * e;
					qsum += a;
				}
				if (is_q81(type)) {
					/* llama.cpp's min term is m * s, s = fp16(d * sum q): the
					 * product of the dequantised values plus m (s - sum a) */
					const uint8_t *ab = act + ((size_t)t * (cols / 32) + k0 / 32) * 36;
					double m = fp16_to_f32(get16(W + (size_t)r * rb + (size_t)(k0 / 32) * bb + 2));
					double s = fp16_to_f32(get16(ab + 2));
					exact_a += m * (s - qsum);
					sc += fabs(m) * fabs(s);
					bound += fabs(m) * fabs(s - qsum);
				}
			}
			double got = y[(size_t)t * ldy + r];
			double ea = fabs(got - exact_a) / (sc > 0 ? sc : 1e-30);
			double eb = fabs(got - exact_x) / (1.01 * bound + 2e-6 * sc + 1e-30);
			if (sc == 0 && got == 0)
				ea = 0;
			if (bound == 0 && sc == 0 && got == exact_x)
				eb = 0;
			wst->a = ea > wst->a || isnan(ea) ? ea : wst->a;
			wst->b = eb > wst->b || isnan(eb) ? eb : wst->b;
			double br = fabs(got - exact_x) / (absx > 0 ? absx : 1);
			wst->b_rel = br > wst->b_rel ? br : wst->b_rel;
			if (isnan(got))
				wst->bad = 1;
		}
		for (size_t r = rows; r < ldy; r++)
			if (y[t * ldy + r] != 12345.0f)
				wst->bad = 1;
	}
	if (y_out)
		for (int t = 0; t < T; t++)
			memcpy(y_out + (size_t)t * rows, y + (size_t)t * ldy, (size_t)rows * sizeof(float));
	free(w), free(wd), free(wm), free(y), free(act);
}

/* one product of random blocks and activations at a scale, checked by (a) and (b) */
static void one(uint32_t type, int rows, int cols, int T, int threads, float scale, worst *wst, float *y_out)
{
	uint32_t be = ggml_type_block_elems(type), bb = ggml_type_block_bytes(type);
	size_t rb = (size_t)cols / be * bb;
	uint8_t *W = malloc(rb * rows);
	float *x = malloc((size_t)T * cols * sizeof(float));
	for (size_t i = 0; i < rb * rows; i += bb)
		rand_block(type, W + i);
	rand_x(x, (size_t)T * cols, scale);
	check_product(type, W, rb, x, rows, cols, T, threads, wst, y_out);
	free(W), free(x);
}

/* (a), (b) and (d): every type, shapes, scales, ISAs */
static void test_products(void)
{
	struct { int rows, cols, T, threads; } sh[] = {
		{1, 256, 1, 1}, {7, 768, 3, 2}, {37, 512, 16, 2}, {45, 1024, 100, 2}, {19, 4096, 5, 1}, {33, 256, 9, 3},
		{11, 576, 7, 2}, {5, 96, 3, 1}, /* block-32 types only: SmolLM2's d_model, 3 blocks */
	};
	const float scales[] = {1e-3f, 1.0f, 50.0f};
	const char *best = q8mm_force_isa(0);
	printf("q8mm on this CPU: %s\n", best);
	for (size_t ti = 0; ti < NTYPES; ti++) {
		uint32_t ty = TYPES[ti];
		worst wc = {0};
		double md[4] = {0}; /* per ISA: max |y_isa - y_c| / max |y_c| of a shape */
		int had[4] = {0};
		for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++) {
			int cols = sh[s].cols;
			if (!q8mm_supported(ty, cols))
				continue;
			size_t ny = (size_t)sh[s].T * sh[s].rows;
			float *yc = malloc(ny * sizeof(float)), *yi = malloc(ny * sizeof(float));
			for (size_t si = 0; si < sizeof scales / sizeof scales[0]; si++) {
				uint32_t seed = rs; /* the same weights and activations for every ISA */
				q8mm_force_isa(1);
				one(ty, sh[s].rows, cols, sh[s].T, sh[s].threads, scales[si], &wc, yc);
				for (int isa = 2; isa <= 3; isa++) {
					const char *name = q8mm_force_isa(isa);
					if ((isa == 2 && strcmp(name, "avx2")) || (isa == 3 && strcmp(name, "avx512vnni")))
						continue;
					rs = seed;
					one(ty, sh[s].rows, cols, sh[s].T, sh[s].threads, scales[si], &wc, yi);
					double d = 0, mx = 0;
					for (size_t i = 0; i < ny; i++) {
						d = fabs((double)yi[i] - yc[i]) > d || isnan(yi[i]) ? fabs((double)yi[i] - yc[i]) : d;
						mx = fmax(mx, fabs((double)yc[i]));
					}
					d /= mx > 0 ? mx : 1;
					md[isa] = d > md[isa] || isnan(d) ? d : md[isa];
					had[isa] = 1;
				}
			}
			free(yc), free(yi);
		}
		for (int isa = 2; isa <= 3; isa++)
			if (had[isa])
				CHECK_CLOSE(md[isa], 1e-5, "(d) %s %s against the C path, every shape: max |y_isa - y_c| / max |y_c|",
					    isa == 3 ? "avx512vnni" : "avx2", ggml_type_name(ty));
		CHECK(!wc.bad, "%s: no NaN, nothing written outside the rows (ldy > rows)", ggml_type_name(ty));
		CHECK_CLOSE(wc.a, 2e-6, "(a) %s, 1-45 rows, 96-4096 columns, T 1-100, 1-3 threads, all ISAs: |y - exact "
			    "product of the quantised values| / sum |a| |w parts|", ggml_type_name(ty));
		CHECK_CLOSE(wc.b, 1.0, "(b) %s: |y - exact product with x| / quantisation bound (relative to sum |w x|: "
			    "max %.2g)", ggml_type_name(ty), wc.b_rel);
	}
	q8mm_force_isa(0);
}

/* (d) explicitly, at the 8B shapes' widths and T of a real prompt */
static void test_isas_big(void)
{
	const uint32_t types[] = {GGML_Q4_K, GGML_Q6_K, GGML_Q8_0, GGML_Q4_1};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		uint32_t ty = types[i];
		int rows = 70, cols = ty == GGML_Q6_K ? 14336 : 4096, T = 67;
		size_t ny = (size_t)rows * T;
		float *yc = malloc(ny * sizeof(float)), *yi = malloc(ny * sizeof(float));
		uint32_t seed = rs;
		worst w = {0};
		q8mm_force_isa(1);
		one(ty, rows, cols, T, 2, 1.0f, &w, yc);
		for (int isa = 2; isa <= 3; isa++) {
			const char *name = q8mm_force_isa(isa);
			if ((isa == 2 && strcmp(name, "avx2")) || (isa == 3 && strcmp(name, "avx512vnni")))
				continue;
			rs = seed;
			worst wi = {0};
			one(ty, rows, cols, T, 2, 1.0f, &wi, yi);
			double md = 0, mx = 0;
			for (size_t k = 0; k < ny; k++) {
				md = fmax(md, fabs((double)yi[k] - yc[k]));
				mx = fmax(mx, fabs((double)yc[k]));
			}
			CHECK_CLOSE(md / mx, 1e-6, "(d) %s %s %dx%d T=%d, 2 threads: max |y_isa - y_c| / max |y_c|", name,
				    ggml_type_name(ty), rows, cols, T);
			CHECK_CLOSE(wi.a, 2e-6, "(a) %s %s %dx%d T=%d", name, ggml_type_name(ty), rows, cols, T);
		}
		free(yc), free(yi);
	}
	q8mm_force_isa(0);
}

/* (c) Q8_0 against the gguf package; Q8_K and Q8_1 by their properties */
static void test_quantisers(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/q8_quant.json", dir);
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr);
	CHECK(root != NULL, "%s: %s", path, root ? "read" : jerr.text);
	if (root) {
		json_t *xs = json_object_get(root, "x"), *qs = json_object_get(root, "q8_0");
		size_t n = json_array_size(xs), nb = json_array_size(qs);
		CHECK(n == nb * 32 && nb > 0, "fixture: %zu values, %zu blocks", n, nb);
		float *x = malloc((n ? n : 1) * sizeof(float));
		for (size_t i = 0; i < n; i++)
			x[i] = (float)json_real_value(json_array_get(xs, i));
		uint8_t *act = malloc(nb * 34 + 1);
		q8mm_quantize(GGML_Q8_0, x, 1, (int)n, act);
		size_t d_same = 0, q_same = 0, q_tie = 0, q_other = 0, ties_even = 0;
		for (size_t b = 0; b < nb && n == nb * 32; b++) {
			const char *hex = json_string_value(json_array_get(qs, b));
			uint8_t ref[34];
			for (int i = 0; i < 34; i++)
				sscanf(hex + 2 * i, "%2hhx", &ref[i]);
			const uint8_t *got = act + 34 * b;
			d_same += memcmp(got, ref, 2) == 0;
			float amax = 0;
			for (int i = 0; i < 32; i++)
				amax = fmaxf(amax, fabsf(x[32 * b + i]));
			for (int i = 0; i < 32; i++) {
				int g = (int8_t)got[2 + i], r = (int8_t)ref[2 + i];
				double v = amax > 0 ? (double)x[32 * b + i] * 127.0 / amax : 0;
				double frac = fabs(v - floor(v) - 0.5);
				if (g == r)
					q_same++;
				else if (abs(g - r) == 1 && frac < 1e-5)
					q_tie++, ties_even += (g & 1) == 0;
				else
					q_other++;
			}
		}
		printf("     Q8_0 vs gguf: %zu of %zu d equal, %zu of %zu q equal, %zu differ by one at a tie "
		       "(%zu of them rounded to even)\n", d_same, nb, q_same, nb * 32, q_tie, ties_even);
		CHECK(d_same == nb, "(c) Q8_0 d (fp16 bits) equal to gguf's in %zu of %zu blocks", d_same, nb);
		CHECK(q_other == 0, "(c) Q8_0 q equal to gguf's but at ties (half-way, within 1e-5): %zu other differences",
		      q_other);
		CHECK(q_tie >= 15 && q_tie < 40, "(c) the fixture's tie block differs where it must (round half to even vs "
		      "away): %zu ties", q_tie);
		/* every instruction set quantises to the same bytes: the fixture's
		 * values (ties, zeros, fp16 overflow, +-amax) and random rows */
		const uint32_t qt[] = {GGML_Q4_K, GGML_Q8_0, GGML_Q4_1};
		enum { QN = 8192 };
		float *xx = malloc(QN * sizeof(float));
		for (int i = 0; i < QN; i++)
			xx[i] = i < 2048 ? x[i] : unif() * (i < 4096 ? 1e-3f : i < 6144 ? 3.0f : 1e4f) * (i % 61 == 0 ? 30 : 1);
		for (size_t k = 0; k < 3; k++) {
			size_t nbytes = q8mm_act_bytes(qt[k], 1, QN);
			uint8_t *ac = malloc(nbytes), *ai = malloc(nbytes);
			q8mm_force_isa(1);
			q8mm_quantize(qt[k], xx, 1, QN, ac);
			for (int isa = 2; isa <= 3; isa++) {
				const char *name = q8mm_force_isa(isa);
				if ((isa == 2 && strcmp(name, "avx2")) || (isa == 3 && strcmp(name, "avx512vnni")))
					continue;
				q8mm_quantize(qt[k], xx, 1, QN, ai);
				size_t diff = 0;
				for (size_t i = 0; i < nbytes; i++)
					diff += ac[i] != ai[i];
				CHECK(diff == 0, "(d) %s quantises for %s to the plain C bytes (%d values: the fixture's, random at "
				      "1e-3..3e5): %zu bytes differ", name, ggml_type_name(qt[k]), QN, diff);
			}
			q8mm_force_isa(0);
			free(ac), free(ai);
		}
		free(xx);
		free(x), free(act);
		json_decref(root);
	}

	/* Q8_K and Q8_1 by their properties, on activation-like rows */
	enum { COLS = 4096 };
	static float x[COLS];
	static uint8_t ak[COLS / 256 * 292], a1[COLS / 32 * 36], a0[COLS / 32 * 34];
	size_t bad_k = 0, bad_1 = 0;
	double worst_k = 0;
	for (int rep = 0; rep < 6; rep++) {
		rand_x(x, COLS, rep == 0 ? 1e-6f : rep == 1 ? 1e20f : (float)rep);
		if (rep == 2) /* ties of the largest magnitude: the first one decides the sign */
			x[300] = -100, x[301] = 100;
		q8mm_quantize(GGML_Q4_K, x, 1, COLS, ak);
		q8mm_quantize(GGML_Q4_1, x, 1, COLS, a1);
		q8mm_quantize(GGML_Q8_0, x, 1, COLS, a0);
		for (int b = 0; b < COLS / 256; b++) {
			const uint8_t *blk = ak + 292 * b;
			const float *xb = x + 256 * b;
			float d, amax = 0, max = 0;
			memcpy(&d, blk, 4);
			int at = 0;
			for (int i = 0; i < 256; i++)
				if (fabsf(xb[i]) > amax)
					amax = fabsf(xb[i]), max = xb[i], at = i;
			bad_k += (int8_t)blk[4 + at] != -127 || d != 1 / (-127.0f / max);
			for (int j = 0; j < 16; j++) {
				int s = 0;
				for (int i = 0; i < 16; i++)
					s += (int8_t)blk[4 + 16 * j + i];
				int16_t bs;
				memcpy(&bs, blk + 4 + 256 + 2 * j, 2);
				bad_k += bs != s;
			}
			for (int i = 0; i < 256; i++) {
				double e = fabs((double)d * (int8_t)blk[4 + i] - xb[i]) / (fabs(d) / 2);
				worst_k = e > worst_k ? e : worst_k;
				bad_k += abs((int8_t)blk[4 + i]) > 127;
			}
		}
		for (int b = 0; b < COLS / 32; b++) {
			const uint8_t *q1 = a1 + 36 * b, *q0 = a0 + 34 * b;
			float amax = 0;
			int sum = 0;
			for (int i = 0; i < 32; i++)
				amax = fmaxf(amax, fabsf(x[32 * b + i])), sum += (int8_t)q1[4 + i];
			bad_1 += memcmp(q1, q0, 2) != 0 || memcmp(q1 + 4, q0 + 2, 32) != 0;
			bad_1 += get16(q1 + 2) != f32_to_fp16(amax / 127.0f * (float)sum);
		}
	}
	CHECK(bad_k == 0, "(c) Q8_K: the first largest |x| is -127, d = 1/(-127/max), bsums = sums of 16 q, |q| <= 127 "
	      "(6 rows of 4096, 1e-6 to 1e20, a +-max tie): %zu violations", bad_k);
	CHECK_CLOSE(worst_k, 1.0 + 1e-5, "(c) Q8_K |d q - x| / (|d|/2)");
	CHECK(bad_1 == 0, "(c) Q8_1: q and d are Q8_0's, s = fp16(amax/127 * sum q): %zu violations", bad_1);
}

/* (e) the review's Q6_K probe, checked by (a) on every instruction set:
 * every x = 1 (q = -127 in every block), the 16 scales 127, every weight at
 * the zero point (6 bits 32) but value 0 of row r, 32 + r + 1.  The sum of a
 * block before the offset 32 comes off, 256 * 32 * 127 * 127 = 1.3e8, is
 * past 2^24: the offset must come off in integers, as in llama.cpp. */
static void test_q6k_offset(void)
{
	enum { ROWS = 3, COLS = 512, T = 5, RB = COLS / 256 * 210 };
	static uint8_t W[ROWS * RB];
	static float x[T * COLS];
	for (int r = 0; r < ROWS; r++)
		for (int b = 0; b < COLS / 256; b++) {
			uint8_t *blk = W + (size_t)r * RB + 210 * b;
			memset(blk, 0, 128);	     /* ql: the low 4 bits 0 */
			memset(blk + 128, 0xaa, 64); /* qh: the high 2 bits 2: 32, the zero point */
			memset(blk + 192, 127, 16);  /* int8 scales */
			put16(blk + 208, f32_to_fp16(0.01f));
			if (b == 0)
				blk[0] = (uint8_t)(r + 1); /* value 0: 32 + r + 1 */
		}
	for (int i = 0; i < T * COLS; i++)
		x[i] = 1.0f;
	double da = (double)(1 / (-127.0f / 1.0f)) * -127; /* d q of Q8_K */
	for (int isa = 1; isa <= 3; isa++) {
		const char *name = q8mm_force_isa(isa);
		if ((isa == 2 && strcmp(name, "avx2")) || (isa == 3 && strcmp(name, "avx512vnni")))
			continue;
		worst w = {0};
		float y[T * ROWS];
		check_product(GGML_Q6_K, W, RB, x, ROWS, COLS, T, 1, &w, y);
		double ex = fp16_to_f32(f32_to_fp16(0.01f)) * 127 * da;
		CHECK(!w.bad, "(e) %s Q6_K probe: no NaN, nothing written outside the rows", name);
		CHECK_CLOSE(w.a, 2e-6, "(a) %s Q6_K, x = 1, scales 127, weights at the zero point but one: y = %.6g %.6g "
			    "%.6g (exact %.6g %.6g %.6g)", name, y[0], y[1], y[2], ex, 2 * ex, 3 * ex);
	}
	q8mm_force_isa(0);
}

/* (e) tiny activations: a block whose largest |x| is below 127 / FLT_MAX
 * (3.7e-37: the scale 127 / amax is infinite) quantises to zeros, d 0 (or
 * -0, as llama.cpp's Q8_K d = 1 / (-127 / max)), on every instruction set;
 * a block at the smallest amax with a finite scale to its usual values.
 * Per 256 values: x 1e-38, subnormals 1e-40, amax just below the smallest,
 * amax at the smallest, one positive 1e-38 in 32 (the rest 0), |x| up to
 * 1 (in the 3rd, 4th and 6th the first of every 32 values is the largest). */
static void test_tiny(void)
{
	enum { SEG = 256, N = 6 * SEG };
	static float x[N];
	float t = 127 / FLT_MAX;
	while (isinf(127 / t))
		t = nextafterf(t, 1);
	float below = nextafterf(t, 0);
	for (int k = 0; k < N; k++) {
		int seg = k / SEG, first = k % 32 == 0;
		float amax = seg == 2 ? below : t, sign = k / 32 % 2 ? -1.0f : 1.0f;
		x[k] = seg == 0 ? 1e-38f * unif() : seg == 1 ? 1e-40f * unif() : seg <= 3 ? (first ? sign * amax : amax * unif())
		     : seg == 4 ? (first ? 1e-38f : 0.0f) : first ? sign : unif();
	}
	const uint32_t qt[] = {GGML_Q4_K, GGML_Q8_0, GGML_Q4_1};
	for (size_t k = 0; k < 3; k++) {
		uint32_t ty = qt[k];
		int be = act_be(ty), bb = act_bb(ty), qo = is_k(ty) ? 4 : is_q81(ty) ? 4 : 2;
		size_t nbytes = q8mm_act_bytes(ty, 1, N);
		uint8_t *ac = malloc(nbytes), *ai = malloc(nbytes);
		q8mm_force_isa(1);
		q8mm_quantize(ty, x, 1, N, ac);
		size_t nonzero = 0, usual = 0;
		for (int b = 0; b < N / be; b++) {
			const uint8_t *blk = ac + (size_t)b * bb;
			int seg = b * be / SEG, allz = 1;
			for (int i = 0; i < bb; i++) /* d's sign bit aside: every byte 0 */
				allz &= (i == 3 && is_k(ty) ? blk[i] & 0x7f : blk[i]) == 0;
			if (seg != 3 && seg != 5)
				nonzero += !allz;
			else
				usual += abs((int8_t)blk[qo]) == 127;
		}
		CHECK(nonzero == 0 && usual == (size_t)(2 * SEG / be),
		      "(e) %s: blocks of |x| below 127 / FLT_MAX (1e-38, subnormals, just below %g) all zero (%zu not), "
		      "blocks at amax %g or 1 their usual values (first q +-127: %zu of %d)", ggml_type_name(ty), t, nonzero,
		      t, usual, 2 * SEG / be);
		for (int isa = 2; isa <= 3; isa++) {
			const char *name = q8mm_force_isa(isa);
			if ((isa == 2 && strcmp(name, "avx2")) || (isa == 3 && strcmp(name, "avx512vnni")))
				continue;
			q8mm_quantize(ty, x, 1, N, ai);
			size_t diff = 0;
			for (size_t i = 0; i < nbytes; i++)
				diff += ac[i] != ai[i];
			CHECK(diff == 0, "(e) %s quantises tiny blocks for %s to the plain C bytes: %zu bytes differ", name,
			      ggml_type_name(ty), diff);
		}
		free(ac), free(ai);
	}
	q8mm_force_isa(0);
}

/* (e) zero, tiny and huge activations, bad shapes */
static void test_edges(void)
{
	test_q6k_offset();
	test_tiny();
	for (size_t ti = 0; ti < NTYPES; ti++) {
		uint32_t ty = TYPES[ti], bb = ggml_type_block_bytes(ty), be = ggml_type_block_elems(ty);
		int cols = 512, rows = 5, T = 2;
		size_t rb = (size_t)cols / be * bb;
		uint8_t *W = malloc(rb * rows), *act = malloc(q8mm_act_bytes(ty, T, cols));
		float x[2 * 512], y[2 * 5];
		for (size_t i = 0; i < rb * rows; i += bb)
			rand_block(ty, W + i);
		memset(x, 0, sizeof x);
		q8mm_quantize(ty, x, T, cols, act);
		for (int isa = 1; isa <= 3; isa++) {
			q8mm_force_isa(isa);
			for (int i = 0; i < T * rows; i++)
				y[i] = NAN;
			q8mm(y, (size_t)rows, act, T, ty, W, rb, rows, cols, 1);
			int zero = 1;
			for (int i = 0; i < T * rows; i++)
				zero &= y[i] == 0;
			CHECK(zero, "(e) %s %s: all-zero activations (d = 0) give 0", q8mm_isa(), ggml_type_name(ty));
		}
		/* huge: 1e30 for Q8_K (f32 d); 8e6 for Q8_0 (fp16 d: 8e6/127 < 65504);
		 * 2000 for Q8_1, whose fp16 s = d sum q must stay below 65504 */
		float big = is_k(ty) ? 1e30f : is_q81(ty) ? 2000.0f : 8e6f;
		for (int i = 0; i < T * cols; i++)
			x[i] = big * unif();
		worst wh = {0};
		for (int isa = 1; isa <= 3; isa++) {
			q8mm_force_isa(isa);
			check_product(ty, W, rb, x, rows, cols, T, 2, &wh, NULL);
		}
		CHECK(!wh.bad, "(e) %s activations of magnitude %g: no NaN, nothing written outside the rows",
		      ggml_type_name(ty), big);
		CHECK_CLOSE(wh.a, 2e-6, "(a) %s activations of magnitude %g, all ISAs", ggml_type_name(ty), big);
		CHECK_CLOSE(wh.b, 1.0, "(e) %s activations of magnitude %g, all ISAs: |y - w.x| / quantisation bound of (b) "
			    "(relative to sum |w x|: max %.2g)", ggml_type_name(ty), big, wh.b_rel);
		free(W), free(act);
	}
	q8mm_force_isa(0);
	/* beyond fp16's range the Q8_0 scale is inf, as in llama.cpp (fp16(d)) */
	float x[32];
	for (int i = 0; i < 32; i++)
		x[i] = 1e7f * (i - 15.5f) / 16;
	uint8_t b[34];
	q8mm_quantize(GGML_Q8_0, x, 1, 32, b);
	CHECK(get16(b) == 0x7c00, "(e) Q8_0 of |x| up to 1e7: d = fp16(amax/127) overflows to inf as in llama.cpp (0x%04x)",
	      get16(b));
	for (int i = 0; i < 32; i++)
		x[i] = 3000;
	uint8_t b1[36];
	q8mm_quantize(GGML_Q4_1, x, 1, 32, b1);
	CHECK(get16(b1 + 2) == 0x7c00 && get16(b1) == f32_to_fp16(3000.0f / 127),
	      "(e) Q8_1 of 32 x 3000: d finite, s = fp16(d sum q) = fp16(96000) overflows to inf as in llama.cpp (0x%04x)",
	      get16(b1 + 2));

	CHECK(q8mm_supported(GGML_Q4_K, 4096) && q8mm_supported(GGML_Q8_0, 32) && q8mm_supported(GGML_Q6_K, 14336),
	      "(e) supported: Q4_K x 4096, Q8_0 x 32, Q6_K x 14336");
	CHECK(!q8mm_supported(GGML_Q4_K, 100) && !q8mm_supported(GGML_Q4_K, 0) && !q8mm_supported(GGML_Q6_K, 384 - 64) &&
	      !q8mm_supported(GGML_Q8_0, 48) && !q8mm_supported(GGML_Q4_1, -32),
	      "(e) not supported: columns not a multiple of the block, 0, negative");
	CHECK(!q8mm_supported(GGML_F32, 64) && !q8mm_supported(GGML_F16, 64) && !q8mm_supported(GGML_BF16, 64) &&
	      !q8mm_supported(GGML_Q2_K, 256) && !q8mm_supported(GGML_Q8_K, 256) && !q8mm_supported(999, 256),
	      "(e) not supported: F32, F16, BF16, Q2_K, Q8_K, type 999");
	CHECK(q8mm_act_bytes(GGML_Q4_K, 3, 512) == 3 * 2 * 292 && q8mm_act_bytes(GGML_Q8_0, 2, 64) == 2 * 2 * 34 &&
	      q8mm_act_bytes(GGML_Q5_1, 1, 96) == 3 * 36 && q8mm_act_bytes(GGML_F32, 1, 64) == 0 &&
	      q8mm_act_bytes(GGML_Q4_K, 1, 100) == 0,
	      "(e) q8mm_act_bytes: ggml's block sizes (292, 34, 36 bytes), 0 when not supported");
}

int main(int argc, char **argv)
{
	test_quantisers(argc > 1 ? argv[1] : "tests/fixtures");
	test_products();
	test_isas_big();
	test_edges();
	return check_done("test_q8mm");
}
