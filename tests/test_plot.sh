#!/usr/bin/env bash
# tests/test_plot.sh - every `factprobe plot` kind rendered from small inputs
# (the planted tiny model's results, a tiny recording, a small
# superposition run) as PDF, PNG, SVG and cairolatex; each file is checked
# for its format's header and a non-trivial size, gnuplot must exit 0 and
# print nothing (no warnings), and the TSV beside each figure must hold the
# blocks and columns its plots/KIND.gp reads, with the input file's numbers
# (tests/check_plot_tsv.py, through h5py).  Then bad input, and superposition's numbers
# against facts known by construction.  Prints "test_plot: N passed, M failed".
set -u
. "$(dirname "$0")/lib.sh"
lib_init test_plot
# header of each format
magic_ok() {
	case "$1" in
	*.pdf) head -c 5 "$1" | grep -q '%PDF-' ;;
	*.png) [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] ;;
	*.svg) head -c 400 "$1" | grep -q '<svg' && tail -c 20 "$1" | grep -q '</svg>' ;;
	*.tex) grep -q 'includegraphics' "$1" && head -c 5 "${1%.tex}.pdf" | grep -q '%PDF-' ;;
	esac
}
# render KIND INPUT FIG [options]: exit 0, no gnuplot output, header, size, TSV beside
render() {
	local kind=$1 in=$2 fig=$3
	shift 3
	run "$FP" plot "$kind" "$in" -o "$fig" "$@"
	local size
	size=$(stat -c %s "$fig" 2>/dev/null || echo 0)
	if [ "$RC" -eq 0 ] && [ ! -s "$T/err" ] && magic_ok "$fig" && [ "$size" -gt 2000 ] && [ -s "${fig%.*}.tsv" ]; then
		ok "plot $kind -> $(basename "$fig"): exit 0, no gnuplot messages, valid header, $size bytes, data in $(basename "${fig%.*}.tsv")"
	else
		bad "plot $kind -> $fig: exit $RC, $size bytes, stderr: $(cat "$T/err")"
	fi
}

"$BUILD/tests/make_tiny" "$T" >/dev/null
M="$T/tiny-llama-plant.gguf"
printf 'id\tprompt\tsubject\ttarget\trelation\n' >"$T/set.tsv"
for i in 1 2 3 4 5 6 7 8; do
	printf 'j%d\tx%dyJ\tJ\tQ\tplant\n' $i $i >>"$T/set.tsv"
	printf 'w%d\tx%dyW\tW\tother\tplant\n' $i $i >>"$T/set.tsv"
done
"$FP" dot -m "$M" "the abJ" --direction tok:Q -o "$T/dot.h5" >/dev/null
"$FP" dot -m "$M" -p "$T/set.tsv" --direction tok:Q -o "$T/dotset.h5" >/dev/null
"$FP" lens -m "$M" "the abJ" --at all -k 2 -o "$T/lens.h5" >/dev/null
"$FP" trace -m "$M" "the abJ" --subject J --target Q --noise 20 --samples 2 -o "$T/trace.h5" >/dev/null
"$FP" trace -m "$M" -p "$T/set.tsv" --noise 20 --samples 2 --window 1 -o "$T/traceset.h5" >/dev/null
"$FP" neurons -m "$M" "the abJ" --target Q -k 12 -o "$T/neurons.h5" >/dev/null
"$FP" record -m "$M" -p "$T/set.tsv" -o "$T/all.h5" --hooks 'blocks.*.mlp.hook_post' --positions all 2>/dev/null
"$FP" record -m "$M" -p "$T/set.tsv" -o "$T/last.h5" --hooks 'blocks.*.mlp.hook_post' --positions subject-last 2>/dev/null
"$FP" superposition --n 300 --dim 20 --steps 30 -o "$T/sup.h5" >/dev/null
for f in dot dotset lens trace traceset neurons all last sup; do
	[ -s "$T/$f.h5" ] || bad "input $f.h5 was not made"
done

# tsv_ok KIND FIG INPUT [opts]: the TSV beside FIG holds what plots/KIND.gp reads, with the input's numbers
tsv_ok() {
	local kind=$1 fig=$2 in=$3
	shift 3
	check "plot $kind: $(basename "${fig%.*}.tsv") has the blocks and columns $kind.gp reads" \
		$PY tests/check_plot_tsv.py "$kind" "${fig%.*}.tsv" "$in" "$@"
}
render dot "$T/dot.h5" "$T/dot.pdf"
tsv_ok dot "$T/dot.pdf" "$T/dot.h5"
render dot "$T/dot.h5" "$T/dot-dot.png" --value dot
tsv_ok dot "$T/dot-dot.png" "$T/dot.h5" value=dot
render dot "$T/dotset.h5" "$T/dotset.svg" --size page
tsv_ok dot "$T/dotset.svg" "$T/dotset.h5"
render lens "$T/lens.h5" "$T/lens.png" --size page
render lens "$T/lens.h5" "$T/lens.pdf"
tsv_ok lens "$T/lens.pdf" "$T/lens.h5"
# control bytes in the tokens: the TSV beside the figure escapes them as a table cell does (\xNN)
"$FP" lens -m "$M" $'a\x01b\x1f' --at all -k 2 -o "$T/lensctl.h5" >/dev/null
render lens "$T/lensctl.h5" "$T/lensctl.svg"
check "plot lens of a prompt with the bytes 01 and 1F: its TSV has no raw control byte, the token rows read \\x01 and \\x1f" $PY - "$T/lensctl.tsv" <<'PY'
import sys
raw = open(sys.argv[1], "rb").read()
ctl = sorted({b for b in raw if (b < 0x20 and b not in (9, 10)) or b == 0x7f})
print("raw control bytes %s; %d cells \\x1f" % (ctl, raw.count(b"\\x1f")))
sys.exit(0 if not ctl and b"\n1\t\\x01\n" in raw and b"\n3\t\\x1f\n" in raw else 1)
PY
render trace "$T/trace.h5" "$T/trace.pdf" --size page
render trace "$T/trace.h5" "$T/trace.png" --size 7,3
render trace "$T/traceset.h5" "$T/traceset.svg" --size page
tsv_ok trace "$T/traceset.svg" "$T/traceset.h5"
render trace "$T/trace.h5" "$T/trace.tex" --size page
tsv_ok trace "$T/trace.tex" "$T/trace.h5"
render top-neurons "$T/neurons.h5" "$T/top.pdf"
render top-neurons "$T/neurons.h5" "$T/top.png"
tsv_ok top-neurons "$T/top.png" "$T/neurons.h5"
render heatmap "$T/all.h5" "$T/heat.pdf" --prompt 0 --top 10
tsv_ok heatmap "$T/heat.pdf" "$T/all.h5" prompt=0
render heatmap "$T/all.h5" "$T/heat.svg" --neurons 1.5,0.3,1.7
tsv_ok heatmap "$T/heat.svg" "$T/all.h5" neurons=1.5,0.3,1.7
render distribution "$T/last.h5" "$T/dist.pdf" --neuron 1.5 --group-by target --group Q
render distribution "$T/last.h5" "$T/dist.png" --neuron 1.5 --group-by target --group Q
tsv_ok distribution "$T/dist.png" "$T/last.h5"
# a group with a tab and the byte 01 in its name: the TSV header names it as a plain cell (\t, \x01), one cell
printf '{"prompt":"x1yJ","subject":"J","target":"Q\\t\\u0001z"}\n{"prompt":"x2yW","subject":"W","target":"other"}\n' >"$T/ctl.jsonl"
"$FP" record -m "$M" -p "$T/ctl.jsonl" -o "$T/ctl.h5" --hooks 'blocks.*.mlp.hook_post' --positions subject-last 2>/dev/null
"$FP" plot distribution "$T/ctl.h5" -o "$T/distctl.svg" --neuron 1.5 --group-by target --group $'Q\t\x01z' >/dev/null 2>&1
check "plot distribution of a group named Q<tab><01>z: its TSV header has 3 cells and no raw control byte" $PY - "$T/distctl.tsv" <<'PY'
import sys
head = [l for l in open(sys.argv[1], "rb") if not l.startswith(b"#")][0]
ctl = sorted({c for c in head if c < 32 and c not in (9, 10)})
print("header %r, raw control bytes %s" % (head, ctl))
sys.exit(0 if not ctl and head == b"activation\tQ\\t\\x01z (1)\tothers (1)\n" else 1)
PY
render angles "$T/sup.h5" "$T/angles.pdf"
render angles "$T/sup.h5" "$T/angles.svg"
tsv_ok angles "$T/angles.svg" "$T/sup.h5"
check_tsv() {
	$PY - "$@" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip() and not l.startswith("#")]
print("%d rows" % len(rows)); sys.exit(0 if len(rows) > 3 else 1)
PY
}
out=$(check_tsv "$T/trace.tsv") && ok "the trace figure's TSV holds its numbers ($out)" || bad "trace.tsv: $out"

# bad input
expect_error "unknown kind" "unknown kind 'pie'" "$FP" plot pie "$T/dot.h5" -o "$T/x.pdf"
expect_error "a result of another kind" "is not a trace result" "$FP" plot trace "$T/dot.h5" -o "$T/x.pdf"
expect_error "an unknown figure format" "must end in .pdf, .png, .svg or .tex" "$FP" plot dot "$T/dot.h5" -o "$T/x.jpg"
expect_error "a missing input" "cannot open '$T/none.h5'" "$FP" plot dot "$T/none.h5" -o "$T/x.pdf"
expect_error "a bad --size" "--size takes column, page or W,H" "$FP" plot dot "$T/dot.h5" -o "$T/x.pdf" --size huge
expect_error "distribution without its options" "needs --neuron" "$FP" plot distribution "$T/last.h5" -o "$T/x.pdf"
expect_error "heatmap of a recording without every position" "record it with --positions all" "$FP" plot heatmap "$T/last.h5" -o "$T/x.pdf"
mkdir -p "$T/nogp"
ln -s "$(command -v dirname)" "$T/nogp/dirname"
expect_error "gnuplot missing" "gnuplot is not installed" env PATH="$T/nogp" "$FP" plot dot "$T/dot.h5" -o "$T/x.pdf"
expect_error "plots directory missing" "cannot read '/nonexistent/dot.gp'" env FACTPROBE_PLOTS=/nonexistent "$FP" plot dot "$T/dot.h5" -o "$T/x.pdf"
cp -r plots "$T/badplots"
echo 'plot sin(x) with nonsense' >>"$T/badplots/dot.gp"
run env FACTPROBE_PLOTS="$T/badplots" "$FP" plot dot "$T/dot.h5" -o "$T/x.pdf"
[ "$RC" -eq 1 ] && grep -q '^gnuplot: ' "$T/err" && grep -q "gnuplot failed" "$T/err" \
	&& ok "a gnuplot error is shown and fails the command: $(grep '^gnuplot: ' "$T/err" | tail -1)" || bad "gnuplot error: $RC $(cat "$T/err")"

# superposition: facts known by construction
run "$FP" superposition --n 50 --dim 100 --steps 100 --json
check "superposition with N <= D: the vectors become orthogonal (Welch bound 90)" $PY -c '
import json,sys; s=json.load(open(sys.argv[1]))[0]; print("worst pair %.3f degrees, bound %.1f" % (s["worst_pair_deg"], s["welch_bound_deg"]))
sys.exit(0 if s["worst_pair_deg"] > 89.5 and s["welch_bound_deg"] == 90 else 1)' "$T/out"
run "$FP" superposition --n 1000 --dim 50 --steps 0 --json
"$FP" superposition --n 1000 --dim 50 --steps 150 --json >"$T/opt.json" 2>/dev/null
check "superposition: optimising beats the random start, and no set beats the Welch bound" $PY -c '
import json,sys; a=json.load(open(sys.argv[1]))[0]; b=json.load(open(sys.argv[2]))[0]
print("worst pair: random %.2f, optimised %.2f, Welch bound %.2f degrees (N=1000, D=50)" % (a["worst_pair_deg"], b["worst_pair_deg"], b["welch_bound_deg"]))
sys.exit(0 if b["worst_pair_deg"] > a["worst_pair_deg"] + 5 and b["worst_pair_deg"] <= b["welch_bound_deg"] + 1e-9 else 1)' "$T/out" "$T/opt.json"
run "$FP" superposition --n 1000 --dim 10 --steps 0 --json
check "superposition: random unit vectors have mean cos^4 = 3/(D(D+2)) (measured within 3%)" $PY -c '
import json,sys; s=json.load(open(sys.argv[1]))[0]; e=3/(10*12)
print("mean cos^4 %.5f, expected %.5f, relative difference %.4f (tolerance 0.03)" % (s["mean_cos4"], e, abs(s["mean_cos4"]/e-1)))
sys.exit(0 if abs(s["mean_cos4"]/e-1) < 0.03 else 1)' "$T/out"
run "$FP" superposition --n 400 --dim 10 --steps 200 --json
check "superposition: no set beats the fourth-moment bound, nor goes below the least mean cos^4" $PY -c '
import json,sys; s=json.load(open(sys.argv[1]))[0]
print("N=400, D=10: worst pair %.2f, fourth-moment bound %.2f, Welch %.2f degrees; mean cos^4 %.6f >= least %.6f" % (s["worst_pair_deg"], s["moment4_bound_deg"], s["welch_bound_deg"], s["mean_cos4"], s["min_mean_cos4"]))
sys.exit(0 if s["moment4_bound_deg"] < s["welch_bound_deg"] and s["worst_pair_deg"] <= s["moment4_bound_deg"] and s["mean_cos4"] >= s["min_mean_cos4"] * (1 - 1e-5) else 1)' "$T/out"
check "superposition -o: h5py reads the histograms; densities integrate to 1" $PY -c '
import h5py,sys,numpy as np; f=h5py.File(sys.argv[1]); g=f["optimized"]
a=g["pairwise_density"][()].sum()*0.1; b=g["nearest_density"][()].sum()*0.1; s=g["summary"][()]
print("integrals %.6f %.6f; summary %s" % (a, b, s)); sys.exit(0 if abs(a-1) < 1e-9 and abs(b-1) < 1e-9 and s[0] == 300 and len(s) == 8 else 1)' "$T/sup.h5"
expect_error "superposition: bad --n" "--n expects an integer" "$FP" superposition --n 1
run "$FP" superposition --help
[ "$RC" -eq 0 ] && grep -q "Welch" "$T/out" && ok "superposition --help explains the bound" || bad "superposition --help"
run "$FP" plot --help
[ "$RC" -eq 0 ] && grep -q "^usage: factprobe plot" "$T/out" && ok "plot --help" || bad "plot --help"

lib_finish
