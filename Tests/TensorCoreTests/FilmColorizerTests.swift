import Foundation
import Networks
import TensorCore
import TestSupport
import XCTest

/// The film colorizer's architecture against PyTorch on seeded weights (Tests/Fixtures/colorizer-film,
/// written by `Tools/train_colorizer.py --film-fixture`), before trained weights exist; and the loader's
/// recognition of the two architectures by their keys.
final class FilmColorizerTests: XCTestCase {
    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    func test_seededWeights_reproducePyTorch_logitsDecodingAndCertainty() throws {
        let fx = Self.root.appendingPathComponent("Tests/Fixtures/colorizer-film")
        let net = try BinColorizers.load(fx.appendingPathComponent("film-small.safetensors"))
        XCTAssertTrue(net is FilmColorizer)
        XCTAssertEqual(net.sideMultiple, 16)
        let note =
            try JSONSerialization.jsonObject(with: Data(contentsOf: fx.appendingPathComponent("README.json")))
            as! [String: Any]
        let h = note["height"] as! Int, w = note["width"] as! Int, q = note["classes"] as! Int
        let input = try readFloat32(fx.appendingPathComponent("input.f32"))
        let expected = try readFloat32(fx.appendingPathComponent("logits.f32"))
        let decoded = try readFloat32(fx.appendingPathComponent("decoded.f32"))
        let logits = try net.logits(input, height: h, width: w, workspace: Workspace())
        XCTAssertEqual([logits.channels, logits.height, logits.width], [q, h / 4, w / 4])
        let err = (try maxAbsDifference(logits.data, expected))
        let spread = expected.map { abs($0) }.max()!
        XCTAssertLessThanOrEqual(err, 1e-4 * max(spread, 1), "logits: max abs error \(err) (spread \(spread))")
        let d = net.decodeWithCertainty(logits)
        let got = d.cb + d.cr + d.certainty
        let derr = (try maxAbsDifference(got, decoded))
        XCTAssertLessThanOrEqual(derr, 1e-5, "decoded chroma and certainty")
        XCTAssertThrowsError(try net.logits(Array(input.prefix(8 * 96)), height: 8, width: 96, workspace: Workspace()))
    }

    /// The shipped film colorizer (trained, `Models/colorizer/film-colorizer.safetensors`) against PyTorch's
    /// output for the same weights at export (Tests/Fixtures/colorizer-film/exported): annealed and posterior mean.
    func test_shippedFilmWeights_reproduceTheTrainingFrameworksOutput() throws {
        let net = try assertShippedColorizerMatchesTraining(
            weights: "Models/colorizer/film-colorizer.safetensors", fixture: "Tests/Fixtures/colorizer-film/exported",
            bound: 1e-5)
        XCTAssertTrue(net is FilmColorizer)
        XCTAssertNotNil(net.chroma.posterior)
    }

    func test_loader_tellsTheArchitecturesApart_andRefusesOtherFiles() throws {
        let compact = try BinColorizers.load(
            Self.root.appendingPathComponent("Models/colorizer/compact-colorizer.safetensors"))
        XCTAssertTrue(compact is CompactColorizer)
        XCTAssertEqual(compact.sideMultiple, 8)
        // a film checkpoint missing a tensor: an error that names it
        var sd = try StateDict.load(
            Self.root.appendingPathComponent("Tests/Fixtures/colorizer-film/film-small.safetensors"))
        sd.tensors["attn16.value.weight"] = nil
        XCTAssertThrowsError(try FilmColorizer(stateDict: sd)) { e in
            XCTAssertTrue("\(e)".contains("attn16.value.weight"), "\(e)")
        }
    }
}
