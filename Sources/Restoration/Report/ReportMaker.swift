import Foundation
import FilmCore
import MediaIO

/// Choices of a report.
public struct ReportOptions: Sendable {
    /// Before/after stills spread over the film (plus the least faithful frame, if it is not one).
    public var stills = 4
    /// A frame whose fidelity falls below either threshold is flagged "invented detail".
    public var thresholdPSNR = 20.0
    public var thresholdSSIM = 0.5
    /// Width of the stills on the page.
    public var displayWidth = 640
    /// Audit a part of the film (source times; the output is that part, starting at 0): nil for the whole film.
    public var partStart: Rational? = nil
    public var partEnd: Rational? = nil
    /// The rate a picture-sequence source is shown at (`--input-rate`); nil: its header's, else 24.
    public var sourceRate: Rational? = nil
    public init() {}
}

/// The report's pictures: each still's, and the interpolated frame with its two source frames.
public struct ReportImages: Sendable {
    public var stills: [StillImages]
    /// Source frame, interpolated frame, next source frame (empty when nothing was interpolated).
    public var between: [[UInt8]]
    public init(stills: [StillImages], between: [[UInt8]] = []) {
        self.stills = stills
        self.between = between
    }
}

/// The PNG images of one still: the whole frame before and after at the page's size, and the
/// zoomed crops (the source's at its own pixels, the output's at its own).
public struct StillImages: Sendable {
    public var before: [UInt8]
    public var after: [UInt8]
    public var beforeCrop: [UInt8]
    public var afterCrop: [UInt8]
}

/// Makes a restoration report from a source and its restored output: decodes the source once,
/// re-runs the chain's cleanup stages on it (the reference fidelity is judged against: what the
/// film looked like before the stages that add or invent — colorize, upscale, interpolate), and
/// reads the output alongside, frame by frame at the source's times. Streaming: memory does not
/// grow with the film's length.
public enum ReportMaker {
    static func spec(_ e: Preset.StageEntry) -> StageSpec? { StageRegistry.spec(named: e.name) }

    /// The reference chain: the chain's leading run of `.cleanup` stages (they clean the film
    /// without adding picture), with a shot finder (flicker is measured within shots).
    static func referenceChain(_ chain: [Preset.StageEntry]) -> [Preset.StageEntry] {
        var entries = Array(chain.prefix { spec($0)?.has(.cleanup) == true })
        Restorer.insertAutomaticStages(&entries, interlaced: false)
        return entries
    }

    /// - chain: the stages that made the output (with their options); nil reads them from the
    ///   output's `filmrestore_chain` tag, and without one the raw source is the reference.
    public static func make(
        source: String, output: String, chain: [Preset.StageEntry]? = nil, run: RestorationReport.Run? = nil,
        options: ReportOptions = ReportOptions()
    ) throws -> (RestorationReport, ReportImages) {
        let part =
            options.partStart.map { (start: $0, end: options.partEnd) }
            ?? options.partEnd.map { (start: Rational.zero, end: Optional($0)) }
        let audit = try TimingAudit.run(input: source, output: output, part: part)
        let srcReader: MediaReader, outReader: MediaReader
        do { srcReader = try MediaReader(path: source, sequenceRate: options.sourceRate) } catch let e as MediaError {
            throw RestoreError.input("cannot read \(source): \(e)")
        }
        do { outReader = try MediaReader(path: output) } catch let e as MediaError {
            throw RestoreError.input("cannot read \(output): \(e)")
        }
        // Matroska keeps tag names in capitals.
        let tags = Dictionary(
            outReader.info.metadata.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
        let provenance = tags.filter { $0.key.hasPrefix("filmrestore_") || $0.key == "encoding_tool" }
        let chain =
            chain ?? Recipe.chain(fromMetadata: tags)?.map { Preset.StageEntry(name: $0.name, options: $0.options) }

        // The reference: the chain's cleanup prefix, with a scene-cut detector (flicker is measured within shots).
        let refEntries = referenceChain(chain ?? [])
        let nodes = try refEntries.map { try Restorer.makeNode($0, modelsDir: nil) }  // cleanup stages: no models
        var refInfo = srcReader.stream
        for n in nodes { refInfo = try n.stage.configure(refInfo) }
        let cleaned = refEntries.filter { spec($0)?.has(.analysis) == false }.map(\.name)
        // The picture's place in the output: asked of the chain's last stage that sets the size, if it places it.
        let placing = chain?.last { spec($0)?.sizeOption != nil }.flatMap {
            (try? Restorer.makeNode($0, modelsDir: nil))?.stage as? PicturePlacing
        }
        // Synthetic grain is declared, not invented: when the chain ends with `grain`, the grain it
        // gave each compared frame (a known function of the frame's time, source frame and measured
        // grain) is taken out of the output before fidelity is measured.
        let grain: (any SyntheticGrain)? = chain.flatMap { c in
            guard let last = c.last, spec(last)?.has(.addsGrain) == true else { return nil }
            return (try? Restorer.makeNode(last, modelsDir: nil))?.stage as? any SyntheticGrain
        }
        let area = ActiveArea.infer(
            source: srcReader.stream, outputWidth: outReader.stream.width, outputHeight: outReader.stream.height,
            chain: chain != nil, placing: placing)

        let sink = try MeasurementSink(
            audit: audit, source: srcReader, output: outReader, area: area, grain: grain, options: options,
            part: part, partOrigin: part == nil ? nil : tags[Recipe.partOriginTag].flatMap { Rational(parsing: $0) },
            interpolating: chain?.contains { spec($0)?.has(.synthesizesFrames) == true } ?? true)
        // A part is read from a little before it (the cleanup stages' context) to a little after.
        let lead = Rational(2)
        if let p = part, p.start > lead + Rational(2), let cfr = srcReader.stream.frameRate {
            let k = ((p.start - lead) * cfr).floor
            try srcReader.seek(to: Rational(k) / cfr - Rational(1, 2) / cfr, index: Int(k))
        }
        let raw = sink.raw
        try RunLoop.run(
            Pipeline(nodes: nodes, capacity: 2),
            source: {
                guard let f = try srcReader.nextFrame(notBefore: part.map { $0.start - lead }) else { return nil }
                if let e = part?.end, f.pts >= e + lead { return nil }
                raw.record(f)
                return f
            }, into: sink)
        let (summary, stills) = sink.summary()
        let iso = ISO8601DateFormatter()
        let report = RestorationReport(
            tool: FilmRestoreVersion.string, created: iso.string(from: Date()),
            source: summaryOf(source, srcReader.stream, audit.input),
            output: summaryOf(output, outReader.stream, audit.output),
            provenance: provenance, reference: describeReference(cleaned, known: chain != nil),
            referenceStages: cleaned, activeArea: area, run: run,
            timing: .init(audit), summary: summary, stills: stills.map(\.0), frames: sink.frames,
            between: sink.between?.0,
            part: part.map {
                .init(start: $0.start.doubleValue, end: $0.end?.doubleValue, origin: sink.partOrigin?.doubleValue)
            })
        return (report, ReportImages(stills: stills.map(\.1), between: sink.between?.1 ?? []))
    }

    /// What fidelity is judged against, in words.
    static func describeReference(_ cleaned: [String], known: Bool) -> String {
        guard cleaned.isEmpty else {
            return
                "the source after the chain's cleanup stages (\(cleaned.joined(separator: ", "))), re-run for this report"
        }
        return known
            ? "the source as decoded (the chain has no cleanup stages)"
            : "the source as decoded (the output does not say which stages made it)"
    }

    static func summaryOf(_ path: String, _ s: StreamInfo, _ side: TimingAudit.Side) -> RestorationReport.FileSummary {
        .init(
            path: path, width: s.width, height: s.height,
            frameRate: s.frameRate?.description ?? "variable (average \(s.averageRate.description))",
            frames: side.videoFrames, duration: side.videoDuration)
    }
}

/// The raw source's per-frame figures (measured as frames are decoded, before the cleanup stages
/// change them) and the raw frames the stills need; shared between the decode and sink threads.
final class RawFigures: Sendable {
    private struct State {
        var figures: [Int: (mean: Double, noise: Double)] = [:]
        var frames: [Int: Frame] = [:]
        var first: Rational?
    }
    private let state = Locked(State())
    private let keep: Set<Int>
    init(keep: Set<Int>) { self.keep = keep }
    /// The first source frame's time.
    var firstTime: Rational? { state.withLock { $0.first } }

    func record(_ f: Frame) {
        let y = f.luma
        let v = (PictureMeasures.mean(y), PictureMeasures.noiseSigma(y, width: f.width, height: f.height))
        let k = f.properties.sourceIndex, keepIt = keep.contains(k)
        state.withLock { s in
            if s.first == nil { s.first = f.pts }
            s.figures[k] = v
            if keepIt { s.frames[k] = f }
        }
    }
    func figures(_ k: Int) -> (mean: Double, noise: Double)? { state.withLock { $0.figures[k] } }
    func take(_ k: Int) -> Frame? { state.withLock { $0.frames[k] } }
    func forget(before k: Int) {
        state.withLock { s in
            for key in s.figures.keys where key < k { s.figures[key] = nil }
            for key in s.frames.keys where key < k { s.frames[key] = nil }
        }
    }
}

/// Walks an output file forward and gives, for each time asked (increasing), the frame nearest it
/// within a window, converting only those frames.
final class NearestFrames {
    let reader: MediaReader
    private var held: Frame?
    private var ended = false
    private var first: Rational?
    init(_ reader: MediaReader) { self.reader = reader }

    /// The output's first frame time (read on first use).
    func firstTime() throws -> Rational? {
        if first == nil && !ended {
            if held == nil {
                held = try reader.nextFrame()
                ended = held == nil
            }
            first = held?.pts
        }
        return first
    }

    func frame(near t: Rational, within w: Rational) throws -> Frame? {
        while true {
            if let h = held {
                if h.pts < t - w { held = nil } else { return h.pts <= t + w ? h : nil }
            }
            guard !ended else { return nil }
            guard let f = try reader.nextFrame(notBefore: t - w) else {
                ended = true
                return nil
            }
            held = f
        }
    }
}

/// The report's picture work, with its resamplers made once.
final class Measurer {
    let area: ActiveArea
    let displayWidth: Int
    private let down: Resampler
    private var cache: [String: Resampler] = [:]

    init(area: ActiveArea, displayWidth: Int) {
        self.area = area
        self.displayWidth = displayWidth
        down = Resampler(from: area.output.width, area.output.height, to: area.source.width, area.source.height)
    }

    /// The output's picture area, luminance, scaled to the source's size.
    func outputLuma(_ f: Frame) -> [Float] {
        down.resample(ActiveArea.crop(f.luma, width: f.width, area.output))
    }

    private func resampler(_ sw: Int, _ sh: Int, _ dw: Int, _ dh: Int) -> Resampler {
        let key = "\(sw)x\(sh)>\(dw)x\(dh)"
        if let r = cache[key] { return r }
        let r = Resampler(from: sw, sh, to: dw, dh)
        cache[key] = r
        return r
    }

    private func cut(_ f: Frame, _ r: ActiveArea.Rect, to dw: Int, _ dh: Int) -> Frame {
        let planes = f.planes.map { p -> [Float] in
            let c = ActiveArea.crop(p, width: f.width, r)
            return r.width == dw && r.height == dh
                ? c : resampler(r.width, r.height, dw, dh).resample(c).map { min(1, max(0, $0)) }
        }
        return f.with(width: dw, height: dh, planes: planes)
    }

    /// Source frame, interpolated output frame, next source frame, each at the page's size.
    func triptych(_ a: Frame, _ mid: Frame, _ b: Frame) -> [[UInt8]] {
        let out = area.output
        let dw = min(displayWidth / 2, out.width),
            dh = max(2, Int((Double(dw) * Double(out.height) / Double(out.width)).rounded()))
        return [cut(a, area.source, to: dw, dh), cut(mid, out, to: dw, dh), cut(b, area.source, to: dw, dh)].map {
            (try? StillImage.png($0)) ?? []
        }
    }

    /// - reference: the cleaned source's luminance and width (where the crop goes).
    func still(
        label: String, before: Frame, beforeIsSource: Bool, reference: (luma: [Float], width: Int), output: Frame,
        figures: RestorationReport.FrameFigures
    ) -> (RestorationReport.Still, StillImages) {
        let src = area.source, out = area.output
        let dw = min(displayWidth, out.width),
            dh = max(2, Int((Double(dw) * Double(out.height) / Double(out.width)).rounded()))
        // The zoomed part: the most detailed square of the reference, an eighth of the picture wide.
        let side = max(16, min(src.width, src.height, src.width / 8))
        let refLuma = ActiveArea.crop(reference.luma, width: reference.width, src)
        let c = PictureMeasures.detailCenter(refLuma, width: src.width, height: src.height, size: side)
        let cx = min(max(c.x - side / 2, 0), src.width - side), cy = min(max(c.y - side / 2, 0), src.height - side)
        let crop = ActiveArea.Rect(x: src.x + cx, y: src.y + cy, width: side, height: side)
        let sx = Double(out.width) / Double(src.width), sy = Double(out.height) / Double(src.height)
        var oc = ActiveArea.Rect(
            x: out.x + Int(Double(cx) * sx), y: out.y + Int(Double(cy) * sy),
            width: max(1, Int(Double(side) * sx)), height: max(1, Int(Double(side) * sy)))
        oc.width = min(oc.width, output.width - oc.x)
        oc.height = min(oc.height, output.height - oc.y)
        let scale = min(1, 480 / Double(max(oc.width, oc.height)))
        let images = StillImages(
            before: (try? StillImage.png(cut(before, src, to: dw, dh))) ?? [],
            after: (try? StillImage.png(cut(output, out, to: dw, dh))) ?? [],
            beforeCrop: (try? StillImage.png(cut(before, crop, to: side, side))) ?? [],
            afterCrop: (try? StillImage.png(
                cut(output, oc, to: max(1, Int(Double(oc.width) * scale)), max(1, Int(Double(oc.height) * scale)))))
                ?? [])
        let still = RestorationReport.Still(
            label: label, index: figures.index, time: figures.time, outputTime: output.pts.doubleValue,
            before: beforeIsSource ? "source" : "reference", psnr: figures.psnr, ssim: figures.ssim, crop: crop)
        return (still, images)
    }
}
