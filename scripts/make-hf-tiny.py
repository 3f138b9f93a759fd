#!/usr/bin/env python3
"""Tiny random Hugging Face checkpoints of every architecture factprobe reads
from checkpoint directories, written by transformers itself, with oracle
fixtures from transformers for tests/test_hf.c.

Usage (in the hf venv: torch 2.5.1, transformers 4.57.1, tokenizers 0.22.1):
    ~/.cache/factprobe/hf-venv/bin/python scripts/make-hf-tiny.py [OUT_DIR]
OUT_DIR defaults to tests/fixtures/hf.  Each model goes to OUT_DIR/NAME/:
    config.json, model.safetensors (F32), generation_config.json  save_pretrained
    tokenizer.json, tokenizer_config.json, special_tokens_map.json
        a byte-level BPE trained by the tokenizers package on a fixed text
    oracle.json + oracle.f32  transformers' outputs for the fixed text's ids:
        logits   [T, V]      at every position
        hidden   [L+1, T, D] output_hidden_states: the embeddings entering
                             block 0, then each block's output, the last one
                             after the final norm (as transformers returns it)
        resid_last [T, D]    the last block's output before the final norm
                             (a forward hook on the last decoder layer)
        mlp_post [L, T, F]   the MLP's neuron activations: what its output
                             projection reads (a forward pre-hook on it;
                             TransformerLens's blocks.L.mlp.hook_post)
    oracle.json gives each array's offset (in floats) and shape.
Everything is seeded: the same versions write the same files.  Norm weights
and biases are random too (not 1 and 0), so their conventions matter (Gemma's
1 + w, LayerNorm biases), and weights are large enough that the nonlinearities
bend.  Eager attention, f32."""
import json
import os
import shutil
import sys

import numpy as np
import torch
import transformers
import tokenizers
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers, processors

OUT = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/hf"
TEXT = "Michael Jordan plays the sport of basketball in Paris."
CORPUS = [
    "Michael Jordan plays the sport of basketball.",
    "Tom Brady plays the sport of football.",
    "The capital of France is Paris. The capital of Italy is Rome.",
    "The Eiffel Tower is located in the city of Paris.",
    "the quick brown fox jumps over the lazy dog",
] * 4
V_TOK = 300    # byte-level alphabet (256) + merges + <|endoftext|>
V_MODEL = 304  # embedding rows: padded past the tokenizer, as many checkpoints are


def make_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tr = trainers.BpeTrainer(vocab_size=V_TOK, special_tokens=["<|endoftext|>"], show_progress=False,
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, tr)
    return tok


def randomize(model, gemma_norms):
    """every parameter random: matrices N(0, 0.25^2), embeddings N(0, 0.5^2),
    norm weights 1 + N(0, 0.2^2) (Gemma: N(0, 0.2^2), used as 1 + w), biases N(0, 0.1^2)"""
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g, dtype=torch.float32)
            low = name.lower()
            is_norm = p.dim() == 1 and ("norm" in low or ".ln" in low or "ln_f" in low or "layernorm" in low)
            if is_norm and name.endswith("weight"):
                p.copy_(0.2 * r if gemma_norms else 1.0 + 0.2 * r)
            elif p.dim() == 1:
                p.copy_(0.1 * r)
            elif "embed" in low or "wte" in low or "wpe" in low:
                p.copy_(0.5 * r)
            else:
                p.copy_(0.25 * r)


def down_proj(model, layer):
    """the module whose input is the MLP's neuron activations"""
    name = type(model).__name__
    if name.startswith("GPT2"):
        return layer.mlp.c_proj
    if name.startswith("GPTJ"):
        return layer.mlp.fc_out
    if name.startswith("GPTNeoX"):
        return layer.mlp.dense_4h_to_h
    return layer.mlp.down_proj


def layers_of(model):
    name = type(model).__name__
    if name.startswith("GPT2") or name.startswith("GPTJ"):
        return model.transformer.h
    if name.startswith("GPTNeoX"):
        return model.gpt_neox.layers
    return model.model.layers


COMMON = dict(vocab_size=V_MODEL, bos_token_id=V_TOK - 1, eos_token_id=V_TOK - 1, pad_token_id=None)
LL = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
          max_position_embeddings=64, rms_norm_eps=1e-5)


def specs():
    T = transformers
    yield "gpt2", T.GPT2LMHeadModel, T.GPT2Config(n_positions=64, n_embd=32, n_layer=2, n_head=4, n_inner=64,
                                                   activation_function="gelu_new", **COMMON), False
    yield "gptj", T.GPTJForCausalLM, T.GPTJConfig(n_positions=64, n_embd=32, n_layer=2, n_head=4, n_inner=64, rotary_dim=4,
                                                  activation_function="gelu_new", tie_word_embeddings=False,
                                                  **COMMON), False
    for par in (True, False):
        yield "gptneox" + ("" if par else "-seq"), T.GPTNeoXForCausalLM, T.GPTNeoXConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, rotary_pct=0.5,
            max_position_embeddings=64, use_parallel_residual=par, hidden_act="gelu", tie_word_embeddings=False,
            **COMMON), False
    yield "llama", T.LlamaForCausalLM, T.LlamaConfig(tie_word_embeddings=False, **LL, **COMMON), False
    yield "llama3", T.LlamaForCausalLM, T.LlamaConfig(
        tie_word_embeddings=True, rope_theta=100.0,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 32}, **LL, **COMMON), False
    yield "mistral", T.MistralForCausalLM, T.MistralConfig(tie_word_embeddings=False, sliding_window=4, **LL,
                                                           **COMMON), False
    yield "qwen2", T.Qwen2ForCausalLM, T.Qwen2Config(tie_word_embeddings=True, **LL, **COMMON), False
    yield "qwen3", T.Qwen3ForCausalLM, T.Qwen3Config(tie_word_embeddings=True, head_dim=16, **LL, **COMMON), False
    yield "gemma2", T.Gemma2ForCausalLM, T.Gemma2Config(
        head_dim=16, query_pre_attn_scalar=24, attn_logit_softcapping=2.0, final_logit_softcapping=5.0,
        sliding_window=4, hidden_activation="gelu_pytorch_tanh", **LL, **COMMON), True
    yield "gemma3", T.Gemma3ForCausalLM, T.Gemma3TextConfig(
        head_dim=16, query_pre_attn_scalar=24, sliding_window=4, rope_theta=1e6, rope_local_base_freq=10000.0,
        layer_types=["sliding_attention", "full_attention", "sliding_attention"],
        **dict(LL, num_hidden_layers=3), **COMMON), True
    yield "phi3", T.Phi3ForCausalLM, T.Phi3Config(tie_word_embeddings=False, original_max_position_embeddings=64,
                                                  **LL, **COMMON), False


def main():
    os.makedirs(OUT, exist_ok=True)
    tok = make_tokenizer()
    ids = tok.encode(TEXT).ids
    assert max(ids) < V_TOK and len(ids) >= 12, ids  # longer than the sliding windows (4)
    for name, cls, cfg, gemma_norms in specs():
        torch.manual_seed(0)
        cfg._attn_implementation = "eager"
        model = cls(cfg).float().eval()
        randomize(model, gemma_norms)
        d = os.path.join(OUT, name)
        shutil.rmtree(d, ignore_errors=True)
        model.save_pretrained(d, safe_serialization=True)
        tok.save(os.path.join(d, "tokenizer.json"))
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": False,
                       "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                       "model_max_length": 64}, f, indent=1)
        with open(os.path.join(d, "special_tokens_map.json"), "w") as f:
            json.dump({"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"}, f, indent=1)
        # reload from disk, as a user would, and run
        model = cls.from_pretrained(d, torch_dtype=torch.float32, attn_implementation="eager").eval()
        layers = layers_of(model)
        posts, last = [], {}
        hooks = [down_proj(model, ly).register_forward_pre_hook(lambda mod, a: posts.append(a[0][0].clone()))
                 for ly in layers]
        hooks.append(layers[-1].register_forward_hook(
            lambda mod, a, out: last.__setitem__("x", (out[0] if isinstance(out, tuple) else out)[0].clone())))
        with torch.no_grad():
            out = model(torch.tensor([ids]), output_hidden_states=True, use_cache=False)
        for h in hooks:
            h.remove()
        arrays = [("logits", out.logits[0]), ("hidden", torch.stack([h[0] for h in out.hidden_states])),
                  ("resid_last", last["x"]), ("mlp_post", torch.stack(posts))]
        meta = {"oracle": "transformers %s, torch %s, tokenizers %s (scripts/make-hf-tiny.py)" % (
                    transformers.__version__, torch.__version__, tokenizers.__version__),
                "class": cls.__name__, "text": TEXT, "ids": ids, "arrays": {}}
        blob, off = [], 0
        for key, a in arrays:
            a = a.detach().float().numpy()
            meta["arrays"][key] = {"offset": off, "shape": list(a.shape)}
            blob.append(a.ravel())
            off += a.size
        np.concatenate(blob).astype("<f4").tofile(os.path.join(d, "oracle.f32"))
        with open(os.path.join(d, "oracle.json"), "w") as f:
            json.dump(meta, f, indent=1)
        size = sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d))
        print("%-12s %-22s %3d tokens, %6.1f KB" % (name, cls.__name__, len(ids), size / 1024))
        if name == "gpt2":
            gpt2_unprefixed(d, model)


def gpt2_unprefixed(src, model):
    """the same GPT-2 saved as the original GPT-2 checkpoints are: tensor
    names without "transformer.", and each layer's causal-mask buffers
    (attn.bias, attn.masked_bias); the same oracle"""
    from safetensors.torch import save_file
    d = src + "-unprefixed"
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(src, d)
    sd = {k[len("transformer."):]: v.contiguous() for k, v in model.state_dict().items() if k.startswith("transformer.")}
    n = model.config.n_positions
    for l in range(model.config.n_layer):
        sd["h.%d.attn.bias" % l] = torch.tril(torch.ones(n, n)).view(1, 1, n, n)
        sd["h.%d.attn.masked_bias" % l] = torch.tensor(-1e4)
    save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    print("%-12s %-22s the gpt2 checkpoint under the original GPT-2 tensor names" % ("gpt2-unprefixed", ""))


if __name__ == "__main__":
    main()
