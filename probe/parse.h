/* parse.h - the one parser for each small piece of command-line syntax the
 * commands share, and for where a prompt's tokens start.  Library code: each
 * returns 0 or a negative fp_error code with a one-line message, never
 * prints.  FP_ERR_FORMAT means the text is not of the form (a usage error,
 * exit 2, in the command layer); FP_ERR_INVALID and FP_ERR_UNSUPPORTED mean
 * it is well formed but does not fit the model (exit 1).
 *
 * - neuron refs: "L.N", MLP neuron N of block L, both from 0 (e.g. 12.345);
 *   lists of them separated by commas;
 * - hook patterns for per-layer hooks: "blocks.*.hook_resid_post",
 *   "hook_resid_post", "mlp.hook_post", "attn.hook_z" (every layer), or
 *   "blocks.5.mlp.hook_post" (one layer), TransformerLens names;
 * - positions (--at): all, last, subject-last, or a token index N (from 0;
 *   -N counts from the end);
 * - BOS: whether a token sequence starts with a BOS token that has no text. */
#ifndef PARSE_H
#define PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "../model/model.h"
#include "h5out.h"

/* ---- neuron refs ---- */

/* "L.N" in s[0..len): *layer, *neuron.  With n_layers > 0 and d_mlp > 0 the
 * numbers are checked against them (FP_ERR_INVALID naming the range). */
int ps_neuron(const char *s, size_t len, int n_layers, int d_mlp, int *layer, int *neuron, fp_error *err);
/* "L.N,L.N,...": at most max refs into layer[] and neuron[], *n of them;
 * more than max is FP_ERR_INVALID. */
int ps_neuron_list(const char *s, int n_layers, int d_mlp, int max, int *layer, int *neuron, int *n, fp_error *err);

/* ---- hook patterns ---- */

/* The per-layer hook a pattern names: *kind (FP_HOOK_*) and *layer, -1 when
 * it names every layer.  Syntax only: no model needed. */
int ps_hook_pattern(const char *s, int *kind, int *layer, fp_error *err);
/* ps_hook_pattern, then checked against the model: it has the hook, and
 * the layer is one of its blocks. */
int ps_hook_pattern_model(const fp_model *m, const char *s, int *kind, int *layer, fp_error *err);

/* Layer ranges: "0-29", "5,7,9", "0-3,10" set sel[0..n_layers) for the
 * blocks named (and clear the rest). */
int ps_layers(const char *s, int n_layers, char *sel, fp_error *err);

/* Hook name globs, comma separated (fnmatch's * and ?, e.g.
 * "blocks.*.mlp.hook_post,hook_embed"), against every hook this model has:
 * each hook matched at a selected block (sel NULL: every block; hooks
 * outside blocks always) is listed once, in the order first matched, into
 * out[0..max) with its name, kind, layer (-1 outside blocks) and width.
 * Every pattern must match some hook of the model (FP_ERR_INVALID naming
 * it); matching none at the selected blocks is not an error (*n = 0). */
int ps_hook_select(const fp_model *m, const char *spec, const char *sel, h5rec_hook *out, int max, int *n,
		   fp_error *err);

/* ---- positions (--at) ---- */

enum ps_at { AT_ALL, AT_LAST, AT_SUBJECT_LAST, AT_POS };
/* all|last|subject-last|N; allowed is a mask of (1 << AT_*). */
int ps_at(const char *s, unsigned allowed, int *mode, int *pos, fp_error *err);
/* The position a mode selects in a prompt of n tokens whose subject ends
 * before token s1 (<= 0: no subject); *out set, or an error naming why it
 * has none. */
int ps_at_position(int mode, int pos, int n, int s1, int *out, fp_error *err);
const char *ps_at_name(int mode);

/* ---- BOS ---- */

/* 1 when ids[0] is the model's BOS token and a BOS was added: add_bos -1
 * means as the tokenizer does by default, 1 always, 0 never. */
int ps_has_bos(const fp_model *m, const int32_t *ids, int n, int add_bos);

#endif
