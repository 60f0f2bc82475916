import XCTest
import Foundation
import TestSupport
import MediaIO
import FilmCore

/// Runs the built `filmrestore` binary as a user would.
final class CLITests: XCTestCase {
    var dir: TempDir!
    override func setUp() { dir = TempDir("cli") }
    override func tearDown() { dir.remove() }

    static var binary: String {
        let fm = FileManager.default
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var candidates = [here.appendingPathComponent("filmrestore").path]
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        candidates += [".build/release/filmrestore", ".build/debug/filmrestore"].map {
            root.appendingPathComponent($0).path
        }
        return candidates.first { fm.isExecutableFile(atPath: $0) } ?? candidates[0]
    }

    static var repoRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    @discardableResult
    func cli(_ args: [String]) throws -> ProcessResult {
        try runProcess(Self.binary, args)
    }

    func clip(_ name: String, seconds: Double, size: String = "640x480", rate: String = "24", extra: [String] = [])
        throws -> String
    {
        let p = dir.file(name)
        try testClip(p, size: size, rate: rate, seconds: seconds, tone: 330, videoOptions: extra)
        return p
    }

    // MARK: acceptance

    func test_acceptance_fit4k60_3sClipWithAAC() throws {
        let input = try clip("clip.mp4", seconds: 3)
        let out = dir.file("out.mp4")
        let r = try cli([
            "restore", input, "-o", out, "--preset", "fit-4k60", "--encoder-preset", "ultrafast", "--quiet",
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let s = try probeStreams(out)
        let v = try XCTUnwrap(s.first { $0.type == "video" })
        XCTAssertEqual(v.width, 3840)
        XCTAssertEqual(v.height, 2160)
        XCTAssertEqual(v.rFrameRate, "60/1")
        XCTAssertEqual(v.colorSpace, "bt709")
        let times = try probeFrameTimes(out)
        XCTAssertEqual(times.count, 180)
        for (k, t) in times.enumerated() { XCTAssertEqual(t, Double(k) / 60, accuracy: 0.001) }
        let a = try XCTUnwrap(s.first { $0.type == "audio" })
        let inAudio = try XCTUnwrap(try probeStreams(input).first { $0.type == "audio" })
        XCTAssertEqual(try XCTUnwrap(v.duration), 3, accuracy: 0.1)
        XCTAssertEqual(try XCTUnwrap(a.duration), try XCTUnwrap(inAudio.duration), accuracy: 1.0 / 60)
        XCTAssertEqual(try packetHashes(input, stream: "a:0"), try packetHashes(out, stream: "a:0"))
    }

    func test_colorizePreset_grayClipWithReferenceKeyframe_colorAudioAndLumaKept() throws {
        // a color clip, its first frame as the keyframe, the clip rendered gray with its sound
        let color = try clip("color.mp4", seconds: 1, size: "320x240")
        let key = dir.file("key.png"), gray = dir.file("gray.mkv")
        try ffmpeg(["-i", color, "-frames:v", "1", key])
        try ffmpeg(["-i", color, "-vf", "format=gray,format=yuv420p", "-c:v", "ffv1", "-c:a", "copy", gray])
        let out = dir.file("out.mkv")
        let r = try cli([
            "restore", gray, "-o", out, "--preset", "colorize", "--set", "colorize.reference=\(key)", "--quiet",
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let (_, inFrames) = try decodeAll(gray), (_, outFrames) = try decodeAll(out)
        XCTAssertEqual(outFrames.count, inFrames.count)
        var chroma = 0.0, lumaPSNR = 99.0
        for (o, i) in zip(outFrames, inFrames) {
            // the file's own matrix (BT.601 here)
            let rgb = o.promotedToRGB(), m = YCbCrMatrix(o.properties.color.matrix)
            for k in stride(from: 0, to: o.width * o.height, by: 7) {
                let (_, cb, cr) = m.ycbcr(r: rgb.planes[0][k], g: rgb.planes[1][k], b: rgb.planes[2][k])
                chroma += Double(abs(cb) + abs(cr))
            }
            lumaPSNR = min(lumaPSNR, psnr(m.luma(rgb.planes), i.promotedToRGB().planes[0]))
        }
        chroma /= Double(outFrames.count * (outFrames[0].width * outFrames[0].height / 7))
        print(String(format: "colorize CLI: mean |Cb|+|Cr| %.3f, luma PSNR ≥ %.1f dB", chroma, lumaPSNR))
        XCTAssertGreaterThan(chroma, 0.05)
        XCTAssertGreaterThanOrEqual(lumaPSNR, 40)
        XCTAssertEqual(try packetHashes(gray, stream: "a:0"), try packetHashes(out, stream: "a:0"))
        // --set naming a stage the preset does not have: one line, nothing written
        let bad = try cli([
            "restore", gray, "-o", dir.file("bad.mkv"), "--preset", "colorize", "--set", "upscale.model=x",
        ])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("no stage upscale"), bad.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("bad.mkv")))
    }

    // MARK: timing

    func test_vfrInput_becomesExact60fps() throws {
        // Irregular frame times, kept as they are in Matroska.
        let input = dir.file("vfr.mkv")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=3", "-vf",
            "setpts='(N+0.45*sin(N*0.7))/30/TB'",
            "-fps_mode", "passthrough", "-pix_fmt", "yuv420p", "-c:v", "ffv1", input,
        ])
        let inTimes = try probeFrameTimes(input)
        XCTAssertGreaterThan(
            Set(zip(inTimes, inTimes.dropFirst()).map { (($1 - $0) * 1000).rounded() }).count, 3, "input is VFR")
        let out = dir.file("out.mkv")
        let r = try cli(["restore", input, "-o", out, "--preset", "master-ffv1", "--fps", "60", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let times = try probeFrameTimes(out)
        let lastIn = try XCTUnwrap(inTimes.last), first = inTimes[0]
        let duration = lastIn + (lastIn - inTimes[inTimes.count - 2]) - first
        XCTAssertLessThanOrEqual(
            abs(Double(times.count) - (duration * 60).rounded()), 1, "\(times.count) frames for \(duration) s")
        for (a, b) in zip(times, times.dropFirst()) { XCTAssertGreaterThan(b, a) }
    }

    func test_23976_timestampsStayExact_andAudioStaysInSync() throws {
        let input = try clip("ntsc.mkv", seconds: 4, size: "320x240", rate: "24000/1001")
        let out = dir.file("ntsc-out.mkv")
        let r = try cli(["restore", input, "-o", out, "--preset", "master-ffv1", "--fps", "60", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        // the sound lasts as long as before, and starts where it did relative to the picture
        let inA = try packetSpan(input, stream: "a:0"), outA = try packetSpan(out, stream: "a:0")
        XCTAssertEqual(outA.end - outA.start, inA.end - inA.start, accuracy: 1.0 / 60)
        let inV = try probeFrameTimes(input), outV = try probeFrameTimes(out)
        XCTAssertEqual(outV[0] - outA.start, inV[0] - inA.start, accuracy: 1.0 / 120, "A/V offset kept")
        XCTAssertEqual(Double(outV.count), 4 * 60, accuracy: 2)
        for (a, b) in zip(outV, outV.dropFirst()) { XCTAssertEqual(b - a, 1.0 / 60, accuracy: 0.0011) }
    }

    // MARK: memory

    func test_memoryStaysFlat_whenTheClipIsTwiceAsLong() throws {
        func peak(_ seconds: Double) throws -> Int {
            let input = try clip("m\(Int(seconds)).mkv", seconds: seconds, size: "640x480")
            let stats = dir.file("stats\(Int(seconds)).json")
            let r = try cli([
                "restore", input, "-o", dir.file("m\(Int(seconds))-out.mkv"), "--preset", "fit-4k60", "--size",
                "1280x720",
                "--encoder-preset", "ultrafast", "--quiet", "--stats-json", stats,
            ])
            XCTAssertEqual(r.status, 0, r.stderr)
            let j =
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: stats))) as! [String: Any]
            let hw = j["queue_high_water"] as! [Int]
            XCTAssertTrue(hw.allSatisfy { $0 <= (j["queue_capacity"] as! Int) })
            // naturalness of the source and the output, over frames spread over each
            let niqe = j["niqe"] as? [String: Any]
            XCTAssertGreaterThan(niqe?["source"] as? Double ?? 0, 0, "\(j)")
            XCTAssertGreaterThan(niqe?["output"] as? Double ?? 0, 0, "\(j)")
            XCTAssertEqual(niqe?["output_frames"] as? Int, 8)
            return j["peak_rss_kib"] as! Int
        }
        let short = try peak(4), long = try peak(8)
        XCTAssertLessThanOrEqual(Double(long), Double(short) * 1.10, "peak RSS \(short) KiB → \(long) KiB")
    }

    // MARK: errors

    func assertCleanFailure(_ args: [String], mentions: String, file: StaticString = #filePath, line: UInt = #line)
        throws
    {
        let before = dir.listing()
        let r = try cli(args)
        XCTAssertNotEqual(r.status, 0, file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "stderr: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.contains(mentions), "stderr: \(r.stderr)", file: file, line: line)
        XCTAssertEqual(dir.listing(), before, "no file written", file: file, line: line)
    }

    func test_errors_badInputAndOutput_oneLineNonZeroNoFile() throws {
        let good = try clip("good.mp4", seconds: 1, size: "160x120")
        let text = dir.file("text.mp4")
        try "not a video at all\n".write(toFile: text, atomically: true, encoding: .utf8)
        let truncated = dir.file("truncated.mp4")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        try bytes.prefix(bytes.count / 3).write(to: URL(fileURLWithPath: truncated))
        let existing = dir.file("exists.mkv")
        try "keep me".write(toFile: existing, atomically: true, encoding: .utf8)

        try assertCleanFailure(
            ["restore", dir.file("missing.mp4"), "-o", dir.file("o.mkv")], mentions: "does not exist")
        try assertCleanFailure(["restore", text, "-o", dir.file("o.mkv")], mentions: "not a video file")
        try assertCleanFailure(["restore", truncated, "-o", dir.file("o.mkv")], mentions: "truncated.mp4")
        try assertCleanFailure(
            ["restore", good, "-o", dir.file("o.mkv"), "--preset", "no-such-preset"],
            mentions: "unknown preset 'no-such-preset'")
        try assertCleanFailure(["restore", good, "-o", dir.path + "/nowhere/o.mkv"], mentions: "output folder")
        try assertCleanFailure(["restore", good, "-o", existing], mentions: "--force")
        XCTAssertEqual(try String(contentsOfFile: existing, encoding: .utf8), "keep me")
        try assertCleanFailure(["restore", good, "-o", good, "--force"], mentions: "it is the input")
        try assertCleanFailure(
            [
                "restore", good, "-o", dir.file("o.mkv"), "--preset", "colorize-4k60", "--set",
                "colorize.model=/nonexistent/ColorizeArtistic_gen.pth",
            ],
            mentions: "not found")
    }

    func test_interrupt_leavesNoPartialFile() throws {
        let input = try clip("long.mkv", seconds: 6, size: "640x480")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = ["restore", input, "-o", dir.file("int.mkv"), "--preset", "fit-4k60", "--quiet"]
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Checkpointed: the segment being written is a temporary file in the hidden work folder — interrupted as
        // soon as it appears (waited for, not slept on)
        let work = dir.file(".int.mkv.filmrestore")
        var inWork: [String] = []
        let deadline = Date().addingTimeInterval(60)
        while !inWork.contains(where: { $0.contains(".partial-") }) && Date() < deadline && p.isRunning {
            usleep(10_000)
            inWork = (try? FileManager.default.contentsOfDirectory(atPath: work)) ?? []
        }
        XCTAssertTrue(
            inWork.contains { $0.contains(".partial-") }, "writing to a temporary file: \(dir.listing()) \(inWork)")
        p.interrupt()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 130)
        // No segment was finished (10-s segments, interrupted as the first began): nothing to resume, nothing left.
        XCTAssertEqual(dir.listing(), ["long.mkv"])
    }

    // MARK: other commands

    func test_probe_and_presets() throws {
        let input = try clip("p.mp4", seconds: 1, size: "720x480", extra: ["-vf", "setsar=8/9"])
        let r = try cli(["probe", input])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("720x480"), r.stdout)
        XCTAssertTrue(r.stdout.contains("SAR 8:9 DAR 4:3"), r.stdout)
        XCTAssertTrue(r.stdout.contains("audio: aac"), r.stdout)
        let pr = try cli(["presets"])
        XCTAssertEqual(pr.status, 0, pr.stderr)
        XCTAssertTrue(pr.stdout.contains("fit-4k60"))
        XCTAssertTrue(pr.stdout.contains("archival-4k60"))
    }

    func test_sarInput_isPillarboxedTo4x3() throws {
        let input = try clip("sar.mkv", seconds: 0.5, size: "720x480", extra: ["-vf", "setsar=8/9"])
        let out = dir.file("sar-out.mkv")
        let r = try cli(["restore", input, "-o", out, "--preset", "master-ffv1", "--size", "3840x2160", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        // The picture (testsrc2 has no black columns at its edges) spans columns 480…3359.
        let raw = dir.file("row.gray")
        try ffmpeg(["-i", out, "-frames:v", "1", "-vf", "crop=3840:1:0:1080,format=gray", "-f", "rawvideo", raw])
        let row = try Data(contentsOf: URL(fileURLWithPath: raw))
        XCTAssertLessThan(row[470], 20)
        XCTAssertLessThan(row[3370], 20)
        let lit = row.indices.filter { row[$0] > 20 }
        XCTAssertEqual(lit.first ?? 0, 480, accuracy: 3)
        XCTAssertEqual(lit.last ?? 0, 3359, accuracy: 3)
    }

    func test_subtitlesChaptersAndMetadata_areKeptInMatroska() throws {
        let input = try clip("base.mkv", seconds: 2, size: "160x120")
        let srt = dir.file("s.srt"), meta = dir.file("meta.txt"), src = dir.file("full.mkv")
        try "1\n00:00:00,500 --> 00:00:01,500\nHello\n".write(toFile: srt, atomically: true, encoding: .utf8)
        try
            ";FFMETADATA1\ntitle=Reel One\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\ntitle=Opening\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=1000\nEND=2000\ntitle=End\n"
            .write(toFile: meta, atomically: true, encoding: .utf8)
        try ffmpeg([
            "-i", input, "-i", srt, "-i", meta, "-map", "0", "-map", "1", "-map_metadata", "2", "-map_chapters", "2",
            "-c", "copy",
            "-metadata:s:a:0", "language=fra", src,
        ])
        let out = dir.file("kept.mkv")
        let r = try cli(["restore", src, "-o", out, "--preset", "master-ffv1", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try ffprobe(out, ["-show_streams", "-show_chapters", "-show_format"])
        let streams = j["streams"] as? [[String: Any]] ?? []
        XCTAssertEqual(streams.compactMap { $0["codec_type"] as? String }, ["video", "audio", "subtitle"])
        XCTAssertEqual((streams[1]["tags"] as? [String: Any])?["language"] as? String, "fra")
        XCTAssertEqual((j["chapters"] as? [Any])?.count, 2)
        XCTAssertEqual(((j["format"] as? [String: Any])?["tags"] as? [String: Any])?["title"] as? String, "Reel One")
    }
}

final class StillImageTests: XCTestCase {
    func test_stillImages_upscaleX4_pngJpegTiff() throws {
        let dir = TempDir("stills")
        let png = dir.file("scan.png"), png16 = dir.file("scan16.png")
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=48x36:duration=0.04", "-frames:v", "1", png])
        try ffmpeg(["-i", png, "-pix_fmt", "rgb48be", png16])
        for (input, output, fmt) in [
            (png, "x4.png", "rgb24"), (png16, "x4-16.png", "rgb48be"), (png, "x4.jpg", "yuvj444p"),
            (png, "x4.tif", "rgb24"),
        ] {
            let r = try runProcess(
                CLITests.binary, ["restore", input, "-o", dir.file(output), "--preset", "upscale-x4", "--quiet"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let s = try XCTUnwrap(try probeStreams(dir.file(output)).first)
            XCTAssertEqual(s.width, 192, output)
            XCTAssertEqual(s.height, 144, output)
            XCTAssertEqual(s.pixFmt, fmt, output)
        }
        // an exact copy of a PNG through a stage-less preset keeps every 8-bit value
        let copyPreset = dir.file("copy.yml")
        try "description: copy\nstages: []\n".write(toFile: copyPreset, atomically: true, encoding: .utf8)
        XCTAssertEqual(
            try runProcess(
                CLITests.binary, ["restore", png, "-o", dir.file("copy.png"), "--preset", copyPreset, "--quiet"]
            ).status, 0)
        let (_, a) = try decodeAll(png), (_, b) = try decodeAll(dir.file("copy.png"))
        XCTAssertEqual(psnr(a[0], b[0]), .infinity)
        // a clip cannot become one picture
        let clip = dir.file("clip.mkv")
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=48x36:rate=24:duration=0.5", "-c:v", "ffv1", clip])
        let bad = try runProcess(
            CLITests.binary, ["restore", clip, "-o", dir.file("frame.png"), "--preset", "upscale-x4"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("takes one picture"), bad.stderr)
    }
}
