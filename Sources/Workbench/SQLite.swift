import CSQLite
import Foundation

/// An SQLite failure: the call and SQLite's own message.
public struct SQLiteError: Error, CustomStringConvertible {
    public let description: String
}

/// One SQLite database file, used from one thread at a time (`JobStore` holds the lock). The
/// connection is closed in `deinit`; statements are prepared, run and finalized inside each call,
/// so no C object outlives the call that made it.
final class SQLiteDatabase {
    private var handle: OpaquePointer?

    init(path: String) throws {
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let msg = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_close(db)
            throw SQLiteError(description: "sqlite3_open_v2 \(path): \(msg)")
        }
        handle = db
        sqlite3_busy_timeout(db, 5000)
        // The journal in write-ahead mode: a crash (kill -9) mid-write leaves the last committed state.
        try execute("PRAGMA journal_mode=WAL")
        try execute("PRAGMA synchronous=NORMAL")
    }

    deinit { sqlite3_close(handle) }

    /// A value bound to a `?` or read from a column.
    enum Value: Equatable {
        case null
        case integer(Int64)
        case real(Double)
        case text(String)

        var string: String? { if case let .text(s) = self { s } else { nil } }
        var int: Int? {
            switch self {
            case let .integer(i): Int(i)
            case let .real(d): Int(d)
            default: nil
            }
        }
        var double: Double? {
            switch self {
            case let .integer(i): Double(i)
            case let .real(d): d
            default: nil
            }
        }
    }

    /// Runs `sql` with `bindings`, returning every row as column name → value.
    @discardableResult
    func execute(_ sql: String, _ bindings: [Value] = []) throws -> [[String: Value]] {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else {
            throw SQLiteError(description: "sqlite3_prepare_v2: \(message) (\(sql))")
        }
        defer { sqlite3_finalize(stmt) }
        // SQLITE_TRANSIENT: SQLite copies the text before the call returns.
        let transient = unsafeBitCast(Int(-1), to: sqlite3_destructor_type.self)
        for (i, b) in bindings.enumerated() {
            let n = Int32(i + 1)
            let rc: Int32
            switch b {
            case .null: rc = sqlite3_bind_null(stmt, n)
            case let .integer(v): rc = sqlite3_bind_int64(stmt, n, v)
            case let .real(v): rc = sqlite3_bind_double(stmt, n, v)
            case let .text(v): rc = sqlite3_bind_text(stmt, n, v, -1, transient)
            }
            guard rc == SQLITE_OK else { throw SQLiteError(description: "sqlite3_bind: \(message)") }
        }
        var rows: [[String: Value]] = []
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw SQLiteError(description: "sqlite3_step: \(message) (\(sql))") }
            var row: [String: Value] = [:]
            for c in 0..<sqlite3_column_count(stmt) {
                let name = String(cString: sqlite3_column_name(stmt, c))
                switch sqlite3_column_type(stmt, c) {
                case SQLITE_INTEGER: row[name] = .integer(sqlite3_column_int64(stmt, c))
                case SQLITE_FLOAT: row[name] = .real(sqlite3_column_double(stmt, c))
                case SQLITE_TEXT: row[name] = .text(String(cString: sqlite3_column_text(stmt, c)))
                default: row[name] = .null
                }
            }
            rows.append(row)
        }
        return rows
    }

    private var message: String { String(cString: sqlite3_errmsg(handle)) }
}
