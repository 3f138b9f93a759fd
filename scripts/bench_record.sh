#!/usr/bin/env bash
# Recording cost for 'make bench': every MLP hook (mlp.hook_pre, hook_pre_linear,
# hook_post) of every layer at f16 for the athletes set, against the same
# forward passes without recording (--dry-run), alternated over ROUNDS rounds
# in one run.  The machine is shared and noisy, so three statistics are
# printed: best against best, median against median, and the median of each
# round's paired ratio.  Also MB/s written and file
# size per 1000 tokens, with and without gzip.  Env: BUILD, FACTPROBE_MODEL.
set -eu
BUILD=${BUILD:-build}
FP="$BUILD/factprobe"
ROUNDS=${ROUNDS:-5}
SET=datasets/athletes_sport.tsv
HOOKS='blocks.*.mlp.hook_pre,blocks.*.mlp.hook_pre_linear,blocks.*.mlp.hook_post'
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
secs() { local a b; a=$(date +%s.%N); "$@"; b=$(date +%s.%N); echo "$a $b" | awk '{printf "%.3f", $2 - $1}'; }
best() { tr ' ' '\n' | grep . | sort -g | head -1; }
dry="" plain="" gz=""
for r in $(seq "$ROUNDS"); do
	dry="$dry $(secs "$FP" record -q --dry-run -p "$SET" --hooks "$HOOKS")"
	plain="$plain $(secs "$FP" record -q --force -p "$SET" -o "$T/plain.h5" --hooks "$HOOKS" --dtype f16)"
	gz="$gz $(secs "$FP" record -q --force -p "$SET" -o "$T/gz.h5" --hooks "$HOOKS" --dtype f16 --compress 4)"
done
d=$(echo "$dry" | best); p=$(echo "$plain" | best); g=$(echo "$gz" | best)
/usr/bin/python3 - "$T/plain.h5" "$T/gz.h5" "$d" "$p" "$g" "$dry" "$plain" "$gz" <<'PY'
import os, sys, h5py
plain, gz, d, p, g = sys.argv[1], sys.argv[2], *map(float, sys.argv[3:6])
with h5py.File(plain) as f:
    toks = len(f["tokens/id"]); acts = sum(ds.size * ds.dtype.itemsize for ds in f["acts"].values())
    nh = len(f["acts"]); rows = len(f["rows/prompt"])
print("%d prompts' %d tokens, %d hooks (every layer's mlp.hook_pre, hook_pre_linear, hook_post), f16" %
      (len(h5py.File(plain)["prompts/text"]), toks, nh))
print("runs (s): dry-run %s | record %s | record gzip 4 %s" % tuple(sys.argv[6:9]))
import statistics as st
runs = [list(map(float, a.split())) for a in sys.argv[6:9]]
dm = st.median(runs[0])
print("%-22s %7s %7s %11s %11s %13s %11s %14s" % ("", "best s", "median", "best/best", "med/med", "paired ratio", "MB/s", "MB/1000 tok"))
print("%-22s %7.2f %7.2f" % ("forward only (dry-run)", d, dm))
for name, rs, t, path in (("record, f16", runs[1], p, plain), ("record, f16, gzip 4", runs[2], g, gz)):
    size = os.path.getsize(path)
    paired = st.median([r / q for r, q in zip(rs, runs[0])])
    print("%-22s %7.2f %7.2f %10.1f%% %10.1f%% %12.1f%% %11.1f %14.1f" % (name, t, st.median(rs), 100 * (t - d) / d,
          100 * (st.median(rs) - dm) / dm, 100 * (paired - 1), acts / 1e6 / st.median(rs), size / 1e6 / toks * 1000))
print("activations: %.1f MB uncompressed; gzip 4 file is %.0f%% of the plain one" %
      (acts / 1e6, 100 * os.path.getsize(gz) / os.path.getsize(plain)))
PY
