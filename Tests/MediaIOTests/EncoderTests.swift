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

    func encodeAndRead(codec: String, container: String, pixelFormat: String? = nil, crf: Int? = nil,
                       preset: String? = nil, width: Int = 256, height: Int = 144) throws -> (MediaWriter, [Frame], [Frame], String) {
        let src = frames(12, width: width, height: height)
        let out = dir.file("\(codec).\(container)")
        let info = streamInfo(width: width, height: height, fps: Rational(24), frames: src.count)
        let w = try MediaWriter(path: out, containerFor: out, stream: info,
                                settings: EncoderSettings(codec: codec, crf: crf, preset: preset, pixelFormat: pixelFormat), copyFrom: nil)
        for f in src { try w.write(f) }
        try w.finish()
        let r = try MediaReader(path: out)
        var back: [Frame] = []
        while let f = try r.nextFrame() { back.append(f) }
        return (w, src, back, out)
    }

    func check(_ codec: String, container: String, expectPixFmt: String, minPSNR: Double, crf: Int? = nil, preset: String? = nil) throws {
        let (w, src, back, out) = try encodeAndRead(codec: codec, container: container, crf: crf, preset: preset)
        XCTAssertEqual(w.pixelFormat, expectPixFmt)
        XCTAssertEqual(back.count, src.count, codec)
        for (a, b) in zip(src, back) {
            XCTAssertEqual(a.pts, b.pts, codec)
            XCTAssertGreaterThan(psnr(a, b), minPSNR, "\(codec) frame \(a.properties.sourceIndex)")
        }
        let v = try XCTUnwrap(try probeStreams(out).first)
        XCTAssertEqual(v.pixFmt, expectPixFmt)
        XCTAssertEqual(v.colorSpace, "smpte170m", "SD output is tagged BT.601")
        XCTAssertEqual(v.colorRange, "tv")
    }

    func test_x264_8bit420_mp4() throws { try check("libx264", container: "mp4", expectPixFmt: "yuv420p", minPSNR: 30, crf: 16, preset: "ultrafast") }
    func test_x265_10bit420_mkv() throws { try check("libx265", container: "mkv", expectPixFmt: "yuv420p10le", minPSNR: 30, crf: 16, preset: "ultrafast") }
    func test_svtav1_10bit420_mkv() throws { try check("libsvtav1", container: "mkv", expectPixFmt: "yuv420p10le", minPSNR: 30, crf: 20, preset: "12") }
    func test_prores_10bit422_mov() throws { try check("prores_ks", container: "mov", expectPixFmt: "yuv422p10le", minPSNR: 40) }
    func test_ffv1_10bit444_mkv_isNearLossless() throws { try check("ffv1", container: "mkv", expectPixFmt: "yuv444p10le", minPSNR: 55) }

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
        XCTAssertThrowsError(try MediaWriter(path: out, containerFor: out, stream: info, settings: EncoderSettings(codec: "nosuchcodec"), copyFrom: nil)) {
            XCTAssertTrue("\($0)".contains("encoder nosuchcodec is not available"), "\($0)")
        }
        XCTAssertThrowsError(try MediaWriter(path: out, containerFor: out, stream: info, settings: EncoderSettings(codec: "libx264", pixelFormat: "nv12"), copyFrom: nil)) {
            XCTAssertTrue("\($0)".contains("nv12"), "\($0)")
        }
        XCTAssertThrowsError(try MediaWriter(path: out, containerFor: out, stream: info, settings: EncoderSettings(codec: "libx264", options: ["turbo": "1"]), copyFrom: nil)) {
            XCTAssertTrue("\($0)".contains("no option 'turbo'"), "\($0)")
        }
        let wav = dir.file("x.wav")
        XCTAssertThrowsError(try MediaWriter(path: wav, containerFor: wav, stream: info, settings: EncoderSettings(), copyFrom: nil))
    }
}
