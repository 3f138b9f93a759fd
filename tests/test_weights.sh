#!/usr/bin/env bash
# test_weights.sh - every command gives the same output with the weights in
# the file's own types (--weights native, the default) as with f32 weights
# (--weights f32, dequantised at load): byte for byte, on the default model
# (timings removed).  test_oracle compares the logits themselves.
# Env: BUILD, FACTPROBE_TEST_MODEL.
. tests/lib.sh
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
same "predict" predict -m "$M" "$Q" -k 10 --json
same "lens" lens -m "$M" "Michael Jordan plays the sport of" --target " basketball" --at all -k 3 --tsv
same "dot" dot -m "$M" "$Q" --direction 'tok: basketball' --at all --tsv
same "dot neuron direction" dot -m "$M" "$Q" --direction neuron:20.100 --tsv
same "neurons --rank act" neurons -m "$M" --target " basketball" --rank act -k 5 --tsv "$Q"
same "neurons --rank dla" neurons -m "$M" --target " basketball" --vs " football" --rank dla -k 5 --tsv "$Q"
same "neurons --rank weights" neurons -m "$M" --target " basketball" --rank weights -k 5 --tsv "$Q"
same "neurons --rank ablate" neurons -m "$M" --target " basketball" --rank ablate --candidates 8 -k 3 --tsv "$Q"
same "patch" patch -m "$M" --target " basketball" --clean "$Q" --corrupt "Q: What sport does Tom Brady play?
A: This athlete plays the sport of" --hook 'blocks.*.hook_resid_pre' --pos last --tsv
same "patch --ablate" patch -m "$M" --target " basketball" --ablate 20.100,21.7 "$Q" --tsv
same "trace" trace -m "$M" "Jordan plays the sport of" --subject "Jordan" --target " basketball" \
	--samples 1 --kind mlp --window 3 --tsv
same "top-examples" top-examples -m "$M" --neuron 20.100 -p "$T/set.tsv" -k 3 --tsv
same "superposition --model-rows" superposition -m "$M" --n 50 --dim 20 --steps 5 --model-rows --sample 300 --tsv
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
