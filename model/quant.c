/* quant.c - dequantisation of ggml block formats to f32 (see quant.h).
 * Each routine mirrors the block struct in ggml-common.h; offsets are written
 * out explicitly instead of declaring packed structs. */
#include "quant.h"

#include <cpuid.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>

struct type_info {
	const char *name;
	uint32_t elems, bytes;
	int supported;
};

static const struct type_info TYPES[GGML_TYPE_MAX] = {
	[GGML_F32] = {"F32", 1, 4, 1},
	[GGML_F16] = {"F16", 1, 2, 1},
	[GGML_Q4_0] = {"Q4_0", 32, 18, 1},
	[GGML_Q4_1] = {"Q4_1", 32, 20, 1},
	[GGML_Q5_0] = {"Q5_0", 32, 22, 1},
	[GGML_Q5_1] = {"Q5_1", 32, 24, 1},
	[GGML_Q8_0] = {"Q8_0", 32, 34, 1},
	[GGML_Q8_1] = {"Q8_1", 32, 36, 0},
	[GGML_Q2_K] = {"Q2_K", 256, 84, 0},
	[GGML_Q3_K] = {"Q3_K", 256, 110, 0},
	[GGML_Q4_K] = {"Q4_K", 256, 144, 1},
	[GGML_Q5_K] = {"Q5_K", 256, 176, 1},
	[GGML_Q6_K] = {"Q6_K", 256, 210, 1},
	[GGML_Q8_K] = {"Q8_K", 256, 292, 0},
	[16] = {"IQ2_XXS", 256, 66, 0},
	[17] = {"IQ2_XS", 256, 74, 0},
	[18] = {"IQ3_XXS", 256, 98, 0},
	[19] = {"IQ1_S", 256, 50, 0},
	[20] = {"IQ4_NL", 32, 18, 0},
	[21] = {"IQ3_S", 256, 110, 0},
	[22] = {"IQ2_S", 256, 82, 0},
	[23] = {"IQ4_XS", 256, 136, 0},
	[24] = {"I8", 1, 1, 0},
	[25] = {"I16", 1, 2, 0},
	[26] = {"I32", 1, 4, 0},
	[27] = {"I64", 1, 8, 0},
	[28] = {"F64", 1, 8, 0},
	[29] = {"IQ1_M", 256, 56, 0},
	[GGML_BF16] = {"BF16", 1, 2, 1},
	[34] = {"TQ1_0", 256, 54, 0},
	[35] = {"TQ2_0", 256, 66, 0},
};

const char *ggml_type_name(uint32_t t)
{
	return t < GGML_TYPE_MAX ? TYPES[t].name : NULL;
}

uint32_t ggml_type_block_elems(uint32_t t)
{
	return t < GGML_TYPE_MAX ? TYPES[t].elems : 0;
}

uint32_t ggml_type_block_bytes(uint32_t t)
{
	return t < GGML_TYPE_MAX ? TYPES[t].bytes : 0;
}

int ggml_type_supported(uint32_t t)
{
	return t < GGML_TYPE_MAX && TYPES[t].supported;
}

float fp16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h >> 15) << 31;
	uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
	float f;
	if (exp == 0) {
		/* zero or subnormal: mant * 2^-24 */
		f = ldexpf((float)mant, -24);
		return sign ? -f : f;
	}
	if (exp == 31)
		bits = sign | 0x7f800000u | (mant << 13);
	else
		bits = sign | ((exp + 112) << 23) | (mant << 13);
	memcpy(&f, &bits, 4);
	return f;
}

uint16_t f32_to_fp16(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	uint32_t sign = (x >> 16) & 0x8000;
	uint32_t absx = x & 0x7fffffff;
	if (absx >= 0x7f800000) /* inf or nan */
		return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000 ? 0x200 : 0));
	if (absx >= 0x477ff000) /* rounds to >= 65520: overflow to inf */
		return (uint16_t)(sign | 0x7c00);
	if (absx < 0x38800000) { /* below the smallest normal: subnormal */
		float a;
		memcpy(&a, &absx, 4);
		float q = a * 16777216.0f; /* units of 2^-24 */
		return (uint16_t)(sign | (uint32_t)lrintf(q));
	}
	/* normal: round mantissa to 10 bits, ties to even */
	uint32_t mant = absx & 0x7fffff, exp = (absx >> 23) - 112;
	uint32_t h = (exp << 10) | (mant >> 13);
	uint32_t rest = mant & 0x1fff;
	if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
		h++; /* may carry into the exponent, which is correct */
	return (uint16_t)(sign | h);
}

/* F16C converts 8 values per instruction with the same round-to-nearest-
 * even; picked at run time, so the library still runs on CPUs without it. */
__attribute__((target("avx,f16c"))) static void f32_to_fp16_f16c(const float *x, uint16_t *y, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 v = _mm256_loadu_ps(x + i);
		_mm_storeu_si128((__m128i *)(void *)(y + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
	}
	for (; i < n; i++)
		y[i] = f32_to_fp16(x[i]);
}

/* F16C and AVX in the CPU, and the OS saving the YMM registers (XCR0 bits
 * 1 and 2); through <cpuid.h>, as clang 14 rejects
 * __builtin_cpu_supports("f16c") */
static int has_f16c(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_F16C) || !(c & bit_AVX) || !(c & bit_OSXSAVE))
		return 0;
	unsigned lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (lo & 6) == 6;
}

void quant_f32_to_fp16_row(const float *x, uint16_t *y, size_t n)
{
	static int f16c = -1;
	if (f16c < 0)
		f16c = has_f16c();
	if (f16c) {
		f32_to_fp16_f16c(x, y, n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		y[i] = f32_to_fp16(x[i]);
}

float bf16_to_f32(uint16_t h)
{
	uint32_t bits = (uint32_t)h << 16;
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

/* fp16 -> f32 without branches on the common path (the same values as
 * fp16_to_f32, subnormals included: they are scaled by a float subtraction
 * that is exact); the block scales of every quantised type go through it. */
static inline float half_fast(uint16_t h)
{
	uint32_t bits = (uint32_t)(h & 0x7fff) << 13, exp = bits & 0x0f800000u;
	float f;
	bits += (127 - 15) << 23;
	if (exp == 0x0f800000u) { /* inf or nan */
		bits += (128 - 16) << 23;
		memcpy(&f, &bits, 4);
	} else if (exp == 0) { /* zero or subnormal: 2^-14 * (mant / 1024) */
		bits += 1 << 23;
		memcpy(&f, &bits, 4);
		f -= 6.103515625e-05f;
	} else {
		memcpy(&f, &bits, 4);
	}
	uint32_t out;
	memcpy(&out, &f, 4);
	out |= (uint32_t)(h & 0x8000) << 16;
	memcpy(&f, &out, 4);
	return f;
}

static float rd16(const uint8_t *p)
{
	return half_fast((uint16_t)(p[0] | (p[1] << 8)));
}

/* The loops below are written so that GCC vectorises them (quant.c is
 * built with -O3): one output stream per loop.  The arithmetic is the
 * scalar one, operation for operation, so the values do not change. */
#ifdef __AVX2__
/* 16 nibble codes (low nibbles, then high) as 32 ints in four vectors */
static inline void nibbles_i32(const uint8_t *qs, __m256i v[4])
{
	__m128i q = _mm_loadu_si128((const __m128i *)(const void *)qs), m15 = _mm_set1_epi8(15);
	__m128i lo = _mm_and_si128(q, m15), hi = _mm_and_si128(_mm_srli_epi16(q, 4), m15);
	v[0] = _mm256_cvtepu8_epi32(lo), v[1] = _mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8));
	v[2] = _mm256_cvtepu8_epi32(hi), v[3] = _mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8));
}

static void deq_q4_0(const uint8_t *b, float *y)
{
	__m256 d = _mm256_set1_ps(rd16(b));
	__m256i v[4], eight = _mm256_set1_epi32(8);
	nibbles_i32(b + 2, v);
	for (int i = 0; i < 4; i++)
		_mm256_storeu_ps(y + 8 * i, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(v[i], eight)), d));
}

static void deq_q4_1(const uint8_t *b, float *y)
{
	__m256 d = _mm256_set1_ps(rd16(b)), m = _mm256_set1_ps(rd16(b + 2));
	__m256i v[4];
	nibbles_i32(b + 4, v);
	for (int i = 0; i < 4; i++) /* (q * d) + m: two roundings, as the scalar code */
		_mm256_storeu_ps(y + 8 * i, _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(v[i]), d), m));
}
#else
static void deq_q4_0(const uint8_t *b, float *y)
{
	float d = rd16(b);
	const uint8_t *qs = b + 2;
	for (int j = 0; j < 16; j++)
		y[j] = ((qs[j] & 15) - 8) * d;
	for (int j = 0; j < 16; j++)
		y[j + 16] = ((qs[j] >> 4) - 8) * d;
}

static void deq_q4_1(const uint8_t *b, float *y)
{
	float d = rd16(b), m = rd16(b + 2);
	const uint8_t *qs = b + 4;
	for (int j = 0; j < 16; j++)
		y[j] = (qs[j] & 15) * d + m;
	for (int j = 0; j < 16; j++)
		y[j + 16] = (qs[j] >> 4) * d + m;
}
#endif

static void deq_q5(const uint8_t *b, float *y, int has_min)
{
	float d = rd16(b), m = has_min ? rd16(b + 2) : 0.0f;
	const uint8_t *qhp = b + (has_min ? 4 : 2), *qs = qhp + 4;
	uint32_t qh = qhp[0] | (qhp[1] << 8) | (qhp[2] << 16) | ((uint32_t)qhp[3] << 24);
	for (int j = 0; j < 16; j++) {
		int lo = (qs[j] & 15) | (((qh >> j) & 1) << 4);
		int hi = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
		if (has_min) {
			y[j] = lo * d + m;
			y[j + 16] = hi * d + m;
		} else {
			y[j] = (lo - 16) * d;
			y[j + 16] = (hi - 16) * d;
		}
	}
}

static void deq_q8_0(const uint8_t *b, float *y)
{
	float d = rd16(b);
	const int8_t *qs = (const int8_t *)(b + 2);
	for (int j = 0; j < 32; j++)
		y[j] = qs[j] * d;
}

/* 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (ggml's get_scale_min_k4). */
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

static void deq_q4_k(const uint8_t *b, float *y)
{
	float d = rd16(b), dmin = rd16(b + 2);
	const uint8_t *scales = b + 4, *q = b + 16;
	for (int c = 0; c < 4; c++, q += 32) {
		int sc0, mn0, sc1, mn1;
		k_scale_min(2 * c, scales, &sc0, &mn0);
		k_scale_min(2 * c + 1, scales, &sc1, &mn1);
		for (int l = 0; l < 32; l++) {
			y[64 * c + l] = d * sc0 * (q[l] & 15) - dmin * mn0;
			y[64 * c + 32 + l] = d * sc1 * (q[l] >> 4) - dmin * mn1;
		}
	}
}

/* Q5_K {d; dmin; scales[12]; qh[32]; qs[128]}: like Q4_K with a fifth bit
 * per value in qh; chunk c uses bits 2c (low nibbles) and 2c+1 (high). */
static void deq_q5_k(const uint8_t *b, float *y)
{
	float d = rd16(b), dmin = rd16(b + 2);
	const uint8_t *scales = b + 4, *qh = b + 16, *q = b + 48;
	for (int c = 0; c < 4; c++, q += 32) {
		int sc0, mn0, sc1, mn1;
		k_scale_min(2 * c, scales, &sc0, &mn0);
		k_scale_min(2 * c + 1, scales, &sc1, &mn1);
		uint8_t u1 = (uint8_t)(1u << (2 * c)), u2 = (uint8_t)(2u << (2 * c));
		for (int l = 0; l < 32; l++) {
			int lo = (q[l] & 15) + ((qh[l] & u1) ? 16 : 0);
			int hi = (q[l] >> 4) + ((qh[l] & u2) ? 16 : 0);
			y[64 * c + l] = d * sc0 * lo - dmin * mn0;
			y[64 * c + 32 + l] = d * sc1 * hi - dmin * mn1;
		}
	}
}

#ifdef __AVX2__
/* 16 values of a Q6_K half: 4 low bits from a (high nibble when hi_nib),
 * 2 high bits from c at bit shift, minus 32, times dk */
static inline void q6_16(const uint8_t *a, const uint8_t *c, int hi_nib, int shift, float dk, float *o)
{
	__m128i m15 = _mm_set1_epi8(15), m3 = _mm_set1_epi8(3);
	__m128i lo = _mm_loadu_si128((const __m128i *)(const void *)a), h = _mm_loadu_si128((const __m128i *)(const void *)c);
	lo = _mm_and_si128(hi_nib ? _mm_srli_epi16(lo, 4) : lo, m15);
	h = _mm_and_si128(_mm_srl_epi16(h, _mm_cvtsi32_si128(shift)), m3);
	__m128i q = _mm_sub_epi8(_mm_or_si128(lo, _mm_slli_epi16(h, 4)), _mm_set1_epi8(32));
	__m256 d = _mm256_set1_ps(dk);
	_mm256_storeu_ps(o, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))));
	_mm256_storeu_ps(o + 8, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8)))));
}

static void deq_q6_k(const uint8_t *b, float *y)
{
	const uint8_t *ql = b, *qh = b + 128;
	const int8_t *sc = (const int8_t *)(b + 192);
	float d = rd16(b + 208);
	for (int n = 0; n < 2; n++, ql += 64, qh += 32, sc += 8, y += 128)
		for (int h = 0; h < 2; h++) { /* (d * scale) * q, as the scalar code */
			const uint8_t *a = ql + 16 * h, *c = qh + 16 * h;
			float *o = y + 16 * h;
			q6_16(a, c, 0, 0, d * sc[h], o);
			q6_16(a + 32, c, 0, 2, d * sc[h + 2], o + 32);
			q6_16(a, c, 1, 4, d * sc[h + 4], o + 64);
			q6_16(a + 32, c, 1, 6, d * sc[h + 6], o + 96);
		}
}
#else
static void deq_q6_k(const uint8_t *b, float *y)
{
	const uint8_t *ql = b, *qh = b + 128;
	const int8_t *sc = (const int8_t *)(b + 192);
	float d = rd16(b + 208);
	for (int n = 0; n < 2; n++, ql += 64, qh += 32, sc += 8, y += 128) {
		/* 16 values share a scale: sub-block s = 2 * quarter + l / 16 */
		for (int h = 0; h < 2; h++) {
			const uint8_t *a = ql + 16 * h, *c = qh + 16 * h;
			float *o = y + 16 * h;
			float d1 = d * sc[h], d2 = d * sc[h + 2], d3 = d * sc[h + 4], d4 = d * sc[h + 6];
			for (int l = 0; l < 16; l++)
				o[l] = d1 * (((a[l] & 15) | (((c[l] >> 0) & 3) << 4)) - 32);
			for (int l = 0; l < 16; l++)
				o[l + 32] = d2 * (((a[l + 32] & 15) | (((c[l] >> 2) & 3) << 4)) - 32);
			for (int l = 0; l < 16; l++)
				o[l + 64] = d3 * (((a[l] >> 4) | (((c[l] >> 4) & 3) << 4)) - 32);
			for (int l = 0; l < 16; l++)
				o[l + 96] = d4 * (((a[l + 32] >> 4) | (((c[l] >> 6) & 3) << 4)) - 32);
		}
	}
}
#endif

int quant_dequantize(uint32_t type, const void *src, float *dst, uint64_t n)
{
	const uint8_t *s = src;
	if (!ggml_type_supported(type))
		return -1;
	uint32_t be = TYPES[type].elems, bb = TYPES[type].bytes;
	if (n % be)
		return -1;
	uint64_t nb = n / be;
	switch (type) {
	case GGML_F32:
		memcpy(dst, s, n * 4);
		return 0;
	case GGML_F16:
		for (uint64_t i = 0; i < n; i++)
			dst[i] = rd16(s + 2 * i);
		return 0;
	case GGML_BF16:
		for (uint64_t i = 0; i < n; i++)
			dst[i] = bf16_to_f32((uint16_t)(s[2 * i] | (s[2 * i + 1] << 8)));
		return 0;
	default:
		break;
	}
	for (uint64_t i = 0; i < nb; i++, s += bb, dst += be) {
		switch (type) {
		case GGML_Q4_0: deq_q4_0(s, dst); break;
		case GGML_Q4_1: deq_q4_1(s, dst); break;
		case GGML_Q5_0: deq_q5(s, dst, 0); break;
		case GGML_Q5_1: deq_q5(s, dst, 1); break;
		case GGML_Q8_0: deq_q8_0(s, dst); break;
		case GGML_Q4_K: deq_q4_k(s, dst); break;
		case GGML_Q5_K: deq_q5_k(s, dst); break;
		case GGML_Q6_K: deq_q6_k(s, dst); break;
		default: return -1;
		}
	}
	return 0;
}
