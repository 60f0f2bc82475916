import XCTest
import FilmCore
import TensorCore
import TestSupport

@testable import Restoration

final class UpscaleTests: XCTestCase {
    static var modelsDir: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("Models").path
    }

    func stage(_ opts: [String: String] = [:], input: StreamInfo) throws -> StageHarness {
        var o = opts
        o["models-dir"] = Self.modelsDir
        return try StageHarness("upscale", options: o, input: input)
    }

    /// `fit-aware`: the network works at the size the fit after it needs. An HD or 2K scan to
    /// 3840x2160 is made smaller first so the network's output lands 5 % above the fitted picture; a
    /// 640x480 one (x4 overshoots by 1.125 only) is left alone; without a fit, or without the option,
    /// nothing changes. The picture the fit makes is the same picture (≥ 30 dB against the unchanged
    /// chain on a smooth synthetic frame).
    func test_fitAware_networkWorksAtTheSizeTheFitNeeds() throws {
        let fit = try StageRegistry.make("fit", options: StageOptions(stage: "fit", values: ["size": "3840x2160"]))
        func size(_ w: Int, _ h: Int, aware: Bool = true, aimed: Bool = true, sar: Rational = .one) throws -> String {
            let up = try StageRegistry.make(
                "upscale",
                options: StageOptions(
                    stage: "upscale",
                    values: ["model": "raisr", "fit-aware": "\(aware)", "models-dir": Self.modelsDir]))
            if aimed { (up as? OutputAware)?.aim(at: try XCTUnwrap(fit as? SizeTarget)) }
            let out = try up.configure(streamInfo(width: w, height: h, sar: sar))
            return "\(out.width)x\(out.height)"
        }
        XCTAssertEqual(try size(1440, 1080), "3024x2268")  // 756x567 into the network, fitted to 2880x2160
        XCTAssertEqual(try size(1920, 1080), "4032x2268")
        XCTAssertEqual(try size(2048, 1556), "2988x2268")  // 2K full aperture: pillarboxed 2842x2160
        XCTAssertEqual(try size(640, 480), "2560x1920")  // overshoot 1.125 ≤ 1.3: as it was
        XCTAssertEqual(try size(1440, 1080, aware: false), "5760x4320")
        XCTAssertEqual(try size(1440, 1080, aimed: false), "5760x4320")
        // Anamorphic (SAR 4/3, shown 16:9): made square on the way, 5 % above 3840x2160 on both axes.
        XCTAssertEqual(try size(1440, 1080, sar: Rational(4, 3)), "4032x2268")

        // The same picture: the whole chain (upscale → fit) with and without the option.
        let input = streamInfo(width: 720, height: 540)
        let f = syntheticFrame(width: 720, height: 540, index: 2)
        var outs: [Frame] = []
        for aware in [true, false] {
            let up = try StageRegistry.make(
                "upscale",
                options: StageOptions(
                    stage: "upscale",
                    values: ["model": "raisr", "fit-aware": "\(aware)", "models-dir": Self.modelsDir]))
            let fit2 = try StageRegistry.make("fit", options: StageOptions(stage: "fit", values: ["size": "1280x720"]))
            (up as? OutputAware)?.aim(at: try XCTUnwrap(fit2 as? SizeTarget))
            let mid = try StageHarness(stage: up, input: input)
            let last = try StageHarness(stage: fit2, input: mid.output)
            if aware { XCTAssertEqual(mid.output.width, 1008) }  // 252x189 into the network, not 720x540
            let m = try XCTUnwrap(try mid.push(f).first)
            outs.append(try XCTUnwrap(try last.push(m).first))
        }
        XCTAssertEqual(outs[0].width, 1280)
        let p = psnr(outs[0], outs[1])
        XCTAssertGreaterThanOrEqual(p, 30, "fit-aware against the unchanged chain: \(p) dB")
    }

    /// With `fit-aware`'s resize, the detail finer than the smaller network input holds is lost; `back-project`
    /// puts the frame's own detail back: the output scaled back to the frame's size (the report's fidelity)
    /// matches the frame far better than without it (27.8 → 52.5 dB here; the chain without the resize 62.4 dB:
    /// RAISR on a synthetic frame scales back almost exactly).
    func test_fitAware_backProjection_restoresTheFramesDetail() throws {
        let input = streamInfo(width: 720, height: 540)
        var f = syntheticFrame(width: 720, height: 540, index: 2)
        // detail of a 4.5-pixel period: beyond what 252x189 holds
        for c in f.planes.indices {
            for y in 0..<540 {
                for x in 0..<720 { f.planes[c][y * 720 + x] += 0.08 * sin(Float(x) * 1.4) * sin(Float(y) * 1.3) }
            }
        }
        func fidelity(aware: Bool, backProject: Bool) throws -> Double {
            let up = try StageRegistry.make(
                "upscale",
                options: StageOptions(
                    stage: "upscale",
                    values: [
                        "model": "raisr", "fit-aware": "\(aware)", "back-project": "\(backProject)",
                        "models-dir": Self.modelsDir,
                    ]))
            let fit = try StageRegistry.make("fit", options: StageOptions(stage: "fit", values: ["size": "1280x720"]))
            (up as? OutputAware)?.aim(at: try XCTUnwrap(fit as? SizeTarget))
            let h = try StageHarness(stage: up, input: input)
            let out = try XCTUnwrap(try h.push(f).first)
            XCTAssertEqual(out.width, aware ? 1008 : 2880)
            return Fidelity.score(output: out, source: f).psnr
        }
        let without = try fidelity(aware: true, backProject: false)
        let with = try fidelity(aware: true, backProject: true)
        let unchanged = try fidelity(aware: false, backProject: true)
        print(
            String(
                format: "fidelity: fit-aware %.1f dB, with back-projection %.1f dB, no resize %.1f dB", without, with,
                unchanged))
        XCTAssertGreaterThanOrEqual(with, without + 15)
        XCTAssertLessThan(with, unchanged)
    }

    /// The precisions the tiling tests run, each with the bound on |tiled − whole|: fp32 (our core) everywhere,
    /// within float rounding; bf16 where oneDNN runs it natively (AVX512-BF16 or AMX), within half a bf16 step at
    /// 1.0 (2⁻⁹): the same inputs reach every output pixel, but oneDNN may split a sum differently for a tile's
    /// shape than for the whole frame's, and an activation a hair from a bf16 rounding boundary then rounds the
    /// other way.
    static var tilingPrecisions: [(precision: String, bound: Float)] {
        [("fp32", 1e-4)] + (OneDNN.bf16Available ? [("bf16", 1.0 / 512)] : [])
    }

    func test_upscale_tiledEqualsUntiled_onOddSizes() throws {
        let f = syntheticFrame(width: 37, height: 23, index: 3)
        for (precision, bound) in Self.tilingPrecisions {
            let whole = try stage(["precision": precision], input: streamInfo(width: 37, height: 23))
            // 5×3 tiles, pad 18
            let tiled = try stage(["tile": "8", "precision": precision], input: streamInfo(width: 37, height: 23))
            let a = try XCTUnwrap(try whole.push(f).first), b = try XCTUnwrap(try tiled.push(f).first)
            XCTAssertEqual(a.width, 148)
            XCTAssertEqual(a.height, 92)
            XCTAssertEqual(whole.output.width, 148)
            let maxErr = (try maxAbsDifference(a.planes.flatMap { $0 }, b.planes.flatMap { $0 }))
            print("tiled vs whole, \(precision): max abs difference \(maxErr)")
            XCTAssertLessThanOrEqual(maxErr, bound, precision)
            XCTAssertEqual(a.pts, f.pts)
        }
    }

    /// A memory budget the frame does not fit cuts it into bands of whole rows (overlapping above and below
    /// only), written straight into the output's planes: the same picture as the whole frame at once.
    func test_upscale_memoryBudget_bandsOfRowsEqualTheWholeFrame() throws {
        let f = syntheticFrame(width: 400, height: 300, index: 2)
        for (precision, bound) in Self.tilingPrecisions {
            let whole = try stage(["precision": precision], input: streamInfo(width: 400, height: 300))
            // 64 MiB at ~0.65 kB per input pixel: bands of 150 rows and 18 rows of overlap, 2 of them
            let banded = try stage(
                ["memory": "64", "precision": precision], input: streamInfo(width: 400, height: 300))
            let a = try XCTUnwrap(try whole.push(f).first), b = try XCTUnwrap(try banded.push(f).first)
            XCTAssertEqual(b.width, 1600)
            XCTAssertEqual(b.height, 1200)
            let maxErr = (try maxAbsDifference(a.planes.flatMap { $0 }, b.planes.flatMap { $0 }))
            print("banded vs whole, \(precision): max abs difference \(maxErr)")
            XCTAssertLessThanOrEqual(maxErr, bound, precision)
            let up = try XCTUnwrap(banded.stage as? UpscaleStage)
            let tile = up.tiling(width: 400, height: 300)
            XCTAssertEqual(tile.width, 400)
            XCTAssertEqual(tile.height, 150)
        }
    }

    /// A black-and-white frame's output is the mean of the network's three planes, made as the network writes
    /// them (one plane, not three), whole or in bands of rows: the same as the colour frame's planes averaged.
    func test_upscale_grayFrame_isTheMeanOfTheThreePlanes_wholeAndBanded() throws {
        let g = syntheticFrame(width: 400, height: 300, index: 3, layout: .gray)
        let colour = g.with(width: 400, height: 300, layout: .rgb, planes: [g.luma, g.luma, g.luma])
        for options in [[:], ["memory": "64"]] {
            let grayStage = try stage(options, input: streamInfo(width: 400, height: 300, layout: .gray))
            let rgbStage = try stage(options, input: streamInfo(width: 400, height: 300))
            let a = try XCTUnwrap(try grayStage.push(g).first), b = try XCTUnwrap(try rgbStage.push(colour).first)
            XCTAssertEqual(a.planes.count, 1)
            XCTAssertEqual(b.planes.count, 3)
            let mean = (0..<b.planes[0].count).map { (b.planes[0][$0] + b.planes[1][$0] + b.planes[2][$0]) / 3 }
            // the colour planes are clipped before their mean, the gray one after: equal where none is clipped
            let clippedNowhere = mean.indices.filter { i in b.planes.allSatisfy { $0[i] > 0 && $0[i] < 1 } }
            XCTAssertGreaterThan(clippedNowhere.count, mean.count / 2)
            let err = clippedNowhere.map { abs(a.planes[0][$0] - mean[$0]) }.max() ?? 1
            XCTAssertLessThanOrEqual(err, 1e-5, "options \(options)")
        }
    }

    /// An ncnn graph on the graph runner (SPAN) tiles as the hand-written networks do: the
    /// receptive radius comes from the graph.
    func test_upscale_graphModel_tiledEqualsUntiled() throws {
        let f = syntheticFrame(width: 37, height: 23, index: 5)
        let whole = try stage(["model": "spanx4_ch48"], input: streamInfo(width: 37, height: 23))
        let tiled = try stage(["model": "spanx4_ch48", "tile": "12"], input: streamInfo(width: 37, height: 23))
        let a = try XCTUnwrap(try whole.push(f).first), b = try XCTUnwrap(try tiled.push(f).first)
        XCTAssertEqual(a.width, 148)
        XCTAssertEqual(a.height, 92)
        let maxErr = (try maxAbsDifference(a.planes.flatMap { $0 }, b.planes.flatMap { $0 }))
        XCTAssertLessThanOrEqual(maxErr, 1e-4)
        XCTAssertGreaterThan(psnr(a, b), 80)
    }

    func test_upscale_grayStaysGray_andLooksLikeTheSource() throws {
        let f = syntheticFrame(width: 40, height: 30, index: 0, layout: .gray)
        let h = try stage(input: streamInfo(width: 40, height: 30, layout: .gray))
        let out = try XCTUnwrap(try h.push(f).first)
        XCTAssertEqual(out.layout, .gray)
        XCTAssertEqual(out.planes.count, 1)
        // downscaled back, the ×4 result matches its source
        let down = try StageHarness(
            "fit", options: ["size": "40x30"], input: streamInfo(width: 160, height: 120, layout: .gray))
        let back = try XCTUnwrap(try down.push(out).first)
        XCTAssertGreaterThan(psnr(back, f), 25)  // measured 27.3 dB: the network re-synthesizes fine texture
    }

    func test_upscale_missingModel_saysMakeModels() throws {
        XCTAssertThrowsError(
            try StageHarness(
                "upscale", options: ["model": "realesr-animevideov3", "models-dir": "/nonexistent"],
                input: streamInfo(width: 8, height: 8))
        ) {
            XCTAssertTrue("\($0)".contains("make models"), "\($0)")
        }
        // The vendored model (committed in Models/) is found whatever folder the downloaded ones are in.
        let h = try StageHarness(
            "upscale", options: ["models-dir": "/nonexistent"], input: streamInfo(width: 8, height: 8))
        XCTAssertEqual((h.stage as? UpscaleStage)?.network.scale, 4)
        XCTAssertThrowsError(
            try StageHarness(
                "upscale", options: ["model": "realesr-animevideov3", "denoise": "0.3"],
                input: streamInfo(width: 8, height: 8))
        ) {
            XCTAssertTrue("\($0)".contains("denoise strength is for realesr-general-x4v3 only"), "\($0)")
        }
    }
}
