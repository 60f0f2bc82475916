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
        let got = model.upscaleLuma(y, width: w, height: h)
        XCTAssertEqual(got.count, expected.count)
        let worst = zip(got, expected).map { abs($0 - $1) }.max() ?? 1
        XCTAssertLessThanOrEqual(worst, 1e-6, "largest difference from the training script")
        // through the network interface: RGB in, RGB ×4 out; a gray picture stays gray
        let gray = y.map { Float(($0 * 255 - 16) / 219) }
        let x = Tensor(channels: 3, height: h, width: w, data: gray + gray + gray)
        let out = try model.forward(x, workspace: Workspace())
        XCTAssertEqual([out.channels, out.height, out.width], [3, h * 4, w * 4])
        let m = out.height * out.width
        for i in stride(from: 0, to: m, by: 97) {
            XCTAssertEqual(out.data[i], out.data[m + i], accuracy: 1e-5)
            XCTAssertEqual(Double(out.data[i]), (expected[i] * 255 - 16) / 219, accuracy: 1e-5)
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
