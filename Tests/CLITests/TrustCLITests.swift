import XCTest
import Foundation
import TestSupport
import MediaIO
import FilmCore
import Restoration

/// Issue 37: the surfaces added since the first trust pass (sequences, batch, parts, timecodes),
/// tried as a careless or hostile user would. Each case asserts the documented exit status, the
/// message, and that nothing outside the output changed (every file's inode and hash before and
/// after). The crafted scans come from `Tools/make_crafted_sequences.py`.
final class TrustCLITests: CLITestCase {
    override class var folderPrefix: String { "cli-trust" }

    // MARK: helpers

    /// Every entry under `root` (hidden ones too): its kind, inode and, for files, SHA-256.
    func snapshot(_ root: String, skipping skip: [String] = []) throws -> [String: String] {
        var out: [String: String] = [:]
        let fm = FileManager.default
        guard let e = fm.enumerator(atPath: root) else { return out }
        for case let rel as String in e {
            if skip.contains(where: { rel == $0 || rel.hasPrefix($0 + "/") }) { continue }
            let p = root + "/" + rel
            var s = stat()
            guard lstat(p, &s) == 0 else { continue }
            let kind = s.st_mode & S_IFMT
            var v = "kind \(kind) inode \(s.st_ino)"
            if kind == S_IFREG { v += " " + (try FileDigest.sha256(path: p)) }
            out[rel] = v
        }
        var s = stat()
        if lstat(root, &s) == 0 { out["."] = "inode \(s.st_ino)" }
        return out
    }

    /// The crafted cases (made once per test by the Tools/ script).
    func crafted() throws -> String {
        let out = dir.file("crafted")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Tools/make_crafted_sequences.py").path
        let r = try runProcess("python3", [script, out])
        XCTAssertEqual(r.status, 0, r.stderr)
        return out
    }

    /// `count` 64x48 PNG scans in a new folder.
    func scans(_ name: String = "scans", count: Int = 6) throws -> String {
        let f = dir.file(name)
        try FileManager.default.createDirectory(atPath: f, withIntermediateDirectories: true)
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24", "-frames:v", "\(count)", f + "/scan_%04d.png",
        ])
        return f
    }

    func restore(_ args: [String]) throws -> ProcessResult { try cli(["restore"] + args + ["--quiet"]) }

    func framemd5(_ path: String) throws -> [String] {
        let r = try runProcess(
            "ffmpeg", ["-nostdin", "-v", "error", "-i", path, "-map", "0:v:0", "-f", "framemd5", "-"])
        XCTAssertEqual(r.status, 0, r.stderr)
        // The hashes of the decoded pictures, in order.
        return r.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }.map {
            String($0.split(separator: ",").last ?? "").trimmingCharacters(in: .whitespaces)
        }
    }

    // MARK: destroys data

    func test_sequenceOutput_neverReplacesAFile_aForeignFolder_orTheCurrentFolder() throws {
        let input = try scans()
        let victims = dir.file("victims")
        try FileManager.default.createDirectory(atPath: victims + "/c/f_0001.png", withIntermediateDirectories: true)
        try "notes".write(toFile: victims + "/notes.txt", atomically: false, encoding: .utf8)
        try "mine".write(toFile: victims + "/c/f_0001.png/keep.txt", atomically: false, encoding: .utf8)
        let empty = dir.file("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let before = try snapshot(dir.path)
        let cases: [([String], String)] = [
            (["-o", victims + "/notes.txt/f_%04d.png"], "it is a file, not a folder"),
            (["-o", victims + "/notes.txt/f_%04d.png", "-y"], "it is a file, not a folder"),
            (["-o", victims + "/c/f_%04d.png", "-y"], "holds files this tool did not make"),
            (["-o", victims + "/c/f_%04d.png"], "holds files this tool did not make"),
            (["-o", input + "/../f_%04d.png", "-y"], "holds the input"),
            (["-o", input + "/f_%04d.png", "-y"], "holds the input"),
        ]
        for (args, needle) in cases {
            let r = try restore([input, "--preset", "master-ffv1"] + args)
            XCTAssertEqual(r.status, 1, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(needle), "\(args): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        }
        // The current folder (empty) as the sequence's folder: refused, the folder is the same one.
        let r = try runProcess(
            "/bin/sh", ["-c", "cd '\(empty)' && exec '\(CLITests.binary)' restore ../scans -o 'f_%04d.png' -q -y"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("it is the current folder"), r.stderr)
        XCTAssertEqual(try snapshot(dir.path), before, "nothing outside an output changed")
        // A folder this tool made is replaced, and only with --force.
        let out = dir.file("out/f_%04d.png")
        XCTAssertEqual(try restore([input, "-o", out, "--preset", "master-ffv1"]).status, 0)
        let again = try restore([input, "-o", out, "--preset", "master-ffv1"])
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(again.stderr.contains("use --force"), again.stderr)
        XCTAssertEqual(try restore([input, "-o", out, "--preset", "master-ffv1", "-y"]).status, 0)
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: dir.file("out")).filter { $0.hasSuffix(".png") }
                .count, 6)
    }

    func test_force_neverReplacesADeviceOrAFIFO() throws {
        let input = try scans()
        let fifo = dir.file("pipe.json"), fifoOut = dir.file("pipe.mkv")
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        XCTAssertEqual(mkfifo(fifoOut, 0o644), 0)
        var targets = [fifo, fifoOut]
        // A device node of our own (root only): the null device's numbers, in the test's folder.
        let device = dir.file("null.json")
        if mknod(device, mode_t(S_IFCHR | 0o666), dev_t(0x103)) == 0 { targets.append(device) }
        let before = try snapshot(dir.path)
        for t in targets {
            for args in [
                ["-o", dir.file("o.mkv"), "--stats-json", t, "-y"], ["-o", t, "-y"],
                ["-o", t, "-y", "--no-checkpoint"],
            ] where !(args[1] == t && t.hasSuffix(".json")) {
                let r = try restore([input, "--preset", "master-ffv1"] + args)
                XCTAssertEqual(r.status, 1, "\(args): \(r.stderr)")
                XCTAssertTrue(r.stderr.contains("refusing to replace"), r.stderr)
                XCTAssertTrue(r.stderr.contains("only a regular file is replaced"), r.stderr)
            }
        }
        XCTAssertEqual(try snapshot(dir.path), before)
        XCTAssertEqual(FilePaths.kind(fifo), S_IFIFO)
    }

    // MARK: crashes

    func test_pictureSizeChangingMidFilm_isRefusedNamingTheFrame_neverATrapOrAWrongPicture() throws {
        let c = try crafted()
        let folder = c + "/png-size-change"
        for out in [dir.file("m.mkv"), dir.file("seq/f_%04d.png"), dir.file("u.mkv")] {
            let preset = out.hasSuffix("u.mkv") ? ["--preset", "cleanup"] : ["--preset", "master-ffv1"]
            let r = try restore([folder, "-o", out] + preset)
            XCTAssertEqual(r.status, 1, "\(out): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("frame 2 (f_0002.png) is 32x24"), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out))
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("seq")))
        }
        // A video whose size changes mid-stream (two H.264 parts joined in MPEG-TS).
        let a = dir.file("a.ts"), b = dir.file("b.ts"), joined = dir.file("joined.ts")
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24:duration=0.5", "-c:v", "libx264", a])
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=32x24:rate=24:duration=0.5", "-c:v", "libx264", b])
        try ffmpeg(["-i", "concat:\(a)|\(b)", "-c", "copy", joined])
        let r = try restore([joined, "-o", dir.file("v.mkv"), "--preset", "master-ffv1"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("is 32x24 but the film's frames are 64x48"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("v.mkv")))
    }

    func test_hugeOrNonFiniteNumbers_areRefusedWhereParsed_namingTheFlagAndTheRange() throws {
        let input = dir.file("in.mp4")
        try testClip(input, size: "64x48", seconds: 1)
        let preset = dir.file("huge.yml")
        try "stages: []\noutput:\n  codec: libx264\n  bitrate: 1e400\n".write(
            toFile: preset, atomically: true, encoding: .utf8)
        let before = try snapshot(dir.path)
        let out = dir.file("o.mkv")
        let cases: [([String], String)] = [
            (["--start", "9223372036854775807"], "--start must be a time from 0 to 1000000 s"),
            (["--start", "922337203685477.5807"], "--start must be a time"),
            (["--duration", "9223372036854775807"], "--duration must be a time"),
            (["--frames", "9223372036854775807"], "--frames must be 1…100000000"),
            (["--fps", "9223372036854775807"], "--fps must be a rate of 1…240 fps"),
            (["--fps", "922337203685477.5807"], "--fps must be a rate of 1…240 fps"),
            (["--fps", "100000"], "--fps must be a rate of 1…240 fps"),
            (["--bitrate", "inf"], "--bitrate must be like 40M"),
            (["--bitrate", "1e400"], "--bitrate must be like 40M"),
            (["--segment-seconds", "inf"], "--segment-seconds must be 0.1…86400 seconds"),
            (["--segment-seconds", "1e300"], "--segment-seconds must be 0.1…86400 seconds"),
            (["--min-psnr", "nan"], "--min-psnr must be a number from 0 to 100"),
            (["--min-ssim", "2"], "--min-ssim must be a number from 0 to 1"),
            (["--set", "fps.rate=100000"], "fps.rate"),
        ]
        for (args, needle) in cases {
            let r = try restore([input, "-o", out, "--preset", "master-ffv1"] + args)
            XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(needle), "\(args): \(r.stderr)")
        }
        var r = try restore([input, "-o", out, "--preset", preset])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("output.bitrate must be like"), r.stderr)
        r = try restore([try scans(), "-o", out, "--preset", "master-ffv1", "--input-rate", "0.001"])
        XCTAssertEqual(r.status, 64, r.stderr)
        XCTAssertTrue(r.stderr.contains("--input-rate must be a rate of 1…1000 fps"), r.stderr)
        r = try cli(["plan", input, "-o", dir.file("j.json"), "--segment-seconds", "1e300"])
        XCTAssertEqual(r.status, 64, r.stderr)
        XCTAssertTrue(r.stderr.contains("--segment-seconds must be"), r.stderr)
        r = try cli(["report", input, input, "-o", dir.file("r.html"), "--min-psnr", "nan"])
        XCTAssertEqual(r.status, 64, r.stderr)
        // Nothing was left behind: no work folder, no lock file, no output.
        XCTAssertEqual(try snapshot(dir.path, skipping: ["scans"]), before)
    }

    // MARK: lies or loses work

    func test_batch_forwardsSIGTERMToItsFilm_waitsAndExits143_andCollidingNamesGetTheirOwnOutputs() throws {
        let films = dir.file("films")
        try FileManager.default.createDirectory(atPath: films, withIntermediateDirectories: true)
        for ext in ["mkv", "mov", "mp4"] { try testClip(films + "/b.\(ext)", size: "64x48", seconds: 0.5) }
        let outDir = dir.file("restored")
        var r = try cli(["restore", films, "-o", outDir, "--preset", "master-ffv1", "-q"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let outs = try FileManager.default.contentsOfDirectory(atPath: outDir).filter { !$0.hasPrefix(".") }.sorted()
        XCTAssertEqual(outs, ["b.mkv.mkv", "b.mov.mkv", "b.mp4.mkv"])
        XCTAssertEqual(r.stdout.components(separatedBy: " ok").count - 1, 3, r.stdout)
        for o in outs { XCTAssertEqual(try probeFrameTimes(outDir + "/" + o).count, 12, o) }
        // Run again: all three were done before.
        r = try cli(["restore", films, "-o", outDir, "--preset", "master-ffv1", "-q"])
        XCTAssertEqual(r.stdout.components(separatedBy: "done before (skipped)").count - 1, 3, r.stdout)

        // SIGTERM to the batch while a film is being restored: the film's restore stops too.
        let slow = dir.file("slow")
        try FileManager.default.createDirectory(atPath: slow, withIntermediateDirectories: true)
        try testClip(slow + "/long.mkv", size: "640x480", seconds: 20)
        let out2 = dir.file("out2")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.binary)
        p.arguments = ["restore", slow, "-o", out2, "--preset", "cleanup", "-q"]
        let stdout = dir.file("batch.out")
        _ = FileManager.default.createFile(atPath: stdout, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdout))
        p.standardError = FileHandle.nullDevice
        try p.run()
        let lock = out2 + "/.long.mkv.filmrestore.lock"
        var child: Int32 = 0
        let deadline = Date().addingTimeInterval(60)
        while child == 0 && Date() < deadline && p.isRunning {
            child =
                (try? String(contentsOfFile: lock, encoding: .utf8)).flatMap {
                    Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
                } ?? 0
            usleep(20_000)
        }
        XCTAssertGreaterThan(child, 0, "the film's restore started")
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 143)
        XCTAssertNotEqual(kill(child, 0), 0, "the film's restore is not left running")
        XCTAssertTrue(try String(contentsOfFile: stdout, encoding: .utf8).contains("interrupted"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out2 + "/long.mkv"))
    }

    func test_sequenceResume_keepsOnlyPicturesOfTheSameRecipe() throws {
        let input = try scans()
        let out = dir.file("seq/f_%04d.png"), work = dir.file(".seq.filmrestore-sequence")
        XCTAssertEqual(try restore([input, "-o", out, "--preset", "master-ffv1"]).status, 0)
        let whole = try (1...6).map { try FileDigest.sha256(path: dir.file("seq/f_000\($0).png")) }
        // An interrupted run, as it would be left: the work folder with some pictures, one planted.
        XCTAssertEqual(rename(dir.file("seq"), work), 0)
        try FileManager.default.removeItem(atPath: work + "/f_0005.png")
        try "not a picture".write(toFile: work + "/f_0003.png", atomically: false, encoding: .utf8)
        // Another recipe (another size): refused, nothing changed.
        let held = try snapshot(dir.path)
        var r = try restore([input, "-o", out, "--preset", "master-ffv1", "--resume", "--size", "32x24"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("made with another recipe"), r.stderr)
        XCTAssertEqual(try snapshot(dir.path), held)
        // A file of someone else's in it: refused.
        try "x".write(toFile: work + "/notes.txt", atomically: false, encoding: .utf8)
        r = try restore([input, "-o", out, "--preset", "master-ffv1", "--resume"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("holds files this tool did not make (notes.txt)"), r.stderr)
        try FileManager.default.removeItem(atPath: work + "/notes.txt")
        // The same recipe: the planted file is made again, the missing picture made, the rest kept.
        r = try cli(["restore", input, "-o", out, "--preset", "master-ffv1", "--resume"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("4 picture(s) kept"), r.stderr)
        XCTAssertTrue(r.stderr.contains("1 found there were not pictures of this run"), r.stderr)
        XCTAssertEqual(try (1...6).map { try FileDigest.sha256(path: dir.file("seq/f_000\($0).png")) }, whole)
        XCTAssertFalse(FileManager.default.fileExists(atPath: work))
    }

    func test_vfrGap_isNotDamage_butAFileCutShortIs() throws {
        // 24 frames with a 1.9 s gap between the 12th and the 13th (timestamps kept).
        let vfr = dir.file("vfr.mkv")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=24:duration=2.917", "-vf", "select='lt(n,12)+gte(n,58)'",
            "-fps_mode", "passthrough", "-c:v", "libx264", "-preset", "ultrafast", vfr,
        ])
        let times = try probeFrameTimes(vfr)
        XCTAssertGreaterThan(zip(times.dropFirst(), times).map { $0 - $1 }.max() ?? 0, 1.5, "the gap is there")
        var r = try restore([vfr, "-o", dir.file("vfr-out.mkv"), "--preset", "master-ffv1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try probeFrameTimes(dir.file("vfr-out.mkv")).count, times.count)
        // 13 s with sound, cut to 40 % of its bytes: every stream stops near 5 s.
        let full = dir.file("full.mkv"), cut = dir.file("cut.mkv")
        try testClip(full, size: "96x64", seconds: 13)
        let data = try Data(contentsOf: URL(fileURLWithPath: full))
        try data.prefix(data.count * 4 / 10).write(to: URL(fileURLWithPath: cut))
        r = try restore([cut, "-o", dir.file("cut-out.mkv"), "--preset", "master-ffv1"])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stderr.contains("input damaged: "), r.stderr)
        XCTAssertTrue(r.stderr.contains("(the film stops at"), r.stderr)
        XCTAssertTrue(r.stderr.contains("of the 13.0"), r.stderr)
    }

    func test_report_onTheToolsOwnOutput_keepsTiming_whenThePictureFollowsTheSoundsPriming() throws {
        // Matroska with AAC: the picture starts 21 ms after the sound (the encoder's priming).
        let input = dir.file("in.mkv")
        try testClip(input, size: "96x64", seconds: 2)
        for ext in ["mkv", "mp4", "mov"] {
            let out = dir.file("out.\(ext)")
            XCTAssertEqual(try restore([input, "-o", out, "--size", "160x120", "-y"]).status, 0)
            let r = try cli(["report", input, out, "-o", dir.file("r.html"), "--force"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("timing kept"), "\(ext): \(r.stdout)")
        }
    }

    func test_fidelityAudit_takesOutTheDeclaredGrain() throws {
        // A grainy clip: denoise measures the grain, grain puts it back; the report compares the
        // output with the grain taken out, so a faithful chain is not "invented detail".
        let input = dir.file("grainy.mkv")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=24:duration=1", "-vf", "noise=alls=24:allf=t",
            "-c:v", "ffv1", input,
        ])
        var ssim: [Double] = []
        for amount in ["1", "0"] {
            let preset = dir.file("g\(amount).yml")
            try "stages:\n  - denoise\n  - grain:\n      amount: \(amount)\noutput:\n  codec: ffv1\n".write(
                toFile: preset, atomically: true, encoding: .utf8)
            let out = dir.file("g\(amount).mkv")
            XCTAssertEqual(try restore([input, "-o", out, "--preset", preset]).status, 0)
            let r = try cli(["report", input, out, "-o", dir.file("g\(amount).html")])
            XCTAssertEqual(r.status, 0, r.stderr)
            let json =
                try JSONSerialization.jsonObject(
                    with: Data(contentsOf: URL(fileURLWithPath: dir.file("g\(amount).json")))) as? [String: Any]
            let summary = try XCTUnwrap(json?["summary"] as? [String: Any])
            ssim.append(try XCTUnwrap(summary["meanSSIM"] as? Double))
            XCTAssertEqual(summary["inventedFrames"] as? Int, 0)
            if amount == "1" {
                let frames = try XCTUnwrap(json?["frames"] as? [[String: Any]])
                XCTAssertTrue(frames.contains { $0["grainRemoved"] as? Bool == true })
            }
        }
        XCTAssertGreaterThan(ssim[1], 0.95, "without grain")
        // With the grain taken out (kept grain counted: 0.73 here), nearly the fidelity of no grain at all.
        XCTAssertGreaterThan(ssim[0], ssim[1] - 0.03, "with the grain taken out: \(ssim)")
    }

    func test_outputPattern_takesOneNumberField_andAFolderMayHoldAPercentSign() throws {
        let input = try scans(count: 3)
        for bad in ["f_%04d_%s.png", "f_%p.png", "f_%f.png", "f_%n.png", "f_%d_%d.png", "f_%5d.png", "f_%s.png"] {
            let r = try restore([input, "-o", dir.file("o/" + bad), "--preset", "master-ffv1"])
            XCTAssertEqual(r.status, 1, "\(bad): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("takes one number field, %d or %0Nd"), "\(bad): \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("o")))
        }
        // %% is a percent sign.
        var r = try restore([input, "-o", dir.file("o/f_100%%_%03d.png"), "--preset", "master-ffv1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.file("o/f_100%_001.png")))
        let c = try crafted()
        for input in [c + "/100%_scans", c + "/100%_scans/f_%04d.png"] {
            r = try restore([input, "-o", dir.file("p.mkv"), "--preset", "master-ffv1", "-y"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(try probeFrameTimes(dir.file("p.mkv")).count, 3)
        }
        // A folder of two sequences is not read as the first one alone.
        r = try restore([c + "/png-two-names", "-o", dir.file("two.mkv"), "--preset", "master-ffv1"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("holds pictures of more than one name"), r.stderr)
        r = try restore([c + "/png-two-names/b_%04d.png", "-o", dir.file("two.mkv"), "--preset", "master-ffv1"])
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    func test_timecodes_invalidOnesAreDropped_withANote() throws {
        let c = try crafted()
        for (name, kept) in [("dpx-good", "01:00:00:00"), ("dpx-tc-99", nil), ("dpx-tc-frames30", nil)] {
            for ext in ["mkv", "mov"] {
                let out = dir.file("\(name).\(ext)")
                let codec = ext == "mov" ? ["--codec", "prores_ks"] : []
                let r = try cli(["restore", c + "/" + name, "-o", out, "--preset", "master-ffv1"] + codec)
                XCTAssertEqual(r.status, 0, r.stderr)
                let probe = try ffprobe(out, ["-show_entries", "format_tags:stream_tags"])
                let text = "\(probe)"
                if let tc = kept {
                    XCTAssertTrue(text.contains(tc), "\(name).\(ext): \(text)")
                } else {
                    XCTAssertTrue(r.stderr.contains("is not a valid timecode at 24 fps: dropped"), r.stderr)
                    XCTAssertFalse(text.lowercased().contains("timecode"), "\(name).\(ext): \(text)")
                }
            }
        }
        // A DPX sequence out of an invalid timecode: no picture carries it either.
        let r = try cli(["restore", c + "/dpx-tc-99", "-o", dir.file("d/f_%04d.dpx"), "--preset", "master-ffv1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertNil(DPXHeader(path: dir.file("d/f_0001.dpx"))?.timecode)
    }

    func test_brokenDPXHeaders_nameTheInput_andACutPictureIsReportedAsDamage() throws {
        let c = try crafted()
        for name in ["dpx-zero-size", "dpx-huge-size", "dpx-offset-out"] {
            let r = try restore([c + "/" + name, "-o", dir.file("\(name).mkv"), "--preset", "master-ffv1"])
            XCTAssertEqual(r.status, 1, "\(name): \(r.stderr)")
            XCTAssertTrue(
                r.stderr.contains("cannot read ") && r.stderr.contains("\(name)/scan_0001.dpx"), "\(name): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("ffv1"), "\(name): the output is not blamed: \(r.stderr)")
        }
        let r = try restore([c + "/dpx-truncated", "-o", dir.file("t.mkv"), "--preset", "master-ffv1"])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stderr.contains("input damaged"), r.stderr)
    }

    func test_modelsDir_emptyIsRefused_andAModelFromTheShippedCopyIsSaid() throws {
        let input = dir.file("in.mp4")
        try testClip(input, size: "32x24", seconds: 0.2)
        let empty = dir.file("models-empty"), other = dir.file("models-other")
        for d in [empty, other] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        }
        try "x".write(toFile: other + "/unrelated.bin", atomically: false, encoding: .utf8)
        var r = try cli(["restore", input, "-o", dir.file("o.mkv"), "--preset", "upscale-x4", "--models-dir", empty])
        XCTAssertEqual(r.status, 64, r.stderr)
        XCTAssertTrue(r.stderr.contains("--models-dir \(empty) is empty"), r.stderr)
        r = try cli([
            "restore", input, "-o", dir.file("o.mkv"), "--preset", "upscale-x4", "--models-dir", other, "--frames", "1",
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(
            r.stderr.contains("is not in --models-dir \(other): using the copy shipped with the tool"), r.stderr)
    }

    func test_niqe_scoresEveryFile_andNamesTheOnesItCannot() throws {
        let small = dir.file("small.png"), big = dir.file("big.png")
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1", small])
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=256x192", "-frames:v", "1", big])
        let r = try cli(["niqe", small, big, dir.file("missing.png")])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stdout.contains("big.png: NIQE"), r.stdout)
        XCTAssertTrue(r.stderr.contains("small.png"), r.stderr)
        XCTAssertTrue(r.stderr.contains("missing.png does not exist"), r.stderr)
    }

    func test_stagelessMaster_decodesToExactlyTheSource() throws {
        for (fmt, codec) in [("yuv420p", "libx264"), ("yuv422p10le", "libx264"), ("gbrp10le", "ffv1")] {
            let input = dir.file("src-\(fmt).mkv")
            try ffmpeg([
                "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=24:duration=1", "-pix_fmt", fmt, "-c:v", codec, input,
            ])
            let source = try framemd5(input)
            XCTAssertEqual(source.count, 24)
            for mode in [[], ["--no-checkpoint"]] {
                let out = dir.file("m-\(fmt)\(mode.count).mkv")
                let r = try restore([input, "-o", out, "--preset", "master-ffv1"] + mode)
                XCTAssertEqual(r.status, 0, r.stderr)
                XCTAssertEqual(try framemd5(out), source, "\(fmt) \(mode)")
                XCTAssertEqual(try probeStreams(out).first?.pixFmt, fmt)
            }
        }
    }

    // MARK: the sequence readers, fuzzed

    func test_fuzz_sequenceHeaders_DPX_TIFF_EXR_PNG_neverCrash() throws {
        // A fixed seed in CI; FILMRESTORE_FUZZ_SEED runs another set by hand.
        var g = SplitMix64(
            ProcessInfo.processInfo.environment["FILMRESTORE_FUZZ_SEED"].flatMap(UInt64.init) ?? 20261206)
        var seeds: [(ext: String, data: Data)] = []
        for (ext, args) in [
            ("dpx", ["-pix_fmt", "gbrp10le"]), ("tif", ["-pix_fmt", "rgb48le"]), ("exr", ["-pix_fmt", "gbrpf32le"]),
            ("png", ["-pix_fmt", "rgb24"]),
        ] {
            let p = dir.file("seed.\(ext)")
            try ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=48x32", "-frames:v", "1"] + args + [p])
            seeds.append((ext, try Data(contentsOf: URL(fileURLWithPath: p))))
        }
        let hostile: [UInt32] = [0, 1, 0xFFFF_FFFF, 0x7FFF_FFFF, 0x8000_0000, 65536, 2048, 0xFFFF]
        var cases = 0, refused = 0
        for seed in seeds {
            for k in 0..<30 {
                var d = seed.data
                let head = min(d.count, 2048)
                switch g.next() % 4 {
                case 0: d = d.prefix(Int(g.next() % UInt64(d.count)))
                case 1:
                    for _ in 0..<(1 + Int(g.next() % 8)) { d[Int(g.next() % UInt64(head))] = UInt8(g.next() & 0xFF) }
                case 2:  // a hostile 32-bit number at a 4-byte boundary of the header
                    let at = Int(g.next() % UInt64(head / 4)) * 4
                    let v = hostile[Int(g.next() % UInt64(hostile.count))]
                    for i in 0..<4 where at + i < d.count {
                        d[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))
                    }
                default:
                    for _ in 0..<16 { d[Int(g.next() % UInt64(d.count))] ^= UInt8(1 << (g.next() % 8)) }
                }
                let folder = dir.file("fuzz-\(seed.ext)-\(k)")
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                // The damaged picture between two good ones.
                for n in 1...3 {
                    try (n == 2 ? d : seed.data).write(to: URL(fileURLWithPath: folder + "/f_000\(n).\(seed.ext)"))
                }
                _ = DPXHeader(path: folder + "/f_0002.\(seed.ext)")
                _ = EXRHeader(path: folder + "/f_0002.\(seed.ext)")
                _ = try? ImageSequence.detect(folder)
                let out = dir.file("fuzz.mkv")
                let r = try restore([folder, "-o", out, "--preset", "master-ffv1", "-y"])
                cases += 1
                XCTAssertTrue([0, 1, 3].contains(r.status), "\(seed.ext) case \(k): exit \(r.status) \(r.stderr)")
                XCTAssertLessThanOrEqual(r.stderr.split(separator: "\n").count, 2, r.stderr)
                if r.status == 0 {
                    XCTAssertEqual(try probeFrameTimes(out).count, 3, "\(seed.ext) case \(k): all three or an error")
                } else {
                    refused += 1
                }
                try? FileManager.default.removeItem(atPath: out)
                try FileManager.default.removeItem(atPath: folder)
            }
        }
        XCTAssertEqual(cases, 120)
        XCTAssertGreaterThan(refused, cases / 4, "most damage is detected")
    }
}
