/* test_quant.c - dequantisation of every supported type on hand-computed
 * blocks.  The expected values were worked out by hand from the block
 * layouts in ggml-common.h (the arithmetic is in the comments), not by
 * running the code under test. */
#include "check.h"
#include "../model/quant.h"

#include <string.h>

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }

static void expect(const char *name, uint32_t type, const uint8_t *blk, const float *want, int n)
{
	float got[256];
	CHECK(quant_dequantize(type, blk, got, (uint64_t)n) == 0, "%s dequantises", name);
	double md = 0;
	int first_bad = -1;
	for (int i = 0; i < n; i++) {
		double d = fabs((double)got[i] - want[i]);
		if (d > md)
			md = d;
		if (d > 0 && first_bad < 0)
			first_bad = i;
	}
	CHECK_CLOSE(md, 0.0, "%s hand-computed block (%d values)%s", name, n, first_bad >= 0 ? " MISMATCH" : "");
	if (first_bad >= 0)
		printf("     first mismatch at %d: got %g want %g\n", first_bad, got[first_bad], want[first_bad]);
}

static void fill_runs(float *w, const float *vals, int run, int nruns)
{
	for (int r = 0; r < nruns; r++)
		for (int i = 0; i < run; i++)
			w[r * run + i] = vals[r];
}

int main(void)
{
	uint8_t b[256];
	float w[256];

	/* fp16 and bf16 conversions */
	CHECK(fp16_to_f32(0x3c00) == 1.0f, "fp16 1");
	CHECK(fp16_to_f32(0xc000) == -2.0f, "fp16 -2");
	CHECK(fp16_to_f32(0x7bff) == 65504.0f, "fp16 max");
	CHECK(fp16_to_f32(0x0001) == ldexpf(1, -24), "fp16 smallest subnormal");
	CHECK(fp16_to_f32(0x3555) == 0.333251953125f, "fp16 1/3");
	CHECK(isinf(fp16_to_f32(0x7c00)), "fp16 inf");
	CHECK(bf16_to_f32(0x3f80) == 1.0f && bf16_to_f32(0xc040) == -3.0f && bf16_to_f32(0x4049) == 3.140625f, "bf16");
	CHECK(f32_to_fp16(1.0f) == 0x3c00 && f32_to_fp16(-2.0f) == 0xc000 && f32_to_fp16(1.0f / 3) == 0x3555,
	      "f32 -> fp16 rounding");
	CHECK(f32_to_fp16(1e6f) == 0x7c00 && f32_to_fp16(ldexpf(1, -24)) == 0x0001, "f32 -> fp16 overflow/subnormal");

	/* the vectorised f32 -> fp16 row conversion equals the scalar one */
	{
		float xs[4096];
		uint16_t a[4096], want[4096];
		const float edge[] = {0.0f, -0.0f, 1.0f, 65504.0f, 65519.0f, 65520.0f, 1e6f, -1e6f, ldexpf(1, -24),
				      ldexpf(1, -25), ldexpf(3, -26), ldexpf(1, -14), ldexpf(1023, -24), 0.1f, -0.333333f,
				      1.0f + ldexpf(1, -11), 1.0f + ldexpf(3, -11), INFINITY, -INFINITY};
		size_t ne = sizeof edge / sizeof edge[0];
		uint32_t s = 12345;
		for (int i = 0; i < 4096; i++) {
			s = s * 1664525u + 1013904223u;
			xs[i] = i < (int)ne ? edge[i] : ldexpf((float)(int32_t)s / 2147483648.0f, (int)(s >> 27) - 16);
		}
		quant_f32_to_fp16_row(xs, a, 4093); /* odd length: vector body and scalar tail */
		int same = 1;
		for (int i = 0; i < 4093; i++) {
			want[i] = f32_to_fp16(xs[i]);
			same &= a[i] == want[i];
		}
		CHECK(same, "vectorised f32 -> fp16 equals the scalar rounding on %zu edge cases and 4074 random values", ne);
	}

	/* F32, F16, BF16 */
	{
		float src[4] = {1.5f, -2.25f, 0, 1e-3f};
		expect("F32", GGML_F32, (uint8_t *)src, src, 4);
		uint16_t h[4] = {0x3c00, 0xc000, 0x3555, 0x8000};
		float want[4] = {1, -2, 0.333251953125f, -0.0f};
		expect("F16", GGML_F16, (uint8_t *)h, want, 4);
		uint16_t bf[3] = {0x3f80, 0xc040, 0x4049};
		float wb[3] = {1, -3, 3.140625f};
		expect("BF16", GGML_BF16, (uint8_t *)bf, wb, 3);
	}

	/* Q4_0 {d; qs[16]}: d = 0.5, qs[j] = j | (15-j) << 4
	 * x[j] = (j - 8) * 0.5 ; x[j+16] = ((15-j) - 8) * 0.5 = (7 - j) * 0.5 */
	{
		float want[32] = {-4, -3.5, -3, -2.5, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5,
				  3.5, 3, 2.5, 2, 1.5, 1, 0.5, 0, -0.5, -1, -1.5, -2, -2.5, -3, -3.5, -4};
		put16(b, 0x3800);
		for (int j = 0; j < 16; j++)
			b[2 + j] = (uint8_t)(j | (15 - j) << 4);
		expect("Q4_0", GGML_Q4_0, b, want, 32);
	}
	/* Q4_1 {d; m; qs[16]}: d = 0.25, m = -1, same qs
	 * x[j] = j/4 - 1 ; x[j+16] = (15-j)/4 - 1 */
	{
		float want[32] = {-1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.25, 2.5, 2.75,
				  2.75, 2.5, 2.25, 2, 1.75, 1.5, 1.25, 1, 0.75, 0.5, 0.25, 0, -0.25, -0.5, -0.75, -1};
		put16(b, 0x3400);
		put16(b + 2, 0xbc00);
		for (int j = 0; j < 16; j++)
			b[4 + j] = (uint8_t)(j | (15 - j) << 4);
		expect("Q4_1", GGML_Q4_1, b, want, 32);
	}
	/* Q5_0 {d; qh[4]; qs[16]}: d = 1, qh = 0xffff0000 (fifth bit only for x[16..31])
	 * x[j] = j - 16 ; x[j+16] = ((15-j) | 16) - 16 = 15 - j */
	{
		float want[32];
		for (int j = 0; j < 16; j++)
			want[j] = (float)(j - 16), want[j + 16] = (float)(15 - j);
		put16(b, 0x3c00);
		b[2] = 0, b[3] = 0, b[4] = 0xff, b[5] = 0xff;
		for (int j = 0; j < 16; j++)
			b[6 + j] = (uint8_t)(j | (15 - j) << 4);
		expect("Q5_0", GGML_Q5_0, b, want, 32);
	}
	/* Q5_1 {d; m; qh[4]; qs[16]}: d = 0.5, m = 2, qh = 0x0000ffff (fifth bit for x[0..15])
	 * x[j] = (j + 16) * 0.5 + 2 = 10 + j/2 ; x[j+16] = (15 - j) * 0.5 + 2 */
	{
		float want[32];
		for (int j = 0; j < 16; j++)
			want[j] = 10 + 0.5f * j, want[j + 16] = 9.5f - 0.5f * j;
		put16(b, 0x3800);
		put16(b + 2, 0x4000);
		b[4] = 0xff, b[5] = 0xff, b[6] = 0, b[7] = 0;
		for (int j = 0; j < 16; j++)
			b[8 + j] = (uint8_t)(j | (15 - j) << 4);
		expect("Q5_1", GGML_Q5_1, b, want, 32);
	}
	/* Q8_0 {d; int8 qs[32]}: d = 0.125, qs[j] = j - 16  ->  x[j] = (j - 16) / 8 */
	{
		float want[32];
		for (int j = 0; j < 32; j++)
			want[j] = (j - 16) * 0.125f;
		put16(b, 0x3000);
		for (int j = 0; j < 32; j++)
			b[2 + j] = (uint8_t)(int8_t)(j - 16);
		expect("Q8_0", GGML_Q8_0, b, want, 32);
	}
	/* Q4_K {d; dmin; scales[12]; qs[128]}: d = 1, dmin = 0.5, every qs byte 0x21 (low 1, high 2).
	 * scales[0..3] = 0x41,2,3,4: sc0..3 = 1,2,3,4 (low 6 bits); 0x41>>6 = 1 adds 16 to sc4
	 * scales[4..7] = 0,0x41,2,3: mn0..3 = 0,1,2,3; 0x41>>6 = 1 adds 16 to mn5
	 * scales[8..11] = 0x15,0x26,0x37,0x48: sc4..7 = 5|16=21, 6, 7, 8; mn4..7 = 1, 2|16=18, 3, 4
	 * chunk c: low nibble uses sub-block 2c, high nibble 2c+1; x = d*sc*q - dmin*mn
	 *  sb0: 1*1-0 = 1     sb1: 2*2-0.5 = 3.5   sb2: 3*1-1 = 2     sb3: 4*2-1.5 = 6.5
	 *  sb4: 21*1-0.5 = 20.5  sb5: 6*2-9 = 3    sb6: 7*1-1.5 = 5.5  sb7: 8*2-2 = 14 */
	{
		const float runs[8] = {1, 3.5, 2, 6.5, 20.5, 3, 5.5, 14};
		const uint8_t sc[12] = {0x41, 2, 3, 4, 0, 0x41, 2, 3, 0x15, 0x26, 0x37, 0x48};
		fill_runs(w, runs, 32, 8);
		put16(b, 0x3c00);
		put16(b + 2, 0x3800);
		memcpy(b + 4, sc, 12);
		memset(b + 16, 0x21, 128);
		expect("Q4_K", GGML_Q4_K, b, w, 256);

		/* Q5_K {d; dmin; scales[12]; qh[32]; qs[128]}: as above, plus qh[l] bit 0 for every l
		 * (chunk 0 low: q = 1 + 16 -> 1*17 - 0 = 17) and bit 7 for l < 16 (chunk 3 high,
		 * sub-block 7: q = 2 + 16 -> 8*18 - 2 = 142 for x[224..239]) */
		const float runs5[8] = {17, 3.5, 2, 6.5, 20.5, 3, 5.5, 14};
		fill_runs(w, runs5, 32, 8);
		for (int i = 224; i < 240; i++)
			w[i] = 142;
		put16(b, 0x3c00);
		put16(b + 2, 0x3800);
		memcpy(b + 4, sc, 12);
		for (int l = 0; l < 32; l++)
			b[16 + l] = l < 16 ? 0x81 : 0x01;
		memset(b + 48, 0x21, 128);
		expect("Q5_K", GGML_Q5_K, b, w, 256);
	}
	/* Q6_K {ql[128]; qh[64]; int8 scales[16]; d}: d = 0.5, scales = 1,2,3,-2,5..16
	 * every ql byte 0x5a (low 10, high 5), every qh byte 0x93 (bit pairs 3,0,1,2 from the bottom):
	 *  q1 = 10|3<<4 = 58-32 = 26   q2 = 10|0 = 10-32 = -22   q3 = 5|1<<4 = 21-32 = -11   q4 = 5|2<<4 = 37-32 = 5
	 * half h, l < 16 uses scale index 8h+{0,2,4,6}, l >= 16 index 8h+{1,3,5,7}; x = d * scale * q
	 *  half 0: 0.5*1*26=13 | 0.5*2*26=26 ; 0.5*3*-22=-33 | 0.5*-2*-22=22 ; 0.5*5*-11=-27.5 | 0.5*6*-11=-33 ;
	 *          0.5*7*5=17.5 | 0.5*8*5=20
	 *  half 1: 0.5*9*26=117 | 130 ; 0.5*11*-22=-121 | -132 ; 0.5*13*-11=-71.5 | -77 ; 0.5*15*5=37.5 | 40 */
	{
		const float runs[16] = {13, 26, -33, 22, -27.5, -33, 17.5, 20, 117, 130, -121, -132, -71.5, -77, 37.5, 40};
		fill_runs(w, runs, 16, 16);
		memset(b, 0x5a, 128);
		memset(b + 128, 0x93, 64);
		for (int i = 0; i < 16; i++)
			b[192 + i] = (uint8_t)(int8_t)(i + 1);
		b[192 + 3] = (uint8_t)(int8_t)-2;
		put16(b + 208, 0x3800);
		expect("Q6_K", GGML_Q6_K, b, w, 256);
	}

	/* unsupported types and bad lengths are refused, not guessed */
	CHECK(quant_dequantize(GGML_Q2_K, b, w, 256) == -1, "Q2_K is refused");
	CHECK(quant_dequantize(GGML_Q4_0, b, w, 31) == -1, "a partial block is refused");
	CHECK(quant_dequantize(999, b, w, 1) == -1, "an unknown type is refused");
	CHECK(!strcmp(ggml_type_name(GGML_Q4_K), "Q4_K") && ggml_type_block_bytes(GGML_Q6_K) == 210 &&
	      ggml_type_block_bytes(GGML_Q5_K) == 176 && ggml_type_block_bytes(GGML_Q4_1) == 20,
	      "type table sizes");
	return check_done("test_quant");
}
