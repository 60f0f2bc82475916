import Foundation
import TensorCore

/// FilmRestore's larger colorizer (`Tools/train_colorizer.py --arch film`): the compact model widened
/// and one level deeper, with attention at 1/16 and at 1/8. Layer names are the training script's:
///
///     x = (y − 0.45) / 0.25
///     enc0 = [conv 3×3 1→c0, BN, ReLU] [c0→c0];  enc1 = [c0→c1 stride 2] [c1→c1]
///     enc2 = [c1→c2 s2] [c2→c2] (s2, 1/4);  enc3 = [c2→c3 s2] [c3→c3] (s3, 1/8);  enc4 = [c3→c4 s2] [c4→c4]
///     res16.0, res16.1 = residual blocks (c4);  attn16 = SAGAN self-attention (c4)
///     up16 = conv 1×1 c4→4·c3 + ReLU, pixel shuffle ×2;  dec8 = [cat(up, s3) 2·c3→c3] + residual block (c3)
///     attn8 = self-attention (c3);  up8 = conv 1×1 c3→4·c2 + ReLU, pixel shuffle
///     dec = [cat(up, s2) 2·c2→c5] [c5→c5];  head = conv 1×1 c5→Q
/// The widths c0…c5 (trained: 32, 64, 128, 256, 256, 128) are read from the checkpoint's shapes.
public final class FilmColorizer: BinColorizer {
    let enc: [Conv2d]
    let res16: [(Conv2d, Conv2d)]
    let attn16: Attention, attn8: Attention
    let up16: Conv2d, up8: Conv2d
    let dec8: Conv2d
    let dec8Res: (Conv2d, Conv2d)
    let dec: [Conv2d]
    let head: Conv2d
    public let chroma: ChromaBins
    public let parameterCount: Int
    public var sideMultiple: Int { 16 }

    public convenience init(contentsOf url: URL) throws { try self.init(stateDict: try StateDict.load(url)) }

    public init(stateDict sd: StateDict) throws {
        var r = WeightReader(sd)
        func convBN(_ prefix: String, _ i: Int, _ o: Int, stride: Int = 1, relu: Bool = true) throws -> Conv2d {
            try r.convolution(
                "\(prefix).0", batchNorm: "\(prefix).1", in: i, out: o, kernel: 3, stride: stride, relu: relu)
        }
        func resBlock(_ p: String, _ c: Int) throws -> (Conv2d, Conv2d) {
            (
                try r.convolution("\(p).conv1", batchNorm: "\(p).bn1", in: c, out: c, kernel: 3, relu: true),
                try r.convolution("\(p).conv2", batchNorm: "\(p).bn2", in: c, out: c, kernel: 3, relu: false)
            )
        }
        // the widths, from the first convolution of each level
        let widths = try (0..<5).map { level -> Int in
            guard let w = sd["enc\(level).0.0.weight"], w.shape.count == 4 else {
                throw TensorError.format("film colorizer: checkpoint has no 'enc\(level).0.0.weight'")
            }
            return w.shape[0]
        }
        var inputs = [1] + widths
        inputs.removeLast()
        var e: [Conv2d] = []
        for level in 0..<5 {
            let (i, o) = (inputs[level], widths[level])
            e.append(try convBN("enc\(level).0", i, o, stride: level == 0 ? 1 : 2))
            e.append(try convBN("enc\(level).1", o, o))
        }
        enc = e
        let (c2, c3, c4) = (widths[2], widths[3], widths[4])
        res16 = try (0..<2).map { try resBlock("res16.\($0)", c4) }
        attn16 = try Attention(&r, "attn16", channels: c4)
        up16 = try Conv2d(
            name: "up16", inChannels: c4, outChannels: 4 * c3, kernel: 1,
            weight: try r.tensor("up16.weight", [4 * c3, c4, 1, 1]), bias: try r.tensor("up16.bias", [4 * c3]),
            activation: .leakyReLU(0))
        dec8 = try convBN("dec8.0", 2 * c3, c3)
        dec8Res = try resBlock("dec8.1", c3)
        attn8 = try Attention(&r, "attn8", channels: c3)
        up8 = try Conv2d(
            name: "up8", inChannels: c3, outChannels: 4 * c2, kernel: 1,
            weight: try r.tensor("up8.weight", [4 * c2, c3, 1, 1]), bias: try r.tensor("up8.bias", [4 * c2]),
            activation: .leakyReLU(0))
        guard let d = sd["dec.0.0.weight"], d.shape.count == 4 else {
            throw TensorError.format("film colorizer: checkpoint has no 'dec.0.0.weight'")
        }
        let c5 = d.shape[0]
        dec = [try convBN("dec.0", 2 * c2, c5), try convBN("dec.1", c5, c5)]
        (head, chroma) = try ChromaBins.head(&r, sd, channels: c5, name: "film colorizer")
        parameterCount = r.parameterCount
    }

    public func logits(_ y: [Float], height h: Int, width w: Int, workspace ws: Workspace) throws -> Tensor {
        guard h % 16 == 0, w % 16 == 0, y.count == h * w else {
            throw TensorError.shape("film colorizer input \(w)x\(h): sides must be multiples of 16")
        }
        func residual(_ x: Tensor, _ block: (Conv2d, Conv2d)) throws -> Tensor {
            var r = try block.1.forward(try block.0.forward(x, workspace: ws), workspace: ws)
            Ops.addReLU(&r, x)
            return r
        }
        var x = Tensor(channels: 1, height: h, width: w, data: y.map { ($0 - 0.45) / 0.25 })
        var s2 = x, s3 = x
        for (k, c) in enc.enumerated() {
            x = try c.forward(x, workspace: ws)
            if k == 5 { s2 = x }
            if k == 7 { s3 = x }
        }
        for block in res16 { x = try residual(x, block) }
        x = try attn16.forward(x)
        x = try Ops.pixelShuffle(try up16.forward(x, workspace: ws), 2)
        x = try residual(try dec8.forward(try Ops.concat([x, s3]), workspace: ws), dec8Res)
        x = try attn8.forward(x)
        x = try Ops.pixelShuffle(try up8.forward(x, workspace: ws), 2)
        x = try Ops.concat([x, s2])
        for c in dec { x = try c.forward(x, workspace: ws) }
        return try head.forward(x, workspace: ws)
    }
}
