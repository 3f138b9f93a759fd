"""What the llama.cpp oracle scripts (oracle_llamacpp.py, oracle_arch.py)
share: loading a model into llama-cpp-python with an f32 KV cache and logits
at every position, log-softmax, sha256 of a file, and write_f32_copy."""
import hashlib
import os
import numpy as np
from llama_cpp import Llama

F32 = 0  # GGML_TYPE_F32


def load(path, n_ctx):
    return Llama(model_path=path, n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx, logits_all=True,
                 verbose=False, n_threads=2, type_k=F32, type_v=F32, flash_attn=False)


def logits(llm, ids):
    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[:len(ids)], dtype=np.float64)


def log_softmax(x):
    m = x.max()
    return x - (m + np.log(np.exp(x - m).sum()))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


# write_f32_copy(src, dst): the GGUF file src with every tensor dequantised to
# F32 by gguf-py (an implementation we did not write) and the same metadata,
# for running llama.cpp on exact f32 weights.


def write_f32_copy(src, dst):
    from gguf import GGUFReader, GGUFWriter, GGUFValueType
    from gguf.quants import dequantize
    r = GGUFReader(src)
    arch = bytes(r.fields["general.architecture"].parts[-1]).decode()
    w = GGUFWriter(dst, arch)
    for k, f in r.fields.items():
        if k.startswith("GGUF.") or k == "general.architecture":
            continue
        t = f.types[0]
        if t == GGUFValueType.STRING:
            w.add_string(k, bytes(f.parts[-1]).decode("utf-8"))
        elif t == GGUFValueType.ARRAY:
            et = f.types[1]
            if et == GGUFValueType.STRING:
                vals = [bytes(f.parts[i]).decode("utf-8", "surrogateescape") for i in f.data]
                w.add_array(k, vals)
            else:
                w.add_array(k, [f.parts[i].tolist()[0] for i in f.data])
        else:
            w.add_key_value(k, f.parts[-1].tolist()[0], t)
    for t in r.tensors:
        x = dequantize(t.data, t.tensor_type).astype(np.float32).reshape([int(d) for d in reversed(t.shape)])
        w.add_tensor(t.name, x)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# tiny_runs(dir, texts): llama.cpp's logits at every position of each text on
# each .gguf in dir (sorted by name): the runs' records (model, text, ids,
# offset, shape) and the logits, concatenated, as float32.


def tiny_runs(tiny_dir, texts):
    runs, blob, offset = [], [], 0
    for name in sorted(os.listdir(tiny_dir)):
        if not name.endswith(".gguf"):
            continue
        llm = load(os.path.join(tiny_dir, name), 64)
        for text in texts:
            ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
            lg = logits(llm, ids).astype(np.float32)
            blob.append(lg.ravel())
            runs.append({"model": name, "text": text, "ids": ids, "offset": offset, "shape": list(lg.shape)})
            offset += lg.size
        del llm
    return runs, np.concatenate(blob).astype("<f4")
