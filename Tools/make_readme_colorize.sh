#!/usr/bin/env bash
# Makes docs/images/colorize-before-after.jpg: three old black-and-white photographs, each before (left)
# and after `filmrestore restore --preset colorize` with the default model and settings (right), 240 rows.
#   Tools/make_readme_colorize.sh [PHOTO_FOLDER]   (default: ../shared/data/bw-photos)
# The photos are copied from piddnad/DDColor@2adb63f2 assets/test_images (Apache-2.0 repository) and are
# public domain: Detroit Publishing Co. (Library of Congress, published before 1929) and Dorothea Lange's
# FSA photograph (a work of the U.S. government). No colour original exists: judge plausibility, not truth.
set -euo pipefail
dir=${1:-../shared/data/bw-photos}
BIN=$(swift build -c release --show-bin-path)/filmrestore
D=$(mktemp -d); trap 'rm -rf "$D"' EXIT
i=0
for name in "Detroit circa 1915.jpg" "Broadway at the United States Hotel Saratoga Springs, N.Y. ca 1900-1915.jpg" \
  "February 1936. Nipomo, Calif. Destitute pea pickers living in tent in migrant camp. Mother of seven children. Age 32.jpg"; do
  ffmpeg -v error -y -i "$dir/$name" -vf "scale=-2:480:flags=lanczos,format=gray" "$D/in$i.png"
  "$BIN" restore "$D/in$i.png" -o "$D/out$i.png" --preset colorize --quiet
  ffmpeg -v error -y -i "$D/in$i.png" -i "$D/out$i.png" \
    -filter_complex "[0]format=rgb24,scale=-2:240:flags=lanczos[a];[1]format=rgb24,scale=-2:240:flags=lanczos[b];[a][b]hstack=2,pad=iw+8:ih:0:0:white" \
    "$D/pair$i.png"
  i=$((i + 1))
done
ffmpeg -v error -y -i "$D/pair0.png" -i "$D/pair1.png" -i "$D/pair2.png" -filter_complex "[0][1][2]hstack=3" \
  -frames:v 1 -q:v 3 docs/images/colorize-before-after.jpg
echo "wrote docs/images/colorize-before-after.jpg"
