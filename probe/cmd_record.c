/* cmd_record.c - `factprobe record`: run a prompt set through a model and
 * keep chosen activations on disk in HDF5 (layout in h5out.h). */
#include "analysis.h"
#include "cli.h"
#include "h5out.h"
#include "progress.h"
#include "prompts.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char HELP[] =
	"usage: factprobe record -p PROMPTS -o OUT.h5 [-m MODEL] [--hooks PATTERNS] [--layers RANGE]\n"
	"                        [--positions all|last|subject|subject-last] [--dtype f16|f32]\n"
	"                        [--compress 0-9] [--batch-tokens N] [--resume | --force]\n"
	"                        [--skip-bad] [--bos | --no-bos] [--dry-run] [--quiet]\n\n"
	"Runs every prompt of PROMPTS through the model and records the chosen hook\n"
	"points to OUT.h5, a self-describing HDF5 file any reader opens (layout:\n"
	"README, or the top of probe/h5out.h).  Memory does not grow with the number\n"
	"of prompts.  Progress goes to standard error.\n\n"
	"  -p, --prompts FILE    prompt set: .tsv with a header (prompt; optional subject,\n"
	"                        target, relation, id), .jsonl with those fields, or plain\n"
	"                        text with one prompt per line\n"
	"  -o, --output OUT.h5   the recording; an existing file is refused unless\n"
	"                        --resume or --force\n"
	"  -m, --model PATH      GGUF model (default: $FACTPROBE_MODEL or the default model)\n"
	"      --hooks PATTERNS  comma-separated TransformerLens hook names, * and ? as\n"
	"                        globs (default blocks.*.mlp.hook_post, every layer's MLP\n"
	"                        neurons); e.g. 'blocks.*.mlp.*,blocks.*.hook_resid_post'\n"
	"      --layers RANGE    only these blocks: 0-29, 5,7,9, 0-3,10 (default all)\n"
	"      --positions P     which token positions become rows: all (default), last,\n"
	"                        subject (the subject's tokens), subject-last (its last\n"
	"                        token, where facts are read); subject needs a subject field\n"
	"      --dtype T         f16 (default, IEEE half) or f32 (bit-exact)\n"
	"      --compress N      gzip level with the shuffle filter, 0 (default) to 9\n"
	"      --batch-tokens N  pack prompts into forward passes of about N tokens\n"
	"                        (default 512); values then differ from one-prompt passes\n"
	"                        by float rounding (~1e-6); 0 runs each prompt alone\n"
	"      --resume          continue an interrupted OUT.h5 (same model, hooks, dtype,\n"
	"                        positions and prompt file); the result equals an\n"
	"                        uninterrupted run\n"
	"      --force           overwrite OUT.h5\n"
	"      --skip-bad        warn about malformed prompt lines and go on (default: stop)\n"
	"      --bos, --no-bos   prepend BOS or not (default: the model's metadata)\n"
	"      --dry-run         run the same forward passes but capture and write nothing\n"
	"                        (no -o needed): how long a recording would take\n"
	"  -q, --quiet           no progress\n"
	"  -h, --help            this help\n\n"
	"Ctrl-C or SIGTERM stops after the current prompt and leaves OUT.h5 marked\n"
	"complete = 0 with every finished prompt; --resume continues it.\n";

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct hash_job {
	char path[4096];
	char hex[65];
	int rc;
} hash_job;


/* the model is hashed on a second thread while the first dequantises it */
static void *hash_thread(void *arg)
{
	hash_job *j = arg;
	j->rc = res_sha256_file(j->path, j->hex);
	return NULL;
}

enum { POS_ALL, POS_LAST, POS_SUBJECT, POS_SUBJECT_LAST };
static const char *POS_NAME[] = {"all", "last", "subject", "subject-last"};

/* prompts waiting for one packed forward pass */
typedef struct pack_prompt {
	char *text, *subject, *target, *relation, *id;
	long line;
	int n_tokens, token_at, n_rows, row_at, s0, s1;
} pack_prompt;

typedef struct pack {
	int n, n_tokens, n_rows;
	size_t cap_p, cap_s, cap_t, cap_r, cap_rp;
	pack_prompt *p;
	int *seq_len;
	int32_t *ids;       /* [n_tokens] */
	int32_t *row_pos;   /* [n_rows] position within its prompt */
	int32_t *row_tok;   /* [n_rows] token index within the pack */
} pack;

static int grow(void *pp, size_t *cap, size_t need, size_t esz)
{
	void **p = pp;
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 64;
	while (c < need)
		c *= 2;
	void *q = realloc(*p, c * esz);
	if (!q)
		return -1;
	*p = q, *cap = c;
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void pack_clear(pack *k)
{
	for (int i = 0; i < k->n; i++) {
		pack_prompt *p = &k->p[i];
		free(p->text), free(p->subject), free(p->target), free(p->relation), free(p->id);
	}
	k->n = k->n_tokens = k->n_rows = 0;
}

static void pack_free(pack *k)
{
	pack_clear(k);
	free(k->p), free(k->seq_len), free(k->ids), free(k->row_pos), free(k->row_tok);
}

typedef struct rec_ctx {
	int *index;       /* [kind * (n_layers + 1) + layer + 1] -> hook, -1 */
	int n_layers;
	const pack *k;
	h5rec *rec;       /* each hook's rows go straight to its dataset */
	fp_error err;     /* why a write failed */
} rec_ctx;

static int capture(void *user, const fp_hook_event *ev)
{
	rec_ctx *c = user;
	int h = c->index[ev->kind * (c->n_layers + 1) + ev->layer + 1];
	if (h < 0)
		return 0;
	/* logits are kept for every position when recorded, so row_tok indexes ev->data */
	return h5rec_write_rows(c->rec, h, c->k->n_rows, ev->data, c->k->row_tok, &c->err) != 0;
}

int cmd_record(int argc, char **argv)
{
	static const struct option opts[] = {
		{"prompts", required_argument, 0, 'p'}, {"output", required_argument, 0, 'o'},
		{"model", required_argument, 0, 'm'}, {"hooks", required_argument, 0, 'H'},
		{"layers", required_argument, 0, 'L'}, {"positions", required_argument, 0, 'P'},
		{"dtype", required_argument, 0, 'D'}, {"compress", required_argument, 0, 'C'},
		{"resume", no_argument, 0, 'R'}, {"force", no_argument, 0, 'F'}, {"skip-bad", no_argument, 0, 'S'},
		{"bos", no_argument, 0, 'B'}, {"no-bos", no_argument, 0, 'N'}, {"quiet", no_argument, 0, 'q'},
		{"batch-tokens", required_argument, 0, 'T'}, {"dry-run", no_argument, 0, 'Y'},
		{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	const char *prompts_path = NULL, *out = NULL, *model_path = NULL, *hook_spec = "blocks.*.mlp.hook_post",
		   *layer_spec = NULL;
	int pos_mode = POS_ALL, f16 = 1, compress = 0, resume = 0, force = 0, skip_bad = 0, bos = -1, quiet = 0, c;
	int batch_tokens = 512, dry_run = 0;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:o:m:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'p': prompts_path = optarg; break;
		case 'o': out = optarg; break;
		case 'm': model_path = optarg; break;
		case 'H': hook_spec = optarg; break;
		case 'L': layer_spec = optarg; break;
		case 'P':
			for (pos_mode = 0; pos_mode < 4 && strcmp(optarg, POS_NAME[pos_mode]); pos_mode++)
				;
			if (pos_mode == 4)
				return cli_usage_error("record", "--positions takes all, last, subject or subject-last, not '%s'",
						       optarg);
			break;
		case 'D':
			if (strcmp(optarg, "f16") && strcmp(optarg, "f32"))
				return cli_usage_error("record", "--dtype takes f16 or f32, not '%s'", optarg);
			f16 = !strcmp(optarg, "f16");
			break;
		case 'C':
			if (cli_parse_int("record", "--compress", optarg, 0, 9, &compress))
				return 2;
			break;
		case 'T':
			if (cli_parse_int("record", "--batch-tokens", optarg, 0, 1 << 20, &batch_tokens))
				return 2;
			break;
		case 'R': resume = 1; break;
		case 'Y': dry_run = 1; break;
		case 'F': force = 1; break;
		case 'S': skip_bad = 1; break;
		case 'B': bos = 1; break;
		case 'N': bos = 0; break;
		case 'q': quiet = 1; break;
		case 'h': fputs(HELP, stdout); return 0;
		default: return cli_bad_option("record", c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("record", "unexpected argument '%s'", argv[optind]);
	if (!prompts_path || (!out && !dry_run))
		return cli_usage_error("record", "needs -p PROMPTS and -o OUT.h5");
	if (dry_run)
		out = "(dry run)", resume = force = 0;
	if (resume && force)
		return cli_usage_error("record", "--resume and --force contradict each other");
	struct stat st;
	int exists = !dry_run && stat(out, &st) == 0;
	if (exists && !resume && !force) {
		cli_error("record", "'%s' already exists", out);
		cli_hint("--resume continues it, --force overwrites it");
		return 1;
	}

	fp_error err = {0};
	prompt_reader *pr = NULL;
	if (prompts_open(&pr, prompts_path, &err))
		return cli_error("record", "%s", err.msg);
	if ((pos_mode == POS_SUBJECT || pos_mode == POS_SUBJECT_LAST) && !prompts_has_subject(pr)) {
		prompts_close(pr);
		return cli_error("record", "--positions %s needs a 'subject' column in '%s'", POS_NAME[pos_mode], prompts_path);
	}
	hash_job hj = {.rc = -1};
	pthread_t hth;
	cli_model_path(model_path, hj.path, sizeof hj.path);
	int hashing = !dry_run && pthread_create(&hth, NULL, hash_thread, &hj) == 0;
	fp_model *m = cli_load_model("record", model_path);
	if (hashing)
		pthread_join(hth, NULL);
	if (!m) {
		prompts_close(pr);
		return 1;
	}
	const fp_config *cf = &m->cfg;
	int rc = 1, nk = FP_HOOK_KIND_COUNT, L = cf->n_layers;
	char *layer_sel = malloc((size_t)L);
	h5rec_hook *hooks = calloc((size_t)nk * (L + 1), sizeof *hooks);
	int *index = malloc((size_t)nk * (L + 1) * sizeof *index), n_hooks = 0, want_logits = 0;
	int32_t *ids = NULL;
	char *resume_text = NULL;
	pack k = {0};
	h5rec *rec = NULL;
	memset(layer_sel, 1, (size_t)L);
	if (layer_spec && ps_layers(layer_spec, L, layer_sel, &err)) {
		rc = cli_usage_error("record", "--layers %s", err.msg);
		goto done;
	}
	/* hooks: every pattern must match something */
	if (ps_hook_select(m, hook_spec, layer_sel, hooks, nk * (L + 1), &n_hooks, &err)) {
		cli_error("record", "--hooks: %s", err.msg);
		if (strstr(err.msg, "matches no hook"))
			cli_hint("hooks are named like hook_embed, blocks.0.hook_resid_pre, blocks.0.mlp.hook_post, "
				 "ln_final.hook_normalized (see 'factprobe record --help')");
		goto done;
	}
	for (int i = 0; i < nk * (L + 1); i++)
		index[i] = -1;
	for (int h = 0; h < n_hooks; h++) {
		index[hooks[h].kind * (L + 1) + hooks[h].layer + 1] = h;
		want_logits |= hooks[h].kind == FP_HOOK_LOGITS;
	}
	if (!n_hooks) {
		rc = cli_error("record", "--hooks '%s' with --layers '%s' selects no hook", hook_spec, layer_spec);
		goto done;
	}

	const char *sha = hj.hex;
	if (!dry_run && (hj.rc || strcmp(hj.path, m->gguf->path))) {
		rc = cli_error("record", "cannot read '%s' to hash it: %s", m->gguf->path, strerror(errno));
		goto done;
	}
	const char *cmdline = cli_command_line();
	const char *base = strrchr(m->gguf->path, '/');
	h5rec_info info = {FACTPROBE_VERSION, cmdline, base ? base + 1 : m->gguf->path, sha, cf->arch_name,
			   fp_tokenizer_kind(m->tok) == FP_TOK_SPM ? "spm" : fp_tokenizer_pre(m->tok), POS_NAME[pos_mode],
			   prompts_path, cf->n_layers, cf->d_model, cf->d_mlp, cf->n_heads, cf->n_kv_heads, cf->n_vocab,
			   f16, compress, batch_tokens};
	long skip = 0;
	if (dry_run) {
		/* no file */
	} else if (resume && exists) {
		if (h5rec_resume(&rec, out, &info, hooks, n_hooks, &skip, &err)) {
			rc = cli_error("record", "%s", err.msg);
			goto done;
		}
	} else if (h5rec_create(&rec, out, &info, hooks, n_hooks, &err)) {
		rc = cli_error("record", "%s", err.msg);
		goto done;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	rec_ctx ctx = {index, L, &k, rec, {0, ""}};
	uint32_t mask = 0;
	for (int h = 0; h < n_hooks; h++)
		mask |= FP_HOOK_BIT(hooks[h].kind);
	long total = prompts_count(prompts_path), n_bad = 0, seen = 0;
	fp_progress prog;
	fp_progress_start(&prog, stderr, quiet, "record", "prompts", "tokens", total);
	prog.always_end = 1; /* its last line is the run's summary */
	double t0 = now(), last_ckpt = t0, toks = 0;
	long n_done = 0;
	if (skip && h5rec_last_text(rec, &resume_text, &err)) {
		rc = cli_error("record", "%s", err.msg);
		goto fail_rec;
	}
	fp_prompt p;
	int got;
	for (;;) {
		if (stop_requested) {
			/* drop the unfinished pack: --resume redoes it with the same packing */
			pack_clear(&k);
			break;
		}
		got = prompts_next(pr, &p, &err);
		if (got < 0) {
			if (!skip_bad) {
				cli_error("record", "%s", err.msg);
				cli_hint("--skip-bad warns and goes on");
				goto fail_rec;
			}
			fprintf(stderr, "factprobe record: warning: skipping %s\n", err.msg);
			n_bad++;
			continue;
		}
		if (got > 0 && seen++ < skip) { /* already in the file */
			if (seen == skip && strcmp(p.text, resume_text)) {
				cli_error("record", "cannot resume: prompt %ld of '%s' (line %ld) is not the last prompt '%s' holds",
					  skip, prompts_path, p.line, out);
				cli_hint("resume with the same prompt file, or start over with --force");
				goto fail_rec;
			}
			continue;
		}
		int n = 0, s0 = -1, s1 = -1, nr = 0;
		if (got > 0) {
			free(ids);
			ids = NULL;
			err.msg[0] = 0;
			int bad = fp_tokenize(m->tok, p.text, p.len, bos, &ids, &n, &err) != 0;
			if (!bad && (n == 0 || n > cf->n_ctx))
				snprintf(err.msg, sizeof err.msg, n == 0 ? "no tokens" : "%d tokens, longer than the model's context of %d",
					 n, cf->n_ctx), bad = 1;
			if (bad) {
				char msg[sizeof err.msg];
				snprintf(msg, sizeof msg, "%s", err.msg);
				fp_error_set(&err, FP_ERR_INVALID, "'%s' line %ld, field 'prompt': %.400s", prompts_path, p.line, msg);
				if (!skip_bad) {
					cli_error("record", "%s", err.msg);
					goto fail_rec;
				}
				fprintf(stderr, "factprobe record: warning: skipping %s\n", err.msg);
				n_bad++, seen--;
				continue;
			}
			int has_bos = ps_has_bos(m, ids, n, bos);
			an_subject_span(m, p.text, p.subject, ids, n, has_bos, &s0, &s1);
			if ((pos_mode == POS_SUBJECT || pos_mode == POS_SUBJECT_LAST) && s0 < 0) {
				cli_error("record", "'%s' line %ld, field 'subject': %s", prompts_path, p.line,
					  p.subject ? "not found among the prompt's tokens" : "missing (needed by --positions subject)");
				goto fail_rec;
			}
			nr = pos_mode == POS_ALL ? n : pos_mode == POS_SUBJECT ? s1 - s0 : 1;
		}
		/* run the pack when this prompt would overflow it, or at the end */
		if (k.n && (got == 0 || batch_tokens == 0 || k.n_tokens + n > batch_tokens)) {
			fp_forward_opts fo = {.hook = dry_run ? NULL : capture, .user = &ctx, .hook_mask = mask,
					      .all_logits = want_logits, .seq_len = k.seq_len, .n_seq = k.n};
			if (rec && h5rec_reserve(rec, k.n_rows, &err)) {
				cli_error("record", "%s", err.msg);
				goto fail_rec;
			}
			if (fp_model_forward(m, k.ids, k.n_tokens, &fo, NULL, &err)) {
				if (ctx.err.code)
					cli_error("record", "%s", ctx.err.msg);
				else
					cli_error("record", "'%s' lines %ld-%ld: %s", prompts_path, k.p[0].line, k.p[k.n - 1].line,
						  err.msg);
				goto fail_rec;
			}
			for (int i = 0; i < k.n && dry_run; i++)
				toks += k.p[i].n_tokens, n_done++;
			for (int i = 0; i < k.n && !dry_run; i++) {
				pack_prompt *q = &k.p[i];
				char **tt = calloc((size_t)q->n_tokens, sizeof *tt), dec[1024];
				for (int t = 0; tt && t < q->n_tokens; t++) {
					int dl = fp_token_decode(m->tok, k.ids[q->token_at + t], dec, sizeof dec);
					tt[t] = tb_utf8_clean(dec, (size_t)dl < sizeof dec ? (size_t)dl : sizeof dec - 1);
				}
				h5rec_prompt hp = {q->text, q->subject, q->target, q->relation, q->id, q->line, q->n_tokens,
						   k.ids + q->token_at, tt, q->s0, q->s1, q->n_rows, k.row_pos + q->row_at};
				int arc = tt ? h5rec_add(rec, &hp, &err) : fp_error_set(&err, FP_ERR_NOMEM, "out of memory");
				for (int t = 0; tt && t < q->n_tokens; t++)
					free(tt[t]);
				free(tt);
				if (arc) {
					cli_error("record", "%s", err.msg);
					goto fail_rec;
				}
				toks += q->n_tokens;
				n_done++;
			}
			pack_clear(&k);
			/* checkpoints fall between packs only, so a resumed run packs the
			 * remaining prompts exactly as an uninterrupted one would */
			double t = now();
			if (rec && (t - last_ckpt > 2.0 || h5rec_batch_full(rec))) {
				if (h5rec_checkpoint(rec, &err)) {
					cli_error("record", "%s", err.msg);
					goto fail_rec;
				}
				last_ckpt = t;
			}
			fp_progress_update(&prog, skip + n_done, toks);
		}
		if (got == 0)
			break;
		/* add the prompt to the pack */
		if (grow(&k.p, &k.cap_p, (size_t)k.n + 1, sizeof *k.p) ||
		    grow(&k.seq_len, &k.cap_s, (size_t)k.n + 1, sizeof *k.seq_len) ||
		    grow(&k.ids, &k.cap_t, (size_t)k.n_tokens + n, sizeof *k.ids) ||
		    grow(&k.row_pos, &k.cap_rp, (size_t)k.n_rows + nr, sizeof *k.row_pos) ||
		    grow(&k.row_tok, &k.cap_r, (size_t)k.n_rows + nr, sizeof *k.row_tok)) {
			cli_error("record", "out of memory");
			goto fail_rec;
		}
		pack_prompt *q = &k.p[k.n];
		*q = (pack_prompt){dup_or_null(p.text), dup_or_null(p.subject), dup_or_null(p.target), dup_or_null(p.relation),
				   dup_or_null(p.id), p.line, n, k.n_tokens, nr, k.n_rows, s0, s1};
		memcpy(k.ids + k.n_tokens, ids, (size_t)n * sizeof *ids);
		for (int r = 0; r < nr; r++) {
			int posn = pos_mode == POS_ALL ? r : pos_mode == POS_LAST ? n - 1 : pos_mode == POS_SUBJECT ? s0 + r : s1 - 1;
			k.row_pos[k.n_rows + r] = posn;
			k.row_tok[k.n_rows + r] = k.n_tokens + posn;
		}
		k.seq_len[k.n++] = n;
		k.n_tokens += n, k.n_rows += nr;
	}
	long done_prompts = rec ? h5rec_n_prompts(rec) : n_done;
	double mb = rec ? h5rec_bytes(rec) / 1e6 : 0;
	fp_progress_end(&prog, seen, toks);
	if (rec && h5rec_close(rec, !stop_requested, &err)) {
		rec = NULL;
		cli_error("record", "%s", err.msg);
		goto done;
	}
	rec = NULL;
	if (stop_requested) {
		cli_error("record", "interrupted: '%s' holds %ld complete prompts", out, done_prompts);
		cli_hint("rerun the same command with --resume to continue");
		rc = 130;
		goto done;
	}
	if (!quiet && dry_run)
		fprintf(stderr, "record: dry run: %ld prompts, %.0f tokens in %.2f s, nothing written\n", done_prompts, toks,
			now() - t0);
	else if (!quiet)
		fprintf(stderr, "record: %ld prompts, %d hooks, %.1f MB of activations written to '%s'%s\n", done_prompts,
			n_hooks, mb, out, n_bad ? " (some lines skipped)" : "");
	if (n_bad)
		fprintf(stderr, "factprobe record: warning: %ld malformed prompt lines skipped\n", n_bad);
	rc = 0;
	goto done;
fail_rec:
	/* keep what the last checkpoint made whole: close without writing the
	 * batch (prompts read since, e.g. before a bad line, are redone by --resume) */
	if (rec) {
		h5rec_abandon(rec);
		rec = NULL;
		fprintf(stderr, "hint: '%s' keeps every prompt up to its last checkpoint; --resume continues it\n", out);
	}
	rc = 1;
done:
	if (rec)
		h5rec_abandon(rec);
	free(resume_text);
	pack_free(&k);
	free(ids);
	free(index);
	free(hooks);
	free(layer_sel);
	prompts_close(pr);
	fp_model_free(m);
	return rc;
}
