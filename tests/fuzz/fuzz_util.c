/* fuzz_util.c - see fuzz.h. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <time.h>

char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = 0;
	return s;
}

static char tmp_dir[256];

static void rm_tmpdir(void)
{
	DIR *d = opendir(tmp_dir);
	if (d) {
		struct dirent *e;
		char p[512];
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
				snprintf(p, sizeof p, "%s/%s", tmp_dir, e->d_name);
				unlink(p);
			}
		closedir(d);
	}
	rmdir(tmp_dir);
}

const char *fuzz_tmpdir(void)
{
	if (!tmp_dir[0]) {
		const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(tmp_dir, sizeof tmp_dir, "%s/fpfuzz_XXXXXX", base);
		if (!mkdtemp(tmp_dir))
			abort();
		atexit(rm_tmpdir);
	}
	return tmp_dir;
}

/* the sanitizer allocator's hooks (ASan, from clang and from gcc); weak, so
 * a plain build links without them */
int __sanitizer_install_malloc_and_free_hooks(void (*m)(const volatile void *, size_t),
					      void (*f)(const volatile void *)) __attribute__((weak));
size_t __sanitizer_get_allocated_size(const volatile void *p) __attribute__((weak));

static size_t live, peak, start;
static int hooked;
static double cpu0;

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void on_malloc(const volatile void *p, size_t n)
{
	live += n;
	if (live > peak)
		peak = live;
}

static void on_free(const volatile void *p)
{
	if (p && __sanitizer_get_allocated_size) {
		size_t n = __sanitizer_get_allocated_size(p);
		live = n <= live ? live - n : 0;
	}
}

void fuzz_mem_begin(void)
{
	if (!hooked && __sanitizer_install_malloc_and_free_hooks && __sanitizer_get_allocated_size) {
		__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
		hooked = 1;
	}
	start = peak = live;
	cpu0 = cpu_now();
}

void fuzz_mem_end(size_t input, size_t declared)
{
	static double cpu_limit = -1;
	if (cpu_limit < 0) {
		const char *e = getenv("FUZZ_CPU_LIMIT");
		cpu_limit = e && *e ? atof(e) : FUZZ_CPU_LIMIT;
	}
	double cpu = cpu_now() - cpu0;
	if (cpu_limit > 0 && cpu > cpu_limit) {
		fprintf(stderr, "fuzz: %.2f s of CPU time for a %zu-byte input (limit %.2f s)\n", cpu, input, cpu_limit);
		abort();
	}
	if (!hooked)
		return;
	size_t used = peak - start, limit = 4 * input + declared + FUZZ_MEM_SLACK;
	if (used > limit) {
		fprintf(stderr, "fuzz: %zu bytes allocated at the peak for a %zu-byte input (limit %zu: 4 x input "
				"+ %zu declared + %u)\n", used, input, limit, declared, FUZZ_MEM_SLACK);
		abort();
	}
}
