import XCTest
import Foundation
import TensorCore
import Networks
import TestSupport

/// The shipped colorizer (Models/colorizer/compact-colorizer.safetensors) against the training
/// framework's own output for the same weights (Tests/Fixtures/colorizer, written by
/// Tools/train_colorizer.py at export).
final class CompactColorizerTests: XCTestCase {
    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    func test_shippedWeights_reproduceTheTrainingFrameworksOutput() throws {
        let net = try CompactColorizer(
            contentsOf: Self.root.appendingPathComponent("Models/colorizer/compact-colorizer.safetensors"))
        let fx = Self.root.appendingPathComponent("Tests/Fixtures/colorizer")
        let note =
            try JSONSerialization.jsonObject(with: Data(contentsOf: fx.appendingPathComponent("README.json")))
            as! [String: Any]
        let h = note["height"] as! Int, w = note["width"] as! Int
        func floats(_ n: String) throws -> [Float] { try readFloat32(fx.appendingPathComponent(n)) }
        let input = try floats("input.f32"), expected = try floats("chroma.f32")
        let (cb, cr) = net.decode(try net.logits(input, height: h, width: w, workspace: Workspace()))
        XCTAssertEqual(cb.count + cr.count, expected.count)
        let err = zip(cb + cr, expected).map { abs($0 - $1) }.max()!
        let spread = expected.map { abs($0) }.max()!
        print(
            String(
                format:
                    "compact colorizer (%d parameters, %d bins, T %.2f) %dx%d: max abs chroma error %.2e (chroma within ±%.3f)",
                net.parameterCount, net.bins.count, net.temperature, w, h, err, spread))
        XCTAssertLessThanOrEqual(err, 2e-3)
        XCTAssertGreaterThan(spread, 0.02, "the fixture's chroma is not flat")
    }

    func test_missingOrMisshapenKeys_areRejectedNamingTheKey() throws {
        var sd = try StateDict.load(Self.root.appendingPathComponent("Models/colorizer/compact-colorizer.safetensors"))
        sd.tensors["attn.value.weight"] = nil
        XCTAssertThrowsError(try CompactColorizer(stateDict: sd)) {
            XCTAssertTrue("\($0)".contains("attn.value.weight"), "\($0)")
        }
        sd.tensors["attn.value.weight"] = NamedTensor(
            shape: [128, 64, 1], data: [Float](repeating: 0, count: 128 * 64))
        XCTAssertThrowsError(try CompactColorizer(stateDict: sd)) {
            XCTAssertTrue("\($0)".contains("[128, 64, 1]"), "\($0)")
        }
    }
}
