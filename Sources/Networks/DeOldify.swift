import Foundation
import TensorCore

/// DeOldify's colorization generators (jantic/DeOldify `deoldify/unet.py` on fastai v1 layers),
/// loading DeOldify's own checkpoints:
///
///     artistic      DynamicUnetDeep on ResNet-34, nf_factor 1.5
///     stable, video DynamicUnetWide on ResNet-101, nf_factor 2
///
/// (both blur, self-attention, y_range (−3, 3), spectral norm, last_cross). The module indices of
/// fastai's SequentialEx are the checkpoint keys:
///
///     layers.0   ResNet body (torchvision: conv1, bn1, relu, maxpool, layer1…4)
///     layers.1/2 BatchNorm + ReLU;  layers.3 middle: two [spectral conv 3×3, ReLU, BatchNorm]
///     layers.4…7 U-Net blocks on the skips layer3, layer2, layer1, relu:
///                shuf = [spectral conv 1×1, BatchNorm] → ReLU → pixel shuffle ×2 → replication pad + 2×2 mean;
///                bn = BatchNorm of the skip; ReLU of [up, bn(skip)];
///                deep: conv1, conv2 = [spectral conv 3×3, ReLU, BatchNorm (, self-attention)]
///                wide: conv = the same, once
///                self-attention in the second block
///     layers.8   PixelShuffle_ICNR: weight-normed conv 1×1 with bias, ReLU, shuffle ×2
///     layers.9   concatenation with the input;  layers.10 res_block: x + [conv+ReLU, conv+ReLU](x)
///     layers.11  spectral conv 1×1 → 3;  layers.12 SigmoidRange(−3, 3)
///
/// Input: a gray picture as three equal ImageNet-normalized channels; output: an ImageNet-normalized
/// RGB picture. Spectral norm in eval mode: weight_orig / (u · W v) from the stored u and v (older
/// checkpoints that still hold `weight` use it). BatchNorms directly after a convolution are folded
/// into it; the ones after a ReLU are applied as per-channel affine maps.
public final class DeOldifyGenerator: Sendable {
    public enum Kind: String, Sendable { case deep, wide }
    public let kind: Kind
    /// Blocks per ResNet stage and whether they are bottlenecks (ResNet-34: 3,4,6,3 basic; ResNet-101: 3,4,23,3 bottleneck).
    public let stageBlocks: [Int]
    public let bottleneck: Bool
    public let parameterCount: Int
    public var backbone: String {
        switch (bottleneck, stageBlocks) {
        case (false, [3, 4, 6, 3]): return "ResNet-34"
        case (true, [3, 4, 6, 3]): return "ResNet-50"
        case (true, [3, 4, 23, 3]): return "ResNet-101"
        default: return "ResNet(\(stageBlocks.map(String.init).joined(separator: ",")))"
        }
    }

    // MARK: layers
    struct ResBlock {
        let conv1: Conv2d, conv2: Conv2d, conv3: Conv2d?, downsample: Conv2d?
        func callAsFunction(_ x: Tensor, _ ws: Workspace) throws -> Tensor {
            let identity = try downsample?.forward(x, workspace: ws) ?? x
            var y = try conv2.forward(try conv1.forward(x, workspace: ws), workspace: ws)
            if let c3 = conv3 { y = try c3.forward(y, workspace: ws) }
            Ops.addReLU(&y, identity)
            return y
        }
    }

    /// [spectral conv, ReLU, BatchNorm (, self-attention)] — DeOldify's custom_conv_layer.
    struct ConvReLUNorm {
        let conv: Conv2d
        let scale: [Float], shift: [Float]
        let attention: (query: [Float], key: [Float], value: [Float], gamma: Float)?
        func callAsFunction(_ x: Tensor, _ ws: Workspace) throws -> Tensor {
            var y = try conv.forward(x, workspace: ws)
            Ops.channelAffine(&y, scale: scale, shift: shift)
            if let a = attention {
                y = try Ops.selfAttention(y, query: a.query, key: a.key, value: a.value, gamma: a.gamma)
            }
            return y
        }
    }

    struct UNetBlock {
        let shuffle: Conv2d  // 1×1, BatchNorm folded, ReLU
        let skipScale: [Float], skipShift: [Float]
        let convs: [ConvReLUNorm]
        func callAsFunction(_ up: Tensor, skip: Tensor, _ ws: Workspace) throws -> Tensor {
            var u = Ops.blurUpLeft(try Ops.pixelShuffle(try shuffle.forward(up, workspace: ws), 2))
            u = Ops.resizeNearest(u, height: skip.height, width: skip.width)
            var s = skip
            Ops.channelAffine(&s, scale: skipScale, shift: skipShift, relu: true)
            var x = try Ops.concat([u, s])  // u ≥ 0 already: the ReLU of the concatenation is the skip's
            for c in convs { x = try c(x, ws) }
            return x
        }
    }

    let stem: Conv2d
    let stages: [[ResBlock]]
    let bodyScale: [Float], bodyShift: [Float]
    let middle: [ConvReLUNorm]
    let blocks: [UNetBlock]
    let finalShuffle: Conv2d
    let res: [Conv2d]
    let head: Conv2d

    public static let imagenetMean: [Float] = [0.485, 0.456, 0.406]
    public static let imagenetStd: [Float] = [0.229, 0.224, 0.225]

    // MARK: loading
    public convenience init(contentsOf url: URL) throws {
        try self.init(stateDict: try StateDict.load(url))
    }

    public init(stateDict sd: StateDict) throws {
        var r = WeightReader(sd)
        func t(_ key: String, _ shape: [Int]) throws -> [Float] { try r.tensor(key, shape) }
        // spectral norm in eval: weight_orig / (u · W v)
        func spectral(_ key: String, _ shape: [Int]) throws -> [Float] {
            if let plain = sd["\(key).weight"], plain.shape == shape, let orig = sd["\(key).weight_orig"] {
                _ = try t("\(key).weight_orig", orig.shape)
                return try t("\(key).weight", shape)
            }
            let out = shape[0], cols = shape.dropFirst().reduce(1, *)
            let w = try t("\(key).weight_orig", shape), u = try t("\(key).weight_u", [out]),
                v = try t("\(key).weight_v", [cols])
            var sigma = 0.0
            for o in 0..<out {
                var s = 0.0
                for j in 0..<cols { s += Double(w[o * cols + j]) * Double(v[j]) }
                sigma += Double(u[o]) * s
            }
            guard sigma.isFinite, sigma != 0 else { throw TensorError.format("\(key): spectral norm σ = \(sigma)") }
            let inv = Float(1 / sigma)
            return w.map { $0 * inv }
        }
        func conv(_ name: String, _ i: Int, _ o: Int, _ k: Int, weight: [Float], bias: [Float]?, relu: Bool) throws
            -> Conv2d
        {
            try Conv2d(
                name: name, inChannels: i, outChannels: o, kernel: k, padding: k / 2,
                weight: weight, bias: bias, activation: relu ? .leakyReLU(0) : .none)
        }
        // a convolution followed by its BatchNorm, folded
        func convNorm(
            _ key: String, _ bn: String, _ i: Int, _ o: Int, _ k: Int, stride: Int = 1, relu: Bool,
            spectralWeight: Bool = false
        ) throws -> Conv2d {
            let w = spectralWeight ? try spectral(key, [o, i, k, k]) : try t("\(key).weight", [o, i, k, k])
            return try r.convolution(
                key, weight: w, batchNorm: bn, in: i, out: o, kernel: k, stride: stride, relu: relu)
        }
        func convReLUNorm(_ key: String, _ i: Int, _ o: Int, attention: Bool = false) throws -> ConvReLUNorm {
            let c = try conv(
                "\(key).0", i, o, 3, weight: try spectral("\(key).0", [o, i, 3, 3]), bias: nil, relu: true)
            let (s, b) = try r.batchNorm("\(key).2", channels: o)
            var a: (query: [Float], key: [Float], value: [Float], gamma: Float)? = nil
            if attention {
                let p = "\(key).3"
                a = (
                    try spectral("\(p).query", [o / 8, o, 1]), try spectral("\(p).key", [o / 8, o, 1]),
                    try spectral("\(p).value", [o, o, 1]), try t("\(p).gamma", [1])[0]
                )
            }
            return ConvReLUNorm(conv: c, scale: s, shift: b, attention: a)
        }

        // the encoder's shape, from its keys
        let bottleneck = sd["layers.0.4.0.conv3.weight"] != nil
        let stageBlocks = (4...7).map { s in (0...).prefix { sd["layers.0.\(s).\($0).conv1.weight"] != nil }.count }
        self.bottleneck = bottleneck
        self.stageBlocks = stageBlocks
        guard stageBlocks.allSatisfy({ $0 > 0 }) else {
            throw TensorError.format(
                "not a DeOldify generator: no ResNet body under layers.0 (checkpoint has no 'layers.0.4.0.conv1.weight' …)"
            )
        }
        let kind: Kind
        if sd["layers.4.conv1.0.weight_orig"] != nil || sd["layers.4.conv1.0.weight"] != nil {
            kind = .deep
        } else if sd["layers.4.conv.0.weight_orig"] != nil || sd["layers.4.conv.0.weight"] != nil {
            kind = .wide
        } else {
            throw TensorError.format(
                "not a DeOldify generator: checkpoint has neither 'layers.4.conv1.0.weight_orig' (artistic) nor 'layers.4.conv.0.weight_orig' (stable, video)"
            )
        }
        self.kind = kind

        let expansion = bottleneck ? 4 : 1
        stem = try convNorm("layers.0.0", "layers.0.1", 3, 64, 7, stride: 2, relu: true)
        var inplanes = 64
        var skipChannels = [64]
        stages = try (0..<4).map { s in
            let planes = 64 << s
            return try (0..<stageBlocks[s]).map { b in
                let p = "layers.0.\(s + 4).\(b)", stride = b == 0 && s > 0 ? 2 : 1
                var down: Conv2d? = nil
                if b == 0 && (stride != 1 || inplanes != planes * expansion) {
                    down = try convNorm(
                        "\(p).downsample.0", "\(p).downsample.1", inplanes, planes * expansion, 1, stride: stride,
                        relu: false)
                }
                let block: ResBlock
                if bottleneck {
                    block = ResBlock(
                        conv1: try convNorm("\(p).conv1", "\(p).bn1", inplanes, planes, 1, relu: true),
                        conv2: try convNorm("\(p).conv2", "\(p).bn2", planes, planes, 3, stride: stride, relu: true),
                        conv3: try convNorm("\(p).conv3", "\(p).bn3", planes, planes * 4, 1, relu: false),
                        downsample: down)
                } else {
                    block = ResBlock(
                        conv1: try convNorm("\(p).conv1", "\(p).bn1", inplanes, planes, 3, stride: stride, relu: true),
                        conv2: try convNorm("\(p).conv2", "\(p).bn2", planes, planes, 3, relu: false), conv3: nil,
                        downsample: down)
                }
                inplanes = planes * expansion
                if b == stageBlocks[s] - 1 { skipChannels.append(inplanes) }
                return block
            }
        }
        let ni = inplanes
        (bodyScale, bodyShift) = try r.batchNorm("layers.1", channels: ni)
        middle = [try convReLUNorm("layers.3.0", ni, ni * 2), try convReLUNorm("layers.3.1", ni * 2, ni)]

        // the decoder; its widths follow from nf_factor, read off the first block
        var x = ni
        var built: [UNetBlock] = []
        let skips = [skipChannels[3], skipChannels[2], skipChannels[1], skipChannels[0]]
        switch kind {
        case .deep:
            let first = try sd.require(
                sd["layers.4.conv1.0.weight_orig"] != nil ? "layers.4.conv1.0.weight_orig" : "layers.4.conv1.0.weight"
            ).shape[0]
            let factor = Double(first) / Double(x / 2 + skips[0])
            for (i, s) in skips.enumerated() {
                let key = "layers.\(4 + i)", final = i == 3
                let cat = x / 2 + s
                let nf = Int(Double(final ? cat / 2 : cat) * factor)
                let shuffle = try convNorm(
                    "\(key).shuf.conv.0", "\(key).shuf.conv.1", x, x / 2 * 4, 1, relu: true, spectralWeight: true)
                let (ss, sb) = try r.batchNorm("\(key).bn", channels: s)
                built.append(
                    UNetBlock(
                        shuffle: shuffle, skipScale: ss, skipShift: sb,
                        convs: [
                            try convReLUNorm("\(key).conv1", cat, nf),
                            try convReLUNorm("\(key).conv2", nf, nf, attention: i == 1),
                        ]))
                x = nf
            }
        case .wide:
            let first = try sd.require(
                sd["layers.4.conv.0.weight_orig"] != nil ? "layers.4.conv.0.weight_orig" : "layers.4.conv.0.weight"
            ).shape[0]
            let nf = first * 2
            for (i, s) in skips.enumerated() {
                let key = "layers.\(4 + i)", half = (i == 3 ? nf / 2 : nf) / 2
                let shuffle = try convNorm(
                    "\(key).shuf.conv.0", "\(key).shuf.conv.1", x, half * 4, 1, relu: true, spectralWeight: true)
                let (ss, sb) = try r.batchNorm("\(key).bn", channels: s)
                built.append(
                    UNetBlock(
                        shuffle: shuffle, skipScale: ss, skipShift: sb,
                        convs: [try convReLUNorm("\(key).conv", half + s, half, attention: i == 1)]))
                x = half
            }
        }
        blocks = built
        // PixelShuffle_ICNR: weight norm, g · v / ‖v‖ per output channel
        let g = try t("layers.8.conv.0.weight_g", [x * 4, 1, 1, 1]),
            v = try t("layers.8.conv.0.weight_v", [x * 4, x, 1, 1])
        var wn = v
        for o in 0..<(x * 4) {
            var n2: Double = 0
            for j in 0..<x { n2 += Double(v[o * x + j]) * Double(v[o * x + j]) }
            let f = g[o] / Float(n2.squareRoot())
            for j in 0..<x { wn[o * x + j] *= f }
        }
        finalShuffle = try conv(
            "layers.8.conv.0", x, x * 4, 1, weight: wn, bias: try t("layers.8.conv.0.bias", [x * 4]), relu: true)
        let m = x + 3
        res = try (0..<2).map { r in
            let key = "layers.10.layers.\(r).0"
            return try conv(
                key, m, m, 3, weight: try spectral(key, [m, m, 3, 3]), bias: try t("\(key).bias", [m]), relu: true)
        }
        head = try conv(
            "layers.11.0", m, 3, 1, weight: try spectral("layers.11.0", [3, m, 1, 1]),
            bias: try t("layers.11.0.bias", [3]), relu: false)
        parameterCount = r.parameterCount
    }

    // MARK: inference
    /// The generator on an ImageNet-normalized picture [3][H][W] (H, W multiples of 32): the
    /// normalized RGB prediction, −3…3.
    public func forward(_ input: Tensor, workspace ws: Workspace) throws -> Tensor {
        guard input.channels == 3, input.height % 32 == 0, input.width % 32 == 0, input.height > 0, input.width > 0
        else {
            throw TensorError.shape("DeOldify input must be 3 channels with sides multiples of 32, not \(input.shape)")
        }
        var skips: [Tensor] = []
        var x = try stem.forward(input, workspace: ws)
        skips.append(x)
        x = Ops.maxPool(x, kernel: 3, stride: 2, padding: 1)
        for stage in stages {
            for block in stage { x = try block(x, ws) }
            skips.append(x)
        }
        Ops.channelAffine(&x, scale: bodyScale, shift: bodyShift, relu: true)
        for c in middle { x = try c(x, ws) }
        for (block, skip) in zip(blocks, [skips[3], skips[2], skips[1], skips[0]]) { x = try block(x, skip: skip, ws) }
        x = try Ops.pixelShuffle(try finalShuffle.forward(x, workspace: ws), 2)
        x = try Ops.concat([x, input])
        let r = try res[1].forward(try res[0].forward(x, workspace: ws), workspace: ws)
        x = try Ops.add(x, r)
        var y = try head.forward(x, workspace: ws)
        for i in 0..<y.data.count { y.data[i] = 6 / (1 + expf(-y.data[i])) - 3 }
        return y
    }

    /// Gray values (0…1, H×W) → the predicted RGB (0…1 each, H×W planes), through ImageNet
    /// normalization and back.
    public func colorize(gray: [Float], height: Int, width: Int, workspace ws: Workspace) throws -> Tensor {
        var input = Tensor(channels: 3, height: height, width: width)
        for c in 0..<3 {
            let m = Self.imagenetMean[c], s = Self.imagenetStd[c]
            for i in 0..<(height * width) { input.data[c * height * width + i] = (gray[i] - m) / s }
        }
        var y = try forward(input, workspace: ws)
        for c in 0..<3 {
            let m = Self.imagenetMean[c], s = Self.imagenetStd[c]
            for i in 0..<(height * width) {
                y.data[c * height * width + i] = min(max(y.data[c * height * width + i] * s + m, 0), 1)
            }
        }
        return y
    }
}
