import FilmCore
import TensorCore

/// `fit`: scales the picture to the output size keeping its display aspect ratio (sample aspect
/// ratio included), with Lanczos-3, and letterboxes/pillarboxes (`mode: pad`), fills and crops
/// (`mode: crop`) or ignores the aspect (`mode: stretch`). Output pixels are square.
///
/// Right after `interpolate` (with `fuse`, the default), the frames the interpolation makes are synthesized
/// straight into their place at the output size — the warp and the scaling in one bilinear resampling, once per
/// output frame at the output size — and pass through here; the source frames it copies are fitted here.
public final class FitStage: Stage, SizeTarget, PicturePlacing {
    public static let spec = StageSpec(
        name: "fit",
        summary: "scale to the output size keeping the display aspect ratio (Lanczos), pad or crop",
        traits: [.setsSize(option: "size"), .fallback],
        options: [
            .size("size", default: (3840, 2160), "output size WIDTHxHEIGHT (also 4k, 1080p, 720p)"),
            .choice(
                "mode", Placement.Fit.allCases.map(\.rawValue), default: Placement.Fit.pad.rawValue,
                "pad (letterbox/pillarbox), crop (fill and crop) or stretch"),
            .number("background", 0...1, default: 0, "gray level of the padding (0 black)"),
            .bool(
                "fuse", default: true,
                "right after interpolate, enlarging by at most 1.5: its new frames are warped straight to the output size (one bilinear resampling instead of a warp, then Lanczos)"
            ),
        ])
    /// Frame property: the picture's area in the canvas, "x,y,width,height".
    public static let areaKey = "fit.area"

    let width: Int, height: Int
    let mode: Placement.Fit
    let background: Float
    let fuse: Bool
    private var resampler: Resampler?
    /// Where the scaled picture lands in the output canvas (pad) or which part of it is kept (crop), with the
    /// background (set by `configure`).
    public private(set) var placement = Placement.identity(width: 1, height: 1)
    /// Whether the stage before makes frames in place itself (see `link`).
    public private(set) var fusedUpstream = false

    public init(options: StageOptions) throws {
        (width, height) = options.size("size")
        mode = Placement.Fit(rawValue: options.choice("mode")) ?? .pad
        background = Float(options.number("background"))
        fuse = options.bool("fuse")
    }

    /// Where a picture of this display aspect lands in a canvas of this size, by this stage's mode.
    public func placement(displayAspect: Double, canvasWidth: Int, canvasHeight: Int) -> Placement {
        .fitting(
            displayAspect: displayAspect, canvasWidth: canvasWidth, canvasHeight: canvasHeight, mode,
            background: background)
    }

    public func configure(_ input: StreamInfo) throws -> StreamInfo {
        let p = placement(displayAspect: input.displayAspect.doubleValue, canvasWidth: width, canvasHeight: height)
        resampler = Resampler(from: input.width, input.height, to: p.width, p.height)
        placement = p
        fusedUpstream = false
        var out = input
        out.width = width
        out.height = height
        out.sampleAspect = .one
        return out
    }

    public func placedSize(displayAspect: Double) -> (width: Int, height: Int) {
        let p = placement(displayAspect: displayAspect, canvasWidth: width, canvasHeight: height)
        return (p.width, p.height)
    }

    /// The scalings a bilinear resampling does about as well as Lanczos: enlarging by at most 1.5 (at 1.125, the
    /// 4K chain's step, the two differ by 58 dB PSNR on real upscaled film). Smaller ones would alias, larger ones
    /// blur — and the copied frames, fitted with Lanczos, would not match the made ones.
    static let fusableScales: ClosedRange<Double> = 1...1.5

    /// A stage that can place its frames (`FitFusable`) linking to the stage after it (`Stage.link(next:)`): a
    /// `fit` (with `fuse`) hands it its placement, when it enlarges by a `fusableScales` factor.
    public static func link(_ f: FitFusable, next: any Stage) {
        guard let fit = next as? FitStage, fit.fuse, let r = fit.resampler,
            fusableScales.contains(Double(r.dstWidth) / Double(r.srcWidth)),
            fusableScales.contains(Double(r.dstHeight) / Double(r.srcHeight))
        else { return }
        f.fuse(into: fit.placement)
        fit.fusedUpstream = true
    }

    /// The frame property `areaKey` for a placement: the picture's visible part of the canvas.
    static func area(_ p: Placement) -> String {
        "\(p.columns.lowerBound),\(p.rows.lowerBound),\(p.columns.count),\(p.rows.count)"
    }

    public func process(_ frame: Frame, emit: (Frame) throws -> Void) throws {
        if fusedUpstream && frame.width == width && frame.height == height
            && frame.properties.extra[Self.areaKey] == Self.area(placement)
        {
            try emit(frame)  // made in place by the stage before
            return
        }
        guard let r = resampler, r.srcWidth == frame.width, r.srcHeight == frame.height else {
            throw RestoreError.invalidOption(
                stage: Self.name, message: "frame size \(frame.width)x\(frame.height) changed mid-stream")
        }
        let planes = frame.planes.map { fitted($0, r) }
        var out = frame.with(width: width, height: height, planes: planes)
        out.properties.sampleAspect = .one
        // Where the picture is in the canvas (the bars are not picture: `grain` leaves them).
        out.properties.extra[Self.areaKey] = Self.area(placement)
        try emit(out)
    }

    /// One plane scaled and put into the output canvas: when the picture lies inside the canvas (`pad`), resampled
    /// straight into its place with the bars filled around it; otherwise (`crop`) resampled, then cut.
    private func fitted(_ p: [Float], _ r: Resampler) -> [Float] {
        let ox = placement.x, oy = placement.y, sw = placement.width, sh = placement.height
        let scales = r.srcWidth != r.dstWidth || r.srcHeight != r.dstHeight
        guard scales, ox >= 0, oy >= 0, ox + sw <= width, oy + sh <= height else { return place(r.resample(p)) }
        if sw == width && sh == height { return r.resample(p) }
        return placement.canvas(planes: 1) { o in r.resample(p, into: o + oy * width + ox, rowStride: width) }
    }

    /// Puts a plane of the placed picture's size into the output canvas (padding or cropping).
    private func place(_ p: [Float]) -> [Float] {
        let ox = placement.x, oy = placement.y, sw = placement.width, sh = placement.height
        if sw == width && sh == height { return p }
        var out = [Float](repeating: background, count: width * height)
        for y in 0..<height {
            let sy = y - oy
            guard sy >= 0 && sy < sh else { continue }
            let x0 = max(0, ox), x1 = min(width, ox + sw)
            guard x1 > x0 else { continue }
            for x in x0..<x1 { out[y * width + x] = p[sy * sw + (x - ox)] }
        }
        return out
    }
}

/// A stage that can make frames straight at the place a `fit` right after it puts them (see `Stage.link(next:)`): the
/// frames it makes itself are then placed so, with `FitStage.areaKey` set, and the others left for the fit.
public protocol FitFusable: AnyObject {
    func fuse(into placement: Placement)
}
