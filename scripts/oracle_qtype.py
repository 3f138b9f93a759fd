#!/usr/bin/env python3
"""llama.cpp's logits at every position on the tiny llama models with weights
of each quantised type that factprobe's --matmul q8 multiplies (tests/tiny.c,
tiny_qtype_named; make_tiny writes them to TINY_DIR/qtype/).  llama.cpp
multiplies each such matrix with activations quantised to 8 bits (Q8_K for
the K-quants, Q8_0 for Q4_0/Q5_0, Q8_1 for Q4_1/Q5_1, through its repacked
kernels where it repacks), so these pin q8 mode type by type (test_oracle).

Writes FIXTURE_DIR/llamacpp_qtype.json (runs: model, text, token ids,
offset and shape of its logits) and FIXTURE_DIR/llamacpp_qtype.f32 (the
logits).  KV cache in f32, as in the other fixtures.

Usage: oracle_qtype.py TINY_DIR FIXTURE_DIR"""
import json, os, sys
import llama_cpp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oracle_common import tiny_runs

tiny_dir, out_dir = sys.argv[1:3]
inputs = json.load(open(os.path.join(out_dir, "oracle_inputs.json")))
out = {"oracle": "llama.cpp via llama-cpp-python %s" % llama_cpp.__version__, "kv_cache": "f32"}
out["tiny"], blob = tiny_runs(os.path.join(tiny_dir, "qtype"), inputs["tiny_texts"])
json.dump(out, open(os.path.join(out_dir, "llamacpp_qtype.json"), "w"), indent=1, ensure_ascii=False)
blob.tofile(os.path.join(out_dir, "llamacpp_qtype.f32"))
print("llama.cpp tiny quantised-type fixtures: %d runs" % len(out["tiny"]))
