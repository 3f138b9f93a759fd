/* cmd_lens.c - `factprobe lens`: the logit lens.  Each layer's residual
 * stream read through the final norm and the unembedding, as if the model
 * stopped there. */
#include "analysis.h"
#include "cli.h"
#include "h5util.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char HELP[] =
	"usage: factprobe lens [-m MODEL] [--target TOKEN] [-k N] [--at last|all|subject-last|N]\n"
	"                      [--subject TEXT] [--tsv | --json] [-o OUT.h5 [--force]]\n"
	"                      (PROMPT | --from ACTS.h5 [--prompt I])\n\n"
	"The logit lens: at every layer, the residual stream after that layer goes\n"
	"through the model's final norm (its own scale, weight and bias) and the\n"
	"unembedding, giving the tokens it would predict if the model stopped there.\n"
	"Row 'emb' is the token embeddings (blocks.0.hook_resid_pre); row L is\n"
	"blocks.L.hook_resid_post, so the last row is the model's real output.\n\n"
	"  -m, --model PATH     GGUF file or Hugging Face checkpoint (dir or ORG/NAME)\n"
	"  -t, --target TOKEN   a token to follow: its rank (1 = top) and probability\n"
	"                       at every layer (a single token, e.g. ' basketball';\n"
	"                       default: the model's final top token)\n"
	"  -k, --top N          top tokens shown per layer (default 5)\n"
	"      --at WHERE       position read: last (default), all, subject-last, or a\n"
	"                       token index (negative: from the end)\n"
	"      --subject TEXT   the subject in PROMPT (for --at subject-last)\n"
	"      --from ACTS.h5   read the residual streams of prompt --prompt I (default 0)\n"
	"                       from a recording holding blocks.*.hook_resid_post, without\n"
	"                       running the model (the embedding row is computed); --at\n"
	"                       chooses among the recorded positions\n"
	"      --tsv            columns: layer position token rank token_id top_token prob\n"
	"                       (rank 0 rows are the target)\n"
	"      --json           {prompt, target, rows: [{layer, position, target_rank,\n"
	"                       target_prob, top: [{token, prob}]}]}\n"
	"  -o, --output OUT.h5  also write HDF5: target_prob, target_rank [rows, positions],\n"
	"                       top_id, top_prob, top_token [rows, positions, k],\n"
	"                       layer_label [rows], token, position [positions]\n"
	"      --force          replace OUT.h5\n"
	"  -h, --help           this help\n\n"
	"example: factprobe lens --target ' basketball' \\\n"
	"             $'Q: What sport does Michael Jordan play?\\nA: This athlete plays the sport of'\n";

typedef struct lens_out {
	const fp_model *m;
	const char *text;
	size_t len;
	const int32_t *ids;
	int n, auto_target;
	const int *pos;
	const an_lens *r;
} lens_out;

/* "emb" for resid index 0, else the block */
static const char *layer_label(int r, char *buf, size_t n)
{
	if (r == 0)
		return "emb";
	snprintf(buf, n, "%d", r - 1);
	return buf;
}

/* TSV: a row per layer, position and token (rank 0: the target, then the top k) */
static const tb_col FLAT[] = {
	{"layer", NULL, TB_STR, NULL, 0, NULL, 0, NULL},    {"position", NULL, TB_INT, NULL, 0, NULL, 0, NULL},
	{"token", NULL, TB_STR, NULL, 0, NULL, 0, NULL},    {"rank", NULL, TB_INT, NULL, 0, NULL, 0, NULL},
	{"token_id", NULL, TB_INT, NULL, 0, NULL, 0, NULL}, {"top_token", NULL, TB_STR, NULL, 0, NULL, 0, NULL},
	{"prob", NULL, TB_REAL, NULL, 0, NULL, 0, NULL},
};
/* text and JSON: a row per layer and position, with its top k nested */
static const tb_col ROW[] = {
	{NULL, "layer", TB_STR, "%5s", 0, NULL, 1, NULL},
	{NULL, "position", TB_INT, NULL, 0, NULL, 0, NULL},
	{NULL, "target_rank", TB_INT, " %7d", 0, NULL, 0, NULL},
	{NULL, "target_prob", TB_REAL, " %9.4f  ", 0, NULL, 0, NULL},
	{NULL, "top", TB_NEST, NULL, 0, NULL, 0, NULL},
};
static const tb_col TOP[] = {
	{NULL, "token", TB_STR, " %s", 1, NULL, 0, NULL},
	{NULL, "token_id", TB_INT, NULL, 0, NULL, 0, NULL},
	{NULL, "prob", TB_REAL, " %.3f", 0, NULL, 0, NULL},
};

static void flat_rows(tb_doc *d, const lens_out *o)
{
	const an_lens *r = o->r;
	int k = r->k;
	char lab[16];
	tb_table t;
	tb_doc_table(d, &t, FLAT, 7, 0);
	for (int l = 0; l < r->R; l++)
		for (int i = 0; i < r->npos; i++) {
			size_t cell = (size_t)l * r->npos + i;
			for (int j = -1; j < k; j++) { /* the target (rank 0), then the top k */
				int id = j < 0 ? r->target : r->top_id[cell * k + j];
				const char *ll = layer_label(l, lab, sizeof lab);
				tb_str(&t, ll, strlen(ll)), tb_int(&t, o->pos[i]);
				cli_tb_token(&t, o->m, o->ids[o->pos[i]]);
				tb_int(&t, j < 0 ? 0 : j + 1), tb_int(&t, id);
				cli_tb_token(&t, o->m, id);
				tb_real(&t, j < 0 ? r->tprob[cell] : r->top_p[cell * k + j]);
			}
		}
}

/* layer l at position index i: one row of t, its top k nested */
static void lens_row(tb_table *t, const lens_out *o, int l, int i)
{
	const an_lens *r = o->r;
	size_t cell = (size_t)l * r->npos + i;
	char lab[16];
	const char *ll = layer_label(l, lab, sizeof lab);
	tb_str(t, ll, strlen(ll)), tb_int(t, o->pos[i]);
	tb_int(t, r->trank[cell]), tb_real(t, r->tprob[cell]);
	tb_table top;
	tb_begin_inline(&top, t, TOP, 3);
	for (int j = 0; j < r->k; j++) {
		cli_tb_token(&top, o->m, r->top_id[cell * r->k + j]);
		tb_int(&top, r->top_id[cell * r->k + j]), tb_real(&top, r->top_p[cell * r->k + j]);
	}
	tb_json(t, tb_end(&top));
}

/* the result in fmt: text (a table per position), TSV or JSON */
static void emit(const lens_out *o, int fmt)
{
	const an_lens *r = o->r;
	char tb[256];
	tb_doc d;
	tb_table t;
	tb_doc_begin(&d, stdout, fmt);
	tb_doc_strn(&d, "prompt", o->text, o->len);
	tb_doc_strn(&d, "target", tb, cli_token_bytes(o->m, r->target, tb, sizeof tb));
	tb_doc_int(&d, "target_id", r->target);
	tb_say(&d, "prompt ");
	tb_say_quoted(&d, o->text, o->len);
	tb_say(&d, " (%d tokens)\ntarget ", o->n);
	tb_say_quoted(&d, tb, cli_token_bytes(o->m, r->target, tb, sizeof tb));
	tb_say(&d, " (id %d%s)\n", r->target, o->auto_target ? ", the model's top prediction" : "");
	if (fmt == FMT_TSV)
		flat_rows(&d, o);
	else if (fmt == FMT_JSON) { /* layer by layer */
		tb_doc_table(&d, &t, ROW, 5, 0);
		for (int l = 0; l < r->R; l++)
			for (int i = 0; i < r->npos; i++)
				lens_row(&t, o, l, i);
		tb_doc_set(&d, "rows", tb_end(&t));
	} else { /* a table for each position */
		for (int i = 0; i < r->npos; i++) {
			tb_say(&d, "\nposition %d ", o->pos[i]);
			tb_say_quoted(&d, tb, cli_token_bytes(o->m, o->ids[o->pos[i]], tb, sizeof tb));
			tb_say(&d, "\n%5s %7s %9s   top %d (probability)\n", "layer", "rank", "p(target)", r->k);
			tb_doc_table(&d, &t, ROW, 5, 0);
			for (int l = 0; l < r->R; l++)
				lens_row(&t, o, l, i);
			tb_end(&t);
		}
	}
	tb_doc_end(&d);
}

static int write_h5(const lens_out *o, const char *out, int force)
{
	const an_lens *r = o->r;
	fp_error err = {0};
	int R = r->R, npos = r->npos, k = r->k;
	size_t cells = (size_t)R * npos;
	hid_t f = h5u_create(out, force, &err);
	if (f < 0)
		return cli_error("lens", "%s", err.msg);
	size_t d2[2] = {(size_t)R, (size_t)npos}, d3[3] = {(size_t)R, (size_t)npos, (size_t)k}, dp[1] = {(size_t)npos};
	char **labels = calloc((size_t)R, sizeof *labels), **toks = calloc((size_t)npos, sizeof *toks), lab[16];
	int32_t *pp = malloc((size_t)npos * sizeof *pp);
	int w = !labels || !toks || !pp;
	for (int l = 0; l < R && !w; l++)
		labels[l] = strdup(layer_label(l, lab, sizeof lab));
	for (int i = 0; i < npos && !w; i++)
		toks[i] = cli_token_text(o->m, o->ids[o->pos[i]]), pp[i] = o->pos[i];
	if (!w)
		w |= h5u_f32(f, "target_prob", 2, d2, r->tprob) | h5u_i32(f, "target_rank", 2, d2, r->trank) |
		     h5u_i32(f, "top_id", 3, d3, r->top_id) | h5u_f32(f, "top_prob", 3, d3, r->top_p) |
		     h5u_strs(f, "layer_label", (size_t)R, labels) | h5u_strs(f, "token", (size_t)npos, toks) |
		     h5u_i32(f, "position", 1, dp, pp);
	/* the top tokens' text, for plots */
	char **tt = w ? NULL : calloc(cells * k, sizeof *tt);
	for (size_t q = 0; tt && q < cells * k; q++)
		tt[q] = cli_token_text(o->m, r->top_id[q]);
	if (tt) {
		w |= h5u_strs_nd(f, "top_token", 3, d3, tt);
		for (size_t q = 0; q < cells * k; q++)
			free(tt[q]);
		free(tt);
	}
	char *ttext = cli_token_text(o->m, r->target);
	w |= cli_result_header(f, RES_LENS, o->m->gguf->path, &err) | h5u_attr_str(f, NULL, "prompt", o->text) |
	     h5u_attr_str(f, NULL, "target", ttext ? ttext : "") | h5u_attr_i64(f, NULL, "target_id", r->target) |
	     h5u_attr_i64(f, NULL, "k", k);
	free(ttext);
	for (int l = 0; labels && l < R; l++)
		free(labels[l]);
	for (int i = 0; toks && i < npos; i++)
		free(toks[i]);
	free(labels), free(toks), free(pp);
	if (h5u_close(f, out, &err) || w)
		return cli_error("lens", "%s", w ? "cannot write the results to the HDF5 file" : err.msg);
	return 0;
}

/* the positions read, poslist[0..*npos): every one (--from: those with a
 * recorded row) or --at's (--from: it must have a row); 0 or the exit status */
static int lens_positions(int at, int at_pos, int n, int s1, const char *from, const h5rec_recorded *rp, int prompt_i,
			  int *poslist, int *npos)
{
	*npos = 0;
	if (at == AT_ALL) {
		for (int t = 0; t < n; t++)
			if (!from || rp->row_of[t] >= 0)
				poslist[(*npos)++] = t;
	} else if ((poslist[(*npos)++] = cli_at_position("lens", at, at_pos, n, s1)) < 0) {
		return 1;
	} else if (from && rp->row_of[poslist[0]] < 0) {
		return cli_error("lens", "'%s' has no row for position %d of prompt %d (its recorded positions: %s); record "
					 "with --positions all, or choose one with --at", from, poslist[0], prompt_i,
				 "see /rows/position");
	}
	return 0;
}

int cmd_lens(int argc, char **argv)
{
	static const struct option opts[] = {
		{"model", required_argument, 0, 'm'}, {"target", required_argument, 0, 't'},
		{"top", required_argument, 0, 'k'}, {"at", required_argument, 0, 'a'},
		{"subject", required_argument, 0, 's'}, {"tsv", no_argument, 0, 'T'}, {"json", no_argument, 0, 'J'},
		{"output", required_argument, 0, 'o'}, {"force", no_argument, 0, 'f'}, {"help", no_argument, 0, 'h'},
		{"from", required_argument, 0, 'F'}, {"prompt", required_argument, 0, 'P'}, {0, 0, 0, 0}};
	const char *model = NULL, *target_s = NULL, *subject = NULL, *out = NULL, *from = NULL;
	int fmt = FMT_TEXT, k = 5, at = AT_LAST, at_pos = 0, force = 0, c, prompt_i = 0;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:t:k:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model = optarg; break;
		case 't': target_s = optarg; break;
		case 'k':
			if (cli_parse_int("lens", "-k", optarg, 1, 100, &k))
				return 2;
			break;
		case 'a':
			if (cli_parse_at("lens", optarg, 0xf, &at, &at_pos))
				return 2;
			break;
		case 's': subject = optarg; break;
		case 'T': fmt = FMT_TSV; break;
		case 'J': fmt = FMT_JSON; break;
		case 'o': out = optarg; break;
		case 'f': force = 1; break;
		case 'F': from = optarg; break;
		case 'P':
			if (cli_parse_int("lens", "--prompt", optarg, 0, 1 << 30, &prompt_i))
				return 2;
			break;
		case 'h': cli_help(HELP); return 0;
		default: return cli_bad_option("lens", c, argv);
		}
	}
	if (argc - optind != (from ? 0 : 1))
		return cli_usage_error("lens", from ? "--from reads a recording; give no PROMPT"
						  : "expects exactly one PROMPT argument (use '-' for standard input)");
	if (from && subject)
		return cli_usage_error("lens", "--subject comes from the recording with --from");
	if (out && !force && access(out, F_OK) == 0)
		return cli_error("lens", "'%s' exists; pass --force to replace it", out);
	size_t len = 0;
	char *text = from ? NULL : cli_text_arg("lens", argv[optind], &len);
	if (!text && !from)
		return 1;
	fp_model *m = cli_load_model("lens", model);
	if (!m) {
		free(text);
		return 1;
	}
	int rc = 0, n = 0, target = -1, s0 = -1, s1 = -1, npos = 0, *poslist = NULL;
	fp_error err = {0};
	int32_t *ids = NULL;
	an_run run = {0};
	an_lens res = {0};
	h5rec_recorded rp = {0};
	if (from) {
		if (an_run_recorded(m, from, prompt_i, &rp, &run, &err)) {
			rc = cli_error("lens", "%s", err.msg);
			goto done;
		}
		text = strdup(rp.text), len = strlen(text), n = rp.n, s0 = rp.s0, s1 = rp.s1;
		ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
		if (!text || !ids) {
			rc = cli_error("lens", "out of memory");
			goto done;
		}
		memcpy(ids, rp.ids, (size_t)n * sizeof *ids);
	} else if (fp_tokenize(m->tok, text, len, -1, &ids, &n, &err)) {
		rc = cli_error("lens", "%s", err.msg);
		goto done;
	}
	if (n == 0) {
		rc = cli_error("lens", "the prompt is empty (no tokens)");
		goto done;
	}
	if (target_s && an_target_token(m, target_s, 0, &target, &err)) {
		rc = cli_error("lens", "--target: %s", err.msg);
		goto done;
	}
	if (!from && subject && an_subject_span(m, text, subject, ids, n, ps_has_bos(m, ids, n, -1), &s0, &s1)) {
		rc = cli_error("lens", "--subject '%s' does not occur in the prompt", subject);
		goto done;
	}
	if (!(poslist = malloc((size_t)n * sizeof *poslist))) {
		rc = cli_error("lens", "out of memory");
		goto done;
	}
	if ((rc = lens_positions(at, at_pos, n, s1, from, &rp, prompt_i, poslist, &npos)))
		goto done;
	if ((!from && an_run_prompt(m, ids, n, AN_RESID, &run, &err)) ||
	    an_lens_run(m, &run, poslist, npos, k, target, &res, &err)) {
		rc = cli_error("lens", "%s", err.msg);
		goto done;
	}
	lens_out o = {m, text, len, ids, n, target < 0, poslist, &res};
	emit(&o, fmt);
	if (out && !(rc = write_h5(&o, out, force)) && fmt == FMT_TEXT)
		printf("wrote %s\n", out);
done:
	an_run_free(&run);
	an_lens_free(&res);
	h5rec_recorded_free(&rp);
	free(text), free(ids), free(poslist);
	fp_model_free(m);
	return rc;
}
