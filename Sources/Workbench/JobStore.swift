import Foundation

/// A queued restoration: a film, a preset with option changes, and where its output goes. What
/// `GET /api/jobs/ID` returns.
public struct WorkbenchJob: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        case queued, running, done, failed, cancelled
        public var isFinal: Bool { self == .done || self == .failed || self == .cancelled }
    }
    public var id: String
    /// The film's id and its path relative to the root.
    public var film: String
    public var filmPath: String
    public var preset: String
    /// `stage.key` → value, as `--set` takes them.
    public var settings: [String: String]
    /// The output and its report page, relative to the root.
    public var output: String
    public var report: String
    public var state: State
    public var frame: Int
    public var frames: Int?
    public var etaSeconds: Double?
    public var error: String?
    /// How many times the job was started (a restart of the server resumes a running job: 2, …).
    public var attempts: Int
    public var created: Double

    enum CodingKeys: String, CodingKey {
        case id, film, filmPath = "film_path", preset, settings = "set", output, report, state, frame, frames
        case etaSeconds = "eta_seconds", error, attempts, created
    }
}

/// The queue, persisted in SQLite (`DIR/restored/.workbench/queue.sqlite`): every change is committed
/// before it is acted on, so a server stopped at any moment (SIGTERM or kill -9) finds its queue again.
/// One connection, used under a lock.
public final class JobStore: @unchecked Sendable {
    private let db: SQLiteDatabase
    private let lock = NSLock()

    public init(path: String) throws {
        db = try SQLiteDatabase(path: path)
        try db.execute(
            """
            CREATE TABLE IF NOT EXISTS jobs (
              id TEXT PRIMARY KEY, seq INTEGER NOT NULL, film TEXT NOT NULL, film_path TEXT NOT NULL,
              preset TEXT NOT NULL, settings TEXT NOT NULL, output TEXT NOT NULL, report TEXT NOT NULL,
              state TEXT NOT NULL, frame INTEGER NOT NULL DEFAULT 0, frames INTEGER, eta REAL, error TEXT,
              pid INTEGER, attempts INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL)
            """)
    }

    private func locked<R>(_ body: () throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// Adds a queued job; fails (`WorkbenchError` 409) when a queued, running or finished job writes the same
    /// output or report. The output of a job that failed or was cancelled is free again (a new job of the same
    /// recipe resumes from its segments).
    public func add(_ job: WorkbenchJob) throws {
        let settings = String(decoding: try JSONEncoder().encode(job.settings), as: UTF8.self)
        try locked {
            try db.execute("BEGIN IMMEDIATE")
            do {
                try insert(job, settings)
                try db.execute("COMMIT")
            } catch {
                _ = try? db.execute("ROLLBACK")
                throw error
            }
        }
    }

    private func insert(_ job: WorkbenchJob, _ settings: String) throws {
        let taken = try db.execute(
            "SELECT id FROM jobs WHERE (output IN (?, ?) OR report IN (?, ?)) AND state IN ('queued', 'running', 'done')",
            [.text(job.output), .text(job.report), .text(job.output), .text(job.report)])
        if let other = taken.first?["id"]?.string {
            throw WorkbenchError.conflict("job \(other) writes \(job.output): give this one another output name")
        }
        let seq = (try db.execute("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM jobs").first?["n"]?.int) ?? 1
        try db.execute(
            "INSERT INTO jobs (id, seq, film, film_path, preset, settings, output, report, state, created) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                .text(job.id), .integer(Int64(seq)), .text(job.film), .text(job.filmPath), .text(job.preset),
                .text(settings), .text(job.output), .text(job.report), .text(job.state.rawValue), .real(job.created),
            ])
    }

    public func job(_ id: String) throws -> WorkbenchJob? {
        try locked { try db.execute("SELECT * FROM jobs WHERE id = ?", [.text(id)]).first.map(Self.job) }
    }

    /// Every job, oldest first.
    public func all() throws -> [WorkbenchJob] {
        try locked { try db.execute("SELECT * FROM jobs ORDER BY seq").map(Self.job) }
    }

    /// The oldest queued job, marked running (with one more attempt) in the same transaction.
    public func startNext() throws -> WorkbenchJob? {
        try locked {
            try db.execute("BEGIN IMMEDIATE")
            do {
                guard let row = try db.execute("SELECT * FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1").first
                else {
                    try db.execute("COMMIT")
                    return nil
                }
                var job = Self.job(row)
                job.state = .running
                job.attempts += 1
                try db.execute(
                    "UPDATE jobs SET state = 'running', attempts = ?, error = NULL WHERE id = ?",
                    [.integer(Int64(job.attempts)), .text(job.id)])
                try db.execute("COMMIT")
                return job
            } catch {
                _ = try? db.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// The process restoring the job (to stop a leftover one after a crash of the server).
    public func setProcess(_ id: String, pid: Int32?) throws {
        _ = try locked {
            try db.execute(
                "UPDATE jobs SET pid = ? WHERE id = ?", [pid.map { .integer(Int64($0)) } ?? .null, .text(id)])
        }
    }

    public func process(_ id: String) throws -> Int32? {
        try locked {
            try db.execute("SELECT pid FROM jobs WHERE id = ?", [.text(id)]).first?["pid"]?.int.map(Int32.init)
        }
    }

    public func setProgress(_ id: String, frame: Int, frames: Int?, eta: Double?) throws {
        _ = try locked {
            try db.execute(
                "UPDATE jobs SET frame = ?, frames = ?, eta = ? WHERE id = ? AND state = 'running'",
                [
                    .integer(Int64(frame)), frames.map { .integer(Int64($0)) } ?? .null, eta.map { .real($0) } ?? .null,
                    .text(id),
                ])
        }
    }

    /// Moves a job to `state` (only from `from`, when given); returns whether it moved.
    @discardableResult
    public func setState(
        _ id: String, _ state: WorkbenchJob.State, error: String? = nil, from: [WorkbenchJob.State]? = nil
    )
        throws -> Bool
    {
        try locked {
            var sql = "UPDATE jobs SET state = ?, error = ?, eta = CASE WHEN ? THEN NULL ELSE eta END WHERE id = ?"
            var b: [SQLiteDatabase.Value] = [
                .text(state.rawValue), error.map { .text($0) } ?? .null, .integer(state.isFinal ? 1 : 0), .text(id),
            ]
            if let from {
                sql += " AND state IN (\(from.map { _ in "?" }.joined(separator: ",")))"
                b += from.map { .text($0.rawValue) }
            }
            try db.execute(sql, b)
            return (try db.execute("SELECT changes() AS n").first?["n"]?.int ?? 0) > 0
        }
    }

    /// Jobs left running by a server that stopped: queued again (their restore resumes from its segments).
    public func requeueRunning() throws -> [(id: String, pid: Int32?)] {
        try locked {
            let rows = try db.execute("SELECT id, pid FROM jobs WHERE state = 'running'")
            try db.execute("UPDATE jobs SET state = 'queued' WHERE state = 'running'")
            return rows.map { ($0["id"]?.string ?? "", $0["pid"]?.int.map(Int32.init)) }
        }
    }

    private static func job(_ r: [String: SQLiteDatabase.Value]) -> WorkbenchJob {
        let settings =
            r["settings"]?.string.flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) }
            ?? [:]
        return WorkbenchJob(
            id: r["id"]?.string ?? "", film: r["film"]?.string ?? "", filmPath: r["film_path"]?.string ?? "",
            preset: r["preset"]?.string ?? "", settings: settings, output: r["output"]?.string ?? "",
            report: r["report"]?.string ?? "", state: WorkbenchJob.State(rawValue: r["state"]?.string ?? "") ?? .failed,
            frame: r["frame"]?.int ?? 0, frames: r["frames"]?.int, etaSeconds: r["eta"]?.double,
            error: r["error"]?.string, attempts: r["attempts"]?.int ?? 0, created: r["created"]?.double ?? 0)
    }
}
