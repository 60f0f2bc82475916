import XCTest
import Foundation
import TestSupport
import MediaIO
import FilmCore
import Yams

/// Segments end to end: `plan` / `restore --job --segment` / `assemble`, and the checkpointed plain
/// restore with `--resume` after `kill -9`. The chain is temporal throughout (deflicker's 15-frame
/// window, despeckle and denoise across neighbours, RIFE interpolation to 60 fps), so a segment
/// only equals the single pass if its context frames are right.
final class SegmentCLITests: XCTestCase {
    var dir: TempDir!
    override func setUp() { dir = TempDir("cli-seg") }
    override func tearDown() { dir.remove() }

    func cli(_ args: [String]) throws -> ProcessResult { try runProcess(CLITests.binary, args) }

    /// Three shots (4 s, 24 fps) with grain and a sine track.
    func film() throws -> String {
        let p = dir.file("film.mkv")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=192x144:rate=24:duration=1.5",
            "-f", "lavfi", "-i", "mandelbrot=size=192x144:rate=24",
            "-f", "lavfi", "-i", "life=size=192x144:rate=24:mold=10:ratio=0.1",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=4",
            "-filter_complex",
            "[0:v]format=yuv420p[a];[1:v]trim=duration=1.25,setpts=PTS-STARTPTS,format=yuv420p[b];"
                + "[2:v]trim=duration=1.25,setpts=PTS-STARTPTS,format=yuv420p[c];[a][b][c]concat=n=3:v=1:a=0,noise=alls=14:allf=t[v]",
            "-map", "[v]", "-map", "3:a", "-c:v", "libx264", "-crf", "10", "-g", "12", "-c:a", "flac", p,
        ])
        return p
    }

    func preset(denoise: String = "auto") throws -> String {
        let p = dir.file("chain.yml")
        try """
        description: temporal test chain
        stages:
          - deflicker
          - despeckle
          - denoise:
              strength: \(denoise)
          - interpolate:
              rate: 60
              refine: false
        output:
          codec: ffv1
        """.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func singlePass(_ input: String, _ preset: String) throws -> String {
        let out = dir.file("single.mkv")
        let r = try cli(["restore", input, "-o", out, "--preset", preset, "--no-checkpoint", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return out
    }

    /// Same frame count and timestamps, every frame ≥ 50 dB to the single pass.
    func assertSame(_ a: String, _ b: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let ta = try probeFrameTimes(a), tb = try probeFrameTimes(b)
        XCTAssertEqual(ta.count, tb.count, "frame count", file: file, line: line)
        for (x, y) in zip(ta, tb) { XCTAssertEqual(x, y, accuracy: 1e-6, "timestamps", file: file, line: line) }
        let (_, fa) = try decodeAll(a), (_, fb) = try decodeAll(b)
        XCTAssertEqual(fa.count, fb.count, file: file, line: line)
        var worst = Double.infinity
        for (x, y) in zip(fa, fb) { worst = min(worst, psnr(x, y)) }
        XCTAssertGreaterThanOrEqual(worst, 50, "worst frame \(worst) dB", file: file, line: line)
    }

    func test_planSegmentsAssemble_equalsSinglePass_soundInSync() throws {
        let input = try film(), chain = try preset()
        let single = try singlePass(input, chain)
        let job = dir.file("job.json")
        var r = try cli(["plan", input, "--preset", chain, "--segments", "4", "-o", job])
        XCTAssertEqual(r.status, 0, r.stderr)
        let plan = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: job))) as! [String: Any]
        let segs = plan["segments"] as! [[String: Any]]
        XCTAssertEqual(segs.count, 4)
        // Both kinds of boundary are exercised: at the two cuts and mid-shot.
        let atCut = segs.dropFirst().filter { $0["startsAtCut"] as? Bool == true }.count
        XCTAssertEqual(atCut, 2, r.stdout)
        // Segments as parallel processes, as a scheduler would run them (out of order).
        let group = DispatchGroup()
        let results = Locked<[Int: ProcessResult]>([:])
        for i in [3, 1, 0, 2] {
            DispatchQueue.global().async(group: group) {
                let res = try? runProcess(CLITests.binary, ["restore", "--job", job, "--segment", "\(i)", "--quiet"])
                results.withLock { $0[i] = res }
            }
        }
        group.wait()
        let byIndex = results.current
        for i in 0..<4 { XCTAssertEqual(byIndex[i]?.status, 0, byIndex[i]?.stderr ?? "no result") }
        // Idempotent: a segment run again is not made again.
        r = try cli(["restore", "--job", job, "--segment", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("already done"), r.stdout)
        let out = dir.file("assembled.mkv")
        r = try cli(["assemble", job, "-o", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        try assertSame(single, out)
        // Sound: copied once, untouched, and as long as the picture to within one frame.
        XCTAssertEqual(try packetHashes(out, stream: "a:0"), try packetHashes(input, stream: "a:0"))
        let a = try packetSpan(out, stream: "a:0"), v = try probeFrameTimes(out)
        let inA = try packetSpan(input, stream: "a:0")
        XCTAssertEqual(a.start, inA.start, accuracy: 1e-6)
        XCTAssertEqual(a.end, inA.end, accuracy: 1e-6)
        XCTAssertEqual((v.last ?? 0) + 1.0 / 60, a.end - a.start, accuracy: 1.0 / 60)
        // Provenance: tool, preset, models with their hashes.
        let tags =
            (try ffprobe(out, ["-show_entries", "format_tags"])["format"] as? [String: Any])?["tags"] as? [String: Any]
            ?? [:]
        let models = tags.first { $0.key.lowercased() == "filmrestore_models" }?.value as? String ?? ""
        XCTAssertTrue(models.contains("interpolate:rife-v4.0-flownet.pkl sha256:"), "\(tags)")
    }

    /// `plan --start/--duration`: a part of the film in segments, assembled, equals the same part
    /// made in one pass (temporal stages and interpolation included), starting at 0 with its sound.
    func test_planAPart_segmentsAssemble_equalsThePartInOnePass() throws {
        let input = try film(), chain = try preset()
        let part = dir.file("part.mkv")
        var r = try cli([
            "restore", input, "-o", part, "--preset", chain, "--start", "1.25", "--duration", "2", "--quiet",
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let job = dir.file("part.json")
        r = try cli([
            "plan", input, "--preset", chain, "--segments", "3", "--start", "1.25", "--duration", "2", "-o", job,
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("the part of"), r.stdout)
        for i in 0..<3 {
            let s = try cli(["restore", "--job", job, "--segment", "\(i)", "--quiet"])
            XCTAssertEqual(s.status, 0, s.stderr)
        }
        let out = dir.file("assembled-part.mkv")
        r = try cli(["assemble", job, "-o", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        try assertSame(part, out)
        let v = try probeFrameTimes(out)
        XCTAssertEqual(v.count, 120)
        XCTAssertEqual(v.first ?? -1, 0, accuracy: 1e-6)
        let a = try packetSpan(out, stream: "a:0")
        XCTAssertEqual(a.start, 0, accuracy: 0.1)
        XCTAssertEqual(a.end, 2, accuracy: 0.1)
    }

    func test_corruptedSegmentDetectedAndRedone_changedPresetInvalidates() throws {
        let input = try film(), chain = try preset()
        let job = dir.file("job.json")
        XCTAssertEqual(try cli(["plan", input, "--preset", chain, "--segments", "3", "-o", job]).status, 0)
        for i in 0..<3 { XCTAssertEqual(try cli(["restore", "--job", job, "--segment", "\(i)", "--quiet"]).status, 0) }
        // One byte changed in the middle of segment 1.
        let seg = dir.file("job.segments/segment-00001.nut")
        let h = try FileHandle(forUpdating: URL(fileURLWithPath: seg))
        let size = try h.seekToEnd()
        try h.seek(toOffset: size / 2)
        let b = try h.read(upToCount: 1)!
        try h.seek(toOffset: size / 2)
        h.write(Data([b[0] ^ 0x5a]))
        try h.close()
        var r = try cli(["assemble", job, "-o", dir.file("a.mkv")])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("1 (damaged"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("a.mkv")))
        r = try cli(["restore", "--job", job, "--segment", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stdout.contains("already done"), "a damaged segment is made again")
        r = try cli(["assemble", job, "-o", dir.file("a.mkv")])
        XCTAssertEqual(r.status, 0, r.stderr)
        try assertSame(try singlePass(input, chain), dir.file("a.mkv"))

        // The preset changes (a denoise option): a new plan into the same folder; no old segment counts.
        let changed = try preset(denoise: "6")
        XCTAssertEqual(
            try cli(["plan", input, "--preset", changed, "--segments", "3", "-o", job, "--force"]).status, 0)
        r = try cli(["assemble", job, "-o", dir.file("b.mkv")])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("made for another recipe"), r.stderr)
        r = try cli(["restore", "--job", job, "--segment", "0"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stdout.contains("already done"), "a segment of the old preset is made again")
    }

    /// Starts a checkpointed restore and kills it (SIGKILL) once `segments` segments are done.
    func killedRun(_ input: String, _ out: String, _ preset: String, segments: Int = 1) throws -> String {
        let work = dir.path + "/." + (out as NSString).lastPathComponent + ".filmrestore"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.binary)
        p.arguments = ["restore", input, "-o", out, "--preset", preset, "--segment-seconds", "0.5", "--quiet"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(120)
        while p.isRunning && Date() < deadline {
            let done = ((try? FileManager.default.contentsOfDirectory(atPath: work)) ?? []).filter {
                $0.hasSuffix(".done.json")
            }
            if done.count >= segments { break }
            usleep(20_000)
        }
        XCTAssertTrue(p.isRunning, "the run ended before it could be killed")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .uncaughtSignal)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "no output from a killed run")
        return work
    }

    func test_kill9_thenResume_equalsUninterrupted() throws {
        let input = try film(), chain = try preset()
        let out = dir.file("resumed.mkv")
        let work = try killedRun(input, out, chain)
        // Without --resume the interrupted run is not thrown away silently.
        var r = try cli(["restore", input, "-o", out, "--preset", chain, "--segment-seconds", "0.5", "--quiet"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--resume"), r.stderr)
        r = try cli(["restore", input, "-o", out, "--preset", chain, "--segment-seconds", "0.5", "--resume"])
        XCTAssertEqual(r.status, 0, r.stderr)
        // (progress and summary lines go to stderr)
        let reused =
            r.stderr.components(separatedBy: "resumed: ").dropFirst().first.flatMap { Int($0.prefix { $0.isNumber }) }
            ?? 0
        XCTAssertGreaterThanOrEqual(reused, 1, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: work), "the work folder is removed when done")
        try assertSame(try singlePass(input, chain), out)
        XCTAssertEqual(try packetHashes(out, stream: "a:0"), try packetHashes(input, stream: "a:0"))
    }

    func test_resume_redoesADamagedSegment_andIgnoresAnotherPresets() throws {
        let input = try film(), chain = try preset()
        let out = dir.file("resumed.mkv")
        let work = try killedRun(input, out, chain)
        let part = try XCTUnwrap(
            try FileManager.default.contentsOfDirectory(atPath: work).first {
                $0.hasSuffix(".nut") && !$0.contains("partial")
            })
        // truncated and overwritten
        try Data(repeating: 0, count: 100).write(to: URL(fileURLWithPath: work + "/" + part))
        var r = try cli(["restore", input, "-o", out, "--preset", chain, "--segment-seconds", "0.5", "--resume"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("damaged"), r.stderr)
        try assertSame(try singlePass(input, chain), out)

        // Interrupted under one preset, resumed under another: nothing of the first is kept.
        let out2 = dir.file("changed.mkv")
        _ = try killedRun(input, out2, chain)
        let changed = try preset(denoise: "6")
        r = try cli(["restore", input, "-o", out2, "--preset", changed, "--segment-seconds", "0.5", "--resume"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("another preset"), r.stderr)
        XCTAssertFalse(r.stderr.contains("resumed:"), r.stderr)
    }

    /// The deploy/ scripts as the schedulers run them, on this machine: each Slurm array task with its
    /// SLURM_ARRAY_TASK_ID, the Kubernetes manifest rendered for the job and its container command
    /// run with JOB_COMPLETION_INDEX, the local parallel runner; then the assembly script.
    func test_deployScripts_slurmArray_kubernetesIndexedJob_localParallel() throws {
        let input = dir.file("clip.mkv")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=24:duration=2", "-f", "lavfi", "-i",
            "sine=frequency=330:duration=2",
            "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", input,
        ])
        let job = dir.file("film.job.json")
        var r = try cli(["plan", input, "--preset", "fit-4k60", "--size", "320x240", "--segments", "3", "-o", job])
        XCTAssertEqual(r.status, 0, r.stderr)
        let deploy = CLITests.repoRoot + "/deploy"
        // Slurm: tasks 2 and 0 (out of order), each from its array index.
        for i in [2, 0] {
            r = try runProcess(
                "env",
                [
                    "JOB=\(job)", "SLURM_ARRAY_TASK_ID=\(i)", "FILMRESTORE=\(CLITests.binary)",
                    deploy + "/slurm/filmrestore-array.sbatch",
                ])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.file("film.job.segments/segment-00002.done.json")))
        // Kubernetes: the manifest for this job, its pod command run for index 1.
        r = try runProcess(
            "env", ["IMAGE=registry.example/filmrestore:1", deploy + "/kubernetes/render.sh", job, dir.file("k8s.mkv")])
        XCTAssertEqual(r.status, 0, r.stderr)
        let docs = try Array(Yams.load_all(yaml: r.stdout)).compactMap { $0 as? [String: Any] }
        XCTAssertEqual(docs.count, 2)
        let spec = try XCTUnwrap(docs[0]["spec"] as? [String: Any])
        XCTAssertEqual(spec["completionMode"] as? String, "Indexed")
        XCTAssertEqual(spec["completions"] as? Int, 3)
        let pod = try XCTUnwrap(
            ((spec["template"] as? [String: Any])?["spec"] as? [String: Any])?["containers"] as? [[String: Any]]
        ).first
        XCTAssertEqual(pod?["image"] as? String, "registry.example/filmrestore:1")
        let command = try XCTUnwrap(pod?["command"] as? [String])
        XCTAssertEqual(Array(command.prefix(4)), ["filmrestore", "restore", "--job", job])
        r = try runProcess("env", ["JOB_COMPLETION_INDEX=1", CLITests.binary] + command.dropFirst())
        XCTAssertEqual(r.status, 0, r.stderr)
        // Local: everything is done already, so every task says so and nothing is made twice.
        r = try runProcess("env", ["FILMRESTORE=\(CLITests.binary)", deploy + "/local/parallel.sh", job, "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        // The assembly job.
        let out = dir.file("film-4k.mkv")
        r = try runProcess(
            "env",
            [
                "JOB=\(job)", "OUT=\(out)", "FILMRESTORE=\(CLITests.binary)",
                deploy + "/slurm/filmrestore-assemble.sbatch",
            ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let single = dir.file("single.mkv")
        XCTAssertEqual(
            try cli([
                "restore", input, "-o", single, "--preset", "fit-4k60", "--size", "320x240", "--no-checkpoint",
                "--quiet",
            ]).status, 0)
        XCTAssertEqual(try probeFrameTimes(out), try probeFrameTimes(single))
        XCTAssertEqual(try packetHashes(out, stream: "a:0"), try packetHashes(input, stream: "a:0"))
    }
}
