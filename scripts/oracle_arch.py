#!/usr/bin/env python3
"""Reference values from llama.cpp (through llama-cpp-python) for the newer
architectures.  Writes, in FIXTURE_DIR:

  llamacpp_arch.json + arch_logits.f32: the tiny synthetic models of
    tests/tiny.c (make_tiny writes them to TINY_DIR/arch/): token ids and the
    logits at every position of each tiny text;
  llamacpp_gemma3.json: on Gemma-3-270M (Q4_K_M), llama.cpp's token ids for
    the tokenizer test strings and the top-10 log-probabilities at the last
    position of the prediction prompts (with the model's BOS), both on the
    file itself and on its weights dequantised to F32 by gguf-py.

Usage: oracle_arch.py GEMMA.gguf TINY_DIR FIXTURE_DIR
(GEMMA.gguf "-": the tiny models' fixtures only)
KV cache in f32; llama.cpp does not expose per-layer residuals through
llama-cpp-python, so the fixtures hold logits only."""
import json, os, sys
import numpy as np
import llama_cpp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oracle_common import load, logits, log_softmax, sha256, tiny_runs, write_f32_copy

gemma, tiny_dir, out_dir = sys.argv[1:4]
inputs = json.load(open(os.path.join(out_dir, "oracle_inputs.json")))


version = "llama.cpp via llama-cpp-python %s" % llama_cpp.__version__
arch = {"oracle": version, "kv_cache": "f32"}
arch["tiny"], blob = tiny_runs(os.path.join(tiny_dir, "arch"), inputs["tiny_texts"])
json.dump(arch, open(os.path.join(out_dir, "llamacpp_arch.json"), "w"), indent=1, ensure_ascii=False)
blob.tofile(os.path.join(out_dir, "arch_logits.f32"))
print("llama.cpp tiny architecture fixtures: %d runs" % len(arch["tiny"]))
if gemma == "-":
    sys.exit(0)


def predictions(path):
    llm = load(path, 512)
    res = []
    for text in inputs["predict"]:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        lp = log_softmax(logits(llm, ids)[-1])
        top = np.argsort(-lp, kind="stable")[:10]
        res.append({"prompt": text, "ids": ids, "top": [[int(i), float(lp[i])] for i in top]})
    return llm, res


g = {"oracle": version, "model": os.path.basename(gemma), "model_sha256": sha256(gemma), "kv_cache": "f32",
     "tokenize": []}
llm, g["predict"] = predictions(gemma)
for text in inputs["tokenize"]:
    ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
    g["tokenize"].append({"text": text, "ids": ids})
del llm
f32_path = os.path.join(tiny_dir, "gemma-f32.gguf")
write_f32_copy(gemma, f32_path)
llm, pf = predictions(f32_path)
del llm
os.unlink(f32_path)
g["predict_f32"] = [{"prompt": p["prompt"], "top": p["top"]} for p in pf]
g["predict_f32_note"] = ("llama.cpp on Gemma-3-270M's weights dequantised to F32 by gguf-py "
                         "(exact f32 matrix products)")
json.dump(g, open(os.path.join(out_dir, "llamacpp_gemma3.json"), "w"), indent=1, ensure_ascii=False)
print("llama.cpp Gemma-3-270M fixtures: %d tokenizer cases, %d prompts" % (len(g["tokenize"]), len(g["predict"])))
