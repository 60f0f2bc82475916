import XCTest
import FilmCore
@testable import Restoration
import TestSupport

/// The fidelity figure of the report: high for an honest ×4 upscale of the source, low for a frame
/// whose content is another picture.
final class FidelityTests: XCTestCase {
    func test_honestUpscaleScoresHigh_replacedFrameScoresLow() throws {
        let source = syntheticFrame(width: 96, height: 72, index: 3)
        let upscaler = try StageHarness("upscale", options: [:], input: streamInfo(width: 96, height: 72))
        let honest = try XCTUnwrap(try upscaler.push(source).first)
        XCTAssertEqual(honest.width, 384)
        let good = Fidelity.score(output: honest, source: source)
        // Another picture of the same kind: the source mirrored (same colors, same texture, other places).
        let mirrored = source.with(
            width: 96, height: 72,
            planes: source.planes.map { p in
                (0..<72).flatMap { y in (0..<96).map { x in p[y * 96 + 95 - x] } }
            })
        let replaced = try XCTUnwrap(try upscaler.push(mirrored).first)
        let bad = Fidelity.score(output: replaced, source: source)
        // Measured with realesr-animevideov3 (the default then): honest 30.3 dB / SSIM 0.889 (it smooths the fine synthetic texture),
        // replaced 13.4 dB / 0.005.
        XCTAssertGreaterThan(good.psnr, 28)
        XCTAssertGreaterThan(good.ssim, 0.8)
        XCTAssertLessThan(bad.psnr, 20)
        XCTAssertLessThan(bad.ssim, 0.3)
        // Identity is perfect; the metric is symmetric in its inputs.
        XCTAssertEqual(Fidelity.score(output: source, source: source).ssim, 1, accuracy: 1e-4)  // float box sums
        let y0 = source.luma, y1 = mirrored.luma
        XCTAssertEqual(
            Fidelity.compare(y0, y1, width: 96, height: 72).ssim, Fidelity.compare(y1, y0, width: 96, height: 72).ssim,
            accuracy: 1e-9)
    }
}
