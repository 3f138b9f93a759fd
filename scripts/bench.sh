#!/bin/sh
# make bench: factprobe's forward pass against llama.cpp (llama-cpp-python,
# scripts/make-oracle.sh builds it) on the same file in the same run.
#   0. OpenBLAS's sgemm rate with the kernels it uses here and with the
#      others this CPU could take (OPENBLAS_CORETYPE), alternating.
#   1. The default model: factprobe with native weights, with f32 weights,
#      with --matmul q8 (8-bit activations, as llama.cpp multiplies), and
#      llama.cpp, one after the other, ROUNDS times (the machine may be
#      shared: each round is side by side, the summary shows the best of each
#      and the median and range of the rounds' ratios); and how close the
#      last position's logits at 16 tokens are to llama.cpp's, exact and q8.
#   2. A synthetic model with Llama-3-8B's shapes and a Q4_K_M mix
#      (tests/make_llama8b.c; written into the cache on first use, 4.9 GB):
#      load time, peak RSS, prompt tokens/s at 16/128/512 tokens, native
#      weights only (f32 would need 32 GB), exact and --matmul q8, beside
#      llama.cpp (and the logits' agreement at 16 tokens), ROUNDS_8B
#      rounds alternating which runs first; when OPENBLAS_CORETYPE is set,
#      factprobe also runs without it (informative: the tables' figures are
#      with the environment as given); then `record` of every MLP hook, with
#      its peak RSS.  BENCH_8B=0 skips it.
#   3. Recording to HDF5 and causal tracing on the default model.
# BENCH_ONLY=default runs parts 0 and 1 (make bench-default), BENCH_ONLY=8b
# parts 0 and 2 (make bench-8b).
# When llama.cpp is missing or crashes (its AMX kernels segfault on some
# virtual machines: /work/shared/reference/oracles.md), this says so and
# prints no ratios.  Env: BUILD, FACTPROBE_MODEL, REPS (7), ROUNDS (3),
# ROUNDS_8B (3), BENCH_LLAMA_PYTHON (the Python with llama_cpp; default the
# oracle venv), BENCH_8B (1), BENCH_ONLY (all).
set -eu
BUILD=${BUILD:-build}
MODEL=${FACTPROBE_MODEL}
REPS=${REPS:-7}
ROUNDS=${ROUNDS:-3}
ROUNDS_8B=${ROUNDS_8B:-3}
ONLY=${BENCH_ONLY:-all}
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/factprobe"
LC=${BENCH_LLAMA_PYTHON:-$CACHE/oracle-venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
NPROC=$(nproc)

have_lc=0
if [ -x "$LC" ] && "$LC" -c "import llama_cpp" 2>/dev/null; then
	have_lc=1
fi

# run_lc MODEL REPS SIZES OUT [LOGITS]: llama.cpp's bench into OUT (and
# the last position's logits at the first size into LOGITS); OUT.status
# gets "ok", "missing" or "crashed (...)"
run_lc() {
	if [ "$have_lc" = 0 ]; then
		echo "missing: no llama-cpp-python in $LC (scripts/make-oracle.sh builds it)" >"$4.status"
		: >"$4"
		return 0
	fi
	rc=0
	BENCH_LOGITS=${5:-} "$LC" scripts/bench_llamacpp.py "$1" "$NPROC" "$2" "$3" >"$4" 2>"$4.err" || rc=$?
	if [ "$rc" -ne 0 ]; then
		if [ "$rc" -gt 128 ]; then
			why="killed by signal $((rc - 128))$([ "$rc" = 139 ] && echo ', a segfault')"
		else
			why="exit $rc: $(tail -1 "$4.err")"
		fi
		echo "crashed ($why)" >"$4.status"
	elif ! grep -q '^RESULT pp' "$4"; then
		echo "crashed (no results; $(tail -1 "$4.err"))" >"$4.status"
	else
		echo ok >"$4.status"
	fi
}

show() { grep -v '^RESULT' "$1" | sed 's/^/   /'; }

echo "== 0. OpenBLAS's sgemm by kernel choice (this environment: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; factprobe runs with it), 2 alternating rounds"
for r in 1 2; do
	for ct in unset Haswell SkylakeX; do
		if [ "$ct" = unset ]; then
			env -u OPENBLAS_CORETYPE "$BUILD/tests/bench_forward" --sgemm 3
		else
			OPENBLAS_CORETYPE=$ct "$BUILD/tests/bench_forward" --sgemm 3
		fi | grep -v '^RESULT' | sed "s/^/   OPENBLAS_CORETYPE=$ct: /"
	done
done

if [ "$ONLY" != 8b ]; then
echo "== 1. default model $(basename "$MODEL"): $ROUNDS rounds of factprobe native, factprobe f32, factprobe --matmul q8, llama.cpp ($REPS repeats each, median; load $(cut -d' ' -f1-3 /proc/loadavg))"
for r in $(seq "$ROUNDS"); do
	echo "-- round $r (load $(cut -d' ' -f1-3 /proc/loadavg))"
	# round 1 also keeps the last position's logits at 16 tokens of each
	lg() { [ "$r" = 1 ] && echo "$T/$1.lg" || echo ""; }
	echo "   factprobe, native weights (the file's types, dequantised before each sgemm)"
	BENCH_LOGITS=$(lg n) "$BUILD/tests/bench_forward" "$MODEL" "$REPS" native >"$T/n.$r"
	show "$T/n.$r"
	echo "   factprobe, f32 weights (dequantised at load)"
	"$BUILD/tests/bench_forward" "$MODEL" "$REPS" f32 >"$T/f.$r"
	show "$T/f.$r"
	echo "   factprobe, --matmul q8 (native weights, 8-bit activations)"
	BENCH_LOGITS=$(lg q) "$BUILD/tests/bench_forward" "$MODEL" "$REPS" q8 >"$T/q.$r"
	show "$T/q.$r"
	run_lc "$MODEL" "$REPS" 16,128,512 "$T/l.$r" "$(lg l)"
	echo "   llama.cpp: $(cat "$T/l.$r.status")"
	show "$T/l.$r"
done
/usr/bin/python3 scripts/bench_summary.py default "$T" "$ROUNDS"
fi
[ "$ONLY" = default ] && exit 0

if [ "${BENCH_8B:-1}" != 0 ]; then
	BIG="$CACHE/llama3-8b-shape.Q4_K_M.gguf"
	if [ ! -s "$BIG" ]; then
		echo "== writing the synthetic Llama-3-8B-shaped model (random Q4_K_M weights) to $BIG"
		a=$(date +%s)
		"$BUILD/tests/make_llama8b" "$BIG.part" && mv "$BIG.part" "$BIG"
		echo "   written in $(($(date +%s) - a)) s"
	fi
	SIZE=$(stat -c %s "$BIG")
	echo "== 2. Llama-3-8B shapes, $(basename "$BIG") ($(echo "$SIZE" | awk '{printf "%.2f GB", $1 / 1e9}')): $ROUNDS_8B rounds of factprobe (exact and --matmul q8) and llama.cpp, side by side (one pass per size after one warm-up; odd rounds factprobe first, even rounds llama.cpp first)"
	for r in $(seq "$ROUNDS_8B"); do
		echo "-- round $r (load $(cut -d' ' -f1-3 /proc/loadavg))"
		lg() { [ "$r" = 1 ] && echo "$T/$1.lg" || echo ""; }
		for who in fp lc; do
			if [ $((r % 2)) = 0 ]; then who=$([ "$who" = fp ] && echo lc || echo fp); fi
			if [ "$who" = fp ]; then
				echo "   factprobe, native weights (load $(cut -d' ' -f1-3 /proc/loadavg))"
				BENCH_LOGITS=$(lg bn) "$BUILD/tests/bench_forward" "$BIG" 1 native 16,128,512 >"$T/bn.$r"
				show "$T/bn.$r"
				echo "   factprobe, native weights, --matmul q8 (load $(cut -d' ' -f1-3 /proc/loadavg))"
				BENCH_LOGITS=$(lg bq) "$BUILD/tests/bench_forward" "$BIG" 1 q8 16,128,512 >"$T/bq.$r"
				show "$T/bq.$r"
				if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
					echo "   factprobe, native weights, without this environment's OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE (OpenBLAS's own kernel choice)"
					env -u OPENBLAS_CORETYPE "$BUILD/tests/bench_forward" "$BIG" 1 native 16,128,512 >"$T/bu.$r"
					show "$T/bu.$r"
				fi
			else
				run_lc "$BIG" 1 16,128,512 "$T/bl.$r" "$(lg bl)"
				echo "   llama.cpp: $(cat "$T/bl.$r.status") (load $(cut -d' ' -f1-3 /proc/loadavg))"
				show "$T/bl.$r"
			fi
		done
	done
	HOOKS='blocks.*.mlp.hook_pre,blocks.*.mlp.hook_pre_linear,blocks.*.mlp.hook_post,blocks.*.hook_mlp_out'
	head -9 datasets/athletes_sport.tsv >"$T/p.tsv"
	echo "   factprobe record of every MLP hook (4 per layer, 128 hooks) for 8 prompts, f16"
	/usr/bin/time -f "%e %M" -o "$T/rt" "$BUILD/factprobe" record -q -m "$BIG" -p "$T/p.tsv" -o "$T/big.h5" \
		--hooks "$HOOKS" >"$T/rec.out" 2>&1 || { echo "   record FAILED:"; tail -5 "$T/rec.out"; }
	/usr/bin/python3 scripts/bench_summary.py big "$T" "$SIZE" "$ROUNDS_8B"
fi
[ "$ONLY" = 8b ] && exit 0

echo "== 3. recording to HDF5 (factprobe record), default model"
BUILD="$BUILD" FACTPROBE_MODEL="$MODEL" scripts/bench_record.sh
echo "== ranks against threads (mpirun factprobe-mpi record)"
BUILD="$BUILD" FACTPROBE_MODEL="$MODEL" scripts/bench_mpi.sh
echo "== causal tracing (factprobe trace): one full trace, resid + mlp + attn, every layer and token, 10 samples"
Q='Q: What sport does Michael Jordan play?
A: This athlete plays the sport of'
"$BUILD/factprobe" trace -m "$MODEL" "$Q" --subject "Michael Jordan" --samples 10 --json >"$T/tr"
/usr/bin/python3 - "$T/tr" <<'PY'
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
echo "== attribution patching, against the exact versions in the same run"
"$BUILD/factprobe" trace -m "$MODEL" "$Q" --subject "Michael Jordan" --samples 10 --method atp --json >"$T/ta"
/usr/bin/python3 scripts/compare_trace.py "$T/tr" "$T/ta"
"$BUILD/tests/bench_atp" "$MODEL" 5 500 | grep -v '^RESULT'
