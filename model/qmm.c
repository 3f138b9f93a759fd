/* qmm.c - see qmm.h.
 *
 * Why: a product of a few rows (T <= 32 positions) with an 8B-class matrix
 * reads each weight once and does 2T flops with it.  Dequantising the whole
 * matrix (or a 64 MB tile) to f32 first writes 4 bytes per weight to
 * memory, and sgemm reads them back and packs them: for small T that
 * traffic, not the arithmetic, is the pass.  Here a thread dequantises
 * QR rows x QK columns (16 KB of f32, L1-resident) and at once multiplies
 * them with the T rows of x, so the f32 weights never reach memory. */
#include "qmm.h"
#include "quant.h"

#include <cpuid.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

enum { QR = 4, QK = 1024, TB = 4 };

/* ---- the micro-kernels: y[t][r] += dot(x[t][0..n), w[r][0..n)) for TB
 * rows of x at most and QR rows of w; n a multiple of 32 (every block of a
 * quantised type is) ---- */

/* plain C: 8 partial sums per dot product, reduced pairwise */
static void dots_c(float *y, size_t ldy, const float *x, size_t ldx, int nt, const float *w, int n)
{
	for (int t = 0; t < nt; t++)
		for (int r = 0; r < QR; r++) {
			float s[8] = {0};
			const float *a = x + (size_t)t * ldx, *b = w + (size_t)r * QK;
			for (int k = 0; k < n; k += 8)
				for (int j = 0; j < 8; j++)
					s[j] += a[k + j] * b[k + j];
			y[(size_t)t * ldy + r] += ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
		}
}

/* dots_<isa>_<N>: the kernel for N rows of x, in vectors of VL floats */
#define KERNEL(ISA, TARGET, N, VEC, VL, ZERO, LOAD, FMA, HSUM)                                                \
	__attribute__((target(TARGET))) static void dots_##ISA##_##N(float *y, size_t ldy, const float *x,   \
								     size_t ldx, const float *w, int n)       \
	{                                                                                                    \
		VEC acc[N][QR];                                                                              \
		for (int t = 0; t < N; t++)                                                                  \
			for (int r = 0; r < QR; r++)                                                         \
				acc[t][r] = ZERO();                                                          \
		for (int k = 0; k < n; k += VL) {                                                            \
			VEC wv[QR];                                                                          \
			for (int r = 0; r < QR; r++)                                                         \
				wv[r] = LOAD(w + (size_t)r * QK + k);                                       \
			for (int t = 0; t < N; t++) {                                                        \
				VEC xv = LOAD(x + (size_t)t * ldx + k);                                      \
				for (int r = 0; r < QR; r++)                                                 \
					acc[t][r] = FMA(xv, wv[r], acc[t][r]);                               \
			}                                                                                    \
		}                                                                                            \
		for (int t = 0; t < N; t++)                                                                  \
			for (int r = 0; r < QR; r++)                                                         \
				y[(size_t)t * ldy + r] += HSUM(acc[t][r]);                                   \
	}

__attribute__((target("avx2,fma"))) static inline float hsum8(__m256 v)
{
	__m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	a = _mm_add_ps(a, _mm_movehl_ps(a, a));
	a = _mm_add_ss(a, _mm_movehdup_ps(a));
	return _mm_cvtss_f32(a);
}

__attribute__((target("avx512f"))) static inline float hsum16(__m512 v)
{
	return _mm512_reduce_add_ps(v);
}

#define AVX2_KERNEL(N) KERNEL(avx2, "avx2,fma", N, __m256, 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_fmadd_ps, hsum8)
#define AVX512_KERNEL(N) KERNEL(avx512, "avx512f", N, __m512, 16, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_fmadd_ps, hsum16)
AVX2_KERNEL(1)
AVX2_KERNEL(2)
AVX2_KERNEL(3)
AVX2_KERNEL(4)
AVX512_KERNEL(1)
AVX512_KERNEL(2)
AVX512_KERNEL(3)
AVX512_KERNEL(4)

typedef void (*dots_fn)(float *y, size_t ldy, const float *x, size_t ldx, const float *w, int n);
static const dots_fn AVX2[TB + 1] = {NULL, dots_avx2_1, dots_avx2_2, dots_avx2_3, dots_avx2_4};
static const dots_fn AVX512[TB + 1] = {NULL, dots_avx512_1, dots_avx512_2, dots_avx512_3, dots_avx512_4};

/* ---- run-time choice of the instruction set (through <cpuid.h> and
 * xgetbv, as quant.c's F16C check: clang 14 lacks some
 * __builtin_cpu_supports names) ---- */

static int isa_best(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX) || !(c & bit_FMA))
		return 1;
	unsigned lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	if ((lo & 6) != 6 || !__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & bit_AVX2))
		return 1;
	/* AVX-512F, and the OS saving the opmask and ZMM state (XCR0 bits 5-7) */
	return (b & bit_AVX512F) && (lo & 0xe0) == 0xe0 ? 3 : 2;
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
	return i == 3 ? "avx512" : i == 2 ? "avx2" : "c";
}

const char *qmm_isa(void)
{
	return isa_name(isa());
}

const char *qmm_force_isa(int which)
{
	int best = isa_best();
	isa_now = which <= 0 || which > best ? best : which;
	return isa_name(isa_now);
}

/* ---- threads ---- */

typedef struct par {
	atomic_int next;
	int n;
	void (*fn)(void *ctx, int i);
	void *ctx;
} par;

static void *par_run(void *arg)
{
	par *p = arg;
	for (int i; (i = atomic_fetch_add(&p->next, 1)) < p->n;)
		p->fn(p->ctx, i);
	return NULL;
}

void qmm_parallel(int n, int nthreads, void (*fn)(void *ctx, int i), void *ctx)
{
	enum { MAXT = 64 };
	pthread_t th[MAXT];
	int started = 0;
	par p = {.n = n, .fn = fn, .ctx = ctx};
	atomic_init(&p.next, 0);
	if (nthreads > n)
		nthreads = n;
	if (nthreads > MAXT)
		nthreads = MAXT;
	for (int i = 1; i < nthreads; i++)
		if (pthread_create(&th[started], NULL, par_run, &p) == 0)
			started++;
	par_run(&p);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
}

/* ---- the product ---- */

typedef struct job {
	float *y;
	size_t ldy;
	const float *x;
	int T, rows, cols, isa;
	uint32_t type, be, bb;
	const uint8_t *W;
	size_t row_bytes;
} job;

/* one item: QR rows of W (fewer at the end: the missing rows are zeros
 * and their sums are not written) */
static void qmm_rows(void *ctx, int item)
{
	const job *j = ctx;
	int r0 = item * QR, nr = j->rows - r0 < QR ? j->rows - r0 : QR;
	_Alignas(64) float w[QR * QK];
	_Alignas(64) float ys[TB * QR];
	float *y = j->y + r0;
	for (int t = 0; t < j->T; t++)
		for (int r = 0; r < nr; r++)
			y[(size_t)t * j->ldy + r] = 0;
	if (nr < QR)
		memset(w + (size_t)nr * QK, 0, (size_t)(QR - nr) * QK * sizeof(float));
	for (int k0 = 0; k0 < j->cols; k0 += QK) {
		int n = j->cols - k0 < QK ? j->cols - k0 : QK;
		for (int r = 0; r < nr; r++)
			quant_dequantize(j->type, j->W + (size_t)(r0 + r) * j->row_bytes + (size_t)(k0 / j->be) * j->bb,
					 w + (size_t)r * QK, (uint64_t)n);
		for (int t0 = 0; t0 < j->T; t0 += TB) {
			int nt = j->T - t0 < TB ? j->T - t0 : TB;
			const float *x = j->x + (size_t)t0 * j->cols + k0;
			memset(ys, 0, sizeof ys);
			if (j->isa == 3)
				AVX512[nt](ys, QR, x, (size_t)j->cols, w, n);
			else if (j->isa == 2)
				AVX2[nt](ys, QR, x, (size_t)j->cols, w, n);
			else
				dots_c(ys, QR, x, (size_t)j->cols, nt, w, n);
			for (int t = 0; t < nt; t++)
				for (int r = 0; r < nr; r++)
					y[(size_t)(t0 + t) * j->ldy + r] += ys[t * QR + r];
		}
	}
}

void qmm(float *y, size_t ldy, const float *x, int T, uint32_t type, const void *W, size_t row_bytes, int rows,
	 int cols, int nthreads)
{
	job j = {.y = y, .ldy = ldy, .x = x, .T = T, .rows = rows, .cols = cols, .isa = isa(), .type = type,
		 .be = ggml_type_block_elems(type), .bb = ggml_type_block_bytes(type), .W = W, .row_bytes = row_bytes};
	qmm_parallel((rows + QR - 1) / QR, nthreads < 1 ? 1 : nthreads, qmm_rows, &j);
}
