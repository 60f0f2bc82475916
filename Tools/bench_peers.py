#!/usr/bin/env python3
"""Time the same Real-ESRGAN models in ncnn (the `ncnn` PyPI package, CPU, its default fast
options, 2 threads) on the same input sizes as `filmrestore bench upscale`, for a side-by-side.

    make bench-peers      (makes .venv-peers with ncnn and numpy, then runs this)
"""
import sys, time
import numpy as np
import ncnn

def median_time(param, binf, w, h, runs):
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = 2
    net.load_param(param); net.load_model(binf)
    x = np.random.default_rng(0).random((3, h, w), dtype=np.float32)
    def once():
        ex = net.create_extractor()
        m = ncnn.Mat(x)          # keep the array alive while ncnn reads it
        ex.input("data", m)
        r, out = ex.extract("output")
        assert r == 0
        return np.array(out)
    once()
    ts = []
    for _ in range(runs):
        t = time.perf_counter(); once(); ts.append(time.perf_counter() - t)
    return sorted(ts)[len(ts) // 2]

models = sys.argv[1] if len(sys.argv) > 1 else "Models"
for name, (w, h), runs in [
    ("realesr-animevideov3-x4", (640, 480), 3),
    ("realesr-general-x4v3/realesr-general-x4v3", (640, 480), 3),  # vendored (Models/realesr-general-x4v3)
    ("realesrgan-x4plus", (320, 240), 1),
]:
    t = median_time(f"{models}/{name}.param", f"{models}/{name}.bin", w, h, runs)
    name = name.split("/")[-1]
    print(f"ncnn {ncnn.__version__} {name} {w}x{h}, 2 threads: {t:.3f} s/frame (median of {runs})")
