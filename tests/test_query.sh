#!/usr/bin/env bash
# tests/test_query.sh - the query commands (dot, lens, neurons, top-examples)
# and causal tracing and patching (trace, patch) end to end.  On tiny-llama-plant, whose neuron 1.5 reads 'J' and writes 'Q'
# by construction, every ranking must put that neuron first; bad input gets
# one clear error.  On the default model (FACTPROBE_TEST_MODEL), the results
# issue 4 asks to be shown: the basketball direction grows through the
# layers, the lens ends on " basketball", ablating the top DLA neurons hurts
# more than random neurons, and basketball-selective neurons beat chance on
# held-out athletes.  Prints "test_query: N passed, M failed".  Env: BUILD.
set -u
. "$(dirname "$0")/lib.sh"
lib_init test_query
MODEL=${FACTPROBE_TEST_MODEL:-}

"$BUILD/tests/make_tiny" "$T" >/dev/null
M="$T/tiny-llama-plant.gguf"

# --- the planted neuron ranks first, every way ------------------------------
for r in act dla weights ablate; do
	run "$FP" neurons -m "$M" --target Q --rank $r --candidates 0 -k 3 --tsv "abJ"
	top=$(sed -n 2p "$T/out" | cut -f2,3)
	[ "$RC" -eq 0 ] && [ "$top" = "$(printf '1\t5')" ] && ok "neurons --rank $r on the planted model: 1.5 first ($(sed -n 2p "$T/out" | cut -f4-9 | tr '\t' ' '))" \
		|| bad "neurons --rank $r: exit $RC, $(cat "$T/out" "$T/err")"
done
run "$FP" neurons -m "$M" --target Q -k 1 --compare-random 20 --json "abJ"
check "neurons --compare-random: the planted neuron vs 20 random draws" $PY -c '
import json,sys; d=json.load(open(sys.argv[1]))["compare_random"]
print("top drop %.3f, random mean %.4f max %.4f" % (d["top_effect"], d["random_mean"], max(d["random_effects"])))
sys.exit(0 if d["top_effect"] > 10 * max(abs(x) for x in d["random_effects"]) + 1 else 1)' "$T/out"
run "$FP" dot -m "$M" "abJ" --at last --direction neuron:1.5 --json
check "dot with neuron:1.5: the residual turns to the planted write direction at layer 1" $PY -c '
import json,sys; r=json.load(open(sys.argv[1]))["rows"]; c=[x["cos"] for x in r]
print("cos by layer " + " ".join("%.3f" % x for x in c)); sys.exit(0 if c[1] > 0.9 and c[0] < 0.5 else 1)' "$T/out"
run "$FP" lens -m "$M" "abJ" --target Q --json
check "lens: 'Q' is rank 1 only after the planted layer" $PY -c '
import json,sys; r=json.load(open(sys.argv[1]))["rows"]; k={x["layer"]: x["target_rank"] for x in r}
print("rank of Q: " + ", ".join("%s %d" % (a, b) for a, b in k.items())); sys.exit(0 if k["1"] == 1 and k["emb"] > 1 else 1)' "$T/out"
printf 'the cat sat\nabJ and more\nno such letter here\nxJy\nthe end\n' >"$T/corpus.txt"
run "$FP" top-examples -m "$M" --neuron 1.5 -p "$T/corpus.txt" -k 2 --tsv
[ "$RC" -eq 0 ] && [ "$(cut -f5 "$T/out" | tail -n +2 | sort -u)" = "J" ] && grep -q '\[\[J\]\]' "$T/out" \
	&& ok "top-examples: the planted neuron's top 2 are the two 'J' tokens, marked [[J]]" || bad "top-examples: $(cat "$T/out" "$T/err")"

# --- HDF5 outputs and recordings ------------------------------------------
run "$FP" dot -m "$M" "abJ" --direction tok:Q -o "$T/dot.h5"
check "dot -o: h5py reads dot, cos [layers, positions] and the attributes" $PY -c '
import h5py,sys; f=h5py.File(sys.argv[1]); s=f["cos"].shape
assert s == (2, 3) and f["dot"].shape == s and f.attrs["format"] == "factprobe-dot" and f.attrs["normalized"] == 0, s
print("cos %s, direction %s" % (s, f.attrs["direction"]))' "$T/dot.h5"
run "$FP" lens -m "$M" "abJ" -o "$T/dot.h5"
expect_error "lens -o onto an existing file without --force" "exists; pass --force" "$FP" lens -m "$M" "abJ" -o "$T/dot.h5"
printf 'id\tprompt\tsubject\ttarget\trelation\n' >"$T/set.tsv"
for i in 1 2 3 4 5 6 7 8 9 10; do
	printf 'j%d\tab%dJ cd\tJ\tQ\tplant\n' $i $i >>"$T/set.tsv"
	printf 'o%d\tab%dx cd\tx\tother\tplant\n' $i $i >>"$T/set.tsv"
done
"$FP" record -m "$M" -p "$T/set.tsv" -o "$T/rec.h5" --hooks 'blocks.*.mlp.hook_post,blocks.*.hook_resid_post' \
	--positions subject-last --dtype f32 2>/dev/null
run "$FP" neurons -m "$M" --from "$T/rec.h5" --group-by target --group Q -k 10 --json
check "neurons --from --group-by: 1.5 is among the 10 neurons that separate the 'J' prompts, held-out AUROC 1" $PY -c '
import json,sys; g=json.load(open(sys.argv[1]))["groups"][0]; top={(n["layer"], n["neuron"]): n for n in g["neurons"]}
n=top.get((1, 5))
print("1.5: d=%.1f, held-out AUROC %.3f; top 10 together %.3f (%d in, %d out held out)" % (n["stat"], n["test_auroc"], g["combined_test_auroc"], g["test_in"], g["test_out"]) if n else "1.5 not in the top 10")
sys.exit(0 if n and n["test_auroc"] == 1 and g["combined_test_auroc"] == 1 else 1)' "$T/out"
"$FP" dot -m "$M" --from "$T/rec.h5" --direction tok:Q --tsv >"$T/a" 2>&1
"$FP" dot -m "$M" -p "$T/set.tsv" --at subject-last --direction tok:Q --tsv >"$T/b" 2>&1
check "dot --from a recording = dot -p over the same prompts, live" $PY -c '
import sys
a=[l.split("\t") for l in open(sys.argv[1]).read().split("\n")[1:] if l]
b=[l.split("\t") for l in open(sys.argv[2]).read().split("\n")[1:] if l]
assert len(a) == len(b) == 2, (a, b)
d=max(abs(float(x[k])-float(y[k]))/max(1,abs(float(y[k]))) for x,y in zip(a,b) for k in (2,4))
print("max relative diff %.2g (tolerance 1e-5; packed vs single passes)" % d); sys.exit(0 if d < 1e-5 else 1)' "$T/a" "$T/b"

printf 'abJ\nxJy\nthe cat sat\n' >"$T/three.txt"
"$FP" record -m "$M" -p "$T/three.txt" -o "$T/all.h5" --dtype f32 --positions all \
	--hooks 'blocks.*.hook_resid_post,blocks.*.mlp.hook_post' 2>/dev/null
run "$FP" lens -m "$M" --from "$T/all.h5" --prompt 1 --at all -k 3 --tsv
"$FP" lens -m "$M" xJy --at all -k 3 --tsv >"$T/live.tsv" 2>&1
check "lens --from a recording = lens run live (every position, top 3 and target)" $PY -c '
import sys
a=[l.split("\t") for l in open(sys.argv[1], encoding="latin-1").read().split("\n")[1:] if l]
b=[l.split("\t") for l in open(sys.argv[2], encoding="latin-1").read().split("\n")[1:] if l]
assert len(a) == len(b) > 0 and all(x[:6] == y[:6] for x, y in zip(a, b)), (len(a), len(b))
d=max(abs(float(x[6]) - float(y[6])) for x, y in zip(a, b)); print("%d rows, same tokens and ranks, max |p diff| %.2g (tolerance 1e-5)" % (len(a), d))
sys.exit(0 if d < 1e-5 else 1)' "$T/out" "$T/live.tsv"
run "$FP" top-examples -m "$M" --neuron 1.5 --from "$T/all.h5" -k 3 --tsv
"$FP" top-examples -m "$M" --neuron 1.5 -p "$T/three.txt" -k 3 --tsv >"$T/live.tsv" 2>&1
check "top-examples --from a recording = top-examples run live" $PY -c '
import sys
a=[l.split("\t") for l in open(sys.argv[1]).read().split("\n")[1:] if l]; b=[l.split("\t") for l in open(sys.argv[2]).read().split("\n")[1:] if l]
assert len(a) == len(b) == 3 and all(x[3:] == y[3:] for x, y in zip(a, b)), (a, b)
d=max(abs(float(x[1]) - float(y[1])) for x, y in zip(a, b)); print("top 3 the same tokens and contexts, max |act diff| %.2g (tolerance 1e-4)" % d)
sys.exit(0 if d < 1e-4 else 1)' "$T/out" "$T/live.tsv"
"$FP" record -m "$M" -p "$T/three.txt" -o "$T/mlponly.h5" --positions all --hooks 'blocks.*.mlp.hook_post' 2>/dev/null
expect_error "lens --from a recording without resid_post" "does not hold blocks.0.hook_resid_post; record it with" \
	"$FP" lens -m "$M" --from "$T/mlponly.h5"
expect_error "lens --from a prompt the recording lacks" "has prompts 0..2, not 7" "$FP" lens -m "$M" --from "$T/all.h5" --prompt 7
# --- every result file carries its format, version and provenance (results.h) ---
"$FP" dot -m "$M" "abJ" --direction tok:Q -o "$T/prov-dot.h5" >/dev/null 2>&1
"$FP" lens -m "$M" "abJ" --target Q -o "$T/prov-lens.h5" >/dev/null 2>&1
"$FP" neurons -m "$M" --target Q -k 2 "abJ" -o "$T/prov-neurons.h5" >/dev/null 2>&1
"$FP" trace -m "$M" "abJ" --subject J --target Q --window 1 --kind mlp -o "$T/prov-trace.h5" >/dev/null 2>&1
"$FP" superposition --n 20 --dim 4 --steps 2 -q -o "$T/prov-sup.h5" >/dev/null 2>&1
check "dot, lens, neurons, trace, superposition -o: format, format_version, factprobe_version, command_line, model_file and its sha256 (sha256sum's)" \
	$PY -c '
import h5py, sys
sha, T = sys.argv[1], sys.argv[2]
want = {"dot": "factprobe-dot", "lens": "factprobe-lens", "neurons": "factprobe-neurons", "trace": "factprobe-trace",
        "sup": "factprobe-superposition"}
for k, fmt in want.items():
    a = h5py.File("%s/prov-%s.h5" % (T, k)).attrs
    assert a["format"] == fmt and a["format_version"] == 1 and a["factprobe_version"] and a["created"], (k, dict(a))
    assert a["command_line"].startswith("factprobe %s " % ("superposition" if k == "sup" else k)), a["command_line"]
    assert (a["model_file"], a["model_sha256"]) == (("", "") if k == "sup" else ("tiny-llama-plant.gguf", sha)), dict(a)
print("5 formats, model sha256 %s..." % sha[:12])' "$(sha256sum "$M" | cut -d' ' -f1)" "$T"
# --- causal tracing and patching (issue 5) -----------------------------------
run "$FP" trace -m "$M" "abJ" --subject J --target Q --noise 20 --kind mlp --window 1 -o "$T/trace.h5"
check "trace -o on the planted model: h5py reads the grid; the MLP effect at 'J' sits in layer 1" $PY -c '
import h5py,sys; f=h5py.File(sys.argv[1]); s=f["score/mlp"][()]; ie=f["indirect_effect/mlp"][()]; a=f.attrs
assert s.shape == (2, 3) and a["subject_start"] == 2 and a["subject_end"] == 3 and a["answer"] == "Q", (s.shape, dict(a))
print("high %.3f low %.3f; indirect effect at J: layer 0 %.3f, layer 1 %.3f" % (a["high"], a["low"], ie[0, 2], ie[1, 2]))
sys.exit(0 if ie[1, 2] > 0.3 and ie[1, 2] > 3 * abs(ie[0, 2]) else 1)' "$T/trace.h5"
run "$FP" trace -m "$M" "abJ" --subject J --samples 2 --tsv
[ "$RC" -eq 0 ] && [ "$(wc -l <"$T/out")" -eq $((3 * 2 * 3 + 1)) ] && [ "$(awk -F'\t' 'NF != 6' "$T/out" | wc -l)" -eq 0 ] \
	&& ok "trace --tsv: 3 kinds x 2 layers x 3 tokens, 6 columns" || bad "trace --tsv: $(head -3 "$T/out") $(cat "$T/err")"
printf 'id\tprompt\tsubject\ttarget\trelation\n' >"$T/facts.tsv"
for i in 1 2 3 4 5 6; do printf 'k%d\tx%dyJ\tJ\tQ\tplant\n' $i $i >>"$T/facts.tsv"; printf 'u%d\tx%dyW\tW\tQ\tplant\n' $i $i >>"$T/facts.tsv"; done
for corr in noise replace; do
	run "$FP" trace -m "$M" -p "$T/facts.tsv" --corrupt $corr --noise 20 --window 1 --kind mlp --samples 3 --json
	check "trace -p (--corrupt $corr) on the planted set: unknown facts excluded, MLP effect at the last subject token in layer 1" $PY -c '
import json,sys; d=json.load(open(sys.argv[1])); m=d["mlp"]["mean_ie"][2]
print("%d prompts, %d known, %d traced (%s); last subject token: layer 0 %.3f, layer 1 %.3f; n per category %s" % (d["prompts"], d["known"], d["traced"], d["corruption"], m[0], m[1], d["n"]))
sys.exit(0 if d["known"] == 6 and d["traced"] == 6 and m[1] > 0.3 and m[1] > 3 * abs(m[0]) else 1)' "$T/out"
done
run "$FP" patch -m "$M" --target Q --hook blocks.*.hook_resid_post --clean abJ --corrupt abK --json
check "patch: every layer's resid_post copied in restores the clean metric exactly" $PY -c '
import json,sys; d=json.load(open(sys.argv[1])); print("clean %.4f corrupted %.4f patched %.4f" % (d["clean"], d["corrupted"], d["patched"]))
sys.exit(0 if abs(d["patched"] - d["clean"]) < 1e-4 else 1)' "$T/out"
run "$FP" patch -m "$M" --target Q --hook blocks.1.mlp.hook_post --neurons 5 --pos last --clean abJ --corrupt abK --json
check "patch --neurons: the planted neuron alone carries the fact from 'abJ' into 'abK'" $PY -c '
import json,sys; d=json.load(open(sys.argv[1])); print("restored fraction %.3f" % d["restored_fraction"]); sys.exit(0 if d["restored_fraction"] > 0.9 else 1)' "$T/out"
for sel in 1 0,1 0-1; do
	run "$FP" patch -m "$M" --target Q --hook 'blocks.*.mlp.hook_post' --layers $sel --neurons 5 --pos last --clean abJ --corrupt abK --json
	check "patch --layers $sel (the layer-range syntax record takes): layer 1's planted neuron restores the fact" $PY -c '
import json,sys; d=json.load(open(sys.argv[1])); print("restored fraction %.3f" % d["restored_fraction"]); sys.exit(0 if d["restored_fraction"] > 0.9 else 1)' "$T/out"
done
run "$FP" patch -m "$M" --target Q --hook blocks.0.mlp.hook_post --neurons 5 --pos last --clean abJ --corrupt abK --json
cp "$T/out" "$T/patch0.json"
run "$FP" patch -m "$M" --target Q --hook 'blocks.*.mlp.hook_post' --layers 0 --neurons 5 --pos last --clean abJ --corrupt abK --json
check "patch --layers 0 patches block 0 only: the same result as --hook blocks.0.mlp.hook_post" $PY -c '
import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))
print("restored fraction %.4f (--layers 0) vs %.4f (blocks.0), difference %.1e, tolerance 1e-6" % (a["restored_fraction"], b["restored_fraction"], abs(a["patched"] - b["patched"])))
sys.exit(0 if abs(a["patched"] - b["patched"]) < 1e-6 and a["restored_fraction"] < 0.9 else 1)' "$T/out" "$T/patch0.json"
run "$FP" patch -m "$M" --target Q --ablate 1.5 --pos last abJ --json
check "patch --ablate 1.5: log p(Q) falls to the cut model's" $PY -c '
import json,sys; d=json.load(open(sys.argv[1])); print("before %.3f after %.3f" % (d["before"], d["after"])); sys.exit(0 if d["after"] < d["before"] - 10 else 1)' "$T/out"
expect_error "trace: subject not in the prompt" "the subject 'Z' is not in the prompt 'abJ'" "$FP" trace -m "$M" abJ --subject Z
expect_error "trace: subject off the token boundaries" "tokenizes differently inside the prompt 'a the b': the tokens there are ' the'" \
	"$FP" trace -m "$M" "a the b" --subject he
expect_error "trace: bad --noise" "--noise takes 3sd" "$FP" trace -m "$M" abJ --subject J --noise lots
expect_error "trace: --corrupt replace without a fact set" "needs a fact set" "$FP" trace -m "$M" abJ --subject J --corrupt replace
expect_error "trace -p without a subject column" "has no 'subject' column" "$FP" trace -m "$M" -p "$T/corpus.txt"
expect_error "patch: prompts of different lengths with --pos all" "same length" "$FP" patch -m "$M" --target Q --hook hook_resid_post --clean abJ --corrupt abcJ
expect_error "patch: --layers out of range" "--layers '0-7' is not a range of blocks 0-1" "$FP" patch -m "$M" --target Q --hook 'blocks.*.hook_resid_post' --layers 0-7 --clean abJ --corrupt abK
expect_error "patch: --layers with a one-block hook" "--layers needs a blocks.* hook" "$FP" patch -m "$M" --target Q --hook blocks.1.hook_resid_post --layers 1 --clean abJ --corrupt abK
expect_error "patch: neuron out of range" "neuron 999 is out of range" "$FP" patch -m "$M" --target Q --ablate 1.999 abJ

# --- bad input -------------------------------------------------------------
expect_error "unknown hook" "not a per-layer hook" "$FP" dot -m "$M" abJ --direction tok:Q --hook blocks.*.hook_nope
expect_error "hook layer out of range" "layer 7 is out of range" "$FP" dot -m "$M" abJ --direction tok:Q --hook blocks.7.hook_resid_post
expect_error "direction of the wrong width" "has 64 dimensions but blocks.\*.mlp.hook_post has 128" "$FP" dot -m "$M" abJ --direction tok:Q --hook mlp.hook_post
expect_error "neuron out of range" "neuron 999 is out of range" "$FP" top-examples -m "$M" --neuron 1.999 -p "$T/corpus.txt"
expect_error "neuron layer out of range" "layer 5 is out of range" "$FP" dot -m "$M" abJ --direction neuron:5.0
expect_error "target of several tokens" "'QJ' is 2 tokens" "$FP" neurons -m "$M" --target QJ abJ
expect_error "multi-token tok: without --multi" "or say --multi mean|first" "$FP" dot -m "$M" abJ --direction tok:QJ
expect_error "unknown direction kind" "unknown direction kind 'vec'" "$FP" dot -m "$M" abJ --direction vec:1
: >"$T/empty.txt"
expect_error "empty prompt set" "holds no prompts" "$FP" dot -m "$M" -p "$T/empty.txt" --direction tok:Q
expect_error "empty corpus" "holds no prompts" "$FP" top-examples -m "$M" --neuron 1.5 -p "$T/empty.txt"
"$FP" record -m "$M" -p "$T/set.tsv" -o "$T/resid.h5" --hooks 'blocks.*.hook_resid_post' --positions last 2>/dev/null
expect_error "recording without mlp.hook_post" "record it with: factprobe record --hooks 'blocks.\*.mlp.hook_post'" \
	"$FP" neurons -m "$M" --from "$T/resid.h5" --group-by target
expect_error "recording without the hook dot needs" "does not hold blocks.0.hook_attn_out; record it with" \
	"$FP" dot -m "$M" --from "$T/resid.h5" --direction tok:Q --hook hook_attn_out
expect_error "a file that is not a recording" "is not a recording from 'factprobe record'" \
	"$FP" neurons -m "$M" --from "$T/dot.h5" --group-by target
expect_error "a missing recording" "cannot open '$T/nope.h5'" "$FP" neurons --from "$T/nope.h5" --group-by target
expect_error "a group that is not there" "its groups are 'Q', 'other'" "$FP" neurons -m "$M" --from "$T/rec.h5" --group-by target --group basketball
expect_error "--ablate mean without --ref" "needs --ref PROMPTS" "$FP" neurons -m "$M" --target Q --ablate mean abJ
expect_error "--at subject-last without a subject" "needs a subject" "$FP" lens -m "$M" abJ --at subject-last
expect_error "subject not in the prompt" "does not occur in the prompt" "$FP" neurons -m "$M" --target Q --subject zz abJ
expect_error "--at outside the prompt" "outside the prompt's 3 tokens" "$FP" dot -m "$M" abJ --direction tok:Q --at 7
expect_error "--at outside a prompt of a set: its file and line, and the range" "set.tsv' line 2: --at 40 is outside the prompt's [0-9]* tokens (0\.\." \
	"$FP" dot -m "$M" -p "$T/set.tsv" --direction tok:Q --at 40 -q
for c in dot lens neurons top-examples trace patch; do
	run "$FP" $c --help
	[ "$RC" -eq 0 ] && grep -q "^usage: factprobe $c" "$T/out" && grep -q "example" "$T/out" && ok "$c --help: usage and an example" || bad "$c --help"
done

# --- every command's output in every format through the one emitter (probe/table.c): text and TSV
# valid UTF-8 (a byte-level token that is half of '東' is \xNN), every TSV row as wide as its header
# for Python's csv reader, every JSON parsed by python3 -m json.tool ---
U=$'ab\xe6\x9d\xb1J'
EMIT=(
	"tokenize|$U" "predict|-k 3|$U" "info" "dot|--direction|neuron:1.5|$U" "dot|--direction|neuron:1.5|--at|last|$U"
	"dot|--direction|tok:Q|-p|$T/corpus.txt|-q" "dot|--direction|neuron:1.5|--from|$T/rec.h5"
	"lens|--at|all|-k|2|$U" "lens|--from|$T/rec.h5|--prompt|1|--at|subject-last" "neurons|--target|Q|-k|3|--compare-random|3|-q|$U"
	"neurons|--target|Q|--rank|ig|--verify|2|-k|2|$U" "neurons|--from|$T/rec.h5|--group-by|target|-k|3"
	"top-examples|--neuron|1.5|-p|$T/corpus.txt|-k|2|-q" "top-examples|--neuron|1.5|--from|$T/rec.h5|-k|2"
	"trace|--subject|$(printf '\xe6\x9d\xb1')|--samples|2|--kind|mlp|-q|$U" "trace|-p|$T/facts.tsv|--noise|20|--window|1|--kind|mlp|--samples|2|-q"
	"patch|--target|Q|--ablate|1.5|$U" "patch|--target|Q|--hook|blocks.1.mlp.hook_post|--neurons|5|--pos|last|--clean|abJ|--corrupt|abK"
	"superposition|--n|40|--dim|8|--steps|2|-q"
)
n_emit=0 emit_bad=""
for e in "${EMIT[@]}"; do
	IFS='|' read -r -a args <<<"$e"
	for f in text tsv json; do
		fl=(); [ $f != text ] && fl=(--$f)
		"$FP" "${args[0]}" -m "$M" "${fl[@]}" "${args[@]:1}" >"$T/emit.$n_emit.$f" 2>"$T/emit.err" \
			|| emit_bad="$emit_bad; ${args[0]} --$f: exit $? $(head -c 200 "$T/emit.err")"
		echo "${args[0]} --$f ${args[*]:1}" >"$T/emit.$n_emit.$f.cmd"
	done
	n_emit=$((n_emit + 1))
done
for ((i = 0; i < n_emit; i++)); do
	/usr/bin/python3 -m json.tool "$T/emit.$i.json" >/dev/null 2>"$T/emit.err" || emit_bad="$emit_bad; $(cat "$T/emit.$i.json.cmd"): json.tool: $(cat "$T/emit.err")"
done
check "$n_emit invocations x text, TSV, JSON: every output valid UTF-8, every TSV row as wide as its header (csv), every JSON parsed by json.tool${emit_bad}" $PY -c '
import csv, glob, sys
n = {"text": 0, "tsv": 0, "json": 0}; bad = []
for p in sorted(glob.glob(sys.argv[1] + "/emit.*.*")):
    f = p.rsplit(".", 1)[1]
    if f not in n: continue
    raw = open(p, "rb").read(); cmd = open(p + ".cmd").read().strip()
    try: raw.decode("utf-8")
    except UnicodeDecodeError as e: bad.append("%s: %s" % (cmd, e)); continue
    if not raw: bad.append("%s: empty" % cmd)
    if f == "tsv":
        rows = list(csv.reader(open(p, encoding="utf-8", newline=""), delimiter="\t", quoting=csv.QUOTE_NONE))
        w = {len(r) for r in rows}
        if len(rows) < 2 or len(w) != 1: bad.append("%s: %d rows of widths %s" % (cmd, len(rows), sorted(w)))
    n[f] += 1
print("%d text, %d TSV, %d JSON outputs checked; %s" % (n["text"], n["tsv"], n["json"], "; ".join(bad) or "all valid"))
sys.exit(1 if bad or len(sys.argv) > 2 else 0)' "$T" ${emit_bad:+fail}

# --- prompt sets read alike: --skip-bad, --subject-span, progress and counts (issue 11) ---
# a fact set with a subject that ends inside a token ('th' of 't' + 'he') and a malformed line
cp "$T/facts.tsv" "$T/facts2.tsv"
printf 'c1\tthe abJ\tth\tQ\tplant\nbad\tonly three\tcols\n' >>"$T/facts2.tsv"
TR=(--noise 20 --window 1 --kind mlp --samples 2)
expect_error "trace -p: a subject ending inside a token stops the set by default (strict)" \
	"facts2.tsv' line 14, field 'subject': the subject 'th' tokenizes differently" "$FP" trace -m "$M" -p "$T/facts2.tsv" "${TR[@]}"
grep -q '^hint: .*--subject-span cover' "$T/err" && ok "trace -p: the hint names --skip-bad and --subject-span cover" || bad "trace -p hint: $(cat "$T/err")"
expect_error "trace -p --subject-span cover: the malformed line still stops it without --skip-bad" \
	"facts2.tsv' line 15: 3 columns, but the header has 5" "$FP" trace -m "$M" -p "$T/facts2.tsv" "${TR[@]}" --subject-span cover
run "$FP" trace -m "$M" -p "$T/facts2.tsv" "${TR[@]}" --subject-span cover --skip-bad --json
check "trace -p --subject-span cover --skip-bad: the covered fact is read, the bad line counted (JSON and stderr)" $PY -c '
import json,sys; d=json.load(open(sys.argv[1])); e=open(sys.argv[2]).read()
print("%d prompts, %d known, %d traced; skipped_lines %d, subjects_covered %d (%s); stderr warns: %s" % (d["prompts"], d["known"], d["traced"], d["skipped_lines"], d["subjects_covered"], d["subject_span"], "warning: skipping" in e))
sys.exit(0 if d["prompts"] == 13 and d["known"] == 7 and d["skipped_lines"] == 1 and d["subjects_covered"] == 1 and "line 15: 3 columns" in e else 1)' "$T/out" "$T/err"
# the covering tokens are ROME's (find_token_range: the tokens whose text overlaps the subject's characters)
run "$FP" trace -m "$M" "the abJ" --subject th --subject-span cover --samples 2 --json
"$FP" tokenize -m "$M" --json "the abJ" >"$T/tok.json"
check "trace --subject-span cover: the span is the tokens that overlap the subject, as ROME's find_token_range" $PY -c '
import json,sys; d=json.load(open(sys.argv[1])); toks=json.load(open(sys.argv[2]))["tokens"]
text="the abJ"; sb=text.index("th"); se=sb+2; off=0; cover=[]
for i,t in enumerate(toks):
    if off < se and off + len(t) > sb: cover.append(i)
    off += len(t)
print("tokens %s; covering %d..%d, factprobe %d..%d (%s)" % (toks, cover[0], cover[-1] + 1, d["subject_start"], d["subject_end"], d["subject_span"]))
sys.exit(0 if (d["subject_start"], d["subject_end"]) == (cover[0], cover[-1] + 1) and d["subject_span"] == "covering tokens" else 1)' "$T/out" "$T/tok.json"
# every output format says how many facts were known and excluded; TSV and JSON on stderr, with the progress
for f in tsv json; do
	run "$FP" trace -m "$M" -p "$T/facts.tsv" "${TR[@]}" --$f
	[ "$RC" -eq 0 ] && grep -q "^trace: .*facts.tsv: 12 prompts, 6 known (target first token = clean top-1), 6 excluded" "$T/err" \
		&& { [ $f = json ] && $PY -c "import json,sys; json.load(open(sys.argv[1]))" "$T/out" || [ -z "$(awk -F'\t' 'NF != 6' "$T/out")" ]; } \
		&& ok "trace -p --$f: the known and excluded counts go to stderr ($(grep -c . "$T/err") line), stdout holds the $f result only, \"$(grep known "$T/err")\"" \
		|| bad "trace -p --$f: exit $RC, stderr: $(cat "$T/err")"
done
run "$FP" trace -m "$M" -p "$T/facts.tsv" "${TR[@]}" --tsv -q
[ "$RC" -eq 0 ] && [ ! -s "$T/err" ] && ok "trace -p -q: nothing on stderr" || bad "trace -p -q: $(cat "$T/err")"
# progress as record's: on a terminal (script gives one) a bar per phase; a run shorter than 5 s
# off a terminal prints no progress lines (one every 5 s otherwise)
script -qec "'$FP' trace -m '$M' -p '$T/facts.tsv' ${TR[*]} --tsv >/dev/null" /dev/null | tr '\r' '\n' >"$T/tty"
grep -q '^\[#*\] 12/12 facts checked' "$T/tty" && grep -q '^\[#*\] 6/6 prompts traced' "$T/tty" \
	&& ok "trace -p on a terminal: a progress bar for each phase ($(grep '^\[' "$T/tty" | tail -1 | sed 's/ *$//'))" || bad "trace -p on a terminal: $(cat "$T/tty")"
script -qec "'$FP' trace -m '$M' abJ --subject J --samples 2 --tsv >/dev/null" /dev/null | tr '\r' '\n' >"$T/tty"
grep -q '^\[#*\] 6/6 layers (of every kind) restored' "$T/tty" && ok "trace (one prompt) on a terminal: a progress bar" || bad "trace on a terminal: $(cat "$T/tty")"
script -qec "'$FP' trace -q -m '$M' abJ --subject J --samples 2 --tsv >/dev/null" /dev/null >"$T/tty"
[ ! -s "$T/tty" ] && ok "trace -q on a terminal: no bar" || bad "trace -q: $(cat "$T/tty")"
script -qec "'$FP' neurons -m '$M' --target Q --rank ablate --candidates 0 -k 1 --compare-random 5 abJ >/dev/null" /dev/null | tr '\r' '\n' >"$T/tty"
grep -q '^\[#*\] 256/256 neurons ablated' "$T/tty" && grep -q '^\[#*\] 6/6 groups ablated' "$T/tty" \
	&& ok "neurons --rank ablate --compare-random on a terminal: the progress bar of record and trace ($(grep '^\[' "$T/tty" | tail -1 | sed 's/ *$//'))" \
	|| bad "neurons on a terminal: $(cat "$T/tty")"
script -qec "'$FP' neurons -q -m '$M' --target Q --rank ablate --candidates 0 -k 1 --compare-random 5 abJ >/dev/null" /dev/null >"$T/tty"
[ ! -s "$T/tty" ] && ok "neurons -q on a terminal: no bar" || bad "neurons -q: $(cat "$T/tty")"
# --skip-bad alike in every command that reads a prompt set
printf 'prompt\nx1yJ\nbad \xff line\nx2yW\n' >"$T/bad.tsv"
for cmd in "dot --direction tok:Q -p $T/bad.tsv" "top-examples --neuron 1.5 -k 2 -p $T/bad.tsv" \
	"patch --target Q --ablate 1.5 --mode mean --ref $T/bad.tsv abJ" "dot --direction mean-diff:$T/bad.tsv,$T/corpus.txt@blocks.*.hook_resid_post abJ"; do
	name=${cmd%% *}
	# shellcheck disable=SC2086
	expect_error "$name ($(echo "$cmd" | cut -d' ' -f2-3 | sed "s|$T/||")...) without --skip-bad: the bad line stops it" \
		"bad.tsv' line 3, field 'prompt': invalid UTF-8 at byte 4" "$FP" $cmd -m "$M"
	# shellcheck disable=SC2086
	run "$FP" $cmd -m "$M" --skip-bad
	[ "$RC" -eq 0 ] && [ -s "$T/out" ] && grep -q "^factprobe $name: warning: skipping .*bad.tsv' line 3, field 'prompt': invalid UTF-8" "$T/err" \
		&& grep -q "^factprobe $name: warning: 1 malformed prompt lines skipped" "$T/err" \
		&& ok "$name --skip-bad: the line is skipped with a warning and counted, as record does" || bad "$name --skip-bad: exit $RC, $(cat "$T/err")"
done

# a prompt from stdin holding a NUL byte: kept whole in dot's JSON and text (not cut at the NUL)
printf 'a\0bJ' | "$FP" dot -m "$M" - --direction neuron:1.5 --json >"$T/nul.json" 2>&1
printf 'a\0bJ' | "$FP" dot -m "$M" - --direction neuron:1.5 >"$T/nul.txt" 2>&1
check "dot of a prompt holding a NUL byte (stdin): JSON's prompt is all 4 bytes, text quotes it with \\x00" $PY -c '
import json, sys; p = json.load(open(sys.argv[1]))["prompt"]; t = open(sys.argv[2], encoding="utf-8").read()
print("prompt %r; text %s" % (p, t.split("\n")[2][:40])); sys.exit(0 if p == "a\0bJ" and "prompt \"a\\x00bJ\"" in t else 1)' "$T/nul.json" "$T/nul.txt"

# --- what issue 4 asks to be shown on the default model -------------------
if [ -n "$MODEL" ] && [ -f "$MODEL" ]; then
	QA='Q: What sport does Michael Jordan play?
A: This athlete plays the sport of'
	run "$FP" dot -m "$MODEL" "$QA" --at last --direction 'tok:" basketball"' --json
	check "default model: cos(last residual, tok:' basketball'), last quarter of layers > first quarter" $PY -c '
import json,sys; c=[r["cos"] for r in json.load(open(sys.argv[1]))["rows"]]; q=len(c)//4
a=sum(c[:q])/q; b=sum(c[-q:])/q
print("first quarter %.4f, last quarter %.4f; curve %s" % (a, b, " ".join("%.3f" % x for x in c))); sys.exit(0 if b > a else 1)' "$T/out"
	run "$FP" lens -m "$MODEL" "$QA" --target " basketball" --json
	check "default model: the lens ranks ' basketball' first at the last layer" $PY -c '
import json,sys; r=json.load(open(sys.argv[1]))["rows"]
print("rank by layer %s; p at the last layer %.3f" % (" ".join(str(x["target_rank"]) for x in r), r[-1]["target_prob"]))
sys.exit(0 if r[-1]["target_rank"] == 1 else 1)' "$T/out"
	# control bytes in a prompt (byte-level tokens such as 0x00, whose piece is 'Ā'): one escaping in
	# every TSV cell (\t \n \r \\, other C0 and DEL as \xNN), so the table stays one row a line
	printf 'a\0b\tc\x01d\x1fe\x7ff\\g\rh\ni' | "$FP" lens -m "$MODEL" - --at all -k 2 --tsv >"$T/ctl.tsv" 2>"$T/err"
	check "default model: lens --tsv of a prompt with the bytes 00 09 01 1F 7F 0D 0A and a backslash: no raw control byte, Python's csv reads 7 columns on every row, the token cells unescape to the prompt" \
		$PY - "$T/ctl.tsv" <<'PY'
import csv, re, sys
want = b"a\0b\tc\x01d\x1fe\x7ff\\g\rh\ni"
raw = open(sys.argv[1], "rb").read()
ctl = sorted({b for b in raw if (b < 0x20 and b not in (9, 10)) or b == 0x7f})
rows = list(csv.reader(open(sys.argv[1], encoding="utf-8", newline=""), delimiter="\t", quoting=csv.QUOTE_NONE))
unesc = lambda s: re.sub(rb"\\(x[0-9a-f]{2}|.)", lambda m: bytes([int(m.group(1)[1:], 16)]) if len(m.group(1)) == 3 else
                         {b"t": b"\t", b"n": b"\n", b"r": b"\r", b"\\": b"\\"}[m.group(1)], s.encode())
tok = {int(r[1]): r[2] for r in rows[1:]}
got = b"".join(unesc(tok[p]) for p in sorted(tok))
print("%d rows of widths %s; raw control bytes %s; token cells %s" % (len(rows), sorted({len(r) for r in rows}), ctl, " ".join(tok[p] for p in sorted(tok))))
sys.exit(0 if not ctl and {len(r) for r in rows} == {7} and rows[0][2] == "token" and got == want and "\\x00" in tok.values() else 1)
PY
	# dot's text grid (one prompt, every position) through the emitter: a column per token,
	# headed by its text cut to 7 columns (a newline as \n, a character whole, a space as _)
	"$FP" dot -m "$MODEL" $'Jordan é\nplays über' --direction 'tok:" basketball"' --json >"$T/grid.json" 2>&1
	run "$FP" dot -m "$MODEL" $'Jordan é\nplays über' --direction 'tok:" basketball"'
	check "default model: dot's text grid: a header of 'layer' and a label per token, a row per layer of as many cosines, the numbers dot --json gives" \
		$PY - "$T/out" "$T/grid.json" <<'PY'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
i = next(k for k, l in enumerate(lines) if l.startswith("layer"))
head, grid = lines[i].split(), [l.split() for l in lines[i + 1:] if l.strip()]
print("header %s; %d rows of %s fields" % (head, len(grid), sorted({len(r) for r in grid})))
ok = head[0] == "layer" and "\\n" in head and "_\u00e9" in head and "\\xbc" in head
ok = ok and len(grid) == 30 and {len(r) for r in grid} == {len(head)} and [int(r[0]) for r in grid] == list(range(30))
js = json.load(open(sys.argv[2]))["rows"]
diff = max(abs(float(grid[r["layer"]][1 + r["position"]]) - r["cos"]) for r in js) if ok else 1
print("max |grid - json cos| %.2g (tolerance 6e-5: the grid rounds to 4 decimals)" % diff)
ok = ok and len(js) == 30 * (len(head) - 1) and diff <= 6e-5
sys.exit(0 if ok else 1)
PY
	run "$FP" trace -m "$MODEL" "$QA" --subject "Michael Jordan" --kind resid --samples 2 --json
	check "default model: trace (resid, 2 samples): the clean probability is predict's, noise lowers it, the last state restores it" $PY -c '
import json,sys; d=json.load(open(sys.argv[1])); g=d["resid"]
print("high %.4f low %.4f; restored at the last layer and token %.4f; %d passes, %.3g token-layer evaluations vs %.3g naive, %.1f s"
      % (d["high"], d["low"], g[-1][-1], d["forward_passes"], d["token_layer_evals"], d["token_layer_evals_naive"], d["seconds"]))
sys.exit(0 if abs(d["high"] - 0.2798) < 5e-4 and d["low"] < d["high"] and abs(g[-1][-1] - d["high"]) < 1e-5 else 1)' "$T/out"
	run "$FP" neurons -m "$MODEL" "$QA" --target " basketball" -k 10 --compare-random 20 --json
	check "default model: zero-ablating the top 10 DLA neurons lowers log p(' basketball') more than 10 random neurons of the same layers (20 draws)" $PY -c '
import json,math,sys; d=json.load(open(sys.argv[1])); c=d["compare_random"]; r=c["random_effects"]
print("clean p %.4f; top-10 drop %.3f (p -> %.4f); random drop mean %.4f std %.4f max %.4f" % (math.exp(d["clean"]), c["top_effect"],
      math.exp(d["clean"] - c["top_effect"]), c["random_mean"], c["random_std"], max(r)))
sys.exit(0 if c["top_effect"] > max(r) and c["top_effect"] > c["random_mean"] + 3 * c["random_std"] else 1)' "$T/out"
	"$FP" record -m "$MODEL" -p datasets/athletes_sport_qa.tsv -o "$T/ath.h5" --hooks 'blocks.*.mlp.hook_post' \
		--positions subject-last 2>/dev/null
	for s in 1 2 3 4 5; do
		"$FP" neurons -m "$MODEL" --from "$T/ath.h5" --group-by target --group basketball -k 10 --seed $s --json >"$T/sel$s.json"
	done
	check "default model: basketball-selective neurons (top 10 by d on 70%) separate held-out basketball players, 5 splits" $PY -c '
import json,sys
g=[json.load(open(sys.argv[1] + "/sel%d.json" % s))["groups"][0] for s in range(1, 6)]
a=[x["combined_test_auroc"] for x in g]; se=[x["combined_test_auroc_se"] for x in g]; m=sum(a)/5; mse=sum(se)/5
print("held-out AUROC per split %s; mean %.3f, one split SE %.3f; mean - 2 SE = %.3f (must exceed chance 0.5); %d+%d train, %d+%d test"
      % (" ".join("%.3f" % x for x in a), m, mse, m - 2 * mse, g[0]["train_in"], g[0]["train_out"], g[0]["test_in"], g[0]["test_out"]))
sys.exit(0 if m - 2 * mse > 0.5 else 1)' "$T"
fi

lib_finish
