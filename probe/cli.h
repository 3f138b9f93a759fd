/* cli.h - what the factprobe subcommands share: the commands table, model
 * resolution, error reporting and output formatting.  This is the only layer
 * that prints errors and chooses exit codes (0 ok, 1 failure, 2 usage). */
#ifndef CLI_H
#define CLI_H

#include <stdio.h>

#include "../model/model.h"
#include "parse.h"
#include "results.h"
#include "table.h"

#define FACTPROBE_VERSION "0.1.0"
#define FP_DEFAULT_MODEL_FILE "SmolLM2-135M-Instruct.Q4_1.gguf"

enum cli_format { FMT_TEXT = 0, FMT_TSV = 1, FMT_JSON = 2 };

typedef struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} cli_command;

int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_record(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_dot(int argc, char **argv);
int cmd_lens(int argc, char **argv);
int cmd_neurons(int argc, char **argv);
int cmd_grad(int argc, char **argv);
int cmd_top_examples(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_patch(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_superposition(int argc, char **argv);

/* --at (parse.h's ps_at and ps_at_position, printing their error): the
 * mode, or the position it selects in a prompt of n tokens whose subject ends
 * before s1; -1 after the message. */
int cli_parse_at(const char *cmd, const char *s, unsigned allowed, int *mode, int *pos);
int cli_at_position(const char *cmd, int mode, int pos, int n, int s1);

/* "factprobe CMD: msg" on stderr; returns 1 (or 2 for cli_usage_error).
 * Under MPI (cli_set_rank with size > 1) the line reads "factprobe CMD
 * (rank R of N): msg", and hints are printed by rank 0 only, so an error
 * every rank hits gives one line per rank, each naming it. */
void cli_set_rank(int rank, int size);
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* --skip-bad, alike in every command that reads prompt sets: malformed lines
 * of every set read from here on are skipped with a warning naming the file,
 * line and field ("factprobe CMD: warning: skipping ..."), and
 * cli_skip_bad_report prints how many were skipped (nothing when none). */
void cli_skip_bad(const char *cmd);
void cli_skip_bad_report(const char *cmd);

/* The model path: -m value, else $FACTPROBE_MODEL, else the default model in
 * ${XDG_CACHE_HOME:-$HOME/.cache}/factprobe/.  Writes into buf. */
const char *cli_model_path(const char *opt, char *buf, size_t n);
/* Loads the model, printing a clear error (and a hint for the default
 * model) on failure.  Returns NULL on failure. */
fp_model *cli_load_model(const char *cmd, const char *opt_path);
/* How cli_load_model holds the weights (--weights, $FACTPROBE_WEIGHTS). */
extern int cli_weights;
/* How cli_load_model multiplies (--matmul, $FACTPROBE_MATMUL).  q8 on a
 * model with no matrix q8 supports: one warning, exact products, and the
 * command line loses its " --matmul q8". */
extern int cli_matmul;
/* Where each came from, for messages: "--weights " / "$FACTPROBE_WEIGHTS="
 * (the value follows). */
extern const char *cli_weights_from, *cli_matmul_from;
/* Prints a command's --help text, then the global options every command
 * that loads a model takes (--weights, --matmul: one shared text). */
void cli_help(const char *help);

/* Reports an option getopt_long rejected (c is '?' or ':'); returns 2.
 * Commands call getopt_long with a leading ':' in the short options and
 * opterr = 0, so this is the only message. */
int cli_bad_option(const char *cmd, int c, char **argv);

/* Parses a positive int option value; returns -1 (after printing) if bad. */
int cli_parse_int(const char *cmd, const char *opt, const char *s, int lo, int hi, int *out);

/* Table cells and strings for output: table.h (tb_tsv_escape, tb_utf8_clean,
 * tb_print_quoted, and the table emitter). */

/* A token's text as a malloc'ed, valid UTF-8 string: bytes that are not a
 * whole UTF-8 character become U+FFFD (NULL when out of memory). */
char *cli_token_text(const fp_model *m, int id);
/* parse.h's ps_hook_pattern_model, printing its error: -1 after the message
 * (a usage error when s is not a hook pattern). */
int cli_parse_hook_pattern(const char *cmd, const fp_model *m, const char *s, int *kind, int *layer);

/* The command line, recorded once by main (argv of the command). */
void cli_set_command_line(int argc, char **argv);
const char *cli_command_line(void);
/* Writes a result file's header (results.h): format and the provenance of
 * this run (model_path: the model loaded, hashed here; NULL for none).
 * Returns 0 or an fp_error code. */
int cli_result_header(hid_t f, const char *format, const char *model_path, fp_error *err);

/* JSON: the texts of tokens ids[0..n) (cli_token_text each), an array */
json_t *cli_token_texts(const fp_model *m, const int32_t *ids, int n);
/* A token's bytes into buf[0..n) (cut at n - 1): their count. */
size_t cli_token_bytes(const fp_model *m, int id, char *buf, size_t n);
/* A token's bytes as the next string cell of a table (table.h). */
void cli_tb_token(tb_table *t, const fp_model *m, int id);

/* Reads all of stdin when text is "-"; else returns a copy of text. */
char *cli_text_arg(const char *cmd, const char *text, size_t *len);

#endif
