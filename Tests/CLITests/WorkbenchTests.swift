import FilmCore
import Foundation
import MediaIO
import TestSupport
import XCTest

@testable import Workbench

/// `filmrestore serve` end to end: the built binary serving a temporary root with generated films,
/// driven over HTTP as the page (and any script) drives it.
final class WorkbenchAPITests: CLITestCase {
    override class var folderPrefix: String { "workbench" }

    /// A root with one film, `reel/film.mp4` (160x120, 24 fps, 2 s, with sound).
    func makeRoot() throws -> String {
        let root = dir.file("root")
        try FileManager.default.createDirectory(atPath: root + "/reel", withIntermediateDirectories: true)
        try testClip(root + "/reel/film.mp4", seconds: 2)
        return root
    }

    /// The width and height a PNG's header gives.
    func pngSize(_ d: Data) -> (Int, Int)? {
        let b = [UInt8](d)
        guard b.count > 24, b[0] == 0x89, b[1] == 0x50, b[2] == 0x4E, b[3] == 0x47 else { return nil }
        func u32(_ i: Int) -> Int { b[i..<i + 4].reduce(0) { $0 << 8 | Int($1) } }
        return (u32(16), u32(20))
    }

    func test_library_previews_job_cancel_andACrashedJob() throws {
        let root = try makeRoot()
        let wb = try ServedWorkbench(root: root)
        XCTAssertTrue(wb.base.hasPrefix("http://127.0.0.1:"), "listens on this machine only by default: \(wb.base)")

        // The library: the film with what probe says.
        let films = try XCTUnwrap(try wb.request("GET", "/api/films").json as? [[String: Any]])
        XCTAssertEqual(films.count, 1, "\(films)")
        let film = try XCTUnwrap(films.first)
        let id = try XCTUnwrap(film["id"] as? String)
        XCTAssertEqual(film["path"] as? String, "reel/film.mp4")
        XCTAssertEqual(film["width"] as? Int, 160)
        XCTAssertEqual(film["height"] as? Int, 120)
        XCTAssertEqual(film["rate"] as? Double, 24)
        XCTAssertEqual(film["frames"] as? Int, 48)
        XCTAssertEqual(film["audio"] as? Int, 1)
        XCTAssertEqual(try XCTUnwrap(film["duration"] as? Double), 2, accuracy: 0.05)
        let poster = try wb.request("GET", "/api/films/\(id)/poster")
        XCTAssertEqual(poster.status, 200)
        XCTAssertEqual(pngSize(poster.body).map { [$0.0, $0.1] }, [160, 120])

        // Two looks at one instant: each a before/after pair, the after as each look makes it.
        for (size, w, h) in [("320x240", 320, 240), ("480x360", 480, 360)] {
            let p = try wb.request(
                "POST", "/api/previews", json: ["film": id, "preset": "fit-4k60", "set": ["fit.size": size], "at": 1.0])
            XCTAssertEqual(p.status, 200, p.text)
            XCTAssertEqual(try XCTUnwrap(p.object["at"] as? Double), 1.0, accuracy: 1e-9)
            XCTAssertGreaterThan(try XCTUnwrap(p.object["projected_seconds"] as? Double), 0, p.text)
            let before = try wb.request("GET", try XCTUnwrap(p.object["before"] as? String))
            let after = try wb.request("GET", try XCTUnwrap(p.object["after"] as? String))
            XCTAssertEqual(pngSize(before.body).map { [$0.0, $0.1] }, [160, 120])
            XCTAssertEqual(pngSize(after.body).map { [$0.0, $0.1] }, [w, h])
        }

        // Bad looks are refused with the CLI's own messages.
        let cliMessage = try cli([
            "restore", root + "/reel/film.mp4", "-o", dir.file("x.mkv"), "--preset", "fit-4k60", "--set",
            "fit.size=64x",
        ]).stderr
        let bad = try wb.request(
            "POST", "/api/jobs", json: ["film": id, "preset": "fit-4k60", "set": ["fit.size": "64x"]])
        XCTAssertEqual(bad.status, 400)
        let message = try XCTUnwrap(bad.object["error"] as? String)
        XCTAssertTrue(cliMessage.contains(message), "API: \(message)\nCLI: \(cliMessage)")
        let unknown = try wb.request("POST", "/api/jobs", json: ["film": id, "preset": "no-such-preset"])
        XCTAssertEqual(unknown.status, 400)
        XCTAssertTrue(unknown.text.contains("unknown preset 'no-such-preset'"), unknown.text)
        let noKey = try wb.request(
            "POST", "/api/previews", json: ["film": id, "preset": "fit-4k60", "set": ["fit.sise": "1"]])
        XCTAssertEqual(noKey.status, 400, noKey.text)
        XCTAssertEqual(
            try wb.request("POST", "/api/jobs", json: ["film": "000000000000", "preset": "fit-4k60"]).status, 404)

        // A job runs to done; its output probes as asked, its report is served.
        let made = try wb.request(
            "POST", "/api/jobs",
            json: [
                "film": id, "preset": "fit-4k60", "set": ["fit.size": "320x240", "fps.rate": "30"],
                "output": "small.mkv",
            ])
        XCTAssertEqual(made.status, 201, made.text)
        let job = try XCTUnwrap(made.object["id"] as? String)
        let done = try wb.waitForJob(job) { ["done", "failed", "cancelled"].contains($0["state"] as? String ?? "") }
        XCTAssertEqual(done["state"] as? String, "done", "\(done)")
        XCTAssertEqual(done["output"] as? String, "restored/small.mkv")
        XCTAssertEqual(done["frame"] as? Int, done["frames"] as? Int)
        XCTAssertEqual(done["frames"] as? Int, 60)
        let streams = try probeStreams(root + "/restored/small.mkv")
        let video = try XCTUnwrap(streams.first { $0.type == "video" })
        XCTAssertEqual([video.width, video.height], [320, 240])
        XCTAssertEqual(try probeFrameTimes(root + "/restored/small.mkv").count, 60)
        XCTAssertTrue(streams.contains { $0.type == "audio" }, "the sound is copied")
        let report = try wb.request("GET", "/files/" + (try XCTUnwrap(done["report"] as? String)))
        XCTAssertEqual(report.status, 200)
        XCTAssertEqual(
            report.headers["content-security-policy"], "sandbox allow-scripts", "pages under the root run apart")
        XCTAssertTrue(report.headers["content-type"]?.hasPrefix("text/html") ?? false)
        XCTAssertTrue(report.text.contains("<html"))
        // No second job writes the same output; none writes over an existing file.
        let again = try wb.request(
            "POST", "/api/jobs", json: ["film": id, "preset": "fit-4k60", "output": "small.mkv"])
        XCTAssertEqual(again.status, 409, again.text)

        // Cancelling: a queued job never runs, a running one stops and leaves no output.
        let heavy: [String: Any] = ["film": id, "preset": "fit-4k60", "set": ["fit.size": "3840x2160"]]
        let running = try XCTUnwrap(
            try wb.request("POST", "/api/jobs", json: heavy.merging(["output": "big.mkv"]) { $1 }).object["id"]
                as? String)
        let queued = try XCTUnwrap(
            try wb.request("POST", "/api/jobs", json: heavy.merging(["output": "big2.mkv"]) { $1 }).object["id"]
                as? String)
        _ = try wb.waitForJob(running, seconds: 120) { ($0["frame"] as? Int ?? 0) > 0 }
        XCTAssertEqual(try wb.request("GET", "/api/jobs/\(queued)").object["state"] as? String, "queued")
        XCTAssertEqual(try wb.request("DELETE", "/api/jobs/\(queued)").object["state"] as? String, "cancelled")
        XCTAssertEqual(try wb.request("DELETE", "/api/jobs/\(running)").object["state"] as? String, "cancelled")
        let stopped = try wb.waitForJob(running, seconds: 30) { _ in !self.restoreRunning(writing: "big.mkv") }
        XCTAssertEqual(stopped["state"] as? String, "cancelled")
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/restored/big.mkv"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/restored/big2.mkv"))
        XCTAssertEqual(try wb.request("GET", "/api/jobs/\(queued)").object["attempts"] as? Int, 0, "never started")

        // A restore that crashes (killed by a signal) fails its job; the server keeps serving.
        let crash = try XCTUnwrap(
            try wb.request("POST", "/api/jobs", json: heavy.merging(["output": "crash.mkv"]) { $1 }).object["id"]
                as? String)
        _ = try wb.waitForJob(crash, seconds: 120) { ($0["frame"] as? Int ?? 0) > 0 }
        let pid = try XCTUnwrap(restorePID(writing: "crash.mkv"))
        kill(pid, SIGKILL)
        let crashed = try wb.waitForJob(crash, seconds: 30) { $0["state"] as? String != "running" }
        XCTAssertEqual(crashed["state"] as? String, "failed")
        XCTAssertTrue((crashed["error"] as? String ?? "").contains("signal 9"), "\(crashed)")
        XCTAssertEqual(try wb.request("GET", "/api/films").status, 200)
        XCTAssertEqual(wb.stop(SIGTERM), 0)

        // A server that cannot start says why on one line.
        for (args, text) in [
            (["--root", dir.file("none")], "does not exist"), (["--root", root, "--port", "70000"], "--port"),
            (["--root", root, "--outputs", "../out"], "inside the root"),
        ] {
            let r = try cli(["serve"] + args)
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.stderr.hasPrefix("filmrestore: error: ") && r.stderr.contains(text), r.stderr)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        }
    }

    /// The pid of a running `filmrestore restore` whose output ends with `name`.
    func restorePID(writing name: String) -> Int32? {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry),
                let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
            else { continue }
            let words = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if words.contains("restore"), words.contains(where: { $0.hasSuffix("/" + name) }) { return pid }
        }
        return nil
    }

    func restoreRunning(writing name: String) -> Bool { restorePID(writing: name) != nil }
}

/// What the workbench refuses: requests without the token (401), paths that leave the root (403),
/// outputs that would write over anything, oversized bodies.
final class WorkbenchSecurityTests: CLITestCase {
    override class var folderPrefix: String { "workbench-sec" }

    func test_tokenPathsAndOutputs() throws {
        let root = dir.file("root"), outside = dir.file("outside")
        for d in [root + "/reel", outside] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        }
        try testClip(root + "/reel/film.mp4", seconds: 1)
        try testClip(outside + "/secret.mp4", seconds: 1)
        try "secret".write(toFile: outside + "/secret.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: root + "/away", withDestinationPath: outside)
        try FileManager.default.createSymbolicLink(
            atPath: root + "/here.mp4", withDestinationPath: root + "/reel/film.mp4")
        let tokenFile = dir.file("token")
        try "0123456789abcdef0123456789abcdef".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let wb = try ServedWorkbench(root: root, extra: ["--token-file", tokenFile])
        XCTAssertEqual(wb.token, "0123456789abcdef0123456789abcdef")

        // 401 without the token, whatever the route (the page, the API, files, unknown routes).
        for path in ["/", "/api/films", "/api/jobs", "/files/reel/film.mp4", "/nowhere"] {
            XCTAssertEqual(try wb.request("GET", path, token: "").status, 401, path)
            XCTAssertEqual(try wb.request("GET", path, token: "0123456789abcdef0123456789abcdee").status, 401, path)
        }
        XCTAssertEqual(try wb.request("POST", "/api/jobs", json: ["film": "x", "preset": "y"], token: "").status, 401)
        XCTAssertEqual(try wb.request("GET", "/api/films?token=wrong", token: "").status, 401)
        // The tokened page load sets the cookie the page's own requests then carry.
        let page = try wb.request("GET", "/?token=\(wb.token)", token: "")
        XCTAssertEqual(page.status, 200)
        let cookie = try XCTUnwrap(page.headers["set-cookie"], "\(page.headers)")
        XCTAssertTrue(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), cookie)
        let pair = String(cookie.split(separator: ";")[0])
        XCTAssertEqual(try wb.request("GET", "/api/films", token: "", headers: ["Cookie": pair]).status, 200)

        // The library: films inside the root (a link inside it too), never behind a link that leaves it.
        let films = try XCTUnwrap(try wb.request("GET", "/api/films").json as? [[String: Any]])
        XCTAssertEqual(Set(films.compactMap { $0["path"] as? String }), ["here.mp4", "reel/film.mp4"])
        let id = try XCTUnwrap(films.first { $0["path"] as? String == "reel/film.mp4" }?["id"] as? String)

        // 403 for every path that leaves the root; nothing is read.
        for path in [
            "/files/away/secret.txt", "/files/%2e%2e/outside/secret.txt",
            "/files/reel/%2e%2e/%2e%2e/outside/secret.txt",
            "/files/..%2foutside%2fsecret.txt",
        ] {
            let reply = try wb.request("GET", path)
            XCTAssertEqual(reply.status, 403, "\(path): \(reply.text)")
            XCTAssertFalse(reply.text.contains("secret\n") || reply.text == "secret", path)
        }
        XCTAssertEqual(try wb.request("GET", "/files/reel/film.mp4").status, 200)
        XCTAssertEqual(try wb.request("GET", "/files/restored/.workbench/queue.sqlite").status, 403)
        // Option paths: inside the root only.
        for value in ["/etc", "../outside", "away"] {
            let reply = try wb.request(
                "POST", "/api/jobs", json: ["film": id, "preset": "colorize", "set": ["colorize.reference": value]])
            XCTAssertEqual(reply.status, 403, "\(value): \(reply.text)")
        }
        XCTAssertEqual(
            try wb.request(
                "POST", "/api/jobs", json: ["film": id, "preset": "colorize", "set": ["colorize.models-dir": "reel"]]
            )
            .status, 403)
        XCTAssertEqual(try wb.request("POST", "/api/jobs", json: ["film": id, "preset": "away/../x"]).status, 400)
        // Outputs: a new file name in the outputs folder, nothing else.
        try Data("keep".utf8).write(to: URL(fileURLWithPath: root + "/restored/kept.mkv"))
        for (name, status) in [
            ("../reel/film.mp4", 400), ("/tmp/x.mkv", 400), ("sub/x.mkv", 400), ("x.txt", 400), (".hidden.mkv", 400),
            ("kept.mkv", 409),
        ] {
            let reply = try wb.request("POST", "/api/jobs", json: ["film": id, "preset": "fit-4k60", "output": name])
            XCTAssertEqual(reply.status, status, "\(name): \(reply.text)")
        }
        XCTAssertEqual(try String(contentsOfFile: root + "/restored/kept.mkv", encoding: .utf8), "keep")
        // Bodies are capped; broken JSON is a 400, not a crash.
        let big = Data(repeating: UInt8(ascii: " "), count: 200_000)
        XCTAssertEqual(try wb.request("POST", "/api/jobs", body: big).status, 413)
        XCTAssertEqual(try wb.request("POST", "/api/jobs", body: Data("{\"film\": ".utf8)).status, 400)
        XCTAssertEqual(try wb.request("GET", "/api/jobs/nope").status, 404)
        XCTAssertEqual(try wb.request("GET", "/api/films").status, 200, "still serving")
    }

    /// The resolver itself: `..`, absolute paths and links out are refused before any file is touched.
    func test_rootFolder_resolvesInsideOnly() throws {
        let root = dir.file("r"), outside = dir.file("o")
        try FileManager.default.createDirectory(atPath: root + "/a", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root + "/out", withDestinationPath: outside)
        try FileManager.default.createSymbolicLink(atPath: root + "/dangling", withDestinationPath: outside + "/none")
        let r = try RootFolder(root)
        XCTAssertEqual(try r.resolve("a"), r.path + "/a")
        XCTAssertEqual(try r.resolve("a/new.mkv", mustExist: false), r.path + "/a/new.mkv")
        for (p, mustExist) in [
            ("../o", true), ("a/../../o", true), ("/etc/passwd", true), ("out", true), ("out/x.mkv", false),
            ("dangling", false), ("a/../../o/x", false),
        ] {
            XCTAssertThrowsError(try r.resolve(p, mustExist: mustExist), p) { e in
                XCTAssertEqual((e as? WorkbenchError)?.status, 403, "\(p): \(e)")
            }
        }
        XCTAssertEqual((try? r.resolve("missing"))?.isEmpty, nil)
    }

    /// The queue's database: jobs in order, one output per job, running jobs queued again after a stop.
    func test_jobStore_persistsAndRequeues() throws {
        let path = dir.file("q.sqlite")
        func job(_ id: String, _ out: String) -> WorkbenchJob {
            WorkbenchJob(
                id: id, film: "f", filmPath: "f.mp4", preset: "cleanup", settings: ["denoise.strength": "2"],
                output: out, report: out + ".html", state: .queued, frame: 0, frames: 10, etaSeconds: nil, error: nil,
                attempts: 0, created: 1)
        }
        do {
            let s = try JobStore(path: path)
            try s.add(job("a", "restored/a.mkv"))
            try s.add(job("b", "restored/b.mkv"))
            XCTAssertThrowsError(try s.add(job("c", "restored/a.mkv")), "one output per job")
            XCTAssertEqual(try s.startNext()?.id, "a")
            try s.setProgress("a", frame: 4, frames: 10, eta: 3)
            try s.setProcess("a", pid: 12345)
        }
        let s = try JobStore(path: path)
        XCTAssertEqual(try s.all().map(\.id), ["a", "b"])
        let a = try XCTUnwrap(try s.job("a"))
        XCTAssertEqual(a.state, .running)
        XCTAssertEqual(a.frame, 4)
        XCTAssertEqual(a.settings, ["denoise.strength": "2"])
        XCTAssertEqual(try s.requeueRunning().map(\.pid), [12345])
        XCTAssertEqual(try s.startNext()?.attempts, 2, "resumed: a second attempt, first in the queue")
        XCTAssertTrue(try s.setState("b", .cancelled, from: [.queued]))
        XCTAssertFalse(try s.setState("b", .running, from: [.queued]), "a cancelled job does not start")
        XCTAssertNoThrow(try s.add(job("d", "restored/b.mkv")), "a cancelled job's output is free again")
        XCTAssertThrowsError(try s.add(job("e", "restored/b.mkv"))) {
            XCTAssertEqual(($0 as? WorkbenchError)?.status, 409)
        }
    }
}

/// A server stopped mid-job — by SIGTERM, then by kill -9 with its restore left running — resumes the
/// job at the next start from its finished segments, and the output equals an uninterrupted restore's.
final class WorkbenchRestartTests: CLITestCase {
    override class var folderPrefix: String { "workbench-restart" }

    func test_stoppedAndKilledServer_resumesTheJob() throws {
        let root = dir.file("root")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try testClip(root + "/film.mp4", size: "320x240", seconds: 6)
        let reference = dir.file("reference.mkv")
        let r = try cli([
            "restore", root + "/film.mp4", "-o", reference, "--preset", "cleanup", "--segment-seconds", "0.2", "-q",
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let options = ["--segment-seconds", "0.2"]
        var wb: ServedWorkbench? = try ServedWorkbench(root: root, extra: options)
        let id =
            try XCTUnwrap(
                try wb!.request("GET", "/api/films").json as? [[String: Any]]
            ).first?["id"] as? String
        let job = try XCTUnwrap(
            try wb!.request(
                "POST", "/api/jobs", json: ["film": try XCTUnwrap(id), "preset": "cleanup", "output": "film.mkv"]
            )
            .object["id"] as? String)
        // A quarter in: SIGTERM. The server stops its restore and exits 0; the job stays in the queue.
        var seen = try wb!.waitForJob(job, seconds: 120) { ($0["frame"] as? Int ?? 0) >= 36 }
        XCTAssertEqual(seen["state"] as? String, "running", "\(seen)")
        XCTAssertEqual(wb!.stop(SIGTERM), 0, wb!.stderr)
        wb = nil
        // Started again: the job resumes; past half of it, kill -9 (its restore is left running, orphaned).
        wb = try ServedWorkbench(root: root, extra: options)
        seen = try wb!.waitForJob(job, seconds: 120) { ($0["frame"] as? Int ?? 0) >= 80 }
        XCTAssertEqual(seen["attempts"] as? Int, 2, "\(seen)")
        wb!.stop(SIGKILL)
        wb = nil
        // The third start stops the leftover restore before it resumes the job.
        wb = try ServedWorkbench(root: root, extra: options)
        let done = try wb!.waitForJob(job, seconds: 300) { ["done", "failed"].contains($0["state"] as? String ?? "") }
        XCTAssertEqual(done["state"] as? String, "done", "\(done)")
        XCTAssertEqual(done["attempts"] as? Int, 3)
        let log = try String(contentsOfFile: root + "/restored/.workbench/logs/\(job).log", encoding: .utf8)
        XCTAssertTrue(log.contains("resumed: "), "the restarts reused finished segments:\n\(log)")
        // The same pictures as the uninterrupted restore (lossless FFV1), frame for frame.
        let (_, a) = try decodeAll(reference)
        let (_, b) = try decodeAll(root + "/restored/film.mkv")
        XCTAssertEqual(a.count, 144)
        XCTAssertEqual(b.count, a.count)
        XCTAssertEqual(b.map(\.pts), a.map(\.pts))
        let worst = zip(a, b).map { psnr($0, $1) }.min() ?? 0
        XCTAssertGreaterThan(worst, 50, "resumed output against the uninterrupted one: worst frame \(worst) dB")
        XCTAssertEqual(wb!.stop(SIGTERM), 0)
    }
}
