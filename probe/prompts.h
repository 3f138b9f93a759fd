/* prompts.h - streaming reader for prompt sets.
 *
 * Formats, chosen by the file name:
 *   *.tsv    a header row naming the columns; `prompt` is required, `subject`,
 *            `target`, `relation` and `id` are optional, other columns are
 *            ignored.  Cells may escape \t \n \r and \\ (as factprobe's own
 *            TSV output does).
 *   *.jsonl  one JSON object per line with the same field names (strings).
 *   other    plain text: one prompt per line.
 * Every malformed line is an error naming the file, the line and the field:
 * a wrong number of columns, a missing or empty prompt, invalid UTF-8, a
 * subject that does not occur in its prompt, bad JSON.  Memory is one line
 * at a time, whatever the file's length.
 */
#ifndef PROMPTS_H
#define PROMPTS_H

#include <stddef.h>
#include <stdio.h>

#include "../model/fp_error.h"

typedef struct fp_prompt {
	char *text;                  /* the prompt (UTF-8, may contain newlines) */
	size_t len;
	char *subject, *target, *relation, *id; /* NULL when the set has none */
	long line;                   /* 1-based line in the file */
} fp_prompt;

typedef struct prompt_reader prompt_reader;

int prompts_open(prompt_reader **out, const char *path, fp_error *err);
/* The same over an open stream (fmemopen, a pipe); `name` chooses the format
 * and names the set in messages.  The reader owns f from here, on error too. */
int prompts_open_stream(prompt_reader **out, FILE *f, const char *name, fp_error *err);
/* 1: *p filled (owned by the reader until the next call); 0: end of file;
 * <0: an error about this line (the reader can go on with the next line). */
int prompts_next(prompt_reader *r, fp_prompt *p, fp_error *err);
void prompts_close(prompt_reader *r);
/* --skip-bad: from here on prompts_next passes over malformed lines instead
 * of returning their error; each one's message goes to warn (may be NULL)
 * and is counted (prompts_skipped). */
void prompts_skip_bad(prompt_reader *r, void (*warn)(void *user, const char *msg), void *user);
long prompts_skipped(const prompt_reader *r);
/* The same for every reader opened from here on in this process, also those
 * that library code opens by path (a mean-diff direction's prompt sets, a
 * mean ablation's --ref set): a command sets it once from its --skip-bad.
 * prompts_skipped_default counts the lines skipped by all of them. */
void prompts_skip_bad_default(void (*warn)(void *user, const char *msg), void *user);
long prompts_skipped_default(void);
/* 1 if the set has a subject column/field */
int prompts_has_subject(const prompt_reader *r);
/* number of non-header lines (a quick pass, for progress); -1 on error */
long prompts_count(const char *path);

#endif
