import XCTest
import Foundation
import TestSupport
import Restoration

/// The command line as the field's tools behave: one error shape and documented exit codes, short
/// flags, a progress line that fits the terminal, JSON progress for programs.
final class CommandLineTests: CLITestCase {
    /// FILMRESTORE_ISA forces the SIMD kernels (the bench line names them); an unknown name is a usage error.
    func test_filmrestoreISA_forcesTheKernels_andAnUnknownNameIsAUsageError() throws {
        var r = try runProcess("env", ["FILMRESTORE_ISA=sse9", CLITests.binary, "probe", "x.mkv"])
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("FILMRESTORE_ISA=sse9: not an instruction set"), r.stderr)
        for isa in ["baseline", "avx2"] {
            r = try runProcess(
                "env",
                [
                    "FILMRESTORE_ISA=\(isa)", CLITests.binary, "bench", "upscale", "--model", "realesr-animevideov3",
                    "--size", "64x48", "--frames", "1",
                ])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("kernels \(isa)"), r.stdout)
        }
    }

    override class var folderPrefix: String { "cli-line" }

    func test_errors_oneShape_documentedExitCodes_shortFlags() throws {
        let input = dir.file("in.mp4")
        try testClip(input, seconds: 1)
        // Usage errors: one line, the same prefix as runtime errors, exit 64.
        for args in [
            ["restore", input, "-o", dir.file("o.mkv"), "--crf", "abc"], ["restore", input],
            ["restore", input, "-o", dir.file("o.mkv"), "--models-dir", dir.file("missing")],
            ["restore", input, "-o", dir.file("o.mkv"), "-y", "-n"],
            ["restore", input, "-o", dir.file("o.mkv"), "--progress", "xml"],
        ] {
            let r = try cli(args)
            XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("filmrestore: error: "), r.stderr)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        }
        // Runtime errors: exit 1, same shape.
        var r = try cli(["restore", dir.file("missing.mp4"), "-o", dir.file("o.mkv")])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.hasPrefix("filmrestore: error: "), r.stderr)
        // -y replaces, -n never does, -q is quiet.
        let out = dir.file("o.mkv")
        XCTAssertEqual(try cli(["restore", input, "-o", out, "--preset", "master-ffv1", "-q"]).stderr, "")
        r = try cli(["restore", input, "-o", out, "--preset", "master-ffv1", "-n", "-q"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("exists"), r.stderr)
        r = try cli(["restore", input, "-o", out, "--preset", "master-ffv1", "-yq"])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try cli(["--version"])
        XCTAssertEqual(r.status, 0)
        XCTAssertFalse(r.stdout.isEmpty)
    }

    /// `--models-dir` reaches the stages as the run's context (not through the environment): a
    /// folder without RIFE's weights makes the interpolate stage name that folder.
    func test_modelsDir_reachesTheStages() throws {
        let input = dir.file("in.mp4")
        try testClip(input, seconds: 0.5)
        let empty = dir.file("no-models")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        // Not empty (an empty folder is refused at once): it holds something, but not the model.
        try "other files".write(toFile: empty + "/README.txt", atomically: false, encoding: .utf8)
        let r = try cli([
            "restore", input, "-o", dir.file("o.mkv"), "--preset", "interpolate-60", "--models-dir", empty, "-q",
        ])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("rife-v4.0-flownet.pkl in \(empty)"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("o.mkv")))
    }

    /// `filmrestore stages` describes every registered stage and every option of each, with its
    /// type, default, accepted values and help, all from the stage's one declaration;
    /// `stages NAME` describes one; an unknown name is an error naming the stages there are.
    func test_stages_describesEveryStageAndOption() throws {
        let all = try cli(["stages"])
        XCTAssertEqual(all.status, 0, all.stderr)
        for t in StageRegistry.stages {
            let s = t.spec
            XCTAssertTrue(all.stdout.contains("\(s.name): \(s.summary)"), s.name)
            let one = try cli(["stages", s.name])
            XCTAssertEqual(one.status, 0, one.stderr)
            XCTAssertTrue(all.stdout.contains(one.stdout.trimmingCharacters(in: .newlines)), s.name)
            for o in s.options {
                XCTAssertTrue(
                    one.stdout.contains("  \(o.key) (\(o.type.shortName), default \(o.defaultText))"),
                    "\(s.name).\(o.key)\n\(one.stdout)")
                XCTAssertTrue(one.stdout.contains("takes \(o.type)"), "\(s.name).\(o.key)")
                XCTAssertTrue(one.stdout.contains(o.help), "\(s.name).\(o.key)")
            }
        }
        let fit = try cli(["stages", "fit"]).stdout
        XCTAssertTrue(
            fit.contains("  size (size, default 3840x2160)\n      takes a size WIDTHxHEIGHT (or 4k, 1080p, 720p)"), fit)
        XCTAssertTrue(fit.contains("traits: fallback, sets-size(size)"), fit)
        let bad = try cli(["stages", "sharpen"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("unknown stage 'sharpen' (available: colorize, deflicker"), bad.stderr)
    }

    /// `filmrestore niqe`: a picture's score, a video's mean and range over sampled frames, JSON on
    /// request; a missing file is a one-line error.
    func test_niqe_picturesAndVideos() throws {
        let photo = CLITests.repoRoot + "/Tests/Fixtures/photos/chelsea.png"
        let clip = dir.file("clip.mp4")
        try testClip(clip, size: "320x240", seconds: 1)
        var r = try cli(["niqe", photo, clip])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        guard lines.count == 2 else { return XCTFail("two lines expected: \(r.stdout) \(r.stderr)") }
        XCTAssertTrue(lines[0].hasPrefix("\(photo): NIQE "), lines[0])
        XCTAssertTrue(lines[1].contains("NIQE mean") && lines[1].contains("frames sampled"), lines[1])
        r = try cli(["niqe", "--json", "--samples", "4", clip])
        let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(o["frames_scored"] as? Int, 4)
        let mean = try XCTUnwrap(o["niqe"] as? Double), lo = try XCTUnwrap(o["min"] as? Double),
            hi = try XCTUnwrap(o["max"] as? Double)
        XCTAssertTrue(lo <= mean && mean <= hi && mean > 0, "\(o)")
        r = try cli(["niqe", dir.file("missing.png")])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.hasPrefix("filmrestore: error: ") && r.stderr.contains("does not exist"), r.stderr)
    }

    /// `bench pipeline`: a line per step with its seconds per source frame, waits and threads, and the
    /// critical path named — the slowest stage of a deliberately lopsided chain (denoise far slower than fit).
    func test_benchPipeline_tableOfSteps_namesTheCriticalPath() throws {
        let clip = dir.file("clip.mp4")
        try testClip(clip, size: "320x240", seconds: 1)
        let preset = dir.file("lopsided.yml")
        try "stages:\n  - denoise:\n      radius: 6\n  - fit:\n      size: 160x120\noutput:\n  codec: ffv1\n".write(
            toFile: preset, atomically: true, encoding: .utf8)
        let r = try cli(["bench", "pipeline", "--input", clip, "--preset", preset])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        for step in ["decode", "denoise", "fit", "encode"] {
            let line = try XCTUnwrap(lines.first { $0.hasPrefix("  \(step) ") }, "no line for \(step): \(r.stdout)")
            let fields = line.split(separator: " ")
            XCTAssertNotNil(Double(fields[1]), line)
            XCTAssertGreaterThanOrEqual(fields.count, 7, line)
            XCTAssertEqual(Int(fields[5]).map { $0 > 0 }, true, "frames: \(line)")
            XCTAssertEqual(Int(fields[6]).map { $0 >= 1 }, true, "threads: \(line)")
        }
        let critical = try XCTUnwrap(lines.first { $0.contains("critical path:") }, r.stdout)
        XCTAssertTrue(critical.contains("critical path: denoise"), critical)
        XCTAssertTrue(critical.contains("cores on average"), critical)
    }

    /// Runs a restore under a pseudo-terminal of `columns` columns and returns what it drew.
    func underTerminal(columns: Int, _ args: [String]) throws -> String {
        let command =
            "stty cols \(columns) rows 40; " + ([CLITests.binary] + args).map { "'\($0)'" }.joined(separator: " ")
        let r = try runProcess("script", ["-qfec", command, "/dev/null"])
        XCTAssertEqual(r.status, 0, r.stdout)
        return r.stdout
    }

    func test_progressLine_fitsTheTerminal_andJSONProgressRisesToTheTotal() throws {
        let input = dir.file("in.mp4")
        try testClip(input, size: "320x240", seconds: 3)
        for columns in [80, 200] {
            let drawn = try underTerminal(
                columns: columns, ["restore", input, "-o", dir.file("o\(columns).mkv"), "--preset", "cleanup"])
            let pieces = drawn.replacingOccurrences(of: "\u{1B}[K", with: "").components(
                separatedBy: CharacterSet(charactersIn: "\r\n"))
            let progress = pieces.filter { $0.hasPrefix("frame ") }
            XCTAssertGreaterThanOrEqual(progress.count, 2, drawn)
            for p in progress { XCTAssertLessThan(p.count, columns, "a progress line wider than the terminal: \(p)") }
            if columns == 200 {
                XCTAssertTrue(progress.contains { $0.contains("[decode") }, "the step rates fit at 200 columns")
            }
        }
        let r = try cli(["restore", input, "-o", dir.file("json.mkv"), "--preset", "cleanup", "--progress", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let objects = r.stderr.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        XCTAssertGreaterThanOrEqual(objects.count, 2, r.stderr)
        let frames = objects.compactMap { $0["frame"] as? Int }
        XCTAssertEqual(frames, frames.sorted())
        XCTAssertEqual(frames.last, 72)
        XCTAssertEqual(objects.last { $0["frame"] != nil }?["total"] as? Int, 72)
        XCTAssertNotNil(objects.first { $0["frame"] != nil }?["steps"] as? [String: Any])
        let notes = objects.compactMap { $0["note"] as? String }
        XCTAssertTrue(notes.contains { $0.hasPrefix("\(input): ") }, "the run's first line, as a note: \(notes)")
    }

    func test_everyVideoOutput_isColorTagged_andQuietMeansQuiet() throws {
        let input = dir.file("in.mp4")
        try testClip(input, size: "96x64", seconds: 0.5)
        for codec in ["ffv1", "prores_ks", "libx264", "libx265", "libsvtav1"] {
            for mode in [[], ["--no-checkpoint"]] {
                let out = dir.file("\(codec)\(mode.count).mkv")
                let r = try cli(
                    ["restore", input, "-o", out, "--preset", "master-ffv1", "--codec", codec, "-q"] + mode)
                XCTAssertEqual(r.status, 0, r.stderr)
                XCTAssertEqual(r.stderr, "", "\(codec): -q prints nothing (no encoder banner)")
                let j = try ffprobe(
                    out,
                    [
                        "-select_streams", "v", "-show_entries",
                        "stream=color_space,color_range,color_primaries,color_transfer",
                    ])
                let st = try XCTUnwrap((j["streams"] as? [[String: Any]])?.first)
                for key in ["color_space", "color_range", "color_primaries", "color_transfer"] {
                    let v = st[key] as? String ?? "unknown"
                    XCTAssertNotEqual(v, "unknown", "\(codec) \(mode): \(key)")
                }
                XCTAssertEqual(st["color_space"] as? String, "smpte170m", "\(codec) \(mode): SD is tagged BT.601")
            }
        }
    }

    func test_sourceTimecode_isCarriedToTheOutput() throws {
        let input = dir.file("tc.mov")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=24:duration=1", "-c:v", "libx264", "-timecode",
            "01:02:03:04", input,
        ])
        for (out, mode) in [("o.mov", [String]()), ("o.mkv", ["--no-checkpoint"])] {
            let r = try cli(
                ["restore", input, "-o", dir.file(out), "--preset", "master-ffv1", "--codec", "prores_ks", "-q"] + mode)
            XCTAssertEqual(r.status, 0, r.stderr)
            let j = try ffprobe(dir.file(out), ["-show_entries", "stream_tags=timecode:format_tags=timecode,TIMECODE"])
            let text = String(describing: j)
            XCTAssertTrue(text.contains("01:02:03:04"), "\(out): \(text)")
        }
    }

    /// An HD scan through a 4K chain with `upscale.fit-aware`: the network works on 756x567, not
    /// 1440x1080, and `--stats-json` and the report say what size each step made its frames at.
    func test_fitAwareUpscale_hdScan_stepSizesInStatsAndReport() throws {
        let input = dir.file("hd.mkv")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=1440x1080:rate=18:duration=0.12", "-c:v", "ffv1", input,
        ])
        let preset = dir.file("hd4k.yml")
        try """
        stages:
          - upscale:
              model: raisr
              fit-aware: true
          - fit:
              size: 3840x2160
        output:
          codec: ffv1
        """.write(toFile: preset, atomically: true, encoding: .utf8)
        let out = dir.file("out.mkv"), stats = dir.file("s.json"), report = dir.file("r.html")
        let r = try cli([
            "restore", input, "-o", out, "--preset", preset, "--stats-json", stats, "--report", report, "-q",
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let o = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: stats))) as? [String: Any])
        let order = try XCTUnwrap(o["step_order"] as? [String]), sizes = try XCTUnwrap(o["step_sizes"] as? [String])
        let bySize = Dictionary(zip(order, sizes), uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(bySize["decode"], "1440x1080")
        XCTAssertEqual(bySize["upscale"], "3024x2268")
        XCTAssertEqual(bySize["fit"], "3840x2160")
        let v = try XCTUnwrap(try probeStreams(out).first)
        XCTAssertEqual(v.width, 3840)
        XCTAssertTrue(try String(contentsOfFile: report, encoding: .utf8).contains("3024x2268"))
    }
}
