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
trap 'rm -f "$OUT" "$OUT.lc" "$OUT.tr"' EXIT
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
echo "== causal tracing (factprobe trace): one full trace, resid + mlp + attn, every layer and token, 10 samples"
Q='Q: What sport does Michael Jordan play?
A: This athlete plays the sport of'
"$BUILD/factprobe" trace -m "$MODEL" "$Q" --subject "Michael Jordan" --samples 10 --json >"$OUT.tr"
/usr/bin/python3 - "$OUT.tr" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
n, L = len(d["tokens"]), len(d["resid"])
print("%d tokens, %d layers, 3 kinds, %d samples: %.1f s per trace" % (n, L, d["samples"], d["seconds"]))
print("forward passes: %d (naive: %d full passes, one per kind, layer, token and sample, plus the %d clean/corrupted runs)"
      % (d["forward_passes"], 3 * L * n * d["samples"], 1 + d["samples"]))
print("token-layer evaluations: %.3g computed vs %.3g naive = %.1fx fewer" % (d["token_layer_evals"], d["token_layer_evals_naive"],
      d["token_layer_evals_naive"] / d["token_layer_evals"]))
print("throughput: %.0f token-layer evaluations/s = %.0f tokens/s of full passes; the naive trace at that rate: %.0f s"
      % (d["token_layer_evals"] / d["seconds"], d["token_layer_evals"] / L / d["seconds"], d["token_layer_evals_naive"] / (d["token_layer_evals"] / d["seconds"])))
PY
