import XCTest
import FilmCore
import TestSupport

@testable import Restoration

/// A sink that records what the run loop asked of it (EmbeddedChannel-style: the loop's calls, observed).
private final class RecordingSink: FrameSink {
    var calls: [String] = []
    var frames: [Int] = []
    var failOnCommit = false
    func open() throws { calls.append("open") }
    func write(_ frame: Frame) throws {
        if frames.isEmpty { calls.append("write") }
        frames.append(frame.properties.sourceIndex)
    }
    func commit() throws {
        calls.append("commit")
        if failOnCommit { throw Boom() }
    }
    func discard() { calls.append("discard") }
}

final class RunLoopTests: XCTestCase {
    func test_runLoop_opensWritesEveryFrameInOrderThenCommits() throws {
        let sink = RecordingSink()
        let p = Pipeline(nodes: [Pipeline.Node(name: "a", stage: SlowStage(delay: 0))], capacity: 2)
        let n = try RunLoop.run(p, source: numberedFrames(50), into: sink)
        XCTAssertEqual(n, 50)
        XCTAssertEqual(sink.frames, Array(0..<50))
        XCTAssertEqual(sink.calls, ["open", "write", "commit"])
    }

    func test_runLoop_aStageFails_sinkDiscardedNeverCommitted() {
        let sink = RecordingSink()
        let p = Pipeline(nodes: [Pipeline.Node(name: "explode", stage: FailingStage())], capacity: 2)
        XCTAssertThrowsError(try RunLoop.run(p, source: numberedFrames(50), into: sink)) { e in
            XCTAssertEqual("\(e)", "stage 'explode' failed: boom at frame 5")
        }
        XCTAssertEqual(sink.calls.last, "discard")
        XCTAssertFalse(sink.calls.contains("commit"))
        // the frames before the failing one, in order: as many as reached the sink before the queues were cancelled
        XCTAssertEqual(sink.frames, Array(0..<sink.frames.count))
        XCTAssertLessThanOrEqual(sink.frames.count, 4)
    }

    func test_runLoop_commitFails_sinkDiscarded() {
        let sink = RecordingSink()
        sink.failOnCommit = true
        let p = Pipeline(nodes: [], capacity: 2)
        XCTAssertThrowsError(try RunLoop.run(p, source: numberedFrames(3), into: sink))
        XCTAssertEqual(sink.calls, ["open", "write", "commit", "discard"])
    }

    /// A part of the film: only output frames from `from` to `to`, at most `frames` of them, reach the sink.
    func test_runLoop_window_keepsOnlyThePartsFrames() throws {
        let sink = RecordingSink()
        let p = Pipeline(nodes: [], capacity: 2)
        let w = RangeWindow(
            decodeFrom: .zero, decodeTo: nil, from: Rational(10, 24), to: Rational(30, 24), frames: nil)
        XCTAssertEqual(try RunLoop.run(p, source: numberedFrames(50), window: w, into: sink), 20)
        XCTAssertEqual(sink.frames, Array(10..<30))
        let capped = RecordingSink()
        let w2 = RangeWindow(decodeFrom: .zero, decodeTo: nil, from: Rational(10, 24), to: nil, frames: 7)
        try RunLoop.run(Pipeline(nodes: [], capacity: 2), source: numberedFrames(50), window: w2, into: capped)
        XCTAssertEqual(capped.frames, Array(10..<17))
    }
}
