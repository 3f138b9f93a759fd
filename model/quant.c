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

static float rd16(const uint8_t *p)
{
	return fp16_to_f32((uint16_t)(p[0] | (p[1] << 8)));
}

static void deq_q4_0(const uint8_t *b, float *y)
{
	float d = rd16(b);
	const uint8_t *qs = b + 2;
	for (int j = 0; j < 16; j++) {
		y[j] = ((qs[j] & 15) - 8) * d;
		y[j + 16] = ((qs[j] >> 4) - 8) * d;
	}
}

static void deq_q4_1(const uint8_t *b, float *y)
{
	float d = rd16(b), m = rd16(b + 2);
	const uint8_t *qs = b + 4;
	for (int j = 0; j < 16; j++) {
		y[j] = (qs[j] & 15) * d + m;
		y[j + 16] = (qs[j] >> 4) * d + m;
	}
}

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

static void deq_q6_k(const uint8_t *b, float *y)
{
	const uint8_t *ql = b, *qh = b + 128;
	const int8_t *sc = (const int8_t *)(b + 192);
	float d = rd16(b + 208);
	for (int n = 0; n < 2; n++, ql += 64, qh += 32, sc += 8, y += 128) {
		for (int l = 0; l < 32; l++) {
			int is = l / 16;
			int q1 = ((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32;
			int q2 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
			int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
			int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
			y[l] = d * sc[is] * q1;
			y[l + 32] = d * sc[is + 2] * q2;
			y[l + 64] = d * sc[is + 4] * q3;
			y[l + 96] = d * sc[is + 6] * q4;
		}
	}
}

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
