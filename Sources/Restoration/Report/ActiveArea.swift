import Foundation
import FilmCore

/// Which part of an output frame shows which part of the source: the `fit` stage letterboxes,
/// pillarboxes or crops, so fidelity compares only the picture, never the bars.
public struct ActiveArea: Codable, Sendable, Equatable {
    public struct Rect: Codable, Sendable, Equatable {
        public var x: Int, y: Int, width: Int, height: Int
        public init(x: Int, y: Int, width: Int, height: Int) {
            self.x = x
            self.y = y
            self.width = width
            self.height = height
        }
    }
    /// In output pixels.
    public var output: Rect
    /// In source pixels.
    public var source: Rect

    /// From the chain's last `fit` stage (its mode) or, when the chain is unknown, from the two
    /// shapes (a picture of another shape in the output is taken as letterboxed or pillarboxed).
    public static func infer(source: StreamInfo, outputWidth ow: Int, outputHeight oh: Int, fitMode: String?)
        -> ActiveArea
    {
        let full = ActiveArea(
            output: Rect(x: 0, y: 0, width: ow, height: oh),
            source: Rect(x: 0, y: 0, width: source.width, height: source.height))
        let dar = source.displayAspect.doubleValue
        let mode = fitMode ?? (abs(Double(ow) / Double(oh) / dar - 1) < 0.01 ? "stretch" : "pad")
        let p = FitStage.placement(displayAspect: dar, width: ow, height: oh, mode: mode)
        switch mode {
        case "stretch": return full
        case "crop":
            // The scaled picture is larger than the output: the visible part, in source pixels.
            let sx = Double(source.width) / Double(p.width), sy = Double(source.height) / Double(p.height)
            let w = min(source.width, Int((Double(ow) * sx).rounded())),
                h = min(source.height, Int((Double(oh) * sy).rounded()))
            return ActiveArea(
                output: full.output,
                source: Rect(x: (source.width - w) / 2, y: (source.height - h) / 2, width: w, height: h))
        default:
            return ActiveArea(output: Rect(x: p.x, y: p.y, width: p.width, height: p.height), source: full.source)
        }
    }

    /// A rectangle of a plane.
    static func crop(_ p: [Float], width: Int, _ r: Rect) -> [Float] {
        if r.x == 0 && r.y == 0 && r.width == width && p.count == r.width * r.height { return p }
        var out = [Float](repeating: 0, count: r.width * r.height)
        for y in 0..<r.height {
            let s = (r.y + y) * width + r.x
            for x in 0..<r.width { out[y * r.width + x] = p[s + x] }
        }
        return out
    }
}
