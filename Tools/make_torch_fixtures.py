#!/usr/bin/env python3
"""Make small PyTorch-format checkpoints and their reference outputs for the loader tests.

No torch is needed: the files are written the way `torch.save` writes them (pickle protocol 2
with persistent storage ids, in the zip layout and in the legacy layout) and as safetensors; the
reference outputs come from an independent NumPy implementation of the BasicSR networks.

    python3 -m venv .venv && .venv/bin/pip install numpy && .venv/bin/python Tools/make_torch_fixtures.py
"""
import io, json, os, pickle, struct, sys, types, zipfile
from collections import OrderedDict
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "torch")

# --- a stand-in for the parts of torch that pickles name -------------------------------------
torch = types.ModuleType("torch"); utils = types.ModuleType("torch._utils")
sys.modules["torch"] = torch; sys.modules["torch._utils"] = utils
class FloatStorage: pass
FloatStorage.__module__ = "torch"; torch.FloatStorage = FloatStorage
def _rebuild_tensor_v2(*a): pass
_rebuild_tensor_v2.__module__ = "torch._utils"; utils._rebuild_tensor_v2 = _rebuild_tensor_v2

class Storage:
    def __init__(self, key, arr): self.key, self.arr = key, arr.astype("<f4").ravel()
class Tensor:
    def __init__(self, storage, shape):
        self.storage, self.shape = storage, shape
    def __reduce_ex__(self, proto):
        stride = tuple(int(np.prod(self.shape[i + 1:])) for i in range(len(self.shape)))
        return (_rebuild_tensor_v2, (self.storage, 0, tuple(self.shape), stride, False, OrderedDict()))

def tensors(sd):
    out, storages = OrderedDict(), []
    for i, (k, v) in enumerate(sd.items()):
        s = Storage(str(i), v); storages.append(s); out[k] = Tensor(s, v.shape)
    return out, storages

def save_zip(sd, path, wrap=None):
    obj, storages = tensors(sd)
    if wrap: obj = {wrap: obj}
    buf = io.BytesIO()
    p = pickle.Pickler(buf, protocol=2)
    p.persistent_id = lambda o: ("storage", FloatStorage, o.key, "cpu", o.arr.size) if isinstance(o, Storage) else None
    p.dump(obj)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        for s in storages: z.writestr(f"archive/data/{s.key}", s.arr.tobytes())
        z.writestr("archive/version", "3\n")

def save_legacy(sd, path):
    obj, storages = tensors(sd)
    with open(path, "wb") as f:
        pickle.dump(0x1950a86a20f9469cfc6c, f, protocol=2)
        pickle.dump(1001, f, protocol=2)
        pickle.dump({"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}, f, protocol=2)
        p = pickle.Pickler(f, protocol=2)
        p.persistent_id = lambda o: ("storage", FloatStorage, o.key, "cpu", o.arr.size, None) if isinstance(o, Storage) else None
        p.dump(obj)
        pickle.dump([s.key for s in storages], f, protocol=2)
        for s in storages:
            f.write(struct.pack("<q", s.arr.size)); f.write(s.arr.tobytes())

def save_safetensors(sd, path):
    header, blobs, off = {}, [], 0
    for k, v in sd.items():
        b = v.astype("<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b); off += len(b)
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h); f.write(b"".join(blobs))

# --- NumPy reference networks (BasicSR definitions) ------------------------------------------
def conv(x, w, b):
    c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    out = np.zeros((w.shape[0], h, wd), np.float64)
    for ky in range(3):
        for kx in range(3):
            out += np.einsum("oc,chw->ohw", w[:, :, ky, kx], xp[:, ky:ky + h, kx:kx + wd])
    return out + b[:, None, None]
def lrelu(x): return np.where(x < 0, 0.2 * x, x)
def prelu(x, a): return np.where(x < 0, a[:, None, None] * x, x)
def shuffle(x, r):
    c, h, w = x.shape
    return x.reshape(c // (r * r), r, r, h, w).transpose(0, 3, 1, 4, 2).reshape(c // (r * r), h * r, w * r)
def up(x, s): return x.repeat(s, axis=1).repeat(s, axis=2)

def srvgg(sd, x, n):
    f = prelu(conv(x, sd["body.0.weight"], sd["body.0.bias"]), sd["body.1.weight"])
    for i in range(n):
        j = 2 + 2 * i
        f = prelu(conv(f, sd[f"body.{j}.weight"], sd[f"body.{j}.bias"]), sd[f"body.{j+1}.weight"])
    j = 2 + 2 * n
    f = conv(f, sd[f"body.{j}.weight"], sd[f"body.{j}.bias"])
    return shuffle(f, 4) + up(x, 4)

def rrdb(sd, x, nb):
    c = lambda n, t: conv(t, sd[n + ".weight"], sd[n + ".bias"])
    feat = c("conv_first", x); h = feat
    for b in range(nb):
        r = h
        for k in range(1, 4):
            p = f"body.{b}.rdb{k}."
            xs = [r]
            for j in range(1, 5): xs.append(lrelu(c(p + f"conv{j}", np.concatenate(xs))))
            r = c(p + "conv5", np.concatenate(xs)) * 0.2 + r
        h = r * 0.2 + h
    f = feat + c("conv_body", h)
    f = lrelu(c("conv_up1", up(f, 2))); f = lrelu(c("conv_up2", up(f, 2)))
    return c("conv_last", lrelu(c("conv_hr", f)))

def conv_any(x, w, b, pad):
    """Cross-correlation with zero padding, any odd kernel (float64)."""
    c, h, wd = x.shape
    k = w.shape[2]
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - k + 1, wd + 2 * pad - k + 1
    out = np.zeros((w.shape[0], oh, ow), np.float64)
    for ky in range(k):
        for kx in range(k):
            out += np.einsum("oc,chw->ohw", w[:, :, ky, kx], xp[:, ky:ky + oh, kx:kx + ow])
    return out + b[:, None, None]
def relu(x): return np.maximum(x, 0)
def bilinear_up(x, s):
    """F.interpolate(scale_factor=s, mode="bilinear", align_corners=False)."""
    c, h, w = x.shape
    def taps(n, src):
        f = np.maximum((np.arange(n * s) + 0.5) / s - 0.5, 0)
        i0 = np.minimum(np.floor(f).astype(int), src - 1); i1 = np.minimum(i0 + 1, src - 1)
        return i0, i1, f - i0
    y0, y1, fy = taps(h, h); x0, x1, fx = taps(w, w)
    rows = x[:, y0, :] * (1 - fy)[None, :, None] + x[:, y1, :] * fy[None, :, None]
    return rows[:, :, x0] * (1 - fx) + rows[:, :, x1] * fx

def msrresnet(sd, x, nb):
    """BasicSR's MSRResNet (x4): LeakyReLU 0.1, ResidualBlockNoBN (ReLU, res_scale 1), bilinear base."""
    c = lambda n, t: conv(t, sd[n + ".weight"], sd[n + ".bias"])
    lr = lambda t: np.where(t < 0, 0.1 * t, t)
    feat = lr(c("conv_first", x)); out = feat
    for b in range(nb):
        out = out + c(f"body.{b}.conv2", relu(c(f"body.{b}.conv1", out)))
    out = lr(shuffle(c("upconv1", out), 2)); out = lr(shuffle(c("upconv2", out), 2))
    return c("conv_last", lr(c("conv_hr", out))) + bilinear_up(x, 4)

def torch_conv2d(x, w, pad):
    """F.conv2d for a batch: x [N,C,H,W], w [O,C,k,k] (used for SPAN's re-parameterization)."""
    return np.stack([conv_any(xi, w, np.zeros(w.shape[0]), pad) for xi in x])
def conv3xc_fold(sd, p):
    """SPAN's Conv3XC.update_params, as upstream writes it (flip/permute and F.conv2d of the weights)."""
    g = lambda n: sd[f"{p}.{n}"].astype(np.float64)
    w1, b1, w2, b2, w3, b3 = g("conv.0.weight"), g("conv.0.bias"), g("conv.1.weight"), g("conv.1.bias"), g("conv.2.weight"), g("conv.2.bias")
    w = torch_conv2d(w1[:, :, ::-1, ::-1].transpose(1, 0, 2, 3), w2, 2)[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    b = (w2 * b1.reshape(1, -1, 1, 1)).sum((1, 2, 3)) + b2
    wc = torch_conv2d(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3), w3, 0)[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    bc = (w3 * b.reshape(1, -1, 1, 1)).sum((1, 2, 3)) + b3
    return wc + np.pad(g("sk.weight"), ((0, 0), (0, 0), (1, 1), (1, 1))), bc + g("sk.bias")

def span(sd, x):
    """SPAN (hongyuanyu/SPAN, spandrel's copy), eval mode, norm on (img_range 255, DIV2K mean)."""
    cx = lambda p, t: conv(t, *conv3xc_fold(sd, p))
    silu = lambda t: t / (1 + np.exp(-t))
    x = (x - np.array([0.4488, 0.4371, 0.4040])[:, None, None]) * 255.0
    def spab(p, t):
        o1 = cx(p + ".c1_r", t); o2 = cx(p + ".c2_r", silu(o1)); o3 = cx(p + ".c3_r", silu(o2))
        att = 1 / (1 + np.exp(-o3)) - 0.5
        return (o3 + t) * att, o1
    f = cx("conv_1", x)
    b1, _ = spab("block_1", f); t = b1
    for i in range(2, 6): t, _ = spab(f"block_{i}", t)
    b6, b5_2 = spab("block_6", t)
    b6 = cx("conv_2", b6)
    cat = np.concatenate([f, b6, b1, b5_2])
    out = conv_any(cat, sd["conv_cat.weight"], sd["conv_cat.bias"], 0)
    return shuffle(conv(out, sd["upsampler.0.weight"], sd["upsampler.0.bias"]), 4)

def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(2024)
    x = rng.random((3, 10, 12)).astype(np.float32)
    x.astype("<f4").tofile(os.path.join(OUT, "input-3x10x12.f32"))
    # SRVGGNetCompact: num_feat 8, num_conv 2, x4
    sd, nf, n = OrderedDict(), 8, 2
    shapes = [("body.0", (nf, 3))] + [(f"body.{2+2*i}", (nf, nf)) for i in range(n)] + [(f"body.{2+2*n}", (48, nf))]
    for name, (o, i) in shapes:
        sd[name + ".weight"] = (rng.standard_normal((o, i, 3, 3)) * 0.2).astype(np.float32)
        sd[name + ".bias"] = (rng.standard_normal(o) * 0.05).astype(np.float32)
        idx = int(name.split(".")[1])
        if idx < 2 + 2 * n: sd[f"body.{idx+1}.weight"] = (rng.random(nf) * 0.3).astype(np.float32)
    sd = OrderedDict(sorted(sd.items(), key=lambda kv: (int(kv[0].split(".")[1]), kv[0])))
    save_zip(sd, os.path.join(OUT, "srvgg-tiny.pth"), wrap="params")
    save_legacy(sd, os.path.join(OUT, "srvgg-tiny-legacy.pth"))
    save_safetensors(sd, os.path.join(OUT, "srvgg-tiny.safetensors"))
    srvgg(sd, x.astype(np.float64), n).astype("<f4").tofile(os.path.join(OUT, "srvgg-tiny.output.f32"))
    # RRDBNet: nf 8, gc 4, 1 block, x4
    sd2, nf, gc = OrderedDict(), 8, 4
    def add(name, o, i):
        sd2[name + ".weight"] = (rng.standard_normal((o, i, 3, 3)) * (0.5 / np.sqrt(9 * i))).astype(np.float32)
        sd2[name + ".bias"] = (rng.standard_normal(o) * 0.02).astype(np.float32)
    add("conv_first", nf, 3)
    for k in range(1, 4):
        for j in range(1, 6): add(f"body.0.rdb{k}.conv{j}", nf if j == 5 else gc, nf + (j - 1) * gc)
    for n2 in ["conv_body", "conv_up1", "conv_up2", "conv_hr"]: add(n2, nf, nf)
    add("conv_last", 3, nf)
    save_zip(sd2, os.path.join(OUT, "rrdb-tiny.pth"), wrap="params_ema")
    rrdb(sd2, x.astype(np.float64), 1).astype("<f4").tofile(os.path.join(OUT, "rrdb-tiny.output.f32"))
    # MSRResNet (SRResNet, SRGAN's generator in BasicSR): nf 8, 2 blocks, x4
    sd3, nf = OrderedDict(), 8
    def add3(name, o, i, k=3, sd=sd3, gain=0.5):
        sd[name + ".weight"] = (rng.standard_normal((o, i, k, k)) * (gain / np.sqrt(k * k * i))).astype(np.float32)
        sd[name + ".bias"] = (rng.standard_normal(o) * 0.02).astype(np.float32)
    add3("conv_first", nf, 3)
    for b in range(2): add3(f"body.{b}.conv1", nf, nf); add3(f"body.{b}.conv2", nf, nf)
    add3("upconv1", nf * 4, nf); add3("upconv2", nf * 4, nf); add3("conv_hr", nf, nf); add3("conv_last", 3, nf)
    save_zip(sd3, os.path.join(OUT, "msrresnet-tiny.pth"), wrap="params")
    msrresnet(sd3, x.astype(np.float64), 2).astype("<f4").tofile(os.path.join(OUT, "msrresnet-tiny.output.f32"))
    # SPAN: feature_channels 8, x4, in its training form (Conv3XC's sk + conv.0/1/2) with stale
    # eval_conv weights, as a checkpoint saved during training holds them: the loader must fold.
    sd4, fc = OrderedDict(), 8
    def conv3xc(p, cin, cout):
        add3(p + ".sk", cout, cin, 1, sd4, 0.3)
        add3(p + ".conv.0", cin * 2, cin, 1, sd4, 0.6)
        add3(p + ".conv.1", cout * 2, cin * 2, 3, sd4, 0.6)
        add3(p + ".conv.2", cout, cout * 2, 1, sd4, 0.6)
        add3(p + ".eval_conv", cout, cin, 3, sd4, 1.0)
    conv3xc("conv_1", 3, fc)
    for i in range(1, 7):
        for r in ("c1_r", "c2_r", "c3_r"): conv3xc(f"block_{i}.{r}", fc, fc)
    add3("conv_cat", fc, fc * 4, 1, sd4)
    conv3xc("conv_2", fc, fc)
    add3("upsampler.0", 3 * 16, fc, 3, sd4, 0.05)
    save_zip(sd4, os.path.join(OUT, "span-tiny.pth"), wrap="params_ema")
    span(sd4, x.astype(np.float64)).astype("<f4").tofile(os.path.join(OUT, "span-tiny.output.f32"))
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write("Made by Tools/make_torch_fixtures.py: tiny BasicSR-layout checkpoints with seeded random weights "
                "(SRVGGNetCompact nf=8 num_conv=2 in zip, legacy and safetensors form; RRDBNet nf=8 gc=4 nb=1 in zip form; "
                "MSRResNet nf=8 nb=2 x4; SPAN feature_channels=8 x4 in training form with stale eval_conv weights) "
                "and their outputs on input-3x10x12.f32 computed by an independent NumPy implementation (float64).\n")
    print("fixtures written to", OUT)

if __name__ == "__main__":
    main()
