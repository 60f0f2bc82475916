import FilmCore
import Foundation
import Restoration

/// Runs the queue: each job is a `filmrestore restore` of its own, a child process (a job that fails,
/// even by crashing, never stops the server), with `--progress json` read from its stderr, at most
/// `slots` at a time. Every restore checkpoints into segments and is started with `--resume`, so a job
/// the server was stopped in (SIGTERM, or kill -9) continues where its finished segments end.
public final class JobRunner: Sendable {
    let store: JobStore
    let root: RootFolder
    let executable: String
    let slots: Int
    /// Arguments given to every restore (the models folder, the checkpoint interval).
    let extraArguments: [String]
    let logFolder: String

    private struct Running {
        var processes: [String: Process] = [:]
        var stopping = false
    }
    private let running = Locked(Running())
    /// Children are watched on this queue.
    private let queue = DispatchQueue(label: "filmrestore.workbench.jobs")

    public init(
        store: JobStore, root: RootFolder, executable: String, slots: Int, extraArguments: [String], logFolder: String
    ) {
        self.store = store
        self.root = root
        self.executable = executable
        self.slots = slots
        self.extraArguments = extraArguments
        self.logFolder = logFolder
    }

    /// At start: restores a stopped server left running are ended and their jobs queued again, then the queue runs.
    public func start() throws {
        for (id, pid) in try store.requeueRunning() {
            if let pid, let job = try store.job(id) { Self.stopLeftover(pid: pid, output: job.output) }
        }
        schedule()
    }

    /// A restore a killed server left behind (its pid, if it still runs that job's restore): stopped
    /// (SIGTERM, then SIGKILL after 20 s) so the resumed run alone writes the job's segments.
    static func stopLeftover(pid: Int32, output: String) {
        func runsJob() -> Bool {
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let words = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return words.contains("restore") && words.contains { $0.hasSuffix(output) }
        }
        guard runsJob() else { return }
        kill(pid, SIGTERM)
        for _ in 0..<200 {
            if !runsJob() { return }
            usleep(100_000)
        }
        kill(pid, SIGKILL)
        while runsJob() { usleep(50_000) }
    }

    /// Starts queued jobs while a slot is free.
    public func schedule() {
        queue.async {
            while self.running.withLock({ !$0.stopping && $0.processes.count < self.slots }) {
                guard let job = try? self.store.startNext() else { return }
                self.launch(job)
            }
        }
    }

    func arguments(_ job: WorkbenchJob, film: String) throws -> [String] {
        let look = try Look.check(preset: job.preset, settings: job.settings, root: root)
        return ["restore", "--preset", look.preset] + look.arguments + extraArguments + [
            "--report", root.path + "/" + job.report, "--progress", "json", "--resume",
            "-o", root.path + "/" + job.output, "--", film,
        ]
    }

    private func launch(_ job: WorkbenchJob) {
        let p = Process()
        let args: [String]
        do {
            let film = try root.resolve(job.filmPath)
            args = try arguments(job, film: film)
        } catch {
            fail(job.id, "\(error)")
            return
        }
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        let pipe = Pipe()
        p.standardError = pipe
        try? FileManager.default.createDirectory(atPath: logFolder, withIntermediateDirectories: true)
        let log = logFolder + "/" + job.id + ".log"
        _ = FileManager.default.createFile(
            atPath: log, contents: Data("$ filmrestore \(args.joined(separator: " "))\n".utf8))
        let reader = StderrReader(job: job.id, store: store, log: FileHandle(forWritingAtPath: log))
        pipe.fileHandleForReading.readabilityHandler = { h in reader.take(h.availableData) }
        p.terminationHandler = { proc in
            pipe.fileHandleForReading.readabilityHandler = nil
            reader.take(pipe.fileHandleForReading.readDataToEndOfFile())
            reader.finishLog()
            self.finished(job.id, proc, lastError: reader.lastError)
        }
        do {
            running.withLock { $0.processes[job.id] = p }
            try p.run()
            try? store.setProcess(job.id, pid: p.processIdentifier)
            // cancelled while it was starting: stopped now (cancel did not see its process yet)
            if (try? store.job(job.id))?.state == .cancelled { kill(p.processIdentifier, SIGTERM) }
        } catch {
            running.withLock { $0.processes[job.id] = nil }
            fail(job.id, "cannot start the restore: \(error)")
        }
    }

    private func fail(_ id: String, _ message: String) {
        _ = try? store.setState(id, .failed, error: message, from: [.running])
        schedule()
    }

    private func finished(_ id: String, _ p: Process, lastError: String?) {
        let stopping = running.withLock {
            $0.processes[id] = nil
            return $0.stopping
        }
        // The server is stopping: the job stays running in the queue, to be resumed at the next start.
        if stopping { return }
        try? store.setProcess(id, pid: nil)
        let status = p.terminationStatus
        if p.terminationReason == .exit && status == 0 {
            if let j = try? store.job(id), let n = j.frames { try? store.setProgress(id, frame: n, frames: n, eta: 0) }
            _ = try? store.setState(id, .done, from: [.running])
        } else if p.terminationReason == .exit && status == InputDamage.exitStatus {
            // Written from damaged input: done, and said so.
            _ = try? store.setState(id, .done, error: lastError ?? "the input is damaged", from: [.running])
        } else {
            let why =
                p.terminationReason == .uncaughtSignal
                ? "the restore crashed (signal \(status))" + (lastError.map { ": \($0)" } ?? "")
                : lastError ?? "the restore exited with status \(status)"
            _ = try? store.setState(id, .failed, error: why, from: [.running])
        }
        schedule()
    }

    /// Cancels a queued or running job; returns false when it had already ended.
    public func cancel(_ id: String) throws -> Bool {
        guard try store.setState(id, .cancelled, error: "cancelled", from: [.queued, .running]) else { return false }
        if let p = running.withLock({ $0.processes[id] }), p.isRunning { kill(p.processIdentifier, SIGTERM) }
        return true
    }

    /// The server is stopping: every restore is stopped (SIGTERM: it removes its temporary output, keeps its
    /// finished segments), its job left running in the queue; returns once they have exited (at most `seconds`).
    public func stopAll(seconds: Double = 20) {
        let ps = running.withLock {
            $0.stopping = true
            return Array($0.processes.values)
        }
        for p in ps where p.isRunning { kill(p.processIdentifier, SIGTERM) }
        let until = Date().addingTimeInterval(seconds)
        while ps.contains(where: { $0.isRunning }), Date() < until { usleep(50_000) }
        for p in ps where p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }
}

/// A restore's stderr: `--progress json` lines become the job's progress, the last `filmrestore: error:`
/// line its error; everything goes to the job's log.
private final class StderrReader: Sendable {
    private struct State {
        var pending = Data()
        var lastError: String?
        var lastSaved = Date.distantPast
        var log: FileHandle?
    }
    private let state: Locked<State>
    let job: String
    let store: JobStore

    init(job: String, store: JobStore, log: FileHandle?) {
        self.job = job
        self.store = store
        state = Locked(State(log: log))
    }

    var lastError: String? { state.withLock { $0.lastError } }

    func take(_ data: Data) {
        guard !data.isEmpty else { return }
        state.withLock { st in
            // the throwing calls: a handle closed by a late read is an error here, never a trap
            _ = try? st.log?.seekToEnd()
            try? st.log?.write(contentsOf: data)
            st.pending.append(data)
            while let nl = st.pending.firstIndex(of: 10) {
                let line = String(decoding: st.pending[st.pending.startIndex..<nl], as: UTF8.self)
                st.pending.removeSubrange(st.pending.startIndex...nl)
                handle(line, &st)
            }
        }
    }

    func finishLog() {
        state.withLock {
            try? $0.log?.close()
            $0.log = nil
        }
    }

    private func handle(_ line: String, _ st: inout State) {
        if line.hasPrefix("filmrestore: ") {
            st.lastError = String(line.dropFirst("filmrestore: ".count)).replacingOccurrences(of: "error: ", with: "")
            return
        }
        guard line.hasPrefix("{"),
            let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let frame = o["frame"] as? Int
        else { return }
        try? store.setProgress(job, frame: frame, frames: o["total"] as? Int, eta: (o["eta"] as? NSNumber)?.doubleValue)
    }
}
