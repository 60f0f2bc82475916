import FilmCore
import Foundation
import TestSupport
import XCTest

/// `--precision` and the preset's `precision:` through the whole tool.
final class PrecisionCLITests: CLITestCase {
    override class var folderPrefix: String { "precision" }

    /// A chain with every network stage (colorize, upscale, interpolate) into lossless FFV1, once in fp32 and once in
    /// bf16's numbers (emulated: runs on any CPU): the outputs ≥ 40 dB apart on every frame, and not identical.
    func test_wholeChain_bf16AgainstFP32_atLeast40dB() throws {
        let input = dir.file("in.mkv")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=0.5", "-vf", "format=gray", "-pix_fmt",
            "yuv420p", "-c:v", "ffv1", input,
        ])
        let preset = dir.file("chain.yml")
        try """
        description: "every network stage, small"
        stages:
          - colorize
          - upscale:
              model: realesr-animevideov3
          - interpolate:
              rate: 24
        output:
          codec: ffv1
        """.write(toFile: preset, atomically: true, encoding: .utf8)
        var frames: [String: [Frame]] = [:]
        for p in ["fp32", "bf16-emulated"] {
            let out = dir.file("\(p).mkv")
            let r = try cli(["restore", input, "-o", out, "--preset", preset, "--precision", p])
            XCTAssertEqual(r.status, 0, r.stderr)
            frames[p] = try decodeAll(out).1
        }
        let a = try XCTUnwrap(frames["fp32"]), b = try XCTUnwrap(frames["bf16-emulated"])
        XCTAssertEqual(a.count, b.count)
        XCTAssertEqual(a.count, 12)
        var worst = Double.infinity, differ = false
        for (x, y) in zip(a, b) {
            let p = psnr(x, y)
            worst = min(worst, p)
            differ = differ || p.isFinite
        }
        print(String(format: "whole chain, bf16-emulated vs fp32: worst frame %.2f dB", worst))
        XCTAssertGreaterThanOrEqual(worst, 40)
        XCTAssertTrue(differ, "bf16-emulated gave fp32's output: the precision did not reach the networks")
    }

    func test_badPrecision_isAUsageError_andNativeBF16WhereRefused_namesTheCPU() throws {
        let input = dir.file("in.mp4")
        try testClip(input, size: "64x48", seconds: 0.2)
        let bad = try cli(["restore", input, "-o", dir.file("o.mkv"), "--preset", "upscale-x4", "--precision", "fp16"])
        XCTAssertEqual(bad.status, 64, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("fp16"), bad.stderr)
        let preset = dir.file("p.yml")
        try "stages: [upscale]\nprecision: int4\noutput: {codec: ffv1}\n".write(
            toFile: preset, atomically: true, encoding: .utf8)
        let badPreset = try cli(["restore", input, "-o", dir.file("o.mkv"), "--preset", preset])
        XCTAssertNotEqual(badPreset.status, 0)
        XCTAssertTrue(badPreset.stderr.contains("precision"), badPreset.stderr)
        let native = try cli([
            "restore", input, "-o", dir.file("n.mkv"), "--preset", "upscale-x4", "--precision", "bf16",
        ])
        if native.status != 0 {
            XCTAssertTrue(native.stderr.contains("no bf16 kernels on this CPU"), native.stderr)
            XCTAssertEqual(native.stderr.split(separator: "\n").count, 1, native.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("n.mkv")))
        }
    }
}
