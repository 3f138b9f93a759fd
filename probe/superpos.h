/* superpos.h - how close to orthogonal n unit vectors in d dimensions can
 * be (the computation behind `factprobe superposition`): an optimiser that
 * spreads them, the measurement of a set's pairwise and nearest-neighbour
 * angles, and the bounds no set can beat.
 *
 * Bounds on the worst pair (the largest |cos| over distinct pairs):
 * - Welch: summed over all ordered pairs, self-pairs included, cos^2 is at
 *   least n^2 / d (equality for a tight frame), so the mean over distinct
 *   pairs is at least (n/d - 1) / (n - 1) and the worst |cos| at least its
 *   square root: arccos(sqrt((n - d) / (d (n - 1)))), 84.29 degrees for
 *   n = 10000, d = 100;
 * - fourth moment: cos^4 summed likewise is at least 3 n^2 / (d (d + 2))
 *   (equality for a projective 2-design), so the mean over distinct pairs is
 *   at least (3n / (d (d+2)) - 1) / (n - 1); its fourth root beats Welch's
 *   once n is past d (d + 1) / 2;
 * - a set whose |cos| histogram falls from 0 to its worst pair w has mean
 *   cos^2 at most w^2 / 3 and mean cos^4 at most w^4 / 5, so w is at least
 *   the larger of sqrt(3 m2_min) and (5 m4_min)^(1/4).
 * Library code: returns -1 for out of memory, never prints. */
#ifndef SUPERPOS_H
#define SUPERPOS_H

#include "stats.h"

#define SP_BINS 1800 /* histogram bins: 0.1 degree over 0..180 */

/* the angle in degrees whose cosine is c (c clamped to [-1, 1]) */
double sp_deg(double c);
/* the bounds above: Welch's in degrees (90 when n <= d), and the least mean
 * cos^2 and cos^4 over distinct pairs (0 where the sums say nothing) */
double sp_welch_deg(long n, int d);
double sp_m2_min(long n, int d);
double sp_m4_min(long n, int d);
void sp_normalize_rows(float *V, long n, int d);

typedef struct sp_summary {
	const char *name;
	long n;
	int dim;
	double worst_deg, welch_deg, mean_nn_deg, min_nn_deg, within1, within5, seconds;
	double m4_deg;    /* the fourth-moment bound (90 where it says nothing) */
	double mean_c4;   /* mean cos^4 over pairs, measured */
	double m4_min;    /* the least mean cos^4 any n vectors in d dimensions can have (0 where none) */
	double falls_deg; /* no set whose |cos| histogram falls from 0 to the worst pair beats this */
	double *pair, *nn; /* densities per degree [SP_BINS] of pairwise and nearest-neighbour angles */
} sp_summary;

/* all pairwise angles and nearest neighbours of n unit rows V [n][d] */
int sp_measure(const float *V, long n, int d, sp_summary *s);
void sp_summary_free(sp_summary *s);

/* The optimiser: gradient steps on sum over pairs of cos^p, projected on
 * each sphere's tangent, p rising 8, 16, 32, 64, 128 over the run and the
 * step shrinking from 0.05 rad, so the worst overlaps move most. */
typedef struct sp_opt {
	long n;
	int d;
	float *V;         /* [n][d] the unit vectors */
	float *grad, *G;  /* work */
	float worst_seen; /* the largest |cos| of the previous step */
} sp_opt;

/* n random unit vectors (gaussian, from rng) */
int sp_opt_init(sp_opt *o, long n, int d, st_rng *rng);
/* step s of steps */
void sp_opt_step(sp_opt *o, int s, int steps);
void sp_opt_free(sp_opt *o);

#endif
