/* cmd_dot.c - `factprobe dot`: dot product and cosine of each layer's
 * residual vector with a concept direction, for one prompt, a prompt set, or
 * a recording. */
#include "analysis.h"
#include "project.h"
#include "cli.h"
#include "progress.h"
#include "h5util.h"
#include "prompts.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char HELP[] =
	"usage: factprobe dot [-m MODEL] --direction D [--hook H] [--at all|last|subject-last|N]\n"
	"                     [--subject TEXT] [--multi mean|first] [--normalize]\n"
	"                     [--tsv | --json] [-o OUT.h5 [--force]]\n"
	"                     (PROMPT | -p PROMPTS | --from ACTS.h5)\n\n"
	"How strongly each layer's residual stream points along a concept direction:\n"
	"the dot product x.v and the cosine x.v/(|x||v|) of the hook's vector x at\n"
	"each layer with the direction v.\n\n"
	"Directions (the same syntax in every command; quotes around WORD are optional,\n"
	"a leading space is part of the token):\n"
	"  tok:\" basketball\"       the token's unembedding row (a word of several tokens\n"
	"                          is refused unless --multi mean|first)\n"
	"  emb:\"Michael Jordan\"    the mean input embedding of the text's tokens\n"
	"  neuron:L.N              what MLP neuron N of layer L writes (its W_out row)\n"
	"  neuron-in:L.N           what it reads (its W_in row; the up projection in a\n"
	"                          gated MLP, as TransformerLens names it)\n"
	"  mean-diff:A.txt,B.txt@HOOK  mean last-token activation of prompt set A minus\n"
	"                          that of B at HOOK; blocks.*.HOOK gives one vector per\n"
	"                          layer (a control vector), blocks.5.HOOK one vector\n"
	"  file:PATH.h5:/dataset   a vector [width] or one per layer [layers, width]\n"
	"Directions are used as they are unless --normalize scales them to unit\n"
	"length; the output says which (the cosine does not depend on it).\n\n"
	"      --skip-bad        warn about malformed lines of a prompt set (-p, mean-diff:)\n"
	"                        and go on, as 'record' does (default: stop at the first)\n"
	"  -q, --quiet           no progress over a prompt set (else on stderr: a bar on a\n"
	"                        terminal, a line every 5 s otherwise)\n"
	"  -m, --model PATH      model: GGUF file or Hugging Face checkpoint (dir or ORG/NAME)\n"
	"                        (default: $FACTPROBE_MODEL or the default model)\n"
	"  -d, --direction D     the direction (required)\n"
	"      --hook H          per-layer hook read (default blocks.*.hook_resid_post);\n"
	"                        any hook whose width is the direction's\n"
	"      --at WHERE        token positions: all (default for one prompt), last\n"
	"                        (default for -p), subject-last, or a token index N\n"
	"                        (negative: from the end)\n"
	"      --subject TEXT    the subject in PROMPT (for --at subject-last)\n"
	"  -p, --prompts FILE    a prompt set (.tsv/.jsonl/.txt as in 'record'): per\n"
	"                        layer the mean, std and count over prompts\n"
	"      --from ACTS.h5    a recording from 'factprobe record' holding the hook:\n"
	"                        per layer over all its recorded rows, no model run\n"
	"                        (the model is still read for tok:, emb: and neuron:)\n"
	"      --multi M         a multi-token tok: word: mean of its rows, or first\n"
	"      --normalize       scale the direction to unit length\n"
	"      --tsv, --json     machine-readable output (default: a table; for one prompt\n"
	"                        at every position, a grid of cosines, layers by tokens,\n"
	"                        each column headed by its token cut to 7 columns)\n"
	"  -o, --output OUT.h5   also write the numbers to HDF5 (datasets dot, cos,\n"
	"                        norm [layers, positions] or mean_dot, std_dot,\n"
	"                        mean_cos, std_cos, n [layers]; attributes say what)\n"
	"      --force           replace OUT.h5 if it exists\n"
	"  -h, --help            this help\n\n"
	"example: factprobe dot \"Michael Jordan plays the sport of\" --at last \\\n"
	"             --direction 'tok:\" basketball\"'\n";

typedef struct dot_run {
	/* options */
	const char *dir_spec, *hook, *subject, *prompts, *from, *out;
	int fmt, multi, normalize, force, quiet, at, at_pos, single;
	/* the model, hook and direction */
	fp_model *m;
	an_dir *dir;
	int kind, hl, l0, l1, nl, W;
	char hname[128];
	double vnorm;
	/* one prompt: dot, cos, norm [nl][npos] */
	char *text;
	size_t len; /* text's bytes (a prompt from stdin may hold a NUL) */
	int32_t *ids;
	int n, npos, *poslist;
	double *dots, *coss, *norms;
	/* a prompt set or a recording: per layer */
	pj_layer *A;
} dot_run;

static void hook_label(int kind, int layer, char *buf, size_t n)
{
	char t[96];
	fp_hook_name(kind, layer < 0 ? 0 : layer, t, sizeof t);
	if (layer < 0)
		snprintf(buf, n, "blocks.*.%s", t + strlen("blocks.0."));
	else
		snprintf(buf, n, "%s", t);
}

/* the hook and the direction, checked against each other */
static int setup(dot_run *d)
{
	fp_error err = {0};
	int L = d->m->cfg.n_layers;
	if (cli_parse_hook_pattern("dot", d->m, d->hook, &d->kind, &d->hl))
		return 2;
	d->W = fp_hook_width(d->m, d->kind);
	hook_label(d->kind, d->hl, d->hname, sizeof d->hname);
	if (an_dir_parse(d->m, d->dir_spec, d->multi, d->normalize, &d->dir, &err))
		return cli_error("dot", "--direction: %s", err.msg);
	if (d->dir->width != d->W)
		return cli_error("dot", "the direction has %d dimensions but %s has %d; pick a hook of the direction's "
					"space (--hook)", d->dir->width, d->hname, d->W);
	d->l0 = d->hl < 0 ? 0 : d->hl, d->l1 = d->hl < 0 ? L : d->hl + 1, d->nl = d->l1 - d->l0;
	for (int l = d->l0; l < d->l1; l++)
		if (!an_dir_at(d->dir, l))
			return cli_error("dot", "the direction has no vector for layer %d", l);
	const float *v = an_dir_at(d->dir, d->l0);
	for (int k = 0; k < d->W; k++)
		d->vnorm += (double)v[k] * v[k];
	d->vnorm = sqrt(d->vnorm);
	if (!d->single && !(d->A = calloc((size_t)d->nl, sizeof *d->A)))
		return cli_error("dot", "out of memory");
	return 0;
}

static int run_single(dot_run *d, const char *prompt_arg)
{
	fp_error err = {0};
	int s0 = -1, s1 = -1, n;
	if (!(d->text = cli_text_arg("dot", prompt_arg, &d->len)))
		return 1;
	if (fp_tokenize(d->m->tok, d->text, d->len, -1, &d->ids, &d->n, &err))
		return cli_error("dot", "%s", err.msg);
	if ((n = d->n) == 0)
		return cli_error("dot", "the prompt is empty (no tokens)");
	if (d->subject && an_subject_span(d->m, d->text, d->subject, d->ids, n, ps_has_bos(d->m, d->ids, n, -1), &s0, &s1))
		return cli_error("dot", "--subject '%s' does not occur in the prompt", d->subject);
	if (!(d->poslist = malloc((size_t)n * sizeof *d->poslist)))
		return cli_error("dot", "out of memory");
	if (d->at == AT_ALL) {
		for (int t = 0; t < n; t++)
			d->poslist[d->npos++] = t;
	} else if ((d->poslist[d->npos++] = cli_at_position("dot", d->at, d->at_pos, n, s1)) < 0) {
		return 1;
	}
	size_t k = (size_t)d->nl * d->npos;
	d->dots = malloc(k * sizeof *d->dots), d->coss = malloc(k * sizeof *d->coss), d->norms = malloc(k * sizeof *d->norms);
	if (!d->dots || !d->coss || !d->norms)
		return cli_error("dot", "out of memory");
	if (pj_prompt(d->m, d->ids, n, d->kind, d->dir, d->l0, d->l1, d->poslist, d->npos, d->dots, d->coss, d->norms, &err))
		return cli_error("dot", "%s", err.msg);
	return 0;
}

static int run_recording(dot_run *d)
{
	fp_error err = {0};
	h5rec_in *rec = NULL;
	h5rec_meta mt;
	int L = d->m->cfg.n_layers, rc = 0;
	if (h5rec_open(&rec, d->from, &mt, &err))
		return cli_error("dot", "%s", err.msg);
	if (mt.n_layers != L || mt.d_model != d->m->cfg.d_model)
		rc = cli_error("dot", "'%s' was recorded from a model with %d layers of width %d, not this one (%d, %d)",
			       d->from, mt.n_layers, mt.d_model, L, d->m->cfg.d_model);
	else if (pj_recording(rec, &mt, d->kind, d->dir, d->l0, d->l1, d->A, &err))
		rc = cli_error("dot", "%s", err.msg);
	h5rec_in_close(rec);
	return rc;
}

static int run_prompts(dot_run *d)
{
	fp_error err = {0};
	prompt_reader *pr = NULL;
	const fp_model *m = d->m;
	if (prompts_open(&pr, d->prompts, &err))
		return cli_error("dot", "%s", err.msg);
	if (d->at == AT_SUBJECT_LAST && !prompts_has_subject(pr)) {
		prompts_close(pr);
		return cli_error("dot", "--at subject-last needs a 'subject' column in '%s'", d->prompts);
	}
	fp_prompt p;
	int r, rc = 0, n = 0;
	int32_t *ids = NULL;
	long done_p = 0;
	fp_progress pg;
	fp_progress_start(&pg, stderr, d->quiet, "dot", "prompts", NULL, prompts_count(d->prompts));
	while ((r = prompts_next(pr, &p, &err)) == 1) {
		fp_progress_update(&pg, done_p++, 0);
		free(ids), ids = NULL;
		if (fp_tokenize(m->tok, p.text, p.len, -1, &ids, &n, &err) || n == 0) {
			rc = cli_error("dot", "'%s' line %ld: %s", d->prompts, p.line, n ? err.msg : "no tokens");
			break;
		}
		int s0 = -1, s1 = -1, pa = 0, pb = n;
		if (d->at == AT_SUBJECT_LAST &&
		    an_subject_span(m, p.text, p.subject, ids, n, ps_has_bos(m, ids, n, -1), &s0, &s1)) {
			rc = cli_error("dot", "'%s' line %ld, field 'subject': not found in the prompt", d->prompts, p.line);
			break;
		}
		if (d->at != AT_ALL) {
			if (ps_at_position(d->at, d->at_pos, n, s1, &pa, &err)) {
				rc = cli_error("dot", "'%s' line %ld: %s", d->prompts, p.line, err.msg);
				break;
			}
			pb = pa + 1;
		}
		if (pj_prompt_add(d->m, ids, n, d->kind, d->dir, d->l0, d->l1, pa, pb, d->A, &err)) {
			rc = cli_error("dot", "%s", err.msg);
			break;
		}
	}
	free(ids);
	if (!rc && r >= 0)
		fp_progress_end(&pg, done_p, 0);
	if (r < 0)
		rc = cli_error("dot", "%s", err.msg);
	prompts_close(pr);
	if (!rc && d->A[0].dot.n == 0)
		rc = cli_error("dot", "'%s' holds no prompts", d->prompts);
	return rc;
}

/* one prompt: a row per layer and position read */
static const tb_col ONE[] = {
	{"layer", "layer", TB_INT, "%5d", 0, NULL, 0, NULL},      {"position", "position", TB_INT, NULL, 0, NULL, 0, NULL},
	{"token", "token", TB_STR, NULL, 1, NULL, 0, NULL},       {"dot", "dot", TB_REAL, " %12.4f", 0, NULL, 0, NULL},
	{"cos", "cos", TB_REAL, " %9.4f", 0, NULL, 0, NULL},      {"norm", "norm", TB_REAL, " %10.3f", 0, "|x|", 0, NULL},
};
/* a prompt set or a recording: a row per layer (std null/nan below 2 values) */
static const tb_col SET[] = {
	{"layer", "layer", TB_INT, "%5d", 0, NULL, 0, NULL},
	{"n", "n", TB_INT, " %7d", 0, NULL, 0, NULL},
	{"mean_dot", "mean_dot", TB_REAL, " %12.4f", 0, "mean dot", 0, NULL},
	{"std_dot", "std_dot", TB_REAL, " %10.4f", 0, "std", 0, NULL},
	{"mean_cos", "mean_cos", TB_REAL, " %9.4f", 0, "mean cos", 0, NULL},
	{"std_cos", "std_cos", TB_REAL, " %8.4f", 0, "std", 0, NULL},
};

/* one prompt, every position, as text: the cosines as a layer x token grid,
 * a column per position headed by its token (cut to 7 columns, a space as _) */
static void grid_table(tb_doc *o, const dot_run *d)
{
	tb_col *cols = calloc((size_t)d->npos + 1, sizeof *cols);
	char(*lab)[32] = calloc((size_t)d->npos, sizeof *lab), tb[256];
	if (!cols || !lab) {
		free(cols), free(lab);
		return;
	}
	cols[0] = (tb_col){NULL, NULL, TB_INT, "%5d", 0, "layer", 0, NULL};
	for (int i = 0; i < d->npos; i++) {
		tb_label(lab[i], sizeof lab[i], tb, cli_token_bytes(d->m, d->ids[d->poslist[i]], tb, sizeof tb), 7);
		cols[i + 1] = (tb_col){NULL, NULL, TB_REAL, " %7.4f", 0, lab[i], 0, NULL};
	}
	tb_table t;
	tb_doc_table(o, &t, cols, d->npos + 1, 1);
	for (int l = d->l0; l < d->l1; l++) {
		tb_int(&t, l);
		for (int i = 0; i < d->npos; i++)
			tb_real(&t, d->coss[(size_t)(l - d->l0) * d->npos + i]);
	}
	tb_end(&t);
	free(cols), free(lab);
}

/* a row per layer: of each position read (one prompt), or over the prompts */
static void rows_table(tb_doc *o, const dot_run *d)
{
	tb_table t;
	tb_doc_table(o, &t, d->single ? ONE : SET, 6, 1);
	for (int l = d->l0; l < d->l1; l++) {
		if (!d->single) {
			const pj_layer *a = &d->A[l - d->l0];
			tb_int(&t, l), tb_int(&t, (long long)a->dot.n);
			tb_real(&t, st_acc_mean(&a->dot)), tb_real(&t, st_acc_sd(&a->dot));
			tb_real(&t, st_acc_mean(&a->cos)), tb_real(&t, st_acc_sd(&a->cos));
			continue;
		}
		for (int i = 0; i < d->npos; i++) {
			size_t k = (size_t)(l - d->l0) * d->npos + i;
			tb_int(&t, l), tb_int(&t, d->poslist[i]);
			cli_tb_token(&t, d->m, d->ids[d->poslist[i]]);
			tb_real(&t, d->dots[k]), tb_real(&t, d->coss[k]), tb_real(&t, d->norms[k]);
		}
	}
	tb_doc_set(o, "rows", tb_end(&t));
}

/* the text sentences before the table */
static void say_head(tb_doc *o, const dot_run *d)
{
	tb_say(o, "direction: %s, %s", d->dir->label, d->dir->normalized ? "normalised to unit length" : "not normalised");
	if (!d->dir->per_layer)
		tb_say(o, ", |v| = %.4g", d->vnorm);
	tb_say(o, "\nhook: %s\n", d->hname);
	if (d->single) {
		tb_say(o, "prompt ");
		tb_say_quoted(o, d->text, d->len);
	}
	if (d->single && d->npos == 1) {
		char tb[256];
		tb_say(o, " (%d tokens), position %d ", d->n, d->poslist[0]);
		tb_say_quoted(o, tb, cli_token_bytes(d->m, d->ids[d->poslist[0]], tb, sizeof tb));
		tb_say(o, "\n");
	} else if (d->single) {
		tb_say(o, " (%d tokens); cosine per layer (rows) and token (columns); dot products: --tsv or --json\n", d->n);
	} else {
		tb_say(o, "over %s (%s)\n", d->from ? d->from : d->prompts, d->from ? "all recorded rows" : ps_at_name(d->at));
	}
}

/* the result in d->fmt: text, TSV or JSON */
static void emit(const dot_run *d)
{
	tb_doc o;
	tb_doc_begin(&o, stdout, d->fmt);
	tb_doc_str(&o, "direction", d->dir->label);
	tb_doc_bool(&o, "normalized", d->dir->normalized);
	tb_doc_real(&o, "direction_norm", d->vnorm);
	tb_doc_str(&o, "hook", d->hname);
	if (d->single)
		tb_doc_strn(&o, "prompt", d->text, d->len);
	else {
		tb_doc_str(&o, "source", d->from ? d->from : d->prompts);
		tb_doc_str(&o, "at", d->from ? "recorded rows" : ps_at_name(d->at));
	}
	say_head(&o, d);
	if (d->fmt == FMT_TEXT && d->single && d->npos > 1)
		grid_table(&o, d); /* text: a grid instead of rows */
	else
		rows_table(&o, d);
	if (d->single && d->npos == 1 && d->nl >= 4) { /* coss[] is then one cosine a layer */
		int q = d->nl / 4;
		double a = 0, b = 0;
		for (int i = 0; i < q; i++)
			a += d->coss[i], b += d->coss[d->nl - q + i];
		tb_say(&o, "mean cos, first quarter (layers %d-%d): %.4f; last quarter (layers %d-%d): %.4f\n", d->l0,
		       d->l0 + q - 1, a / q, d->l1 - q, d->l1 - 1, b / q);
	}
	tb_doc_end(&o);
}

static int write_h5(const dot_run *d)
{
	fp_error err = {0};
	int nl = d->nl, npos = d->npos;
	hid_t f = h5u_create(d->out, d->force, &err);
	if (f < 0)
		return cli_error("dot", "%s", err.msg);
	int w = 0;
	size_t dl[1] = {(size_t)nl};
	int32_t *layers = malloc((size_t)nl * sizeof *layers);
	for (int l = d->l0; l < d->l1 && layers; l++)
		layers[l - d->l0] = l;
	w |= layers ? h5u_i32(f, "layer", 1, dl, layers) : -1;
	free(layers);
	if (d->single) {
		size_t d2[2] = {(size_t)nl, (size_t)npos}, dp[1] = {(size_t)npos};
		w |= h5u_f64(f, "dot", 2, d2, d->dots) | h5u_f64(f, "cos", 2, d2, d->coss) | h5u_f64(f, "norm", 2, d2, d->norms);
		int32_t *pid = malloc((size_t)npos * sizeof *pid), *pp = malloc((size_t)npos * sizeof *pp);
		char **tt = calloc((size_t)npos, sizeof *tt);
		for (int i = 0; i < npos && pid && pp && tt; i++) {
			pid[i] = d->ids[d->poslist[i]], pp[i] = d->poslist[i];
			tt[i] = cli_token_text(d->m, d->ids[d->poslist[i]]);
		}
		w |= pid && pp && tt ? h5u_i32(f, "position", 1, dp, pp) | h5u_i32(f, "token_id", 1, dp, pid) |
					       h5u_strs(f, "token", (size_t)npos, tt)
				     : -1;
		for (int i = 0; i < npos && tt; i++)
			free(tt[i]);
		free(tt), free(pid), free(pp);
		w |= h5u_attr_str(f, NULL, "prompt", d->text);
	} else {
		double *b = malloc((size_t)nl * 4 * sizeof *b);
		int32_t *cnt = malloc((size_t)nl * sizeof *cnt);
		for (int l = 0; l < nl && b && cnt; l++) {
			const pj_layer *a = &d->A[l];
			b[l] = st_acc_mean(&a->dot), b[nl + l] = st_acc_sd(&a->dot);
			b[2 * nl + l] = st_acc_mean(&a->cos), b[3 * nl + l] = st_acc_sd(&a->cos);
			cnt[l] = (int32_t)a->dot.n;
		}
		w |= b && cnt ? h5u_f64(f, "mean_dot", 1, dl, b) | h5u_f64(f, "std_dot", 1, dl, b + nl) |
					h5u_f64(f, "mean_cos", 1, dl, b + 2 * nl) | h5u_f64(f, "std_cos", 1, dl, b + 3 * nl) |
					h5u_i32(f, "n", 1, dl, cnt)
			      : -1;
		free(b), free(cnt);
		w |= h5u_attr_str(f, NULL, "source", d->from ? d->from : d->prompts);
	}
	w |= cli_result_header(f, RES_DOT, d->m->gguf->path, &err) | h5u_attr_str(f, NULL, "direction", d->dir->label) |
	     h5u_attr_i64(f, NULL, "normalized", d->dir->normalized) | h5u_attr_str(f, NULL, "hook", d->hname) |
	     h5u_attr_str(f, NULL, "at", d->from ? "recorded rows" : ps_at_name(d->at));
	if (h5u_close(f, d->out, &err) || w)
		return cli_error("dot", "%s", w ? "cannot write the results to the HDF5 file" : err.msg);
	if (d->fmt == FMT_TEXT)
		printf("wrote %s\n", d->out);
	return 0;
}

int cmd_dot(int argc, char **argv)
{
	static const struct option opts[] = {
		{"model", required_argument, 0, 'm'}, {"direction", required_argument, 0, 'd'},
		{"hook", required_argument, 0, 'H'}, {"at", required_argument, 0, 'a'},
		{"subject", required_argument, 0, 's'}, {"prompts", required_argument, 0, 'p'},
		{"from", required_argument, 0, 'F'}, {"multi", required_argument, 0, 'M'},
		{"normalize", no_argument, 0, 'n'}, {"tsv", no_argument, 0, 'T'}, {"json", no_argument, 0, 'J'},
		{"output", required_argument, 0, 'o'}, {"force", no_argument, 0, 'f'}, {"help", no_argument, 0, 'h'},
		{"skip-bad", no_argument, 0, 'B'}, {"quiet", no_argument, 0, 'q'},
		{0, 0, 0, 0}};
	dot_run d = {.hook = "blocks.*.hook_resid_post", .fmt = FMT_TEXT};
	const char *model = NULL, *at_s = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:d:p:o:hq", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model = optarg; break;
		case 'd': d.dir_spec = optarg; break;
		case 'H': d.hook = optarg; break;
		case 'a': at_s = optarg; break;
		case 's': d.subject = optarg; break;
		case 'p': d.prompts = optarg; break;
		case 'F': d.from = optarg; break;
		case 'M':
			if (!strcmp(optarg, "mean")) d.multi = 1;
			else if (!strcmp(optarg, "first")) d.multi = 2;
			else return cli_usage_error("dot", "--multi takes mean or first, not '%s'", optarg);
			break;
		case 'n': d.normalize = 1; break;
		case 'T': d.fmt = FMT_TSV; break;
		case 'J': d.fmt = FMT_JSON; break;
		case 'o': d.out = optarg; break;
		case 'f': d.force = 1; break;
		case 'B': cli_skip_bad("dot"); break;
		case 'q': d.quiet = 1; break;
		case 'h': cli_help(HELP); return 0;
		default: return cli_bad_option("dot", c, argv);
		}
	}
	int n_src = (optind < argc) + (d.prompts != NULL) + (d.from != NULL);
	if (n_src != 1 || argc - optind > 1)
		return cli_usage_error("dot", "give one PROMPT, or -p PROMPTS, or --from ACTS.h5");
	if (!d.dir_spec)
		return cli_usage_error("dot", "--direction is required, e.g. --direction 'tok:\" basketball\"'");
	d.at = d.prompts ? AT_LAST : AT_ALL;
	if (at_s && cli_parse_at("dot", at_s, 0xf, &d.at, &d.at_pos))
		return 2;
	if (d.from && at_s)
		return cli_usage_error("dot", "--at does not apply to --from: a recording's rows are the positions "
					      "it recorded");
	if (d.out && !d.force && access(d.out, F_OK) == 0)
		return cli_error("dot", "'%s' exists; pass --force to replace it", d.out);
	if (!(d.m = cli_load_model("dot", model)))
		return 1;
	d.single = !d.prompts && !d.from;
	int rc = setup(&d);
	if (!rc)
		rc = d.single ? run_single(&d, argv[optind]) : d.from ? run_recording(&d) : run_prompts(&d);
	if (!rc) {
		emit(&d);
		if (d.out)
			rc = write_h5(&d);
	}
	cli_skip_bad_report("dot");
	free(d.text), free(d.ids), free(d.A), free(d.dots), free(d.coss), free(d.norms), free(d.poslist);
	an_dir_free(d.dir);
	fp_model_free(d.m);
	return rc;
}
