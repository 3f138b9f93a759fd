#!/usr/bin/env python3
"""Reference values from llama.cpp (through llama-cpp-python), an implementation
we did not write.  Writes tests/fixtures/llamacpp.json and tiny_logits.f32:

  * token ids of the tokenizer test strings on the default model (and on the
    tiny byte-level BPE and SentencePiece test models),
  * the top-10 log-probabilities at the last position for the prediction prompts,
  * full logits at every position for the tiny synthetic models of tests/tiny.c.

Usage: oracle_llamacpp.py MODEL.gguf TINY_DIR FIXTURE_DIR
The KV cache is kept in f32 (type_k/type_v) so that the only systematic
difference left is llama.cpp's 8-bit quantisation of activations in its
quantised matrix products."""
import json, os, sys
import numpy as np
import llama_cpp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oracle_common import load, logits, log_softmax, sha256, write_f32_copy

model, tiny_dir, out_dir = sys.argv[1:4]
inputs = json.load(open(os.path.join(out_dir, "oracle_inputs.json")))


out = {"oracle": "llama.cpp via llama-cpp-python %s" % llama_cpp.__version__,
       "model": os.path.basename(model), "model_sha256": sha256(model),
       "kv_cache": "f32", "tokenize": [], "predict": [], "tiny": []}

llm = load(model, 512)
for text in inputs["tokenize"]:
    ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
    out["tokenize"].append({"text": text, "ids": ids})
for text in inputs["predict"]:
    ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
    lp = log_softmax(logits(llm, ids)[-1])
    top = np.argsort(-lp, kind="stable")[:10]
    out["predict"].append({"prompt": text, "ids": ids,
                           "top": [[int(i), float(lp[i])] for i in top]})
del llm

blob = []
offset = 0
for name in sorted(os.listdir(tiny_dir)):
    if not name.endswith(".gguf"):
        continue
    llm = load(os.path.join(tiny_dir, name), 64)
    for text in inputs["tiny_texts"]:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        ids_bos = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        lg = logits(llm, ids).astype(np.float32)
        blob.append(lg.ravel())
        out["tiny"].append({"model": name, "text": text, "ids": ids, "ids_with_bos": ids_bos,
                            "offset": offset, "shape": list(lg.shape)})
        offset += lg.size
    del llm

json.dump(out, open(os.path.join(out_dir, "llamacpp.json"), "w"), indent=1, ensure_ascii=False)
np.concatenate(blob).astype("<f4").tofile(os.path.join(out_dir, "tiny_logits.f32"))
print("llama.cpp fixtures: %d tokenizer cases, %d prompts, %d tiny runs" %
      (len(out["tokenize"]), len(out["predict"]), len(out["tiny"])))


# The same weights dequantised to F32 by the gguf package (another
# implementation we did not write): llama.cpp then computes in f32, with no
# activation quantisation, and should agree with factprobe to float rounding.


f32_path = os.path.join(tiny_dir, "default-f32.gguf")
write_f32_copy(model, f32_path)
llm = load(f32_path, 512)
out["predict_f32"] = []
for p in out["predict"]:
    lp = log_softmax(logits(llm, p["ids"])[-1])
    top = np.argsort(-lp, kind="stable")[:10]
    out["predict_f32"].append({"prompt": p["prompt"], "top": [[int(i), float(lp[i])] for i in top]})
del llm
os.unlink(f32_path)
out["predict_f32_note"] = ("llama.cpp on the default model's weights dequantised to F32 by gguf-py "
                           "(exact f32 matrix products)")
json.dump(out, open(os.path.join(out_dir, "llamacpp.json"), "w"), indent=1, ensure_ascii=False)
print("llama.cpp F32-copy predictions: %d" % len(out["predict_f32"]))


# Random blocks of every quantised type, dequantised by gguf-py's own code:
# an independent check of factprobe's dequantisation on arbitrary bit
# patterns (the hand-computed blocks in tests/test_quant.c check the layouts).
def random_blocks():
    from gguf import GGMLQuantizationType as Q
    from gguf.constants import GGML_QUANT_SIZES
    from gguf.quants import dequantize
    rng = np.random.default_rng(1234)
    # byte offsets of the fp16 scale fields, set to sane values (random bits can be inf/nan)
    f16_fields = {"Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
                  "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208]}
    res, blob, off = [], [], 0
    for name, fields in f16_fields.items():
        qt = Q[name]
        be, bb = GGML_QUANT_SIZES[qt]
        nblk = 4
        raw = rng.integers(0, 256, size=(nblk, bb), dtype=np.uint8)
        for b in range(nblk):
            for f in fields:
                raw[b, f:f + 2] = np.frombuffer(np.float16(rng.uniform(-2, 2)).tobytes(), np.uint8)
        x = dequantize(raw.reshape(-1), qt).astype(np.float32).ravel()
        res.append({"type": name, "n": int(x.size), "bytes": raw.reshape(-1).tobytes().hex(), "offset": off})
        blob.append(x)
        off += x.size
    return res, np.concatenate(blob)


out["dequant"], deq = random_blocks()
out["dequant_note"] = "random blocks dequantised by gguf-py; values in dequant.f32 at 'offset'"
deq.astype("<f4").tofile(os.path.join(out_dir, "dequant.f32"))
json.dump(out, open(os.path.join(out_dir, "llamacpp.json"), "w"), indent=1, ensure_ascii=False)
print("gguf-py dequantisation of random blocks: %d types" % len(out["dequant"]))
