#!/usr/bin/env python3
"""NIQE reference for the Swift feature code: an independent NumPy/SciPy implementation of NIQE as
BasicSR (basicsr/metrics/niqe.py) and the authors' MATLAB release compute it, run on a seeded
synthetic picture; writes Tests/Fixtures/niqe/synthetic.json (the picture's Y, every patch's 36
features, the score).

    python3 Tools/make_niqe_reference.py [--models Models]

Needs numpy and scipy (Debian: python3-numpy python3-scipy). Float64 throughout (BasicSR's resize
runs in float32; the difference is far below the tolerance of the check value).
"""
import argparse
import json
import math
import os

import numpy as np
from scipy.ndimage import convolve
from scipy.special import gamma

HERE = os.path.dirname(os.path.abspath(__file__))


def estimate_aggd_param(block):
    block = block.flatten()
    gam = np.arange(0.2, 10.001, 0.001)
    r_gam = np.square(gamma(2 / gam)) / (gamma(1 / gam) * gamma(3 / gam))
    left_std = np.sqrt(np.mean(block[block < 0] ** 2))
    right_std = np.sqrt(np.mean(block[block > 0] ** 2))
    gammahat = left_std / right_std
    rhat = (np.mean(np.abs(block))) ** 2 / np.mean(block ** 2)
    rhatnorm = (rhat * (gammahat ** 3 + 1) * (gammahat + 1)) / ((gammahat ** 2 + 1) ** 2)
    alpha = gam[np.argmin((r_gam - rhatnorm) ** 2)]
    beta_l = left_std * np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    beta_r = right_std * np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    return alpha, beta_l, beta_r


def compute_feature(block):
    alpha, beta_l, beta_r = estimate_aggd_param(block)
    feat = [alpha, (beta_l + beta_r) / 2]
    for shift in [[0, 1], [1, 0], [1, 1], [1, -1]]:
        shifted = np.roll(block, shift, axis=(0, 1))
        alpha, beta_l, beta_r = estimate_aggd_param(block * shifted)
        mean = (beta_r - beta_l) * (gamma(2 / alpha) / gamma(1 / alpha))
        feat.extend([alpha, mean, beta_l, beta_r])
    return feat


def cubic(x):
    a = np.abs(x)
    return ((1.5 * a ** 3 - 2.5 * a ** 2 + 1) * (a <= 1)
            + (-0.5 * a ** 3 + 2.5 * a ** 2 - 4 * a + 2) * ((a > 1) & (a <= 2)))


def resize_axis(img, axis, scale=0.5):
    """MATLAB imresize along one axis: bicubic, antialiased for scale < 1, symmetric edges."""
    n = img.shape[axis]
    m = int(math.ceil(n * scale))
    width = 4 / scale
    x = np.arange(1, m + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    p = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(p)[None, :]
    w = scale * cubic((u[:, None] - idx) * scale)
    w = w / w.sum(axis=1, keepdims=True)
    j = idx.astype(int) - 1
    j = np.where(j < 0, -j - 1, j)
    j = np.where(j >= n, 2 * n - j - 1, j)
    moved = np.moveaxis(img, axis, 0)
    out = np.einsum('mp,mp...->m...', w, moved[j])
    return np.moveaxis(out, 0, axis)


def niqe_features(img, window, patch=96):
    h, w = img.shape
    nbh, nbw = h // patch, w // patch
    img = img[:nbh * patch, :nbw * patch]
    per_scale = []
    for scale in (1, 2):
        mu = convolve(img, window, mode='nearest')
        sigma = np.sqrt(np.abs(convolve(np.square(img), window, mode='nearest') - np.square(mu)))
        norm = (img - mu) / (sigma + 1)
        s = patch // scale
        feats = []
        for bw in range(nbw):
            for bh in range(nbh):
                feats.append(compute_feature(norm[bh * s:(bh + 1) * s, bw * s:(bw + 1) * s]))
        per_scale.append(np.array(feats))
        if scale == 1:
            img = resize_axis(resize_axis(img / 255., 0), 1) * 255.
    return np.concatenate(per_scale, axis=1)


def niqe_score(feats, mu_p, cov_p):
    mu = np.nanmean(feats, axis=0)
    rows = feats[~np.isnan(feats).any(axis=1)]
    cov = np.cov(rows, rowvar=False)
    inv = np.linalg.pinv((cov_p + cov) / 2)
    d = mu_p - mu
    return float(np.sqrt(d @ inv @ d))


def synthetic(h=192, w=288, seed=7):
    """Smooth shapes, edges, texture and noise: a picture with natural-ish and unnatural parts."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = 110 + 50 * np.sin(x / 17.0) * np.cos(y / 23.0)
    img += 40 * ((x - 150) ** 2 + (y - 90) ** 2 < 45 ** 2)
    img += 25 * np.sign(np.sin(x / 5.0 + y / 9.0))
    img += rng.normal(0, 6, (h, w))
    return np.clip(np.round(img), 16, 235)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--models', default=os.path.join(HERE, '..', 'Models'))
    ap.add_argument('--out', default=os.path.join(HERE, '..', 'Tests', 'Fixtures', 'niqe', 'synthetic.json'))
    a = ap.parse_args()
    params = np.load(os.path.join(a.models, 'niqe', 'niqe_pris_params.npz'))
    img = synthetic()
    feats = niqe_features(img, params['gaussian_window'])
    score = niqe_score(feats, params['mu_pris_param'][0], params['cov_pris_param'])
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, 'w') as f:
        json.dump({'note': 'made by Tools/make_niqe_reference.py (NumPy/SciPy NIQE as BasicSR computes it)',
                   'width': img.shape[1], 'height': img.shape[0], 'luma': img.astype(int).flatten().tolist(),
                   'features': feats.tolist(), 'score': score}, f)
    print(f'{a.out}: {feats.shape[0]} patches, NIQE {score:.6f}')


if __name__ == '__main__':
    main()
