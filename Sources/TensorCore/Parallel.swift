import Dispatch

/// Data-parallel loops over disjoint slices of a buffer.
public enum Parallel {
    /// Runs `body(i)` for every i in 0..<count, concurrently, and returns when all are done.
    ///
    /// `body` is not `@Sendable`: it captures raw pointers into the caller's buffers, which Swift
    /// cannot prove safe to share. It is safe under this contract, which every caller keeps:
    /// iteration i writes only its own slice of the output (rows, planes, tiles), all reads are
    /// of memory no iteration writes, and the buffers outlive the call (concurrentPerform
    /// returns only when every iteration has finished).
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        guard count > 1 else {
            if count == 1 { body(0) }
            return
        }
        let tag = ThreadUsage.currentTag
        withoutActuallyEscaping(body) { run in
            nonisolated(unsafe) let run = run
            DispatchQueue.concurrentPerform(iterations: count) {
                if let tag { ThreadUsage.note(tag) }
                run($0)
            }
        }
    }
}
