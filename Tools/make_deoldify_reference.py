#!/usr/bin/env python3
"""Make the parity fixtures of the DeOldify-style colorization generator.

DeOldify's generators (jantic/DeOldify, deoldify/unet.py + fastai v1 layers) cannot be installed here
(fastai 1.0 needs a 2019 PyTorch), so this script defines the same two networks in plain PyTorch, with
the module tree — and so the state-dict keys — of DeOldify's checkpoints:

  "artistic": DynamicUnetDeep on ResNet-34, nf_factor 1.5 (gen_inference_deep)
  "stable"/"video": DynamicUnetWide on ResNet-101, nf_factor 2 (gen_inference_wide)

Both with blur=True, self_attention=True, y_range=(-3, 3), norm_type=Spectral, last_cross=True,
bottle=False: ResNet body (torchvision layout), BatchNorm + ReLU, middle convs, four U-Net blocks
(CustomPixelShuffle_ICNR with replication pad + 2x2 average "blur", BatchNorm of the skip, spectral-
normed convs + ReLU + BatchNorm, self-attention in the second block), fastai's weight-normed
PixelShuffle_ICNR, dense merge with the input, a spectral res_block, a 1x1 spectral conv and
SigmoidRange(-3, 3). Spectral norm is torch.nn.utils.spectral_norm in eval mode (no power iteration:
sigma = u . W v from the stored u and v), weight norm is torch.nn.utils.weight_norm.

The weights are not random draws of torch: every tensor is filled from its key name by a counter-based
generator (SplitMix64 seeded with the FNV-1a hash of the key) that the Swift test reproduces, so the
fixtures hold only the input, the output and the key list (no 250 MB of weights). Run once, in a venv
with torch (the tests never need it):

    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch numpy
    /tmp/tv/bin/python Tools/make_deoldify_reference.py
"""
import argparse, json, math, os
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm, weight_norm

M64 = (1 << 64) - 1
BN_SCALE = 0.1     # BatchNorm weights: small enough that the (-3, 3) output is not saturated


def fnv1a64(s):
    h = 0xcbf29ce484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001b3) & M64
    return h


def uniform(key, n):
    """n values in [0, 1): SplitMix64 at counters 1…n from the key's hash, top 24 bits."""
    with np.errstate(over="ignore"):
        i = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64(fnv1a64(key)) + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)


def fill(sd):
    """The deterministic state dict (the same rules as the Swift test's)."""
    out = {}
    for k, t in sd.items():
        shape, n = tuple(t.shape), t.numel()
        if k.endswith("num_batches_tracked"):
            out[k] = torch.zeros_like(t); continue
        if k.endswith("weight_u"):
            continue                                  # derived below
        u = uniform(k, n)
        if k.endswith("running_var"): v = 0.5 + u
        elif k.endswith("running_mean"): v = (u - 0.5) * 0.2
        elif k.endswith("gamma"): v = 0.2 + 0.4 * u
        elif k.endswith("weight_g"): v = 0.5 + u
        elif k.endswith("weight_v") and len(shape) == 1:
            v = u - 0.5; v = v / np.linalg.norm(v)
        elif len(shape) == 1 and k.endswith("weight"): v = BN_SCALE * (0.5 + u)
        elif k.endswith("bias"): v = (u - 0.5) * 0.2
        else:
            fan_in = n // shape[0]
            v = (u - 0.5) * 2 * math.sqrt(3) * math.sqrt(1.0 / fan_in)
        out[k] = torch.tensor(v.astype(np.float32).reshape(shape))
    for k, t in sd.items():
        if k.endswith("weight_u"):
            base = k[: -len("weight_u")]
            w = out[base + "weight_orig"].double().reshape(t.shape[0], -1)
            u = w @ out[base + "weight_v"].double()
            out[k] = (u / u.norm()).float()
    return out


# ---------------------------------------------------------------- ResNet body (torchvision layout)
class BasicBlock(nn.Module):
    expansion = 1
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False); self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False); self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + idt)


class Bottleneck(nn.Module):
    expansion = 4
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False); self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False); self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False); self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + idt)


def resnet_body(block, layers):
    inplanes = 64
    def make(planes, blocks, stride):
        nonlocal inplanes
        ds = None
        if stride != 1 or inplanes != planes * block.expansion:
            ds = nn.Sequential(nn.Conv2d(inplanes, planes * block.expansion, 1, stride, bias=False),
                               nn.BatchNorm2d(planes * block.expansion))
        mods = [block(inplanes, planes, stride, ds)]
        inplanes = planes * block.expansion
        mods += [block(inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*mods)
    return nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                         nn.MaxPool2d(3, 2, 1), make(64, layers[0], 1), make(128, layers[1], 2),
                         make(256, layers[2], 2), make(512, layers[3], 2))


# ---------------------------------------------------------------- fastai v1 / DeOldify layers
def custom_conv_layer(ni, nf, ks=3, use_activ=True, self_attention=False, extra_bn=True):
    """deoldify/layers.py with norm_type=Spectral: spectral conv (bias only without BN), ReLU, BN, attention."""
    conv = spectral_norm(nn.Conv2d(ni, nf, ks, padding=(ks - 1) // 2, bias=not extra_bn))
    layers = [conv]
    if use_activ: layers.append(nn.ReLU(True))
    if extra_bn: layers.append(nn.BatchNorm2d(nf))
    if self_attention: layers.append(SelfAttention(nf))
    return nn.Sequential(*layers)


def conv_layer_spectral(ni, nf):
    """fastai v1 conv_layer(norm_type=Spectral): spectral conv with bias, ReLU."""
    return nn.Sequential(spectral_norm(nn.Conv2d(ni, nf, 3, padding=1, bias=True)), nn.ReLU(True))


class SelfAttention(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.query = spectral_norm(nn.Conv1d(n, n // 8, 1, bias=False))
        self.key = spectral_norm(nn.Conv1d(n, n // 8, 1, bias=False))
        self.value = spectral_norm(nn.Conv1d(n, n, 1, bias=False))
        self.gamma = nn.Parameter(torch.tensor([0.0]))
    def forward(self, x):
        size = x.size()
        x = x.view(*size[:2], -1)
        f, g, h = self.query(x), self.key(x), self.value(x)
        beta = F.softmax(torch.bmm(f.transpose(1, 2), g), dim=1)
        o = self.gamma * torch.bmm(h, beta) + x
        return o.view(*size).contiguous()


class CustomPixelShuffle_ICNR(nn.Module):
    def __init__(self, ni, nf):
        super().__init__()
        self.conv = custom_conv_layer(ni, nf * 4, ks=1, use_activ=False)
        self.shuf = nn.PixelShuffle(2)
        self.pad = nn.ReplicationPad2d((1, 0, 1, 0))
        self.blur = nn.AvgPool2d(2, stride=1)
        self.relu = nn.ReLU(True)
    def forward(self, x):
        return self.blur(self.pad(self.shuf(self.relu(self.conv(x)))))


class PixelShuffle_ICNR(nn.Module):
    """fastai v1 PixelShuffle_ICNR(ni): weight-normed 1x1 conv with bias, ReLU, shuffle (no blur)."""
    def __init__(self, ni):
        super().__init__()
        self.conv = nn.Sequential(weight_norm(nn.Conv2d(ni, ni * 4, 1, bias=True)))
        self.shuf = nn.PixelShuffle(2)
        self.relu = nn.ReLU(True)
    def forward(self, x):
        return self.shuf(self.relu(self.conv(x)))


class UnetBlockDeep(nn.Module):
    def __init__(self, up_in_c, x_in_c, final_div, sa, nf_factor):
        super().__init__()
        self.shuf = CustomPixelShuffle_ICNR(up_in_c, up_in_c // 2)
        self.bn = nn.BatchNorm2d(x_in_c)
        ni = up_in_c // 2 + x_in_c
        nf = int((ni if final_div else ni // 2) * nf_factor)
        self.conv1 = custom_conv_layer(ni, nf)
        self.conv2 = custom_conv_layer(nf, nf, self_attention=sa)
        self.relu = nn.ReLU()
        self.out_c = nf
    def forward(self, up_in, s):
        up_out = self.shuf(up_in)
        if s.shape[-2:] != up_out.shape[-2:]:
            up_out = F.interpolate(up_out, s.shape[-2:], mode="nearest")
        return self.conv2(self.conv1(self.relu(torch.cat([up_out, self.bn(s)], dim=1))))


class UnetBlockWide(nn.Module):
    def __init__(self, up_in_c, x_in_c, n_out, sa):
        super().__init__()
        up_out = x_out = n_out // 2
        self.shuf = CustomPixelShuffle_ICNR(up_in_c, up_out)
        self.bn = nn.BatchNorm2d(x_in_c)
        self.conv = custom_conv_layer(up_out + x_in_c, x_out, self_attention=sa)
        self.relu = nn.ReLU()
        self.out_c = x_out
    def forward(self, up_in, s):
        up_out = self.shuf(up_in)
        if s.shape[-2:] != up_out.shape[-2:]:
            up_out = F.interpolate(up_out, s.shape[-2:], mode="nearest")
        return self.conv(self.relu(torch.cat([up_out, self.bn(s)], dim=1)))


class ResBlock(nn.Module):
    """fastai v1 res_block(ni, bottle=False, norm_type=Spectral): SequentialEx(conv, conv, MergeLayer)."""
    def __init__(self, ni):
        super().__init__()
        self.layers = nn.ModuleList([conv_layer_spectral(ni, ni), conv_layer_spectral(ni, ni), nn.Identity()])
    def forward(self, x):
        return x + self.layers[1](self.layers[0](x))


class Generator(nn.Module):
    """layers.0 body, 1 BN, 2 ReLU, 3 middle, 4–7 U-Net blocks, 8 PixelShuffle_ICNR, 9 merge, 10 res_block,
    11 final conv, 12 SigmoidRange — the indices of fastai's SequentialEx, hence the keys."""
    def __init__(self, kind):
        super().__init__()
        if kind == "deep":
            body, chans, nf_factor = resnet_body(BasicBlock, [3, 4, 6, 3]), [64, 64, 128, 256, 512], 1.5
        else:
            body, chans, nf_factor = resnet_body(Bottleneck, [3, 4, 23, 3]), [64, 256, 512, 1024, 2048], 2
        ni = chans[4]
        mods = [body, nn.BatchNorm2d(ni), nn.ReLU(),
                nn.Sequential(custom_conv_layer(ni, ni * 2), custom_conv_layer(ni * 2, ni))]
        x_c, skips = ni, [chans[3], chans[2], chans[1], chans[0]]
        for i, s_c in enumerate(skips):
            final = i == 3
            if kind == "deep":
                blk = UnetBlockDeep(x_c, s_c, not final, i == 1, nf_factor)
            else:
                blk = UnetBlockWide(x_c, s_c, 512 * nf_factor if not final else 512 * nf_factor // 2, i == 1)
            mods.append(blk); x_c = blk.out_c
        mods += [PixelShuffle_ICNR(x_c), nn.Identity(), ResBlock(x_c + 3),
                 nn.Sequential(spectral_norm(nn.Conv2d(x_c + 3, 3, 1, bias=True))), nn.Identity()]
        self.layers = nn.ModuleList(mods)

    def forward(self, x):
        body = self.layers[0]
        feats, h = {}, x
        for i, m in enumerate(body):
            h = m(h)
            if i in (2, 4, 5, 6): feats[i] = h
        h = self.layers[3](self.layers[2](self.layers[1](h)))
        for blk, idx in zip(self.layers[4:8], (6, 5, 4, 2)):
            h = blk(h, feats[idx])
        h = self.layers[8](h)
        h = torch.cat([h, x], dim=1)
        h = self.layers[11](self.layers[10](h))
        return torch.sigmoid(h) * 6 - 3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint-dir", help="also save each filled generator as a DeOldify-style checkpoint "
                    "({'model': state_dict}, zip format) here: for loader and speed checks, never committed")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "deoldify"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_grad_enabled(False)
    note = {"made_by": "Tools/make_deoldify_reference.py", "torch": torch.__version__,
            "layout": "raw little-endian float32 CHW; input = gray image as 3 equal channels, ImageNet-normalized; output = the generator's (-3, 3) output before denormalization",
            "cases": {}}
    for kind, (h, w) in (("deep", (64, 96)), ("wide", (64, 64))):
        g = Generator(kind).eval()
        sd = fill(g.state_dict())
        g.load_state_dict(sd, strict=True)    # spectral-normed layers: weight = weight_orig / (u . W v) in eval
        rng = np.random.default_rng(7)
        gray = np.clip(np.cumsum(rng.normal(0, 0.08, (h, w)), axis=1) * 0.3 + 0.5, 0, 1)
        mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
        x = ((np.stack([gray] * 3) - mean[:, None, None]) / std[:, None, None]).astype(np.float32)
        y = g(torch.tensor(x)[None])[0].numpy().astype(np.float32)
        pre = torch.logit((torch.tensor(y) + 3) / 6, eps=1e-7)
        print(kind, "params", sum(t.numel() for t in sd.values()), "keys", len(sd),
              "output mean %.3f std %.3f; pre-sigmoid std %.3f; saturated (|y| > 2.9) %.3f" % (y.mean(), y.std(), pre.std().item(), (np.abs(y) > 2.9).mean()))
        if a.checkpoint_dir:
            torch.save({"model": g.state_dict()}, os.path.join(a.checkpoint_dir, f"random-{kind}_gen.pth"))
        x.tofile(os.path.join(a.out, f"{kind}.input.f32"))
        y.tofile(os.path.join(a.out, f"{kind}.output.f32"))
        note["cases"][kind] = {"height": h, "width": w,
                               "keys": [[k, list(t.shape)] for k, t in g.state_dict().items()]}
    with open(os.path.join(a.out, "README.json"), "w") as f:
        json.dump(note, f)


if __name__ == "__main__":
    main()
