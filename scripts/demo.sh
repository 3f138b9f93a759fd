#!/bin/sh
# make demo: the main job on the default model.  For now (the runner issue):
# what the model is, how it tokenizes the motivating prompt, and what it
# predicts next, bare and in a question-answer framing.  Later issues add
# recording, neuron queries, causal tracing and figures here.
set -eu
FP=${1:-build/factprobe}
P="Michael Jordan plays the sport of"
Q="Q: What sport does Michael Jordan play?
A: Michael Jordan plays the sport of"
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
echo "== factprobe record: the athletes set, every layer's MLP neurons and residual stream at each subject's last token"
mkdir -p out
"$FP" record -p datasets/athletes_sport.tsv -o out/athletes.h5 --force --positions subject-last \
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
