import ArgumentParser
import FilmCore
import Foundation
import Restoration
import Workbench

/// `filmrestore serve`: the workbench in the browser (see `WorkbenchServer`).
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "The restorer's workbench in a browser: the films under ROOT, before/after previews of two looks, and a queue of restores that survives a restart.",
        discussion:
            "Prints one line, `filmrestore: serving http://HOST:PORT/?token=TOKEN`: open it. Every request needs the token. Outputs and their reports go to ROOT/restored/; the queue is kept in ROOT/restored/.workbench/queue.sqlite. SIGTERM or Ctrl-C stops the running restores (their finished segments are kept) and the next start resumes them."
    )

    @Option(help: "The folder of films to serve; nothing outside it is read or written.") var root: String
    @Option(help: "The address to listen on (default: this machine only).") var host = "127.0.0.1"
    @Option(help: "The port (0: any free one).") var port = 8080
    @Option(help: "Restores run at once, 1…16.") var jobs = 1
    @Option(help: "The folder (inside ROOT, relative to it) the outputs and their reports go to.") var outputs =
        "restored"
    @Option(
        name: .customLong("token-file"),
        help: "Read the token from this file (default: a fresh random token at each start).") var tokenFile: String?
    @Option(
        name: .customLong("models-dir"),
        help: "Folder with the model files (default: Models/ as `make models` installs it; or $FILMRESTORE_MODELS).")
    var modelsDir: String?
    @Option(
        name: .customLong("segment-seconds"),
        help: "Each restore's checkpoint: a segment closes at the first scene cut after this many seconds of output.")
    var segmentSeconds = 10.0

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0…65535, not \(port)") }
        guard (1...16).contains(jobs) else { throw ValidationError("--jobs must be 1…16, not \(jobs)") }
        try Limits.seconds(segmentSeconds, flag: "--segment-seconds", range: Limits.segmentSeconds)
    }

    func run() throws {
        var token = WorkbenchConfiguration.randomToken()
        if let f = tokenFile {
            guard let text = try? String(contentsOfFile: f, encoding: .utf8) else {
                throw ValidationError("--token-file \(f) cannot be read")
            }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard token.count >= 16,
                token.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_".contains($0)) })
            else {
                throw ValidationError("--token-file \(f): the token is 16 or more letters, digits, '-' or '_'")
            }
        }
        var c = WorkbenchConfiguration(root: root, token: token, executable: Batch.executablePath())
        c.host = host
        c.port = port
        c.jobs = jobs
        c.outputs = outputs
        c.modelsDir = modelsDir.map { FilePaths.resolved($0) }
        c.segmentSeconds = segmentSeconds
        let server: WorkbenchServer
        do { server = try WorkbenchServer(c) } catch { FilmRestore.fail(error) }
        // SIGTERM / SIGINT: the restores stop (keeping their segments), their jobs stay in the queue, and the
        // server exits; the next start resumes them.
        let runner = server.runner
        let interrupt = Interrupts.install {
            runner.stopAll()
            Foundation.exit(0)
        }
        defer { interrupt.cancel() }
        let done = DispatchSemaphore(value: 0)
        let failure = Locked<(any Error)?>(nil)
        Task {
            do {
                try await server.run { url in
                    // One line, written at once (stdout may be a pipe to a supervisor).
                    FileHandle.standardOutput.write(Data("filmrestore: serving \(url)\n".utf8))
                }
            } catch { failure.withLock { $0 = error } }
            done.signal()
        }
        done.wait()
        if let e = failure.current { FilmRestore.fail(RestoreError.input("serve: \(e)")) }
    }
}
