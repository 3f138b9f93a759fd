/* table.h - the one table emitter: a command describes its columns once and
 * adds cells row by row; the emitter writes the text table, the TSV or the
 * JSON rows.  Every table it writes is valid UTF-8, whatever the cells hold
 * (token text may be a piece of a character or a control byte).  Text and
 * TSV cells share one escaping, so a cell stays one cell on one line:
 *     \t \n \r for tab, newline and carriage return; \xNN for every other
 *     control byte (00-1F, 7F) and for each byte that is not part of a whole
 *     UTF-8 character; \\ for a backslash (not in plain text cells)
 *   - text: strings quoted (a double quote as \"), or plain (tb_col.plain);
 *   - TSV: a header line of column names, then one line a row (Python's csv
 *     module reads it with delimiter "\t" and quoting=csv.QUOTE_NONE);
 *   - JSON: an array of row objects, or an object of column arrays
 *     (tb_end_columns); a real that is NaN or infinite is null (JSON has no
 *     such numbers); a string is its text with invalid bytes as U+FFFD
 *     (JSON's own escapes for control bytes, \u0000 for a NUL byte),
 *     and a column marked with bytes also gives each cell's exact bytes as a
 *     hex string under "<json>_bytes" ("e69d" for the bytes E6 9D).
 * A row may hold a nested table (a TB_NEST column, filled from another
 * table's tb_end): JSON gives it under its key; a table begun with
 * tb_begin_inline writes its text rows on the line of the row that holds it.
 * A command's whole output is a tb_doc: its tables, and the facts around them
 * (the prompt, the target, ...) as keys of one JSON object; text and TSV leave
 * those keys out, and tb_say writes the text format's sentences.
 * Library code: it writes only to the FILE it is given. */
#ifndef TABLE_H
#define TABLE_H

#include <jansson.h>
#include <stdio.h>

enum tb_type { TB_INT, TB_REAL, TB_STR, TB_NEST };

typedef struct tb_col {
	const char *name;  /* TSV header cell; NULL: not in the TSV */
	const char *json;  /* JSON key; NULL: not in the JSON */
	int type;          /* TB_INT (long long), TB_REAL (double), TB_STR (bytes) or
			    * TB_NEST (a value for JSON only: a nested table) */
	/* text table: a printf conversion with its literal prefix, e.g. "%4d",
	 * " %9.4f", "  %-24s" (a string, quoted, padded to 24 columns); the
	 * header line uses the same widths.  NULL: not in the text table. */
	const char *text;
	int bytes;         /* TB_STR: JSON also gives the raw bytes */
	const char *label; /* text header cell (NULL: name), escaped as a plain cell */
	int plain;         /* TB_STR in text: unquoted (escaped as above, a backslash kept),
			    * aligned by the width ("%5s" right, "%-11s" left; a label such as "emb") */
	const char *tsv;   /* TB_REAL in TSV: a printf conversion (NULL: "%.6g") */
} tb_col;

enum tb_format { TB_TEXT = 0, TB_TSV = 1, TB_JSON = 2 }; /* as cli.h's FMT_* */

typedef struct tb_table {
	FILE *f;
	int fmt, ncols, col;
	int inl; /* tb_begin_inline: text rows without a line end, no TSV */
	const tb_col *cols;
	json_t *rows, *row;
} tb_table;

/* Starts a table on f: prints the TSV header, or the text header line when
 * text_header is 1. */
void tb_begin(tb_table *t, FILE *f, int fmt, const tb_col *cols, int ncols, int text_header);
/* Starts a table nested in a row of parent (its file and format): text rows
 * go on the parent row's line, one after the other; JSON gives tb_end's
 * array for the parent's TB_NEST cell; TSV writes nothing. */
void tb_begin_inline(tb_table *t, const tb_table *parent, const tb_col *cols, int ncols);
/* The next cell of the row, in column order; the last one ends the row. */
void tb_int(tb_table *t, long long v);
void tb_real(tb_table *t, double v);
void tb_str(tb_table *t, const char *s, size_t n);
/* a TB_NEST cell: v (taken over; NULL: null) in JSON, nothing in text or TSV */
void tb_json(tb_table *t, json_t *v);
/* JSON: the rows as an array of objects (new reference; NULL for text and
 * TSV), or as one object of column arrays.  Frees the table's state. */
json_t *tb_end(tb_table *t);
json_t *tb_end_columns(tb_table *t);
/* JSON: the table's one row as an object (new reference; NULL for text and
 * TSV). */
json_t *tb_end_row(tb_table *t);

/* A command's output in one format: the JSON object (tb_doc_end prints it,
 * indented by 2, with a newline), or text and TSV written as they come. */
typedef struct tb_doc {
	FILE *f;
	int fmt;
	json_t *root;     /* JSON only */
	json_t *open[8];  /* the objects tb_doc_open made, innermost last */
	int depth;
} tb_doc;

void tb_doc_begin(tb_doc *d, FILE *f, int fmt);
/* A key of the JSON object; nothing in text or TSV.  Strings are made valid
 * UTF-8 (tb_utf8_clean); a real that is NaN or infinite is null. */
void tb_doc_int(tb_doc *d, const char *key, long long v);
void tb_doc_real(tb_doc *d, const char *key, double v);
void tb_doc_bool(tb_doc *d, const char *key, int v);
void tb_doc_str(tb_doc *d, const char *key, const char *s);
void tb_doc_strn(tb_doc *d, const char *key, const char *s, size_t n);
/* v (taken over) under key: a table (tb_end); key NULL: v is the whole
 * JSON document (a bare array of rows) */
void tb_doc_set(tb_doc *d, const char *key, json_t *v);
/* A nested object: the keys set on it until tb_doc_close go into it. */
void tb_doc_open(tb_doc *d, const char *key);
void tb_doc_close(tb_doc *d);
/* printf in the text format only: the sentences around its tables */
void tb_say(const tb_doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s[0..n) quoted (tb_print_quoted), in the text format only */
void tb_say_quoted(const tb_doc *d, const char *s, size_t n);
/* s[0..n) as it is (bytes outside a whole character as \xNN), in text only */
void tb_say_plain(const tb_doc *d, const char *s, size_t n);
/* Starts a table of the document: tb_begin on its file and format. */
void tb_doc_table(tb_doc *d, tb_table *t, const tb_col *cols, int ncols, int text_header);
/* JSON: prints the object and frees it. */
void tb_doc_end(tb_doc *d);
/* v[0..n) as a JSON array (NaN and infinities null), for tb_doc_set */
json_t *tb_json_reals(const double *v, size_t n);
/* v[rows][cols] as a JSON array of rows */
json_t *tb_json_grid(const double *v, size_t rows, size_t cols);

/* The cell writers, for text outside tables: */
/* s[0..n) as a TSV cell (the escapes above) */
void tb_tsv_escape(FILE *f, const char *s, size_t n);
/* s[0..n) quoted for a human (the escapes above); returns the columns
 * printed (code points) */
int tb_print_quoted(FILE *f, const char *s, size_t n);
/* s[0..n) as a plain text cell (the escapes above, a backslash kept);
 * returns the columns printed (code points) */
int tb_print_plain(FILE *f, const char *s, size_t n);
/* s[0..n) as a short label of at most width columns, for a text header:
 * escaped as a plain cell, a space as '_', cut after the last whole
 * character or escape that fits.  Writes at most cap bytes with the NUL;
 * returns the length. */
size_t tb_label(char *buf, size_t cap, const char *s, size_t n, int width);
/* s[0..n) as a valid UTF-8 C string (malloc'ed): bytes that are not part
 * of a whole character, and NUL (which a C string, an HDF5 string and
 * json_string cannot hold), as U+FFFD */
char *tb_utf8_clean(const char *s, size_t n);
/* s[0..n) as lowercase hex (malloc'ed) */
char *tb_hex(const char *s, size_t n);

#endif
