#!/usr/bin/python3
"""Which facts of a fact set a model knows: records the logits at the last
token of every prompt of each TSV (columns id prompt subject target
relation; see datasets/README.md) with one `factprobe record --hooks logits
--positions last` per file, and counts a fact as known when the target's
first token is the model's first prediction (and, separately, in its top
10).  Prints one TSV line per relation (relation, facts, top1, top10) and,
with --rows, one line per fact (starting with '#': id, target, top token).

usage: facts_known.py FACTPROBE MODEL FILE.tsv... [--rows]"""
import json, os, subprocess, sys, tempfile

import h5py
import numpy as np

fp, model, *files = sys.argv[1:]
rows_out = "--rows" in files
files = [f for f in files if f != "--rows"]
tmp = tempfile.mkdtemp()
first = {}  # target -> its first token id

print("relation\tfacts\ttop1\ttop10")
for path in files:
    h5 = os.path.join(tmp, "logits.h5")
    subprocess.run([fp, "record", "-q", "-m", model, "-p", path, "-o", h5, "--force", "--hooks", "logits",
                    "--positions", "last", "--dtype", "f32"], check=True)
    with h5py.File(h5, "r") as f:
        lg = f["acts/logits"][:]
        targets = [t.decode() if isinstance(t, bytes) else t for t in f["prompts/target"][:]]
        ids = [t.decode() if isinstance(t, bytes) else t for t in f["prompts/id"][:]]
        rel = f["prompts/relation"][0]
        rel = rel.decode() if isinstance(rel, bytes) else rel
    os.unlink(h5)
    top1 = top10 = 0
    for i, t in enumerate(targets):
        if t not in first:
            tok = json.loads(subprocess.run([fp, "tokenize", "-m", model, "--no-bos", "--json", t], check=True,
                                            capture_output=True, text=True).stdout)
            first[t] = tok["ids"][0]
        want = first[t]
        order = np.argsort(-lg[i], kind="stable")[:10]
        top1 += int(order[0] == want)
        top10 += int(want in order)
        if rows_out:
            print("#\t%s\t%s\t%d\t%s" % (ids[i], t, int(order[0]), "known" if order[0] == want else "-"))
    print("%s\t%d\t%d\t%d" % (rel, len(targets), top1, top10), flush=True)
os.rmdir(tmp)
