/* cmd_dot.c - `factprobe dot`: dot product and cosine of each layer's
 * residual vector with a concept direction, for one prompt, a prompt set, or
 * a recording. */
#include "analysis.h"
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
	"  -m, --model PATH      GGUF model (default: $FACTPROBE_MODEL or the default model)\n"
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
	"      --tsv, --json     machine-readable output (default: a table)\n"
	"  -o, --output OUT.h5   also write the numbers to HDF5 (datasets dot, cos,\n"
	"                        norm [layers, positions] or mean_dot, std_dot,\n"
	"                        mean_cos, std_cos, n [layers]; attributes say what)\n"
	"      --force           replace OUT.h5 if it exists\n"
	"  -h, --help            this help\n\n"
	"example: factprobe dot \"Michael Jordan plays the sport of\" --at last \\\n"
	"             --direction 'tok:\" basketball\"'\n";

typedef struct acc {
	double s_dot, ss_dot, s_cos, ss_cos;
	long n;
} acc;

static void add(acc *a, double dot, double cos_)
{
	a->s_dot += dot, a->ss_dot += dot * dot, a->s_cos += cos_, a->ss_cos += cos_ * cos_, a->n++;
}

static double mean_of(double s, long n)
{
	return n ? s / n : NAN;
}

static double std_of(double s, double ss, long n)
{
	if (n < 2)
		return NAN;
	double v = (ss - s * s / n) / (n - 1);
	return v > 0 ? sqrt(v) : 0;
}

/* dot, cos and |x| of x with direction v */
static void dotcos(const float *x, const float *v, int W, double *dot, double *cs, double *nx)
{
	double d = 0, xx = 0, vv = 0;
	for (int k = 0; k < W; k++)
		d += (double)x[k] * v[k], xx += (double)x[k] * x[k], vv += (double)v[k] * v[k];
	*dot = d;
	*nx = sqrt(xx);
	*cs = xx > 0 && vv > 0 ? d / sqrt(xx * vv) : 0;
}

static void hook_label(int kind, int layer, char *buf, size_t n)
{
	char t[96];
	fp_hook_name(kind, layer < 0 ? 0 : layer, t, sizeof t);
	if (layer < 0)
		snprintf(buf, n, "blocks.*.%s", t + strlen("blocks.0."));
	else
		snprintf(buf, n, "%s", t);
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
	const char *model = NULL, *dir_spec = NULL, *hook = "blocks.*.hook_resid_post", *at_s = NULL, *subject = NULL;
	const char *prompts = NULL, *from = NULL, *out = NULL;
	int fmt = FMT_TEXT, multi = 0, normalize = 0, force = 0, quiet = 0, c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:d:p:o:hq", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model = optarg; break;
		case 'd': dir_spec = optarg; break;
		case 'H': hook = optarg; break;
		case 'a': at_s = optarg; break;
		case 's': subject = optarg; break;
		case 'p': prompts = optarg; break;
		case 'F': from = optarg; break;
		case 'M':
			if (!strcmp(optarg, "mean")) multi = 1;
			else if (!strcmp(optarg, "first")) multi = 2;
			else return cli_usage_error("dot", "--multi takes mean or first, not '%s'", optarg);
			break;
		case 'n': normalize = 1; break;
		case 'T': fmt = FMT_TSV; break;
		case 'J': fmt = FMT_JSON; break;
		case 'o': out = optarg; break;
		case 'f': force = 1; break;
		case 'B': cli_skip_bad("dot"); break;
		case 'q': quiet = 1; break;
		case 'h': fputs(HELP, stdout); return 0;
		default: return cli_bad_option("dot", c, argv);
		}
	}
	int n_src = (optind < argc) + (prompts != NULL) + (from != NULL);
	if (n_src != 1 || argc - optind > 1)
		return cli_usage_error("dot", "give one PROMPT, or -p PROMPTS, or --from ACTS.h5");
	if (!dir_spec)
		return cli_usage_error("dot", "--direction is required, e.g. --direction 'tok:\" basketball\"'");
	int at = prompts ? AT_LAST : AT_ALL, at_pos = 0;
	if (at_s && cli_parse_at("dot", at_s, 0xf, &at, &at_pos))
		return 2;
	if (from && at_s)
		return cli_usage_error("dot", "--at does not apply to --from: a recording's rows are the positions "
					      "it recorded");
	if (out && !force && access(out, F_OK) == 0)
		return cli_error("dot", "'%s' exists; pass --force to replace it", out);

	fp_model *m = cli_load_model("dot", model);
	if (!m)
		return 1;
	int rc = 0, kind, hl, L = m->cfg.n_layers, W;
	an_dir *dir = NULL;
	fp_error err = {0};
	char *text = NULL, hname[128];
	int32_t *ids = NULL;
	float *cap = NULL;
	acc *A = NULL;
	double *dots = NULL, *coss = NULL, *norms = NULL;
	int n = 0, s0 = -1, s1 = -1, npos = 0, *poslist = NULL;
	h5rec_in *rec = NULL;
	if (cli_parse_hook_pattern("dot", m, hook, &kind, &hl)) {
		rc = 2;
		goto done;
	}
	W = fp_hook_width(m, kind);
	hook_label(kind, hl, hname, sizeof hname);
	if (an_dir_parse(m, dir_spec, multi, normalize, &dir, &err)) {
		rc = cli_error("dot", "--direction: %s", err.msg);
		goto done;
	}
	if (dir->width != W) {
		rc = cli_error("dot", "the direction has %d dimensions but %s has %d; pick a hook of the direction's "
				      "space (--hook)", dir->width, hname, W);
		goto done;
	}
	int l0 = hl < 0 ? 0 : hl, l1 = hl < 0 ? L : hl + 1, nl = l1 - l0;
	for (int l = l0; l < l1; l++)
		if (!an_dir_at(dir, l)) {
			rc = cli_error("dot", "the direction has no vector for layer %d", l);
			goto done;
		}
	double vnorm = 0;
	{
		const float *v = an_dir_at(dir, l0);
		for (int k = 0; k < W; k++)
			vnorm += (double)v[k] * v[k];
		vnorm = sqrt(vnorm);
	}
	int single = !prompts && !from;
	if (single) {
		size_t len;
		if (!(text = cli_text_arg("dot", argv[optind], &len))) {
			rc = 1;
			goto done;
		}
		if (fp_tokenize(m->tok, text, len, -1, &ids, &n, &err)) {
			rc = cli_error("dot", "%s", err.msg);
			goto done;
		}
		if (n == 0) {
			rc = cli_error("dot", "the prompt is empty (no tokens)");
			goto done;
		}
		int has_bos = ps_has_bos(m, ids, n, -1);
		if (subject && an_subject_span(m, text, subject, ids, n, has_bos, &s0, &s1)) {
			rc = cli_error("dot", "--subject '%s' does not occur in the prompt", subject);
			goto done;
		}
		poslist = malloc((size_t)n * sizeof *poslist);
		if (at == AT_ALL) {
			for (int t = 0; t < n; t++)
				poslist[npos++] = t;
		} else {
			int p = cli_at_position("dot", at, at_pos, n, s1);
			if (p < 0) {
				rc = 1;
				goto done;
			}
			poslist[npos++] = p;
		}
		cap = malloc((size_t)L * n * W * sizeof *cap);
		dots = malloc((size_t)nl * npos * sizeof *dots);
		coss = malloc((size_t)nl * npos * sizeof *coss);
		norms = malloc((size_t)nl * npos * sizeof *norms);
		if (!cap || !dots || !coss || !norms) {
			rc = cli_error("dot", "out of memory");
			goto done;
		}
		if (an_capture(m, ids, n, kind, cap, &err)) {
			rc = cli_error("dot", "%s", err.msg);
			goto done;
		}
		for (int l = l0; l < l1; l++)
			for (int i = 0; i < npos; i++) {
				size_t k = (size_t)(l - l0) * npos + i;
				dotcos(cap + ((size_t)l * n + poslist[i]) * W, an_dir_at(dir, l), W, &dots[k], &coss[k],
				       &norms[k]);
			}
	} else {
		A = calloc((size_t)nl, sizeof *A);
		if (!A) {
			rc = cli_error("dot", "out of memory");
			goto done;
		}
		if (from) {
			h5rec_meta mt;
			if (h5rec_open(&rec, from, &mt, &err)) {
				rc = cli_error("dot", "%s", err.msg);
				goto done;
			}
			if (mt.n_layers != L || mt.d_model != m->cfg.d_model) {
				rc = cli_error("dot", "'%s' was recorded from a model with %d layers of width %d, not this "
						      "one (%d, %d)", from, mt.n_layers, mt.d_model, L, m->cfg.d_model);
				goto done;
			}
			long chunk = 4096;
			cap = malloc((size_t)chunk * W * sizeof *cap);
			for (int l = l0; l < l1 && cap; l++) {
				char hn[96];
				fp_hook_name(kind, l, hn, sizeof hn);
				for (long r0 = 0; r0 < mt.n_rows; r0 += chunk) {
					long cnt = mt.n_rows - r0 < chunk ? mt.n_rows - r0 : chunk;
					int w;
					if (h5rec_read(rec, hn, r0, cnt, cap, &w, &err)) {
						rc = cli_error("dot", "%s", err.msg);
						goto done;
					}
					for (long r = 0; r < cnt; r++) {
						double d, cs, nx;
						dotcos(cap + (size_t)r * W, an_dir_at(dir, l), W, &d, &cs, &nx);
						add(&A[l - l0], d, cs);
					}
				}
				if (mt.n_rows == 0 && h5rec_read(rec, hn, 0, 0, NULL, &(int){0}, &err)) {
					rc = cli_error("dot", "%s", err.msg);
					goto done;
				}
			}
			if (!cap) {
				rc = cli_error("dot", "out of memory");
				goto done;
			}
		} else {
			prompt_reader *pr = NULL;
			if (prompts_open(&pr, prompts, &err)) {
				rc = cli_error("dot", "%s", err.msg);
				goto done;
			}
			if (at == AT_SUBJECT_LAST && !prompts_has_subject(pr)) {
				prompts_close(pr);
				rc = cli_error("dot", "--at subject-last needs a 'subject' column in '%s'", prompts);
				goto done;
			}
			fp_prompt p;
			int r;
			long done_p = 0;
			fp_progress pg;
			fp_progress_start(&pg, stderr, quiet, "dot", "prompts", NULL, prompts_count(prompts));
			while ((r = prompts_next(pr, &p, &err)) == 1) {
				fp_progress_update(&pg, done_p++, 0);
				free(ids), ids = NULL;
				if (fp_tokenize(m->tok, p.text, p.len, -1, &ids, &n, &err) || n == 0) {
					rc = cli_error("dot", "'%s' line %ld: %s", prompts, p.line, n ? err.msg : "no tokens");
					break;
				}
				int has_bos = ps_has_bos(m, ids, n, -1);
				s0 = s1 = -1;
				if (at == AT_SUBJECT_LAST && an_subject_span(m, p.text, p.subject, ids, n, has_bos, &s0, &s1)) {
					rc = cli_error("dot", "'%s' line %ld, field 'subject': not found in the prompt", prompts,
						       p.line);
					break;
				}
				float *nc = realloc(cap, (size_t)L * n * W * sizeof *cap);
				if (!nc) {
					rc = cli_error("dot", "out of memory");
					break;
				}
				cap = nc;
				if (an_capture(m, ids, n, kind, cap, &err)) {
					rc = cli_error("dot", "%s", err.msg);
					break;
				}
				int pa = 0, pb = n;
				if (at != AT_ALL) {
					pa = at == AT_SUBJECT_LAST ? s1 - 1 : at == AT_LAST ? n - 1 : at_pos < 0 ? n + at_pos : at_pos;
					if (pa < 0 || pa >= n) {
						rc = cli_error("dot", "'%s' line %ld: --at %d is outside its %d tokens", prompts, p.line,
							       at_pos, n);
						break;
					}
					pb = pa + 1;
				}
				for (int l = l0; l < l1; l++)
					for (int t = pa; t < pb; t++) {
						double d, cs, nx;
						dotcos(cap + ((size_t)l * n + t) * W, an_dir_at(dir, l), W, &d, &cs, &nx);
						add(&A[l - l0], d, cs);
					}
			}
			if (!rc && r >= 0)
				fp_progress_end(&pg, done_p, 0);
			if (r < 0)
				rc = cli_error("dot", "%s", err.msg);
			prompts_close(pr);
			if (rc)
				goto done;
			if (A[0].n == 0) {
				rc = cli_error("dot", "'%s' holds no prompts", prompts);
				goto done;
			}
		}
	}

	/* ---- output ---- */
	const char *norm_word = dir->normalized ? "normalised to unit length" : "not normalised";
	if (fmt == FMT_JSON) {
		json_t *o = json_object(), *rows = json_array();
		json_object_set_new(o, "direction", json_string(dir->label));
		json_object_set_new(o, "normalized", json_boolean(dir->normalized));
		json_object_set_new(o, "direction_norm", json_real(vnorm));
		json_object_set_new(o, "hook", json_string(hname));
		if (single) {
			char *ct = tb_utf8_clean(text, strlen(text));
			json_object_set_new(o, "prompt", json_string(ct ? ct : ""));
			free(ct);
			for (int l = l0; l < l1; l++)
				for (int i = 0; i < npos; i++) {
					size_t k = (size_t)(l - l0) * npos + i;
					char *tt = cli_token_text(m, ids[poslist[i]]);
					json_t *e = json_object();
					json_object_set_new(e, "layer", json_integer(l));
					json_object_set_new(e, "position", json_integer(poslist[i]));
					json_object_set_new(e, "token", json_string(tt ? tt : ""));
					json_object_set_new(e, "dot", json_real(dots[k]));
					json_object_set_new(e, "cos", json_real(coss[k]));
					json_object_set_new(e, "norm", json_real(norms[k]));
					json_array_append_new(rows, e);
					free(tt);
				}
		} else {
			json_object_set_new(o, "source", json_string(from ? from : prompts));
			json_object_set_new(o, "at", json_string(from ? "recorded rows" : ps_at_name(at)));
			for (int l = l0; l < l1; l++) {
				acc *a = &A[l - l0];
				json_t *e = json_object();
				json_object_set_new(e, "layer", json_integer(l));
				json_object_set_new(e, "n", json_integer(a->n));
				json_object_set_new(e, "mean_dot", json_real(mean_of(a->s_dot, a->n)));
				json_object_set_new(e, "std_dot", a->n > 1 ? json_real(std_of(a->s_dot, a->ss_dot, a->n)) : json_null());
				json_object_set_new(e, "mean_cos", json_real(mean_of(a->s_cos, a->n)));
				json_object_set_new(e, "std_cos", a->n > 1 ? json_real(std_of(a->s_cos, a->ss_cos, a->n)) : json_null());
				json_array_append_new(rows, e);
			}
		}
		json_object_set_new(o, "rows", rows);
		json_dumpf(o, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(o);
	} else if (fmt == FMT_TSV) {
		if (single) {
			printf("layer\tposition\ttoken\tdot\tcos\tnorm\n");
			for (int l = l0; l < l1; l++)
				for (int i = 0; i < npos; i++) {
					size_t k = (size_t)(l - l0) * npos + i;
					char tb[512];
					int tl = fp_token_decode(m->tok, ids[poslist[i]], tb, sizeof tb);
					printf("%d\t%d\t", l, poslist[i]);
					tb_tsv_escape(stdout, tb, tl < (int)sizeof tb ? (size_t)tl : sizeof tb - 1);
					printf("\t%.6g\t%.6g\t%.6g\n", dots[k], coss[k], norms[k]);
				}
		} else {
			printf("layer\tn\tmean_dot\tstd_dot\tmean_cos\tstd_cos\n");
			for (int l = l0; l < l1; l++) {
				acc *a = &A[l - l0];
				printf("%d\t%ld\t%.6g\t%.6g\t%.6g\t%.6g\n", l, a->n, mean_of(a->s_dot, a->n),
				       std_of(a->s_dot, a->ss_dot, a->n), mean_of(a->s_cos, a->n), std_of(a->s_cos, a->ss_cos, a->n));
			}
		}
	} else {
		printf("direction: %s, %s", dir->label, norm_word);
		if (!dir->per_layer)
			printf(", |v| = %.4g", vnorm);
		printf("\nhook: %s\n", hname);
		if (single && npos == 1) {
			printf("prompt ");
			tb_print_quoted(stdout, text, strlen(text));
			char tb[256];
			int tl = fp_token_decode(m->tok, ids[poslist[0]], tb, sizeof tb);
			printf(" (%d tokens), position %d ", n, poslist[0]);
			tb_print_quoted(stdout, tb, tl < (int)sizeof tb ? (size_t)tl : sizeof tb - 1);
			printf("\n%5s %12s %9s %10s\n", "layer", "dot", "cos", "|x|");
			for (int l = l0; l < l1; l++)
				printf("%5d %12.4f %9.4f %10.3f\n", l, dots[l - l0], coss[l - l0], norms[l - l0]);
			if (nl >= 4) {
				int q = nl / 4;
				double a = 0, b = 0;
				for (int i = 0; i < q; i++)
					a += coss[i], b += coss[nl - q + i];
				printf("mean cos, first quarter (layers %d-%d): %.4f; last quarter (layers %d-%d): %.4f\n", l0,
				       l0 + q - 1, a / q, l1 - q, l1 - 1, b / q);
			}
		} else if (single) {
			printf("prompt ");
			tb_print_quoted(stdout, text, strlen(text));
			printf(" (%d tokens); cosine per layer (rows) and token (columns); dot products: --tsv or --json\n",
			       n);
			printf("%5s", "layer");
			for (int i = 0; i < npos; i++) {
				char tb[64];
				int tl = fp_token_decode(m->tok, ids[poslist[i]], tb, sizeof tb);
				tl = tl < 7 ? tl : 7;
				printf(" ");
				int cols = 0;
				for (int k = 0; k < tl; k++) {
					unsigned char ch = (unsigned char)tb[k];
					if (ch < 0x20 || ch == 0x7f || ch >= 0x80)
						ch = '?';
					putchar(ch == ' ' ? '_' : ch);
					cols++;
				}
				printf("%*s", 7 - cols, "");
			}
			printf("\n");
			for (int l = l0; l < l1; l++) {
				printf("%5d", l);
				for (int i = 0; i < npos; i++)
					printf(" %7.4f", coss[(size_t)(l - l0) * npos + i]);
				printf("\n");
			}
		} else {
			printf("over %s (%s)\n", from ? from : prompts,
			       from ? "all recorded rows" : ps_at_name(at));
			printf("%5s %7s %12s %10s %9s %8s\n", "layer", "n", "mean dot", "std", "mean cos", "std");
			for (int l = l0; l < l1; l++) {
				acc *a = &A[l - l0];
				printf("%5d %7ld %12.4f %10.4f %9.4f %8.4f\n", l, a->n, mean_of(a->s_dot, a->n),
				       std_of(a->s_dot, a->ss_dot, a->n), mean_of(a->s_cos, a->n), std_of(a->s_cos, a->ss_cos, a->n));
			}
		}
	}
	if (out) {
		hid_t f = h5u_create(out, force, &err);
		if (f < 0) {
			rc = cli_error("dot", "%s", err.msg);
			goto done;
		}
		int w = 0;
		size_t dl[1] = {(size_t)nl};
		int32_t *layers = malloc((size_t)nl * sizeof *layers);
		for (int l = l0; l < l1 && layers; l++)
			layers[l - l0] = l;
		w |= layers ? h5u_i32(f, "layer", 1, dl, layers) : -1;
		free(layers);
		if (single) {
			size_t d2[2] = {(size_t)nl, (size_t)npos}, dp[1] = {(size_t)npos};
			w |= h5u_f64(f, "dot", 2, d2, dots) | h5u_f64(f, "cos", 2, d2, coss) | h5u_f64(f, "norm", 2, d2, norms);
			int32_t *pid = malloc((size_t)npos * sizeof *pid), *pp = malloc((size_t)npos * sizeof *pp);
			char **tt = calloc((size_t)npos, sizeof *tt);
			for (int i = 0; i < npos && pid && pp && tt; i++) {
				pid[i] = ids[poslist[i]], pp[i] = poslist[i];
				tt[i] = cli_token_text(m, ids[poslist[i]]);
			}
			w |= pid && pp && tt ? h5u_i32(f, "position", 1, dp, pp) | h5u_i32(f, "token_id", 1, dp, pid) |
						       h5u_strs(f, "token", (size_t)npos, tt)
					     : -1;
			for (int i = 0; i < npos && tt; i++)
				free(tt[i]);
			free(tt), free(pid), free(pp);
			w |= h5u_attr_str(f, NULL, "prompt", text);
		} else {
			double *b = malloc((size_t)nl * 4 * sizeof *b);
			int32_t *cnt = malloc((size_t)nl * sizeof *cnt);
			for (int l = 0; l < nl && b && cnt; l++) {
				acc *a = &A[l];
				b[l] = mean_of(a->s_dot, a->n), b[nl + l] = std_of(a->s_dot, a->ss_dot, a->n);
				b[2 * nl + l] = mean_of(a->s_cos, a->n), b[3 * nl + l] = std_of(a->s_cos, a->ss_cos, a->n);
				cnt[l] = (int32_t)a->n;
			}
			w |= b && cnt ? h5u_f64(f, "mean_dot", 1, dl, b) | h5u_f64(f, "std_dot", 1, dl, b + nl) |
						h5u_f64(f, "mean_cos", 1, dl, b + 2 * nl) |
						h5u_f64(f, "std_cos", 1, dl, b + 3 * nl) | h5u_i32(f, "n", 1, dl, cnt)
				      : -1;
			free(b), free(cnt);
			w |= h5u_attr_str(f, NULL, "source", from ? from : prompts);
		}
		w |= cli_result_header(f, RES_DOT, m->gguf->path, &err) | h5u_attr_str(f, NULL, "direction", dir->label) |
		     h5u_attr_i64(f, NULL, "normalized", dir->normalized) | h5u_attr_str(f, NULL, "hook", hname) |
		     h5u_attr_str(f, NULL, "at", from ? "recorded rows" : ps_at_name(at));
		if (h5u_close(f, out, &err) || w) {
			rc = cli_error("dot", "%s", w ? "cannot write the results to the HDF5 file" : err.msg);
			goto done;
		}
		if (fmt == FMT_TEXT)
			printf("wrote %s\n", out);
	}
done:
	cli_skip_bad_report("dot");
	h5rec_in_close(rec);
	free(text), free(ids), free(cap), free(A), free(dots), free(coss), free(norms), free(poslist);
	an_dir_free(dir);
	fp_model_free(m);
	return rc;
}
