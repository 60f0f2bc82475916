import XCTest
import FilmCore
import MediaIO
import TestSupport

/// Every delivery and archive encoder, through MediaWriter, checked by decoding the result.
final class EncoderTests: XCTestCase {
    var dir: TempDir!
    override func setUp() { dir = TempDir("encoders") }
    override func tearDown() { dir.remove() }

    func frames(_ n: Int, width: Int = 256, height: Int = 144) -> [Frame] {
        (0..<n).map { syntheticFrame(width: width, height: height, index: $0) }
    }

    func encodeAndRead(
        codec: String, container: String, pixelFormat: String? = nil, crf: Int? = nil,
        preset: String? = nil, width: Int = 256, height: Int = 144
    ) throws -> (MediaWriter, [Frame], [Frame], String) {
        let src = frames(12, width: width, height: height)
        let out = dir.file("\(codec).\(container)")
        let info = streamInfo(width: width, height: height, fps: Rational(24), frames: src.count)
        let w = try MediaWriter(
            path: out, containerFor: out, stream: info,
            settings: EncoderSettings(codec: codec, crf: crf, preset: preset, pixelFormat: pixelFormat), copyFrom: nil)
        for f in src { try w.write(f) }
        try w.finish()
        let r = try MediaReader(path: out)
        var back: [Frame] = []
        while let f = try r.nextFrame() { back.append(f) }
        return (w, src, back, out)
    }

    func check(
        _ codec: String, container: String, expectPixFmt: String, minPSNR: Double, crf: Int? = nil,
        preset: String? = nil
    ) throws {
        let (w, src, back, out) = try encodeAndRead(codec: codec, container: container, crf: crf, preset: preset)
        XCTAssertEqual(w.pixelFormat, expectPixFmt)
        XCTAssertEqual(back.count, src.count, codec)
        for (a, b) in zip(src, back) {
            // Matroska stores milliseconds; the others keep the exact 1/24 grid
            XCTAssertEqual(a.pts.doubleValue, b.pts.doubleValue, accuracy: container == "mkv" ? 0.0006 : 1e-9, codec)
            XCTAssertGreaterThan(psnr(a, b), minPSNR, "\(codec) frame \(a.properties.sourceIndex)")
        }
        let v = try XCTUnwrap(try probeStreams(out).first)
        XCTAssertEqual(v.pixFmt, expectPixFmt)
        XCTAssertEqual(v.colorRange, "tv")
        // FFmpeg 5.1 reads no matrix back from ProRes in .mov (its own CLI output neither); readers
        // then infer BT.601 for SD, which is what was written.
        if codec != "prores_ks" { XCTAssertEqual(v.colorSpace, "smpte170m", "SD output is tagged BT.601") }
    }

    func test_x264_8bit420_mp4() throws {
        try check("libx264", container: "mp4", expectPixFmt: "yuv420p", minPSNR: 30, crf: 16, preset: "ultrafast")
    }
    func test_x265_10bit420_mkv() throws {
        try check("libx265", container: "mkv", expectPixFmt: "yuv420p10le", minPSNR: 30, crf: 16, preset: "ultrafast")
    }
    func test_svtav1_10bit420_mkv() throws {
        try check("libsvtav1", container: "mkv", expectPixFmt: "yuv420p10le", minPSNR: 30, crf: 20, preset: "12")
    }
    /// SVT-AV1's stream structure from a preset's options (the 4K presets' memory setting): passed to the
    /// encoder (it runs and decodes back), left out for an encoder that has no such option, refused out of range.
    func test_svtStructureOptions_reachSVT_areLeftOutElsewhere_andAreChecked() throws {
        let options = ["hierarchical-levels": "2", "lookahead": "0"]
        for (codec, preset) in [("libsvtav1", "12"), ("libx264", "ultrafast")] {
            let src = frames(10)
            let out = dir.file("structure-\(codec).mkv")
            let w = try MediaWriter(
                path: out, containerFor: out,
                stream: streamInfo(width: 256, height: 144, fps: Rational(24), frames: 10),
                settings: EncoderSettings(codec: codec, crf: 20, preset: preset, options: options), copyFrom: nil)
            for f in src { try w.write(f) }
            try w.finish()
            let r = try MediaReader(path: out)
            var back: [Frame] = []
            while let f = try r.nextFrame() { back.append(f) }
            XCTAssertEqual(back.count, 10, codec)
            for (a, b) in zip(src, back) { XCTAssertGreaterThan(psnr(a, b), 30, codec) }
        }
        XCTAssertNoThrow(try EncoderSettings.check(option: "hierarchical-levels", value: "5"))
        for (k, v) in [("hierarchical-levels", "1"), ("hierarchical-levels", "2:pin=1"), ("lookahead", "-1")] {
            XCTAssertThrowsError(try EncoderSettings.check(option: k, value: v)) {
                XCTAssertTrue("\($0)".contains("must be a whole number"), "\($0)")
            }
        }
        XCTAssertThrowsError(try EncoderSettings.check(option: "svtav1-params", value: "lp=1")) {
            XCTAssertTrue("\($0)".contains("is not allowed"), "\($0)")
        }
    }

    func test_prores_10bit422_mov() throws {
        try check("prores_ks", container: "mov", expectPixFmt: "yuv422p10le", minPSNR: 40)
    }
    func test_ffv1_10bit444_mkv_isNearLossless() throws {
        try check("ffv1", container: "mkv", expectPixFmt: "yuv444p10le", minPSNR: 55)
    }

    func test_grayFrames_to10bit420_keepTheirLuma_andNeutralChroma() throws {
        // a gray picture's chroma planes are written as the neutral code directly (no zero planes
        // downsampled): read back, every pixel is gray and within a code of the source
        let (w, h) = (96, 64)
        let src = frames(3, width: w, height: h).map { f in f.with(width: w, height: h, layout: .gray, planes: [f.luma])
        }
        let out = dir.file("gray.mkv")
        let info = streamInfo(width: w, height: h, fps: Rational(24), frames: src.count)
        let writer = try MediaWriter(
            path: out, containerFor: out, stream: info,
            settings: EncoderSettings(codec: "ffv1", pixelFormat: "yuv420p10le"), copyFrom: nil)
        for f in src { try writer.write(f) }
        try writer.finish()
        let r = try MediaReader(path: out)
        var back: [Frame] = []
        while let f = try r.nextFrame() { back.append(f) }
        XCTAssertEqual(back.count, src.count)
        for (a, b) in zip(src, back) {
            let planes = b.layout == .gray ? [b.planes[0], b.planes[0], b.planes[0]] : b.planes
            var worstLuma: Float = 0, worstTint: Float = 0
            for i in 0..<(w * h) {
                worstLuma = max(worstLuma, abs(planes[1][i] - a.planes[0][i]))
                worstTint = max(worstTint, abs(planes[0][i] - planes[1][i]), abs(planes[2][i] - planes[1][i]))
            }
            XCTAssertLessThan(worstLuma, 2.5 / 876, "luma within the 10-bit limited-range quantization")
            XCTAssertLessThan(worstTint, 2.5 / 876, "no tint: chroma neutral")
        }
    }

    func test_hdOutput_isTaggedBT709() throws {
        let (_, _, back, out) = try encodeAndRead(codec: "ffv1", container: "mkv", width: 1280, height: 720)
        let v = try XCTUnwrap(try probeStreams(out).first)
        XCTAssertEqual(v.colorSpace, "bt709")
        XCTAssertEqual(back.first?.properties.color.matrix, .bt709)
        XCTAssertEqual(back.first?.properties.color.inferred, false)
    }

    func test_badEncoderSettings_areClearErrors() {
        let info = streamInfo(width: 64, height: 64)
        let out = dir.file("x.mp4")
        XCTAssertThrowsError(
            try MediaWriter(
                path: out, containerFor: out, stream: info, settings: EncoderSettings(codec: "nosuchcodec"),
                copyFrom: nil)
        ) {
            XCTAssertTrue("\($0)".contains("encoder nosuchcodec is not available"), "\($0)")
        }
        XCTAssertThrowsError(
            try MediaWriter(
                path: out, containerFor: out, stream: info,
                settings: EncoderSettings(codec: "libx264", pixelFormat: "nv12"), copyFrom: nil)
        ) {
            XCTAssertTrue("\($0)".contains("nv12"), "\($0)")
        }
        XCTAssertThrowsError(
            try MediaWriter(
                path: out, containerFor: out, stream: info,
                settings: EncoderSettings(codec: "libx264", options: ["turbo": "1"]), copyFrom: nil)
        ) {
            XCTAssertTrue("\($0)".contains("no option 'turbo'"), "\($0)")
        }
        let wav = dir.file("x.wav")
        XCTAssertThrowsError(
            try MediaWriter(path: wav, containerFor: wav, stream: info, settings: EncoderSettings(), copyFrom: nil))
    }
}

final class PrimariesEncodeTests: XCTestCase {
    /// SD (SMPTE-C) pictures written into an HD master are converted to BT.709 primaries, as
    /// FFmpeg's colorspace filter does.
    func test_sdPrimaries_areConvertedForHDOutput_likeFFmpegColorspace() throws {
        let dir = TempDir("prim")
        let w = 1280, h = 720
        let colors: [(Float, Float, Float)] = [(0.8, 0.1, 0.1), (0.1, 0.7, 0.2), (0.2, 0.2, 0.8), (0.9, 0.8, 0.1)]
        // our path: R'G'B' frames described as SMPTE 170M → HD writer
        var info = streamInfo(width: w, height: h, frames: 1)
        info.color = .bt601
        let ours = dir.file("ours.mkv")
        let writer = try MediaWriter(
            path: ours, containerFor: ours, stream: info,
            settings: EncoderSettings(codec: "ffv1", pixelFormat: "yuv444p10le"), copyFrom: nil)
        var planes = [[Float]](repeating: [Float](repeating: 0, count: w * h), count: 3)
        for i in 0..<(w * h) {
            let c = colors[(i % w) * colors.count / w]
            planes[0][i] = c.0
            planes[1][i] = c.1
            planes[2][i] = c.2
        }
        try writer.write(
            Frame(width: w, height: h, layout: .rgb, planes: planes, pts: .zero, duration: Rational(1, 24)))
        try writer.finish()
        // FFmpeg's path: the same colors as 170M Y'CbCr, through colorspace=all=bt709
        let raw = dir.file("in.rgb"), tagged = dir.file("in170m.mkv"), theirs = dir.file("theirs.mkv")
        var data = Data(count: w * h * 3 * 2)
        data.withUnsafeMutableBytes { (p: UnsafeMutableRawBufferPointer) in
            let s = p.bindMemory(to: UInt16.self)
            for pl in 0..<3 {
                for i in 0..<(w * h) {
                    s[pl * w * h + i] = UInt16((planes[[1, 2, 0][pl]][i] * 65535).rounded()).littleEndian
                }
            }
        }
        try data.write(to: URL(fileURLWithPath: raw))
        try ffmpeg([
            "-f", "rawvideo", "-pix_fmt", "gbrp16le", "-s", "\(w)x\(h)", "-i", raw, "-vf",
            "scale=out_color_matrix=bt601:out_range=tv,format=yuv444p10le",
            "-colorspace", "smpte170m", "-color_primaries", "smpte170m", "-color_trc", "smpte170m", "-color_range",
            "tv", "-c:v", "ffv1", tagged,
        ])
        try ffmpeg([
            "-i", tagged, "-vf", "colorspace=all=bt709:iall=smpte170m:fast=0:format=yuv444p10", "-c:v", "ffv1", theirs,
        ])
        let a = try MediaReader(path: ours), b = try MediaReader(path: theirs)
        let fa = try XCTUnwrap(try a.nextFrame()), fb = try XCTUnwrap(try b.nextFrame())
        XCTAssertEqual(fa.properties.color.primaries, 1)
        for (k, _) in colors.enumerated() {
            let idx = (h / 2) * w + k * w / colors.count + w / (2 * colors.count)
            for c in 0..<3 {
                XCTAssertEqual(fa.planes[c][idx], fb.planes[c][idx], accuracy: 2.0 / 255, "color \(k) channel \(c)")
            }
        }
        // and the conversion really moved the color (it is not a no-op)
        let untouched = colors[0].0
        XCTAssertGreaterThan(abs(fa.planes[0][(h / 2) * w + w / 8] - untouched), 0.01)
    }
}
