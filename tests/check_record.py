#!/usr/bin/python3
"""Checks a factprobe recording with h5py, independently of factprobe's C code.
usage:
  check_record.py values OUT.h5 HOOK REF.f32 f32|f16   values equal the in-memory forward pass
                                                       (bit for bit at f32; f16: exactly the
                                                       round-to-nearest-even of the f32 value)
  check_record.py close OUT.h5 HOOK REF.f32 TOL         values within TOL of the in-memory pass
                                                       (relative to the largest |value|)
  check_record.py consistent OUT.h5                    opens; every committed prompt is whole
  check_record.py same A.h5 B.h5                       every dataset equal (attributes except
                                                       created/command_line equal too)
  check_record.py summary OUT.h5                       prints n_prompts complete rows
Exit 0 when the check holds; prints what it measured."""
import sys
import h5py
import numpy as np


def values(path, hook, ref_path, dtype):
    with h5py.File(path, "r") as f:
        got = f["acts"][hook][()]
        ref = np.fromfile(ref_path, dtype="<f4").reshape(got.shape)
        if dtype == "f32":
            ok = got.dtype == np.float32 and np.array_equal(got.view(np.uint32), ref.view(np.uint32))
            print("%s: %s rows x %d, f32 bit-identical to the in-memory pass: %s" % (hook, got.shape[0], got.shape[1], ok))
        else:
            want = ref.astype(np.float16)
            same = np.array_equal(got.view(np.uint16), want.view(np.uint16))
            err = np.abs(got.astype(np.float32) - ref)
            # the gap above |w| is the larger of its two neighbours' gaps: half of it bounds
            # round-to-nearest whichever side the f32 value came from
            half_ulp = np.spacing(np.abs(want)).astype(np.float32) / 2
            within = bool(np.all(err <= half_ulp + 1e-30))
            print("%s: f16 equals numpy's rounding of the f32 pass: %s; max |diff| %.3g, all within half an f16 ulp: %s"
                  % (hook, same, float(err.max()), within))
            ok = got.dtype == np.float16 and same and within
    return ok


def close(path, hook, ref_path, tol):
    with h5py.File(path, "r") as f:
        got = f["acts"][hook][()]
        ref = np.fromfile(ref_path, dtype="<f4").reshape(got.shape)
        rel = float(np.abs(got - ref).max() / np.abs(ref).max())
        print("%s: %d rows, max |diff| relative to max |value| %.3g (tolerance %s)" % (hook, got.shape[0], rel, tol))
        return rel <= float(tol)


def consistent(path):
    with h5py.File(path, "r") as f:
        n = int(f.attrs["n_prompts"])
        rs, nr = f["prompts/row_start"], f["prompts/n_rows"]
        ts, nt = f["prompts/token_start"], f["prompts/n_tokens"]
        ok = len(rs) >= n and len(f["prompts/text"]) >= n
        rows = int(rs[n - 1] + nr[n - 1]) if n else 0
        toks = int(ts[n - 1] + nt[n - 1]) if n else 0
        ok = ok and len(f["rows/prompt"]) >= rows and len(f["tokens/id"]) >= toks
        for name, d in f["acts"].items():
            ok = ok and d.shape[0] >= rows
        if n:
            rp = f["rows/prompt"][:rows]
            ok = ok and np.array_equal(rp, np.repeat(np.arange(n), nr[:n]))
            # every committed value reads back (a reader of a killed file goes by n_prompts)
            for d in list(f["acts"].values()) + [f["rows/position"]]:
                d[:rows]
            f["tokens/id"][:toks], f["tokens/text"][:toks]
            for k in ("text", "subject", "target", "relation", "id", "line", "subject_span"):
                f["prompts"][k][:n]
        print("opens: n_prompts=%d complete=%d rows=%d tokens=%d; committed prompts whole: %s"
              % (n, int(f.attrs["complete"]), rows, toks, ok))
    return ok


def same(a, b):
    ok = True
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        names = []
        fa.visit(lambda k: names.append(k) if isinstance(fa[k], h5py.Dataset) else None)
        namesb = []
        fb.visit(lambda k: namesb.append(k) if isinstance(fb[k], h5py.Dataset) else None)
        if sorted(names) != sorted(namesb):
            print("different datasets"); return False
        for k in names:
            x, y = fa[k][()], fb[k][()]
            if x.shape != y.shape or not (np.array_equal(x, y) if x.dtype.kind != "f" else
                                          np.array_equal(x.view(np.uint8), y.view(np.uint8))):
                print("dataset %s differs" % k); ok = False
        for k in fa.attrs:
            if k in ("created", "command_line"):
                continue
            if not np.array_equal(fa.attrs[k], fb.attrs.get(k)):
                print("attribute %s differs: %r vs %r" % (k, fa.attrs[k], fb.attrs.get(k))); ok = False
        print("%d datasets compared, all equal: %s" % (len(names), ok))
    return ok


def summary(path):
    with h5py.File(path, "r") as f:
        print(int(f.attrs["n_prompts"]), int(f.attrs["complete"]), len(f["rows/prompt"]))
    return True


cmd = sys.argv[1]
try:
    ok = {"values": lambda: values(*sys.argv[2:6]), "close": lambda: close(*sys.argv[2:6]), "consistent": lambda: consistent(sys.argv[2]),
          "same": lambda: same(sys.argv[2], sys.argv[3]), "summary": lambda: summary(sys.argv[2])}[cmd]()
except Exception as e:  # a file that does not open is a failed check, not a crash of the test
    print("error: %s: %s" % (type(e).__name__, e))
    ok = False
sys.exit(0 if ok else 1)
