#!/usr/bin/env python3
"""Reference values from Hugging Face transformers loading the same GGUF
(dequantised to f32 by the gguf package): an implementation we did not write
that, unlike llama.cpp, exposes every layer's residual stream.  Reads the
token ids from llamacpp.json so both oracles see the same inputs, and writes
tests/fixtures/hf.json and hf.f32:

  * the top-10 log-probabilities at the last position for every prediction prompt,
  * hidden_states for the "hidden" prompts at every position: index 0 is the
    embedding (blocks.0.hook_resid_pre), index l (1..n_layers-1) is
    blocks.(l-1).hook_resid_post, the last is ln_final.hook_normalized
    (transformers applies the final norm before storing it).

  * logits at every position of the tiny gpt2 model tiny-gpt2-hf.gguf
    (written by tests/make_tiny), for the same token ids llama.cpp saw.

Usage: oracle_hf.py MODEL.gguf TINY_DIR FIXTURE_DIR"""
import json, os, sys
import numpy as np
import torch
import transformers
from gguf import GGUFReader
from transformers import AutoModelForCausalLM

model, tiny_dir, out_dir = sys.argv[1:4]
ref = json.load(open(os.path.join(out_dir, "llamacpp.json")))
inputs = json.load(open(os.path.join(out_dir, "oracle_inputs.json")))
torch.set_num_threads(2)
m = AutoModelForCausalLM.from_pretrained(os.path.dirname(model), gguf_file=os.path.basename(model),
                                         torch_dtype=torch.float32)
if "output.weight" not in {t.name for t in GGUFReader(model).tensors}:
    # tied unembedding: transformers 4.46 leaves lm_head uninitialised for such a GGUF
    m.lm_head.weight = m.model.embed_tokens.weight
m.eval()

out = {"oracle": "transformers %s, torch %s" % (transformers.__version__, torch.__version__),
       "model": os.path.basename(model), "predict": [], "hidden": []}
blob, offset = [], 0
ids_of = {p["prompt"]: p["ids"] for p in ref["predict"]}
with torch.no_grad():
    for p in ref["predict"]:
        r = m(torch.tensor([p["ids"]]), output_hidden_states=True)
        lp = torch.log_softmax(r.logits[0, -1].double(), -1).numpy()
        top = np.argsort(-lp, kind="stable")[:10]
        out["predict"].append({"prompt": p["prompt"], "ids": p["ids"],
                               "top": [[int(i), float(lp[i])] for i in top]})
        if p["prompt"] in inputs["hidden"]:
            hs = torch.stack(r.hidden_states)[:, 0].numpy().astype(np.float32)  # [L+1, T, D]
            blob.append(hs.ravel())
            out["hidden"].append({"prompt": p["prompt"], "ids": p["ids"], "offset": offset,
                                  "shape": list(hs.shape)})
            offset += hs.size

tiny = AutoModelForCausalLM.from_pretrained(tiny_dir, gguf_file="tiny-gpt2-hf.gguf", torch_dtype=torch.float32)
if tiny.lm_head.weight.data_ptr() != tiny.transformer.wte.weight.data_ptr():
    tiny.lm_head.weight = tiny.transformer.wte.weight  # tied, as above
tiny.eval()
out["tiny"] = []
with torch.no_grad():
    for e in ref["tiny"]:
        if e["model"] != "tiny-gpt2-hf.gguf":
            continue
        lg = tiny(torch.tensor([e["ids"]])).logits[0].numpy().astype(np.float32)
        out["tiny"].append({"model": e["model"], "text": e["text"], "ids": e["ids"], "offset": offset,
                            "shape": list(lg.shape)})
        blob.append(lg.ravel())
        offset += lg.size

json.dump(out, open(os.path.join(out_dir, "hf.json"), "w"), indent=1, ensure_ascii=False)
np.concatenate(blob).astype("<f4").tofile(os.path.join(out_dir, "hf.f32"))
print("transformers fixtures: %d prompts, %d hidden-state sets, %d tiny gpt2 runs" %
      (len(out["predict"]), len(out["hidden"]), len(out["tiny"])))
