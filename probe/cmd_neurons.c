/* cmd_neurons.c - `factprobe neurons`: which MLP neurons matter for a fact.
 * Live on one prompt (activation, direct logit attribution, measured
 * ablation, weight alignment), or over a recording grouped by a column
 * (neurons selective for one group, checked on held-out prompts). */
#include "analysis.h"
#include "attrib.h"
#include "cli.h"
#include "select.h"
#include "stats.h"
#include "h5util.h"
#include "progress.h"
#include "prompts.h"

#include <cblas.h>
#include <getopt.h>

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char HELP[] =
	"usage: factprobe neurons [-m MODEL] --target TOKEN [--vs TOKEN] [--at last|subject-last|N]\n"
	"                         [--subject TEXT] [--rank act|dla|ablate|weights|atp|ig] [-k N]\n"
	"                         [--ablate zero|mean [--ref PROMPTS]] [--corrupt PROMPT]\n"
	"                         [--steps N] [--verify K] [--candidates N]\n"
	"                         [--compare-random N] [--seed S] [-q] [--tsv|--json] [-o OUT.h5] PROMPT\n"
	"       factprobe neurons --from ACTS.h5 --group-by FIELD [--group VALUE] [--stat d|auroc]\n"
	"                         [--holdout F] [--seed S] [-k N] [--tsv|--json]\n\n"
	"One prompt: ranks the MLP neurons of every layer at one token position by\n"
	"  act      the activation (blocks.L.mlp.hook_post), largest first;\n"
	"  dla      direct logit attribution to the target: act * (W_out row . w_ln * u)\n"
	"           / scale, with the final norm's scale frozen at that position as\n"
	"           TransformerLens does (u: the target's unembedding row, minus the\n"
	"           --vs token's row for a logit difference); at --at last this is the\n"
	"           neuron's direct share of the prediction's logit;\n"
	"  ablate   measured: log p(target) (or the logit difference with --vs) at the\n"
	"           last token, clean minus with the neuron's activation at --at\n"
	"           replaced (zero, or its mean over --ref); largest drop first.  Only\n"
	"           --candidates neurons are run (default 100: the largest |dla| at\n"
	"           --at last, else the largest |act|), the rest show nan;\n"
	"  weights  cos(the MLP's normalised input at that position, W_in row) *\n"
	"           cos(W_out row, w_ln * u): the neuron reads the subject and writes\n"
	"           the target;\n"
	"  atp      attribution patching (Nanda 2023; Kramar et al. 2024): (act - ref) *\n"
	"           d metric / d act from one forward and one backward pass, every\n"
	"           neuron of every layer at once: a first-order estimate of the ablate\n"
	"           score.  ref is zero, the --ref mean (--ablate mean), or the\n"
	"           neuron's activation on --corrupt PROMPT (same token count);\n"
	"  ig       integrated gradients (Sundararajan et al. 2017; knowledge neurons,\n"
	"           Dai et al. 2022) from the same baseline ref: (act - ref) times the\n"
	"           gradient integrated along the straight path (--steps-point\n"
	"           Gauss-Legendre quadrature), every layer's neurons at --at moved\n"
	"           along it together (each an input of its own: no gradient through\n"
	"           later layers' neurons).  The attributions add up to metric(clean)\n"
	"           - metric(every layer's neurons at --at set to ref); the output\n"
	"           prints both (the gap shows whether --steps is enough).\n"
	"           atp and ig are shown in a column of their own; --verify K measures\n"
	"           the ablate score of the top K beside them.  Attribution patching\n"
	"           is a poor guide where effects are large or attention saturates.\n"
	"Every row shows all four scores and the tokens the neuron promotes most at\n"
	"this activation (sign(act) * W_out row through the final norm weight and the\n"
	"unembedding).\n\n"
	"  -t, --target TOKEN    the answer token, e.g. ' basketball' (required)\n"
	"      --vs TOKEN        a contrast token: scores become logit differences\n"
	"      --at WHERE        last (default), subject-last, or a token index\n"
	"      --subject TEXT    the subject in PROMPT (for --at subject-last)\n"
	"      --rank R          act, dla (default), ablate, weights, atp or ig\n"
	"      --corrupt PROMPT  atp/ig reference: the activations on this prompt\n"
	"      --steps N         ig quadrature points on the path (default 20)\n"
	"      --verify K        atp/ig: also measure the ablation (to ref) of the top K\n"
	"  -k, --top N           neurons listed (default 20)\n"
	"      --ablate zero|mean  how --rank ablate and --compare-random ablate (default zero)\n"
	"      --ref PROMPTS     reference prompt set for --ablate mean (mean over all tokens)\n"
	"      --candidates N    neurons actually ablated for --rank ablate (0: all; slow)\n"
	"      --compare-random N  also ablate the top k together, and N draws of k random\n"
	"                        neurons from the same layers, and report both\n"
	"      --seed S          random seed (default 1)\n"
	"  -q, --quiet           no progress report (--rank ablate, --verify and\n"
	"                        --compare-random report theirs on stderr)\n"
	"  -o, --output OUT.h5   also write HDF5: per-layer score arrays act, dla, ablate,\n"
	"                        w_in_cos, w_out_cos (and atp or ig) [layers, d_mlp], and\n"
	"                        the ranking\n"
	"      --force           replace OUT.h5\n\n"
	"Over a recording (--from; needs blocks.L.mlp.hook_post, one row per prompt is\n"
	"used: each prompt's last recorded row, so record with --positions\n"
	"subject-last or last):\n"
	"      --group-by FIELD  a per-prompt column: target, relation, subject or id\n"
	"      --group VALUE     the group to find neurons for (leading/trailing spaces\n"
	"                        ignored); default: every group\n"
	"      --stat d|auroc    the ranking statistic on the training split: d = (mean in\n"
	"                        group - mean of the rest) / pooled std (default), or the\n"
	"                        AUROC of the activation for group vs rest\n"
	"      --holdout F       fraction of each group held out (default 0.3); the top\n"
	"                        neurons' AUROC on the held-out prompts is reported, alone\n"
	"                        and as the mean of their z-scores, with a standard error\n"
	"                        (Hanley-McNeil); 0.5 is chance\n\n"
	"  -m, --model PATH      GGUF or HF checkpoint;  --tsv, --json  machine-readable output\n"
	"  -h, --help            this help\n\n"
	"examples:\n"
	"  factprobe neurons --target ' basketball' --compare-random 20 \\\n"
	"      $'Q: What sport does Michael Jordan play?\\nA: This athlete plays the sport of'\n"
	"  factprobe neurons --from athletes.h5 --group-by target --group basketball\n";

enum { R_ACT, R_DLA, R_ABLATE, R_WEIGHTS, R_ATP, R_IG, R_COUNT };
static const char *RANK_NAME[] = {"act", "dla", "ablate", "weights", "atp", "ig"};

/* ---- live mode ---- */

typedef struct live_opts {
	const char *model, *target_s, *vs_s, *subject, *ref, *out, *corrupt;
	int at, at_pos, rank, k, ablate_mean, candidates, compare_random, fmt, force, steps, verify, quiet;
	uint64_t seed;
} live_opts;

/* one prompt's neuron scores, ranking and ablations */
typedef struct live_res {
	fp_model *m;
	char *text;
	size_t len;
	int32_t *ids;
	int n, pos, target, vs, k, NF;
	float *act, *dla, *abl, *win, *wout, *wsc, *refm; /* [L][F] */
	int *order;                                       /* [NF] by the ranking */
	double clean;
	an_random_cmp cmp;       /* --compare-random (cmp.effects NULL without) */
	float *est;              /* [L][F] atp or ig, or NULL */
	const char *est_name;    /* "atp", "ig" or NULL */
	const char *ref_name;    /* the ablation: "zero", "mean" or "corrupt" */
	double ig_in, ig_base;   /* ig: the metric at both ends of the path */
} live_res;

static void live_free(live_res *r)
{
	free(r->text), free(r->ids), free(r->act), free(r->dla), free(r->abl), free(r->win), free(r->wout), free(r->wsc);
	free(r->refm), free(r->order), free(r->est);
	an_random_cmp_free(&r->cmp);
	fp_model_free(r->m);
}

/* the prompt, the target and the position read */
static int live_setup(const live_opts *o, live_res *r, const char *prompt_arg)
{
	fp_error err = {0};
	int s0 = -1, s1 = -1;
	if (!(r->text = cli_text_arg("neurons", prompt_arg, &r->len)) || !(r->m = cli_load_model("neurons", o->model)))
		return 1;
	fp_model *m = r->m;
	r->NF = m->cfg.n_layers * m->cfg.d_mlp, r->target = r->vs = -1;
	if (an_target_token(m, o->target_s, 0, &r->target, &err))
		return cli_error("neurons", "--target: %s", err.msg);
	if (o->vs_s && an_target_token(m, o->vs_s, 0, &r->vs, &err))
		return cli_error("neurons", "--vs: %s", err.msg);
	if (fp_tokenize(m->tok, r->text, r->len, -1, &r->ids, &r->n, &err))
		return cli_error("neurons", "%s", err.msg);
	if (r->n == 0)
		return cli_error("neurons", "the prompt is empty (no tokens)");
	if (o->subject && an_subject_span(m, r->text, o->subject, r->ids, r->n, ps_has_bos(m, r->ids, r->n, -1), &s0, &s1))
		return cli_error("neurons", "--subject '%s' does not occur in the prompt", o->subject);
	if ((r->pos = cli_at_position("neurons", o->at, o->at_pos, r->n, s1)) < 0)
		return 1;
	if (o->ablate_mean) {
		r->refm = malloc((size_t)r->NF * sizeof *r->refm);
		if (!r->refm || an_mean_mlp_post(m, o->ref, r->refm, &err))
			return cli_error("neurons", "--ref: %s", r->refm ? err.msg : "out of memory");
	}
	r->ref_name = o->ablate_mean ? "mean" : "zero";
	if (o->corrupt) { /* the reference: the activations on the corrupted prompt */
		int32_t *cids = NULL;
		int cn = 0, crc;
		r->ref_name = "corrupt";
		if (!(r->refm = malloc((size_t)r->NF * sizeof *r->refm)))
			return cli_error("neurons", "out of memory");
		if (fp_tokenize(m->tok, o->corrupt, strlen(o->corrupt), -1, &cids, &cn, &err))
			return cli_error("neurons", "--corrupt: %s", err.msg);
		if (cn != r->n)
			crc = cli_error("neurons", "--corrupt has %d tokens, the prompt %d: they must align token for token", cn,
					r->n);
		else if ((crc = at_mlp_post_at(m, cids, cn, r->pos, r->refm, &err)))
			crc = cli_error("neurons", "--corrupt: %s", err.msg);
		free(cids);
		return crc;
	}
	return 0;
}

/* attribution patching or integrated gradients of every neuron */
static int live_grad(const live_opts *o, live_res *r)
{
	fp_error err = {0};
	fp_metric mt = {r->vs >= 0 ? FP_METRIC_LOGIT_DIFF : FP_METRIC_LOGPROB, r->target, r->vs, -1};
	double clean;
	r->est_name = RANK_NAME[o->rank];
	if (!(r->est = malloc((size_t)r->NF * sizeof *r->est)))
		return cli_error("neurons", "out of memory");
	int rc = o->rank == R_ATP
			 ? at_neurons_atp(r->m, r->ids, r->n, &mt, r->pos, r->refm, NULL, r->est, &clean, &err)
			 : at_neurons_ig(r->m, r->ids, r->n, &mt, r->pos, r->refm, o->steps, r->est, &r->ig_in, &r->ig_base, &err);
	return rc ? cli_error("neurons", "%s", err.msg) : 0;
}

static void ablate_progress(void *user, long done, long total)
{
	if (done < total) /* the last line is fp_progress_end's */
		fp_progress_update(user, done, 0);
}

/* an_ablate_each of the first n neurons of r->order into r->abl, with the
 * progress report every long command gives */
static int ablate_each(const live_opts *o, live_res *r, int n, fp_error *err)
{
	fp_progress pg;
	an_progress ap = {ablate_progress, &pg};
	fp_progress_start(&pg, stderr, o->quiet, "neurons", "neurons ablated", NULL, n);
	int rc = an_ablate_each(r->m, r->ids, r->n, r->pos, r->order, n, r->refm, r->target, r->vs, r->clean, r->abl, &ap,
				err);
	if (!rc)
		fp_progress_end(&pg, n, 0);
	return rc;
}

/* scores, the ranking, and the ablations asked for */
static int live_compute(const live_opts *o, live_res *r)
{
	fp_model *m = r->m;
	fp_error err = {0};
	int NF = r->NF, n = r->n, V = m->cfg.n_vocab;
	an_run run = {0};
	r->act = malloc((size_t)NF * sizeof *r->act), r->dla = malloc((size_t)NF * sizeof *r->dla);
	r->abl = malloc((size_t)NF * sizeof *r->abl), r->win = malloc((size_t)NF * sizeof *r->win);
	r->wout = malloc((size_t)NF * sizeof *r->wout), r->wsc = malloc((size_t)NF * sizeof *r->wsc);
	r->order = malloc((size_t)NF * sizeof *r->order);
	if (!r->act || !r->dla || !r->abl || !r->win || !r->wout || !r->wsc || !r->order)
		return cli_error("neurons", "out of memory");
	if (an_run_prompt(m, r->ids, n, AN_RESID | AN_RESID_MID | AN_MLP_POST | AN_LOGITS, &run, &err))
		return cli_error("neurons", "%s", err.msg);
	const float *lg = run.logits + (size_t)(n - 1) * V;
	r->clean = r->vs >= 0 ? (double)lg[r->target] - lg[r->vs] : an_logprob(lg, V, r->target, NULL);
	an_neuron_scores(m, &run, r->pos, r->target, r->vs, r->act, r->dla, r->win, r->wout);
	an_run_free(&run);
	for (int i = 0; i < NF; i++)
		r->wsc[i] = r->win[i] * r->wout[i], r->abl[i] = NAN;
	if (o->rank == R_ABLATE) { /* candidates by |DLA| (|act| away from the last position), then measured */
		int n_cand = o->candidates == 0 || o->candidates > NF ? NF : o->candidates;
		st_order_desc(r->pos == n - 1 ? r->dla : r->act, NF, 1, r->order);
		if (ablate_each(o, r, n_cand, &err))
			return cli_error("neurons", "%s", err.msg);
	}
	if ((o->rank == R_ATP || o->rank == R_IG) && live_grad(o, r))
		return 1;
	const float *key = o->rank == R_ACT ? r->act : o->rank == R_DLA ? r->dla : o->rank == R_ABLATE ? r->abl
											 : r->est ? r->est : r->wsc;
	st_order_desc(key, NF, 0, r->order);
	r->k = o->k < NF ? o->k : NF;
	if (r->est && o->verify > 0 && /* the estimates' top K, measured */
	    ablate_each(o, r, o->verify < NF ? o->verify : NF, &err))
		return cli_error("neurons", "%s", err.msg);
	if (o->compare_random > 0) { /* the top k ablated together, against random draws from the same layers */
		int R = o->compare_random;
		fp_progress pg;
		an_progress ap = {ablate_progress, &pg};
		fp_progress_start(&pg, stderr, o->quiet, "neurons", "groups ablated (the top k, then random draws)", NULL,
				  R + 1);
		if (an_compare_random(m, r->ids, n, r->pos, r->order, r->k, R, o->seed, r->refm, r->target, r->vs, r->clean,
				      &r->cmp, &ap, &err))
			return cli_error("neurons", "%s", err.msg);
		fp_progress_end(&pg, R + 1, 0);
	}
	return 0;
}

/* the 3 tokens neuron i promotes: quoted and space-separated into f, or
 * (f NULL) as a JSON array of their texts */
static json_t *promotes(const live_res *r, int i, FILE *f)
{
	int F = r->m->cfg.d_mlp, pro[3] = {0, 0, 0};
	char tb[256];
	json_t *a = f ? NULL : json_array();
	an_promotes(r->m, i / F, i % F, r->act[i], 3, pro);
	for (int q = 0; q < 3; q++) {
		size_t n = cli_token_bytes(r->m, pro[q], tb, sizeof tb);
		if (f) {
			if (q)
				fputc(' ', f);
			tb_print_quoted(f, tb, n);
		} else {
			char *t = tb_utf8_clean(tb, n);
			json_array_append_new(a, json_string(t ? t : ""));
			free(t);
		}
	}
	return a;
}

static const char *live_metric(const live_res *r)
{
	return r->vs >= 0 ? "logit difference" : "log p(target)";
}

/* a token, quoted (text) */
static void say_token(tb_doc *d, const fp_model *m, int id)
{
	char tb[256];
	tb_say_quoted(d, tb, cli_token_bytes(m, id, tb, sizeof tb));
}

/* the facts before the table: JSON keys, text sentences */
static void live_head(tb_doc *d, const live_opts *o, const live_res *r)
{
	const char *metric = live_metric(r);
	char tb[256];
	tb_doc_strn(d, "prompt", r->text, r->len);
	tb_doc_strn(d, "target", tb, cli_token_bytes(r->m, r->target, tb, sizeof tb));
	if (r->vs >= 0)
		tb_doc_strn(d, "vs", tb, cli_token_bytes(r->m, r->vs, tb, sizeof tb));
	tb_doc_int(d, "position", r->pos);
	tb_doc_str(d, "rank_by", RANK_NAME[o->rank]);
	tb_doc_str(d, "metric", metric);
	tb_doc_real(d, "clean", r->clean);
	tb_doc_str(d, "ablation", r->ref_name);
	tb_say(d, "prompt ");
	tb_say_quoted(d, r->text, r->len);
	tb_say(d, " (%d tokens)\nposition %d ", r->n, r->pos);
	say_token(d, r->m, r->ids[r->pos]);
	tb_say(d, "; target ");
	say_token(d, r->m, r->target);
	if (r->vs >= 0) {
		tb_say(d, " vs ");
		say_token(d, r->m, r->vs);
		tb_say(d, "; clean logit difference %.4f\n", r->clean);
	} else {
		tb_say(d, "; clean p = %.4f (log p %.4f)\n", exp(r->clean), r->clean);
	}
	if (r->est)
		tb_say(d, "ranked by %s (%s reference); ablate = clean - ablated %s, measured for the top %d (--verify)\n",
		       r->est_name, r->ref_name, metric, o->verify);
	else
		tb_say(d, "ranked by %s; ablate = clean - ablated %s (%s ablation%s)\n", RANK_NAME[o->rank], metric,
		       r->refm ? "mean" : "zero", o->rank == R_ABLATE ? "" : ", only with --rank ablate");
	if (o->rank == R_IG) {
		double sum = 0;
		for (int i = 0; i < r->NF; i++)
			sum += r->est[i];
		tb_doc_real(d, "ig_sum", sum);
		tb_doc_real(d, "ig_metric_clean", r->ig_in);
		tb_doc_real(d, "ig_metric_baseline", r->ig_base);
		tb_say(d, "ig: the %d attributions add up to %.4f; measured, clean - baseline (every layer's neurons at the "
			  "position set to the reference) = %.4f - %.4f = %.4f (%d steps)\n",
		       r->NF, sum, r->ig_in, r->ig_base, r->ig_in - r->ig_base, o->steps);
	}
	tb_say(d, "%4s %10s %9s %9s %9s %7s %7s %8s%s%9s  promotes\n", "rank", "neuron", "act", "dla", "ablate", "w_in",
	       "w_out", "weights", r->est ? "  " : "", r->est ? r->est_name : "");
}

/* the columns, with atp or ig's where ranked by them (JSON: after ablate;
 * TSV and text: after weights) */
static int live_cols(const live_res *r, tb_col *c)
{
	static const tb_col head[] = {
		{"rank", NULL, TB_INT, "%4d", 0, NULL, 0, NULL},
		{"layer", "layer", TB_INT, NULL, 0, NULL, 0, NULL},
		{"neuron", "neuron", TB_INT, NULL, 0, NULL, 0, NULL},
		{NULL, NULL, TB_STR, " %10s", 0, NULL, 1, NULL}, /* text: L.N */
		{"act", "act", TB_REAL, " %9.4f", 0, NULL, 0, NULL},
		{"dla", "dla", TB_REAL, " %9.4f", 0, NULL, 0, NULL},
		{"ablate", "ablate", TB_REAL, " %9.4f", 0, NULL, 0, NULL},
	}, tail[] = {
		{"w_in_cos", "w_in_cos", TB_REAL, " %7.3f", 0, NULL, 0, NULL},
		{"w_out_cos", "w_out_cos", TB_REAL, " %7.3f", 0, NULL, 0, NULL},
		{"weights", "weights", TB_REAL, " %8.4f  ", 0, NULL, 0, NULL},
	}, pro[] = {
		{"promotes", NULL, TB_STR, "%s", 0, NULL, 1, NULL},
		{NULL, "promotes", TB_NEST, NULL, 0, NULL, 0, NULL},
	};
	int n = 0;
	for (size_t i = 0; i < sizeof head / sizeof *head; i++)
		c[n++] = head[i];
	if (r->est)
		c[n++] = (tb_col){NULL, r->est_name, TB_REAL, NULL, 0, NULL, 0, NULL};
	for (size_t i = 0; i < sizeof tail / sizeof *tail; i++)
		c[n++] = tail[i];
	if (r->est)
		c[n++] = (tb_col){r->est_name, NULL, TB_REAL, "%9.4f  ", 0, NULL, 0, NULL};
	c[n++] = pro[0], c[n++] = pro[1];
	return n;
}

/* the result in o->fmt: text, TSV or JSON */
static void live_emit(const live_opts *o, const live_res *r)
{
	int F = r->m->cfg.d_mlp;
	tb_col cols[16];
	tb_doc d;
	tb_table t;
	tb_doc_begin(&d, stdout, o->fmt);
	live_head(&d, o, r);
	tb_doc_table(&d, &t, cols, live_cols(r, cols), 0);
	for (int j = 0; j < r->k; j++) {
		int i = r->order[j];
		char nm[24], *ps = NULL;
		size_t pn = 0;
		snprintf(nm, sizeof nm, "%d.%d", i / F, i % F);
		tb_int(&t, j + 1), tb_int(&t, i / F), tb_int(&t, i % F), tb_str(&t, nm, strlen(nm));
		tb_real(&t, r->act[i]), tb_real(&t, r->dla[i]), tb_real(&t, r->abl[i]);
		if (r->est)
			tb_real(&t, r->est[i]);
		tb_real(&t, r->win[i]), tb_real(&t, r->wout[i]), tb_real(&t, r->wsc[i]);
		if (r->est)
			tb_real(&t, r->est[i]);
		if (o->fmt != FMT_JSON) { /* the quoted tokens as one cell */
			FILE *f = open_memstream(&ps, &pn);
			if (f)
				promotes(r, i, f), fclose(f);
		}
		tb_str(&t, ps ? ps : "", ps ? pn : 0);
		tb_json(&t, o->fmt == FMT_JSON ? promotes(r, i, NULL) : NULL);
		free(ps);
	}
	tb_doc_set(&d, "neurons", tb_end(&t));
	if (r->cmp.effects) {
		const an_random_cmp *c = &r->cmp;
		tb_doc_open(&d, "compare_random");
		tb_doc_int(&d, "k", r->k);
		tb_doc_real(&d, "top_effect", c->top_effect);
		tb_doc_real(&d, "random_mean", c->draws.mean);
		tb_doc_real(&d, "random_std", c->draws.sd);
		tb_doc_set(&d, "random_effects", tb_json_reals(c->effects, (size_t)o->compare_random));
		tb_doc_close(&d);
		tb_say(&d, "ablating the top %d together (%s): %s drops by %.4f (p %.4f -> %.4f); %d random draws of %d "
			   "neurons from the same layers: mean drop %.4f, std %.4f, min %.4f, max %.4f\n",
		       r->k, r->refm ? "mean" : "zero", live_metric(r), c->top_effect, exp(r->clean),
		       r->vs >= 0 ? NAN : exp(c->top_metric), o->compare_random, r->k, c->draws.mean, c->draws.sd, c->draws.min,
		       c->draws.max);
	}
	tb_doc_end(&d);
}

static int live_h5(const live_opts *o, const live_res *r)
{
	fp_error err = {0};
	int L = r->m->cfg.n_layers, F = r->m->cfg.d_mlp, k = r->k;
	hid_t f = h5u_create(o->out, o->force, &err);
	if (f < 0)
		return cli_error("neurons", "%s", err.msg);
	size_t d2[2] = {(size_t)L, (size_t)F}, dk[1] = {(size_t)k};
	int32_t *rl = malloc((size_t)k * sizeof *rl), *rn = malloc((size_t)k * sizeof *rn);
	int w = !rl || !rn;
	for (int j = 0; j < k && !w; j++)
		rl[j] = r->order[j] / F, rn[j] = r->order[j] % F;
	if (!w)
		w |= h5u_f32(f, "act", 2, d2, r->act) | h5u_f32(f, "dla", 2, d2, r->dla) | h5u_f32(f, "ablate", 2, d2, r->abl) |
		     h5u_f32(f, "w_in_cos", 2, d2, r->win) | h5u_f32(f, "w_out_cos", 2, d2, r->wout) |
		     h5u_f32(f, "weights", 2, d2, r->wsc) | h5u_i32(f, "top_layer", 1, dk, rl) |
		     h5u_i32(f, "top_neuron", 1, dk, rn);
	if (r->est)
		w |= h5u_f32(f, r->est_name, 2, d2, r->est);
	if (r->cmp.effects) {
		size_t dr[1] = {(size_t)o->compare_random};
		w |= h5u_f64(f, "random_effects", 1, dr, r->cmp.effects) |
		     h5u_attr_f64(f, NULL, "top_effect", r->cmp.top_effect);
	}
	char *tt = cli_token_text(r->m, r->target);
	w |= cli_result_header(f, RES_NEURONS, r->m->gguf->path, &err) | h5u_attr_str(f, NULL, "prompt", r->text) |
	     h5u_attr_str(f, NULL, "target", tt ? tt : "") | h5u_attr_i64(f, NULL, "position", r->pos) |
	     h5u_attr_str(f, NULL, "rank_by", RANK_NAME[o->rank]) | h5u_attr_str(f, NULL, "metric", live_metric(r)) |
	     h5u_attr_f64(f, NULL, "clean", r->clean) | h5u_attr_str(f, NULL, "ablation", r->ref_name);
	free(tt), free(rl), free(rn);
	if (h5u_close(f, o->out, &err) || w)
		return cli_error("neurons", "%s", w ? "cannot write the results to the HDF5 file" : err.msg);
	return 0;
}

static int live(live_opts *o, const char *prompt_arg)
{
	live_res r = {0};
	int rc = live_setup(o, &r, prompt_arg);
	if (!rc)
		rc = live_compute(o, &r);
	if (!rc) {
		live_emit(o, &r);
		if (o->out)
			rc = live_h5(o, &r);
	}
	live_free(&r);
	return rc;
}

/* ---- recording mode ---- */

typedef struct rec_opts {
	const char *from, *group_by, *group, *model;
	int stat_auroc, k, fmt;
	double holdout;
	uint64_t seed;
} rec_opts;

/* TSV: a row per group and neuron */
static const tb_col SEL_FLAT[] = {
	{"group", NULL, TB_STR, NULL, 0, NULL, 0, NULL},      {"rank", NULL, TB_INT, NULL, 0, NULL, 0, NULL},
	{"layer", NULL, TB_INT, NULL, 0, NULL, 0, NULL},      {"neuron", NULL, TB_INT, NULL, 0, NULL, 0, NULL},
	{"stat", NULL, TB_REAL, NULL, 0, NULL, 0, NULL},      {"train_d", NULL, TB_REAL, NULL, 0, NULL, 0, NULL},
	{"train_auroc", NULL, TB_REAL, NULL, 0, NULL, 0, NULL}, {"test_auroc", NULL, TB_REAL, NULL, 0, NULL, 0, NULL},
	{"test_auroc_se", NULL, TB_REAL, NULL, 0, NULL, 0, NULL}, {"mean_in", NULL, TB_REAL, NULL, 0, NULL, 0, NULL},
	{"mean_out", NULL, TB_REAL, NULL, 0, NULL, 0, NULL},
};
/* JSON: a row per group, its neurons nested; text: a table per group */
static const tb_col SEL_GROUP[] = {
	{NULL, "group", TB_STR, NULL, 0, NULL, 0, NULL},
	{NULL, "train_in", TB_INT, NULL, 0, NULL, 0, NULL},
	{NULL, "train_out", TB_INT, NULL, 0, NULL, 0, NULL},
	{NULL, "test_in", TB_INT, NULL, 0, NULL, 0, NULL},
	{NULL, "test_out", TB_INT, NULL, 0, NULL, 0, NULL},
	{NULL, "stat", TB_STR, NULL, 0, NULL, 0, NULL},
	{NULL, "neurons", TB_NEST, NULL, 0, NULL, 0, NULL},
	{NULL, "combined_test_auroc", TB_REAL, NULL, 0, NULL, 0, NULL},
	{NULL, "combined_test_auroc_se", TB_REAL, NULL, 0, NULL, 0, NULL},
};
static const tb_col SEL_NEURON[] = {
	{NULL, NULL, TB_INT, "%4d", 0, NULL, 0, NULL},        /* rank */
	{NULL, "layer", TB_INT, NULL, 0, NULL, 0, NULL},
	{NULL, "neuron", TB_INT, NULL, 0, NULL, 0, NULL},
	{NULL, NULL, TB_STR, " %10s", 0, NULL, 1, NULL},      /* L.N */
	{NULL, NULL, TB_REAL, " %8.3f", 0, NULL, 0, NULL},    /* stat, as computed */
	{NULL, "stat", TB_REAL, NULL, 0, NULL, 0, NULL},      /* stat, as stored (f32) */
	{NULL, "mean_in", TB_REAL, " %8.3f", 0, NULL, 0, NULL},
	{NULL, "mean_out", TB_REAL, " %11.3f", 0, NULL, 0, NULL},
	{NULL, "test_auroc", TB_REAL, " %9.3f", 0, NULL, 0, NULL},
	{NULL, "test_auroc_se", TB_REAL, " %9.3f", 0, NULL, 0, NULL},
};

/* one group: a row of groups (JSON), its neurons (text, JSON) and flat rows (TSV) */
static void emit_group(tb_doc *d, const rec_opts *o, const char *name, const sel_result *r, tb_table *groups,
		       tb_table *flat)
{
	tb_table nt;
	const char *stat = o->stat_auroc ? "auroc" : "d";
	tb_say(d, "\ngroup '%s': train %d in / %d out, held out %d in / %d out; ranked by %s\n%4s %10s %8s %8s %11s %9s %9s\n",
	       name, r->train_in, r->train_out, r->test_in, r->test_out,
	       o->stat_auroc ? "training AUROC" : "training d = (mean in - mean out) / pooled std", "rank", "neuron", stat,
	       "mean in", "mean out", "test AUROC", "+- se");
	tb_str(groups, name, strlen(name)), tb_int(groups, r->train_in), tb_int(groups, r->train_out);
	tb_int(groups, r->test_in), tb_int(groups, r->test_out), tb_str(groups, stat, strlen(stat));
	tb_doc_table(d, &nt, SEL_NEURON, 10, 0);
	for (int j = 0; j < r->k; j++) {
		const sel_neuron *e = &r->top[j];
		char nm[24];
		snprintf(nm, sizeof nm, "%d.%d", e->layer, e->neuron);
		tb_int(&nt, j + 1), tb_int(&nt, e->layer), tb_int(&nt, e->neuron), tb_str(&nt, nm, strlen(nm));
		tb_real(&nt, e->stat), tb_real(&nt, (float)e->stat), tb_real(&nt, e->mean_in), tb_real(&nt, e->mean_out);
		tb_real(&nt, e->test_auroc), tb_real(&nt, e->test_se);
		tb_str(flat, name, strlen(name)), tb_int(flat, j + 1), tb_int(flat, e->layer), tb_int(flat, e->neuron);
		tb_real(flat, (float)e->stat), tb_real(flat, (float)e->stat), tb_real(flat, NAN);
		tb_real(flat, e->test_auroc), tb_real(flat, e->test_se), tb_real(flat, e->mean_in), tb_real(flat, e->mean_out);
	}
	tb_json(groups, tb_end(&nt));
	tb_real(groups, r->combined_auroc), tb_real(groups, r->combined_se);
	tb_say(d, "top %d together (mean sign-aligned z-score), held-out AUROC %.3f +- %.3f (chance 0.5; %d in, %d out)\n",
	       r->k, r->combined_auroc, r->combined_se, r->test_in, r->test_out);
}

static int from_rec(rec_opts *o)
{
	fp_error err = {0};
	h5rec_in *rec = NULL;
	h5rec_meta mt;
	sel_data d;
	char *is_test = NULL;
	int rc = 0, want = -1;
	if (h5rec_open(&rec, o->from, &mt, &err))
		return cli_error("neurons", "%s", err.msg);
	if (mt.n_prompts >= 4 && strcmp(o->group_by, "target") && strcmp(o->group_by, "relation") &&
	    strcmp(o->group_by, "subject") && strcmp(o->group_by, "id")) {
		h5rec_in_close(rec);
		return cli_usage_error("neurons", "--group-by takes target, relation, subject or id, not '%s'", o->group_by);
	}
	if (sel_load(rec, &mt, o->from, o->group_by, &d, &err)) {
		h5rec_in_close(rec);
		return cli_error("neurons", "%s", err.msg);
	}
	h5rec_in_close(rec);
	if (o->group && (want = sel_find_group(&d, o->group)) < 0) {
		char list[400] = "";
		for (int gi = 0; gi < d.n_groups && strlen(list) < 300; gi++)
			snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%s'", gi ? ", " : "", d.groups[gi]);
		rc = cli_error("neurons", "no prompt in '%s' has %s '%s'; its groups are %s", o->from, o->group_by,
			       o->group, list);
		goto done;
	}
	if (!(is_test = malloc((size_t)d.P))) {
		rc = cli_error("neurons", "out of memory");
		goto done;
	}
	sel_split(&d, o->holdout, o->seed, is_test);
	tb_doc doc;
	tb_table groups, flat;
	tb_doc_begin(&doc, stdout, o->fmt);
	tb_doc_str(&doc, "recording", o->from);
	tb_doc_str(&doc, "group_by", o->group_by);
	tb_doc_real(&doc, "holdout", o->holdout);
	tb_doc_int(&doc, "seed", (long long)o->seed);
	tb_say(&doc, "recording %s: %ld prompts, %d layers of mlp.hook_post (each prompt's last recorded row, "
		     "positions=%s); grouped by %s; held out %.0f%% of each group (seed %llu)\n",
	       o->from, d.P, d.nl, mt.positions, o->group_by, o->holdout * 100, (unsigned long long)o->seed);
	tb_doc_table(&doc, &groups, SEL_GROUP, 9, 0);
	tb_doc_table(&doc, &flat, SEL_FLAT, 11, 0);
	for (int gi = 0; gi < d.n_groups && !rc; gi++) {
		if (want >= 0 && gi != want)
			continue;
		sel_result r;
		if (sel_group(&d, is_test, gi, o->stat_auroc, o->k, &r, &err))
			rc = cli_error("neurons", "%s", err.msg);
		else if (r.skipped)
			tb_say(&doc, "\ngroup '%s': too few training prompts (%d in, %d out); skipped\n", d.groups[gi],
			       r.train_in, r.train_out);
		else
			emit_group(&doc, o, d.groups[gi], &r, &groups, &flat);
		sel_result_free(&r);
	}
	json_decref(tb_end(&flat));
	tb_doc_set(&doc, "groups", tb_end(&groups));
	tb_doc_end(&doc);
done:
	free(is_test);
	sel_free(&d);
	return rc;
}

/* the options that go together, once all are read (nargs: the PROMPT
 * arguments given); 0 or the exit status */
static int rec_check(const rec_opts *ro, const live_opts *lo, int nargs)
{
	if (nargs > 0)
		return cli_usage_error("neurons", "--from reads a recording; give no PROMPT");
	if (!ro->group_by)
		return cli_usage_error("neurons", "--from needs --group-by FIELD (target, relation, subject or id)");
	if (lo->target_s || lo->out)
		return cli_usage_error("neurons", "--target and -o apply to a live PROMPT, not to --from");
	return 0;
}

static int live_check(const live_opts *lo, const rec_opts *ro, int nargs)
{
	if (ro->group_by || ro->group)
		return cli_usage_error("neurons", "--group-by and --group need --from ACTS.h5");
	if (nargs != 1)
		return cli_usage_error("neurons", "expects exactly one PROMPT argument (or --from ACTS.h5)");
	if (!lo->target_s)
		return cli_usage_error("neurons", "--target TOKEN is required, e.g. --target ' basketball'");
	if (lo->ablate_mean && !lo->ref)
		return cli_usage_error("neurons", "--ablate mean needs --ref PROMPTS (the reference set for the means)");
	if ((lo->corrupt || lo->verify) && lo->rank != R_ATP && lo->rank != R_IG)
		return cli_usage_error("neurons", "--corrupt and --verify go with --rank atp or ig");
	if (lo->corrupt && lo->ablate_mean)
		return cli_usage_error("neurons", "give one reference: --corrupt PROMPT or --ablate mean, not both");
	if (lo->out && !lo->force && access(lo->out, F_OK) == 0)
		return cli_error("neurons", "'%s' exists; pass --force to replace it", lo->out);
	return 0;
}

/* --rank's value: 0, or the exit status */
static int parse_rank(const char *s, int *rank)
{
	for (int i = 0; i < R_COUNT; i++)
		if (!strcmp(s, RANK_NAME[i]))
			return *rank = i, 0;
	return cli_usage_error("neurons", "--rank takes act, dla, ablate, weights, atp or ig, not '%s'", s);
}

int cmd_neurons(int argc, char **argv)
{
	static const struct option opts[] = {
		{"model", required_argument, 0, 'm'}, {"target", required_argument, 0, 't'},
		{"vs", required_argument, 0, 'v'}, {"at", required_argument, 0, 'a'},
		{"subject", required_argument, 0, 's'}, {"rank", required_argument, 0, 'r'},
		{"top", required_argument, 0, 'k'}, {"ablate", required_argument, 0, 'A'},
		{"ref", required_argument, 0, 'R'}, {"candidates", required_argument, 0, 'c'},
		{"compare-random", required_argument, 0, 'C'}, {"seed", required_argument, 0, 'S'},
		{"from", required_argument, 0, 'F'}, {"group-by", required_argument, 0, 'g'},
		{"group", required_argument, 0, 'G'}, {"stat", required_argument, 0, 'X'},
		{"holdout", required_argument, 0, 'H'}, {"corrupt", required_argument, 0, 'P'},
		{"steps", required_argument, 0, 'n'}, {"verify", required_argument, 0, 'V'}, {"tsv", no_argument, 0, 'T'}, {"json", no_argument, 0, 'J'},
		{"output", required_argument, 0, 'o'}, {"force", no_argument, 0, 'f'}, {"help", no_argument, 0, 'h'},
		{"quiet", no_argument, 0, 'q'}, {0, 0, 0, 0}};
	live_opts lo = {0};
	rec_opts ro = {0};
	lo.at = AT_LAST, lo.rank = R_DLA, lo.k = 20, lo.candidates = 100, lo.seed = 1, lo.steps = 20;
	ro.k = 10, ro.holdout = 0.3, ro.seed = 1;
	int c, st, seed;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:t:k:o:hq", opts, NULL)) != -1) {
		switch (c) {
		case 'm': lo.model = ro.model = optarg; break;
		case 't': lo.target_s = optarg; break;
		case 'v': lo.vs_s = optarg; break;
		case 'a':
			if (cli_parse_at("neurons", optarg, (1u << AT_LAST) | (1u << AT_SUBJECT_LAST) | (1u << AT_POS), &lo.at,
					 &lo.at_pos))
				return 2;
			break;
		case 's': lo.subject = optarg; break;
		case 'r':
			if ((st = parse_rank(optarg, &lo.rank)))
				return st;
			break;
		case 'k':
			if (cli_parse_int("neurons", "-k", optarg, 1, 100000, &lo.k))
				return 2;
			ro.k = lo.k;
			break;
		case 'A':
			if (!strcmp(optarg, "zero")) lo.ablate_mean = 0;
			else if (!strcmp(optarg, "mean")) lo.ablate_mean = 1;
			else return cli_usage_error("neurons", "--ablate takes zero or mean, not '%s'", optarg);
			break;
		case 'R': lo.ref = optarg; break;
		case 'P': lo.corrupt = optarg; break;
		case 'n':
			if (cli_parse_int("neurons", "--steps", optarg, 1, 100000, &lo.steps))
				return 2;
			break;
		case 'V':
			if (cli_parse_int("neurons", "--verify", optarg, 0, 1 << 30, &lo.verify))
				return 2;
			break;
		case 'c':
			if (cli_parse_int("neurons", "--candidates", optarg, 0, 1 << 30, &lo.candidates))
				return 2;
			break;
		case 'C':
			if (cli_parse_int("neurons", "--compare-random", optarg, 1, 10000, &lo.compare_random))
				return 2;
			break;
		case 'S':
			if (cli_parse_int("neurons", "--seed", optarg, 0, 1 << 30, &seed))
				return 2;
			lo.seed = ro.seed = (uint64_t)seed;
			break;
		case 'F': ro.from = optarg; break;
		case 'g': ro.group_by = optarg; break;
		case 'G': ro.group = optarg; break;
		case 'X':
			if (!strcmp(optarg, "d")) ro.stat_auroc = 0;
			else if (!strcmp(optarg, "auroc")) ro.stat_auroc = 1;
			else return cli_usage_error("neurons", "--stat takes d or auroc, not '%s'", optarg);
			break;
		case 'H': {
			char *e;
			ro.holdout = strtod(optarg, &e);
			if (e == optarg || *e || !(ro.holdout >= 0 && ro.holdout < 1))
				return cli_usage_error("neurons", "--holdout takes a fraction in [0, 1), not '%s'", optarg);
			break;
		}
		case 'T': lo.fmt = ro.fmt = FMT_TSV; break;
		case 'J': lo.fmt = ro.fmt = FMT_JSON; break;
		case 'o': lo.out = optarg; break;
		case 'f': lo.force = 1; break;
		case 'q': lo.quiet = 1; break;
		case 'h': cli_help(HELP); return 0;
		default: return cli_bad_option("neurons", c, argv);
		}
	}
	if (ro.from)
		return (st = rec_check(&ro, &lo, argc - optind)) ? st : from_rec(&ro);
	return (st = live_check(&lo, &ro, argc - optind)) ? st : live(&lo, argv[optind]);
}
