#!/usr/bin/env bash
# The 4K encoder study (issue 22): how fast and how good each encoder setting is on this machine, on what the
# archival chain really hands the encoder (4K 60 fps, pillarboxed, with the film's grain put back).
#
#   Tools/encoder_study.sh CLIP [SOURCE_SECONDS] [CONFIG…]
#
# 1. the master: CLIP's first SOURCE_SECONDS (default 0.5) through `archival-4k60`, losslessly (FFV1);
# 2. each CONFIG ("codec:preset:crf", "-" for the encoder's default; default: the list below) encodes the master with filmrestore itself
#    (`--preset master-ffv1 --codec … --encoder-preset … --crf …`: no stage, the same encoder code as a run);
# 3. one line per config (ffv1, lossless, shows what decoding the master and the tool's own conversions cost): seconds per output frame (wall, and CPU = user + system: what the encoder takes from
#    the other steps when it shares the cores), PSNR (Y and the YUV average, 10-bit, FFmpeg's psnr filter) and
#    SSIM against the master, and the bit rate.
# Needs the release build (.build/release/filmrestore) and FFmpeg's command-line tools. Work files in
# ${TMPDIR:-/tmp}/filmrestore-encoders (the master is kept for reruns with other configs; delete the folder to redo it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${FILMRESTORE:-$root/.build/release/filmrestore}
clip=${1:?usage: Tools/encoder_study.sh CLIP [SOURCE_SECONDS] [codec:preset:crf …]}
seconds=${2:-0.5}
shift $(($# >= 2 ? 2 : 1))
configs=("$@")
if [ ${#configs[@]} = 0 ]; then
    configs=(libx265:medium:16 libx265:fast:16 libx265:faster:16 libx265:veryfast:16 libx265:faster:14
        libsvtav1:8:22 libsvtav1:10:22 libsvtav1:12:22 libsvtav1:10:18 libsvtav1:10:16 libsvtav1:8:18
        libx264:medium:14 libx264:veryfast:14 ffv1:-:-)
fi
work=${TMPDIR:-/tmp}/filmrestore-encoders
mkdir -p "$work"
master=$work/master-$(basename "${clip%.*}")-${seconds}s.mkv
if [ ! -s "$master" ]; then
    echo "master: $clip, first $seconds s, archival-4k60 into FFV1 …" >&2
    "$bin" restore "$clip" -o "$master" --preset archival-4k60 --duration "$seconds" --codec ffv1 --quiet --force \
        --no-checkpoint
fi
frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$master")
size=$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0:s=x "$master")
rate=$(ffprobe -v error -select_streams v:0 -show_entries stream=avg_frame_rate -of csv=p=0 "$master")
echo "master: $master ($frames frames $size, $rate fps); $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf '%-10s %-9s %4s | %12s %12s | %7s %7s %7s | %8s\n' codec preset crf "wall s/frame" "CPU s/frame" "PSNR Y" "PSNR" SSIM "Mbit/s"
for c in "${configs[@]}"; do
    IFS=: read -r codec preset crf <<<"$c"
    out=$work/enc-$codec-$preset-$crf.mkv
    flags=(--codec "$codec")
    [ "$preset" = - ] || flags+=(--encoder-preset "$preset")
    [ "$crf" = - ] || flags+=(--crf "$crf")
    /usr/bin/time -f "%e %U %S" -o "$work/time.txt" "$bin" restore "$master" -o "$out" --preset master-ffv1 \
        "${flags[@]}" --quiet --force --no-checkpoint
    read -r wall user sys <"$work/time.txt"
    q=$(ffmpeg -v info -nostdin -i "$out" -i "$master" -lavfi \
        "[0:v]format=yuv420p10le[a];[1:v]format=yuv420p10le[b];[a]split[a1][a2];[b]split[b1][b2];[a1][b1]psnr;[a2][b2]ssim" \
        -f null - 2>&1 | grep -E "Parsed_(psnr|ssim)")
    psnr_y=$(echo "$q" | sed -n 's/.*PSNR y:\([0-9.inf]*\).*/\1/p')
    psnr=$(echo "$q" | sed -n 's/.*PSNR .*average:\([0-9.inf]*\).*/\1/p')
    ssim=$(echo "$q" | sed -n 's/.*SSIM .*All:\([0-9.]*\).*/\1/p')
    bytes=$(stat -c %s "$out")
    awk -v c="$codec" -v p="$preset" -v q="$crf" -v w="$wall" -v u="$user" -v s="$sys" -v n="$frames" -v r="$rate" \
        -v py="$psnr_y" -v pa="$psnr" -v ss="$ssim" -v b="$bytes" 'BEGIN {
        split(r, f, "/"); fps = f[1] / (f[2] ? f[2] : 1)
        printf "%-10s %-9s %4s | %12.3f %12.3f | %7.2f %7.2f %7.4f | %8.1f\n", c, p, q, w / n, (u + s) / n, py, pa, ss,
            b * 8 / (n / fps) / 1e6 }'
done
