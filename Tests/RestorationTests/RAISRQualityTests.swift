import XCTest
import FilmCore
import MediaIO
import Networks
import TensorCore
import TestSupport
@testable import Restoration

/// RAISR's gain over bicubic, measured as the super-resolution literature does: Y of BT.601,
/// the picture made ×4 smaller by MATLAB's antialiased bicubic, enlarged back, PSNR with a 4-pixel
/// border shaved. On the committed public-domain/CC0 photos always; on Set5/Set14 (held out from
/// training, terms unstated, so not fixtures) when `../shared` is present.
final class RAISRQualityTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Mean Y-PSNR of bicubic and of RAISR (with its census blending) over the pictures.
    func gain(_ paths: [String], model: RAISR) throws -> (bicubic: Double, raisr: Double) {
        var sums = (0.0, 0.0)
        let s = model.scale
        for path in paths {
            let f = try XCTUnwrap(try MediaReader(path: path).nextFrame(), path).promotedToRGB()
            let w = f.width / s * s, h = f.height / s * s
            var y = [Double](repeating: 0, count: w * h)
            for r in 0..<h {
                for c in 0..<w {
                    let i = r * f.width + c
                    let red = Double(f.planes[0][i]), green = Double(f.planes[1][i]), blue = Double(f.planes[2][i])
                    y[r * w + c] = (16 + 65.481 * red + 128.553 * green + 24.966 * blue) / 255
                }
            }
            let small = MatlabResize.resize(y, width: w, height: h, scale: 1 / Double(s))
            let lw = w / s, lh = h / s
            let bicubic = MatlabResize.resize(small, width: lw, height: lh, scale: Double(s))
            let cheap = MatlabResize.resize(small.map { Float($0) }, width: lw, height: lh, scale: Double(s))
            let filtered = model.upscaleLuma(small, width: lw, height: lh)
            let ours = RAISR.censusBlend(cheap: cheap, refined: filtered, width: w, height: h)
            func psnr(_ v: (Int) -> Double) -> Double {
                var se = 0.0, n = 0
                for r in s..<(h - s) {
                    for c in s..<(w - s) {
                        let d = min(max(v(r * w + c), 0), 1) - y[r * w + c]
                        se += d * d
                        n += 1
                    }
                }
                return 10 * log10(Double(n) / se)
            }
            sums.0 += psnr { bicubic[$0] }
            sums.1 += psnr { Double(ours[$0]) }
        }
        return (sums.0 / Double(paths.count), sums.1 / Double(paths.count))
    }

    func model() throws -> RAISR {
        try RAISR(contentsOf: Self.root.appendingPathComponent("Models/raisr/raisr-x4.bin"))
    }

    func test_x4_beatsBicubic_onTheCommittedPhotos() throws {
        let paths = ["astronaut", "rocket", "coffee", "chelsea", "camera"].map {
            Self.root.appendingPathComponent("Tests/Fixtures/photos/\($0).png").path
        }
        let (bicubic, raisr) = try gain(paths, model: model())
        print("RAISR x4 committed photos: bicubic \(bicubic) dB, RAISR \(raisr) dB")
        XCTAssertGreaterThanOrEqual(raisr - bicubic, 0.3, "bicubic \(bicubic) dB, RAISR \(raisr) dB")
    }

    /// Through the `upscale` stage as a preset names it: ×4 (and ×2), a gray frame stays gray and
    /// one plane, values in 0…1, the filter file recorded for the report.
    func test_upscaleStage_withRAISR() throws {
        for (name, s) in [("raisr", 4), ("raisr-x2", 2)] {
            let stage = try XCTUnwrap(
                try StageRegistry.make("upscale", options: StageOptions(stage: "upscale", values: ["model": name]))
                    as? UpscaleStage)
            XCTAssertTrue(stage.modelFiles.contains { $0.hasSuffix("\(name == "raisr" ? "raisr-x4" : name).bin") })
            let w = 40, h = 30
            let plane = (0..<(w * h)).map { Float(($0 % w) / 8 % 2) * 0.8 + 0.1 }
            let info = StreamInfo(
                width: w, height: h, layout: .gray, frameRate: Rational(24), averageRate: Rational(24), color: .bt709)
            let out = try stage.configure(info)
            XCTAssertEqual([out.width, out.height], [w * s, h * s])
            var got: [Frame] = []
            try stage.process(
                Frame(width: w, height: h, layout: .gray, planes: [plane], pts: .zero, duration: Rational(1, 24))
            ) { got.append($0) }
            let f = try XCTUnwrap(got.first)
            XCTAssertEqual([f.width, f.height, f.planes.count], [w * s, h * s, 1])
            XCTAssertTrue(f.planes[0].allSatisfy { (0...1).contains($0) })
            // the stripes' edges sharper than bicubic would make them: more pixels near the two levels
            let near = f.planes[0].filter { abs($0 - 0.1) < 0.05 || abs($0 - 0.9) < 0.05 }.count
            XCTAssertGreaterThan(Double(near) / Double(f.planes[0].count), 0.6)
        }
    }

    func test_x4_beatsBicubic_onSet5AndSet14() throws {
        let shared = Self.root.deletingLastPathComponent().appendingPathComponent("shared/data/sr")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: shared.path), "../shared/data/sr not present")
        for set in ["Set5", "Set14"] {
            let folder = shared.appendingPathComponent(set)
            let paths = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".png") }
                .sorted().map { folder.appendingPathComponent($0).path }
            let (bicubic, raisr) = try gain(paths, model: model())
            print("RAISR x4 \(set): bicubic \(bicubic) dB, RAISR \(raisr) dB")
            XCTAssertGreaterThanOrEqual(raisr - bicubic, 0.3, "\(set): bicubic \(bicubic) dB, RAISR \(raisr) dB")
        }
    }
}
