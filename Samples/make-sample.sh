#!/usr/bin/env bash
# Makes Samples/oldfilm-sample.mp4: a 5-second, 18 fps, 4:3 black-and-white "old film" with a
# sound track. Everything in it is generated here by FFmpeg's own sources and filters (no outside
# footage): a Mandelbrot zoom as the picture, then the defects of an aged print: film grain, dust
# specks, a wandering vertical scratch, brightness flicker and a vignette; the sound is a
# projector-like hum and rumble under a simple tune. Seeds are fixed, so the result is reproducible
# with the same FFmpeg version (made with FFmpeg 5.1 on Debian 12).
set -euo pipefail
cd "$(dirname "$0")"
out=${1:-oldfilm-sample.mp4}
ffmpeg -nostdin -v error -y \
  -f lavfi -i "mandelbrot=size=480x360:rate=18:start_scale=1.5:end_scale=0.3:end_pts=6" \
  -f lavfi -i "sine=frequency=220:sample_rate=44100:duration=5" \
  -f lavfi -i "sine=frequency=330:sample_rate=44100:duration=5" \
  -f lavfi -i "anoisesrc=color=brown:amplitude=0.08:sample_rate=44100:seed=7:duration=5" \
  -filter_complex "\
[0:v]format=gray,eq=contrast=1.2:brightness=-0.15:gamma=1.3,\
eq=brightness='0.07*sin(n*2.3)+0.05*sin(n*5.1)':eval=frame,\
noise=alls=16:allf=t+u:all_seed=42,\
drawbox=x='150+40*sin(t*1.3)':y=0:w=2:h=ih:color=white@0.5:t=fill,\
drawbox=x='mod(floor(t*18)*97\,460)':y='mod(floor(t*18)*53\,340)':w=5:h=4:color=black:t=fill,\
drawbox=x='mod(floor(t*18)*61+200\,470)':y='mod(floor(t*18)*89+100\,350)':w=3:h=6:color=white@0.8:t=fill,\
vignette=angle=PI/5,format=yuv420p,setsar=1[v];\
[1:a]volume=0.25,tremolo=f=3:d=0.4[a1];[2:a]volume=0.12,tremolo=f=2:d=0.6[a2];\
[a1][a2][3:a]amix=inputs=3:normalize=0,lowpass=f=4000[a]" \
  -map "[v]" -map "[a]" -t 5 \
  -c:v libx264 -preset slow -crf 29 -pix_fmt yuv420p -colorspace smpte170m -color_primaries smpte170m -color_trc smpte170m -color_range tv \
  -c:a aac -b:a 96k -metadata title="FilmRestore sample (synthetic old film)" \
  -movflags +faststart "$out"
ls -l "$out"
