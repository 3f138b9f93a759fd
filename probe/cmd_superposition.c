/* cmd_superposition.c - `factprobe superposition`: the near-orthogonality
 * experiment of the 3Blue1Brown chapter on how LLMs store facts.  How close to
 * perpendicular can N unit vectors in D dimensions all be?  Optimise them,
 * then report every pairwise angle, each vector's angle to its nearest
 * neighbour, and the worst pair beside the Welch bound; and the same for a
 * model's MLP output rows and unembedding rows. */
#include "cli.h"
#include "progress.h"
#include "h5util.h"
#include "superpos.h"

#include <cblas.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char HELP[] =
	"usage: factprobe superposition [--n N] [--dim D] [--steps S] [--seed S] [--model-rows]\n"
	"                               [-m MODEL] [--sample N] [-o OUT.h5 [--force]] [--tsv|--json]\n\n"
	"How close to perpendicular can N unit vectors in D dimensions all be?  Starts\n"
	"from random unit vectors and minimises sum over pairs of cos^p (p = 8, raised\n"
	"to 16, 32, 64 and 128 during the run so the largest overlaps dominate), by\n"
	"projected gradient descent on the sphere; every Gram block is an OpenBLAS\n"
	"matrix product.  Then reports:\n"
	"  - all N(N-1)/2 pairwise angles (histogram; the share within 89-91 and 85-95\n"
	"    degrees, the video's claim);\n"
	"  - each vector's angle to its nearest neighbour (the largest |cos|), the\n"
	"    stricter measure;\n"
	"  - the worst pair beside the Welch bound: no N unit vectors in D dimensions\n"
	"    can have every pair closer to 90 degrees than\n"
	"    arccos(sqrt((N - D) / (D (N - 1)))), 84.29 degrees for N = 10000, D = 100;\n"
	"    past N = D (D + 1) / 2 the fourth-moment bound is the stronger one (83.22\n"
	"    there): the mean cos^4 over pairs is at least (3N / (D (D + 2)) - 1) /\n"
	"    (N - 1), and the worst |cos| at least its fourth root.  If the histogram\n"
	"    of |cos| falls from 0 to the worst pair (a uniform one at most), the mean\n"
	"    cos^2 is at most worst^2 / 3 and the mean cos^4 at most worst^4 / 5, which\n"
	"    caps such sets lower still (79.83 degrees there).\n"
	"With --model-rows, the same angles for the model's MLP output rows (what each\n"
	"neuron writes) and unembedding rows, --sample of each (random, seeded).\n\n"
	"      --n N           vectors (default 10000)\n"
	"      --dim D         dimensions (default 100)\n"
	"      --steps S       optimisation steps (default 400; 0 keeps the random start)\n"
	"      --seed S        seed (default 1)\n"
	"      --model-rows    also the model's MLP output and unembedding rows\n"
	"  -m, --model PATH    GGUF or HF checkpoint for --model-rows\n"
	"      --sample N      rows sampled from each model matrix (default 10000)\n"
	"  -o, --output FILE   HDF5 for 'factprobe plot angles': groups optimized,\n"
	"                      mlp_out, unembed with bin_center, pairwise_density,\n"
	"                      nearest_density (0.1-degree bins) and summary [n, dim,\n"
	"                      worst pair degrees, Welch bound degrees, fourth-moment\n"
	"                      bound degrees, mean cos^4, least mean cos^4, falling-\n"
	"                      histogram bound degrees]\n"
	"      --force         replace FILE\n"
	"      --tsv, --json   machine-readable summary\n"
	"  -q, --quiet         no progress (else on stderr: a bar on a terminal, a line\n"
	"                      every 5 s otherwise)\n"
	"  -h, --help          this help\n\n"
	"example: factprobe superposition -o sup.h5 && factprobe plot angles sup.h5 -o angles.pdf\n";

/* n rows drawn without replacement (st_sample) and normalised: rows of M
 * [rows, d], or (M NULL) columns of every layer's W_out */
static float *sample_rows(st_rng *rng, const fp_mat *M, const fp_model *m, long rows, int d, long n)
{
	float *V = malloc((size_t)n * d * sizeof *V);
	long *idx = V ? st_sample(rng, rows, n) : NULL;
	if (!V || !idx) {
		free(V), free(idx);
		return NULL;
	}
	for (long i = 0; i < n; i++) {
		if (M)
			fp_mat_row(M, (int)idx[i], V + i * d);
		else /* W_out is [D][F] per layer: neuron f of layer l writes column f */
			fp_mat_col(&m->layers[idx[i] / m->cfg.d_mlp].w_down, (int)(idx[i] % m->cfg.d_mlp), V + i * d);
	}
	free(idx);
	sp_normalize_rows(V, n, d);
	return V;
}

/* a row per set of vectors (JSON: an array of rows) */
static const tb_col COLS[] = {
	{"set", "set", TB_STR, NULL, 0, NULL, 0, NULL},
	{"n", "n", TB_INT, NULL, 0, NULL, 0, NULL},
	{"dim", "dim", TB_INT, NULL, 0, NULL, 0, NULL},
	{"worst_pair_deg", "worst_pair_deg", TB_REAL, NULL, 0, NULL, 0, "%.4f"},
	{"welch_bound_deg", "welch_bound_deg", TB_REAL, NULL, 0, NULL, 0, "%.4f"},
	{"mean_nearest_deg", "mean_nearest_deg", TB_REAL, NULL, 0, NULL, 0, "%.4f"},
	{"min_nearest_deg", "min_nearest_deg", TB_REAL, NULL, 0, NULL, 0, "%.4f"},
	{"within_1_deg", "within_1_deg", TB_REAL, NULL, 0, NULL, 0, "%.6f"},
	{"within_5_deg", "within_5_deg", TB_REAL, NULL, 0, NULL, 0, "%.6f"},
	{"moment4_bound_deg", "moment4_bound_deg", TB_REAL, NULL, 0, NULL, 0, "%.4f"},
	{"mean_cos4", "mean_cos4", TB_REAL, NULL, 0, NULL, 0, NULL},
	{"min_mean_cos4", "min_mean_cos4", TB_REAL, NULL, 0, NULL, 0, NULL},
	{"falling_bound_deg", "falling_bound_deg", TB_REAL, NULL, 0, NULL, 0, "%.4f"},
	{NULL, "seconds", TB_REAL, NULL, 0, NULL, 0, NULL},
};

/* set i's summary in sentences (the text format) */
static void say_summary(tb_doc *d, const sp_summary *s, int i, int steps)
{
	tb_say(d, "%s: %ld unit vectors in %d dimensions%s\n", s->name, s->n, s->dim,
	       i == 0 ? (steps ? "" : " (random, not optimised)") : " (a random sample of the model's rows)");
	if (i == 0 && steps)
		tb_say(d, "  optimised in %d steps, %.1f s\n", steps, s->seconds);
	tb_say(d, "  pairwise angles: %.2f%% within 89-91 degrees, %.2f%% within 85-95\n", 100 * s->within1,
	       100 * s->within5);
	tb_say(d, "  nearest neighbour: mean %.2f degrees, worst %.2f\n", s->mean_nn_deg, s->min_nn_deg);
	tb_say(d, "  worst pair %.2f degrees; Welch bound %.2f degrees (no %ld unit vectors in %d dimensions can all "
		  "be closer to 90)\n", s->worst_deg, s->welch_deg, s->n, s->dim);
	if (s->m4_deg < s->welch_deg)
		tb_say(d, "  fourth-moment bound %.2f degrees: the mean cos^4 over pairs is at least %.3g (here %.3g)\n",
		       s->m4_deg, s->m4_min, s->mean_c4);
	if (s->falls_deg < 90)
		tb_say(d, "  a set whose |cos| histogram falls from 0 to its worst pair cannot beat %.2f degrees\n",
		       s->falls_deg);
}

/* the summaries as text, TSV or JSON */
static void print_summaries(const sp_summary *S, int ns, int fmt, int steps)
{
	tb_doc d;
	tb_table t;
	tb_doc_begin(&d, stdout, fmt);
	tb_doc_table(&d, &t, COLS, 14, 0);
	for (int i = 0; i < ns; i++) {
		const sp_summary *s = &S[i];
		tb_str(&t, s->name, strlen(s->name)), tb_int(&t, s->n), tb_int(&t, s->dim);
		tb_real(&t, s->worst_deg), tb_real(&t, s->welch_deg), tb_real(&t, s->mean_nn_deg);
		tb_real(&t, s->min_nn_deg), tb_real(&t, s->within1), tb_real(&t, s->within5), tb_real(&t, s->m4_deg);
		tb_real(&t, s->mean_c4), tb_real(&t, s->m4_min), tb_real(&t, s->falls_deg), tb_real(&t, s->seconds);
		say_summary(&d, s, i, steps);
	}
	tb_doc_set(&d, NULL, tb_end(&t));
	tb_doc_end(&d);
}

/* the densities and summaries to an HDF5 result (results.h) */
static int write_h5(const char *out, int force, const sp_summary *S, int ns, int steps, int seed, const char *model_path)
{
	fp_error err = {0};
	hid_t f = h5u_create(out, force, &err);
	int w = f < 0;
	double centers[SP_BINS];
	for (int k = 0; k < SP_BINS; k++)
		centers[k] = (k + 0.5) * 0.1;
	for (int i = 0; i < ns && !w; i++) {
		char nm[64];
		size_t db[1] = {SP_BINS}, d4[1] = {8};
		double sm[8] = {(double)S[i].n, S[i].dim,      S[i].worst_deg, S[i].welch_deg,
				S[i].m4_deg,    S[i].mean_c4, S[i].m4_min,    S[i].falls_deg};
		snprintf(nm, sizeof nm, "%s/bin_center", S[i].name);
		w |= h5u_f64(f, nm, 1, db, centers);
		snprintf(nm, sizeof nm, "%s/pairwise_density", S[i].name);
		w |= h5u_f64(f, nm, 1, db, S[i].pair);
		snprintf(nm, sizeof nm, "%s/nearest_density", S[i].name);
		w |= h5u_f64(f, nm, 1, db, S[i].nn);
		snprintf(nm, sizeof nm, "%s/summary", S[i].name);
		w |= h5u_f64(f, nm, 1, d4, sm);
	}
	if (!w)
		w |= cli_result_header(f, RES_SUPERPOSITION, model_path, &err) | h5u_attr_i64(f, NULL, "steps", steps) |
		     h5u_attr_i64(f, NULL, "seed", seed) |
		     h5u_attr_str(f, NULL, "summary_fields",
				  "n, dim, worst pair (degrees), Welch bound (degrees), fourth-moment bound (degrees), "
				  "mean cos^4 over pairs, least possible mean cos^4, bound for a falling |cos| histogram "
				  "(degrees)");
	if (f >= 0)
		w |= h5u_close(f, out, &err);
	return w ? cli_error("superposition", "%s", err.msg[0] ? err.msg : "cannot write the HDF5 file") : 0;
}

int cmd_superposition(int argc, char **argv)
{
	static const struct option opts[] = {
		{"n", required_argument, 0, 'n'}, {"dim", required_argument, 0, 'd'}, {"steps", required_argument, 0, 's'},
		{"seed", required_argument, 0, 'e'}, {"model-rows", no_argument, 0, 'R'}, {"model", required_argument, 0, 'm'},
		{"sample", required_argument, 0, 'S'}, {"output", required_argument, 0, 'o'}, {"force", no_argument, 0, 'f'},
		{"tsv", no_argument, 0, 'T'}, {"json", no_argument, 0, 'J'}, {"help", no_argument, 0, 'h'},
		{"quiet", no_argument, 0, 'q'}, {0, 0, 0, 0}};
	int n = 10000, d = 100, steps = 400, seed = 1, rows = 0, sample = 10000, force = 0, fmt = FMT_TEXT, c;
	const char *model = NULL, *out = NULL;
	int quiet = 0;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:o:hq", opts, NULL)) != -1) {
		switch (c) {
		case 'q': quiet = 1; break;
		case 'n':
			if (cli_parse_int("superposition", "--n", optarg, 2, 200000, &n))
				return 2;
			break;
		case 'd':
			if (cli_parse_int("superposition", "--dim", optarg, 1, 100000, &d))
				return 2;
			break;
		case 's':
			if (cli_parse_int("superposition", "--steps", optarg, 0, 1000000, &steps))
				return 2;
			break;
		case 'e':
			if (cli_parse_int("superposition", "--seed", optarg, 0, 1 << 30, &seed))
				return 2;
			break;
		case 'R': rows = 1; break;
		case 'm': model = optarg; break;
		case 'S':
			if (cli_parse_int("superposition", "--sample", optarg, 2, 200000, &sample))
				return 2;
			break;
		case 'o': out = optarg; break;
		case 'f': force = 1; break;
		case 'T': fmt = FMT_TSV; break;
		case 'J': fmt = FMT_JSON; break;
		case 'h': cli_help(HELP); return 0;
		default: return cli_bad_option("superposition", c, argv);
		}
	}
	if (argc > optind)
		return cli_usage_error("superposition", "unexpected argument '%s'", argv[optind]);
	if (out && !force && access(out, F_OK) == 0)
		return cli_error("superposition", "'%s' exists; pass --force to replace it", out);
	if (1024.0 * n * sizeof(float) > 8e9) /* superpos.c's Gram blocks of 1024 rows */
		return cli_error("superposition", "--n %d needs too much memory for its Gram blocks", n);
	sp_summary S[3] = {{0}};
	int ns = 0, rc = 0;
	sp_opt o;
	st_rng rng = st_rng_seed((uint64_t)seed * 0x9e3779b97f4a7c15ull + 1);
	if (sp_opt_init(&o, n, d, &rng))
		return cli_error("superposition", "out of memory for %d vectors of %d dimensions", n, d);
	double t0 = fp_now();
	fp_progress pg;
	fp_progress_start(&pg, stderr, quiet || !steps, "superposition", "steps", NULL, steps);
	for (int s = 0; s < steps; s++) {
		fp_progress_update(&pg, s, 0);
		sp_opt_step(&o, s, steps);
	}
	fp_progress_end(&pg, steps, 0);
	S[0].name = "optimized";
	if (sp_measure(o.V, n, d, &S[0])) {
		sp_opt_free(&o);
		return cli_error("superposition", "out of memory measuring the angles");
	}
	S[0].seconds = fp_now() - t0;
	ns = 1;
	sp_opt_free(&o);
	if (rows) {
		fp_model *m = cli_load_model("superposition", model);
		if (!m)
			return 1;
		int D = m->cfg.d_model, F = m->cfg.d_mlp, L = m->cfg.n_layers;
		long nm = (long)L * F < sample ? (long)L * F : sample, nu = m->cfg.n_vocab < sample ? m->cfg.n_vocab : sample;
		float *Vm = sample_rows(&rng, NULL, m, (long)L * F, D, nm);
		float *Vu = sample_rows(&rng, &m->unembed, m, m->cfg.n_vocab, D, nu);
		S[1].name = "mlp_out", S[2].name = "unembed";
		if (!Vm || !Vu || sp_measure(Vm, nm, D, &S[1]) || sp_measure(Vu, nu, D, &S[2])) {
			rc = cli_error("superposition", "out of memory for the model's rows");
		} else {
			ns = 3;
		}
		free(Vm), free(Vu);
		fp_model_free(m);
		if (rc)
			goto done;
	}
	print_summaries(S, ns, fmt, steps);
	char mpath[4096];
	if (out && (rc = write_h5(out, force, S, ns, steps, seed, rows ? cli_model_path(model, mpath, sizeof mpath) : NULL)) == 0 &&
	    fmt == FMT_TEXT)
		printf("wrote %s (plot it: factprobe plot angles %s -o angles.pdf)\n", out, out);
done:
	for (int i = 0; i < 3; i++)
		sp_summary_free(&S[i]);
	return rc;
}
