/* fuzz_prompts.c - the prompt-set reader (probe/prompts.c) on arbitrary
 * bytes as a plain-text, TSV or JSONL set (byte 0 picks which), read to the
 * end through a memory stream; every prompt it returns must be what its
 * contract says: NUL-terminated, of the length it reports, containing its
 * subject. */
#include "fuzz.h"
#include "../../probe/prompts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static const char *names[3] = {"fuzz.txt", "fuzz.tsv", "fuzz.jsonl"};
	const char *name = names[data[0] % 3];
	data++, size--;
	fuzz_mem_begin();
	FILE *f = size ? fmemopen((void *)data, size, "r") : fopen("/dev/null", "r");
	if (!f)
		return 0;
	prompt_reader *r = NULL;
	fp_error err = {0};
	if (prompts_open_stream(&r, f, name, &err)) {
		fuzz_mem_end(size, 0);
		return 0;
	}
	fp_prompt p;
	int rc, lines = 0;
	while ((rc = prompts_next(r, &p, &err)) != 0 && lines++ < 100000) {
		if (rc < 0)
			continue; /* an error about one line; the reader goes on */
		if (strlen(p.text) != p.len || p.len == 0 || (p.subject && !strstr(p.text, p.subject)))
			abort();
	}
	prompts_close(r);
	fuzz_mem_end(size, 0);
	return 0;
}
