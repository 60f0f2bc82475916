import Foundation
import FilmCore
import TensorCore
import Networks

/// `interpolate`: motion-interpolated frame-rate conversion with RIFE v4.0's IFNet (DAIN's idea:
/// estimate the motion between two frames, warp both to the wanted instant, blend them with a
/// learned occlusion mask).
///
/// Output frame k is shown at exactly k / rate seconds (rational arithmetic, any input rate, VFR
/// included). For each output instant the stage takes the input frames a, b around it and
/// t = (instant − a) / (b − a): t within `copy-below` of 0 or 1 copies a or b; a scene cut at b
/// (set by the `scenecut` stage) copies the nearer frame, so no output mixes two shots; otherwise
/// the network makes the frame at t. With `flow-scale` below 1 the flow and mask are estimated on
/// a downscaled copy and applied, upsampled, to the full-size frames: interpolating after a ×4
/// upscale then costs about what it costs before. Every output keeps the properties of its nearer
/// source frame. Right before `fit`, the frames it makes are synthesized straight at the output size, in
/// place (`FitFusable`): one resampling per output frame instead of a warp and a scaling.
public final class InterpolateStage: Stage, FitFusable {
    public static let spec = StageSpec(
        name: "interpolate",
        summary:
            "flow-based frame interpolation to a constant rate (RIFE v4.0), exact timestamps, never across a scene cut",
        traits: [.setsRate(option: "rate"), .synthesizesFrames, .temporal],
        options: [
            .rate("rate", default: Rational(60), "output frame rate: 60, 50, 48, 24000/1001…"),
            .model(
                "model", family: "RIFE v4.0 flownet (.pkl)", names: InterpolationModels.names, default: "rife-v4.0",
                "the interpolation network: a shipped name or a path to a RIFE v4.0 flownet.pkl"),
            .precision,
            .modelsDir,
            .autoNumber(
                "flow-scale", 0.001...1,
                "estimate motion at this fraction of the frame size, warp at full size: 1, 0.5, 0.25, …; auto: about 1280x720 for the flow"
            ),
            .numbers(
                "scale-list", 0.001...64, count: 4...4, default: [8, 4, 2, 1],
                "the IFNet blocks' downscale factors, coarse to fine (16,8,4,2 for very large motion)"),
            .bool(
                "ensemble", default: false, "average with the time-reversed estimate: a little smoother, twice the cost"
            ),
            .bool(
                "refine", default: true,
                "RIFE's refinement networks (context + U-Net residual, the reference's non-fast mode): about 1 dB better, about 1.7× the cost"
            ),
            .number(
                "copy-below", 0...0.5, default: 0.02,
                "t this close to 0 or 1 copies the source frame instead of interpolating"),
        ])

    public let rate: Rational
    public let network: IFNet
    public let modelFiles: [String]
    public let scaleList: [Float]
    public let ensemble: Bool
    public let refine: Bool
    public let copyBelow: Double
    let flowScaleOption: Double?  // nil: auto
    public private(set) var flowScale = 1.0
    private let workspace = Workspace()
    private var resampler: Resampler?
    /// Where a `fit` right after this stage puts the frames (see `fuse(into:)`); nil: frames at their own size.
    public private(set) var placement: Placement?

    // Streaming state: the frame before the next output instants, its input number, the next index.
    private var previous: Frame?
    private var previousNumber = 0
    private var inputCount = 0
    private var nextIndex: Int64 = 0
    private var lastDominant = -1
    /// What the network needs of an input frame, made once and used for every instant between
    /// the frame and its neighbours: its own planes (the frame's, not a copy), and the RGB copy at the flow size
    /// padded to the network's alignment.
    private struct Prepared {
        let planes: [[Float]]
        let flowInput: Tensor
        /// The refinement's feature pyramid of the flow input, made on first use (`refineFeatures`).
        var features: [Tensor]?
    }
    private var prepared: [Int: Prepared] = [:]
    /// Counts for statistics and tests.
    public private(set) var interpolated = 0, copied = 0, heldAtCuts = 0

    public var window: TemporalWindow { TemporalWindow(past: 1, future: 1) }

    /// Places its frames where a `fit` right after it would (one resampling per made frame).
    public func link(next: any Stage) { FitStage.link(self, next: next) }

    public init(options: StageOptions) throws {
        rate = options.rate("rate")
        flowScaleOption = options.autoNumber("flow-scale")
        scaleList = options.numbers("scale-list").map { Float($0) }
        ensemble = options.bool("ensemble")
        refine = options.bool("refine")
        copyBelow = options.number("copy-below")
        workspace.precision = try options.precision()
        let model = options.model("model")
        do {
            let loaded = try InterpolationModels.loadWithFiles(model, modelsDir: options.modelsFolder)
            (network, modelFiles) = (loaded.value, loaded.files)
        } catch let e as TensorError { throw options.invalid(e.description) }
        if refine && network.refinement == nil {
            throw options.invalid("model \(model) has no refinement networks: set refine: false")
        }
    }

    /// The automatic flow scale: the largest of 1, ½, ¼, … that brings the frame to at most about
    /// 1280x720 pixels.
    public static func automaticFlowScale(width: Int, height: Int) -> Double {
        var s = 1.0
        while Double(width * height) * s * s > 1280 * 720 * 1.05 && s > 1.0 / 64 { s /= 2 }
        return s
    }

    public func configure(_ input: StreamInfo) throws -> StreamInfo {
        placement = nil
        flowScale = flowScaleOption ?? Self.automaticFlowScale(width: input.width, height: input.height)
        origin = input.startTime
        return input.atConstantRate(rate)
    }

    /// The frames this stage makes are synthesized straight into the fit's canvas from now on (the frames it
    /// copies are left to the fit).
    public func fuse(into placement: Placement) { self.placement = placement }

    /// The size the flow is estimated at for frames of this size.
    public func flowSize(width w: Int, height h: Int) -> (Int, Int) {
        (max(1, Int((Double(w) * flowScale).rounded())), max(1, Int((Double(h) * flowScale).rounded())))
    }

    /// Network operations (as direct convolution) for one interpolated frame of this size.
    public func networkFlops(width w: Int, height h: Int) -> Double {
        let (fw, fh) = flowSize(width: w, height: h)
        let (ph, pw) = IFNet.paddedSize(height: fh, width: fw, scaleList: scaleList)
        return network.flops(height: ph, width: pw, scaleList: scaleList) * (ensemble ? 2 : 1)
            + (refine ? network.refinement?.flops(height: ph, width: pw) ?? 0 : 0)
    }

    /// Output instants are origin + k / rate: anchored at the film's first frame (its stream start),
    /// so the source frames that fall on the grid are copied, in a part of the film as in the whole.
    private var origin: Rational = .zero
    private func instant(_ k: Int64) -> Rational { origin + Rational(k) / rate }

    public func process(_ frame: Frame, emit: (Frame) throws -> Void) throws {
        let number = inputCount
        inputCount += 1
        guard let a = previous else {
            previous = frame
            previousNumber = number
            nextIndex = ((frame.pts - origin) * rate).rounded
            return
        }
        let span = frame.pts - a.pts
        if span <= .zero {
            // A repeated or out-of-order timestamp: nothing lies between; keep the newer picture.
            previous = frame
            previousNumber = number
            return
        }
        while instant(nextIndex) < frame.pts {
            let at = instant(nextIndex)
            let t = at <= a.pts ? 0 : ((at - a.pts) / span).doubleValue
            let out: Frame
            if t <= copyBelow {
                out = try take(a, previousNumber, at)
                copied += 1
            } else if t >= 1 - copyBelow {
                out = try take(frame, number, at)
                copied += 1
            } else if frame.properties.sceneCut {
                out = t < 0.5 ? try take(a, previousNumber, at) : try take(frame, number, at)
                heldAtCuts += 1
            } else {
                out = try synthesize(a, previousNumber, frame, number, t: t, at: at)
                interpolated += 1
            }
            try emit(out)
            nextIndex += 1
        }
        prepared[previousNumber] = nil
        previous = frame
        previousNumber = number
    }

    public func flush(emit: (Frame) throws -> Void) throws {
        guard let a = previous else { return }
        // After the last frame nothing is known: it is held for its duration.
        while instant(nextIndex) < a.pts + a.duration {
            try emit(try take(a, previousNumber, instant(nextIndex)))
            copied += 1
            nextIndex += 1
        }
        previous = nil
        prepared = [:]
    }

    /// A source frame re-timed to an output instant.
    private func take(_ f: Frame, _ number: Int, _ at: Rational) throws -> Frame {
        var out = f
        retime(&out, number, at)
        return out
    }

    private func retime(_ out: inout Frame, _ number: Int, _ at: Rational) {
        out.pts = at
        out.duration = rate.reciprocal
        // A scene cut marks only the first output frame made from the shot's first frame.
        if number == lastDominant { out.properties.sceneCut = false }
        lastDominant = number
    }

    // MARK: - the network

    /// The frame at t between a and b, with the properties of the nearer one.
    private func synthesize(_ a: Frame, _ na: Int, _ b: Frame, _ nb: Int, t: Double, at: Rational) throws -> Frame {
        guard a.width == b.width, a.height == b.height, a.layout == b.layout else {
            throw RestoreError.input(
                "interpolate: frame size or layout changed mid-stream (\(a.width)x\(a.height) → \(b.width)x\(b.height))"
            )
        }
        let p0 = prepare(a, na), p1 = prepare(b, nb)
        let features = refine && network.refinement != nil ? (try refineFeatures(na), try refineFeatures(nb)) : nil
        let (flow, mask, residual) = try motion(
            p0.flowInput, p1.flowInput, width: a.width, height: a.height, t: Float(t), features: features)
        let planes: [[Float]], width: Int, height: Int
        if flow.width == a.width && flow.height == a.height && placement == nil {
            var full = try IFNet.synthesize(
                Tensor(planes: p0.planes, height: a.height, width: a.width),
                Tensor(planes: p1.planes, height: a.height, width: a.width), flow: flow, mask: mask)
            if let r = residual { try IFNet.add(residual: r, to: &full) }
            (planes, width, height) = ((0..<full.channels).map { full.plane($0) }, full.width, full.height)
        } else {
            // flow-scale below 1: flow, mask and residual upsampled on the fly; with a placement, in place at the
            // output size (warp and scaling in one resampling); the frames' planes read and written as they are
            planes = try IFNet.synthesize(
                planes0: p0.planes, p1.planes, height: a.height, width: a.width, lowFlow: flow, lowMask: mask,
                lowResidual: residual, placement: placement)
            (width, height) = (placement?.canvasWidth ?? a.width, placement?.canvasHeight ?? a.height)
        }
        var out = (t < 0.5 ? a : b).with(width: width, height: height, planes: planes)
        if let pl = placement {
            out.properties.sampleAspect = .one
            out.properties.extra[FitStage.areaKey] = FitStage.area(pl)
        }
        retime(&out, t < 0.5 ? na : nb, at)
        return out
    }

    /// Flow [4] (pixels at the flow size), mask logits [1] and, with `refine`, the refinement
    /// residual [3], at the flow size (the frame's size when flow-scale is 1), from two padded
    /// flow inputs of frames of the given size.
    func motion(
        _ p0: Tensor, _ p1: Tensor, width w: Int, height h: Int, t: Float, features: ([Tensor], [Tensor])? = nil
    ) throws -> (Tensor, Tensor, Tensor?) {
        let (fw, fh) = flowSize(width: w, height: h)
        let (pf, pm) = try network.estimate(
            p0, p1, timestep: t, scaleList: scaleList, ensemble: ensemble, workspace: workspace)
        var residual: Tensor? = nil
        if refine, let r = network.refinement {
            residual = try r.residual(
                p0, p1, flow: pf, mask: pm, features0: features?.0, features1: features?.1, workspace: workspace
            ).region(
                x: 0, y: 0, width: fw, height: fh)
        }
        return (pf.region(x: 0, y: 0, width: fw, height: fh), pm.region(x: 0, y: 0, width: fw, height: fh), residual)
    }

    /// The refinement's features of a prepared frame: made once per source frame, though each is one end
    /// of every frame made between it and its neighbours (three or four at 18 → 60 fps).
    private func refineFeatures(_ number: Int) throws -> [Tensor] {
        guard let p = prepared[number], let r = network.refinement else {
            throw RestoreError.input("interpolate: frame \(number) was not prepared")
        }
        if let f = p.features { return f }
        let f = try r.features(p.flowInput, workspace: workspace)
        prepared[number]?.features = f
        return f
    }

    /// The tensors of one input frame (see `Prepared`), made on first use.
    private func prepare(_ f: Frame, _ number: Int) -> Prepared {
        if let p = prepared[number] { return p }
        let (fw, fh) = flowSize(width: f.width, height: f.height)
        var planes = f.promotedToRGB().planes
        if fw != f.width || fh != f.height {
            if resampler.map({
                $0.srcWidth != f.width || $0.srcHeight != f.height || $0.dstWidth != fw || $0.dstHeight != fh
            }) ?? true {
                resampler = Resampler(from: f.width, f.height, to: fw, fh)
            }
            let r = resampler!
            planes = planes.map { r.resample($0).map { min(max($0, 0), 1) } }
        }
        let (ph, pw) = IFNet.paddedSize(height: fh, width: fw, scaleList: scaleList)
        let flowInput = Tensor(planes: planes, height: fh, width: fw).padded(toHeight: ph, width: pw)
        let p = Prepared(planes: f.planes, flowInput: flowInput)
        prepared[number] = p
        return p
    }
}
