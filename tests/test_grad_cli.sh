#!/usr/bin/env bash
# tests/test_grad_cli.sh - the gradient commands end to end: factprobe grad
# (the recording layout, rows after the metric's position zero, the metric's
# attributes, bad input), neurons --rank atp / ig (the estimate column, the
# measured ablations of --verify, ig's completeness line) and trace --method
# atp (the exact trace's format: plot trace draws it), on the tiny models of
# every architecture and the default model.  The numbers are checked in
# test_grad (finite differences) and test_attrib (the planted model).
# Prints "test_grad_cli: N passed, M failed".  Env: BUILD, FACTPROBE_TEST_MODEL.
set -u
. "$(dirname "$0")/lib.sh"
lib_init test_grad_cli
MODEL=${FACTPROBE_TEST_MODEL:?set FACTPROBE_TEST_MODEL}
Q='Q: What sport does Michael Jordan play?
A: This athlete plays the sport of'

"$BUILD/tests/make_tiny" "$T" >/dev/null
run "$FP" grad --help
[ "$RC" -eq 0 ] && echo "$OUT" | grep -q "usage: factprobe grad" && ok "grad --help" || bad "grad --help: exit $RC"
for M in "$T/tiny-llama.gguf" "$T/tiny-gpt2.gguf" "$T/arch/tiny-"{qwen2,qwen3,gemma2,gemma3,phi3,gptneox}.gguf; do
	a=$(basename "$M" .gguf)
	run "$FP" grad -m "$M" --target ' the' --hooks 'hook_resid_pre,mlp.hook_post,hook_embed,ln_final.hook_normalized' \
		--at 2 -o "$T/$a.h5" "the cat sat on"
	check "$a: grad writes a recording of the gradients; rows after --at 2 are zero" $PY -c '
import h5py, sys, numpy as np
f = h5py.File(sys.argv[1]); a = f["acts"]; L = int(f.attrs["n_layers"])
assert f.attrs["content"] == "gradient" and f.attrs["metric"] == "logprob" and f.attrs["metric_position"] == 2
assert len(a) == 2 * L + 2, len(a)
g = a["blocks.0.hook_resid_pre"][:]
assert g.shape[0] == f["tokens/id"].shape[0] and np.all(g[3:] == 0) and np.abs(g[:3]).sum() > 0
print("%d datasets, rows %d, |grad| at rows 0-2 %.3g" % (len(a), g.shape[0], np.abs(g[:3]).sum()))' "$T/$a.h5"
done
expect_error "grad without -o" "-o OUT.h5 is required" "$FP" grad -m "$T/tiny-llama.gguf" --target ' the' "the cat"
expect_error "grad: a hook the model lacks" "hook_pos_embed" "$FP" grad -m "$T/tiny-llama.gguf" --target ' the' \
	--hooks hook_pos_embed -o "$T/x.h5" "the cat"
expect_error "grad: an unknown metric" "--metric takes" "$FP" grad -m "$T/tiny-llama.gguf" --target ' the' \
	--metric foo -o "$T/x.h5" "the cat"
expect_error "grad: logit-diff without --vs" "go together" "$FP" grad -m "$T/tiny-llama.gguf" --target ' the' \
	--metric logit-diff -o "$T/x.h5" "the cat"
expect_error "grad: --at past the prompt" "outside the prompt" "$FP" grad -m "$T/tiny-llama.gguf" --target ' the' \
	--at 40 -o "$T/x.h5" "the cat"

# neurons --rank atp and ig on the default model
run "$FP" neurons -m "$MODEL" --target ' basketball' --rank atp --verify 5 -k 5 --tsv "$Q"
check "neurons --rank atp --verify 5: the atp column, the top 5 measured, same sign as atp" $PY -c '
import sys, csv
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
assert len(rows) == 5 and "atp" in rows[0], rows[:1]
pairs = [(float(r["atp"]), float(r["ablate"])) for r in rows]
assert all(a * b > 0 for a, b in pairs), pairs
print(" ".join("%.3f/%.3f" % p for p in pairs), "(atp/measured)")' "$T/out"
run "$FP" neurons -m "$MODEL" --target ' basketball' --rank ig --steps 4 -k 3 "$Q"
[ "$RC" -eq 0 ] && echo "$OUT" | grep -q "ig: the 46080 attributions add up to" && ok "neurons --rank ig: the completeness line" ||
	bad "neurons --rank ig: exit $RC, $(head -c 300 "$T/err")"
expect_error "neurons --corrupt of another length" "must align token for token" "$FP" neurons -m "$MODEL" \
	--target ' basketball' --rank atp --corrupt "Q: What sport?" "$Q"
expect_error "neurons --verify without atp/ig" "go with --rank atp or ig" "$FP" neurons -m "$MODEL" \
	--target ' basketball' --verify 3 "$Q"

# trace --method atp: the exact trace's format
run "$FP" trace -m "$MODEL" --subject 'Michael Jordan' --method atp --samples 2 -q -o "$T/atp.h5" --json "$Q"
check "trace --method atp: the grid of every kind, layer and token, method atp" $PY -c '
import json, sys
d = json.load(open(sys.argv[1])); assert d["method"] == "atp"
n = len(d["tokens"]); print("%d layers x %d tokens, p clean %.3f corrupted %.3f" % (len(d["resid"]), n, d["high"], d["low"]))
assert all(len(d[k]) == 30 and len(d[k][0]) == n for k in ("resid", "mlp", "attn"))' "$T/out"
run "$FP" plot trace "$T/atp.h5" -o "$T/atp.png"
[ "$RC" -eq 0 ] && [ -s "$T/atp.png" ] && ok "plot trace draws the atp trace" || bad "plot trace: exit $RC, $(cat "$T/err")"
printf 'prompt\tsubject\ttarget\nMichael Jordan plays\tMichael Jordan\t basketball\n' >"$T/set.tsv"
expect_error "trace -p --method atp" "one PROMPT" "$FP" trace -m "$MODEL" -p "$T/set.tsv" --method atp
lib_finish
