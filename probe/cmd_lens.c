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
	"  -m, --model PATH     GGUF model\n"
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

/* The residual streams of one recorded prompt into run->resid [L+1][n][D]
 * (positions without rows stay NaN; row 0, the embeddings, is computed). */
static int read_recorded(fp_model *m, const char *path, int i, char **text, int32_t **ids, int *n, int *s0, int *s1,
			 long **row_of, an_run *run)
{
	int L = m->cfg.n_layers, D = m->cfg.d_model, rc = 0;
	fp_error err = {0};
	h5rec_in *rec = NULL;
	h5rec_meta mt;
	h5rec_recorded p;
	if (h5rec_open(&rec, path, &mt, &err))
		return cli_error("lens", "%s", err.msg);
	if (mt.n_layers != L || mt.d_model != D) {
		h5rec_in_close(rec);
		return cli_error("lens", "'%s' was recorded from a model with %d layers of width %d, not this one (%d, %d)", path,
				 mt.n_layers, mt.d_model, L, D);
	}
	if (h5rec_recorded_get(rec, i, &p, &err)) {
		h5rec_in_close(rec);
		return cli_error("lens", "%s", err.msg);
	}
	int T = p.n;
	memset(run, 0, sizeof *run);
	run->n_tok = T, run->n_layers = L, run->d_model = D;
	run->resid = malloc((size_t)(L + 1) * T * D * sizeof(float));
	if (!run->resid) {
		rc = cli_error("lens", "out of memory");
		goto done;
	}
	for (size_t q = 0; q < (size_t)(L + 1) * T * D; q++)
		run->resid[q] = NAN;
	for (int t = 0; t < T; t++) { /* blocks.0.hook_resid_pre: embeddings (+ positions) */
		if (p.ids[t] < 0 || p.ids[t] >= m->cfg.n_vocab) {
			rc = cli_error("lens", "'%s': token id %d is outside this model's vocabulary", path, p.ids[t]);
			goto done;
		}
		fp_mat_row(&m->tok_embd, p.ids[t], run->resid + (size_t)t * D);
		for (int d = 0; m->pos_embd && d < D; d++)
			run->resid[(size_t)t * D + d] += m->pos_embd[(size_t)t * D + d];
	}
	for (int l = 0; l < L; l++) {
		char hn[96];
		snprintf(hn, sizeof hn, "blocks.%d.hook_resid_post", l);
		for (int t = 0; t < T; t++) {
			int w;
			if (p.row_of[t] < 0)
				continue;
			if (h5rec_read(rec, hn, p.row_of[t], 1, run->resid + ((size_t)(l + 1) * T + t) * D, &w, &err)) {
				rc = cli_error("lens", "%s", err.msg);
				goto done;
			}
		}
	}
	*text = p.text, *ids = p.ids, *n = T, *s0 = p.s0, *s1 = p.s1, *row_of = p.row_of;
	p.text = NULL, p.ids = NULL, p.row_of = NULL;
done:
	h5rec_recorded_free(&p);
	h5rec_in_close(rec);
	if (rc)
		an_run_free(run);
	return rc;
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
		case 'h': fputs(HELP, stdout); return 0;
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
	int L = m->cfg.n_layers, V = m->cfg.n_vocab, D = m->cfg.d_model, R = L + 1, rc = 0, n = 0;
	int target = -1, s0 = -1, s1 = -1, npos = 0, *poslist = NULL;
	fp_error err = {0};
	int32_t *ids = NULL, *top_id = NULL, *trank = NULL;
	float *logits = NULL, *tmp = NULL, *rows = NULL, *top_p = NULL, *tprob = NULL;
	an_run run = {0};
	long *row_of = NULL;
	if (from) {
		if (read_recorded(m, from, prompt_i, &text, &ids, &n, &s0, &s1, &row_of, &run)) {
			rc = 1;
			goto done;
		}
		len = strlen(text);
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
	int has_bos = ps_has_bos(m, ids, n, -1);
	if (!from && subject && an_subject_span(m, text, subject, ids, n, has_bos, &s0, &s1)) {
		rc = cli_error("lens", "--subject '%s' does not occur in the prompt", subject);
		goto done;
	}
	poslist = malloc((size_t)n * sizeof *poslist);
	if (!poslist) {
		rc = cli_error("lens", "out of memory");
		goto done;
	}
	if (at == AT_ALL) {
		for (int t = 0; t < n; t++)
			if (!row_of || row_of[t] >= 0)
				poslist[npos++] = t;
	} else if ((poslist[npos++] = cli_at_position("lens", at, at_pos, n, s1)) < 0) {
		rc = 1;
		goto done;
	} else if (row_of && row_of[poslist[0]] < 0) {
		rc = cli_error("lens", "'%s' has no row for position %d of prompt %d (its recorded positions: %s); record "
				       "with --positions all, or choose one with --at", from, poslist[0], prompt_i, "see /rows/position");
		goto done;
	}
	if (!from && an_run_prompt(m, ids, n, AN_RESID, &run, &err)) {
		rc = cli_error("lens", "%s", err.msg);
		goto done;
	}
	if (k > V)
		k = V;
	size_t cells = (size_t)R * npos;
	logits = malloc((size_t)R * V * sizeof *logits);
	tmp = malloc((size_t)R * D * sizeof *tmp);
	rows = malloc((size_t)R * D * sizeof *rows);
	top_id = malloc(cells * k * sizeof *top_id);
	top_p = malloc(cells * k * sizeof *top_p);
	tprob = malloc(cells * sizeof *tprob);
	trank = malloc(cells * sizeof *trank);
	if (!logits || !tmp || !rows || !top_id || !top_p || !tprob || !trank) {
		rc = cli_error("lens", "out of memory");
		goto done;
	}
	int auto_target = target < 0;
	/* last position first when the target comes from the final top token */
	for (int ii = 0; ii < npos; ii++) {
		int i = auto_target ? npos - 1 - ii : ii, p = poslist[i];
		for (int r = 0; r < R; r++)
			memcpy(rows + (size_t)r * D, run.resid + ((size_t)r * n + p) * D, (size_t)D * sizeof(float));
		an_lens_logits(m, rows, R, logits, tmp);
		if (target < 0) { /* the model's final top token at this position */
			an_top_k(logits + (size_t)(R - 1) * V, V, 1, &target);
		}
		for (int r = 0; r < R; r++) {
			const float *lg = logits + (size_t)r * V;
			size_t cell = (size_t)r * npos + i;
			double mx = lg[0], sum = 0;
			for (int v = 1; v < V; v++)
				mx = lg[v] > mx ? lg[v] : mx;
			for (int v = 0; v < V; v++)
				sum += exp(lg[v] - mx);
			double lse = mx + log(sum);
			int *ord = top_id + cell * k;
			an_top_k(lg, V, k, ord);
			for (int j = 0; j < k; j++)
				top_p[cell * k + j] = (float)exp(lg[ord[j]] - lse);
			int rank;
			tprob[cell] = (float)exp(an_logprob(lg, V, target, &rank));
			trank[cell] = rank;
		}
	}
	char *ttext = cli_token_text(m, target);
	char lab[16];
#define LAYER_LABEL(r) (r == 0 ? "emb" : (snprintf(lab, sizeof lab, "%d", r - 1), lab))
	if (fmt == FMT_JSON) {
		json_t *o = json_object(), *arr = json_array();
		char *ct = tb_utf8_clean(text, len);
		json_object_set_new(o, "prompt", json_string(ct ? ct : ""));
		free(ct);
		json_object_set_new(o, "target", json_string(ttext ? ttext : ""));
		json_object_set_new(o, "target_id", json_integer(target));
		for (int r = 0; r < R; r++)
			for (int i = 0; i < npos; i++) {
				size_t cell = (size_t)r * npos + i;
				json_t *e = json_object(), *tops = json_array();
				json_object_set_new(e, "layer", json_string(LAYER_LABEL(r)));
				json_object_set_new(e, "position", json_integer(poslist[i]));
				json_object_set_new(e, "target_rank", json_integer(trank[cell]));
				json_object_set_new(e, "target_prob", json_real(tprob[cell]));
				for (int j = 0; j < k; j++) {
					json_t *t = json_object();
					char *tt = cli_token_text(m, top_id[cell * k + j]);
					json_object_set_new(t, "token", json_string(tt ? tt : ""));
					json_object_set_new(t, "token_id", json_integer(top_id[cell * k + j]));
					json_object_set_new(t, "prob", json_real(top_p[cell * k + j]));
					json_array_append_new(tops, t);
					free(tt);
				}
				json_object_set_new(e, "top", tops);
				json_array_append_new(arr, e);
			}
		json_object_set_new(o, "rows", arr);
		json_dumpf(o, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(o);
	} else if (fmt == FMT_TSV) {
		printf("layer\tposition\ttoken\trank\ttoken_id\ttop_token\tprob\n");
		char tb[512], pb[512];
		for (int r = 0; r < R; r++)
			for (int i = 0; i < npos; i++) {
				size_t cell = (size_t)r * npos + i;
				int pl = fp_token_decode(m->tok, ids[poslist[i]], pb, sizeof pb);
				pl = pl < (int)sizeof pb ? pl : (int)sizeof pb - 1;
				for (int j = -1; j < k; j++) {
					int id = j < 0 ? target : top_id[cell * k + j];
					int tl = fp_token_decode(m->tok, id, tb, sizeof tb);
					printf("%s\t%d\t", LAYER_LABEL(r), poslist[i]);
					tb_tsv_escape(stdout, pb, (size_t)pl);
					printf("\t%d\t%d\t", j < 0 ? 0 : j + 1, id);
					tb_tsv_escape(stdout, tb, tl < (int)sizeof tb ? (size_t)tl : sizeof tb - 1);
					printf("\t%.6g\n", j < 0 ? tprob[cell] : top_p[cell * k + j]);
				}
			}
	} else {
		char tb[256];
		printf("prompt ");
		tb_print_quoted(stdout, text, len);
		printf(" (%d tokens)\ntarget ", n);
		int tl = fp_token_decode(m->tok, target, tb, sizeof tb);
		tb_print_quoted(stdout, tb, tl < (int)sizeof tb ? (size_t)tl : sizeof tb - 1);
		printf(" (id %d%s)\n", target, auto_target ? ", the model's top prediction" : "");
		for (int i = 0; i < npos; i++) {
			int p = poslist[i];
			tl = fp_token_decode(m->tok, ids[p], tb, sizeof tb);
			printf("\nposition %d ", p);
			tb_print_quoted(stdout, tb, tl < (int)sizeof tb ? (size_t)tl : sizeof tb - 1);
			printf("\n%5s %7s %9s   top %d (probability)\n", "layer", "rank", "p(target)", k);
			for (int r = 0; r < R; r++) {
				size_t cell = (size_t)r * npos + i;
				printf("%5s %7d %9.4f  ", LAYER_LABEL(r), trank[cell], tprob[cell]);
				for (int j = 0; j < k; j++) {
					tl = fp_token_decode(m->tok, top_id[cell * k + j], tb, sizeof tb);
					printf(" ");
					tb_print_quoted(stdout, tb, tl < (int)sizeof tb ? (size_t)tl : sizeof tb - 1);
					printf(" %.3f", top_p[cell * k + j]);
				}
				printf("\n");
			}
		}
	}
	if (out) {
		hid_t f = h5u_create(out, force, &err);
		if (f < 0) {
			free(ttext);
			rc = cli_error("lens", "%s", err.msg);
			goto done;
		}
		size_t d2[2] = {(size_t)R, (size_t)npos}, d3[3] = {(size_t)R, (size_t)npos, (size_t)k}, dp[1] = {(size_t)npos};
		char **labels = calloc((size_t)R, sizeof *labels), **toks = calloc((size_t)npos, sizeof *toks);
		int32_t *pp = malloc((size_t)npos * sizeof *pp);
		int w = !labels || !toks || !pp;
		for (int r = 0; r < R && !w; r++)
			labels[r] = strdup(LAYER_LABEL(r));
		for (int i = 0; i < npos && !w; i++)
			toks[i] = cli_token_text(m, ids[poslist[i]]), pp[i] = poslist[i];
		if (!w)
			w |= h5u_f32(f, "target_prob", 2, d2, tprob) | h5u_i32(f, "target_rank", 2, d2, trank) |
			     h5u_i32(f, "top_id", 3, d3, top_id) | h5u_f32(f, "top_prob", 3, d3, top_p) |
			     h5u_strs(f, "layer_label", (size_t)R, labels) | h5u_strs(f, "token", (size_t)npos, toks) |
			     h5u_i32(f, "position", 1, dp, pp);
		/* the top tokens' text, for plots */
		char **tt = w ? NULL : calloc(cells * k, sizeof *tt);
		for (size_t q = 0; tt && q < cells * k; q++)
			tt[q] = cli_token_text(m, top_id[q]);
		if (tt) {
			w |= h5u_strs_nd(f, "top_token", 3, d3, tt);
			for (size_t q = 0; q < cells * k; q++)
				free(tt[q]);
			free(tt);
		}
		w |= cli_result_header(f, RES_LENS, m->gguf->path, &err) | h5u_attr_str(f, NULL, "prompt", text) |
		     h5u_attr_str(f, NULL, "target", ttext ? ttext : "") | h5u_attr_i64(f, NULL, "target_id", target) |
		     h5u_attr_i64(f, NULL, "k", k);
		for (int r = 0; labels && r < R; r++)
			free(labels[r]);
		for (int i = 0; toks && i < npos; i++)
			free(toks[i]);
		free(labels), free(toks), free(pp);
		if (h5u_close(f, out, &err) || w) {
			free(ttext);
			rc = cli_error("lens", "%s", w ? "cannot write the results to the HDF5 file" : err.msg);
			goto done;
		}
		if (fmt == FMT_TEXT)
			printf("wrote %s\n", out);
	}
#undef LAYER_LABEL
	free(ttext);
done:
	an_run_free(&run);
	free(row_of);
	free(text), free(ids), free(poslist), free(logits), free(tmp), free(rows), free(top_id), free(top_p), free(tprob),
		free(trank);
	fp_model_free(m);
	return rc;
}
