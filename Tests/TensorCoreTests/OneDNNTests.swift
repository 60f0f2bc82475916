import Foundation
import Networks
import TensorCore
import TestSupport
import XCTest

/// The oneDNN path (bf16 weights and activations, fp32 accumulation) against our fp32 core, the reference.
/// bf16's numbers are checked on every CPU through the emulated precision (oneDNN's fp32 kernels on bf16-rounded
/// weights and activations); the native bf16 kernels too where oneDNN runs them (AVX-512 and later: Debian's
/// oneDNN 2.6 refuses bf16 on AVX2-only CPUs).
final class OneDNNTests: XCTestCase {
    /// The lower precisions this CPU can run.
    static var lowPrecisions: [Precision] { [.bf16Emulated] + (OneDNN.bf16Available ? [.bf16] : []) }

    override class func setUp() {
        print("oneDNN \(OneDNN.version) on \(OneDNN.isa): native bf16 \(OneDNN.bf16Available ? "runs" : "refused")")
    }

    /// Deterministic values in ±1 (TestSupport's seeded generator: tests repeat exactly).
    static func values(_ n: Int, seed: UInt64) -> [Float] {
        var g = SplitMix64(seed)
        return (0..<n).map { _ in g.nextUnit() * 2 - 1 }
    }

    static func conv(
        _ name: String, _ ic: Int, _ oc: Int, k: Int, stride: Int = 1, padding: Int? = nil,
        activation: Activation = .none, seed: UInt64
    ) throws -> Conv2d {
        let scale = 1 / Float(ic * k * k).squareRoot()
        return try Conv2d(
            name: name, inChannels: ic, outChannels: oc, kernel: k, stride: stride, padding: padding,
            weight: values(oc * ic * k * k, seed: seed).map { $0 * scale }, bias: values(oc, seed: seed + 1),
            activation: activation)
    }

    /// fp32 on oneDNN is the same arithmetic as the definition: every kernel size, stride, padding and activation.
    func test_fp32_singleLayers_matchTheDefinition() throws {
        let cases: [(Int, Int, Int, Int, Int?, Activation)] = [
            (3, 16, 3, 1, nil, .none), (16, 16, 3, 1, nil, .prelu(Self.values(16, seed: 9).map { abs($0) * 0.3 })),
            (8, 12, 3, 2, 1, .leakyReLU(0.2)), (12, 5, 1, 1, 0, .none), (4, 8, 5, 1, 2, .prelu([0.25])),
            (6, 4, 4, 2, 1, .none),
        ]
        for (i, (ic, oc, k, s, p, act)) in cases.enumerated() {
            let c = try Self.conv("case\(i)", ic, oc, k: k, stride: s, padding: p, activation: act, seed: UInt64(i * 7))
            let x = Tensor(channels: ic, height: 19, width: 23, data: Self.values(ic * 19 * 23, seed: UInt64(100 + i)))
            let chain = try DNNLChain([c], height: 19, width: 23, precision: .fp32)
            let y = try chain.run(x)
            let ref = c.reference(x)
            XCTAssertEqual(y.shape, ref.shape, "case \(i)")
            let err = try maxAbsDifference(y.data, ref.data)
            XCTAssertLessThanOrEqual(err, 2e-5, "case \(i): \(ic)→\(oc) k\(k) s\(s): max abs error \(err)")
            XCTAssertFalse(chain.implementations[0].isEmpty)
        }
    }

    /// A chain keeps its activations in oneDNN's layouts between the layers: the same result as the layers one
    /// by one (fp32), and bf16 within bf16's rounding of it.
    func test_chain_equalsTheLayersOneByOne_andBF16StaysClose() throws {
        let convs = [
            try Self.conv(
                "a", 3, 16, k: 3, activation: .prelu(Self.values(16, seed: 3).map { abs($0) * 0.2 }), seed: 1),
            try Self.conv("b", 16, 16, k: 3, activation: .leakyReLU(0.1), seed: 2),
            try Self.conv("c", 16, 12, k: 3, seed: 4),
        ]
        let x = Tensor(
            channels: 3, height: 30, width: 26, data: Self.values(3 * 30 * 26, seed: 77).map { $0 * 0.5 + 0.5 })
        var ref = x
        for c in convs { ref = c.reference(ref) }
        let fp32 = try DNNLChain(convs, height: 30, width: 26, precision: .fp32).run(x)
        XCTAssertLessThanOrEqual(try maxAbsDifference(fp32.data, ref.data), 5e-5)
        var outputs: [Precision: [Float]] = [:]
        for p in Self.lowPrecisions {
            let chain = try DNNLChain(convs, height: 30, width: 26, precision: p)
            let y = try chain.run(x)
            let range = (ref.data.max()! - ref.data.min()!)
            let err = try maxAbsDifference(y.data, ref.data)
            print(
                "oneDNN chain \(p) (\(chain.implementations.joined(separator: ", "))): max abs error \(err), range \(range)"
            )
            // bf16 keeps 8 significant bits: errors of a few 2⁻⁸ of the values, never the fp32 path's 1e-5
            XCTAssertLessThanOrEqual(err, 0.05 * range, "\(p)")
            XCTAssertGreaterThan(err, 1e-4, "\(p) gave fp32's numbers: nothing was rounded")
            XCTAssertGreaterThanOrEqual(psnr(y.data.map { $0 / range }, ref.data.map { $0 / range }), 40, "\(p)")
            outputs[p] = y.data
        }
        // the native kernels round as the emulation does: the two differ by summation order only
        if let native = outputs[.bf16], let emulated = outputs[.bf16Emulated] {
            XCTAssertLessThanOrEqual(try maxAbsDifference(native, emulated), 2e-3)
        }
    }

    /// Rounding to bf16: to nearest, ties to even, 8 significant bits; infinities and NaN stay.
    func test_roundToBF16_isRoundToNearestEven() {
        var v: [Float] = [1, 1 + 1 / 256, 1 + 3 / 256, 1 + 1 / 512, -2.5, .infinity, 3.0e38]
        OneDNN.roundToBF16(&v)
        XCTAssertEqual(Array(v.prefix(5)), [1, 1, 1 + 4 / 256, 1, -2.5])  // 1+1/256 ties to even (1), 1+3/256 up
        XCTAssertEqual(v[5], .infinity)
        XCTAssertEqual(v[6], 226 * 0x1p120)  // steps of 2¹²⁰ up there: 3e38 / 2¹²⁰ = 225.7
    }

    /// Where oneDNN has no bf16 kernels the native precision is a clear error, never a trap.
    func test_nativeBF16_whereRefused_isAnErrorNamingIt() throws {
        try XCTSkipIf(OneDNN.bf16Available, "this CPU runs bf16 natively (\(OneDNN.isa))")
        let c = try Self.conv("n", 16, 16, k: 3, seed: 3)
        XCTAssertThrowsError(try DNNLChain([c], height: 16, width: 16, precision: .bf16)) {
            XCTAssertTrue("\($0)".contains("oneDNN"), "\($0)")
        }
    }

    /// Which kernels oneDNN picks for the networks' typical layers (printed for the record; fp32 must run).
    func test_kernelChoice_forTypicalLayers() throws {
        for act in [Activation.none, .leakyReLU(0.2), .prelu(Self.values(64, seed: 2).map { abs($0) })] {
            let c = try Self.conv("t", 64, 64, k: 3, activation: act, seed: 1)
            for p in [Precision.fp32] + Self.lowPrecisions {
                let chain = try DNNLChain([c], height: 64, width: 64, precision: p)
                print("64→64 3x3 \(act) \(p): \(chain.implementations[0])")
            }
        }
    }

    /// Through a workspace: every layer of a network follows `workspace.precision`.
    func test_workspacePrecision_routesTheLayers_andNothingFallsBack() throws {
        let c = try Self.conv("w", 8, 16, k: 3, activation: .leakyReLU(0.2), seed: 5)
        let x = Tensor(channels: 8, height: 32, width: 40, data: Self.values(8 * 32 * 40, seed: 6))
        let fp32 = try c.forward(x, workspace: Workspace())
        for p in Self.lowPrecisions {
            let ws = Workspace()
            ws.precision = p
            let y = try c.forward(x, workspace: ws)
            XCTAssertEqual(ws.fallbacks, 0, ws.fallbackReason ?? "")
            let err = try maxAbsDifference(y.data, fp32.data)
            XCTAssertGreaterThan(err, 1e-4, "the \(p) path did not run")
            XCTAssertLessThanOrEqual(err, 0.05)
        }
    }

    func test_badChain_isAnError_notATrap() {
        XCTAssertThrowsError(try DNNLChain([], height: 8, width: 8, precision: .bf16))
        let a = try! Self.conv("a", 3, 8, k: 3, seed: 1), b = try! Self.conv("b", 4, 8, k: 3, seed: 2)
        XCTAssertThrowsError(try DNNLChain([a, b], height: 8, width: 8, precision: .bf16Emulated)) {
            XCTAssertTrue("\($0)".contains("4 channels after 8"), "\($0)")
        }
        XCTAssertThrowsError(
            try DNNLChain([a], height: 8, width: 8, precision: .fp32).run(
                Tensor(channels: 3, height: 9, width: 8)))
    }

    // MARK: the published networks, bf16 against fp32

    /// Checks a network's output at each lower precision against its fp32 output: PSNR (peak 1) ≥ 40 dB, no layer
    /// fallen back to fp32, the numbers changed (the path ran), counts equal and no NaN.
    func assertBF16Close(
        _ name: String, file: StaticString = #filePath, line: UInt = #line, _ run: (Workspace) throws -> [Float]
    ) throws {
        let fp32 = try run(Workspace())
        for precision in Self.lowPrecisions {
            let ws = Workspace()
            ws.precision = precision
            let started = Date()
            let y = try run(ws)
            XCTAssertEqual(ws.fallbacks, 0, "\(name): \(ws.fallbackReason ?? "")", file: file, line: line)
            XCTAssertEqual(fp32.count, y.count, file: file, line: line)
            XCTAssertFalse(y.contains { $0.isNaN }, file: file, line: line)
            XCTAssertTrue(fp32 != y, "\(name): \(precision) gave fp32's numbers", file: file, line: line)
            let p = psnr(y, fp32)
            print(
                String(
                    format: "%@ vs fp32, %@: %.2f dB (%.2f s, oneDNN on %@)", precision.rawValue, name, p,
                    Date().timeIntervalSince(started), OneDNN.isa))
            XCTAssertGreaterThanOrEqual(p, 40, "\(name) at \(precision)", file: file, line: line)
        }
    }

    func test_bf16_upscalers_onRealWeights_within40dBOfFP32() throws {
        for (model, file, w, h) in [
            ("realesr-animevideov3", "realesr-animevideov3-x4", 24, 20),
            ("realesr-general-x4v3", "realesr-general-x4v3", 24, 20),
            ("realesrgan-x4plus", "realesrgan-x4plus", 16, 12),
            ("spanx4_ch48", "4xSPANkendata", 24, 20),
        ] {
            let net = try SuperResolutionModels.load(model, modelsDir: NCNNTests.modelsDir)
            let url = NCNNTests.fixtures.appendingPathComponent(file + ".input.f32")
            let input = try readFloat32(url)
            let x = Tensor(channels: 3, height: h, width: w, data: Array(input.prefix(3 * h * w)))
            try assertBF16Close(model) { try net.forward(x, workspace: $0).data }
        }
    }

    func test_bf16_RIFE_onRealWeights_within40dBOfFP32() throws {
        let net = try XCTUnwrap(IFNetTests.net, "run `make models`")
        func frame(_ n: String) throws -> Tensor {
            Tensor(
                channels: 3, height: 128, width: 128,
                data: try Data(contentsOf: IFNetTests.fixtures.appendingPathComponent(n)).map { Float($0) / 255 })
        }
        let i0 = try frame("small-motion.frame0.u8"), i1 = try frame("small-motion.frame1.u8")
        try assertBF16Close("rife-v4.0") {
            try net.interpolate(
                i0, i1, timestep: 0.5, scaleList: IFNet.defaultScaleList, ensemble: false, refine: false, workspace: $0
            ).data
        }
    }

    func test_bf16_filmColorizer_onShippedWeights_within40dBOfFP32() throws {
        let net = try BinColorizers.load(
            CompactColorizerTests.root.appendingPathComponent("Models/colorizer/film-colorizer.safetensors"))
        let fx = CompactColorizerTests.root.appendingPathComponent("Tests/Fixtures/colorizer-film/exported")
        let note =
            try JSONSerialization.jsonObject(with: Data(contentsOf: fx.appendingPathComponent("README.json")))
            as! [String: Any]
        let h = note["height"] as! Int, w = note["width"] as! Int
        let input = try readFloat32(fx.appendingPathComponent("input.f32"))
        // the decoded chroma (±0.5 at most) on a peak of 1
        try assertBF16Close("film colorizer") { ws in
            let (cb, cr) = net.decode(try net.logits(input, height: h, width: w, workspace: ws))
            return cb + cr
        }
    }
}
