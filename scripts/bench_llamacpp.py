#!/usr/bin/env python3
"""Prompt-processing speed of llama.cpp (llama-cpp-python) on the same GGUF
and machine, for 'make bench': same token ids, same batch sizes, median of
REPEATS runs, logits for the last position only (as factprobe's forward).
usage: bench_llamacpp.py MODEL.gguf THREADS [REPEATS]"""
import sys, time, statistics
import llama_cpp
from llama_cpp import Llama

model, threads = sys.argv[1], int(sys.argv[2])
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
llm = Llama(model_path=model, n_ctx=512, n_batch=512, n_ubatch=512, n_threads=threads, n_threads_batch=threads,
            logits_all=False, verbose=False)
n_vocab = llm.n_vocab()
ids = [(i * 7919 + 13) % n_vocab for i in range(512)]
print("llama.cpp via llama-cpp-python %s, %d threads" % (llama_cpp.__version__, threads))
for n in (16, 128, 512):
    llm.reset(); llm.eval(ids[:n])  # warm-up
    t = []
    for _ in range(reps):
        llm.reset()
        a = time.perf_counter()
        llm.eval(ids[:n])
        t.append(time.perf_counter() - a)
    med = statistics.median(t)
    print("%-8d %10.1f %10.0f" % (n, med * 1e3, n / med))
    print("RESULT pp%d %.1f" % (n, n / med))
