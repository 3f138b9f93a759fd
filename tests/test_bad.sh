#!/usr/bin/env bash
# tests/test_bad.sh - the catalogue of hostile inputs (tests/bad/cases.tsv):
# for every file factprobe reads (models, prompt sets, direction files,
# recordings, result files fed to plot), broken or lying versions of real
# files, each with the exact first line of the error it must give.  The
# good files are made here (the tiny model, a real recording of it, real
# result files), tests/bad/make_bad.py derives the hostile ones, and each
# case must exit 1 or 2 with that line first on stderr, nothing on stdout,
# and no sanitizer report (under make asan).  Prints "test_bad: N passed, M
# failed".
set -u
. "$(dirname "$0")/lib.sh"
lib_init test_bad
FP="$PWD/$BUILD/factprobe" # the cases run in $T
export FACTPROBE_PLOTS=${FACTPROBE_PLOTS:-$PWD/plots}

"$BUILD/tests/make_tiny" "$T" >/dev/null
M="$T/tiny-llama.gguf"
printf 'id\tprompt\tsubject\ttarget\trelation\n' >"$T/set.tsv"
for i in 1 2 3; do
	printf 'j%d\tx%dyJ\tJ\tQ\tplant\n' $i $i >>"$T/set.tsv"
	printf 'w%d\tx%dyW\tW\tother\tplant\n' $i $i >>"$T/set.tsv"
done
"$FP" record -q -m "$M" -p "$T/set.tsv" -o "$T/rec.h5" --hooks 'blocks.*.mlp.hook_post,blocks.*.hook_resid_post' \
	--positions all 2>/dev/null
"$FP" dot -m "$M" "the abJ" --direction tok:Q -o "$T/dot.h5" >/dev/null
"$FP" lens -m "$M" "the abJ" --at all -k 2 -o "$T/lens.h5" >/dev/null
"$FP" trace -m "$M" "the abJ" --subject J --target Q --noise 20 --samples 2 -o "$T/trace.h5" >/dev/null
"$FP" neurons -m "$M" "the abJ" --target Q -k 12 -o "$T/neurons.h5" >/dev/null
"$FP" superposition --n 50 --dim 10 --steps 10 -o "$T/sup.h5" >/dev/null
for f in rec dot lens trace neurons sup; do
	[ -s "$T/$f.h5" ] || bad "the good file $f.h5 was not made"
done
if ! $PY tests/bad/make_bad.py "$T" 2>"$T/make_bad.err"; then
	bad "tests/bad/make_bad.py: $(tail -3 "$T/make_bad.err")"
fi

n=0
while IFS=$'\t' read -r name cmd want; do
	case $name in '#'* | '') continue ;; esac
	n=$((n + 1))
	# shellcheck disable=SC2086
	(cd "$T" && "$FP" $cmd >"$T/out" 2>"$T/err")
	rc=$?
	got=$(head -1 "$T/err")
	if [ "$rc" -ge 1 ] && [ "$rc" -le 2 ] && [ "$got" = "$want" ] && [ ! -s "$T/out" ] &&
		! grep -q -e 'Sanitizer' -e 'runtime error' "$T/err"; then
		ok "$name: exit $rc, \"$got\""
	else
		bad "$name: factprobe $cmd: exit $rc (want 1 or 2)"
		echo "     want: $want"
		echo "     got:  $(head -c 400 "$T/err")"
		[ -s "$T/out" ] && echo "     stdout: $(head -c 200 "$T/out")"
	fi
	rm -f "$T/o.h5" "$T/o.png" "$T/o.tsv"
done <tests/bad/cases.tsv
[ "$n" -ge 40 ] || bad "only $n cases in tests/bad/cases.tsv"
lib_finish
