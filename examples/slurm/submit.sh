#!/usr/bin/env bash
# Submits the shard array, then the merge as a job that Slurm starts only after every array task
# has exited 0 (afterok on the array's job id covers all its tasks).
#   THRONG=/path/to/throng RESULTS=/shared/run1 examples/slurm/submit.sh [SBATCH OPTIONS FOR THE ARRAY]
# e.g. `submit.sh --array=0-15 --partition=gpu`. Options for both jobs go in SBATCH_* variables
# (SBATCH_PARTITION, SBATCH_ACCOUNT, ...). THRONG_FLAGS and MERGE_FLAGS: see the .sbatch files.
# Prints "ARRAY_JOB_ID MERGE_JOB_ID" as its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
THRONG=${THRONG:-throng}
# Absolute paths, so that the jobs find them whatever folder they start in.
case $THRONG in */*) THRONG=$(realpath "$THRONG") ;; esac
RESULTS=$(realpath -m "${RESULTS:-$PWD/throng-results}")
export THRONG RESULTS
command -v sbatch >/dev/null || { echo "submit.sh: sbatch not found (no Slurm here?)" >&2; exit 1; }
# --parsable prints "JOBID" or "JOBID;CLUSTER".
array=$(sbatch --parsable "$@" "$here/array.sbatch")
array=${array%%;*}
# --kill-on-invalid-dep: if a task fails, cancel the merge instead of leaving it pending forever.
merge=$(sbatch --parsable --dependency="afterok:$array" --kill-on-invalid-dep=yes "$here/merge.sbatch")
merge=${merge%%;*}
echo "submitted shard array $array and merge $merge (after the array succeeds); results: $RESULTS/merged" >&2
echo "$array $merge"
