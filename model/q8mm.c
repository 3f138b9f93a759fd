/* q8mm.c - see q8mm.h: products of quantised weights with activations
 * quantised to 8 bits, as llama.cpp's CPU backend computes them.
 *
 * The activation quantisers (which llama.cpp variant, and why):
 *
 * llama-cpp-python 0.3.36 (the project's oracle) builds ggml for the host
 * (GGML_NATIVE: AVX2, AVX-512, VNNI here), and its weights go through the
 * CPU_REPACK buffer where ggml-cpu/repack.cpp's
 * ggml_repack_get_optimal_repack_type has an x86 layout (Q4_0 -> q4_0_8x8,
 * Q4_K -> q4_K_8x8, IQ4_NL, MXFP4, Q2_K with AVX-512); every other type is
 * multiplied by ggml_vec_dot_<type>_<vec_dot_type> after the activations went
 * through the type traits' from_float.  Seen in its load log on Gemma-3-270M:
 * "repack tensor blk.0.attn_output.weight with q4_K_8x8".  So:
 *
 * - Q8_K (Q4_K, Q5_K, Q6_K): from_float is quantize_row_q8_K
 *   (ggml-cpu/arch/x86/quants.c), which on x86 is quantize_row_q8_K_ref
 *   (ggml-quants.c): max = the first element of largest |x| (signed),
 *   iscale = -127/max, q = min(127, nearest_int(iscale * x)) (nearest_int:
 *   round half to even), d = 1/iscale (float), bsums = sums of 16 q.  The
 *   repacked Q4_K path quantises 4 rows at a time with
 *   ggml_quantize_mat_q8_K_4x8 (arch/x86/repack.cpp, AVX2): the same amax,
 *   the same iscale up to its sign (it takes -127/amax when some element
 *   equal to amax is positive, 127/amax otherwise), _mm256_round_ps
 *   (half to even), the same bsums: identical values, except that when both
 *   +amax and -amax occur in a block it may flip the sign of d and of every
 *   q, which leaves every product d * q unchanged.  We follow the ref.
 * - Q8_0 (Q4_0, Q5_0, Q8_0): quantize_row_q8_0 in arch/x86/quants.c under
 *   __AVX2__ (and ggml_quantize_mat_q8_0_4x8 for the repacked Q4_0, the same
 *   arithmetic): amax, d = amax / 127 stored as fp16 (round to nearest
 *   even: F16C), id = amax ? 127 / amax : 0, q = round half to even (x * id).
 *   This differs from quantize_row_q8_0_ref (and from the gguf Python
 *   package, which mirrors the ref: id = 1 / d, roundf = half away from
 *   zero) on a few values per million: exact ties, and values within an
 *   ulp of a tie where 127 / amax and 1 / (amax / 127) differ in the last
 *   bit.  tests/test_q8mm.c checks exactly that against the gguf package.
 * - Q8_1 (Q4_1, Q5_1): quantize_row_q8_1 in arch/x86/quants.c: the Q8_0
 *   values, and s = fp16(d * sum(q)) with the f32 d (not the fp16 one).
 *
 * The dot products are llama.cpp's: integer sums per block (per sub-block
 * times its integer scale for the K-quants), then per block
 * d_w * d_a * isum (- dmin_w * d_a * sum_j m_j * bsum_j for Q4_K/Q5_K,
 * + m_w * s_a for Q4_1/Q5_1) in f32.  The order of the f32 sums over
 * blocks differs from llama.cpp's, and so, for Q4_1/Q5_1/Q4_K/Q5_K, does
 * where the offset term joins (llama.cpp keeps it in a sum of its own,
 * added once a row; see q8mm.h for what that does to the logits).
 *
 * Three implementations, picked at run time (q8mm_isa):
 * - plain C (below the quantisers): the reference, one dot product at a time;
 * - AVX-512 VNNI: every type, in tiles of 32 weight rows unpacked into L1
 *   once per 1-8 blocks and multiplied with all activation rows, 4 at a
 *   time, by vpdpbusd (see "AVX-512 VNNI kernels"); the quantisers too,
 *   with the same float operations as the C ones (the same bytes);
 * - AVX2: the K-quants in the same tiles on 8 lanes (vpmaddubsw, vpmaddwd),
 *   the block-32 types one dot product at a time as llama.cpp's AVX2 code.
 * The SIMD sums are in another order than the C ones: results differ from
 * them in the last bits (test_q8mm (d): 1.3e-7 to 1.2e-6 of the largest
 * output, the most for Q4_1).
 *
 * What this file deliberately is not: a repacking of the weights.  They are
 * read where the model file maps them. */
#include "q8mm.h"
#include "qmm.h"
#include "quant.h"

#include <cpuid.h>
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the activation blocks: ggml's block_q8_K, block_q8_0, block_q8_1 ---- */

enum {
	QK_K = 256,
	Q8K_BYTES = 4 + QK_K + 2 * (QK_K / 16), /* float d; int8 qs[256]; int16 bsums[16] */
	Q80_BYTES = 2 + 32,			 /* fp16 d; int8 qs[32] */
	Q81_BYTES = 4 + 32,			 /* fp16 d; fp16 s; int8 qs[32] */
};

/* the activation type of each weight type (its ggml vec_dot_type), 0 when
 * q8mm does not multiply that type */
static uint32_t act_type(uint32_t type)
{
	switch (type) {
	case GGML_Q4_K: case GGML_Q5_K: case GGML_Q6_K: return GGML_Q8_K;
	case GGML_Q4_0: case GGML_Q5_0: case GGML_Q8_0: return GGML_Q8_0;
	case GGML_Q4_1: case GGML_Q5_1: return GGML_Q8_1;
	default: return 0;
	}
}

static uint32_t act_block_bytes(uint32_t at)
{
	return at == GGML_Q8_K ? Q8K_BYTES : at == GGML_Q8_0 ? Q80_BYTES : Q81_BYTES;
}

int q8mm_supported(uint32_t type, int cols)
{
	uint32_t at = act_type(type);
	return at && cols > 0 && cols % (int)ggml_type_block_elems(type) == 0;
}

size_t q8mm_act_bytes(uint32_t type, int T, int cols)
{
	if (!q8mm_supported(type, cols) || T < 0)
		return 0;
	uint32_t at = act_type(type);
	return (size_t)T * (size_t)(cols / (int)ggml_type_block_elems(at)) * act_block_bytes(at);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

/* llama.cpp's nearest_int (ggml-quants.c): round half to even, through the
 * magic number 1.5 * 2^23 (valid for |f| < 2^22, which |iscale * x| <= 127
 * is) */
static int nearest_int(float f)
{
	float v = f + 12582912.0f;
	int32_t i;
	memcpy(&i, &v, 4);
	return (i & 0x007fffff) - 0x00400000;
}

/* 1 when a block whose largest |x| is amax quantises to zeros: amax 0, or
 * below 127 / FLT_MAX (3.7e-37), where the scale 127 / amax is infinite.
 * llama.cpp's Q8_K ref stores zeros there too (its nearest_int of inf
 * and NaN gives 0 in the low byte), and d = 1 / (-127 / max) = -0 or 0,
 * which quant_q8_k keeps; its x86 Q8_0 / Q8_1 store q = -128 (vcvtps2dq of
 * inf) with d = fp16(amax / 127) = 0: the same products, 0. */
static int zero_block(float amax)
{
	return !(127.0f / amax <= FLT_MAX);
}

/* vcvtps2dq: f rounded half to even, INT32_MIN where that is no int32
 * (also NaN), without C's undefined conversion */
static int32_t cvt_nearest(float f)
{
	float r = nearbyintf(f);
	return r >= -2147483648.0f && r < 2147483648.0f ? (int32_t)r : INT32_MIN;
}

/* one Q8_K block from 256 floats (quantize_row_q8_K_ref) */
static void quant_q8_k(const float *x, uint8_t *b)
{
	float amax = 0, max = 0;
	for (int j = 0; j < QK_K; j++) {
		float ax = fabsf(x[j]);
		if (ax > amax)
			amax = ax, max = x[j];
	}
	int8_t *qs = (int8_t *)(b + 4);
	int16_t bs[QK_K / 16];
	float d = 0;
	if (zero_block(amax)) { /* amax 0: ggml leaves bsums as they were; zeros here */
		memset(qs, 0, QK_K);
		memset(bs, 0, sizeof bs);
		d = amax != 0 ? copysignf(0.0f, -max) : 0.0f;
	} else {
		float iscale = -127.0f / max;
		for (int j = 0; j < QK_K; j++) {
			int v = nearest_int(iscale * x[j]);
			qs[j] = (int8_t)(v < 127 ? v : 127);
		}
		for (int j = 0; j < QK_K / 16; j++) {
			int s = 0;
			for (int i = 0; i < 16; i++)
				s += qs[16 * j + i];
			bs[j] = (int16_t)s;
		}
		d = 1 / iscale;
	}
	memcpy(b, &d, 4);
	memcpy(b + 4 + QK_K, bs, sizeof bs);
}

/* one Q8_0 block (with_sum 0) or Q8_1 block (with_sum 1) from 32 floats
 * (quantize_row_q8_0 / _q8_1 of arch/x86/quants.c, AVX2 branch) */
static void quant_q8_01(const float *x, uint8_t *b, int with_sum)
{
	float amax = 0;
	for (int j = 0; j < 32; j++) {
		float ax = fabsf(x[j]);
		amax = ax > amax ? ax : amax; /* _mm256_max_ps(amax, ax) */
	}
	float d = amax / 127.0f, id = zero_block(amax) ? 0.0f : 127.0f / amax;
	int8_t *qs = (int8_t *)(b + (with_sum ? 4 : 2));
	int sum = 0;
	for (int j = 0; j < 32; j++) {
		/* _mm256_round_ps(_MM_ROUND_NEAREST): half to even; |x * id| <= 127
		 * for finite x */
		int v = cvt_nearest(x[j] * id);
		v = v > 127 ? 127 : v < -128 ? -128 : v; /* the saturating packs */
		qs[j] = (int8_t)v;
		sum += v;
	}
	put16(b, f32_to_fp16(d));
	if (with_sum)
		put16(b + 2, f32_to_fp16(d * (float)sum));
}

static int isa(void);
static void quant_q8_k_avx512(const float *x, uint8_t *b);
static void quant_q8_01_avx512(const float *x, uint8_t *b, int with_sum);

void q8mm_quantize(uint32_t type, const float *x, int T, int cols, void *act)
{
	uint32_t at = act_type(type);
	if (!q8mm_supported(type, cols))
		return;
	uint32_t be = ggml_type_block_elems(at), bb = act_block_bytes(at);
	size_t nb = (size_t)T * (size_t)(cols / (int)be);
	uint8_t *b = act;
	int simd = isa() == 3;
	for (size_t i = 0; i < nb; i++, x += be, b += bb) {
		if (at == GGML_Q8_K)
			(simd ? quant_q8_k_avx512 : quant_q8_k)(x, b);
		else
			(simd ? quant_q8_01_avx512 : quant_q8_01)(x, b, at == GGML_Q8_1);
	}
}

/* ---- the dot products in plain C: one weight row with one activation row
 * of nb blocks.  Block-32 types keep 8 partial f32 sums (blocks i mod 8),
 * added pairwise; K-quants sum their blocks in order. ---- */

typedef float (*dot_fn)(const uint8_t *w, const uint8_t *a, int nb);

/* GCC 12.2 with -march=native on a CPU with AVX-VNNI vectorises a sum of
 * int8 x int8 products (already at -O2) into vpdpbusd, which multiplies
 * unsigned by signed bytes: wrong sums (test_q8mm's Q8_0 checks found it;
 * a 10-line loop reproduces it).  The plain C path, the reference of the
 * SIMD kernels, is kept scalar under GCC. */
#if defined(__GNUC__) && !defined(__clang__)
#define SCALAR __attribute__((optimize("no-tree-vectorize")))
#else
#define SCALAR
#endif

static float sum8(const float s[8])
{
	return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}

static float fp16(const uint8_t *p)
{
	return fp16_to_f32(get16(p));
}

/* the 6-bit scale and min of sub-block j of a Q4_K/Q5_K block
 * (ggml's get_scale_min_k4) */
static void k_scale_min(int j, const uint8_t *s, int *sc, int *mn)
{
	if (j < 4) {
		*sc = s[j] & 63;
		*mn = s[j + 4] & 63;
	} else {
		*sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
		*mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
	}
}

static float a_d(const uint8_t *a)
{
	float d;
	memcpy(&d, a, 4);
	return d;
}

static int16_t a_bsum(const uint8_t *a, int j)
{
	int16_t s;
	memcpy(&s, a + 4 + QK_K + 2 * j, 2);
	return s;
}

/* Q4_K {fp16 d, dmin; scales[12]; qs[128]} and Q5_K {..; qh[32]; qs[128]}
 * with Q8_K: value 64c + l of chunk c is the low nibble of qs[32c + l], value
 * 64c + 32 + l its high nibble (plus bit 2c / 2c+1 of qh[l] as 16 for Q5_K) */
SCALAR static float dot_q45_k_c(const uint8_t *w, const uint8_t *a, int nb, int five)
{
	float acc = 0;
	for (int i = 0; i < nb; i++, w += five ? 176 : 144, a += Q8K_BYTES) {
		const uint8_t *qs = w + (five ? 48 : 16), *qh = w + 16;
		const int8_t *q8 = (const int8_t *)(a + 4);
		int32_t isum = 0, imin = 0;
		for (int j = 0; j < 8; j++) {
			int sc, mn, c = j / 2, hi = j & 1;
			k_scale_min(j, w + 4, &sc, &mn);
			int32_t s = 0;
			for (int l = 0; l < 32; l++) {
				int q = hi ? qs[32 * c + l] >> 4 : qs[32 * c + l] & 15;
				if (five)
					q += (qh[l] >> j & 1) << 4;
				s += q * q8[32 * j + l];
			}
			isum += sc * s;
			imin += mn * (a_bsum(a, 2 * j) + a_bsum(a, 2 * j + 1));
		}
		float ad = a_d(a);
		acc += (ad * fp16(w)) * (float)isum - (ad * fp16(w + 2)) * (float)imin;
	}
	return acc;
}

SCALAR static float dot_q4_k_c(const uint8_t *w, const uint8_t *a, int nb)
{
	return dot_q45_k_c(w, a, nb, 0);
}

SCALAR static float dot_q5_k_c(const uint8_t *w, const uint8_t *a, int nb)
{
	return dot_q45_k_c(w, a, nb, 1);
}

/* Q6_K {ql[128]; qh[64]; int8 scales[16]; fp16 d}: half n (128 values) has
 * ql + 64n, qh + 32n; value 32p + l of the half (p = 0..3, l < 32) has low
 * bits ql[l + 32 (p & 1)] (p >= 2: the high nibble) and high bits
 * (qh[l] >> 2p) & 3, minus 32; the scale is per 16 values */
SCALAR static float dot_q6_k_c(const uint8_t *w, const uint8_t *a, int nb)
{
	float acc = 0;
	for (int i = 0; i < nb; i++, w += 210, a += Q8K_BYTES) {
		const int8_t *q8 = (const int8_t *)(a + 4), *sc = (const int8_t *)(w + 192);
		int32_t isum = 0;
		for (int n = 0; n < 2; n++) {
			const uint8_t *ql = w + 64 * n, *qh = w + 128 + 32 * n;
			for (int p = 0; p < 4; p++)
				for (int h = 0; h < 2; h++) {
					int32_t s = 0;
					for (int l = 16 * h; l < 16 * h + 16; l++) {
						int lo = ql[l + 32 * (p & 1)], q;
						q = ((p >= 2 ? lo >> 4 : lo & 15) | (((qh[l] >> (2 * p)) & 3) << 4)) - 32;
						s += q * q8[128 * n + 32 * p + l];
					}
					isum += sc[8 * n + 2 * p + h] * s;
				}
		}
		acc += (a_d(a) * fp16(w + 208)) * (float)isum;
	}
	return acc;
}

/* block-32 types with Q8_0 (Q4_0, Q5_0, Q8_0) or Q8_1 (Q4_1, Q5_1): the
 * integer value j of a weight block, without its offset or min */
static int q32_value(uint32_t type, const uint8_t *w, int j)
{
	switch (type) {
	case GGML_Q4_0: return (j < 16 ? w[2 + j] & 15 : w[2 + j - 16] >> 4) - 8;
	case GGML_Q4_1: return j < 16 ? w[4 + j] & 15 : w[4 + j - 16] >> 4;
	case GGML_Q8_0: return (int8_t)w[2 + j];
	default: break;
	}
	/* Q5_0 {d; qh[4]; qs[16]}, Q5_1 {d; m; qh[4]; qs[16]} */
	const uint8_t *qh = w + (type == GGML_Q5_1 ? 4 : 2), *qs = qh + 4;
	uint32_t h = qh[0] | (qh[1] << 8) | (qh[2] << 16) | ((uint32_t)qh[3] << 24);
	int q = (j < 16 ? qs[j] & 15 : qs[j - 16] >> 4) | (int)((h >> j & 1) << 4);
	return type == GGML_Q5_0 ? q - 16 : q;
}

SCALAR static float dot_q32_c(uint32_t type, const uint8_t *w, const uint8_t *a, int nb)
{
	uint32_t wb = ggml_type_block_bytes(type);
	int q81 = type == GGML_Q4_1 || type == GGML_Q5_1;
	float s[8] = {0};
	for (int i = 0; i < nb; i++, w += wb, a += q81 ? Q81_BYTES : Q80_BYTES) {
		const int8_t *q8 = (const int8_t *)(a + (q81 ? 4 : 2));
		int32_t isum = 0;
		for (int j = 0; j < 32; j++)
			isum += q32_value(type, w, j) * q8[j];
		float t = (fp16(w) * fp16(a)) * (float)isum;
		if (q81)
			t += fp16(w + 2) * fp16(a + 2);
		s[i & 7] += t;
	}
	return sum8(s);
}

SCALAR static float dot_q4_0_c(const uint8_t *w, const uint8_t *a, int nb) { return dot_q32_c(GGML_Q4_0, w, a, nb); }
SCALAR static float dot_q4_1_c(const uint8_t *w, const uint8_t *a, int nb) { return dot_q32_c(GGML_Q4_1, w, a, nb); }
SCALAR static float dot_q5_0_c(const uint8_t *w, const uint8_t *a, int nb) { return dot_q32_c(GGML_Q5_0, w, a, nb); }
SCALAR static float dot_q5_1_c(const uint8_t *w, const uint8_t *a, int nb) { return dot_q32_c(GGML_Q5_1, w, a, nb); }
SCALAR static float dot_q8_0_c(const uint8_t *w, const uint8_t *a, int nb) { return dot_q32_c(GGML_Q8_0, w, a, nb); }

static dot_fn dot_c(uint32_t type)
{
	switch (type) {
	case GGML_Q4_0: return dot_q4_0_c;
	case GGML_Q4_1: return dot_q4_1_c;
	case GGML_Q5_0: return dot_q5_0_c;
	case GGML_Q5_1: return dot_q5_1_c;
	case GGML_Q8_0: return dot_q8_0_c;
	case GGML_Q4_K: return dot_q4_k_c;
	case GGML_Q5_K: return dot_q5_k_c;
	case GGML_Q6_K: return dot_q6_k_c;
	default: return NULL;
	}
}

/* ---- run-time choice of the instruction set (cpuid and xgetbv, as qmm.c:
 * clang 14 lacks some __builtin_cpu_supports names) ---- */

static int isa_best(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX) || !(c & bit_FMA) || !(c & bit_F16C))
		return 1;
	unsigned lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	if ((lo & 6) != 6 || !__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & bit_AVX2))
		return 1;
	/* AVX-512 F, BW, VL, DQ and VNNI, and the OS saving the opmask and ZMM
	 * state (XCR0 bits 5-7) */
	int avx512 = (b & bit_AVX512F) && (b & bit_AVX512BW) && (b & bit_AVX512VL) && (b & bit_AVX512DQ) &&
		     (c & bit_AVX512VNNI) && (lo & 0xe0) == 0xe0;
	return avx512 ? 3 : 2;
}

static int isa_now = 0; /* 0: not yet detected */

static int isa(void)
{
	if (!isa_now)
		isa_now = isa_best();
	return isa_now;
}

static const char *isa_name(int i)
{
	return i == 3 ? "avx512vnni" : i == 2 ? "avx2" : "c";
}

const char *q8mm_isa(void)
{
	return isa_name(isa());
}

const char *q8mm_force_isa(int which)
{
	int best = isa_best();
	isa_now = which <= 0 || which > best ? best : which;
	return isa_name(isa_now);
}

/* ---- AVX-512 VNNI kernels for Q4_K, Q5_K and Q6_K ----
 *
 * A tile is TR = 32 weight rows (two vectors of 16 lanes, a lane per row)
 * of one block (256 values), unpacked into an L1 buffer once and then
 * multiplied with every activation row: for each group of 4 consecutive
 * values k, the tile holds a 64-byte vector of 16 rows x 4 bytes (the
 * weights as unsigned 0..15 or 0..63), and vpdpbusd multiplies it with the
 * activation row's 4 bytes at k broadcast to every lane, adding 4 products
 * to each row's int32.  A sub-block's int32 sums are then multiplied by the
 * rows' integer scales (vpmulld) and added up per block; the mins (Q4_K,
 * Q5_K) and the -32 offset (Q6_K) are integer products of the per-row
 * scales with the activation's bsums (vpdpwssd on int16 pairs); each block
 * ends in f32 as llama.cpp's: (d_w isum - dmin_w imin) d_a for Q4_K/Q5_K,
 * d_w (isum - 32 imin) d_a for Q6_K, whose offset comes off in int32 as in
 * llama.cpp (isum with the offset reaches 2.6e8, past f32's exact 2^24;
 * |isum - 32 imin| < 2^31).  Unpacking transposes
 * 16 rows x 8 dwords with unpack/permute instructions, so the weights stay
 * in the file's layout (no repacking at load). */

#define AVX512 "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma"
#define AI __attribute__((target(AVX512), always_inline)) static inline

enum { TR = 32, TG = 4, KB = 2, PF = 2 };

/* the kernels' loops over rows, positions and groups are unrolled whole, so
 * that their accumulators live in registers */
#if defined(__clang__)
#define UNROLL _Pragma("unroll")
#else
#define UNROLL _Pragma("GCC unroll 16")
#endif

/* one block (256 values) of TR rows, ready for the kernel */
typedef struct tile {
	_Alignas(64) uint8_t q[64][2][64]; /* k-group (4 values), row half, 16 rows x 4 values: 0..15 (Q4_K),
					      0..31 (Q5_K), 0..63 (Q6_K: the value + 32) */
	int32_t sc[16][2][16];		   /* sub-block scales: 8 of 32 values (Q4_K, Q5_K), 16 of 16 (Q6_K) */
	int32_t mn[8][2][16];		   /* int16 pairs multiplying the activation's bsums (2j, 2j+1):
					      (m_j, m_j) (Q4_K, Q5_K), (sc_2j, sc_2j+1) (Q6_K) */
	float d[2][16], dmin[2][16];	   /* the block's d and dmin (Q6_K: d only) */
} tile;

/* the quantisers of the activations on 16 lanes: the same float operations
 * as quant_q8_k and quant_q8_01 (vcvtps2dq rounds half to even, as
 * nearest_int and nearbyintf), so the same bytes; test_q8mm compares them */
__attribute__((target(AVX512))) static void quant_q8_k_avx512(const float *x, uint8_t *b)
{
	__m512 v[16], m = _mm512_setzero_ps();
	for (int i = 0; i < 16; i++) {
		v[i] = _mm512_loadu_ps(x + 16 * i);
		m = _mm512_max_ps(m, _mm512_abs_ps(v[i]));
	}
	float amax = _mm512_reduce_max_ps(m), d = 0, max = 0;
	int16_t bs[16] = {0};
	for (int i = 0; i < 16; i++) { /* the first element of largest |x| */
		__mmask16 k = _mm512_cmp_ps_mask(_mm512_abs_ps(v[i]), _mm512_set1_ps(amax), _CMP_EQ_OQ);
		if (k) {
			max = x[16 * i + __builtin_ctz(k)];
			break;
		}
	}
	if (zero_block(amax)) {
		memset(b + 4, 0, QK_K);
		d = amax != 0 ? copysignf(0.0f, -max) : 0.0f;
	} else {
		float iscale = -127.0f / max;
		__m512 is = _mm512_set1_ps(iscale);
		for (int i = 0; i < 16; i++) {
			__m512i q = _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(is, v[i])), _mm512_set1_epi32(127));
			_mm_storeu_si128((__m128i *)(void *)(b + 4 + 16 * i), _mm512_cvtsepi32_epi8(q));
			bs[i] = (int16_t)_mm512_reduce_add_epi32(q);
		}
		d = 1 / iscale;
	}
	memcpy(b, &d, 4);
	memcpy(b + 4 + QK_K, bs, sizeof bs);
}

__attribute__((target(AVX512))) static void quant_q8_01_avx512(const float *x, uint8_t *b, int with_sum)
{
	__m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
	float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
	float d = amax / 127.0f, id = zero_block(amax) ? 0.0f : 127.0f / amax;
	__m512 idv = _mm512_set1_ps(id);
	__m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, idv)), q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, idv));
	uint8_t *qs = b + (with_sum ? 4 : 2);
	_mm_storeu_si128((__m128i *)(void *)qs, _mm512_cvtsepi32_epi8(q0));
	_mm_storeu_si128((__m128i *)(void *)(qs + 16), _mm512_cvtsepi32_epi8(q1));
	put16(b, f32_to_fp16(d));
	if (with_sum) {
		/* the saturated values, as the scalar code sums them */
		__m512i lo = _mm512_set1_epi32(-128), hi = _mm512_set1_epi32(127);
		q0 = _mm512_max_epi32(_mm512_min_epi32(q0, hi), lo), q1 = _mm512_max_epi32(_mm512_min_epi32(q1, hi), lo);
		put16(b + 2, f32_to_fp16(d * (float)_mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1))));
	}
}

/* dwords off / 4 .. off / 4 + 7 of 16 rows (p[r] + off) transposed: z[g]
 * holds dword g of rows 0..15 */
AI void tr16x8(const uint8_t *const p[16], size_t off, __m512i z[8])
{
	__m512i a[8], t[8], u[8];
	for (int i = 0; i < 8; i++)
		a[i] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)(p[i] + off))),
					  _mm256_loadu_si256((const __m256i *)(const void *)(p[i + 8] + off)), 1);
	for (int i = 0; i < 4; i++) {
		t[2 * i] = _mm512_unpacklo_epi32(a[2 * i], a[2 * i + 1]);
		t[2 * i + 1] = _mm512_unpackhi_epi32(a[2 * i], a[2 * i + 1]);
	}
	for (int h = 0; h < 2; h++) { /* rows 0-3 (+8) and 4-7 (+8) */
		u[4 * h + 0] = _mm512_unpacklo_epi64(t[4 * h], t[4 * h + 2]);
		u[4 * h + 1] = _mm512_unpackhi_epi64(t[4 * h], t[4 * h + 2]);
		u[4 * h + 2] = _mm512_unpacklo_epi64(t[4 * h + 1], t[4 * h + 3]);
		u[4 * h + 3] = _mm512_unpackhi_epi64(t[4 * h + 1], t[4 * h + 3]);
	}
	/* u[i] (i < 4): 128-bit lanes = rows 0-3 dword i, rows 0-3 dword i+4,
	 * rows 8-11 dword i, rows 8-11 dword i+4; u[i + 4] the same for rows 4-7, 12-15 */
	const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13), hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
	for (int i = 0; i < 4; i++) {
		z[i] = _mm512_permutex2var_epi64(u[i], lo, u[i + 4]);
		z[i + 4] = _mm512_permutex2var_epi64(u[i], hi, u[i + 4]);
	}
}

/* the rows of a tile: rows past the matrix repeat its last row (their sums
 * are computed and not stored) */
static void tile_rows(const uint8_t *W, size_t row_bytes, int r0, int rows, size_t off, const uint8_t *p[TR])
{
	for (int r = 0; r < TR; r++)
		p[r] = W + (size_t)(r0 + r < rows ? r0 + r : rows - 1) * row_bytes + off;
}

/* 16 bytes at p[r] + off of 16 rows transposed: z[g] holds dword g of
 * rows 0..15 */
AI void tr16x4(const uint8_t *const p[16], size_t off, __m512i z[4])
{
	__m512i a[4], t[4];
	for (int i = 0; i < 4; i++) { /* 128-bit lane L: row i + 4L */
		__m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(const void *)(p[i] + off)));
		v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(const void *)(p[i + 4] + off)), 1);
		v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(const void *)(p[i + 8] + off)), 2);
		a[i] = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(const void *)(p[i + 12] + off)), 3);
	}
	t[0] = _mm512_unpacklo_epi32(a[0], a[1]), t[1] = _mm512_unpackhi_epi32(a[0], a[1]);
	t[2] = _mm512_unpacklo_epi32(a[2], a[3]), t[3] = _mm512_unpackhi_epi32(a[2], a[3]);
	z[0] = _mm512_unpacklo_epi64(t[0], t[2]), z[1] = _mm512_unpackhi_epi64(t[0], t[2]);
	z[2] = _mm512_unpacklo_epi64(t[1], t[3]), z[3] = _mm512_unpackhi_epi64(t[1], t[3]);
}

/* dword at p[r] + off for the 16 rows of half h (idx: p[16h + r] - p[0]) */
AI __m512i gather16(const uint8_t *const p[TR], __m512i idx, int off)
{
	return _mm512_i32gather_epi32(idx, (const void *)(p[0] + off), 1);
}

AI __m512i byte_at(__m512i z, int i, int bits)
{
	return _mm512_and_si512(_mm512_srli_epi32(z, i), _mm512_set1_epi32((1 << bits) - 1));
}

/* Q4_K/Q5_K {fp16 d, dmin; scales[12]} of 16 rows: ggml's get_scale_min_k4
 * on 16 lanes at once */
AI void scales_q45k(const uint8_t *const p[TR], tile *tl, int h)
{
	__m512i z[4]; /* the 16-byte header {d, dmin, scales[12]} transposed (cheaper than 4 gathers) */
	tr16x4(p, 0, z);
	__m512i z0 = z[0], z1 = z[1], z2 = z[2], z3 = z[3];
	_mm512_store_ps(tl->d[h], _mm512_cvtph_ps(_mm512_cvtepi32_epi16(z0)));
	_mm512_store_ps(tl->dmin[h], _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(z0, 16))));
	for (int j = 0; j < 8; j++) {
		__m512i sc, mn;
		if (j < 4) {
			sc = byte_at(z1, 8 * j, 6);
			mn = byte_at(z2, 8 * j, 6);
		} else {
			int i = 8 * (j - 4);
			sc = _mm512_or_si512(byte_at(z3, i, 4), _mm512_slli_epi32(byte_at(z1, i + 6, 2), 4));
			mn = _mm512_or_si512(byte_at(z3, i + 4, 4), _mm512_slli_epi32(byte_at(z2, i + 6, 2), 4));
		}
		_mm512_store_si512(tl->sc[j][h], sc);
		_mm512_store_si512(tl->mn[j][h], _mm512_or_si512(mn, _mm512_slli_epi32(mn, 16)));
	}
}

__attribute__((target(AVX512))) static void unpack_q45k(const uint8_t *const p[TR], tile *tl, int five)
{
	const __m512i m4 = _mm512_set1_epi8(15), one = _mm512_set1_epi8(1);
	for (int h = 0; h < 2; h++) {
		__m512i qh[8];
		if (five)
			tr16x8(p + 16 * h, 16, qh);
		for (int c = 0; c < 4; c++) {
			__m512i z[8];
			tr16x8(p + 16 * h, (five ? 48 : 16) + 32 * (size_t)c, z);
			for (int g = 0; g < 8; g++) {
				__m512i lo = _mm512_and_si512(z[g], m4), hi = _mm512_and_si512(_mm512_srli_epi32(z[g], 4), m4);
				if (five) { /* bits 2c and 2c+1 of qh[l] are the fifth bits */
					lo = _mm512_or_si512(lo, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(qh[g], 2 * c), one), 4));
					hi = _mm512_or_si512(hi, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(qh[g], 2 * c + 1), one), 4));
				}
				_mm512_store_si512(tl->q[16 * c + g][h], lo);
				_mm512_store_si512(tl->q[16 * c + 8 + g][h], hi);
			}
		}
		scales_q45k(p + 16 * h, tl, h);
	}
}

/* Q6_K {ql[128]; qh[64]; int8 scales[16]; fp16 d} */
__attribute__((target(AVX512))) static void unpack_q6k(const uint8_t *const p[TR], __m512i idx[2], tile *tl)
{
	const __m512i m4 = _mm512_set1_epi8(15), m2 = _mm512_set1_epi8(3);
	for (int h = 0; h < 2; h++) {
		for (int n = 0; n < 2; n++) {
			__m512i l0[8], l1[8], qh[8];
			tr16x8(p + 16 * h, 64 * (size_t)n, l0);
			tr16x8(p + 16 * h, 64 * (size_t)n + 32, l1);
			tr16x8(p + 16 * h, 128 + 32 * (size_t)n, qh);
			for (int pp = 0; pp < 4; pp++)
				for (int g = 0; g < 8; g++) {
					__m512i lo = pp & 1 ? l1[g] : l0[g];
					lo = _mm512_and_si512(pp >= 2 ? _mm512_srli_epi32(lo, 4) : lo, m4);
					__m512i hb = _mm512_and_si512(_mm512_srli_epi32(qh[g], 2 * pp), m2);
					_mm512_store_si512(tl->q[32 * n + 8 * pp + g][h], _mm512_or_si512(lo, _mm512_slli_epi32(hb, 4)));
				}
		}
		/* the scales, 4 to a dword; d in the high half of the dword at 206
		 * (the block's last 4 bytes: nothing past it is read) */
		const uint8_t *const *ph = p + 16 * h;
		__m512i z[4], dd = _mm512_srli_epi32(gather16(ph, idx[h], 206), 16);
		tr16x4(ph, 192, z);
		__m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dd));
		_mm512_store_ps(tl->d[h], d);
		for (int j = 0; j < 16; j++) /* byte j % 4 of z[j / 4], sign-extended */
			_mm512_store_si512(tl->sc[j][h], _mm512_srai_epi32(_mm512_slli_epi32(z[j / 4], 24 - 8 * (j % 4)), 24));
		const __mmask32 odd = 0xaaaaaaaau;
		for (int i = 0; i < 4; i++) { /* int16 pairs (sc_4i, sc_4i+1), (sc_4i+2, sc_4i+3) */
			__m512i a = _mm512_srai_epi16(_mm512_slli_epi16(z[i], 8), 8), b = _mm512_srai_epi16(z[i], 8);
			_mm512_store_si512(tl->mn[2 * i][h], _mm512_mask_blend_epi16(odd, a, _mm512_slli_epi32(b, 16)));
			_mm512_store_si512(tl->mn[2 * i + 1][h], _mm512_mask_blend_epi16(odd, _mm512_srli_epi32(a, 16), b));
		}
	}
}

AI __m512i bcast32(const uint8_t *p)
{
	int32_t v;
	memcpy(&v, p, 4);
	return _mm512_set1_epi32(v);
}

AI float ld_f32(const uint8_t *p)
{
	float v;
	memcpy(&v, p, 4);
	return v;
}

/* y[t][0..TR) (+)= the tile's rows times activation rows t < N, over nblk
 * blocks (a: row 0's first block, arow: bytes between rows) */
AI void store_tile(float *y, size_t ldy, __m512 acc[2][TG], int N, int first, const __mmask16 mk[2])
{
	UNROLL
	for (int t = 0; t < N; t++)
		UNROLL
		for (int h = 0; h < 2; h++) {
			float *o = y + (size_t)t * ldy + 16 * h;
			__m512 v = first ? acc[h][t] : _mm512_add_ps(_mm512_maskz_loadu_ps(mk[h], o), acc[h][t]);
			_mm512_mask_storeu_ps(o, mk[h], v);
		}
}

AI void zero_i(__m512i v[2][TG], const int N)
{
	UNROLL
	for (int h = 0; h < 2; h++)
		UNROLL
		for (int t = 0; t < N; t++)
			v[h][t] = _mm512_setzero_si512();
}

/* s[h][t] += G groups of 4 weights (q[g][h]) times activation row t's
 * bytes a + t arow + 4 g */
AI void dot_groups(__m512i s[2][TG], const uint8_t (*q)[2][64], const uint8_t *a, size_t arow, const int N, const int G)
{
	UNROLL
	for (int g = 0; g < G; g++) {
		__m512i w0 = _mm512_load_si512(q[g][0]), w1 = _mm512_load_si512(q[g][1]);
		UNROLL
		for (int t = 0; t < N; t++) {
			__m512i av = bcast32(a + (size_t)t * arow + 4 * g);
			s[0][t] = _mm512_dpbusd_epi32(s[0][t], w0, av);
			s[1][t] = _mm512_dpbusd_epi32(s[1][t], w1, av);
		}
	}
}

/* y[t][0..TR) (+)= the tile rows' dot products with activation rows t < N
 * over nblk blocks: NSUB sub-blocks of 256 / NSUB values, each sum times its
 * scale; then per block (d isum - dmin imin) d_a (Q6_K, NSUB 16:
 * d (isum - 32 imin) d_a), imin = sum of the mn pairs times the bsums pairs */
AI void kern(float *y, size_t ldy, const uint8_t *a, size_t arow, const tile *tl, int nblk, int first,
	     const __mmask16 mk[2], const int N, const int NSUB)
{
	const int GPS = 64 / NSUB; /* 4-value groups per sub-block */
	__m512 acc[2][TG];
	UNROLL
	for (int h = 0; h < 2; h++)
		UNROLL
		for (int t = 0; t < N; t++)
			acc[h][t] = _mm512_setzero_ps();
	for (int b = 0; b < nblk; b++, tl++, a += Q8K_BYTES) {
		__m512i isum[2][TG];
		zero_i(isum, N);
		for (int j = 0; j < NSUB; j++) {
			__m512i s[2][TG];
			zero_i(s, N);
			dot_groups(s, tl->q + GPS * j, a + 4 + 4 * GPS * j, arow, N, GPS);
			UNROLL
			for (int h = 0; h < 2; h++) {
				__m512i sc = _mm512_load_si512(tl->sc[j][h]);
				UNROLL
				for (int t = 0; t < N; t++)
					isum[h][t] = _mm512_add_epi32(isum[h][t], _mm512_mullo_epi32(s[h][t], sc));
			}
		}
		UNROLL
		for (int h = 0; h < 2; h++) {
			__m512 d = _mm512_load_ps(tl->d[h]), dmin = NSUB == 16 ? d : _mm512_load_ps(tl->dmin[h]);
			UNROLL
			for (int t = 0; t < N; t++) {
				const uint8_t *at = a + (size_t)t * arow;
				__m512i m = _mm512_setzero_si512();
				UNROLL
				for (int j = 0; j < 8; j++)
					m = _mm512_dpwssd_epi32(m, _mm512_load_si512(tl->mn[j][h]), bcast32(at + 4 + QK_K + 4 * j));
				__m512 f = NSUB == 16 ? _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(isum[h][t], _mm512_slli_epi32(m, 5))), d)
						      : _mm512_fnmadd_ps(_mm512_cvtepi32_ps(m), dmin,
									 _mm512_mul_ps(_mm512_cvtepi32_ps(isum[h][t]), d));
				acc[h][t] = _mm512_fmadd_ps(f, _mm512_set1_ps(ld_f32(at)), acc[h][t]);
			}
		}
	}
	store_tile(y, ldy, acc, N, first, mk);
}

__attribute__((target(AVX512))) static void kern_n(float *y, size_t ldy, const uint8_t *a, size_t arow, const tile *tl,
						   int nblk, int first, const __mmask16 mk[2], int n, int nsub)
{
	switch (n + 8 * (nsub == 16)) {
	case 1: kern(y, ldy, a, arow, tl, nblk, first, mk, 1, 8); break;
	case 2: kern(y, ldy, a, arow, tl, nblk, first, mk, 2, 8); break;
	case 3: kern(y, ldy, a, arow, tl, nblk, first, mk, 3, 8); break;
	case 4: kern(y, ldy, a, arow, tl, nblk, first, mk, 4, 8); break;
	case 9: kern(y, ldy, a, arow, tl, nblk, first, mk, 1, 16); break;
	case 10: kern(y, ldy, a, arow, tl, nblk, first, mk, 2, 16); break;
	case 11: kern(y, ldy, a, arow, tl, nblk, first, mk, 3, 16); break;
	default: kern(y, ldy, a, arow, tl, nblk, first, mk, 4, 16); break;
	}
}

/* ---- AVX-512 VNNI kernels for the block-32 types (Q4_0, Q4_1, Q5_0, Q5_1,
 * Q8_0), the same scheme: a tile is 32 rows x 8 blocks, the weights as
 * unsigned bytes (Q8_0's + 128), and the offset (8, 16, 128 times the
 * activation block's sum) subtracted from each block's integer sum; then
 * y += (d_w d_a) isum (+ m_w s_a for Q4_1, Q5_1) per block, as llama.cpp. ---- */

enum { KB32 = 8 };

typedef struct tile32 {
	_Alignas(64) uint8_t q[8 * KB32][2][64]; /* 4-value group, row half, 16 rows x 4 values */
	float d[KB32][2][16], m[KB32][2][16];
} tile32;

/* per activation row and block: its d (f32) and the integer offset
 * correction (Q8_0: off * sum q) or s (Q8_1) */
typedef struct act32 {
	float d;
	union {
		int32_t corr;
		float s;
	} u;
} act32;

/* nblk blocks (from block b0) of the TR rows at row[r] */
__attribute__((target(AVX512))) static void unpack32(uint32_t type, const uint8_t *const row[TR], __m512i idx[2], int b0,
						       int nblk, tile32 *tl)
{
	uint32_t bb = ggml_type_block_bytes(type);
	int q81 = type == GGML_Q4_1 || type == GGML_Q5_1;
	size_t qhoff = q81 ? 4 : 2, qsoff = type == GGML_Q5_0 || type == GGML_Q5_1 ? qhoff + 4 : qhoff;
	const __m512i m4 = _mm512_set1_epi8(15), x80 = _mm512_set1_epi8((char)0x80);
	const __m512i spread = _mm512_set1_epi32(0x00204081), ones = _mm512_set1_epi32(0x01010101), m4d = _mm512_set1_epi32(15);
	for (int b = 0; b < nblk; b++)
		for (int h = 0; h < 2; h++) {
			const uint8_t *p[16];
			for (int r = 0; r < 16; r++)
				p[r] = row[16 * h + r] + (size_t)(b0 + b) * bb;
			__m512i dm = _mm512_i32gather_epi32(idx[h], (const void *)p[0], 1); /* fp16 d, m */
			_mm512_store_ps(tl->d[b][h], _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dm)));
			_mm512_store_ps(tl->m[b][h], _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dm, 16))));
			if (type == GGML_Q8_0) {
				__m512i z[8];
				tr16x8(p, 2, z);
				for (int g = 0; g < 8; g++)
					_mm512_store_si512(tl->q[8 * b + g][h], _mm512_xor_si512(z[g], x80));
				continue;
			}
			__m512i z[4], qh = _mm512_setzero_si512();
			tr16x4(p, qsoff, z);
			if (qsoff != qhoff)
				qh = _mm512_i32gather_epi32(idx[h], (const void *)(p[0] + qhoff), 1);
			for (int g = 0; g < 4; g++) {
				__m512i lo = _mm512_and_si512(z[g], m4), hi = _mm512_and_si512(_mm512_srli_epi32(z[g], 4), m4);
				if (qsoff != qhoff) { /* bit j of qh is value j's fifth bit: 4 bits to 4 bytes */
					__m512i bl = _mm512_and_si512(_mm512_srli_epi32(qh, 4 * g), m4d);
					__m512i bh = _mm512_and_si512(_mm512_srli_epi32(qh, 16 + 4 * g), m4d);
					bl = _mm512_and_si512(_mm512_mullo_epi32(bl, spread), ones);
					bh = _mm512_and_si512(_mm512_mullo_epi32(bh, spread), ones);
					lo = _mm512_or_si512(lo, _mm512_slli_epi32(bl, 4));
					hi = _mm512_or_si512(hi, _mm512_slli_epi32(bh, 4));
				}
				_mm512_store_si512(tl->q[8 * b + g][h], lo);
				_mm512_store_si512(tl->q[8 * b + 4 + g][h], hi);
			}
		}
}

AI void kern32(float *y, size_t ldy, const uint8_t *a, size_t arow, const act32 *ax, size_t axrow, const tile32 *tl,
	       int nblk, int first, const __mmask16 mk[2], const int N, const int Q81)
{
	const int abb = Q81 ? Q81_BYTES : Q80_BYTES, qo = Q81 ? 4 : 2;
	__m512 acc[2][TG];
	UNROLL
	for (int h = 0; h < 2; h++)
		UNROLL
		for (int t = 0; t < N; t++)
			acc[h][t] = _mm512_setzero_ps();
	for (int b = 0; b < nblk; b++, a += abb, ax++) {
		__m512i s[2][TG];
		zero_i(s, N);
		dot_groups(s, tl->q + 8 * b, a + qo, arow, N, 8);
		UNROLL
		for (int h = 0; h < 2; h++) {
			__m512 d = _mm512_load_ps(tl->d[b][h]), m = _mm512_load_ps(tl->m[b][h]);
			UNROLL
			for (int t = 0; t < N; t++) {
				const act32 *x = ax + (size_t)t * axrow;
				__m512i is = Q81 ? s[h][t] : _mm512_sub_epi32(s[h][t], _mm512_set1_epi32(x->u.corr));
				acc[h][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), _mm512_mul_ps(d, _mm512_set1_ps(x->d)), acc[h][t]);
				if (Q81)
					acc[h][t] = _mm512_fmadd_ps(m, _mm512_set1_ps(x->u.s), acc[h][t]);
			}
		}
	}
	store_tile(y, ldy, acc, N, first, mk);
}

__attribute__((target(AVX512))) static void kern32_n(float *y, size_t ldy, const uint8_t *a, size_t arow, const act32 *ax,
						     size_t axrow, const tile32 *tl, int nblk, int first,
						     const __mmask16 mk[2], int n, int q81)
{
	switch (n + 8 * q81) {
	case 1: kern32(y, ldy, a, arow, ax, axrow, tl, nblk, first, mk, 1, 0); break;
	case 2: kern32(y, ldy, a, arow, ax, axrow, tl, nblk, first, mk, 2, 0); break;
	case 3: kern32(y, ldy, a, arow, ax, axrow, tl, nblk, first, mk, 3, 0); break;
	case 4: kern32(y, ldy, a, arow, ax, axrow, tl, nblk, first, mk, 4, 0); break;
	case 9: kern32(y, ldy, a, arow, ax, axrow, tl, nblk, first, mk, 1, 1); break;
	case 10: kern32(y, ldy, a, arow, ax, axrow, tl, nblk, first, mk, 2, 1); break;
	case 11: kern32(y, ldy, a, arow, ax, axrow, tl, nblk, first, mk, 3, 1); break;
	default: kern32(y, ldy, a, arow, ax, axrow, tl, nblk, first, mk, 4, 1); break;
	}
}

/* ---- AVX2 kernels for Q4_K, Q5_K and Q6_K: the AVX-512 scheme on 8 lanes
 * (tiles of 16 rows, 2 activation rows at a time), vpdpbusd done as
 * vpmaddubsw (the weights are at most 63, so the int16 pairs cannot
 * saturate) and vpmaddwd.  AVX-VNNI is not used. ---- */

#define AVX2 "avx2,fma,f16c"
#define AI2 __attribute__((target(AVX2), always_inline)) static inline

enum { TR2 = 16, TG2 = 2 };

typedef struct tile2 {
	_Alignas(32) uint8_t q[64][2][32]; /* as tile, 8 rows a vector */
	int32_t sc[16][2][8];
	int32_t mn[8][2][8];
	float d[2][8], dmin[2][8];
} tile2;

/* dwords off / 4 .. off / 4 + 7 of 8 rows transposed: z[g] = dword g of rows 0..7 */
AI2 void tr8x8(const uint8_t *const p[8], size_t off, __m256i z[8])
{
	__m256i a[8], t[8], u[8];
	for (int i = 0; i < 8; i++)
		a[i] = _mm256_loadu_si256((const __m256i *)(const void *)(p[i] + off));
	for (int i = 0; i < 4; i++) {
		t[2 * i] = _mm256_unpacklo_epi32(a[2 * i], a[2 * i + 1]);
		t[2 * i + 1] = _mm256_unpackhi_epi32(a[2 * i], a[2 * i + 1]);
	}
	for (int h = 0; h < 2; h++) {
		u[4 * h + 0] = _mm256_unpacklo_epi64(t[4 * h], t[4 * h + 2]);
		u[4 * h + 1] = _mm256_unpackhi_epi64(t[4 * h], t[4 * h + 2]);
		u[4 * h + 2] = _mm256_unpacklo_epi64(t[4 * h + 1], t[4 * h + 3]);
		u[4 * h + 3] = _mm256_unpackhi_epi64(t[4 * h + 1], t[4 * h + 3]);
	}
	for (int i = 0; i < 4; i++) {
		z[i] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x20);
		z[i + 4] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x31);
	}
}

AI2 __m256i gather8(const uint8_t *const p[8], __m256i idx, int off)
{
	return _mm256_i32gather_epi32((const int *)(const void *)(p[0] + off), idx, 1);
}

AI2 __m256i byte_at8(__m256i z, int i, int bits)
{
	return _mm256_and_si256(_mm256_srli_epi32(z, i), _mm256_set1_epi32((1 << bits) - 1));
}

__attribute__((target(AVX2))) static void unpack2_q45k(const uint8_t *const p[TR2], __m256i idx[2], tile2 *tl, int five)
{
	const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
	for (int h = 0; h < 2; h++) {
		const uint8_t *const *ph = p + 8 * h;
		__m256i qh[8];
		if (five)
			tr8x8(ph, 16, qh);
		for (int c = 0; c < 4; c++) {
			__m256i z[8];
			tr8x8(ph, (five ? 48 : 16) + 32 * (size_t)c, z);
			for (int g = 0; g < 8; g++) {
				__m256i lo = _mm256_and_si256(z[g], m4), hi = _mm256_and_si256(_mm256_srli_epi32(z[g], 4), m4);
				if (five) {
					lo = _mm256_or_si256(lo, _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(qh[g], 2 * c), one), 4));
					hi = _mm256_or_si256(hi, _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(qh[g], 2 * c + 1), one), 4));
				}
				_mm256_store_si256((__m256i *)(void *)tl->q[16 * c + g][h], lo);
				_mm256_store_si256((__m256i *)(void *)tl->q[16 * c + 8 + g][h], hi);
			}
		}
		__m256i z1 = gather8(ph, idx[h], 4), z2 = gather8(ph, idx[h], 8), z3 = gather8(ph, idx[h], 12);
		for (int j = 0; j < 8; j++) {
			__m256i sc, mn;
			if (j < 4) {
				sc = byte_at8(z1, 8 * j, 6);
				mn = byte_at8(z2, 8 * j, 6);
			} else {
				int i = 8 * (j - 4);
				sc = _mm256_or_si256(byte_at8(z3, i, 4), _mm256_slli_epi32(byte_at8(z1, i + 6, 2), 4));
				mn = _mm256_or_si256(byte_at8(z3, i + 4, 4), _mm256_slli_epi32(byte_at8(z2, i + 6, 2), 4));
			}
			_mm256_store_si256((__m256i *)(void *)tl->sc[j][h], sc);
			_mm256_store_si256((__m256i *)(void *)tl->mn[j][h], _mm256_or_si256(mn, _mm256_slli_epi32(mn, 16)));
		}
		for (int r = 0; r < 8; r++)
			tl->d[h][r] = fp16(ph[r]), tl->dmin[h][r] = fp16(ph[r] + 2);
	}
}

__attribute__((target(AVX2))) static void unpack2_q6k(const uint8_t *const p[TR2], __m256i idx[2], tile2 *tl)
{
	const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(3);
	for (int h = 0; h < 2; h++) {
		const uint8_t *const *ph = p + 8 * h;
		for (int n = 0; n < 2; n++) {
			__m256i l0[8], l1[8], qh[8];
			tr8x8(ph, 64 * (size_t)n, l0);
			tr8x8(ph, 64 * (size_t)n + 32, l1);
			tr8x8(ph, 128 + 32 * (size_t)n, qh);
			for (int pp = 0; pp < 4; pp++)
				for (int g = 0; g < 8; g++) {
					__m256i lo = pp & 1 ? l1[g] : l0[g];
					lo = _mm256_and_si256(pp >= 2 ? _mm256_srli_epi32(lo, 4) : lo, m4);
					__m256i hb = _mm256_and_si256(_mm256_srli_epi32(qh[g], 2 * pp), m2);
					_mm256_store_si256((__m256i *)(void *)tl->q[32 * n + 8 * pp + g][h],
							   _mm256_or_si256(lo, _mm256_slli_epi32(hb, 4)));
				}
		}
		__m256i z[4];
		for (int i = 0; i < 4; i++)
			z[i] = gather8(ph, idx[h], 192 + 4 * i);
		for (int r = 0; r < 8; r++)
			tl->d[h][r] = fp16(ph[r] + 208);
		for (int j = 0; j < 16; j++)
			_mm256_store_si256((__m256i *)(void *)tl->sc[j][h],
					   _mm256_srai_epi32(_mm256_slli_epi32(z[j / 4], 24 - 8 * (j % 4)), 24));
		for (int i = 0; i < 4; i++) {
			__m256i a = _mm256_srai_epi16(_mm256_slli_epi16(z[i], 8), 8), b = _mm256_srai_epi16(z[i], 8);
			_mm256_store_si256((__m256i *)(void *)tl->mn[2 * i][h], _mm256_blend_epi16(a, _mm256_slli_epi32(b, 16), 0xaa));
			_mm256_store_si256((__m256i *)(void *)tl->mn[2 * i + 1][h], _mm256_blend_epi16(_mm256_srli_epi32(a, 16), b, 0xaa));
		}
	}
}

AI2 __m256i bcast8(const uint8_t *p)
{
	int32_t v;
	memcpy(&v, p, 4);
	return _mm256_set1_epi32(v);
}

/* kern on 8 lanes: N <= TG2 activation rows */
AI2 void kern2(float *y, size_t ldy, const uint8_t *a, size_t arow, const tile2 *tl, int nblk, int first,
	       const __m256i mk[2], const int N, const int NSUB)
{
	const int GPS = 64 / NSUB;
	const __m256i ones = _mm256_set1_epi16(1);
	__m256 acc[2][TG2];
	UNROLL
	for (int h = 0; h < 2; h++)
		UNROLL
		for (int t = 0; t < N; t++)
			acc[h][t] = _mm256_setzero_ps();
	for (int b = 0; b < nblk; b++, tl++, a += Q8K_BYTES) {
		__m256i isum[2][TG2];
		UNROLL
		for (int h = 0; h < 2; h++)
			UNROLL
			for (int t = 0; t < N; t++)
				isum[h][t] = _mm256_setzero_si256();
		for (int j = 0; j < NSUB; j++) {
			__m256i s[2][TG2];
			UNROLL
			for (int h = 0; h < 2; h++)
				UNROLL
				for (int t = 0; t < N; t++)
					s[h][t] = _mm256_setzero_si256();
			UNROLL
			for (int g = 0; g < GPS; g++) {
				__m256i w0 = _mm256_load_si256((const __m256i *)(const void *)tl->q[GPS * j + g][0]);
				__m256i w1 = _mm256_load_si256((const __m256i *)(const void *)tl->q[GPS * j + g][1]);
				UNROLL
				for (int t = 0; t < N; t++) {
					__m256i av = bcast8(a + (size_t)t * arow + 4 + 4 * (GPS * j + g));
					s[0][t] = _mm256_add_epi32(s[0][t], _mm256_madd_epi16(_mm256_maddubs_epi16(w0, av), ones));
					s[1][t] = _mm256_add_epi32(s[1][t], _mm256_madd_epi16(_mm256_maddubs_epi16(w1, av), ones));
				}
			}
			UNROLL
			for (int h = 0; h < 2; h++) {
				__m256i sc = _mm256_load_si256((const __m256i *)(const void *)tl->sc[j][h]);
				UNROLL
				for (int t = 0; t < N; t++)
					isum[h][t] = _mm256_add_epi32(isum[h][t], _mm256_mullo_epi32(s[h][t], sc));
			}
		}
		UNROLL
		for (int h = 0; h < 2; h++) {
			__m256 d = _mm256_load_ps(tl->d[h]), dmin = NSUB == 16 ? d : _mm256_load_ps(tl->dmin[h]);
			UNROLL
			for (int t = 0; t < N; t++) {
				const uint8_t *at = a + (size_t)t * arow;
				__m256i m = _mm256_setzero_si256();
				UNROLL
				for (int j = 0; j < 8; j++)
					m = _mm256_add_epi32(m, _mm256_madd_epi16(_mm256_load_si256((const __m256i *)(const void *)tl->mn[j][h]),
										  bcast8(at + 4 + QK_K + 4 * j)));
				__m256 f = NSUB == 16 ? _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(isum[h][t], _mm256_slli_epi32(m, 5))), d)
						      : _mm256_fnmadd_ps(_mm256_cvtepi32_ps(m), dmin,
									 _mm256_mul_ps(_mm256_cvtepi32_ps(isum[h][t]), d));
				float da;
				memcpy(&da, at, 4);
				acc[h][t] = _mm256_fmadd_ps(f, _mm256_set1_ps(da), acc[h][t]);
			}
		}
	}
	for (int t = 0; t < N; t++)
		for (int h = 0; h < 2; h++) {
			float *o = y + (size_t)t * ldy + 8 * h;
			__m256 v = first ? acc[h][t] : _mm256_add_ps(_mm256_maskload_ps(o, mk[h]), acc[h][t]);
			_mm256_maskstore_ps(o, mk[h], v);
		}
}

__attribute__((target(AVX2))) static void kern2_n(float *y, size_t ldy, const uint8_t *a, size_t arow, const tile2 *tl,
						  int nblk, int first, const __m256i mk[2], int n, int nsub)
{
	switch (n + 8 * (nsub == 16)) {
	case 1: kern2(y, ldy, a, arow, tl, nblk, first, mk, 1, 8); break;
	case 2: kern2(y, ldy, a, arow, tl, nblk, first, mk, 2, 8); break;
	case 9: kern2(y, ldy, a, arow, tl, nblk, first, mk, 1, 16); break;
	default: kern2(y, ldy, a, arow, tl, nblk, first, mk, 2, 16); break;
	}
}

/* ---- the product ---- */

enum { RB = 16 }; /* weight rows per work item of the plain C path */

typedef struct job {
	float *y;
	size_t ldy;
	const uint8_t *act, *W;
	size_t act_row, row_bytes;
	int T, rows, nb;
	uint32_t type;
	dot_fn dot;
	const act32 *ax; /* the block-32 types' per-block activation scalars (T x nb) */
} job;

static void q8mm_rows(void *ctx, int item)
{
	const job *j = ctx;
	int r0 = item * RB, r1 = r0 + RB < j->rows ? r0 + RB : j->rows;
	for (int t = 0; t < j->T; t++)
		for (int r = r0; r < r1; r++)
			j->y[(size_t)t * j->ldy + r] = j->dot(j->W + (size_t)r * j->row_bytes, j->act + (size_t)t * j->act_row, j->nb);
}

/* an item's rows (the last repeated past the matrix), the store masks of
 * its two halves, the gather indices of the rows in each half; returns the
 * number of its rows inside the matrix (TR but in the last tile) */
__attribute__((target(AVX512))) static int tile_setup(const job *j, int item, const uint8_t *row[TR], __mmask16 mk[2],
						       __m512i idx[2])
{
	int r0 = item * TR, nr = j->rows - r0 < TR ? j->rows - r0 : TR;
	mk[0] = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);
	mk[1] = (__mmask16)(nr >= 32 ? 0xffff : nr <= 16 ? 0 : (1u << (nr - 16)) - 1);
	tile_rows(j->W, j->row_bytes, r0, j->rows, 0, row);
	int32_t off[TR];
	for (int r = 0; r < TR; r++)
		off[r] = (int32_t)(row[r] - row[16 * (r / 16)]);
	idx[0] = _mm512_loadu_si512(off), idx[1] = _mm512_loadu_si512(off + 16);
	return nr;
}

/* the rows' bytes [o, o + n), some chunks ahead of the unpacking: TR
 * streams are too many for the hardware prefetchers */
static void prefetch_rows(const uint8_t *const row[TR], int nr, size_t o, size_t n)
{
	for (int r = 0; r < nr; r++)
		for (size_t l = 0; l < n; l += 64)
			_mm_prefetch((const char *)(row[r] + o + l), _MM_HINT_T0);
}

/* one item of the AVX-512 path: TR rows, every activation row, the blocks
 * KB at a time */
__attribute__((target(AVX512))) static void q8mm_tiles_avx512(void *ctx, int item)
{
	const job *j = ctx;
	tile tl[KB];
	const uint8_t *p[TR], *row[TR];
	__mmask16 mk[2];
	__m512i idx[2];
	int r0 = item * TR, nr = tile_setup(j, item, row, mk, idx);
	uint32_t bb = ggml_type_block_bytes(j->type);
	int nsub = j->type == GGML_Q6_K ? 16 : 8;
	for (int kb = 0; kb < j->nb; kb += KB) {
		int nblk = j->nb - kb < KB ? j->nb - kb : KB;
		if (kb + PF * KB < j->nb)
			prefetch_rows(row, nr, (size_t)(kb + PF * KB) * bb, KB * bb);
		for (int b = 0; b < nblk; b++) {
			tile_rows(j->W, j->row_bytes, r0, j->rows, (size_t)(kb + b) * bb, p);
			if (j->type == GGML_Q6_K)
				unpack_q6k(p, idx, &tl[b]);
			else
				unpack_q45k(p, &tl[b], j->type == GGML_Q5_K);
		}
		for (int t0 = 0; t0 < j->T; t0 += TG) {
			int n = j->T - t0 < TG ? j->T - t0 : TG;
			kern_n(j->y + (size_t)t0 * j->ldy + r0, j->ldy, j->act + (size_t)t0 * j->act_row + (size_t)kb * Q8K_BYTES,
			       j->act_row, tl, nblk, kb == 0, mk, n, nsub);
		}
	}
}

/* one item of the AVX-512 path of the block-32 types: TR rows, KB32
 * blocks at a time */
__attribute__((target(AVX512))) static void q8mm_tiles32_avx512(void *ctx, int item)
{
	const job *j = ctx;
	tile32 tl;
	const uint8_t *row[TR];
	__mmask16 mk[2];
	__m512i idx[2];
	int r0 = item * TR, nr = tile_setup(j, item, row, mk, idx), q81 = act_type(j->type) == GGML_Q8_1;
	uint32_t bb = ggml_type_block_bytes(j->type), abb = act_block_bytes(act_type(j->type));
	for (int kb = 0; kb < j->nb; kb += KB32) {
		int nblk = j->nb - kb < KB32 ? j->nb - kb : KB32;
		if (kb + PF * KB32 < j->nb)
			prefetch_rows(row, nr, (size_t)(kb + PF * KB32) * bb, KB32 * bb);
		unpack32(j->type, row, idx, kb, nblk, &tl);
		for (int t0 = 0; t0 < j->T; t0 += TG) {
			int n = j->T - t0 < TG ? j->T - t0 : TG;
			kern32_n(j->y + (size_t)t0 * j->ldy + r0, j->ldy, j->act + (size_t)t0 * j->act_row + (size_t)kb * abb,
				 j->act_row, j->ax + (size_t)t0 * j->nb + kb, (size_t)j->nb, &tl, nblk, kb == 0, mk, n, q81);
		}
	}
}

/* the block-32 types' act32 array: each activation block's d, and its
 * offset correction (the weight type's offset times sum q) or s */
static act32 *act32_new(uint32_t type, const uint8_t *act, int T, int nb)
{
	act32 *ax = malloc((size_t)T * nb * sizeof *ax);
	if (!ax)
		return NULL;
	int q81 = act_type(type) == GGML_Q8_1, off = type == GGML_Q4_0 ? 8 : type == GGML_Q5_0 ? 16 : 128;
	size_t abb = q81 ? Q81_BYTES : Q80_BYTES;
	for (size_t i = 0; i < (size_t)T * nb; i++, act += abb) {
		ax[i].d = fp16(act);
		if (q81) {
			ax[i].u.s = fp16(act + 2);
			continue;
		}
		int sum = 0;
		for (int k = 0; k < 32; k++)
			sum += (int8_t)act[2 + k];
		ax[i].u.corr = off * sum;
	}
	return ax;
}

/* the block-32 types on AVX2: one weight row with one activation row, as
 * llama.cpp's AVX2 ggml_vec_dot_*: the block's 32 weights as bytes (signed,
 * or unsigned for Q4_1/Q5_1), vpmaddubsw on |w| and sign(w) a, vpmaddwd */
AI2 __m256i nibbles32(const uint8_t *qs)
{
	__m128i q = _mm_loadu_si128((const __m128i *)(const void *)qs);
	__m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1);
	return _mm256_and_si256(v, _mm256_set1_epi8(15));
}

/* 0x10 in byte j where bit j of the 32 bits at p is set */
AI2 __m256i fifth_bits(const uint8_t *p)
{
	uint32_t x;
	memcpy(&x, p, 4);
	const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
	__m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x), shuf);
	v = _mm256_cmpeq_epi8(_mm256_or_si256(v, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe)), _mm256_set1_epi64x(-1));
	return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

AI2 float dot32_avx2(uint32_t type, const uint8_t *w, const uint8_t *a, int nb)
{
	uint32_t wb = ggml_type_block_bytes(type);
	int q81 = type == GGML_Q4_1 || type == GGML_Q5_1;
	const __m256i ones = _mm256_set1_epi16(1);
	__m256 acc = _mm256_setzero_ps();
	float mins = 0;
	for (int i = 0; i < nb; i++, w += wb, a += q81 ? Q81_BYTES : Q80_BYTES) {
		__m256i q, y = _mm256_loadu_si256((const __m256i *)(const void *)(a + (q81 ? 4 : 2)));
		switch (type) {
		case GGML_Q4_0: q = _mm256_sub_epi8(nibbles32(w + 2), _mm256_set1_epi8(8)); break;
		case GGML_Q4_1: q = nibbles32(w + 4); break;
		case GGML_Q5_0: q = _mm256_sub_epi8(_mm256_or_si256(nibbles32(w + 6), fifth_bits(w + 2)), _mm256_set1_epi8(16)); break;
		case GGML_Q5_1: q = _mm256_or_si256(nibbles32(w + 8), fifth_bits(w + 4)); break;
		default: q = _mm256_loadu_si256((const __m256i *)(const void *)(w + 2)); break;
		}
		__m256i p16 = q81 ? _mm256_maddubs_epi16(q, y) : _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(y, q));
		__m256 sum = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones));
		acc = _mm256_fmadd_ps(sum, _mm256_set1_ps(_cvtsh_ss(get16(w)) * _cvtsh_ss(get16(a))), acc);
		if (q81)
			mins += _cvtsh_ss(get16(w + 2)) * _cvtsh_ss(get16(a + 2));
	}
	__m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
	h = _mm_add_ps(h, _mm_movehl_ps(h, h));
	h = _mm_add_ss(h, _mm_movehdup_ps(h));
	return _mm_cvtss_f32(h) + mins;
}

#define DOT32_AVX2(T, NAME)                                                                                          \
	__attribute__((target(AVX2))) static float NAME(const uint8_t *w, const uint8_t *a, int nb)                  \
	{                                                                                                            \
		return dot32_avx2(T, w, a, nb);                                                                      \
	}
DOT32_AVX2(GGML_Q4_0, dot_q4_0_avx2)
DOT32_AVX2(GGML_Q4_1, dot_q4_1_avx2)
DOT32_AVX2(GGML_Q5_0, dot_q5_0_avx2)
DOT32_AVX2(GGML_Q5_1, dot_q5_1_avx2)
DOT32_AVX2(GGML_Q8_0, dot_q8_0_avx2)

static dot_fn dot_avx2(uint32_t type)
{
	switch (type) {
	case GGML_Q4_0: return dot_q4_0_avx2;
	case GGML_Q4_1: return dot_q4_1_avx2;
	case GGML_Q5_0: return dot_q5_0_avx2;
	case GGML_Q5_1: return dot_q5_1_avx2;
	case GGML_Q8_0: return dot_q8_0_avx2;
	default: return NULL;
	}
}

/* one item of the AVX2 path: TR2 rows of a K-quant, KB blocks at a time */
__attribute__((target(AVX2))) static void q8mm_tiles_avx2(void *ctx, int item)
{
	const job *j = ctx;
	int r0 = item * TR2, nr = j->rows - r0 < TR2 ? j->rows - r0 : TR2;
	__m256i mk[2];
	for (int h = 0; h < 2; h++) {
		int32_t m[8];
		for (int r = 0; r < 8; r++)
			m[r] = 8 * h + r < nr ? -1 : 0;
		mk[h] = _mm256_loadu_si256((const __m256i *)(const void *)m);
	}
	const uint8_t *row[TR], *p[TR];
	tile_rows(j->W, j->row_bytes, r0, j->rows, 0, row); /* TR >= TR2 entries, the first TR2 used */
	int32_t off[TR2];
	for (int r = 0; r < TR2; r++)
		off[r] = (int32_t)(row[r] - row[8 * (r / 8)]);
	__m256i idx[2] = {_mm256_loadu_si256((const __m256i *)(const void *)off),
			  _mm256_loadu_si256((const __m256i *)(const void *)(off + 8))};
	tile2 tl[KB];
	uint32_t bb = ggml_type_block_bytes(j->type);
	int nsub = j->type == GGML_Q6_K ? 16 : 8;
	for (int kb = 0; kb < j->nb; kb += KB) {
		int nblk = j->nb - kb < KB ? j->nb - kb : KB;
		if (kb + PF * KB < j->nb)
			prefetch_rows(row, nr, (size_t)(kb + PF * KB) * bb, KB * bb);
		for (int b = 0; b < nblk; b++) {
			tile_rows(j->W, j->row_bytes, r0, j->rows, (size_t)(kb + b) * bb, p);
			if (j->type == GGML_Q6_K)
				unpack2_q6k(p, idx, &tl[b]);
			else
				unpack2_q45k(p, idx, &tl[b], j->type == GGML_Q5_K);
		}
		for (int t0 = 0; t0 < j->T; t0 += TG2) {
			int n = j->T - t0 < TG2 ? j->T - t0 : TG2;
			kern2_n(j->y + (size_t)t0 * j->ldy + r0, j->ldy, j->act + (size_t)t0 * j->act_row + (size_t)kb * Q8K_BYTES,
				j->act_row, tl, nblk, kb == 0, mk, n, nsub);
		}
	}
}

void q8mm(float *y, size_t ldy, const void *act, int T, uint32_t type, const void *W, size_t row_bytes, int rows,
	  int cols, int nthreads)
{
	if (!q8mm_supported(type, cols) || T <= 0 || rows <= 0)
		return;
	job j = {.y = y, .ldy = ldy, .act = act, .W = W, .act_row = q8mm_act_bytes(type, 1, cols), .row_bytes = row_bytes,
		 .T = T, .rows = rows, .nb = cols / (int)ggml_type_block_elems(type), .type = type, .dot = dot_c(type)};
	nthreads = nthreads < 1 ? 1 : nthreads;
	if (isa() == 3 && act_type(type) == GGML_Q8_K) {
		qmm_parallel((rows + TR - 1) / TR, nthreads, q8mm_tiles_avx512, &j);
		return;
	}
	if (isa() == 2 && act_type(type) == GGML_Q8_K) {
		qmm_parallel((rows + TR2 - 1) / TR2, nthreads, q8mm_tiles_avx2, &j);
		return;
	}
	if (isa() == 2)
		j.dot = dot_avx2(type);
	act32 *ax = isa() == 3 ? act32_new(type, act, T, j.nb) : NULL;
	if (ax) {
		j.ax = ax;
		qmm_parallel((rows + TR - 1) / TR, nthreads, q8mm_tiles32_avx512, &j);
		free(ax);
		return;
	}
	qmm_parallel((rows + RB - 1) / RB, nthreads, q8mm_rows, &j); /* plain C, or out of memory */
}
