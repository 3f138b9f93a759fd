#!/usr/bin/env bash
# test_weights.sh - every command gives the same output with the weights in
# the file's own types (--weights native, the default) as with f32 weights
# (--weights f32, dequantised at load): byte for byte, on the default model
# (timings removed).  test_oracle compares the logits themselves.
# Env: BUILD, FACTPROBE_TEST_MODEL.
. tests/lib.sh
. tests/commands.sh
lib_init test_weights
M=${FACTPROBE_TEST_MODEL:?set FACTPROBE_TEST_MODEL}
Q='Q: What sport does Michael Jordan play?
A: This athlete plays the sport of'
head -4 datasets/athletes_sport.tsv >"$T/set.tsv"

# same NAME CMD...: the command's stdout in both modes, compared (lines
# matching $SKIP left out: timings, and info's lines about the weights)
SKIP='"seconds"'
same() {
	local name=$1 a b
	shift
	a=$("$FP" "$@" --weights native 2>"$T/err.n" | grep -aEv "$SKIP") || { bad "$name (native): $(tail -1 "$T/err.n")"; return; }
	b=$("$FP" "$@" --weights f32 2>"$T/err.f" | grep -aEv "$SKIP") || { bad "$name (f32): $(tail -1 "$T/err.f")"; return; }
	if [ -n "$a" ] && [ "$a" = "$b" ]; then
		ok "$name: native and f32 weights print the same ($(echo "$a" | wc -l) lines)"
	else
		bad "$name: native and f32 weights differ"
		diff <(echo "$a") <(echo "$b") | head -6
	fi
}

SKIP='^weight' same "info (all but the weights lines)" info -m "$M" --tsv --metadata
check "info says which mode and how much memory" sh -c "\"$FP\" info -m \"$M\" --weights native | grep '^weights *native' &&
	\"$FP\" info -m \"$M\" --weights f32 | grep '^weights *f32'"
every_command same
for w in native f32; do
	"$FP" record -q -m "$M" -p "$T/set.tsv" -o "$T/$w.h5" --dtype f32 --weights "$w" \
		--hooks 'blocks.*.mlp.hook_post,blocks.*.hook_resid_post,logits' 2>"$T/err.$w" || bad "record ($w): $(tail -1 "$T/err.$w")"
done
check "record, f32 dtype: every recorded value the same in both modes" "$PY" - "$T/native.h5" "$T/f32.h5" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
n = 0
for k in a["acts"]:
    x, y = a["acts"][k][()], b["acts"][k][()]
    if x.shape != y.shape or not np.array_equal(x.view(np.uint32), y.view(np.uint32)):
        print("dataset %s differs (max |diff| %g)" % (k, np.abs(x - y).max())); sys.exit(1)
    n += x.size
print("%d datasets, %d values bit-identical" % (len(a["acts"]), n))
PY
lib_finish
