#!/usr/bin/env python3
"""Oracle fixtures for Hugging Face checkpoints (tests/test_hf.c), from
transformers on the checkpoints transformers itself made from the default
model's GGUF (scripts/hf_from_gguf_transformers.py, in F32, BF16 and F16):

  tests/fixtures/hf_smollm2/config.json      transformers' config.json, as saved
  tests/fixtures/hf_smollm2/tensors-DTYPE.tsv  name, dtype, shape, sha256 of the
      bytes of every tensor in transformers' model.safetensors: the torch-free
      writer (tests/hf_writer.c) must produce the very same bytes
  tests/fixtures/hf_smollm2/oracle.json + oracle.f32   for each dtype's
      checkpoint (loaded as float32: the stored values exactly) and each prompt
      (ids from transformers' tokenizer): logits at every position for every
      COL_STRIDE-th token id, and blocks.L.mlp.hook_post (the input of
      down_proj, by a forward pre-hook) for the layers listed, every
      NEURON_STRIDE-th neuron, every position.

Usage: oracle_hf_checkpoint.py FIXTURE_DIR F32_DIR BF16_DIR F16_DIR"""
import hashlib, json, os, shutil, struct, sys
import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

fix, dirs = sys.argv[1], dict(zip(["F32", "BF16", "F16"], sys.argv[2:5]))
os.makedirs(fix, exist_ok=True)
torch.set_num_threads(2)
PROMPTS = ["Q: What sport does Michael Jordan play?\nA: This athlete plays the sport of",
           "The capital of France is",
           "def fibonacci(n):\n    return"]
COL_STRIDE, NEURON_STRIDE, LAYERS = 97, 8, [0, 15, 29]

shutil.copy(os.path.join(dirs["F32"], "config.json"), os.path.join(fix, "config.json"))
for dt, d in dirs.items():
    with open(os.path.join(d, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        base = 8 + n
        rows = []
        for name, e in sorted((k, v) for k, v in hdr.items() if k != "__metadata__"):
            b, end = e["data_offsets"]
            f.seek(base + b)
            rows.append("%s\t%s\t[%s]\t%s\n" % (name, e["dtype"], ", ".join(map(str, e["shape"])),
                                                hashlib.sha256(f.read(end - b)).hexdigest()))
    open(os.path.join(fix, "tensors-%s.tsv" % dt), "w").write("".join(rows))

tok = AutoTokenizer.from_pretrained(dirs["F32"])
out = {"oracle": "transformers %s, torch %s" % (transformers.__version__, torch.__version__),
       "col_stride": COL_STRIDE, "neuron_stride": NEURON_STRIDE, "layers": LAYERS, "runs": []}
blob, offset = [], 0
for dt, d in dirs.items():
    m = AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32)
    m.eval()
    got = {}
    hooks = [m.model.layers[l].mlp.down_proj.register_forward_pre_hook(
        lambda mod, args, l=l: got.__setitem__(l, args[0][0].detach().numpy().copy())) for l in LAYERS]
    for p in PROMPTS:
        ids = tok(p, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = m(torch.tensor([ids])).logits[0].numpy()
        parts = [logits[:, ::COL_STRIDE]] + [got[l][:, ::NEURON_STRIDE] for l in LAYERS]
        arr = np.concatenate([a.astype(np.float32).ravel() for a in parts])
        out["runs"].append({"dtype": dt, "prompt": p, "ids": ids, "offset": offset, "n_pos": len(ids),
                            "top1_last": int(np.argmax(logits[-1]))})
        blob.append(arr)
        offset += arr.size
    for h in hooks:
        h.remove()
json.dump(out, open(os.path.join(fix, "oracle.json"), "w"), indent=1)
np.concatenate(blob).astype("<f4").tofile(os.path.join(fix, "oracle.f32"))
print("wrote", fix, offset * 4, "bytes of values")
