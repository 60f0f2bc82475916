import Foundation
import FilmCore
import MediaIO

/// Where a run's restored frames go. The run loop opens it before the first frame, hands it every frame of
/// the run in order (on the pipeline's last queue), and commits it once the pipeline has drained, or
/// discards it when anything failed or the run was cancelled. One per destination: a single file
/// (`FileSink`), a stretch of checkpointed segments (`SegmentSink`), a picture sequence
/// (`PictureSequenceSink`), the shot finder of a job's plan (`ShotSink`), the report's measurements
/// (`MeasurementSink`).
protocol FrameSink: AnyObject {
    func open() throws
    func write(_ frame: Frame) throws
    func commit() throws
    func discard()
}

extension FrameSink {
    func open() throws {}
    func commit() throws {}
    func discard() {}
}

/// The one run loop: frames from a source (the reader, through a part's window), through the pipeline's
/// stages, into a sink. Every way a film is written or measured runs through `run`.
enum RunLoop {
    /// Runs `pipeline` from `source` into `sink`; with `window`, only the output frames of that part of the
    /// film reach the sink, and `observe` sees each of them first. Returns the frames the sink was given.
    @discardableResult
    static func run(
        _ pipeline: Pipeline, source: @escaping () throws -> Frame?, window: RangeWindow? = nil,
        into sink: any FrameSink, observe: ((Frame) -> Void)? = nil
    ) throws -> Int {
        final class Count { var n = 0 }
        let written = Count()
        do {
            try sink.open()
            try pipeline.run(
                source: source,
                sink: { f in
                    if let w = window, !w.keeps(f, written: written.n) { return }
                    observe?(f)
                    try sink.write(f)
                    written.n += 1
                })
            try sink.commit()
        } catch {
            sink.discard()
            throw error
        }
        return written.n
    }
}

/// A counter shared between the encoder step and the progress timer.
final class FrameCounter: Sendable {
    private let n = Locked(0)
    func add(_ k: Int) { n.withLock { $0 += k } }
    func set(_ k: Int) { n.withLock { $0 = k } }
    var value: Int { n.current }
}

/// Where a part of the film is decoded (from the context before it to the context after it) and
/// which output frames belong to it.
struct RangeWindow {
    var decodeFrom: Rational
    var decodeTo: Rational?
    var from: Rational
    var to: Rational?
    var frames: Int?

    /// Whether an output frame belongs to the part, `written` of its frames being out already.
    func keeps(_ f: Frame, written: Int) -> Bool {
        f.pts >= from && (to.map { f.pts < $0 } ?? true) && (frames.map { written < $0 } ?? true)
    }

    /// The frames to decode from `reader`: all of them, or those of a part's window with its context.
    static func source(_ reader: MediaReader, _ window: RangeWindow?) -> () throws -> Frame? {
        return {
            guard let w = window else { return try reader.nextFrame() }
            while let f = try reader.nextFrame(notBefore: w.decodeFrom) {
                if let e = w.decodeTo, f.pts >= e { return nil }
                return f
            }
            return nil
        }
    }
}

/// One film file, published whole at commit. Its writer is made when the sink opens; for a part of
/// the film, at the part's first frame instead, whose time becomes the file's 0 (the sound is
/// shifted alike and cut to the part).
final class FileSink: FrameSink {
    typealias MakeWriter = (_ shift: Rational, _ span: Rational?) throws -> MediaWriter
    private let output: OutputFile
    private let part: RangeWindow?
    private let makeWriter: MakeWriter
    private let whenEmpty: () -> Error?
    /// What the encoder has given back, for progress (the ETA then includes its drain).
    let muxed = FrameCounter()
    private(set) var writer: MediaWriter?
    private var first = Rational.zero, written = 0

    /// `whenEmpty`: the error when no frame was written (nil: an empty file is published).
    init(output: OutputFile, part: RangeWindow?, whenEmpty: @escaping () -> Error?, makeWriter: @escaping MakeWriter) {
        self.output = output
        self.part = part
        self.whenEmpty = whenEmpty
        self.makeWriter = makeWriter
    }

    func open() throws {
        if part == nil { writer = try makeWriter(.zero, nil) }
    }

    func write(_ f: Frame) throws {
        if writer == nil {
            first = f.pts
            writer = try makeWriter(f.pts, part?.to.map { $0 - f.pts } ?? Rational(Int64.max / 4, 1))
        }
        var g = f
        g.pts = f.pts - first
        try writer!.write(g)
        written += 1
        muxed.set(writer!.packetsMuxed)
    }

    func commit() throws {
        if written == 0, let e = whenEmpty() { throw e }
        guard let writer else { throw RestoreError.output("internal: no writer for \(output.temporaryPath)") }
        try writer.finish()
        try output.commit()
    }

    func discard() { output.discard() }
}
