import CBLAS
import Locking
import CKernels
import Foundation

/// What follows a convolution, fused into its output pass.
public enum Activation: Sendable, Equatable {
    case none
    case leakyReLU(Float)
    /// One slope per output channel.
    case prelu([Float])

    /// The slope applied to negative values of output channel `o`, nil without activation.
    @inline(__always) public func negativeSlope(_ o: Int) -> Float? {
        switch self {
        case .none: return nil
        case let .leakyReLU(s): return s
        case let .prelu(s): return s.count == 1 ? s[0] : s[o]
        }
    }

    /// Checks a PReLU's slope count against the layer's output channels.
    func check(outChannels: Int, layer name: String) throws {
        if case let .prelu(s) = self, s.count != outChannels, s.count != 1 {
            throw TensorError.shape("\(name) PReLU has \(s.count) slopes for \(outChannels) channels")
        }
    }
}

/// A 2-D convolution (square kernel, stride, zero padding, bias) computed as im2col + sgemm over
/// bands of output rows, with the bias and activation applied while the band is in cache.
///
/// Shapes: weight [out][in][k][k], bias [out]; input [in][H][W] → output [out][H'][W'],
/// H' = (H + 2p − k) / s + 1.
///
/// `@unchecked Sendable` is safe because the weights are immutable, the Winograd cache is only
/// reached through its `Locked`, and `activation` is set while a network is being built, before
/// the layer is shared with any other thread.
public final class Conv2d: @unchecked Sendable {
    public let name: String
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    public let weight: [Float]
    public let bias: [Float]
    public var activation: Activation
    /// Winograd-transformed weights for 3×3 / stride 1 / pad 1 layers with enough channels, made on
    /// first use (a large network whose deep layers only see tiny maps never pays for them).
    var winograd: WinogradConv? {
        guard winogradEligible else { return nil }
        return winogradCache.withLock {
            if $0.plain == nil {
                $0.plain = WinogradConv(weight: weight, inChannels: inChannels, outChannels: outChannels)
            }
            return $0.plain
        }
    }
    /// The same weights ordered [ξ][in][out] for the channel-blocked path, made on its first use (with the
    /// layer's shape; the plain order is not kept for it: a network that runs blocked holds one copy).
    var winogradBlocked: (conv: WinogradConv, ut: [Float])? {
        guard blockedEligible else { return nil }
        return winogradCache.withLock {
            if $0.blocked == nil {
                let wg = $0.plain ?? WinogradConv(weight: weight, inChannels: inChannels, outChannels: outChannels)
                $0.blocked = (wg.shapeOnly, wg.weightsByInput())
            }
            return $0.blocked
        }
    }
    let winogradEligible: Bool
    /// The channel-blocked path needs whole blocks of 8 input and 16 output channels.
    var blockedEligible: Bool { winogradEligible && inChannels % 8 == 0 && outChannels % 16 == 0 }
    /// This layer alone as oneDNN primitives, by input size and precision (the bf16 path).
    let dnnl = DNNLChainCache()
    private let winogradCache = Locked<(plain: WinogradConv?, blocked: (conv: WinogradConv, ut: [Float])?)>((nil, nil))

    public init(
        name: String, inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int? = nil,
        weight: [Float], bias: [Float]?, activation: Activation = .none
    ) throws {
        // Parameters may come from a model file: checked before any arithmetic with them.
        _ = try Checked.param(inChannels, 1...(1 << 16), "\(name): input channels")
        _ = try Checked.param(outChannels, 1...(1 << 16), "\(name): output channels")
        _ = try Checked.param(kernel, 1...63, "\(name): kernel size")
        _ = try Checked.param(stride, 1...63, "\(name): stride")
        if let p = padding { _ = try Checked.param(p, 0...kernel, "\(name): padding") }
        guard weight.count == outChannels * inChannels * kernel * kernel else {
            throw TensorError.shape(
                "\(name).weight has \(weight.count) values, expected \(outChannels)×\(inChannels)×\(kernel)×\(kernel)")
        }
        if let b = bias, b.count != outChannels {
            throw TensorError.shape("\(name).bias has \(b.count) values, expected \(outChannels)")
        }
        try activation.check(outChannels: outChannels, layer: name)
        self.name = name
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding ?? kernel / 2
        self.weight = weight
        self.bias = bias ?? [Float](repeating: 0, count: outChannels)
        self.activation = activation
        winogradEligible = kernel == 3 && stride == 1 && self.padding == 1 && inChannels >= 8
    }

    public func outputSize(_ h: Int, _ w: Int) -> (Int, Int) {
        ((h + 2 * padding - kernel) / stride + 1, (w + 2 * padding - kernel) / stride + 1)
    }

    /// Floating-point operations for one input of this size.
    public func flops(_ h: Int, _ w: Int) -> Double {
        let (oh, ow) = outputSize(h, w)
        return 2 * Double(outChannels * inChannels * kernel * kernel) * Double(oh * ow)
    }

    public func forward(_ x: Tensor, workspace: Workspace) throws -> Tensor {
        var out = Tensor(channels: 0, height: 0, width: 0)
        try forward(x, into: &out, workspace: workspace)
        return out
    }

    /// Writes the result into `out`, reusing its storage when it is already the right size (a
    /// network ping-pongs between two such buffers instead of allocating per layer).
    public func forward(_ x: Tensor, into out: inout Tensor, workspace: Workspace) throws {
        guard x.channels == inChannels else {
            throw TensorError.shape("\(name) expects \(inChannels) channels, got \(x.channels)")
        }
        let (oh, ow) = outputSize(x.height, x.width)
        out.reshape(channels: outChannels, height: oh, width: ow)
        x.data.withUnsafeBufferPointer { src in
            out.data.withUnsafeMutableBufferPointer { dst in
                forward(
                    src.baseAddress!, height: x.height, width: x.width, into: dst.baseAddress!, workspace: workspace)
            }
        }
    }

    /// The kernel on raw CHW memory: `inChannels` planes of height×width at `input`, `outChannels`
    /// planes of the output size at `output`. Networks use it to read a prefix of a channel buffer
    /// and write into a slice of another (dense blocks without concatenation copies).
    public func forward(
        _ input: UnsafePointer<Float>, height: Int, width: Int, into output: UnsafeMutablePointer<Float>,
        workspace: Workspace
    ) {
        if workspace.precision != .fp32, forwardOneDNN(input, height: height, width: width, into: output, workspace) {
            return
        }
        // Winograd on maps of at least 24×24 (on smaller ones its 6×6 tiles are mostly padding)
        if height * width >= 576, let wg = winograd {
            wg.forward(
                input, height: height, width: width, out: output, bias: bias, activation: activation,
                workspace: workspace)
            return
        }
        let (oh, ow) = outputSize(height, width)
        let kk = inChannels * kernel * kernel
        let n = oh * ow
        let direct = kernel == 1 && stride == 1 && padding == 0
        // Bands of output rows, spread over the cores: each worker makes its band's column
        // matrix and multiplies it with a single-threaded sgemm (no BLAS threads spinning while
        // the workers copy), then applies bias and activation while the band is in cache.
        let workers = GEMM.workers
        let perWorker = max(1, workspace.capacity / workers / max(kk * ow, 1))
        let band = max(1, min((oh + workers - 1) / workers, perWorker, max(1, 65_536 / max(ow, 1))))
        let bands = (oh + band - 1) / band
        if !direct { workspace.reserve(workers * kk * ow * band) }
        let cols = workspace.pointer
        weight.withUnsafeBufferPointer { wp in
            GEMM.singleThreaded {
                Parallel.forEach(min(workers, bands)) { wi in
                    let col = cols + wi * kk * ow * band
                    var bi = wi
                    while bi < bands {
                        let r0 = bi * band, rows = min(band, oh - r0), count = rows * ow
                        if direct {
                            // 1x1: the input rows are the column matrix already.
                            cblas_sgemm(
                                CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(outChannels), Int32(count), Int32(kk),
                                1,
                                wp.baseAddress, Int32(kk), input + r0 * ow, Int32(height * width), 0, output + r0 * ow,
                                Int32(n))
                        } else {
                            im2col(
                                input, height: height, width: width, rowStart: r0, rows: rows, outWidth: ow, into: col)
                            cblas_sgemm(
                                CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(outChannels), Int32(count), Int32(kk),
                                1,
                                wp.baseAddress, Int32(kk), col, Int32(count), 0, output + r0 * ow, Int32(n))
                        }
                        finish(output, offset: r0 * ow, count: count, planeStride: n)
                        bi += min(workers, bands)
                    }
                }
            }
        }
    }

    /// The layer through oneDNN at the workspace's precision; false (nothing written) when oneDNN refused it,
    /// counted in the workspace (the fp32 core then computes the layer).
    private func forwardOneDNN(
        _ input: UnsafePointer<Float>, height: Int, width: Int, into output: UnsafeMutablePointer<Float>,
        _ workspace: Workspace
    ) -> Bool {
        do {
            try dnnl.chain([self], height: height, width: width, precision: workspace.precision).run(
                input, into: output)
            return true
        } catch {
            workspace.noteFallback(error)
            return false
        }
    }

    /// col[(c·k + ky)·k + kx][r·ow + ox] = x[c][oy·s − p + ky][ox·s − p + kx] (zero outside), in the C kernel
    /// of the instruction set in use.
    func im2col(
        _ src: UnsafePointer<Float>, height h: Int, width w: Int, rowStart: Int, rows: Int, outWidth ow: Int,
        into col: UnsafeMutablePointer<Float>
    ) {
        Kernels.prepare()
        fr_im2col(src, inChannels, h, w, kernel, stride, padding, rowStart, rows, ow, col)
    }

    /// col[(c·k + ky)·k + kx][r·ow + ox] = x[c][oy·s − p + ky][ox·s − p + kx] (zero outside):
    /// the Swift reference of the C kernel `fr_im2col` that `im2col` runs.
    func im2colReference(
        _ src: UnsafePointer<Float>, height h: Int, width w: Int, rowStart: Int, rows: Int, outWidth ow: Int,
        into col: UnsafeMutablePointer<Float>
    ) {
        let cols = rows * ow, k = kernel, s = stride, p = padding
        for c in 0..<inChannels {
            let plane = src + c * h * w
            for ky in 0..<k {
                for kx in 0..<k {
                    let dstRow = col + ((c * k + ky) * k + kx) * cols
                    for r in 0..<rows {
                        let iy = (rowStart + r) * s - p + ky
                        let d = dstRow + r * ow
                        if iy < 0 || iy >= h {
                            d.update(repeating: 0, count: ow)
                            continue
                        }
                        let line = plane + iy * w
                        if s == 1 {
                            // ox + kx − p within [0, w): copy the middle, zero the edges.
                            let lo = max(0, p - kx), hi = min(ow, w - kx + p)
                            if lo > 0 { d.update(repeating: 0, count: lo) }
                            if hi > lo { d.advanced(by: lo).update(from: line + (lo + kx - p), count: hi - lo) }
                            if hi < ow { d.advanced(by: max(hi, 0)).update(repeating: 0, count: ow - max(hi, 0)) }
                        } else {
                            // ox·s + kx − p within [0, w)
                            let lo = min(ow, max(0, Tensor.ceilDiv(p - kx, s))),
                                hi = max(lo, min(ow, Tensor.floorDiv(w - 1 - kx + p, s) + 1))
                            for ox in 0..<lo { d[ox] = 0 }
                            var ix = lo * s - p + kx
                            for ox in lo..<hi {
                                d[ox] = line[ix]
                                ix += s
                            }
                            for ox in hi..<ow { d[ox] = 0 }
                        }
                    }
                }
            }
        }
    }

    /// Bias and activation over a band of every output channel.
    private func finish(_ dst: UnsafeMutablePointer<Float>, offset: Int, count: Int, planeStride: Int) {
        for o in 0..<outChannels {
            let p = dst + o * planeStride + offset
            let b = bias[o]
            switch activation {
            case .none:
                for i in 0..<count { p[i] += b }
            case let .leakyReLU(slope):
                for i in 0..<count {
                    let v = p[i] + b
                    p[i] = v < 0 ? v * slope : v
                }
            case let .prelu(slopes):
                let slope = slopes.count == 1 ? slopes[0] : slopes[o]
                for i in 0..<count {
                    let v = p[i] + b
                    p[i] = v < 0 ? v * slope : v
                }
            }
        }
    }

    /// The direct definition, kept beside the fast path to test it.
    public func reference(_ x: Tensor) -> Tensor {
        let (oh, ow) = outputSize(x.height, x.width)
        var out = Tensor(channels: outChannels, height: oh, width: ow)
        for o in 0..<outChannels {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var acc = bias[o]
                    for c in 0..<inChannels {
                        for ky in 0..<kernel {
                            for kx in 0..<kernel {
                                let iy = oy * stride - padding + ky, ix = ox * stride - padding + kx
                                if iy >= 0 && iy < x.height && ix >= 0 && ix < x.width {
                                    acc +=
                                        weight[((o * inChannels + c) * kernel + ky) * kernel + kx]
                                        * x.data[(c * x.height + iy) * x.width + ix]
                                }
                            }
                        }
                    }
                    if acc < 0, let slope = activation.negativeSlope(o) { acc *= slope }
                    out.data[(o * oh + oy) * ow + ox] = acc
                }
            }
        }
        return out
    }
}

/// Scratch memory for im2col, allocated once and grown only when a larger layer needs it.
///
/// One caller at a time, by design and without a lock: each stage (or benchmark) owns its own
/// workspace and runs its network from its own queue, one frame after another. The kernels that
/// split work across threads (`Parallel.forEach`) `reserve` first, on the caller's thread, and
/// their workers then write disjoint ranges of `pointer`; `takeBuffer`/`giveBack` are called by
/// the network's own (single) thread only. `@unchecked Sendable` lets a stage hand its workspace to
/// the queue that owns it from then on.
public final class Workspace: @unchecked Sendable {
    public private(set) var pointer: UnsafeMutablePointer<Float>
    public private(set) var capacity: Int

    /// `floats`: the column-matrix budget (16 Mi floats = 64 MiB by default).
    public init(floats: Int = 1 << 24) {
        capacity = floats
        pointer = .allocate(capacity: floats)
    }

    /// The precision of the convolutions run with this workspace (see `Precision`).
    public var precision: Precision = .fp32
    /// Layers that could not run at `precision` and ran in fp32 instead, and the first reason.
    public private(set) var fallbacks = 0
    public private(set) var fallbackReason: String?

    func noteFallback(_ error: Error) {
        fallbacks += 1
        if fallbackReason == nil { fallbackReason = "\(error)" }
    }

    /// Activation buffers that networks reuse from frame to frame (taken and given back).
    public var buffers: [Tensor] = []

    public func takeBuffer() -> Tensor { buffers.popLast() ?? Tensor(channels: 0, height: 0, width: 0) }
    public func giveBack(_ t: Tensor) { buffers.append(t) }

    func reserve(_ n: Int) {
        guard n > capacity else { return }
        pointer.deallocate()
        pointer = .allocate(capacity: n)
        capacity = n
    }

    deinit { pointer.deallocate() }
}

/// Element-wise and layout operations of the networks.
public enum Ops {
    /// [C·r²][H][W] → [C][H·r][W·r] (PyTorch pixel_shuffle / ncnn PixelShuffle).
    public static func pixelShuffle(_ x: Tensor, _ r: Int) throws -> Tensor {
        guard x.channels % (r * r) == 0 else {
            throw TensorError.shape("pixel shuffle by \(r) of \(x.channels) channels")
        }
        let c = x.channels / (r * r), h = x.height, w = x.width
        var out = Tensor(channels: c, height: h * r, width: w * r)
        for ch in 0..<c {
            for i in 0..<r {
                for j in 0..<r {
                    let src = (ch * r * r + i * r + j) * h * w
                    for y in 0..<h {
                        let dst = (ch * h * r + y * r + i) * w * r + j
                        for xx in 0..<w { out.data[dst + xx * r] = x.data[src + y * w + xx] }
                    }
                }
            }
        }
        return out
    }

    /// Nearest-neighbour upsampling by an integer factor.
    public static func upsampleNearest(_ x: Tensor, _ s: Int) -> Tensor {
        var out = Tensor(channels: x.channels, height: x.height * s, width: x.width * s)
        let w = x.width, ow = w * s
        for c in 0..<x.channels {
            for y in 0..<(x.height * s) {
                let src = (c * x.height + y / s) * w, dst = (c * x.height * s + y) * ow
                for xx in 0..<ow { out.data[dst + xx] = x.data[src + xx / s] }
            }
        }
        return out
    }

    /// a·sa + b·sb, element-wise.
    public static func add(_ a: Tensor, _ b: Tensor, scaleA: Float = 1, scaleB: Float = 1) throws -> Tensor {
        guard a.shape == b.shape else { throw TensorError.shape("add \(a.shape) + \(b.shape)") }
        var out = a
        for i in 0..<a.data.count { out.data[i] = a.data[i] * scaleA + b.data[i] * scaleB }
        return out
    }

    /// Channel concatenation.
    public static func concat(_ xs: [Tensor]) throws -> Tensor {
        guard let f = xs.first else { throw TensorError.shape("concat of nothing") }
        guard xs.allSatisfy({ $0.height == f.height && $0.width == f.width }) else {
            throw TensorError.shape("concat of different sizes")
        }
        var data: [Float] = []
        data.reserveCapacity(xs.reduce(0) { $0 + $1.data.count })
        for x in xs { data += x.data }
        return Tensor(channels: xs.reduce(0) { $0 + $1.channels }, height: f.height, width: f.width, data: data)
    }
}
