import CBLAS
import Dispatch

/// A 2-D transposed convolution (PyTorch `ConvTranspose2d`: square kernel, stride, padding, bias),
/// computed as one sgemm into a column matrix followed by a col2im scatter-add.
///
/// Shapes: weight [in][out][k][k] (PyTorch's layout for transposed convolutions), bias [out];
/// input [in][H][W] → output [out][H'][W'], H' = (H − 1)·s − 2p + k.
public final class ConvTranspose2d: Sendable {
    public let name: String
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    public let weight: [Float]
    public let bias: [Float]
    public let activation: Activation

    public init(
        name: String, inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int,
        weight: [Float], bias: [Float]?, activation: Activation = .none
    ) throws {
        guard weight.count == inChannels * outChannels * kernel * kernel else {
            throw TensorError.shape(
                "\(name).weight has \(weight.count) values, expected \(inChannels)×\(outChannels)×\(kernel)×\(kernel)")
        }
        if let b = bias, b.count != outChannels {
            throw TensorError.shape("\(name).bias has \(b.count) values, expected \(outChannels)")
        }
        try activation.check(outChannels: outChannels, layer: name)
        self.activation = activation
        self.name = name
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.weight = weight
        self.bias = bias ?? [Float](repeating: 0, count: outChannels)
    }

    /// The most floats the column matrix of one band of input rows holds (4 Mi: 16 MiB).
    public static let bandFloats = 1 << 22

    public func outputSize(_ h: Int, _ w: Int) -> (Int, Int) {
        ((h - 1) * stride - 2 * padding + kernel, (w - 1) * stride - 2 * padding + kernel)
    }

    public func flops(_ h: Int, _ w: Int) -> Double { 2 * Double(inChannels * outChannels * kernel * kernel * h * w) }

    public func forward(_ x: Tensor, workspace: Workspace) throws -> Tensor {
        guard x.channels == inChannels else {
            throw TensorError.shape("\(name) expects \(inChannels) channels, got \(x.channels)")
        }
        let (oh, ow) = outputSize(x.height, x.width)
        let h = x.height, w = x.width, k = kernel, s = stride, p = padding
        let rows = outChannels * k * k, n = h * w
        // Bands of input rows, so the column matrix stays within `Self.bandFloats` however large the frame
        // (whole, it was 113 MB for RIFE's refinement at 720x540).
        let band = max(1, min(h, Self.bandFloats / max(1, rows * w)))
        workspace.reserve(rows * band * w)
        let cols = workspace.pointer
        var out = Tensor(channels: outChannels, height: oh, width: ow)
        out.data.withUnsafeMutableBufferPointer { op in
            let o0 = op.baseAddress!
            Parallel.forEach(outChannels) { o in (o0 + o * oh * ow).update(repeating: bias[o], count: oh * ow) }
            var r0 = 0
            while r0 < h {
                let r1 = min(h, r0 + band), bn = (r1 - r0) * w
                // cols[(o·k + ky)·k + kx][i] = Σ_c weight[c][o][ky][kx] · x[c][r0·w + i]   (Wᵀ · X, this band)
                // Column blocks of the product side by side, one single-threaded sgemm each.
                let parts = min(GEMM.workers, max(1, bn / 256))
                weight.withUnsafeBufferPointer { wp in
                    x.data.withUnsafeBufferPointer { xp in
                        GEMM.singleThreaded {
                            Parallel.forEach(parts) { i in
                                let j0 = bn * i / parts, j1 = bn * (i + 1) / parts
                                cblas_sgemm(
                                    CblasRowMajor, CblasTrans, CblasNoTrans, Int32(rows), Int32(j1 - j0),
                                    Int32(inChannels), 1, wp.baseAddress, Int32(rows),
                                    xp.baseAddress! + r0 * w + j0, Int32(n), 0, cols + j0, Int32(bn))
                            }
                        }
                    }
                }
                // col2im: each band's rows scattered into the output (bands touching one output row add up)
                Parallel.forEach(outChannels) { o in
                    let dst = o0 + o * oh * ow
                    for ky in 0..<k {
                        for kx in 0..<k {
                            let src = cols + ((o * k + ky) * k + kx) * bn
                            // ix·s − p + kx within [0, ow): no test in the inner loop
                            let lo = min(w, max(0, Tensor.ceilDiv(p - kx, s))),
                                hi = max(lo, min(w, Tensor.floorDiv(ow - 1 + p - kx, s) + 1))
                            for iy in r0..<r1 {
                                let oy = iy * s - p + ky
                                if oy < 0 || oy >= oh { continue }
                                let line = dst + oy * ow + (lo * s - p + kx), srow = src + (iy - r0) * w
                                for ix in lo..<hi { line[(ix - lo) * s] += srow[ix] }
                            }
                        }
                    }
                }
                r0 = r1
            }
            Parallel.forEach(outChannels) { o in
                guard let slope = activation.negativeSlope(o) else { return }
                let dst = o0 + o * oh * ow
                for i in 0..<(oh * ow) where dst[i] < 0 { dst[i] *= slope }
            }
        }
        return out
    }

    /// The direct definition, kept beside the fast path to test it.
    public func reference(_ x: Tensor) -> Tensor {
        let (oh, ow) = outputSize(x.height, x.width)
        var out = Tensor(channels: outChannels, height: oh, width: ow)
        for o in 0..<outChannels { for i in 0..<(oh * ow) { out.data[o * oh * ow + i] = bias[o] } }
        for c in 0..<inChannels {
            for iy in 0..<x.height {
                for ix in 0..<x.width {
                    let v = x.data[(c * x.height + iy) * x.width + ix]
                    for o in 0..<outChannels {
                        for ky in 0..<kernel {
                            for kx in 0..<kernel {
                                let oy = iy * stride - padding + ky, ox = ix * stride - padding + kx
                                guard oy >= 0, oy < oh, ox >= 0, ox < ow else { continue }
                                out.data[(o * oh + oy) * ow + ox] +=
                                    v * weight[((c * outChannels + o) * kernel + ky) * kernel + kx]
                            }
                        }
                    }
                }
            }
        }
        for o in 0..<outChannels {
            guard let slope = activation.negativeSlope(o) else { continue }
            for i in (o * oh * ow)..<((o + 1) * oh * ow) where out.data[i] < 0 { out.data[i] *= slope }
        }
        return out
    }
}
