import XCTest
import FilmCore
import MediaIO
import TestSupport

final class MediaIOTests: XCTestCase {
    var dir: TempDir!
    override func setUp() { dir = TempDir("mediaio") }
    override func tearDown() { dir.remove() }

    func readAll(_ path: String) throws -> (MediaReader, [Frame]) { try decodeAll(path) }

    // MARK: lossless round trip

    func test_roundTrip_ffv1_keepsPixelsCountAndTimestamps() throws {
        // given a lossless 8-bit 4:4:4 clip at 23.976 fps, in a container with an exact time base
        let src = dir.file("src.nut")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24000/1001:duration=2", "-pix_fmt", "yuv444p",
            "-c:v", "ffv1", src,
        ])
        let (reader, frames) = try readAll(src)
        XCTAssertEqual(frames.count, 48)
        // when it goes through decode → encode (FFV1, same format) → decode
        let out = dir.file("out.nut")
        var info = reader.stream
        info.frameRate = Rational(24000, 1001)
        let w = try MediaWriter(
            path: out, containerFor: out, stream: info,
            settings: EncoderSettings(codec: "ffv1", pixelFormat: "yuv444p"), copyFrom: src)
        for f in frames { try w.write(f) }
        try w.finish()
        let (_, back) = try readAll(out)
        // then: same count, same exact timestamps, PSNR ≥ 45 dB on every frame
        XCTAssertEqual(back.count, frames.count)
        for (a, b) in zip(frames, back) {
            XCTAssertEqual(a.pts, b.pts)
            XCTAssertEqual(a.pts, Rational(Int64(a.properties.sourceIndex) * 1001, 24000))
            XCTAssertGreaterThanOrEqual(psnr(a, b), 45)
        }
        // and the frames equal FFmpeg's own decode+conversion of the source (independent path)
        let ref = dir.file("ref.rgb")
        try ffmpeg([
            "-i", src, "-frames:v", "1", "-vf", "scale=out_color_matrix=bt601:flags=accurate_rnd+full_chroma_int",
            "-pix_fmt", "gbrp", "-f", "rawvideo", ref,
        ])
        let raw = try Data(contentsOf: URL(fileURLWithPath: ref))
        let n = 320 * 240
        // gbrp: planes G, B, R
        let g = raw[0..<n].map { Float($0) / 255 }, b = raw[n..<(2 * n)].map { Float($0) / 255 },
            r = raw[(2 * n)..<(3 * n)].map { Float($0) / 255 }
        // (floats keep out-of-gamut values; FFmpeg's 8-bit RGB clips them)
        let mine = frames[0].planes.map { $0.map { min(max($0, 0), 1) } }
        XCTAssertGreaterThan(psnr(mine[0], r), 50)
        XCTAssertGreaterThan(psnr(mine[1], g), 50)
        XCTAssertGreaterThan(psnr(mine[2], b), 50)
    }

    // MARK: color

    /// 75% color bars as Y'CbCr code values: (name, Y, Cb, Cr) and the R'G'B' they stand for.
    static let bars709: [(Int, Int, Int, (Float, Float, Float))] = [
        (180, 128, 128, (0.75, 0.75, 0.75)), (168, 44, 136, (0.75, 0.75, 0)), (145, 147, 44, (0, 0.75, 0.75)),
        (133, 63, 52, (0, 0.75, 0)), (63, 193, 204, (0.75, 0, 0.75)), (51, 109, 212, (0.75, 0, 0)),
        (28, 212, 120, (0, 0, 0.75)),
    ]
    static let bars601: [(Int, Int, Int, (Float, Float, Float))] = [
        (180, 128, 128, (0.75, 0.75, 0.75)), (162, 44, 142, (0.75, 0.75, 0)), (131, 156, 44, (0, 0.75, 0.75)),
        (112, 72, 58, (0, 0.75, 0)), (84, 184, 198, (0.75, 0, 0.75)), (65, 100, 212, (0.75, 0, 0)),
        (35, 212, 114, (0, 0, 0.75)),
    ]

    /// Writes raw yuv444p bars and wraps them losslessly, tagged as asked.
    func makeBars(_ bars: [(Int, Int, Int, (Float, Float, Float))], width: Int, height: Int, tags: [String]) throws
        -> String
    {
        let barW = width / bars.count
        var data = Data(count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let b = bars[min(x / barW, bars.count - 1)]
                data[y * width + x] = UInt8(b.0)
                data[width * height + y * width + x] = UInt8(b.1)
                data[2 * width * height + y * width + x] = UInt8(b.2)
            }
        }
        let raw = dir.file("bars-\(width).yuv"), out = dir.file("bars-\(width)-\(tags.count).mkv")
        try data.write(to: URL(fileURLWithPath: raw))
        try ffmpeg(
            ["-f", "rawvideo", "-pix_fmt", "yuv444p", "-s", "\(width)x\(height)", "-r", "24", "-i", raw] + tags + [
                "-c:v", "ffv1", out,
            ])
        return out
    }

    /// The published 8-bit tables are themselves rounded to whole code values, which alone moves
    /// R'G'B' by up to 1.2/255; 10-bit bars computed from the same matrices are held to 1/255.
    func assertBars(
        _ path: String, _ bars: [(Int, Int, Int, (Float, Float, Float))], width: Int, height: Int,
        tolerance: Float = 1.25 / 255, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let (_, frames) = try readAll(path)
        let f = try XCTUnwrap(frames.first)
        XCTAssertEqual(f.layout, .rgb, file: file, line: line)
        let barW = width / bars.count
        for (i, b) in bars.enumerated() {
            let idx = (height / 2) * width + i * barW + barW / 2
            let got = (f.planes[0][idx], f.planes[1][idx], f.planes[2][idx])
            for (g, e) in [(got.0, b.3.0), (got.1, b.3.1), (got.2, b.3.2)] {
                XCTAssertEqual(g, e, accuracy: tolerance, "bar \(i) of \(path)", file: file, line: line)
            }
        }
    }

    func test_color_bt709LimitedBars_decodeToExpectedRGB() throws {
        let tagged = try makeBars(
            Self.bars709, width: 1280, height: 720,
            tags: ["-colorspace", "bt709", "-color_range", "tv", "-color_primaries", "bt709", "-color_trc", "bt709"])
        try assertBars(tagged, Self.bars709, width: 1280, height: 720)
        // Untagged HD is read as BT.709 limited range.
        let untagged = try makeBars(Self.bars709, width: 1280, height: 720, tags: [])
        try assertBars(untagged, Self.bars709, width: 1280, height: 720)
        let r = try MediaReader(path: untagged)
        _ = try r.nextFrame()
        XCTAssertEqual(r.stream.color.matrix, .bt709)
    }

    /// 10-bit 75% bars computed with the standard's own formula (ITU-R BT.709/BT.601, limited range).
    func makeTenBitBars(kr: Double, kb: Double, width: Int, height: Int, tags: [String]) throws -> (
        String, [(Float, Float, Float)]
    ) {
        let rgb: [(Float, Float, Float)] = [
            (0.75, 0.75, 0.75), (0.75, 0.75, 0), (0, 0.75, 0.75), (0, 0.75, 0), (0.75, 0, 0.75), (0.75, 0, 0),
            (0, 0, 0.75),
        ]
        let codes = rgb.map { c -> (Int, Int, Int) in
            let (r, g, b) = (Double(c.0), Double(c.1), Double(c.2))
            let y = kr * r + (1 - kr - kb) * g + kb * b
            let cb = (b - y) / (2 * (1 - kb)), cr = (r - y) / (2 * (1 - kr))
            return (Int((64 + 876 * y).rounded()), Int((512 + 896 * cb).rounded()), Int((512 + 896 * cr).rounded()))
        }
        let barW = width / codes.count
        var data = Data(count: width * height * 6)
        data.withUnsafeMutableBytes { (p: UnsafeMutableRawBufferPointer) in
            let s = p.bindMemory(to: UInt16.self)
            for y in 0..<height {
                for x in 0..<width {
                    let c = codes[min(x / barW, codes.count - 1)]
                    s[y * width + x] = UInt16(c.0).littleEndian
                    s[width * height + y * width + x] = UInt16(c.1).littleEndian
                    s[2 * width * height + y * width + x] = UInt16(c.2).littleEndian
                }
            }
        }
        let raw = dir.file("bars10.yuv"), out = dir.file("bars10-\(width).mkv")
        try data.write(to: URL(fileURLWithPath: raw))
        try ffmpeg(
            ["-f", "rawvideo", "-pix_fmt", "yuv444p10le", "-s", "\(width)x\(height)", "-r", "24", "-i", raw] + tags + [
                "-c:v", "ffv1", out,
            ])
        return (out, rgb)
    }

    func test_color_tenBitBars_within1Over255() throws {
        for (kr, kb, w, h, tags) in [
            (0.2126, 0.0722, 1920, 1080, ["-colorspace", "bt709", "-color_range", "tv"]),
            (0.299, 0.114, 720, 576, ["-colorspace", "bt470bg", "-color_range", "tv"]),
        ] {
            let (path, rgb) = try makeTenBitBars(kr: kr, kb: kb, width: w, height: h, tags: tags)
            try assertBars(path, rgb.map { (0, 0, 0, $0) }, width: w, height: h, tolerance: 1.0 / 255)
        }
    }

    func test_color_bt601SDBars_decodeToExpectedRGB() throws {
        let tagged = try makeBars(
            Self.bars601, width: 721, height: 480,
            tags: ["-colorspace", "smpte170m", "-color_range", "tv"])
        try assertBars(tagged, Self.bars601, width: 721, height: 480)
        let untagged = try makeBars(Self.bars601, width: 721, height: 480, tags: [])
        try assertBars(untagged, Self.bars601, width: 721, height: 480)
    }

    func test_color_tenBit420_matchesEightBitWithinQuantization() throws {
        let a = dir.file("a8.mkv"), b = dir.file("a10.mkv")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24:duration=0.25", "-pix_fmt", "yuv420p", "-c:v", "ffv1",
            a,
        ])
        try ffmpeg(["-i", a, "-pix_fmt", "yuv420p10le", "-c:v", "ffv1", b])
        let (_, fa) = try readAll(a), (_, fb) = try readAll(b)
        XCTAssertEqual(fa.count, fb.count)
        XCTAssertGreaterThan(psnr(fa[0], fb[0]), 45)
    }

    func test_gray_staysOnePlane_andRoundTripsInFFV1() throws {
        let src = dir.file("gray.nut")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=18:duration=1", "-vf", "format=gray", "-c:v", "ffv1", src,
        ])
        let (r, frames) = try readAll(src)
        XCTAssertEqual(r.stream.layout, .gray)
        XCTAssertEqual(frames.count, 18)
        XCTAssertEqual(frames[0].layout, .gray)
        XCTAssertEqual(frames[1].pts, Rational(1, 18))
        let out = dir.file("gray-out.mkv")
        let w = try MediaWriter(
            path: out, containerFor: out, stream: r.stream, settings: EncoderSettings(codec: "ffv1"), copyFrom: nil)
        XCTAssertEqual(w.pixelFormat, "gray16le")
        for f in frames { try w.write(f) }
        try w.finish()
        let (_, back) = try readAll(out)
        XCTAssertEqual(back.count, 18)
        XCTAssertEqual(back[0].layout, .gray)
        XCTAssertGreaterThan(psnr(frames[5], back[5]), 60)
    }

    func test_packedAndPaletteFormats_decodeLikePlanar() throws {
        let planar = dir.file("p.mkv"), packed = dir.file("rgb.mkv"), pal = dir.file("pal.mkv")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=24:duration=0.1", "-pix_fmt", "gbrp", "-c:v", "ffv1",
            planar,
        ])
        try ffmpeg(["-i", planar, "-pix_fmt", "bgr0", "-c:v", "ffv1", packed])
        let (_, a) = try readAll(planar), (_, b) = try readAll(packed)
        XCTAssertEqual(psnr(a[0], b[0]), .infinity)
        try ffmpeg([
            "-i", planar, "-frames:v", "1", "-pix_fmt", "pal8", "-c:v", "png",
            pal.replacingOccurrences(of: ".mkv", with: ".png"),
        ])
        let (_, c) = try readAll(pal.replacingOccurrences(of: ".mkv", with: ".png"))
        XCTAssertEqual(c[0].layout, .rgb)
        XCTAssertGreaterThan(psnr(a[0], c[0]), 25)  // palette quantization
    }

    func test_rotation_displayMatrixIsApplied() throws {
        // FFmpeg 5.1 cannot tag a rotation when muxing, so the test writes the track header's
        // display matrix itself: a phone held upright (90° clockwise).
        let src = dir.file("rot.mp4")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=24:duration=0.2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
            src,
        ])
        var bytes = try Data(contentsOf: URL(fileURLWithPath: src))
        let tkhd = try XCTUnwrap(bytes.range(of: Data("tkhd".utf8)))
        XCTAssertEqual(bytes[tkhd.upperBound], 0, "tkhd version 0")
        let matrix: [UInt32] = [0, 0x0001_0000, 0, 0xFFFF_0000, 0, 0, 0, 0, 0x4000_0000]
        for (i, v) in matrix.enumerated() {
            for k in 0..<4 { bytes[tkhd.upperBound + 40 + i * 4 + k] = UInt8((v >> (24 - 8 * UInt32(k))) & 0xFF) }
        }
        try bytes.write(to: URL(fileURLWithPath: src))
        let (r, frames) = try readAll(src)
        // FFmpeg's own autorotation is the reference for the direction.
        let ref = dir.file("rot.gray")
        try ffmpeg(["-i", src, "-frames:v", "1", "-pix_fmt", "gray", "-f", "rawvideo", ref])
        let refPix = try Data(contentsOf: URL(fileURLWithPath: ref)).map { Float($0) / 255 }
        XCTAssertEqual(refPix.count, 90 * 160)
        let luma = YCbCrMatrix(.smpte170m).luma(frames[0].planes)
        XCTAssertGreaterThan(psnr(luma.map { min(max($0, 0), 1) }, refPix), 30)
        XCTAssertEqual(r.stream.width, 90)
        XCTAssertEqual(r.stream.height, 160)
        XCTAssertEqual(frames[0].width, 90)
        XCTAssertEqual(frames[0].height, 160)
    }

    func test_errors_nameTheCallAndReason() throws {
        let txt = dir.file("notes.mp4")
        try "this is not a video".write(toFile: txt, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try MediaReader(path: txt)) { e in
            let s = "\(e)"
            XCTAssertTrue(s.contains("avformat_open_input failed"), s)
            XCTAssertFalse(s.contains("\n"))
        }
        XCTAssertThrowsError(try MediaReader(path: dir.file("missing.mkv"))) { e in
            XCTAssertTrue("\(e)".contains("No such file"), "\(e)")
        }
    }
}
