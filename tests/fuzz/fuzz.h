/* fuzz.h - shared by the libFuzzer harnesses in tests/fuzz/.  Each harness
 * defines LLVMFuzzerTestOneInput (and may define LLVMFuzzerInitialize); it is
 * linked either with libFuzzer (make fuzz, clang) or with tests/fuzz/replay.c,
 * a plain main() that feeds it every file of its committed corpus (make test,
 * any compiler).  Harnesses print nothing: a parser's errors are the
 * expected outcome of most inputs. */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* a NUL-terminated malloc'ed copy of the input */
char *fuzz_cstr(const uint8_t *data, size_t size);
/* a private temporary directory, made once, removed at exit */
const char *fuzz_tmpdir(void);

/* Memory bound: fuzz_mem_begin() starts counting the bytes allocated and
 * not yet freed; fuzz_mem_end(input, declared) aborts (a finding) when the
 * peak since then passed 4 x the input size + declared (what the input
 * itself declares and the parser validated, e.g. a model's f32 weights) +
 * FUZZ_MEM_SLACK.  Works under ASan (its allocator hooks); without a
 * sanitizer it checks nothing. */
#define FUZZ_MEM_SLACK (4u << 20)
/* Time bound: fuzz_mem_end also aborts when the input took more than
 * FUZZ_CPU_LIMIT seconds of its thread's CPU time since fuzz_mem_begin
 * ($FUZZ_CPU_LIMIT overrides; 0 turns it off).  CPU time, not libFuzzer's
 * wall-clock -timeout, so that a fuzzer starved by a loaded machine reports
 * no false timeouts; scripts/fuzz.sh keeps a generous -timeout for hangs. */
#define FUZZ_CPU_LIMIT 1.0
void fuzz_mem_begin(void);
void fuzz_mem_end(size_t input, size_t declared);

#endif
