#!/bin/sh
# make bench: factprobe's forward pass and, where the oracle environment with
# llama-cpp-python exists (scripts/make-oracle.sh builds it), llama.cpp's
# prompt processing on the same file, one after the other in one run, then
# the ratios.  Env: BUILD, FACTPROBE_MODEL.
set -eu
BUILD=${BUILD:-build}
MODEL=${FACTPROBE_MODEL}
REPS=${REPS:-7}
LC="${XDG_CACHE_HOME:-$HOME/.cache}/factprobe/oracle-venv/bin/python"
OUT=$(mktemp)
trap 'rm -f "$OUT" "$OUT.lc"' EXIT
echo "== factprobe (f32 weights, OpenBLAS sgemm)"
"$BUILD/tests/bench_forward" "$MODEL" "$REPS" | tee "$OUT" | grep -v '^RESULT'
if [ -x "$LC" ] && "$LC" -c "import llama_cpp" 2>/dev/null; then
	echo "== llama.cpp on the same file ($(basename "$MODEL"), quantised kernels)"
	"$LC" scripts/bench_llamacpp.py "$MODEL" "$(nproc)" "$REPS" | tee "$OUT.lc" | grep -v '^RESULT'
	echo "== prompt processing, factprobe / llama.cpp (same run)"
	for n in 16 128 512; do
		a=$(grep "^RESULT pp$n " "$OUT" | cut -d' ' -f3)
		b=$(grep "^RESULT pp$n " "$OUT.lc" | cut -d' ' -f3)
		echo "$n tokens: $a / $b tokens/s = $(echo "$a $b" | awk '{printf "%.2f", $1 / $2}')x"
	done
else
	echo "== llama.cpp comparison skipped: no llama-cpp-python in $LC (scripts/make-oracle.sh builds it)"
fi
echo "== recording to HDF5 (factprobe record)"
BUILD="$BUILD" FACTPROBE_MODEL="$MODEL" scripts/bench_record.sh
