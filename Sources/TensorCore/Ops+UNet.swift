import Dispatch
import Foundation

/// The operations of ResNet encoders and fastai-style U-Net decoders (DeOldify's generators)
/// beyond convolution: max pooling, per-channel affine maps (a BatchNorm that follows a ReLU and so
/// cannot be folded into the convolution before it), the "blur" after pixel shuffle, PyTorch's
/// nearest resize, and SAGAN self-attention.
extension Ops {
    /// Max pooling (PyTorch `MaxPool2d(kernel, stride, padding)`; padding never wins).
    public static func maxPool(_ x: Tensor, kernel k: Int, stride s: Int, padding p: Int) -> Tensor {
        let oh = (x.height + 2 * p - k) / s + 1, ow = (x.width + 2 * p - k) / s + 1
        var out = Tensor(channels: x.channels, height: oh, width: ow)
        let h = x.height, w = x.width
        x.data.withUnsafeBufferPointer { xp in
            out.data.withUnsafeMutableBufferPointer { op in
                let src = xp.baseAddress!, dst = op.baseAddress!
                Parallel.forEach(x.channels) { c in
                    let plane = src + c * h * w, o = dst + c * oh * ow
                    for y in 0..<oh {
                        for xx in 0..<ow {
                            var m = -Float.infinity
                            for dy in 0..<k {
                                let sy = y * s - p + dy
                                guard sy >= 0, sy < h else { continue }
                                for dx in 0..<k {
                                    let sx = xx * s - p + dx
                                    guard sx >= 0, sx < w else { continue }
                                    m = max(m, plane[sy * w + sx])
                                }
                            }
                            o[y * ow + xx] = m
                        }
                    }
                }
            }
        }
        return out
    }

    /// x[c] · scale[c] + shift[c] in place, then max(·, 0) if `relu`.
    public static func channelAffine(_ x: inout Tensor, scale: [Float], shift: [Float], relu: Bool = false) {
        precondition(scale.count == x.channels && shift.count == x.channels)
        let plane = x.plane
        x.data.withUnsafeMutableBufferPointer { xp in
            let p = xp.baseAddress!
            Parallel.forEach(x.channels) { c in
                let a = scale[c], b = shift[c], q = p + c * plane
                if relu {
                    for i in 0..<plane { q[i] = max(q[i] * a + b, 0) }
                } else {
                    for i in 0..<plane { q[i] = q[i] * a + b }
                }
            }
        }
    }

    /// y = max(y + x, 0) in place: the end of a residual block.
    public static func addReLU(_ y: inout Tensor, _ x: Tensor) {
        precondition(y.data.count == x.data.count)
        y.data.withUnsafeMutableBufferPointer { yp in
            x.data.withUnsafeBufferPointer { xp in
                for i in 0..<yp.count { yp[i] = max(yp[i] + xp[i], 0) }
            }
        }
    }

    /// `ReplicationPad2d((1, 0, 1, 0))` then `AvgPool2d(2, stride 1)`: each value the mean of itself
    /// and its left, upper and upper-left neighbours, the first row and column repeated.
    public static func blurUpLeft(_ x: Tensor) -> Tensor {
        var out = Tensor(channels: x.channels, height: x.height, width: x.width)
        let h = x.height, w = x.width
        x.data.withUnsafeBufferPointer { xp in
            out.data.withUnsafeMutableBufferPointer { op in
                let src = xp.baseAddress!, dst = op.baseAddress!
                Parallel.forEach(x.channels) { c in
                    let p = src + c * h * w, o = dst + c * h * w
                    for y in 0..<h {
                        let up = p + max(y - 1, 0) * w, row = p + y * w
                        for xx in 0..<w {
                            let l = max(xx - 1, 0)
                            o[y * w + xx] = 0.25 * (up[l] + up[xx] + row[l] + row[xx])
                        }
                    }
                }
            }
        }
        return out
    }

    /// PyTorch `F.interpolate(mode="nearest")` to a size: source index ⌊dst · in/out⌋.
    public static func resizeNearest(_ x: Tensor, height oh: Int, width ow: Int) -> Tensor {
        if oh == x.height && ow == x.width { return x }
        var out = Tensor(channels: x.channels, height: oh, width: ow)
        let sy = Float(x.height) / Float(oh), sx = Float(x.width) / Float(ow)
        let ys = (0..<oh).map { min(Int((Float($0) * sy).rounded(.down)), x.height - 1) }
        let xs = (0..<ow).map { min(Int((Float($0) * sx).rounded(.down)), x.width - 1) }
        for c in 0..<x.channels {
            for y in 0..<oh {
                let src = (c * x.height + ys[y]) * x.width, dst = (c * oh + y) * ow
                for i in 0..<ow { out.data[dst + i] = x.data[src + xs[i]] }
            }
        }
        return out
    }

    /// SAGAN self-attention as fastai's `SelfAttention`: with f = Wq·x, g = Wk·x, h = Wv·x over the
    /// N = H·W positions, β = softmax over i of fᵢ·gⱼ, out = γ · h·β + x. Weights row-major
    /// [C/8][C], [C/8][C], [C][C].
    public static func selfAttention(_ x: Tensor, query: [Float], key: [Float], value: [Float], gamma: Float) throws
        -> Tensor
    {
        let c = x.channels, n = x.plane
        guard value.count == c * c, query.count % c == 0, key.count == query.count else {
            throw TensorError.shape(
                "self-attention weights \(query.count)/\(key.count)/\(value.count) for \(c) channels")
        }
        let c8 = query.count / c
        var f = [Float](repeating: 0, count: c8 * n), g = f, h = [Float](repeating: 0, count: c * n)
        var beta = [Float](repeating: 0, count: n * n)
        var out = x
        x.data.withUnsafeBufferPointer { xp in
            let X = xp.baseAddress!
            query.withUnsafeBufferPointer { GEMM.sgemm(m: c8, n: n, k: c, a: $0.baseAddress!, b: X, c: &f) }
            key.withUnsafeBufferPointer { GEMM.sgemm(m: c8, n: n, k: c, a: $0.baseAddress!, b: X, c: &g) }
            value.withUnsafeBufferPointer { GEMM.sgemm(m: c, n: n, k: c, a: $0.baseAddress!, b: X, c: &h) }
        }
        // S = fᵀ·g (N × N), then each column j softmaxed over i
        var ft = [Float](repeating: 0, count: n * c8)
        for a in 0..<c8 { for i in 0..<n { ft[i * c8 + a] = f[a * n + i] } }
        ft.withUnsafeBufferPointer { fp in
            g.withUnsafeBufferPointer { gp in
                GEMM.sgemm(m: n, n: n, k: c8, a: fp.baseAddress!, b: gp.baseAddress!, c: &beta)
            }
        }
        beta.withUnsafeMutableBufferPointer { bp in
            let B = bp.baseAddress!
            var colMax = [Float](repeating: -.infinity, count: n), colSum = [Float](repeating: 0, count: n)
            for i in 0..<n { for j in 0..<n { colMax[j] = max(colMax[j], B[i * n + j]) } }
            for i in 0..<n {
                for j in 0..<n {
                    let e = expf(B[i * n + j] - colMax[j])
                    B[i * n + j] = e
                    colSum[j] += e
                }
            }
            for i in 0..<n { for j in 0..<n { B[i * n + j] /= colSum[j] } }
        }
        // out = γ · h·β + x
        h.withUnsafeBufferPointer { hp in
            beta.withUnsafeBufferPointer { bp in
                out.data.withUnsafeMutableBufferPointer { op in
                    GEMM.sgemm(
                        m: c, n: n, k: n, a: hp.baseAddress!, b: bp.baseAddress!, c: op.baseAddress!, alpha: gamma,
                        beta: 1)
                }
            }
        }
        return out
    }
}

extension GEMM {
    /// C = A·B into an array (sizes checked by the caller).
    static func sgemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: inout [Float]) {
        c.withUnsafeMutableBufferPointer { cp in sgemm(m: m, n: n, k: k, a: a, b: b, c: cp.baseAddress!) }
    }
}
