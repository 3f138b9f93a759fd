#!/usr/bin/env bash
# tests/test_record.sh - `factprobe record` end to end on tiny models, checked
# with h5py (tests/check_record.py) rather than factprobe's own reader:
# values against an in-memory forward pass (bit for bit at f32, exact f16
# rounding), kill -9 at random points and --resume against an uninterrupted
# run, Ctrl-C, a full disk (ulimit -f) before a batch and inside the writer
# thread, bad prompt files, and h5dump -H of a
# small recording against tests/fixtures/record_h5dump.txt.
# Prints "test_record: N passed, M failed".  Env: BUILD.
set -u
. "$(dirname "$0")/lib.sh"
lib_init test_record
CHK="$PY tests/check_record.py"

"$BUILD/tests/make_tiny" "$T" >/dev/null
M="$T/tiny-llama.gguf"
# prompt sets: TSV with subjects, and the same prompts as plain text for dump_acts
$PY - "$T" <<'PYEOF'
import random, sys
d = sys.argv[1]
names = ["Michael Jordan", "Serena Williams", "Tom Brady", "the basketball player", "Wayne Gretzky", "Lionel Messi"]
rnd = random.Random(7)
def write(path, n):
    with open(path + ".tsv", "w") as f, open(path + ".txt", "w") as g:
        f.write("id\tprompt\tsubject\ttarget\trelation\n")
        for i in range(n):
            s = names[i % len(names)]
            p = "%s plays the sport of %s %d" % (s, "x" * rnd.randint(0, 5), i) if i % 3 else "Yes, %s plays the sport of" % s
            f.write("p%d\t%s\t%s\t basketball\tathlete_sport\n" % (i, p, s))
            g.write(p + "\n")
write(d + "/small", 40)
write(d + "/big", 20000)
PYEOF

# --- values: f32 bit for bit, f16 rounding --------------------------------
"$FP" record -q -m "$M" -p "$T/small.tsv" -o "$T/f32.h5" --dtype f32 --batch-tokens 0 \
	--hooks 'hook_embed,blocks.*.mlp.hook_post,blocks.1.hook_resid_post,ln_final.hook_normalized,logits' || bad "record f32"
"$FP" record -q -m "$M" -p "$T/small.tsv" -o "$T/f16.h5" --dtype f16 --compress 4 --batch-tokens 0 \
	--hooks 'blocks.*.mlp.hook_post,blocks.1.hook_resid_post' || bad "record f16"
for h in hook_embed blocks.0.mlp.hook_post blocks.1.mlp.hook_post blocks.1.hook_resid_post ln_final.hook_normalized logits; do
	"$BUILD/tests/dump_acts" "$M" "$T/small.txt" "$h" "$T/ref.f32" || bad "dump_acts $h"
	check "f32 $h" $CHK values "$T/f32.h5" "$h" "$T/ref.f32" f32
	case $h in blocks.*mlp*|blocks.1.hook_resid_post)
		check "f16 (gzip 4) $h" $CHK values "$T/f16.h5" "$h" "$T/ref.f32" f16 ;;
	esac
done
check "complete f32 recording" $CHK consistent "$T/f32.h5"
# packed passes (the default): equal to one-prompt passes up to float rounding
"$FP" record -q -m "$M" -p "$T/small.tsv" -o "$T/packed.h5" --dtype f32 --batch-tokens 100 --hooks 'blocks.1.hook_resid_post' || bad "record packed"
"$BUILD/tests/dump_acts" "$M" "$T/small.txt" blocks.1.hook_resid_post "$T/ref.f32"
check "packed into ~100-token passes" $CHK close "$T/packed.h5" blocks.1.hook_resid_post "$T/ref.f32" 1e-5
# positions: last and subject-last pick single rows
"$FP" record -q -m "$M" -p "$T/small.tsv" -o "$T/last.h5" --positions subject-last --dtype f32 --batch-tokens 0 || bad "record subject-last"
out=$($PY - "$T/last.h5" "$T/f32.h5" <<'PYEOF'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
ok = True
for i in range(len(a["prompts/text"])):
    span = a["prompts/subject_span"][i]
    toks = b["tokens/text"][b["prompts/token_start"][i]:][: b["prompts/n_tokens"][i]]
    subj = a["prompts/subject"][i].decode()
    ok &= a["prompts/n_rows"][i] == 1 and a["rows/position"][a["prompts/row_start"][i]] == span[1] - 1
    ok &= subj.split()[-1] in b"".join(toks[span[0]:span[1]]).decode()
    ok &= np.array_equal(a["acts/blocks.1.mlp.hook_post"][i], b["acts/blocks.1.mlp.hook_post"][b["prompts/row_start"][i] + span[1] - 1])
print("subject-last rows sit at each subject's last token and equal the all-positions rows:", bool(ok))
sys.exit(0 if ok else 1)
PYEOF
) && ok "$out" || bad "$out"

# --- --force: an existing plain file is unlinked (and freed on a background
# thread), not truncated in place; a symlink or a file with a second hard link
# is still overwritten in place.  Each ends equal to a fresh recording; a file
# open in another HDF5 process is refused.
FREC=(record -q -m "$M" -p "$T/small.tsv" --hooks 'blocks.*.mlp.hook_post')
"$FP" "${FREC[@]}" -o "$T/fresh.h5" || bad "record fresh"
cp "$T/f32.h5" "$T/old.h5" && cp "$T/f32.h5" "$T/target.h5" && cp "$T/f32.h5" "$T/hard.h5"
ln -s target.h5 "$T/link.h5" && ln "$T/hard.h5" "$T/hard2.h5"
exec 7<"$T/old.h5"  # the old file, held open: it stays readable as it was
"$FP" "${FREC[@]}" -o "$T/old.h5" --force && check "--force over a recording equals a fresh one" $CHK same "$T/old.h5" "$T/fresh.h5"
cmp -s /proc/$$/fd/7 "$T/f32.h5" && ok "--force: a reader of the old file still reads it whole" || bad "--force changed the old file under its reader"
exec 7<&-
"$FP" "${FREC[@]}" -o "$T/link.h5" --force && [ -L "$T/link.h5" ] && check "--force through a symlink: still a link, its target rewritten" $CHK same "$T/target.h5" "$T/fresh.h5" || bad "--force through a symlink"
"$FP" "${FREC[@]}" -o "$T/hard.h5" --force && check "--force on a file with two links: both names see the new recording" $CHK same "$T/hard2.h5" "$T/fresh.h5"
# a file h5py has open (HDF5 locks it): refused, and the reader's file untouched
# (H5Fcreate alone truncated it under the reader and then failed on the lock)
cp "$T/f32.h5" "$T/open.h5"
$PY -c 'import h5py, sys, time; f = h5py.File(sys.argv[1], "r"); open(sys.argv[2], "w").close(); time.sleep(60)' "$T/open.h5" "$T/opened" &
rpid=$!
for i in $(seq 300); do [ -e "$T/opened" ] && break; sleep 0.1; done
expect_error "--force on a file open in h5py" "open.h5' is open in another process" "$FP" "${FREC[@]}" -o "$T/open.h5" --force
kill "$rpid" && wait "$rpid" 2>/dev/null
check "--force refused: the open file is untouched" $CHK same "$T/open.h5" "$T/f32.h5"

# --- crash safety: kill -9 at random points, then --resume --------------------
REC=(record -q -m "$M" -p "$T/big.tsv" --dtype f32 --positions last --hooks 'blocks.*.mlp.hook_post,blocks.*.hook_resid_post')
"$FP" "${REC[@]}" -o "$T/full.h5" || bad "uninterrupted run"
start=$(date +%s.%N)
"$FP" "${REC[@]}" -o "$T/timing.h5" --force
dur=$(echo "$start $(date +%s.%N)" | awk '{print $2 - $1}')
killed=0
for i in 1 2 3 4 5; do
	# each resumed run has less left to do: kill within the first fifth of a full run
	delay=$(awk -v s="$RANDOM" -v d="$dur" 'BEGIN { srand(s); printf "%.3f", (0.03 + 0.15 * rand()) * d }')
	flag=""
	[ -f "$T/resumed.h5" ] && flag=--resume
	"$FP" "${REC[@]}" -o "$T/resumed.h5" $flag &
	pid=$!
	sleep "$delay"
	kill -9 "$pid" 2>/dev/null && killed=$((killed + 1))
	wait "$pid" 2>/dev/null
	check "kill -9 #$i after ${delay}s" $CHK consistent "$T/resumed.h5"
done
n_after=$($CHK summary "$T/resumed.h5" | cut -d' ' -f1)
[ "$killed" -ge 4 ] && [ "$n_after" -lt 20000 ] && ok "$killed of 5 runs were killed mid-run (a full run takes ${dur}s; $n_after of 20000 prompts done before the final resume)" || bad "only $killed runs were killed mid-run ($n_after prompts done)"
"$FP" "${REC[@]}" -o "$T/resumed.h5" --resume || bad "final --resume"
check "killed 5 times and resumed: equals the uninterrupted run" $CHK same "$T/resumed.h5" "$T/full.h5"

# Ctrl-C: stops cleanly, complete = 0, exit 130, resumable.  The signal goes
# halfway through a run as long as the timing run took; on a machine whose load
# changes, a run may finish first, so up to 3 tries with shorter delays.
for try in 1 2 3; do
	"$FP" "${REC[@]}" -o "$T/int.h5" --force &
	pid=$!
	sleep "$(awk -v d="$dur" -v t="$try" 'BEGIN { printf "%.3f", d / 2 / t }')"
	kill -INT "$pid"
	wait "$pid"
	rc=$?
	[ "$rc" -eq 0 ] || break
done
s=$($CHK summary "$T/int.h5")
[ "$rc" -eq 130 ] && [ "$(echo "$s" | cut -d' ' -f2)" = 0 ] && ok "SIGINT: exit 130, complete = 0, $(echo "$s" | cut -d' ' -f1) prompts kept" || bad "SIGINT: exit $rc, $s"
"$FP" "${REC[@]}" -o "$T/int.h5" --resume && check "SIGINT then --resume equals the uninterrupted run" $CHK same "$T/int.h5" "$T/full.h5"

# full disk: writes fail (ulimit -f), the file keeps its last checkpoint
# a limit of 80% of the finished file: some checkpoints fit, the rest does not
lim=$(( $(stat -c %s "$T/full.h5") * 8 / 10 / 1024 ))
( ulimit -f "$lim"; trap '' XFSZ; "$FP" "${REC[@]}" -o "$T/disk.h5" 2>"$T/disk.err" )
rc=$?
[ "$rc" -eq 1 ] && grep -q "disk.h5" "$T/disk.err" && ok "disk full: exit 1, \"$(head -1 "$T/disk.err")\"" || bad "disk full: exit $rc, $(cat "$T/disk.err")"
check "disk full: the file opens and its committed prompts are whole" $CHK consistent "$T/disk.h5"
[ "$($CHK summary "$T/disk.h5" | cut -d' ' -f1)" -gt 0 ] && ok "disk full: prompts before the full disk were kept" || bad "disk full: nothing was kept"
"$FP" "${REC[@]}" -o "$T/disk.h5" --resume && check "disk full then --resume equals the uninterrupted run" $CHK same "$T/disk.h5" "$T/full.h5"

# --- memory is flat in the number of prompts ----------------------------------
head -5001 "$T/big.tsv" >"$T/5k.tsv"  # past one batch of per-prompt tables (4096 prompts)
rss() { /usr/bin/time -f %M "$FP" record -q --force -m "$M" -p "$1" -o "$T/mem.h5" --dtype f32 \
	--hooks 'blocks.*.mlp.hook_post,blocks.*.hook_resid_post' 2>&1 >/dev/null | tail -1; }
# peak RSS of a run varies with the machine's load (a 5k run once peaked at 30 MB
# instead of 45 MB under a load of 12): measure the pair again before calling it growth
for try in 1 2 3; do
	r5k=$(rss "$T/5k.tsv")
	r20k=$(rss "$T/big.tsv")
	[ "$r20k" -le $((r5k * 12 / 10 + 4096)) ] && break
done
[ "$r20k" -le $((r5k * 12 / 10 + 4096)) ] && ok "peak RSS: $r5k KB for 5000 prompts, $r20k KB for 20000 (all positions)" \
	|| bad "peak RSS grows with the prompt count: $r5k KB for 5000, $r20k KB for 20000"

# --- the writer thread's errors ----------------------------------------------
# every position at f16, so each pass's rows wait in the writer's buffers while
# the next pass runs; the file size limit (a real EFBIG, as on a full disk) hits
# the writer midway: one error naming the file, exit 1, the committed prompts
# whole, and --resume (without the limit) equal to an uninterrupted run
WREC=(record -q -m "$M" -p "$T/5k.tsv" --dtype f16 --hooks 'blocks.*.mlp.hook_post,blocks.*.hook_resid_post')
"$FP" "${WREC[@]}" -o "$T/w-full.h5" || bad "uninterrupted all-positions run"
lim=$(( $(stat -c %s "$T/w-full.h5") / 2 / 1024 ))
( ulimit -f "$lim"; trap '' XFSZ; "$FP" "${WREC[@]}" -o "$T/w.h5" 2>"$T/w.err" )
rc=$?
n_err=$(grep -c '^factprobe record: ' "$T/w.err")
[ "$rc" -eq 1 ] && [ "$n_err" -eq 1 ] && grep -q "^factprobe record: '$T/w.h5'" "$T/w.err" \
	&& ok "file size limit on the writer thread: exit 1, one error naming the file: \"$(head -1 "$T/w.err")\"" \
	|| bad "file size limit on the writer thread: exit $rc, $n_err error lines: $(cat "$T/w.err")"
check "writer error: the file opens and its committed prompts are whole" $CHK consistent "$T/w.h5"
"$FP" "${WREC[@]}" -o "$T/w.h5" --resume && check "writer error then --resume equals the uninterrupted run" $CHK same "$T/w.h5" "$T/w-full.h5"

# --- bad input ------------------------------------------------------------
printf 'prompt\tsubject\nMichael Jordan plays\tMichael Jordan\nonly one column\n' >"$T/cols.tsv"
expect_error "missing column" "cols.tsv' line 3: 1 columns, but the header has 2" "$FP" record -m "$M" -p "$T/cols.tsv" -o "$T/b1.h5"
check "a bad line midway keeps the prompts before it" $CHK consistent "$T/b1.h5"
printf 'prompt\tsubject\nMichael Jordan plays\tMichael Jordn\n' >"$T/subj.tsv"
expect_error "subject not in prompt" "line 2, field 'subject': 'Michael Jordn' does not occur" "$FP" record -m "$M" -p "$T/subj.tsv" -o "$T/b2.h5"
printf 'prompt\nok line\nbad \xff line\nanother\n' >"$T/utf.tsv"
expect_error "bad UTF-8" "utf.tsv' line 3, field 'prompt': invalid UTF-8 at byte 4" "$FP" record -m "$M" -p "$T/utf.tsv" -o "$T/b3.h5"
printf '{"prompt": "fine"}\n{"prompt": 3}\n' >"$T/j.jsonl"
expect_error "JSONL field of the wrong type" "j.jsonl' line 2, field 'prompt': not a string" "$FP" record -m "$M" -p "$T/j.jsonl" -o "$T/b4.h5"
printf 'first\n\nthird\n' >"$T/blank.txt"
expect_error "empty line in a text set" "blank.txt' line 2, field 'prompt': empty" "$FP" record -m "$M" -p "$T/blank.txt" -o "$T/b5.h5"
"$FP" record -q -m "$M" -p "$T/utf.tsv" -o "$T/skip.h5" --skip-bad 2>"$T/e"
[ "$($CHK summary "$T/skip.h5" | cut -d' ' -f1)" = 2 ] && grep -q "1 malformed prompt lines skipped" "$T/e" && ok "--skip-bad: 2 prompts kept, the bad line counted" || bad "--skip-bad: $(cat "$T/e")"
expect_error "existing output" "'$T/f32.h5' already exists" "$FP" record -m "$M" -p "$T/small.tsv" -o "$T/f32.h5"
expect_error "resume with other options" "cannot resume: it was recorded with dtype = 'f32'" "$FP" record -m "$M" -p "$T/small.tsv" -o "$T/f32.h5" --resume --dtype f16 --hooks 'hook_embed,blocks.*.mlp.hook_post,blocks.1.hook_resid_post,ln_final.hook_normalized,logits'
expect_error "resume with other packing" "recorded with batch_tokens = '0', this run has '512'" "$FP" record -m "$M" -p "$T/small.tsv" -o "$T/f32.h5" --resume --dtype f32 --hooks 'hook_embed,blocks.*.mlp.hook_post,blocks.1.hook_resid_post,ln_final.hook_normalized,logits'
cp "$M" "$T/fake.h5"
expect_error "resuming a file that is not a recording" "is not an HDF5 file" "$FP" record -m "$M" -p "$T/small.tsv" -o "$T/fake.h5" --resume
# refused before starting: no file is created
expect_error "missing prompt file" "cannot open '$T/none.tsv'" "$FP" record -m "$M" -p "$T/none.tsv" -o "$T/x.h5"
expect_error "unknown hook" "'blocks.*.mlp.hook_postt' matches no hook" "$FP" record -m "$M" -p "$T/small.tsv" -o "$T/x.h5" --hooks 'blocks.*.mlp.hook_postt'
expect_error "layer out of range" "--layers '0-7' is not a range of blocks 0-1" "$FP" record -m "$M" -p "$T/small.tsv" -o "$T/x.h5" --layers 0-7
expect_error "subject positions without subjects" "needs a 'subject' column" "$FP" record -m "$M" -p "$T/small.txt" -o "$T/x.h5" --positions subject
expect_error "bad --dtype" "--dtype takes f16 or f32" "$FP" record -m "$M" -p "$T/small.tsv" -o "$T/x.h5" --dtype f64
[ ! -e "$T/x.h5" ] && ok "runs refused before starting leave no output file" || bad "a refused run left $T/x.h5"

# --- h5dump -H of a small recording -----------------------------------------
printf 'prompt\tsubject\ttarget\nMichael Jordan plays the sport of\tMichael Jordan\t basketball\nthe ball\tball\t is\n' >"$T/two.tsv"
"$FP" record -q -m "$M" -p "$T/two.tsv" -o "$T/two.h5" --hooks 'blocks.0.mlp.hook_post,ln_final.hook_normalized'
h5dump -H "$T/two.h5" | sed '1s/.*/HDF5 "two.h5" {/' >"$T/two.txt"
if [ -n "${UPDATE_EXPECTED:-}" ]; then cp "$T/two.txt" tests/fixtures/record_h5dump.txt; fi
diff -u tests/fixtures/record_h5dump.txt "$T/two.txt" >"$T/diff" && ok "h5dump -H matches tests/fixtures/record_h5dump.txt ($(wc -l <"$T/two.txt") lines)" || { bad "h5dump -H differs:"; head -30 "$T/diff"; }

lib_finish
