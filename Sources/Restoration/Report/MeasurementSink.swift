import Foundation
import FilmCore
import MediaIO

/// The report's sink: the reference (the source through the chain's cleanup stages), frame by frame, each
/// matched with the output frame at its instant — brightness and noise before and after, fidelity where the
/// output has a frame at the same instant, stills spread over the film (or the part), the least faithful
/// frame, and one interpolated frame shown between its source frames.
final class MeasurementSink: FrameSink {
    /// The raw source's figures and the frames the stills need (recorded by the source as it decodes).
    let raw: RawFigures
    private let cursor: NearestFrames, work: Measurer, naturalness: NIQE?
    private let area: ActiveArea, grain: (any SyntheticGrain)?, options: ReportOptions
    private let part: (start: Rational, end: Rational?)?, duration: Double
    private let sourceInterval: Rational, outInterval: Rational
    /// The same instant: within 2 % of a source frame (where `interpolate` copies the source frame
    /// instead of making one), or 1 ms (containers round times to milliseconds).
    private let sameInstant: Double
    /// A still is taken at the first frame from its target on that fidelity is measured at (an
    /// output frame at the same instant), within `reach` frames.
    private let reach: Int
    private var pending: ArraySlice<Int>
    /// One interpolated frame is shown between its source frames, from this source frame on.
    private let interpolating: Bool, betweenFrom: Int
    private var betweenPending: (k: Int, before: Frame, middle: Frame)?

    /// Where the output's 0 is on the source's clock: the restore wrote it (interpolation may
    /// start a part between two source frames); else the part's first source frame.
    private(set) var partOrigin: Rational?
    private(set) var frames: [RestorationReport.FrameFigures] = []
    private(set) var stills: [(RestorationReport.Still, StillImages)] = []
    private(set) var between: (RestorationReport.Between, [[UInt8]])?
    private var worst: (RestorationReport.Still, StillImages)?, worstFrames: (reference: Frame, output: Frame)?

    /// `interpolating`: whether the chain makes frames (the output having more frames than the source decides too).
    init(
        audit: TimingAudit, source: MediaReader, output: MediaReader, area: ActiveArea, grain: (any SyntheticGrain)?,
        options: ReportOptions, part: (start: Rational, end: Rational?)?, partOrigin: Rational?, interpolating: Bool
    ) throws {
        let total = audit.input.videoFrames
        let n = max(1, options.stills)
        // A part: its frames are numbered on from the film's (for a constant rate, exactly).
        let srcRate = source.stream.frameRate ?? source.stream.averageRate
        let base = part.map { Int(($0.start * srcRate).ceil) } ?? 0
        let targets = (0..<n).map { base + min(max(total - 1, 0), Int((Double($0) + 0.5) / Double(n) * Double(total))) }
        pending = targets[...]
        let reach = 10
        self.reach = reach
        raw = RawFigures(keep: Set(targets.flatMap { $0..<($0 + reach) }))
        sourceInterval = srcRate.reciprocal
        outInterval = (output.stream.frameRate ?? output.stream.averageRate).reciprocal
        sameInstant = max(0.02 * sourceInterval.doubleValue, 0.001) + 1e-6
        cursor = NearestFrames(output)
        work = Measurer(area: area, displayWidth: options.displayWidth)
        // Naturalness of the stills' frames (the model is part of the checkout; without it, none).
        naturalness = try? NIQE.shipped()
        (self.area, self.grain, self.options, self.part, self.partOrigin) = (area, grain, options, part, partOrigin)
        duration = audit.input.videoDuration
        self.interpolating = outInterval.doubleValue < 0.9 * sourceInterval.doubleValue && interpolating
        betweenFrom = base + total / 2
    }

    func write(_ c: Frame) throws {
        if let p = part, c.pts < p.start || (p.end.map { c.pts >= $0 } ?? false) { return }
        if partOrigin == nil { partOrigin = c.pts }
        let k = c.properties.sourceIndex
        let y = c.luma
        let before =
            raw.figures(k) ?? (PictureMeasures.mean(y), PictureMeasures.noiseSigma(y, width: c.width, height: c.height))
        var fig = RestorationReport.FrameFigures(
            index: k, time: c.pts.doubleValue, sceneCut: c.properties.sceneCut,
            brightnessBefore: before.mean, noiseBefore: before.noise, inventedDetail: false)
        // The two files' clocks start at their first frames (the timing audit checks the sound against each).
        let t = c.pts - (partOrigin ?? raw.firstTime ?? .zero) + (try cursor.firstTime() ?? .zero)
        if let p = betweenPending {
            between = (
                RestorationReport.Between(
                    index: p.k, time: p.before.pts.doubleValue, outputTime: p.middle.pts.doubleValue,
                    nextTime: c.pts.doubleValue),
                work.triptych(p.before, p.middle, c)
            )
            betweenPending = nil
        }
        if let out = try cursor.frame(near: t, within: outInterval / Rational(2)) {
            measure(c, y, against: out, at: t, into: &fig)
        }
        if interpolating, between == nil, betweenPending == nil, k >= betweenFrom {
            // The first output frame after this instant and before the next source frame.
            let half = sourceInterval / Rational(2)
            if let mid = try cursor.frame(near: t + half, within: half - Rational(1, 1000)),
                abs((mid.pts - t).doubleValue) > sameInstant
            {
                betweenPending = (k, c, mid)
            }
        }
        raw.forget(before: k - 64)
        frames.append(fig)
    }

    /// The output frame `out` (nearest the reference frame `c`'s instant `t`) measured: brightness and noise,
    /// fidelity when it is at the same instant, and taken as a still when one is due or it is the least faithful.
    private func measure(_ c: Frame, _ y: [Float], against out: Frame, at t: Rational, into fig: inout FrameFigures) {
        let k = c.properties.sourceIndex
        let small = work.outputLuma(out)
        fig.outputTime = out.pts.doubleValue
        fig.brightnessAfter = PictureMeasures.mean(small)
        fig.noiseAfter = PictureMeasures.noiseSigma(small, width: area.source.width, height: area.source.height)
        if abs((out.pts - t).doubleValue) <= sameInstant {
            let ref = ActiveArea.crop(y, width: c.width, area.source)
            var compared = small
            if let g = grain, let clean = g.removingGrain(from: out, madeFor: c, area: area.output) {
                compared = work.outputLuma(clean)
                fig.grainRemoved = true
            }
            let sc = Fidelity.compare(compared, ref, width: area.source.width, height: area.source.height)
            fig.psnr = min(sc.psnr, 99)
            fig.ssim = sc.ssim
            fig.inventedDetail = fig.psnr! < options.thresholdPSNR || sc.ssim < options.thresholdSSIM
        }
        if let target = pending.first, k >= target, fig.psnr != nil || k >= target + reach - 1 {
            pending.removeFirst()
            let rawFrame = raw.take(k)
            let pct = Int((100 * (c.pts - (partOrigin ?? .zero)).doubleValue / max(duration, 1e-9)).rounded())
            var still = work.still(
                label: "\(pct) % into the \(part == nil ? "film" : "part")", before: rawFrame ?? c,
                beforeIsSource: rawFrame != nil, reference: (y, c.width), output: out, figures: fig)
            if let m = naturalness {
                still.0.niqeSource = rawFrame.flatMap { m.score($0) }
                still.0.niqeReference = m.score(c)
                still.0.niqeOutput = m.score(out)
            }
            stills.append(still)
        }
        if let s = fig.ssim, s < (worst?.0.ssim ?? .infinity) {
            worst = work.still(
                label: "lowest-fidelity frame", before: c, beforeIsSource: false, reference: (y, c.width),
                output: out, figures: fig)
            worstFrames = (c, out)
        }
    }

    typealias FrameFigures = RestorationReport.FrameFigures

    /// The figures over the run (flicker before and after over the same frames, fidelity, naturalness), and the
    /// stills with the least faithful frame added when it is not one of them.
    func summary() -> (RestorationReport.Summary, [(RestorationReport.Still, StillImages)]) {
        let times = frames.map(\.time), cuts = frames.map(\.sceneCut)
        let fb = PictureMeasures.flicker(means: frames.map { $0.brightnessBefore }, times: times, cuts: cuts)
        let fa = PictureMeasures.flicker(means: frames.map(\.brightnessAfter), times: times, cuts: cuts)
        for i in frames.indices {
            frames[i].flickerBefore = fb.deviations[i]
            frames[i].flickerAfter = fa.deviations[i]
        }
        var stills = self.stills
        if var w = worst, let f = worstFrames, !stills.contains(where: { $0.0.index == w.0.index }) {
            // its source frame as decoded is no longer held: the reference and the output
            w.0.niqeReference = naturalness?.score(f.reference)
            w.0.niqeOutput = naturalness?.score(f.output)
            stills.append(w)
        }
        let measured = frames.filter { $0.psnr != nil }
        func niqeMean(_ v: (RestorationReport.Still) -> Double?) -> Double? {
            let s = stills.compactMap { v($0.0) }
            return s.isEmpty ? nil : s.reduce(0, +) / Double(s.count)
        }
        let noiseAfter = frames.compactMap(\.noiseAfter)
        let summary = RestorationReport.Summary(
            flickerBefore: fb.index, flickerAfter: fa.index,
            noiseBefore: frames.map(\.noiseBefore).reduce(0, +) / Double(max(frames.count, 1)),
            noiseAfter: noiseAfter.isEmpty ? nil : noiseAfter.reduce(0, +) / Double(noiseAfter.count),
            fidelityFrames: measured.count,
            meanPSNR: measured.isEmpty ? nil : measured.map { $0.psnr! }.reduce(0, +) / Double(measured.count),
            minPSNR: measured.map { $0.psnr! }.min(),
            meanSSIM: measured.isEmpty ? nil : measured.map { $0.ssim! }.reduce(0, +) / Double(measured.count),
            minSSIM: measured.map { $0.ssim! }.min(),
            inventedFrames: measured.filter(\.inventedDetail).count,
            thresholdPSNR: options.thresholdPSNR, thresholdSSIM: options.thresholdSSIM,
            niqeSource: niqeMean(\.niqeSource), niqeReference: niqeMean(\.niqeReference),
            niqeOutput: niqeMean(\.niqeOutput),
            niqeFrames: stills.filter { $0.0.niqeOutput != nil }.count)
        return (summary, stills)
    }
}
