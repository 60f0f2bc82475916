import Foundation
import FilmCore
import MediaIO
import TensorCore

/// What to restore, how, and where.
public struct RestoreJob {
    public var input: String
    /// The rate a picture-sequence input is shown at (`--input-rate`); nil: its header's, else 24.
    public var inputRate: Rational?
    public var output: String
    public var preset: Preset
    /// Overrides the output size (every `fit` stage; adds one if the preset has none).
    public var size: (width: Int, height: Int)?
    /// Overrides the output rate (every `fps`/`interpolate` stage; adds `fps` if there is none).
    public var fps: Rational?
    public var codec: String?
    public var crf: Int?
    /// Bits per second; replaces CRF.
    public var bitrate: Int?
    public var encoderPreset: String?
    public var force = false
    /// Other files the command reads (a preset file, a statistics file): never written over.
    public var readFiles: [String] = []
    /// Every file the run reads: no output may be one of them.
    public var inputs: [String] { [input] + readFiles }
    public var queueCapacity = 2
    /// The folder model files are looked for in first (`--models-dir`); nil: the default search.
    public var modelsDir: String?
    /// Stages inserted after the preset's own (diagnostics and tests).
    public var extraStages: [Pipeline.Node] = []
    /// The preset's stages are final (a job file's): no scene-cut or deinterlace insertion.
    public var stagesResolved = false
    /// Write the output as segments in a work folder beside it, joined at the end, so that an
    /// interrupted run can be resumed (nil: one pass straight into the output).
    public var checkpoint: Checkpoint?
    /// Restore only this part of the film (a preview): one pass, whatever `checkpoint` says.
    public var range: TimeRange?

    /// Part of a film: from `start` (seconds of the source), for `duration` seconds or `frames`
    /// output frames (neither: to the end). Temporal stages see the frames around it that they
    /// would in a whole run, so the part equals the same frames of a full restore; the output
    /// starts at 0 (its first frame), with the sound cut to the same span.
    public struct TimeRange: Equatable {
        public var start: Rational
        public var duration: Rational?
        public var frames: Int?
        public init(start: Rational = .zero, duration: Rational? = nil, frames: Int? = nil) {
            self.start = start
            self.duration = duration
            self.frames = frames
        }
    }

    public struct Checkpoint {
        /// A new segment starts at the first scene cut this many seconds (of output) into the
        /// current one, or mid-shot after six times as long.
        public var segmentSeconds: Double
        /// Reuse the segments of an interrupted run of the same recipe.
        public var resume: Bool
        public init(segmentSeconds: Double = 10, resume: Bool = false) {
            self.segmentSeconds = segmentSeconds
            self.resume = resume
        }
    }

    public init(input: String, output: String, preset: Preset) {
        self.input = input
        self.output = output
        self.preset = preset
    }
}

/// A snapshot of a running restore, for progress display.
public struct RestoreProgress {
    public var framesDone: Int
    public var framesTotal: Int?
    public var elapsed: Double
    /// Each step's name and its frames per second of busy time.
    public var stepRates: [(name: String, fps: Double)]
    public var speed: Double { elapsed > 0 ? Double(framesDone) / elapsed : 0 }
    public var eta: Double? {
        guard let t = framesTotal, framesDone > 0, t > framesDone else { return nil }
        return Double(t - framesDone) / max(speed, 1e-9)
    }
}

/// One pipeline step's totals over a run.
public struct StepTime: Codable, Sendable, Equatable {
    public var name: String
    /// Seconds spent working (not waiting on queues).
    public var seconds: Double
    /// Frames it took in or gave out, whichever is more.
    public var frames: Int
    /// Seconds it waited for a frame from the step before, and for room in the queue to the step after
    /// (nil in records written before these were kept).
    public var starved: Double?, blocked: Double?
    /// Threads that worked for it, and the most workers one of its matrix products was split over
    /// (nil in older records; the encoder's own threads inside libavcodec are not seen).
    public var threads: Int?, blasThreads: Int?
    /// The size of the frames it gives, "WxH" (nil in older records).
    public var size: String?
    public var framesPerSecond: Double { seconds > 0 ? Double(frames) / seconds : 0 }
    public init(name: String, seconds: Double, frames: Int, starved: Double? = nil, blocked: Double? = nil) {
        self.name = name
        self.seconds = seconds
        self.frames = frames
        self.starved = starved
        self.blocked = blocked
    }
    init(_ s: StepStats) {
        self.init(
            name: s.name, seconds: s.busySeconds, frames: max(s.framesIn, s.framesOut), starved: s.starvedSeconds,
            blocked: s.blockedSeconds)
        threads = s.threads
        blasThreads = s.blasThreads
    }
}

public struct RestoreSummary {
    public var input: StreamInfo
    public var output: StreamInfo
    public var framesDecoded: Int
    public var framesWritten: Int
    public var seconds: Double
    public var queueHighWater: [Int]
    public var queueCapacity: Int
    public var copiedStreams: [Int]
    public var skippedStreams: [String]
    /// Each step's busy time and the frames it handled (decode, the stages, encode).
    public var steps: [StepTime]
    public var corruptPackets: Int
    /// Set when the input is damaged (frames missing at its end, corrupt packets, a read error):
    /// the frames that decoded were restored and written, but the output is not the whole film.
    public var inputDamage: InputDamage?
    /// Segments (and their frames) taken from an interrupted run instead of being made again.
    public var segmentsReused = 0
    public var framesReused = 0
    public var segmentsMade = 0
    /// The colour's certainty by shot, over the frames made in this run (empty without `colorize`, or with a
    /// colorizer that cannot tell).
    public var shotColour: [ShotColour] = []
}

/// What a damaged input lost: the output holds every frame that decoded, and this says how much
/// that is of what the file declares.
public struct InputDamage: Codable, Sendable, Equatable {
    public var framesDecoded: Int
    /// The frame count the container declares for the video stream (nil: it declares none).
    public var framesDeclared: Int?
    public var corruptPackets: Int
    /// The read error that ended decoding early, if any.
    public var readError: String?
    /// Where the streams stopped and where the container says the film ends (seconds), when the
    /// damage is a film cut short.
    public var endedAt: Double?, declaredEnd: Double?

    public init(
        framesDecoded: Int, framesDeclared: Int?, corruptPackets: Int, readError: String?, endedAt: Double? = nil,
        declaredEnd: Double? = nil
    ) {
        self.framesDecoded = framesDecoded
        self.framesDeclared = framesDeclared
        self.corruptPackets = corruptPackets
        self.readError = readError
        self.endedAt = endedAt
        self.declaredEnd = declaredEnd
    }

    /// "input damaged: N of M frames decoded (the film stops at E s of the D s the file declares), K
    /// packets corrupt".
    public var summary: String {
        var frames = "\(framesDecoded) of \(framesDeclared.map(String.init) ?? "an unknown number of") frames decoded"
        if let e = endedAt, let d = declaredEnd {
            frames += String(format: " (the film stops at %.2f s of the %.2f s the file declares)", e, d)
        }
        return "input damaged: \(frames), \(corruptPackets) packet\(corruptPackets == 1 ? "" : "s") corrupt"
            + (readError.map { "; reading stopped early (\($0))" } ?? "")
    }

    /// The exit status of a run whose output was written from a damaged input.
    public static let exitStatus: Int32 = 3

    /// What `reader` found, nil for a sound input. Frames missing at the end are counted only once
    /// the reader reached the end of the file. A frame count stored in the file must be met to
    /// within one frame; otherwise the film is judged by time, so a variable-rate film with a gap
    /// between frames is whole: it is cut short when every stream (sound included) stops more than
    /// half a second (and three frames) before the end the container declares.
    public static func of(_ reader: MediaReader) -> InputDamage? {
        var short = false
        var endedAt: Rational?
        if reader.reachedEnd {
            if let d = reader.declaredFrames, d.exact {
                short = reader.framesSeen < d.count - 1
            } else if let declared = reader.declaredEnd {
                let end = [reader.decodedEnd, reader.packetsEnd].compactMap { $0 }.max() ?? .zero
                let frame = (reader.stream.frameRate ?? reader.stream.averageRate).reciprocal
                let tolerance = max(Rational(1, 2), frame * 3)
                if end + tolerance < declared {
                    short = true
                    endedAt = end
                }
            }
        }
        guard short || reader.corruptPackets > 0 || reader.readError != nil else { return nil }
        return InputDamage(
            framesDecoded: reader.framesSeen, framesDeclared: reader.declaredFrames?.count,
            corruptPackets: reader.corruptPackets, readError: reader.readError, endedAt: endedAt?.doubleValue,
            declaredEnd: endedAt == nil ? nil : reader.declaredEnd?.doubleValue)
    }
}

/// Runs one restore: decode → stages → encode, with the sound copied, into a temporary file that is
/// renamed over the output at the end.
public final class Restorer {
    public let job: RestoreJob
    public let reader: MediaReader
    public let nodes: [Pipeline.Node]
    /// The stages as run: the preset's, with overrides and automatic insertions.
    public let entries: [Preset.StageEntry]
    /// The weight files each entry's stage read.
    public let weightFiles: [[String]]
    public let outputStream: StreamInfo
    public let encoder: EncoderSettings
    /// The pipeline of the current stretch (a checkpointed run makes one per stretch of segments),
    /// read by `cancel` and the progress timer from other threads.
    public var pipeline: Pipeline { currentPipeline.current }
    private let currentPipeline: Locked<Pipeline>
    /// What the user should know before the run (an odd size padded for the encoder).
    public let notes: [String]
    /// The picture sequence the input names (a folder or a printf pattern), nil for a file.
    public let sequence: ImageSequence?
    /// The picture sequence the output names (`out/frame_%06d.tif`), nil for a file.
    public let sequenceOutput: SequenceOutput?
    /// The source's first-frame timecode when it is valid at the source's rate (an invalid one is
    /// dropped, with a note).
    public let sourceTimecode: String?
    /// The colour's certainty by shot, tallied from the frames of the run as they reach the output.
    let shotColour = ShotColourTally()
    /// No stage changes the picture and the encoder holds the source's pixel format (FFV1): the
    /// decoded pictures are written as they are, so the master decodes to exactly the source.
    public let keepsSourcePictures: Bool
    /// The size of the frames each stage gives (in the order of `nodes`).
    public let stepSizes: [String]
    /// The size of a frame entering each of the pipeline's queues (see `Pipeline.queueBytes`).
    let queueFrameBytes: [Int]
    /// Frames of source each segment needs before its first frame and after its last, so every
    /// temporal stage sees what it would in one pass: the stages' windows added up, plus the
    /// scene-cut detector's two.
    public let context: TemporalWindow
    /// Cancels the run from any thread: the one value the interrupt handler and the run share.
    public let canceller = RunCanceller()

    /// Checks everything that can be checked before any frame is decoded, so bad input or options
    /// fail at once with one line.
    public init(job: RestoreJob) throws {
        self.job = job
        (sequence, sequenceOutput) = try Self.checkPaths(job)
        let missing = job.preset.unavailableStages
        if !missing.isEmpty {
            let what = missing.map { "\($0) (\(StageRegistry.planned[$0] ?? ""))" }
            throw RestoreError.stageUnavailable(preset: job.preset.name, stages: what)
        }
        var entries = job.preset.stages
        if let s = job.size { Self.setRole(\.sizeOption, to: "\(s.width)x\(s.height)", in: &entries) }
        if let r = job.fps { Self.setRole(\.rateOption, to: r.description, in: &entries) }
        do { reader = try MediaReader(path: job.input, sequenceRate: job.inputRate) } catch let e as MediaError {
            throw RestoreError.input("cannot read \(job.input): \(Self.shortReason(e, path: job.input))")
        }
        reader.frameNames = sequence?.files.map { ($0 as NSString).lastPathComponent }
        guard reader.stream.width > 0, reader.stream.height > 0, reader.stream.width <= 65536,
            reader.stream.height <= 65536
        else {
            throw RestoreError.input(
                "cannot read \(sequence.map { $0.files[0] } ?? job.input): its pictures declare a size of \(reader.stream.width)x\(reader.stream.height) (a damaged header)"
            )
        }
        if !job.stagesResolved {
            Self.insertAutomaticStages(&entries, interlaced: reader.stream.fieldOrder.isInterlaced)
        }
        self.entries = entries
        var built = try entries.map { try Self.makeNode($0, modelsDir: job.modelsDir) }
        weightFiles = built.map { $0.stage.modelFiles }
        built += job.extraStages
        nodes = built
        context = TemporalWindow(
            past: nodes.reduce(2) { $0 + $1.stage.window.past }, future: nodes.reduce(2) { $0 + $1.stage.window.future }
        )
        // A stage whose working size the output sets is told the first size-setting stage after it.
        for (i, n) in nodes.enumerated() {
            guard let a = n.stage as? OutputAware,
                let t = nodes[(i + 1)...].lazy.compactMap({ $0.stage as? SizeTarget }).first
            else { continue }
            a.aim(at: t)
        }
        var info = reader.stream
        var sizes: [String] = []
        var bytes = [Self.frameBytes(info)]
        for n in nodes {
            info = try n.stage.configure(info)
            sizes.append("\(info.width)x\(info.height)")
            bytes.append(Self.frameBytes(info))
        }
        stepSizes = sizes
        queueFrameBytes = bytes
        for (a, b) in zip(nodes, nodes.dropFirst()) { a.stage.link(next: b.stage) }
        outputStream = info
        let enc: EncoderSettings
        (enc, keepsSourcePictures) = try Self.chooseEncoder(
            job: job, stream: info, reader: reader, sequence: sequence, sequenceOutput: sequenceOutput, nodes: nodes)
        encoder = enc
        try Self.check(encoder: enc, job: job)
        var notes: [String]
        (notes, sourceTimecode) = Self.notes(
            job: job, entries: entries, weightFiles: weightFiles, sequence: sequence, reader: reader)
        if !MediaWriter.isImage(job.output) {
            do {
                if !job.output.isEmpty { try MediaWriter.checkContainer(enc, for: job.output) }
                if let note = try MediaWriter.checkEncoder(enc, stream: info) { notes.append(note) }
            } catch let e as MediaError { throw RestoreError.output("cannot write \(job.output): \(e)") }
        }
        self.notes = notes
        let first = Pipeline(nodes: nodes, capacity: job.queueCapacity, frameBytes: queueFrameBytes)
        currentPipeline = Locked(first)
        canceller.attach(first.canceller)
    }

    /// The encoder: the preset's, or the one `--codec` names (without the preset's settings, which belong to its
    /// codec), a picture sequence's or a still image's; `--crf`, `--bitrate` and `--encoder-preset` over it. A chain
    /// that changes no picture into FFV1 keeps the source's own pictures (the second value).
    static func chooseEncoder(
        job: RestoreJob, stream info: StreamInfo, reader: MediaReader, sequence: ImageSequence?,
        sequenceOutput: SequenceOutput?, nodes: [Pipeline.Node]
    ) throws -> (EncoderSettings, Bool) {
        var enc = job.preset.encoder
        if let c = job.codec {
            // The preset's quality settings belong to its own codec (ffv1 and ProRes take no CRF).
            if c != enc.codec {
                enc.crf = nil
                enc.bitrate = nil
                enc.options = [:]
            }
            enc.codec = c
            enc.pixelFormat = nil
            enc.preset = nil
        }
        if let so = sequenceOutput {
            enc = so.encoder(gray: info.layout == .gray)
        } else if let imageCodec = MediaWriter.imageCodecs[URL(fileURLWithPath: job.output).pathExtension.lowercased()]
        {
            // A still picture out: one frame in, the image format's own encoder, 8 or 16 bits as the source.
            if let n = reader.stream.frameCount, n > 1, job.range?.frames != 1 {
                throw RestoreError.output(
                    "\(job.input) has \(n) frames; a still image output (.\(URL(fileURLWithPath: job.output).pathExtension)) takes one picture: write .mkv, .mp4 or .mov"
                )
            }
            let sourceInfo = reader.info
            let sourceFormat = sourceInfo.bestVideoStream.flatMap { sourceInfo.streams[$0].pixelFormat } ?? ""
            let deep = ["48", "16", "64"].contains { sourceFormat.contains($0) }
            enc = EncoderSettings(codec: imageCodec)
            if imageCodec == "mjpeg" {
                enc.options = ["qscale": "2"]
            } else if !deep {
                enc.pixelFormat = info.layout == .gray ? "gray" : "rgb24"
            }
        }
        if let c = job.crf { enc.crf = c }
        if let b = job.bitrate { enc.bitrate = b }
        if let p = job.encoderPreset { enc.preset = p }
        // A chain that changes no picture (shots found, nothing else) into FFV1 with no other format
        // asked for (a job file's segment asks for the one its plan chose): the source's own
        // pictures, in its own pixel format.
        var keeps = false
        let sourceInfo = reader.info
        let sourceVideo = sourceInfo.bestVideoStream.map { sourceInfo.streams[$0] }
        if let format = sourceVideo?.pixelFormat, sequenceOutput == nil, !MediaWriter.isImage(job.output),
            enc.codec == "ffv1", enc.pixelFormat.map({ $0 == MediaWriter.unJPEG(format) }) ?? true,
            sourceVideo?.rotation == 0,
            info.width == reader.stream.width, info.height == reader.stream.height,
            nodes.allSatisfy({ StageRegistry.spec(named: $0.name)?.has(.analysis) == true }),
            MediaWriter.canKeepDecoded(pixelFormat: format, codec: enc.codec)
        {
            enc.pixelFormat = MediaWriter.unJPEG(format)
            reader.keepDecodedPictures = true
            keeps = true
        }
        if let h = sequence?.header, h.isLog {
            enc.sourceTransfer = "\(h.transferName) (DPX transfer \(h.transfer)): a log scan, not converted"
        }
        return (enc, keeps)
    }

    /// A frame of the stream in memory: planar 32-bit floats, one plane or three.
    static func frameBytes(_ s: StreamInfo) -> Int { s.width * s.height * (s.layout == .gray ? 1 : 3) * 4 }

    /// The input (a file, or a picture sequence) is there and readable; the output may be written (nothing of the
    /// input's, nothing left unasked). Returns the input's picture sequence and the output's, if either is one.
    static func checkPaths(_ job: RestoreJob) throws -> (ImageSequence?, SequenceOutput?) {
        let fm = FileManager.default
        let sequence: ImageSequence?
        do { sequence = try ImageSequence.detect(job.input, rate: job.inputRate) } catch let e as MediaError {
            throw RestoreError.input(e.description)
        }
        if sequence == nil {
            guard fm.fileExists(atPath: job.input) else {
                throw RestoreError.input("input \(job.input) does not exist")
            }
            guard fm.isReadableFile(atPath: job.input) else {
                throw RestoreError.input("input \(job.input) is not readable")
            }
        }
        let sequenceOutput = try SequenceOutput.named(job.output)
        if let so = sequenceOutput {
            try so.checkFolder(inputs: Self.readFolders(job, sequence), force: job.force)
        } else if !job.stagesResolved && !job.output.isEmpty {
            _ = try OutputFile(path: job.output, inputs: job.inputs, force: job.force)
        }
        return (sequence, sequenceOutput)
    }

    /// The queue capacity, and the encoder's CRF and preset options, checked.
    static func check(encoder enc: EncoderSettings, job: RestoreJob) throws {
        guard (1...64).contains(job.queueCapacity) else {
            throw RestoreError.output("--queue-capacity must be 1…64 frames, not \(job.queueCapacity)")
        }
        if let q = enc.crf {
            guard let range = EncoderSettings.crfRange(enc.codec) else {
                throw RestoreError.output(
                    "\(enc.codec) takes no --crf (it is \(enc.codec == "ffv1" ? "lossless" : "set by its profile")); leave it out"
                )
            }
            guard range.contains(q) else {
                throw RestoreError.output(
                    "--crf for \(enc.codec) must be \(range.lowerBound)…\(range.upperBound), not \(q)")
            }
        }
        for (k, v) in enc.options.sorted(by: { $0.key < $1.key }) {
            do { try EncoderSettings.check(option: k, value: v) } catch { throw RestoreError.preset("\(error)") }
        }
    }

    /// What the run notes before it starts (models taken from the shipped copy, the picture sequence read), and
    /// the source's timecode when it is valid (else a note says it is dropped).
    static func notes(
        job: RestoreJob, entries: [Preset.StageEntry], weightFiles: [[String]], sequence: ImageSequence?,
        reader: MediaReader
    ) -> ([String], String?) {
        var notes: [String] = []
        if let dir = job.modelsDir {
            // A model the folder lacks comes from the copy shipped with the tool: said, never silent.
            for (entry, files) in zip(entries, weightFiles) {
                for f in files where !FilePaths.isFolder(dir, atOrAbove: f) {
                    notes.append(
                        "\(entry.name): \((f as NSString).lastPathComponent) is not in --models-dir \(dir): using the copy shipped with the tool, \(f)"
                    )
                }
            }
        }
        if let seq = sequence {
            var line =
                "\(seq.count) pictures from \((seq.files[0] as NSString).lastPathComponent) at \(seq.rate) fps (\(seq.rateSource))"
            if let h = seq.header {
                line +=
                    "; DPX \(h.bitDepth)-bit, transfer \(h.transferName)\(h.timecode.map { ", timecode \($0)" } ?? "")"
                if h.isLog { line += " (a log scan: passed through as it is, not converted)" }
            }
            if let tc = seq.exr?.timecode { line += "; EXR timecode \(tc)" }
            notes.append(line)
        }
        let sourceRate = sequence?.rate ?? reader.stream.frameRate
        if let tc = sequence?.timecode ?? reader.timecode, !Timecode.isValid(tc, rate: sourceRate) {
            notes.append(
                "the source's timecode \(tc) is not a valid timecode\(sourceRate.map { " at \($0) fps" } ?? ""): dropped, the output has none"
            )
            return (notes, nil)
        }
        return (notes, sequence?.timecode ?? reader.timecode)
    }

    /// Makes `p` the running pipeline; a cancel that came before is passed on to it.
    func use(_ p: Pipeline) {
        currentPipeline.withLock { $0 = p }
        canceller.attach(p.canceller)
    }

    static func shortReason(_ e: MediaError, path: String) -> String {
        if case let .ffmpeg(call, _, reason, _) = e {
            if call == "avformat_open_input" || call == "avformat_find_stream_info" {
                return "not a video file FFmpeg can read (\(call): \(reason))"
            }
            return "\(call): \(reason)"
        }
        return e.description.replacingOccurrences(of: "\(path): ", with: "")
    }

    static func makeNode(_ e: Preset.StageEntry, modelsDir: String?) throws -> Pipeline.Node {
        Pipeline.Node(name: e.name, stage: try StageRegistry.make(e.name, text: e.options, modelsDir: modelsDir))
    }

    /// `--size` / `--fps`: sets the option of every stage with the role (`StageTrait.setsSize`,
    /// `.setsRate`), or appends the registry's fallback stage for the role when none has it.
    static func setRole(_ role: KeyPath<StageSpec, String?>, to value: String, in entries: inout [Preset.StageEntry]) {
        var found = false
        for i in entries.indices {
            guard let key = StageRegistry.spec(named: entries[i].name)?[keyPath: role] else { continue }
            entries[i].options[key] = value
            found = true
        }
        if !found, let spec = StageRegistry.fallback(for: role), let key = spec[keyPath: role] {
            entries.append(.init(name: spec.name, options: [key: value]))
        }
    }

    /// Interlaced sources (tape, TV) are made progressive first, unless the chain says how; shots
    /// are found once, on the source frames (after deinterlacing), so every temporal stage after
    /// can reset at cuts.
    static func insertAutomaticStages(_ entries: inout [Preset.StageEntry], interlaced: Bool) {
        func has(_ t: StageTrait) -> Bool { entries.contains { StageRegistry.spec(named: $0.name)?.has(t) == true } }
        if interlaced && !has(.deinterlaces), let d = StageRegistry.first(with: .deinterlaces) {
            entries.insert(.init(name: d.name), at: 0)
        }
        if !has(.findsShots), let s = StageRegistry.first(with: .findsShots) {
            let first = entries.first.flatMap { StageRegistry.spec(named: $0.name) }
            entries.insert(.init(name: s.name), at: first?.has(.deinterlaces) == true ? 1 : 0)
        }
    }

    /// New stages for another run over part of the film (stages keep state between frames).
    func freshNodes() throws -> [Pipeline.Node] {
        try entries.map { try Self.makeNode($0, modelsDir: job.modelsDir) } + job.extraStages
    }

    /// Everything the output depends on, with the input's and every model's hash.
    public func recipe() throws -> Recipe {
        let stages = entries.map { Recipe.StageRecord(name: $0.name, options: $0.options) }
        return Recipe(
            tool: FilmRestoreVersion.string, input: try Recipe.identify(input: job.input), preset: job.preset.name,
            stages: stages, encoder: encoder,
            files: try Recipe.files(stages: stages, weights: weightFiles),
            timecode: job.range == nil ? sourceTimecode : nil)
    }

    /// Refuses to start over (without `--resume`) a work folder an interrupted run left, unless `--force`
    /// replaces it.
    func refuseInterruptedRun(in work: String) throws {
        guard !job.force else { return }
        throw RestoreError.output(
            "an interrupted restore of \(job.output) is in \(work): add --resume to continue it, or --force to start over"
        )
    }

    func rangeWindow(_ r: RestoreJob.TimeRange) throws -> RangeWindow {
        let rate = reader.stream.frameRate ?? reader.stream.averageRate
        let past = Rational(Int64(context.past + 1)) / rate, future = Rational(Int64(context.future + 1)) / rate
        var end = r.duration.map { r.start + $0 }
        if let n = r.frames {
            let outRate = outputStream.frameRate ?? outputStream.averageRate
            end = r.start + Rational(Int64(n)) / outRate
        }
        var from = r.start > past ? r.start - past : .zero
        // Frames before the context are decoded but not converted (nextFrame(notBefore:)). Deep in a
        // constant-rate film a seek skips most of them: it lands half a frame before frame k, whose
        // number is then known (a variable-rate film is read from its start, so numbers stay exact).
        if from > Rational(2), let cfr = reader.stream.frameRate {
            let k = (from * cfr).floor
            from = Rational(k) / cfr - Rational(1, 2) / cfr
            try reader.seek(to: from, index: Int(k))
        }
        return RangeWindow(
            decodeFrom: from, decodeTo: end.map { $0 + future }, from: r.start, to: end, frames: r.frames)
    }

    /// The frames to decode: all of them, or those of a part's window with its context.
    func windowedSource(_ window: RangeWindow?) -> () throws -> Frame? { RangeWindow.source(reader, window) }

    /// What a DPX output picture says of itself: the source's transfer (a DPX scan's own codes,
    /// else the code of the video's curve), the rate, and its timecode (the source's first-frame
    /// timecode counted on, when the output keeps the source's frames).
    func dpxFields(frame f: Frame) -> DPXHeader.Fields {
        var fields = DPXHeader.Fields(frameRate: outputStream.frameRate)
        if let h = sequence?.header {
            fields.transfer = h.transfer
            fields.colorimetric = h.colorimetric
        } else if let t = DPXHeader.transferCode(
            h273: reader.stream.color.transfer, primaries: reader.stream.color.primaries)
        {
            fields.transfer = t
            fields.colorimetric = t
        }
        if let base = sourceTimecode, let rate = reader.stream.frameRate,
            outputStream.frameRate == rate
        {
            fields.timecode = Timecode.adding(base, frames: f.properties.sourceIndex, rate: rate)
        }
        return fields
    }

    /// Every file the job reads, and a sequence input's folder: no sequence output may be or hold them.
    static func readFolders(_ job: RestoreJob, _ sequence: ImageSequence?) -> [String] {
        job.inputs + (sequence.map { [($0.files[0] as NSString).deletingLastPathComponent] } ?? [])
    }

    /// `steps` with the size each stage's frames had (decode: the source's; encode: the output's).
    func sized(_ steps: [StepTime]) -> [StepTime] {
        var stageSizes = Array(zip(nodes.map(\.name), stepSizes))[...]
        return steps.map { s in
            var s = s
            if s.name == "decode" {
                s.size = "\(reader.stream.width)x\(reader.stream.height)"
            } else if s.name == "encode" {
                s.size = "\(outputStream.width)x\(outputStream.height)"
            } else if let i = stageSizes.firstIndex(where: { $0.0 == s.name }) {
                s.size = stageSizes[i].1
                stageSizes.removeSubrange(stageSizes.startIndex...i)
            }
            return s
        }
    }

    /// The error of an input that gives no picture at all: nothing is written for it.
    func noFrames() -> RestoreError {
        let why =
            reader.readError.map { " (\($0))" }
            ?? reader.declaredFrames.map { " (the file declares \($0.count) frames: it is truncated or damaged)" }
            ?? " (the video stream is empty)"
        return RestoreError.input("\(job.input): no video frame could be decoded\(why); nothing was written")
    }

    public func cancel() { canceller.cancel() }

    /// Runs the restore: in one pass, or through checkpointed segments when the job asks.
    public func run(progressInterval: Double = 1, progress: ((RestoreProgress) -> Void)? = nil) throws -> RestoreSummary
    {
        // One writer per output, taken before anything beside the output is looked at or removed.
        let lock = try OutputLock(output: sequenceOutput?.folder ?? job.output)
        defer { lock.release() }
        if let so = sequenceOutput {
            return try runSequence(so, progressInterval: progressInterval, progress: progress)
        }
        OutputFile.removeStaleTemporaries(of: job.output)
        if let c = job.checkpoint, !MediaWriter.isImage(job.output), job.range == nil {
            return try runCheckpointed(c, progressInterval: progressInterval, progress: progress)
        }
        return try runSinglePass(progressInterval: progressInterval, progress: progress)
    }

    /// Calls `progress` every `interval` seconds from another thread until cancelled (nil without a callback).
    func progressTimer(
        every interval: Double, since start: Date, framesDone: @escaping () -> Int,
        _ progress: ((RestoreProgress) -> Void)?
    ) -> DispatchSourceTimer? {
        guard let cb = progress else { return nil }
        let t = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "filmrestore.progress"))
        t.schedule(deadline: .now() + interval, repeating: interval)
        // A part of the film: its own frame count.
        let outRate = outputStream.frameRate ?? outputStream.averageRate
        let total =
            job.range.map { r in
                r.frames ?? r.duration.map { Int(($0 * outRate).ceil) }
                    ?? outputStream.frameCount.map { n in
                        max(0, n - Int((r.start * outRate).floor))
                    }
            } ?? outputStream.frameCount
        t.setEventHandler { [weak self] in
            cb(
                RestoreProgress(
                    framesDone: framesDone(), framesTotal: total, elapsed: Date().timeIntervalSince(start),
                    stepRates: self?.pipeline.stepRates ?? []))
        }
        t.resume()
        return t
    }

    /// Runs the restore in one pass; `progress` is called about every `interval` seconds from another thread.
    func runSinglePass(progressInterval: Double, progress: ((RestoreProgress) -> Void)?) throws -> RestoreSummary {
        let start = Date()
        let output = try OutputFile(path: job.output, inputs: job.inputs, force: job.force)
        let window = try job.range.map { try rangeWindow($0) }
        let reader = self.reader, job = self.job
        let sink = FileSink(
            output: output, part: window,
            whenEmpty: { [self] in
                guard window != nil else { return reader.framesSeen == 0 ? noFrames() : nil }
                return RestoreError.input(
                    "\(job.input): no frame in the range asked for (from \(String(format: "%.3f", job.range?.start.doubleValue ?? 0)) s; the film is \(String(format: "%.3f", reader.stream.duration?.doubleValue ?? 0)) s)"
                )
            }, makeWriter: try writerMaker(output))
        let timer = progressTimer(every: progressInterval, since: start, framesDone: { sink.muxed.value }, progress)
        defer { timer?.cancel() }
        try RunLoop.run(
            pipeline, source: windowedSource(window), window: window, into: sink, observe: shotColour.see)
        timer?.cancel()
        let writer = sink.writer!
        return finished(
            since: start, written: writer.framesWritten, decoded: reader.framesDecoded, progress: progress,
            totals: RunTotals(pipeline), copied: writer.copiedStreams,
            notes: writer.skippedStreams.map { "#\($0.index): \($0.reason)" })
    }

    /// The single file's writer, made at the first frame written: a part of the film starts at 0, and its sound
    /// is shifted alike.
    func writerMaker(_ output: OutputFile) throws -> FileSink.MakeWriter {
        let metadata = try recipe().metadata
        let job = self.job, stream = outputStream, encoder = self.encoder, reader = self.reader,
            keeps = keepsSourcePictures
        return { shift, span in
            do {
                return try MediaWriter(
                    path: output.temporaryPath, containerFor: job.output, stream: stream, settings: encoder,
                    copyFrom: MediaWriter.isImage(job.output) ? nil : job.input,
                    startOffset: reader.startOffset + shift,
                    sideSpan: span,
                    metadata: shift == .zero && span == nil
                        ? metadata
                        : metadata.merging([Recipe.partOriginTag: shift.description]) { a, _ in a },
                    keepDecodedPictures: keeps)
            } catch let e as MediaError {
                throw RestoreError.output("cannot write \(job.output): \(e)")
            }
        }
    }

    /// A finished run's summary, after its last progress report (every frame done).
    func finished(
        since start: Date, written: Int, decoded: Int, progress: ((RestoreProgress) -> Void)?, totals: RunTotals,
        copied: [Int], notes: [String], reused: [SegmentRecord] = []
    ) -> RestoreSummary {
        let elapsed = Date().timeIntervalSince(start)
        progress?(
            RestoreProgress(
                framesDone: written, framesTotal: written, elapsed: elapsed, stepRates: pipeline.stepRates))
        return RestoreSummary(
            input: reader.stream, output: outputStream, framesDecoded: decoded, framesWritten: written,
            seconds: elapsed, queueHighWater: totals.queueHighWater, queueCapacity: job.queueCapacity,
            copiedStreams: copied, skippedStreams: notes, steps: sized(totals.steps),
            corruptPackets: reader.corruptPackets, inputDamage: InputDamage.of(reader),
            segmentsReused: reused.count, framesReused: reused.reduce(0) { $0 + $1.frames },
            segmentsMade: totals.segmentsMade, shotColour: shotColour.shots)
    }
}

public enum FilmRestoreVersion {
    public static let string = "0.1.0"
}

/// Cancels a restore from any thread. A checkpointed run makes a pipeline per stretch of
/// segments: the cancel reaches the current one, and every later one at once (attach and cancel
/// take the same lock, so no cancel falls between two stretches).
public final class RunCanceller: Sendable {
    private let state = Locked<(cancelled: Bool, current: Pipeline.Canceller?)>((false, nil))

    public func cancel() {
        let current = state.withLock { s -> Pipeline.Canceller? in
            s.cancelled = true
            return s.current
        }
        current?.cancel()
    }

    public var isCancelled: Bool { state.current.cancelled }

    func attach(_ c: Pipeline.Canceller) {
        let cancelled = state.withLock { s -> Bool in
            s.current = c
            return s.cancelled
        }
        if cancelled { c.cancel() }
    }
}
