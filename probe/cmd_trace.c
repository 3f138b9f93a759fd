/* cmd_trace.c - `factprobe trace`: ROME-style causal tracing of one prompt,
 * or averaged over a fact set in ROME's six token categories. */
#include "analysis.h"
#include "cli.h"
#include "factset.h"
#include "stats.h"
#include "h5util.h"
#include "progress.h"
#include "prompts.h"
#include "trace.h"

#include <cblas.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char HELP[] =
	"usage: factprobe trace [-m MODEL] --subject TEXT [--target TOKEN] [--kind resid,mlp,attn|all]\n"
	"                       [--window W] [--noise 3sd|Nsd|FLOAT] [--samples S] [--seed S]\n"
	"                       [--method exact|atp]\n"
	"                       [--tsv | --json] [-o TRACE.h5 [--force]] PROMPT\n"
	"       factprobe trace -p FACTS.tsv [--corrupt noise|replace] [--limit N] [--skip-bad]\n"
	"                       [--subject-span strict|cover] [-q] [same options]\n\n"
	"Causal tracing (Meng et al. 2022, ROME).  The subject's token embeddings get\n"
	"Gaussian noise so the model loses the fact (the corrupted run); then one\n"
	"hidden state is restored from the clean run at one layer and token, and the\n"
	"answer's probability with that restoration is the cell's score.  The\n"
	"indirect effect is score - corrupted probability.\n\n"
	"Conventions, as ROME's code unless said:\n"
	"  - layers from 0; resid restores blocks.L.hook_resid_post at the token;\n"
	"    mlp and attn restore hook_mlp_out / hook_attn_out at the token for the\n"
	"    window of layers L-W/2 .. L+W-W/2-1 (clipped), W = --window (default 10);\n"
	"  - noise: --noise 3sd (default) is 3 x the standard deviation of all token\n"
	"    embedding entries as hook_embed holds them (gemma: times sqrt(d_model);\n"
	"    ROME measures the std over subject embeddings); Nsd\n"
	"    any multiple, a plain number an absolute std; one draw per sample,\n"
	"    --samples (default 10), reproducible with --seed (default 1);\n"
	"  - the answer is --target, else the clean run's top token;\n"
	"  - tokens before the subject are identical in both runs, so their score is\n"
	"    the corrupted probability exactly (no pass is run for them).\n"
	"What is reused to make it fast is described in probe/trace.h; the output\n"
	"reports the forward passes and token-layer evaluations against the naive\n"
	"count (a full pass per kind, layer, token and sample).\n\n"
	"  -s, --subject TEXT   the subject as it appears in PROMPT (first occurrence); it\n"
	"                       must start and end on token boundaries (see --subject-span)\n"
	"      --subject-span S strict (default): a subject that starts or ends inside a\n"
	"                       token is an error; cover: take the tokens that cover it,\n"
	"                       as ROME's code does (\"...(Ontario Section)'s\" -> the\n"
	"                       tokens up to \")'s\"); the output counts such subjects\n"
	"  -t, --target TOKEN   the answer token (default: the clean top token)\n"
	"      --kind K         resid, mlp, attn, a comma list (mlp,attn) or all (default)\n"
	"      --window W       layers restored together for mlp and attn (default 10)\n"
	"      --noise N        3sd (default), Nsd or an absolute std; 0 gives no effect\n"
	"      --samples S      noise draws averaged (default 10)\n"
	"      --seed S         noise seed (default 1)\n"
	"      --method M       exact (default): the restorations run; atp: estimated by\n"
	"                       attribution patching from one clean pass and, per sample,\n"
	"                       one corrupted forward and one backward pass: p(corrupted)\n"
	"                       + (h_clean - h_corrupted) . dp/dh summed over the restored\n"
	"                       states (probe/trace.h).  A first-order estimate, poor\n"
	"                       where effects are large or attention saturates (one\n"
	"                       PROMPT; not with -p)\n"
	"  -o, --output FILE    HDF5: score/<kind> and indirect_effect/<kind> [layers, tokens],\n"
	"                       token, token_id; attributes high (clean p), low (corrupted\n"
	"                       p), subject_start, subject_end, answer, answer_id, noise,\n"
	"                       samples, window, seed.  Dataset mode: <kind>/mean, <kind>/se\n"
	"                       [6 categories, layers], <kind>/n [6], category names\n"
	"      --force          replace FILE\n"
	"      --tsv            single: kind layer position token score indirect_effect;\n"
	"                       dataset: kind category layer n mean_ie se_ie\n"
	"      --json           the same as JSON\n"
	"Dataset mode (-p FACTS.tsv with prompt, subject and target columns): every\n"
	"prompt whose clean top token is the target's first token is traced; the\n"
	"others are listed and excluded.  Indirect effects are averaged per prompt\n"
	"within ROME's six categories (first subject token, middle subject tokens,\n"
	"last subject token, first subsequent token, further tokens, last token; a\n"
	"one-token subject counts as first and last, a subject just before the last\n"
	"token makes it both first subsequent and last), then over prompts: mean,\n"
	"standard error and count per category and layer.\n"
	"      --corrupt C      noise (default) or replace: symmetric token replacement\n"
	"                       (Zhang & Nanda 2023), the subject swapped for another\n"
	"                       subject of the set with the same token count, one run\n"
	"      --limit N        trace at most N known prompts\n"
	"      --skip-bad       warn about a malformed line (as 'record' does: columns,\n"
	"                       UTF-8, a subject not in its prompt or off the token\n"
	"                       boundaries, a missing or unknown target) and go on; the\n"
	"                       skipped lines are counted (default: stop at the first)\n"
	"How many facts were read, known, excluded and skipped goes to stdout with the\n"
	"text output and to stderr with --tsv and --json (and into the JSON and -o).\n"
	"Progress goes to stderr: a bar on a terminal, else a line every 5 s.\n"
	"      --threads N      BLAS threads for the forward passes (default\n"
	"                       $OPENBLAS_NUM_THREADS, else one per core)\n"
	"  -q, --quiet          no progress, and no counts on stderr\n"
	"  -m, --model PATH     GGUF or HF checkpoint;  -h, --help  this help\n\n"
	"example: factprobe trace --subject 'Michael Jordan' -o trace.h5 \\\n"
	"             $'Q: What sport does Michael Jordan play?\\nA: This athlete plays the sport of'\n";

enum { TR_EXACT = 0, TR_ATP = 1 };

typedef struct trace_cli {
	const char *model, *subject, *target, *prompts, *out;
	unsigned kinds;
	int window, samples, fmt, force, replace, limit, quiet, skip_bad, cover, method;
	double noise_sd, noise_abs; /* noise_sd > 0: a multiple of the embedding std */
	uint64_t seed;
} trace_cli;

static void trace_progress(void *user, long done, long total)
{
	fp_progress_update(user, done, 0);
}

/* one traced prompt, for the output */
typedef struct one_trace {
	const trace_cli *a;
	const fp_model *m;
	const char *text, *atext;
	size_t len;
	int32_t *ids;
	int n, s0, s1, covered, answer;
	const tr_result *r;
	const tr_opts *o;
	double secs;
} one_trace;

/* TSV: a row per kind, layer and token */
static const tb_col SINGLE_FLAT[] = {
	{"kind", NULL, TB_STR, NULL, 0, NULL, 0, NULL},   {"layer", NULL, TB_INT, NULL, 0, NULL, 0, NULL},
	{"position", NULL, TB_INT, NULL, 0, NULL, 0, NULL}, {"token", NULL, TB_STR, NULL, 0, NULL, 0, NULL},
	{"score", NULL, TB_REAL, NULL, 0, NULL, 0, NULL}, {"indirect_effect", NULL, TB_REAL, NULL, 0, NULL, 0, NULL},
};

/* text: kind k's grid, a row per layer and a column per token, subject tokens
 * marked; JSON: the grid under the kind's name */
static void single_grid(tb_doc *d, const one_trace *s, int k)
{
	const tr_result *r = s->r;
	int n = s->n, L = s->m->cfg.n_layers;
	char tb[256];
	double *g = malloc((size_t)L * n * sizeof *g);
	tb_col *cols = calloc((size_t)n + 1, sizeof *cols);
	if (!g || !cols) {
		free(g), free(cols);
		return;
	}
	for (size_t i = 0; i < (size_t)L * n; i++)
		g[i] = r->score[k][i];
	tb_doc_set(d, TR_KIND_NAME[k], tb_json_grid(g, (size_t)L, (size_t)n));
	tb_say(d, "\n%s: p(answer) with the restoration%s; * marks subject tokens\n%5s", TR_KIND_NAME[k],
	       k == TR_RESID ? "" : " (window of layers)", "layer");
	for (int t = 0; t < n && d->fmt == FMT_TEXT; t++) {
		size_t tl = cli_token_bytes(s->m, s->ids[t], tb, sizeof tb);
		tb_say(d, " %c", t >= s->s0 && t < s->s1 ? '*' : ' ');
		for (size_t q = 0; q < 5; q++) {
			unsigned char ch = q < tl ? (unsigned char)tb[q] : ' ';
			tb_say(d, "%c", q >= tl ? ' ' : ch < 0x20 || ch >= 0x7f ? '?' : ch == ' ' ? '_' : ch);
		}
	}
	tb_say(d, "\n");
	cols[0] = (tb_col){NULL, NULL, TB_INT, "%5d", 0, NULL, 0, NULL};
	for (int t = 0; t < n; t++)
		cols[t + 1] = (tb_col){NULL, NULL, TB_REAL, " %6.3f", 0, NULL, 0, NULL};
	tb_table tt;
	tb_doc_table(d, &tt, cols, n + 1, 0);
	for (int l = 0; l < L; l++) {
		tb_int(&tt, l);
		for (int t = 0; t < n; t++)
			tb_real(&tt, g[(size_t)l * n + t]);
	}
	json_decref(tb_end(&tt));
	free(g), free(cols);
}

/* one prompt's trace in a->fmt: text, TSV or JSON */
static void single_emit(const one_trace *s)
{
	const fp_model *m = s->m;
	const tr_result *r = s->r;
	int n = s->n, L = m->cfg.n_layers;
	char tb[256];
	tb_doc d;
	tb_table flat;
	tb_doc_begin(&d, stdout, s->a->fmt);
	tb_doc_strn(&d, "prompt", s->text, s->len);
	tb_doc_set(&d, "tokens", d.fmt == FMT_JSON ? cli_token_texts(m, s->ids, n) : NULL);
	tb_doc_int(&d, "subject_start", s->s0);
	tb_doc_int(&d, "subject_end", s->s1);
	tb_doc_str(&d, "subject_span", s->covered ? "covering tokens" : "exact");
	tb_doc_str(&d, "answer", s->atext ? s->atext : "");
	tb_doc_int(&d, "answer_id", s->answer);
	tb_doc_real(&d, "high", r->high);
	tb_doc_real(&d, "low", r->low);
	tb_doc_real(&d, "noise", s->o->noise);
	tb_doc_int(&d, "samples", s->o->samples);
	tb_doc_int(&d, "window", s->o->window);
	tb_doc_str(&d, "method", s->a->method == TR_ATP ? "atp" : "exact");
	tb_say(&d, "prompt ");
	tb_say_quoted(&d, s->text, s->len);
	tb_say(&d, " (%d tokens), subject tokens %d..%d%s\nanswer ", n, s->s0, s->s1 - 1,
	       s->covered ? " (the tokens that cover the subject: --subject-span cover)" : "");
	tb_say_quoted(&d, tb, cli_token_bytes(m, s->answer, tb, sizeof tb));
	tb_say(&d, ": p = %.4f clean (high), %.4f corrupted (low; noise std %.4g, %d samples)\n", r->high, r->low,
	       s->o->noise, s->o->samples);
	tb_doc_table(&d, &flat, SINGLE_FLAT, 6, 0);
	for (int k = 0; k < TR_NKINDS; k++) {
		if (!r->score[k])
			continue;
		single_grid(&d, s, k);
		for (int l = 0; l < L; l++)
			for (int t = 0; t < n; t++) {
				float sc = r->score[k][(size_t)l * n + t];
				tb_str(&flat, TR_KIND_NAME[k], strlen(TR_KIND_NAME[k])), tb_int(&flat, l), tb_int(&flat, t);
				cli_tb_token(&flat, m, s->ids[t]);
				tb_real(&flat, sc), tb_real(&flat, sc - r->low);
			}
	}
	json_decref(tb_end(&flat));
	tb_doc_int(&d, "forward_passes", r->passes);
	tb_doc_real(&d, "token_layer_evals", r->evals);
	tb_doc_real(&d, "token_layer_evals_naive", r->evals_naive);
	tb_doc_real(&d, "seconds", s->secs);
	tb_say(&d, "\n%ld forward passes, %.3g token-layer evaluations (naive: %.3g, %.1fx more), %.2f s, %.0f tokens/s "
		   "equivalent\n",
	       r->passes, r->evals, r->evals_naive, r->evals_naive / r->evals, s->secs, r->evals / L / s->secs);
	tb_doc_end(&d);
}

static int single_h5(const one_trace *s)
{
	const fp_model *m = s->m;
	const int32_t *ids = s->ids;
	const tr_result r = *s->r;
	int n = s->n, L = m->cfg.n_layers;
	const trace_cli *a = s->a;
	const char *text = s->text, *atext = s->atext;
	int s0 = s->s0, s1 = s->s1, covered = s->covered, answer = s->answer;
	const tr_opts o = *s->o;
	fp_error err = {0};
	hid_t f = h5u_create(a->out, a->force, &err);
	if (f < 0)
		return cli_error("trace", "%s", err.msg);
	size_t d2[2] = {(size_t)L, (size_t)n}, dn[1] = {(size_t)n};
	int w = 0;
	float *ie = malloc((size_t)L * n * sizeof *ie);
	for (int k = 0; k < TR_NKINDS && ie; k++) {
		if (!r.score[k])
			continue;
		char nm[64];
		for (size_t i = 0; i < (size_t)L * n; i++)
			ie[i] = r.score[k][i] - (float)r.low;
		snprintf(nm, sizeof nm, "score/%s", TR_KIND_NAME[k]);
		w |= h5u_f32(f, nm, 2, d2, r.score[k]);
		snprintf(nm, sizeof nm, "indirect_effect/%s", TR_KIND_NAME[k]);
		w |= h5u_f32(f, nm, 2, d2, ie);
	}
	w |= !ie;
	free(ie);
	char **tt = calloc((size_t)n, sizeof *tt);
	for (int t = 0; t < n && tt; t++)
		tt[t] = cli_token_text(m, ids[t]);
	w |= tt ? h5u_strs(f, "token", (size_t)n, tt) | h5u_i32(f, "token_id", 1, dn, ids) : -1;
	for (int t = 0; t < n && tt; t++)
		free(tt[t]);
	free(tt);
	w |= cli_result_header(f, RES_TRACE, m->gguf->path, &err) | h5u_attr_str(f, NULL, "prompt", text) |
	     h5u_attr_str(f, NULL, "subject", a->subject) | h5u_attr_i64(f, NULL, "subject_start", s0) |
	     h5u_attr_i64(f, NULL, "subject_end", s1) |
	     h5u_attr_str(f, NULL, "subject_span", covered ? "covering tokens" : "exact") | h5u_attr_str(f, NULL, "answer", atext ? atext : "") |
	     h5u_attr_i64(f, NULL, "answer_id", answer) | h5u_attr_f64(f, NULL, "high", r.high) |
	     h5u_attr_f64(f, NULL, "low", r.low) | h5u_attr_f64(f, NULL, "noise", o.noise) |
	     h5u_attr_i64(f, NULL, "samples", o.samples) | h5u_attr_i64(f, NULL, "window", o.window) |
	     h5u_attr_str(f, NULL, "method", a->method == TR_ATP ? "atp" : "exact") |
	     h5u_attr_i64(f, NULL, "seed", (long long)o.seed) | h5u_attr_str(f, NULL, "corruption", "gaussian noise on the subject embeddings");
	if (h5u_close(f, a->out, &err) || w)
		return cli_error("trace", "%s", w ? "cannot write the results to the HDF5 file" : err.msg);
	if (a->fmt == FMT_TEXT)
		printf("wrote %s\n", a->out);
	return 0;
}

static int single(trace_cli *a, const char *prompt_arg)
{
	fp_progress pg;
	size_t len;
	char *text = cli_text_arg("trace", prompt_arg, &len);
	if (!text)
		return 1;
	fp_model *m = cli_load_model("trace", a->model);
	if (!m) {
		free(text);
		return 1;
	}
	int L = m->cfg.n_layers, V = m->cfg.n_vocab, n = 0, s0, s1, answer = -1, rc = 0;
	int32_t *ids = NULL;
	fp_error err = {0};
	tr_result r = {0};
	float *logits = malloc((size_t)V * sizeof *logits);
	if (fp_tokenize(m->tok, text, len, -1, &ids, &n, &err)) {
		rc = cli_error("trace", "%s", err.msg);
		goto done;
	}
	if (n == 0) {
		rc = cli_error("trace", "the prompt is empty (no tokens)");
		goto done;
	}
	int has_bos = ps_has_bos(m, ids, n, -1);
	int covered = fs_subject_tokens(m, text, a->subject, ids, n, has_bos, a->cover, &s0, &s1, &err);
	if (covered < 0) {
		rc = cli_error("trace", "--subject: %s", err.msg);
		goto done;
	}
	if (a->target && an_target_token(m, a->target, 0, &answer, &err)) {
		rc = cli_error("trace", "--target: %s", err.msg);
		goto done;
	}
	if (answer < 0) {
		if (fp_model_forward(m, ids, n, NULL, logits, &err)) {
			rc = cli_error("trace", "%s", err.msg);
			goto done;
		}
		an_top_k(logits, V, 1, &answer);
	}
	tr_opts o = {a->kinds, a->window, a->samples, a->noise_sd > 0 ? a->noise_sd * tr_embedding_std(m) : a->noise_abs,
		     a->seed, NULL, 0, trace_progress, &pg};
	fp_progress_start(&pg, stderr, a->quiet, "trace", "layers (of every kind) restored", NULL,
			  (long)L * ((a->kinds & 1) + (a->kinds >> 1 & 1) + (a->kinds >> 2 & 1)));
	double t0 = fp_now();
	if ((a->method == TR_ATP ? tr_trace_atp : tr_trace)(m, ids, n, s0, s1, answer, &o, &r, &err)) {
		rc = cli_error("trace", "%s", err.msg);
		goto done;
	}
	fp_progress_end(&pg, pg.total, 0);
	double secs = fp_now() - t0;
	char *atext = cli_token_text(m, answer);
	one_trace ot = {a, m, text, atext, len, ids, n, s0, s1, covered, answer, &r, &o, secs};
	single_emit(&ot);
	if (a->out)
		rc = single_h5(&ot);
	free(atext);
done:
	tr_result_free(&r);
	free(text), free(ids), free(logits);
	fp_model_free(m);
	return rc;
}

/* ---- dataset mode ---- */

static void known_progress(void *user, long done, long total)
{
	fp_progress_update(user, done, 0);
}

static void traced_progress(void *user, long traced)
{
	fp_progress_update(user, traced, 0);
}

/* the set's facts; bad lines are errors, or warnings with --skip-bad */
static int read_facts(trace_cli *a, const fp_model *m, fs_set *set, long *n_bad, int *n_cover)
{
	fp_error err = {0};
	prompt_reader *pr = NULL;
	int rc = 0;
	if (prompts_open(&pr, a->prompts, &err))
		return cli_error("trace", "%s", err.msg);
	if (!prompts_has_subject(pr)) {
		prompts_close(pr);
		return cli_error("trace", "'%s' has no 'subject' column; dataset mode needs prompt, subject and target",
				 a->prompts);
	}
	fp_prompt p;
	char msg[sizeof err.msg + 1200];
	for (;;) {
		int r = prompts_next(pr, &p, &err);
		if (r == 0)
			break;
		if (r < 0) {
			snprintf(msg, sizeof msg, "%s", err.msg);
		} else if (!p.target || !*p.target) {
			snprintf(msg, sizeof msg, "'%s' line %ld, field 'target': missing", a->prompts, p.line);
		} else if ((r = fs_add(set, m, p.text, p.len, p.subject, p.target, p.line, a->cover, &err)) == FP_ERR_NOMEM) {
			rc = cli_error("trace", "out of memory");
			break;
		} else if (r >= 0) {
			*n_cover += r;
			continue;
		} else {
			snprintf(msg, sizeof msg, "'%s' line %ld%s%s", a->prompts, p.line,
				 strncmp(err.msg, "field ", 6) ? ": " : ", ", err.msg);
		}
		if (!a->skip_bad) {
			rc = cli_error("trace", "%s", msg);
			cli_hint("--skip-bad warns and goes on%s", strstr(msg, "tokenizes differently") ?
				 "; --subject-span cover takes the tokens that cover such a subject" : "");
			break;
		}
		fprintf(stderr, "factprobe trace: warning: skipping %s\n", msg);
		++*n_bad;
	}
	prompts_close(pr);
	if (!rc && set->n == 0)
		rc = cli_error("trace", "'%s' holds no prompts%s", a->prompts, *n_bad ? " that could be read" : "");
	return rc;
}

/* the counts: with the text output on stdout, else on stderr */
static void print_counts(const trace_cli *a, const fs_set *set, int n_known, long n_bad, int n_cover)
{
	if (a->fmt != FMT_TEXT && a->quiet)
		return;
	FILE *o = a->fmt == FMT_TEXT ? stdout : stderr;
	const char *pre = a->fmt == FMT_TEXT ? "" : "trace: ";
	int nf = set->n;
	fprintf(o, "%s%s: %d prompts, %d known (target first token = clean top-1), %d excluded:", pre, a->prompts, nf,
		n_known, nf - n_known);
	for (int i = 0, shown = 0; i < nf; i++)
		if (!set->f[i].known && shown++ < 12)
			fprintf(o, "%s line %ld", shown > 1 ? "," : "", set->f[i].line);
	fprintf(o, "%s\n", nf - n_known > 12 ? ", ..." : "");
	if (n_bad)
		fprintf(o, "%s%ld malformed line%s skipped (--skip-bad)\n", pre, n_bad, n_bad == 1 ? "" : "s");
	if (n_cover)
		fprintf(o, "%s%d subject%s inside a token: the covering tokens taken (--subject-span cover)\n", pre, n_cover,
			n_cover == 1 ? " ends" : "s end");
}

typedef struct set_summary {
	int nf, n_known, n_cover, L;
	long n_bad;
	double secs, noise;
	const char *corr;
	fs_totals t;
	const long *cnt;
	double *mean[TR_NKINDS], *se[TR_NKINDS];
} set_summary;

/* TSV: a row per kind, category and layer */
static const tb_col SET_FLAT[] = {
	{"kind", NULL, TB_STR, NULL, 0, NULL, 0, NULL},     {"category", NULL, TB_STR, NULL, 0, NULL, 0, NULL},
	{"layer", NULL, TB_INT, NULL, 0, NULL, 0, NULL},    {"n", NULL, TB_INT, NULL, 0, NULL, 0, NULL},
	{"mean_ie", NULL, TB_REAL, NULL, 0, NULL, 0, NULL}, {"se_ie", NULL, TB_REAL, NULL, 0, NULL, 0, NULL},
};
/* text: a row per layer, mean +- se for each category */
#define MEAN_SE {NULL, NULL, TB_REAL, "  %6.3f", 0, NULL, 0, NULL}, {NULL, NULL, TB_REAL, " +-%5.3f", 0, NULL, 0, NULL}
static const tb_col SET_TEXT[1 + 2 * FS_NCAT] = {
	{NULL, NULL, TB_INT, "%5d", 0, NULL, 0, NULL}, MEAN_SE, MEAN_SE, MEAN_SE, MEAN_SE, MEAN_SE, MEAN_SE,
};

/* kind k: JSON's mean and se grids [category][layer], text's table, TSV's rows */
static void dataset_kind(tb_doc *d, const set_summary *S, int k, tb_table *flat)
{
	int L = S->L;
	tb_table t;
	tb_doc_open(d, TR_KIND_NAME[k]);
	tb_doc_set(d, "mean_ie", tb_json_grid(S->mean[k], FS_NCAT, (size_t)L));
	tb_doc_set(d, "se_ie", tb_json_grid(S->se[k], FS_NCAT, (size_t)L));
	tb_doc_close(d);
	tb_say(d, "\n%s: mean indirect effect (p restored - p corrupted), +- standard error; n prompts per category: ",
	       TR_KIND_NAME[k]);
	for (int c = 0; c < FS_NCAT; c++)
		tb_say(d, "%s%ld", c ? "/" : "", S->cnt[c]);
	tb_say(d, "\n%5s %15s %15s %15s %15s %15s %15s\n", "layer", "first subj", "middle subj", "last subj", "first after",
	       "further", "last token");
	tb_doc_table(d, &t, SET_TEXT, 1 + 2 * FS_NCAT, 0);
	for (int l = 0; l < L; l++) {
		tb_int(&t, l);
		for (int c = 0; c < FS_NCAT; c++)
			tb_real(&t, S->mean[k][c * L + l]), tb_real(&t, S->se[k][c * L + l]);
	}
	json_decref(tb_end(&t));
	for (int c = 0; c < FS_NCAT; c++)
		for (int l = 0; l < L; l++) {
			tb_str(flat, TR_KIND_NAME[k], strlen(TR_KIND_NAME[k]));
			tb_str(flat, FS_CAT_NAME[c], strlen(FS_CAT_NAME[c]));
			tb_int(flat, l), tb_int(flat, S->cnt[c]);
			tb_real(flat, S->mean[k][c * L + l]), tb_real(flat, S->se[k][c * L + l]);
		}
}

static void print_dataset(const trace_cli *a, const set_summary *S)
{
	int traced = S->t.traced;
	tb_doc d;
	tb_table flat;
	tb_doc_begin(&d, stdout, a->fmt);
	tb_doc_int(&d, "prompts", S->nf);
	tb_doc_int(&d, "known", S->n_known);
	tb_doc_int(&d, "traced", traced);
	tb_doc_int(&d, "skipped_lines", S->n_bad);
	tb_doc_str(&d, "subject_span", a->cover ? "cover" : "strict");
	tb_doc_int(&d, "subjects_covered", S->n_cover);
	tb_doc_str(&d, "corruption", S->corr);
	tb_doc_real(&d, "mean_high", S->t.high / traced);
	tb_doc_real(&d, "mean_low", S->t.low / traced);
	if (d.fmt == FMT_JSON) {
		json_t *cats = json_array(), *jn = json_array();
		for (int c = 0; c < FS_NCAT; c++)
			json_array_append_new(cats, json_string(FS_CAT_NAME[c])), json_array_append_new(jn, json_integer(S->cnt[c]));
		tb_doc_set(&d, "categories", cats);
		tb_doc_set(&d, "n", jn);
	}
	tb_say(&d, "traced %d prompts (%s%s): mean p(answer) clean %.4f, corrupted %.4f; %.1f s, %ld passes, %.3g "
		   "token-layer evaluations (naive %.3g)\n",
	       traced, S->corr, S->t.no_repl ? "; some had no replacement subject" : "", S->t.high / traced,
	       S->t.low / traced, S->secs, S->t.passes, S->t.evals, S->t.naive);
	tb_doc_table(&d, &flat, SET_FLAT, 6, 0);
	for (int k = 0; k < TR_NKINDS; k++)
		if (S->mean[k])
			dataset_kind(&d, S, k, &flat);
	json_decref(tb_end(&flat));
	tb_doc_real(&d, "seconds", S->secs);
	tb_doc_end(&d);
}

static int write_dataset(const trace_cli *a, const set_summary *S, const char *model_path)
{
	fp_error err = {0};
	int L = S->L, traced = S->t.traced;
	hid_t f = h5u_create(a->out, a->force, &err);
	int w = f < 0;
	if (!w) {
		size_t d2[2] = {FS_NCAT, (size_t)L}, d6[1] = {FS_NCAT};
		int32_t c32[FS_NCAT];
		for (int c = 0; c < FS_NCAT; c++)
			c32[c] = (int32_t)S->cnt[c];
		for (int k = 0; k < TR_NKINDS; k++) {
			if (!S->mean[k])
				continue;
			char nm[64];
			snprintf(nm, sizeof nm, "%s/mean", TR_KIND_NAME[k]);
			w |= h5u_f64(f, nm, 2, d2, S->mean[k]);
			snprintf(nm, sizeof nm, "%s/se", TR_KIND_NAME[k]);
			w |= h5u_f64(f, nm, 2, d2, S->se[k]);
			snprintf(nm, sizeof nm, "%s/n", TR_KIND_NAME[k]);
			w |= h5u_i32(f, nm, 1, d6, c32);
		}
		w |= h5u_strs(f, "category", FS_NCAT, (char *const *)FS_CAT_NAME);
		w |= cli_result_header(f, RES_TRACE_DATASET, model_path, &err) |
		     h5u_attr_str(f, NULL, "prompts_file", a->prompts) | h5u_attr_i64(f, NULL, "n_prompts", S->nf) |
		     h5u_attr_i64(f, NULL, "n_known", S->n_known) | h5u_attr_i64(f, NULL, "n_traced", traced) |
		     h5u_attr_i64(f, NULL, "n_skipped_lines", S->n_bad) |
		     h5u_attr_str(f, NULL, "subject_span", a->cover ? "cover" : "strict") |
		     h5u_attr_i64(f, NULL, "n_subjects_covered", S->n_cover) |
		     h5u_attr_str(f, NULL, "corruption", S->corr) | h5u_attr_f64(f, NULL, "mean_high", S->t.high / traced) |
		     h5u_attr_f64(f, NULL, "mean_low", S->t.low / traced) | h5u_attr_f64(f, NULL, "noise", S->noise) |
		     h5u_attr_i64(f, NULL, "samples", a->replace ? 1 : a->samples) |
		     h5u_attr_i64(f, NULL, "window", a->window) | h5u_attr_i64(f, NULL, "seed", (long long)a->seed);
		w |= h5u_close(f, a->out, &err);
	}
	if (w)
		return cli_error("trace", "%s", err.msg[0] ? err.msg : "cannot write the results to the HDF5 file");
	if (a->fmt == FMT_TEXT)
		printf("wrote %s\n", a->out);
	return 0;
}

static int dataset(trace_cli *a)
{
	fp_model *m = cli_load_model("trace", a->model);
	if (!m)
		return 1;
	fs_set set = {0};
	fs_acc acc = {0};
	fp_error err = {0};
	set_summary S = {.L = m->cfg.n_layers, .cnt = acc.n};
	int rc = read_facts(a, m, &set, &S.n_bad, &S.n_cover);
	if (rc)
		goto done;
	/* which facts the model knows: the target's first token is the clean top token */
	fp_progress pg;
	fp_progress_start(&pg, stderr, a->quiet, "trace", "facts checked (clean top-1 = target?)", NULL, set.n);
	if ((S.n_known = fs_mark_known(m, &set, known_progress, &pg, &err)) < 0) {
		rc = cli_error("trace", "'%s' %s", a->prompts, err.msg);
		goto done;
	}
	fp_progress_end(&pg, set.n, 0);
	S.nf = set.n;
	print_counts(a, &set, S.n_known, S.n_bad, S.n_cover);
	if (fs_acc_init(&acc, S.L, a->kinds)) {
		rc = cli_error("trace", "out of memory");
		goto done;
	}
	double t0 = fp_now();
	st_rng rng = st_rng_seed(a->seed);
	S.noise = a->noise_sd > 0 ? a->noise_sd * tr_embedding_std(m) : a->noise_abs;
	tr_opts o = {a->kinds, a->window, a->samples, S.noise, a->seed, NULL, 0, NULL, NULL};
	int todo = a->limit > 0 && a->limit < S.n_known ? a->limit : S.n_known;
	fp_progress_start(&pg, stderr, a->quiet, "trace", "prompts traced", NULL, todo);
	if (fs_trace(m, &set, &o, a->replace, a->limit, &rng, &acc, &S.t, traced_progress, &pg, &err)) {
		rc = cli_error("trace", "'%s' %s", a->prompts, err.msg);
		goto done;
	}
	fp_progress_end(&pg, S.t.traced, 0);
	S.secs = fp_now() - t0;
	if (S.t.traced == 0) {
		rc = cli_error("trace", "no prompt of '%s' could be traced (%d known%s)", a->prompts, S.n_known,
			       S.t.no_repl ? ", none with a replacement subject of the same token count" : "");
		goto done;
	}
	for (int k = 0; k < TR_NKINDS; k++)
		if (acc.a[k] && fs_acc_result(&acc, k, &S.mean[k], &S.se[k])) {
			rc = cli_error("trace", "out of memory");
			goto done;
		}
	S.corr = a->replace ? "symmetric token replacement" : "gaussian noise on the subject embeddings";
	print_dataset(a, &S);
	if (a->out)
		rc = write_dataset(a, &S, m->gguf->path);
done:
	for (int k = 0; k < TR_NKINDS; k++)
		free(S.mean[k]), free(S.se[k]);
	fs_acc_free(&acc);
	fs_free(&set);
	fp_model_free(m);
	return rc;
}

/* --kind: all, or a comma list of resid, mlp, attn; 0 or the exit status */
static int parse_kinds(const char *s, unsigned *kinds)
{
	char buf[64];
	*kinds = 0;
	snprintf(buf, sizeof buf, "%s", s);
	for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
		if (!strcmp(tok, "all")) *kinds |= 7;
		else if (!strcmp(tok, "resid")) *kinds |= 1u << TR_RESID;
		else if (!strcmp(tok, "mlp")) *kinds |= 1u << TR_MLP;
		else if (!strcmp(tok, "attn")) *kinds |= 1u << TR_ATTN;
		else return cli_usage_error("trace", "--kind takes resid, mlp, attn, a comma list of them, or all; not '%s'",
					    s);
	}
	return *kinds ? 0 : cli_usage_error("trace", "--kind is empty");
}

/* --noise: a multiple of the embedding std (3sd) or an absolute std (0.1) */
static int parse_noise(const char *s, trace_cli *a)
{
	char *e;
	double x = strtod(s, &e);
	if (e != s && !strcmp(e, "sd") && x >= 0 && x < 1e6)
		a->noise_sd = x, a->noise_abs = 0;
	else if (e != s && !*e && x >= 0 && x < 1e6)
		a->noise_sd = 0, a->noise_abs = x;
	else
		return cli_usage_error("trace", "--noise takes 3sd, another multiple such as 2.5sd, or an absolute std such "
						"as 0.1, not '%s'", s);
	return 0;
}

int cmd_trace(int argc, char **argv)
{
	static const struct option opts[] = {
		{"model", required_argument, 0, 'm'}, {"subject", required_argument, 0, 's'},
		{"target", required_argument, 0, 't'}, {"kind", required_argument, 0, 'K'},
		{"window", required_argument, 0, 'w'}, {"noise", required_argument, 0, 'n'},
		{"samples", required_argument, 0, 'S'}, {"seed", required_argument, 0, 'e'},
		{"method", required_argument, 0, 'M'},
		{"prompts", required_argument, 0, 'p'}, {"corrupt", required_argument, 0, 'c'},
		{"limit", required_argument, 0, 'l'}, {"tsv", no_argument, 0, 'T'}, {"json", no_argument, 0, 'J'},
		{"output", required_argument, 0, 'o'}, {"force", no_argument, 0, 'f'}, {"help", no_argument, 0, 'h'},
		{"threads", required_argument, 0, 'j'}, {"quiet", no_argument, 0, 'q'}, {"skip-bad", no_argument, 0, 'B'}, {"subject-span", required_argument, 0, 'C'},
		{0, 0, 0, 0}};
	trace_cli a = {0};
	a.kinds = 7, a.window = 10, a.samples = 10, a.noise_sd = 3, a.seed = 1;
	int c, v, st;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:s:t:p:o:hq", opts, NULL)) != -1) {
		switch (c) {
		case 'q': a.quiet = 1; break;
		case 'j': {
			int nt;
			if (cli_parse_int("trace", "--threads", optarg, 1, 1024, &nt))
				return 2;
			openblas_set_num_threads(nt);
			break;
		}
		case 'B': a.skip_bad = 1; break;
		case 'C':
			if (!strcmp(optarg, "strict")) a.cover = 0;
			else if (!strcmp(optarg, "cover")) a.cover = 1;
			else return cli_usage_error("trace", "--subject-span takes strict or cover, not '%s'", optarg);
			break;
		case 'm': a.model = optarg; break;
		case 's': a.subject = optarg; break;
		case 't': a.target = optarg; break;
		case 'K':
			if ((st = parse_kinds(optarg, &a.kinds)))
				return st;
			break;
		case 'w':
			if (cli_parse_int("trace", "--window", optarg, 1, 1000, &a.window))
				return 2;
			break;
		case 'n':
			if ((st = parse_noise(optarg, &a)))
				return st;
			break;
		case 'M':
			if (!strcmp(optarg, "exact")) a.method = TR_EXACT;
			else if (!strcmp(optarg, "atp")) a.method = TR_ATP;
			else return cli_usage_error("trace", "--method takes exact or atp, not '%s'", optarg);
			break;
		case 'S':
			if (cli_parse_int("trace", "--samples", optarg, 1, 10000, &a.samples))
				return 2;
			break;
		case 'e':
			if (cli_parse_int("trace", "--seed", optarg, 0, 1 << 30, &v))
				return 2;
			a.seed = (uint64_t)v;
			break;
		case 'p': a.prompts = optarg; break;
		case 'c':
			if (!strcmp(optarg, "noise")) a.replace = 0;
			else if (!strcmp(optarg, "replace")) a.replace = 1;
			else return cli_usage_error("trace", "--corrupt takes noise or replace, not '%s'", optarg);
			break;
		case 'l':
			if (cli_parse_int("trace", "--limit", optarg, 1, 1 << 30, &a.limit))
				return 2;
			break;
		case 'T': a.fmt = FMT_TSV; break;
		case 'J': a.fmt = FMT_JSON; break;
		case 'o': a.out = optarg; break;
		case 'f': a.force = 1; break;
		case 'h': cli_help(HELP); return 0;
		default: return cli_bad_option("trace", c, argv);
		}
	}
	if (a.out && !a.force && access(a.out, F_OK) == 0)
		return cli_error("trace", "'%s' exists; pass --force to replace it", a.out);
	if (a.prompts) {
		if (argc > optind)
			return cli_usage_error("trace", "give a PROMPT or -p FACTS.tsv, not both");
		if (a.subject || a.target)
			return cli_usage_error("trace", "with -p the subject and target come from the file's columns");
		if (a.method == TR_ATP)
			return cli_usage_error("trace", "--method atp traces one PROMPT; -p runs the exact trace only");
		return dataset(&a);
	}
	if (argc - optind != 1)
		return cli_usage_error("trace", "expects exactly one PROMPT argument (or -p FACTS.tsv)");
	if (!a.subject)
		return cli_usage_error("trace", "--subject TEXT is required: the subject as it appears in the prompt");
	if (a.replace)
		return cli_usage_error("trace", "--corrupt replace needs a fact set (-p) to draw replacement subjects from");
	return single(&a, argv[optind]);
}
