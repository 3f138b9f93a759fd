/* results.h - the small result files that `-o OUT.h5` writes (dot, lens,
 * neurons, trace, superposition): their format names, version and datasets,
 * in one place for the writers and for `plot`, which reads them.  Any HDF5
 * reader (h5py, h5dump) can use them without factprobe.  (Recordings, the
 * large files of `factprobe record`, are documented in h5out.h.)
 *
 * Root attributes of every result file (provenance, as recordings have):
 *   format             one of the names below
 *   format_version     RES_FORMAT_VERSION (files without it are version 1)
 *   factprobe_version  the factprobe that wrote it
 *   created            UTC, ISO 8601
 *   command_line       the command that wrote it
 *   model_file, model_sha256  the model it ran ("" where none was loaded);
 *                      for a Hugging Face checkpoint directory the sha256 of
 *                      config.json + its *.safetensors (res_sha256_file)
 *
 * Formats, with their datasets (L layers, P positions, F neurons a layer):
 *   factprobe-dot            layer [nl] int32 (blocks read); one prompt: dot,
 *                            cos, norm [nl, P] f64, position, token_id [P]
 *                            int32, token [P] str; a prompt set or recording:
 *                            mean_dot, std_dot, mean_cos, std_cos [nl] f64, n
 *                            [nl] int32.  Attributes: direction, normalized,
 *                            hook, at, prompt or source.
 *   factprobe-lens           target_prob [R, P] f32, target_rank [R, P] int32,
 *                            top_id [R, P, k] int32, top_prob [R, P, k] f32,
 *                            top_token [R, P, k] str, layer_label [R] str
 *                            ("emb", "0", ...), token [P] str, position [P]
 *                            int32.  Attributes: prompt, target, target_id, k.
 *   factprobe-neurons        act, dla, ablate, w_in_cos, w_out_cos, weights
 *                            [L, F] f32 (NaN where not measured), top_layer,
 *                            top_neuron [k] int32; with --compare-random:
 *                            random_effects [R] f64.  Attributes: prompt,
 *                            target, position, rank_by, metric, clean,
 *                            ablation (and top_effect).
 *   factprobe-trace          score/{resid,mlp,attn} [L, T] f32 (p(answer)
 *                            with the state restored), indirect_effect/... [L,
 *                            T] f32 (score minus low), token [T] str, token_id
 *                            [T] int32.  Attributes: prompt, subject,
 *                            subject_start, subject_end, subject_span, answer,
 *                            answer_id, high, low, noise, samples, window,
 *                            seed, corruption.
 *   factprobe-trace-dataset  {resid,mlp,attn}/mean, /se [6, L] f64, /n [6]
 *                            int32 per token category, category [6] str.
 *                            Attributes: prompts_file, n_prompts, n_known,
 *                            n_traced, n_skipped_lines, subject_span,
 *                            n_subjects_covered, corruption, mean_high,
 *                            mean_low, noise, samples, window, seed.
 *   factprobe-superposition  SET/bin_center, SET/pairwise_density,
 *                            SET/nearest_density [1800] f64 (densities per
 *                            degree), SET/summary [8] f64 (summary_fields),
 *                            SET one of optimized, mlp_out, unembed.
 *                            Attributes: steps, seed, summary_fields.
 * Library code: returns an fp_error, never prints. */
#ifndef RESULTS_H
#define RESULTS_H

#include <hdf5.h>
#include <stddef.h>

#include "../model/fp_error.h"

#define RES_DOT "factprobe-dot"
#define RES_LENS "factprobe-lens"
#define RES_NEURONS "factprobe-neurons"
#define RES_TRACE "factprobe-trace"
#define RES_TRACE_DATASET "factprobe-trace-dataset"
#define RES_SUPERPOSITION "factprobe-superposition"
#define RES_FORMAT_VERSION 1

/* who wrote a file: the provenance attributes above (NULL: "") */
typedef struct res_prov {
	const char *factprobe_version, *command_line, *model_file, *model_sha256;
} res_prov;

/* Writes format and the provenance attributes on f's root. */
int res_header(hid_t f, const char *format, const res_prov *p, fp_error *err);
/* Checks that f is a result of format (and a version this factprobe reads):
 * FP_ERR_FORMAT naming what it is instead. */
int res_check(hid_t f, const char *path, const char *format, fp_error *err);
/* The sha256 of a file as 64 hex digits.  For a Hugging Face checkpoint
 * directory: of its config.json followed by its *.safetensors files in name
 * order, as one stream. */
int res_sha256_file(const char *path, char hex[65]);
/* "factprobe ARGS..." (argv of the command: argv[0] is its name) */
void res_command_line(int argc, char **argv, char *buf, size_t n);

#endif
