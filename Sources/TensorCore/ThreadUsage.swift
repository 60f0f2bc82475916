import Foundation
import Locking

/// Which threads worked for which named part of a run (a pipeline step), for `bench pipeline`: the
/// thread that runs a step tags itself; `Parallel.forEach` notes each worker that takes an iteration
/// for the caller's tag, and `GEMM.sgemm` the workers a large product is split over (OpenBLAS itself runs on one
/// thread: `GEMM`'s thread plan). Untagged work is
/// not counted. One lock per noted iteration: rows or tiles, not pixels.
public enum ThreadUsage {
    private static let key = "filmrestore.thread-usage.tag"
    /// The tags' threads and BLAS widths.
    private static let table = Locked<[String: (threads: Set<UInt64>, blas: Int)]>([:])

    /// Tags the current thread (nil: untags it).
    public static func tag(_ name: String?) {
        Thread.current.threadDictionary[key] = name
        if let name { note(name) }
    }

    /// The current thread's tag.
    public static var currentTag: String? { Thread.current.threadDictionary[key] as? String }

    static func note(_ name: String) {
        let id = UInt64(pthread_self())
        table.withLock { _ = $0[name, default: ([], 0)].threads.insert(id) }
    }

    static func noteBLAS(_ threads: Int) {
        guard let name = currentTag else { return }
        table.withLock { $0[name, default: ([], 0)].blas = max($0[name, default: ([], 0)].blas, threads) }
    }

    /// Distinct threads that worked under `name`, and the most workers one of its products was split over.
    public static func usage(_ name: String) -> (threads: Int, blas: Int) {
        table.withLock { t in t[name].map { ($0.threads.count, $0.blas) } ?? (0, 0) }
    }

    /// Forgets what was noted (a new run).
    public static func reset() { table.withLock { $0 = [:] } }
}
