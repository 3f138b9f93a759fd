/* cmd_plot.c - `factprobe plot KIND INPUT -o FIG`: every result file
 * becomes a figure.  factprobe writes the numbers as TSV beside the figure
 * and runs one gnuplot script per kind (plots/KIND.gp, sharing
 * plots/style.gp), so a figure can be restyled by editing its script. */
#include "analysis.h"
#include "cli.h"
#include "stats.h"
#include "h5util.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The gnuplot scripts: $FACTPROBE_PLOTS, else found from the running
 * binary (/proc/self/exe): BINDIR/../share/factprobe/plots where `make
 * install` puts them, else BINDIR/../plots (the build tree: build/factprobe
 * beside plots/).  Returns 0 with the directory in dir, or -1 with the
 * places tried in err. */
static int plots_dir(char *dir, size_t n, fp_error *err)
{
	const char *env = getenv("FACTPROBE_PLOTS");
	if (env && *env) {
		snprintf(dir, n, "%s", env);
		return 0;
	}
	char exe[4096];
	ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (l <= 0)
		return fp_error_set(err, FP_ERR_IO, "cannot find the gnuplot scripts: /proc/self/exe is unreadable");
	exe[l] = 0;
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = 0;
	static const char *const REL[2] = {"../share/factprobe/plots", "../plots"};
	char style[4300], tried[2][4200];
	for (int i = 0; i < 2; i++) {
		snprintf(tried[i], sizeof tried[i], "%s/%s", exe, REL[i]);
		snprintf(style, sizeof style, "%s/style.gp", tried[i]);
		if (!access(style, R_OK)) {
			snprintf(dir, n, "%s", tried[i]);
			return 0;
		}
	}
	return fp_error_set(err, FP_ERR_IO, "cannot find the gnuplot scripts in '%s' or '%s'", tried[0], tried[1]);
}

static const char HELP[] =
	"usage: factprobe plot KIND INPUT -o FIG.pdf|png|svg|tex [--size column|page|W,H] [options]\n\n"
	"Draws a result file with gnuplot.  The numbers plotted are written beside the\n"
	"figure as FIG.tsv, and the drawing is plots/KIND.gp (with the shared\n"
	"plots/style.gp): edit either and rerun the gnuplot command printed with -v to\n"
	"restyle.  .pdf uses pdfcairo (papers), .png pngcairo at 300 dpi, .svg svg,\n"
	".tex cairolatex (FIG.tex + FIG.pdf; \\input{FIG.tex} lets LaTeX set the labels).\n"
	"gnuplot's messages are shown; a gnuplot error fails the command.  The scripts\n"
	"are read from $FACTPROBE_PLOTS, else PREFIX/share/factprobe/plots beside an\n"
	"installed factprobe (PREFIX/bin), else the plots/ directory of the build tree.\n\n"
	"kinds and their inputs:\n"
	"  dot           dot -o DOT.h5: cosine (or --value dot) per layer, one line per\n"
	"                token, or the mean with a +-1 std band for a prompt set\n"
	"  lens          lens -o LENS.h5 (best with --at all): layer x token grid, the\n"
	"                top token written in each cell, coloured by its probability\n"
	"  trace         trace -o TRACE.h5: hidden-state, MLP and attention panels side\n"
	"                by side, subject tokens marked *; a dataset trace shows the mean\n"
	"                indirect effect per token category\n"
	"  top-neurons   neurons -o NEURONS.h5: the top neurons' scores (the ranking's\n"
	"                score), one bar per layer.neuron\n"
	"  heatmap       a recording (record --positions all, mlp.hook_post): tokens x\n"
	"                the most active neurons of one prompt (--prompt I, --top K, or\n"
	"                --neurons L.N,...); the first token, where many models park\n"
	"                huge activations, is drawn but does not choose the neurons or\n"
	"                set the colour scale (it saturates)\n"
	"  distribution  a recording: one neuron's activation (--neuron L.N) over the\n"
	"                prompts, --group-by FIELD --group VALUE against the rest\n"
	"  angles        superposition -o SUP.h5: pairwise and nearest-neighbour angle\n"
	"                histograms (--set optimized|mlp_out|unembed)\n\n"
	"  -o, --output FIG      the figure; its extension picks the format\n"
	"      --size S          column (3.4 x 2.5 in, default), page (7 x 2.8 in) or W,H inches\n"
	"      --value V         dot: cos (default) or dot\n"
	"      --prompt I        heatmap: prompt index in the recording (default 0)\n"
	"      --top K           heatmap: neurons shown (default 20)\n"
	"      --neurons L.N,... heatmap: these neurons instead\n"
	"      --neuron L.N      distribution: the neuron\n"
	"      --group-by F      distribution: target, relation, subject or id\n"
	"      --group V         distribution: the highlighted group\n"
	"      --set S           angles: which vectors (default optimized)\n"
	"  -v, --verbose         print the gnuplot command\n"
	"  -h, --help            this help\n\n"
	"example: factprobe trace --subject 'Michael Jordan' -o mj.h5 \"...\" &&\n"
	"         factprobe plot trace mj.h5 -o mj-trace.pdf --size page\n";

typedef struct plot_args {
	const char *kind, *input, *out, *size, *value, *neurons, *neuron, *group_by, *group, *set;
	int prompt, top, verbose;
} plot_args;

/* gnuplot assignments, accumulated: name='value' (single quotes doubled) */
typedef struct vars {
	char buf[8192];
	size_t n;
} vars;

static void var_s(vars *v, const char *name, const char *val)
{
	v->n += (size_t)snprintf(v->buf + v->n, sizeof v->buf - v->n, "%s='", name);
	for (const char *p = val; *p && v->n < sizeof v->buf - 8; p++) {
		if (*p == '\n' || *p == '\r' || *p == '\t')
			v->buf[v->n++] = ' ';
		else if (*p == '\'')
			v->buf[v->n++] = '\'', v->buf[v->n++] = '\'';
		else
			v->buf[v->n++] = *p;
	}
	v->n += (size_t)snprintf(v->buf + v->n, sizeof v->buf - v->n, "'; ");
}

static void var_d(vars *v, const char *name, double val)
{
	v->n += (size_t)snprintf(v->buf + v->n, sizeof v->buf - v->n, "%s=%.10g; ", name, val);
}

/* a label cell of a figure's data: a plain table cell (probe/table.h: tab,
 * newline and other control bytes escaped, so a cell stays one cell; a
 * backslash kept, so the figure shows the token as it is) */
static void cell(FILE *f, const char *s)
{
	tb_print_plain(f, s, strlen(s));
}

/* a token as a label: surrounding spaces dropped, a newline shown as ↵,
 * other control bytes as \xNN, an empty or blank token as ␣ */
static void token_label(FILE *f, const char *s)
{
	while (*s == ' ')
		s++;
	size_t n = strlen(s);
	while (n && s[n - 1] == ' ')
		n--;
	if (!n) {
		fputs("\u2423", f);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			fputs("\u21b5", f);
		else if (s[i] == '\t' || s[i] == '\r')
			fputc(' ', f);
		else if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) /* as a table cell writes it */
			fprintf(f, "\\x%02x", (unsigned char)s[i]);
		else
			fputc(s[i], f);
	}
}


static int need_format(hid_t f, const char *path, const char *want, const char *kind, char *got, size_t n)
{
	fp_error err = {0};
	h5u_attr_read_str(f, "format", got, n);
	int rc = res_check(f, path, want, &err);
	if (rc == FP_ERR_FORMAT)
		fprintf(stderr, "factprobe plot: '%s' is not a %s result (format '%s', want '%s'); make one with 'factprobe %s -o'\n",
			path, kind, *got ? got : "none", want, kind);
	else if (rc)
		fprintf(stderr, "factprobe plot: %s\n", err.msg);
	return rc != 0;
}

/* ---- kinds: each reads INPUT, writes the TSV and sets the variables ---- */

static int k_dot(plot_args *a, hid_t f, FILE *t, vars *v, fp_error *err)
{
	char fmt[64], dir[600], hook[128];
	if (need_format(f, a->input, RES_DOT, "dot", fmt, sizeof fmt))
		return 1;
	h5u_attr_read_str(f, "direction", dir, sizeof dir);
	h5u_attr_read_str(f, "hook", hook, sizeof hook);
	int use_dot = a->value && !strcmp(a->value, "dot");
	double *layer = NULL, *val = NULL, *sd = NULL;
	int r;
	size_t dl[3], dv[3];
	if (h5u_read_f64(f, a->input, "layer", &layer, &r, dl, err))
		return -1;
	char title[800];
	snprintf(title, sizeof title, "direction %s", dir);
	var_s(v, "fp_title", title);
	snprintf(title, sizeof title, "%s with the direction (%s)", use_dot ? "dot product" : "cosine", hook);
	var_s(v, "fp_ylabel", title);
	if (h5u_has(f, "cos")) { /* one prompt: a line per position */
		char **tok = NULL;
		size_t nt = 0;
		double *pos = NULL;
		size_t dp[3];
		if (h5u_read_f64(f, a->input, use_dot ? "dot" : "cos", &val, &r, dv, err) ||
		    h5u_read_strs(f, a->input, "token", &tok, &nt, err) || h5u_read_f64(f, a->input, "position", &pos, &r, dp, err)) {
			free(layer), free(val), free(pos);
			h5u_free_strs(tok, nt);
			return -1;
		}
		size_t L = dv[0], P = dv[1];
		fprintf(t, "layer");
		for (size_t p = 0; p < P; p++) {
			fprintf(t, "\t");
			token_label(t, p < nt ? tok[p] : "?");
			fprintf(t, " (%g)", pos[p]);
		}
		fprintf(t, "\n");
		for (size_t l = 0; l < L; l++) {
			fprintf(t, "%g", layer[l]);
			for (size_t p = 0; p < P; p++)
				fprintf(t, "\t%.6g", val[l * P + p]);
			fprintf(t, "\n");
		}
		var_d(v, "fp_band", 0);
		var_d(v, "fp_ncol", (double)P + 1);
		free(pos);
		h5u_free_strs(tok, nt);
	} else {
		if (h5u_read_f64(f, a->input, use_dot ? "mean_dot" : "mean_cos", &val, &r, dv, err) ||
		    h5u_read_f64(f, a->input, use_dot ? "std_dot" : "std_cos", &sd, &r, dv, err)) {
			free(layer), free(val);
			return -1;
		}
		fprintf(t, "layer\tmean\tstd\n");
		for (size_t l = 0; l < dv[0]; l++)
			fprintf(t, "%g\t%.6g\t%.6g\n", layer[l], val[l], isnan(sd[l]) ? 0 : sd[l]);
		var_d(v, "fp_band", 1);
		var_d(v, "fp_ncol", 3);
	}
	free(layer), free(val), free(sd);
	return 0;
}

static int k_lens(plot_args *a, hid_t f, FILE *t, vars *v, fp_error *err)
{
	char fmt[64];
	if (need_format(f, a->input, RES_LENS, "lens", fmt, sizeof fmt))
		return 1;
	double *prob = NULL, *pos = NULL;
	char **top = NULL, **lab = NULL, **tok = NULL;
	size_t ntop = 0, nlab = 0, ntok = 0, d[3], dp[3];
	int r, rc = 0;
	if (h5u_read_f64(f, a->input, "top_prob", &prob, &r, d, err) || r != 3 ||
	    h5u_read_strs(f, a->input, "top_token", &top, &ntop, err) ||
	    h5u_read_strs(f, a->input, "layer_label", &lab, &nlab, err) || h5u_read_strs(f, a->input, "token", &tok, &ntok, err) ||
	    h5u_read_f64(f, a->input, "position", &pos, &r, dp, err)) {
		rc = err->msg[0] ? -1 : cli_error("plot", "'%s': top_prob is not [rows, positions, k]", a->input);
		goto done;
	}
	size_t R = d[0], P = d[1], K = d[2];
	if (ntop != R * P * K || nlab != R || ntok != P) {
		rc = cli_error("plot", "'%s': the lens arrays disagree in shape", a->input);
		goto done;
	}
	for (size_t row = 0; row < R; row++)
		for (size_t p = 0; p < P; p++) {
			double pr = prob[(row * P + p) * K];
			fprintf(t, "%zu\t%zu\t%.5g\t", p, row, pr);
			token_label(t, top[(row * P + p) * K]);
			fprintf(t, "\t%d\n", pr > 0.55 ? 0x000000 : 0xffffff);
		}
	fprintf(t, "\n\n");
	for (size_t p = 0; p < P; p++) {
		fprintf(t, "%zu\t", p);
		cell(t, tok[p]);
		fprintf(t, "\n");
	}
	fprintf(t, "\n\n");
	for (size_t row = 0; row < R; row++) {
		fprintf(t, "%zu\t", row);
		cell(t, lab[row]);
		fprintf(t, "\n");
	}
	var_d(v, "fp_npos", (double)P);
	var_d(v, "fp_nrows", (double)R);
	var_d(v, "fp_hscale", R > 20 ? 1.6 : 1.0);
done:
	free(prob), free(pos);
	h5u_free_strs(top, ntop);
	h5u_free_strs(lab, nlab);
	h5u_free_strs(tok, ntok);
	return rc;
}

static const char *TRACE_KINDS[3] = {"resid", "mlp", "attn"};
static const char *TRACE_TITLES[3] = {"hidden-state", "MLP", "attention"};
static const char *CAT_SHORT[6] = {"first subject", "middle subject", "last subject", "first after", "further", "last"};

static int k_trace(plot_args *a, hid_t f, FILE *t, vars *v, fp_error *err)
{
	char fmt[64];
	h5u_attr_read_str(f, "format", fmt, sizeof fmt);
	int dataset = !strcmp(fmt, RES_TRACE_DATASET);
	if (!dataset && need_format(f, a->input, RES_TRACE, "trace", fmt, sizeof fmt))
		return 1;
	double *grid[3] = {0}, lo = INFINITY, hi = -INFINITY;
	size_t d[3] = {0}, L = 0, rows = 0;
	int np = 0, r, rc = 0;
	char titles[128] = "", name[64];
	for (int k = 0; k < 3; k++) {
		snprintf(name, sizeof name, dataset ? "%s/mean" : "score/%s", TRACE_KINDS[k]);
		if (!h5u_has(f, name))
			continue;
		if (h5u_read_f64(f, a->input, name, &grid[k], &r, d, err) || r != 2) {
			rc = err->msg[0] ? -1 : cli_error("plot", "'%s': %s is not a 2-D grid", a->input, name);
			goto done;
		}
		if (np && (dataset ? rows != d[0] || L != d[1] : L != d[0] || rows != d[1])) {
			rc = cli_error("plot", "'%s': the trace grids differ in shape", a->input);
			goto done;
		}
		if (dataset) /* [6 categories, layers] */
			rows = d[0], L = d[1];
		else /* [layers, tokens] */
			L = d[0], rows = d[1];
		for (size_t i = 0; i < d[0] * d[1]; i++)
			if (!isnan(grid[k][i]))
				lo = grid[k][i] < lo ? grid[k][i] : lo, hi = grid[k][i] > hi ? grid[k][i] : hi;
		snprintf(titles + strlen(titles), sizeof titles - strlen(titles), "%s%s", np ? " " : "", TRACE_TITLES[k]);
		np++;
	}
	if (!np) {
		rc = cli_error("plot", "'%s' holds no trace grids", a->input);
		goto done;
	}
	for (int k = 0; k < 3; k++) {
		if (!grid[k])
			continue;
		for (size_t l = 0; l < L; l++)
			for (size_t y = 0; y < rows; y++)
				fprintf(t, "%zu\t%zu\t%.6g\n", l, y, dataset ? grid[k][y * L + l] : grid[k][l * rows + y]);
		fprintf(t, "\n\n");
	}
	if (dataset) {
		for (size_t y = 0; y < rows && y < 6; y++)
			fprintf(t, "%zu\t%s\n", y, CAT_SHORT[y]);
		var_s(v, "fp_cblabel", "mean indirect effect");
		if (lo > 0)
			lo = 0;
	} else {
		char **tok = NULL;
		size_t nt = 0;
		double s0 = -1, s1 = -1;
		if (h5u_read_strs(f, a->input, "token", &tok, &nt, err)) {
			rc = -1;
			goto done;
		}
		h5u_attr_read_f64(f, "subject_start", &s0);
		h5u_attr_read_f64(f, "subject_end", &s1);
		for (size_t y = 0; y < rows; y++) {
			fprintf(t, "%zu\t", y);
			cell(t, y < nt ? tok[y] : "?");
			fprintf(t, "%s\n", (double)y >= s0 && (double)y < s1 ? "*" : "");
		}
		h5u_free_strs(tok, nt);
		char ans[128], lab[200];
		h5u_attr_read_str(f, "answer", ans, sizeof ans);
		snprintf(lab, sizeof lab, "p(%s)", ans);
		var_s(v, "fp_cblabel", lab);
	}
	if (!(hi > lo))
		hi = lo + 1e-6;
	var_d(v, "fp_cbmin", lo);
	var_d(v, "fp_cbmax", hi);
	var_d(v, "fp_npanels", np);
	var_d(v, "fp_nrows", (double)rows);
	var_d(v, "fp_nlayers", (double)L);
	var_s(v, "fp_titles", titles);
done:
	for (int k = 0; k < 3; k++)
		free(grid[k]);
	return rc;
}

static int k_top_neurons(plot_args *a, hid_t f, FILE *t, vars *v, fp_error *err)
{
	char fmt[64], by[32], metric[64], target[128];
	if (need_format(f, a->input, RES_NEURONS, "neurons", fmt, sizeof fmt))
		return 1;
	h5u_attr_read_str(f, "rank_by", by, sizeof by);
	h5u_attr_read_str(f, "metric", metric, sizeof metric);
	h5u_attr_read_str(f, "target", target, sizeof target);
	double *tl = NULL, *tn = NULL, *sc = NULL;
	size_t d1[3], d2[3];
	int r, rc = 0;
	if (h5u_read_f64(f, a->input, "top_layer", &tl, &r, d1, err) || h5u_read_f64(f, a->input, "top_neuron", &tn, &r, d1, err) ||
	    h5u_read_f64(f, a->input, !strcmp(by, "weights") ? "weights" : by, &sc, &r, d2, err) || r != 2) {
		rc = err->msg[0] ? -1 : cli_error("plot", "'%s': the score array is not [layers, d_mlp]", a->input);
		goto done;
	}
	fprintf(t, "rank\tneuron\tscore\n");
	for (size_t i = 0; i < d1[0]; i++) {
		size_t l = (size_t)tl[i], n = (size_t)tn[i];
		if (l >= d2[0] || n >= d2[1]) {
			rc = cli_error("plot", "'%s': a top neuron is outside the score array", a->input);
			goto done;
		}
		fprintf(t, "%zu\t%zu.%zu\t%.6g\n", i + 1, l, n, sc[l * d2[1] + n]);
	}
	char lab[256];
	snprintf(lab, sizeof lab, "%s%s", by,
		 !strcmp(by, "dla") ? " (direct logit attribution)" : !strcmp(by, "ablate") ? " (drop when ablated)" : "");
	var_s(v, "fp_ylabel", lab);
	snprintf(lab, sizeof lab, "top neurons for \"%s\", ranked by %s", target, by);
	var_s(v, "fp_title", lab);
done:
	free(tl), free(tn), free(sc);
	return rc;
}

/* the heatmap's columns sel[0..*nsel) (layer * F + neuron): --neurons, or the
 * --top neurons by their largest |activation| over the prompt's rows acts
 * [L][nr][F] (the first token, often huge, an attention sink, aside) */
static int heatmap_neurons(const plot_args *a, const float *acts, int L, int F, long nr, int *sel, int *nsel)
{
	*nsel = 0;
	if (a->neurons) {
		const char *p = a->neurons;
		while (*p && *nsel < L * F) {
			int l, n;
			if (ps_neuron(p, strcspn(p, ","), L, F, &l, &n, NULL))
				return cli_error("plot", "--neurons: '%s' is not a neuron of this recording (layer.index)", p);
			sel[(*nsel)++] = l * F + n;
			p += strcspn(p, ",");
			p += *p == ',';
		}
		return 0;
	}
	float *score = calloc((size_t)L * F, sizeof *score);
	if (!score)
		return cli_error("plot", "out of memory");
	for (int i = 0; i < L * F; i++) {
		int l = i / F, n = i % F;
		for (long r = nr > 1 ? 1 : 0; r < nr; r++) {
			float x = acts[((size_t)l * nr + r) * F + n];
			if (!isnan(x) && fabsf(x) > score[i])
				score[i] = fabsf(x);
		}
	}
	st_order_desc(score, L * F, 0, sel); /* ties by index */
	while (*nsel < a->top && *nsel < L * F && score[sel[*nsel]] > 0)
		(*nsel)++;
	free(score);
	if (!*nsel)
		return cli_error("plot", "'%s' holds no mlp.hook_post activations for that prompt", a->input);
	return 0;
}

static int k_heatmap(plot_args *a, FILE *t, vars *v, fp_error *err)
{
	h5rec_in *rec = NULL;
	h5rec_meta mt;
	if (h5rec_open(&rec, a->input, &mt, err))
		return -1;
	int rc = 0, L = mt.n_layers, F = mt.d_mlp;
	long rs, nr, ts, ntk;
	long *tmp = malloc((size_t)(mt.n_prompts ? mt.n_prompts : 1) * sizeof *tmp);
	float *acts = NULL;
	int *sel = NULL, nsel = 0;
	char **texts = NULL;
	if (a->prompt < 0 || a->prompt >= mt.n_prompts) {
		rc = cli_error("plot", "--prompt is outside the recording's prompts");
		goto done;
	}
	if (!tmp) {
		rc = cli_error("plot", "out of memory");
		goto done;
	}
	long *fields[4] = {&rs, &nr, &ts, &ntk};
	static const char *const NAMES[4] = {"prompts/row_start", "prompts/n_rows", "prompts/token_start", "prompts/n_tokens"};
	for (int q = 0; q < 4; q++) {
		if (h5rec_longs(rec, NAMES[q], tmp, mt.n_prompts, err)) {
			rc = -1;
			goto done;
		}
		*fields[q] = tmp[a->prompt];
	}
	if (nr != ntk) {
		rc = cli_error("plot", "'%s' does not hold every position of the prompt; record it with --positions all", a->input);
		goto done;
	}
	acts = malloc((size_t)L * nr * F * sizeof *acts);
	sel = malloc((size_t)L * F * sizeof *sel);
	if (!acts || !sel) {
		rc = cli_error("plot", "out of memory");
		goto done;
	}
	for (int l = 0; l < L; l++) {
		char hn[96];
		int w;
		snprintf(hn, sizeof hn, "blocks.%d.mlp.hook_post", l);
		if (!h5rec_has(rec, hn)) {
			for (long i = 0; i < nr * F; i++)
				acts[(size_t)l * nr * F + i] = NAN;
			continue;
		}
		if (h5rec_read(rec, hn, rs, nr, acts + (size_t)l * nr * F, &w, err)) {
			rc = -1;
			goto done;
		}
	}
	if ((rc = heatmap_neurons(a, acts, L, F, nr, sel, &nsel)))
		goto done;
	/* token texts of the prompt */
	h5rec_in_close(rec);
	rec = NULL;
	hid_t f = h5u_open(a->input, err);
	size_t nt = 0;
	if (f < 0 || h5u_read_strs(f, a->input, "tokens/text", &texts, &nt, err)) {
		if (f >= 0)
			H5Fclose(f);
		rc = -1;
		goto done;
	}
	H5Fclose(f);
	double mx = 0;
	for (int c = 0; c < nsel; c++)
		for (long r = 0; r < nr; r++) {
			int l = sel[c] / F, n = sel[c] % F;
			double x = acts[((size_t)l * nr + r) * F + n];
			fprintf(t, "%d\t%ld\t%.6g\n", c, r, x);
			if (!isnan(x) && fabs(x) > mx && (r > 0 || nr == 1))
				mx = fabs(x);
		}
	fprintf(t, "\n\n");
	for (int c = 0; c < nsel; c++)
		fprintf(t, "%d\t%d.%d\n", c, sel[c] / F, sel[c] % F);
	fprintf(t, "\n\n");
	for (long r = 0; r < nr; r++) {
		fprintf(t, "%ld\t", r);
		cell(t, (size_t)(ts + r) < nt ? texts[ts + r] : "?");
		fprintf(t, "\n");
	}
	var_d(v, "fp_cbmax", mx > 0 ? mx : 1);
	var_d(v, "fp_ncols", nsel);
	var_d(v, "fp_nrows", (double)nr);
	h5u_free_strs(texts, nt);
done:
	h5rec_in_close(rec);
	free(tmp), free(acts), free(sel);
	return rc;
}

static int k_distribution(plot_args *a, FILE *t, vars *v, fp_error *err)
{
	if (!a->neuron || !a->group_by || !a->group)
		return cli_error("plot", "distribution needs --neuron L.N, --group-by FIELD and --group VALUE");
	h5rec_in *rec = NULL;
	h5rec_meta mt;
	if (h5rec_open(&rec, a->input, &mt, err))
		return -1;
	int rc = 0, l = -1, n = -1;
	ps_neuron(a->neuron, strlen(a->neuron), mt.n_layers, mt.d_mlp, &l, &n, NULL);
	long P = mt.n_prompts, *rs = malloc((size_t)(P ? P : 1) * sizeof *rs), *nr = malloc((size_t)(P ? P : 1) * sizeof *nr);
	float *row = malloc((size_t)mt.d_mlp * sizeof *row);
	double *x = malloc((size_t)(P ? P : 1) * sizeof *x);
	char **lab = NULL, hn[96], want[256], *is_in = malloc((size_t)(P ? P : 1));
	if (l < 0 || l >= mt.n_layers || n < 0 || n >= mt.d_mlp) {
		rc = cli_error("plot", "--neuron '%s' is not a neuron of this recording", a->neuron);
		goto done;
	}
	if (!rs || !nr || !row || !x || !is_in || h5rec_longs(rec, "prompts/row_start", rs, P, err) ||
	    h5rec_longs(rec, "prompts/n_rows", nr, P, err) || h5rec_strings(rec, a->group_by, &lab, err)) {
		rc = err->msg[0] ? -1 : cli_error("plot", "out of memory");
		goto done;
	}
	snprintf(hn, sizeof hn, "blocks.%d.mlp.hook_post", l);
	for (long p = 0; p < P; p++) {
		int w;
		if (nr[p] < 1 || h5rec_read(rec, hn, rs[p] + nr[p] - 1, 1, row, &w, err)) {
			rc = err->msg[0] ? -1 : cli_error("plot", "'%s': a prompt has no rows", a->input);
			goto done;
		}
		x[p] = row[n];
	}
	/* groups compare without surrounding spaces */
	snprintf(want, sizeof want, "%s", a->group);
	char *w0 = want;
	while (*w0 == ' ')
		w0++;
	for (long p = 0; p < P; p++) {
		const char *s = lab[p];
		while (*s == ' ')
			s++;
		is_in[p] = !strcmp(s, w0);
	}
	enum { BINS = 30 };
	st_hist h = st_hist_span(x, P, BINS);
	double in[BINS], out[BINS], nin = st_hist_count(&h, x, P, is_in, 1, in),
				    nout = st_hist_count(&h, x, P, is_in, 0, out);
	if (nin == 0) {
		rc = cli_error("plot", "no prompt has %s '%s'", a->group_by, w0);
		goto done;
	}
	fputs("activation\t", t), cell(t, w0), fprintf(t, " (%g)\tothers (%g)\n", nin, nout);
	for (int b = 0; b < BINS; b++)
		fprintf(t, "%.6g\t%.6g\t%.6g\n", st_hist_centre(&h, b), in[b] / nin / h.width,
			nout ? out[b] / nout / h.width : 0);
	char title[300];
	snprintf(title, sizeof title, "neuron %d.%d (%s) by %s", l, n, hn, a->group_by);
	var_s(v, "fp_title", title);
done:
	if (lab)
		for (long p = 0; p < P; p++)
			free(lab[p]);
	free(lab), free(rs), free(nr), free(row), free(x), free(is_in);
	h5rec_in_close(rec);
	return rc;
}

static int k_angles(plot_args *a, hid_t f, FILE *t, vars *v, fp_error *err)
{
	char fmt[64], grp[64], name[128], desc[300] = "";
	if (need_format(f, a->input, RES_SUPERPOSITION, "superposition", fmt, sizeof fmt))
		return 1;
	snprintf(grp, sizeof grp, "%s", a->set ? a->set : "optimized");
	double *c = NULL, *pw = NULL, *nn = NULL, *meta = NULL;
	size_t d[3], dm[3], dc[3], dn[3];
	int r, rc = 0;
	snprintf(name, sizeof name, "%s/bin_center", grp);
	if (!h5u_has(f, name)) {
		rc = cli_error("plot", "'%s' has no vector set '%s' (optimized, mlp_out or unembed)", a->input, grp);
		goto done;
	}
	if (h5u_read_f64(f, a->input, name, &c, &r, dc, err)) {
		rc = -1;
		goto done;
	}
	snprintf(name, sizeof name, "%s/pairwise_density", grp);
	if (h5u_read_f64(f, a->input, name, &pw, &r, d, err)) {
		rc = -1;
		goto done;
	}
	snprintf(name, sizeof name, "%s/nearest_density", grp);
	if (h5u_read_f64(f, a->input, name, &nn, &r, dn, err)) {
		rc = -1;
		goto done;
	}
	if (dc[0] != d[0] || dn[0] != d[0]) {
		rc = cli_error("plot", "'%s': %s/bin_center, pairwise_density and nearest_density differ in length", a->input,
			       grp);
		goto done;
	}
	snprintf(name, sizeof name, "%s/summary", grp); /* n, dim, worst, welch, then the fourth-moment bound ... */
	if (h5u_read_f64(f, a->input, name, &meta, &r, dm, err) || dm[0] < 4) {
		rc = err->msg[0] ? -1 : cli_error("plot", "'%s': %s is too short", a->input, name);
		goto done;
	}
	/* the bins that hold anything, with a 2-degree margin */
	size_t lo = d[0], hi = 0;
	for (size_t i = 0; i < d[0]; i++)
		if (pw[i] > 0 || nn[i] > 0)
			lo = i < lo ? i : lo, hi = i;
	if (lo > hi)
		lo = 0, hi = d[0] ? d[0] - 1 : 0;
	double xmin = c[lo] - 2, xmax = c[hi] + 2;
	if (meta[3] > 0 && meta[3] < 90)
		xmax = xmax > meta[3] + 2 ? xmax : meta[3] + 2;
	fprintf(t, "angle\tall pairs\tnearest neighbour\n");
	for (size_t i = 0; i < d[0]; i++)
		if (c[i] >= xmin && c[i] <= xmax)
			fprintf(t, "%.6g\t%.6g\t%.6g\n", c[i], pw[i], nn[i]);
	var_d(v, "fp_xmin", xmin < 0 ? 0 : xmin);
	var_d(v, "fp_xmax", xmax > 180 ? 180 : xmax);
	snprintf(desc, sizeof desc, "%s: N = %.0f vectors in D = %.0f dimensions", grp, meta[0], meta[1]);
	var_s(v, "fp_title", desc);
	var_d(v, "fp_worst", meta[2]);
	var_d(v, "fp_welch", meta[3]);
	var_d(v, "fp_m4", dm[0] >= 5 ? meta[4] : 0); /* files before the fourth-moment bound have 4 fields */
done:
	free(c), free(pw), free(nn), free(meta);
	return rc;
}

/* ---- running gnuplot ---- */

static int run_gnuplot(const char *script, const char *assign, int verbose)
{
	if (verbose)
		fprintf(stderr, "gnuplot -e \"%s\" %s\n", assign, script);
	int pe[2];
	if (pipe(pe))
		return cli_error("plot", "cannot start gnuplot: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		return cli_error("plot", "cannot start gnuplot: %s", strerror(errno));
	if (pid == 0) {
		dup2(pe[1], 2);
		dup2(pe[1], 1);
		close(pe[0]), close(pe[1]);
		execlp("gnuplot", "gnuplot", "-e", assign, script, (char *)NULL);
		_exit(127);
	}
	close(pe[1]);
	size_t cap = 1 << 16, mn = 0;
	char *msg = malloc(cap);
	ssize_t k;
	char sink[4096];
	while ((k = read(pe[0], msg && mn < cap - 1 ? msg + mn : sink,
			 msg && mn < cap - 1 ? cap - 1 - mn : sizeof sink)) > 0)
		if (msg && mn < cap - 1)
			mn += (size_t)k;
	close(pe[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
		free(msg);
		fprintf(stderr, "factprobe plot: gnuplot is not installed or not on PATH\n");
		cli_hint("install it with 'apt-get install gnuplot-nox' (or 'make deps')");
		return 1;
	}
	if (msg && mn) { /* gnuplot's messages, shown as they are */
		msg[mn] = 0;
		for (char *line = strtok(msg, "\n"); line; line = strtok(NULL, "\n"))
			if (*line)
				fprintf(stderr, "gnuplot: %s\n", line);
	}
	free(msg);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return cli_error("plot", "gnuplot failed on %s (its messages are above)", script);
	return 0;
}

/* the figure's numbers into tsv (its kind's k_ function), and the script's
 * variables into v; 0, or the exit status (tsv removed) */
static int write_data(plot_args *a, int kind, const char *tsv, vars *v)
{
	FILE *t = fopen(tsv, "w");
	if (!t)
		return cli_error("plot", "cannot write '%s': %s", tsv, strerror(errno));
	fprintf(t, "# factprobe plot %s %s -> %s\n", a->kind, a->input, a->out);
	fp_error err = {0};
	int rc;
	if (kind == 4 || kind == 5) {
		rc = kind == 4 ? k_heatmap(a, t, v, &err) : k_distribution(a, t, v, &err);
	} else {
		hid_t f = h5u_open(a->input, &err);
		if (f < 0) {
			fclose(t);
			unlink(tsv);
			return cli_error("plot", "%s", err.msg);
		}
		rc = kind == 0 ? k_dot(a, f, t, v, &err) : kind == 1 ? k_lens(a, f, t, v, &err)
		   : kind == 2 ? k_trace(a, f, t, v, &err) : kind == 3 ? k_top_neurons(a, f, t, v, &err)
								 : k_angles(a, f, t, v, &err);
		H5Fclose(f);
	}
	if (fclose(t) && !rc)
		rc = cli_error("plot", "cannot write '%s'", tsv);
	if (rc < 0)
		rc = cli_error("plot", "%s", err.msg);
	if (rc) {
		unlink(tsv);
		return 1;
	}
	return 0;
}

int cmd_plot(int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, 0, 'o'}, {"size", required_argument, 0, 'z'},
		{"value", required_argument, 0, 'V'}, {"prompt", required_argument, 0, 'P'},
		{"top", required_argument, 0, 'k'}, {"neurons", required_argument, 0, 'N'},
		{"neuron", required_argument, 0, 'n'}, {"group-by", required_argument, 0, 'g'},
		{"group", required_argument, 0, 'G'}, {"set", required_argument, 0, 'S'},
		{"verbose", no_argument, 0, 'v'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	plot_args a = {0};
	a.size = "column", a.top = 20;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': a.out = optarg; break;
		case 'z': a.size = optarg; break;
		case 'V':
			if (strcmp(optarg, "cos") && strcmp(optarg, "dot"))
				return cli_usage_error("plot", "--value takes cos or dot, not '%s'", optarg);
			a.value = optarg;
			break;
		case 'P':
			if (cli_parse_int("plot", "--prompt", optarg, 0, 1 << 30, &a.prompt))
				return 2;
			break;
		case 'k':
			if (cli_parse_int("plot", "--top", optarg, 1, 500, &a.top))
				return 2;
			break;
		case 'N': a.neurons = optarg; break;
		case 'n': a.neuron = optarg; break;
		case 'g': a.group_by = optarg; break;
		case 'G': a.group = optarg; break;
		case 'S': a.set = optarg; break;
		case 'v': a.verbose = 1; break;
		case 'h': fputs(HELP, stdout); return 0;
		default: return cli_bad_option("plot", c, argv);
		}
	}
	if (argc - optind != 2 || !a.out)
		return cli_usage_error("plot", "expects KIND INPUT -o FIG (e.g. plot trace trace.h5 -o trace.pdf)");
	a.kind = argv[optind], a.input = argv[optind + 1];
	static const char *KINDS[] = {"dot", "lens", "trace", "top-neurons", "heatmap", "distribution", "angles"};
	int kind = -1;
	for (int i = 0; i < 7; i++)
		if (!strcmp(a.kind, KINDS[i]))
			kind = i;
	if (kind < 0)
		return cli_usage_error("plot", "unknown kind '%s': dot, lens, trace, top-neurons, heatmap, distribution or angles",
				       a.kind);
	const char *ext = strrchr(a.out, '.');
	const char *term = !ext ? NULL : !strcmp(ext, ".pdf") ? "pdf" : !strcmp(ext, ".png") ? "png" : !strcmp(ext, ".svg") ? "svg"
		       : !strcmp(ext, ".tex") ? "tex" : NULL;
	if (!term)
		return cli_usage_error("plot", "'%s': the figure must end in .pdf, .png, .svg or .tex", a.out);
	if (strcmp(a.size, "column") && strcmp(a.size, "page")) {
		double w, h;
		char extra;
		if (sscanf(a.size, "%lf,%lf%c", &w, &h, &extra) != 2 || w < 0.5 || h < 0.5 || w > 40 || h > 40)
			return cli_usage_error("plot", "--size takes column, page or W,H in inches (e.g. 5,3), not '%s'", a.size);
	}
	char dir[4200], script[4300], style[4300], tsv[4096];
	fp_error derr = {0};
	if (plots_dir(dir, sizeof dir, &derr)) {
		cli_error("plot", "%s", derr.msg);
		cli_hint("set FACTPROBE_PLOTS to the plots/ directory of factprobe");
		return 1;
	}
	snprintf(script, sizeof script, "%s/%s.gp", dir, a.kind);
	snprintf(style, sizeof style, "%s/style.gp", dir);
	if (access(script, R_OK) || access(style, R_OK))
		return cli_error("plot", "cannot read '%s' (set FACTPROBE_PLOTS to the plots/ directory of factprobe)",
				 access(script, R_OK) ? script : style);
	snprintf(tsv, sizeof tsv, "%.*s.tsv", (int)(ext - a.out), a.out);
	vars v = {{0}, 0};
	int rc;
	if ((rc = write_data(&a, kind, tsv, &v)))
		return rc;
	var_s(&v, "fp_style", style);
	var_s(&v, "fp_out", a.out);
	var_s(&v, "fp_term", term);
	var_s(&v, "fp_data", tsv);
	if (strcmp(a.size, "column") && strcmp(a.size, "page")) {
		char sz[64];
		double w, h;
		sscanf(a.size, "%lf,%lf", &w, &h);
		snprintf(sz, sizeof sz, "%g %g", w, h);
		var_s(&v, "fp_size", sz);
	} else {
		var_s(&v, "fp_size", a.size);
	}
	if ((rc = run_gnuplot(script, v.buf, a.verbose)))
		return rc;
	struct stat sb;
	if (stat(a.out, &sb) || sb.st_size == 0)
		return cli_error("plot", "gnuplot wrote no '%s'", a.out);
	printf("wrote %s (%lld bytes) and its data %s\n", a.out, (long long)sb.st_size, tsv);
	return 0;
}
