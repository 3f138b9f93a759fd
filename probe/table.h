/* table.h - the one table emitter: a command describes its columns once and
 * adds cells row by row; the emitter writes the text table, the TSV or the
 * JSON rows.  Every table it writes is valid UTF-8, whatever the cells hold
 * (token text may be a piece of a character):
 *   - text: strings quoted, control characters C-escaped, bytes that are not
 *     part of a whole UTF-8 character as \xNN;
 *   - TSV: a header line of column names, then one line a row; strings with
 *     \t \n \r \\ escaped and bytes that are not part of a whole UTF-8
 *     character as \xNN (Python's csv module reads it);
 *   - JSON: an array of row objects, or an object of column arrays
 *     (tb_end_columns); a string is its text with invalid bytes as U+FFFD,
 *     and a column marked with bytes also gives each cell's exact bytes as a
 *     hex string under "<json>_bytes" ("e69d" for the bytes E6 9D).
 * Library code: it writes only to the FILE it is given. */
#ifndef TABLE_H
#define TABLE_H

#include <jansson.h>
#include <stdio.h>

enum tb_type { TB_INT, TB_REAL, TB_STR };

typedef struct tb_col {
	const char *name;  /* TSV header cell; NULL: not in the TSV */
	const char *json;  /* JSON key; NULL: not in the JSON */
	int type;          /* TB_INT (long long), TB_REAL (double) or TB_STR (bytes) */
	/* text table: a printf conversion with its literal prefix, e.g. "%4d",
	 * " %9.4f", "  %-24s" (a string, quoted, padded to 24 columns); the
	 * header line uses the same widths.  NULL: not in the text table. */
	const char *text;
	int bytes;         /* TB_STR: JSON also gives the raw bytes */
	const char *label; /* text header cell (NULL: name) */
} tb_col;

enum tb_format { TB_TEXT = 0, TB_TSV = 1, TB_JSON = 2 }; /* as cli.h's FMT_* */

typedef struct tb_table {
	FILE *f;
	int fmt, ncols, col;
	const tb_col *cols;
	json_t *rows, *row;
} tb_table;

/* Starts a table on f: prints the TSV header, or the text header line when
 * text_header is 1. */
void tb_begin(tb_table *t, FILE *f, int fmt, const tb_col *cols, int ncols, int text_header);
/* The next cell of the row, in column order; the last one ends the row. */
void tb_int(tb_table *t, long long v);
void tb_real(tb_table *t, double v);
void tb_str(tb_table *t, const char *s, size_t n);
/* JSON: the rows as an array of objects (new reference; NULL for text and
 * TSV), or as one object of column arrays.  Frees the table's state. */
json_t *tb_end(tb_table *t);
json_t *tb_end_columns(tb_table *t);

/* The cell writers, for text outside tables: */
/* s[0..n) as a TSV cell (the escapes above) */
void tb_tsv_escape(FILE *f, const char *s, size_t n);
/* s[0..n) quoted for a human; returns the columns printed (code points) */
int tb_print_quoted(FILE *f, const char *s, size_t n);
/* s[0..n) as valid UTF-8, invalid bytes as U+FFFD (malloc'ed) */
char *tb_utf8_clean(const char *s, size_t n);
/* s[0..n) as lowercase hex (malloc'ed) */
char *tb_hex(const char *s, size_t n);

#endif
