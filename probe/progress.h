/* progress.h - the progress report every long command gives, as `record`
 * has from the start: on a terminal a bar redrawn at most every 0.2 s
 * (done/total, a rate or the time taken, the time left); otherwise one line
 * every 5 s, so a log shows the run moving, and a last line if it printed
 * any (a run shorter than 5 s prints nothing there); nothing when quiet.  It
 * writes to the stream it is given (stderr in the commands), never to
 * stdout, so --tsv and --json output stays clean. */
#ifndef PROGRESS_H
#define PROGRESS_H

#include <stdio.h>

typedef struct fp_progress {
	FILE *out;             /* NULL: silent */
	const char *label;     /* the command, "record" */
	const char *unit;      /* what is counted, "prompts" */
	const char *rate_unit; /* work per second shown ("tokens"), or NULL: the seconds taken */
	long total;            /* units expected; <= 0 when unknown */
	int tty;
	int always_end;        /* draw the last line even when none came before (record's summary) */
	long drawn;            /* lines drawn so far */
	double every;          /* seconds between lines off a terminal (5; tests shorten it) */
	double t0, last;
} fp_progress;

/* Starts a report; out NULL (or quiet) makes every call a no-op. */
void fp_progress_start(fp_progress *p, FILE *out, int quiet, const char *label, const char *unit,
		       const char *rate_unit, long total);
/* done units so far and work (for the rate, e.g. tokens) so far; draws when
 * one is due. */
void fp_progress_update(fp_progress *p, long done, double work);
/* The last report (drawn on a terminal, or where a line came before, or
 * with always_end); a bar ends its line. */
void fp_progress_end(fp_progress *p, long done, double work);
/* Seconds on a monotonic clock (for durations). */
double fp_now(void);
/* Seconds since fp_progress_start (a monotonic clock). */
double fp_progress_elapsed(const fp_progress *p);

#endif
