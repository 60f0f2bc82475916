#!/usr/bin/env python3
"""Train FilmRestore's default colorizer: a compact DeOldify-style U-Net that predicts chroma from luma.

Recipe (Zhang, Isola & Efros 2016, "Colorful Image Colorization", in a small U-Net):
  - colour space: Y'CbCr (BT.601 coefficients, full range) of the gamma-encoded RGB; the network sees Y' only
  - output: a distribution over quantized (Cb, Cr) bins (a 0.04 grid; only bins that occur in the training
    photos are classes) at 1/4 of the input size; decoded by the annealed mean (temperature 0.38), which keeps
    colours vivid where the plain mean would wash them out to sepia
  - loss: cross-entropy against bilinearly soft-encoded targets, each pixel weighted by class rebalancing
    (w ∝ 1 / ((1 − λ)·p̃ + λ/Q), λ = 0.5, normalised so E[w] = 1), so rare saturated colours count
  - network ("compact"): encoder 16/32/64/128 channels (two 3×3 conv + BN + ReLU per level, stride-2 down),
    two residual blocks and SAGAN self-attention at 1/8, pixel-shuffle up to 1/4, concatenation with the 1/4
    encoder features, two 3×3 conv + BN + ReLU, 1×1 conv to the bin logits
  - data: ../shared/data/colorize-train (SOURCES.md there: research/non-commercial terms), split by a hash of
    the file name (1 in 10 held out for validation, never trained on); random 112×112 crops of the photos scaled
    to a short side of 128, horizontal flips, random brightness/contrast on Y'
  - training survives interruption: a checkpoint (model, optimizer, epoch, RNG) after every epoch; running the
    script again resumes from it. `--epochs` is the total.

Outputs (Models/colorizer/): compact-colorizer.safetensors (fp32 weights + the bin table), and the parity
fixture Tests/Fixtures/colorizer/ (a fixed input and the network's decoded chroma). Needs torch, numpy, pillow:

    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch numpy pillow
    /tmp/tv/bin/python Tools/train_colorizer.py --data ../shared/data/colorize-train --epochs 12
"""
import argparse, hashlib, json, math, os, struct, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
STEP, LAMBDA, T = 0.04, 0.5, 0.38
KR, KB = 0.299, 0.114


def ycbcr(rgb):
    """rgb float (..., 3, H, W) in 0…1 → Y', Cb, Cr (BT.601 full range; Cb, Cr in −0.5…0.5)."""
    r, g, b = rgb[..., 0, :, :], rgb[..., 1, :, :], rgb[..., 2, :, :]
    y = KR * r + (1 - KR - KB) * g + KB * b
    return y, (b - y) / (2 * (1 - KB)), (r - y) / (2 * (1 - KR))


def rgb_from(y, cb, cr):
    r = y + 2 * (1 - KR) * cr
    b = y + 2 * (1 - KB) * cb
    g = (y - KR * r - KB * b) / (1 - KR - KB)
    return np.clip(np.stack([r, g, b], -1), 0, 1)


# ---------------------------------------------------------------- network
def cbr(ci, co, stride=1):
    return nn.Sequential(nn.Conv2d(ci, co, 3, stride, 1, bias=False), nn.BatchNorm2d(co), nn.ReLU(True))


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, 1, 1, bias=False); self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False); self.bn2 = nn.BatchNorm2d(c)
    def forward(self, x):
        return F.relu(x + self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))


class SelfAttention(nn.Module):
    """fastai's SelfAttention (as DeOldify uses it), without spectral norm."""
    def __init__(self, n):
        super().__init__()
        self.query = nn.Conv1d(n, n // 8, 1, bias=False)
        self.key = nn.Conv1d(n, n // 8, 1, bias=False)
        self.value = nn.Conv1d(n, n, 1, bias=False)
        self.gamma = nn.Parameter(torch.tensor([0.0]))
    def forward(self, x):
        size = x.size()
        x = x.view(*size[:2], -1)
        f, g, h = self.query(x), self.key(x), self.value(x)
        beta = F.softmax(torch.bmm(f.transpose(1, 2), g), dim=1)
        return (self.gamma * torch.bmm(h, beta) + x).view(*size)


class CompactColorizer(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.enc0 = nn.Sequential(cbr(1, 16), cbr(16, 16))
        self.enc1 = nn.Sequential(cbr(16, 32, 2), cbr(32, 32))
        self.enc2 = nn.Sequential(cbr(32, 64, 2), cbr(64, 64))
        self.enc3 = nn.Sequential(cbr(64, 128, 2), cbr(128, 128))
        self.res = nn.Sequential(ResBlock(128), ResBlock(128))
        self.attn = SelfAttention(128)
        self.up = nn.Conv2d(128, 64 * 4, 1)
        self.dec = nn.Sequential(cbr(128, 96), cbr(96, 96))
        self.head = nn.Conv2d(96, classes, 1)

    def forward(self, y):
        """y: (B, 1, H, W) Y' in 0…1, H and W multiples of 8 → bin logits at (H/4, W/4)."""
        x = (y - 0.45) / 0.25
        s2 = self.enc2(self.enc1(self.enc0(x)))
        x = self.attn(self.res(self.enc3(s2)))
        x = F.pixel_shuffle(F.relu(self.up(x)), 2)
        return self.head(self.dec(torch.cat([x, s2], 1)))


class FilmColorizer(nn.Module):
    """The larger model ("film"): the compact one widened (32/64/128/256) and one level deeper (1/16), residual
    blocks and SAGAN self-attention at 1/16 and again at 1/8 after the first skip join, pixel-shuffle decoder
    1/16 -> 1/8 -> 1/4 with the encoder's features concatenated at each, 1x1 head to the bin logits.
    Input sides must be multiples of 16."""
    def __init__(self, classes, widths=(32, 64, 128, 256, 256, 128)):
        super().__init__()
        c0, c1, c2, c3, c4, c5 = widths
        self.enc0 = nn.Sequential(cbr(1, c0), cbr(c0, c0))
        self.enc1 = nn.Sequential(cbr(c0, c1, 2), cbr(c1, c1))
        self.enc2 = nn.Sequential(cbr(c1, c2, 2), cbr(c2, c2))
        self.enc3 = nn.Sequential(cbr(c2, c3, 2), cbr(c3, c3))
        self.enc4 = nn.Sequential(cbr(c3, c4, 2), cbr(c4, c4))
        self.res16 = nn.Sequential(ResBlock(c4), ResBlock(c4))
        self.attn16 = SelfAttention(c4)
        self.up16 = nn.Conv2d(c4, c3 * 4, 1)
        self.dec8 = nn.Sequential(cbr(2 * c3, c3), ResBlock(c3))
        self.attn8 = SelfAttention(c3)
        self.up8 = nn.Conv2d(c3, c2 * 4, 1)
        self.dec = nn.Sequential(cbr(2 * c2, c5), cbr(c5, c5))
        self.head = nn.Conv2d(c5, classes, 1)

    def forward(self, y):
        """y: (B, 1, H, W) Y' in 0…1, H and W multiples of 16 → bin logits at (H/4, W/4)."""
        x = (y - 0.45) / 0.25
        s2 = self.enc2(self.enc1(self.enc0(x)))
        s3 = self.enc3(s2)
        x = self.attn16(self.res16(self.enc4(s3)))
        x = F.pixel_shuffle(F.relu(self.up16(x)), 2)
        x = self.attn8(self.dec8(torch.cat([x, s3], 1)))
        x = F.pixel_shuffle(F.relu(self.up8(x)), 2)
        return self.head(self.dec(torch.cat([x, s2], 1)))


ARCHITECTURES = {"compact": CompactColorizer, "film": FilmColorizer}


def film_damage(y, rng):
    """Augmentation toward old film on Y' (B, H, W) in 0…1: a tone curve of old stock (gamma, lifted blacks,
    dull whites), optical softness (Gaussian blur), grain (noise of random strength and size) and gate dust
    and scratches (small dark or bright specks, thin vertical lines). Each picture draws its own."""
    b, h, w = y.shape
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    out = []
    for i in range(b):
        v = y[i]
        g = rng.uniform(0.7, 1.4); lo = rng.uniform(0, 0.1); hi = rng.uniform(0.85, 1.0)
        v = lo + (hi - lo) * v.clamp(0, 1) ** g
        if rng.random() < 0.5:
            v = _blur(v, rng.uniform(0.3, 1.5))
        if rng.random() < 0.7:
            n = torch.from_numpy(rng.standard_normal((h, w)).astype(np.float32))
            n = _blur(n, rng.uniform(0.3, 1.0))
            n = n / n.std().clamp(min=1e-6)
            v = v + rng.uniform(0.005, 0.05) * n
        if rng.random() < 0.5:
            for _ in range(rng.integers(1, 7)):
                cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.uniform(0.7, 3)
                m = ((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r
                v = torch.where(m, torch.tensor(float(rng.random() < 0.7) * 0.05 + float(rng.random() >= 0.7) * 0.95), v)
        if rng.random() < 0.2:
            x = rng.integers(0, w)
            v[:, x] = v[:, x] * rng.uniform(0.3, 0.7) + rng.uniform(0, 0.5)
        out.append(v.clamp(0, 1))
    return torch.stack(out)


def _blur(v, sigma):
    """Separable Gaussian blur of one picture (H, W), reflected at the borders (shifted sums: tiny kernels on small
    crops, where a convolution call costs more than the arithmetic)."""
    r = max(1, int(math.ceil(2.5 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2); k /= k.sum()
    a = v.numpy() if isinstance(v, torch.Tensor) else v
    h, w = a.shape
    p = np.pad(a, ((0, 0), (r, r)), mode="reflect")
    a = sum(k[i] * p[:, i:i + w] for i in range(2 * r + 1))
    p = np.pad(a, ((r, r), (0, 0)), mode="reflect")
    a = sum(k[i] * p[i:i + h] for i in range(2 * r + 1))
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def decode(logits, bins, t=T, bias=None):
    """Annealed mean of the bins: (B, Q, h, w) → Cb, Cr (B, h, w); `bias` (Q) is added to the logits first."""
    if bias is not None:
        logits = logits + bias[None, :, None, None]
    p = F.softmax(logits / t, dim=1)
    return torch.einsum("bqhw,q->bhw", p, bins[:, 0]), torch.einsum("bqhw,q->bhw", p, bins[:, 1])


# ---------------------------------------------------------------- data
def split_of(name):
    return "val" if int(hashlib.sha1(name.encode()).hexdigest(), 16) % 10 == 0 else "train"


def load_images(folder, short=128):
    out = {"train": [], "val": []}
    for n in sorted(os.listdir(folder)):
        if not n.lower().endswith((".jpg", ".jpeg", ".png")):
            continue
        im = Image.open(os.path.join(folder, n)).convert("RGB")
        s = short / min(im.size)
        im = im.resize((max(short, round(im.width * s)), max(short, round(im.height * s))), Image.LANCZOS)
        out[split_of(n)].append((n, np.asarray(im, dtype=np.uint8)))
    return out


def grid_index(cb, cr):
    """Nearest 0.04-grid point of (Cb, Cr) as a flat index over the 25×25 grid centred on 0."""
    i = np.clip(np.round(cb / STEP), -12, 12).astype(np.int64) + 12
    j = np.clip(np.round(cr / STEP), -12, 12).astype(np.int64) + 12
    return i * 25 + j


def make_bins(images):
    counts = np.zeros(625)
    for _, a in images:
        y, cb, cr = ycbcr(a.transpose(2, 0, 1)[None].astype(np.float32) / 255)
        np.add.at(counts, grid_index(cb[0].ravel(), cr[0].ravel()), 1)
    used = np.nonzero(counts)[0]
    bins = np.stack([(used // 25 - 12) * STEP, (used % 25 - 12) * STEP], 1).astype(np.float32)
    p = counts[used] / counts[used].sum()
    # smoothed prior (Gaussian σ = 1 bin on the grid), rebalancing weights normalised so E_p[w] = 1
    grid = np.zeros((25, 25)); grid[used // 25, used % 25] = p
    k = np.exp(-0.5 * np.arange(-3, 4) ** 2); k /= k.sum()
    sm = np.apply_along_axis(lambda r: np.convolve(r, k, "same"), 0, grid)
    sm = np.apply_along_axis(lambda r: np.convolve(r, k, "same"), 1, sm)[used // 25, used % 25]
    sm /= sm.sum()
    w = 1 / ((1 - LAMBDA) * sm + LAMBDA / len(used))
    w /= (p * w).sum()
    lookup = -np.ones(625, dtype=np.int64); lookup[used] = np.arange(len(used))
    return bins, w.astype(np.float32), lookup


def soft_targets(cb, cr, lookup, classes):
    """Bilinear soft-encoding of (Cb, Cr) (B, h, w) over the grid's classes → (B, Q, h, w), and the nearest class."""
    u, v = cb / STEP + 12, cr / STEP + 12
    u0, v0 = torch.floor(u).clamp(0, 23), torch.floor(v).clamp(0, 23)
    fu, fv = (u - u0).clamp(0, 1), (v - v0).clamp(0, 1)
    t = torch.zeros(cb.shape[0], classes, *cb.shape[1:])
    lk = torch.from_numpy(lookup)
    for du, wu in ((0, 1 - fu), (1, fu)):
        for dv, wv in ((0, 1 - fv), (1, fv)):
            c = lk[((u0 + du) * 25 + (v0 + dv)).long()]
            wgt = (wu * wv) * (c >= 0)
            t.scatter_add_(1, c.clamp(min=0)[:, None], wgt[:, None])
    t = t / t.sum(1, keepdim=True).clamp(min=1e-6)
    nearest = lk[torch.from_numpy(grid_index(cb.numpy(), cr.numpy()))]
    return t, nearest


def batches(images, size, batch, rng):
    order = rng.permutation(len(images))
    for s in range(0, len(order) - batch + 1, batch):
        crops = []
        for k in order[s:s + batch]:
            a = images[k][1]
            y0 = rng.integers(0, a.shape[0] - size + 1); x0 = rng.integers(0, a.shape[1] - size + 1)
            c = a[y0:y0 + size, x0:x0 + size]
            if rng.random() < 0.5: c = c[:, ::-1]
            crops.append(c.transpose(2, 0, 1))
        yield torch.from_numpy(np.stack(crops).astype(np.float32) / 255)


# ---------------------------------------------------------------- safetensors
def save_safetensors(path, tensors, metadata):
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for k, t in tensors.items():
        b = t.detach().cpu().float().contiguous().numpy().astype("<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b); blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h)
        for b in blobs: f.write(b)
    os.replace(path + ".tmp", path)


# ---------------------------------------------------------------- evaluation
def colorfulness(rgb):
    rg = rgb[..., 0] - rgb[..., 1]; yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    return math.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * math.sqrt(rg.mean() ** 2 + yb.mean() ** 2)


def evaluate(model, bins, images, mean_c, t=T, bias=None):
    """Held-out photos at short side 128 (cropped to multiples of 8): chroma RMSE of ours and of the
    constant mean chroma, and colorfulness of ours over the truth's (chroma upsampled bilinearly)."""
    return evaluate_decodings(model, images, mean_c, {None: lambda logits: decode(logits, bins, t, bias)})[None]


def evaluate_decodings(model, images, mean_c, decodings):
    """`evaluate` for several decodings of the same logits ({key: logits → (Cb, Cr)}): {key: (chroma RMSE,
    constant mean chroma's RMSE, colorfulness ratio)}, the network run once per photo."""
    model.eval()
    acc = {k: [0.0, 0.0, 0, []] for k in decodings}
    with torch.no_grad():
        for _, a in images:
            m = 16 if isinstance(model, FilmColorizer) else 8
            h, w = a.shape[0] // m * m, a.shape[1] // m * m
            x = torch.from_numpy(a[:h, :w].transpose(2, 0, 1)[None].astype(np.float32) / 255)
            y, cb, cr = ycbcr(x)
            logits = model(y[:, None])
            truth_cf = max(colorfulness(x[0].numpy().transpose(1, 2, 0)), 1e-6)
            for k, dec in decodings.items():
                pb, pr = dec(logits)
                pb = F.interpolate(pb[:, None], (h, w), mode="bilinear", align_corners=False)[:, 0]
                pr = F.interpolate(pr[:, None], (h, w), mode="bilinear", align_corners=False)[:, 0]
                r = acc[k]
                r[0] += float(((pb - cb) ** 2 + (pr - cr) ** 2).sum())
                r[1] += float(((mean_c[0] - cb) ** 2 + (mean_c[1] - cr) ** 2).sum()); r[2] += h * w
                r[3].append(colorfulness(rgb_from(y[0].numpy(), pb[0].numpy(), pr[0].numpy())) / truth_cf)
    model.train()
    return {k: (math.sqrt(r[0] / r[2]), math.sqrt(r[1] / r[2]), float(np.mean(r[3]))) for k, r in acc.items()}


def posterior_mean(logits, bins, bias, center, scale):
    """The posterior-mean decoding: the mean of the bins under softmax(logits + bias) (bias = −(u − β)·log w
    takes the class rebalancing back out by u in all, β being already folded into head.bias), moved away from
    the training photos' mean chroma `center` by `scale`: Cb, Cr (B, h, w)."""
    pb, pr = decode(logits, bins, 1.0, bias)
    return center[0] + scale * (pb - center[0]), center[1] + scale * (pr - center[1])


def choose_posterior(model, bins, logw, beta, tune, report, mean_c, undo=(0.5, 0.6, 0.75, 0.9, 1.0),
                     scales=(1.0, 1.1, 1.2, 1.25, 1.3, 1.4, 1.5, 1.6, 1.8, 2.0), margin=0.95):
    """Of all (u, scale), the most colourful whose chroma error on the tuning half is below `margin` of the
    constant mean's (else the least error); reported on the other half. The scale grows colour where the
    posterior is sure and little where it is spread: the mean of a spread distribution lies near `center`."""
    def run(images, u, scales):
        bias = -(u - beta) * logw
        res = evaluate_decodings(model, images, mean_c,
                                 {sc: (lambda logits, sc=sc: posterior_mean(logits, bins, bias, mean_c, sc)) for sc in scales})
        return [{"undo": u, "scale": sc, "chroma_rmse": rm, "constant_rmse": rm0, "colorfulness_ratio": cf}
                for sc, (rm, rm0, cf) in res.items()]
    tried = []
    for u in undo:
        tried += run(tune, u, scales)
        for r in tried[-len(scales):]:
            print("posterior mean", json.dumps(r), flush=True)
    ok = [r for r in tried if r["chroma_rmse"] < margin * r["constant_rmse"]]
    best = max(ok, key=lambda r: r["colorfulness_ratio"]) if ok else min(tried, key=lambda r: r["chroma_rmse"])
    held_out = run(report, best["undo"], [best["scale"]])[0]
    print("posterior mean, held out (report half):", json.dumps(held_out), flush=True)
    return best, held_out, tried


def add_posterior(path, data_folder, fixtures, threads, fixed=None):
    """Adds the posterior-mean decoding to an exported colorizer (tensors posterior.bias [Q], posterior.center
    [2], posterior.scale [1]; its choice in the metadata) and its parity output to the fixture folder. `fixed`
    (u, scale): that decoding, chosen elsewhere (through the product, on the tuning half), instead of the
    PyTorch search; the search's earlier results stay in the metadata."""
    torch.set_num_threads(threads)
    b = open(path, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; header = json.loads(b[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {k: torch.from_numpy(np.frombuffer(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
                                                 dtype="<f4").reshape(v["shape"]).copy()) for k, v in header.items()}
    bins, Q = tensors["bins"], tensors["bins"].shape[0]
    arch = "film" if "enc4.0.0.weight" in tensors else "compact"
    if arch == "film":
        widths = tuple(tensors[k].shape[0] for k in ("enc0.0.0.weight", "enc1.0.0.weight", "enc2.0.0.weight",
                                                     "enc3.0.0.weight", "enc4.0.0.weight", "dec.0.0.weight"))
        model = FilmColorizer(Q, widths=widths)
    else:
        model = CompactColorizer(Q)
    model.load_state_dict({k: v for k, v in tensors.items() if k not in ("bins", "temperature") and not k.startswith("posterior.")}, strict=False)
    model.eval()
    beta = json.loads(meta["held_out"])["undo"]
    data = load_images(data_folder)
    bins_np, weights_np, _ = make_bins(data["train"])
    if not np.allclose(bins_np, bins.numpy()):
        raise SystemExit(f"{path}: its bins are not those of the photos in {data_folder}")
    logw = torch.log(torch.from_numpy(weights_np))
    ys = [ycbcr(x.transpose(2, 0, 1)[None].astype(np.float32) / 255) for _, x in data["train"][:300]]
    mean_c = (float(np.mean([c[1].mean() for c in ys])), float(np.mean([c[2].mean() for c in ys])))
    if fixed:
        before = json.loads(meta.get("posterior_mean", "{}"))
        best = {"undo": fixed[0], "scale": fixed[1], "chosen_by": "filmrestore on the tuning half (Tools/eval_colorizer.py)"}
        held_out, tried = None, before.get("tried", [])
    else:
        best, held_out, tried = choose_posterior(model, bins, logw, beta, data["val"][0::2], data["val"][1::2], mean_c)
    model.eval()
    tensors["posterior.bias"] = -(best["undo"] - beta) * logw
    tensors["posterior.center"] = torch.tensor(mean_c)
    tensors["posterior.scale"] = torch.tensor([best["scale"]])
    meta["posterior_mean"] = json.dumps({"chosen": best, "held_out": held_out, "tried": tried})
    save_safetensors(path, tensors, meta)
    # parity output: the posterior-mean chroma of the fixture's input
    info = json.load(open(os.path.join(fixtures, "README.json")))
    gray = np.fromfile(os.path.join(fixtures, "input.f32"), dtype=np.float32).reshape(info["height"], info["width"])
    with torch.no_grad():
        pb, pr = posterior_mean(model(torch.from_numpy(gray)[None, None]), bins, tensors["posterior.bias"], mean_c, best["scale"])
    np.stack([pb[0].numpy(), pr[0].numpy()]).astype(np.float32).tofile(os.path.join(fixtures, "posterior.f32"))
    info["posterior"] = "posterior.f32: Cb then Cr at (H/4)x(W/4), the posterior-mean decoding (tensors posterior.*)"
    with open(os.path.join(fixtures, "README.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(f"{path}: posterior mean u {best['undo']} scale {best['scale']}, center {mean_c[0]:.4f} {mean_c[1]:.4f}", flush=True)


def film_fixture(folder):
    """The Swift parity fixture of the film architecture, before any trained weights exist: a small seeded
    FilmColorizer (widths 8/16/16/32/32, decoder 24, 32 bins) with random BatchNorm statistics and attention
    gains, its weights, a fixed input, its logits and the decoded chroma and certainty."""
    torch.manual_seed(1)
    q = 32
    m = FilmColorizer(q, widths=(8, 16, 16, 32, 32, 24))
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2); mod.running_var.uniform_(0.5, 1.5)
                mod.weight.uniform_(0.5, 1.5); mod.bias.uniform_(-0.2, 0.2)
            if isinstance(mod, SelfAttention):
                mod.gamma.fill_(0.7)
    m.eval()
    bins = torch.stack([torch.linspace(-0.3, 0.3, q), torch.linspace(0.25, -0.25, q)], 1)
    temperature = 0.55
    h, w = 64, 96
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    gray = np.clip(0.5 + 0.3 * np.sin(xx * 0.21) * np.cos(yy * 0.17) + 0.15 * np.sin((xx + 2 * yy) * 0.05), 0, 1).astype(np.float32)
    with torch.no_grad():
        logits = m(torch.from_numpy(gray)[None, None])
        pb, pr = decode(logits, bins, temperature)
        p = F.softmax(logits / temperature, 1)
        certainty = 1 + (p * torch.log(p.clamp(min=1e-30))).sum(1) / math.log(q)
    os.makedirs(folder, exist_ok=True)
    tensors = {k: v for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}
    tensors["bins"] = bins; tensors["temperature"] = torch.tensor([temperature])
    save_safetensors(os.path.join(folder, "film-small.safetensors"), tensors, {"format": "filmrestore-film-colorizer-1",
                     "note": "random seeded weights for the parity test, not a colorizer"})
    gray.tofile(os.path.join(folder, "input.f32"))
    logits[0].numpy().astype(np.float32).tofile(os.path.join(folder, "logits.f32"))
    np.stack([pb[0].numpy(), pr[0].numpy(), certainty[0].numpy()]).astype(np.float32).tofile(os.path.join(folder, "decoded.f32"))
    with open(os.path.join(folder, "README.json"), "w") as f:
        json.dump({"made_by": "Tools/train_colorizer.py --film-fixture", "torch": torch.__version__, "height": h, "width": w,
                   "classes": q, "layout": "input: Y' float32 HxW; logits.f32: Q x H/4 x W/4; decoded.f32: Cb, Cr, certainty at H/4 x W/4",
                   "weights": "film-small.safetensors (seeded random, widths 8/16/16/32/32, decoder 24)"}, f, indent=1)
    print(f"{folder}: {sum(v.numel() for v in tensors.values())} values")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--film-fixture", metavar="FOLDER", help="write the film architecture's parity fixture and stop")
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "colorize-train"))
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--crop", type=int, default=112)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--arch", choices=sorted(ARCHITECTURES), default="compact")
    ap.add_argument("--widths", default=None, help="film only: channel widths c0,c1,c2,c3,c4,c5 (encoder 1/1…1/16, "
                    "decoder); default 32,64,128,256,256,128. Checkpoints go to .train/colorizer-film-W0-…-W5 then")
    ap.add_argument("--film-aug", action="store_true", help="augment toward old film: tone curves, blur, grain, dust, scratches")
    ap.add_argument("--work", default=None, help="checkpoints (resume from here); default /tmp/filmrestore-colorizer "
                    "for compact, .train/colorizer-ARCH in the checkout otherwise")
    ap.add_argument("--out", default=os.path.join(ROOT, "Models", "colorizer"))
    ap.add_argument("--fixtures", default=os.path.join(ROOT, "Tests", "Fixtures", "colorizer"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--posterior", metavar="U,SCALE", default=None,
                    help="with --add-posterior: this decoding (chosen through the product) instead of the search")
    ap.add_argument("--add-posterior", metavar="FILE", default=None,
                    help="add the posterior-mean decoding (chosen on the tuning half) to an exported colorizer, and its "
                         "parity output to --fixtures; training runs call this after export")
    ap.add_argument("--temperatures", default="0.38,0.55,0.7,1.0",
                    help="annealed-mean temperatures tried after training")
    ap.add_argument("--margin", type=float, default=0.98, help="chroma error must stay below this fraction of the constant mean's")
    ap.add_argument("--undo", default="0,0.25,0.5,0.75,1",
                    help="how much of the class rebalancing is taken back out of the logits (β: logits − β·log w) after training. "
                         "Of all (β, T), the most colorful whose chroma error stays below the constant mean's on the first half "
                         "of the held-out photos (by --margin) is shipped (folded into head.bias); the second half reports")
    a = ap.parse_args()
    if a.add_posterior:
        fixed = tuple(float(v) for v in a.posterior.split(",")) if a.posterior else None
        return add_posterior(a.add_posterior, a.data, a.fixtures, a.threads, fixed)
    if a.film_fixture:
        return film_fixture(a.film_fixture)
    widths = tuple(int(v) for v in a.widths.split(",")) if a.widths else None
    if widths is not None and (a.arch != "film" or len(widths) != 6):
        ap.error("--widths takes six numbers and only with --arch film")
    if a.work is None:
        tag = a.arch + ("-" + "-".join(map(str, widths)) if widths else "") + ("-filmaug" if a.film_aug and a.arch == "compact" else "")
        a.work = "/tmp/filmrestore-colorizer" if tag == "compact" else os.path.join(ROOT, ".train", f"colorizer-{tag}")
    name = "compact-colorizer" if a.arch == "compact" else f"{a.arch}-colorizer"
    if a.arch != "compact" and a.fixtures == os.path.join(ROOT, "Tests", "Fixtures", "colorizer"):
        # beside the architecture's seeded parity fixture (--film-fixture), not over its README.json
        a.fixtures = os.path.join(a.fixtures + f"-{a.arch}", "exported")
    torch.set_num_threads(a.threads)
    os.makedirs(a.work, exist_ok=True); os.makedirs(a.out, exist_ok=True); os.makedirs(a.fixtures, exist_ok=True)
    t0 = time.time()
    data = load_images(a.data)
    print(f"photos: {len(data['train'])} train, {len(data['val'])} held out; loaded in {time.time() - t0:.0f} s", flush=True)
    bins_np, weights_np, lookup = make_bins(data["train"])
    bins, weights = torch.from_numpy(bins_np), torch.from_numpy(weights_np)
    Q = len(bins_np)
    ys = [ycbcr(x.transpose(2, 0, 1)[None].astype(np.float32) / 255) for _, x in data["train"][:300]]
    mean_c = (float(np.mean([c[1].mean() for c in ys])), float(np.mean([c[2].mean() for c in ys])))
    print(f"{Q} chroma classes; mean training chroma Cb {mean_c[0]:.4f} Cr {mean_c[1]:.4f}", flush=True)

    torch.manual_seed(0)
    model = ARCHITECTURES[a.arch](Q, widths=widths) if widths else ARCHITECTURES[a.arch](Q)
    print(f"{a.arch}: {sum(p.numel() for p in model.parameters())} parameters", flush=True)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    rng = np.random.default_rng(0)
    start, log, seconds = 0, [], 0.0
    ckpt = os.path.join(a.work, "checkpoint.pt")
    if os.path.exists(ckpt):
        st = torch.load(ckpt, weights_only=False)
        if st["classes"] == Q:
            model.load_state_dict(st["model"]); opt.load_state_dict(st["opt"]); start = st["epoch"]
            rng.bit_generator.state = st["rng"]; log = st["log"]; seconds = st.get("seconds", 0.0)
            print(f"resumed after epoch {start}", flush=True)
    steps_per_epoch = len(data["train"]) // a.batch
    total = a.epochs * steps_per_epoch
    for epoch in range(start, a.epochs):
        te = time.time(); losses = []
        for k, rgb in enumerate(batches(data["train"], a.crop, a.batch, rng)):
            step = epoch * steps_per_epoch + k
            for gr in opt.param_groups: gr["lr"] = a.lr * 0.5 * (1 + math.cos(math.pi * step / total))
            # augmentation on luma: brightness and contrast
            y, cb, cr = ycbcr(rgb)
            gain = torch.from_numpy(rng.uniform(0.8, 1.2, (rgb.shape[0], 1, 1)).astype(np.float32))
            bias = torch.from_numpy(rng.uniform(-0.08, 0.08, (rgb.shape[0], 1, 1)).astype(np.float32))
            y = ((y - 0.5) * gain + 0.5 + bias).clamp(0, 1)
            if a.film_aug:
                y = film_damage(y, rng)
            cb4, cr4 = F.avg_pool2d(cb[:, None], 4)[:, 0], F.avg_pool2d(cr[:, None], 4)[:, 0]
            target, nearest = soft_targets(cb4, cr4, lookup, Q)
            logits = model(y[:, None])
            pix_w = weights[nearest.clamp(min=0)]
            loss = -(target * F.log_softmax(logits, 1)).sum(1).mul(pix_w).mean()
            opt.zero_grad(); loss.backward(); opt.step()
            losses.append(loss.item())
        seconds += time.time() - te
        rm, rm0, cf = evaluate(model, bins, data["val"], mean_c)
        log.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "val_chroma_rmse": rm, "val_constant_rmse": rm0,
                    "val_colorfulness_ratio": cf, "seconds": time.time() - te})
        print(json.dumps(log[-1]), flush=True)
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch + 1, "rng": rng.bit_generator.state,
                    "classes": Q, "log": log, "seconds": seconds}, ckpt + ".tmp")
        os.replace(ckpt + ".tmp", ckpt)

    # the decoding: β and T chosen on the first half of the held-out photos, reported on the second half
    tune, report = data["val"][0::2], data["val"][1::2]
    logw = torch.log(weights)
    tried = []
    for beta in [float(v) for v in a.undo.split(",")]:
        for t in [float(v) for v in a.temperatures.split(",")]:
            rm, rm0, cf = evaluate(model, bins, tune, mean_c, t, -beta * logw)
            tried.append({"undo": beta, "temperature": t, "chroma_rmse": rm, "constant_rmse": rm0, "colorfulness_ratio": cf})
            print(json.dumps(tried[-1]), flush=True)
    ok = [r for r in tried if r["chroma_rmse"] < a.margin * r["constant_rmse"]]
    best = max(ok, key=lambda r: r["colorfulness_ratio"]) if ok else min(tried, key=lambda r: r["chroma_rmse"])
    temperature, beta = best["temperature"], best["undo"]
    rm, rm0, cf = evaluate(model, bins, report, mean_c, temperature, -beta * logw)
    held_out = {"undo": beta, "temperature": temperature, "photos": len(report), "chroma_rmse": rm, "constant_rmse": rm0, "colorfulness_ratio": cf}
    print("held out (report half):", json.dumps(held_out), flush=True)
    with torch.no_grad():
        model.head.bias -= beta * logw

    # export: weights, the bin table and the temperature; then the parity fixture
    model.eval()
    tensors = dict(model.state_dict())
    tensors = {k: v for k, v in tensors.items() if not k.endswith("num_batches_tracked")}
    tensors["bins"] = bins; tensors["temperature"] = torch.tensor([temperature])
    meta = {"format": "filmrestore-compact-colorizer-1", "colour_space": "YCbCr BT.601 full range",
            "input": "Y' 0..1, sides multiples of 8", "output": "bin logits at 1/4 size; annealed mean",
            "epochs": str(a.epochs), "train_photos": str(len(data["train"])), "val_photos": str(len(data["val"])),
            "train_seconds": f"{seconds:.0f}", "log": json.dumps(log), "temperatures": json.dumps(tried),
            "held_out": json.dumps(held_out)}
    if a.arch != "compact":
        meta["format"] = f"filmrestore-{a.arch}-colorizer-1"
        meta["film_aug"] = str(a.film_aug)
    save_safetensors(os.path.join(a.out, f"{name}.safetensors"), tensors, meta)
    h, w = 64, 96
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    gray = np.clip(0.5 + 0.3 * np.sin(xx * 0.21) * np.cos(yy * 0.17) + 0.15 * np.sin((xx + 2 * yy) * 0.05), 0, 1).astype(np.float32)
    with torch.no_grad():
        logits = model(torch.from_numpy(gray)[None, None])
        pb, pr = decode(logits, bins, temperature)          # head.bias carries the β correction now
    gray.tofile(os.path.join(a.fixtures, "input.f32"))
    np.stack([pb[0].numpy(), pr[0].numpy()]).astype(np.float32).tofile(os.path.join(a.fixtures, "chroma.f32"))
    with open(os.path.join(a.fixtures, "README.json"), "w") as f:
        json.dump({"made_by": "Tools/train_colorizer.py", "torch": torch.__version__, "height": h, "width": w,
                   "layout": "input: Y' float32 HxW; chroma.f32: Cb then Cr at (H/4)x(W/4), annealed mean at the shipped temperature",
                   "weights": f"Models/colorizer/{name}.safetensors"}, f, indent=1)
    print(f"exported: {Q} classes, {sum(v.numel() for v in tensors.values())} values; training {seconds / 60:.1f} min", flush=True)
    add_posterior(os.path.join(a.out, f"{name}.safetensors"), a.data, a.fixtures, a.threads)


if __name__ == "__main__":
    main()
