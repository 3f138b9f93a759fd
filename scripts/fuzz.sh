#!/usr/bin/env bash
# scripts/fuzz.sh BUILD NAME... - runs each libFuzzer harness BUILD/fuzz/fuzz-NAME
# for $FUZZ_SECONDS (default 60) from its committed seeds (tests/fuzz/NAME/)
# and the inputs earlier runs found (BUILD/corpus/NAME/, not committed), one
# after another.  Limits: 1 s of CPU time per input (measured by the
# harnesses, tests/fuzz/fuzz.h: on a loaded machine libFuzzer's wall-clock
# -timeout fires on inputs that ran in 0 ms, so it is only a 30 s hang
# guard), 2 GB of memory, 512 MB per malloc, and each input's peak
# allocation (tests/fuzz/fuzz.h: 4 x the input + what it validly declares
# + 4 MB).  A finding stops the run, leaves its input in
# BUILD/crash-NAME-* and exits 1; copy that input into tests/fuzz/NAME/ once
# the bug is fixed.  Prints executions, edges covered and time per harness.
# Extra libFuzzer flags may come in $FUZZ_FLAGS (e.g. -fork=2).
set -u
B=$1
shift
S=${FUZZ_SECONDS:-60}
# one BLAS thread: the harness's thread does all the work it is timed on
export OPENBLAS_NUM_THREADS=1
rc=0
for n in "$@"; do
	mkdir -p "$B/corpus/$n"
	echo "== fuzz-$n for $S s"
	log="$B/fuzz-$n.log"
	t0=$(date +%s)
	# shellcheck disable=SC2086
	"$B/fuzz/fuzz-$n" -max_total_time="$S" -timeout=30 -rss_limit_mb=2048 -malloc_limit_mb=512 \
		-print_final_stats=1 -artifact_prefix="$B/crash-$n-" ${FUZZ_FLAGS:-} "$B/corpus/$n" "tests/fuzz/$n" >"$log" 2>&1
	r=$?
	t1=$(date +%s)
	execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{s += $2} END {print s + 0}')
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
	echo "   fuzz-$n: $execs executions, ${cov:-?} edges, $((t1 - t0)) s, exit $r"
	if [ "$r" -ne 0 ]; then
		grep -E 'ERROR|SUMMARY|fuzz: |Test unit written|artifact' "$log" | head -8
		echo "   fuzz-$n: FAILED (the log: $log)"
		rc=1
	fi
done
exit $rc
