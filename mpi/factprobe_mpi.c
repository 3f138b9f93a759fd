/* factprobe_mpi.c - factprobe under MPI (build/factprobe-mpi, built with
 * mpicc when MPI is installed).  `mpirun -np N factprobe-mpi record ... -o
 * OUT.h5` runs `record --shard R/N` on rank R into OUT.shard-R-of-N.h5 (a
 * contiguous block of the prompt set balanced by token count, the same
 * split as --shard), then rank 0 joins the shards into OUT.h5 (merge's
 * virtual datasets).  Every other command runs on rank 0 alone.  The
 * global options --weights and --matmul may stand before the command, as
 * with factprobe.
 * Only the main thread calls MPI (MPI_THREAD_FUNNELED): record's writer
 * thread and OpenBLAS's threads never do.
 *
 * Failures: each rank's own error line names the rank ("factprobe record
 * (rank 1 of 4): ..."; hints come from rank 0 only), and rank 0 reports
 * every failed rank with its shard once all ranks are done; the other
 * shards are complete.  A rank killed outright makes mpirun stop the
 * job (mpirun names the rank); the other ranks then stop after their current
 * pass (SIGTERM), say so naming their shard, and leave it resumable.  The
 * same command with --resume continues every shard where it stopped.
 *
 * `mpirun -np N factprobe-mpi trace -p FACTS.tsv ...` (noise corruption):
 * every rank reads the facts and finds which the model knows; the known
 * facts are split into contiguous blocks balanced by token count, rank R
 * traces block R (fact i with noise seed + i, as one process does), and
 * rank 0 gathers every fact's per-category effects and adds them in the
 * set's order, so the means and standard errors equal one process's.  Rank
 * 0 alone writes the output. */
#include "../probe/cli.h"
#include "../probe/factset.h"
#include "../probe/h5out.h"
#include "../probe/shard.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* probe/main.c's main, compiled under this name for this binary */
int fp_cli_main(int argc, char **argv);

/* OUT.h5 -> OUT.shard-R-of-N.h5 (next to it) */
static char *shard_path(const char *out, int r, int n)
{
	size_t len = strlen(out);
	if (len > 3 && !strcmp(out + len - 3, ".h5"))
		len -= 3;
	char *p = malloc(len + 64);
	if (p)
		sprintf(p, "%.*s.shard-%d-of-%d.h5", (int)len, out, r, n);
	return p;
}

static int has_flag(int argc, char **argv, const char *flag)
{
	for (int i = 2; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], flag))
			return 1;
	return 0;
}

/* the index of -o/--output's value in argv (-oX and --output=X: the
 * argument itself, *inline_at the value's offset in it); -1 if none */
static int find_output(int argc, char **argv, int *inline_at)
{
	*inline_at = 0;
	for (int i = 2; i < argc; i++) {
		if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc)
			return i + 1;
		if (!strncmp(argv[i], "--output=", 9))
			return *inline_at = 9, i;
		if (!strncmp(argv[i], "-o", 2) && argv[i][2])
			return *inline_at = 2, i;
	}
	return -1;
}

static int mpi_record(int argc, char **argv, int rank, int size)
{
	int at, off, rc = 0;
	if (has_flag(argc, argv, "-h") || has_flag(argc, argv, "--help"))
		return rank == 0 ? fp_cli_main(argc, argv) : 0;
	for (int i = 2; i < argc; i++)
		if (!strncmp(argv[i], "--shard", 7)) {
			if (rank == 0)
				cli_usage_error("record", "under MPI each rank records its own shard: leave out --shard");
			return 2;
		}
	int dry = has_flag(argc, argv, "--dry-run"), resume = has_flag(argc, argv, "--resume");
	int force = has_flag(argc, argv, "--force");
	if ((at = find_output(argc, argv, &off)) < 0) /* record's own usage error, once */
		return rank == 0 ? fp_cli_main(argc, argv) : 2;
	const char *out = argv[at] + off;
	char *mine = shard_path(out, rank, size), shard[32];
	snprintf(shard, sizeof shard, "%d/%d", rank, size);
	/* the master is refused up front, as record refuses its output */
	struct stat st;
	int refuse = rank == 0 && !dry && !resume && !force && stat(out, &st) == 0;
	MPI_Bcast(&refuse, 1, MPI_INT, 0, MPI_COMM_WORLD);
	if (refuse) {
		if (rank == 0) {
			cli_error("record", "'%s' already exists", out);
			cli_hint("--resume continues it, --force overwrites it");
		}
		free(mine);
		return 1;
	}
	char **av = calloc((size_t)argc + 3, sizeof *av);
	for (int i = 0; i < argc; i++)
		av[i] = argv[i];
	char *o = malloc(strlen(mine) + 16);
	sprintf(o, "%.*s%s", off, argv[at], mine);
	av[at] = o;
	av[argc] = "--shard", av[argc + 1] = shard;
	/* errors of the rank's own run name it (cli.h) */
	cli_set_rank(rank, size);
	rc = fp_cli_main(argc + 2, av);
	cli_set_rank(0, 1);
	free(av), free(o);
	if (rc == 130) {
		/* stopped by a signal: mpirun is ending the job (a rank died, or it
		 * was cancelled), so no collective call would return */
		char *any = shard_path(out, 999999, size), *x = strstr(any, "999999");
		fprintf(stderr, "factprobe record: rank %d of %d stopped before finishing its shard %s '%s' (a rank failed "
			"or the job was stopped; rank R's shard is '%.*sR%s'); its finished prompts are kept\n", rank, size,
			shard, mine, (int)(x - any), any, x + 6);
		free(any);
		fprintf(stderr, "hint: rerun the same mpirun command with --resume to continue every shard\n");
		fflush(stderr);
		_exit(130);
	}
	int *all = rank == 0 ? malloc((size_t)size * sizeof *all) : NULL;
	MPI_Gather(&rc, 1, MPI_INT, all, 1, MPI_INT, 0, MPI_COMM_WORLD);
	if (rank == 0) {
		int failed = 0;
		for (int r = 0; r < size; r++)
			if (all[r]) {
				char *p = shard_path(out, r, size);
				cli_error("record", "rank %d failed (exit %d): its shard %d/%d '%s' is unfinished; the other shards "
					  "are intact", r, all[r], r, size, p);
				free(p);
				failed = 1;
			}
		if (failed) {
			cli_hint("fix the cause and rerun the same mpirun command with --resume");
			rc = 1;
		} else if (!dry) {
			char **paths = calloc((size_t)size, sizeof *paths);
			for (int r = 0; r < size; r++)
				paths[r] = shard_path(out, r, size);
			fp_error err = {0};
			if (h5rec_merge(out, paths, size, NULL, &err))
				rc = cli_error("record", "%s", err.msg);
			else if (!has_flag(argc, argv, "-q") && !has_flag(argc, argv, "--quiet"))
				fprintf(stderr, "record: %d ranks: '%s' joins the shards %s ... %s\n", size, out, paths[0],
					paths[size - 1]);
			for (int r = 0; r < size; r++)
				free(paths[r]);
			free(paths);
		}
		free(all);
	}
	free(mine);
	MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
	return rc;
}

static int g_rank, g_size;

/* 1 if a is the global option `name` (--NAME or --NAME=VALUE) */
static int is_global(const char *a, const char *name, int *joined)
{
	size_t n = strlen(name);
	*joined = !strncmp(a, name, n) && a[n] == '=';
	return !strncmp(a, name, n) && (a[n] == 0 || a[n] == '=');
}

/* factprobe's global options (--weights MODE, --matmul MODE, or
 * --NAME=MODE, taken out of argv wherever they stand) placed before the
 * command move after it, so that argv[1] is the command every rank runs */
static void command_first(int argc, char **argv)
{
	int i = 1, j;
	while (i < argc && (is_global(argv[i], "--weights", &j) || is_global(argv[i], "--matmul", &j)))
		i += j || i + 1 == argc ? 1 : 2;
	if (i == 1 || i >= argc)
		return;
	char *cmd = argv[i];
	memmove(argv + 2, argv + 1, (size_t)(i - 1) * sizeof *argv);
	argv[1] = cmd;
}

/* fs_trace's stand-in under MPI (factset.h) */
static int mpi_trace(fp_model *m, const fs_set *s, const tr_opts *o, int replace, int limit, st_rng *rng, fs_acc *c,
		     fs_totals *t, void (*progress)(void *user, long traced), void *user, fp_error *err)
{
	(void)rng;
	if (replace)
		return fp_error_set(err, FP_ERR_INVALID, "is traced with --corrupt replace by one process only: its "
				    "replacement subjects are drawn in one random sequence over all facts (use factprobe)");
	memset(t, 0, sizeof *t);
	int known = 0, rank = g_rank, size = g_size, L = c->n_layers;
	for (int i = 0; i < s->n; i++)
		known += s->f[i].known;
	int todo = limit > 0 && limit < known ? limit : known;
	/* blocks of the known facts, balanced by token count */
	long *cand = malloc((size_t)(todo + 1) * sizeof *cand), *bounds = malloc((size_t)(size + 1) * sizeof *bounds);
	long long *cum = malloc((size_t)(todo + 1) * sizeof *cum), tot = 0;
	if (!cand || !bounds || !cum)
		abort();
	for (int i = 0, k = 0; i < s->n && k < todo; i++)
		if (s->f[i].known)
			cand[k] = k, cum[k] = tot, tot += s->f[i].n, k++;
	shard_bounds(cand, cum, todo, todo, tot, size, bounds);
	int first = (int)bounds[rank], count = (int)(bounds[rank + 1] - bounds[rank]);
	size_t rl = FS_REC_LEN(L);
	double *recs = malloc(((size_t)count + 1) * rl * sizeof *recs);
	int rc = recs ? fs_trace_records(m, s, o, first, count, c, recs, progress, user, err) : FP_ERR_NOMEM;
	/* every rank's status and message, then the records of all on rank 0 */
	char msg[sizeof err->msg];
	snprintf(msg, sizeof msg, "%s", rc ? err->msg : "");
	int *st = malloc((size_t)size * sizeof *st), *cnts = malloc((size_t)size * sizeof *cnts);
	int *displ = malloc((size_t)size * sizeof *displ);
	char *msgs = rank == 0 ? malloc((size_t)size * sizeof msg) : NULL;
	double *all = rank == 0 ? malloc(((size_t)todo + 1) * rl * sizeof *all) : NULL;
	MPI_Allgather(&rc, 1, MPI_INT, st, 1, MPI_INT, MPI_COMM_WORLD);
	MPI_Gather(msg, (int)sizeof msg, MPI_CHAR, msgs, (int)sizeof msg, MPI_CHAR, 0, MPI_COMM_WORLD);
	int failed = -1;
	for (int r = 0; r < size; r++) {
		cnts[r] = st[r] ? 0 : (int)((bounds[r + 1] - bounds[r]) * (long)rl);
		displ[r] = (int)(bounds[r] * (long)rl);
		if (st[r] && failed < 0)
			failed = r;
	}
	MPI_Gatherv(recs, cnts[rank], MPI_DOUBLE, all, cnts, displ, MPI_DOUBLE, 0, MPI_COMM_WORLD);
	cli_set_rank(0, 1); /* rank 0 alone goes on, for all ranks: its messages name no rank */
	if (rank == 0 && failed >= 0)
		rc = fp_error_set(err, st[failed], "(rank %d of %d, facts %ld-%ld of the known) %s", failed, size,
				  bounds[failed], bounds[failed + 1], msgs + (size_t)failed * sizeof msg);
	else if (rank == 0)
		for (int k = 0; k < todo; k++)
			fs_acc_add_record(c, t, all + (size_t)k * rl);
	free(cand), free(bounds), free(cum), free(recs), free(st), free(cnts), free(displ), free(msgs), free(all);
	if (rank != 0) {
		/* rank 0 reports and writes the results; the others are done */
		MPI_Finalize();
		exit(failed >= 0 ? 1 : 0);
	}
	return rc;
}

int main(int argc, char **argv)
{
	/* only this (main) thread calls MPI; record's writer thread and the
	 * BLAS threads never do: MPI_THREAD_FUNNELED */
	int provided = MPI_THREAD_SINGLE;
	MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
	int rank = 0, size = 1, rc;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	g_rank = rank, g_size = size;
	command_first(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "record"))
		rc = mpi_record(argc, argv, rank, size);
	else if (argc >= 2 && !strcmp(argv[1], "trace") && (has_flag(argc, argv, "-p") || has_flag(argc, argv, "--prompts"))) {
		/* every rank runs the command; the tracing itself is shared */
		fs_set_trace_hook(mpi_trace);
		if (rank != 0 && !freopen("/dev/null", "w", stdout))
			return 1;
		cli_set_rank(rank, size);
		rc = fp_cli_main(argc, argv);
	}
	else
		rc = rank == 0 ? fp_cli_main(argc, argv) : 0;
	MPI_Finalize();
	return rc;
}
