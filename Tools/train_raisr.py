#!/usr/bin/env python3
"""RAISR (Romano, Isidoro and Milanfar, "RAISR: Rapid and Accurate Image Super Resolution", 2016):
filters learned by least squares, one per hash bucket of the local gradient (angle x strength x
coherence) and per output pixel type (its position within the scale x scale block).

This trainer learns the filters on low-resolution patches: every output pixel is a k x k filter of
the low-resolution picture around it, the filter chosen by the bucket of that low-resolution pixel's
structure tensor and by the output pixel's position among the scale^2 it makes (as the paper's
pixel types). All scale^2 types of a pixel share its patch, so one Gram matrix per bucket serves
them all. Buckets with too few samples fall back to the global filter of their type.

Data: the project's training photos (../shared/data/colorize-train), the training half of the
colorizer's split (a hash of the file name; the 1 in 10 it holds out is never read here); Y of
BT.601, made low-resolution by MATLAB's antialiased bicubic, with the eight flips/rotations.
Evaluation: Set5 and Set14 (held out, never trained on), x scale from MATLAB-bicubic-downscaled
images, Y-PSNR with a scale-pixel border shaved, against MATLAB bicubic upscaling.

    python3 Tools/train_raisr.py --scale 4 --out Models/raisr/raisr-x4.bin
    python3 Tools/train_raisr.py --evaluate Models/raisr/raisr-x4.bin      # held-out PSNR, with and without blending
    python3 Tools/train_raisr.py --fixture Models/raisr/raisr-x4.bin Tests/Fixtures/raisr/x4.json

Needs numpy, scipy and pillow (a venv: python3 -m venv .venv && .venv/bin/pip install numpy scipy pillow).
"""
import argparse
import hashlib
import json
import math
import os
import struct
import sys
import time

import numpy as np
from PIL import Image
from scipy.ndimage import convolve1d

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, '..', '..', 'shared', 'data')


# ---------------------------------------------------------------- MATLAB bicubic resize
def cubic(x):
    a = np.abs(x)
    return ((1.5 * a ** 3 - 2.5 * a ** 2 + 1) * (a <= 1)
            + (-0.5 * a ** 3 + 2.5 * a ** 2 - 4 * a + 2) * ((a > 1) & (a <= 2)))


def resize_axis(img, axis, scale):
    n = img.shape[axis]
    m = int(math.ceil(n * scale))
    width = 4 / scale if scale < 1 else 4.0
    x = np.arange(1, m + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    p = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(p)[None, :]
    w = scale * cubic((u[:, None] - idx) * scale) if scale < 1 else cubic(u[:, None] - idx)
    w = w / w.sum(axis=1, keepdims=True)
    j = idx.astype(int) - 1
    j = np.where(j < 0, -j - 1, j)
    j = np.where(j >= n, 2 * n - j - 1, j)
    j = np.clip(j, 0, n - 1)
    moved = np.moveaxis(img, axis, 0)
    out = np.einsum('mp,mp...->m...', w, moved[j])
    return np.moveaxis(out, 0, axis)


def imresize(img, scale):
    return resize_axis(resize_axis(img, 0, scale), 1, scale)


def luma(rgb):
    """Y of BT.601 on 0..1 (16..235 as /255), as the SR literature measures."""
    rgb = rgb.astype(np.float64) / 255
    if rgb.ndim == 2:
        return (16 + 219 * rgb) / 255
    return (16 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255


# ---------------------------------------------------------------- hashing
def structure(lr, window=5):
    """Per pixel: angle bin input (0..pi), strength sqrt(l1), coherence, from the Gaussian-weighted
    structure tensor of central-difference gradients over window x window."""
    gy, gx = np.gradient(lr)
    s = window / 3.0
    g = np.exp(-0.5 * (np.arange(window) - window // 2) ** 2 / s ** 2)
    g /= g.sum()
    def smooth(a):
        return convolve1d(convolve1d(a, g, axis=0, mode='nearest'), g, axis=1, mode='nearest')
    a, b, c = smooth(gx * gx), smooth(gx * gy), smooth(gy * gy)
    tr, det = a + c, a * c - b * b
    disc = np.sqrt(np.maximum(tr * tr / 4 - det, 0))
    l1, l2 = tr / 2 + disc, np.maximum(tr / 2 - disc, 0)
    theta = np.mod(np.arctan2(l1 - a, b), np.pi)  # direction of the dominant eigenvector (b, l1 - a)
    theta = np.where(np.abs(b) < 1e-12, np.where(a >= c, 0.0, np.pi / 2), theta)
    r1, r2 = np.sqrt(l1), np.sqrt(l2)
    coherence = np.where(r1 + r2 > 1e-12, (r1 - r2) / (r1 + r2 + 1e-12), 0)
    return theta, r1, coherence


def buckets(theta, strength, coherence, cfg):
    ai = np.minimum((theta / np.pi * cfg['angles']).astype(int), cfg['angles'] - 1)
    si = np.searchsorted(cfg['strength_edges'], strength)
    ci = np.searchsorted(cfg['coherence_edges'], coherence)
    return (ai * (len(cfg['strength_edges']) + 1) + si) * (len(cfg['coherence_edges']) + 1) + ci


def patches(lr, k):
    """Every k x k patch of the edge-padded picture, one row per pixel (h*w, k*k)."""
    r = k // 2
    p = np.pad(lr, r, mode='edge')
    h, w = lr.shape
    out = np.empty((h, w, k * k), dtype=np.float64)
    for dy in range(k):
        for dx in range(k):
            out[:, :, dy * k + dx] = p[dy:dy + h, dx:dx + w]
    return out.reshape(h * w, k * k)


def targets(hr, s):
    """The s*s output pixels of every low-resolution pixel, by type (dy*s + dx): (h*w, s*s)."""
    H, W = hr.shape
    h, w = H // s, W // s
    return hr[:h * s, :w * s].reshape(h, s, w, s).transpose(0, 2, 1, 3).reshape(h * w, s * s)


# ---------------------------------------------------------------- data
def split_of(name):
    return "val" if int(hashlib.sha1(name.encode()).hexdigest(), 16) % 10 == 0 else "train"


def training_pairs(folder, s, limit=None):
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(('.jpg', '.jpeg', '.png')))
    names = [n for n in names if split_of(n) == 'train'][:limit]
    for n in names:
        y = luma(np.asarray(Image.open(os.path.join(folder, n)).convert('RGB')))
        H, W = (y.shape[0] // s) * s, (y.shape[1] // s) * s
        y = y[:H, :W]
        for t in range(8):  # the eight flips and rotations
            v = np.rot90(y, t % 4)
            if t >= 4:
                v = v[:, ::-1]
            v = np.ascontiguousarray(v)
            yield v, imresize(v, 1 / s)


# ---------------------------------------------------------------- training
def train(a):
    s, k = a.scale, a.patch
    cfg = {'angles': a.angles, 'strength_edges': None, 'coherence_edges': None}
    folder = os.path.join(SHARED, 'colorize-train')
    # bucket edges: the strength and coherence terciles of a sample of the training pictures
    st, co = [], []
    for i, (hr, lr) in enumerate(training_pairs(folder, s, limit=200)):
        if i % 8:
            continue
        _, r1, c = structure(lr)
        st.append(r1.ravel()[::7])
        co.append(c.ravel()[::7])
    st, co = np.concatenate(st), np.concatenate(co)
    cfg['strength_edges'] = np.quantile(st, [1 / 3, 2 / 3]).tolist()
    cfg['coherence_edges'] = np.quantile(co, [1 / 3, 2 / 3]).tolist()
    nb = a.angles * 3 * 3
    d = k * k
    Q = np.zeros((nb, d, d))
    V = np.zeros((nb, d, s * s))
    count = np.zeros(nb, dtype=np.int64)
    t0 = time.time()
    for i, (hr, lr) in enumerate(training_pairs(folder, s, limit=a.images)):
        theta, r1, c = structure(lr)
        b = buckets(theta, r1, c, cfg).ravel()
        P = patches(lr, k)
        T = targets(hr, s)
        r = k // 2
        h, w = lr.shape
        inner = np.zeros((h, w), bool)
        inner[r:h - r, r:w - r] = True
        keep = inner.ravel()
        b, P, T = b[keep], P[keep], T[keep]
        order = np.argsort(b, kind='stable')
        b, P, T = b[order], P[order], T[order]
        bounds = np.searchsorted(b, np.arange(nb + 1))
        for j in range(nb):
            lo, hi = bounds[j], bounds[j + 1]
            if hi > lo:
                Pj = P[lo:hi]
                Q[j] += Pj.T @ Pj
                V[j] += Pj.T @ T[lo:hi]
                count[j] += hi - lo
        if i % 800 == 0:
            print(f'{i // 8} pictures, {time.time() - t0:.0f} s', flush=True)
    lam = a.ridge
    Qg, Vg = Q.sum(0), V.sum(0)
    glob = np.linalg.solve(Qg + lam * np.trace(Qg) / d * np.eye(d), Vg)
    filters = np.empty((nb, s * s, d), dtype=np.float32)
    for j in range(nb):
        if count[j] < a.min_samples:
            filters[j] = glob.T
        else:
            filters[j] = np.linalg.solve(Q[j] + lam * np.trace(Q[j]) / d * np.eye(d), V[j]).T
    return cfg, filters, count


# ---------------------------------------------------------------- inference (the reference the Swift code must equal)
def upscale(lr, cfg, filters, s, k):
    theta, r1, c = structure(lr)
    b = buckets(theta, r1, c, cfg).ravel()
    P = patches(lr, k)
    out = np.einsum('nd,ntd->nt', P, filters[b])
    h, w = lr.shape
    return out.reshape(h, w, s, s).transpose(0, 2, 1, 3).reshape(h * s, w * s)


def census_blend(cheap, refined):
    """The paper's blending: where the filtered picture's census transform (the 8 neighbours of a
    3x3 window below the centre or not, edges repeated) differs from the cheap upscale's, lean to the
    cheap upscale by the share of the 8 bits that changed."""
    h, w = cheap.shape
    pc, pf = np.pad(cheap, 1, mode='edge'), np.pad(refined, 1, mode='edge')
    changed = np.zeros((h, w))
    for dy in range(3):
        for dx in range(3):
            if dy == 1 and dx == 1:
                continue
            a = pc[dy:dy + h, dx:dx + w] < cheap
            b = pf[dy:dy + h, dx:dx + w] < refined
            changed += a != b
    weight = changed / 8
    return weight * cheap + (1 - weight) * refined


def psnr(a, b, border):
    a, b = a[border:-border, border:-border], b[border:-border, border:-border]
    return 10 * math.log10(1 / np.mean((a - b) ** 2))


def evaluate(cfg, filters, s, k, sets=('Set5', 'Set14')):
    rows = []
    for name in sets:
        folder = os.path.join(SHARED, 'sr', name)
        for f in sorted(os.listdir(folder)):
            y = luma(np.asarray(Image.open(os.path.join(folder, f)).convert('RGB')))
            H, W = (y.shape[0] // s) * s, (y.shape[1] // s) * s
            y = y[:H, :W]
            lr = imresize(y, 1 / s)
            bic = np.clip(imresize(lr, s), 0, 1)
            up = upscale(lr, cfg, filters, s, k)
            ours = np.clip(up, 0, 1)
            blended = np.clip(census_blend(imresize(lr, s), up), 0, 1)
            rows.append((name, f, psnr(bic, y, s), psnr(ours, y, s), psnr(blended, y, s)))
    return rows


def report(rows, s):
    for name in ('Set5', 'Set14'):
        r = [x for x in rows if x[0] == name]
        print(f'{name} x{s}: bicubic {np.mean([x[2] for x in r]):.3f} dB, RAISR {np.mean([x[3] for x in r]):.3f} dB, '
              f'RAISR + census blending {np.mean([x[4] for x in r]):.3f} dB')


def write(path, cfg, filters, s, k, meta):
    header = dict(format='filmrestore-raisr', version=1, scale=s, patch=k, angles=cfg['angles'],
                  strength_edges=cfg['strength_edges'], coherence_edges=cfg['coherence_edges'],
                  buckets=int(filters.shape[0]), types=s * s, **meta)
    hb = json.dumps(header, sort_keys=True).encode()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(b'RAISR\0\0\0' + struct.pack('<I', len(hb)) + hb)
        f.write(filters.astype('<f4').tobytes())


def read(path):
    with open(path, 'rb') as f:
        data = f.read()
    assert data[:8] == b'RAISR\0\0\0'
    n = struct.unpack('<I', data[8:12])[0]
    h = json.loads(data[12:12 + n])
    filters = np.frombuffer(data[12 + n:], '<f4').reshape(h['buckets'], h['types'], h['patch'] ** 2)
    cfg = {'angles': h['angles'], 'strength_edges': h['strength_edges'], 'coherence_edges': h['coherence_edges']}
    return h, cfg, filters


def fixture(model, out):
    """The Swift inference's reference: a crop of a CC0 test photo made low-resolution, and this
    script's upscale of it."""
    h, cfg, filters = read(model)
    s, k = h['scale'], h['patch']
    photo = os.path.join(HERE, '..', 'Tests', 'Fixtures', 'photos', 'chelsea.png')
    y = luma(np.asarray(Image.open(photo).convert('L')))[64:160, 64:192]
    lr = imresize(y, 1 / s)
    up = upscale(lr, cfg, filters, s, k)
    blended = census_blend(imresize(lr, s), up)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, 'w') as f:
        json.dump({'note': f'made by Tools/train_raisr.py --fixture from {os.path.basename(model)}',
                   'width': lr.shape[1], 'height': lr.shape[0], 'scale': s, 'luma': lr.ravel().tolist(),
                   'output': up.ravel().tolist(), 'blended': blended.ravel().tolist()}, f)
    print(f'{out}: {lr.shape[1]}x{lr.shape[0]} -> x{s}')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--fixture', nargs=2, metavar=('MODEL', 'OUT'), help='write the Swift parity fixture and stop')
    ap.add_argument('--evaluate', metavar='MODEL', help='measure a trained filter file on Set5/Set14 and stop')
    ap.add_argument('--scale', type=int, default=4)
    ap.add_argument('--patch', type=int, default=5)
    ap.add_argument('--angles', type=int, default=24)
    ap.add_argument('--images', type=int, default=None, help='training pictures (default: all of the training half)')
    ap.add_argument('--ridge', type=float, default=1e-3)
    ap.add_argument('--min-samples', type=int, default=200)
    ap.add_argument('--out', default=None)
    a = ap.parse_args()
    if a.fixture:
        return fixture(*a.fixture)
    if a.evaluate:
        h, cfg, filters = read(a.evaluate)
        return report(evaluate(cfg, filters, h['scale'], h['patch']), h['scale'])
    t0 = time.time()
    cfg, filters, count = train(a)
    report(evaluate(cfg, filters, a.scale, a.patch), a.scale)
    print(f'buckets with samples: {(count > 0).sum()} of {len(count)}; trained in {time.time() - t0:.0f} s')
    if a.out:
        meta = {'patch_note': 'k x k low-resolution patch around each pixel', 'trained_images': a.images or 'all'}
        write(a.out, cfg, filters, a.scale, a.patch, meta)


if __name__ == '__main__':
    main()
