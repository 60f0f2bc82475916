import Foundation
import FilmCore
import MediaIO

/// A film split into segments that can be restored anywhere (a Slurm array task or a Kubernetes
/// indexed pod each), then joined by `assemble` without re-encoding. Written by `plan`.
public struct JobFile: Codable, Sendable {
    public struct Segment: Codable, Equatable, Sendable {
        public var index: Int
        /// nil: from the film's first frame.
        public var start: Boundary?
        /// nil: to the film's end.
        public var end: Boundary?
        /// The segment starts at a scene cut (every stage restarts there, so the joined output equals
        /// a single pass exactly); otherwise mid-shot, where stages with memory of the whole shot
        /// (colorize's stability) restart.
        public var startsAtCut: Bool
    }
    public struct Context: Codable, Equatable, Sendable {
        public var past: Int, future: Int
    }
    /// A job for a part of the film (`plan --start/--duration/--frames`): the source times of its
    /// first frame and of the end (nil: to the film's end). The assembled part starts at 0, its
    /// sound cut alike.
    public struct Part: Codable, Equatable, Sendable {
        public var start: Rational
        public var end: Rational?
    }

    public var format = JobFile.formatName
    public var recipe: Recipe
    public var fingerprint: String
    public var context: Context
    public var sourceFrames: Int
    public var sourceDuration: Rational
    public var outputRate: Rational?
    /// The rate a picture-sequence input was planned at (`--input-rate`), used by every segment; nil: its
    /// header's, else 24.
    public var inputRate: Rational? = nil
    public var expectedFrames: Int?
    /// Relative to the job file's folder unless absolute.
    public var segmentsDir: String
    public var segments: [Segment]
    /// Set for a part of the film; nil for the whole film.
    public var part: Part? = nil

    public static let formatName = "filmrestore-job/1"

    public static func segmentName(_ i: Int) -> String { String(format: "segment-%05d", i) }

    public static func load(_ path: String) throws -> JobFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RestoreError.input("job file \(path) does not exist or cannot be read")
        }
        let job: JobFile
        do { job = try JSONDecoder().decode(JobFile.self, from: data) } catch {
            throw RestoreError.input("\(path) is not a filmrestore job file (\(error.localizedDescription))")
        }
        guard job.format == formatName else {
            throw RestoreError.input("\(path): job format \(job.format), this version reads \(formatName)")
        }
        return job
    }

    public func save(_ path: String, force: Bool = true, inputs: [String] = []) throws {
        try writeJSON(self, to: path, force: force, inputs: inputs)
    }

    /// The segment folder, for a job file at `jobPath`.
    public func segmentsFolder(jobPath: String) -> String {
        if segmentsDir.hasPrefix("/") { return segmentsDir }
        return URL(fileURLWithPath: jobPath).standardizedFileURL.deletingLastPathComponent().path + "/" + segmentsDir
    }

    /// The input as the job names it, or `override` (the same film mounted elsewhere).
    public func inputPath(jobPath: String, override: String?) -> String {
        if let o = override { return o }
        let p = recipe.input.path
        if p.hasPrefix("/") { return p }
        return URL(fileURLWithPath: jobPath).standardizedFileURL.deletingLastPathComponent().path + "/" + p
    }

    /// The preset the segments run: the job's stages exactly, its encoder.
    public var preset: Preset {
        var p = Preset(
            name: recipe.preset, description: "from a job file",
            stages: recipe.stages.map { .init(name: $0.name, options: $0.options) })
        p.encoder = recipe.encoder
        return p
    }
}

extension Restorer {
    /// Splits the film into segments for a job file: the source is decoded once and its shots are
    /// found (the stages before and including `scenecut`); each segment boundary is the scene cut
    /// nearest its ideal place (within half a segment), or, in a shot longer than that, the frame
    /// nearest it.
    public func plan(segments count: Int?, segmentSeconds: Double?, segmentsDir: String) throws -> JobFile {
        guard let cutAt = entries.firstIndex(where: { StageRegistry.spec(named: $0.name)?.has(.findsShots) == true })
        else {
            throw RestoreError.preset("cannot plan: the stages have no shot finder (scenecut)")
        }
        let front = try entries[...cutAt].map { try Self.makeNode($0, modelsDir: job.modelsDir) }
        let reader = self.reader
        try reader.rewind()
        // Every decoded frame's time by source index (a part decodes its context around it too),
        // and the frames to split: the film's, or the part's.
        var timeOf: [Int: Rational] = [:], times: [Rational] = [], indices: [Int] = []
        var end = Rational.zero
        let window = try job.range.map { try rangeWindow($0) }
        let inside: (Frame) -> Bool = { f in
            guard let w = window else { return true }
            return f.pts >= w.from && (w.to.map { f.pts < $0 } ?? true)
        }
        var after: Boundary? = nil
        var firstAfter: (index: Int, time: Rational)? = nil
        let p = Pipeline(
            nodes: front, capacity: job.queueCapacity, frameBytes: Array(queueFrameBytes.prefix(front.count + 1)))
        use(p)
        let source = windowedSource(window)
        let shots = ShotSink(inside: inside)
        try RunLoop.run(
            p,
            source: {
                // The decode step runs alone: no other thread touches these.
                guard let f = try source() else { return nil }
                timeOf[f.properties.sourceIndex] = f.pts
                if inside(f) {
                    times.append(f.pts)
                    indices.append(f.properties.sourceIndex)
                    end = max(end, f.pts + f.duration)
                } else if window != nil, f.pts >= window!.from, firstAfter == nil {
                    firstAfter = (f.properties.sourceIndex, f.pts)
                }
                return f
            }, into: shots)
        let cuts = shots.cuts
        guard let startTime = times.first else {
            throw RestoreError.input(
                window == nil ? "\(job.input) has no video frames" : "\(job.input): no frame in the range asked for")
        }
        let lookup: (Int) -> Rational? = { timeOf[$0] }
        if let a = firstAfter { after = try boundary(index: a.index, time: a.time, sourceTime: lookup) }
        let duration = end - startTime
        let n = max(
            1, min(count ?? Int((duration.doubleValue / max(segmentSeconds ?? 60, 0.001)).rounded(.up)), times.count))
        let segLength = duration.doubleValue / Double(n)
        let t = times.map { ($0 - startTime).doubleValue }  // increasing: the reader makes timestamps increase
        let position = Dictionary(uniqueKeysWithValues: indices.enumerated().map { ($1, $0) })
        let bounds = Self.segmentStarts(
            times: t, cuts: cuts.compactMap { position[$0] }, segments: n, length: segLength)
        let boundaries = try bounds.map {
            try boundary(index: indices[$0.index], time: times[$0.index], sourceTime: lookup)
        }
        // A part begins at its first frame (with the context before it) and ends before the first frame after it.
        let first = window == nil ? nil : try boundary(index: indices[0], time: startTime, sourceTime: lookup)
        var segs: [JobFile.Segment] = []
        for i in 0...boundaries.count {
            segs.append(
                .init(
                    index: i, start: i == 0 ? first : boundaries[i - 1],
                    end: i < boundaries.count ? boundaries[i] : after,
                    startsAtCut: i == 0 || bounds[i - 1].cut))
        }
        let outRate = outputStream.frameRate
        let expected =
            window == nil
            ? outputStream.frameCount
            : outRate.flatMap { r in reader.stream.frameRate == r ? times.count : nil }
        let r = try recipe()
        return JobFile(
            recipe: r, fingerprint: r.fingerprint, context: .init(past: context.past, future: context.future),
            sourceFrames: times.count, sourceDuration: duration, outputRate: outRate, inputRate: job.inputRate,
            expectedFrames: expected, segmentsDir: segmentsDir, segments: segs,
            part: window.map { _ in JobFile.Part(start: startTime, end: after?.time) })
    }

    /// Where each of `segments` segments after the first starts, as positions in `times` (seconds from the start,
    /// increasing): the scene cut (`cuts`: positions) nearest its ideal place within half a segment, else the frame
    /// nearest it.
    static func segmentStarts(times t: [Double], cuts: [Int], segments n: Int, length segLength: Double) -> [(
        index: Int, cut: Bool
    )] {
        var bounds: [(index: Int, cut: Bool)] = []
        let cutSet = Array(Set(cuts)).filter { $0 > 0 }.sorted()
        for k in 1..<max(n, 1) {
            let ideal = segLength * Double(k)
            let previous = bounds.last?.index ?? 0
            let nearCut = cutSet.filter { $0 > previous && abs(t[$0] - ideal) <= segLength / 2 }.min {
                abs(t[$0] - ideal) < abs(t[$1] - ideal)
            }
            if let c = nearCut {
                bounds.append((c, true))
                continue
            }
            // The frame nearest the ideal time after the previous boundary (binary search).
            var lo = previous + 1, hi = t.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if t[mid] < ideal { lo = mid + 1 } else { hi = mid }
            }
            if lo > previous + 1 && (lo == t.count || ideal - t[lo - 1] <= t[lo] - ideal) { lo -= 1 }
            if lo < t.count { bounds.append((lo, false)) }
        }
        return bounds
    }

    /// Restores one segment of a job into its folder (nothing when it is already done).
    /// Returns false when it was already done.
    @discardableResult
    public func runSegment(_ i: Int, of job: JobFile, folder: String) throws -> Bool {
        guard job.segments.indices.contains(i) else {
            throw RestoreError.input("the job has segments 0…\(job.segments.count - 1), not \(i)")
        }
        let r = try recipe()
        if r.fingerprint != job.fingerprint {
            throw RestoreError.input("this machine cannot make the job's segments: \(Self.differences(r, job.recipe))")
        }
        let store = try SegmentStore(dir: folder, fingerprint: job.fingerprint, codec: job.recipe.encoder.codec)
        let name = JobFile.segmentName(i)
        let seg = job.segments[i]
        if case .done(let made) = store.state(name), made.start == seg.start, made.end == seg.end { return false }
        store.remove(name)
        var totals = RunTotals()
        try run(
            stretch: Stretch(start: seg.start, end: seg.end, minSeconds: nil, maxSeconds: nil, name: { _ in name }),
            nodes: nodes, store: store, counter: FrameCounter(), totals: &totals)
        return true
    }

    /// What differs between the recipe here and a job's, in words.
    static func differences(_ here: Recipe, _ job: Recipe) -> String {
        var d: [String] = []
        if here.tool != job.tool { d.append("filmrestore \(here.tool) here, \(job.tool) in the job") }
        if here.input.size != job.input.size || here.input.sampledSHA256 != job.input.sampledSHA256 {
            d.append("the input is not the planned file (size or hash differ)")
        }
        if here.stages != job.stages { d.append("the stages differ") }
        if here.encoder != job.encoder { d.append("the encoder settings differ") }
        let a = here.files.map { "\($0.stage):\(($0.path as NSString).lastPathComponent):\($0.sha256)" }
        let b = job.files.map { "\($0.stage):\(($0.path as NSString).lastPathComponent):\($0.sha256)" }
        if a != b {
            let missing = job.files.filter { f in !here.files.contains { $0.sha256 == f.sha256 } }.map {
                ($0.path as NSString).lastPathComponent
            }
            d.append(
                "model files differ"
                    + (missing.isEmpty ? "" : " (\(missing.joined(separator: ", ")) not found with the planned hash)"))
        }
        return d.isEmpty ? "the recipe differs" : d.joined(separator: "; ")
    }
}

/// Joins a job's segments into one file.
public enum Assembler {
    public struct Result {
        public var frames: Int
        public var duration: Rational?
        public var copiedStreams: [Int]
        public var skippedStreams: [String]
    }

    public static func assemble(
        job: JobFile, jobPath: String, output: String, input override: String? = nil, force: Bool
    ) throws -> Result {
        let input = job.inputPath(jobPath: jobPath, override: override)
        guard FileManager.default.fileExists(atPath: input) else {
            throw RestoreError.input("input \(input) does not exist (give it with --input)")
        }
        let id = try Recipe.identify(input: input)
        guard id.size == job.recipe.input.size, id.sampledSHA256 == job.recipe.input.sampledSHA256 else {
            throw RestoreError.input("\(input) is not the file the job was planned on (size or hash differ)")
        }
        let lock = try OutputLock(output: output)
        defer { lock.release() }
        OutputFile.removeStaleTemporaries(of: output)
        let store = try SegmentStore(
            dir: job.segmentsFolder(jobPath: jobPath), fingerprint: job.fingerprint, codec: job.recipe.encoder.codec)
        var chain: [SegmentRecord] = [], problems: [String] = []
        for s in job.segments {
            switch store.state(JobFile.segmentName(s.index)) {
            case .done(let r):
                if r.start != s.start || r.end != s.end {
                    problems.append("\(s.index) (made for other boundaries)")
                } else {
                    chain.append(r)
                }
            case .missing: problems.append("\(s.index) (not done)")
            case .stale: problems.append("\(s.index) (made for another recipe)")
            case .damaged(let why): problems.append("\(s.index) (damaged: \(why))")
            }
        }
        if !problems.isEmpty {
            throw RestoreError.input(
                "segments not ready: \(problems.prefix(8).joined(separator: ", "))\(problems.count > 8 ? ", …" : ""); run `filmrestore restore --job \(jobPath) --segment N` for each"
            )
        }
        let segmentFiles = chain.compactMap { $0.file.map { store.dir + "/" + $0 } }
        let out = try OutputFile(path: output, inputs: [input, jobPath] + segmentFiles, force: force)
        let startOffset = try MediaReader(path: input).startOffset
        // A part starts at 0: its frames and its sound are moved back by its first frame's time.
        let shift = job.part == nil ? .zero : chain.first { $0.frames > 0 }?.firstPts ?? .zero
        let joined = try Restorer.join(
            chain, in: store.dir, into: out, outputName: output, source: input, startOffset: startOffset,
            metadata: job.part == nil
                ? job.recipe.metadata
                : job.recipe.metadata.merging([Recipe.partOriginTag: shift.description]) { a, _ in a },
            rate: job.outputRate, expectedFrames: job.expectedFrames,
            shift: shift, span: job.part.map { _ in chain.last?.endPts.map { $0 - shift } ?? Rational(0) })
        let dur = chain.last?.endPts.map { end in end - (chain.first?.firstPts ?? .zero) }
        return Result(
            frames: chain.reduce(0) { $0 + $1.frames }, duration: dur, copiedStreams: joined.copiedStreams,
            skippedStreams: joined.skippedStreams)
    }
}

/// The shot finder's output during a job's plan: the source indices where shots begin (inside the part).
final class ShotSink: FrameSink {
    let inside: (Frame) -> Bool
    private(set) var cuts: [Int] = []
    init(inside: @escaping (Frame) -> Bool) { self.inside = inside }
    func write(_ f: Frame) throws {
        if f.properties.sceneCut && f.properties.sourceIndex > 0 && inside(f) { cuts.append(f.properties.sourceIndex) }
    }
}
