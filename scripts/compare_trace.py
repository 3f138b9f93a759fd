#!/usr/bin/env python3
"""compare_trace.py EXACT.json ATP.json - the attribution-patching trace
(factprobe trace --method atp --json) against the exact one on the same
prompt, samples and seed: per kind, the Pearson correlation of the indirect
effects over the grid of layers x tokens (and over the subject's and later
tokens only, where the corruption reaches), whether the peak cell agrees,
and the time ratio.  Measurements, not thresholds."""
import json, sys
import numpy as np

e, a = (json.load(open(p)) for p in sys.argv[1:3])
print("exact: %.1f s, atp: %.2f s, %d samples each: atp is %.0fx faster"
      % (e["seconds"], a["seconds"], e["samples"], e["seconds"] / a["seconds"]))
s0 = e["subject_start"]
toks = e["tokens"]
for k in ("resid", "mlp", "attn"):
    if k not in e or k not in a:
        continue
    ie, ia = np.array(e[k]) - e["low"], np.array(a[k]) - a["low"]
    r_all = np.corrcoef(ie.ravel(), ia.ravel())[0, 1]
    r_sub = np.corrcoef(ie[:, s0:].ravel(), ia[:, s0:].ravel())[0, 1]
    pe, pa = np.unravel_index(ie.argmax(), ie.shape), np.unravel_index(ia.argmax(), ia.shape)
    print("%-5s r = %.3f over the grid, %.3f from the subject on; peak exact layer %d token %d %r (ie %.3f), "
          "atp layer %d token %d %r (ie %.3f): %s"
          % (k, r_all, r_sub, pe[0], pe[1], toks[pe[1]], ie[pe], pa[0], pa[1], toks[pa[1]], ia[pa],
             "same cell" if pe == pa else "different cells"))
