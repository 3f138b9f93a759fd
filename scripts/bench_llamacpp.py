#!/usr/bin/env python3
"""Prompt-processing speed of llama.cpp (llama-cpp-python) on the same GGUF
and machine, for 'make bench': same token ids, same batch sizes, median of
REPEATS runs, logits for the last position only (as factprobe's forward).
Also the load time and the process's peak RSS (as factprobe's bench prints).
usage: bench_llamacpp.py MODEL.gguf THREADS [REPEATS [SIZES]]   (SIZES: 16,128,512)
Prints 'RESULT ppN tokens/s', 'RESULT load s' and 'RESULT rss MB' lines for bench.sh.
$BENCH_LOGITS=FILE: the last position's logits at the first size, raw f32."""
import os, resource, sys, time, statistics
import numpy as np
import llama_cpp
from llama_cpp import Llama

model, threads = sys.argv[1], int(sys.argv[2])
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
sizes = [int(s) for s in sys.argv[4].split(",")] if len(sys.argv) > 4 else [16, 128, 512]
t0 = time.perf_counter()
llm = Llama(model_path=model, n_ctx=max(sizes), n_batch=max(sizes), n_ubatch=max(sizes), n_threads=threads,
            n_threads_batch=threads, logits_all=False, verbose=False)
load = time.perf_counter() - t0
n_vocab = llm.n_vocab()
ids = [(i * 7919 + 13) % n_vocab for i in range(max(sizes))]
print("llama.cpp via llama-cpp-python %s, %d threads; load %.3f s" % (llama_cpp.__version__, threads, load))
print("RESULT load %.3f" % load)
print("%-8s %10s %10s" % ("tokens", "ms", "tokens/s"))
sys.stdout.flush()
for k, n in enumerate(sizes):
    if reps > 1 or k == 0:
        llm.reset(); llm.eval(ids[:n])  # warm-up (with one repeat: only before the first size)
    t = []
    for _ in range(reps):
        llm.reset()
        a = time.perf_counter()
        llm.eval(ids[:n])
        t.append(time.perf_counter() - a)
    if k == 0 and os.environ.get("BENCH_LOGITS"):
        # the last position's logits of this size (bench_summary.py compares them with factprobe's)
        # (logits_all=False: llama.cpp keeps the last position's row only; its default f16 KV cache)
        np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,)).astype("<f4").tofile(os.environ["BENCH_LOGITS"])
    med = statistics.median(t)
    print("%-8d %10.1f %10.1f" % (n, med * 1e3, n / med))
    print("RESULT pp%d %.2f" % (n, n / med))
    sys.stdout.flush()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
print("peak RSS     %7.0f MB (the Python process, llama.cpp in it)" % rss)
print("RESULT rss %.0f" % rss)
