import FilmCore
import Foundation
import TestSupport
import XCTest

/// A W3C WebDriver session on Debian's `chromium` through `chromedriver` (package chromium-driver,
/// installed by `make setup`): the protocol's plain JSON over HTTP, nothing else between the test and
/// the browser.
final class BrowserSession {
    let driver = Process()
    let base: String
    var session = ""
    let profile: TempDir
    /// More to say when a wait times out (the server's stderr).
    var diagnostics: () -> String = { "" }

    init() throws {
        profile = TempDir("chromium-profile")
        guard
            let exe = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].first(where: {
                FileManager.default.isExecutableFile(atPath: $0)
            })
        else { throw TestError.command("no chromedriver (run make setup: Debian's chromium-driver)") }
        let port = Int.random(in: 20000...40000)
        base = "http://127.0.0.1:\(port)"
        driver.executableURL = URL(fileURLWithPath: exe)
        driver.arguments = ["--port=\(port)", "--log-path=\(profile.path)/chromedriver.log"]
        driver.standardOutput = FileHandle.nullDevice
        driver.standardError = FileHandle.nullDevice
        try driver.run()
        let until = Date().addingTimeInterval(20)
        while Date() < until, (try? call("GET", "/status"))?["ready"] as? Bool != true { usleep(100_000) }
        let caps: [String: Any] = [
            "capabilities": [
                "alwaysMatch": [
                    "browserName": "chrome",
                    "goog:chromeOptions": [
                        "binary": "/usr/bin/chromium",
                        "args": [
                            "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1100",
                            "--user-data-dir=\(profile.path)", "--hide-scrollbars",
                        ],
                    ],
                ]
            ]
        ]
        let value = try call("POST", "/session", caps)
        guard let id = value["sessionId"] as? String else { throw TestError.command("no WebDriver session: \(value)") }
        session = id
    }

    deinit {
        if !session.isEmpty { _ = try? call("DELETE", "/session/\(session)") }
        driver.terminate()
        driver.waitUntilExit()
    }

    /// One WebDriver command; returns its `value` (as an object when it is one, else under "value"). Sent with
    /// curl: FoundationNetworking's client fails on chromedriver's replies ("Failed writing header").
    @discardableResult
    func call(_ method: String, _ path: String, _ body: [String: Any]? = nil) throws -> [String: Any] {
        var args = ["-s", "-m", "120", "-X", method, base + path]
        if let body {
            args += [
                "-H", "Content-Type: application/json", "--data-binary",
                String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self),
            ]
        }
        let r = try runProcess("curl", args)
        guard r.status == 0, let o = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        else {
            let log = (try? String(contentsOfFile: profile.path + "/chromedriver.log", encoding: .utf8)) ?? ""
            throw TestError.command(
                "WebDriver \(method) \(path): no answer (curl \(r.status)); chromedriver's log ends:\n\(log.suffix(1500))"
            )
        }
        if let v = o["value"] as? [String: Any] {
            if let e = v["error"] as? String {
                throw TestError.command("WebDriver \(path): \(e): \(v["message"] ?? "")")
            }
            return v
        }
        return ["value": o["value"] ?? NSNull()]
    }

    func go(_ url: String) throws { try call("POST", "/session/\(session)/url", ["url": url]) }

    /// Runs a script in the page; returns what it returns.
    func run(_ script: String, _ args: [Any] = []) throws -> Any? {
        let v = try call("POST", "/session/\(session)/execute/sync", ["script": script, "args": args])
        return v["value"] ?? v
    }

    func element(_ css: String) throws -> String {
        let v = try call("POST", "/session/\(session)/element", ["using": "css selector", "value": css])
        guard let id = v.values.first as? String else { throw TestError.command("no element \(css)") }
        return id
    }

    func click(_ css: String) throws { try call("POST", "/session/\(session)/element/\(try element(css))/click", [:]) }

    /// Types into an element as a user would (keys, including WebDriver's special keys).
    func type(_ css: String, _ text: String) throws {
        try call("POST", "/session/\(session)/element/\(try element(css))/value", ["text": text])
    }

    /// Waits (up to `seconds`) until `script` returns true; fails the test with `what` otherwise.
    func wait(_ what: String, seconds: Double = 60, _ script: String) throws {
        let until = Date().addingTimeInterval(seconds)
        while Date() < until {
            if (try? run(script)) as? Bool == true { return }
            usleep(200_000)
        }
        let text = (try? run("return document.body ? document.body.innerText.slice(0, 2000) : ''")) as? String ?? ""
        throw TestError.command("timed out waiting for \(what); the page says:\n\(text)\nserver: \(diagnostics())")
    }

    func screenshot() throws -> Data {
        let v = try call("GET", "/session/\(session)/screenshot")
        guard let b64 = v["value"] as? String, let d = Data(base64Encoded: b64) else {
            throw TestError.command("no screenshot")
        }
        return d
    }
}

/// The workbench page in a real headless browser: the library shows the film, two looks preview at
/// one instant, the wipe moves under the keyboard, a queued job's progress reaches 100 % over
/// server-sent events, and its report opens. `FILMRESTORE_SCREENSHOT=PATH` keeps a screenshot (the README's).
final class WorkbenchBrowserTests: CLITestCase {
    override class var folderPrefix: String { "workbench-browser" }

    func test_page_library_previewWipe_queueTo100_reportOpens() throws {
        let root = dir.file("root")
        try FileManager.default.createDirectory(atPath: root + "/reel", withIntermediateDirectories: true)
        // FILMRESTORE_SCREENSHOT_FILM: the film the README's screenshot shows (the test's own otherwise).
        if let film = ProcessInfo.processInfo.environment["FILMRESTORE_SCREENSHOT_FILM"] {
            try ffmpeg([
                "-i", film, "-t", "2", "-vf", "scale=320:240", "-c:v", "libx264", "-c:a", "aac",
                root + "/reel/film.mp4",
            ])
        } else {
            try testClip(root + "/reel/film.mp4", size: "320x240", seconds: 2)
        }
        let wb = try ServedWorkbench(root: root)
        let browser = try BrowserSession()
        browser.diagnostics = { wb.stderr }
        try browser.go("\(wb.base)/?token=\(wb.token)")

        // The library lists the film, with its poster.
        try browser.wait(
            "the library",
            "const r = document.querySelectorAll('#films tr.film'); return r.length === 1 && r[0].textContent.includes('reel/film.mp4') && r[0].querySelector('img').naturalWidth === 320"
        )
        try browser.click("#films tr.film")
        try browser.wait("the look panel", "return !document.getElementById('look-section').hidden")

        // Two looks: fit to 640x480 and to 480x360, at 1 s.
        for (look, size) in [("#look-a", "640x480"), ("#look-b", "480x360")] {
            _ = try browser.run(
                """
                const l = document.querySelector(arguments[0]), s = l.querySelector('.preset');
                s.value = 'fit-4k60'; s.dispatchEvent(new Event('change'));
                """, [look])
            let field = "\(look) [name='fit.size']"
            _ = try browser.run("document.querySelector(arguments[0]).value = ''", [field])
            try browser.type(field, size)
        }
        try browser.click("#compare")
        _ = try browser.run("const a = document.getElementById('at'); a.value = 1; a.dispatchEvent(new Event('input'))")
        try browser.click("#preview")
        try browser.wait(
            "both previews", seconds: 120,
            """
            const a = document.querySelector('#result-a .wipe img.after'), b = document.querySelector('#result-b .wipe img.after');
            return !!a && !!b && a.complete && b.complete && a.naturalWidth === 640 && b.naturalWidth === 480
            """)
        let caption = try browser.run("return document.querySelector('#result-a .caption').textContent") as? String
        XCTAssertTrue(caption?.contains("at 1.00 s") ?? false, caption ?? "")
        XCTAssertTrue(caption?.contains("whole film about") ?? false, "the projected time: \(caption ?? "")")

        // The wipe follows its slider, moved by the keyboard.
        let clip = "return getComputedStyle(document.querySelector('#result-a .wipe img.after')).clipPath"
        let before = try browser.run(clip) as? String
        XCTAssertEqual(before, "inset(0px 0px 0px 50%)")
        try browser.type("#result-a .wipe-slider", String(repeating: "\u{E014}", count: 10))  // ArrowRight
        let after = try browser.run(clip) as? String
        XCTAssertEqual(after, "inset(0px 0px 0px 60%)")

        // Queue look A for the whole film; its progress reaches 100 % live, and its report opens.
        try browser.type("#output-name", "page.mkv")
        try browser.click("#queue")
        try browser.wait(
            "the job to finish", seconds: 240,
            """
            const r = document.querySelector('#jobs tr.job');
            return !!r && r.querySelector('.percent').textContent.trim() === '100 %' && r.querySelector('.state').textContent === 'done'
            """)
        XCTAssertEqual(
            try browser.run("return document.querySelector('#jobs tr.job progress').value") as? Int, 100)
        if let shot = ProcessInfo.processInfo.environment["FILMRESTORE_SCREENSHOT"] {
            try browser.call("POST", "/session/\(browser.session)/window/rect", ["width": 1400, "height": 1900])
            _ = try browser.run("window.scrollTo(0, 0)")
            try browser.screenshot().write(to: URL(fileURLWithPath: shot))
        }
        XCTAssertGreaterThan(try browser.screenshot().count, 10_000, "the page renders")
        try browser.click("#jobs tr.job a.report")
        try browser.wait(
            "the report", seconds: 30,
            "return location.pathname.endsWith('/restored/page.report.html') && document.title.startsWith('Restoration report') && document.body.dataset.rendered === 'yes'"
        )
        XCTAssertEqual(
            try browser.run("return document.body.dataset.scriptErrors || ''") as? String, "",
            "the report's script ran without errors")
        let probe = try probeStreams(root + "/restored/page.mkv")
        XCTAssertEqual(probe.first { $0.type == "video" }.map { [$0.width, $0.height] }, [640, 480])
    }
}
