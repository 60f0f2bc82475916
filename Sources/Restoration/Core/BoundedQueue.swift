import Foundation

/// A FIFO of fixed capacity between two threads: `push` blocks while it is full, `pop` while it is
/// empty. Nothing is ever dropped. `close` ends the stream (pop drains what is left, then returns
/// nil); `cancel` wakes everybody and makes every later call throw.
///
/// `@unchecked Sendable` is safe because every stored variable is read and written only while
/// `cond` is locked.
public final class BoundedQueue<Element>: @unchecked Sendable {
    public let capacity: Int
    private var items: [Element?]
    private var head = 0, count_ = 0
    private var closed = false, cancelled = false
    private let cond = NSCondition()
    /// The most elements the queue ever held.
    public private(set) var highWater = 0

    public init(capacity: Int) {
        precondition(capacity >= 1, "queue capacity must be at least 1")
        self.capacity = capacity
        items = Array(repeating: nil, count: capacity)
    }

    public var count: Int {
        cond.lock()
        defer { cond.unlock() }
        return count_
    }

    public func push(_ e: Element) throws {
        cond.lock()
        defer { cond.unlock() }
        while count_ == capacity && !cancelled { cond.wait() }
        if cancelled { throw RestoreError.cancelled }
        precondition(!closed, "push after close")
        items[(head + count_) % capacity] = e
        count_ += 1
        highWater = max(highWater, count_)
        cond.broadcast()
    }

    /// The next element, or nil once the queue is closed and empty.
    public func pop() throws -> Element? {
        cond.lock()
        defer { cond.unlock() }
        while count_ == 0 && !closed && !cancelled { cond.wait() }
        if cancelled { throw RestoreError.cancelled }
        if count_ == 0 { return nil }
        let e = items[head]
        items[head] = nil
        head = (head + 1) % capacity
        count_ -= 1
        cond.broadcast()
        return e
    }

    public func close() {
        cond.lock()
        closed = true
        cond.broadcast()
        cond.unlock()
    }
    public func cancel() {
        cond.lock()
        cancelled = true
        cond.broadcast()
        cond.unlock()
    }
}
