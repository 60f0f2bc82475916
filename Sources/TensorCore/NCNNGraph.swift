import Foundation
import Dispatch

/// Runs an ncnn graph (`.param` + `.bin`) as it is written, layer by layer, on the core's kernels:
/// any model made of the layers super-resolution networks use, not only the architectures the
/// project has hand-written (SPAN, Real-ESRGAN's compact and RRDB networks, …).
///
/// The graph is checked when it is built: every layer type must be one this runner executes
/// (an unknown one is refused by name before any work), every blob produced once and consumed
/// after it is made. Blobs are released after their last consumer, so memory holds only what
/// is still needed (a planned reuse of buffers: the peak is known from a probe run).
///
/// Supported: Input, MemoryData, Convolution (grouped, depthwise, dilated) and Deconvolution
/// (fused ReLU/LeakyReLU/Clip/Sigmoid activations), InnerProduct, Pooling (global, and windowed
/// max/average with ncnn's four padding modes), Crop, Padding, Slice, ReLU (leaky), PReLU, Swish,
/// Sigmoid, Clip, TanH, UnaryOp, BinaryOp (tensor, per-channel and scalar forms, both orders),
/// Eltwise, Split, Concat (channels), PixelShuffle, Interp (nearest, bilinear, bicubic; align
/// corners), Reshape, Permute, Flatten.
///
/// Tensors are stored as [C][H][W]; ncnn's 1-D blobs (w) as [w][1][1] and 2-D (w, h) as [1][h][w],
/// the same values in the same order, and each blob's ncnn dimensionality is tracked for Reshape
/// and Permute.
public final class NCNNGraph: Sendable {
    /// One executable step.
    enum Op {
        case input
        case constant(Tensor)
        case conv(Conv2d, post: PostActivation)
        /// Grouped (depthwise) or dilated convolution, computed directly.
        case directConv(DirectConv, post: PostActivation)
        case padding(top: Int, bottom: Int, left: Int, right: Int, mode: Int, value: Float)
        /// Channel counts of the parts (−233: the rest).
        case slice([Int])
        case deconv(ConvTranspose2d, post: PostActivation)
        case innerProduct(weight: [Float], bias: [Float], outputs: Int, post: PostActivation)
        case globalPool(average: Bool)
        /// Windowed pooling: kernel, stride, explicit pads (top, bottom, left, right), ncnn's
        /// pad mode (0 full, 1 valid, 2 SAME_UPPER, 3 SAME_LOWER), pads counted in averages.
        case pool(
            average: Bool, kernel: (h: Int, w: Int), stride: (h: Int, w: Int), pads: [Int], mode: Int, countPads: Bool)
        /// Target (w, h, c) in ncnn's terms (0: the input's, −1: inferred) and dimensionality.
        case reshape(w: Int, h: Int, c: Int, dims: Int)
        /// ncnn's order_type: the output's (w, h, c) as input axes (0 w, 1 h, 2 c).
        case permute([Int])
        case flatten
        /// Per axis (channels, rows, columns): start and end (negative: from the end; Int.max: to the end).
        case crop(starts: [Int], ends: [Int])
        case activation(PostActivation)
        case prelu([Float])
        case binary(op: Int, scalar: Float?)
        case unary(op: Int)
        case eltwise(op: Int, coeffs: [Float])
        case split
        case concat
        case pixelShuffle(Int)
        case interp(mode: Int, scaleH: Float, scaleW: Float, outH: Int, outW: Int, alignCorners: Bool)
    }

    /// ncnn's Permute order types for 3-D blobs: the output's (w, h, c) as input axes.
    static let permuteOrders: [[Int]] = [[0, 1, 2], [1, 0, 2], [0, 2, 1], [2, 0, 1], [1, 2, 0], [2, 1, 0]]

    /// Element-wise activations (ncnn's fused activation types and the activation layers).
    public enum PostActivation: Sendable, Equatable {
        case none, relu(Float), clip(Float, Float), sigmoid, swish, tanh
        func apply(_ v: Float) -> Float {
            switch self {
            case .none: return v
            case let .relu(s): return v < 0 ? v * s : v
            case let .clip(lo, hi): return min(max(v, lo), hi)
            case .sigmoid: return 1 / (1 + exp(-v))
            case .swish: return v / (1 + exp(-v))
            case .tanh: return Foundation.tanh(v)
            }
        }
    }

    struct Step {
        let name: String, type: String
        let op: Op
        let inputs: [Int], outputs: [Int]
        /// The outputs' ncnn dimensionality when the layer sets it (nil: its first input's).
        var outDims: Int? = nil
    }

    let steps: [Step]
    let blobNames: [String]
    /// For each blob, the index of the last step that reads it.
    let lastUse: [Int]
    let inputBlob: Int, outputBlob: Int
    /// Receptive radius bound: the sum of every convolution's reach (tiles overlap by this).
    public let receptiveRadius: Int

    /// The layer types the runner executes: the layer table's (NCNNLayers.swift).
    public static var supportedTypes: Set<String> { Set(builders.keys) }

    /// ncnn's fused activation (param 9, its parameters in array 10).
    static func fused(_ l: NCNNModel.Layer) throws -> PostActivation {
        switch l.int(9, 0) {
        case 0: return .none
        case 1: return .relu(0)
        case 2: return .relu(l.arrays[10]?.first ?? 0)
        case 3: return .clip(l.arrays[10]?.first ?? -.infinity, l.arrays[10]?.dropFirst().first ?? .infinity)
        case 4: return .sigmoid
        default: throw TensorError.format("ncnn graph: \(l.name): fused activation \(l.int(9, 0)) is not supported")
        }
    }

    public init(model m: NCNNModel, input: String? = nil, output: String? = nil) throws {
        if let bad = m.layers.first(where: { !Self.supportedTypes.contains($0.type) }) {
            throw TensorError.format(
                "ncnn layer type \(bad.type) (\(bad.name)) is not supported by the graph runner (supported: \(Self.supportedTypes.sorted().joined(separator: ", ")))"
            )
        }
        var index: [String: Int] = [:], names: [String] = []
        var steps: [Step] = []
        var radius = 0
        func blob(_ n: String) -> Int {
            if let i = index[n] { return i }
            index[n] = names.count
            names.append(n)
            return names.count - 1
        }
        var produced = Set<Int>()
        for l in m.layers {
            let ins = try l.inputs.map { n -> Int in
                guard let i = index[n], produced.contains(i) else {
                    throw TensorError.format("ncnn graph: \(l.name) reads \(n) before any layer makes it")
                }
                return i
            }
            let outs = l.outputs.map(blob)
            for o in outs {
                guard !produced.contains(o) else {
                    throw TensorError.format("ncnn graph: blob \(names[o]) is made twice")
                }
                produced.insert(o)
            }
            guard let build = Self.builders[l.type] else {
                throw TensorError.format("ncnn layer type \(l.type) is not supported")
            }
            var wiring = Wiring(layer: l, inputs: ins.count, outputs: outs.count)
            let op = try build(l, &wiring)
            radius += wiring.radius
            var outDims: Int?
            switch op {
            case .input: outDims = 3
            case .constant: outDims = l.int(2, 0) != 0 ? 3 : l.int(1, 0) != 0 ? 2 : 1
            case .innerProduct, .globalPool, .flatten: outDims = 1
            case let .reshape(_, _, _, d): outDims = d
            default: outDims = nil
            }
            steps.append(Step(name: l.name, type: l.type, op: op, inputs: ins, outputs: outs, outDims: outDims))
        }
        guard let inputStep = steps.firstIndex(where: { $0.type == "Input" }) else {
            throw TensorError.format("ncnn graph: no Input layer")
        }
        let inName = input ?? names[steps[inputStep].outputs[0]]
        guard let inBlob = index[inName] else { throw TensorError.format("ncnn graph: no blob \(inName)") }
        let outName = output ?? (index["output"] != nil ? "output" : names[steps.last!.outputs[0]])
        guard let outBlob = index[outName] else { throw TensorError.format("ncnn graph: no blob \(outName)") }
        var last = [Int](repeating: -1, count: names.count)
        for (k, s) in steps.enumerated() { for i in s.inputs { last[i] = k } }
        last[outBlob] = steps.count
        self.steps = steps
        blobNames = names
        lastUse = last
        inputBlob = inBlob
        outputBlob = outBlob
        receptiveRadius = radius
    }

    /// Runs the graph on `x` ([C][H][W]); returns the output blob. `peakFloats` reports the most
    /// floats held at once.
    public func forward(_ x: Tensor, workspace: Workspace, peakFloats: UnsafeMutablePointer<Int>? = nil) throws
        -> Tensor
    {
        var blobs = [Tensor?](repeating: nil, count: blobNames.count)
        var dims = [Int](repeating: 3, count: blobNames.count)
        var held = 0, peak = 0
        var stepDims = 3
        func put(_ i: Int, _ t: Tensor) {
            blobs[i] = t
            dims[i] = stepDims
            held += t.data.count
            peak = max(peak, held)
        }
        for (k, s) in steps.enumerated() {
            let inDims = s.inputs.map { dims[$0] }.max() ?? 3
            stepDims = s.outDims ?? inDims
            var ins = try s.inputs.map { i -> Tensor in
                guard let t = blobs[i] else {
                    throw TensorError.shape("ncnn graph: \(s.name) has no input \(blobNames[i])")
                }
                return t
            }
            /// The first input, owned: at its last reader (and read once here) its blob is let go
            /// first, so writing it works in place instead of copying.
            func ownFirst() -> Tensor {
                let i = s.inputs[0]
                if lastUse[i] == k, !s.inputs.dropFirst().contains(i) {
                    held -= blobs[i]?.data.count ?? 0
                    blobs[i] = nil
                }
                return ins.removeFirst()
            }
            switch s.op {
            case .input:
                guard s.outputs[0] == inputBlob else {
                    throw TensorError.shape("ncnn graph: a second Input (\(s.name))")
                }
                put(s.outputs[0], x)
            case let .constant(t): put(s.outputs[0], t)
            case let .conv(c, post):
                guard ins[0].channels == c.inChannels else {
                    throw TensorError.shape("\(s.name) takes \(c.inChannels) channels, got \(ins[0].channels)")
                }
                var y = try c.forward(ins[0], workspace: workspace)
                Self.activate(&y, post)
                put(s.outputs[0], y)
            case let .directConv(d, post):
                var y = try d.forward(ins[0], name: s.name)
                Self.activate(&y, post)
                put(s.outputs[0], y)
            case let .padding(top, bottom, left, right, mode, value):
                put(
                    s.outputs[0],
                    Self.pad(ins[0], top: top, bottom: bottom, left: left, right: right, mode: mode, value: value))
            case let .slice(parts):
                let t = ins[0]
                let fixed = parts.filter { $0 != -233 }.reduce(0, +)
                guard fixed <= t.channels, parts.contains(-233) || fixed == t.channels else {
                    throw TensorError.shape("\(s.name): slices \(parts) of \(t.channels) channels")
                }
                var c0 = 0
                for (o, n) in zip(s.outputs, parts) {
                    let count = n == -233 ? t.channels - fixed : n
                    put(
                        o,
                        Tensor(
                            channels: count, height: t.height, width: t.width,
                            data: Array(t.data[(c0 * t.plane)..<((c0 + count) * t.plane)])))
                    c0 += count
                }
            case let .deconv(d, post):
                guard ins[0].channels == d.inChannels else {
                    throw TensorError.shape("\(s.name) takes \(d.inChannels) channels, got \(ins[0].channels)")
                }
                var y = try d.forward(ins[0], workspace: workspace)
                Self.activate(&y, post)
                put(s.outputs[0], y)
            case let .innerProduct(w, b, n, post):
                let x = ins[0].data
                guard w.count == n * x.count else {
                    throw TensorError.shape("\(s.name): \(x.count) inputs for \(w.count / n)")
                }
                var y = Tensor(channels: n, height: 1, width: 1)
                for o in 0..<n {
                    var acc = b[o]
                    for i in 0..<x.count { acc += w[o * x.count + i] * x[i] }
                    y.data[o] = post.apply(acc)
                }
                put(s.outputs[0], y)
            case let .globalPool(average):
                let t = ins[0]
                var y = Tensor(channels: t.channels, height: 1, width: 1)
                for c in 0..<t.channels {
                    let plane = t.data[(c * t.plane)..<((c + 1) * t.plane)]
                    y.data[c] = average ? plane.reduce(0, +) / Float(max(t.plane, 1)) : (plane.max() ?? 0)
                }
                put(s.outputs[0], y)
            case let .pool(average, kernel, stride, pads, mode, countPads):
                put(
                    s.outputs[0],
                    try Self.pool(
                        ins[0], average: average, kernel: kernel, stride: stride, pads: pads, mode: mode,
                        countPads: countPads, name: s.name))
            case let .reshape(w, h, c, d):
                let t = ownFirst()
                let (iw, ih, ic) = Self.ncnnShape(t, inDims)
                var size = [w == 0 ? iw : w, h == 0 ? ih : h, c == 0 ? ic : c]
                let known = size.filter { $0 != -1 }.reduce(1, *)
                if let free = size.firstIndex(of: -1) {
                    guard size.filter({ $0 == -1 }).count == 1, known > 0, t.data.count % known == 0 else {
                        throw TensorError.shape(
                            "\(s.name): cannot infer a reshape of \(t.data.count) values to \(size)")
                    }
                    size[free] = t.data.count / known
                }
                guard size.allSatisfy({ $0 >= 1 }), size[0] * size[1] * size[2] == t.data.count else {
                    throw TensorError.shape(
                        "\(s.name): \(t.data.count) values do not reshape to w×h×c \(size[0])×\(size[1])×\(size[2])")
                }
                put(s.outputs[0], Self.shaped(t, w: size[0], h: size[1], c: size[2], dims: d))
            case let .permute(order):
                guard inDims == 3 || (inDims == 2 && order[2] == 2) else {
                    throw TensorError.shape("\(s.name): Permute of a \(inDims)-D blob")
                }
                put(s.outputs[0], Self.permute(ins[0], order))
            case .flatten:
                let t = ownFirst()
                put(s.outputs[0], Self.shaped(t, w: t.data.count, h: 1, c: 1, dims: 1))
            case let .crop(starts, ends):
                let t = ins[0], dims = [t.channels, t.height, t.width]
                var lo = [0, 0, 0], hi = [0, 0, 0]
                for a in 0..<3 {
                    lo[a] = min(max(starts[a] < 0 ? dims[a] + starts[a] : starts[a], 0), dims[a])
                    hi[a] =
                        ends[a] == Int.max
                        ? dims[a] : min(max(ends[a] < 0 ? dims[a] + ends[a] : ends[a], lo[a]), dims[a])
                }
                guard hi[0] > lo[0], hi[1] > lo[1], hi[2] > lo[2] else {
                    throw TensorError.shape("\(s.name): crop of \(t.shape) is empty")
                }
                var y = Tensor(channels: hi[0] - lo[0], height: hi[1] - lo[1], width: hi[2] - lo[2])
                for c in 0..<y.channels {
                    for r in 0..<y.height {
                        let src = ((lo[0] + c) * t.height + lo[1] + r) * t.width + lo[2],
                            dst = (c * y.height + r) * y.width
                        for i in 0..<y.width { y.data[dst + i] = t.data[src + i] }
                    }
                }
                put(s.outputs[0], y)
            case let .activation(a):
                var y = ownFirst()
                Self.activate(&y, a)
                put(s.outputs[0], y)
            case let .prelu(slopes):
                var y = ownFirst()
                guard slopes.count == 1 || slopes.count == y.channels else {
                    throw TensorError.shape("\(s.name): \(slopes.count) slopes for \(y.channels) channels")
                }
                let plane = y.plane
                y.data.withUnsafeMutableBufferPointer { p in
                    for c in 0..<y.channels {
                        let a = slopes.count == 1 ? slopes[0] : slopes[c]
                        for i in (c * plane)..<((c + 1) * plane) where p[i] < 0 { p[i] *= a }
                    }
                }
                put(s.outputs[0], y)
            case let .unary(op):
                var y = ownFirst()
                Self.map(&y) { Self.unary(op, $0) }
                put(s.outputs[0], y)
            case let .binary(op, scalar):
                if let b = scalar {
                    var y = ownFirst()
                    Self.map(&y) { Self.binary(op, $0, b) }
                    put(s.outputs[0], y)
                } else if ins[0].data.count >= ins[1].data.count {
                    let b = ins[1]
                    put(s.outputs[0], try Self.broadcast(op, ownFirst(), b, name: s.name))
                } else {
                    put(s.outputs[0], try Self.broadcast(op, ins[0], ins[1], name: s.name))
                }
            case let .eltwise(op, coeffs):
                let rest = Array(ins.dropFirst())
                var y = ownFirst()
                let k0: Float = op == 1 && !coeffs.isEmpty ? coeffs[0] : 1
                if k0 != 1 { Self.map(&y) { $0 * k0 } }
                for (j, t) in zip(1..., rest) {
                    guard t.shape == y.shape else { throw TensorError.shape("\(s.name): \(t.shape) and \(y.shape)") }
                    let kj: Float = op == 1 && j < coeffs.count ? coeffs[j] : 1
                    y.data.withUnsafeMutableBufferPointer { p in
                        t.data.withUnsafeBufferPointer { q in
                            for i in 0..<p.count {
                                switch op {
                                case 0: p[i] *= q[i]
                                case 1: p[i] += kj * q[i]
                                default: p[i] = max(p[i], q[i])
                                }
                            }
                        }
                    }
                }
                put(s.outputs[0], y)
            case .split:
                for o in s.outputs { put(o, ins[0]) }
            case .concat:
                put(s.outputs[0], try Ops.concat(ins))
            case let .pixelShuffle(r):
                put(s.outputs[0], try Ops.pixelShuffle(ins[0], r))
            case let .interp(mode, sh, sw, oh, ow, align):
                let t = ins[0]
                let h = oh > 0 ? oh : Int((Float(t.height) * sh).rounded(.down)),
                    w = ow > 0 ? ow : Int((Float(t.width) * sw).rounded(.down))
                guard h > 0, w > 0, h <= 1 << 15, w <= 1 << 15 else {
                    throw TensorError.shape("\(s.name): output \(w)×\(h)")
                }
                if mode == 1 {
                    put(s.outputs[0], Self.nearest(t, height: h, width: w))
                } else if mode == 2, !align {
                    put(s.outputs[0], Ops.resizeBilinear(t, height: h, width: w))
                } else {
                    put(s.outputs[0], Self.resample(t, height: h, width: w, cubic: mode == 3, alignCorners: align))
                }
            }
            // Blobs read for the last time are let go (a split's outputs share storage until written).
            for i in Set(s.inputs) where lastUse[i] == k {
                held -= blobs[i]?.data.count ?? 0
                blobs[i] = nil
            }
        }
        peakFloats?.pointee = peak
        guard let y = blobs[outputBlob] else {
            throw TensorError.shape("ncnn graph: no output \(blobNames[outputBlob])")
        }
        return y
    }

    // MARK: element-wise kernels

    /// An activation applied in place: the kind is chosen once, not per value.
    static func activate(_ t: inout Tensor, _ a: PostActivation) {
        switch a {
        case .none: return
        case let .relu(k): map(&t) { $0 < 0 ? $0 * k : $0 }
        case let .clip(lo, hi): map(&t) { min(max($0, lo), hi) }
        case .sigmoid: map(&t) { 1 / (1 + exp(-$0)) }
        case .swish: map(&t) { $0 / (1 + exp(-$0)) }
        case .tanh: map(&t) { Foundation.tanh($0) }
        }
    }

    /// f applied to every value, in place; large tensors in parallel chunks.
    static func map(_ t: inout Tensor, _ f: (Float) -> Float) {
        let n = t.data.count
        t.data.withUnsafeMutableBufferPointer { p in
            guard let base = p.baseAddress else { return }
            let chunks = max(1, min(n / 32768, 64))
            if chunks == 1 {
                for i in 0..<n { base[i] = f(base[i]) }
                return
            }
            Parallel.forEach(chunks) { c in
                for i in (n * c / chunks)..<(n * (c + 1) / chunks) { base[i] = f(base[i]) }
            }
        }
    }

    static func unary(_ op: Int, _ v: Float) -> Float {
        switch op {
        case 0: return abs(v)
        case 1: return -v
        case 2: return v.rounded(.down)
        case 3: return v.rounded(.up)
        case 4: return v * v
        case 5: return v.squareRoot()
        case 6: return 1 / v.squareRoot()
        case 7: return exp(v)
        case 8: return log(v)
        case 9: return sin(v)
        case 10: return cos(v)
        default: return Foundation.tanh(v)  // 16
        }
    }

    static func binary(_ op: Int, _ a: Float, _ b: Float) -> Float {
        switch op {
        case 0: return a + b
        case 1: return a - b
        case 2: return a * b
        case 3: return a / b
        case 4: return max(a, b)
        case 5: return min(a, b)
        case 6: return pow(a, b)
        case 7: return b - a
        case 8: return b / a
        default: return pow(b, a)  // 9: rpow
        }
    }

    /// a op b where b (or a) is a full tensor, one value per channel, or a single value.
    static func broadcast(_ op: Int, _ a: Tensor, _ b: Tensor, name: String) throws -> Tensor {
        if a.shape == b.shape {
            var y = a
            let n = y.data.count
            y.data.withUnsafeMutableBufferPointer { p in
                b.data.withUnsafeBufferPointer { q in
                    let dst = p.baseAddress!, src = q.baseAddress!
                    let chunks = max(1, min(n / 32768, 64))
                    Parallel.forEach(chunks) { c in
                        for i in (n * c / chunks)..<(n * (c + 1) / chunks) { dst[i] = binary(op, dst[i], src[i]) }
                    }
                }
            }
            return y
        }
        func perChannel(_ big: Tensor, _ small: Tensor, swapped: Bool) throws -> Tensor {
            guard small.plane == 1, small.channels == big.channels || small.channels == 1 else {
                throw TensorError.shape("\(name): cannot broadcast \(small.shape) against \(big.shape)")
            }
            var y = big
            let plane = big.plane
            y.data.withUnsafeMutableBufferPointer { p in
                let base = p.baseAddress!
                Parallel.forEach(big.channels) { c in
                    let v = small.data[small.channels == 1 ? 0 : c]
                    for i in (c * plane)..<((c + 1) * plane) {
                        base[i] = swapped ? binary(op, v, base[i]) : binary(op, base[i], v)
                    }
                }
            }
            return y
        }
        return b.data.count <= a.data.count ? try perChannel(a, b, swapped: false) : try perChannel(b, a, swapped: true)
    }

    /// Padding: constant (0), replicate (1) or reflect (2).
    static func pad(_ x: Tensor, top: Int, bottom: Int, left: Int, right: Int, mode: Int, value: Float) -> Tensor {
        let h = x.height, w = x.width, oh = h + top + bottom, ow = w + left + right
        var out = Tensor(channels: x.channels, height: oh, width: ow, fill: value)
        func index(_ i: Int, _ n: Int) -> Int? {
            if i >= 0 && i < n { return i }
            switch mode {
            case 1: return min(max(i, 0), n - 1)
            case 2:
                guard n > 1 else { return 0 }
                var j = i
                while j < 0 || j >= n { j = j < 0 ? -j : 2 * (n - 1) - j }
                return j
            default: return nil
            }
        }
        let cols = (0..<ow).map { index($0 - left, w) }
        for c in 0..<x.channels {
            for y in 0..<oh {
                guard let sy = index(y - top, h) else { continue }
                let src = (c * h + sy) * w, dst = (c * oh + y) * ow
                for i in 0..<ow { if let sx = cols[i] { out.data[dst + i] = x.data[src + sx] } }
            }
        }
        return out
    }

    /// A tensor's (w, h, c) as ncnn sees a blob of `dims` dimensions.
    static func ncnnShape(_ t: Tensor, _ dims: Int) -> (Int, Int, Int) {
        switch dims {
        case 1: return (t.data.count, 1, 1)
        case 2: return (t.width, t.height * t.channels, 1)
        default: return (t.width, t.height, t.channels)
        }
    }

    /// The same values relabelled as an ncnn blob of (w, h, c) and `dims` dimensions.
    static func shaped(_ t: Tensor, w: Int, h: Int, c: Int, dims: Int) -> Tensor {
        var y = t
        switch dims {
        case 1: (y.channels, y.height, y.width) = (w, 1, 1)
        case 2: (y.channels, y.height, y.width) = (1, h, w)
        default: (y.channels, y.height, y.width) = (c, h, w)
        }
        return y
    }

    /// ncnn's Permute: the output's axes (w, h, c) are the input's axes `order` (0 w, 1 h, 2 c).
    static func permute(_ x: Tensor, _ order: [Int]) -> Tensor {
        let inSize = [x.width, x.height, x.channels]
        let inStride = [1, x.width, x.width * x.height]
        let ow = inSize[order[0]], oh = inSize[order[1]], oc = inSize[order[2]]
        let sx = inStride[order[0]], sy = inStride[order[1]], sc = inStride[order[2]]
        var out = Tensor(channels: oc, height: oh, width: ow)
        x.data.withUnsafeBufferPointer { src in
            out.data.withUnsafeMutableBufferPointer { dst in
                var o = 0
                for c in 0..<oc {
                    for y in 0..<oh {
                        let base = c * sc + y * sy
                        for i in 0..<ow {
                            dst[o] = src[base + i * sx]
                            o += 1
                        }
                    }
                }
            }
        }
        return out
    }

    /// ncnn's windowed Pooling. The input is padded as its pad mode says (0 "full": extra pads at
    /// the bottom/right so the windows cover every row and column; 1 "valid": the given pads; 2/3
    /// SAME_UPPER/LOWER: pads computed so out = ⌈in / stride⌉). Max ignores pads; an average
    /// counts them unless `countPads` is off, in which case — as ncnn does — only the layer's own
    /// pads and the tail pads are left out.
    static func pool(
        _ x: Tensor, average: Bool, kernel: (h: Int, w: Int), stride: (h: Int, w: Int), pads: [Int], mode: Int,
        countPads: Bool, name: String
    ) throws -> Tensor {
        let h = x.height, w = x.width
        var (pt, pb, pl, pr) = (pads[0], pads[1], pads[2], pads[3])
        var tailH = 0, tailW = 0
        switch mode {
        case 0:
            let th = (h + pt + pb - kernel.h) % stride.h, tw = (w + pl + pr - kernel.w) % stride.w
            if th > 0 { tailH = stride.h - th }
            if tw > 0 { tailW = stride.w - tw }
        case 2, 3:
            let hp = max(kernel.h + (h - 1) / stride.h * stride.h - h, 0),
                wp = max(kernel.w + (w - 1) / stride.w * stride.w - w, 0)
            let top = mode == 2 ? hp / 2 : hp - hp / 2, left = mode == 2 ? wp / 2 : wp - wp / 2
            (pt, pb, pl, pr) = (top, hp - top, left, wp - left)
        default: break
        }
        let bh = h + pt + pb + tailH, bw = w + pl + pr + tailW
        guard bh >= kernel.h, bw >= kernel.w else {
            throw TensorError.shape("\(name): \(w)×\(h) is smaller than its \(kernel.w)×\(kernel.h) window")
        }
        let oh = (bh - kernel.h) / stride.h + 1, ow = (bw - kernel.w) / stride.w + 1
        // The rows/columns (in padded coordinates) an average without pads counts: ncnn's rule.
        let (cy0, cx0) = mode >= 2 ? (pads[0], pads[2]) : (pt, pl)
        let cy1 = bh - (mode >= 2 ? pads[1] : pb) - tailH, cx1 = bw - (mode >= 2 ? pads[3] : pr) - tailW
        var out = Tensor(channels: x.channels, height: oh, width: ow)
        x.data.withUnsafeBufferPointer { src in
            out.data.withUnsafeMutableBufferPointer { dst in
                let sp = src.baseAddress!, dp = dst.baseAddress!
                Parallel.forEach(x.channels) { c in
                    let plane = sp + c * h * w
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            var acc: Float = average ? 0 : -.greatestFiniteMagnitude
                            var area = 0
                            for ky in 0..<kernel.h {
                                let by = oy * stride.h + ky, iy = by - pt
                                for kx in 0..<kernel.w {
                                    let bx = ox * stride.w + kx, ix = bx - pl
                                    let inside = iy >= 0 && iy < h && ix >= 0 && ix < w
                                    let v: Float =
                                        inside ? plane[iy * w + ix] : (average ? 0 : -.greatestFiniteMagnitude)
                                    if average {
                                        if countPads || (by >= cy0 && by < cy1 && bx >= cx0 && bx < cx1) {
                                            acc += v
                                            area += 1
                                        }
                                    } else {
                                        acc = max(acc, v)
                                    }
                                }
                            }
                            dp[(c * oh + oy) * ow + ox] =
                                average ? acc / Float(countPads ? kernel.h * kernel.w : max(area, 1)) : acc
                        }
                    }
                }
            }
        }
        return out
    }

    /// Bilinear (align_corners) and bicubic resampling as ncnn's Interp computes them: source
    /// position (dst + ½)·in/out − ½ (or dst·(in−1)/(out−1) with aligned corners), bicubic with
    /// A = −0.75 and the taps clamped to the picture; rows, then columns.
    static func resample(_ x: Tensor, height oh: Int, width ow: Int, cubic: Bool, alignCorners: Bool) -> Tensor {
        let taps = cubic ? 4 : 2
        func coefficients(_ n: Int, _ src: Int) -> (index: [Int], weight: [Float]) {
            var index = [Int](repeating: 0, count: n * taps), weight = [Float](repeating: 0, count: n * taps)
            let scale = alignCorners ? (n > 1 ? Double(src - 1) / Double(n - 1) : 0) : Double(src) / Double(n)
            for d in 0..<n {
                var f = Float(alignCorners ? Double(d) * scale : (Double(d) + 0.5) * scale - 0.5)
                if !cubic { f = max(f, 0) }
                let i0 = Int(f.rounded(.down))
                let t = f - Float(i0)
                let w: [Float]
                if cubic {
                    let a: Float = -0.75, t0 = t + 1, t2 = 1 - t
                    let c0 = a * t0 * t0 * t0 - 5 * a * t0 * t0 + 8 * a * t0 - 4 * a
                    let c1 = (a + 2) * t * t * t - (a + 3) * t * t + 1
                    let c2 = (a + 2) * t2 * t2 * t2 - (a + 3) * t2 * t2 + 1
                    w = [c0, c1, c2, 1 - c0 - c1 - c2]
                } else {
                    w = [1 - t, t]
                }
                for k in 0..<taps {
                    index[d * taps + k] = min(max(i0 + k - (cubic ? 1 : 0), 0), src - 1)
                    weight[d * taps + k] = w[k]
                }
            }
            return (index, weight)
        }
        let (xi, xw) = coefficients(ow, x.width), (yi, yw) = coefficients(oh, x.height)
        var out = Tensor(channels: x.channels, height: oh, width: ow)
        let ih = x.height, iw = x.width
        x.data.withUnsafeBufferPointer { src in
            out.data.withUnsafeMutableBufferPointer { dst in
                let sp = src.baseAddress!, dp = dst.baseAddress!
                Parallel.forEach(x.channels) { c in
                    // Each source row resampled along x once, then the output rows mixed from them.
                    var rows = [Float](repeating: 0, count: ih * ow)
                    for y in 0..<ih {
                        let r = sp + (c * ih + y) * iw
                        for d in 0..<ow {
                            var v: Float = 0
                            for k in 0..<taps { v += r[xi[d * taps + k]] * xw[d * taps + k] }
                            rows[y * ow + d] = v
                        }
                    }
                    for d in 0..<oh {
                        let o = dp + (c * oh + d) * ow
                        for i in 0..<ow {
                            var v: Float = 0
                            for k in 0..<taps { v += rows[yi[d * taps + k] * ow + i] * yw[d * taps + k] }
                            o[i] = v
                        }
                    }
                }
            }
        }
        return out
    }

    /// ncnn's nearest Interp: source index = floor(dst · in / out).
    static func nearest(_ x: Tensor, height oh: Int, width ow: Int) -> Tensor {
        var out = Tensor(channels: x.channels, height: oh, width: ow)
        let sy = Float(x.height) / Float(oh), sx = Float(x.width) / Float(ow)
        let xs = (0..<ow).map { min(Int(Float($0) * sx), x.width - 1) }
        for c in 0..<x.channels {
            for y in 0..<oh {
                let src = (c * x.height + min(Int(Float(y) * sy), x.height - 1)) * x.width, dst = (c * oh + y) * ow
                for i in 0..<ow { out.data[dst + i] = x.data[src + xs[i]] }
            }
        }
        return out
    }
}

extension NCNNModel.Layer {
    /// The convolution this layer describes (square, undilated, ungrouped), with `activation` fused.
    public func conv2d(name: String, activation: Activation? = nil) throws -> Conv2d {
        guard type == "Convolution", let w = blobs["weight"] else {
            throw TensorError.format("\(self.name) is not a convolution")
        }
        let out = int(0, 0), k = int(1, 1)
        guard out >= 1, out <= 1 << 16 else { throw TensorError.format("\(self.name): \(out) output channels") }
        guard k >= 1, k <= 63 else { throw TensorError.format("\(self.name): kernel size \(k)") }
        guard int(11, k) == k, int(2, 1) == 1, int(12, 1) == 1 else {
            throw TensorError.format("\(self.name): only square, undilated kernels are supported")
        }
        guard w.count % (out * k * k) == 0 else {
            throw TensorError.format("\(self.name): \(w.count) weights do not fit \(out) outputs of \(k)×\(k)")
        }
        let inCh = w.count / (out * k * k)
        var act = activation ?? .none
        if activation == nil {
            switch int(9, 0) {
            case 0: act = .none
            case 1: act = .leakyReLU(0)
            case 2: act = .leakyReLU(arrays[10]?.first ?? 0)
            default: throw TensorError.format("\(self.name): activation type \(int(9, 0)) is not supported")
            }
        }
        return try Conv2d(
            name: name, inChannels: inCh, outChannels: out, kernel: k, stride: int(3, 1), padding: int(4, 0),
            weight: w, bias: blobs["bias"], activation: act)
    }
}

/// A convolution computed directly (no im2col): grouped, depthwise or dilated, which the GEMM
/// kernel does not cover. Weights [out][in/groups][k][k]; zero padding on every side.
final class DirectConv: Sendable {
    let inChannels: Int, outChannels: Int, groups: Int, kernel: Int, stride: Int, padding: Int, dilation: Int
    let weight: [Float], bias: [Float]

    init(_ l: NCNNModel.Layer) throws {
        let out = l.int(0, 0), k = l.int(1, 1), dil = l.int(2, 1), stride = l.int(3, 1), pad = l.int(4, 0)
        let groups = l.type == "ConvolutionDepthWise" ? l.int(7, 1) : 1
        guard (1...(1 << 16)).contains(out), (1...63).contains(k), (1...64).contains(dil), (1...63).contains(stride),
            (0...1024).contains(pad),
            (1...(1 << 16)).contains(groups), out % groups == 0
        else {
            throw TensorError.format("ncnn graph: \(l.name): bad convolution parameters")
        }
        guard l.int(11, k) == k, l.int(12, dil) == dil, l.int(13, stride) == stride, l.int(14, pad) == pad,
            l.int(15, pad) == pad, l.int(16, pad) == pad
        else {
            throw TensorError.format(
                "ncnn graph: \(l.name): only square kernels, strides, dilations and even padding are supported")
        }
        guard let w = l.blobs["weight"], w.count % (out * k * k) == 0 else {
            throw TensorError.format("ncnn graph: \(l.name): weights do not fit")
        }
        inChannels = w.count / (out * k * k) * groups
        outChannels = out
        self.groups = groups
        kernel = k
        self.stride = stride
        padding = pad
        dilation = dil
        weight = w
        bias = l.blobs["bias"] ?? [Float](repeating: 0, count: out)
        guard bias.count == out else {
            throw TensorError.format("ncnn graph: \(l.name): \(bias.count) biases for \(out) outputs")
        }
    }

    func forward(_ x: Tensor, name: String) throws -> Tensor {
        guard x.channels == inChannels else {
            throw TensorError.shape("\(name) takes \(inChannels) channels, got \(x.channels)")
        }
        let k = kernel, d = dilation, s = stride, p = padding, h = x.height, w = x.width
        let oh = (h + 2 * p - d * (k - 1) - 1) / s + 1, ow = (w + 2 * p - d * (k - 1) - 1) / s + 1
        guard oh > 0, ow > 0 else { throw TensorError.shape("\(name): \(w)×\(h) is smaller than its kernel") }
        var out = Tensor(channels: outChannels, height: oh, width: ow)
        let inPer = inChannels / groups, outPer = outChannels / groups
        let weight = self.weight, bias = self.bias
        x.data.withUnsafeBufferPointer { xb in
            out.data.withUnsafeMutableBufferPointer { ob in
                let src = xb.baseAddress!, dst = ob.baseAddress!
                Parallel.forEach(outChannels) { o in
                    let g = o / outPer
                    let plane = dst + o * oh * ow
                    for i in 0..<(oh * ow) { plane[i] = bias[o] }
                    for ic in 0..<inPer {
                        let chan = src + (g * inPer + ic) * h * w
                        for ky in 0..<k {
                            for kx in 0..<k {
                                let wv = weight[((o * inPer + ic) * k + ky) * k + kx]
                                for y in 0..<oh {
                                    let iy = y * s - p + ky * d
                                    guard iy >= 0 && iy < h else { continue }
                                    let row = chan + iy * w, orow = plane + y * ow
                                    for xx in 0..<ow {
                                        let ix = xx * s - p + kx * d
                                        if ix >= 0 && ix < w { orow[xx] += wv * row[ix] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
