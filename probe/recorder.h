/* recorder.h - recording prompts' activations: prompts are packed into
 * forward passes of about batch_tokens tokens (a prompt longer than that
 * runs alone), each hook's rows at the chosen positions go to the recording
 * (h5out.h) as each pass runs, the prompts' tables follow, and a checkpoint
 * falls between passes every 2 s or when the tables' buffer is full, never
 * inside one, so a resumed run packs the remaining prompts as an
 * uninterrupted one would.  The computation behind `factprobe record`.
 *
 * The writing overlaps the next pass: a writer thread makes every HDF5 call
 * on the recording, in the order one thread would, while the caller's
 * thread runs the passes and converts each hook's rows into a buffer from
 * a pool (a few buffers while the writer keeps up, at most one per hook of
 * each width: one more pack's activations).  Between rr_new and
 * rr_free (or after rr_sync returns) the caller makes no h5rec call of its
 * own; a writer error comes back from the next rr_add, rr_flush or rr_sync.
 * Library code: returns an fp_error, never prints. */
#ifndef RECORDER_H
#define RECORDER_H

#include "h5out.h"
#include "prompts.h"
#include "../model/model.h"

/* which token positions of a prompt get rows */
enum { RR_POS_ALL, RR_POS_LAST, RR_POS_SUBJECT, RR_POS_SUBJECT_LAST };
extern const char *const RR_POS_NAME[4];

typedef struct rr_recorder rr_recorder;

/* rec NULL: a dry run (passes run, nothing captured or written).
 * prompts_path names the prompts in errors. */
int rr_new(rr_recorder **out, fp_model *m, h5rec *rec, const h5rec_hook *hooks, int n_hooks, int pos_mode,
	   int batch_tokens, const char *prompts_path, fp_error *err);
/* Adds a prompt (its tokens ids[0..n), subject tokens [s0, s1), -1 if
 * none), running the waiting prompts first when this one would overflow
 * their pass. */
int rr_add(rr_recorder *r, const fp_prompt *p, const int32_t *ids, int n, int s0, int s1, fp_error *err);
/* Runs the waiting prompts and waits until the writer has written them
 * (rr_sync). */
int rr_flush(rr_recorder *r, fp_error *err);
/* Waits until the writer has written every pack run so far; 0, or the
 * writer's error (which names the file).  The file's state then is what a
 * single thread would have left. */
int rr_sync(rr_recorder *r, fp_error *err);
/* Drops the waiting prompts (an interruption: --resume redoes them); the
 * packs already run are still written (rr_sync waits for them). */
void rr_drop(rr_recorder *r);
/* prompts run and their tokens so far */
long rr_done(const rr_recorder *r);
double rr_tokens(const rr_recorder *r);
/* Stops the writer, dropping what it has not written (call rr_sync first
 * to keep it), and frees r; the recording is the caller's again. */
void rr_free(rr_recorder *r);

#endif
