#!/bin/sh
# Submits a filmrestore job to Slurm: one array task per segment, then the assembly once all
# ended (it checks that every segment is done; see filmrestore-assemble.sbatch). Extra arguments go to both sbatch calls (e.g. --partition=cpu --account=archive).
# usage: deploy/slurm/submit.sh JOB.json OUT [sbatch options…]
set -eu
job=$(realpath "$1"); out=$(realpath -m "$2"); shift 2
here=$(dirname "$0")
n=$("$here/../segment-count.sh" "$job")
array=$(sbatch --parsable --array=0-$((n - 1)) --export=ALL,JOB="$job" "$@" "$here/filmrestore-array.sbatch")
array=${array%%;*}
assembly=$(sbatch --parsable --dependency=afterany:"$array" --export=ALL,JOB="$job",OUT="$out" "$@" \
    "$here/filmrestore-assemble.sbatch")
assembly=${assembly%%;*}
echo "submitted: segments $array (array 0-$((n - 1))), assembly $assembly after it into $out"
