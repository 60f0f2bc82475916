import XCTest
import Foundation
import TestSupport
import MediaIO
import FilmCore

/// Picture sequences in, as scanners deliver reels: a folder or a printf pattern of DPX, TIFF…
final class SequenceCLITests: CLITestCase {
    override class var folderPrefix: String { "cli-seq" }

    /// 24 10-bit DPX scans numbered from 86400 (a timecode-style first number), and the same
    /// pictures as 16-bit TIFFs numbered from 1.
    func scans() throws -> (dpx: String, tiff: String) {
        let dpx = dir.file("reel1"), tiff = dir.file("tiffs")
        try FileManager.default.createDirectory(atPath: dpx, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: tiff, withIntermediateDirectories: true)
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=128x96:rate=24:duration=1", "-vf", "noise=alls=8:allf=t",
            "-pix_fmt", "gbrp10le", "-start_number", "86400", dpx + "/reel1_%06d.dpx",
        ])
        try ffmpeg([
            "-start_number", "86400", "-i", dpx + "/reel1_%06d.dpx", "-pix_fmt", "rgb48le", tiff + "/f_%04d.tif",
        ])
        return (dpx, tiff)
    }

    func test_dpxFolder_pattern_andTiffFolder_toFFV1Master_countRateAndTenBitFidelity() throws {
        let (dpx, tiff) = try scans()
        let (_, source) = try decodeAll(dpx)
        XCTAssertEqual(source.count, 24)
        var outputs: [String] = []
        for (input, extra) in [
            (dpx, [String]()), (dpx + "/reel1_%06d.dpx", []), (tiff, []), (dpx, ["--input-rate", "18"]),
        ] {
            let out = dir.file("master\(outputs.count).mkv")
            let r = try cli(["restore", input, "-o", out, "--preset", "master-ffv1"] + extra)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stderr.contains("24 pictures from"), r.stderr)
            let v = try XCTUnwrap(try probeStreams(out).first { $0.type == "video" })
            XCTAssertEqual(v.rFrameRate, extra.isEmpty ? "24/1" : "18/1", "\(input) \(extra)")
            // No stage changes the picture: the scans' own samples (10-bit planar RGB, 16-bit RGB),
            // so the master is the scans.
            // (FFV1 keeps 16-bit packed RGB as it is and decodes it as the same samples, planar.)
            XCTAssertEqual(v.pixFmt, input.hasPrefix(tiff) ? "gbrp16le" : "gbrp10le")
            let (_, frames) = try decodeAll(out)
            XCTAssertEqual(frames.count, 24)
            let worst = zip(source, frames).map { psnr($0, $1) }.min() ?? 0
            XCTAssertGreaterThanOrEqual(worst, 50, "\(input): worst frame \(worst) dB against the 10-bit scans")
            outputs.append(out)
        }
        XCTAssertTrue(
            try cli(["restore", dpx, "-o", dir.file("x.mkv"), "--preset", "master-ffv1"]).stderr.contains(
                "default (no rate in the files"))
    }

    /// `--input-rate` travels with the job, not through a process-wide table: planned at 18 fps, every segment (a
    /// process of its own, given no rate) restores at 18 fps, and the assembled film is the 24 scans at 18 fps.
    func test_plannedSequence_keepsItsInputRate_inEverySegment() throws {
        let (dpx, _) = try scans()
        let job = dir.file("seq-job.json"), out = dir.file("seq-assembled.mkv")
        var r = try cli(["plan", dpx, "--preset", "master-ffv1", "--segments", "2", "--input-rate", "18", "-o", job])
        XCTAssertEqual(r.status, 0, r.stderr)
        for i in 0..<2 {
            r = try cli(["restore", "--job", job, "--segment", "\(i)", "--quiet"])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        r = try cli(["assemble", job, "-o", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        let v = try XCTUnwrap(try probeStreams(out).first { $0.type == "video" })
        XCTAssertEqual(v.rFrameRate, "18/1")
        let times = try probeFrameTimes(out)
        XCTAssertEqual(times.count, 24)
        XCTAssertEqual((times.last ?? 0) - (times.first ?? 0), 23.0 / 18, accuracy: 0.002)
    }

    func test_incompleteOrMixedSequences_areErrorsNamingTheProblem() throws {
        let (dpx, tiff) = try scans()
        try FileManager.default.removeItem(atPath: tiff + "/f_0007.tif")
        var r = try cli(["restore", tiff, "-o", dir.file("o.mkv"), "--preset", "master-ffv1"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("1 frame missing after f_0006.tif"), r.stderr)
        try FileManager.default.copyItem(atPath: dpx + "/reel1_086400.dpx", toPath: tiff + "/f_0007.dpx")
        r = try cli(["restore", tiff, "-o", dir.file("o.mkv"), "--preset", "master-ffv1"])
        XCTAssertTrue(r.stderr.contains("mixes pictures"), r.stderr)
        try FileManager.default.createDirectory(atPath: dir.file("empty"), withIntermediateDirectories: true)
        r = try cli(["restore", dir.file("empty"), "-o", dir.file("o.mkv"), "--preset", "master-ffv1"])
        XCTAssertTrue(r.stderr.contains("no DPX, TIFF"), r.stderr)
        // A folder of sequence folders is a batch: -o names a folder then.
        r = try cli(["restore", dir.path, "-o", dir.file("o.mkv"), "--preset", "master-ffv1"])
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("is a folder of films"), r.stderr)
        r = try cli(["restore", dpx + "/nope_%04d.dpx", "-o", dir.file("o.mkv"), "--preset", "master-ffv1"])
        XCTAssertTrue(r.stderr.contains("no pictures match"), r.stderr)
        r = try cli([
            "restore",
            try {
                let p = dir.file("c.mp4")
                try testClip(p, seconds: 1)
                return p
            }(), "-o", dir.file("o.mkv"), "--input-rate", "18",
        ])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--input-rate is for a picture sequence"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("o.mkv")))
    }

    func test_sequenceOut_tiffDpxExr_countDepthSound_andAnInterruptedRunResumes() throws {
        let input = dir.file("film.mkv")
        try testClip(input, size: "320x240", seconds: 3)
        let (_, source) = try decodeAll(input)
        for (ext, fmt) in [("tif", "rgb48le"), ("dpx", "gbrp10le"), ("png", "rgb48be"), ("exr", "gbrpf32le")] {
            let pattern = dir.path + "/out-\(ext)/frame_%06d.\(ext)"
            let r = try cli(["restore", input, "-o", pattern, "--preset", "master-ffv1", "-q"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let names = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/out-\(ext)").sorted().filter {
                !$0.hasPrefix(".")
            }
            XCTAssertEqual(names.filter { $0.hasSuffix("." + ext) }.count, 72, ext)
            XCTAssertEqual(names.first, "frame.wav", "the sound beside the pictures")
            XCTAssertEqual(names[1], "frame_000001.\(ext)")
            // The sound is PCM and exactly as long as the 72 pictures at 24 fps.
            let sound = try XCTUnwrap(try probeStreams(dir.path + "/out-\(ext)/frame.wav").first)
            XCTAssertEqual(sound.codec, "pcm_s24le")
            XCTAssertEqual(sound.duration ?? 0, 3.0, accuracy: 0.001)
            XCTAssertEqual(try probeStreams(dir.path + "/out-\(ext)/frame_000001.\(ext)").first?.pixFmt, fmt)
            if ext == "dpx" {
                let (_, pics) = try decodeAll(dir.path + "/out-dpx")
                XCTAssertEqual(pics.count, 72)
                let clip: (Frame) -> Frame = { f in
                    f.with(width: f.width, height: f.height, planes: f.planes.map { $0.map { min(max($0, 0), 1) } })
                }
                let worst = zip(source, pics).map { psnr(clip($0), $1) }.min() ?? 0
                XCTAssertGreaterThanOrEqual(worst, 50, "10-bit DPX against the source (worst \(worst) dB)")
            }
        }
        XCTAssertFalse(dir.listing().contains { $0.contains("filmrestore") }, "\(dir.listing())")
        // Killed with SIGKILL after some pictures: --resume keeps them and makes the rest.
        let pattern = dir.path + "/resumed/f_%04d.tif"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.binary)
        p.arguments = ["restore", input, "-o", pattern, "--preset", "cleanup", "-q"]
        try p.run()
        let work = dir.path + "/.resumed.filmrestore-sequence"
        let deadline = Date().addingTimeInterval(60)
        while p.isRunning && Date() < deadline {
            if (((try? FileManager.default.contentsOfDirectory(atPath: work)) ?? []).filter {
                $0.hasSuffix(".tif") && !$0.hasPrefix(".")
            }.count) >= 10 {
                break
            }
            usleep(5_000)
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: dir.path + "/resumed"), "no half sequence under the final name")
        var r = try cli(["restore", input, "-o", pattern, "--preset", "cleanup", "-q"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("--resume"), r.stderr)
        r = try cli(["restore", input, "-o", pattern, "--preset", "cleanup", "--resume"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let kept =
            r.stderr.components(separatedBy: "resumed: ").dropFirst().first.flatMap { Int($0.prefix { $0.isNumber }) }
            ?? 0
        XCTAssertGreaterThanOrEqual(kept, 10, r.stderr)
        let done = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/resumed").filter {
            $0.hasSuffix(".tif")
        }
        XCTAssertEqual(done.count, 72)
        XCTAssertFalse(FileManager.default.fileExists(atPath: work))
    }

    /// A 12-bit log scan with rate and timecode in its headers: kept as it is into a master (transfer
    /// left unspecified and named, rate, timecode, 12-bit fidelity) and into DPX pictures (codes,
    /// rate and each picture's timecode in their headers, the scans' numbers).
    func test_logDPXScan_12bit_rateTimecodeAndTransfer_carriedToVideoAndDPXOutputs() throws {
        let scans = dir.file("log")
        try FileManager.default.createDirectory(atPath: scans, withIntermediateDirectories: true)
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=128x96:rate=24:duration=0.5", "-vf", "noise=alls=6:allf=t",
            "-pix_fmt", "gbrp12le", "-start_number", "1001", scans + "/scan_%07d.dpx",
        ])
        let files = try FileManager.default.contentsOfDirectory(atPath: scans).sorted()
        XCTAssertEqual(files.count, 12)
        let (_, plain) = try decodeAll(scans)
        for (i, f) in files.enumerated() {
            let tc = try XCTUnwrap(Timecode.adding("10:00:00:00", frames: i, rate: Rational(18)))
            try DPXHeader.stamp(
                scans + "/" + f, fields: .init(transfer: 1, colorimetric: 1, frameRate: Rational(18), timecode: tc))
        }
        let header = try XCTUnwrap(DPXHeader(path: scans + "/" + files[11]))
        XCTAssertEqual(header.bitDepth, 12)
        XCTAssertTrue(header.isLog)
        XCTAssertEqual(header.frameRate, Rational(18))
        XCTAssertEqual(header.timecode, "10:00:00:11")
        // The grown header changes no picture value (FFmpeg reads it at its new offset).
        let (_, source) = try decodeAll(scans)
        XCTAssertEqual(zip(plain, source).map { psnr($0, $1) }.min() ?? 0, .infinity)

        let master = dir.file("master.mkv")
        var r = try cli(["restore", scans, "-o", master, "--preset", "master-ffv1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(
            r.stderr.contains("at 18 fps (DPX header); DPX 12-bit, transfer printing density, timecode 10:00:00:00"),
            r.stderr)
        let probe = try ffprobe(master, ["-show_streams", "-show_format"])
        let v = try XCTUnwrap((probe["streams"] as? [[String: Any]])?.first)
        XCTAssertEqual(v["r_frame_rate"] as? String, "18/1")
        XCTAssertNil(v["color_transfer"], "a log scan's curve is not claimed to be BT.709")
        let tags = ((probe["format"] as? [String: Any])?["tags"] as? [String: String]) ?? [:]
        XCTAssertEqual(tags.first { $0.key.lowercased() == "timecode" }?.value, "10:00:00:00", "\(tags)")
        XCTAssertTrue(
            tags.first { $0.key.lowercased() == "source_transfer" }?.value.hasPrefix("printing density") ?? false,
            "\(tags)")
        let (_, out) = try decodeAll(master)
        XCTAssertEqual(out.count, 12)
        let worst = zip(source, out).map { psnr($0, $1) }.min() ?? 0
        XCTAssertGreaterThanOrEqual(worst, 62, "12-bit scans through a 10-bit master: \(worst) dB")

        r = try cli(["restore", scans, "-o", dir.path + "/back/scan_%07d.dpx", "--preset", "cleanup", "-q"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let back = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/back").sorted().filter {
            !$0.hasPrefix(".")
        }
        XCTAssertEqual(back, files, "the scans' names and numbers kept, no sound file")
        for (i, f) in back.enumerated() {
            let h = try XCTUnwrap(DPXHeader(path: dir.path + "/back/" + f))
            XCTAssertEqual(h.transfer, 1)
            XCTAssertEqual(h.colorimetric, 1)
            XCTAssertEqual(h.frameRate, Rational(18))
            XCTAssertEqual(h.timecode, Timecode.adding("10:00:00:00", frames: i, rate: Rational(18)))
        }
        // A video source's DPX pictures say which curve they hold (ITU-R 709 for HD), not "linear".
        let hd = dir.file("hd.mkv")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=24:duration=0.125", "-pix_fmt", "yuv420p", "-color_trc",
            "bt709",
            "-colorspace", "bt709", "-color_primaries", "bt709", "-c:v", "ffv1", hd,
        ])
        r = try cli(["restore", hd, "-o", dir.path + "/hd/f_%02d.dpx", "--preset", "master-ffv1", "-q"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(DPXHeader(path: dir.path + "/hd/f_01.dpx")?.transfer, 6)
    }

    /// OpenEXR scans: the rate and timecode attributes, where a scanner or a compositor writes them.
    func test_exrSequence_rateAndTimecodeFromItsHeader() throws {
        let scans = dir.file("exr")
        try FileManager.default.createDirectory(atPath: scans, withIntermediateDirectories: true)
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24:duration=0.5", "-pix_fmt", "gbrpf32le",
            scans + "/shot.%04d.exr",
        ])
        // FFmpeg writes framesPerSecond (24/1): set to 25/1 in place; a timeCode 10:11:12:13 attribute
        // inserted, the line offsets moved alike.
        func attribute(_ name: String, _ type: String, _ value: [UInt8]) -> [UInt8] {
            Array(name.utf8) + [0] + Array(type.utf8) + [0]
                + withUnsafeBytes(of: UInt32(value.count).littleEndian, Array.init) + value
        }
        let tc = withUnsafeBytes(of: UInt32(0x1011_1213).littleEndian, Array.init) + [0, 0, 0, 0]
        let extra = attribute("timeCode", "timecode", tc)
        let fpsKey = Array("framesPerSecond".utf8) + [0] + Array("rational".utf8) + [0]
        for f in try FileManager.default.contentsOfDirectory(atPath: scans) {
            var b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: scans + "/" + f)))
            let end = try XCTUnwrap(EXRHeader(bytes: b)?.headerEnd)
            let first = (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[end + $1]) << (8 * UInt64($1)) }
            let count = (Int(first) - end) / 8
            for i in 0..<count {
                let o = end + 8 * i
                let v = (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[o + $1]) << (8 * UInt64($1)) } + UInt64(extra.count)
                for j in 0..<8 { b[o + j] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(j))) }
            }
            b.insert(contentsOf: extra, at: 8)
            let at =
                try XCTUnwrap((0..<(end - fpsKey.count)).first { Array(b[$0..<($0 + fpsKey.count)]) == fpsKey })
                + fpsKey.count + 4
            b[at..<(at + 4)] = [25, 0, 0, 0]
            try Data(b).write(to: URL(fileURLWithPath: scans + "/" + f))
        }
        let h = try XCTUnwrap(EXRHeader(path: scans + "/shot.0001.exr"))
        XCTAssertEqual(h.frameRate, Rational(25))
        XCTAssertEqual(h.timecode, "10:11:12:13")
        let out = dir.file("exr.mkv")
        let r = try cli(["restore", scans, "-o", out, "--preset", "master-ffv1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("at 25 fps (EXR header); EXR timecode 10:11:12:13"), r.stderr)
        let v = try XCTUnwrap(try probeStreams(out).first { $0.type == "video" })
        XCTAssertEqual(v.rFrameRate, "25/1")
        let tags =
            ((try ffprobe(out, ["-show_format"])["format"] as? [String: Any])?["tags"] as? [String: String]) ?? [:]
        XCTAssertEqual(tags.first { $0.key.lowercased() == "timecode" }?.value, "10:11:12:13", "\(tags)")
        let (_, pics) = try decodeAll(scans), (_, frames) = try decodeAll(out)
        XCTAssertEqual(frames.count, 12)
        XCTAssertGreaterThan(
            zip(pics, frames).map { psnr($0, $1) }.min() ?? 0, 40, "the inserted attributes change no picture")
    }

    func test_timecodeArithmetic() {
        XCTAssertEqual(Timecode.adding("00:59:59:23", frames: 1, rate: Rational(24)), "01:00:00:00")
        XCTAssertEqual(Timecode.adding("23:59:59:17", frames: 2, rate: Rational(18)), "00:00:00:01")
        XCTAssertEqual(Timecode.adding("01:00:00:00", frames: 30 * 60, rate: Rational(30000, 1001)), "01:01:00:00")
        XCTAssertNil(
            Timecode.adding("01:00:00;00", frames: 1, rate: Rational(30000, 1001)),
            "drop-frame is not counted as non-drop")
        XCTAssertNil(Timecode.adding("01:00:00:24", frames: 1, rate: Rational(24)))
    }

    func test_dpxHeader_rateTimecodeAndTransfer_areRead() throws {
        // A DPX header as a scanner writes it (big-endian, film and TV headers present): 18 fps,
        // printing density (log), timecode 01:02:03:04.
        var h = [UInt8](repeating: 0, count: 2048)
        func put32(_ o: Int, _ v: UInt32) { for i in 0..<4 { h[o + i] = UInt8((v >> (24 - 8 * UInt32(i))) & 0xFF) } }
        h[0..<4] = [0x53, 0x44, 0x50, 0x58]  // "SDPX"
        put32(4, 2048)  // image data offset
        h[800] = 50
        h[801] = 1
        h[803] = 10  // RGB, printing density, 10-bit
        put32(1724, Float(18).bitPattern)
        put32(1920, 0x0102_0304)
        let p = dir.file("h.dpx")
        try Data(h).write(to: URL(fileURLWithPath: p))
        let d = try XCTUnwrap(DPXHeader(path: p))
        XCTAssertEqual(d.frameRate, Rational(18))
        XCTAssertEqual(d.timecode, "01:02:03:04")
        XCTAssertTrue(d.isLog)
        XCTAssertEqual(d.bitDepth, 10)
        XCTAssertEqual(d.transferName, "printing density")
        // 23.976 stored as a float reads as 24000/1001.
        put32(1724, Float(23.976).bitPattern)
        try Data(h).write(to: URL(fileURLWithPath: p))
        XCTAssertEqual(DPXHeader(path: p)?.frameRate, Rational(24000, 1001))
    }
}

/// Parts of a film: `--start`, `--duration`, `--frames`.
final class RangeCLITests: CLITestCase {
    override class var folderPrefix: String { "cli-range" }

    func test_startAndDuration_givesTheRightFrames_andEqualsAFullRun_withTemporalStages() throws {
        // A noisy 10-s clip with sound: moving pictures, so frame k is unlike frame k±1.
        let input = dir.file("film.mkv")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=128x96:rate=24:duration=10", "-f", "lavfi", "-i", "sine=duration=10",
            "-vf", "noise=alls=12:allf=t", "-c:v", "libx264", "-crf", "8", "-preset", "ultrafast", "-g", "48", "-c:a",
            "flac", input,
        ])
        let (_, source) = try decodeAll(input)
        let temporal = dir.file("temporal.yml")
        try "stages:\n  - deflicker\n  - denoise\noutput:\n  codec: ffv1\n".write(
            toFile: temporal, atomically: true, encoding: .utf8)
        let full = dir.file("full.mkv")
        XCTAssertEqual(
            try cli(["restore", input, "-o", full, "--preset", temporal, "--no-checkpoint", "--quiet"]).status, 0)
        let (_, whole) = try decodeAll(full)
        for (start, first) in [("2", 48), ("0:08", 192)] {  // 8 s: deep enough to seek
            // Without a temporal stage: the frames of the source from `first` on.
            let plain = dir.file("plain-\(first).mkv")
            var r = try cli([
                "restore", input, "-o", plain, "--preset", "master-ffv1", "--start", start, "--duration", "1",
                "--quiet",
            ])
            XCTAssertEqual(r.status, 0, r.stderr)
            let (_, part) = try decodeAll(plain)
            XCTAssertEqual(part.count, 24)
            XCTAssertEqual(part.first?.pts, .zero)
            let matches = (0..<part.count).map { psnr(part[$0], source[first + $0]) }
            XCTAssertGreaterThanOrEqual(matches.min() ?? 0, 40, "part frame k is source frame \(first)+k")
            XCTAssertLessThan(psnr(part[0], source[first + 1]), (matches.min() ?? 0) - 3, "not off by one")
            // The sound is cut to the same second.
            let audio = try packetSpan(plain, stream: "a:0")
            // (copied sound is cut at its packets: FLAC's are 4608 samples, 0.1 s)
            XCTAssertEqual(audio.start, 0, accuracy: 0.105)
            XCTAssertEqual(audio.end, 1, accuracy: 0.105)
            // With temporal stages: the same frames as the whole run's.
            let t = dir.file("temporal-\(first).mkv")
            r = try cli([
                "restore", input, "-o", t, "--preset", temporal, "--start", start, "--frames", "24", "--quiet",
            ])
            XCTAssertEqual(r.status, 0, r.stderr)
            let (_, tpart) = try decodeAll(t)
            XCTAssertEqual(tpart.count, 24)
            let worst = (0..<tpart.count).map { psnr(tpart[$0], whole[first + $0]) }.min() ?? 0
            XCTAssertGreaterThanOrEqual(worst, 50, "a preview equals the same frames of a full run (worst \(worst) dB)")
        }
        // preview: the part, a still pair of the same instant, the time per frame and a projection.
        let pv = try cli([
            "preview", input, "--preset", "master-ffv1", "--at", "3", "--duration", "1", "-o", dir.file("pv"),
        ])
        XCTAssertEqual(pv.status, 0, pv.stderr)
        XCTAssertTrue(pv.stdout.contains("projected for the whole film (240 frames)"), pv.stdout)
        let (_, beforePic) = try decodeAll(dir.file("pv/film.before.png")),
            (_, afterPic) = try decodeAll(dir.file("pv/film.after.png"))
        XCTAssertGreaterThan(psnr(beforePic[0], afterPic[0]), 40, "the pair shows the same instant")
        XCTAssertEqual(try probeFrameTimes(dir.file("pv/film.preview.mkv")).count, 24)
        // The side-by-side clip: the source on the left, the restoration on the right, same instants, with sound.
        let (_, pairs) = try decodeAll(dir.file("pv/film.before-after.mkv"))
        let (_, restoredPart) = try decodeAll(dir.file("pv/film.preview.mkv"))
        XCTAssertEqual(pairs.count, 24)
        XCTAssertEqual(pairs.first.map { [$0.width, $0.height] }, [256, 96])
        func half(_ f: Frame, right: Bool) -> Frame {
            let w = f.width / 2
            return f.with(
                width: w, height: f.height,
                planes: f.planes.map { p in
                    (0..<f.height).flatMap { y in
                        p[(y * f.width + (right ? w : 0))..<(y * f.width + (right ? w : 0) + w)]
                    }
                })
        }
        let clip01: (Frame) -> Frame = { f in
            f.with(width: f.width, height: f.height, planes: f.planes.map { $0.map { min(max($0, 0), 1) } })
        }
        for k in [0, 11, 23] {
            XCTAssertGreaterThan(
                psnr(half(pairs[k], right: false), clip01(source[72 + k])), 22,
                "left (x264 4:2:0 of a noisy clip): source frame \(72 + k)")
            XCTAssertLessThan(
                psnr(half(pairs[k], right: false), clip01(source[73 + k])),
                psnr(half(pairs[k], right: false), clip01(source[72 + k])) - 3)
            XCTAssertGreaterThan(
                psnr(half(pairs[k], right: true), clip01(restoredPart[k])), 22, "right: restored frame \(k)")
        }
        XCTAssertEqual(try packetSpan(dir.file("pv/film.before-after.mkv"), stream: "a:0").end, 1, accuracy: 0.105)
        // One frame as a still picture.
        let still = dir.file("frame.png")
        XCTAssertEqual(
            try cli([
                "restore", input, "-o", still, "--preset", "master-ffv1", "--start", "5", "--frames", "1", "--quiet",
            ]).status, 0)
        let (_, pic) = try decodeAll(still)
        // An RGB picture holds only 0…1: the source's out-of-gamut values (noise on saturated colors) clip.
        let clipped = source[120].with(
            width: source[120].width, height: source[120].height,
            planes: source[120].planes.map { $0.map { min(max($0, 0), 1) } })
        XCTAssertGreaterThan(psnr(pic[0], clipped), 40)
        XCTAssertLessThan(
            psnr(
                pic[0],
                source[121].with(
                    width: 128, height: 96, planes: source[121].planes.map { $0.map { min(max($0, 0), 1) } })), 30)
        // A start past the end, and contradictory options, are clear errors that write nothing.
        var r = try cli(["restore", input, "-o", dir.file("x.mkv"), "--preset", "master-ffv1", "--start", "11"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("no frame in the range"), r.stderr)
        r = try cli(["restore", input, "-o", dir.file("x.mkv"), "--duration", "1", "--frames", "3"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("x.mkv")))
        // A part as numbered pictures, with the sound of exactly those pictures.
        r = try cli([
            "restore", input, "-o", dir.path + "/part/p_%03d.png", "--preset", "master-ffv1", "--start", "2",
            "--duration", "0.5", "-q",
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/part").sorted().filter {
            !$0.hasPrefix(".")
        }
        XCTAssertEqual(names.count, 13)
        XCTAssertEqual(names.first, "p.wav")
        XCTAssertEqual(names.last, "p_012.png")
        let (_, first) = try decodeAll(dir.path + "/part/p_001.png")
        let s48 = source[48].with(
            width: 128, height: 96, planes: source[48].planes.map { $0.map { min(max($0, 0), 1) } })
        XCTAssertGreaterThan(psnr(first[0], s48), 40, "the part's first picture is source frame 48")
        XCTAssertEqual(try probeStreams(dir.path + "/part/p.wav").first?.duration ?? 0, 0.5, accuracy: 0.001)
    }
}

/// A folder of films restored into a folder.
final class BatchCLITests: CLITestCase {
    override class var folderPrefix: String { "cli-batch" }

    func test_batch_restoresEachFilm_continuesPastABrokenOne_skipsFinished_andEndsWithATable() throws {
        let films = dir.file("films")
        try FileManager.default.createDirectory(atPath: films + "/reel2", withIntermediateDirectories: true)
        try testClip(films + "/a.mp4", size: "96x64", seconds: 1)
        try testClip(films + "/c.mov", size: "96x64", seconds: 0.5)
        try "not a film".write(toFile: films + "/b-broken.mkv", atomically: true, encoding: .utf8)
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=24:duration=0.5", "-pix_fmt", "rgb48le",
            films + "/reel2/r_%04d.tif",
        ])
        let out = dir.file("restored")
        var r = try runProcess(CLITests.binary, ["restore", films, "-o", out, "--preset", "master-ffv1", "-q"])
        XCTAssertEqual(r.status, 1, "a failed film makes the batch fail")
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: out).sorted(), ["a.mkv", "c.mkv", "reel2.mkv"])
        XCTAssertEqual(try probeFrameTimes(out + "/a.mkv").count, 24)
        XCTAssertEqual(try probeFrameTimes(out + "/reel2.mkv").count, 12)
        let table = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(table.contains { $0.hasPrefix("b-broken.mkv") && $0.contains("FAILED") }, r.stdout)
        XCTAssertTrue(table.contains { $0.hasPrefix("a.mp4") && $0.contains("24") && $0.hasSuffix("ok") }, r.stdout)
        // Again: the finished films are skipped, the broken one fails again.
        r = try runProcess(CLITests.binary, ["restore", films, "-o", out, "--preset", "master-ffv1", "-q"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stdout.components(separatedBy: "skipped").count - 1, 3, r.stdout)
    }
}
