/* cmd_record.c - `factprobe record`: run a prompt set through a model and
 * keep chosen activations on disk in HDF5 (layout in h5out.h). */
#include "analysis.h"
#include "cli.h"
#include "h5out.h"
#include "progress.h"
#include "prompts.h"
#include "recorder.h"
#include "results.h"
#include "shard.h"

#include <errno.h>
#include <cblas.h>
#include <getopt.h>
#include <limits.h>
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
	"                        [--skip-bad] [--bos | --no-bos] [--dry-run] [--quiet]\n"
	"                        [--shard I/N] [--threads N]\n\n"
	"Runs every prompt of PROMPTS through the model and records the chosen hook\n"
	"points to OUT.h5, a self-describing HDF5 file any reader opens (layout:\n"
	"README, or the top of probe/h5out.h).  Memory does not grow with the number\n"
	"of prompts.  A second thread writes each forward pass's rows while the passes\n"
	"run, from a pool of buffers of one hook's rows each: a few while it keeps up,\n"
	"at most one pass's activations (--batch-tokens rows of every recorded hook)\n"
	"when it falls behind.  Progress goes to standard error.\n\n"
	"  -p, --prompts FILE    prompt set: .tsv with a header (prompt; optional subject,\n"
	"                        target, relation, id), .jsonl with those fields, or plain\n"
	"                        text with one prompt per line\n"
	"  -o, --output OUT.h5   the recording; an existing file is refused unless\n"
	"                        --resume or --force\n"
	"  -m, --model PATH      model: GGUF file or Hugging Face checkpoint (dir or ORG/NAME)\n"
	"                        (default: $FACTPROBE_MODEL or the default model)\n"
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
	"      --force           overwrite OUT.h5 (a plain file is unlinked and a new\n"
	"                        one made; a symlink's target is rewritten in place)\n"
	"      --skip-bad        warn about malformed prompt lines and go on (default: stop)\n"
	"      --bos, --no-bos   prepend BOS or not (default: the model's metadata)\n"
	"      --shard I/N       record only shard I (0 to N-1) of N: a contiguous block of\n"
	"                        the prompt set, balanced by token count and cut between\n"
	"                        forward passes (its values equal the same rows of one\n"
	"                        run); OUT.h5 is the shard, 'factprobe merge' joins the N\n"
	"                        shards into one file (for Slurm job arrays or machines\n"
	"                        without MPI)\n"
	"      --dry-run         run the same forward passes but capture and write nothing\n"
	"                        (no -o needed): how long a recording would take\n"
	"      --threads N       BLAS threads for the forward pass (default\n"
	"                        $OPENBLAS_NUM_THREADS, else one per core)\n"
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

typedef struct loop_args {
	const char *prompts_path, *out, *resume_text;
	long skip;       /* prompts already in the file (--resume) */
	long line_start, line_end; /* a shard: the file lines of its block [start, end) */
	int skip_bad, bos, pos_mode;
} loop_args;

/* every prompt: skipped when already recorded, else tokenized, its subject
 * found and recorded; stops early on an interruption.  Returns 0, or 1 after
 * the message (the caller abandons the file at its last checkpoint). */
static int record_loop(const loop_args *a, fp_model *m, prompt_reader *pr, rr_recorder *rr, fp_progress *prog,
		       long *n_bad, long *seen)
{
	fp_error err = {0};
	int32_t *ids = NULL;
	fp_prompt p;
	int in_range = a->line_start == 0;
	for (;;) {
		if (stop_requested) {
			/* drop the unfinished pack: --resume redoes it with the same packing */
			rr_drop(rr);
			break;
		}
		int got = prompts_next(pr, &p, &err);
		/* a shard passes over the lines before and after its block (a
		 * malformed line between two blocks is the earlier block's) */
		if (got < 0 && !in_range)
			continue;
		if (got > 0 && p.line < a->line_start)
			continue;
		if (got > 0 && p.line >= a->line_end)
			got = 0;
		if (got > 0)
			in_range = 1;
		if (got < 0) {
			if (!a->skip_bad) {
				cli_error("record", "%s", err.msg);
				cli_hint("--skip-bad warns and goes on");
				goto fail;
			}
			fprintf(stderr, "factprobe record: warning: skipping %s\n", err.msg);
			++*n_bad;
			continue;
		}
		if (got > 0 && (*seen)++ < a->skip) { /* already in the file */
			if (*seen == a->skip && strcmp(p.text, a->resume_text)) {
				cli_error("record", "cannot resume: prompt %ld of '%s' (line %ld) is not the last prompt '%s' holds",
					  a->skip, a->prompts_path, p.line, a->out);
				cli_hint("resume with the same prompt file, or start over with --force");
				goto fail;
			}
			continue;
		}
		if (got == 0) {
			if (rr_flush(rr, &err)) {
				cli_error("record", "%s", err.msg);
				goto fail;
			}
			fp_progress_update(prog, a->skip + rr_done(rr), rr_tokens(rr));
			break;
		}
		int n = 0, s0 = -1, s1 = -1;
		free(ids);
		ids = NULL;
		err.msg[0] = 0;
		int bad = fp_tokenize(m->tok, p.text, p.len, a->bos, &ids, &n, &err) != 0;
		if (!bad && (n == 0 || n > m->cfg.n_ctx))
			snprintf(err.msg, sizeof err.msg, n == 0 ? "no tokens" : "%d tokens, longer than the model's context of %d",
				 n, m->cfg.n_ctx), bad = 1;
		if (bad) {
			char msg[sizeof err.msg];
			snprintf(msg, sizeof msg, "%s", err.msg);
			fp_error_set(&err, FP_ERR_INVALID, "'%s' line %ld, field 'prompt': %.400s", a->prompts_path, p.line, msg);
			if (!a->skip_bad) {
				cli_error("record", "%s", err.msg);
				goto fail;
			}
			fprintf(stderr, "factprobe record: warning: skipping %s\n", err.msg);
			++*n_bad, --*seen;
			continue;
		}
		an_subject_span(m, p.text, p.subject, ids, n, ps_has_bos(m, ids, n, a->bos), &s0, &s1);
		if ((a->pos_mode == RR_POS_SUBJECT || a->pos_mode == RR_POS_SUBJECT_LAST) && s0 < 0) {
			cli_error("record", "'%s' line %ld, field 'subject': %s", a->prompts_path, p.line,
				  p.subject ? "not found among the prompt's tokens" : "missing (needed by --positions subject)");
			goto fail;
		}
		if (rr_add(rr, &p, ids, n, s0, s1, &err)) {
			cli_error("record", "%s", err.msg);
			goto fail;
		}
		fp_progress_update(prog, a->skip + rr_done(rr), rr_tokens(rr));
	}
	free(ids);
	return 0;
fail:
	free(ids);
	return 1;
}

/* the hooks --hooks and --layers select: 0, or the exit code after the message */
static int select_hooks(const fp_model *m, const char *hook_spec, const char *layer_spec, char *layer_sel,
			h5rec_hook *hooks, int *n_hooks)
{
	fp_error err = {0};
	int L = m->cfg.n_layers;
	memset(layer_sel, 1, (size_t)L);
	if (layer_spec && ps_layers(layer_spec, L, layer_sel, &err))
		return cli_usage_error("record", "--layers %s", err.msg);
	/* every pattern must match something */
	if (ps_hook_select(m, hook_spec, layer_sel, hooks, FP_HOOK_KIND_COUNT * (L + 1), n_hooks, &err)) {
		cli_error("record", "--hooks: %s", err.msg);
		if (strstr(err.msg, "matches no hook"))
			cli_hint("hooks are named like hook_embed, blocks.0.hook_resid_pre, blocks.0.mlp.hook_post, "
				 "ln_final.hook_normalized (see 'factprobe record --help')");
		return 1;
	}
	if (!*n_hooks)
		return cli_error("record", "--hooks '%s' with --layers '%s' selects no hook", hook_spec, layer_spec);
	return 0;
}

static void print_summary(int dry_run, long done_prompts, double toks, double secs, int n_hooks, double mb,
			  const char *out, long n_bad)
{
	if (dry_run)
		fprintf(stderr, "record: dry run: %ld prompts, %.0f tokens in %.2f s, nothing written\n", done_prompts, toks,
			secs);
	else
		fprintf(stderr, "record: %ld prompts, %d hooks, %.1f MB of activations written to '%s'%s\n", done_prompts,
			n_hooks, mb, out, n_bad ? " (some lines skipped)" : "");
}

typedef struct rec_opts {
	const char *prompts_path, *out, *model_path, *hook_spec, *layer_spec;
	int pos_mode, f16, compress, resume, force, skip_bad, bos, quiet, batch_tokens, dry_run;
	int shard, n_shards; /* --shard I/N; n_shards 0: the whole set */
} rec_opts;

/* the options into o: -1 to go on, else the exit code (after --help or a usage error) */
static int parse_opts(int argc, char **argv, rec_opts *o)
{
	static const struct option opts[] = {
		{"prompts", required_argument, 0, 'p'}, {"output", required_argument, 0, 'o'},
		{"model", required_argument, 0, 'm'}, {"hooks", required_argument, 0, 'H'},
		{"layers", required_argument, 0, 'L'}, {"positions", required_argument, 0, 'P'},
		{"dtype", required_argument, 0, 'D'}, {"compress", required_argument, 0, 'C'},
		{"resume", no_argument, 0, 'R'}, {"force", no_argument, 0, 'F'}, {"skip-bad", no_argument, 0, 'S'},
		{"bos", no_argument, 0, 'B'}, {"no-bos", no_argument, 0, 'N'}, {"quiet", no_argument, 0, 'q'},
		{"batch-tokens", required_argument, 0, 'T'}, {"dry-run", no_argument, 0, 'Y'},
		{"shard", required_argument, 0, 'Z'}, {"threads", required_argument, 0, 'j'},
		{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	*o = (rec_opts){.hook_spec = "blocks.*.mlp.hook_post", .pos_mode = RR_POS_ALL, .f16 = 1, .bos = -1,
			.batch_tokens = 512};
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:o:m:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'p': o->prompts_path = optarg; break;
		case 'o': o->out = optarg; break;
		case 'm': o->model_path = optarg; break;
		case 'H': o->hook_spec = optarg; break;
		case 'L': o->layer_spec = optarg; break;
		case 'P':
			for (o->pos_mode = 0; o->pos_mode < 4 && strcmp(optarg, RR_POS_NAME[o->pos_mode]); o->pos_mode++)
				;
			if (o->pos_mode == 4)
				return cli_usage_error("record", "--positions takes all, last, subject or subject-last, not '%s'",
						       optarg);
			break;
		case 'D':
			if (strcmp(optarg, "f16") && strcmp(optarg, "f32"))
				return cli_usage_error("record", "--dtype takes f16 or f32, not '%s'", optarg);
			o->f16 = !strcmp(optarg, "f16");
			break;
		case 'C':
			if (cli_parse_int("record", "--compress", optarg, 0, 9, &o->compress))
				return 2;
			break;
		case 'T':
			if (cli_parse_int("record", "--batch-tokens", optarg, 0, 1 << 20, &o->batch_tokens))
				return 2;
			break;
		case 'Z':
			if (shard_parse(optarg, &o->shard, &o->n_shards))
				return cli_usage_error("record", "--shard takes I/N with 0 <= I < N (like 0/4), not '%s'", optarg);
			break;
		case 'R': o->resume = 1; break;
		case 'Y': o->dry_run = 1; break;
		case 'F': o->force = 1; break;
		case 'S': o->skip_bad = 1; break;
		case 'B': o->bos = 1; break;
		case 'N': o->bos = 0; break;
		case 'q': o->quiet = 1; break;
		case 'j': {
			int nt;
			if (cli_parse_int("record", "--threads", optarg, 1, 1024, &nt))
				return 2;
			openblas_set_num_threads(nt);
			break;
		}
		case 'h': cli_help(HELP); return 0;
		default: return cli_bad_option("record", c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("record", "unexpected argument '%s'", argv[optind]);
	if (!o->prompts_path || (!o->out && !o->dry_run))
		return cli_usage_error("record", "needs -p PROMPTS and -o OUT.h5");
	if (o->dry_run)
		o->out = "(dry run)", o->resume = o->force = 0;
	if (o->resume && o->force)
		return cli_usage_error("record", "--resume and --force contradict each other");
	return -1;
}

/* --shard I/N: the block of the prompt set this run records, into info and
 * [line_start, line_end); 0, or 1 after the message */
static int plan_shard(const rec_opts *o, const fp_model *m, h5rec_info *info, char prompts_sha[65], long *line_start,
		      long *line_end)
{
	fp_error err = {0};
	shard_plan plan;
	if (shard_plan_prompts(&plan, o->prompts_path, m, o->bos, o->batch_tokens, o->skip_bad, o->n_shards, &err))
		return cli_error("record", "%s", err.msg);
	if (res_sha256_file(o->prompts_path, prompts_sha)) {
		shard_plan_free(&plan);
		return cli_error("record", "cannot read '%s' to hash it: %s", o->prompts_path, strerror(errno));
	}
	info->shard = o->shard, info->n_shards = o->n_shards, info->prompts_sha256 = prompts_sha;
	info->prompt_start = plan.bounds[o->shard], info->prompt_end = plan.bounds[o->shard + 1];
	info->prompts_total = plan.n_prompts;
	*line_start = o->shard ? plan.lines[o->shard] : 0, *line_end = plan.lines[o->shard + 1];
	shard_plan_free(&plan);
	return 0;
}

/* the output file: none for --dry-run, resumed (*skip: the prompts it
 * holds) or created; 0, or 1 after the message */
static int open_output(const rec_opts *o, int exists, const h5rec_info *info, const h5rec_hook *hooks, int n_hooks,
		       h5rec **rec, long *skip)
{
	fp_error err = {0};
	if (o->dry_run)
		return 0;
	if (o->resume && exists ? h5rec_resume(rec, o->out, info, hooks, n_hooks, skip, &err)
				: h5rec_create(rec, o->out, info, hooks, n_hooks, &err))
		return cli_error("record", "%s", err.msg);
	return 0;
}

int cmd_record(int argc, char **argv)
{
	rec_opts o;
	int prc = parse_opts(argc, argv, &o);
	if (prc >= 0)
		return prc;
	const char *prompts_path = o.prompts_path, *out = o.out, *model_path = o.model_path, *hook_spec = o.hook_spec,
		   *layer_spec = o.layer_spec;
	int pos_mode = o.pos_mode, f16 = o.f16, compress = o.compress, resume = o.resume, force = o.force,
	    skip_bad = o.skip_bad, bos = o.bos, quiet = o.quiet, batch_tokens = o.batch_tokens, dry_run = o.dry_run;
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
	if ((pos_mode == RR_POS_SUBJECT || pos_mode == RR_POS_SUBJECT_LAST) && !prompts_has_subject(pr)) {
		prompts_close(pr);
		return cli_error("record", "--positions %s needs a 'subject' column in '%s'", RR_POS_NAME[pos_mode], prompts_path);
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
	int n_hooks = 0;
	char *resume_text = NULL;
	rr_recorder *rr = NULL;
	h5rec *rec = NULL;
	if ((rc = select_hooks(m, hook_spec, layer_spec, layer_sel, hooks, &n_hooks)))
		goto done;
	rc = 1;

	const char *sha = hj.hex;
	if (!dry_run && (hj.rc || strcmp(hj.path, m->gguf->path))) {
		rc = cli_error("record", "cannot read '%s' to hash it: %s", m->gguf->path, strerror(errno));
		goto done;
	}
	const char *cmdline = cli_command_line();
	const char *base = strrchr(m->gguf->path, '/');
	h5rec_info info = {FACTPROBE_VERSION, cmdline, base ? base + 1 : m->gguf->path, sha, cf->arch_name,
			   fp_tokenizer_kind(m->tok) == FP_TOK_SPM ? "spm" : fp_tokenizer_pre(m->tok), RR_POS_NAME[pos_mode],
			   prompts_path, cf->n_layers, cf->d_model, cf->d_mlp, cf->n_heads, cf->n_kv_heads, cf->n_vocab,
			   f16, compress, batch_tokens, 0, 0, 0, 0, 0, NULL, fp_matmul_name(m->matmul)};
	/* a shard: its block of the set, and the set's hash to check it by */
	char prompts_sha[65] = "";
	long line_start = 0, line_end = LONG_MAX;
	if (o.n_shards && (rc = plan_shard(&o, m, &info, prompts_sha, &line_start, &line_end)))
		goto done;
	long skip = 0;
	if ((rc = open_output(&o, exists, &info, hooks, n_hooks, &rec, &skip)))
		goto done;

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (skip && h5rec_last_text(rec, &resume_text, &err)) {
		rc = cli_error("record", "%s", err.msg);
		goto fail_rec;
	}
	/* from here to rr_free the recorder's writer thread makes every HDF5 call */
	if (rr_new(&rr, m, rec, hooks, n_hooks, pos_mode, batch_tokens, prompts_path, &err)) {
		cli_error("record", "%s", err.msg);
		goto fail_rec;
	}
	long total = o.n_shards ? info.prompt_end - info.prompt_start : prompts_count(prompts_path), n_bad = 0, seen = 0;
	fp_progress prog;
	fp_progress_start(&prog, stderr, quiet, "record", "prompts", "tokens", total);
	prog.always_end = 1; /* its last line is the run's summary */
	double t0 = fp_now();
	loop_args la = {prompts_path, out, resume_text, skip, line_start, line_end, skip_bad, bos, pos_mode};
	if (record_loop(&la, m, pr, rr, &prog, &n_bad, &seen))
		goto fail_rec;
	/* the packs run so far, written (an interruption keeps them too) */
	if (rr_sync(rr, &err)) {
		cli_error("record", "%s", err.msg);
		goto fail_rec;
	}
	long n_done = rr_done(rr);
	double toks = rr_tokens(rr);
	rr_free(rr);
	rr = NULL;
	long done_prompts = rec ? h5rec_n_prompts(rec) : n_done;
	double mb = rec ? h5rec_bytes(rec) / 1e6 : 0;
	fp_progress_end(&prog, seen, toks);
	if (rec && h5rec_close(rec, !stop_requested, &err)) {
		rec = NULL;
		rc = cli_error("record", "%s", err.msg);
		goto done;
	}
	rec = NULL;
	if (stop_requested) {
		cli_error("record", "interrupted: '%s' holds %ld complete prompts", out, done_prompts);
		cli_hint("rerun the same command with --resume to continue");
		rc = 130;
		goto done;
	}
	if (!quiet)
		print_summary(dry_run, done_prompts, toks, fp_now() - t0, n_hooks, mb, out, n_bad);
	if (n_bad)
		fprintf(stderr, "factprobe record: warning: %ld malformed prompt lines skipped\n", n_bad);
	rc = 0;
	goto done;
fail_rec:
	/* keep what the last checkpoint made whole: close without writing the
	 * batch (prompts read since, e.g. before a bad line, are redone by --resume) */
	rr_free(rr); /* the writer stops before the file is touched here */
	rr = NULL;
	if (rec) {
		h5rec_abandon(rec);
		rec = NULL;
		fprintf(stderr, "hint: '%s' keeps every prompt up to its last checkpoint; --resume continues it\n", out);
	}
	rc = 1;
done:
	rr_free(rr);
	if (rec)
		h5rec_abandon(rec);
	free(resume_text);
	free(hooks);
	free(layer_sel);
	prompts_close(pr);
	fp_model_free(m);
	return rc;
}
