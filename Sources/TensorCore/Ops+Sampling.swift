import CKernels
import Dispatch

/// Resampling of feature maps and images: bilinear resizing and backward warping along a flow field.
extension Ops {
    /// Bilinear resize with PyTorch's `F.interpolate(mode="bilinear", align_corners=False)` sampling
    /// (source = (dst + ½)·in/out − ½, clamped at 0; no antialiasing), every value multiplied by
    /// `multiplier`. Replaces the former Array-indexed version; rows run in parallel.
    public static func resizeBilinear(_ x: Tensor, height oh: Int, width ow: Int, multiplier: Float = 1) -> Tensor {
        let ty = taps(oh, x.height), tx = taps(ow, x.width)
        var out = Tensor(channels: x.channels, height: oh, width: ow)
        let w = x.width
        x.data.withUnsafeBufferPointer { xp in
            out.data.withUnsafeMutableBufferPointer { op in
                let src = xp.baseAddress!, dst = op.baseAddress!
                Parallel.forEach(x.channels * oh) { row in
                    let c = row / oh, y = row % oh
                    let (y0, y1, fy) = ty[y]
                    let r0 = src + (c * x.height + y0) * w, r1 = src + (c * x.height + y1) * w
                    let d = dst + row * ow
                    let wy0 = (1 - fy) * multiplier, wy1 = fy * multiplier
                    for xx in 0..<ow {
                        let (x0, x1, fx) = tx[xx]
                        let top = r0[x0] + (r0[x1] - r0[x0]) * fx
                        let bottom = r1[x0] + (r1[x1] - r1[x0]) * fx
                        d[xx] = top * wy0 + bottom * wy1
                    }
                }
            }
        }
        return out
    }

    /// (first tap, second tap, weight of the second) for each output index.
    public static func taps(_ n: Int, _ src: Int) -> [(Int, Int, Float)] {
        let scale = Float(src) / Float(n)
        return (0..<n).map { i in
            let f = max((Float(i) + 0.5) * scale - 0.5, 0)
            let i0 = min(Int(f), src - 1), i1 = min(i0 + 1, src - 1)
            return (i0, i1, f - Float(i0))
        }
    }

    /// Backward warp: out[c][y][x] = x sampled at (x + flow[fc][y][x], y + flow[fc+1][y][x]),
    /// bilinear, coordinates clamped to the picture (PyTorch's `grid_sample(mode="bilinear",
    /// padding_mode="border", align_corners=True)` on a pixel grid, as RIFE's `warp`).
    /// `flow` has the picture's size; `flowChannel` selects its x plane (y follows). Rows in the C kernel
    /// `fr_warp_rows` of the instruction set in use (`warpReference` is the same in Swift).
    public static func warp(_ x: Tensor, flow: Tensor, flowChannel fc: Int = 0, channels: Int? = nil) throws -> Tensor {
        guard flow.height == x.height, flow.width == x.width, flow.channels >= fc + 2 else {
            throw TensorError.shape("warp of \(x.shape) by flow \(flow.shape) (channels \(fc)…\(fc + 1))")
        }
        let nc = channels ?? x.channels, h = x.height, w = x.width, plane = h * w
        guard nc <= x.channels else { throw TensorError.shape("warp of \(nc) channels of \(x.shape)") }
        Kernels.prepare()
        let data = [Float](unsafeUninitializedCapacity: nc * plane) { op, count in
            x.data.withUnsafeBufferPointer { xp in
                flow.data.withUnsafeBufferPointer { fp in
                    let fx = fp.baseAddress! + fc * plane, dst = op.baseAddress!
                    let chunks = min(h, 4 * GEMM.workers)
                    Parallel.forEach(chunks) { k in
                        let y0 = h * k / chunks, y1 = h * (k + 1) / chunks
                        fr_warp_rows(xp.baseAddress!, nc, h, w, fx, fx + plane, y0, y1 - y0, dst)
                    }
                }
            }
            count = nc * plane
        }
        return Tensor(channels: nc, height: h, width: w, data: data)
    }

    /// `warp` written out in Swift, one pixel at a time: the reference its C kernel is tested against.
    /// Backward warp: out[c][y][x] = x sampled at (x + flow[fc][y][x], y + flow[fc+1][y][x]),
    /// bilinear, coordinates clamped to the picture (PyTorch's `grid_sample(mode="bilinear",
    /// padding_mode="border", align_corners=True)` on a pixel grid, as RIFE's `warp`).
    /// `flow` has the picture's size; `flowChannel` selects its x plane (y follows).
    public static func warpReference(
        _ x: Tensor, flow: Tensor, flowChannel fc: Int = 0, channels: Int? = nil
    ) throws -> Tensor {
        guard flow.height == x.height, flow.width == x.width, flow.channels >= fc + 2 else {
            throw TensorError.shape("warp of \(x.shape) by flow \(flow.shape) (channels \(fc)…\(fc + 1))")
        }
        let nc = channels ?? x.channels, h = x.height, w = x.width, plane = h * w
        var out = Tensor(channels: nc, height: h, width: w)
        let maxX = Float(w - 1), maxY = Float(h - 1)
        x.data.withUnsafeBufferPointer { xp in
            flow.data.withUnsafeBufferPointer { fp in
                out.data.withUnsafeMutableBufferPointer { op in
                    let src = xp.baseAddress!, fx = fp.baseAddress! + fc * plane, fy = fx + plane, dst = op.baseAddress!
                    Parallel.forEach(h) { y in
                        for xx in 0..<w {
                            let i = y * w + xx
                            let sx = min(max(Float(xx) + fx[i], 0), maxX), sy = min(max(Float(y) + fy[i], 0), maxY)
                            let x0 = Int(sx), y0 = Int(sy)
                            let x1 = min(x0 + 1, w - 1), y1 = min(y0 + 1, h - 1)
                            let ax = sx - Float(x0), ay = sy - Float(y0)
                            let o00 = y0 * w + x0, o01 = y0 * w + x1, o10 = y1 * w + x0, o11 = y1 * w + x1
                            for c in 0..<nc {
                                let p = src + c * plane
                                let top = p[o00] + (p[o01] - p[o00]) * ax
                                let bottom = p[o10] + (p[o11] - p[o10]) * ax
                                dst[c * plane + i] = top + (bottom - top) * ay
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
