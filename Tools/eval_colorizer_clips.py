#!/usr/bin/env python3
"""Score the colorizer on video as the product runs it: short camera moves (a pan with a slow zoom) over
held-out photos of the training corpus (the report half of Tools/train_colorizer.py's validation split,
never trained on, never used to choose a default), rendered gray, colorized by `filmrestore restore
--preset colorize`, compared with the true colour clip:

  chroma PSNR (Cb, Cr of BT.601 full range, 0…1, peak 1) of ours and of the neutral guess (gray),
  colourfulness (Hasler & Süsstrunk, over the whole clip) of ours over the truth's, and frame-mean chroma
  flicker (mean |change| of the frame-mean Cb and Cr between consecutive frames) of ours and of the truth.

    python3 Tools/eval_colorizer_clips.py [--clips 5] [--set colorize.confidence=0] [--bin .build/release/filmrestore]
    python3 Tools/eval_colorizer_clips.py --half tune --keyframe --set colorize.match-tolerance=0.01   # choosing a default
Needs numpy, pillow and ffmpeg.
"""
import argparse, hashlib, math, os, subprocess, sys, tempfile
import numpy as np
from PIL import Image

from eval_colorizer import colorfulness, split_of, ycc  # the photo evaluation's split and measures

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
W, H, FRAMES = 320, 240, 36


def flicker(cb, cr):
    m = np.stack([cb.reshape(len(cb), -1).mean(1), cr.reshape(len(cr), -1).mean(1)], 1)
    return float(np.abs(np.diff(m, axis=0)).mean())


def camera_move(photo):
    """FRAMES frames of W x H: a window of 3/4 of the photo's height panning across it while zooming in 10 %."""
    im = Image.open(photo).convert("RGB")
    pw, ph = im.size
    out = []
    for k in range(FRAMES):
        t = k / (FRAMES - 1)
        wh = 0.75 * ph * (1 - 0.1 * t)
        ww = wh * W / H
        if ww > pw:
            ww, wh = pw, pw * H / W
        x0 = (pw - ww) * t
        y0 = (ph - wh) * (0.5 + 0.2 * math.sin(2 * math.pi * t) / 2)
        out.append(np.asarray(im.resize((W, H), Image.BICUBIC, box=(x0, y0, x0 + ww, y0 + wh)), dtype=np.uint8))
    return np.stack(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "colorize-train"))
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build", "release", "filmrestore"))
    ap.add_argument("--clips", type=int, default=5)
    ap.add_argument("--set", action="append", default=[], help="STAGE.KEY=VALUE for the colorize preset")
    ap.add_argument("--half", choices=["report", "tune"], default="report",
                    help="which half of the held-out photos: report (scores) or tune (choosing defaults)")
    ap.add_argument("--keyframe", action="store_true", help="the clip's first frame in true colour as colorize.reference")
    a = ap.parse_args()
    names = sorted(n for n in os.listdir(a.data) if n.lower().endswith((".jpg", ".jpeg", ".png")) and split_of(n) == "val")
    report = names[1::2] if a.half == "report" else names[0::2]
    picked = report[:: max(1, len(report) // a.clips)][: a.clips]
    sets = [x for kv in a.set for x in ("--set", kv)]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name in picked:
            truth = camera_move(os.path.join(a.data, name))
            raw = os.path.join(d, "truth.rgb")
            truth.tofile(raw)
            gray, out = os.path.join(d, "gray.mkv"), os.path.join(d, "out.mkv")
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-r", "24",
                            "-i", raw, "-vf", "format=gray", "-c:v", "ffv1", gray], check=True)
            key = []
            if a.keyframe:
                os.makedirs(os.path.join(d, "keys"), exist_ok=True)
                Image.fromarray(truth[0]).save(os.path.join(d, "keys", "frame-000000.png"))
                key = ["--set", "colorize.reference=" + os.path.join(d, "keys")]
            r = subprocess.run([a.bin, "restore", gray, "-o", out, "--preset", "colorize", "--codec", "ffv1", "--force", "--quiet"] + sets + key,
                               capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"{name}: {r.stderr.strip()}")
            dec = subprocess.run(["ffmpeg", "-v", "error", "-i", out, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], check=True,
                                 capture_output=True).stdout
            ours = np.frombuffer(dec, np.uint8).reshape(-1, H, W, 3)[:FRAMES].astype(np.float64) / 255
            t = truth.astype(np.float64) / 255
            _, tb, tr = ycc(t)
            _, ob, orr = ycc(ours)
            mse = np.mean((ob - tb) ** 2 + (orr - tr) ** 2) / 2
            mse0 = np.mean(tb ** 2 + tr ** 2) / 2
            rows.append((name, 10 * math.log10(1 / mse), 10 * math.log10(1 / mse0), colorfulness(ours) / max(colorfulness(t), 1e-9),
                         flicker(ob, orr), flicker(tb, tr)))
            print(f"{name}: chroma {rows[-1][1]:.2f} dB (gray {rows[-1][2]:.2f}); colourfulness ratio {rows[-1][3]:.3f}; "
                  f"flicker {rows[-1][4]:.4f} (truth {rows[-1][5]:.4f})", flush=True)
    m = np.mean([r[1:] for r in rows], 0)
    worse = sum(r[1] < r[2] - 0.5 for r in rows)
    print(f"{len(rows)} clips{', ' + ' '.join(a.set) if a.set else ''}: chroma {m[0]:.2f} dB (gray {m[1]:.2f}), "
          f"{worse} below gray - 0.5 dB; colourfulness ratio {m[2]:.3f}; flicker {m[3]:.4f} (truth {m[4]:.4f})")


if __name__ == "__main__":
    main()
