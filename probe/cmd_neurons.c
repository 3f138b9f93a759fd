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
	double clean, top_eff, top_p, rand_mean, rand_sd, rand_min, rand_max;
	double *rand_eff;                                 /* [compare_random] or NULL */
	float *est;              /* [L][F] atp or ig, or NULL */
	const char *est_name;    /* "atp", "ig" or NULL */
	const char *ref_name;    /* the ablation: "zero", "mean" or "corrupt" */
	double ig_in, ig_base;   /* ig: the metric at both ends of the path */
} live_res;

static void live_free(live_res *r)
{
	free(r->text), free(r->ids), free(r->act), free(r->dla), free(r->abl), free(r->win), free(r->wout), free(r->wsc);
	free(r->refm), free(r->order), free(r->rand_eff), free(r->est);
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
	r->top_eff = r->top_p = r->rand_mean = r->rand_sd = r->rand_min = r->rand_max = NAN;
	if (o->compare_random > 0) { /* the top k ablated together, against random draws from the same layers */
		int R = o->compare_random;
		double top;
		if (!(r->rand_eff = malloc((size_t)R * sizeof *r->rand_eff)))
			return cli_error("neurons", "out of memory");
		fp_progress pg;
		an_progress ap = {ablate_progress, &pg};
		fp_progress_start(&pg, stderr, o->quiet, "neurons", "groups ablated (the top k, then random draws)", NULL,
				  R + 1);
		if (an_ablate_random(m, r->ids, n, r->pos, r->order, r->k, R, o->seed, r->refm, r->target, r->vs, &top,
				     r->rand_eff, &ap, &err))
			return cli_error("neurons", "%s", err.msg);
		fp_progress_end(&pg, R + 1, 0);
		r->top_eff = r->clean - top, r->top_p = exp(top);
		for (int i = 0; i < R; i++)
			r->rand_eff[i] = r->clean - r->rand_eff[i];
		st_mean_sd(r->rand_eff, R, &r->rand_mean, &r->rand_sd);
		r->rand_min = r->rand_max = r->rand_eff[0];
		for (int i = 1; i < R; i++)
			r->rand_min = fmin(r->rand_min, r->rand_eff[i]), r->rand_max = fmax(r->rand_max, r->rand_eff[i]);
	}
	return 0;
}

/* the 3 tokens neuron i promotes, quoted and space-separated */
static void print_promotes(const live_res *r, int i)
{
	int F = r->m->cfg.d_mlp, pro[3] = {0, 0, 0};
	char tb[256];
	an_promotes(r->m, i / F, i % F, r->act[i], 3, pro);
	for (int q = 0; q < 3; q++) {
		int tl = fp_token_decode(r->m->tok, pro[q], tb, sizeof tb);
		if (q)
			putchar(' ');
		tb_print_quoted(stdout, tb, tl < (int)sizeof tb ? (size_t)tl : sizeof tb - 1);
	}
}

static const char *live_metric(const live_res *r)
{
	return r->vs >= 0 ? "logit difference" : "log p(target)";
}

static void live_json(const live_opts *o, const live_res *r)
{
	const fp_model *m = r->m;
	int F = m->cfg.d_mlp;
	json_t *jo = json_object(), *arr = json_array();
	char *ct = tb_utf8_clean(r->text, r->len), *tt = cli_token_text(m, r->target);
	json_object_set_new(jo, "prompt", json_string(ct ? ct : ""));
	json_object_set_new(jo, "target", json_string(tt ? tt : ""));
	free(ct), free(tt);
	if (r->vs >= 0) {
		char *vt = cli_token_text(m, r->vs);
		json_object_set_new(jo, "vs", json_string(vt ? vt : ""));
		free(vt);
	}
	json_object_set_new(jo, "position", json_integer(r->pos));
	json_object_set_new(jo, "rank_by", json_string(RANK_NAME[o->rank]));
	json_object_set_new(jo, "metric", json_string(live_metric(r)));
	json_object_set_new(jo, "clean", json_real(r->clean));
	json_object_set_new(jo, "ablation", json_string(r->ref_name));
	if (o->rank == R_IG) {
		double sum = 0;
		for (int i = 0; i < r->NF; i++)
			sum += r->est[i];
		json_object_set_new(jo, "ig_sum", json_real(sum));
		json_object_set_new(jo, "ig_metric_clean", json_real(r->ig_in));
		json_object_set_new(jo, "ig_metric_baseline", json_real(r->ig_base));
	}
	for (int j = 0; j < r->k; j++) {
		int i = r->order[j], pro[3] = {0, 0, 0};
		json_t *e = json_object(), *pa = json_array();
		json_object_set_new(e, "layer", json_integer(i / F));
		json_object_set_new(e, "neuron", json_integer(i % F));
		json_object_set_new(e, "act", json_real(r->act[i]));
		json_object_set_new(e, "dla", json_real(r->dla[i]));
		json_object_set_new(e, "ablate", isnan(r->abl[i]) ? json_null() : json_real(r->abl[i]));
		if (r->est)
			json_object_set_new(e, r->est_name, json_real(r->est[i]));
		json_object_set_new(e, "w_in_cos", json_real(r->win[i]));
		json_object_set_new(e, "w_out_cos", json_real(r->wout[i]));
		json_object_set_new(e, "weights", json_real(r->wsc[i]));
		an_promotes(m, i / F, i % F, r->act[i], 3, pro);
		for (int q = 0; q < 3; q++) {
			char *pt = cli_token_text(m, pro[q]);
			json_array_append_new(pa, json_string(pt ? pt : ""));
			free(pt);
		}
		json_object_set_new(e, "promotes", pa);
		json_array_append_new(arr, e);
	}
	json_object_set_new(jo, "neurons", arr);
	if (r->rand_eff) {
		json_t *cr = json_object(), *ra = json_array();
		json_object_set_new(cr, "k", json_integer(r->k));
		json_object_set_new(cr, "top_effect", json_real(r->top_eff));
		json_object_set_new(cr, "random_mean", json_real(r->rand_mean));
		json_object_set_new(cr, "random_std", json_real(r->rand_sd));
		for (int i = 0; i < o->compare_random; i++)
			json_array_append_new(ra, json_real(r->rand_eff[i]));
		json_object_set_new(cr, "random_effects", ra);
		json_object_set_new(jo, "compare_random", cr);
	}
	json_dumpf(jo, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(jo);
}

static void live_tsv(const live_res *r)
{
	int F = r->m->cfg.d_mlp;
	printf("rank\tlayer\tneuron\tact\tdla\tablate\tw_in_cos\tw_out_cos\tweights\t%s%spromotes\n",
	       r->est ? r->est_name : "", r->est ? "\t" : "");
	for (int j = 0; j < r->k; j++) {
		int i = r->order[j];
		printf("%d\t%d\t%d\t%.6g\t%.6g\t%.6g\t%.6g\t%.6g\t%.6g\t", j + 1, i / F, i % F, r->act[i], r->dla[i], r->abl[i],
		       r->win[i], r->wout[i], r->wsc[i]);
		if (r->est)
			printf("%.6g\t", r->est[i]);
		print_promotes(r, i);
		printf("\n");
	}
}

/* a token, quoted */
static void print_token(const fp_model *m, int id)
{
	char tb[256];
	int tl = fp_token_decode(m->tok, id, tb, sizeof tb);
	tb_print_quoted(stdout, tb, tl < (int)sizeof tb ? (size_t)tl : sizeof tb - 1);
}

static void live_text(const live_opts *o, const live_res *r)
{
	int F = r->m->cfg.d_mlp;
	const char *metric = live_metric(r);
	printf("prompt ");
	tb_print_quoted(stdout, r->text, r->len);
	printf(" (%d tokens)\nposition %d ", r->n, r->pos);
	print_token(r->m, r->ids[r->pos]);
	printf("; target ");
	print_token(r->m, r->target);
	if (r->vs >= 0) {
		printf(" vs ");
		print_token(r->m, r->vs);
		printf("; clean logit difference %.4f\n", r->clean);
	} else {
		printf("; clean p = %.4f (log p %.4f)\n", exp(r->clean), r->clean);
	}
	if (r->est)
		printf("ranked by %s (%s reference); ablate = clean - ablated %s, measured for the top %d (--verify)\n",
		       r->est_name, r->ref_name, metric, o->verify);
	else
		printf("ranked by %s; ablate = clean - ablated %s (%s ablation%s)\n", RANK_NAME[o->rank], metric,
		       r->refm ? "mean" : "zero", o->rank == R_ABLATE ? "" : ", only with --rank ablate");
	if (o->rank == R_IG) {
		double sum = 0;
		for (int i = 0; i < r->NF; i++)
			sum += r->est[i];
		printf("ig: the %d attributions add up to %.4f; measured, clean - baseline (every layer's neurons at the "
		       "position set to the reference) = %.4f - %.4f = %.4f (%d steps)\n",
		       r->NF, sum, r->ig_in, r->ig_base, r->ig_in - r->ig_base, o->steps);
	}
	printf("%4s %10s %9s %9s %9s %7s %7s %8s%s%9s  promotes\n", "rank", "neuron", "act", "dla", "ablate", "w_in", "w_out",
	       "weights", r->est ? "  " : "", r->est ? r->est_name : "");
	for (int j = 0; j < r->k; j++) {
		int i = r->order[j];
		char nm[24];
		snprintf(nm, sizeof nm, "%d.%d", i / F, i % F);
		printf("%4d %10s %9.4f %9.4f %9.4f %7.3f %7.3f %8.4f  ", j + 1, nm, r->act[i], r->dla[i], r->abl[i],
		       r->win[i], r->wout[i], r->wsc[i]);
		if (r->est)
			printf("%9.4f  ", r->est[i]);
		print_promotes(r, i);
		printf("\n");
	}
	if (r->rand_eff)
		printf("ablating the top %d together (%s): %s drops by %.4f (p %.4f -> %.4f); %d random draws of %d "
		       "neurons from the same layers: mean drop %.4f, std %.4f, min %.4f, max %.4f\n",
		       r->k, r->refm ? "mean" : "zero", metric, r->top_eff, exp(r->clean), r->vs >= 0 ? NAN : r->top_p,
		       o->compare_random, r->k, r->rand_mean, r->rand_sd, r->rand_min, r->rand_max);
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
	if (r->rand_eff) {
		size_t dr[1] = {(size_t)o->compare_random};
		w |= h5u_f64(f, "random_effects", 1, dr, r->rand_eff) | h5u_attr_f64(f, NULL, "top_effect", r->top_eff);
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
		if (o->fmt == FMT_JSON)
			live_json(o, &r);
		else if (o->fmt == FMT_TSV)
			live_tsv(&r);
		else
			live_text(o, &r);
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

/* the TSV columns of neurons --from */
static const tb_col SEL_COLS[] = {
	{.name = "group", .type = TB_STR},      {.name = "rank"},
	{.name = "layer"},                      {.name = "neuron"},
	{.name = "stat", .type = TB_REAL},      {.name = "train_d", .type = TB_REAL},
	{.name = "train_auroc", .type = TB_REAL}, {.name = "test_auroc", .type = TB_REAL},
	{.name = "test_auroc_se", .type = TB_REAL}, {.name = "mean_in", .type = TB_REAL},
	{.name = "mean_out", .type = TB_REAL},
};

/* one group's rows: text, TSV (into tsv) or a JSON object appended to jall */
static void emit_group(const rec_opts *o, const char *name, const sel_result *r, json_t *jall, tb_table *tsv)
{
	if (o->fmt == FMT_TEXT)
		printf("\ngroup '%s': train %d in / %d out, held out %d in / %d out; ranked by %s\n%4s %10s %8s %8s "
		       "%11s %9s %9s\n",
		       name, r->train_in, r->train_out, r->test_in, r->test_out,
		       o->stat_auroc ? "training AUROC" : "training d = (mean in - mean out) / pooled std", "rank", "neuron",
		       o->stat_auroc ? "auroc" : "d", "mean in", "mean out", "test AUROC", "+- se");
	json_t *jn = jall ? json_array() : NULL;
	for (int j = 0; j < r->k; j++) {
		const sel_neuron *e = &r->top[j];
		if (o->fmt == FMT_TEXT) {
			char nm[24];
			snprintf(nm, sizeof nm, "%d.%d", e->layer, e->neuron);
			printf("%4d %10s %8.3f %8.3f %11.3f %9.3f %9.3f\n", j + 1, nm, e->stat, e->mean_in, e->mean_out,
			       e->test_auroc, e->test_se);
		} else if (o->fmt == FMT_TSV) {
			tb_str(tsv, name, strlen(name)), tb_int(tsv, j + 1), tb_int(tsv, e->layer), tb_int(tsv, e->neuron);
			tb_real(tsv, (float)e->stat), tb_real(tsv, (float)e->stat), tb_real(tsv, NAN);
			tb_real(tsv, e->test_auroc), tb_real(tsv, e->test_se), tb_real(tsv, e->mean_in), tb_real(tsv, e->mean_out);
		} else {
			json_t *je = json_object();
			json_object_set_new(je, "layer", json_integer(e->layer));
			json_object_set_new(je, "neuron", json_integer(e->neuron));
			json_object_set_new(je, "stat", json_real((float)e->stat));
			json_object_set_new(je, "mean_in", json_real(e->mean_in));
			json_object_set_new(je, "mean_out", json_real(e->mean_out));
			json_object_set_new(je, "test_auroc", isnan(e->test_auroc) ? json_null() : json_real(e->test_auroc));
			json_object_set_new(je, "test_auroc_se", isnan(e->test_se) ? json_null() : json_real(e->test_se));
			json_array_append_new(jn, je);
		}
	}
	if (o->fmt == FMT_TEXT)
		printf("top %d together (mean sign-aligned z-score), held-out AUROC %.3f +- %.3f (chance 0.5; %d in, "
		       "%d out)\n", r->k, r->combined_auroc, r->combined_se, r->test_in, r->test_out);
	else if (jall) {
		json_t *jg = json_object();
		json_object_set_new(jg, "group", json_string(name));
		json_object_set_new(jg, "train_in", json_integer(r->train_in));
		json_object_set_new(jg, "train_out", json_integer(r->train_out));
		json_object_set_new(jg, "test_in", json_integer(r->test_in));
		json_object_set_new(jg, "test_out", json_integer(r->test_out));
		json_object_set_new(jg, "stat", json_string(o->stat_auroc ? "auroc" : "d"));
		json_object_set_new(jg, "neurons", jn);
		json_object_set_new(jg, "combined_test_auroc", isnan(r->combined_auroc) ? json_null() : json_real(r->combined_auroc));
		json_object_set_new(jg, "combined_test_auroc_se", isnan(r->combined_se) ? json_null() : json_real(r->combined_se));
		json_array_append_new(jall, jg);
	}
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
	json_t *jall = o->fmt == FMT_JSON ? json_array() : NULL;
	tb_table tsv = {0};
	if (o->fmt == FMT_TSV)
		tb_begin(&tsv, stdout, FMT_TSV, SEL_COLS, 11, 0);
	else if (o->fmt == FMT_TEXT)
		printf("recording %s: %ld prompts, %d layers of mlp.hook_post (each prompt's last recorded row, "
		       "positions=%s); grouped by %s; held out %.0f%% of each group (seed %llu)\n",
		       o->from, d.P, d.nl, mt.positions, o->group_by, o->holdout * 100, (unsigned long long)o->seed);
	for (int gi = 0; gi < d.n_groups && !rc; gi++) {
		if (want >= 0 && gi != want)
			continue;
		sel_result r;
		if (sel_group(&d, is_test, gi, o->stat_auroc, o->k, &r, &err)) {
			rc = cli_error("neurons", "%s", err.msg);
		} else if (r.skipped) {
			if (o->fmt == FMT_TEXT)
				printf("\ngroup '%s': too few training prompts (%d in, %d out); skipped\n", d.groups[gi],
				       r.train_in, r.train_out);
		} else {
			emit_group(o, d.groups[gi], &r, jall, &tsv);
		}
		sel_result_free(&r);
	}
	if (jall) {
		json_t *jo = json_object();
		json_object_set_new(jo, "recording", json_string(o->from));
		json_object_set_new(jo, "group_by", json_string(o->group_by));
		json_object_set_new(jo, "holdout", json_real(o->holdout));
		json_object_set_new(jo, "seed", json_integer((json_int_t)o->seed));
		json_object_set_new(jo, "groups", jall);
		json_dumpf(jo, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(jo);
	}
done:
	free(is_test);
	sel_free(&d);
	return rc;
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
	int k_set = 0, c, seed;
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
		case 'r': {
			int found = -1;
			for (int i = 0; i < R_COUNT; i++)
				if (!strcmp(optarg, RANK_NAME[i]))
					found = i;
			if (found < 0)
				return cli_usage_error("neurons", "--rank takes act, dla, ablate, weights, atp or ig, not '%s'",
						       optarg);
			lo.rank = found;
			break;
		}
		case 'k':
			if (cli_parse_int("neurons", "-k", optarg, 1, 100000, &lo.k))
				return 2;
			ro.k = lo.k, k_set = 1;
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
		case 'h': fputs(HELP, stdout); return 0;
		default: return cli_bad_option("neurons", c, argv);
		}
	}
	if (ro.from) {
		if (argc > optind)
			return cli_usage_error("neurons", "--from reads a recording; give no PROMPT");
		if (!ro.group_by)
			return cli_usage_error("neurons", "--from needs --group-by FIELD (target, relation, subject or id)");
		if (lo.target_s || lo.out)
			return cli_usage_error("neurons", "--target and -o apply to a live PROMPT, not to --from");
		(void)k_set;
		return from_rec(&ro);
	}
	if (ro.group_by || ro.group)
		return cli_usage_error("neurons", "--group-by and --group need --from ACTS.h5");
	if (argc - optind != 1)
		return cli_usage_error("neurons", "expects exactly one PROMPT argument (or --from ACTS.h5)");
	if (!lo.target_s)
		return cli_usage_error("neurons", "--target TOKEN is required, e.g. --target ' basketball'");
	if (lo.ablate_mean && !lo.ref)
		return cli_usage_error("neurons", "--ablate mean needs --ref PROMPTS (the reference set for the means)");
	if ((lo.corrupt || lo.verify) && lo.rank != R_ATP && lo.rank != R_IG)
		return cli_usage_error("neurons", "--corrupt and --verify go with --rank atp or ig");
	if (lo.corrupt && lo.ablate_mean)
		return cli_usage_error("neurons", "give one reference: --corrupt PROMPT or --ablate mean, not both");
	if (lo.out && !lo.force && access(lo.out, F_OK) == 0)
		return cli_error("neurons", "'%s' exists; pass --force to replace it", lo.out);
	return live(&lo, argv[optind]);
}
