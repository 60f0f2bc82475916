import Foundation
import TensorCore

/// SPAN (Swift Parameter-free Attention Network, Wan et al. 2024; hongyuanyu/SPAN as spandrel
/// carries it), with the checkpoint's names:
///
///     x = (x − DIV2K mean)·255 (unless the checkpoint holds `no_norm`)
///     conv_1; block_1…block_6 (SPAB: c1_r, SiLU, c2_r, SiLU, c3_r; att = sigmoid(c3) − ½;
///     out = (c3 + x)·att); conv_2 on block_6; conv_cat (1×1) of [conv_1, conv_2, block_1,
///     block_6's c1_r]; upsampler.0 (3×3) and a pixel shuffle
///
/// Every Conv3XC (`sk` 1×1 + `conv.0` 1×1 → `conv.1` 3×3 → `conv.2` 1×1) is folded once at load
/// into the single 3×3 convolution it computes in eval mode, as upstream's `update_params` does;
/// the checkpoint's `eval_conv` copy is not trusted (training never updates it).
public final class SPAN: SuperResolutionNetwork, Sendable {
    public let conv1: Conv2d
    /// block_i's c1_r, c2_r, c3_r.
    public let blocks: [[Conv2d]]
    public let conv2: Conv2d, convCat: Conv2d, upsampler: Conv2d
    public let scale: Int
    public let normalizesInput: Bool
    public static let rgbMean: [Float] = [0.4488, 0.4371, 0.4040]
    public static let imageRange: Float = 255
    public var features: Int { conv1.outChannels }
    public var receptiveRadius: Int { 1 + 3 * blocks.count + 2 }
    /// Five feature maps held at once (conv_1, block_1, block_6's c1_r, the running block and its
    /// concatenation) plus the output.
    public var bytesPerInputPixel: Int { 4 * (9 * features + 2 * 3 * scale * scale) }

    public init(
        conv1: Conv2d, blocks: [[Conv2d]], conv2: Conv2d, convCat: Conv2d, upsampler: Conv2d,
        normalizesInput: Bool = true
    ) throws {
        let f = conv1.outChannels
        guard conv1.inChannels == 3 else {
            throw TensorError.shape("SPAN: conv_1 takes \(conv1.inChannels) channels, expected RGB (3)")
        }
        guard blocks.count == 6,
            blocks.allSatisfy({ $0.count == 3 && $0.allSatisfy { $0.inChannels == f && $0.outChannels == f } })
        else {
            throw TensorError.shape("SPAN: expected 6 blocks of three \(f)→\(f) convolutions")
        }
        guard conv2.inChannels == f, conv2.outChannels == f, convCat.inChannels == 4 * f, convCat.outChannels == f,
            upsampler.inChannels == f
        else {
            throw TensorError.shape("SPAN: conv_2/conv_cat/upsampler do not fit \(f) features")
        }
        let s = Int(Double(upsampler.outChannels / 3).squareRoot().rounded())
        guard s >= 1, s <= 8, upsampler.outChannels == 3 * s * s else {
            throw TensorError.shape("SPAN: upsampler gives \(upsampler.outChannels) channels, not 3·s²")
        }
        self.conv1 = conv1
        self.blocks = blocks
        self.conv2 = conv2
        self.convCat = convCat
        self.upsampler = upsampler
        self.normalizesInput = normalizesInput
        scale = s
    }

    public func forward(_ x: Tensor, workspace ws: Workspace) throws -> Tensor {
        guard x.channels == 3 else { throw TensorError.shape("SPAN takes RGB, got \(x.channels) channels") }
        var input = x
        if normalizesInput {
            let n = x.plane
            input.data.withUnsafeMutableBufferPointer { p in
                for c in 0..<3 {
                    let m = Self.rgbMean[c]
                    for i in (c * n)..<((c + 1) * n) { p[i] = (p[i] - m) * Self.imageRange }
                }
            }
        }
        let feature = try conv1.forward(input, workspace: ws)
        var o1 = ws.takeBuffer(), o2 = ws.takeBuffer(), o3 = ws.takeBuffer()
        defer {
            ws.giveBack(o1)
            ws.giveBack(o2)
            ws.giveBack(o3)
        }
        var t = feature, b1 = feature, b6c1 = feature
        for (i, block) in blocks.enumerated() {
            try block[0].forward(t, into: &o1, workspace: ws)
            if i == blocks.count - 1 { b6c1 = o1 }
            Self.silu(o1, into: &o2)
            try block[1].forward(o2, into: &o3, workspace: ws)
            Self.silu(o3, into: &o2)
            try block[2].forward(o2, into: &o3, workspace: ws)
            // out = (c3 + x)·(sigmoid(c3) − ½), in place over the block's input
            t.data.withUnsafeMutableBufferPointer { xp in
                o3.data.withUnsafeBufferPointer { c3 in
                    for j in 0..<xp.count {
                        let v = c3[j]
                        xp[j] = (v + xp[j]) * (1 / (1 + exp(-v)) - 0.5)
                    }
                }
            }
            if i == 0 { b1 = t }
        }
        let b6 = try conv2.forward(t, workspace: ws)
        let cat = try convCat.forward(try Ops.concat([feature, b6, b1, b6c1]), workspace: ws)
        return try Ops.pixelShuffle(try upsampler.forward(cat, workspace: ws), scale)
    }

    static func silu(_ x: Tensor, into y: inout Tensor) {
        if y.data.count != x.data.count {
            y = x
        } else {
            y.channels = x.channels
            y.height = x.height
            y.width = x.width
        }
        x.data.withUnsafeBufferPointer { s in
            y.data.withUnsafeMutableBufferPointer { d in
                for i in 0..<s.count {
                    let v = s[i]
                    d[i] = v / (1 + exp(-v))
                }
            }
        }
    }

    public func flops(height h: Int, width w: Int) -> Double {
        let convs = [conv1, conv2, convCat, upsampler] + blocks.flatMap { $0 }
        return convs.reduce(0) { $0 + $1.flops(h, w) }
    }
}

extension SPAN {
    /// From a SPAN state dict (spandrel's keys); each Conv3XC folded into its 3×3 equivalent.
    public convenience init(stateDict sd: StateDict) throws {
        try self.init(
            conv1: try Self.conv3XC(sd, "conv_1"),
            blocks: try (1...6).map { b in
                try ["c1_r", "c2_r", "c3_r"].map { try Self.conv3XC(sd, "block_\(b).\($0)") }
            },
            conv2: try Self.conv3XC(sd, "conv_2"),
            convCat: try sd.conv2d("conv_cat", kernel: 1),
            upsampler: try sd.conv2d("upsampler.0"),
            normalizesInput: sd["no_norm"] == nil)
    }

    /// Conv3XC's eval-mode convolution: W[o][i] = Σ_b w3[o][b] Σ_a w2[b][a] w1[a][i] (per tap) plus sk at
    /// the centre tap; bias = w3·(Σ_taps w2 · b1 + b2) + b3 + sk's bias. Accumulated in Double.
    static func conv3XC(_ sd: StateDict, _ p: String) throws -> Conv2d {
        let sk = try sd.require(p + ".sk.weight"), w1 = try sd.require(p + ".conv.0.weight")
        let w2 = try sd.require(p + ".conv.1.weight"), w3 = try sd.require(p + ".conv.2.weight")
        guard sk.shape.count == 4, sk.shape[2...] == [1, 1] else {
            throw TensorError.shape("\(p).sk.weight is \(sk.shape), expected [out, in, 1, 1]")
        }
        let cout = sk.shape[0], cin = sk.shape[1]
        guard w1.shape.count == 4, w1.shape[1] == cin, w1.shape[2...] == [1, 1] else {
            throw TensorError.shape("\(p).conv.0.weight is \(w1.shape), expected [g, \(cin), 1, 1]")
        }
        let g1 = w1.shape[0]
        guard w2.shape.count == 4, w2.shape[1] == g1, w2.shape[2...] == [3, 3] else {
            throw TensorError.shape("\(p).conv.1.weight is \(w2.shape), expected [g, \(g1), 3, 3]")
        }
        let g2 = w2.shape[0]
        guard w3.shape == [cout, g2, 1, 1] else {
            throw TensorError.shape("\(p).conv.2.weight is \(w3.shape), expected [\(cout), \(g2), 1, 1]")
        }
        let skb = try sd.require(p + ".sk.bias", shape: [cout]).data,
            b1 = try sd.require(p + ".conv.0.bias", shape: [g1]).data
        let b2 = try sd.require(p + ".conv.1.bias", shape: [g2]).data,
            b3 = try sd.require(p + ".conv.2.bias", shape: [cout]).data
        // w21[b][i][tap] = Σ_a w2[b][a][tap] · w1[a][i]
        var w21 = [Double](repeating: 0, count: g2 * cin * 9)
        var bias2 = (0..<g2).map { Double(b2[$0]) }
        for b in 0..<g2 {
            for a in 0..<g1 {
                var tapSum = 0.0
                for tap in 0..<9 {
                    let v = Double(w2.data[(b * g1 + a) * 9 + tap])
                    tapSum += v
                    for i in 0..<cin { w21[(b * cin + i) * 9 + tap] += v * Double(w1.data[a * cin + i]) }
                }
                bias2[b] += tapSum * Double(b1[a])
            }
        }
        var weight = [Float](repeating: 0, count: cout * cin * 9), bias = [Float](repeating: 0, count: cout)
        for o in 0..<cout {
            var acc = [Double](repeating: 0, count: cin * 9), bo = Double(b3[o]) + Double(skb[o])
            for b in 0..<g2 {
                let m = Double(w3.data[o * g2 + b])
                bo += m * bias2[b]
                for j in 0..<(cin * 9) { acc[j] += m * w21[b * cin * 9 + j] }
            }
            for i in 0..<cin { acc[i * 9 + 4] += Double(sk.data[o * cin + i]) }
            for j in 0..<(cin * 9) { weight[o * cin * 9 + j] = Float(acc[j]) }
            bias[o] = Float(bo)
        }
        return try Conv2d(name: p, inChannels: cin, outChannels: cout, kernel: 3, weight: weight, bias: bias)
    }
}
