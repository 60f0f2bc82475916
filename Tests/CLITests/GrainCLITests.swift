import XCTest
import Foundation
import TestSupport
import FilmCore
import Restoration

/// The archival chain keeps the film's grain: measured on the output scaled back to the source's
/// size, the grain level stays near the source's; without the `grain` stage it is mostly gone.
final class GrainCLITests: CLITestCase {
    override class var folderPrefix: String { "cli-grain" }

    /// Grain σ (Immerkær, 8-bit levels) of each frame's luma, the output's scaled back by 4×4 area means.
    func grainLevel(_ path: String, factor: Int) throws -> Double {
        let (_, frames) = try decodeAll(path)
        let levels = frames.map { f -> Double in
            let y = f.luma, w = f.width / factor, h = f.height / factor
            var small = [Float](repeating: 0, count: w * h)
            for j in 0..<h {
                for i in 0..<w {
                    var s: Float = 0
                    for dy in 0..<factor {
                        for dx in 0..<factor { s += y[(j * factor + dy) * f.width + i * factor + dx] }
                    }
                    small[j * w + i] = s / Float(factor * factor)
                }
            }
            return PictureMeasures.noiseSigma(small, width: w, height: h)
        }
        return levels.reduce(0, +) / Double(max(levels.count, 1))
    }

    func test_archivalChain_keepsTheGrainLevel_amountZeroDoesNot_runsAgree() throws {
        // A smooth moving gradient with clumped grain (noise blurred by 0.7 px), gray film.
        let input = dir.file("grainy.mkv")
        try ffmpeg([
            "-f", "lavfi", "-i",
            "gradients=s=160x120:r=24:d=0.5:speed=0.02,format=gray,noise=alls=24:allf=t,gblur=sigma=0.7",
            "-pix_fmt", "gray", "-c:v", "ffv1", input,
        ])
        let source = try grainLevel(input, factor: 1)
        XCTAssertGreaterThan(source, 2)
        var level: [String: Double] = [:]
        for (name, extra) in [("kept", [String]()), ("again", []), ("none", ["--set", "grain.amount=0"])] {
            let out = dir.file("\(name).mkv")
            let r = try cli(
                [
                    "restore", input, "-o", out, "--preset", "archival-4k60", "--size", "640x480", "--codec", "ffv1",
                    "-q",
                ] + extra)
            XCTAssertEqual(r.status, 0, r.stderr)
            level[name] = try grainLevel(out, factor: 4) / source
        }
        print("grain level against the source (output scaled back ×4):", level)
        XCTAssertGreaterThan(level["kept"]!, 0.6, "\(level)")
        XCTAssertLessThan(level["kept"]!, 1.4, "\(level)")
        XCTAssertLessThan(level["none"]!, 0.6, "\(level)")
        let (_, a) = try decodeAll(dir.file("kept.mkv")), (_, b) = try decodeAll(dir.file("again.mkv"))
        XCTAssertEqual(a.count, b.count)
        // The same grain in every run (the float chain before it is not bit-exact across runs: ≥ 60 dB;
        // grain drawn anew per run would put two runs ~40 dB apart).
        let worst = zip(a, b).map { psnr($0, $1) }.min() ?? 0
        XCTAssertGreaterThan(worst, 60, "the same grain in every run (worst frame \(worst) dB)")
        XCTAssertEqual(a.first?.layout, .gray, "black-and-white stays black-and-white, its grain gray")
    }
}
