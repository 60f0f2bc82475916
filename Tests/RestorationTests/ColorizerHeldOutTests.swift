import XCTest
import Foundation
import FilmCore
import MediaIO
import Restoration
import TestSupport

/// The default colorizer on the held-out photos of its training corpus (the report half of the
/// validation split: names in Tests/Fixtures/colorizer/heldout-report.txt, never trained on, not used
/// to choose the decoding), rendered gray, through the colorize stage as the product runs it.
/// Needs the corpus beside the checkout (../shared/data/colorize-train; its photos are research-only
/// and not shipped): skipped without it.
final class ColorizerHeldOutTests: XCTestCase {
    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    func test_heldOutPhotos_chromaErrorWellBelowConstantMean_colorfulnessAbove055() throws {
        let corpus = Self.root.deletingLastPathComponent().appendingPathComponent("shared/data/colorize-train")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: corpus.path), "no training corpus at \(corpus.path)")
        let names = try String(
            contentsOf: Self.root.appendingPathComponent("Tests/Fixtures/colorizer/heldout-report.txt"), encoding: .utf8
        )
        .split(separator: "\n").map(String.init)
        let m = YCbCrMatrix(kr: 0.299, kb: 0.114)
        let meanCb: Float = -0.0361, meanCr: Float = 0.0117  // the training photos' mean chroma
        var se = 0.0, se0 = 0.0, count = 0.0
        var ratios: [Double] = []
        func colorfulness(_ p: [[Float]]) -> Double {
            let rg = zip(p[0], p[1]).map { Double($0 - $1) },
                yb = (0..<p[0].count).map { Double(0.5 * (p[0][$0] + p[1][$0]) - p[2][$0]) }
            func ms(_ v: [Double]) -> (Double, Double) {
                let mu = v.reduce(0, +) / Double(v.count)
                return (mu, (v.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(v.count)).squareRoot())
            }
            let (a, sa) = ms(rg), (b, sb) = ms(yb)
            return (sa * sa + sb * sb).squareRoot() + 0.3 * (a * a + b * b).squareRoot()
        }
        for name in names {
            let reader = try MediaReader(path: corpus.appendingPathComponent(name).path)
            guard let photo = try reader.nextFrame()?.promotedToRGB() else { continue }
            let n = photo.width * photo.height
            var y = [Float](repeating: 0, count: n), cb = y, cr = y
            for i in 0..<n {
                (y[i], cb[i], cr[i]) = m.ycbcr(r: photo.planes[0][i], g: photo.planes[1][i], b: photo.planes[2][i])
            }
            var gray = Frame(
                width: photo.width, height: photo.height, layout: .gray, planes: [y], pts: .zero,
                duration: Rational(1, 24))
            gray.properties.color = photo.properties.color
            let stage = try StageRegistry.make("colorize", options: StageOptions(stage: "colorize"))
            let h = try StageHarness(
                stage: stage, input: streamInfo(width: photo.width, height: photo.height, layout: .gray))
            try h.push(gray)
            try h.finish()
            let out = h.emitted[0]
            for i in 0..<n {
                let (_, ob, or) = m.ycbcr(r: out.planes[0][i], g: out.planes[1][i], b: out.planes[2][i])
                se += Double((ob - cb[i]) * (ob - cb[i]) + (or - cr[i]) * (or - cr[i]))
                se0 += Double((meanCb - cb[i]) * (meanCb - cb[i]) + (meanCr - cr[i]) * (meanCr - cr[i]))
            }
            count += Double(n)
            ratios.append(colorfulness(out.planes) / max(colorfulness(photo.planes), 1e-6))
        }
        let ours = (se / count).squareRoot(), constant = (se0 / count).squareRoot(),
            ratio = ratios.reduce(0, +) / Double(ratios.count)
        print(
            String(
                format: "held-out photos (%d): chroma RMSE %.4f vs constant mean chroma %.4f; colorfulness ratio %.3f",
                ratios.count, ours, constant, ratio))
        XCTAssertEqual(ratios.count, names.count)
        // measured 0.0960 vs 0.1015 (5.4 % below), colourfulness 0.584 (Models/colorizer/MODEL_CARD.md)
        XCTAssertLessThan(ours, 0.96 * constant)
        XCTAssertGreaterThanOrEqual(ratio, 0.55)
    }
}
