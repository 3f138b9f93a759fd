#!/bin/sh
# make demo: the main job, end to end on a model ($FACTPROBE_MODEL; make
# demo runs Gemma-3-270M), for "Michael Jordan plays the sport of" as written
# when the model puts " basketball" first there, else in a question-answer
# framing (SmolLM2 needs it; see README):
#   the prediction; the prompt's activations recorded; the cosine with
#   tok:" basketball" across layers; the logit lens; the top neurons by DLA
#   and what ablating them does; the causal trace; over the athletes set, the
#   neurons selective for basketball and the averaged trace; the
#   superposition experiment.  Every figure lands in out/ with its TSV, and
#   out/report.md tells the story with the numbers.  Nothing outside out/
#   is written: the README's copies in docs/figures/ are updated on purpose
#   with `make docs-figures`.  DEMO_FAST=1 uses fewer
#   samples and steps (for tests).
set -eu
FP=${1:-build/factprobe}
OUT=${OUT:-out}
PY=/usr/bin/python3
Q='Q: What sport does Michael Jordan play?
A: This athlete plays the sport of'
BARE='Michael Jordan plays the sport of'
# the framing the model knows the fact in: the bare sentence if it can
if [ "$("$FP" predict -k 1 --tsv "$BARE" | sed -n 2p | cut -f3)" = " basketball" ]; then
	MAIN=$BARE ALT=$Q SET=datasets/athletes_sport.tsv FRAMING="bare prompt"
	MAIN_TSV='Michael Jordan plays the sport of'
else
	MAIN=$Q ALT=$BARE SET=datasets/athletes_sport_qa.tsv FRAMING="Q/A framing"
	MAIN_TSV='Q: What sport does Michael Jordan play?\nA: This athlete plays the sport of'
fi
if [ -n "${DEMO_FAST:-}" ]; then
	TRACE_SAMPLES=2 SET_LIMIT=2 SUP_N=2000 SUP_STEPS=60
else
	TRACE_SAMPLES=5 SET_LIMIT=8 SUP_N=10000 SUP_STEPS=100
fi
mkdir -p "$OUT"
T0=$(date +%s)
step() { echo; echo "== [$1/11, $(($(date +%s) - T0)) s] $2"; }

step 1 "the model, and what it predicts (the other framing, then the $FRAMING the demo uses)"
"$FP" info
"$FP" info --json >"$OUT/info.json"
"$FP" predict -k 5 "$ALT"
"$FP" predict -k 5 --json "$ALT" >"$OUT/predict-alt.json"
"$FP" predict -k 5 "$MAIN"
"$FP" predict -k 5 --json "$MAIN" >"$OUT/predict.json"

step 2 "record every layer's MLP neurons at every token of the prompt"
printf 'id\tprompt\tsubject\ttarget\nmj\t%s\tMichael Jordan\t basketball\n' "$MAIN_TSV" >"$OUT/mj.tsv"
"$FP" record -q -p "$OUT/mj.tsv" -o "$OUT/mj-acts.h5" --force --positions all --hooks 'blocks.*.mlp.hook_post'
"$FP" plot heatmap "$OUT/mj-acts.h5" -o "$OUT/fig-heatmap.png" --size page --top 24

step 3 "cosine of each layer's residual stream with tok:\" basketball\""
"$FP" dot --at last --direction 'tok:" basketball"' -o "$OUT/dot.h5" --force "$MAIN"
"$FP" plot dot "$OUT/dot.h5" -o "$OUT/fig-dot.png"
"$FP" plot dot "$OUT/dot.h5" -o "$OUT/fig-dot.pdf"

step 4 "the logit lens at every token"
"$FP" lens -k 3 --target " basketball" --json "$MAIN" >"$OUT/lens.json"
"$FP" lens -k 1 --at all -o "$OUT/lens.h5" --force "$MAIN" >/dev/null
"$FP" plot lens "$OUT/lens.h5" -o "$OUT/fig-lens.png" --size 7,4.5
$PY -c 'import json,sys; r=json.load(sys.stdin)["rows"]; print("rank of \" basketball\" by layer: " + " ".join("%s:%d" % (x["layer"], x["target_rank"]) for x in r))' <"$OUT/lens.json"

step 5 "the top neurons by direct logit attribution, and ablating them against random neurons"
"$FP" neurons -k 10 --target " basketball" --compare-random 20 -o "$OUT/neurons.h5" --force --json "$MAIN" >"$OUT/neurons.json"
$PY -c 'import json,math,sys; d=json.load(open(sys.argv[1])); c=d["compare_random"]; print("top 10 by DLA: " + " ".join("%d.%d" % (n["layer"], n["neuron"]) for n in d["neurons"])); print("ablating them: log p drops %.3f; 20 random draws from the same layers: mean %.4f, std %.4f" % (c["top_effect"], c["random_mean"], c["random_std"]))' "$OUT/neurons.json"
"$FP" plot top-neurons "$OUT/neurons.h5" -o "$OUT/fig-top-neurons.png"

step 6 "causal trace of the prompt ($TRACE_SAMPLES noise samples, all layers x tokens x 3 kinds)"
"$FP" trace --subject "Michael Jordan" --samples "$TRACE_SAMPLES" -o "$OUT/trace.h5" --force --json "$MAIN" >"$OUT/trace.json"
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print("p(answer) clean %.3f, corrupted %.3f; %d passes, %.3g token-layer evaluations (naive %.3g), %.1f s" % (d["high"], d["low"], d["forward_passes"], d["token_layer_evals"], d["token_layer_evals_naive"], d["seconds"]))' "$OUT/trace.json"
"$FP" plot trace "$OUT/trace.h5" -o "$OUT/fig-trace.png" --size page
"$FP" plot trace "$OUT/trace.h5" -o "$OUT/fig-trace.pdf" --size page

step 7 "record the athletes set ($FRAMING) at each subject's last token"
"$FP" record -q -p "$SET" -o "$OUT/athletes.h5" --force --positions subject-last \
	--hooks 'blocks.*.mlp.hook_post,blocks.*.hook_resid_post'

step 8 "neurons selective for basketball players, checked on held-out athletes"
"$FP" neurons --from "$OUT/athletes.h5" --group-by target --group basketball -k 10
"$FP" neurons --from "$OUT/athletes.h5" --group-by target --group basketball -k 10 --json >"$OUT/selective.json"
N=$($PY -c 'import json,sys; n=json.load(open(sys.argv[1]))["groups"][0]["neurons"][0]; print("%d.%d" % (n["layer"], n["neuron"]))' "$OUT/selective.json")
"$FP" plot distribution "$OUT/athletes.h5" -o "$OUT/fig-distribution.png" --neuron "$N" --group-by target --group basketball
"$FP" top-examples --neuron "$N" -p "$SET" -k 8 --context 6 --json >"$OUT/top-examples.json"
"$FP" top-examples --neuron "$N" -p "$SET" -k 8 --context 6

step 9 "the averaged MLP and attention traces over the athletes the model knows (the first $SET_LIMIT, one noise sample each)"
"$FP" trace -p "$SET" --limit "$SET_LIMIT" --samples 1 --kind mlp,attn -o "$OUT/trace-athletes.h5" --force --json \
	>"$OUT/trace-athletes.json"
"$FP" plot trace "$OUT/trace-athletes.h5" -o "$OUT/fig-trace-athletes.png" --size page

step 10 "superposition: $SUP_N unit vectors in 100 dimensions, and the model's own rows"
"$FP" superposition --n "$SUP_N" --dim 100 --steps "$SUP_STEPS" --model-rows --sample 4000 -o "$OUT/superposition.h5" --force
"$FP" superposition --n "$SUP_N" --dim 100 --steps 0 --json >"$OUT/superposition-random.json"
"$FP" plot angles "$OUT/superposition.h5" -o "$OUT/fig-angles.png"
"$FP" plot angles "$OUT/superposition.h5" -o "$OUT/fig-angles-mlp.png" --set mlp_out
"$FP" plot angles "$OUT/superposition.h5" -o "$OUT/fig-angles-unembed.png" --set unembed

step 11 "the report"
$PY scripts/demo_report.py "$OUT"
echo
echo "done in $(($(date +%s) - T0)) s: $OUT/report.md and $(ls "$OUT"/fig-*.png | wc -l) figures (PNG, with their TSV) in $OUT/"
