/* fp_error.c - formatting for the library's error channel (see fp_error.h). */
#include "fp_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int fp_error_set(fp_error *e, int code, const char *fmt, ...)
{
	if (e) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof e->msg, fmt, ap);
		va_end(ap);
		e->code = code;
	}
	return code;
}
