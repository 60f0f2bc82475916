import XCTest
import FilmCore
import Restoration
import TensorCore
import TestSupport

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

    func test_upscale_tiledEqualsUntiled_onOddSizes() throws {
        let f = syntheticFrame(width: 37, height: 23, index: 3)
        let whole = try stage(input: streamInfo(width: 37, height: 23))
        let tiled = try stage(["tile": "8"], input: streamInfo(width: 37, height: 23))  // 5×3 tiles, pad 18
        let a = try XCTUnwrap(try whole.push(f).first), b = try XCTUnwrap(try tiled.push(f).first)
        XCTAssertEqual(a.width, 148)
        XCTAssertEqual(a.height, 92)
        XCTAssertEqual(whole.output.width, 148)
        let maxErr = zip(a.planes.flatMap { $0 }, b.planes.flatMap { $0 }).map { abs($0 - $1) }.max()!
        XCTAssertLessThanOrEqual(maxErr, 1e-4)
        XCTAssertEqual(a.pts, f.pts)
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
        let maxErr = zip(a.planes.flatMap { $0 }, b.planes.flatMap { $0 }).map { abs($0 - $1) }.max()!
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
