import Foundation
import TensorCore

/// FilmRestore's own colorizer (trained by `Tools/train_colorizer.py`, shipped as
/// `Models/colorizer/compact-colorizer.safetensors`): a compact DeOldify-style U-Net that predicts a
/// distribution over quantized (Cb, Cr) bins at a quarter of the input size from Y' alone, decoded by
/// the annealed mean (Zhang et al. 2016). Layer names are the training script's module names:
///
///     x = (y − 0.45) / 0.25
///     enc0 = [conv 3×3 1→16, BN, ReLU] [16→16];  enc1 = [16→32 stride 2] [32→32]
///     enc2 = [32→64 stride 2] [64→64] (kept: s2);  enc3 = [64→128 stride 2] [128→128]
///     res.0, res.1 = ReLU(x + BN(conv(ReLU(BN(conv(x))))));  attn = SAGAN self-attention (128)
///     up = conv 1×1 128→256 + ReLU, pixel shuffle ×2;  dec = [cat(up, s2) 128→96] [96→96]
///     head = conv 1×1 96→Q;  bins [Q][2] (Cb, Cr, BT.601 full range), temperature
public final class CompactColorizer: Sendable {
    let enc: [Conv2d]
    let res: [(Conv2d, Conv2d)]
    let attention: (query: [Float], key: [Float], value: [Float], gamma: Float)
    let up: Conv2d
    let dec: [Conv2d]
    let head: Conv2d
    public let bins: [(cb: Float, cr: Float)]
    public let temperature: Float
    public let parameterCount: Int

    public convenience init(contentsOf url: URL) throws { try self.init(stateDict: try StateDict.load(url)) }

    public init(stateDict sd: StateDict) throws {
        var r = WeightReader(sd)
        func t(_ key: String, _ shape: [Int]) throws -> [Float] { try r.tensor(key, shape) }
        // conv 3×3 (no bias) + BatchNorm folded, with or without ReLU
        func convBN(_ conv: String, _ bn: String, _ i: Int, _ o: Int, stride: Int = 1, relu: Bool = true) throws
            -> Conv2d
        {
            try r.convolution(conv, batchNorm: bn, in: i, out: o, kernel: 3, stride: stride, relu: relu)
        }
        var e: [Conv2d] = []
        for (level, (i, o)) in [(1, 16), (16, 32), (32, 64), (64, 128)].enumerated() {
            e.append(try convBN("enc\(level).0.0", "enc\(level).0.1", i, o, stride: level == 0 ? 1 : 2))
            e.append(try convBN("enc\(level).1.0", "enc\(level).1.1", o, o))
        }
        enc = e
        res = try (0..<2).map { k in
            (
                try convBN("res.\(k).conv1", "res.\(k).bn1", 128, 128),
                try convBN("res.\(k).conv2", "res.\(k).bn2", 128, 128, relu: false)
            )
        }
        attention = (
            try t("attn.query.weight", [16, 128, 1]), try t("attn.key.weight", [16, 128, 1]),
            try t("attn.value.weight", [128, 128, 1]), try t("attn.gamma", [1])[0]
        )
        up = try Conv2d(
            name: "up", inChannels: 128, outChannels: 256, kernel: 1, weight: try t("up.weight", [256, 128, 1, 1]),
            bias: try t("up.bias", [256]), activation: .leakyReLU(0))
        dec = [try convBN("dec.0.0", "dec.0.1", 128, 96), try convBN("dec.1.0", "dec.1.1", 96, 96)]
        guard let hw = sd["head.weight"], hw.shape.count == 4, hw.shape[1] == 96 else {
            throw TensorError.format("compact colorizer: checkpoint has no 'head.weight' of shape [Q, 96, 1, 1]")
        }
        let q = hw.shape[0]
        head = try Conv2d(
            name: "head", inChannels: 96, outChannels: q, kernel: 1, weight: try t("head.weight", [q, 96, 1, 1]),
            bias: try t("head.bias", [q]))
        let b = try sd.require("bins", shape: [q, 2]).data
        bins = (0..<q).map { (b[2 * $0], b[2 * $0 + 1]) }
        temperature = try sd.require("temperature", shape: [1]).data[0]
        parameterCount = r.parameterCount
    }

    /// Bin logits [Q][H/4][W/4] for Y' (0…1) of a picture whose sides are multiples of 8.
    public func logits(_ y: [Float], height h: Int, width w: Int, workspace ws: Workspace) throws -> Tensor {
        guard h % 8 == 0, w % 8 == 0, y.count == h * w else {
            throw TensorError.shape("compact colorizer input \(w)x\(h): sides must be multiples of 8")
        }
        var x = Tensor(channels: 1, height: h, width: w, data: y.map { ($0 - 0.45) / 0.25 })
        var s2 = x
        for (k, c) in enc.enumerated() {
            x = try c.forward(x, workspace: ws)
            if k == 5 { s2 = x }
        }
        for (c1, c2) in res {
            var r = try c2.forward(try c1.forward(x, workspace: ws), workspace: ws)
            Ops.addReLU(&r, x)
            x = r
        }
        x = try Ops.selfAttention(
            x, query: attention.query, key: attention.key, value: attention.value, gamma: attention.gamma)
        x = try Ops.pixelShuffle(try up.forward(x, workspace: ws), 2)
        x = try Ops.concat([x, s2])
        for c in dec { x = try c.forward(x, workspace: ws) }
        return try head.forward(x, workspace: ws)
    }

    /// The annealed mean of the bins under softmax(logits / T): Cb and Cr planes at the logits' size.
    public func decode(_ logits: Tensor) -> (cb: [Float], cr: [Float]) {
        let d = decodeWithCertainty(logits)
        return (d.cb, d.cr)
    }

    /// The annealed mean, and how sure the model is of each pixel's colour: 1 − the entropy of the
    /// decoding distribution softmax(logits / T) over log Q (1: one bin; 0: all bins alike).
    public func decodeWithCertainty(_ logits: Tensor) -> (cb: [Float], cr: [Float], certainty: [Float]) {
        let n = logits.plane, q = logits.channels
        var cb = [Float](repeating: 0, count: n), cr = cb, certainty = cb
        let invT = 1 / temperature, logQ = logf(Float(max(q, 2)))
        logits.data.withUnsafeBufferPointer { lp in
            for i in 0..<n {
                var m = -Float.infinity
                for k in 0..<q { m = max(m, lp[k * n + i]) }
                // Σp, Σp·cb, Σp·cr and Σp·z (z = (logit − max)/T ≤ 0): H = log Σp − Σp·z / Σp
                var s: Float = 0, b: Float = 0, r: Float = 0, pz: Float = 0
                for k in 0..<q {
                    let z = (lp[k * n + i] - m) * invT
                    let p = expf(z)
                    s += p
                    b += p * bins[k].cb
                    r += p * bins[k].cr
                    pz += p * z
                }
                cb[i] = b / s
                cr[i] = r / s
                let entropy = logf(s) - pz / s
                certainty[i] = min(max(1 - entropy / logQ, 0), 1)
            }
        }
        return (cb, cr, certainty)
    }
}
