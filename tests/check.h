/* check.h - the test harness: CHECK counts and reports, CHECK_CLOSE prints
 * the measured difference next to the tolerance (llm.c's "OK, maxdiff"), and
 * check_done prints "NAME: N passed, M failed" for tests/run.sh to add up. */
#ifndef CHECK_H
#define CHECK_H

#include <math.h>
#include <stdio.h>

static int check_pass, check_fail;

#define CHECK(cond, ...) do { \
	if (cond) { check_pass++; } else { check_fail++; \
		printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } \
	} while (0)

/* diff <= tol, printed either way */
#define CHECK_CLOSE(diff, tol, ...) do { double d_ = (diff), t_ = (tol); \
	int ok_ = d_ <= t_ && !isnan(d_); \
	if (ok_) check_pass++; else check_fail++; \
	printf("%s ", ok_ ? "ok  " : "FAIL"); printf(__VA_ARGS__); \
	printf(": max |diff| = %.3g (tolerance %.3g)\n", d_, t_); } while (0)

static inline int check_done(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, check_pass, check_fail);
	return check_fail ? 1 : 0;
}

#endif
