#!/usr/bin/env bash
# Recording cost for 'make bench': every MLP hook (mlp.hook_pre, hook_pre_linear,
# hook_post) of every layer at f16 for the athletes set, against the same
# forward passes without recording (--dry-run), alternated over ROUNDS rounds
# in one run.  The machine is shared and noisy, so three statistics are
# printed: best against best, median against median, and the median of each
# round's paired ratio, and each round's ratios (the spread).  Also MB/s
# written and file size per 1000 tokens, with and without gzip.
# BEFORE=PATH/factprobe adds another build's plain f16 recording to each round
# (e.g. main's, to compare a change side by side).  GZIP=0 leaves out the
# gzip runs.  NEWFILE=1 records into a new file each round instead of
# overwriting the last round's with --force.  Env: BUILD, FACTPROBE_MODEL,
# ROUNDS (5), BEFORE, GZIP (1), NEWFILE (0).
set -eu
BUILD=${BUILD:-build}
FP="$BUILD/factprobe"
ROUNDS=${ROUNDS:-5}
BEFORE=${BEFORE:-}
GZIP=${GZIP:-1}
NEWFILE=${NEWFILE:-0}
SET=datasets/athletes_sport.tsv
HOOKS='blocks.*.mlp.hook_pre,blocks.*.mlp.hook_pre_linear,blocks.*.mlp.hook_post'
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
secs() { local a b; a=$(date +%s.%N); "$@"; b=$(date +%s.%N); echo "$a $b" | awk '{printf "%.3f", $2 - $1}'; }
dry="" plain="" gz="" before=""
for r in $(seq "$ROUNDS"); do
	dry="$dry $(secs "$FP" record -q --dry-run -p "$SET" --hooks "$HOOKS")"
	if [ "$NEWFILE" = 1 ]; then
		rm -f "$T/plain.h5"
		plain="$plain $(secs "$FP" record -q -p "$SET" -o "$T/plain-$r.h5" --hooks "$HOOKS" --dtype f16)"
		ln "$T/plain-$r.h5" "$T/plain.h5"
	else
		plain="$plain $(secs "$FP" record -q --force -p "$SET" -o "$T/plain.h5" --hooks "$HOOKS" --dtype f16)"
	fi
	[ -z "$BEFORE" ] || before="$before $(secs "$BEFORE" record -q --force -p "$SET" -o "$T/before.h5" --hooks "$HOOKS" --dtype f16)"
	[ "$GZIP" = 0 ] || gz="$gz $(secs "$FP" record -q --force -p "$SET" -o "$T/gz.h5" --hooks "$HOOKS" --dtype f16 --compress 4)"
done
/usr/bin/python3 - "$T" "$dry" "$plain" "$gz" "$before" "$BEFORE" <<'PY'
import os, sys, h5py, statistics as st
d, names = sys.argv[1], ("dry", "plain", "gz", "before")
runs = dict(zip(names, [list(map(float, a.split())) for a in sys.argv[2:6]]))
with h5py.File(d + "/plain.h5") as f:
    toks = len(f["tokens/id"]); acts = sum(ds.size * ds.dtype.itemsize for ds in f["acts"].values())
    nh = len(f["acts"]); n_prompts = len(f["prompts/text"])
print("%d prompts' %d tokens, %d hooks (every layer's mlp.hook_pre, hook_pre_linear, hook_post), f16; load %s" %
      (n_prompts, toks, nh, open("/proc/loadavg").read().split()[0]))
for k in names:
    if runs[k]:
        print("runs (s), %-6s %s" % (k, " ".join("%.2f" % x for x in runs[k])))
dry = runs["dry"]; d_best, d_med = min(dry), st.median(dry)
print("%-30s %7s %7s %10s %9s %12s %22s %7s %11s" % ("", "best s", "median", "best/best", "med/med", "paired (med)",
      "paired min..max", "MB/s", "MB/1000 tok"))
print("%-30s %7.2f %7.2f" % ("forward only (dry-run)", d_best, d_med))
rows = [("record, f16", "plain", "plain.h5"), ("record, f16, gzip 4", "gz", "gz.h5"),
        ("record, f16, BEFORE build", "before", "before.h5")]
for name, k, fn in rows:
    rs = runs[k]
    if not rs:
        continue
    pr = [r / q for r, q in zip(rs, dry)]
    print("%-30s %7.2f %7.2f %9.1f%% %8.1f%% %11.1f%% %10.1f%%..%6.1f%% %7.1f %11.1f" % (name, min(rs), st.median(rs),
          100 * (min(rs) - d_best) / d_best, 100 * (st.median(rs) - d_med) / d_med, 100 * (st.median(pr) - 1),
          100 * (min(pr) - 1), 100 * (max(pr) - 1), acts / 1e6 / st.median(rs), os.path.getsize(d + "/" + fn) / 1e6 / toks * 1000))
if runs["before"]:
    pb = [a / b for a, b in zip(runs["plain"], runs["before"])]
    print("this build / BEFORE (%s), paired per round: median %.3f, min %.3f, max %.3f" %
          (sys.argv[6], st.median(pb), min(pb), max(pb)))
if runs["gz"]:
    print("activations: %.1f MB uncompressed; gzip 4 file is %.0f%% of the plain one" %
          (acts / 1e6, 100 * os.path.getsize(d + "/gz.h5") / os.path.getsize(d + "/plain.h5")))
PY
