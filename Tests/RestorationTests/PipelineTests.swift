import XCTest
import FilmCore
import Restoration
import TestSupport

/// Passes frames on after sleeping; records nothing (the queues are checked from outside).
final class SlowStage: Stage {
    static let spec = StageSpec(name: "test-slow", summary: "sleeps")
    let delay: Double
    init(options: StageOptions) throws { delay = 0.002 }
    init(delay: Double) { self.delay = delay }
    func configure(_ input: StreamInfo) throws -> StreamInfo { input }
    func process(_ frame: Frame, emit: (Frame) throws -> Void) throws {
        Thread.sleep(forTimeInterval: delay)
        try emit(frame)
    }
}

struct Boom: Error, CustomStringConvertible { var description: String { "boom at frame 5" } }

final class FailingStage: Stage {
    static let spec = StageSpec(name: "test-fail", summary: "throws")
    var seen = 0
    init(options: StageOptions) throws {}
    init() {}
    func configure(_ input: StreamInfo) throws -> StreamInfo { input }
    func process(_ frame: Frame, emit: (Frame) throws -> Void) throws {
        seen += 1
        if seen == 5 { throw Boom() }
        try emit(frame)
    }
}

final class PipelineTests: XCTestCase {
    func test_pipeline_backpressure_queuesNeverExceedCapacity_noFrameLost() throws {
        let p = Pipeline(
            nodes: [
                Pipeline.Node(name: "a", stage: SlowStage(delay: 0)),
                Pipeline.Node(name: "slow", stage: SlowStage(delay: 0.003)),
                Pipeline.Node(name: "b", stage: SlowStage(delay: 0)),
            ], capacity: 3)
        var received: [Int] = []
        try p.run(source: numberedFrames(200), sink: { received.append($0.properties.sourceIndex) })
        XCTAssertEqual(received, Array(0..<200))
        for q in p.queues { XCTAssertLessThanOrEqual(q.highWater, 3) }
        // the queue in front of the slow stage filled up: the producer really was held back
        XCTAssertEqual(p.queues[1].highWater, 3)
    }

    /// A queue holds no more than `Pipeline.queueBytes` of frames (and at least one): 4K frames (100 MB) one at
    /// a time, small ones as many as the capacity says; a slow consumer fills each queue to exactly that.
    func test_pipeline_queuesOfLargeFrames_holdOneFrame() throws {
        let big = 3840 * 2160 * 3 * 4, small = 640 * 480 * 3 * 4
        let p = Pipeline(
            nodes: [
                Pipeline.Node(name: "upscale", stage: SlowStage(delay: 0)),
                Pipeline.Node(name: "slow", stage: SlowStage(delay: 0.003)),
                Pipeline.Node(name: "slower", stage: SlowStage(delay: 0.006)),
            ], capacity: 3, frameBytes: [small, big, big, small])
        XCTAssertEqual(p.queues.map(\.capacity), [3, 1, 1, 3])
        var received: [Int] = []
        try p.run(source: numberedFrames(60), sink: { received.append($0.properties.sourceIndex) })
        XCTAssertEqual(received, Array(0..<60))
        XCTAssertEqual(Array(p.queues.map(\.highWater).prefix(3)), [3, 1, 1])
        XCTAssertEqual(Pipeline.frames(2, frameBytes: 1920 * 1080 * 3 * 4), 2)
        XCTAssertEqual(Pipeline.frames(2, frameBytes: nil), 2)
    }

    func test_pipeline_errorInAStage_stopsEverythingAndNamesTheStage() {
        let p = Pipeline(
            nodes: [
                Pipeline.Node(name: "fit", stage: SlowStage(delay: 0)),
                Pipeline.Node(name: "explode", stage: FailingStage()),
            ], capacity: 2)
        var produced = 0
        XCTAssertThrowsError(
            try p.run(
                source: {
                    produced += 1
                    // endless source: only the error can stop it
                    return Frame(width: 4, height: 4, layout: .gray, fill: [0])
                }, sink: { _ in })
        ) { e in
            XCTAssertEqual("\(e)", "stage 'explode' failed: boom at frame 5")
        }
    }

    func test_pipeline_cancel_stopsPromptly() {
        let p = Pipeline(nodes: [Pipeline.Node(name: "slow", stage: SlowStage(delay: 0.01))], capacity: 2)
        let canceller = p.canceller
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) { canceller.cancel() }
        let t0 = Date()
        XCTAssertThrowsError(
            try p.run(source: { Frame(width: 4, height: 4, layout: .gray, fill: [0]) }, sink: { _ in })
        ) { e in
            guard case RestoreError.cancelled = e else { return XCTFail("\(e)") }
        }
        XCTAssertLessThan(Date().timeIntervalSince(t0), 5)
    }

    func test_boundedQueue_blocksProducerWhenFull() throws {
        let q = BoundedQueue<Int>(capacity: 2)
        try q.push(1)
        try q.push(2)
        let pushed = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            try? q.push(3)
            pushed.signal()
        }
        // the third push must not complete while the queue is full, and must once there is room
        XCTAssertEqual(pushed.wait(timeout: .now() + 0.2), .timedOut, "a push into a full queue returned")
        XCTAssertEqual(q.count, 2)
        XCTAssertEqual(try q.pop(), 1)
        XCTAssertEqual(pushed.wait(timeout: .now() + 5), .success, "the push did not complete after a pop")
        q.close()
        XCTAssertEqual(try q.pop(), 2)
        XCTAssertEqual(try q.pop(), 3)
        XCTAssertNil(try q.pop())
        XCTAssertEqual(q.highWater, 2)
    }
}
