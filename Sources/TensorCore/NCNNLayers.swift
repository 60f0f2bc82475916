import Foundation

/// ncnn's layer table (as ncnn's layer registry and its per-type `load_param`): one line per layer type the graph
/// runner executes, mapping to the builder that checks the layer's wiring and parameters and makes its step.
/// Adding a layer type touches this file only; `NCNNGraph.supportedTypes` derives from the table.
extension NCNNGraph {
    /// What a builder sees of the layer's place in the graph, and the receptive radius it adds.
    struct Wiring {
        let layer: NCNNModel.Layer
        let inputs: Int, outputs: Int
        var radius = 0

        /// Checks the layer takes `n` inputs and makes `k` outputs.
        func arity(_ n: Int, _ k: Int = 1) throws {
            guard inputs == n, outputs == k else {
                throw TensorError.format(
                    "ncnn graph: \(layer.type) \(layer.name) takes \(n) input(s) and makes \(k), not \(inputs) and \(outputs)"
                )
            }
        }
    }

    typealias Builder = @Sendable (NCNNModel.Layer, inout Wiring) throws -> Op

    static let builders: [String: Builder] = [
        "Input": input,
        "MemoryData": memoryData,
        "ConvolutionDepthWise": groupedConvolution,
        "Convolution": convolution,
        "Deconvolution": deconvolution,
        "InnerProduct": innerProduct,
        "Pooling": pooling,
        "Reshape": reshape,
        "Permute": permute,
        "Flatten": flatten,
        "Crop": crop,
        "Padding": padding,
        "Slice": slice,
        "ReLU": relu,
        "Swish": swish,
        "Sigmoid": sigmoid,
        "TanH": tanh,
        "Clip": clip,
        "PReLU": prelu,
        "UnaryOp": unaryOp,
        "BinaryOp": binaryOp,
        "Eltwise": eltwise,
        "Split": split,
        "Concat": concat,
        "PixelShuffle": pixelShuffle,
        "Interp": interp,
    ]

    /// Input.
    static func input(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        try w.arity(0)
        return .input
    }

    /// MemoryData.
    static func memoryData(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        try w.arity(0)
        let w = max(l.int(0, 0), 1), h = max(l.int(1, 0), 1), c = max(l.int(2, 0), 1)
        guard let v = l.blobs["data"], v.count == w * h * c else {
            throw TensorError.format("ncnn graph: \(l.name) holds no data of \(w)×\(h)×\(c)")
        }
        // ncnn's 1-D (w) and 2-D (w, h) constants: stored as channels × 1 × 1 when they broadcast per channel.
        return
            l.int(1, 0) == 0 && l.int(2, 0) == 0
            ? .constant(Tensor(channels: w, height: 1, width: 1, data: v))
            : .constant(Tensor(channels: c, height: h, width: w, data: v))
    }

    /// Grouped (depthwise) or dilated convolution, computed directly.
    static func groupedConvolution(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        try w.arity(1)
        let d = try DirectConv(l)
        w.radius += d.dilation * (d.kernel - 1) / 2
        return .directConv(d, post: try NCNNGraph.fused(l))
    }

    /// Convolution (ungrouped: im2col/Winograd on the core's Conv2d).
    static func convolution(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        // grouped convolutions run directly
        if l.int(2, 1) != 1 { return try groupedConvolution(l, &w) }
        try w.arity(1)
        guard l.int(4, 0) == l.int(14, l.int(4, 0)), l.int(4, 0) >= 0, l.int(15, l.int(4, 0)) == l.int(4, 0),
            l.int(16, l.int(14, l.int(4, 0))) == l.int(4, 0)
        else {
            throw TensorError.format("ncnn graph: \(l.name): uneven or automatic padding is not supported yet")
        }
        let post = try NCNNGraph.fused(l)
        // ReLU/LeakyReLU fused into the kernel's output pass; the others applied after.
        let conv: Conv2d
        if case let .relu(s) = post {
            conv = try l.conv2d(name: l.name, activation: .leakyReLU(s))
        } else {
            conv = try l.conv2d(name: l.name, activation: Activation.none)
        }
        w.radius += (conv.kernel - 1) / 2
        if case .relu = post { return .conv(conv, post: .none) } else { return .conv(conv, post: post) }
    }

    /// Deconvolution.
    static func deconvolution(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        try w.arity(1)
        guard l.int(7, 1) == 1, l.int(2, 1) == 1, l.int(12, 1) == 1, l.int(11, l.int(1, 1)) == l.int(1, 1),
            l.int(13, l.int(3, 1)) == l.int(3, 1), l.int(18, 0) == 0, l.int(19, 0) == 0
        else {
            throw TensorError.format(
                "ncnn graph: \(l.name): only square, ungrouped, undilated deconvolutions are supported")
        }
        let pad = l.int(4, 0)
        guard pad >= 0, l.int(15, pad) == pad, l.int(14, pad) == pad, l.int(16, l.int(14, pad)) == pad else {
            throw TensorError.format("ncnn graph: \(l.name): uneven deconvolution padding is not supported")
        }
        let out = l.int(0, 0), k = l.int(1, 1), stride = l.int(3, 1)
        guard let weight = l.blobs["weight"], out >= 1, (1...63).contains(k), (1...63).contains(stride), pad <= k,
            weight.count % (out * k * k) == 0
        else {
            throw TensorError.format("ncnn graph: \(l.name): bad deconvolution shape")
        }
        let inCh = weight.count / (out * k * k)
        // ncnn stores [out][in][k][k]; PyTorch's transposed convolution [in][out][k][k].
        var t = [Float](repeating: 0, count: weight.count)
        for o in 0..<out {
            for i in 0..<inCh {
                for j in 0..<(k * k) { t[(i * out + o) * k * k + j] = weight[(o * inCh + i) * k * k + j] }
            }
        }
        let post = try NCNNGraph.fused(l)
        w.radius += k / max(stride, 1)
        return .deconv(
            try ConvTranspose2d(
                name: l.name, inChannels: inCh, outChannels: out, kernel: k, stride: stride, padding: pad,
                weight: t, bias: l.blobs["bias"]), post: post)
    }

    /// InnerProduct.
    static func innerProduct(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        try w.arity(1)
        let out = l.int(0, 0)
        guard let w = l.blobs["weight"], out >= 1, w.count % out == 0 else {
            throw TensorError.format("ncnn graph: \(l.name): bad inner product")
        }
        return .innerProduct(
            weight: w, bias: l.blobs["bias"] ?? [Float](repeating: 0, count: out), outputs: out,
            post: try NCNNGraph.fused(l))
    }

    /// Pooling.
    static func pooling(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        try w.arity(1)
        guard (0...1).contains(l.int(0, 0)), l.int(7, 0) == 0 else {
            throw TensorError.format(
                "ncnn graph: \(l.name): only max and average pooling, not adaptive, are supported")
        }
        if l.int(4, 0) == 1 {
            return .globalPool(average: l.int(0, 0) == 1)
        } else {
            let kw = l.int(1, 0), kh = l.int(11, kw), sw = l.int(2, 1), sh = l.int(12, sw)
            let pl = l.int(3, 0), pr = l.int(14, pl), pt = l.int(13, pl), pb = l.int(15, pt)
            guard (1...63).contains(kw), (1...63).contains(kh), (1...63).contains(sw), (1...63).contains(sh),
                [pl, pr, pt, pb].allSatisfy({ (0...63).contains($0) }), (0...3).contains(l.int(5, 0))
            else {
                throw TensorError.format("ncnn graph: \(l.name): bad pooling parameters")
            }
            w.radius += max(kh, kw) / 2
            return .pool(
                average: l.int(0, 0) == 1, kernel: (kh, kw), stride: (sh, sw), pads: [pt, pb, pl, pr],
                mode: l.int(5, 0), countPads: l.int(6, 0) != 0)
        }
    }

    /// Reshape.
    static func reshape(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        try w.arity(1)
        guard l.int(3, 0) == 0, l.int(11, -233) == -233 else {
            throw TensorError.format("ncnn graph: \(l.name): 4-D and permuting reshapes are not supported")
        }
        let w = l.int(0, -233), h = l.int(1, -233), c = l.int(2, -233)
        let dims = c != -233 ? 3 : h != -233 ? 2 : 1
        guard [w, h, c].allSatisfy({ $0 == -233 || $0 >= -1 }) else {
            throw TensorError.format("ncnn graph: \(l.name): bad reshape")
        }
        return .reshape(w: w, h: dims >= 2 ? h : 1, c: dims == 3 ? c : 1, dims: dims)
    }

    /// Permute.
    static func permute(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        try w.arity(1)
        guard (0...5).contains(l.int(0, 0)) else {
            throw TensorError.format(
                "ncnn graph: \(l.name): Permute order \(l.int(0, 0)) is not supported (3-D orders 0…5 are)")
        }
        return .permute(NCNNGraph.permuteOrders[l.int(0, 0)])
    }

    /// Flatten.
    static func flatten(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        try w.arity(1)
        return .flatten
    }

    /// Crop.
    static func crop(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        try w.arity(1)
        var starts = [0, 0, 0], ends = [Int.max, Int.max, Int.max]
        if let st = l.arrays[9], let en = l.arrays[10] {
            let axes = l.arrays[11] ?? (0..<st.count).map { Float($0) }
            guard st.count == en.count, st.count == axes.count else {
                throw TensorError.format("ncnn graph: \(l.name): crop arrays differ in length")
            }
            for (j, a) in axes.enumerated() {
                let axis = Int(a) < 0 ? Int(a) + 3 : Int(a)
                guard (0...2).contains(axis) else {
                    throw TensorError.format("ncnn graph: \(l.name): crop axis \(Int(a))")
                }
                starts[axis] = Int(st[j])
                ends[axis] = Int(en[j]) == 0 && en[j] == 0 ? Int.max : Int(en[j])
            }
        } else {
            // woffset 0, hoffset 1, coffset 2, outw 3, outh 4, outc 5, and the far offsets 6, 7, 8.
            starts = [l.int(2, 0), l.int(1, 0), l.int(0, 0)]
            let size = [l.int(5, 0), l.int(4, 0), l.int(3, 0)], far = [l.int(8, 0), l.int(7, 0), l.int(6, 0)]
            for a in 0..<3 { ends[a] = size[a] > 0 ? starts[a] + size[a] : (far[a] > 0 ? -far[a] : Int.max) }
        }
        return .crop(starts: starts, ends: ends)
    }

    /// Padding.
    static func padding(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        try w.arity(1)
        let t = l.int(0, 0), b = l.int(1, 0), lf = l.int(2, 0), r = l.int(3, 0), mode = l.int(4, 0)
        guard [t, b, lf, r].allSatisfy({ (0...4096).contains($0) }), (0...2).contains(mode), l.int(7, 0) == 0,
            l.int(8, 0) == 0
        else {
            throw TensorError.format("ncnn graph: \(l.name): unsupported padding")
        }
        return .padding(top: t, bottom: b, left: lf, right: r, mode: mode, value: l.float(5, 0))
    }

    /// Slice.
    static func slice(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        guard w.inputs == 1, w.outputs >= 1, l.int(1, 0) == 0, let parts = l.arrays[0],
            parts.count == w.outputs,
            parts.allSatisfy({ $0 == -233 || $0 >= 1 }), parts.filter({ $0 == -233 }).count <= 1
        else {
            throw TensorError.format(
                "ncnn graph: \(l.name): only a channel slice with explicit sizes is supported")
        }
        return .slice(parts.map { Int($0) })
    }

    /// ReLU.
    static func relu(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        try w.arity(1)
        return .activation(.relu(l.float(0, 0)))
    }

    /// Swish.
    static func swish(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        try w.arity(1)
        return .activation(.swish)
    }

    /// Sigmoid.
    static func sigmoid(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        try w.arity(1)
        return .activation(.sigmoid)
    }

    /// TanH.
    static func tanh(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        try w.arity(1)
        return .activation(.tanh)
    }

    /// Clip.
    static func clip(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        try w.arity(1)
        return .activation(.clip(l.float(0, -.infinity), l.float(1, .infinity)))
    }

    /// PReLU.
    static func prelu(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        try w.arity(1)
        guard let s = l.blobs["slope"] else { throw TensorError.format("ncnn graph: \(l.name) has no slopes") }
        return .prelu(s)
    }

    /// UnaryOp.
    static func unaryOp(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        try w.arity(1)
        guard [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 16].contains(l.int(0, 0)) else {
            throw TensorError.format("ncnn graph: \(l.name): UnaryOp \(l.int(0, 0)) is not supported")
        }
        return .unary(op: l.int(0, 0))
    }

    /// BinaryOp.
    static func binaryOp(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        let scalar = l.int(1, 0) != 0
        try w.arity(scalar ? 1 : 2)
        guard (0...9).contains(l.int(0, 0)) else {
            throw TensorError.format("ncnn graph: \(l.name): BinaryOp \(l.int(0, 0)) is not supported")
        }
        return .binary(op: l.int(0, 0), scalar: scalar ? l.float(2, 0) : nil)
    }

    /// Eltwise.
    static func eltwise(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        guard w.inputs >= 2, w.outputs == 1, (0...2).contains(l.int(0, 1)) else {
            throw TensorError.format("ncnn graph: \(l.name): unsupported Eltwise")
        }
        return .eltwise(op: l.int(0, 1), coeffs: l.arrays[1] ?? [])
    }

    /// Split.
    static func split(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        guard w.inputs == 1, w.outputs >= 1 else {
            throw TensorError.format("ncnn graph: \(l.name): a split has one input")
        }
        return .split
    }

    /// Concat.
    static func concat(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        guard w.inputs >= 1, w.outputs == 1, l.int(0, 0) == 0 else {
            throw TensorError.format("ncnn graph: \(l.name): only channel concatenation is supported")
        }
        return .concat
    }

    /// PixelShuffle.
    static func pixelShuffle(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        try w.arity(1)
        let r = l.int(0, 1)
        guard (1...8).contains(r), l.int(1, 0) == 0 else {
            throw TensorError.format(
                "ncnn graph: \(l.name): pixel shuffle \(r) mode \(l.int(1, 0)) is not supported")
        }
        return .pixelShuffle(r)
    }

    /// Interp.
    static func interp(_ l: NCNNModel.Layer, _ w: inout Wiring) throws -> Op {
        try w.arity(1)
        let mode = l.int(0, 0)
        guard (1...3).contains(mode) else {
            throw TensorError.format(
                "ncnn graph: \(l.name): Interp type \(mode) is not supported (nearest, bilinear and bicubic are)"
            )
        }
        return .interp(
            mode: mode, scaleH: l.float(1, 1), scaleW: l.float(2, 1), outH: l.int(3, 0), outW: l.int(4, 0),
            alignCorners: l.int(6, 0) != 0)
    }

}
