/* xorshift.h - the tests' small deterministic random numbers (Marsaglia's
 * xorshift32) and a little-endian 16-bit store, for test_qmm, test_q8mm and
 * bench_q8mm.  Each file that includes it has its own state; define
 * XORSHIFT_SEED before including it for another sequence. */
#ifndef XORSHIFT_H
#define XORSHIFT_H

#include <stdint.h>

#ifndef XORSHIFT_SEED
#define XORSHIFT_SEED 2463534242u
#endif

static uint32_t rs = XORSHIFT_SEED;

static inline uint32_t rnd(void)
{
	rs ^= rs << 13, rs ^= rs >> 17, rs ^= rs << 5;
	return rs;
}

/* uniform in [-1, 1) */
static inline float unif(void) { return (float)((rnd() >> 8) * (1.0 / 16777216.0)) * 2 - 1; }

static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }

#endif
