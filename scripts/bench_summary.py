#!/usr/bin/env python3
"""Summaries for scripts/bench.sh from the RESULT lines its runs wrote.
usage: bench_summary.py default DIR ROUNDS   (files DIR/{n,f,q,l}.ROUND, l.ROUND.status, {n,q,l}.lg)
       bench_summary.py big DIR FILE_BYTES ROUNDS   (files DIR/bn.R, DIR/bq.R, DIR/bl.R, bl.R.status, rt, big.h5,
                                                      {bn,bq,bl}.lg)
(n/bn: factprobe exact with native weights, f: f32 weights, q/bq: --matmul q8, l/bl: llama.cpp; *.lg: the
last position's logits at 16 tokens in round 1, raw f32)"""
import os, statistics as st, sys
import numpy as np


def res(path):
    """{'pp16': tokens/s, ..., 'load': s, 'rss': MB} from a run's RESULT lines"""
    out = {}
    try:
        for line in open(path):
            if line.startswith("RESULT "):
                _, k, v = line.split()
                out[k] = float(v)
    except OSError:
        pass
    return out


def spread(v):
    """'median (min-max)' of ratios, or 'n/a'"""
    if not v:
        return "n/a"
    return "%.2fx (%.2f-%.2f)" % (st.median(v), min(v), max(v)) if len(v) > 1 else "%.2fx" % v[0]


def agreement(d, pairs, lc, status):
    """how close factprobe's last-position logits (16 tokens, round 1) are to llama.cpp's"""
    if status != "ok":
        print("logits vs llama.cpp: llama.cpp %s in round 1, nothing to compare" % status)
        return
    try:
        ref = np.fromfile("%s/%s.lg" % (d, lc), dtype="<f4").astype(np.float64)
    except OSError:
        print("logits vs llama.cpp: none recorded")
        return
    for f, name in pairs:
        try:
            x = np.fromfile("%s/%s.lg" % (d, f), dtype="<f4").astype(np.float64)
        except OSError:
            x = np.zeros(0)
        if x.size != ref.size or ref.size == 0:
            print("logits vs llama.cpp, %-6s: not recorded" % name)
            continue
        rel = np.abs(x - ref).max() / np.abs(ref).max()
        t1, r1 = int(x.argmax()), int(ref.argmax())
        top10 = len(set(np.argsort(-x)[:10]) & set(np.argsort(-ref)[:10]))
        print("logits vs llama.cpp, %-6s: max |diff| / max |logit| %.3g at 16 tokens (last position), top-1 %s "
              "(%d vs %d), %d of llama.cpp's top 10 in ours" % (name, rel, "agrees" if t1 == r1 else "DIFFERS", t1, r1,
                                                                top10))


def default(d, rounds):
    R = {w: [res("%s/%s.%d" % (d, w, r)) for r in range(1, rounds + 1)] for w in "nfql"}
    status = [open("%s/l.%d.status" % (d, r)).read().strip() for r in range(1, rounds + 1)]
    lc_ok = [s == "ok" for s in status]
    print("== summary, default model: prompt tokens/s (best of %d rounds) and ratios (median of the rounds' own ratios, "
          "their range in brackets)" % rounds)
    if not any(lc_ok):
        print("llama.cpp %s in every round: no ratios against it" % status[0])
    elif not all(lc_ok):
        print("llama.cpp failed in %d of %d rounds (%s): ratios from the other rounds" %
              (lc_ok.count(False), rounds, "; ".join(s for s in status if s != "ok")))
    print("%-7s %9s %9s %9s %9s  %18s %18s %18s %18s %18s" % ("tokens", "native", "f32", "q8", "llama.cpp", "native/llama",
          "f32/llama", "q8/llama", "native/f32", "q8/native"))
    def ratio(a, b):
        v = [x[k] / y[k] for x, y in zip(a, b) if k in x and k in y and y[k] > 0]
        return "%18s" % spread(v)
    for n in (16, 128, 512):
        k = "pp%d" % n
        best = lambda w: max([x[k] for x in R[w] if k in x] or [0])
        lb = best("l")
        lr = [x if ok else {} for x, ok in zip(R["l"], lc_ok)]
        print("%-7d %9.1f %9.1f %9.1f %9s  %s %s %s %s %s" % (n, best("n"), best("f"), best("q"), "%.1f" % lb if lb else "-",
              ratio(R["n"], lr), ratio(R["f"], lr), ratio(R["q"], lr), ratio(R["n"], R["f"]), ratio(R["q"], R["n"])))
    R["l"] = [x if ok else {} for x, ok in zip(R["l"], lc_ok)]
    for w, name in (("n", "native"), ("f", "f32"), ("q", "q8"), ("l", "llama.cpp")):
        loads = [x["load"] for x in R[w] if "load" in x and "rss" in x]
        rss = [x["rss"] for x in R[w] if "load" in x and "rss" in x]
        if loads:
            print("%-10s load %.3f s (best), peak RSS %.0f MB (largest)" % (name, min(loads), max(rss)))
    agreement(d, (("n", "exact"), ("q", "q8")), "l", status[0])


def big(d, size, rounds):
    fp = [res("%s/bn.%d" % (d, r)) for r in range(1, rounds + 1)]
    fq = [res("%s/bq.%d" % (d, r)) for r in range(1, rounds + 1)]
    lc = [res("%s/bl.%d" % (d, r)) for r in range(1, rounds + 1)]
    status = []
    for r in range(1, rounds + 1):
        try:
            status.append(open("%s/bl.%d.status" % (d, r)).read().strip())
        except OSError:
            status.append("not run")
    lc = [x if s == "ok" else {} for x, s in zip(lc, status)]
    print("== summary, Llama-3-8B shapes (file %.2f GB; RSS target: file + 2 GB = %.2f GB), %d rounds: the best "
          "rate and load time, the largest RSS, the median of the rounds' own ratios (their range)" %
          (size / 1e9, size / 1e9 + 2, rounds))
    if all(s != "ok" for s in status):
        print("llama.cpp %s in every round: no ratios against it" % status[0])
    elif any(s != "ok" for s in status):
        print("llama.cpp failed in %d of %d rounds (%s): ratios from the other rounds" %
              (sum(s != "ok" for s in status), rounds, "; ".join(s for s in status if s != "ok")))
    print("%-22s %12s %12s %12s %22s %22s" % ("", "factprobe", "fp --matmul", "llama.cpp", "exact/llama.cpp:",
                                               "q8/llama.cpp:"))
    print("%-22s %12s %12s %12s %22s %22s" % ("", "exact", "q8", "", "median (range)", "median (range)"))
    for k, name, hi in (("pp16", "16 tokens, tokens/s", 1), ("pp128", "128 tokens, tokens/s", 1),
                        ("pp512", "512 tokens, tokens/s", 1), ("load", "load, s", 0), ("rss", "peak RSS, MB", 0)):
        pick = min if k == "load" else max  # the fastest run, the largest RSS
        a = [x[k] for x in fp if k in x]
        q = [x[k] for x in fq if k in x]
        b = [x[k] for x in lc if k in x]
        v = [x[k] / y[k] for x, y in zip(fp, lc) if k in x and k in y and y[k] > 0]
        w = [x[k] / y[k] for x, y in zip(fq, lc) if k in x and k in y and y[k] > 0]
        print("%-22s %12s %12s %12s %22s %22s" % (name, "%.2f" % pick(a) if a else "-", "%.2f" % pick(q) if q else "-",
              "%.2f" % pick(b) if b else "-", spread(v) if hi else "", spread(w) if hi else ""))
    fu = [res("%s/bu.%d" % (d, r)) for r in range(1, rounds + 1)]
    if any(fu):
        print("factprobe without OPENBLAS_CORETYPE (OpenBLAS's own kernel choice), same rounds:")
        for k in ("pp16", "pp128", "pp512"):
            a = [x[k] for x in fu if k in x]
            v = [x[k] / y[k] for x, y in zip(fu, lc) if k in x and k in y and y[k] > 0]
            w = [x[k] / y[k] for x, y in zip(fu, fp) if k in x and k in y and y[k] > 0]
            print("%-22s %16s %16s %26s   against the environment's kernels: %s" %
                  ("%s tokens, tokens/s" % k[2:], "%.2f" % max(a) if a else "-", "", spread(v), spread(w)))
    agreement(d, (("bn", "exact"), ("bq", "q8")), "bl", status[0])
    rss = [x["rss"] for x in fp + fq if "rss" in x]
    if rss:
        print("factprobe peak RSS %.2f GB (largest of the rounds): %s the target of file + 2 GB" %
              (max(rss) / 1e3, "within" if max(rss) * 1e6 <= size + 2e9 else "ABOVE"))
    try:
        secs, kb = open(d + "/rt").read().split()[-2:]
        h5 = d + "/big.h5"
        print("record of every MLP hook: %s s, peak RSS %.2f GB (%s the target), %s" %
              (secs, int(kb) / 1e6, "within" if int(kb) * 1e3 <= size + 2e9 else "ABOVE",
               "%.0f MB written" % (os.path.getsize(h5) / 1e6) if os.path.exists(h5) else "no file written"))
    except (OSError, ValueError):
        print("record: no measurement")


if sys.argv[1] == "default":
    default(sys.argv[2], int(sys.argv[3]))
else:
    big(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 1)
