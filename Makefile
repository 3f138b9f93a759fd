# factprobe - top-level build.  `make demo` and `make test` are the two
# commands a new user runs; both install what is missing first.

CC      ?= cc
PKGS    := openblas hdf5 libpcre2-8 jansson libcrypto icu-uc
CFLAGS  ?= -O2 -march=native -g
# added to any CFLAGS, also one given on the command line (make asan, fuzz
# and valgrind give their own optimisation and sanitizer flags): the
# language level and warnings, and the per-file flags below, always apply
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-unused-parameter -Wno-unknown-pragmas
DEPFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lmvec -lm -lpthread

BUILD   ?= build
PREFIX  ?= /usr/local
MODEL_SRC := $(wildcard model/*.c)
PROBE_SRC := $(wildcard probe/*.c)
MODEL_OBJ := $(MODEL_SRC:%.c=$(BUILD)/%.o)
PROBE_OBJ := $(PROBE_SRC:%.c=$(BUILD)/%.o)
# the command layer: the subcommands, main and the command-line helpers;
# everything else (model/ and probe/'s library files) is libfactprobe.a
CMD_SRC   := $(filter probe/cmd_%.c,$(PROBE_SRC)) probe/main.c probe/cli.c
CMD_OBJ   := $(CMD_SRC:%.c=$(BUILD)/%.o)
LIB_SRC   := $(MODEL_SRC) $(filter-out $(CMD_SRC),$(PROBE_SRC))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB_HDR   := $(filter-out probe/cli.h,$(wildcard model/*.h probe/*.h))
VERSION    = $(shell sed -n 's/^\#define FACTPROBE_VERSION "\(.*\)"/\1/p' probe/cli.h)
TEST_BINS := $(BUILD)/tests/test_quant $(BUILD)/tests/test_qmm $(BUILD)/tests/test_gguf $(BUILD)/tests/test_tokenizer $(BUILD)/tests/test_tokenizer_hf \
             $(BUILD)/tests/test_forward $(BUILD)/tests/test_oracle $(BUILD)/tests/make_tiny $(BUILD)/tests/dump_acts \
             $(BUILD)/tests/test_analysis $(BUILD)/tests/test_prompts $(BUILD)/tests/test_stats \
             $(BUILD)/tests/test_parse $(BUILD)/tests/test_table $(BUILD)/tests/test_progress \
             $(BUILD)/tests/test_arch $(BUILD)/tests/test_select $(BUILD)/tests/test_superpos \
             $(BUILD)/tests/test_factset $(BUILD)/tests/test_project \
             $(BUILD)/tests/test_lens $(BUILD)/tests/test_neurons $(BUILD)/tests/test_recorder \
             $(BUILD)/tests/test_results
BENCH_BIN := $(BUILD)/tests/bench_forward $(BUILD)/tests/make_llama8b
BENCH_BIN += $(BUILD)/tests/bench_atp

MODEL_DIR  := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/factprobe
MODEL_FILE := $(MODEL_DIR)/SmolLM2-135M-Instruct.Q4_1.gguf
GEMMA_FILE := $(MODEL_DIR)/gemma-3-270m-q4_k_m.gguf

# the backward pass and the gradient attributions
TEST_BINS += $(BUILD)/tests/test_grad $(BUILD)/tests/test_attrib
# Hugging Face checkpoints, and the torch-free GGUF -> checkpoint writer (tests/hf_writer.c)
TEST_BINS += $(BUILD)/tests/test_hf $(BUILD)/tests/hf_from_gguf
# every Hugging Face family against transformers (tests/fixtures/hf, scripts/make-hf-tiny.py)
TEST_BINS += $(BUILD)/tests/test_hf_arch
# products with 8-bit activations (--matmul q8, model/q8mm.c) against exact references and the gguf package
TEST_BINS += $(BUILD)/tests/test_q8mm

.PHONY: all deps model install uninstall test test-fast test-build test-bins asan tsan fuzz valgrind bench bench-default bench-8b bench-q8mm demo docs-figures check-long oracle clean
.SECONDARY:

# the MPI binary (build/factprobe-mpi) is built when mpicc is installed
# (Debian's OpenMPI: scripts/setup-deps.sh); nothing else needs MPI
MPICC    ?= mpicc
HAVE_MPI := $(shell command -v $(MPICC) >/dev/null 2>&1 && echo 1)
MPI_BIN  := $(if $(HAVE_MPI),$(BUILD)/factprobe-mpi)

all: $(BUILD)/factprobe $(MPI_BIN)

$(BUILD)/%.o: %.c $(wildcard model/*.h probe/*.h tests/*.h tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

# the superposition optimiser's elementwise powers vectorise at -O3
$(BUILD)/probe/superpos.o: CFLAGS += -O3

# dequantisation: its loops vectorise at -O3 (strict IEEE: the same values)
$(BUILD)/model/quant.o: CFLAGS += -O3

# the elementwise kernels only: -ffast-math lets GCC vectorise expf/tanhf via libmvec
$(BUILD)/model/kernels.o: CFLAGS += -O3 -ffast-math

$(BUILD)/libfpmodel.a: $(MODEL_OBJ)
	ar rcs $@ $^

$(BUILD)/libfactprobe.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/factprobe: $(CMD_OBJ) $(BUILD)/libfactprobe.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# factprobe-mpi: the same commands, with probe/main.c's main renamed so that
# mpi/factprobe_mpi.c can wrap it (record splits the prompt set across ranks)
$(BUILD)/mpi/cli_main.o: probe/main.c $(wildcard probe/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPFLAGS) -Dmain=fp_cli_main -c $< -o $@

$(BUILD)/mpi/factprobe_mpi.o: mpi/factprobe_mpi.c $(wildcard probe/*.h)
	@mkdir -p $(dir $@)
	$(MPICC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/factprobe-mpi: $(BUILD)/mpi/factprobe_mpi.o $(BUILD)/mpi/cli_main.o $(filter-out $(BUILD)/probe/main.o,$(CMD_OBJ)) \
		$(BUILD)/libfactprobe.a
	$(MPICC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# the man page, generated from the --help texts
$(BUILD)/factprobe.1: $(BUILD)/factprobe scripts/make-man.sh
	scripts/make-man.sh $(BUILD)/factprobe >$@.tmp && mv $@.tmp $@

# make install PREFIX=DIR (default /usr/local; DESTDIR for staging): the
# command, libfactprobe.a with its headers (include/factprobe/model, .../probe),
# a pkg-config file, the gnuplot scripts (share/factprobe/plots, found from
# the installed binary) and the man page
install: $(BUILD)/factprobe $(BUILD)/libfactprobe.a $(BUILD)/factprobe.1
	@d=$(DESTDIR)$(PREFIX); set -e; \
	install -d $$d/bin $$d/lib/pkgconfig $$d/include/factprobe/model $$d/include/factprobe/probe \
		$$d/share/factprobe/plots $$d/share/man/man1; \
	install -m 755 $(BUILD)/factprobe $$d/bin/factprobe; \
	install -m 644 $(BUILD)/libfactprobe.a $$d/lib/libfactprobe.a; \
	install -m 644 $(filter model/%,$(LIB_HDR)) $$d/include/factprobe/model/; \
	install -m 644 $(filter probe/%,$(LIB_HDR)) $$d/include/factprobe/probe/; \
	install -m 644 plots/*.gp $$d/share/factprobe/plots/; \
	install -m 644 $(BUILD)/factprobe.1 $$d/share/man/man1/factprobe.1; \
	{ echo "prefix=$(PREFIX)"; echo 'libdir=$${prefix}/lib'; echo 'includedir=$${prefix}/include'; echo; \
	  echo "Name: factprobe"; echo "Description: transformer runner (GGUF, hooks) and interpretability analyses"; \
	  echo "Version: $(VERSION)"; echo "Requires: $(PKGS)"; echo 'Cflags: -I$${includedir}'; \
	  echo 'Libs: -L$${libdir} -lfactprobe -lmvec -lm -lpthread'; } >$$d/lib/pkgconfig/factprobe.pc; \
	echo "installed factprobe $(VERSION) into $$d (bin, lib, include/factprobe, share/factprobe/plots, share/man/man1)"

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/include/factprobe $(DESTDIR)$(PREFIX)/share/factprobe
	rm -f $(DESTDIR)$(PREFIX)/bin/factprobe $(DESTDIR)$(PREFIX)/lib/libfactprobe.a \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig/factprobe.pc $(DESTDIR)$(PREFIX)/share/man/man1/factprobe.1

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/tests/gguf_writer.o $(BUILD)/tests/tiny.o $(BUILD)/probe/stats.o \
		$(BUILD)/libfpmodel.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# the query computations, tested on planted models, need probe/'s library part
PROBE_LIB_OBJ := $(BUILD)/probe/analysis.o $(BUILD)/probe/lens.o $(BUILD)/probe/ablate.o \
		 $(BUILD)/probe/directions.o $(BUILD)/probe/h5in.o $(BUILD)/probe/select.o $(BUILD)/probe/trace.o $(BUILD)/probe/factset.o $(BUILD)/probe/project.o \
		 $(BUILD)/probe/recorder.o $(BUILD)/probe/h5out.o $(BUILD)/probe/patch.o $(BUILD)/probe/topex.o $(BUILD)/probe/progress.o $(BUILD)/probe/prompts.o $(BUILD)/probe/h5util.o \
		 $(BUILD)/probe/stats.o $(BUILD)/probe/parse.o $(BUILD)/probe/table.o
PROBE_LIB_TESTS := $(BUILD)/tests/test_analysis $(BUILD)/tests/test_factset $(BUILD)/tests/test_project \
		   $(BUILD)/tests/test_lens $(BUILD)/tests/test_neurons $(BUILD)/tests/test_recorder
# gradient attributions (attrib.c, trace_atp.c)
PROBE_LIB_OBJ += $(BUILD)/probe/attrib.o $(BUILD)/probe/trace_atp.o
PROBE_LIB_TESTS += $(BUILD)/tests/test_attrib $(BUILD)/tests/bench_atp
$(PROBE_LIB_TESTS): $(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/tests/gguf_writer.o $(BUILD)/tests/tiny.o \
		$(PROBE_LIB_OBJ) $(BUILD)/libfpmodel.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_hf $(BUILD)/tests/hf_from_gguf: $(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/tests/hf_writer.o \
		$(BUILD)/tests/gguf_writer.o $(BUILD)/tests/tiny.o $(BUILD)/probe/stats.o $(BUILD)/libfpmodel.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_prompts: $(BUILD)/tests/test_prompts.o $(BUILD)/probe/prompts.o $(BUILD)/libfpmodel.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_progress: $(BUILD)/tests/test_progress.o $(BUILD)/probe/progress.o
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_parse: $(BUILD)/tests/test_parse.o $(BUILD)/tests/gguf_writer.o $(BUILD)/tests/tiny.o \
		$(BUILD)/probe/parse.o $(BUILD)/probe/stats.o $(BUILD)/libfpmodel.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_table: $(BUILD)/tests/test_table.o $(BUILD)/probe/table.o $(BUILD)/libfpmodel.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_select: $(BUILD)/tests/test_select.o $(BUILD)/probe/select.o $(BUILD)/probe/h5in.o \
		$(BUILD)/probe/h5util.o $(BUILD)/probe/stats.o $(BUILD)/libfpmodel.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_superpos: $(BUILD)/tests/test_superpos.o $(BUILD)/probe/superpos.o $(BUILD)/probe/stats.o \
		$(BUILD)/libfpmodel.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_results: $(BUILD)/tests/test_results.o $(BUILD)/probe/results.o $(BUILD)/probe/h5util.o \
		$(BUILD)/libfpmodel.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# the statistics, against values computed with numpy, scipy and scikit-learn
$(BUILD)/tests/test_stats: $(BUILD)/tests/test_stats.o $(BUILD)/probe/stats.o
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)


# The fuzz harnesses (tests/fuzz/fuzz_NAME.c), each linked two ways: with
# tests/fuzz/replay.c, a plain main() that runs it over its committed corpus
# tests/fuzz/NAME/ (make test, any compiler), and with libFuzzer (make fuzz,
# clang).
# every tests/fuzz/fuzz_NAME.c but fuzz_util.c (the shared helpers)
FUZZ_NAMES   := $(filter-out util,$(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_SECONDS ?= 60
VALGRIND_LIMIT ?= 2
FUZZ_LIB_OBJ := $(filter-out $(BUILD)/probe/main.o,$(PROBE_OBJ)) \
                $(BUILD)/tests/fuzz/fuzz_util.o $(BUILD)/tests/gguf_writer.o $(BUILD)/tests/tiny.o \
                $(BUILD)/tests/hf_writer.o $(BUILD)/libfpmodel.a
REPLAY_BINS  := $(FUZZ_NAMES:%=$(BUILD)/fuzz/replay-%)
FUZZ_CFLAGS  := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# writes the GGUF seeds: build/fuzz/make-seeds tests/fuzz/gguf
$(BUILD)/fuzz/make-seeds: $(BUILD)/tests/fuzz/make_seeds.o $(BUILD)/tests/gguf_writer.o $(BUILD)/tests/tiny.o \
		$(BUILD)/libfpmodel.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/fuzz/replay-%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay.o $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/fuzz/fuzz-%: $(BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

# every harness for FUZZ_SECONDS (libFuzzer, ASan + UBSan), from its seeds in
# tests/fuzz/NAME/ and the inputs found by earlier runs (build-fuzz/corpus/);
# a crash leaves its input in build-fuzz/ and fails the target
fuzz:
	@scripts/setup-deps.sh --fuzz
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang CFLAGS="$(FUZZ_CFLAGS)" \
		$(FUZZ_NAMES:%=build-fuzz/fuzz/fuzz-%)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh build-fuzz $(FUZZ_NAMES)

# valgrind memcheck over the C unit tests (0 errors, 0 bytes definitely lost):
# a build without AVX-512 (valgrind lacks it), OpenBLAS's AVX2 kernels; the
# real-model loops of test_oracle and test_arch on their first
# VALGRIND_LIMIT cases (default 2; VALGRIND_LIMIT= runs all, hours); test_hf
# runs build-valgrind/factprobe for its error cases (not under memcheck)
valgrind: deps
	@scripts/setup-deps.sh --valgrind
	@$(MAKE) --no-print-directory model
	@$(MAKE) --no-print-directory BUILD=build-valgrind CFLAGS="-O1 -g -march=x86-64-v3" test-bins build-valgrind/factprobe
	@BUILD=build-valgrind FACTPROBE_TEST_MODEL=$(MODEL_FILE) FACTPROBE_TEST_GEMMA=$(GEMMA_FILE) \
		FACTPROBE_TEST_LIMIT=$(VALGRIND_LIMIT) scripts/valgrind.sh

test-bins: $(TEST_BINS)

# Debian packages (apt-get when root, else a message naming them)
deps:
	@scripts/setup-deps.sh

# the default model and Gemma-3-270M (-m gemma3-270m), into $(MODEL_DIR),
# each checked against a pinned sha256
model: $(MODEL_FILE) $(GEMMA_FILE)
$(MODEL_FILE):
	@scripts/fetch-model.sh smollm2
$(GEMMA_FILE):
	@scripts/fetch-model.sh gemma3-270m

# the whole suite: unit tests on synthetic models, the oracle comparison on
# the default model, and the command-line end-to-end checks
test: deps
	@$(MAKE) --no-print-directory model
	@$(MAKE) --no-print-directory test-build
	@FACTPROBE_TEST_MODEL=$(MODEL_FILE) FACTPROBE_TEST_GEMMA=$(GEMMA_FILE) BUILD=$(BUILD) tests/run.sh

# builds everything, then runs the C tests that need no model (synthetic
# models and fixtures only; a few seconds)
test-fast: test-build
	@BUILD=$(BUILD) tests/run.sh --fast

test-build: $(BUILD)/factprobe $(MPI_BIN) $(TEST_BINS) $(REPLAY_BINS)

# AddressSanitizer + UndefinedBehaviorSanitizer build of everything, then the suite
asan: deps
	@$(MAKE) --no-print-directory model
	@$(MAKE) --no-print-directory BUILD=build-asan \
		CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" test-build
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		FACTPROBE_TEST_MODEL=$(MODEL_FILE) FACTPROBE_TEST_GEMMA=$(GEMMA_FILE) BUILD=build-asan tests/run.sh

# ThreadSanitizer build of factprobe, then record's writer thread under it
# (tests/tsan_record.sh: a few hundred prompts, Ctrl-C and --resume, a
# writer error; 0 reports wanted)
tsan: deps
	@$(MAKE) --no-print-directory model
	@$(MAKE) --no-print-directory BUILD=build-tsan CFLAGS="-O1 -g -fsanitize=thread" \
		build-tsan/factprobe build-tsan/tests/make_tiny
	@FACTPROBE_TEST_MODEL=$(MODEL_FILE) BUILD=build-tsan tests/tsan_record.sh

bench: deps
	@$(MAKE) --no-print-directory model
	@$(MAKE) --no-print-directory $(BENCH_BIN) $(BUILD)/factprobe $(MPI_BIN)
	@BUILD=$(BUILD) FACTPROBE_MODEL=$(MODEL_FILE) scripts/bench.sh

# parts of `make bench` alone: the default model's table (parts 0-1), the
# 8B-shaped model's table (parts 0 and 2; about 4 minutes on an idle 2-core machine
# with ROUNDS_8B=2, longer at the default 3 rounds)
bench-default bench-8b: deps
	@$(MAKE) --no-print-directory model
	@$(MAKE) --no-print-directory $(BENCH_BIN) $(BUILD)/factprobe
	@BUILD=$(BUILD) FACTPROBE_MODEL=$(MODEL_FILE) BENCH_ONLY=$(patsubst bench-%,%,$@) scripts/bench.sh

# q8mm's kernels alone (tests/bench_q8mm.c): GOP/s on the 8B shapes at T =
# 16, 128, 512 on 1 and 2 threads, beside dequantise + sgemm in the same
# run (about 2 minutes; BENCH_Q8MM_T="16 512" for other T)
bench-q8mm: $(BUILD)/tests/bench_q8mm
	@$(BUILD)/tests/bench_q8mm $(BENCH_Q8MM_T)

demo: deps
	@$(MAKE) --no-print-directory model
	@$(MAKE) --no-print-directory $(BUILD)/factprobe
	@FACTPROBE_MODEL=$(GEMMA_FILE) scripts/demo.sh $(BUILD)/factprobe

# the README's figures: copy the last demo's from out/ into docs/figures/ (a
# deliberate step; `make demo` itself writes only into out/)
docs-figures:
	@for f in trace lens dot angles; do test -s out/fig-$$f.png || { echo "out/fig-$$f.png is missing: run 'make demo' first"; exit 1; }; done
	@for f in trace lens dot angles; do cp out/fig-$$f.png docs/figures/$$f.png; done
	@echo "copied out/fig-{trace,lens,dot,angles}.png into docs/figures/"

# the long checks: the suite with its long parts, then the demo end to end
# (fewer samples and steps) into a temporary directory
check-long: test
	@FACTPROBE_TEST_MODEL=$(MODEL_FILE) FACTPROBE_TEST_GEMMA=$(GEMMA_FILE) BUILD=$(BUILD) FACTPROBE_LONG=1 tests/run.sh
	@d=$$(mktemp -d) && DEMO_FAST=1 OUT=$$d FACTPROBE_MODEL=$(MODEL_FILE) scripts/demo.sh $(BUILD)/factprobe >$$d/log 2>&1 \
		&& test -s $$d/report.md && test $$(ls $$d/fig-*.png | wc -l) -eq 10 \
		&& echo "demo (fast): ok, report.md and 10 figures" || { tail -20 $$d/log; echo "demo (fast): FAILED"; exit 1; }

# regenerate the committed oracle fixtures (needs llama-cpp-python; see the script)
oracle: $(BUILD)/tests/make_tiny
	@scripts/make-oracle.sh $(BUILD)

clean:
	rm -rf build build-asan build-tsan build-fuzz build-clang build-valgrind
