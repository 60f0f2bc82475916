import XCTest
import Foundation
import TestSupport
import MediaIO
import FilmCore

/// The tool tried as a careless or hostile user would: paths that name an input, two runs on one
/// output, signals, damaged and odd inputs, out-of-range options. Each case is the measured
/// outcome (exit status, bytes of the input, frames of the output), not a message alone.
final class AbuseCLITests: CLITestCase {
    override class var folderPrefix: String { "cli-abuse" }

    func small(_ name: String, seconds: Double = 1, size: String = "96x64") throws -> String {
        let p = dir.file(name)
        try testClip(p, size: size, seconds: seconds)
        return p
    }

    /// The decoded video frames' timestamps and MD5s (FFmpeg's framemd5): equal lists mean equal frames.
    func frameHashes(_ path: String) throws -> [String] {
        let r = try runProcess(
            "ffmpeg", ["-nostdin", "-v", "error", "-i", path, "-map", "0:v:0", "-f", "framemd5", "-"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
            // stream, dts, pts, duration, size, hash: keep pts, duration and hash
            let f = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            return f.count >= 6 ? "\(f[2]) \(f[3]) \(f[5])" : String(line)
        }
    }

    func sha(_ path: String) throws -> String { try FileDigest.sha256(path: path) }

    // MARK: item 1: no file the tool writes may be an input or another output

    func test_noOutputFlag_canWriteOverAnInput_orAnotherOutput() throws {
        let input = try small("in.mp4")
        let before = try sha(input)
        let out = dir.file("out.mkv")
        let cases: [([String], String)] = [
            (["restore", input, "-o", out, "--preset", "master-ffv1", "--stats-json", input], "it is the input"),
            (
                ["restore", input, "-o", out, "--preset", "master-ffv1", "--stats-json", input, "--force"],
                "it is the input"
            ),
            (["restore", input, "-o", out, "--preset", "master-ffv1", "--stats-json", out], "both be written"),
            (
                [
                    "restore", input, "-o", out, "--preset", "master-ffv1", "--report", dir.file("out.html"),
                    "--stats-json", dir.file("out.json"),
                ], "both be written"
            ),
            (["plan", input, "-o", input, "--force", "--preset", "master-ffv1", "--segments", "2"], "it is the input"),
            (["restore", input, "-o", input, "--force"], "it is the input"),
        ]
        for (args, needle) in cases {
            let r = try cli(args + ["--quiet"].filter { _ in args[0] == "restore" })
            XCTAssertNotEqual(r.status, 0, args.joined(separator: " "))
            XCTAssertTrue(r.stderr.contains(needle), "\(args.joined(separator: " ")): \(r.stderr)")
            XCTAssertEqual(try sha(input), before, "the input is untouched")
            XCTAssertFalse(
                FileManager.default.fileExists(atPath: out), "nothing written: \(args.joined(separator: " "))")
        }
        // A hard link and a symbolic link to the input are the input.
        let hard = dir.file("hard.mkv"), soft = dir.file("soft.mkv")
        XCTAssertEqual(link(input, hard), 0)
        XCTAssertEqual(symlink(input, soft), 0)
        for o in [hard, soft] {
            let r = try cli(["restore", input, "-o", o, "--preset", "master-ffv1", "--force", "--quiet"])
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.stderr.contains("it is the input"), r.stderr)
        }
        XCTAssertEqual(try sha(input), before)
        // The report never overwrites the statistics it reads (its JSON would be r.json).
        XCTAssertEqual(
            try cli([
                "restore", input, "-o", out, "--preset", "master-ffv1", "--stats-json", dir.file("r.json"), "--quiet",
            ]).status, 0)
        let stats = try sha(dir.file("r.json"))
        let r = try cli(["report", input, out, "--stats", dir.file("r.json"), "-o", dir.file("r.html"), "--force"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("it is the input"), r.stderr)
        XCTAssertEqual(try sha(dir.file("r.json")), stats)
        // An existing statistics file is replaced only with --force.
        let r2 = try cli([
            "restore", input, "-o", dir.file("o2.mkv"), "--preset", "master-ffv1", "--stats-json", dir.file("r.json"),
            "--quiet",
        ])
        XCTAssertNotEqual(r2.status, 0)
        XCTAssertTrue(r2.stderr.contains("--force"), r2.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("o2.mkv")))
    }

    /// A restore caught while it holds the output: started, then stopped (SIGSTOP) as soon as its
    /// lock file appears, so the test acts while it runs, however fast the machine; `resume()` lets it go on.
    final class HeldRun {
        let process = Process()
        func resume() { kill(process.processIdentifier, SIGCONT) }
    }

    func startHeldRun(_ input: String, _ out: String, _ extra: [String] = []) throws -> HeldRun {
        let run = HeldRun()
        let p = run.process
        p.executableURL = URL(fileURLWithPath: CLITests.binary)
        p.arguments = ["restore", input, "-o", out, "--preset", "master-ffv1", "--quiet"] + extra
        p.standardError = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let lock = dir.path + "/." + (out as NSString).lastPathComponent + ".filmrestore.lock"
        let deadline = Date().addingTimeInterval(30)
        // The lock file exists and holds the run's process id.
        func held() -> Bool {
            ((try? FileManager.default.attributesOfItem(atPath: lock))?[.size] as? NSNumber)?.intValue ?? 0 > 0
        }
        while !held() && Date() < deadline && p.isRunning { usleep(500) }
        kill(p.processIdentifier, SIGSTOP)
        XCTAssertTrue(p.isRunning, "the run ended before the test could act")
        return run
    }

    /// A clip that takes the tool about a second to restore.
    func mediumClip() throws -> String { try small("medium.mp4", seconds: 4, size: "640x480") }

    func test_outputAppearingDuringTheRun_isNotReplaced_andASecondRunIsRefused() throws {
        let input = try mediumClip()
        for mode in [["--no-checkpoint"], []] {
            let out = dir.file("race\(mode.count).mkv")
            let run = try startHeldRun(input, out, mode)
            // A second restore to the same output stops at once and names the first.
            let second = try cli(["restore", input, "-o", out, "--preset", "master-ffv1", "--quiet", "--force"] + mode)
            XCTAssertNotEqual(second.status, 0)
            XCTAssertTrue(
                second.stderr.contains("another restore is writing")
                    && second.stderr.contains("pid \(run.process.processIdentifier)"), second.stderr)
            // Someone else's file appears at OUT while the first runs: it survives.
            try "precious".write(toFile: out, atomically: false, encoding: .utf8)
            run.resume()
            run.process.waitUntilExit()
            XCTAssertEqual(
                run.process.terminationStatus, 1, "the run fails rather than replace a file it did not check")
            XCTAssertEqual(try String(contentsOfFile: out, encoding: .utf8), "precious")
            XCTAssertFalse(
                dir.listing().contains { $0.contains(".partial-") || $0.hasSuffix(".lock") }, "\(dir.listing())")
            // The checkpointed run kept its segments: once OUT is moved away, --resume only joins them.
            if mode.isEmpty {
                try FileManager.default.removeItem(atPath: out)
                let r = try cli(["restore", input, "-o", out, "--preset", "master-ffv1", "--resume"])
                XCTAssertEqual(r.status, 0, r.stderr)
                XCTAssertEqual(try probeFrameTimes(out).count, 96)
            }
        }
    }

    func test_sigterm_exits143_sigint130_andStalePartialsOfDeadProcessesAreRemoved() throws {
        let input = try mediumClip()
        for (sig, status) in [(SIGTERM, Int32(143)), (SIGINT, Int32(130))] {
            let out = dir.file("sig\(sig).mkv")
            let run = try startHeldRun(input, out, ["--no-checkpoint"])
            kill(run.process.processIdentifier, sig)
            run.resume()
            run.process.waitUntilExit()
            XCTAssertEqual(run.process.terminationStatus, status, "signal \(sig)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        }
        // A kill -9 leaves a temporary file: the next run to that output removes it (its writer is
        // dead) but leaves the temporary file of a live writer alone.
        let out = dir.file("o.mkv")
        let dead = Process()
        dead.executableURL = URL(fileURLWithPath: "/bin/true")
        try dead.run()
        dead.waitUntilExit()
        let stale = dir.file(".o.partial-\(dead.processIdentifier)-42.mkv"),
            live = dir.file(".o.partial-\(getpid())-43.mkv")
        for f in [stale, live] { try "x".write(toFile: f, atomically: false, encoding: .utf8) }
        let r = try cli([
            "restore", try small("in.mp4"), "-o", out, "--preset", "master-ffv1", "--no-checkpoint", "--quiet",
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale))
        XCTAssertTrue(FileManager.default.fileExists(atPath: live))
    }

    // MARK: item 2: segments join exactly whatever the container's clock

    func test_mkv13s_in2sSegments_equalsSinglePass_withAndWithoutTemporalStages() throws {
        let input = dir.file("film.mkv")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=24:duration=13", "-f", "lavfi", "-i", "sine=duration=13",
            "-vf", "noise=alls=10:allf=t", "-c:v", "libx264", "-preset", "ultrafast", "-g", "24", "-c:a", "aac", input,
        ])
        let temporal = dir.file("temporal.yml")
        try "stages:\n  - deflicker\n  - denoise\noutput:\n  codec: ffv1\n".write(
            toFile: temporal, atomically: true, encoding: .utf8)
        for preset in ["master-ffv1", temporal] {
            let single = dir.file("single.mkv"), segmented = dir.file("segmented.mkv")
            var r = try cli([
                "restore", input, "-o", single, "--preset", preset, "--no-checkpoint", "--quiet", "--force",
            ])
            XCTAssertEqual(r.status, 0, r.stderr)
            r = try cli([
                "restore", input, "-o", segmented, "--preset", preset, "--segment-seconds", "2", "--quiet", "--force",
            ])
            XCTAssertEqual(r.status, 0, "\(preset): \(r.stderr)")
            let a = try frameHashes(single), b = try frameHashes(segmented)
            XCTAssertEqual(a.count, 312)
            XCTAssertEqual(a, b, "\(preset): the checkpointed restore equals the single pass, frame for frame")
            XCTAssertEqual(try packetHashes(segmented, stream: "a:0"), try packetHashes(input, stream: "a:0"))
            // plan / restore --job / assemble: the same.
            let job = dir.file("job.json")
            r = try cli(["plan", input, "--preset", preset, "--segments", "6", "-o", job, "--force"])
            XCTAssertEqual(r.status, 0, r.stderr)
            for i in 0..<6 {
                XCTAssertEqual(try cli(["restore", "--job", job, "--segment", "\(i)", "--quiet"]).status, 0)
            }
            let assembled = dir.file("assembled.mkv")
            r = try cli(["assemble", job, "-o", assembled, "--force"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(try frameHashes(assembled), a, "\(preset): assembled equals the single pass")
            try? FileManager.default.removeItem(atPath: dir.file("job.segments"))
        }
    }

    func test_everyListedSourceContainer_at23976_segmentedEqualsSinglePass() throws {
        for ext in ["mp4", "mov", "nut", "ts", "mkv"] {
            let input = dir.file("clip.\(ext)")
            try ffmpeg([
                "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=24000/1001:duration=5", "-f", "lavfi", "-i",
                "sine=duration=5",
                "-c:v", "libx264", "-preset", "ultrafast", "-g", "24", "-c:a", "aac", input,
            ])
            let a = dir.file("a-\(ext).mkv"), b = dir.file("b-\(ext).mkv")
            XCTAssertEqual(
                try cli(["restore", input, "-o", a, "--preset", "master-ffv1", "--segment-seconds", "1", "--quiet"])
                    .status, 0, ext)
            XCTAssertEqual(
                try cli(["restore", input, "-o", b, "--preset", "master-ffv1", "--no-checkpoint", "--quiet"]).status, 0,
                ext)
            let ha = try frameHashes(a)
            XCTAssertEqual(ha.count, 120, ext)
            XCTAssertEqual(ha, try frameHashes(b), "\(ext): segmented equals single pass")
        }
    }

    // MARK: item 3: the sampled hash of a file of 10 GiB and more

    func test_sampledHash_of10GiBSparseFile_isStable_andPlanThenJobWorks() throws {
        // An MP4 with its index at the front, followed by 10 GiB of holes (a sparse file: no disk used).
        let input = dir.file("big.mp4")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=24:duration=1", "-c:v", "libx264", "-preset", "ultrafast",
            "-movflags", "+faststart", input,
        ])
        XCTAssertEqual(truncate(input, 10 << 30), 0)
        let a = try FileDigest.sampledSHA256(path: input), b = try FileDigest.sampledSHA256(path: input)
        XCTAssertEqual(a, b)
        let job = dir.file("job.json")
        var r = try cli(["plan", input, "--preset", "master-ffv1", "--segments", "2", "-o", job])
        XCTAssertEqual(r.status, 0, r.stderr)
        for i in 0..<2 {
            r = try cli(["restore", "--job", job, "--segment", "\(i)", "--quiet"])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        r = try cli(["assemble", job, "-o", dir.file("big-out.mkv")])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try probeFrameTimes(dir.file("big-out.mkv")).count, 24)
    }

    // MARK: item 5: YAML presets

    func test_yamlBillionLaughs_isRefusedAtOnce() throws {
        var y = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...9 {
            y += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        y += "stages: [*a9]\n"
        let p = dir.file("laughs.yml")
        try y.write(toFile: p, atomically: true, encoding: .utf8)
        let start = Date()
        let r = try cli(["restore", try small("in.mp4"), "-o", dir.file("o.mkv"), "--preset", p])
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("expands to more than"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1)
    }

    // MARK: item 6: damaged and odd inputs

    func test_zeroFrameInput_isAClearError_thatLeavesNothing() throws {
        // An MP4 whose index (at the front) declares 24 frames and whose data was cut off.
        let full = dir.file("full.mp4"), input = dir.file("empty.mp4")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=24:duration=1", "-c:v", "libx264", "-preset", "ultrafast",
            "-movflags", "+faststart", full,
        ])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: full))
        let mdat = try XCTUnwrap(bytes.range(of: Data("mdat".utf8)))
        try bytes[..<mdat.upperBound].write(to: URL(fileURLWithPath: input))
        try FileManager.default.removeItem(atPath: full)
        for mode in [[], ["--no-checkpoint"]] {
            let out = dir.file("o.mp4")
            for _ in 0..<2 {  // and again: nothing left blocks a rerun
                let r = try cli(
                    ["restore", input, "-o", out, "--preset", "master-ffv1", "--codec", "libx264", "--quiet"] + mode)
                XCTAssertEqual(r.status, 1, r.stderr)
                XCTAssertTrue(r.stderr.contains("no video frame"), r.stderr)
                XCTAssertEqual(dir.listing(), ["empty.mp4"], "\(mode)")
            }
        }
    }

    func test_truncatedInput_writesWhatDecodes_exits3_andSaysSo() throws {
        let full = dir.file("full.mkv")
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=96x64:rate=24:duration=5", "-c:v", "ffv1", "-g", "1", full])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: full))
        let cut = dir.file("cut.mkv")
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: cut))
        for mode in [[], ["--no-checkpoint"]] {
            let out = dir.file("out\(mode.count).mkv"), stats = dir.file("stats\(mode.count).json")
            let r = try cli(
                ["restore", cut, "-o", out, "--preset", "master-ffv1", "--stats-json", stats, "--quiet"] + mode)
            XCTAssertEqual(r.status, 3, r.stderr)
            let written = try probeFrameTimes(out).count
            XCTAssertGreaterThan(written, 30)
            XCTAssertLessThan(written, 100)
            XCTAssertTrue(r.stderr.contains("input damaged: \(written) of 120 frames decoded"), r.stderr)
            let j =
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: stats))) as? [String: Any]
            let d = try XCTUnwrap(j?["input_damaged"] as? [String: Any])
            XCTAssertEqual(d["frames_decoded"] as? Int, written)
            XCTAssertEqual(d["frames_declared"] as? Int, 120)
        }
        // The whole file is not damaged.
        let r = try cli(["restore", full, "-o", dir.file("whole.mkv"), "--preset", "master-ffv1", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    func test_oddSize_keptExactly_whereTheCodecAllows_andSaidWhereNot() throws {
        let input = dir.file("odd.mkv")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24:duration=0.5", "-vf", "scale=321:239,format=yuv444p",
            "-c:v", "ffv1", input,
        ])
        let master = dir.file("master.mkv")
        var r = try cli(["restore", input, "-o", master, "--preset", "master-ffv1", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        var v = try XCTUnwrap(try probeStreams(master).first { $0.type == "video" })
        XCTAssertEqual(v.width, 321)
        XCTAssertEqual(v.height, 239)
        let (_, src) = try decodeAll(input), (_, out) = try decodeAll(master)
        XCTAssertGreaterThan(psnr(src[0], out[0]), 50)
        // 4:2:0 H.264 needs even sizes: padded by one column and row, and said.
        let h264 = dir.file("h264.mp4")
        r = try cli(["restore", input, "-o", h264, "--preset", "master-ffv1", "--codec", "libx264"])
        XCTAssertEqual(r.status, 0, r.stderr)
        v = try XCTUnwrap(try probeStreams(h264).first { $0.type == "video" })
        XCTAssertEqual(v.width, 322)
        XCTAssertEqual(v.height, 240)
        XCTAssertTrue(r.stderr.contains("321x239") && r.stderr.contains("322x240"), r.stderr)
    }

    // MARK: item 7: options checked before any decoding

    func test_options_outOfRange_refusedBeforeAnyWork() throws {
        let input = try small("in.mp4")
        let out = dir.file("o.mkv")
        let cases: [([String], String)] = [
            (["--crf", "99"], "--crf"), (["--crf=-1"], "--crf"), (["--codec", "ffv1", "--crf", "10"], "--crf"),
            (["--queue-capacity", "0"], "--queue-capacity"), (["--queue-capacity", "1000000000"], "--queue-capacity"),
            (["--encoder-preset", "warp9"], "warp9"),
            (["--codec", "libx265", "--encoder-preset", "fastest"], "fastest"),
        ]
        for (extra, needle) in cases {
            let r = try cli(["restore", input, "-o", out, "--preset", "fit-4k60", "--quiet"] + extra)
            XCTAssertNotEqual(r.status, 0, extra.joined(separator: " "))
            XCTAssertTrue(r.stderr.contains(needle), "\(extra): \(r.stderr)")
            XCTAssertEqual(dir.listing(), ["in.mp4"], "nothing left: \(extra)")
        }
        // Preset output options that name files are not passed to the encoder.
        let p = dir.file("evil.yml")
        try "stages: []\noutput:\n  codec: libx264\n  options:\n    x264-params: stats=/tmp/pwned-by-preset\n".write(
            toFile: p, atomically: true, encoding: .utf8)
        let r = try cli(["restore", input, "-o", out, "--preset", p, "--quiet"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("x264-params"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    func test_dashPrefixedPaths_workAfterDoubleDash_andAreNeverHelp() throws {
        let input = try small("-dash.mp4")
        // Not help, not success: a clear error naming the fix.
        var r = try cli(["restore", "-dash.mp4", "-o", "o.mkv"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertFalse(r.stdout.contains("USAGE"), r.stdout)
        XCTAssertTrue(r.stderr.contains("--"), r.stderr)
        r = try cli(["restore", "-o", dir.file("o.mkv"), "--preset", "master-ffv1", "--quiet", "--", input])
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    func test_coverArtAndSecondVideo_areNamedInANote() throws {
        let input = dir.file("two.mkv")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=24:duration=1", "-f", "lavfi", "-i",
            "mandelbrot=size=64x48:rate=24",
            "-map", "0:v", "-map", "1:v", "-t", "1", "-c:v", "ffv1", input,
        ])
        let r = try cli(["restore", input, "-o", dir.file("o.mkv"), "--preset", "master-ffv1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("second video stream"), r.stderr)
    }
}
