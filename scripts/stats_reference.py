#!/usr/bin/env python3
"""Reference values for tests/test_stats.c, computed with libraries factprobe
does not use (numpy, scipy, scikit-learn), printed as C constants.

    python3 -m venv /tmp/v && /tmp/v/bin/pip install numpy scipy scikit-learn
    /tmp/v/bin/python scripts/stats_reference.py

The data sets are formulas that tests/test_stats.c computes the same way, so
nothing but the results is pasted."""
import numpy as np
import scipy
import scipy.stats
import sklearn
from sklearn.metrics import roc_auc_score

M64 = (1 << 64) - 1


def splitmix64(seed, n):
    """Vigna's splitmix64.c, transcribed."""
    s, out = seed, []
    for _ in range(n):
        s = (s + 0x9E3779B97F4A7C15) & M64
        z = s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        out.append(z ^ (z >> 31))
    return out


def data(n):
    """scores with ties (float32) and labels, the formula in test_stats.c"""
    i = np.arange(n)
    label = ((i * 7) % 5 < 2).astype(int)
    score = ((i * 37) % 101 / 10.0 + (i % 3 == 0) * 2.5 + label * 1.5).astype(np.float32)
    return score, label


def hanley_mcneil(a, n1, n2):
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    return np.sqrt((a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n2 - 1) * (q2 - a * a)) / (n1 * n2))


print(f"/* scripts/stats_reference.py: numpy {np.__version__}, scipy {scipy.__version__}, "
      f"scikit-learn {sklearn.__version__} */")
for seed in (0, 1234567):
    print(f"/* splitmix64 seed {seed} */ " + ", ".join(f"{v}ull" for v in splitmix64(seed, 4)))
for n in (10, 200):
    score, label = data(n)
    a = roc_auc_score(label, score)
    u = scipy.stats.mannwhitneyu(score[label == 1], score[label == 0]).statistic
    n1, n2 = int(label.sum()), int((1 - label).sum())
    x1, x0 = score[label == 1].astype(np.float64), score[label == 0].astype(np.float64)
    sp = np.sqrt(((n1 - 1) * x1.var(ddof=1) + (n2 - 1) * x0.var(ddof=1)) / (n1 + n2 - 2))
    print(f"/* n = {n}: {n1} positives, {n2} negatives; AUROC (sklearn), U / (n1 n2) (scipy), "
          f"Hanley-McNeil se, mean, sd (ddof 1) of all, Cohen's d positives vs negatives */")
    vals = [a, u / (n1 * n2), hanley_mcneil(a, n1, n2), score.astype(np.float64).mean(),
            score.astype(np.float64).std(ddof=1), (x1.mean() - x0.mean()) / sp]
    print(f"{{{n}, " + ", ".join(repr(float(v)) for v in vals) + "},")
