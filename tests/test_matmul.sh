#!/usr/bin/env bash
# test_matmul.sh - --matmul exact|q8 (and $FACTPROBE_MATMUL) on the default
# model, for every command:
#   - exact, the default, leaves every output as it was: with
#     FACTPROBE_REF_FP set to a factprobe built before --matmul existed,
#     --matmul exact prints what that binary prints (timings removed), and
#     $FACTPROBE_MATMUL=exact prints what no option prints (test_weights and
#     test_oracle keep checking the exact numbers themselves);
#   - q8 runs every command and stays close to exact: the same header and
#     number of lines, no nan/inf that exact lacks, every number within a
#     per-command tolerance (Q8_CMD), the same top-1 prediction on the demo's facts with
#     log-probs within Q8_LOGP nats, recorded activations and gradients
#     within the tolerances below (each measured value is printed; the
#     comparison with llama.cpp itself is test_oracle's);
#   - bad values and --weights f32 --matmul q8 give one clear error.
# Env: BUILD, FACTPROBE_TEST_MODEL, FACTPROBE_REF_FP (optional).
. tests/lib.sh
. tests/commands.sh
lib_init test_matmul
M=${FACTPROBE_TEST_MODEL:?set FACTPROBE_TEST_MODEL}
REF=${FACTPROBE_REF_FP:-}
# tolerances, q8 against exact on the default model (SmolLM2-135M, Q4_1 and
# Q8_0 weights: every product has 8-bit activations); measured values in
# the comments, set with a margin of about 1.5-2x
Q8_LOGP=0.6     # |log p diff| over exact's top 10 on the demo facts (measured 0.44; plain C q8mm 0.38)
Q8_REC=0.1      # recorded mlp.hook_post / resid_post / logits: |q8 - exact| / |exact| (measured 0.063)
Q8_GRAD=0.98    # grad: cosine of the q8 gradient with the exact one, at least (measured 0.994)
Q='Q: What sport does Michael Jordan play?
A: This athlete plays the sport of'
head -4 datasets/athletes_sport.tsv >"$T/set.tsv"
SKIP='"seconds"|^matmul|^q8_matrices|^short prompts'

# per command: q8's largest difference from exact, |q8 - exact| over the
# largest |exact| in the same column (TSV) or under the same JSON key (or
# absolute, where that is under 1: probabilities, small activations), over
# every column with fractional numbers (ids, positions and ranks are not
# compared; the neuron at a rank may change, its value is the rank's).
# Measured on the default model (19:44 UTC): info 0, predict 0.029, lens
# 0.082, dot 0.0098, dot neuron 0.017, neurons act 0.017 dla 0.014 weights
# 0.064 ablate 0.017 atp 0.020, patch 0.051 / 0.059, trace 0.0012,
# top-examples 0.095 (neuron 20.100: 0.21 -> 0.30); set at about 1.5-3x (0 where q8
# gives the same output: info, superposition, tokenize). The column's scale
# is its largest value: a cell far smaller than that (dot at a position
# whose norm is small) may move more relative to itself.
declare -A Q8_CMD=(
	[info]=0 [predict]=0.05 [lens]=0.15 [dot]=0.03 ["dot neuron direction"]=0.05
	["neurons --rank act"]=0.05:act ["neurons --rank dla"]=0.05:dla ["neurons --rank weights"]=0.1:weights
	["neurons --rank ablate"]=0.05:ablate [patch]=0.1 ["patch --ablate"]=0.1 [trace]=0.005
	[top-examples]=0.2:act ["superposition --model-rows"]=0 [tokenize]=0 ["neurons --rank atp"]=0.05:atp)

# CMD... with --matmul exact (and by $REF: the same bytes), then with
# --matmul q8: the same first line and line count, no nan or inf, and the
# largest difference (above) within the command's tolerance
modes() {
	local name=$1 a r q tol=${Q8_CMD[$1]:-missing}
	shift
	a=$("$FP" "$@" --matmul exact 2>"$T/err.a" | grep -aEv "$SKIP") || { bad "$name (--matmul exact): $(tail -1 "$T/err.a")"; return; }
	if [ -n "$REF" ]; then
		r=$("$REF" "$@" 2>"$T/err.r" | grep -aEv "$SKIP")
		if [ "$a" = "$r" ]; then
			ok "$name: --matmul exact prints what $REF (before --matmul) prints"
		else
			bad "$name: --matmul exact differs from $REF"
			diff <(echo "$a") <(echo "$r") | head -6
		fi
	fi
	q=$("$FP" "$@" --matmul q8 2>"$T/err.q" | grep -aEv "$SKIP") || { bad "$name (--matmul q8): $(tail -1 "$T/err.q")"; return; }
	echo "$a" >"$T/a.txt"
	echo "$q" >"$T/q.txt"
	check "$name: --matmul q8 runs, same header and line count as exact, no nan/inf, within $tol of exact" \
		"$PY" - "$T/a.txt" "$T/q.txt" "$tol" <<'PY'
import sys, re, math
a, q = open(sys.argv[1]).read().splitlines(), open(sys.argv[2]).read().splitlines()
spec = sys.argv[3].split(":")  # TOL or TOL:COLUMN ('missing' raises: a failure)
tol, ranked = float(spec[0]), spec[1:]
if len(a) != len(q) or a[:1] != q[:1]:
    print("exact %d lines, q8 %d; first lines %r / %r" % (len(a), len(q), a[:1], q[:1])); sys.exit(1)
# nan or inf in q8 only where exact has it too (neurons prints nan for the
# neurons it did not ablate)
bad = re.compile(r"(?<![A-Za-z])[-+]?(nan|inf)(inity)?(?![A-Za-z])", re.I)
def nans(line):  # the fields (TSV) or the keys (JSON) that hold nan or inf
    return [i for i, c in enumerate(line.split("\t")) if bad.search(c)] if "\t" in line else \
        [m.group(0).lower() for m in bad.finditer(line)]
for i, (x, y) in enumerate(zip(a, q)):
    if nans(x) != nans(y):
        print("line %d: nan/inf in q8 where exact has a number (or the reverse): %r / %r" % (i + 1, x[:80], y[:80]))
        sys.exit(1)
num = re.compile(r"-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?$")
def cells(line):  # (column key, text) for each field
    if "\t" in line:  # key: the column, and the row's name where it has one (info)
        f = line.split("\t")
        row = "" if num.match(f[0]) else f[0]
        return [((row, i), x) for i, x in enumerate(f)]
    m = re.match(r'\s*"([^"]+)"\s*:\s*(.*?),?\s*$', line)  # one JSON key per line
    return [(m.group(1), m.group(2))] if m else []
# a ranked list (neurons): where the row names another neuron in q8, only
# the ranked column (COLUMN, named in the header) is compared
rk = [("", a[0].split("\t").index(c)) for c in ranked]
frac, scale, rows, same = set(), {}, [], 0
for x, y in zip(a, q):
    same += x == y
    row = []
    for (k, s), (k2, t) in zip(cells(x), cells(y)):
        if k != k2 or not num.match(s) or not num.match(t):
            continue
        if "." in s or "e" in s.lower():
            frac.add(k)
        scale[k] = max(scale.get(k, 0.0), abs(float(s)))
        row.append((k, float(s), float(t)))
    rows.append(row)
worst, where, moved = 0.0, "-", 0
for row in rows:
    ids = [(s, t) for k, s, t in row if k not in frac and (not isinstance(k, tuple) or k[1] > 0)]
    other = any(s != t for s, t in ids)
    moved += other
    for k, s, t in row:
        if k not in frac or (other and k not in rk):
            continue
        d = abs(s - t) / max(scale[k], 1.0)
        if d > worst:
            worst, where = d, "column %s: %g / %g (largest |exact| %g)" % (k, s, t, scale[k])
print("%d lines, %d identical, %d naming other ids; %d columns compared; largest |q8 - exact| / max(1, max |exact|) %.3g at %s (tolerance %g)"
      % (len(a), same, moved, len(frac), worst, where, tol))
sys.exit(0 if worst <= tol and math.isfinite(worst) else 1)
PY
}

modes "info" info -m "$M" --tsv
check "info says --matmul q8 and how many matrices it multiplies; q8 holds the weights natively" sh -c "\"$FP\" info -m \"$M\" --matmul q8 | grep -E '^matmul +q8: [1-9][0-9]* of [0-9]+ matrices' &&
	\"$FP\" info -m \"$M\" --matmul q8 | grep -q '^weights *native' && \"$FP\" info -m \"$M\" | grep -q '^matmul *exact'"
every_command modes
# (not in test_weights: there native and f32 weights differ in the last digit, the backward pass's tiles)
modes "neurons --rank atp" neurons -m "$M" --target " basketball" --rank atp -k 5 --tsv "$Q"
check "\$FACTPROBE_MATMUL=exact and =q8 do what the options do" sh -c "
	[ \"\$(FACTPROBE_MATMUL=exact \"$FP\" predict -m \"$M\" \"$Q\" --tsv)\" = \"\$(\"$FP\" predict -m \"$M\" \"$Q\" --tsv)\" ] &&
	[ \"\$(FACTPROBE_MATMUL=q8 \"$FP\" predict -m \"$M\" \"$Q\" --tsv)\" = \"\$(\"$FP\" predict -m \"$M\" \"$Q\" --tsv --matmul q8)\" ] && echo same"

# the demo's facts: top-1 kept, log-probs close
cut -f2 datasets/athletes_sport_qa.tsv | sed -n '2,9p' >"$T/facts.txt"
echo "Michael Jordan plays the sport of" >>"$T/facts.txt"
n=0
while IFS= read -r p; do
	p=$(printf '%b' "$p")
	# exact with native weights: the same numbers as f32 (test_weights), without dequantising at load
	"$FP" predict -m "$M" -k 10 --json --weights native "$p" >"$T/e$n.json" && "$FP" predict -m "$M" -k 10 --json --matmul q8 "$p" >"$T/q$n.json" ||
		bad "predict on \"$p\" failed"
	n=$((n + 1))
done <"$T/facts.txt"
check "predict on the demo's $n facts: log-probs of exact's top 10 within $Q8_LOGP of q8's; q8 keeps exact's top-1 wherever it leads by more than that" \
	"$PY" - "$T" "$n" "$Q8_LOGP" <<'PY'
import sys, json
d, n, tol = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
worst, same, clear, kept, swaps = 0.0, 0, 0, 0, []
for i in range(n):
    e, q = json.load(open("%s/e%d.json" % (d, i))), json.load(open("%s/q%d.json" % (d, i)))
    ep = e["predictions"]
    s = ep[0]["token_id"] == q["predictions"][0]["token_id"]
    same += s
    if ep[0]["logprob"] - ep[1]["logprob"] > tol:  # a clear lead: q8 must keep it
        clear, kept = clear + 1, kept + s
    elif not s:
        swaps.append("%r/%r lead %.2f" % (ep[0]["token"], ep[1]["token"], ep[0]["logprob"] - ep[1]["logprob"]))
    ql = {p["token_id"]: p["logprob"] for p in q["predictions"]}
    # tokens of exact's top 10 that fell out of q8's top 10: compared at q8's 10th
    for p in ep:
        worst = max(worst, abs(p["logprob"] - ql.get(p["token_id"], min(ql.values()))))
print("top-1 same on %d of %d (on %d of the %d with a clear lead; near-ties swapped: %s), max |log p diff| %.3g nats "
      "(tolerance %g)" % (same, n, kept, clear, ", ".join(swaps) or "none", worst, tol))
sys.exit(0 if kept == clear and clear >= n // 2 and worst <= tol else 1)
PY

# record: every recorded value close, provenance says q8
for w in exact q8; do
	"$FP" record -q -m "$M" -p "$T/set.tsv" -o "$T/$w.h5" --dtype f32 --matmul "$w" \
		--hooks 'blocks.*.mlp.hook_post,blocks.*.hook_resid_post,logits' 2>"$T/err.$w" || bad "record ($w): $(tail -1 "$T/err.$w")"
done
check "record: q8 activations within $Q8_REC of exact (|q8 - exact| / |exact| per dataset); the file says --matmul q8" \
	"$PY" - "$T/exact.h5" "$T/q8.h5" "$Q8_REC" <<'PY'
import sys, h5py, numpy as np
a, b, tol = h5py.File(sys.argv[1]), h5py.File(sys.argv[2]), float(sys.argv[3])
worst, name, n, mx = 0.0, "", 0, 0.0
for k in a["acts"]:
    x, y = a["acts"][k][()].astype(np.float64), b["acts"][k][()].astype(np.float64)
    if x.shape != y.shape:
        print("dataset %s: shapes %s / %s" % (k, x.shape, y.shape)); sys.exit(1)
    r = float(np.linalg.norm(x - y) / max(np.linalg.norm(x), 1e-300))
    if r > worst:
        worst, name = r, k
    mx = max(mx, float(np.abs(x - y).max() / max(np.abs(x).max(), 1e-300)))
    n += 1
cl = b.attrs["command_line"]
cl = cl.decode() if isinstance(cl, bytes) else str(cl)
print("%d datasets, worst %s: %.3g (tolerance %g; largest single |diff| / max |value| %.3g); command_line '...%s'"
      % (n, name, worst, tol, mx, cl[-24:]))
sys.exit(0 if worst <= tol and "--matmul q8" in cl and "--matmul" not in str(a.attrs["command_line"]) else 1)
PY

expect_error "record --resume of a q8 recording without --matmul q8 refuses" "recorded with --matmul q8, this run has --matmul exact" \
	"$FP" record -q -m "$M" -p "$T/set.tsv" -o "$T/q8.h5" --dtype f32 --resume \
	--hooks 'blocks.*.mlp.hook_post,blocks.*.hook_resid_post,logits'

# grad: forward in q8, backward products exact (straight-through)
for w in exact q8; do
	"$FP" grad -m "$M" --target " basketball" --hooks 'blocks.*.hook_resid_pre' -o "$T/g$w.h5" --matmul "$w" "$Q" \
		>/dev/null 2>"$T/err.g$w" || bad "grad ($w): $(tail -1 "$T/err.g$w")"
done
check "grad: the q8 gradient's cosine with the exact one at least $Q8_GRAD at every hook" \
	"$PY" - "$T/gexact.h5" "$T/gq8.h5" "$Q8_GRAD" <<'PY'
import sys, h5py, numpy as np
a, b, tol = h5py.File(sys.argv[1]), h5py.File(sys.argv[2]), float(sys.argv[3])
worst, n = 1.0, 0
def walk(g, h):
    global worst, n
    for k in g:
        if isinstance(g[k], h5py.Group):
            walk(g[k], h[k]); continue
        if g[k].dtype.kind != "f" or g[k].size < 2: continue
        x, y = g[k][()].ravel().astype(np.float64), h[k][()].ravel().astype(np.float64)
        c = float(x @ y / max(np.linalg.norm(x) * np.linalg.norm(y), 1e-300))
        worst, n = min(worst, c), n + 1
walk(a, b)
print("%d gradients, lowest cosine %.5f (at least %g)" % (n, worst, tol))
sys.exit(0 if n > 0 and worst >= tol else 1)
PY

# bad values
expect_error "--matmul with an unknown value names the option and the valid ones" "matmul 'q4' is not exact or q8" \
	"$FP" predict -m "$M" --matmul q4 "x"
expect_error "\$FACTPROBE_MATMUL with an unknown value" "FACTPROBE_MATMUL 'fast' is not exact or q8" \
	env FACTPROBE_MATMUL=fast "$FP" predict -m "$M" "x"
expect_error "--matmul without a value" "option '--matmul' needs a value (exact or q8)" "$FP" predict -m "$M" x --matmul
expect_error "--weights f32 --matmul q8 says why not" "cannot use --weights f32" \
	"$FP" predict -m "$M" --weights f32 --matmul q8 "x"
expect_error "\$FACTPROBE_WEIGHTS=f32 with --matmul q8: the error names the variable" \
	"--matmul q8 multiplies the weights in the file's own types (8-bit activations times Q4_K, Q8_0, ... blocks), so it cannot use \$FACTPROBE_WEIGHTS=f32" \
	env FACTPROBE_WEIGHTS=f32 "$FP" predict -m "$M" --matmul q8 "x"
expect_error "--weights f32 with \$FACTPROBE_MATMUL=q8: the error names the variable" "\$FACTPROBE_MATMUL=q8 multiplies" \
	env FACTPROBE_MATMUL=q8 "$FP" predict -m "$M" --weights f32 "x"

# shards and resumes across modes: one clear error each
"$FP" record -q -m "$M" -p "$T/set.tsv" -o "$T/e.h5" --hooks logits 2>"$T/err.e" || bad "record (exact): $(tail -1 "$T/err.e")"
expect_error "record --resume of an exact recording with --matmul q8 refuses" \
	"cannot resume: it was recorded with --matmul exact, this run has --matmul q8 (use --force to start over)" \
	"$FP" record -q -m "$M" -p "$T/set.tsv" -o "$T/e.h5" --hooks logits --resume --matmul q8
"$FP" record -q -m "$M" -p "$T/set.tsv" -o "$T/s0.h5" --hooks logits --shard 0/2 2>"$T/err.s" &&
	"$FP" record -q -m "$M" -p "$T/set.tsv" -o "$T/s1.h5" --hooks logits --shard 1/2 --matmul q8 2>>"$T/err.s" ||
	bad "record --shard: $(tail -1 "$T/err.s")"
expect_error "merge of an exact and a q8 shard refuses, naming both modes" \
	"are not shards of one run: matmul 'exact' and 'q8'" "$FP" merge "$T/m.h5" "$T/s0.h5" "$T/s1.h5"

# a model with no matrix q8 supports (F32 weights): one warning, exact
# products, the recording says exact
"$BUILD/tests/make_tiny" "$T" >/dev/null
TINY=$T/tiny-llama.gguf
"$FP" record -q -m "$TINY" -p "$T/set.tsv" -o "$T/t8.h5" --hooks logits --matmul q8 2>"$T/err.t8" || bad "record (tiny, q8): $(tail -1 "$T/err.t8")"
"$FP" record -q -m "$TINY" -p "$T/set.tsv" -o "$T/te.h5" --hooks logits 2>"$T/err.te" || bad "record (tiny): $(tail -1 "$T/err.te")"
check "--matmul q8 on an F32 model: one warning, the same logits as exact, the recording not marked q8 (resumes without --matmul q8)" \
	"$PY" - "$T" <<'PY'
import sys, h5py, numpy as np
d = sys.argv[1]
err = open(d + "/err.t8").read()
w = [l for l in err.splitlines() if "warning" in l]
a, b = h5py.File(d + "/te.h5"), h5py.File(d + "/t8.h5")
same = all(np.array_equal(a["acts"][k][()], b["acts"][k][()]) for k in a["acts"])
cl = b.attrs["command_line"]
cl = cl.decode() if isinstance(cl, bytes) else str(cl)
print("%d warning(s): %s; logits identical: %s; matmul attribute: %s; command_line ends %r"
      % (len(w), w[0][:150] if w else "-", same, b.attrs.get("matmul", "(none: exact)"), cl[-30:]))
sys.exit(0 if len(w) == 1 and "--matmul q8 has no effect" in w[0] and same and "matmul" not in b.attrs
         and "--matmul" not in cl else 1)
PY
run "$FP" record -q -m "$TINY" -p "$T/set.tsv" -o "$T/t8.h5" --hooks logits --resume
[ "$RC" -eq 0 ] && ok "that recording resumes without --matmul q8" || bad "resume (tiny): exit $RC, $ERR"
check "info --matmul q8 on the F32 model says exact" sh -c "\"$FP\" info -m \"$TINY\" --matmul q8 2>/dev/null | grep -E '^matmul +exact'"
lib_finish
