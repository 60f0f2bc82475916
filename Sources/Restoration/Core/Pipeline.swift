import Foundation
import FilmCore
import TensorCore

/// Counters of one pipeline step, readable from any thread while the pipeline runs.
public final class StepStats: Sendable {
    public let name: String
    private let counts = Locked((framesIn: 0, framesOut: 0, busy: 0.0, starved: 0.0, blocked: 0.0))
    private let usage = Locked((threads: 0, blas: 0))
    /// Distinct threads that worked for the step (its own and the kernels' workers), and the most
    /// workers one of its matrix products was split over; known when the run has ended.
    public var threads: Int { usage.current.threads }
    public var blasThreads: Int { usage.current.blas }
    func setUsage(_ u: (threads: Int, blas: Int)) { usage.withLock { $0 = u } }
    init(name: String) { self.name = name }
    public var framesIn: Int { counts.current.framesIn }
    public var framesOut: Int { counts.current.framesOut }
    /// Seconds spent working (not waiting on queues).
    public var busySeconds: Double { counts.current.busy }
    /// Seconds spent waiting for a frame from the step before (it was slower).
    public var starvedSeconds: Double { counts.current.starved }
    /// Seconds spent waiting for room in the queue to the step after (it was slower).
    public var blockedSeconds: Double { counts.current.blocked }
    func add(in i: Int = 0, out o: Int = 0, busy b: Double = 0, starved w: Double = 0, blocked k: Double = 0) {
        counts.withLock {
            $0.framesIn += i
            $0.framesOut += o
            $0.busy += b
            $0.starved += w
            $0.blocked += k
        }
    }
}

/// Runs a source, a chain of stages and a sink concurrently: each on a Dispatch queue of its own,
/// joined by bounded queues, so a slow step holds back the ones before it (backpressure) and memory
/// is bounded by the queue capacities, however long the film is. The first error anywhere stops
/// every step and is rethrown naming the step.
public final class Pipeline {
    public struct Node {
        public let name: String
        public let stage: any Stage
        public init(name: String, stage: any Stage) {
            self.name = name
            self.stage = stage
        }
    }

    public let nodes: [Node]
    public let capacity: Int
    /// queues[i] feeds nodes[i]; the last one feeds the sink. Made once, with the pipeline (so
    /// `cancel` from another thread always sees them).
    public let queues: [BoundedQueue<Frame>]
    /// "decode", each stage's name, "encode".
    public let stats: [StepStats]
    private let failure = FirstFailure()
    /// A pipeline runs once.
    private let started = Locked(false)

    /// A queue holds at most this much of frames, and at least one frame, whatever `capacity` says: a 4K frame
    /// is 100 MB, and two of them in each of the queues after the fit held 0.45 GB more at the peak of
    /// `archival-4k60` on the sample (480x360 to 4K: 2.96–3.03 GB with two, 2.56–2.57 with one, the same speed).
    public static let queueBytes = 64 << 20

    /// The frames a queue holds: `capacity`, fewer for frames of `frameBytes` each (see `queueBytes`).
    public static func frames(_ capacity: Int, frameBytes: Int?) -> Int {
        max(1, min(capacity, frameBytes.map { queueBytes / max($0, 1) } ?? capacity))
    }

    /// `frameBytes[i]`: the size of a frame entering `queues[i]` (the decoded frames, then each stage's); nil:
    /// `capacity` frames in every queue.
    public init(nodes: [Node], capacity: Int = 2, frameBytes: [Int]? = nil) {
        precondition(frameBytes.map { $0.count == nodes.count + 1 } ?? true, "a frame size for every queue")
        self.nodes = nodes
        self.capacity = max(1, capacity)
        queues = (0...nodes.count).map { [capacity] i in
            BoundedQueue<Frame>(capacity: Self.frames(max(1, capacity), frameBytes: frameBytes?[i]))
        }
        stats = [StepStats(name: "decode")] + nodes.map { StepStats(name: $0.name) } + [StepStats(name: "encode")]
    }

    /// Each step's name and frames per second of its own busy time (0 before it has worked).
    public var stepRates: [(name: String, fps: Double)] {
        stats.map { ($0.name, $0.busySeconds > 0 ? Double(max($0.framesOut, $0.framesIn)) / $0.busySeconds : 0) }
    }

    /// Stops the run from outside (SIGINT): every step ends promptly and `run` throws `.cancelled`.
    public func cancel() { canceller.cancel() }

    /// What another thread holds to cancel this pipeline (a signal handler, a timer).
    public var canceller: Canceller { Canceller(failure: failure, queues: queues) }

    /// Cancels a pipeline from any thread: records the cancel, then wakes every queue.
    public struct Canceller: Sendable {
        let failure: FirstFailure
        let queues: [BoundedQueue<Frame>]
        public func cancel() {
            failure.record(step: "", error: RestoreError.cancelled)
            queues.forEach { $0.cancel() }
        }
    }

    public func run(source: @escaping () throws -> Frame?, sink: @escaping (Frame) throws -> Void) throws {
        guard
            !started.withLock({ s in
                defer { s = true }
                return s
            })
        else { preconditionFailure("a Pipeline runs once") }
        let queues = self.queues
        let group = DispatchGroup()
        let failure = self.failure
        let stop: @Sendable (String, Error) -> Void = { step, error in
            failure.record(step: step, error: error)
            queues.forEach { $0.cancel() }
        }
        if failure.error != nil { queues.forEach { $0.cancel() } }

        ThreadUsage.reset()
        let decodeQueue = DispatchQueue(label: "filmrestore.decode"),
            encodeQueue = DispatchQueue(label: "filmrestore.encode")
        let source = HandOff(source, to: decodeQueue), sink = HandOff(sink, to: encodeQueue)
        let decodeStats = stats[0], first = queues[0]
        decodeQueue.async(group: group) {
            ThreadUsage.tag("decode")
            defer { ThreadUsage.tag(nil) }
            do { try Self.decode(source.value, into: first, stats: decodeStats) } catch { stop("decode", error) }
        }
        for (i, node) in nodes.enumerated() {
            let queue = DispatchQueue(label: "filmrestore.stage.\(node.name)")
            let input = queues[i], output = queues[i + 1], st = stats[i + 1], stage = HandOff(node.stage, to: queue),
                name = node.name
            queue.async(group: group) {
                ThreadUsage.tag(name)
                defer { ThreadUsage.tag(nil) }
                do { try Self.work(stage.value, from: input, to: output, stats: st) } catch { stop(name, error) }
            }
        }
        let encodeStats = stats[stats.count - 1], last = queues[nodes.count]
        encodeQueue.async(group: group) {
            ThreadUsage.tag("encode")
            defer { ThreadUsage.tag(nil) }
            do { try Self.encode(from: last, into: sink.value, stats: encodeStats) } catch { stop("encode", error) }
        }
        group.wait()
        for st in stats { st.setUsage(ThreadUsage.usage(st.name)) }
        if let (step, error) = failure.error {
            if case RestoreError.cancelled = error { throw RestoreError.cancelled }
            throw RestoreError.stageFailed(stage: step, underlying: error)
        }
    }

    /// The decode step: frames from `source` into the first queue, which is closed at the end.
    static func decode(_ source: () throws -> Frame?, into queue: BoundedQueue<Frame>, stats: StepStats) throws {
        while true {
            let t0 = DispatchTime.now()
            guard let f = try source() else { break }
            stats.add(out: 1, busy: seconds(since: t0))
            let t1 = DispatchTime.now()
            try queue.push(f)
            stats.add(blocked: seconds(since: t1))
        }
        queue.close()
    }

    /// One stage's step: every frame of `input` through the stage into `output`, then its flush; `output` is
    /// closed at the end. Time blocked on a full output queue is not the stage's work.
    static func work(
        _ stage: any Stage, from input: BoundedQueue<Frame>, to output: BoundedQueue<Frame>, stats st: StepStats
    ) throws {
        var blocked = 0.0
        let emit: (Frame) throws -> Void = { f in
            let t = DispatchTime.now()
            try output.push(f)
            blocked += seconds(since: t)
            st.add(out: 1)
        }
        var waited = DispatchTime.now()
        while let f = try input.pop() {
            let t0 = DispatchTime.now()
            blocked = 0
            st.add(in: 1, starved: seconds(since: waited, to: t0))
            try stage.process(f, emit: emit)
            st.add(busy: seconds(since: t0) - blocked, blocked: blocked)
            waited = DispatchTime.now()
        }
        try stage.flush(emit: emit)
        output.close()
    }

    /// The encode step: every frame of the last queue to the sink.
    static func encode(from queue: BoundedQueue<Frame>, into sink: (Frame) throws -> Void, stats: StepStats) throws {
        var waited = DispatchTime.now()
        while let f = try queue.pop() {
            let t0 = DispatchTime.now()
            try sink(f)
            stats.add(in: 1, busy: seconds(since: t0), starved: seconds(since: waited, to: t0))
            waited = DispatchTime.now()
        }
    }

    static func seconds(since t0: DispatchTime, to t1: DispatchTime = .now()) -> Double {
        Double(t1.uptimeNanoseconds - t0.uptimeNanoseconds) / 1e9
    }
}

/// A value handed to the one queue that uses it while a run lasts (the source, the sink, a
/// stage). `@unchecked Sendable` is safe because no other thread touches the value until `run`
/// returns, and `run` returns only after that queue has finished (`group.wait()`); debug builds check
/// every use is on that queue (as swift-nio checks a channel's event loop).
struct HandOff<T>: @unchecked Sendable {
    private let handed: T
    private let queue: DispatchQueue
    init(_ value: T, to queue: DispatchQueue) {
        handed = value
        self.queue = queue
    }
    var value: T {
        #if DEBUG
            dispatchPrecondition(condition: .onQueue(queue))
        #endif
        return handed
    }
}

/// The first error of a run; later ones (queues cancelled because of it) are ignored.
final class FirstFailure: Sendable {
    private let first = Locked<(String, Error)?>(nil)
    func record(step: String, error: Error) { first.withLock { if $0 == nil { $0 = (step, error) } } }
    var error: (String, Error)? { first.current }
}
