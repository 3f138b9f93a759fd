/* progress.c - see progress.h. */
#include "progress.h"

#include <time.h>
#include <unistd.h>

double fp_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void fp_progress_start(fp_progress *p, FILE *out, int quiet, const char *label, const char *unit,
		       const char *rate_unit, long total)
{
	p->out = quiet ? NULL : out;
	p->label = label, p->unit = unit, p->rate_unit = rate_unit, p->total = total;
	p->tty = out && isatty(fileno(out));
	p->always_end = 0, p->drawn = 0, p->every = 5.0;
	p->t0 = fp_now();
	p->last = p->tty ? 0 : p->t0; /* a bar at once; a log line after the first 5 s */
}

double fp_progress_elapsed(const fp_progress *p)
{
	return fp_now() - p->t0;
}

static void draw(fp_progress *p, long done, long total, double work, int final)
{
	double el = fp_now() - p->t0, rate = el > 0 ? work / el : 0;
	double eta = done > 0 && total > done ? el / done * (total - done) : 0;
	char what[64];
	if (p->rate_unit)
		snprintf(what, sizeof what, "%.0f %s/s", rate, p->rate_unit);
	else
		snprintf(what, sizeof what, "%.0f s", el);
	if (p->tty) {
		int w = 30, fill = total > 0 ? (int)(w * (double)done / total) : 0;
		char bar[64];
		for (int i = 0; i < w; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[w] = 0;
		fprintf(p->out, "\r[%s] %ld/%ld %s  %s  ETA %d:%02d ", bar, done, total, p->unit, what, (int)eta / 60,
			(int)eta % 60);
		if (final)
			fputc('\n', p->out);
	} else {
		fprintf(p->out, "%s: %ld/%ld %s, %s, ETA %d:%02d\n", p->label, done, total, p->unit,
			what, (int)eta / 60, (int)eta % 60);
	}
	fflush(p->out);
	p->drawn++;
}

void fp_progress_update(fp_progress *p, long done, double work)
{
	if (!p->out)
		return;
	double t = fp_now();
	if (t - p->last > (p->tty ? 0.2 : p->every)) {
		draw(p, done, p->total, work, 0);
		p->last = t;
	}
}

void fp_progress_end(fp_progress *p, long done, double work)
{
	if (p->out && (p->tty || p->drawn || p->always_end))
		draw(p, done, p->total > done ? p->total : done, work, 1);
}
