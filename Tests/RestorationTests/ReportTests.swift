import XCTest
import FilmCore
@testable import Restoration
import MediaIO
import TestSupport

/// The report on a doctored output: an honest ×4 upscale in which half a second of frames is
/// replaced by another picture, one frame is dropped and the sound is 80 ms late.
final class ReportTests: XCTestCase {
    var dir: TempDir!
    override func setUp() { dir = TempDir("report") }
    override func tearDown() { dir.remove() }

    /// The report asks the chain's placing stage where the picture is: pad (pillarbox), crop (the middle of the
    /// source), stretch; an unknown chain is inferred from the shapes, a known one without a fit fills the frame.
    func test_activeArea_fromTheFitsPlacement() throws {
        let src = streamInfo(width: 640, height: 480)
        func area(_ mode: String?, known: Bool = true) throws -> ActiveArea {
            let placing = try mode.map {
                try StageRegistry.make("fit", options: StageOptions(stage: "fit", values: ["mode": $0]))
                    as? PicturePlacing
            }
            return ActiveArea.infer(
                source: src, outputWidth: 1920, outputHeight: 1080, chain: known, placing: placing ?? nil)
        }
        let full = ActiveArea.Rect(x: 0, y: 0, width: 640, height: 480)
        XCTAssertEqual(try area("pad").output, ActiveArea.Rect(x: 240, y: 0, width: 1440, height: 1080))
        XCTAssertEqual(try area("pad").source, full)
        XCTAssertEqual(try area("crop").output, ActiveArea.Rect(x: 0, y: 0, width: 1920, height: 1080))
        XCTAssertEqual(try area("crop").source, ActiveArea.Rect(x: 0, y: 60, width: 640, height: 360))
        XCTAssertEqual(try area("stretch").output, ActiveArea.Rect(x: 0, y: 0, width: 1920, height: 1080))
        XCTAssertEqual(try area("stretch").source, full)
        XCTAssertEqual(try area(nil, known: false), try area("pad"))
        XCTAssertEqual(try area(nil, known: true), try area("stretch"))
    }

    func test_report_flagsReplacedFrames_catchesDroppedFrameAndShiftedSound() throws {
        let input = dir.file("in.mp4")
        try testClip(input, seconds: 2, videoOptions: ["-qp", "0"])
        let out = dir.file("out.mkv")
        // Frames 24…35 (1.0–1.5 s) show a Mandelbrot set instead of the film; frame 40 is taken out
        // with every other frame keeping its time; the sound comes from the source 80 ms late.
        try ffmpeg([
            "-i", input, "-f", "lavfi", "-i", "mandelbrot=size=640x480:rate=24,trim=duration=2", "-itsoffset", "0.08",
            "-i", input,
            "-filter_complex",
            "[0:v]scale=640:480:flags=lanczos[s];[s][1:v]overlay=enable='between(n,24,35)',select='not(eq(n\\,40))'[v]",
            "-map", "[v]", "-map", "2:a", "-fps_mode", "passthrough", "-c:v", "ffv1", "-c:a", "copy", out,
        ])
        var options = ReportOptions()
        options.stills = 3
        let (r, images) = try ReportMaker.make(source: input, output: out, chain: [], options: options)

        XCTAssertEqual(r.frames.count, 48)
        XCTAssertEqual(r.activeArea.output, ActiveArea.Rect(x: 0, y: 0, width: 640, height: 480))
        for f in r.frames {
            if f.index == 40 {
                XCTAssertNil(f.outputTime, "the dropped frame has no output frame")
                continue
            }
            let psnr = try XCTUnwrap(f.psnr, "frame \(f.index)"), ssim = try XCTUnwrap(f.ssim)
            if (24...35).contains(f.index) {
                XCTAssertTrue(f.inventedDetail, "replaced frame \(f.index): \(psnr) dB, SSIM \(ssim)")
                XCTAssertLessThan(psnr, 15)
                XCTAssertLessThan(ssim, 0.3)
            } else {
                XCTAssertFalse(f.inventedDetail, "honest frame \(f.index): \(psnr) dB, SSIM \(ssim)")
                XCTAssertGreaterThan(psnr, 30)
                XCTAssertGreaterThan(ssim, 0.9)
            }
        }
        XCTAssertEqual(r.summary.inventedFrames, 12)
        XCTAssertEqual(r.summary.fidelityFrames, 47)
        // The lowest-fidelity frame is one of the replaced ones and is among the stills.
        let worst = try XCTUnwrap(r.stills.first { $0.label.contains("lowest") })
        XCTAssertTrue((24...35).contains(worst.index))
        XCTAssertEqual(images.stills.count, r.stills.count)
        XCTAssertTrue(images.between.isEmpty, "no interpolation, no interpolated frame")
        for im in images.stills {
            for png in [im.before, im.after, im.beforeCrop, im.afterCrop] {
                XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
            }
        }

        XCTAssertFalse(r.timing.passed)
        XCTAssertEqual(r.timing.missingFrames, 1)
        XCTAssertTrue(r.timing.problems.contains { $0.contains("sound moved") }, "\(r.timing.problems)")
        XCTAssertEqual(
            try XCTUnwrap(r.timing.outputOffsetAtStart) - (try XCTUnwrap(r.timing.inputOffsetAtStart)), 0.08,
            accuracy: 0.002)
        // The page says so.
        let html = ReportPage.html(r, images: images)
        XCTAssertTrue(html.contains("12 frame(s) flagged as invented detail"))
        XCTAssertTrue(html.contains("timing or sound changed"))
    }

    /// NIQE in the report: every still has the source's, the reference's and the output's score;
    /// with no cleanup the reference is the source; a blurred output scores less natural.
    func test_report_niqe_perStillAndSummary_blurredOutputLessNatural() throws {
        let photo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Tests/Fixtures/photos/coffee.png").path
        let input = dir.file("in.mkv"), out = dir.file("out.mkv")
        // a slow pan over a real photograph, lossless; the output is the same frames blurred
        try ffmpeg([
            "-loop", "1", "-framerate", "24", "-i", photo, "-vf", "crop=256:256:x='n':y=16,format=gray", "-frames:v",
            "24",
            "-c:v", "ffv1", input,
        ])
        try ffmpeg(["-i", input, "-vf", "gblur=sigma=3", "-c:v", "ffv1", out])
        var options = ReportOptions()
        options.stills = 3
        let (r, _) = try ReportMaker.make(source: input, output: out, chain: [], options: options)
        XCTAssertGreaterThanOrEqual(r.stills.count, 3)
        for s in r.stills {
            let reference = try XCTUnwrap(s.niqeReference), output = try XCTUnwrap(s.niqeOutput)
            if s.before == "source" {
                XCTAssertEqual(
                    try XCTUnwrap(s.niqeSource), reference, accuracy: 1e-9, "no cleanup: the reference is the source")
            }
            XCTAssertGreaterThan(output, reference + 1, "blur σ 3 is less natural: \(reference) → \(output)")
        }
        XCTAssertEqual(r.summary.niqeFrames, r.stills.count)
        XCTAssertGreaterThan(try XCTUnwrap(r.summary.niqeOutput), try XCTUnwrap(r.summary.niqeSource) + 1)
    }

    /// Flicker and noise figures respond to what they measure.
    func test_flickerIndex_and_noiseSigma() {
        let n = 48
        let times = (0..<n).map { Double($0) / 24 }
        let steady = PictureMeasures.flicker(
            means: times.map { 0.4 + 0.1 * $0 }, times: times, cuts: Array(repeating: false, count: n))
        XCTAssertLessThan(try XCTUnwrap(steady.index), 0.5)  // a slow fade is not flicker
        let pumping = PictureMeasures.flicker(
            means: (0..<n).map { 0.4 + ($0 % 2 == 0 ? 0.02 : -0.02) }, times: times,
            cuts: Array(repeating: false, count: n))
        XCTAssertEqual(try XCTUnwrap(pumping.index), 5, accuracy: 0.6)  // ±0.02 on 0.4: ±5 %
        // A cut between two steady shots of different brightness is not flicker either.
        let cuts = (0..<n).map { $0 == 24 }
        let shots = PictureMeasures.flicker(means: (0..<n).map { $0 < 24 ? 0.3 : 0.6 }, times: times, cuts: cuts)
        XCTAssertLessThan(try XCTUnwrap(shots.index), 1e-6)

        var rng = SplitMix64(7)
        let w = 200, h = 150
        let flat = [Float](repeating: 0.5, count: w * h)
        XCTAssertEqual(PictureMeasures.noiseSigma(flat, width: w, height: h), 0, accuracy: 1e-6)
        // Gaussian noise of σ 5 levels (Box–Muller) reads as about 5.
        let noisy = (0..<(w * h)).map { _ -> Float in
            let u = max(rng.nextUnit(), 1e-7), v = rng.nextUnit()
            return 0.5 + 5 / 255 * Float(sqrt(-2 * log(Double(u))) * cos(2 * Double.pi * Double(v)))
        }
        XCTAssertEqual(PictureMeasures.noiseSigma(noisy, width: w, height: h), 5, accuracy: 0.3)
    }

    /// A feature film's 130,000 frames plot as a few thousand points, spikes kept.
    func test_plotDecimation_keepsExtremesAndGaps() {
        var pts: [(Double, Double?)] = (0..<130_000).map { (Double($0) / 24, sin(Double($0) / 500)) }
        pts[77_777].1 = 5
        pts[1234].1 = -5
        pts[90_000].1 = nil
        let d = ReportPage.decimated(pts, bins: 1200)
        XCTAssertLessThanOrEqual(d.count, 2 * 1200 + 1)
        XCTAssertEqual(d.compactMap(\.1).max(), 5)
        XCTAssertEqual(d.compactMap(\.1).min(), -5)
        XCTAssertEqual(d.filter { $0.1 == nil }.count, 1)
        XCTAssertEqual(
            zip(d, d.dropFirst()).filter { $0.0.1 != nil && $0.1.1 != nil && $0.1.0 < $0.0.0 }.count, 0,
            "points stay in time order")
        let small = Array(pts.prefix(100))
        XCTAssertEqual(ReportPage.decimated(small, bins: 1200).count, 100)
    }
}
