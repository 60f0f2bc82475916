import XCTest
import Foundation
import TestSupport

/// `restore --report`: the page and its JSON agree number for number, and the page renders in
/// headless Chromium with its images and without script errors.
final class ReportCLITests: XCTestCase {
    var dir: TempDir!
    override func setUp() { dir = TempDir("report-cli") }
    override func tearDown() { dir.remove() }

    /// A colorized film's report tells, shot by shot, how sure the colour is (two generated shots, a cut between):
    /// both shots, their first frames and lengths, a certainty between 0 and 1 — on the page as in the JSON, and
    /// the least sure frame no surer than the shot's mean.
    func test_colorizedReport_certaintyByShot() throws {
        let clip = dir.file("two-shots.mkv")
        try twoShotGrayClip(clip)
        let out = dir.file("colour.mkv"), page = dir.file("colour.html"), stats = dir.file("colour-stats.json")
        let r = try runProcess(
            CLITests.binary,
            [
                "restore", clip, "-o", out, "--preset", "colorize", "--codec", "ffv1", "--report", page, "--stats-json",
                stats,
            ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("colour.json"))))
                as? [String: Any])
        let shots = try XCTUnwrap((json["run"] as? [String: Any])?["shotColour"] as? [[String: Any]])
        XCTAssertEqual(shots.map { $0["firstFrame"] as? Int }, [0, 12])
        XCTAssertEqual(shots.map { $0["frames"] as? Int }, [12, 12])
        for s in shots {
            let mean = try XCTUnwrap(s["meanCertainty"] as? Double),
                least = try XCTUnwrap(s["leastCertainty"] as? Double)
            XCTAssertGreaterThan(mean, 0.01)
            XCTAssertLessThan(mean, 0.99)
            XCTAssertLessThanOrEqual(least, mean + 1e-9)
        }
        XCTAssertNotEqual(
            shots[0]["meanCertainty"] as? Double, shots[1]["meanCertainty"] as? Double, "each shot its own figure")
        let html = try String(contentsOfFile: page, encoding: .utf8)
        let shown = Self.keyedValues(html)
        XCTAssertTrue(shown.contains { $0.key == "run.shotColour.1.meanCertainty" }, "the page shows the shots")
        XCTAssertEqual(Self.mismatches(shown, json), [])
        let figures = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: stats))) as? [String: Any])
        XCTAssertEqual((figures["colour_by_shot"] as? [[String: Any]])?.count, 2)
    }

    func test_restoreReport_pageEqualsJSON_andRendersInChromium() throws {
        let input = dir.file("in.mp4")
        try testClip(input, seconds: 2, tone: 330, videoOptions: ["-vf", "noise=alls=12:allf=t"])
        let preset = dir.file("chain.yml")
        try """
        description: report test chain
        stages:
          - deflicker
          - denoise
          - fit:
              size: 320x180
          - fps:
              rate: 48
        output:
          codec: ffv1
        """.write(toFile: preset, atomically: true, encoding: .utf8)
        let out = dir.file("out.mkv"), page = dir.file("report.html")
        let r = try runProcess(CLITests.binary, ["restore", input, "-o", out, "--preset", preset, "--report", page])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("wrote \(page)"), r.stderr)
        let json = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("report.json"))))
                as? [String: Any])
        let html = try String(contentsOfFile: page, encoding: .utf8)

        // Every number and name on the page is its JSON value, as shown.
        let shown = Self.keyedValues(html)
        XCTAssertGreaterThan(shown.count, 60)
        for key in [
            "summary.meanPSNR", "summary.minSSIM", "summary.flickerBefore", "summary.noiseAfter",
            "timing.outputOffsetAtStart",
            "timing.outputFrames", "run.peakMemoryMiB", "run.steps.2.framesPerSecond", "stills.0.psnr",
            "provenance.filmrestore_preset",
        ] {
            XCTAssertTrue(shown.contains { $0.key == key }, "page lacks \(key)")
        }
        XCTAssertEqual(Self.mismatches(shown, json), [])
        // …and the comparison can fail: one figure changed on the page is found.
        var tampered = shown
        let i = try XCTUnwrap(tampered.firstIndex { $0.key == "summary.meanPSNR" })
        tampered[i].text = String(format: "%.2f", (Double(tampered[i].text) ?? 0) + 0.02)
        XCTAssertEqual(Self.mismatches(tampered, json).count, 1)

        // What the report measured on this honest chain (4:3 pillarboxed in 16:9; 24 → 48 fps).
        let area = try XCTUnwrap(json["activeArea"] as? [String: [String: Int]])
        XCTAssertEqual(area["output"], ["x": 40, "y": 0, "width": 240, "height": 180])
        let timing = try XCTUnwrap(json["timing"] as? [String: Any])
        XCTAssertEqual(timing["passed"] as? Bool, true, "\(timing)")
        XCTAssertEqual(timing["outputFrames"] as? Int, 96)
        let summary = try XCTUnwrap(json["summary"] as? [String: Any])
        XCTAssertEqual(summary["fidelityFrames"] as? Int, 48)
        XCTAssertGreaterThan(try XCTUnwrap(summary["minPSNR"] as? Double), 30)
        XCTAssertEqual(summary["inventedFrames"] as? Int, 0)
        // Denoising lowered the measured noise.
        XCTAssertLessThan(
            try XCTUnwrap(summary["noiseAfter"] as? Double), try XCTUnwrap(summary["noiseBefore"] as? Double) * 0.8)
        let stills = try XCTUnwrap(json["stills"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(stills.count, 4)
        XCTAssertEqual(html.components(separatedBy: "src=\"data:image/png;base64,").count - 1, 4 * stills.count)
        XCTAssertEqual(html.components(separatedBy: "<svg class=\"chart\"").count - 1, 4)
        let steps = try XCTUnwrap((json["run"] as? [String: Any])?["steps"] as? [[String: Any]])
        XCTAssertEqual(
            steps.compactMap { $0["name"] as? String },
            ["decode", "scenecut", "deflicker", "denoise", "fit", "fps", "encode"])

        // A real browser renders it: screenshot taken, every image decoded, no script error.
        let check = try runProcess(CLITests.repoRoot + "/Tools/check-report-page.sh", [page, dir.file("shot.png")])
        XCTAssertEqual(check.status, 0, check.stderr + check.stdout)
        XCTAssertTrue(check.stdout.contains("images \(4 * stills.count)/\(4 * stills.count) decoded"), check.stdout)
        XCTAssertTrue(check.stdout.contains("wipes \(stills.count)/\(stills.count) drawn"), check.stdout)

        // `filmrestore report` on the same pair reads the chain from the output's tags and measures the same.
        let again = dir.file("again.html")
        let r2 = try runProcess(CLITests.binary, ["report", input, out, "-o", again])
        XCTAssertEqual(r2.status, 0, r2.stderr)
        let j2 = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("again.json"))))
                as? [String: Any])
        let s2 = try XCTUnwrap(j2["summary"] as? [String: Any])
        XCTAssertEqual(
            try XCTUnwrap(s2["meanPSNR"] as? Double), try XCTUnwrap(summary["meanPSNR"] as? Double), accuracy: 1e-6)
        XCTAssertNil(j2["run"])

        // Bad arguments: one line, non-zero, nothing written.
        let bad = try runProcess(CLITests.binary, ["report", input, dir.file("missing.mkv"), "-o", dir.file("x.html")])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("x.html")))
    }

    /// A part's report (`restore --start --duration --report`, and `report --start --duration`):
    /// judged over the part, with an interpolated frame between its source frames and the
    /// projected time for the whole film.
    func test_reportOfAPart_withInterpolation_showsTheInBetweenFrame_andTheWholeFilmsProjectedTime() throws {
        let input = dir.file("film.mp4")
        try testClip(input, seconds: 4, tone: 440, videoOptions: ["-vf", "noise=alls=8:allf=t"])
        let preset = dir.file("i60.yml")
        try "stages:\n  - deflicker\n  - interpolate:\n      rate: 60\n      refine: false\noutput:\n  codec: ffv1\n"
            .write(toFile: preset, atomically: true, encoding: .utf8)
        let out = dir.file("part.mkv"), page = dir.file("part.html")
        let r = try runProcess(
            CLITests.binary,
            [
                "restore", input, "-o", out, "--preset", preset, "--start", "1", "--duration", "2",
                "--report", page, "--stats-json", dir.file("stats.json"),
            ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("part.json"))))
                as? [String: Any])
        let timing = try XCTUnwrap(json["timing"] as? [String: Any])
        XCTAssertEqual(timing["passed"] as? Bool, true, "\(timing)")
        XCTAssertEqual(timing["inputFrames"] as? Int, 48, "the part's source frames, not the film's")
        XCTAssertEqual(timing["outputFrames"] as? Int, 120)
        XCTAssertEqual((json["part"] as? [String: Double])?["start"], 1)
        let summary = try XCTUnwrap(json["summary"] as? [String: Any])
        XCTAssertEqual(
            summary["fidelityFrames"] as? Int, 24, "every other source frame shares an instant with a 60 fps frame")
        XCTAssertGreaterThan(try XCTUnwrap(summary["minPSNR"] as? Double), 35)
        // The in-between frame: after its source frame and before the next, on the output's clock.
        let b = try XCTUnwrap(json["between"] as? [String: Any])
        let t0 = try XCTUnwrap(b["time"] as? Double), t1 = try XCTUnwrap(b["nextTime"] as? Double),
            mid = try XCTUnwrap(b["outputTime"] as? Double)
        XCTAssertEqual(t1 - t0, 1.0 / 24, accuracy: 0.002)
        let origin = try XCTUnwrap((json["part"] as? [String: Double])?["origin"], "the output's 0 on the source clock")
        XCTAssertEqual(origin, 1, accuracy: 1e-9)
        XCTAssertGreaterThan(mid, t0 - origin + 0.005)
        XCTAssertLessThan(mid, t1 - origin - 0.005)
        let html = try String(contentsOfFile: page, encoding: .utf8)
        XCTAssertTrue(html.contains("alt=\"interpolated frame\""))
        XCTAssertEqual(Self.mismatches(Self.keyedValues(html), json), [])
        // The whole film's projected time: this part's time per frame times the film's 240 frames.
        let run = try XCTUnwrap(json["run"] as? [String: Any])
        let seconds = try XCTUnwrap(run["seconds"] as? Double),
            projected = try XCTUnwrap(run["projectedSeconds"] as? Double)
        XCTAssertEqual(projected, seconds / 120 * 240, accuracy: 0.01 * projected)
        let stats = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("stats.json"))))
                as? [String: Any])
        XCTAssertEqual(stats["projected_seconds"] as? Double ?? 0, projected, accuracy: 0.06)
        // `filmrestore report` on the part: the same figures when told which part; told nothing, it sees a short film.
        let again = try runProcess(
            CLITests.binary, ["report", input, out, "-o", dir.file("again.html"), "--start", "1", "--duration", "2"])
        XCTAssertEqual(again.status, 0, again.stderr)
        let j2 = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("again.json"))))
                as? [String: Any])
        XCTAssertEqual((j2["timing"] as? [String: Any])?["passed"] as? Bool, true)
        XCTAssertEqual(
            ((j2["summary"] as? [String: Any])?["meanPSNR"] as? Double) ?? 0, (summary["meanPSNR"] as? Double) ?? 1,
            accuracy: 1e-6)
        // A part given in output frames ends inside a source frame's span: judged to where it was cut.
        let f = try runProcess(
            CLITests.binary,
            [
                "restore", input, "-o", dir.file("f.mkv"), "--preset", preset, "--start", "1", "--frames", "8",
                "--report", dir.file("f.html"), "-q",
            ])
        XCTAssertEqual(f.status, 0, f.stderr)
        let jf = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("f.json"))))
                as? [String: Any])
        XCTAssertEqual((jf["timing"] as? [String: Any])?["passed"] as? Bool, true, "\(jf["timing"] ?? "")")
        let g = try runProcess(
            CLITests.binary,
            ["report", input, dir.file("f.mkv"), "-o", dir.file("g.html"), "--start", "1", "--frames", "8"])
        XCTAssertEqual(g.status, 0, g.stderr)
        XCTAssertTrue(g.stdout.contains("timing kept"), g.stdout)
        let whole = try runProcess(CLITests.binary, ["report", input, out, "-o", dir.file("whole.html")])
        XCTAssertEqual(whole.status, 0, whole.stderr)
        XCTAssertTrue(whole.stdout.contains("timing CHANGED"), whole.stdout)
    }

    struct Shown: Equatable {
        var key: String
        var fmt: String
        var scale: Double
        var text: String
    }

    /// Every `data-key` element of the page: its JSON path, decimals, scale and text.
    static func keyedValues(_ html: String) -> [Shown] {
        let re = try! NSRegularExpression(
            pattern: #"<span data-key="([^"]+)" data-fmt="([^"]+)"(?: data-scale="([^"]+)")?>([^<]*)</span>"#)
        let ns = html as NSString
        return re.matches(in: html, range: NSRange(location: 0, length: ns.length)).map { m in
            func g(_ i: Int) -> String? {
                m.range(at: i).location == NSNotFound ? nil : ns.substring(with: m.range(at: i))
            }
            return Shown(key: g(1)!, fmt: g(2)!, scale: Double(g(3) ?? "1") ?? 1, text: g(4)!)
        }
    }

    /// Page values that differ from the JSON (more than the shown rounding), with the reason.
    static func mismatches(_ shown: [Shown], _ json: [String: Any]) -> [String] {
        var bad: [String] = []
        for s in shown {
            var node: Any? = json
            for part in s.key.split(separator: ".").map(String.init) {
                if let a = node as? [Any], let i = Int(part) {
                    node = i < a.count ? a[i] : nil
                } else {
                    node = (node as? [String: Any])?[part]
                }
            }
            let text = s.text.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&lt;", with: "<")
                .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
            if s.fmt == "s" {
                if (node as? String) != text { bad.append("\(s.key): page \(text), json \(String(describing: node))") }
            } else if text == "—" {
                if node != nil && !(node is NSNull) { bad.append("\(s.key): page —, json \(node!)") }
            } else if let v = (node as? NSNumber)?.doubleValue, let t = Double(text), let d = Int(s.fmt) {
                if abs(v * s.scale - t) > 0.5 * pow(10, -Double(d)) + 1e-9 {
                    bad.append("\(s.key): page \(text), json \(v)")
                }
            } else {
                bad.append("\(s.key): page \(text), json \(String(describing: node))")
            }
        }
        return bad
    }
}
