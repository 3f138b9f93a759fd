/* fp_error.h - the error channel of the model library.
 *
 * Library functions return 0 (FP_OK) on success or a negative FP_ERR_* code,
 * and fill a caller-owned fp_error with one lowercase line that names the
 * file, field or tensor at fault.  They never print and never exit: only the
 * command layer (probe/) turns an fp_error into a message and an exit status.
 */
#ifndef FP_ERROR_H
#define FP_ERROR_H

enum fp_status {
	FP_OK = 0,
	FP_ERR_IO = -1,          /* cannot open/read/map a file */
	FP_ERR_FORMAT = -2,      /* malformed or truncated input */
	FP_ERR_NOMEM = -3,       /* allocation failed */
	FP_ERR_UNSUPPORTED = -4, /* valid input we do not handle (type, arch) */
	FP_ERR_INVALID = -5,     /* bad argument (unknown name, out of range) */
	FP_ERR_ABORTED = -6      /* a hook callback asked to stop */
};

typedef struct fp_error {
	int code;
	char msg[512];
} fp_error;

/* Sets e (when not NULL) and returns code, so callers can write
 * `return fp_error_set(err, FP_ERR_FORMAT, "...", ...);`. */
int fp_error_set(fp_error *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
