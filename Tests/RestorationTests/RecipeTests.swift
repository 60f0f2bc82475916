import XCTest
import Foundation
import TestSupport
import MediaIO
import FilmCore
@testable import Restoration

/// The recipe fingerprint that marks every segment: what must change it, and what must not.
final class RecipeTests: XCTestCase {
    var dir: TempDir!
    override func setUp() { dir = TempDir("recipe") }
    override func tearDown() { dir.remove() }

    func recipe(_ input: String, stages: [Recipe.StageRecord], weights: [[String]]) throws -> Recipe {
        Recipe(
            tool: "1", input: try Recipe.identify(input: input), preset: "p", stages: stages,
            encoder: EncoderSettings(codec: "ffv1"),
            files: try Recipe.files(stages: stages, weights: weights))
    }

    func test_fingerprint_changesWithModelInputOptionsAndTool_notWithPaths() throws {
        let input = dir.file("film.bin"), model = dir.file("net.pth"), key = dir.file("key.png")
        try Data(repeating: 1, count: 5_000_000).write(to: URL(fileURLWithPath: input))
        try Data(repeating: 2, count: 1000).write(to: URL(fileURLWithPath: model))
        try Data(repeating: 3, count: 100).write(to: URL(fileURLWithPath: key))
        let stages = [
            Recipe.StageRecord(name: "upscale", options: [:]),
            Recipe.StageRecord(name: "colorize", options: ["reference": key]),
        ]
        let base = try recipe(input, stages: stages, weights: [[model], []])
        XCTAssertEqual(
            base.files.map(\.stage), ["upscale", "colorize"], "the model and the option's file are both recorded")
        XCTAssertEqual(try recipe(input, stages: stages, weights: [[model], []]).fingerprint, base.fingerprint)

        // The same film and model at other paths (another node's mount point): same fingerprint.
        var moved = base
        moved.input.path = "/mnt/elsewhere/film.bin"
        moved.files[0].path = "/opt/models/net.pth"
        XCTAssertEqual(moved.fingerprint, base.fingerprint)

        var other = base
        other.tool = "2"
        XCTAssertNotEqual(other.fingerprint, base.fingerprint, "tool version")
        other = base
        other.stages[0].options["model"] = "realesrgan-x4plus"
        XCTAssertNotEqual(other.fingerprint, base.fingerprint, "stage option")
        other = base
        other.encoder.crf = 18
        XCTAssertNotEqual(other.fingerprint, base.fingerprint, "encoder")

        // One byte of the model, of the reference picture, or of the film.
        for (path, original) in [(model, UInt8(2)), (key, 3), (input, 1)] {
            for (byte, same) in [(UInt8(9), false), (original, true)] {
                let h = try FileHandle(forUpdating: URL(fileURLWithPath: path))
                try h.seek(toOffset: 0)
                h.write(Data([byte]))
                try h.close()
                let now = try recipe(input, stages: stages, weights: [[model], []]).fingerprint
                if same {
                    XCTAssertEqual(now, base.fingerprint, path)
                } else {
                    XCTAssertNotEqual(now, base.fingerprint, path)
                }
            }
        }
    }
}
