import XCTest
import FilmCore
import Restoration
import MediaIO
import TestSupport

final class RestorerTests: XCTestCase {
    var dir: TempDir!
    override func setUp() { dir = TempDir("restorer") }
    override func tearDown() { dir.remove() }

    func makeClip(seconds: Double = 1, name: String = "in.mkv") throws -> String {
        let p = dir.file(name)
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24:duration=\(seconds)", "-f", "lavfi", "-i",
            "sine=frequency=440:duration=\(seconds)", "-pix_fmt", "yuv420p", "-c:v", "ffv1", "-c:a", "flac",
            "-shortest", p,
        ])
        return p
    }

    func preset() -> Preset {
        Preset(
            name: "test",
            stages: [.init(name: "fit", options: ["size": "320x180"]), .init(name: "fps", options: ["rate": "30"])],
            encoder: EncoderSettings(codec: "ffv1", pixelFormat: "yuv420p"))
    }

    func test_restore_stageThrowingMidStream_failsNamingIt_andLeavesNoFile() throws {
        let input = try makeClip()
        var job = RestoreJob(input: input, output: dir.file("out.mkv"), preset: preset())
        job.extraStages = [Pipeline.Node(name: "explode", stage: FailingStage())]
        let r = try Restorer(job: job)
        XCTAssertThrowsError(try r.run()) { e in XCTAssertEqual("\(e)", "stage 'explode' failed: boom at frame 5") }
        XCTAssertEqual(dir.listing(), ["in.mkv"])
    }

    /// A checkpointed run cancelled from another thread at seeded random moments (the SIGINT
    /// handler's path: `Restorer.cancel` while stretches replace the pipeline and the progress
    /// timer reads it): each run ends cancelled or complete, never hangs, publishes no partial
    /// output, and a resume then finishes with every frame.
    func test_checkpointedRun_cancelledFromAnotherThreadAtRandomMoments_resumesComplete() throws {
        let input = try makeClip(seconds: 3)
        let out = dir.file("out.mkv"), whole = dir.file("whole.mkv")
        // the time of an uninterrupted checkpointed run: the moments are drawn over 2× of it
        var first = RestoreJob(input: input, output: whole, preset: preset())
        first.checkpoint = .init(segmentSeconds: 0.5)
        let t0 = Date()
        _ = try Restorer(job: first).run()
        let span = 2 * Date().timeIntervalSince(t0)
        var g = SplitMix64(5)
        var cancelledRuns = 0
        for attempt in 0..<6 {
            if FileManager.default.fileExists(atPath: out) { try FileManager.default.removeItem(atPath: out) }
            var job = RestoreJob(input: input, output: out, preset: preset())
            job.checkpoint = .init(segmentSeconds: 0.5, resume: true)
            let r = try Restorer(job: job)
            let delay = span * Double(g.nextUnit())
            let canceller = r.canceller
            DispatchQueue.global().asyncAfter(deadline: .now() + delay) { canceller.cancel() }
            do {
                let s = try r.run(progressInterval: 0.01) { _ in }
                XCTAssertEqual(try probeFrameTimes(out).count, 90, "a finished run holds every frame")
                _ = s
            } catch let e as RestoreError {
                // cancelled before any segment was done, or after some (kept for the resume)
                if case .cancelled = e {
                } else if case .resumable(.cancelled, _, _) = e {
                } else {
                    XCTFail("attempt \(attempt): \(e)")
                }
                cancelledRuns += 1
                XCTAssertFalse(
                    FileManager.default.fileExists(atPath: out), "no partial output published (attempt \(attempt))")
            }
        }
        var job = RestoreJob(input: input, output: out, preset: preset())
        job.checkpoint = .init(segmentSeconds: 0.5, resume: true)
        if !FileManager.default.fileExists(atPath: out) { _ = try Restorer(job: job).run() }
        XCTAssertEqual(try probeFrameTimes(out).count, 90)
        print("cancelled \(cancelledRuns) of 6 runs at random moments; resumed to 90 frames")
    }

    func test_restore_writesExactRateAndCopiesAudio() throws {
        let input = try makeClip(seconds: 2)
        let out = dir.file("out.mkv")
        let s = try Restorer(job: RestoreJob(input: input, output: out, preset: preset())).run()
        XCTAssertEqual(s.framesDecoded, 48)
        XCTAssertEqual(s.framesWritten, 60)
        let streams = try probeStreams(out)
        XCTAssertEqual(streams.filter { $0.type == "video" }.first?.rFrameRate, "30/1")
        XCTAssertEqual(streams.filter { $0.type == "audio" }.count, 1)
        XCTAssertEqual(try packetHashes(input, stream: "a:0"), try packetHashes(out, stream: "a:0"))
        XCTAssertEqual(dir.listing(), ["in.mkv", "out.mkv"])
        for (h, c) in zip(s.queueHighWater, Array(repeating: s.queueCapacity, count: s.queueHighWater.count)) {
            XCTAssertLessThanOrEqual(h, c)
        }
    }

    func test_restore_interlacedSource_isDeinterlacedFirst() throws {
        let input = dir.file("tape.mkv")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=50:duration=0.5", "-vf",
            "tinterlace=mode=interleave_top,setfield=tff",
            "-c:v", "ffv1", "-field_order", "tt", input,
        ])
        let out = dir.file("o.mkv")
        let r = try Restorer(job: RestoreJob(input: input, output: out, preset: preset()))
        XCTAssertEqual(
            r.nodes.map(\.name), ["deinterlace", "scenecut", "fit", "fps"],
            "deinterlaced first, then shots found on the source frames")
        _ = try r.run()
        XCTAssertTrue(
            try runProcess("ffprobe", ["-v", "error", "-show_entries", "stream=field_order", "-of", "csv=p=0", out])
                .stdout.contains("progressive"))
    }

    func test_restore_colorizeWithAMissingModel_failsNamingIt_beforeWritingAnything() throws {
        let input = try makeClip(seconds: 0.5)
        let p = try Preset.parse(
            yaml: "stages: [denoise, {colorize: {model: /nonexistent/ColorizeArtistic_gen.pth}}, fit]", name: "archival"
        )
        XCTAssertThrowsError(try Restorer(job: RestoreJob(input: input, output: dir.file("o.mkv"), preset: p))) { e in
            let s = "\(e)"
            XCTAssertTrue(
                s.contains("colorize") && s.contains("ColorizeArtistic_gen.pth") && s.contains("not found"), s)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("o.mkv")))
    }
}
