import XCTest
import Foundation
import TestSupport
import MediaIO
import FilmCore

/// `--preset interpolate-60` end to end: real containers, real sound.
final class InterpolateCLITests: XCTestCase {
    var dir: TempDir!
    override func setUp() { dir = TempDir("cli-interp") }
    override func tearDown() { dir.remove() }

    func restore(_ input: String, _ out: String, _ extra: [String] = []) throws {
        let r = try runProcess(
            CLITests.binary,
            ["restore", input, "-o", out, "--preset", "interpolate-60", "--quiet"]
                + (extra.isEmpty ? ["--encoder-preset", "ultrafast"] : extra))
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    func test_23976WithAAC_to60_countTimestampsAndSound() throws {
        let input = dir.file("ntsc.mkv")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=24000/1001:duration=3", "-f", "lavfi", "-i",
            "sine=frequency=330:sample_rate=48000:duration=3", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset",
            "ultrafast",
            "-c:a", "aac", "-shortest", input,
        ])
        let out = dir.file("ntsc-60.mkv")
        try restore(input, out)
        let inV = try probeFrameTimes(input), outV = try probeFrameTimes(out)
        let duration = Double(inV.count) * 1001 / 24000
        XCTAssertLessThanOrEqual(
            abs(Double(outV.count) - (duration * 60).rounded()), 1, "\(outV.count) frames for \(duration) s")
        for (k, t) in outV.enumerated() { XCTAssertEqual(t - outV[0], Double(k) / 60, accuracy: 0.0011) }
        let inA = try packetSpan(input, stream: "a:0"), outA = try packetSpan(out, stream: "a:0")
        XCTAssertEqual(outA.end - outA.start, inA.end - inA.start, accuracy: 1e-6, "audio duration unchanged")
        XCTAssertEqual(try packetHashes(input, stream: "a:0"), try packetHashes(out, stream: "a:0"))
        XCTAssertEqual(outV[0] - outA.start, inV[0] - inA.start, accuracy: 1.0 / 120, "A/V offset kept")
        XCTAssertEqual(try probeStreams(out).first { $0.type == "video" }?.rFrameRate, "60/1")
    }

    func test_interpolateThenFit_newFramesMadeAtTheOutputSize_asTheUnfusedChain() throws {
        // interpolate → fit 4:3 into 16:9 (×1.25) through the whole pipeline (threads, queues): the fit hands its
        // placement to the interpolation; the output has the same frames as with `fit.fuse=false`, within a
        // resampling's difference (the picture smooth, as after an upscaler), the bars black.
        let input = dir.file("pan.mkv")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=48x36:rate=24:duration=0.5,scale=96:72:flags=bicubic", "-pix_fmt",
            "yuv444p", "-c:v", "ffv1",
            input,
        ])
        let preset = dir.file("chain.yml")
        try
            "stages:\n  - interpolate:\n      rate: 60\n      refine: false\n  - fit:\n      size: 160x90\noutput:\n  codec: ffv1\n  pixel_format: yuv444p\n"
            .write(toFile: preset, atomically: true, encoding: .utf8)
        var frames: [[Frame]] = []
        for (name, extra) in [("fused", [String]()), ("plain", ["--set", "fit.fuse=false"])] {
            let out = dir.file("\(name).mkv")
            let r = try runProcess(CLITests.binary, ["restore", input, "-o", out, "--preset", preset, "-q"] + extra)
            XCTAssertEqual(r.status, 0, r.stderr)
            frames.append(try decodeAll(out).1)
        }
        XCTAssertEqual(frames[0].count, 30)
        XCTAssertEqual(frames[0].count, frames[1].count)
        var worst = Double.infinity
        for (a, b) in zip(frames[0], frames[1]) {
            XCTAssertEqual(a.width, 160)
            XCTAssertEqual(a.height, 90)
            XCTAssertEqual(a.pts, b.pts)
            XCTAssertLessThan(a.planes[0][160 * 10 + 5], 0.01, "the bar is black")
            worst = min(worst, psnr(a, b))
        }
        print("interpolate → fit, in place against warp + fit: worst frame \(worst) dB")
        XCTAssertLessThan(worst, 80, "the new frames were made in place, not warped then fitted")
        XCTAssertGreaterThan(worst, 35)
    }

    func test_vfrWithSound_to60() throws {
        let input = dir.file("vfr.mkv")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30:duration=3", "-f", "lavfi", "-i",
            "sine=frequency=440:sample_rate=48000:duration=3", "-vf", "setpts='(N+0.45*sin(N*0.7))/30/TB'",
            "-fps_mode", "passthrough", "-pix_fmt", "yuv420p", "-c:v", "ffv1", "-c:a", "flac", "-shortest", input,
        ])
        let inTimes = try probeFrameTimes(input)
        XCTAssertGreaterThan(
            Set(zip(inTimes, inTimes.dropFirst()).map { (($1 - $0) * 1000).rounded() }).count, 3, "input is VFR")
        let out = dir.file("vfr-60.mkv")
        try restore(input, out)
        let times = try probeFrameTimes(out)
        let lastIn = try XCTUnwrap(inTimes.last)
        let duration = lastIn + (lastIn - inTimes[inTimes.count - 2]) - inTimes[0]
        XCTAssertLessThanOrEqual(
            abs(Double(times.count) - (duration * 60).rounded()), 1, "\(times.count) frames for \(duration) s")
        for (k, t) in times.enumerated() { XCTAssertEqual(t - times[0], Double(k) / 60, accuracy: 0.0011) }
        let inA = try packetSpan(input, stream: "a:0"), outA = try packetSpan(out, stream: "a:0")
        XCTAssertEqual(outA.end - outA.start, inA.end - inA.start, accuracy: 1e-6, "audio duration unchanged")
    }

    func test_hardCutInARealFile_noFrameMixesTheShots() throws {
        // Two 1-s shots cut together at 24 fps, lossless, so decoded frames compare exactly.
        let input = dir.file("cut.mkv")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=192x128:rate=24:duration=1", "-f", "lavfi", "-i",
            "mandelbrot=size=192x128:rate=24", "-filter_complex",
            "[1]trim=duration=1,setpts=PTS-STARTPTS[b];[0][b]concat=n=2:v=1:a=0",
            "-pix_fmt", "yuv444p", "-c:v", "ffv1", input,
        ])
        let out = dir.file("cut-60.mkv")
        try restore(input, out, ["--codec", "ffv1"])
        let (_, sources) = try decodeAll(input)
        let (_, frames) = try decodeAll(out)
        XCTAssertEqual(frames.count, 120)
        let shotA = sources[0..<24], shotB = sources[24...]
        // Between the last frame of shot A (23/24 s) and the first of shot B (1 s) an interpolator
        // unaware of the cut would blend the shots; here every frame is one of the two source frames.
        let atCut = frames.filter { $0.pts.doubleValue >= 23.0 / 24 - 1e-9 && $0.pts.doubleValue <= 1 + 1e-9 }
        XCTAssertEqual(atCut.count, 3)
        for f in atCut {
            let a = shotA.map { psnr(f, $0) }.max()!, b = shotB.map { psnr(f, $0) }.max()!
            XCTAssertTrue(a >= 40 || b >= 40, "frame at \(f.pts.doubleValue) s: \(a) dB to shot A, \(b) dB to shot B")
        }
        // and inside each shot the frames are interpolated, not repeated
        let inside = frames.filter { $0.pts.doubleValue > 0.3 && $0.pts.doubleValue < 0.7 }
        XCTAssertTrue(inside.contains { f in shotA.map { psnr(f, $0) }.max()! < 40 })
    }
}
