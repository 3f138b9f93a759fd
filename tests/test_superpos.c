/* test_superpos.c - probe/superpos.c: the bounds against their closed forms,
 * the measurement on sets whose angles are known, and the optimiser on the
 * cases where the optimum is known and meets Welch's bound (equiangular
 * tight frames): 3 vectors in the plane (the Mercedes frame, 60 degrees),
 * 4 in 3-D (the tetrahedron's directions, arccos 1/3 = 70.53 degrees) and 6
 * in 3-D (the icosahedron's diagonals, arccos 1/sqrt 5 = 63.43 degrees, a
 * projective 2-design, so the fourth-moment bound is met too).  The default
 * 400 steps come within 0.05-0.1 degrees of each optimum. */
#include "check.h"
#include "../probe/superpos.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void optimise(long n, int d, int steps, sp_summary *s)
{
	st_rng rng = st_rng_seed(3);
	sp_opt o;
	memset(s, 0, sizeof *s);
	if (sp_opt_init(&o, n, d, &rng))
		return;
	for (int i = 0; i < steps; i++)
		sp_opt_step(&o, i, steps);
	sp_measure(o.V, n, d, s);
	sp_opt_free(&o);
}

int main(void)
{
	/* closed forms (python3: math.degrees(math.acos(math.sqrt(9900 / (100 * 9999))))) */
	CHECK_CLOSE(fabs(sp_welch_deg(10000, 100) - 84.28940686250036), 1e-9, "Welch bound, n 10000 in d 100");
	CHECK(sp_welch_deg(5, 5) == 90 && sp_m2_min(5, 5) == 0 && sp_m4_min(5, 5) == 0, "n <= d: no bound");
	CHECK_CLOSE(fabs(sp_m4_min(6, 3) - 0.04), 1e-15, "least mean cos^4 for 6 in 3-D is 1/25");
	double w7 = sp_welch_deg(7, 3), m7 = sp_deg(pow(sp_m4_min(7, 3), 0.25));
	double w5 = sp_welch_deg(5, 3), m5 = sp_deg(pow(sp_m4_min(5, 3), 0.25));
	CHECK(m7 < w7 && m5 > w5, "the fourth-moment bound beats Welch's past n = d(d+1)/2 = 6 (n 7: %.3f < %.3f) and "
				  "not before (n 5: %.3f > %.3f)", m7, w7, m5, w5);
	/* the measurement: an orthonormal basis is all 90 degrees */
	float I[25] = {0};
	for (int i = 0; i < 5; i++)
		I[i * 6] = 1;
	sp_summary s = {0};
	CHECK(sp_measure(I, 5, 5, &s) == 0 && s.worst_deg == 90 && s.within1 == 1 && s.mean_nn_deg == 90 &&
		      s.mean_c4 == 0, "an orthonormal basis: worst pair 90, all within 1 degree");
	double area = 0;
	for (int k = 0; k < SP_BINS; k++)
		area += s.pair[k] * 0.1;
	CHECK_CLOSE(fabs(area - 1), 1e-12, "the pairwise density integrates to 1");
	sp_summary_free(&s);
	/* the optimiser meets the known optima */
	struct { long n; int d; double deg, c4; } known[] = {{3, 2, 60, 1.0 / 16}, {4, 3, 70.52877936550931, 1.0 / 81},
							     {6, 3, 63.43494882292201, 1.0 / 25}};
	for (int i = 0; i < 3; i++) {
		optimise(known[i].n, known[i].d, 400, &s);
		/* tolerance: the last steps move a vector 0.0025 rad (0.14 degrees) */
		CHECK_CLOSE(fabs(s.worst_deg - known[i].deg), 0.2, "%ld vectors in %d-D: worst pair %.3f, optimum %.3f",
			    known[i].n, known[i].d, s.worst_deg, known[i].deg);
		CHECK_CLOSE(fabs(s.worst_deg - s.welch_deg), 0.2, "%ld in %d-D meets Welch's bound", known[i].n,
			    known[i].d);
		CHECK_CLOSE(fabs(s.mean_c4 - known[i].c4), 1e-3, "%ld in %d-D: mean cos^4 %.5f", known[i].n, known[i].d,
			    s.mean_c4);
		sp_summary_free(&s);
	}
	optimise(6, 3, 400, &s);
	CHECK_CLOSE(fabs(s.mean_c4 - s.m4_min), 1e-3, "6 in 3-D meets the fourth-moment bound (a 2-design)");
	sp_summary_free(&s);
	return check_done("test_superpos");
}
