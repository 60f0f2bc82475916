import XCTest
import Foundation
import TestSupport
import MediaIO
import FilmCore

/// `MediaReader.seek` (segments start mid-film) and `FileDigest`.
final class SeekAndJoinTests: XCTestCase {
    var dir: TempDir!
    override func setUp() { dir = TempDir("seek") }
    override func tearDown() { dir.remove() }

    func test_seek_givesTheSameFrameNumberedAsInOnePass() throws {
        for (name, codec) in [
            ("gop.mp4", ["-c:v", "libx264", "-g", "12", "-bf", "2"]), ("gop.mkv", ["-c:v", "libx264", "-g", "25"]),
            ("ntsc.mov", ["-c:v", "prores_ks", "-r", "24000/1001"]),
        ] {
            let p = dir.file(name)
            try ffmpeg(
                ["-f", "lavfi", "-i", "testsrc2=size=96x64:rate=24:duration=3", "-pix_fmt", "yuv422p10le"] + codec + [p]
            )
            let (_, all) = try decodeAll(p)
            let r = try MediaReader(path: p)
            for k in [30, 5, 31, 0, all.count - 1] {
                try r.seek(to: all[k].pts, index: k)
                let f = try XCTUnwrap(try r.nextFrame(), "\(name) frame \(k)")
                XCTAssertEqual(f.pts, all[k].pts, "\(name) frame \(k)")
                XCTAssertEqual(f.properties.sourceIndex, k, name)
                XCTAssertEqual(psnr(f, all[k]), .infinity, "\(name) frame \(k)")
                let g = try r.nextFrame()
                if k + 1 < all.count {
                    XCTAssertEqual(g?.properties.sourceIndex, k + 1)
                    XCTAssertEqual(g?.pts, all[k + 1].pts)
                } else {
                    XCTAssertNil(g)
                }
            }
            try r.rewind()
            XCTAssertEqual(try r.nextFrame()?.properties.sourceIndex, 0)
        }
    }

    func test_digests() throws {
        let p = dir.file("bytes")
        try Data((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: p))
        let full = try FileDigest.sha256(path: p), sampled = try FileDigest.sampledSHA256(path: p)
        let r = try runProcess("sha256sum", [p])
        XCTAssertEqual(full, String(r.stdout.prefix(64)))
        XCTAssertEqual(
            FileDigest.sha256(data: Data("abc".utf8)),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // One byte changed inside a sampled chunk changes the sampled hash; the size is part of it.
        let h = try FileHandle(forUpdating: URL(fileURLWithPath: p))
        try h.seek(toOffset: 10)
        h.write(Data([7]))
        try h.close()
        XCTAssertNotEqual(try FileDigest.sampledSHA256(path: p), sampled)
        XCTAssertNotEqual(try FileDigest.sha256(path: p), full)
    }
}
