#!/usr/bin/env bash
# tests/test_shard.sh - recording in pieces: `record --shard I/N` and `merge`
# against one uninterrupted run (every dataset through the master, read with
# h5py, value for value; --from commands on the master), the refusals of
# merge, and the same through mpirun (factprobe-mpi record, and trace -p
# spread over 2 ranks against one).
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
check "merge: the master's command_line is the merge command, record_command_line the shards' record command" $PY -c '
import h5py,shlex,sys; d=sys.argv[1]; m=h5py.File(d + "/m.h5").attrs; s=h5py.File(d + "/s0.h5").attrs
c, r = shlex.split(m["command_line"]), shlex.split(m["record_command_line"])
print("command_line %r; record_command_line %r" % (m["command_line"], m["record_command_line"][:60] + "..."))
sys.exit(0 if c[1:] == ["merge", d + "/m.h5", d + "/s2.h5", d + "/s0.h5", d + "/s1.h5"] and r[1] == "record"
         and m["record_command_line"] == s["command_line"] else 1)' "$T"
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

# --- MPI: mpirun -np 2 factprobe-mpi record ------------------------------------
MPI="$BUILD/factprobe-mpi"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# one BLAS thread in every process compared: OpenBLAS's results depend on its thread count
export OPENBLAS_NUM_THREADS=1
MPIRUN=(mpirun --oversubscribe -np 2)
# under the ASan build, OpenMPI's own allocations at init and exit are suppressed
# (full stacks are needed to see that they are OpenMPI's); factprobe's are still checked
case "$BUILD" in *asan*) export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0:malloc_context_size=40"
	export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$PWD/tests/lsan-mpi.supp" ;; esac
if [ ! -x "$MPI" ] || ! command -v mpirun >/dev/null; then
	bad "the MPI binary $MPI or mpirun is missing (scripts/setup-deps.sh installs OpenMPI; make builds it)"
	lib_finish
	exit
fi
"$FP" "${REC[@]}" -o "$T/one1.h5" || bad "single-process recording, one thread"
OPENBLAS_NUM_THREADS=2 "$FP" "${REC[@]}" -o "$T/thr.h5" --threads 1 || bad "record --threads 1"
check "record --threads 1 under OPENBLAS_NUM_THREADS=2 = a run at OPENBLAS_NUM_THREADS=1" $CHK same "$T/one1.h5" "$T/thr.h5"
expect_error "bad --threads" "--threads expects an integer from 1" "$FP" "${REC[@]}" -o "$T/x.h5" --threads 0
run "${MPIRUN[@]}" "$MPI" "${REC[@]}" -o "$T/mpi.h5"
[ "$RC" -eq 0 ] && ok "mpirun -np 2 record: exit 0" || bad "mpirun -np 2 record: exit $RC, $ERR $OUT"
check "mpirun -np 2 record = one process, every dataset through the master" $CHK same "$T/one1.h5" "$T/mpi.h5"
out=$($PY - "$T/mpi" <<'PYEOF'
import sys, h5py, numpy as np
a, b = (h5py.File("%s.shard-%d-of-2.h5" % (sys.argv[1], i)) for i in (0, 1))
ra = (int(a.attrs["prompt_start"]), int(a.attrs["prompt_end"]))
rb = (int(b.attrs["prompt_start"]), int(b.attrs["prompt_end"]))
m = h5py.File(sys.argv[1] + ".h5")
na, nb = a["rows/prompt"].shape[0], b["rows/prompt"].shape[0]
rp = m["rows/prompt"][()]
ok = ra[0] == 0 and ra[1] == rb[0] and rb[1] == 300 and 0 < na and 0 < nb and na + nb == len(rp) \
     and rp[:na].max() < ra[1] <= rp[na:].min() and a.attrs["shard"] == "0/2" and b.attrs["shard"] == "1/2" \
     and m.attrs["command_line"] == m.attrs["record_command_line"] == a.attrs["command_line"]
print("rank 0 holds prompts %s (%d rows), rank 1 %s (%d rows): disjoint, in order, complete; the master's command_line and record_command_line are the record command: %s" % (ra, na, rb, nb, ok))
sys.exit(0 if ok else 1)
PYEOF
) && ok "$out" || bad "$out"

# a rank that fails (its shard file is in the way): rank 0 names it, the other shard is whole
touch "$T/f.shard-1-of-2.h5"
run "${MPIRUN[@]}" "$MPI" "${REC[@]}" -o "$T/f.h5"
[ "$RC" -ne 0 ] && grep -q "rank 1 failed (exit 1): its shard 1/2 '$T/f.shard-1-of-2.h5' is unfinished; the other shards are intact" "$T/err" \
	&& [ ! -e "$T/f.h5" ] && ok "a failing rank: exit $RC, \"$(grep 'rank 1 failed' "$T/err")\", no master written" || bad "a failing rank: exit $RC, $ERR"
check "a failing rank: the other rank's shard is complete" $CHK consistent "$T/f.shard-0-of-2.h5"
grep -q "^factprobe record (rank 1 of 2): '$T/f.shard-1-of-2.h5' already exists" "$T/err" \
	&& ok "the failing rank's own error line names it: \"$(grep '(rank 1 of 2)' "$T/err")\"" || bad "the failing rank's error line: $ERR"
# an error every rank hits: one line per rank, each naming it; hints from rank 0 only
run "${MPIRUN[@]}" "$MPI" record -q -m "$T/none.gguf" -p "$T/p.tsv" -o "$T/nm.h5"
n0=$(grep -c "^factprobe record (rank 0 of 2): .*none.gguf" "$T/err")
n1=$(grep -c "^factprobe record (rank 1 of 2): .*none.gguf" "$T/err")
nall=$(grep -c "none.gguf" "$T/err")
nh=$(grep '^hint: ' "$T/err" | sort | uniq -d | wc -l)
[ "$RC" -ne 0 ] && [ "$n0" -eq 1 ] && [ "$n1" -eq 1 ] && [ "$nall" -eq 2 ] && [ "$nh" -eq 0 ] \
	&& ok "a missing model under mpirun: exit $RC, one line per rank naming it, no hint twice: \"$(grep -m1 'none.gguf' "$T/err")\"" \
	|| bad "a missing model under mpirun: exit $RC, lines for rank 0: $n0, rank 1: $n1, in all $nall, repeated hints $nh: $ERR"
# the global option before the command: every rank records its part
"$FP" --weights f32 "${REC[@]}" -o "$T/wf32.h5" || bad "--weights f32 record"
run "${MPIRUN[@]}" "$MPI" --weights f32 "${REC[@]}" -o "$T/mw.h5"
[ "$RC" -eq 0 ] && [ -f "$T/mw.shard-0-of-2.h5" ] && [ -f "$T/mw.shard-1-of-2.h5" ] \
	&& check "mpirun factprobe-mpi --weights f32 record (global option first): both ranks record, = one process" $CHK same "$T/wf32.h5" "$T/mw.h5" \
	|| bad "mpirun factprobe-mpi --weights f32 record: exit $RC, $(ls "$T" | grep mw), $ERR"

# a rank killed with SIGKILL mid-run: mpirun names it, the other rank stops and
# names its shard, both shards open; --resume completes them and equals one run
BIG=(record -q -m "$M" -p "$T/big.tsv" --dtype f32 --positions last --hooks 'blocks.*.mlp.hook_post,blocks.*.hook_resid_post')
$PY -c '
import random, sys
rnd = random.Random(3)
with open(sys.argv[1], "w") as f:
    f.write("prompt\tsubject\n")
    for i in range(8000):
        f.write("Michael Jordan plays the sport of %s %d\tMichael Jordan\n" % ("x" * rnd.randint(0, 9), i))' "$T/big.tsv"
"$FP" "${BIG[@]}" -o "$T/bigone.h5" || bad "single-process recording of 8000 prompts"
"${MPIRUN[@]}" "$MPI" "${BIG[@]}" -o "$T/k.h5" >"$T/k.out" 2>&1 &
mp=$!
killed=
for i in $(seq 1 200); do
	# both ranks past creating their shard (so past installing their SIGTERM handler)
	if [ -s "$T/k.shard-0-of-2.h5" ] && [ -s "$T/k.shard-1-of-2.h5" ]; then
		sleep 0.3
		for c in $(pgrep -P $mp); do
			tr '\0' '\n' <"/proc/$c/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1' && kill -9 "$c" && killed=$c
		done
		break
	fi
	sleep 0.05
done
wait $mp
rc=$?
n1=$($CHK summary "$T/k.shard-1-of-2.h5" | cut -d' ' -f1,2)
n0=$($CHK summary "$T/k.shard-0-of-2.h5" | cut -d' ' -f1,2)
# rank 0 either stopped mid-shard (and says so, naming its shard) or had
# finished its shard and was waiting for rank 1
r0="finished its shard ($n0) before the kill"
grep -q "rank 0 of 2 stopped before finishing its shard 0/2 '$T/k.shard-0-of-2.h5'" "$T/k.out" && r0="stopped and named its shard"
[ -n "$killed" ] && [ "$rc" -ne 0 ] && grep -q "process rank 1 .*exited on signal 9" "$T/k.out" \
	&& { [ "$r0" = "stopped and named its shard" ] || [ "${n0#* }" = 1 ]; } \
	&& [ "${n1#* }" = 0 ] && ok "rank 1 killed mid-run (its shard: n_prompts complete = $n1): exit $rc; mpirun: \"$(grep -o 'process rank 1 .*exited on signal 9' "$T/k.out")\"; rank 0 $r0" \
	|| bad "rank 1 killed mid-run: killed pid '$killed', exit $rc, shard 1: $n1, output: $(cat "$T/k.out")"
check "after the kill, shard 0 opens and its committed prompts are whole" $CHK consistent "$T/k.shard-0-of-2.h5"
check "after the kill, shard 1 opens and its committed prompts are whole" $CHK consistent "$T/k.shard-1-of-2.h5"
run "${MPIRUN[@]}" "$MPI" "${BIG[@]}" -o "$T/k.h5" --resume
[ "$RC" -eq 0 ] && ok "mpirun ... --resume: exit 0" || bad "mpirun --resume: exit $RC, $ERR"
check "killed, then --resume under mpirun: equals the uninterrupted single-process run" $CHK same "$T/bigone.h5" "$T/k.h5"

# --- MPI: the facts of trace -p spread over the ranks ---------------------------------
P="$T/tiny-llama-plant.gguf"
printf 'id\tprompt\tsubject\ttarget\trelation\n' >"$T/facts.tsv"
for i in $(seq 1 12); do printf 'k%d\tx%dyJ\tJ\tQ\tplant\n' $i $i >>"$T/facts.tsv"; printf 'u%d\tx%dyW\tW\tQ\tplant\n' $i $i >>"$T/facts.tsv"; done
TR=(trace -q -m "$P" -p "$T/facts.tsv" --noise 20 --window 1 --samples 3)
"$FP" "${TR[@]}" -o "$T/tr0.h5" >/dev/null 2>&1 || bad "trace -p, one process"
mpirun --oversubscribe -np 1 "$MPI" "${TR[@]}" -o "$T/tr1.h5" >/dev/null 2>&1 || bad "mpirun -np 1 trace -p"
run "${MPIRUN[@]}" "$MPI" "${TR[@]}" -o "$T/tr2.h5"
[ "$RC" -eq 0 ] || bad "mpirun -np 2 trace -p: exit $RC, $ERR"
out=$($PY - "$T" <<'PYEOF'
import sys, h5py, numpy as np
d = sys.argv[1]
f0, f1, f2 = (h5py.File("%s/tr%d.h5" % (d, i)) for i in (0, 1, 2))
names = []
f1.visit(lambda k: names.append(k) if isinstance(f1[k], h5py.Dataset) else None)
def same(a, b):
    return all(np.array_equal(a[k][()], b[k][()], equal_nan=a[k].dtype.kind == "f") for k in names)
ok = same(f1, f2) and same(f0, f2) and int(f2["mlp/n"][2]) == 12
for k in ("mean_high", "mean_low", "n_traced"):
    if k in f1.attrs:
        ok = ok and f1.attrs[k] == f2.attrs[k]
print("%d datasets (mean, se, n per kind); 2 ranks = 1 rank = one process, bit for bit: %s; mlp mean at the last subject token %s"
      % (len(names), ok, np.round(f2["mlp/mean"][2], 4)))
sys.exit(0 if ok else 1)
PYEOF
) && ok "trace -p under mpirun -np 2: $out" || bad "trace -p under mpirun: $out"
run "${MPIRUN[@]}" "$MPI" "${TR[@]}" --corrupt replace
[ "$RC" -ne 0 ] && grep -q "is traced with --corrupt replace by one process only" "$T/err" && ok "trace --corrupt replace under MPI: refused, exit $RC" || bad "trace --corrupt replace under MPI: exit $RC, $ERR"

lib_finish
