#!/bin/sh
# Prints the Indexed Job manifest for a job file.
# usage: deploy/kubernetes/render.sh JOB.json OUT   (env: IMAGE=filmrestore:latest CLAIM=filmrestore-shared PARALLELISM=4)
set -eu
here=$(dirname "$0")
n=$("$here/../segment-count.sh" "$1")
sed -e "s|\${SEGMENTS}|$n|g" -e "s|\${PARALLELISM}|${PARALLELISM:-4}|g" -e "s|\${JOB}|$1|g" -e "s|\${OUT}|$2|g" \
    -e "s|\${IMAGE}|${IMAGE:-filmrestore:latest}|g" -e "s|\${CLAIM}|${CLAIM:-filmrestore-shared}|g" \
    "$here/filmrestore-indexed-job.yaml"
