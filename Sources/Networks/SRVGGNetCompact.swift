import TensorCore

/// SRVGGNetCompact (Real-ESRGAN's realesr-animevideov3 and realesr-general models), as BasicSR
/// defines it:
///
///     body.0  conv 3→F, body.1 PReLU, then num_conv × (conv F→F, PReLU), last conv F→3·s²
///     out = pixel_shuffle(body(x), s) + nearest_upsample(x, s)
///
/// Layer names are the checkpoint keys (`body.N`); each PReLU is fused into the convolution before it.
public final class SRVGGNetCompact: SuperResolutionNetwork, Sendable {
    public let body: [Conv2d]
    public let scale: Int
    /// The whole body as one oneDNN chain per input size (lower precisions: the activations stay in oneDNN's
    /// layouts from the first layer to the last).
    public let dnnl = DNNLChainCache()
    public var numFeat: Int { body[0].outChannels }
    public var numConv: Int { body.count - 2 }
    public var receptiveRadius: Int { body.count }
    /// One feature map (the body runs in place), the shuffled output twice (a tile's, then the frame's) and the
    /// skip path, in fp32.
    public var bytesPerInputPixel: Int { 4 * (numFeat + 2 * 3 * scale * scale + 3) }

    public init(body: [Conv2d], scale: Int) throws {
        guard scale >= 1, scale <= 8 else { throw TensorError.shape("SRVGGNetCompact: scale \(scale) (1…8)") }
        guard body.count >= 2, body[0].inChannels == 3, body.last!.outChannels == 3 * scale * scale else {
            throw TensorError.shape(
                "SRVGGNetCompact: first conv must take 3 channels and the last give 3·\(scale)² (got \(body.first?.inChannels ?? 0)→…→\(body.last?.outChannels ?? 0))"
            )
        }
        for (a, b) in zip(body, body.dropFirst()) where a.outChannels != b.inChannels {
            throw TensorError.shape(
                "SRVGGNetCompact: \(a.name) gives \(a.outChannels) channels but \(b.name) takes \(b.inChannels)")
        }
        self.body = body
        self.scale = scale
    }

    /// From the ncnn export (Conv_0, PRelu_1, …, Conv_2n, PixelShuffle, Interp, BinaryOp add).
    public convenience init(ncnn m: NCNNModel) throws {
        var convs: [Conv2d] = []
        var index = 0
        for (i, l) in m.layers.enumerated() where l.type == "Convolution" {
            var act: Activation = .none
            if i + 1 < m.layers.count, m.layers[i + 1].type == "PReLU", m.layers[i + 1].inputs.first == l.outputs.first,
                let s = m.layers[i + 1].blobs["slope"]
            {
                act = .prelu(s)
            }
            convs.append(try l.conv2d(name: "body.\(index)", activation: act))
            index += act == .none ? 1 : 2
        }
        guard let ps = m.layers.first(where: { $0.type == "PixelShuffle" }) else {
            throw TensorError.format("SRVGGNetCompact: no PixelShuffle layer")
        }
        let s = ps.int(0, 1)
        guard s >= 1, s <= 8 else { throw TensorError.format("SRVGGNetCompact: pixel shuffle factor \(s)") }
        if let interp = m.layers.first(where: { $0.type == "Interp" }) {
            guard interp.int(0, 0) == 1, interp.float(1, 0) == Float(s), interp.float(2, 0) == Float(s) else {
                throw TensorError.format("SRVGGNetCompact: the skip path must be a nearest ×\(s) upsampling")
            }
        }
        try self.init(body: convs, scale: s)
    }

    public func forward(_ x: Tensor, workspace: Workspace) throws -> Tensor {
        let (oh, ow) = (x.height * scale, x.width * scale)
        var out = Tensor(channels: 3, height: oh, width: ow)
        try out.data.withUnsafeMutableBufferPointer { o in
            try run(x, workspace: workspace, into: (0..<3).map { o.baseAddress! + $0 * oh * ow })
        }
        return out
    }

    /// The output as three planes of its own, written there by the last step (no tensor to split).
    public func forwardPlanes(_ x: Tensor, workspace: Workspace) throws -> [[Float]] {
        let n = x.height * scale * x.width * scale
        var planes = (0..<3).map { _ in [Float](repeating: 0, count: n) }
        var failure: Error?
        planes.withMutablePlanePointers {
            do { try run(x, workspace: workspace, into: $0) } catch { failure = error }
        }
        if let failure { throw failure }
        return planes
    }

    /// The output's planes averaged into one, written there by the last step.
    public func forwardGray(_ x: Tensor, workspace: Workspace) throws -> [Float] {
        let n = x.height * scale * x.width * scale
        var failure: Error?
        let plane = [Float](unsafeUninitializedCapacity: n) { b, count in
            do { try run(x, workspace: workspace, into: [b.baseAddress!]) } catch { failure = error }
            count = n
        }
        if let failure { throw failure }
        return plane
    }

    /// The 3×3 layers after the first run channel-blocked (per-worker scratch only); the first layer's
    /// columns (27 floats a pixel) take bands of 4 Mi floats.
    public var workspaceFloats: Int { 1 << 20 }

    /// The body and the output step into `out`: three planes, or one that gets their mean.
    private func run(_ x: Tensor, workspace: Workspace, into out: [UnsafeMutablePointer<Float>]) throws {
        guard x.channels == 3 else { throw TensorError.shape("SRVGGNetCompact takes RGB, got \(x.channels) channels") }
        if workspace.precision != .fp32 {
            let f = try dnnl.chain(body, height: x.height, width: x.width, precision: workspace.precision).run(x)
            return Self.shuffleAddingUpsampled(f, x, scale, into: out)
        }
        if canRunInPlace(height: x.height, width: x.width) { return try runInPlace(x, workspace: workspace, into: out) }
        // Two activation buffers from the workspace, ping-ponged through the body.
        var a = workspace.takeBuffer(), b = workspace.takeBuffer()
        defer {
            workspace.giveBack(a)
            workspace.giveBack(b)
        }
        try body[0].forward(x, into: &a, workspace: workspace)
        // 3×3 layers in the channel-blocked layout where they can (all of them after the first in the
        // published models): packed before the first such layer, unpacked after the last
        var blocked = false
        for conv in body.dropFirst() {
            let can = ChannelBlocked.supports(conv, height: x.height, width: x.width)
            if can != blocked {
                try can ? ChannelBlocked.pack(a, into: &b) : ChannelBlocked.unpack(a, into: &b)
                swap(&a, &b)
                blocked = can
            }
            try blocked
                ? conv.forwardBlocked(a, into: &b, workspace: workspace)
                : conv.forward(a, into: &b, workspace: workspace)
            swap(&a, &b)
        }
        if blocked {
            try ChannelBlocked.unpack(a, into: &b)
            swap(&a, &b)
        }
        Self.shuffleAddingUpsampled(a, x, scale, into: out)
    }

    /// Whether the body can run on one map overwritten in place (`InPlaceBlocked`): a first layer that keeps the
    /// size, then layers that run channel-blocked and never widen the map (the published models, on maps of
    /// 24x24 pixels or more).
    func canRunInPlace(height h: Int, width w: Int) -> Bool {
        var channels = body[0].outChannels
        guard channels % 8 == 0, body[0].stride == 1, body[0].padding * 2 + 1 == body[0].kernel else { return false }
        for conv in body.dropFirst() {
            guard InPlaceBlocked.supports(conv, channels: channels, height: h, width: w) else { return false }
            channels = conv.outChannels
        }
        return true
    }

    /// The body on one map: the first layer in bands of rows packed into it, every later layer in place, the
    /// output step reading it where it lies (half the activation memory of the ping-pong).
    private func runInPlace(_ x: Tensor, workspace: Workspace, into out: [UnsafeMutablePointer<Float>]) throws {
        let h = x.height, w = x.width, r = body[0].padding, band = 32
        var map = InPlaceBlocked(channels: numFeat, height: h, width: w, storage: workspace.takeBuffer())
        defer { workspace.giveBack(map.storage) }
        var part = Tensor(channels: 0, height: 0, width: 0)
        for y0 in stride(from: 0, to: h, by: band) {
            // rows y0 ..< y1 need r rows of input either side; the zeros padding the part's edges reach only
            // output rows outside them
            let y1 = min(y0 + band, h), a = max(y0 - r, 0), b = min(y1 + r, h)
            try body[0].forward(x.region(x: 0, y: a, width: w, height: b - a), into: &part, workspace: workspace)
            map.pack(rows: y0..<y1, from: part, firstRow: y0 - a)
        }
        for conv in body.dropFirst() { try map.apply(conv, workspace: workspace) }
        map.withRows { row in Self.shuffleAddingUpsampled(features: row, step: 8, x, scale, into: out) }
    }

    /// pixel_shuffle(f, s) + nearest_upsample(x, s) in one pass, without zero-filling the output.
    static func shuffleAddingUpsampled(_ f: Tensor, _ x: Tensor, _ s: Int) -> Tensor {
        let oh = x.height * s, ow = x.width * s
        var out = Tensor(channels: 3, height: oh, width: ow)
        out.data.withUnsafeMutableBufferPointer { o in
            shuffleAddingUpsampled(f, x, s, into: (0..<3).map { o.baseAddress! + $0 * oh * ow })
        }
        return out
    }

    /// The same into three output planes (`out[c]`, each (h·s)×(w·s)), or into one plane their mean.
    static func shuffleAddingUpsampled(_ f: Tensor, _ x: Tensor, _ s: Int, into out: [UnsafeMutablePointer<Float>]) {
        let h = x.height, w = x.width
        f.data.withUnsafeBufferPointer { fp in
            shuffleAddingUpsampled(features: { c, y in fp.baseAddress! + (c * h + y) * w }, step: 1, x, s, into: out)
        }
    }

    /// The same with the features read through `features(c, y)` (row y of channel c, its pixels `step` floats
    /// apart): planar or channel-blocked.
    static func shuffleAddingUpsampled(
        features: (Int, Int) -> UnsafePointer<Float>, step: Int, _ x: Tensor, _ s: Int,
        into out: [UnsafeMutablePointer<Float>]
    ) {
        let h = x.height, w = x.width, ow = w * s, third: Float = 1.0 / 3
        x.data.withUnsafeBufferPointer { xp in
            for y in 0..<h {
                let skip = (0..<3).map { xp.baseAddress! + ($0 * h + y) * w }
                for i in 0..<s {
                    for j in 0..<s {
                        let src = (0..<3).map { features($0 * s * s + i * s + j, y) }
                        if out.count == 1 {
                            let dst = out[0] + (y * s + i) * ow
                            for xx in 0..<w {
                                let k = xx * step
                                dst[xx * s + j] =
                                    ((src[0][k] + skip[0][xx]) + (src[1][k] + skip[1][xx]) + (src[2][k] + skip[2][xx]))
                                    * third
                            }
                            continue
                        }
                        for c in 0..<3 {
                            let dst = out[c] + (y * s + i) * ow, sc = src[c], kc = skip[c]
                            for xx in 0..<w { dst[xx * s + j] = sc[xx * step] + kc[xx] }
                        }
                    }
                }
            }
        }
    }

    public func flops(height: Int, width: Int) -> Double { body.reduce(0) { $0 + $1.flops(height, width) } }
}

extension SRVGGNetCompact {
    /// From a BasicSR state dict: `body.N.weight` (conv [out,in,3,3] or PReLU [F]), `body.N.bias`.
    public convenience init(stateDict sd: StateDict) throws {
        var convs: [Conv2d] = []
        var i = 0
        while let w = sd["body.\(i).weight"] {
            guard w.shape.count == 4 else {
                throw TensorError.shape("body.\(i).weight is \(w.shape); expected a convolution")
            }
            let bias = try sd.require("body.\(i).bias", shape: [w.shape[0]])
            var act: Activation = .none
            var next = i + 1
            if let p = sd["body.\(i + 1).weight"], p.shape.count == 1 {
                guard p.shape[0] == w.shape[0] || p.shape[0] == 1 else {
                    throw TensorError.shape("body.\(i + 1).weight (PReLU) is \(p.shape) for \(w.shape[0]) channels")
                }
                act = .prelu(p.data)
                next = i + 2
            }
            guard w.shape[2] == w.shape[3] else {
                throw TensorError.shape("body.\(i).weight has a non-square kernel \(w.shape)")
            }
            convs.append(
                try Conv2d(
                    name: "body.\(i)", inChannels: w.shape[1], outChannels: w.shape[0], kernel: w.shape[2],
                    weight: w.data, bias: bias.data, activation: act))
            i = next
        }
        guard let last = convs.last else {
            throw TensorError.format("SRVGGNetCompact: no body.0.weight in the checkpoint")
        }
        let s = Int((Double(last.outChannels / 3)).squareRoot().rounded())
        try self.init(body: convs, scale: s)
    }
}
