#!/bin/sh
# make demo: the main job on the default model: what the model is, how it
# tokenizes the motivating prompt, what it predicts (bare and in a
# question-answer framing), a recording of the athletes set, and the neuron
# queries.  Causal tracing and figures come with later issues.
set -eu
FP=${1:-build/factprobe}
P="Michael Jordan plays the sport of"
Q="Q: What sport does Michael Jordan play?
A: This athlete plays the sport of"
echo "== factprobe info"
"$FP" info
echo
echo "== factprobe tokenize \"$P\""
"$FP" tokenize "$P"
echo
echo "== factprobe predict \"$P\""
"$FP" predict -k 5 "$P"
echo
echo "== factprobe predict (question-answer framing)"
"$FP" predict -k 5 "$Q"
echo
echo "== factprobe dot: cosine of the last token's residual with the ' basketball' unembedding, by layer"
"$FP" dot --at last --direction 'tok:" basketball"' "$Q"
echo
echo "== factprobe lens: where ' basketball' becomes the prediction"
"$FP" lens -k 3 --target " basketball" "$Q"
echo
echo "== factprobe neurons: top 10 by direct logit attribution, and what ablating them does"
"$FP" neurons -k 10 --target " basketball" --compare-random 20 "$Q"
echo
echo "== factprobe record: the athletes set (Q/A framing), every layer's MLP neurons and residual stream at each subject's last token"
mkdir -p out
"$FP" record -p datasets/athletes_sport_qa.tsv -o out/athletes.h5 --force --positions subject-last \
	--hooks 'blocks.*.mlp.hook_post,blocks.*.hook_resid_post'
echo
echo "== reading it back with h5py"
/usr/bin/python3 - out/athletes.h5 <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1])
print("%d prompts, %d datasets under /acts, complete=%d, model %s" %
      (f.attrs["n_prompts"], len(f["acts"]), f.attrs["complete"], f.attrs["model_file"]))
acts = f["acts/blocks.15.mlp.hook_post"][()].astype(np.float32)
sport = np.array([t.decode() for t in f["prompts/target"][()]])
bb = sport == " basketball"
diff = acts[bb].mean(0) - acts[~bb].mean(0)
top = np.argsort(-diff)[:5]
print("layer 15 neurons most active at the subject for basketball players (%d) vs other athletes (%d):" % (bb.sum(), (~bb).sum()))
for n in top:
    print("  neuron 15.%-5d mean %+.3f vs %+.3f" % (n, acts[bb, n].mean(), acts[~bb, n].mean()))
PY
echo
echo "== factprobe neurons --from: neurons selective for basketball players, checked on held-out athletes"
"$FP" neurons --from out/athletes.h5 --group-by target --group basketball -k 10
echo
echo "== factprobe top-examples: where the most selective neuron fires in the athletes set"
N=$("$FP" neurons --from out/athletes.h5 --group-by target --group basketball -k 1 --tsv | sed -n 2p | cut -f3,4 | tr '\t' .)
"$FP" top-examples --neuron "$N" -p datasets/athletes_sport_qa.tsv -k 8 --context 6
