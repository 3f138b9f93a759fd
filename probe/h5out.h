/* h5out.h - the activation recordings `factprobe record` writes (HDF5).
 *
 * The layout is factprobe's interface: any HDF5 reader (h5py, h5dump) can use
 * it without factprobe.  Format "factprobe-activations", version 1.
 *
 *   /                       root attributes (below)
 *   /acts/<hook>            [rows, width] f16 or f32, one dataset per hook and
 *                           layer, named by its TransformerLens name, e.g.
 *                           /acts/blocks.5.mlp.hook_post  [rows, d_mlp]
 *   /rows/prompt            [rows] int32    prompt index of each row
 *   /rows/position          [rows] int32    token position of each row
 *   /prompts/text           [P] UTF-8 str   the prompt
 *   /prompts/subject, target, relation, id  [P] UTF-8 str ("" when the set has none)
 *   /prompts/line           [P] int64       line in the prompt file
 *   /prompts/subject_span   [P, 2] int32    tokens [start, end) of the subject, -1 -1 if none
 *   /prompts/token_start    [P] int64       first token of the prompt in /tokens
 *   /prompts/n_tokens       [P] int32
 *   /prompts/row_start      [P] int64       first row of the prompt in /rows and /acts
 *   /prompts/n_rows         [P] int32
 *   /tokens/id              [N] int32       all prompts' token ids, concatenated
 *   /tokens/text            [N] UTF-8 str   each token's text (bytes that are not whole
 *                                           UTF-8 characters, and NUL, become U+FFFD;
 *                                           /tokens/id is exact)
 *
 * Root attributes: format, format_version, factprobe_version, created (UTC,
 * ISO 8601), command_line, model_file, model_sha256 (a Hugging Face
 * checkpoint: of config.json + its *.safetensors, see results.h), architecture, n_layers,
 * d_model, d_mlp, n_heads, n_kv_heads, d_vocab, tokenizer, dtype ("f16" or
 * "f32"), positions, hooks (the recorded hook names, comma separated),
 * prompts_file, batch_tokens (how prompts were packed into forward passes),
 * n_prompts (prompts fully written), complete (1 when the run finished, 0
 * while running or after an interruption); matmul ("q8") only when the
 * activations came from --matmul q8's approximate products.
 *
 * A shard (`record --shard I/N`, or one rank of an MPI run) is a recording of
 * the prompts [prompt_start, prompt_end) of the set, with its own row and
 * prompt numbering from 0, and the root attributes shard ("I/N"),
 * prompt_start, prompt_end, prompts_total (prompts in the whole set) and
 * prompts_sha256 (the prompt file's).  `factprobe merge` joins complete
 * shards into a master file of the same layout whose datasets are HDF5
 * virtual datasets over the shards (rows/prompt, prompts/row_start and
 * prompts/token_start, which shift, are plain copies), with the attributes
 * of the shards less the shard ones, plus shard_files (the shards' paths as
 * stored, comma separated), prompts_sha256 and record_command_line (the
 * shards' command_line; the master's command_line is the merge command's).
 *
 * Why one dataset per hook and layer: readers nearly always slice one hook at
 * one layer over many rows ("layer 5's neurons for these prompts"); a dataset
 * per (hook, layer) makes that one contiguous read of [rows, width] chunks,
 * lets each hook have its own width, and lets a recording hold any subset of
 * layers.  Rows are the recorded token positions of all prompts in order;
 * /prompts/row_start and n_rows find a prompt's rows.  Datasets are chunked
 * along rows (about 256 KB a chunk), extendible, and optionally
 * gzip-compressed with the shuffle filter.
 *
 * Crash safety: activation rows are written as each pack of prompts runs,
 * the per-prompt tables at checkpoints; a checkpoint writes the tables,
 * flushes the file, and only then raises n_prompts and flushes again.
 * Metadata is kept in memory between checkpoints (no evictions), so an
 * interrupted file still opens and everything up to n_prompts is whole;
 * datasets may hold rows past n_prompts (a half-written batch): readers of
 * an incomplete file go by n_prompts.  --resume copies the committed
 * prompts into a fresh file and continues there, so it never writes into
 * metadata a kill may have torn.  What remains: HDF5 does not order the
 * writes of one flush for crashes, so a kill inside a flush (milliseconds,
 * every 2 s) could in principle damage committed rows; the tests kill at
 * random points and check that it has not.  f16 is IEEE half precision (h5py reads numpy.float16), rounded
 * to nearest even by factprobe.
 *
 * Example (h5py): one hook for one prompt
 *   f = h5py.File("acts.h5")
 *   s, n = f["prompts/row_start"][0], f["prompts/n_rows"][0]
 *   acts = f["acts/blocks.5.mlp.hook_post"][s:s+n]      # (n, d_mlp)
 *   pos = f["rows/position"][s:s+n]
 */
#ifndef H5OUT_H
#define H5OUT_H

#include <stddef.h>
#include <stdint.h>

#include "../model/fp_error.h"

#define H5REC_FORMAT "factprobe-activations"
#define H5REC_FORMAT_VERSION 1

typedef struct h5rec h5rec;

typedef struct h5rec_hook {
	char name[64];
	int kind, layer, width;
} h5rec_hook;

typedef struct h5rec_info {
	const char *factprobe_version, *command_line, *model_file, *model_sha256, *architecture, *tokenizer, *positions, *prompts_file;
	int n_layers, d_model, d_mlp, n_heads, n_kv_heads, d_vocab;
	int f16;         /* 1: f16, 0: f32 */
	int compress;    /* gzip level 0..9 */
	int batch_tokens; /* packing of forward passes (stored: --resume must use the same) */
	/* a shard (record --shard, or one MPI rank): n_shards > 0 */
	int shard, n_shards;
	long prompt_start, prompt_end, prompts_total; /* its prompts [start, end) of the set's total */
	const char *prompts_sha256;                   /* the prompt file's sha256 */
	const char *matmul; /* "q8": written as the attribute matmul (--resume must use the same); NULL or
	                     * "exact": no attribute, as before --matmul existed */
} h5rec_info;

typedef struct h5rec_prompt {
	const char *text, *subject, *target, *relation, *id; /* NULL = "" */
	long line;
	int n_tokens;
	const int32_t *ids;
	char *const *token_text;
	int subj_start, subj_end; /* -1 -1 if none */
	int n_rows;
	const int32_t *positions; /* [n_rows] */
} h5rec_prompt;

/* Creates path (truncating it: the caller checks --force). */
int h5rec_create(h5rec **out, const char *path, const h5rec_info *info, const h5rec_hook *hooks, int n_hooks,
		 fp_error *err);
/* Continues an interrupted recording: checks that its model, dtype,
 * positions, hooks and packing match, copies its committed prompts into a
 * fresh file that replaces it (by rename, once whole), and sets *n_done to
 * the prompts it holds.  The interrupted file is only read. */
int h5rec_resume(h5rec **out, const char *path, const h5rec_info *info, const h5rec_hook *hooks, int n_hooks,
		 long *n_done, fp_error *err);
/* Text of the last committed prompt (for --resume to check the prompt file). */
int h5rec_last_text(h5rec *r, char **text, fp_error *err);
/* Before a pack of prompts: reserves disk space for n_rows rows of every
 * hook (an error here leaves the file at its last checkpoint). */
int h5rec_reserve(h5rec *r, long n_rows, fp_error *err);
/* Writes the pack's n_rows rows of hook h to its dataset, right after the
 * rows of the prompts added so far: row k is src + rows[k] * width (rows
 * NULL: k), converted to the file's dtype.  They count once the prompts that
 * own them are added and checkpointed. */
int h5rec_write_rows(h5rec *r, int h, long n_rows, const float *src, const int32_t *rows, fp_error *err);
/* h5rec_write_rows in two steps, for a writer thread: the conversion into
 * dst (n_rows * h5rec_row_bytes bytes) touches no HDF5 state and reads only
 * what is fixed at creation, so it may run on another thread while the
 * writer calls HDF5; h5rec_write_converted writes such rows. */
size_t h5rec_row_bytes(const h5rec *r, int h);
void h5rec_convert_rows(const h5rec *r, int h, long n_rows, const float *src, const int32_t *rows, void *dst);
int h5rec_write_converted(h5rec *r, int h, long n_rows, const void *data, fp_error *err);
/* Buffers one prompt's tables (written at the next checkpoint); its rows
 * must already be written with h5rec_write_rows. */
int h5rec_add(h5rec *r, const h5rec_prompt *p, fp_error *err);
/* 1 when the buffered tables call for a checkpoint (~16 MB or 4096 prompts) */
int h5rec_batch_full(const h5rec *r);
/* Writes the buffer, flushes, raises n_prompts, flushes again. */
int h5rec_checkpoint(h5rec *r, fp_error *err);
/* Checkpoints, sets complete, closes.  Frees r even on error. */
int h5rec_close(h5rec *r, int complete, fp_error *err);
/* Closes without writing anything more (after an error). */
void h5rec_abandon(h5rec *r);
long h5rec_n_prompts(const h5rec *r);
/* bytes written to /acts so far in this run */
double h5rec_bytes(const h5rec *r);

/* Joins shards (paths in any order) into the master file out (replaced
 * atomically once whole).  Refuses, naming the files: a file that is not a
 * complete shard, shards of different runs (model_sha256, hooks, dtype,
 * positions, batch_tokens, prompts_sha256, shard count), and prompt ranges
 * that overlap or leave a gap.  Sources in out's directory are named
 * relative to it (the set can move as a whole), others absolutely.
 * command_line is the master's command_line (`factprobe merge`'s), NULL to
 * keep the shards' (an MPI run's record command, which wrote the master);
 * the shards' is kept as record_command_line either way. */
int h5rec_merge(const char *out, char *const *shards, int n, const char *command_line, fp_error *err);

/* ---- reading a recording (any complete or interrupted one: readers go by
 * n_prompts) ---- */

typedef struct h5rec_in h5rec_in;
typedef struct h5rec_meta {
	long n_prompts, n_rows;
	int n_layers, d_model, d_mlp;
	char hooks[8192], positions[32], model_sha256[80];
	int complete;
} h5rec_meta;

int h5rec_open(h5rec_in **out, const char *path, h5rec_meta *meta, fp_error *err);
/* 1 if the recording holds this hook (TransformerLens name) */
int h5rec_has(h5rec_in *r, const char *hook);
/* Rows [row0, row0+n) of a hook as f32 into out [n][width]; *width set. */
int h5rec_read(h5rec_in *r, const char *hook, long row0, long n, float *out, int *width, fp_error *err);
/* Per-prompt tables: strings (field "target", "subject", "text", "id",
 * "relation") malloc'ed into (*out)[n_prompts]; ints ("row_start",
 * "n_rows", "n_tokens", "token_start") as long. */
int h5rec_strings(h5rec_in *r, const char *field, char ***out, fp_error *err);
int h5rec_longs(h5rec_in *r, const char *group_field, long *out, long n, fp_error *err);
/* entries [start, start+n) of a 1-D integer dataset (e.g. tokens/id) */
int h5rec_longs_at(h5rec_in *r, const char *path, long start, long *out, long n, fp_error *err);
/* One recorded prompt: its text, token ids, subject span, and which token
 * positions have rows (row_of[t] = row index in /acts, or -1). */
typedef struct h5rec_recorded {
	char *text;
	int32_t *ids;
	int n, s0, s1;
	long *row_of;
} h5rec_recorded;
int h5rec_recorded_get(h5rec_in *r, long i, h5rec_recorded *p, fp_error *err);
void h5rec_recorded_free(h5rec_recorded *p);
void h5rec_in_close(h5rec_in *r);

#endif
