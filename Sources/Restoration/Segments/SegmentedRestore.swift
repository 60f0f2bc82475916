import Foundation
import FilmCore
import MediaIO

/// The decoded frames' timestamps by source index, kept for the last few thousand frames: a
/// segment boundary found at the encoder needs the time of the frame its context starts at.
final class SourceLog: Sendable {
    private let log = Locked((times: [Int: Rational](), newest: -1))
    func add(_ index: Int, _ t: Rational) {
        log.withLock { l in
            l.times[index] = t
            l.newest = max(l.newest, index)
            if l.times.count > 8192 {
                let newest = l.newest
                l.times = l.times.filter { $0.key > newest - 4096 }
            }
        }
    }
    func time(_ index: Int) -> Rational? { log.withLock { $0.times[index] } }
}

/// Statistics of one or more runs, added up.
struct RunTotals {
    var framesDecoded = 0, segmentsMade = 0
    var queueHighWater: [Int] = []
    var steps: [StepTime] = []

    init() {}
    /// One pipeline's.
    init(_ p: Pipeline) { add(p) }

    mutating func add(_ p: Pipeline) {
        let hw = p.queues.map(\.highWater)
        queueHighWater = queueHighWater.isEmpty ? hw : zip(queueHighWater, hw).map { max($0, $1) }
        for s in p.stats {
            let t = StepTime(s)
            if let i = steps.firstIndex(where: { $0.name == t.name }) {
                steps[i].seconds += t.seconds
                steps[i].frames += t.frames
                steps[i].starved = (steps[i].starved ?? 0) + (t.starved ?? 0)
                steps[i].blocked = (steps[i].blocked ?? 0) + (t.blocked ?? 0)
                steps[i].threads = max(steps[i].threads ?? 0, t.threads ?? 0)
                steps[i].blasThreads = max(steps[i].blasThreads ?? 0, t.blasThreads ?? 0)
            } else {
                steps.append(t)
            }
        }
    }
}

extension Restorer {
    /// One stretch of the film through fresh stages into segment files.
    struct Stretch {
        var start: Boundary?
        var end: Boundary?
        /// Start a new segment at a scene cut once the current one holds this much output time
        /// (mid-shot after `maxSeconds`); nil: one segment for the whole stretch.
        var minSeconds: Rational?
        var maxSeconds: Rational?
        /// The segment's name from its start.
        var name: (Boundary?) -> String
    }

    /// The boundary at source frame `index` (time `time` of the output), with its context start.
    func boundary(index: Int, time: Rational, sourceTime: (Int) -> Rational?) throws -> Boundary {
        let ci = max(0, index - context.past)
        guard let ct = sourceTime(ci) else { throw RestoreError.input("internal: no timestamp for source frame \(ci)") }
        return Boundary(index: index, time: time, contextIndex: ci, contextTime: ct)
    }

    /// Decodes from the stretch's context start, runs `nodes`, and writes the output frames that
    /// belong to the stretch into segments of `store`, each made done when complete.
    func run(
        stretch: Stretch, nodes: [Pipeline.Node], store: SegmentStore, counter: FrameCounter, totals: inout RunTotals
    ) throws {
        let reader = self.reader, log = SourceLog(), encoder = self.encoder, stream = outputStream,
            keeps = keepsSourcePictures
        if let s = stretch.start {
            try reader.seek(to: s.contextTime, index: s.contextIndex)
        } else {
            try reader.rewind()
        }
        // Decoding stops once the frames after the stretch that its last frames need are in.
        let stop = stretch.end.map { $0.index + context.future }
        let decodedBefore = reader.framesDecoded
        let p = Pipeline(nodes: nodes, capacity: job.queueCapacity, frameBytes: queueFrameBytes)
        use(p)
        if canceller.isCancelled { throw RestoreError.cancelled }
        let sink = SegmentSink(
            stretch: stretch, store: store, counter: counter,
            newWriter: { path in
                try MediaWriter(
                    path: path, containerFor: path, stream: stream, settings: encoder, copyFrom: nil,
                    keepDecodedPictures: keeps)
            },
            boundary: { [self] f in try boundary(index: f.properties.sourceIndex, time: f.pts, sourceTime: log.time) })
        try RunLoop.run(
            p,
            source: {
                guard let f = try reader.nextFrame() else { return nil }
                if let s = stop, f.properties.sourceIndex > s { return nil }
                log.add(f.properties.sourceIndex, f.pts)
                return f
            }, into: sink, observe: shotColour.see)
        totals.add(p)
        totals.framesDecoded += reader.framesDecoded - decodedBefore
        totals.segmentsMade += sink.made
    }

    /// The work folder of a checkpointed restore: beside the output, on its file system.
    public static func workFolder(for output: String) -> String {
        let url = URL(fileURLWithPath: output).standardizedFileURL
        return url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".filmrestore"
    }

    func runCheckpointed(_ cp: RestoreJob.Checkpoint, progressInterval: Double, progress: ((RestoreProgress) -> Void)?)
        throws -> RestoreSummary
    {
        let began = Date()
        let work = Self.workFolder(for: job.output)
        let fm = FileManager.default
        if fm.fileExists(atPath: work) && !cp.resume {
            try refuseInterruptedRun(in: work)
            try? fm.removeItem(atPath: work)
        }
        let recipe = try self.recipe()
        let store = try SegmentStore(dir: work, fingerprint: recipe.fingerprint, codec: encoder.codec)
        store.removePartials()
        try writeJSON(recipe, to: work + "/recipe.json")
        let output = try OutputFile(path: job.output, inputs: job.inputs, force: job.force, temporaryDirectory: work)
        // What an interrupted run left: done segments of this recipe, chained from the film's start.
        let (initial, notes) = Self.leftovers(in: store)
        var done = initial
        let seconds = Rational(parsing: String(format: "%.3f", max(cp.segmentSeconds, 0.001)))!
        var totals = RunTotals()
        let counter = FrameCounter()
        var chain: [SegmentRecord] = []
        counter.add(Self.chain(done).reduce(0) { $0 + $1.frames })
        let timer = progressTimer(every: progressInterval, since: began, framesDone: { counter.value }, progress)
        defer { timer?.cancel() }
        do {
            var first = true
            while true {
                chain = Self.chain(done)
                if chain.last.map({ $0.end == nil }) ?? false { break }
                // A gap after the chain: made up to the next done segment, or to the end.
                let position = chain.last?.end
                let after = done.filter { ($0.start?.index ?? 0) > (position?.index ?? -1) }.min {
                    $0.start!.index < $1.start!.index
                }
                let stretch = Stretch(
                    start: position, end: after?.start, minSeconds: seconds, maxSeconds: seconds * 6,
                    name: { b in String(format: "part-%09d", b?.index ?? 0) })
                try run(
                    stretch: stretch, nodes: first ? nodes : try freshNodes(), store: store, counter: counter,
                    totals: &totals)
                first = false
                done = store.names.compactMap {
                    if case .done(let r) = store.state($0, verifyHash: false) { return r } else { return nil }
                }
                guard Self.chain(done).count > chain.count else {
                    throw RestoreError.output(
                        "internal: the segments made do not continue the film from \(position?.time.doubleValue ?? 0) s"
                    )
                }
            }
        } catch {
            // Finished segments stay for --resume; a folder with none goes.
            let kept = store.names.count
            if kept == 0 { try? fm.removeItem(atPath: work) }
            let e = error as? RestoreError ?? .stageFailed(stage: "restore", underlying: error)
            throw kept == 0 ? e : RestoreError.resumable(e, kept: kept, folder: work)
        }
        if chain.allSatisfy({ $0.frames == 0 }) {
            try? fm.removeItem(atPath: work)
            throw noFrames()
        }
        let joined: SegmentJoiner.Report
        do {
            joined = try Self.join(
                chain, in: work, into: output, outputName: job.output, source: job.input,
                startOffset: reader.startOffset, metadata: recipe.metadata, rate: outputStream.frameRate)
        } catch {
            // The segments are sound: once the cause is mended, --resume only joins them.
            let e = error as? RestoreError ?? .output("\(error)")
            throw RestoreError.resumable(e, kept: store.names.count, folder: work)
        }
        try? fm.removeItem(atPath: work)
        timer?.cancel()
        return finished(
            since: began, written: chain.reduce(0) { $0 + $1.frames }, decoded: totals.framesDecoded,
            progress: progress, totals: totals, copied: joined.copiedStreams, notes: joined.skippedStreams + notes,
            reused: chain.filter { initial.contains($0) })
    }

    /// The done segments an interrupted run left in `store`; segments of another recipe and damaged ones are
    /// removed (to be made again), with a note saying so.
    static func leftovers(in store: SegmentStore) -> (done: [SegmentRecord], notes: [String]) {
        var done: [SegmentRecord] = [], notes: [String] = []
        var stale = 0
        for n in store.names {
            switch store.state(n) {
            case .done(let r): done.append(r)
            case .stale:
                stale += 1
                store.remove(n)
            case .damaged(let why):
                notes.append("segment \(n) is damaged (\(why)): made again")
                store.remove(n)
            case .missing: break
            }
        }
        if stale > 0 {
            notes.append(
                "\(stale) segment(s) of an earlier run with another preset, model, input or version: made again")
        }
        return (done, notes)
    }

    /// The done segments that follow each other from the film's start.
    static func chain(_ done: [SegmentRecord]) -> [SegmentRecord] {
        var out: [SegmentRecord] = []
        var p: Boundary? = nil
        while let r = done.first(where: { $0.start == p }) {
            out.append(r)
            guard let e = r.end else { break }
            p = e
        }
        return out
    }

    /// Joins the segments of `chain` (files in `dir`) into `out` with the source's sound, checks the
    /// result against the markers (and the frame count, when one is expected), and commits it; on
    /// any failure nothing is left.
    static func join(
        _ chain: [SegmentRecord], in dir: String, into out: OutputFile, outputName: String, source: String,
        startOffset: Rational, metadata: [String: String], rate: Rational?, expectedFrames: Int? = nil,
        shift: Rational = .zero, span: Rational? = nil
    ) throws -> SegmentJoiner.Report {
        // A part: every time moved back by `shift` (its first frame's), the sound cut to `span`.
        let chain = chain.map { r in
            var m = r
            m.firstPts = r.firstPts.map { $0 - shift }
            m.endPts = r.endPts.map { $0 - shift }
            return m
        }
        let files = chain.compactMap { r in r.file.map { (dir + "/" + $0, r.firstPts) } }
        do {
            let joined = try SegmentJoiner.join(
                segments: files, to: out.temporaryPath, containerFor: outputName, copyFrom: source,
                startOffset: startOffset + shift, span: span, metadata: metadata,
                colorTags: chain.first { $0.colorTags != nil }?.colorTags)
            try verify(chain: chain, joined: joined, rate: rate)
            let frames = chain.reduce(0) { $0 + $1.frames }
            if let e = expectedFrames, abs(frames - e) > 1 {
                throw RestoreError.output("assembly: \(frames) frames, \(e) expected for the film's duration")
            }
            try out.commit()
            return joined
        } catch {
            out.discard()
            throw error
        }
    }

    /// Checks the joined file against the segments' markers: each segment's frames all arrived and
    /// span the times recorded, and each segment starts where the one before ended. For a constant
    /// output rate this is exact in the output's own time base (a frame slot of 1/rate, where the
    /// writer puts each frame at its timestamp rounded): the next segment's first slot is the one
    /// after the previous segment's last. Timestamps themselves are compared to no finer than that:
    /// a source's clock (Matroska's 1 ms, MPEG-TS's 90 kHz) rounds frame times and durations.
    static func verify(chain: [SegmentRecord], joined: SegmentJoiner.Report, rate: Rational?) throws {
        let withFrames = chain.filter { $0.frames > 0 }
        guard withFrames.count == joined.segments.count else {
            throw RestoreError.output(
                "assembly: \(joined.segments.count) segment files joined, \(withFrames.count) expected")
        }
        var previous: SegmentRecord? = nil
        for (r, j) in zip(withFrames, joined.segments) {
            let name = (j.path as NSString).lastPathComponent
            guard r.frames == j.frames else {
                throw RestoreError.output("assembly: \(name) holds \(j.frames) frames, \(r.frames) were written")
            }
            if let a = r.firstPts, let b = j.firstPts,
                abs((a - b).doubleValue) > 0.0005 + (rate.map { 0.5 / $0.doubleValue } ?? 0)
            {
                throw RestoreError.output(
                    "assembly: \(name) starts at \(b.doubleValue) s, written at \(a.doubleValue) s")
            }
            if let p = previous, let pe = p.endPts, let first = r.firstPts {
                if let q = rate, let pf = p.firstPts {
                    let expected = (pf * q).rounded + Int64(p.frames), slot = (first * q).rounded
                    if slot != expected {
                        throw RestoreError.output(
                            "assembly: a gap or overlap before \(name): the segment before ends at frame \(expected) (\(pe.doubleValue) s), it starts at frame \(slot) (\(first.doubleValue) s) of 1/\(q) s"
                        )
                    }
                } else if first < pe - Rational(1, 2000) {
                    throw RestoreError.output(
                        "assembly: \(name) overlaps the segment before (\(first.doubleValue) s < \(pe.doubleValue) s)")
                }
            }
            previous = r
        }
    }
}

/// A stretch of the film written into segment files of a `SegmentStore`: the output frames inside the
/// stretch, a new segment begun at a scene cut once the current one holds its minimum time (mid-shot past
/// its maximum), each segment committed to the store with its record when it closes.
final class SegmentSink: FrameSink {
    /// The segment being written.
    final class Open {
        let name: String, start: Boundary?, partial: String, began = Date()
        var writer: MediaWriter?
        var frames = 0, counted = 0
        var firstPts: Rational?, endPts: Rational?
        init(_ start: Boundary?, _ stretch: Restorer.Stretch, _ store: SegmentStore) {
            self.start = start
            name = stretch.name(start)
            partial = store.partialPath(name)
        }
    }
    let stretch: Restorer.Stretch, store: SegmentStore, counter: FrameCounter
    let newWriter: (String) throws -> MediaWriter
    /// The boundary a frame starts (with its context's start).
    let boundary: (Frame) throws -> Boundary
    private var current: Open
    /// Segments committed.
    private(set) var made = 0

    init(
        stretch: Restorer.Stretch, store: SegmentStore, counter: FrameCounter,
        newWriter: @escaping (String) throws -> MediaWriter, boundary: @escaping (Frame) throws -> Boundary
    ) {
        (self.stretch, self.store, self.counter, self.newWriter, self.boundary) =
            (stretch, store, counter, newWriter, boundary)
        current = Open(stretch.start, stretch, store)
    }

    func write(_ f: Frame) throws {
        if let s = stretch.start, f.pts < s.time { return }
        if let e = stretch.end, f.pts >= e.time { return }
        if let minS = stretch.minSeconds, let began = current.firstPts, current.frames > 0 {
            let held = f.pts - began
            if held >= minS && (f.properties.sceneCut || held >= (stretch.maxSeconds ?? minS * 6))
                && f.properties.sourceIndex > (current.start?.index ?? 0)
            {
                let b = try boundary(f)
                try close(current, b)
                current = Open(b, stretch, store)
            }
        }
        if current.writer == nil { current.writer = try newWriter(current.partial) }
        try current.writer!.write(f)
        current.frames += 1
        if current.firstPts == nil { current.firstPts = f.pts }
        current.endPts = f.pts + f.duration
        // Progress counts what the encoder has given back, so the ETA includes its drain.
        counter.add(current.writer!.packetsMuxed - current.counted)
        current.counted = current.writer!.packetsMuxed
    }

    func commit() throws {
        defer { unlink(current.partial) }
        try close(current, stretch.end)
    }

    func discard() { unlink(current.partial) }

    private func close(_ seg: Open, _ end: Boundary?) throws {
        try seg.writer?.finish()
        if let w = seg.writer {
            counter.add(w.packetsMuxed - seg.counted)
            seg.counted = w.packetsMuxed
        }
        let r = SegmentRecord(
            fingerprint: store.fingerprint, start: seg.start, end: end, file: nil, bytes: nil, sha256: nil,
            frames: seg.frames, firstPts: seg.firstPts, endPts: seg.endPts,
            seconds: Date().timeIntervalSince(seg.began),
            colorTags: seg.writer?.colorTags)
        try store.commit(seg.name, partial: seg.writer == nil ? nil : seg.partial, record: r)
        made += 1
    }
}
