#!/usr/bin/env python3
"""make-q8-fixture.py - tests/fixtures/q8_quant.json: Q8_0 quantisations of
activation-like float32 blocks by the gguf Python package (gguf.quants, which
mirrors llama.cpp's quantize_row_q8_0_ref in numpy), the independent
implementation that tests/test_q8mm.c compares model/q8mm.c's activation
quantiser with.  gguf has no Q8_1 or Q8_K quantiser; the test checks those by
their defining properties instead.

Run with the oracle venv (gguf 0.17.1):
  ~/.cache/factprobe/oracle-venv/bin/python scripts/make-q8-fixture.py > tests/fixtures/q8_quant.json
"""
import json

import numpy as np
from importlib.metadata import version

from gguf import GGMLQuantizationType
from gguf.quants import quantize

rng = np.random.default_rng(20261129)
blocks = []
# activation-like blocks: normal values at many scales, some with one outlier
for scale in (1e-4, 1e-2, 0.3, 1.0, 7.0, 100.0, 3e3, 6e4):
    for outlier in (0, 1):
        for _ in range(4):
            b = rng.standard_normal(32) * scale
            if outlier:
                b[rng.integers(32)] *= 40
            blocks.append(b)
# exact ties: amax 127 makes id 127 / amax = 1 / (amax / 127) = 1, so x * id
# is x: halves round away from zero in the ref (gguf), to even on x86
blocks.append(np.array([127.0] + [k + 0.5 for k in range(-15, 15)] + [-2.5]))
blocks.append(np.zeros(32))                                   # d = 0
blocks.append(rng.standard_normal(32) * 1e7)                  # d overflows fp16: inf
blocks.append(rng.standard_normal(32) * 1e-9)                 # d underflows fp16 to 0
blocks.append(np.array([1e-3] * 16 + [-1e-3] * 16))           # +amax and -amax
x = np.concatenate(blocks).astype(np.float32)
q = quantize(x.reshape(-1, 32), GGMLQuantizationType.Q8_0)
out = {
    "source": "gguf.quants.quantize(x, GGMLQuantizationType.Q8_0), gguf " + version("gguf"),
    "x": [float(v) for v in x],
    "q8_0": [bytes(row).hex() for row in q],
}
print(json.dumps(out, indent=0))
