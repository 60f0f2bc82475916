#!/bin/sh
# Prints the number of segments in a filmrestore job file (made by `filmrestore plan`).
# usage: deploy/segment-count.sh JOB.json
set -eu
python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["segments"]))' "$1"
