import FilmCore

/// `fit`: scales the picture to the output size keeping its display aspect ratio (sample aspect
/// ratio included), with Lanczos-3, and letterboxes/pillarboxes (`mode: pad`), fills and crops
/// (`mode: crop`) or ignores the aspect (`mode: stretch`). Output pixels are square.
public final class FitStage: Stage {
    public static let spec = StageSpec(
        name: "fit",
        summary: "scale to the output size keeping the display aspect ratio (Lanczos), pad or crop",
        traits: [.setsSize(option: "size"), .fallback],
        options: [
            .size("size", default: (3840, 2160), "output size WIDTHxHEIGHT (also 4k, 1080p, 720p)"),
            .choice(
                "mode", ["pad", "crop", "stretch"], default: "pad",
                "pad (letterbox/pillarbox), crop (fill and crop) or stretch"),
            .number("background", 0...1, default: 0, "gray level of the padding (0 black)"),
        ])
    /// Frame property: the picture's area in the canvas, "x,y,width,height".
    public static let areaKey = "fit.area"

    let width: Int, height: Int
    let mode: String
    let background: Float
    private var resampler: Resampler?
    /// Where the scaled picture lands in the output (pad) or which part of it is kept (crop).
    private(set) var scaledWidth = 0, scaledHeight = 0, offsetX = 0, offsetY = 0

    public init(options: StageOptions) throws {
        (width, height) = options.size("size")
        mode = options.choice("mode")
        background = Float(options.number("background"))
    }

    /// The size the picture is scaled to and where its top-left lands in a width×height output
    /// (negative offsets: cropped).
    static func placement(displayAspect dar: Double, width: Int, height: Int, mode: String) -> (
        width: Int, height: Int, x: Int, y: Int
    ) {
        let outAspect = Double(width) / Double(height)
        var sw = width, sh = height
        switch mode {
        case "stretch": break
        case "crop":
            if dar > outAspect { sw = even(Double(height) * dar) } else { sh = even(Double(width) / dar) }
        default:
            if dar > outAspect {
                sh = min(height, even(Double(width) / dar))
            } else {
                sw = min(width, even(Double(height) * dar))
            }
        }
        return (sw, sh, (width - sw) / 2, (height - sh) / 2)
    }

    public func configure(_ input: StreamInfo) throws -> StreamInfo {
        (scaledWidth, scaledHeight, offsetX, offsetY) = Self.placement(
            displayAspect: input.displayAspect.doubleValue, width: width, height: height, mode: mode)
        resampler = Resampler(from: input.width, input.height, to: scaledWidth, scaledHeight)
        var out = input
        out.width = width
        out.height = height
        out.sampleAspect = .one
        return out
    }

    static func even(_ v: Double) -> Int { max(2, Int((v / 2).rounded()) * 2) }

    public func process(_ frame: Frame, emit: (Frame) throws -> Void) throws {
        guard let r = resampler, r.srcWidth == frame.width, r.srcHeight == frame.height else {
            throw RestoreError.invalidOption(
                stage: Self.name, message: "frame size \(frame.width)x\(frame.height) changed mid-stream")
        }
        let planes = frame.planes.map { fitted($0, r) }
        var out = frame.with(width: width, height: height, planes: planes)
        out.properties.sampleAspect = .one
        // Where the picture is in the canvas (the bars are not picture: `grain` leaves them).
        let x0 = max(0, offsetX), y0 = max(0, offsetY)
        out.properties.extra[Self.areaKey] =
            "\(x0),\(y0),\(min(width, offsetX + scaledWidth) - x0),\(min(height, offsetY + scaledHeight) - y0)"
        try emit(out)
    }

    /// One plane scaled and put into the output canvas: when the picture lies inside the canvas (`pad`), resampled
    /// straight into its place with the bars filled around it; otherwise (`crop`) resampled, then cut.
    private func fitted(_ p: [Float], _ r: Resampler) -> [Float] {
        let ox = offsetX, oy = offsetY, sw = scaledWidth, sh = scaledHeight
        let scales = r.srcWidth != r.dstWidth || r.srcHeight != r.dstHeight
        guard scales, ox >= 0, oy >= 0, ox + sw <= width, oy + sh <= height else { return place(r.resample(p)) }
        if sw == width && sh == height { return r.resample(p) }
        return [Float](unsafeUninitializedCapacity: width * height) { buf, count in
            let o = buf.baseAddress!
            for y in 0..<height {
                let row = o + y * width
                if y < oy || y >= oy + sh {
                    row.update(repeating: background, count: width)
                } else {
                    row.update(repeating: background, count: ox)
                    (row + ox + sw).update(repeating: background, count: width - ox - sw)
                }
            }
            r.resample(p, into: o + oy * width + ox, rowStride: width)
            count = width * height
        }
    }

    /// Puts a scaledWidth×scaledHeight plane into the output canvas (padding or cropping).
    private func place(_ p: [Float]) -> [Float] {
        if scaledWidth == width && scaledHeight == height { return p }
        var out = [Float](repeating: background, count: width * height)
        let ox = offsetX, oy = offsetY, sw = scaledWidth
        for y in 0..<height {
            let sy = y - oy
            guard sy >= 0 && sy < scaledHeight else { continue }
            let x0 = max(0, ox), x1 = min(width, ox + sw)
            guard x1 > x0 else { continue }
            for x in x0..<x1 { out[y * width + x] = p[sy * sw + (x - ox)] }
        }
        return out
    }
}
