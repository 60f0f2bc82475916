import Crypto
import FilmCore
import Foundation
import Hummingbird
import Logging
import NIOCore
import Restoration

/// What `filmrestore serve` was asked for.
public struct WorkbenchConfiguration: Sendable {
    public var root: String
    public var host = "127.0.0.1"
    /// 0: any free port (the line printed at start names it).
    public var port = 8080
    /// Restores run at once.
    public var jobs = 1
    public var token: String
    /// Where outputs go, relative to the root.
    public var outputs = "restored"
    /// The `filmrestore` binary the jobs and previews run.
    public var executable: String
    /// Given to every restore and preview: the models folder.
    public var modelsDir: String?
    /// Given to every restore: the checkpoint interval (a segment closes at the first cut after it).
    public var segmentSeconds: Double?
    /// Request bodies larger than this are refused (413).
    public var maxBody = 64 * 1024

    public init(root: String, token: String, executable: String) {
        self.root = root
        self.token = token
        self.executable = executable
    }

    /// A fresh random token: 32 hex digits from the system's generator.
    public static func randomToken() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
    }
}

/// The restorer's workbench: a library of the films under the root, before/after previews of a look,
/// and a persisted queue of restores, as a JSON API under `/api/` and a page that uses it.
public final class WorkbenchServer: Sendable {
    public let configuration: WorkbenchConfiguration
    let root: RootFolder
    let library: FilmLibrary
    let store: JobStore
    public let runner: JobRunner
    /// Absolute: the outputs folder, and the workbench's own state inside it (queue, logs, previews).
    let outputsFolder: String
    let stateFolder: String
    private let posters = Locked([String: [UInt8]]())
    /// Previews running now: at most `maxPreviews` at once (each is a restore of its own), more are 429.
    private let previews = Locked(0)
    let maxPreviews = 2

    public init(_ c: WorkbenchConfiguration) throws {
        configuration = c
        root = try RootFolder(c.root)
        guard !c.outputs.isEmpty, !c.outputs.hasPrefix("/"), !c.outputs.split(separator: "/").contains("..") else {
            throw WorkbenchError.badRequest("--outputs \(c.outputs): a folder inside the root, relative to it")
        }
        let out = root.path + "/" + c.outputs
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        outputsFolder = try root.resolve(c.outputs)
        stateFolder = outputsFolder + "/.workbench"
        try FileManager.default.createDirectory(atPath: stateFolder + "/previews", withIntermediateDirectories: true)
        library = FilmLibrary(root: root, skipping: [root.relative(outputsFolder)])
        store = try JobStore(path: stateFolder + "/queue.sqlite")
        var extra: [String] = []
        if let m = c.modelsDir { extra += ["--models-dir", m] }
        if let s = c.segmentSeconds { extra += ["--segment-seconds", String(s)] }
        runner = JobRunner(
            store: store, root: root, executable: c.executable, slots: max(1, c.jobs), extraArguments: extra,
            logFolder: stateFolder + "/logs")
    }

    /// Serves until the task is cancelled; `ready` gets the page's address (with the token) once listening.
    public func run(ready: @escaping @Sendable (String) -> Void) async throws {
        try runner.start()
        let router = Router()
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: TokenMiddleware(token: configuration.token))
        routes(router)
        var logger = Logger(label: "filmrestore.serve")
        logger.logLevel = .error
        let host = configuration.host
        let token = configuration.token
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: configuration.port), serverName: "filmrestore"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                let shown = host.contains(":") ? "[\(host)]" : host
                ready("http://\(shown):\(port)/?token=\(token)")
            }, logger: logger)
        try await app.run()
    }

    // MARK: routes

    func routes(_ router: Router<BasicRequestContext>) {
        router.get("/") { _, _ in
            var r = Self.text(WorkbenchPage.html, type: "text/html; charset=utf-8")
            r.headers[.contentSecurityPolicy] =
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'"
            return r
        }
        router.get("/app.js") { _, _ in Self.text(WorkbenchPage.script, type: "text/javascript; charset=utf-8") }
        router.get("/app.css") { _, _ in Self.text(WorkbenchPage.style, type: "text/css; charset=utf-8") }
        router.get("/api/films") { _, _ in try Self.json(self.library.films()) }
        router.get("/api/films/:id/poster") { _, context in
            let (film, path) = try self.library.film(id: try context.parameters.require("id"))
            // kept per version of the film's file
            let key = film.id + " " + (FilmLibrary.stamp(path) ?? "")
            if let png = self.posters.withLock({ $0[key] }) { return Self.bytes(png, type: "image/png") }
            let png = try FilmLibrary.poster(path, film: film)
            self.posters.withLock { $0[key] = png }
            return Self.bytes(png, type: "image/png")
        }
        router.get("/api/presets") { _, _ in try Self.json(Catalogue.presets()) }
        router.get("/api/stages") { _, _ in try Self.json(Catalogue.stages()) }
        router.post("/api/previews") { request, context in
            let body = try await Self.decode(PreviewRequest.self, request, context, limit: self.configuration.maxBody)
            let admitted = self.previews.withLock {
                guard $0 < self.maxPreviews else { return false }
                $0 += 1
                return true
            }
            guard admitted else {
                throw WorkbenchError(
                    status: 429, description: "\(self.maxPreviews) previews are running: try again when one ends")
            }
            defer { self.previews.withLock { $0 -= 1 } }
            return try Self.json(try await self.preview(body))
        }
        router.get("/api/previews/:id/:still") { _, context in
            let id = try context.parameters.require("id"), still = try context.parameters.require("still")
            guard id.allSatisfy(\.isHexDigit), ["before.png", "after.png"].contains(still) else {
                throw WorkbenchError.notFound("no such preview still")
            }
            let path = self.stateFolder + "/previews/\(id)/\(still)"
            guard let data = FileManager.default.contents(atPath: path) else {
                throw WorkbenchError.notFound("no such preview still")
            }
            return Self.bytes(Array(data), type: "image/png")
        }
        router.get("/api/jobs") { _, _ in try Self.json(self.store.all()) }
        router.post("/api/jobs") { request, context in
            let body = try await Self.decode(JobRequest.self, request, context, limit: self.configuration.maxBody)
            let job = try self.enqueue(body)
            return try Self.json(["id": job.id], status: .created)
        }
        router.get("/api/jobs/:id") { _, context in try Self.json(try self.job(context)) }
        router.delete("/api/jobs/:id") { _, context in
            let job = try self.job(context)
            _ = try self.runner.cancel(job.id)
            return try Self.json(try self.job(context))
        }
        router.get("/api/jobs/:id/events") { _, context in
            let id = try self.job(context).id
            let store = self.store
            let body = ResponseBody { writer in
                var last = ""
                while true {
                    guard let job = try store.job(id) else { break }
                    let text = String(decoding: try Self.encoder.encode(job), as: UTF8.self)
                    if text != last {
                        try await writer.write(ByteBuffer(string: "data: \(text)\n\n"))
                        last = text
                    }
                    if job.state.isFinal { break }
                    try await Task.sleep(nanoseconds: 300_000_000)
                }
                try await writer.finish(nil)
            }
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
        }
        router.get("/files/**") { _, context in
            let relative = context.parameters.getCatchAll().joined(separator: "/")
            let path = try self.root.resolve(relative.removingPercentEncoding ?? relative)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else {
                throw WorkbenchError.notFound("\(relative) is not a file")
            }
            // Nothing of the workbench's own state (the queue's database, logs) is served.
            guard !path.hasPrefix(self.stateFolder + "/") else {
                throw WorkbenchError.forbidden("\(relative) is the workbench's own")
            }
            let body = try await FileIO().loadFile(path: path, context: context)
            // A page under the root (a report, or any HTML someone put there) runs sandboxed, in an origin of
            // its own: its scripts run, but cannot call the API with the page's cookie.
            return Response(
                status: .ok,
                headers: [
                    .contentType: Self.mediaType(path), .contentSecurityPolicy: "sandbox allow-scripts",
                    .xContentTypeOptions: "nosniff",
                ], body: body)
        }
    }

    func job(_ context: BasicRequestContext) throws -> WorkbenchJob {
        let id = try context.parameters.require("id")
        guard let j = try store.job(id) else { throw WorkbenchError.notFound("no job \(id)") }
        return j
    }

    // MARK: jobs

    struct JobRequest: Decodable {
        var film: String
        var preset: String
        var set: [String: String]?
        var output: String?
    }

    /// Checks a job as `restore` would before queueing it: the film, the preset and options (the CLI's
    /// messages), and an output that is a new name in the outputs folder: not a film, not another job's.
    func enqueue(_ r: JobRequest) throws -> WorkbenchJob {
        let (film, filmPath) = try library.film(id: r.film)
        let look = try Look.check(preset: r.preset, settings: r.set ?? [:], root: root)
        let stem = (film.path as NSString).lastPathComponent.split(separator: ".").first.map(String.init) ?? "film"
        let name = r.output ?? "\(stem)-\(look.preset).mkv"
        guard !name.isEmpty, !name.contains("/"), !name.hasPrefix("."), name.count <= 200 else {
            throw WorkbenchError.badRequest(
                "output '\(name)': a file name (no folders) for the outputs folder \(configuration.outputs)/")
        }
        let ext = (name as NSString).pathExtension.lowercased()
        guard ["mkv", "mp4", "mov"].contains(ext) else {
            throw WorkbenchError.badRequest("output '\(name)': a .mkv, .mp4 or .mov film")
        }
        let relative = root.relative(outputsFolder) + "/" + name
        let path = try root.resolve(relative, mustExist: false)
        let report = (relative as NSString).deletingPathExtension + ".report.html"
        let reportPath = try root.resolve(report, mustExist: false)
        if FilePaths.same(path, filmPath) { throw WorkbenchError.conflict("output \(name) is the film itself") }
        for p in [path, reportPath] where FilePaths.exists(p) {
            throw WorkbenchError.conflict("\(root.relative(p)) exists: give the job another output name")
        }
        let job = WorkbenchJob(
            id: WorkbenchConfiguration.randomToken().prefix(12).description, film: film.id, filmPath: film.path,
            preset: look.preset, settings: r.set ?? [:], output: relative, report: report, state: .queued, frame: 0,
            frames: film.frames, etaSeconds: nil, error: nil, attempts: 0, created: Date().timeIntervalSince1970)
        try store.add(job)
        runner.schedule()
        return job
    }

    // MARK: previews

    struct PreviewRequest: Decodable {
        var film: String
        var preset: String
        var set: [String: String]?
        /// Seconds into the film.
        var at: Double?
    }

    struct PreviewResult: Encodable {
        var id: String
        var before: String
        var after: String
        var at: Double
        var secondsPerFrame: Double?
        var projectedSeconds: Double?
        enum CodingKeys: String, CodingKey {
            case id, before, after, at, secondsPerFrame = "seconds_per_frame", projectedSeconds = "projected_seconds"
        }
    }

    /// `filmrestore preview` of half a second at `at`: the before/after stills and the measured time per
    /// frame, projected to the whole film.
    func preview(_ r: PreviewRequest) async throws -> PreviewResult {
        let (film, filmPath) = try library.film(id: r.film)
        let look = try Look.check(preset: r.preset, settings: r.set ?? [:], root: root)
        let duration = film.duration ?? 0
        let at = max(0, min(r.at ?? 0, max(0, duration - 0.5)))
        guard at.isFinite else { throw WorkbenchError.badRequest("at: a time in seconds") }
        let id = WorkbenchConfiguration.randomToken().prefix(16).description
        let folder = stateFolder + "/previews/" + id
        var args = ["preview", "--preset", look.preset] + look.arguments
        if let m = configuration.modelsDir { args += ["--models-dir", m] }
        args += ["--at", String(format: "%.3f", at), "--duration", "0.5", "-o", folder, "-y", "--", filmPath]
        let (status, out, err) = try await Self.run(configuration.executable, args)
        guard status == 0 else {
            let line = err.split(separator: "\n").last.map(String.init) ?? "the preview failed (status \(status))"
            throw WorkbenchError.badRequest(line.replacingOccurrences(of: "filmrestore: error: ", with: ""))
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        for (suffix, name) in [(".before.png", "before.png"), (".after.png", "after.png")] {
            if let f = names.first(where: { $0.hasSuffix(suffix) }) {
                try FileManager.default.moveItem(atPath: folder + "/" + f, toPath: folder + "/" + name)
            }
        }
        // Only the stills are kept (the clips are the CLI's), and only the last 40 previews.
        for n in names where !n.hasSuffix(".png") { try? FileManager.default.removeItem(atPath: folder + "/" + n) }
        prunePreviews(keeping: 40)
        var perFrame: Double? = nil
        if let r = out.range(of: #"measured: [0-9.]+"#, options: .regularExpression) {
            perFrame = Double(out[r].dropFirst("measured: ".count))
        }
        return PreviewResult(
            id: id, before: "/api/previews/\(id)/before.png", after: "/api/previews/\(id)/after.png", at: at,
            secondsPerFrame: perFrame, projectedSeconds: perFrame.flatMap { p in film.frames.map { p * Double($0) } })
    }

    func prunePreviews(keeping n: Int) {
        let dir = stateFolder + "/previews"
        let fm = FileManager.default
        let all = ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).compactMap { name -> (String, Date)? in
            guard let d = (try? fm.attributesOfItem(atPath: dir + "/" + name))?[.modificationDate] as? Date else {
                return nil
            }
            return (name, d)
        }.sorted { $0.1 > $1.1 }
        for (name, _) in all.dropFirst(n) { try? fm.removeItem(atPath: dir + "/" + name) }
    }

    /// Runs the tool, returning its status, stdout and stderr.
    static func run(_ exe: String, _ args: [String]) async throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.standardInput = FileHandle.nullDevice
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let outData = Locked(Data()), errData = Locked(Data())
        out.fileHandleForReading.readabilityHandler = { h in
            let d = h.availableData
            outData.withLock { $0.append(d) }
        }
        err.fileHandleForReading.readabilityHandler = { h in
            let d = h.availableData
            errData.withLock { $0.append(d) }
        }
        let status: Int32 = try await withCheckedThrowingContinuation { c in
            p.terminationHandler = { proc in c.resume(returning: proc.terminationStatus) }
            do { try p.run() } catch { c.resume(throwing: error) }
        }
        out.fileHandleForReading.readabilityHandler = nil
        err.fileHandleForReading.readabilityHandler = nil
        let restOut = out.fileHandleForReading.readDataToEndOfFile()
        let restErr = err.fileHandleForReading.readDataToEndOfFile()
        outData.withLock { $0.append(restOut) }
        errData.withLock { $0.append(restErr) }
        return (
            status, String(decoding: outData.current, as: UTF8.self), String(decoding: errData.current, as: UTF8.self)
        )
    }

    // MARK: responses

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    static func json<T: Encodable>(_ v: T, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(v))))
    }

    static func text(_ s: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: s)))
    }

    static func bytes(_ b: [UInt8], type: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: type, .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: b)))
    }

    static func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: BasicRequestContext, limit: Int)
        async throws -> T
    {
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: limit) } catch {
            throw WorkbenchError(status: 413, description: "request body larger than \(limit) bytes")
        }
        do { return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView)) } catch {
            throw WorkbenchError.badRequest("the request body is not the JSON this call takes: \(Self.describe(error))")
        }
    }

    static func describe(_ e: Error) -> String {
        switch e {
        case let DecodingError.keyNotFound(k, _): return "'\(k.stringValue)' is missing"
        case let DecodingError.typeMismatch(_, c):
            return "'\(c.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type"
        case DecodingError.dataCorrupted: return "not JSON"
        default: return "\(e)"
        }
    }

    static func mediaType(_ path: String) -> String {
        switch (path as NSString).pathExtension.lowercased() {
        case "html", "htm": return "text/html; charset=utf-8"
        case "json": return "application/json"
        case "png": return "image/png"
        case "jpg", "jpeg": return "image/jpeg"
        case "mkv": return "video/x-matroska"
        case "mp4", "m4v": return "video/mp4"
        case "mov": return "video/quicktime"
        case "txt", "log": return "text/plain; charset=utf-8"
        default: return "application/octet-stream"
        }
    }
}

/// Every failure as one JSON object `{"error": "…"}` with its status: the workbench's own refusals,
/// Hummingbird's (404 for an unknown route), and anything else as 500 (the server keeps serving).
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        do { return try await next(request, context) } catch let e as WorkbenchError {
            return Self.error(e.status, e.description)
        } catch let e as HTTPError {
            return Self.error(Int(e.status.code), e.body ?? e.status.reasonPhrase)
        } catch {
            return Self.error(500, "\(error)")
        }
    }

    static func error(_ status: Int, _ message: String) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: ["error": message])) ?? Data()
        var r = Response(
            status: HTTPResponse.Status(code: status), headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
        if status == 401 { r.headers[.wwwAuthenticate] = "Bearer" }
        return r
    }
}

/// Every request carries the token: `Authorization: Bearer TOKEN`, the cookie a tokened page load
/// sets, or `?token=TOKEN`; anything else is 401 before any route runs.
struct TokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String
    /// The cookie's name, per token (cookies are not kept apart by port: two servers on one host keep theirs).
    var cookieName: String {
        "filmrestore-" + SHA256.hash(data: Data(token.utf8)).prefix(4).map { String(format: "%02x", $0) }.joined()
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let query = request.uri.queryParameters.get("token")
        var offered: [String] = []
        if let q = query { offered.append(q) }
        if let a = request.headers[.authorization], a.hasPrefix("Bearer ") { offered.append(String(a.dropFirst(7))) }
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let kv = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if kv.count == 2, kv[0] == cookieName { offered.append(String(kv[1])) }
            }
        }
        guard offered.contains(where: { Self.equal($0, token) }) else {
            throw WorkbenchError(
                status: 401, description: "this server needs its token (the address it printed at start)")
        }
        var r = try await next(request, context)
        if let q = query, Self.equal(q, token) {
            r.headers[.setCookie] = "\(cookieName)=\(token); Path=/; HttpOnly; SameSite=Strict"
        }
        return r
    }

    /// Compares in time that does not depend on where they differ.
    static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var d: UInt8 = 0
        for i in x.indices { d |= x[i] ^ y[i] }
        return d == 0
    }
}
