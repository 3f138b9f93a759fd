#!/usr/bin/env bash
# Ranks against threads for 'make bench': the same recording (every layer's
# MLP neurons, mlp.hook_post, at f16, of the athletes set) made by
#   1 rank  x 2 BLAS threads  (factprobe, OPENBLAS_NUM_THREADS=2)
#   2 ranks x 1 BLAS thread   (mpirun -np 2 factprobe-mpi, OPENBLAS_NUM_THREADS=1)
#   1 rank  x 1 BLAS thread   (factprobe, OPENBLAS_NUM_THREADS=1)
# alternated over ROUNDS rounds in one run; best and median times and their
# ratios, plus the per-rank rate (tokens/s) and HDF5 write rate (MB/s) of
# the 1 x 1 run for the README's estimate.  Env: BUILD, FACTPROBE_MODEL.
set -eu
BUILD=${BUILD:-build}
FP="$BUILD/factprobe"
MPI="$BUILD/factprobe-mpi"
ROUNDS=${ROUNDS:-3}
REPEAT=${REPEAT:-4}
HOOKS='blocks.*.mlp.hook_post'
if [ ! -x "$MPI" ] || ! command -v mpirun >/dev/null; then
	echo "ranks x threads skipped: no $MPI or mpirun (OpenMPI: scripts/setup-deps.sh, then make)"
	exit 0
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
secs() { local a b; a=$(date +%s.%N); "$@" >/dev/null 2>&1; b=$(date +%s.%N); echo "$a $b" | awk '{printf "%.3f", $2 - $1}'; }
SET="$T/set.tsv"
head -1 datasets/athletes_sport.tsv >"$SET"
for i in $(seq "$REPEAT"); do tail -n +2 datasets/athletes_sport.tsv >>"$SET"; done
R=(record -q --force -p "$SET" --hooks "$HOOKS" --dtype f16)
t12="" t21="" t11="" dry=""
for r in $(seq "$ROUNDS"); do
	t12="$t12 $(OPENBLAS_NUM_THREADS=2 secs "$FP" "${R[@]}" -o "$T/a.h5")"
	t21="$t21 $(OPENBLAS_NUM_THREADS=1 secs mpirun --oversubscribe -np 2 "$MPI" "${R[@]}" -o "$T/b.h5")"
	t11="$t11 $(OPENBLAS_NUM_THREADS=1 secs "$FP" "${R[@]}" -o "$T/c.h5")"
	dry="$dry $(OPENBLAS_NUM_THREADS=1 secs "$FP" record -q --dry-run -p "$SET" --hooks "$HOOKS")"
done
/usr/bin/python3 - "$T/c.h5" "$t12" "$t21" "$t11" "$dry" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import sys, statistics as st, h5py
path, runs, ncpu, load = sys.argv[1], [list(map(float, a.split())) for a in sys.argv[2:6]], sys.argv[6], sys.argv[7]
with h5py.File(path) as f:
    toks = len(f["tokens/id"]); mb = sum(d.size * d.dtype.itemsize for d in f["acts"].values()) / 1e6
    nh, pr = len(f["acts"]), len(f["prompts/text"])
print("%d prompts, %d tokens, %d hooks (mlp.hook_post, every layer) at f16 = %.0f MB; %s CPUs, load average %s at the end"
      % (pr, toks, nh, mb, ncpu, load))
names = ["1 rank x 2 threads", "2 ranks x 1 thread", "1 rank x 1 thread", "1 x 1, --dry-run"]
print("%-20s %8s %8s  %s" % ("", "best s", "median", "runs"))
for n, r in zip(names, runs):
    print("%-20s %8.2f %8.2f  %s" % (n, min(r), st.median(r), " ".join("%.2f" % x for x in r)))
b = [min(r) for r in runs]; m = [st.median(r) for r in runs]
paired = lambda i, j: st.median([x / y for x, y in zip(runs[i], runs[j])])
print("2 ranks x 1 thread against 1 rank x 2 threads: %.2fx faster (best/best), %.2fx (median), %.2fx (paired)"
      % (b[0] / b[1], m[0] / m[1], paired(0, 1)))
print("scaling from 1 to 2 ranks at 1 thread each: %.2fx (best/best), %.2fx (median), %.2fx (paired); ideal 2"
      % (b[2] / b[1], m[2] / m[1], paired(2, 1)))
rate, wr = toks / b[2], mb / max(b[2] - b[3], 1e-9)
print("per rank (1 thread, recording): %.0f tokens/s, %.1f MB/s of activations; writing costs %.0f%% over --dry-run (best/best)"
      % (rate, mb / b[2], 100 * (b[2] - b[3]) / b[3]))
if b[2] > b[3]:
    print("HDF5 writing, as the time recording adds to --dry-run (best/best): %.0f MB/s" % wr)
else:
    wr = float("nan")
    print("HDF5 writing: not measurable in this run (the best recording was no slower than the best --dry-run: noise)")
print("RESULT rank_tokens_per_s %.1f rank_mb_per_s %.2f bytes_per_token %.0f" % (rate, mb / b[2], mb * 1e6 / toks) + " hdf5_mb_per_s %.1f" % wr)
PY
