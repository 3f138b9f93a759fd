#!/usr/bin/env python3
"""The oracle conversion: Hugging Face transformers reads a GGUF (dequantised
to float by the gguf package) and writes a checkpoint directory with
save_pretrained (safetensors) and the tokenizer's save_pretrained
(tokenizer.json, tokenizer_config.json, special_tokens_map.json).  Runs in
the hf-venv (torch, transformers); see scripts/hf_checkpoint.sh.

Usage: hf_from_gguf_transformers.py MODEL.gguf OUT_DIR [float32|bfloat16|float16]"""
import os, sys
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

gguf, out = sys.argv[1], sys.argv[2]
dtype = getattr(torch, sys.argv[3] if len(sys.argv) > 3 else "float32")
torch.set_num_threads(2)
d, f = os.path.dirname(os.path.abspath(gguf)), os.path.basename(gguf)
m = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, torch_dtype=torch.float32)
m = m.to(dtype)
m.save_pretrained(out, safe_serialization=True)
tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
tok.save_pretrained(out)
print("wrote", out, "tie_word_embeddings =", m.config.tie_word_embeddings,
      "lm_head shares the embedding:", m.lm_head.weight.data_ptr() == m.model.embed_tokens.weight.data_ptr())
