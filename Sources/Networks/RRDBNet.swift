import TensorCore

/// RRDBNet (ESRGAN, RealESRGAN_x4plus), as BasicSR defines it, with the checkpoint's names:
///
///     conv_first; body.i.rdb{1,2,3}.conv{1…5} (dense blocks, LeakyReLU 0.2 after conv1–4,
///     out = conv5·0.2 + x; RRDB out = rdb3·0.2 + x); conv_body; feat += body;
///     conv_up1, conv_up2 (each after nearest ×2, LeakyReLU 0.2); conv_hr (LeakyReLU); conv_last
///
/// Blocks, features and growth channels are read from the weights. Scale 4 here (scale 2 and 1
/// models start with a pixel unshuffle; not supported yet).
public final class RRDBNet: SuperResolutionNetwork, Sendable {
    public struct RDB: Sendable { public let convs: [Conv2d] }
    public struct RRDB: Sendable { public let rdbs: [RDB] }

    public let convFirst: Conv2d
    public let body: [RRDB]
    public let convBody: Conv2d, convUp1: Conv2d, convUp2: Conv2d, convHR: Conv2d, convLast: Conv2d
    public let scale = 4
    public var numFeat: Int { convFirst.outChannels }
    public var numGrow: Int { body.first?.rdbs[0].convs[0].outChannels ?? 0 }
    public var receptiveRadius: Int { 1 + body.count * 15 + 1 + 4 }
    /// The dense block's concatenations at low resolution, and the ×4 feature maps of the tail.
    public var bytesPerInputPixel: Int {
        let winogradCopy = WinogradInput.floatsPerPixelPerChannel * Double(numFeat + 4 * numGrow + numFeat)
        return 4 * (8 * numFeat + 4 * numGrow + 3 * numFeat * scale * scale + Int(winogradCopy))
    }

    /// `convs` in BasicSR's order: conv_first, the 15 convs of each RRDB, conv_body, conv_up1,
    /// conv_up2, conv_hr, conv_last.
    public init(convs: [Conv2d]) throws {
        guard convs.count >= 6 + 15, (convs.count - 6) % 15 == 0 else {
            throw TensorError.shape("RRDBNet: \(convs.count) convolutions do not make conv_first + 15·blocks + 5")
        }
        guard convs[0].inChannels == 3 else {
            throw TensorError.shape(
                "RRDBNet: conv_first takes \(convs[0].inChannels) channels; only scale-4 models (3 input channels) are supported"
            )
        }
        let nb = (convs.count - 6) / 15
        convFirst = convs[0]
        let nf = convFirst.outChannels
        var blocks: [RRDB] = []
        for b in 0..<nb {
            var rdbs: [RDB] = []
            for r in 0..<3 {
                let cs = Array(convs[(1 + b * 15 + r * 5)..<(1 + b * 15 + r * 5 + 5)])
                let gc = cs[0].outChannels
                for (j, c) in cs.enumerated() {
                    let expectIn = nf + j * gc, expectOut = j == 4 ? nf : gc
                    guard c.inChannels == expectIn, c.outChannels == expectOut else {
                        throw TensorError.shape(
                            "RRDBNet: body.\(b).rdb\(r + 1).conv\(j + 1) is \(c.inChannels)→\(c.outChannels), expected \(expectIn)→\(expectOut)"
                        )
                    }
                }
                rdbs.append(RDB(convs: cs))
            }
            blocks.append(RRDB(rdbs: rdbs))
        }
        body = blocks
        let tail = Array(convs.suffix(5))
        (convBody, convUp1, convUp2, convHR, convLast) = (tail[0], tail[1], tail[2], tail[3], tail[4])
        guard convLast.outChannels == 3 else {
            throw TensorError.shape("RRDBNet: conv_last gives \(convLast.outChannels) channels, expected 3")
        }
    }

    public convenience init(ncnn m: NCNNModel) throws {
        let layers = m.layers.filter { $0.type == "Convolution" }
        let nb = (layers.count - 6) / 15
        var names = ["conv_first"]
        for b in 0..<max(nb, 0) { for r in 1...3 { for c in 1...5 { names.append("body.\(b).rdb\(r).conv\(c)") } } }
        names += ["conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]
        guard names.count == layers.count else {
            throw TensorError.format(
                "RRDBNet: \(layers.count) convolutions in the ncnn graph do not fit the architecture")
        }
        try self.init(convs: zip(layers, names).map { try $0.conv2d(name: $1) })
    }

    public func forward(_ x: Tensor, workspace ws: Workspace) throws -> Tensor {
        guard x.channels == 3 else { throw TensorError.shape("RRDBNet takes RGB, got \(x.channels) channels") }
        let h = x.height, w = x.width, n = h * w, nf = numFeat, gc = numGrow
        let feat = try convFirst.forward(x, workspace: ws)
        // The dense block works in one buffer: channels [0, nf) hold the block input, and each of
        // conv1…conv4 reads the prefix written so far and appends its gc channels (the
        // concatenations of the reference, without copies).
        var dense = ws.takeBuffer(), x5 = ws.takeBuffer(), trunk = ws.takeBuffer()
        defer {
            ws.giveBack(dense)
            ws.giveBack(x5)
            ws.giveBack(trunk)
        }
        func sized(_ t: inout Tensor, _ c: Int) {
            if t.data.count != c * n {
                t = Tensor(channels: c, height: h, width: w)
            } else {
                t.channels = c
                t.height = h
                t.width = w
            }
        }
        sized(&dense, nf + 4 * gc)
        sized(&x5, nf)
        trunk = feat
        try dense.data.withUnsafeMutableBufferPointer { d in
            try x5.data.withUnsafeMutableBufferPointer { x5p in
                try trunk.data.withUnsafeMutableBufferPointer { tp in
                    let D = d.baseAddress!, X5 = x5p.baseAddress!, H = tp.baseAddress!
                    // The Winograd-domain copy of the dense buffer: each channel is transformed once.
                    let wi =
                        self.body.first?.rdbs[0].convs[0].usesWinograd == true
                        ? WinogradInput(height: h, width: w, capacity: nf + 4 * gc) : nil
                    for block in body {
                        D.update(from: H, count: nf * n)  // r = h
                        for rdb in block.rdbs {
                            if let wi = wi {
                                wi.reset()
                                wi.append(D, count: nf)
                                for (j, c) in rdb.convs.prefix(4).enumerated() {
                                    let outp = D + (nf + j * gc) * n
                                    try c.forward(transformed: wi, into: outp, workspace: ws)
                                    wi.append(outp, count: gc)
                                }
                                try rdb.convs[4].forward(transformed: wi, into: X5, workspace: ws)
                            } else {
                                for (j, c) in rdb.convs.prefix(4).enumerated() {
                                    c.forward(D, height: h, width: w, into: D + (nf + j * gc) * n, workspace: ws)
                                }
                                rdb.convs[4].forward(D, height: h, width: w, into: X5, workspace: ws)
                            }
                            for i in 0..<(nf * n) { D[i] = X5[i] * 0.2 + D[i] }  // r = x5·0.2 + r
                        }
                        for i in 0..<(nf * n) { H[i] = D[i] * 0.2 + H[i] }  // h = r·0.2 + h
                    }
                }
            }
        }
        var f = try Ops.add(try convBody.forward(trunk, workspace: ws), feat)
        f = try convUp1.forward(Ops.upsampleNearest(f, 2), workspace: ws)
        f = try convUp2.forward(Ops.upsampleNearest(f, 2), workspace: ws)
        return try convLast.forward(try convHR.forward(f, workspace: ws), workspace: ws)
    }

    public func flops(height h: Int, width w: Int) -> Double {
        var total = convFirst.flops(h, w) + convBody.flops(h, w)
        for b in body { for r in b.rdbs { for c in r.convs { total += c.flops(h, w) } } }
        total +=
            convUp1.flops(2 * h, 2 * w) + convUp2.flops(4 * h, 4 * w) + convHR.flops(4 * h, 4 * w)
            + convLast.flops(4 * h, 4 * w)
        return total
    }
}

extension RRDBNet {
    /// From a BasicSR state dict (`conv_first`, `body.i.rdbK.convJ`, `conv_body`, `conv_up1`,
    /// `conv_up2`, `conv_hr`, `conv_last`), or an original ESRGAN one (`model.0`, `RRDB_trunk…`,
    /// `trunk_conv`, `upconv1`, `upconv2`, `HRconv`), whose names are translated.
    public convenience init(stateDict raw: StateDict) throws {
        let sd = Self.basicSRNames(raw)
        func conv(_ n: String, _ act: Activation) throws -> Conv2d { try sd.conv2d(n, activation: act) }
        let lrelu = Activation.leakyReLU(0.2)
        var convs = [try conv("conv_first", .none)]
        var b = 0
        while sd["body.\(b).rdb1.conv1.weight"] != nil {
            for r in 1...3 {
                for c in 1...5 { convs.append(try conv("body.\(b).rdb\(r).conv\(c)", c < 5 ? lrelu : .none)) }
            }
            b += 1
        }
        convs += [
            try conv("conv_body", .none), try conv("conv_up1", lrelu), try conv("conv_up2", lrelu),
            try conv("conv_hr", lrelu), try conv("conv_last", .none),
        ]
        try self.init(convs: convs)
    }

    static func basicSRNames(_ sd: StateDict) -> StateDict {
        guard sd["conv_first.weight"] == nil, sd["model.0.weight"] != nil else { return sd }
        var out = StateDict()
        for n in sd.names {
            var k = n
            let map = [
                ("model.0.", "conv_first."), ("model.3.", "conv_up1."), ("model.6.", "conv_up2."),
                ("model.8.", "conv_hr."), ("model.10.", "conv_last."),
            ]
            for (a, b) in map where k.hasPrefix(a) { k = b + k.dropFirst(a.count) }
            if k.hasPrefix("model.1.sub.") {  // model.1.sub.{i}.RDB{r}.conv{c}.0.weight
                let parts = k.split(separator: ".")
                if parts.count >= 7 {
                    k = "body.\(parts[3]).\(parts[4].lowercased()).\(parts[5]).\(parts.last!)"
                } else if parts.count == 5 {
                    k = "conv_body.\(parts[4])"
                }  // the trunk conv after the last block
            }
            out.names.append(k)
            out.tensors[k] = sd.tensors[n]
        }
        return out
    }
}

extension StateDict {
    /// The square convolution stored as `name.weight` [out, in, k, k] and `name.bias` [out], shapes
    /// checked, with `activation` fused.
    func conv2d(_ name: String, kernel k: Int = 3, activation: Activation = .none) throws -> Conv2d {
        let w = try require(name + ".weight")
        guard w.shape.count == 4, w.shape[2] == k, w.shape[3] == k else {
            throw TensorError.shape("\(name).weight is \(w.shape), expected [out, in, \(k), \(k)]")
        }
        let b = try require(name + ".bias", shape: [w.shape[0]])
        return try Conv2d(
            name: name, inChannels: w.shape[1], outChannels: w.shape[0], kernel: k, weight: w.data, bias: b.data,
            activation: activation)
    }
}
