import XCTest
import Foundation
import TestSupport
import MediaIO
import FilmCore

/// Picture sequences in, as scanners deliver reels: a folder or a printf pattern of DPX, TIFF…
final class SequenceCLITests: XCTestCase {
    var dir: TempDir!
    override func setUp() { dir = TempDir("cli-seq") }
    override func tearDown() { dir.remove() }

    @discardableResult
    func cli(_ args: [String]) throws -> ProcessResult { try runProcess(CLITests.binary, args) }

    /// 24 10-bit DPX scans numbered from 86400 (a timecode-style first number), and the same
    /// pictures as 16-bit TIFFs numbered from 1.
    func scans() throws -> (dpx: String, tiff: String) {
        let dpx = dir.file("reel1"), tiff = dir.file("tiffs")
        try FileManager.default.createDirectory(atPath: dpx, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: tiff, withIntermediateDirectories: true)
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=128x96:rate=24:duration=1", "-vf", "noise=alls=8:allf=t",
                    "-pix_fmt", "gbrp10le", "-start_number", "86400", dpx + "/reel1_%06d.dpx"])
        try ffmpeg(["-start_number", "86400", "-i", dpx + "/reel1_%06d.dpx", "-pix_fmt", "rgb48le", tiff + "/f_%04d.tif"])
        return (dpx, tiff)
    }

    func test_dpxFolder_pattern_andTiffFolder_toFFV1Master_countRateAndTenBitFidelity() throws {
        let (dpx, tiff) = try scans()
        let (_, source) = try decodeAll(dpx)
        XCTAssertEqual(source.count, 24)
        var outputs: [String] = []
        for (input, extra) in [(dpx, [String]()), (dpx + "/reel1_%06d.dpx", []), (tiff, []), (dpx, ["--input-rate", "18"])] {
            let out = dir.file("master\(outputs.count).mkv")
            let r = try cli(["restore", input, "-o", out, "--preset", "master-ffv1"] + extra)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stderr.contains("24 pictures from"), r.stderr)
            let v = try XCTUnwrap(try probeStreams(out).first { $0.type == "video" })
            XCTAssertEqual(v.rFrameRate, extra.isEmpty ? "24/1" : "18/1", "\(input) \(extra)")
            XCTAssertEqual(v.pixFmt, "yuv444p10le")
            let (_, frames) = try decodeAll(out)
            XCTAssertEqual(frames.count, 24)
            let worst = zip(source, frames).map { psnr($0, $1) }.min() ?? 0
            XCTAssertGreaterThanOrEqual(worst, 50, "\(input): worst frame \(worst) dB against the 10-bit scans")
            outputs.append(out)
        }
        XCTAssertTrue(try cli(["restore", dpx, "-o", dir.file("x.mkv"), "--preset", "master-ffv1"]).stderr.contains("default (no rate in the files"))
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
        r = try cli(["restore", dir.path, "-o", dir.file("o.mkv"), "--preset", "master-ffv1"])
        XCTAssertTrue(r.stderr.contains("no DPX, TIFF"), r.stderr)
        r = try cli(["restore", dpx + "/nope_%04d.dpx", "-o", dir.file("o.mkv"), "--preset", "master-ffv1"])
        XCTAssertTrue(r.stderr.contains("no pictures match"), r.stderr)
        r = try cli(["restore", try { let p = dir.file("c.mp4"); try testClip(p, seconds: 1); return p }(), "-o", dir.file("o.mkv"), "--input-rate", "18"])
        XCTAssertNotEqual(r.status, 0); XCTAssertTrue(r.stderr.contains("--input-rate is for a picture sequence"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("o.mkv")))
    }

    func test_dpxHeader_rateTimecodeAndTransfer_areRead() throws {
        // A DPX header as a scanner writes it (big-endian, film and TV headers present): 18 fps,
        // printing density (log), timecode 01:02:03:04.
        var h = [UInt8](repeating: 0, count: 2048)
        func put32(_ o: Int, _ v: UInt32) { for i in 0..<4 { h[o + i] = UInt8((v >> (24 - 8 * UInt32(i))) & 0xFF) } }
        h[0..<4] = [0x53, 0x44, 0x50, 0x58]            // "SDPX"
        put32(4, 2048)                                   // image data offset
        h[800] = 50; h[801] = 1; h[803] = 10             // RGB, printing density, 10-bit
        put32(1724, Float(18).bitPattern)
        put32(1920, 0x0102_0304)
        let p = dir.file("h.dpx")
        try Data(h).write(to: URL(fileURLWithPath: p))
        let d = try XCTUnwrap(DPXHeader(path: p))
        XCTAssertEqual(d.frameRate, Rational(18)); XCTAssertEqual(d.timecode, "01:02:03:04")
        XCTAssertTrue(d.isLog); XCTAssertEqual(d.bitDepth, 10); XCTAssertEqual(d.transferName, "printing density")
        // 23.976 stored as a float reads as 24000/1001.
        put32(1724, Float(23.976).bitPattern)
        try Data(h).write(to: URL(fileURLWithPath: p))
        XCTAssertEqual(DPXHeader(path: p)?.frameRate, Rational(24000, 1001))
    }
}
