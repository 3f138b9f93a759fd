#!/bin/bash
# scripts/slurm-record.sh - an example Slurm batch script for a recording too
# big for one machine, in either of two ways (edit the #SBATCH lines and the
# variables below for your cluster):
#
# 1. A job array, no MPI: each array task records one shard, then one merge.
#      sbatch --array=0-63 scripts/slurm-record.sh array
#      # when all 64 tasks are done (or chain it: --dependency=afterok:JOBID):
#      factprobe merge acts.h5 acts.shard-*-of-64.h5
#    A task that fails or is pre-empted is rerun with the same command plus
#    --resume (sbatch --array=17 ... array resume).
#
# 2. One MPI job: mpirun (or srun) starts one factprobe-mpi rank per task;
#    rank 0 writes the master when all shards are done.
#      sbatch --nodes=8 --ntasks-per-node=8 scripts/slurm-record.sh mpi
#    After a failure: the same with "mpi resume".
#
# Ranks and threads: the forward pass is OpenBLAS matrix products, which use
# OPENBLAS_NUM_THREADS threads per process.  Give each rank whole cores and
# set OPENBLAS_NUM_THREADS to --cpus-per-task; ranks x threads should not
# exceed the cores of a node (more only time-slices them).
#SBATCH --job-name=factprobe-record
#SBATCH --cpus-per-task=2
#SBATCH --mem=4G
#SBATCH --time=04:00:00
#SBATCH --output=factprobe-%A_%a.log
set -euo pipefail
MODE=${1:-array}
RESUME=${2:+--resume}
FACTPROBE=${FACTPROBE:-factprobe}
FACTPROBE_MPI=${FACTPROBE_MPI:-factprobe-mpi}
PROMPTS=${PROMPTS:-corpus.tsv}
OUT=${OUT:-acts.h5}
HOOKS=${HOOKS:-blocks.*.mlp.hook_post}
export OPENBLAS_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}

case $MODE in
array)
	N=${SLURM_ARRAY_TASK_COUNT:?run as a job array: sbatch --array=0-N-1}
	I=${SLURM_ARRAY_TASK_ID:?run as a job array}
	# the same names factprobe-mpi gives its shards, so merge's line is the same
	exec "$FACTPROBE" record -p "$PROMPTS" --hooks "$HOOKS" --shard "$I/$N" \
		-o "${OUT%.h5}.shard-$I-of-$N.h5" $RESUME
	;;
mpi)
	# srun works as well where Slurm's PMIx is set up: srun "$FACTPROBE_MPI" record ...
	exec mpirun -x OPENBLAS_NUM_THREADS "$FACTPROBE_MPI" record -p "$PROMPTS" --hooks "$HOOKS" -o "$OUT" $RESUME
	;;
*)
	echo "usage: sbatch [--array=0-N-1] $0 array|mpi [resume]" >&2
	exit 2
	;;
esac
