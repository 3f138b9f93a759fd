#!/usr/bin/env python3
"""Reference values from Hugging Face transformers for the newer
architectures, loading the very GGUF files llama.cpp ran (oracle_arch.py):
unlike llama.cpp it exposes every layer.  Writes, in FIXTURE_DIR,
tf_arch.json + tf_arch.f32:

  * each tiny synthetic model of tests/tiny.c (TINY_DIR/arch/) that
    transformers' GGUF loader accepts (qwen2, qwen3, gemma2, gemma3, phi3;
    not gptneox: transformers 4.57 has no GGUF loader for it), for the token
    ids llama.cpp saw (llamacpp_arch.json):
      - logits at every position of every tiny text,
      - for the first STATE_TEXTS texts, the residual stream at every
        position as states [L + 2, T, D]: 0 is the embedding
        (blocks.0.hook_resid_pre), 1 + l is decoder layer l's output
        (blocks.l.hook_resid_post, the last one before the final norm), L + 1
        is transformers' last hidden state (after the final norm:
        ln_final.hook_normalized); and the MLP activation [L, T, F], the
        input of each mlp.down_proj (TransformerLens's mlp.hook_post);
  * the same for the older architectures' tiny-llama and tiny-gpt2-hf
    (TINY_DIR/, ids from llamacpp.json), on the first STATE_TEXTS texts only;
  * Gemma-3-270M (Q4_K_M, dequantised to f32 by gguf-py inside
    transformers) on three prompts, with the model's BOS (ids from
    llamacpp_gemma3.json): the top-10 logits at every position, the norm of
    every state at every position [L + 2, T], the states at the last two
    positions [L + 2, 2, D], and the MLP activation at the last position
    [L, F] (whole logits and states at every position would be megabytes).

transformers' GGUF loader ignores some metadata, or the GGUF has no key for
a setting llama.cpp derives; those settings are put into the config before
the weights load (config_fixes below), each from the file's own metadata,
and recorded in the JSON.

Usage: oracle_tf_arch.py GEMMA.gguf TINY_DIR FIXTURE_DIR"""
import json, os, sys
import numpy as np
import torch
import transformers
from gguf import GGUFReader
from transformers import AutoConfig, AutoModelForCausalLM

STATE_TEXTS = 2
GEMMA_PROMPTS = ["Michael Jordan plays the sport of", "The Eiffel Tower is located in the city of",
                 "def fibonacci(n):\n    if n <"]
NOT_LOADED = {"gptneox": "transformers %s has no GGUF loader for gptneox" % transformers.__version__}

gemma_path, tiny_dir, out_dir = sys.argv[1:4]
torch.set_num_threads(2)


def metadata(path):
    r = GGUFReader(path)
    kv = {k: f.contents() for k, f in r.fields.items() if not k.startswith("tokenizer.")}
    return kv, {t.name for t in r.tensors}


def config_fixes(path):
    """{config key: value} transformers would get wrong from this GGUF, with why."""
    kv, tensors = metadata(path)
    arch = kv["general.architecture"]
    get = lambda k, d=None: kv.get("%s.%s" % (arch, k), d)
    head_dim = get("attention.key_length", get("embedding_length") // get("attention.head_count"))
    fix, why = {}, {}
    if arch == "qwen3":
        fix["head_dim"] = head_dim
        why["head_dim"] = "qwen3.attention.key_length (transformers' qwen3 GGUF map omits it; default 128)"
    if arch in ("gemma2", "gemma3"):
        # llama.cpp: query scale 1/sqrt(key_length) for every size but gemma2-27B;
        # Hugging Face's configs of those sizes say query_pre_attn_scalar = head_dim
        fix["query_pre_attn_scalar"] = head_dim
        why["query_pre_attn_scalar"] = "attention.key_length, as llama.cpp scales queries (no GGUF key; default 256)"
    if arch == "gemma2":
        for k in ("attn_logit_softcapping", "final_logit_softcapping"):
            fix[k] = get(k)
            why[k] = "gemma2.%s (transformers' gemma2 GGUF map omits it; default 50 / 30)" % k
    if arch == "phi3":
        fix["pad_token_id"] = None  # Phi3Config's default 32000 is outside a tiny vocabulary; not used by forward
        why["pad_token_id"] = "none (Phi3Config's default 32000 is beyond the tiny vocabulary; forward never reads it)"
    return arch, fix, why, "output.weight" not in tensors


def load(path):
    arch, fix, why, tied = config_fixes(path)
    d, f = os.path.dirname(path), os.path.basename(path)
    cfg = AutoConfig.from_pretrained(d, gguf_file=f)
    for k, v in fix.items():
        setattr(cfg, k, v)
    m = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, config=cfg, dtype=torch.float32,
                                             attn_implementation="eager")
    m.eval()
    emb = m.get_input_embeddings().weight
    assert (m.lm_head.weight.data_ptr() == emb.data_ptr()) == tied, "%s: tied unembedding not as in the file" % f
    return m, {k: {"value": v, "from": why[k]} for k, v in fix.items()}


def run(m, ids):
    """logits [T, V], states [L + 2, T, D] (see above), mlp post [L, T, F]"""
    layers = m.model.layers if hasattr(m, "model") else m.transformer.h  # gpt2: transformer.h, mlp.c_proj
    post, outs, hooks = [None] * len(layers), [None] * len(layers), []
    for i, layer in enumerate(layers):
        def pre(mod, args, i=i):
            post[i] = args[0][0].detach().clone()
        def out(mod, args, res, i=i):
            outs[i] = (res[0] if isinstance(res, tuple) else res)[0].detach().clone()
        down = layer.mlp.down_proj if hasattr(layer.mlp, "down_proj") else layer.mlp.c_proj
        hooks.append(down.register_forward_pre_hook(pre))
        hooks.append(layer.register_forward_hook(out))
    with torch.no_grad():
        r = m(torch.tensor([ids]), output_hidden_states=True)
    for h in hooks:
        h.remove()
    hs = [h[0] for h in r.hidden_states]
    L = len(layers)
    assert len(hs) == L + 1
    for i in range(L - 1):  # hidden_states[i + 1] is layer i's output, as recorded by the hook
        assert torch.equal(hs[i + 1], outs[i]), "hidden_states[%d] is not layer %d's output" % (i + 1, i)
    states = torch.stack([hs[0]] + outs + [hs[L]])
    return (r.logits[0].numpy().astype(np.float32), states.numpy().astype(np.float32),
            torch.stack(post).numpy().astype(np.float32))


blob, offset = [], 0


def put(x):
    global offset
    x = np.ascontiguousarray(x, dtype=np.float32)
    blob.append(x.ravel())
    at = {"offset": offset, "shape": list(x.shape)}
    offset += x.size
    return at


out = {"oracle": "transformers %s, torch %s, gguf-py dequantisation, f32, eager attention" %
                 (transformers.__version__, torch.__version__),
       "state_layout": "states[0] = blocks.0.hook_resid_pre, states[1 + l] = blocks.l.hook_resid_post, "
                       "states[L + 1] = ln_final.hook_normalized; mlp_post[l] = blocks.l.mlp.hook_post",
       "not_loaded": {}, "config_fixes": {}, "tiny": []}
lc = json.load(open(os.path.join(out_dir, "llamacpp_arch.json")))
adir = os.path.join(tiny_dir, "arch")
for name in sorted(os.listdir(adir)):
    if not name.endswith(".gguf"):
        continue
    kv, tensors = metadata(os.path.join(adir, name))
    if kv["general.architecture"] in NOT_LOADED:
        out["not_loaded"][name] = NOT_LOADED[kv["general.architecture"]]
        continue
    if "rope_freqs.weight" in tensors:  # llama 3.1 RoPE scaling: transformers' GGUF loader ignores it
        print("transformers: %s skipped (rope_freqs; test_arch checks it against llama.cpp only)" % name)
        continue
    m, fixes = load(os.path.join(adir, name))
    out["config_fixes"][name] = fixes
    runs = [e for e in lc["tiny"] if e["model"] == name]
    for k, e in enumerate(runs):
        lg, st, mp = run(m, e["ids"])
        rec = {"model": name, "text": e["text"], "ids": e["ids"], "logits": put(lg)}
        if k < STATE_TEXTS:
            rec["states"], rec["mlp_post"] = put(st), put(mp)
        out["tiny"].append(rec)
    print("transformers: %s (%d runs)" % (name, len(runs)))
    del m

g = json.load(open(os.path.join(out_dir, "llamacpp_gemma3.json")))
ids_of = {p["prompt"]: p["ids"] for p in g["predict"]}
m, fixes = load(gemma_path)
gm = {"model": os.path.basename(gemma_path), "model_sha256": g["model_sha256"], "config_fixes": fixes, "runs": []}
for text in GEMMA_PROMPTS:
    ids = ids_of[text]
    lg, st, mp = run(m, ids)
    top = np.argsort(-lg, axis=1, kind="stable")[:, :10]
    gm["runs"].append({"prompt": text, "ids": ids,
                       "top": [[[int(i), float(lg[p, i])] for i in top[p]] for p in range(len(ids))],
                       "max_abs_logit": float(np.abs(lg).max()),
                       "state_norms": put(np.linalg.norm(st.astype(np.float64), axis=2)),
                       "states_last2": put(st[:, -2:]), "mlp_post_last": put(mp[:, -1])})
print("transformers: %s (%d prompts)" % (gm["model"], len(gm["runs"])))
out["gemma3_270m"] = gm
del m

# llama (q and k un-permuted by transformers) and gpt2 (tiny-gpt2-hf: the
# context and MLP width transformers' gpt2 loader assumes): the first
# STATE_TEXTS texts, with the ids llama.cpp saw (llamacpp.json)
lc = json.load(open(os.path.join(out_dir, "llamacpp.json")))
for name in ("tiny-llama.gguf", "tiny-gpt2-hf.gguf"):
    m, fixes = load(os.path.join(tiny_dir, name))
    out["config_fixes"][name] = fixes
    runs = [e for e in lc["tiny"] if e["model"] == name][:STATE_TEXTS]
    for e in runs:
        lg, st, mp = run(m, e["ids"])
        out["tiny"].append({"model": name, "text": e["text"], "ids": e["ids"], "logits": put(lg), "states": put(st),
                            "mlp_post": put(mp)})
    print("transformers: %s (%d runs)" % (name, len(runs)))
    del m
json.dump(out, open(os.path.join(out_dir, "tf_arch.json"), "w"), indent=1, ensure_ascii=False)
np.concatenate(blob).astype("<f4").tofile(os.path.join(out_dir, "tf_arch.f32"))
print("transformers architecture fixtures: %d tiny runs, %d floats" % (len(out["tiny"]), offset))
