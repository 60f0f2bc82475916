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
public final class CompactColorizer: BinColorizer {
    let enc: [Conv2d]
    let res: [(Conv2d, Conv2d)]
    let attention: Attention
    let up: Conv2d
    let dec: [Conv2d]
    let head: Conv2d
    public let chroma: ChromaBins
    public let parameterCount: Int
    public var sideMultiple: Int { 8 }

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
        attention = try Attention(&r, "attn", channels: 128)
        up = try Conv2d(
            name: "up", inChannels: 128, outChannels: 256, kernel: 1, weight: try t("up.weight", [256, 128, 1, 1]),
            bias: try t("up.bias", [256]), activation: .leakyReLU(0))
        dec = [try convBN("dec.0.0", "dec.0.1", 128, 96), try convBN("dec.1.0", "dec.1.1", 96, 96)]
        (head, chroma) = try ChromaBins.head(&r, sd, channels: 96, name: "compact colorizer")
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
        x = try attention.forward(x)
        x = try Ops.pixelShuffle(try up.forward(x, workspace: ws), 2)
        x = try Ops.concat([x, s2])
        for c in dec { x = try c.forward(x, workspace: ws) }
        return try head.forward(x, workspace: ws)
    }
}

/// A colorizer that predicts a distribution over quantized (Cb, Cr) bins at a quarter of its input's
/// size from Y' alone: the compact model and the larger film model (recognized by their keys).
public protocol BinColorizer: AnyObject, Sendable {
    var chroma: ChromaBins { get }
    var parameterCount: Int { get }
    /// The input's sides must be multiples of this.
    var sideMultiple: Int { get }
    /// Bin logits [Q][H/4][W/4] for Y' (0…1).
    func logits(_ y: [Float], height h: Int, width w: Int, workspace ws: Workspace) throws -> Tensor
}

extension BinColorizer {
    public var bins: [(cb: Float, cr: Float)] { chroma.bins }
    public var temperature: Float { chroma.temperature }
    public func decode(_ logits: Tensor) -> (cb: [Float], cr: [Float]) { chroma.decode(logits) }
    public func decodeWithCertainty(_ logits: Tensor) -> (cb: [Float], cr: [Float], certainty: [Float]) {
        chroma.decodeWithCertainty(logits)
    }
    public func decodePosterior(_ logits: Tensor) -> (cb: [Float], cr: [Float], certainty: [Float])? {
        chroma.decodePosterior(logits)
    }
}

/// Loads a bin colorizer, its architecture told by its keys (as spandrel does): `enc4.*` and `attn16.*`
/// only in the film model.
public enum BinColorizers {
    public static func load(_ url: URL) throws -> any BinColorizer {
        let sd = try StateDict.load(url)
        guard sd["bins"] != nil, sd["head.weight"] != nil else {
            throw TensorError.format(
                "\(url.lastPathComponent): not a FilmRestore colorizer (no 'bins' and 'head.weight')")
        }
        return sd["enc4.0.0.weight"] != nil ? try FilmColorizer(stateDict: sd) : try CompactColorizer(stateDict: sd)
    }
}

/// The bins (Cb, Cr, BT.601 full range), the annealed-mean temperature, and the decodings.
public struct ChromaBins: Sendable {
    public let bins: [(cb: Float, cr: Float)]
    public let temperature: Float
    /// The posterior-mean decoding, when the file carries one (`posterior.bias` [Q], `posterior.center`
    /// [2], `posterior.scale` [1]): the mean of the bins under softmax(logits + bias), the bias taking the
    /// class rebalancing of training back out, moved away from `center` (the training photos' mean
    /// chroma) by `scale`. A spread distribution's mean lies near the center, so the colour falls toward
    /// it by itself where the model is unsure.
    public let posterior: Posterior?
    public struct Posterior: Sendable {
        public let bias: [Float]
        public let center: (cb: Float, cr: Float)
        public let scale: Float
    }

    /// The 1×1 head to Q bin logits, Q read from `head.weight`, with the bin table and temperature.
    static func head(_ r: inout WeightReader, _ sd: StateDict, channels: Int, name: String) throws -> (
        Conv2d, ChromaBins
    ) {
        guard let hw = sd["head.weight"], hw.shape.count == 4, hw.shape[1] == channels else {
            throw TensorError.format("\(name): checkpoint has no 'head.weight' of shape [Q, \(channels), 1, 1]")
        }
        let q = hw.shape[0]
        let head = try Conv2d(
            name: "head", inChannels: channels, outChannels: q, kernel: 1,
            weight: try r.tensor("head.weight", [q, channels, 1, 1]), bias: try r.tensor("head.bias", [q]))
        let b = try sd.require("bins", shape: [q, 2]).data
        let t = try sd.require("temperature", shape: [1]).data[0]
        guard t.isFinite, t > 0, b.allSatisfy(\.isFinite) else {
            throw TensorError.format("\(name): temperature or bins not finite and positive")
        }
        var posterior: Posterior? = nil
        if sd["posterior.bias"] != nil || sd["posterior.center"] != nil || sd["posterior.scale"] != nil {
            let bias = try sd.require("posterior.bias", shape: [q]).data
            let center = try sd.require("posterior.center", shape: [2]).data
            let scale = try sd.require("posterior.scale", shape: [1]).data[0]
            guard bias.allSatisfy(\.isFinite), center.allSatisfy({ $0.isFinite && abs($0) < 1 }), scale > 0,
                scale <= 10
            else {
                throw TensorError.format(
                    "\(name): posterior.bias/center/scale not finite, or scale outside (0, 10]")
            }
            posterior = Posterior(bias: bias, center: (center[0], center[1]), scale: scale)
        }
        return (
            head,
            ChromaBins(
                bins: (0..<q).map { (b[2 * $0], b[2 * $0 + 1]) }, temperature: t, posterior: posterior)
        )
    }

    /// The annealed mean of the bins under softmax(logits / T): Cb and Cr planes at the logits' size.
    public func decode(_ logits: Tensor) -> (cb: [Float], cr: [Float]) {
        let d = decodeWithCertainty(logits)
        return (d.cb, d.cr)
    }

    /// The annealed mean, and how sure the model is of each pixel's colour: 1 − the entropy of the
    /// decoding distribution softmax(logits / T) over log Q (1: one bin; 0: all bins alike).
    public func decodeWithCertainty(_ logits: Tensor) -> (cb: [Float], cr: [Float], certainty: [Float]) {
        annealedMean(logits)
    }

    /// The posterior-mean chroma (nil when the file has no posterior decoding), and the same certainty
    /// as the annealed mean's.
    public func decodePosterior(_ logits: Tensor) -> (cb: [Float], cr: [Float], certainty: [Float])? {
        guard let post = posterior, post.bias.count == logits.channels else { return nil }
        let certainty = annealedMean(logits).certainty
        let n = logits.plane, q = logits.channels
        var cb = [Float](repeating: 0, count: n), cr = cb
        logits.data.withUnsafeBufferPointer { lp in
            for i in 0..<n {
                var m = -Float.infinity
                for k in 0..<q { m = max(m, lp[k * n + i] + post.bias[k]) }
                var s: Float = 0, b: Float = 0, r: Float = 0
                for k in 0..<q {
                    let p = expf(lp[k * n + i] + post.bias[k] - m)
                    s += p
                    b += p * bins[k].cb
                    r += p * bins[k].cr
                }
                cb[i] = post.center.cb + post.scale * (b / s - post.center.cb)
                cr[i] = post.center.cr + post.scale * (r / s - post.center.cr)
            }
        }
        return (cb, cr, certainty)
    }

    func annealedMean(_ logits: Tensor) -> (cb: [Float], cr: [Float], certainty: [Float]) {
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

/// fastai's SelfAttention (as DeOldify uses it), its 1×1 query/key/value weights and gamma.
struct Attention: Sendable {
    let query: [Float], key: [Float], value: [Float], gamma: Float
    init(_ r: inout WeightReader, _ name: String, channels c: Int) throws {
        query = try r.tensor("\(name).query.weight", [c / 8, c, 1])
        key = try r.tensor("\(name).key.weight", [c / 8, c, 1])
        value = try r.tensor("\(name).value.weight", [c, c, 1])
        gamma = try r.tensor("\(name).gamma", [1])[0]
    }
    func forward(_ x: Tensor) throws -> Tensor {
        try Ops.selfAttention(x, query: query, key: key, value: value, gamma: gamma)
    }
}
