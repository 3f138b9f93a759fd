#!/usr/bin/env bash
# scripts/valgrind.sh - valgrind memcheck over the C unit tests (every
# tests/test_*.c) in $BUILD/tests (the same arguments as tests/run.sh gives them).  Each must
# pass its own checks and show 0 memcheck errors and 0 bytes definitely
# lost; prints one line per test and a closing "N clean, M not".
# Usage: scripts/valgrind.sh [TEST...].  Env: BUILD, FACTPROBE_TEST_MODEL,
# FACTPROBE_TEST_GEMMA (test_arch's model, as tests/run.sh gives it).
# FACTPROBE_TEST_LIMIT=N: test_oracle and test_arch run only the first N of
# each list of real-model prompts (and token counts): under memcheck one
# forward pass of a real model takes about a minute, the whole lists hours.
set -u
BUILD=${BUILD:-build-valgrind}
MODEL=${FACTPROBE_TEST_MODEL:-}
GEMMA=${FACTPROBE_TEST_GEMMA:-}
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell} OPENBLAS_NUM_THREADS=1
clean=0
dirty=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# the tests named as arguments, else every C test program
tests=${*:-$(for src in tests/test_*.c; do basename "$src" .c; done)}
for t in $tests; do
	arg=$MODEL
	[ "$t" = test_arch ] && arg=$GEMMA
	t0=$(date +%s)
	out=$(FACTPROBE_TEST_MODEL="$MODEL" valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \
		--errors-for-leak-kinds=definite --error-exitcode=99 --log-file="$log" \
		"$BUILD/tests/$t" tests/fixtures "$arg" 2>&1)
	rc=$?
	t1=$(date +%s)
	errs=$(grep -o 'ERROR SUMMARY: [0-9]*' "$log" | awk '{print $3}')
	lost=$(grep -o 'definitely lost: [0-9,]* bytes' "$log" | awk '{gsub(",", "", $3); print $3}')
	checks=$(echo "$out" | grep -E "^$t: [0-9]+ passed, [0-9]+ failed\$")
	if [ "$rc" -eq 0 ] && [ "${errs:-x}" = 0 ] && [ "${lost:-0}" = 0 ] && echo "$checks" | grep -q ', 0 failed$'; then
		clean=$((clean + 1))
		echo "ok   $t: 0 errors, ${lost:-0} bytes definitely lost ($checks; $((t1 - t0)) s)"
	else
		dirty=$((dirty + 1))
		echo "FAIL $t: exit $rc, ${errs:-?} errors, ${lost:-0} bytes definitely lost (${checks:-did not finish})"
		grep -E '^==[0-9]+== (Invalid|Conditional|Use of|Syscall|Mismatched|[0-9,]+ bytes in)' "$log" | head -10
	fi
done
echo "valgrind: $clean clean, $dirty not"
[ "$dirty" -eq 0 ]
