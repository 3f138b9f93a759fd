#!/usr/bin/env bash
# tests/tsan_record.sh - `make tsan`: record's writer thread under
# ThreadSanitizer (a build with -fsanitize=thread in build-tsan).  Records a
# few hundred prompts on the tiny model in small packs (many handovers
# between the forward thread and the writer, checkpoints every few packs):
# plain f16 and f32, gzip, --force over a recording, --resume after Ctrl-C,
# and a writer error (a file size limit), and the default model over the
# athletes set when it is cached.  Every run must finish as expected with no
# ThreadSanitizer report.
# Prints "tsan_record: N passed, M failed".  Env: BUILD (build-tsan),
# FACTPROBE_TEST_MODEL (the default model; skipped when absent).
set -u
BUILD=${BUILD:-build-tsan}
. "$(dirname "$0")/lib.sh"
lib_init tsan_record
CHK="$PY tests/check_record.py"
export TSAN_OPTIONS="halt_on_error=0 exitcode=66 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
# one BLAS thread: OpenBLAS is not instrumented, the threads under test are ours
export OPENBLAS_NUM_THREADS=1

"$BUILD/tests/make_tiny" "$T" >/dev/null
M="$T/tiny-llama.gguf"
$PY - "$T" <<'PYEOF'
import sys
with open(sys.argv[1] + "/p.tsv", "w") as f:
    f.write("prompt\tsubject\n")
    for i in range(400):
        f.write("Michael Jordan plays the sport of %s %d\tMichael Jordan\n" % ("x" * (i % 7), i))
PYEOF
REC=(record -q -m "$M" -p "$T/p.tsv" --batch-tokens 64 --hooks 'hook_embed,blocks.*.mlp.hook_post,blocks.*.hook_resid_post,logits')
reports=0
# tsan_run DESC WANT_RC ARGS...: runs factprobe (under ulimit -f $LIMIT when
# set), counts the reports
tsan_run() {
	local desc=$1 want=$2 rc n
	shift 2
	( [ -z "${LIMIT:-}" ] || ulimit -f "$LIMIT"; trap '' XFSZ; exec "$FP" "$@" ) 2>"$T/tsan.err"
	rc=$?
	n=$(grep -c '^WARNING: ThreadSanitizer' "$T/tsan.err")
	reports=$((reports + n))
	[ "$rc" -eq "$want" ] && [ "$n" -eq 0 ] && ok "$desc: exit $rc, 0 ThreadSanitizer reports" \
		|| { bad "$desc: exit $rc (want $want), $n ThreadSanitizer reports"; grep -A12 '^WARNING: ThreadSanitizer' "$T/tsan.err" | head -40; }
}
tsan_run "400 prompts, f16, packs of 64 tokens" 0 "${REC[@]}" -o "$T/a.h5"
check "the f16 recording" $CHK consistent "$T/a.h5"
tsan_run "f32, gzip 4" 0 "${REC[@]}" -o "$T/b.h5" --dtype f32 --compress 4
# --force over the first: the old file is freed on a background thread
tsan_run "--force over the f16 recording" 0 "${REC[@]}" -o "$T/a.h5" --force
# Ctrl-C halfway, then --resume
"$FP" "${REC[@]}" -o "$T/c.h5" 2>"$T/tsan.err" &
pid=$!
sleep 2
kill -INT "$pid"
wait "$pid"
rc=$?
n=$(grep -c '^WARNING: ThreadSanitizer' "$T/tsan.err")
reports=$((reports + n))
{ [ "$rc" -eq 130 ] || [ "$rc" -eq 0 ]; } && [ "$n" -eq 0 ] && ok "Ctrl-C: exit $rc, 0 ThreadSanitizer reports" || bad "Ctrl-C: exit $rc, $n reports"
tsan_run "--resume" 0 "${REC[@]}" -o "$T/c.h5" --resume
check "Ctrl-C then --resume equals the uninterrupted run" $CHK same "$T/c.h5" "$T/a.h5"
# an error on the writer thread
lim=$(( $(stat -c %s "$T/a.h5") / 2 / 1024 ))
LIMIT=$lim tsan_run "file size limit (an error on the writer thread)" 1 "${REC[@]}" -o "$T/d.h5"
check "after the writer error" $CHK consistent "$T/d.h5"
if [ -n "${FACTPROBE_TEST_MODEL:-}" ] && [ -f "$FACTPROBE_TEST_MODEL" ]; then
	tsan_run "the default model, athletes set (165 prompts), every MLP hook" 0 record -q -m "$FACTPROBE_TEST_MODEL" \
		-p datasets/athletes_sport.tsv -o "$T/e.h5" --hooks 'blocks.*.mlp.hook_pre,blocks.*.mlp.hook_post' --batch-tokens 256
fi
echo "ThreadSanitizer reports in all: $reports"
lib_finish
