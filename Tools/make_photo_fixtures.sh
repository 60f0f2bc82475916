#!/usr/bin/env bash
# Small public-domain / CC0 photographs for tests that need real pictures (NIQE's behaviour under
# blur and noise): 288x288 gray crops of five scikit-image 0.24.0 sample images, made with FFmpeg.
#   Tools/make_photo_fixtures.sh            (downloads the wheel from PyPI with pip)
# The images' terms, from skimage/data/_fetchers.py: astronaut (NASA, public domain), rocket
# (SpaceX, public domain), coffee (Rachel Michetti, CC0), chelsea (Stefan van der Walt, CC0),
# camera (Lav Varshney, CC0).
set -euo pipefail
out=$(cd "$(dirname "$0")/.." && pwd)/Tests/Fixtures/photos
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pip download --no-deps --only-binary :all: --python-version 3.11 --platform manylinux2014_x86_64 \
  scikit-image==0.24.0 -d "$tmp" -q
wheel=$(ls "$tmp"/scikit_image-0.24.0-*.whl)
echo "fa27b3a0dbad807b966b8db2d78da734cb812ca4787f7fbb143764800ce2fa9c  $wheel" | sha256sum -c -
unzip -q -o "$wheel" 'skimage/data/*' -d "$tmp"
mkdir -p "$out"
crop() { ffmpeg -v error -y -i "$tmp/skimage/data/$1" -vf "crop=288:288:$2:$3,format=gray" -frames:v 1 "$out/$4.png"; }
crop astronaut.png 112 0 astronaut
crop rocket.jpg 176 70 rocket
crop coffee.png 156 56 coffee
crop chelsea.png 82 6 chelsea
crop camera.png 112 60 camera
sha256sum "$out"/*.png
