import Foundation
import Networks
import TensorCore
import TestSupport
import XCTest

/// RAISR's Swift inference against the training script's (Tools/train_raisr.py --fixture).
final class RAISRTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func test_upscale_equalsTheTrainingScript_x4_andRunsAsANetwork() throws {
        let model = try RAISR(contentsOf: Self.root.appendingPathComponent("Models/raisr/raisr-x4.bin"))
        XCTAssertEqual(model.scale, 4)
        XCTAssertEqual(try RAISR(contentsOf: Self.root.appendingPathComponent("Models/raisr/raisr-x2.bin")).scale, 2)
        let url = Self.root.appendingPathComponent("Tests/Fixtures/raisr/x4.json")
        let j = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let w = try XCTUnwrap(j["width"] as? Int), h = try XCTUnwrap(j["height"] as? Int)
        let y = try XCTUnwrap(j["luma"] as? [Double]), expected = try XCTUnwrap(j["output"] as? [Double])
        let blended = try XCTUnwrap(j["blended"] as? [Double])
        let got = model.upscaleLuma(y, width: w, height: h)
        XCTAssertEqual(got.count, expected.count)
        // accumulated in double, stored as float: within float rounding of the script's values
        let worst = (try maxAbsDifference(got, expected))
        XCTAssertLessThanOrEqual(worst, 1e-6, "largest difference from the training script")
        // the census blending with the cheap (MATLAB bicubic) upscale, as the script blends
        let cheap = MatlabResize.resize(y.map { Float($0) }, width: w, height: h, scale: 4)
        let mixed = RAISR.censusBlend(cheap: cheap, refined: got, width: 4 * w, height: 4 * h)
        let worstBlend = (try maxAbsDifference(mixed, blended))
        XCTAssertLessThanOrEqual(worstBlend, 1e-5, "blended: largest difference from the training script")
        XCTAssertGreaterThan(zip(mixed, got).filter { $0 != $1 }.count, mixed.count / 20, "the blend changed little")
        // through the network interface: RGB in, RGB ×4 out; a gray picture stays gray
        let gray = y.map { Float(($0 * 255 - 16) / 219) }
        let x = Tensor(channels: 3, height: h, width: w, data: gray + gray + gray)
        let out = try model.forward(x, workspace: Workspace())
        XCTAssertEqual([out.channels, out.height, out.width], [3, h * 4, w * 4])
        let m = out.height * out.width
        for i in stride(from: 0, to: m, by: 97) {
            XCTAssertEqual(out.data[i], out.data[m + i], accuracy: 1e-5)
            XCTAssertEqual(Double(out.data[i]), (blended[i] * 255 - 16) / 219, accuracy: 1e-4)
        }
    }

    /// The eight-at-a-time census blend against the one-pixel kernel: identical, on random planes
    /// with many ties (values on a coarse grid) and widths around the vector length.
    func test_censusBlend_vectorKernel_equalsPlain() {
        var rng = SystemRandomNumberGenerator()
        for (w, h) in [(1, 1), (1, 5), (5, 3), (9, 4), (10, 7), (17, 2), (37, 11), (64, 9)] {
            let cheap = (0..<(w * h)).map { _ in Float(Int.random(in: 0...6, using: &rng)) / 6 }
            let refined = (0..<(w * h)).map { _ in Float.random(in: 0...1, using: &rng) }
            let fast = RAISR.censusBlend(cheap: cheap, refined: refined, width: w, height: h)
            let plain = RAISR.censusBlendPlain(cheap: cheap, refined: refined, width: w, height: h)
            XCTAssertEqual(fast, plain, "\(w)x\(h)")
        }
    }

    /// MATLAB's resize: enlarging runs columns first, shrinking rows first; both equal the
    /// straightforward two-pass sum, and a constant stays constant.
    func test_matlabResize_bothOrders_andConstants() {
        let w = 13, h = 7
        let plane = (0..<(w * h)).map { Double(($0 * 37) % 11) / 10 }
        for scale in [4.0, 2.0, 0.5] {
            let got = MatlabResize.resize(plane, width: w, height: h, scale: scale)
            let tr = MatlabResize.taps(input: h, scale: scale), tc = MatlabResize.taps(input: w, scale: scale)
            for y in 0..<tr.outputs {
                for x in 0..<tc.outputs {
                    var v = 0.0
                    for a in 0..<tr.count {
                        for b in 0..<tc.count {
                            v +=
                                tr.weights[y * tr.count + a] * tc.weights[x * tc.count + b]
                                * plane[tr.indices[y * tr.count + a] * w + tc.indices[x * tc.count + b]]
                        }
                    }
                    XCTAssertEqual(got[y * tc.outputs + x], v, accuracy: 1e-12)
                }
            }
            let flat = MatlabResize.resize([Float](repeating: 0.25, count: w * h), width: w, height: h, scale: scale)
            XCTAssertEqual(flat.count, MatlabResize.length(w, scale: scale) * MatlabResize.length(h, scale: scale))
            XCTAssertLessThan(flat.map { abs($0 - 0.25) }.max()!, 1e-6)
        }
    }

    func test_damagedFiles_areRefused() throws {
        let good = try Data(contentsOf: Self.root.appendingPathComponent("Models/raisr/raisr-x4.bin"))
        let dir = TempDir("raisr")
        defer { dir.remove() }
        for (name, data) in [
            ("truncated", good.prefix(good.count - 4)), ("not", Data("hello world, not a model".utf8)),
            ("header", good.prefix(12) + Data("{\"scale\": 99}".utf8)),
        ] {
            let url = URL(fileURLWithPath: dir.file(name))
            try data.write(to: url)
            XCTAssertThrowsError(try RAISR(contentsOf: url), name)
        }
    }
}
