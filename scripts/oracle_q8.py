#!/usr/bin/env python3
"""llama.cpp's logits on the two real models, for the --matmul q8 check
(test_oracle's q8 table).  llama.cpp (through llama-cpp-python) multiplies
each quantised weight matrix with activations quantised to 8 bits (Q8_K for
the K-quants, Q8_0 / Q8_1 for the others): what factprobe's q8 mode does, so
q8 should land closer to these logits than the exact mode.

Writes FIXTURE_DIR/llamacpp_q8.json: for each model (SmolLM2-135M Q4_1, ids
without BOS as llamacpp.json; Gemma-3-270M Q4_K_M, ids with its BOS as
llamacpp_gemma3.json) and each prediction prompt of oracle_inputs.json, the
256 largest logits at the last position ([id, logit], best first) and the
largest |logit| over the whole vocabulary.  The KV cache is f32, as in the
other fixtures.

Usage: oracle_q8.py SMOLLM2.gguf GEMMA.gguf FIXTURE_DIR"""
import json, os, sys
import numpy as np
import llama_cpp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oracle_common import load, logits, sha256

smol, gemma, out_dir = sys.argv[1:4]
inputs = json.load(open(os.path.join(out_dir, "oracle_inputs.json")))
TOP = 256

out = {"oracle": "llama.cpp via llama-cpp-python %s" % llama_cpp.__version__, "kv_cache": "f32",
       "note": "the %d largest logits at the last position of each prediction prompt, and max |logit|" % TOP,
       "models": []}
for path, bos in ((smol, False), (gemma, True)):
    llm = load(path, 512)
    runs = []
    for text in inputs["predict"]:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=bos, special=False)
        lg = logits(llm, ids)[-1].astype(np.float32)
        top = np.argsort(-lg, kind="stable")[:TOP]
        runs.append({"prompt": text, "ids": ids, "max_abs": float(np.abs(lg).max()),
                     "top": [[int(i), float(lg[i])] for i in top]})
    out["models"].append({"model": os.path.basename(path), "model_sha256": sha256(path), "bos": bos,
                          "predict": runs})
    del llm
json.dump(out, open(os.path.join(out_dir, "llamacpp_q8.json"), "w"), indent=0, ensure_ascii=False)
print("llama.cpp q8 fixtures: %s" % ", ".join("%s (%d prompts)" % (m["model"], len(m["predict"]))
                                               for m in out["models"]))
