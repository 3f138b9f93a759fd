#!/usr/bin/env python3
"""tests/bad/make_bad.py DIR - writes the hostile inputs of tests/bad/cases.tsv
into DIR, from the good files already there: tiny-llama.gguf (make_tiny),
set.tsv, rec.h5 (a real recording of the tiny model), and the result files
dot.h5, lens.h5, trace.h5, neurons.h5, sup.h5 (see tests/test_bad.sh).

Models are rewritten through a small GGUF reader/writer below (the format in
model/gguf.h); recordings and results are copied and changed with h5py to lie
about their own sizes, lose datasets or attributes, or change shapes."""
import os
import shutil
import struct
import sys

import h5py
import numpy as np

D = sys.argv[1]
P = lambda name: os.path.join(D, name)

# ---- GGUF --------------------------------------------------------------
SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B", 10: "<Q", 11: "<q", 12: "<d"}


class Reader:
    def __init__(self, b):
        self.b, self.o = b, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.o)
        self.o += struct.calcsize(fmt)
        return v[0]

    def str(self):
        n = self.take("<Q")
        s = self.b[self.o:self.o + n]
        self.o += n
        return s

    def value(self, t):
        if t == 8:
            return self.str()
        if t == 9:
            et, n = self.take("<I"), self.take("<Q")
            return (et, [self.value(et) for _ in range(n)])
        return self.take(SCALAR[t])


def read_gguf(path):
    b = open(path, "rb").read()
    r = Reader(b)
    assert r.take("<I") == 0x46554747
    version, nt, nkv = r.take("<I"), r.take("<Q"), r.take("<Q")
    kv = []
    for _ in range(nkv):
        k = r.str()
        t = r.take("<I")
        kv.append([k, t, r.value(t)])
    tensors = []
    for _ in range(nt):
        name = r.str()
        nd = r.take("<I")
        ne = [r.take("<Q") for _ in range(nd)]
        ty, off = r.take("<I"), r.take("<Q")
        tensors.append([name, ne, ty, off])
    align = 32
    for k, t, v in kv:
        if k == b"general.alignment":
            align = v
    start = (r.o + align - 1) // align * align
    for t in tensors:  # the data of each, up to the next offset
        t.append(None)
    offs = sorted(t[3] for t in tensors) + [len(b) - start]
    for t in tensors:
        nxt = min(o for o in offs if o > t[3]) if any(o > t[3] for o in offs) else len(b) - start
        t[4] = b[start + t[3]:start + nxt]
    return version, kv, tensors


def enc_value(t, v):
    if t == 8:
        return struct.pack("<Q", len(v)) + v
    if t == 9:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(enc_value(et, x) for x in items)
    return struct.pack(SCALAR[t], v)


def write_gguf(path, version, kv, tensors, align=32, raw_header=None):
    h = struct.pack("<IIQQ", 0x46554747, version, len(tensors), len(kv))
    for k, t, v in kv:
        h += struct.pack("<Q", len(k)) + k + struct.pack("<I", t) + enc_value(t, v)
    data = b""
    for name, ne, ty, off, blob in tensors:
        h += struct.pack("<Q", len(name)) + name + struct.pack("<I", len(ne))
        h += b"".join(struct.pack("<Q", x) for x in ne) + struct.pack("<IQ", ty, off)
    h += b"\0" * (-len(h) % align)
    end = 0
    for name, ne, ty, off, blob in sorted(tensors, key=lambda t: t[3]):
        if off >= end and off - len(data) < (1 << 20):  # a far offset gets no data
            data += b"\0" * (off - len(data)) + blob
            end = len(data)
    open(path, "wb").write(h + data)


V, KV, TS = read_gguf(P("tiny-llama.gguf"))


def model(name, kv=None, tensors=None, version=None, align=32):
    write_gguf(P(name), version or V, kv if kv is not None else KV, tensors if tensors is not None else TS, align)


def kv_set(key, t, v):
    out = [list(x) for x in KV if x[0] != key]
    return out + [[key, t, v]]


def kv_drop(key):
    return [list(x) for x in KV if x[0] != key]


def tensors_with(name, **change):
    out = []
    for t in TS:
        t = list(t)
        if t[0] == name:
            for k, v in change.items():
                t[{"ne": 1, "type": 2, "offset": 3}[k]] = v
        out.append(t)
    return out


good = open(P("tiny-llama.gguf"), "rb").read()
open(P("m-empty.gguf"), "wb").write(b"")
open(P("m-magic.gguf"), "wb").write(b"GGML" + good[4:])
open(P("m-trunc-header.gguf"), "wb").write(good[:20])
open(P("m-trunc-data.gguf"), "wb").write(good[:len(good) - 1000])
open(P("m-text.gguf"), "wb").write(b"this is not a model\n")
model("m-version1.gguf", version=1)
model("m-version9.gguf", version=9)
b = bytearray(good)
struct.pack_into("<Q", b, 8, 1 << 40)  # n_tensors
open(P("m-ntensors.gguf"), "wb").write(b)
b = bytearray(good)
struct.pack_into("<Q", b, 16, 1 << 40)  # n_kv
open(P("m-nkv.gguf"), "wb").write(b)
b = bytearray(good)
struct.pack_into("<Q", b, 24, 1 << 62)  # length of the first key
open(P("m-keylen.gguf"), "wb").write(b)
b = bytearray(good)
struct.pack_into("<I", b, 24 + 8 + struct.unpack_from("<Q", good, 24)[0], 13)  # the first value's type
open(P("m-vtype.gguf"), "wb").write(b)
model("m-arrcount.gguf", kv=kv_set(b"x.big", 9, (4, [])))  # patched below
b = bytearray(open(P("m-arrcount.gguf"), "rb").read())
i = b.find(b"x.big") + 5 + 4 + 4
struct.pack_into("<Q", b, i, 1 << 61)
open(P("m-arrcount.gguf"), "wb").write(b)
model("m-dupkey.gguf", kv=[list(x) for x in KV] + [[b"general.architecture", 8, b"llama"]])
model("m-align.gguf", kv=kv_set(b"general.alignment", 4, 24), align=24)
model("m-ndims.gguf", tensors=tensors_with(b"token_embd.weight", ne=[64, 1, 1, 1, 1]))
model("m-ttype.gguf", tensors=tensors_with(b"output_norm.weight", type=99))
model("m-q2k.gguf", tensors=tensors_with(b"output_norm.weight", type=10))
model("m-offset.gguf", tensors=tensors_with(b"output_norm.weight", offset=1 << 40))
model("m-misaligned.gguf", tensors=tensors_with(b"output_norm.weight", offset=[t for t in TS if t[0] == b"output_norm.weight"][0][3] + 4))
model("m-dupname.gguf", tensors=[list(t) for t in TS] + [list([t for t in TS if t[0] == b"output_norm.weight"][0])])
model("m-arch.gguf", kv=kv_set(b"general.architecture", 8, b"mamba"))
model("m-noarch.gguf", kv=kv_drop(b"general.architecture"))
model("m-layers0.gguf", kv=kv_set(b"llama.block_count", 4, 0))
model("m-layers-huge.gguf", kv=kv_set(b"llama.block_count", 4, 100000))
model("m-heads.gguf", kv=kv_set(b"llama.attention.head_count", 4, 3))
model("m-kvheads.gguf", kv=kv_set(b"llama.attention.head_count_kv", 4, 3))
model("m-dmodel-str.gguf", kv=kv_set(b"llama.embedding_length", 8, b"64"))
model("m-shape.gguf", tensors=tensors_with(b"output_norm.weight", ne=[32]))
model("m-missing.gguf", tensors=[list(t) for t in TS if t[0] != b"blk.1.ffn_down.weight"])
model("m-notokens.gguf", kv=kv_drop(b"tokenizer.ggml.tokens"))
model("m-tokmodel.gguf", kv=kv_set(b"tokenizer.ggml.model", 8, b"wordpiece"))
model("m-bos.gguf", kv=kv_set(b"tokenizer.ggml.bos_token_id", 4, 1 << 30))
model("m-ctx0.gguf", kv=kv_set(b"llama.context_length", 4, 0))

# ---- prompt sets -------------------------------------------------------
def text(name, data):
    open(P(name), "wb").write(data)


text("p-noprompt.tsv", b"id\tsubject\n1\tx\n")
text("p-columns.tsv", b"prompt\tsubject\nThe capital of France\tFrance\nx\ty\tz\n")
text("p-utf8.tsv", b"prompt\nok\nbad \xff byte\n")
text("p-subject.tsv", b"prompt\tsubject\nThe capital of France\tSpain\n")
text("p-emptyprompt.tsv", b"prompt\tid\n\t1\n")
text("p-empty.tsv", b"")
text("p-wide.tsv", "\t".join(["c%d" % i for i in range(70)] + ["prompt"]).encode() + b"\n" + b"x\t" * 69 + b"x\n")
text("p-array.jsonl", b'{"prompt": "ok"}\n[1, 2]\n')
text("p-number.jsonl", b'{"prompt": 42}\n')
text("p-json.jsonl", b'{"prompt": "a"\n')
text("p-dup.jsonl", b'{"prompt": "a", "prompt": "b"}\n')
text("p-utf8.txt", b"fine\n\xc3\x28 broken\n")
text("p-blank.txt", b"one\n\nthree\n")
text("p-nul.txt", b"one\ntw\x00o\n")

# ---- direction files ---------------------------------------------------
with h5py.File(P("d.h5"), "w") as f:
    f["v3"] = np.ones(3, "f4")
    f["mlp"] = np.ones(128, "f4")
    f["zero"] = np.zeros(64, "f4")
    f["cube"] = np.ones((2, 2, 2), "f4")
    f["rows5"] = np.ones((5, 64), "f4")
    f["strs"] = np.array([b"a", b"b"])
    f["empty"] = np.ones((0,), "f4")
text("d-not.h5", b"not hdf5\n")

# ---- recordings --------------------------------------------------------
def rec(name, change):
    shutil.copy(P("rec.h5"), P(name))
    with h5py.File(P(name), "r+") as f:
        change(f)


def replace(f, path, data):
    attrs = dict(f[path].attrs)
    del f[path]
    f[path] = data
    for k, v in attrs.items():
        f[path].attrs[k] = v


def set_attr(k, v):
    return lambda f: f.attrs.__setitem__(k, v)


rec("r-format.h5", lambda f: f.attrs.__delitem__("format"))
rec("r-nprompts.h5", set_attr("n_prompts", 1000))
rec("r-nprompts-huge.h5", set_attr("n_prompts", 1 << 39))
rec("r-nlayers.h5", set_attr("n_layers", 0))
rec("r-dmodel.h5", set_attr("d_model", 1 << 30))
rec("r-rowstart.h5", lambda f: replace(f, "prompts/row_start", np.array([0, 4, 8, 12, 16, 1 << 40], "i8")))
rec("r-rowstart-neg.h5", lambda f: replace(f, "prompts/row_start", np.array([0, 4, -8, 12, 16, 20], "i8")))
rec("r-nrows.h5", lambda f: replace(f, "prompts/n_rows", np.array([4, 4, 4, 4, 4, 400], "i4")))
rec("r-tokstart.h5", lambda f: replace(f, "prompts/token_start", np.array([0, 4, 8, 12, 16, 99], "i8")))
rec("r-norowstart.h5", lambda f: f.__delitem__("prompts/row_start"))
rec("r-rowstart-2d.h5", lambda f: replace(f, "prompts/row_start", np.zeros((6, 2), "i8")))
rec("r-width.h5", lambda f: replace(f, "acts/blocks.1.mlp.hook_post", np.ones((24, 300), "f4")))
rec("r-width-resid.h5", lambda f: replace(f, "acts/blocks.0.hook_resid_post", np.ones((24, 65), "f4")))
rec("r-acts-short.h5", lambda f: replace(f, "acts/blocks.1.mlp.hook_post", np.ones((3, 128), "f4")))
rec("r-noacts.h5", lambda f: f.__delitem__("acts/blocks.1.mlp.hook_post"))
rec("r-text-2d.h5", lambda f: replace(f, "prompts/text", np.array([[b"a", b"b"]] * 6, dtype=h5py.string_dtype())))
rec("r-position.h5", lambda f: replace(f, "rows/position", np.full(24, 1000, "i4")))
rec("r-target-num.h5", lambda f: replace(f, "prompts/target", np.arange(6, dtype="i4")))

# ---- result files, for plot --------------------------------------------
def res(src, name, change):
    shutil.copy(P(src), P(name))
    with h5py.File(P(name), "r+") as f:
        change(f)


res("dot.h5", "x-dot-format.h5", lambda f: f.attrs.__setitem__("format", "factprobe-lens"))
res("dot.h5", "x-dot-nocos.h5", lambda f: [f.__delitem__(k) for k in list(f.keys()) if "cos" in k])
res("lens.h5", "x-lens-shape.h5", lambda f: replace(f, "top_prob", np.ones((2, 2), "f8")))
res("lens.h5", "x-lens-tokens.h5", lambda f: replace(f, "token", np.array([b"a"], dtype=h5py.string_dtype())))
res("trace.h5", "x-trace-shape.h5", lambda f: replace(f, "score/attn", np.ones((7, 3), "f8")))
res("trace.h5", "x-trace-none.h5", lambda f: f.__delitem__("score"))
res("neurons.h5", "x-neurons-rows.h5", lambda f: replace(f, "top_layer", np.full(12, 99, "i4")))
res("neurons.h5", "x-neurons-neuron.h5", lambda f: replace(f, "top_neuron", np.full(12, 1 << 20, "i4")))
res("neurons.h5", "x-neurons-by.h5", lambda f: f.attrs.__setitem__("rank_by", "nosuch"))
res("sup.h5", "x-sup-noset.h5", lambda f: f.__delitem__("optimized"))
res("sup.h5", "x-sup-bins.h5", lambda f: replace(f, "optimized/bin_center", np.ones(7, "f8")))
text("x-not.h5", b"GIF89a not hdf5")
