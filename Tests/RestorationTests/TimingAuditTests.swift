import XCTest
import FilmCore
import Restoration
import MediaIO
import TestSupport

/// The timing audit of a restore: it passes an honest restore and catches a shifted sound track
/// and a dropped frame.
final class TimingAuditTests: XCTestCase {
    var dir: TempDir!
    override func setUp() { dir = TempDir("audit") }
    override func tearDown() { dir.remove() }

    /// 24 fps with AAC (its priming delay gives the source a real, non-zero A/V offset) → 60 fps.
    func restored() throws -> (input: String, output: String) {
        let input = dir.file("in.mp4")
        try testClip(input, seconds: 3)
        let out = dir.file("out.mkv")
        let p = Preset(
            name: "t", stages: [.init(name: "fps", options: ["rate": "60"])],
            encoder: EncoderSettings(codec: "ffv1", pixelFormat: "yuv420p"))
        _ = try Restorer(job: RestoreJob(input: input, output: out, preset: p)).run()
        return (input, out)
    }

    func test_honestRestore_passes_shiftedSoundAndDroppedFrame_areCaught() throws {
        let (input, out) = try restored()
        let ok = try TimingAudit.run(input: input, output: out)
        XCTAssertTrue(ok.passed, "\(ok.problems)")
        XCTAssertEqual(ok.output.videoFrames, 180)
        XCTAssertEqual(ok.expectedFrames, 180)
        XCTAssertEqual(try XCTUnwrap(ok.outputFrameInterval), 1.0 / 60, accuracy: 1e-3)
        XCTAssertEqual(try XCTUnwrap(ok.output.offsetAtStart), try XCTUnwrap(ok.input.offsetAtStart), accuracy: 0.002)

        // The sound moved 80 ms late (stream copy, nothing else touched).
        let shifted = dir.file("shifted.mkv")
        try ffmpeg(["-i", out, "-itsoffset", "0.08", "-i", out, "-map", "0:v", "-map", "1:a", "-c", "copy", shifted])
        let s = try TimingAudit.run(input: input, output: shifted)
        XCTAssertFalse(s.passed)
        XCTAssertTrue(s.problems.contains { $0.contains("sound moved") }, "\(s.problems)")
        XCTAssertEqual(
            try XCTUnwrap(s.output.offsetAtStart) - (try XCTUnwrap(s.input.offsetAtStart)), 0.08, accuracy: 0.002)

        // One frame (the 100th) taken out, the others keeping their times.
        let dropped = dir.file("dropped.mkv")
        try ffmpeg([
            "-i", out, "-vf", "select='not(eq(n\\,100))'", "-fps_mode", "passthrough", "-c:v", "ffv1", "-c:a", "copy",
            dropped,
        ])
        let d = try TimingAudit.run(input: input, output: dropped)
        XCTAssertFalse(d.passed)
        XCTAssertEqual(d.gaps.count, 1)
        let times = try PacketTimes.scan(path: out)
        let frame101 = times.streams.first { $0.kind == .video }!.times[101] - times.startTime
        // ffmpeg re-times the copy to its own millisecond grid
        XCTAssertEqual(try XCTUnwrap(d.gaps.first), frame101, accuracy: 1.0 / 60)
        XCTAssertEqual(d.output.videoFrames, 179)
        XCTAssertTrue(d.problems.contains { $0.contains("missing") }, "\(d.problems)")
    }
}
