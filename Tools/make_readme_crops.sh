#!/usr/bin/env bash
# Makes docs/images/detroit-1915-4k-crops.png: one old black-and-white picture taken to 4K three
# ways, 480x270 crops at 100 % beside the source enlarged bicubically.
#   Tools/make_readme_crops.sh PHOTO   (default: ../shared/data/bw-photos/Detroit circa 1915.jpg)
# The photo (Detroit Publishing Co., c. 1915; Library of Congress collection, no known restrictions,
# published before 1929: public domain) is copied from piddnad/DDColor@2adb63f2 assets/test_images.
# It stands in for a film frame: it is reduced to 640x354 (an SD telecine's width) and repeated as
# a 5-frame clip; each chain is denoise → upscale (model) → fit 3840x2160 [→ grain]; frame 2 cropped.
set -euo pipefail
photo=${1:-../shared/data/bw-photos/Detroit circa 1915.jpg}
BIN=$(swift build -c release --show-bin-path)/filmrestore
D=$(mktemp -d); trap 'rm -rf "$D"' EXIT
ffmpeg -v error -y -loop 1 -i "$photo" -vf "scale=640:354:flags=lanczos,format=gray" -frames:v 5 -r 24 -c:v ffv1 "$D/still.mkv"
for v in general anime grain; do
  m=realesr-general-x4v3; [ $v = anime ] && m=realesr-animevideov3
  { echo "description: \"README crops: $v\""; echo "stages:"; echo "  - denoise"
    echo "  - upscale: {model: $m}"; echo "  - fit: {size: 3840x2160, mode: pad}"
    [ $v = grain ] && echo "  - grain: {amount: 1}"; echo "output: {codec: ffv1}"; } > "$D/$v.yml"
  "$BIN" restore "$D/still.mkv" -o "$D/$v.mkv" --preset "$D/$v.yml" --quiet
  ffmpeg -v error -y -i "$D/$v.mkv" -vf "select=eq(n\,2),crop=480:270:2460:1758" -frames:v 1 "$D/c_$v.png"
done
ffmpeg -v error -y -i "$D/still.mkv" -vf "select=eq(n\,2),scale=3840:2124:flags=bicubic,pad=3840:2160:0:18,crop=480:270:2460:1758" -frames:v 1 "$D/c_src.png"
ffmpeg -v error -y -i "$D/c_src.png" -i "$D/c_general.png" -i "$D/c_anime.png" -i "$D/c_grain.png" \
  -filter_complex "[0][1][2][3]hstack=4,format=gray" -frames:v 1 docs/images/detroit-1915-4k-crops.png
echo "wrote docs/images/detroit-1915-4k-crops.png"
