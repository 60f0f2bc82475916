import Foundation

/// A value shared between threads, reached only inside `withLock` (one lock per value): the one
/// lock type of the project, instead of a hand-written class per shared thing. It lives in this module of its own,
/// below FilmCore (which re-exports it) and TensorCore, so both use the same type.
///
/// Sendable only where its value is (as swift-nio's `NIOLockedValueBox`): the lock makes each access
/// exclusive, but `current` hands out a copy, and a copy of a reference type that is not Sendable
/// would then be shared unprotected.
public final class Locked<Value> {
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

// The value is never reachable except through `withLock`, which holds the lock for the whole access.
extension Locked: @unchecked Sendable where Value: Sendable {}
