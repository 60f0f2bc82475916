#!/usr/bin/env python3
"""Score the shipped colorizer as the product runs it (the `filmrestore` binary, preset colorize) on the
held-out photos of the training corpus (the report half of Tools/train_colorizer.py's validation split,
never trained on and not used to choose the temperature), rendered gray:

  chroma RMSE (Y'CbCr BT.601 full range, 0…1 scale) of ours and of the constant mean chroma of the training
  photos, and colorfulness (Hasler & Süsstrunk) of ours over the truth's.

    .venv/bin/python Tools/eval_colorizer.py --data ../shared/data/colorize-train [--sheet /tmp/sheet.png]
    .venv/bin/python Tools/eval_colorizer.py --half tune --set colorize.confidence=0.3   # choosing a default

--half tune scores the other half of the held-out photos (the one decodings and defaults are chosen on);
--set passes options to the stage as `filmrestore restore --set` does; --damage old-film renders each gray photo
as an old print would look (its own seeded tone curve, softness, grain and a few specks: `old_film`) and scores
the colour against the undamaged photo's.
Needs numpy and pillow (the project's .venv has them) and ffmpeg-free PNG I/O only.
"""
import argparse, hashlib, math, os, subprocess, sys, tempfile
import numpy as np
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
KR, KB = 0.299, 0.114
MEAN_CB, MEAN_CR = -0.0361, 0.0117      # the training photos' mean chroma (train_colorizer.py prints it)


def split_of(name):
    return "val" if int(hashlib.sha1(name.encode()).hexdigest(), 16) % 10 == 0 else "train"


def ycc(a):
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    y = KR * r + (1 - KR - KB) * g + KB * b
    return y, (b - y) / (2 * (1 - KB)), (r - y) / (2 * (1 - KR))


def colorfulness(a):
    rg = a[..., 0] - a[..., 1]; yb = 0.5 * (a[..., 0] + a[..., 1]) - a[..., 2]
    return math.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * math.sqrt(rg.mean() ** 2 + yb.mean() ** 2)


def old_film(y, name):
    """Y' (H, W) in 0…1 damaged as old film, seeded by the photo's name (the same damage every run): a tone curve
    of old stock (gamma 0.8–1.25, blacks lifted by up to 0.08, whites dulled to 0.88–1), optical softness
    (Gaussian σ 0.5–1.2 px), grain (σ 0.015–0.04, clumped by a 0.6 px blur) and 3–8 dust specks."""
    rng = np.random.default_rng(int(hashlib.sha1(name.encode()).hexdigest()[:8], 16))
    lo, hi, g = rng.uniform(0, 0.08), rng.uniform(0.88, 1), rng.uniform(0.8, 1.25)
    v = lo + (hi - lo) * np.clip(y, 0, 1) ** g
    v = blur(v, rng.uniform(0.5, 1.2))
    n = blur(rng.standard_normal(v.shape), 0.6)
    v = v + rng.uniform(0.015, 0.04) * n / max(n.std(), 1e-6)
    h, w = v.shape
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(rng.integers(3, 9)):
        cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.uniform(1, 3)
        v[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 0.04 if rng.random() < 0.7 else 0.96
    return np.clip(v, 0, 1)


def blur(a, sigma):
    """Separable Gaussian blur, reflected at the borders."""
    r = max(1, int(math.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2); k /= k.sum()
    h, w = a.shape
    p = np.pad(a, ((0, 0), (r, r)), mode="reflect"); a = sum(k[i] * p[:, i:i + w] for i in range(2 * r + 1))
    p = np.pad(a, ((r, r), (0, 0)), mode="reflect"); return sum(k[i] * p[i:i + h] for i in range(2 * r + 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "colorize-train"))
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build", "release", "filmrestore"))
    ap.add_argument("--sheet", help="also write a before/after contact sheet of the first photos here")
    ap.add_argument("--half", choices=["report", "tune"], default="report")
    ap.add_argument("--set", action="append", default=[], help="STAGE.KEY=VALUE for the colorize preset")
    ap.add_argument("--damage", choices=["none", "old-film"], default="none", help="damage the gray input (old_film)")
    a = ap.parse_args()
    names = sorted(n for n in os.listdir(a.data) if n.lower().endswith((".jpg", ".jpeg", ".png")) and split_of(n) == "val")
    report = names[1::2] if a.half == "report" else names[0::2]
    se = se0 = n = 0.0; cf = []; tiles = []
    with tempfile.TemporaryDirectory() as d:
        for k, name in enumerate(report):
            im = Image.open(os.path.join(a.data, name)).convert("RGB")
            truth = np.asarray(im, dtype=np.float64) / 255
            y, cb, cr = ycc(truth)
            gray = os.path.join(d, "gray.png"); out = os.path.join(d, "out.png")
            seen = old_film(y, name) if a.damage == "old-film" else y
            Image.fromarray((seen * 255).round().astype(np.uint8), "L").save(gray)
            sets = [x for kv in a.set for x in ("--set", kv)]
            r = subprocess.run([a.bin, "restore", gray, "-o", out, "--preset", "colorize", "--force", "--quiet"] + sets, capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"{name}: {r.stderr.strip()}")
            o = np.asarray(Image.open(out).convert("RGB"), dtype=np.float64) / 255
            _, ob, orr = ycc(o)
            se += ((ob - cb) ** 2 + (orr - cr) ** 2).sum(); se0 += ((MEAN_CB - cb) ** 2 + (MEAN_CR - cr) ** 2).sum(); n += cb.size
            cf.append(colorfulness(o) / max(colorfulness(truth), 1e-6))
            if a.sheet and k < 8:
                h = 160; s = h / truth.shape[0]
                row = [Image.fromarray((x * 255).round().astype(np.uint8)).resize((round(truth.shape[1] * s), h)) for x in (np.stack([seen] * 3, -1), o, truth)]
                tiles.append(row)
    what = a.half + " half" + (", damaged as old film" if a.damage == "old-film" else "") + (", " + " ".join(a.set) if a.set else "")
    print(f"{len(report)} held-out photos ({what}): chroma RMSE ours {math.sqrt(se / n):.4f}, constant mean chroma {math.sqrt(se0 / n):.4f}; "
          f"colorfulness ratio mean {np.mean(cf):.3f} (median {np.median(cf):.3f})")
    if a.sheet and tiles:
        w = max(sum(t.width for t in row) for row in tiles); h = sum(row[0].height for row in tiles)
        sheet = Image.new("RGB", (w, h), "white"); yy = 0
        for row in tiles:
            xx = 0
            for t in row: sheet.paste(t, (xx, yy)); xx += t.width
            yy += row[0].height
        sheet.save(a.sheet)


if __name__ == "__main__":
    main()
