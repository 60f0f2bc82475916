import TensorCore

/// MSRResNet (SRResNet without batch norm: the generator of SRGAN as BasicSR trains it), with the
/// checkpoint's names:
///
///     conv_first (LeakyReLU 0.1); body.i.{conv1 (ReLU), conv2}: out = x + conv2(conv1(x));
///     ×4: upconv1, pixel shuffle 2, LeakyReLU; upconv2, pixel shuffle 2, LeakyReLU
///     ×2/×3: upconv1, pixel shuffle s, LeakyReLU
///     conv_hr (LeakyReLU); conv_last; + bilinear upsampling of the input (align_corners=False)
///
/// Features, blocks and scale are read from the weights.
public final class MSRResNet: SuperResolutionNetwork, Sendable {
    public let convFirst: Conv2d
    public let body: [(conv1: Conv2d, conv2: Conv2d)]
    /// upconv1 and, for ×4, upconv2 (each followed by a pixel shuffle by `shuffle`).
    public let upconvs: [Conv2d]
    public let convHR: Conv2d, convLast: Conv2d
    public let scale: Int
    let shuffle: Int
    public var numFeat: Int { convFirst.outChannels }
    public var receptiveRadius: Int { 2 + 2 * body.count + 3 }
    /// The trunk's two feature maps and the tail's maps at the output size.
    public var bytesPerInputPixel: Int {
        4 * (3 * numFeat + shuffle * shuffle * numFeat * 2 + 3 * numFeat * scale * scale + 6 * scale * scale)
    }

    public init(
        convFirst: Conv2d, body: [(conv1: Conv2d, conv2: Conv2d)], upconvs: [Conv2d], convHR: Conv2d, convLast: Conv2d
    ) throws {
        let nf = convFirst.outChannels
        guard convFirst.inChannels == 3, convLast.outChannels == 3 else {
            throw TensorError.shape(
                "MSRResNet: conv_first takes \(convFirst.inChannels) channels and conv_last gives \(convLast.outChannels); RGB (3) expected"
            )
        }
        for (i, b) in body.enumerated()
        where [b.conv1.inChannels, b.conv1.outChannels, b.conv2.inChannels, b.conv2.outChannels] != [nf, nf, nf, nf] {
            throw TensorError.shape(
                "MSRResNet: body.\(i) is \(b.conv1.inChannels)→\(b.conv1.outChannels)→\(b.conv2.outChannels), expected \(nf) features"
            )
        }
        let s: Int
        switch upconvs.count {
        case 2: s = 2
        case 1: s = Int(Double(upconvs[0].outChannels / max(nf, 1)).squareRoot().rounded())
        default: throw TensorError.shape("MSRResNet: \(upconvs.count) upsampling convolutions (1 or 2)")
        }
        guard s == 2 || s == 3 else {
            throw TensorError.shape(
                "MSRResNet: upconv1 gives \(upconvs[0].outChannels) channels for \(nf) features (×2, ×3 or ×4 models)")
        }
        for u in upconvs where u.inChannels != nf || u.outChannels != nf * s * s {
            throw TensorError.shape(
                "MSRResNet: \(u.name) is \(u.inChannels)→\(u.outChannels), expected \(nf)→\(nf * s * s)")
        }
        guard convHR.inChannels == nf, convHR.outChannels == nf, convLast.inChannels == nf else {
            throw TensorError.shape("MSRResNet: conv_hr/conv_last do not take \(nf) features")
        }
        self.convFirst = convFirst
        self.body = body
        self.upconvs = upconvs
        self.convHR = convHR
        self.convLast = convLast
        shuffle = s
        scale = upconvs.count == 2 ? 4 : s
    }

    public func forward(_ x: Tensor, workspace ws: Workspace) throws -> Tensor {
        guard x.channels == 3 else { throw TensorError.shape("MSRResNet takes RGB, got \(x.channels) channels") }
        var out = try convFirst.forward(x, workspace: ws)
        var t = ws.takeBuffer(), r = ws.takeBuffer()
        defer {
            ws.giveBack(t)
            ws.giveBack(r)
        }
        for b in body {
            try b.conv1.forward(out, into: &t, workspace: ws)
            try b.conv2.forward(t, into: &r, workspace: ws)
            out.data.withUnsafeMutableBufferPointer { o in
                r.data.withUnsafeBufferPointer { rp in
                    for i in 0..<o.count { o[i] += rp[i] }
                }
            }
        }
        // LeakyReLU commutes with the pixel shuffle (a permutation): it is fused into upconv.
        for u in upconvs { out = try Ops.pixelShuffle(try u.forward(out, workspace: ws), shuffle) }
        var y = try convLast.forward(try convHR.forward(out, workspace: ws), workspace: ws)
        let base = Ops.resizeBilinear(x, height: x.height * scale, width: x.width * scale)
        y.data.withUnsafeMutableBufferPointer { o in
            base.data.withUnsafeBufferPointer { b in
                for i in 0..<o.count { o[i] += b[i] }
            }
        }
        return y
    }

    public func flops(height h: Int, width w: Int) -> Double {
        var total = convFirst.flops(h, w) + body.reduce(0) { $0 + $1.conv1.flops(h, w) + $1.conv2.flops(h, w) }
        var s = 1
        for u in upconvs {
            total += u.flops(h * s, w * s)
            s *= shuffle
        }
        return total + convHR.flops(h * scale, w * scale) + convLast.flops(h * scale, w * scale)
    }
}

extension MSRResNet {
    /// From a BasicSR state dict: `conv_first`, `body.i.conv1/conv2`, `upconv1`, `upconv2` (×4),
    /// `conv_hr`, `conv_last` (weights [out, in, 3, 3] and biases).
    public convenience init(stateDict sd: StateDict) throws {
        func conv(_ n: String, _ act: Activation) throws -> Conv2d { try sd.conv2d(n, activation: act) }
        let lrelu = Activation.leakyReLU(0.1)
        var body: [(conv1: Conv2d, conv2: Conv2d)] = []
        while sd["body.\(body.count).conv1.weight"] != nil {
            let i = body.count
            body.append((try conv("body.\(i).conv1", .leakyReLU(0)), try conv("body.\(i).conv2", .none)))
        }
        var ups = [try conv("upconv1", lrelu)]
        if sd["upconv2.weight"] != nil { ups.append(try conv("upconv2", lrelu)) }
        try self.init(
            convFirst: try conv("conv_first", lrelu), body: body, upconvs: ups,
            convHR: try conv("conv_hr", lrelu), convLast: try conv("conv_last", .none))
    }
}
