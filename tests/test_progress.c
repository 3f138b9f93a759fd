/* test_progress.c - the progress reporter (probe/progress.c) off a
 * terminal, into a temporary file: a line every `every` seconds in record's
 * format ("LABEL: DONE/TOTAL UNIT, RATE UNIT/s, ETA M:SS"), no line at all
 * for a run shorter than that (unless always_end, record's summary), nothing
 * when quiet, and the last line's count. */
#include "check.h"
#include "../probe/progress.h"

#include <string.h>
#include <time.h>

static void nap(double s)
{
	struct timespec ts = {0, (long)(s * 1e9)};
	nanosleep(&ts, NULL);
}

/* the lines written to f so far, into buf; returns how many */
static int lines(FILE *f, char *buf, size_t n)
{
	fflush(f);
	long end = ftell(f);
	rewind(f);
	size_t got = fread(buf, 1, n - 1, f);
	buf[got] = 0;
	fseek(f, end, SEEK_SET);
	int k = 0;
	for (char *p = buf; *p; p++)
		k += *p == '\n';
	return k;
}

int main(void)
{
	char buf[4096];
	fp_progress p;
	/* a run of 6 steps 30 ms apart with a line every 50 ms */
	FILE *f = tmpfile();
	fp_progress_start(&p, f, 0, "record", "prompts", "tokens", 6);
	p.every = 0.05;
	for (int i = 0; i < 6; i++) {
		nap(0.03);
		fp_progress_update(&p, i + 1, 100.0 * (i + 1));
	}
	int mid = lines(f, buf, sizeof buf);
	fp_progress_end(&p, 6, 600);
	int all = lines(f, buf, sizeof buf);
	/* at least 180 ms pass, so at least one line; never more than one per update (timing on a
	 * loaded machine only stretches the naps) */
	CHECK(mid >= 1 && mid <= 6, "6 steps of 30 ms, a line every 50 ms at most: %d lines (want 1..6)", mid);
	CHECK(all == mid + 1, "the end adds one line: %d after %d", all, mid);
	CHECK(!strncmp(buf, "record: ", 8) && strstr(buf, "/6 prompts, ") && strstr(buf, " tokens/s, ETA 0:0"),
	      "record's format: '%.60s'", buf);
	char *last = buf + strlen(buf) - 1;
	while (last > buf && last[-1] != '\n')
		last--;
	CHECK(!strncmp(last, "record: 6/6 prompts, ", 21), "the last line counts everything: '%.60s'", last);
	fclose(f);

	/* shorter than one interval: nothing, unless always_end */
	f = tmpfile();
	fp_progress_start(&p, f, 0, "trace", "prompts traced", NULL, 3);
	for (int i = 0; i < 3; i++)
		fp_progress_update(&p, i, 0);
	fp_progress_end(&p, 3, 0);
	CHECK(lines(f, buf, sizeof buf) == 0, "a run shorter than 5 s off a terminal prints nothing: '%s'", buf);
	fp_progress_start(&p, f, 0, "trace", "prompts traced", NULL, 3);
	p.always_end = 1;
	fp_progress_end(&p, 3, 0);
	CHECK(lines(f, buf, sizeof buf) == 1 && !strncmp(buf, "trace: 3/3 prompts traced, 0 s, ETA 0:00\n", 40),
	      "always_end: the summary line, with the seconds when there is no rate: '%s'", buf);
	fclose(f);

	/* quiet: nothing at all */
	f = tmpfile();
	fp_progress_start(&p, f, 1, "dot", "prompts", NULL, 2);
	p.every = 0, p.always_end = 1;
	fp_progress_update(&p, 1, 0);
	fp_progress_end(&p, 2, 0);
	CHECK(lines(f, buf, sizeof buf) == 0, "quiet: nothing written: '%s'", buf);
	fclose(f);
	return check_done("test_progress");
}
