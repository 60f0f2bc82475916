import FilmCore
import Foundation
import TestSupport
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A `filmrestore serve` started for a test: its address and token read from the one line it prints.
final class ServedWorkbench {
    let process = Process()
    let base: String
    let token: String
    let root: String
    private let log: String

    /// Starts the server on any free port and waits (up to 60 s) for its line.
    init(root: String, extra: [String] = []) throws {
        self.root = root
        log = NSTemporaryDirectory() + "/filmrestore-serve-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        _ = FileManager.default.createFile(atPath: log + ".out", contents: nil)
        _ = FileManager.default.createFile(atPath: log + ".err", contents: nil)
        process.executableURL = URL(fileURLWithPath: CLITests.binary)
        process.arguments = ["serve", "--root", root, "--port", "0"] + extra
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log + ".out"))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log + ".err"))
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let until = Date().addingTimeInterval(60)
        var line: String? = nil
        while Date() < until, process.isRunning {
            let out = (try? String(contentsOfFile: log + ".out", encoding: .utf8)) ?? ""
            if let l = out.split(separator: "\n").first(where: { $0.hasPrefix("filmrestore: serving ") }) {
                line = String(l)
                break
            }
            usleep(50_000)
        }
        guard let l = line, let url = l.split(separator: " ").last, let q = url.range(of: "/?token=") else {
            process.terminate()
            throw TestError.command(
                "serve did not start: \((try? String(contentsOfFile: log + ".err", encoding: .utf8)) ?? "")")
        }
        base = String(url[url.startIndex..<q.lowerBound])
        token = String(url[q.upperBound...])
    }

    var stderr: String { (try? String(contentsOfFile: log + ".err", encoding: .utf8)) ?? "" }
    var stdout: String { (try? String(contentsOfFile: log + ".out", encoding: .utf8)) ?? "" }

    /// Sends a signal and waits for the server to exit; returns its status.
    @discardableResult
    func stop(_ signal: Int32 = SIGTERM) -> Int32 {
        if process.isRunning { kill(process.processIdentifier, signal) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        stop(SIGKILL)
        unlink(log + ".out")
        unlink(log + ".err")
    }

    struct Reply {
        var status: Int
        var body: Data
        var headers: [String: String]
        var json: Any? { try? JSONSerialization.jsonObject(with: body) }
        var object: [String: Any] { json as? [String: Any] ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// One HTTP request, with the token as a bearer header unless `token` says otherwise ("" = none).
    func request(
        _ method: String, _ path: String, json: Any? = nil, body: Data? = nil, token: String? = nil,
        headers: [String: String] = [:]
    ) throws -> Reply {
        var r = URLRequest(url: URL(string: base + path)!)
        r.httpMethod = method
        r.timeoutInterval = 300
        let t = token ?? self.token
        if !t.isEmpty { r.setValue("Bearer \(t)", forHTTPHeaderField: "Authorization") }
        for (k, v) in headers { r.setValue(v, forHTTPHeaderField: k) }
        if let json {
            r.httpBody = try JSONSerialization.data(withJSONObject: json)
            r.setValue("application/json", forHTTPHeaderField: "Content-Type")
        } else if let body {
            r.httpBody = body
        }
        let done = DispatchSemaphore(value: 0)
        let result = Locked<Result<Reply, Error>?>(nil)
        URLSession.shared.dataTask(with: r) { data, response, error in
            if let error {
                result.withLock { $0 = .failure(error) }
            } else if let h = response as? HTTPURLResponse {
                var headers: [String: String] = [:]
                for (k, v) in h.allHeaderFields { headers[String(describing: k).lowercased()] = String(describing: v) }
                result.withLock { $0 = .success(Reply(status: h.statusCode, body: data ?? Data(), headers: headers)) }
            }
            done.signal()
        }.resume()
        done.wait()
        guard let r = result.current else { throw TestError.command("\(method) \(path): no response") }
        return try r.get()
    }

    /// Polls a job until `until` holds for it (or `seconds` pass); returns its last state.
    func waitForJob(_ id: String, seconds: Double = 300, until: ([String: Any]) -> Bool) throws -> [String: Any] {
        let end = Date().addingTimeInterval(seconds)
        var last: [String: Any] = [:]
        while Date() < end {
            last = try request("GET", "/api/jobs/\(id)").object
            if until(last) { return last }
            usleep(100_000)
        }
        return last
    }
}
