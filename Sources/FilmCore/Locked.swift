import Foundation

/// A value shared between threads, reached only inside `withLock` (one lock per value): the one
/// lock type of the project, instead of a hand-written class per shared thing.
///
/// `@unchecked Sendable` is safe here because the value is never reachable except through
/// `withLock`, which holds the lock for the whole access.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    /// Runs `body` with the value, exclusively.
    @discardableResult
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    /// A copy of the value.
    public var current: Value { withLock { $0 } }
}
