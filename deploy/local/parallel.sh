#!/bin/sh
# Restores every segment of a job as local processes, P at a time, then nothing else: a segment
# already done is skipped, so the script can simply be run again after a crash.
# usage: deploy/local/parallel.sh JOB.json [P]   (FILMRESTORE: the binary; default: filmrestore on PATH)
set -eu
job=$1
parallel=${2:-2}
bin=${FILMRESTORE:-filmrestore}
n=$("$(dirname "$0")/../segment-count.sh" "$job")
echo "$n segment(s) of $job, $parallel at a time"
seq 0 $((n - 1)) | xargs -P "$parallel" -I{} "$bin" restore --job "$job" --segment {} --quiet
