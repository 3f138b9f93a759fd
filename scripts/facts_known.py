#!/usr/bin/env python3
"""Which facts of a fact set a model knows: for each row of the TSV files
(columns id prompt subject target relation; see datasets/README.md), runs
`factprobe predict` on the prompt and counts the fact as known when the
target's first token is the model's first prediction (and, separately, in
its top 10).  Prints one line per relation (TSV: relation, facts, top-1,
top-10) and, with --rows, one line per fact.

usage: facts_known.py FACTPROBE MODEL FILE.tsv... [--rows]"""
import json, subprocess, sys

fp, model, *files = sys.argv[1:]
rows_out = "--rows" in files
files = [f for f in files if f != "--rows"]


def run(*args):
    out = subprocess.run([fp, *args, "-m", model], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


print("relation\tfacts\ttop1\ttop10")
for path in files:
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    head = lines[0].split("\t")
    ip, it, ir = head.index("prompt"), head.index("target"), head.index("relation")
    n = top1 = top10 = 0
    rel = None
    for line in lines[1:]:
        c = line.split("\t")
        prompt = c[ip].replace("\\n", "\n")
        rel = c[ir]
        toks = run("tokenize", "--no-bos", "--json", c[it])
        want = toks["ids"][0]
        pred = run("predict", "-k", "10", "--json", prompt)["predictions"]
        ids = [p["token_id"] for p in pred]
        n += 1
        top1 += ids[0] == want
        top10 += want in ids
        if rows_out:
            print("#\t%s\t%s\t%s\t%s" % (c[0], c[it], pred[0]["token"], "known" if ids[0] == want else "-"))
    print("%s\t%d\t%d\t%d" % (rel, n, top1, top10), flush=True)
