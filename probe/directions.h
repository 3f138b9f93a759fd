/* directions.h - concept directions: the one parser of direction specs and
 * reader of direction files, for dot, patch and any command that takes -d.
 *
 * Spec syntax (`factprobe dot --help` shows it to users):
 *   tok:WORD             the token's unembedding row (WORD may be quoted; a
 *                        leading space is part of the token)
 *   emb:TEXT             the mean input embedding of TEXT's tokens
 *   neuron:L.N           what MLP neuron N of block L writes (its W_out column)
 *   neuron-in:L.N        what it reads (its W_in row; the up projection of a
 *                        gated MLP)
 *   mean-diff:A,B@HOOK   mean last-token activation of prompt set A minus B at
 *                        HOOK (parse.h's hook patterns: blocks.*.HOOK gives one
 *                        vector per layer, blocks.5.HOOK one vector)
 *   file:PATH.h5:/DSET   a vector from an HDF5 file (below)
 *
 * Direction file format: any HDF5 file; the dataset named after the colon is
 * read as float32, either
 *   [width]              one vector for every layer, or
 *   [L, width]           one per block (row l: blocks.l), or
 *   [L + 1, width]       one per resid index (row 0: the embeddings, row l+1:
 *                        blocks.l.hook_resid_post), as TransformerLens'
 *                        accumulated residual stack.
 * width must be the hook's width; h5py writes one with
 *   h5py.File("dirs.h5", "w")["probe"] = v.astype("float32")
 * Library code: returns an fp_error, never prints. */
#ifndef DIRECTIONS_H
#define DIRECTIONS_H

#include "../model/model.h"

/* A direction in a hook's space: one vector for all layers, or one per
 * layer (mean-diff at blocks.*.HOOK, or a [L, W] dataset). */
typedef struct an_dir {
	char label[512];     /* what it is, for output headers */
	int per_layer;       /* 1: v holds n_layers vectors */
	int n_layers, width;
	int layer_offset;    /* per_layer: v's row i is layer i + layer_offset (-1 for resid_pre-based) */
	int normalized;      /* 1: each vector scaled to unit length */
	float *v;
} an_dir;

/* Parses one direction spec (the syntax in `factprobe dot --help`):
 * tok:WORD  emb:TEXT  neuron:L.N  neuron-in:L.N  mean-diff:A,B@HOOK
 * file:PATH.h5:/dataset.  WORD and TEXT may be quoted ("..."); otherwise the
 * rest of the spec is taken as it is, leading spaces included.
 * multi: 0 refuse a multi-token tok: word, 1 mean of its tokens' rows,
 * 2 its first token.  normalize: scale to unit length. */
int an_dir_parse(fp_model *m, const char *spec, int multi, int normalize, an_dir **out, fp_error *err);
/* The vector for a layer (layer < 0 or not per-layer: the one vector);
 * NULL if a per-layer direction has no vector for that layer. */
const float *an_dir_at(const an_dir *d, int layer);
void an_dir_free(an_dir *d);

#endif
