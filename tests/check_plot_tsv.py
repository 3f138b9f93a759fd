#!/usr/bin/python3
"""tests/check_plot_tsv.py KIND FIG.tsv INPUT.h5 [OPTION=VALUE ...]

Checks the TSV that `factprobe plot KIND` writes beside a figure against
what plots/KIND.gp reads from it (the blocks gnuplot addresses with `index`,
the columns its `using` clauses name, the header rows) and against the input
result file read with h5py (so the figure shows the numbers of the input, in
the right cells).  Prints what it checked; exit 0 when everything holds.
Options: prompt=I (heatmap), neurons=L.N,... (heatmap), value=cos|dot (dot).
"""
import math
import sys

import h5py
import numpy as np


def blocks(path):
    """gnuplot's data blocks: separated by two blank lines; '#' lines skipped."""
    out, cur, blank = [], [], 0
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("#"):
            continue
        if not line.strip():
            blank += 1
            if blank == 2 and cur:
                out.append(cur)
                cur = []
            continue
        blank = 0
        cur.append(line.split("\t"))
    if cur:
        out.append(cur)
    return out


class Fail(Exception):
    pass


def need(cond, what):
    if not cond:
        raise Fail(what)


def num(rows, cols, what):
    try:
        return np.array([[float(r[c]) for c in cols] for r in rows])
    except (ValueError, IndexError) as e:
        raise Fail("%s: a column gnuplot reads as a number is not one (%s)" % (what, e))


def close(a, b, what, tol=1e-4):
    a, b = np.asarray(a, float), np.asarray(b, float)
    need(a.shape == b.shape, "%s: shape %s, the input has %s" % (what, a.shape, b.shape))
    both_nan = np.isnan(a) & np.isnan(b)
    d = np.where(both_nan, 0, np.abs(a - b) / np.maximum(1, np.abs(b)))
    m = float(np.nanmax(d)) if d.size else 0.0
    need(not np.isnan(d).any() and m <= tol, "%s: differs from the input by %.3g (tolerance %g)" % (what, m, tol))
    return m


def ncols(rows, n, what):
    bad = [i for i, r in enumerate(rows) if len(r) != n]
    need(not bad, "%s: row %d has %d columns, the script reads %d" % (what, bad[0] + 1, len(rows[bad[0]]), n) if bad else "")


def s(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def k_dot(b, f, opt):
    need(len(b) == 1, "one block expected, found %d" % len(b))
    rows = b[0]
    head, data = rows[0], rows[1:]
    layer = f["layer"][()]
    need(len(data) == len(layer), "%d data rows for %d layers" % (len(data), len(layer)))
    if "cos" in f:  # one prompt: layer, then one column per position (using 1:i, i = 2..fp_ncol)
        val = f[opt.get("value", "cos")][()]
        need(head[0] == "layer" and len(head) == val.shape[1] + 1, "header %s for %d positions" % (head, val.shape[1]))
        ncols(data, len(head), "data rows")
        x = num(data, range(len(head)), "dot")
        close(x[:, 0], layer, "layer column")
        m = close(x[:, 1:], val, "%s columns 2..%d" % (opt.get("value", "cos"), len(head)))
        return "header layer + %d positions, %d layers, values = input %s (max rel diff %.1e)" % (
            val.shape[1], len(layer), opt.get("value", "cos"), m)
    # a prompt set: layer, mean, std (using 1:2 and 1:($2-$3):($2+$3))
    need(head == ["layer", "mean", "std"], "header %s, the script reads layer, mean, std" % head)
    ncols(data, 3, "data rows")
    x = num(data, range(3), "dot")
    close(x[:, 0], layer, "layer column")
    m = max(close(x[:, 1], f["mean_cos"][()], "mean column"), close(x[:, 2], np.nan_to_num(f["std_cos"][()]), "std column"))
    return "header layer/mean/std, %d layers, = input mean_cos/std_cos (max rel diff %.1e)" % (len(layer), m)


def k_lens(b, f, opt):
    need(len(b) == 3, "3 blocks (index 0, 1, 2) expected, found %d" % len(b))
    prob = f["top_prob"][()]
    R, P, _ = prob.shape
    ncols(b[0], 5, "index 0 (position, row, probability, top token, label colour)")
    x = num(b[0], [0, 1, 2, 4], "index 0")
    need(len(b[0]) == R * P, "index 0 has %d cells for %d x %d" % (len(b[0]), R, P))
    p, r = x[:, 0].astype(int), x[:, 1].astype(int)
    need(p.min() == 0 and p.max() == P - 1 and r.min() == 0 and r.max() == R - 1, "cell coordinates out of range")
    m = close(x[:, 2], prob[r, p, 0], "probabilities", 1e-4)
    need(set(x[:, 3].astype(int)) <= {0, 0xffffff}, "label colours are not black or white")
    ncols(b[1], 2, "index 1 (position, token)")
    ncols(b[2], 2, "index 2 (row, layer label)")
    need(len(b[1]) == P and len(b[2]) == R, "index 1/2 have %d/%d rows for %d positions, %d rows" % (len(b[1]), len(b[2]), P, R))
    labels = [s(x) for x in f["layer_label"][()]]
    need([t[1] for t in b[2]] == labels, "row labels %s differ from the input %s" % ([t[1] for t in b[2]], labels))
    return "%d x %d cells of 5 columns, probabilities = input top_prob (max rel diff %.1e), %d token and %d layer labels" % (
        R, P, m, P, R)


def k_trace(b, f, opt):
    fmt = s(f.attrs["format"])
    kinds = [k for k in ("resid", "mlp", "attn") if (k + "/mean" if fmt.endswith("dataset") else "score/" + k) in f]
    need(len(b) == len(kinds) + 1, "%d blocks for %d panels + labels" % (len(b), len(kinds)))
    m = 0
    for i, k in enumerate(kinds):
        g = f[k + "/mean"][()].T if fmt.endswith("dataset") else f["score/" + k][()]  # -> [layers, rows]
        L, R = g.shape
        ncols(b[i], 3, "index %d (layer, row, value)" % i)
        x = num(b[i], range(3), "index %d" % i)
        need(len(x) == L * R, "index %d: %d cells for %d layers x %d rows" % (i, len(x), L, R))
        li, ri = x[:, 0].astype(int), x[:, 1].astype(int)
        m = max(m, close(x[:, 2], g[li, ri], "panel %s values" % k, 1e-4))
    ncols(b[-1], 2, "label block (row, label)")
    need(len(b[-1]) == R, "label block: %d rows for %d" % (len(b[-1]), R))
    return "%d panels (%s) of %d layers x %d rows, values = input (max rel diff %.1e), %d row labels" % (
        len(kinds), ",".join(kinds), L, R, m, R)


def k_top_neurons(b, f, opt):
    need(len(b) == 1, "one block expected")
    head, data = b[0][0], b[0][1:]
    need(head == ["rank", "neuron", "score"], "header %s, the script reads rank, neuron, score" % head)
    ncols(data, 3, "data rows")
    by = s(f.attrs["rank_by"])
    sc, tl, tn = f[by][()], f["top_layer"][()], f["top_neuron"][()]
    need(len(data) == len(tl), "%d bars for %d top neurons" % (len(data), len(tl)))
    need([r[1] for r in data] == ["%d.%d" % (l, n) for l, n in zip(tl, tn)], "neuron labels differ from top_layer.top_neuron")
    x = num(data, [0, 2], "top-neurons")
    m = close(x[:, 1], sc[tl.astype(int), tn.astype(int)], "scores", 1e-5)
    need(list(x[:, 0]) == list(range(1, len(data) + 1)), "ranks are not 1..N")
    return "header rank/neuron/score, %d bars, labels = top_layer.top_neuron, scores = input %s (max rel diff %.1e)" % (
        len(data), by, m)


def k_heatmap(b, f, opt):
    need(len(b) == 3, "3 blocks expected, found %d" % len(b))
    pi = int(opt.get("prompt", 0))
    s0, n = int(f["prompts/row_start"][pi]), int(f["prompts/n_rows"][pi])
    ncols(b[1], 2, "index 1 (column, neuron label)")
    ncols(b[2], 2, "index 2 (row, token)")
    labels = [r[1] for r in b[1]]
    if "neurons" in opt:
        need(labels == opt["neurons"].split(","), "columns %s, asked for %s" % (labels, opt["neurons"]))
    need(len(b[2]) == n, "index 2: %d token rows for the prompt's %d" % (len(b[2]), n))
    ncols(b[0], 3, "index 0 (column, row, activation)")
    x = num(b[0], range(3), "index 0")
    need(len(x) == len(labels) * n, "index 0: %d cells for %d x %d" % (len(x), len(labels), n))
    want = []
    for c, r in zip(x[:, 0].astype(int), x[:, 1].astype(int)):
        l, k = (int(v) for v in labels[c].split("."))
        want.append(f["acts/blocks.%d.mlp.hook_post" % l][s0 + r, k])
    m = close(x[:, 2], want, "activations", 1e-4)
    return "%d neurons x %d tokens, activations = input acts at those rows (max rel diff %.1e)" % (len(labels), n, m)


def k_distribution(b, f, opt):
    need(len(b) == 1, "one block expected")
    head, data = b[0][0], b[0][1:]
    need(len(head) == 3 and head[0] == "activation", "header %s, the script reads activation and two densities" % head)
    ncols(data, 3, "data rows")
    x = num(data, range(3), "distribution")
    w = np.diff(x[:, 0])
    need(len(x) > 2 and np.allclose(w, w[0], rtol=1e-3), "bin centres are not evenly spaced")
    ints = [float(x[:, c].sum() * w[0]) for c in (1, 2)]
    need(all(abs(i - 1) < 1e-3 for i in ints), "densities integrate to %.4f and %.4f, not 1" % tuple(ints))
    return "header %s, %d bins, densities integrate to %.4f and %.4f" % ("/".join(head), len(x), ints[0], ints[1])


def k_angles(b, f, opt):
    need(len(b) == 1, "one block expected")
    head, data = b[0][0], b[0][1:]
    need(head == ["angle", "all pairs", "nearest neighbour"], "header %s" % head)
    ncols(data, 3, "data rows")
    x = num(data, range(3), "angles")
    g = f[opt.get("set", "optimized")]
    c = g["bin_center"][()]
    idx = np.searchsorted(c, x[:, 0] - 1e-6)
    need((idx < len(c)).all() and np.allclose(c[idx], x[:, 0], atol=1e-4), "bin centres are not the input's")
    m = max(close(x[:, 1], g["pairwise_density"][()][idx], "pairwise densities", 1e-4),
            close(x[:, 2], g["nearest_density"][()][idx], "nearest-neighbour densities", 1e-4))
    return "header angle/all pairs/nearest neighbour, %d bins = input densities (max rel diff %.1e)" % (len(x), m)


KINDS = {"dot": k_dot, "lens": k_lens, "trace": k_trace, "top-neurons": k_top_neurons, "heatmap": k_heatmap,
         "distribution": k_distribution, "angles": k_angles}


def main():
    kind, tsv, h5 = sys.argv[1:4]
    opt = dict(a.split("=", 1) for a in sys.argv[4:])
    try:
        with h5py.File(h5, "r") as f:
            print(KINDS[kind](blocks(tsv), f, opt))
    except Fail as e:
        print("%s: %s" % (tsv, e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
