#!/usr/bin/env bash
# tests/test_shard.sh - recording in pieces: `record --shard I/N` and `merge`
# against one uninterrupted run (every dataset through the master, read with
# h5py, value for value; --from commands on the master), the refusals of
# merge, and (when the MPI binary is built) the same through mpirun.
# Prints "test_shard: N passed, M failed".  Env: BUILD.
set -u
. "$(dirname "$0")/lib.sh"
lib_init test_shard
CHK="$PY tests/check_record.py"

"$BUILD/tests/make_tiny" "$T" >/dev/null
M="$T/tiny-llama.gguf"
$PY - "$T" <<'PYEOF'
import random, sys
d = sys.argv[1]
names = ["Michael Jordan", "Serena Williams", "Tom Brady", "the basketball player", "Wayne Gretzky", "Lionel Messi"]
rnd = random.Random(11)
with open(d + "/p.tsv", "w") as f, open(d + "/q.tsv", "w") as g:
    for h in (f, g):
        h.write("id\tprompt\tsubject\ttarget\trelation\n")
    for i in range(300):
        s = names[i % len(names)]
        p = "%s plays the sport of %s %d" % (s, "x" * rnd.randint(0, 12), i)
        f.write("p%d\t%s\t%s\t basketball\tathlete_sport\n" % (i, p, s))
        g.write("p%d\t%s\t%s\t basketball\tathlete_sport\n" % (i, p.replace("sport", "game") if i == 5 else p, s))
PYEOF
H='hook_embed,blocks.*.mlp.hook_post,blocks.*.hook_resid_post,logits'
REC=(record -q -m "$M" -p "$T/p.tsv" --batch-tokens 100 --hooks "$H")
"$FP" "${REC[@]}" -o "$T/one.h5" || bad "single-process recording"
for i in 0 1 2; do "$FP" "${REC[@]}" --shard $i/3 -o "$T/s$i.h5" || bad "record --shard $i/3"; done
run "$FP" merge "$T/m.h5" "$T/s2.h5" "$T/s0.h5" "$T/s1.h5"
[ "$RC" -eq 0 ] && ok "merge of 3 shards (given out of order): exit 0" || bad "merge: exit $RC, $ERR"
check "record --shard x3 + merge = one run (packed into ~100-token passes), every dataset through the master" \
	$CHK same "$T/one.h5" "$T/m.h5"
out=$($PY - "$T" <<'PYEOF'
import sys, h5py, numpy as np
d = sys.argv[1]
m = h5py.File(d + "/m.h5")
virt = [k for k in ("acts/blocks.0.mlp.hook_post", "acts/logits", "tokens/text", "prompts/text") if m[k].is_virtual]
ranges, sizes = [], []
for i in range(3):
    s = h5py.File("%s/s%d.h5" % (d, i))
    ranges.append((int(s.attrs["prompt_start"]), int(s.attrs["prompt_end"])))
    sizes.append(int(s["tokens/id"].shape[0]))
ok = len(virt) == 4 and ranges[0][0] == 0 and ranges[0][1] == ranges[1][0] and ranges[1][1] == ranges[2][0] \
     and ranges[2][1] == 300 and all(a < b for a, b in ranges)
print("master datasets are virtual (%d of 4 checked); shard prompt ranges %s, tokens %s (balanced within %.0f%%): %s"
      % (len(virt), ranges, sizes, 100 * (max(sizes) - min(sizes)) / (sum(sizes) / 3), ok))
sys.exit(0 if ok else 1)
PYEOF
) && ok "$out" || bad "$out"
# the --from commands read the master as a plain recording
"$FP" dot -m "$M" --from "$T/one.h5" --direction tok:Q --tsv >"$T/d1" 2>&1
"$FP" dot -m "$M" --from "$T/m.h5" --direction tok:Q --tsv >"$T/d2" 2>&1
cmp -s "$T/d1" "$T/d2" && [ -s "$T/d1" ] && ok "dot --from the master = dot --from one run ($(wc -l <"$T/d1") lines)" || bad "dot --from the master differs: $(head -3 "$T/d2")"
"$FP" top-examples -m "$M" --neuron 1.5 --from "$T/one.h5" -k 5 --tsv >"$T/t1" 2>&1
"$FP" top-examples -m "$M" --neuron 1.5 --from "$T/m.h5" -k 5 --tsv >"$T/t2" 2>&1
cmp -s "$T/t1" "$T/t2" && [ -s "$T/t1" ] && ok "top-examples --from the master = --from one run" || bad "top-examples --from the master differs: $(head -3 "$T/t2")"
# the master finds shards next to it when the directory moves
mkdir "$T/moved" && cp "$T/m.h5" "$T"/s[012].h5 "$T/moved/"
check "the master and its shards moved together still read as one run" $CHK same "$T/one.h5" "$T/moved/m.h5"

# a shard resumes after a kill like any recording
"$FP" "${REC[@]}" --shard 1/3 -o "$T/r1.h5" --dtype f32 --batch-tokens 0 &
pid=$!; sleep 0.05; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
"$FP" "${REC[@]}" --shard 1/3 -o "$T/r1.h5" --dtype f32 --batch-tokens 0 --resume 2>/dev/null || "$FP" "${REC[@]}" --shard 1/3 -o "$T/r1.h5" --dtype f32 --batch-tokens 0 --force
"$FP" "${REC[@]}" --shard 1/3 -o "$T/r1full.h5" --dtype f32 --batch-tokens 0
check "a shard killed and resumed equals the uninterrupted shard" $CHK same "$T/r1full.h5" "$T/r1.h5"
expect_error "resuming a shard as another shard" "cannot resume: it was recorded with shard = '1/3', this run has '2/3'" \
	"$FP" "${REC[@]}" --shard 2/3 -o "$T/r1.h5" --dtype f32 --batch-tokens 0 --resume

# --- merge refuses shards that do not belong together -------------------------
"$FP" "${REC[@]}" --shard 1/3 -m "$T/tiny-llama-q8.gguf" -o "$T/model.h5"
"$FP" "${REC[@]}" --shard 1/3 -p "$T/q.tsv" -o "$T/prompts.h5"
"$FP" "${REC[@]}" --shard 1/3 --hooks 'blocks.*.mlp.hook_post' -o "$T/hooks.h5"
"$FP" "${REC[@]}" --shard 1/3 --layers 1 -o "$T/layers.h5"
"$FP" "${REC[@]}" --shard 1/3 --dtype f32 -o "$T/dtype.h5"
"$FP" "${REC[@]}" --shard 0/2 -o "$T/two0.h5"
cp "$T/s1.h5" "$T/open.h5" && cp "$T/s1.h5" "$T/shift.h5"
$PY -c '
import h5py, sys
with h5py.File(sys.argv[1], "r+") as f: f.attrs["complete"] = 0
with h5py.File(sys.argv[2], "r+") as f:
    f.attrs["prompt_start"] -= 5; f.attrs["prompt_end"] -= 5' "$T/open.h5" "$T/shift.h5"
expect_error "another model" "not shards of one run: model_sha256" "$FP" merge "$T/x.h5" "$T/s0.h5" "$T/model.h5" "$T/s2.h5"
expect_error "another prompt file" "not shards of one run: prompts_sha256" "$FP" merge "$T/x.h5" "$T/s0.h5" "$T/prompts.h5" "$T/s2.h5"
expect_error "other hooks" "not shards of one run: hooks 'hook_embed," "$FP" merge "$T/x.h5" "$T/s0.h5" "$T/hooks.h5" "$T/s2.h5"
expect_error "other layers" "not shards of one run: hooks" "$FP" merge "$T/x.h5" "$T/s0.h5" "$T/layers.h5" "$T/s2.h5"
expect_error "another dtype" "not shards of one run: dtype 'f16' and 'f32'" "$FP" merge "$T/x.h5" "$T/s0.h5" "$T/dtype.h5" "$T/s2.h5"
expect_error "another shard count" "shard 0/2 of 300: not one run" "$FP" merge "$T/x.h5" "$T/two0.h5" "$T/s1.h5" "$T/s2.h5"
expect_error "a missing shard" "are in none of the shards given (before '$T/s2.h5', shard 2/3): a shard is missing" "$FP" merge "$T/x.h5" "$T/s0.h5" "$T/s2.h5"
expect_error "a missing last shard" "are in none of the shards given (after '$T/s1.h5')" "$FP" merge "$T/x.h5" "$T/s0.h5" "$T/s1.h5"
expect_error "overlapping prompt ranges" "'$T/s0.h5' (prompts 0-[0-9]*) and '$T/shift.h5' (prompts [0-9]*-[0-9]*) overlap" "$FP" merge "$T/x.h5" "$T/s0.h5" "$T/shift.h5" "$T/s2.h5"
expect_error "a shard given twice" "are both shard 1/3" "$FP" merge "$T/x.h5" "$T/s0.h5" "$T/s1.h5" "$T/s1.h5" "$T/s2.h5"
expect_error "an unfinished shard" "'$T/open.h5' is an unfinished shard" "$FP" merge "$T/x.h5" "$T/s0.h5" "$T/open.h5" "$T/s2.h5"
expect_error "a recording that is not a shard" "'$T/one.h5' is not a shard (recorded without --shard)" "$FP" merge "$T/x.h5" "$T/one.h5"
expect_error "not a file at all" "cannot open '$T/none.h5'" "$FP" merge "$T/x.h5" "$T/s0.h5" "$T/none.h5"
expect_error "existing output" "'$T/m.h5' already exists" "$FP" merge "$T/m.h5" "$T/s0.h5" "$T/s1.h5" "$T/s2.h5"
expect_error "bad --shard" "--shard takes I/N with 0 <= I < N" "$FP" "${REC[@]}" --shard 3/3 -o "$T/x.h5"
[ ! -e "$T/x.h5" ] && ok "refused merges leave no output file" || bad "a refused merge left $T/x.h5"

lib_finish
