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
