import Foundation
import FilmCore
import TensorCore

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

    /// Where the source's picture is in the output, from the placement of the chain's last stage that places it
    /// (`PicturePlacing`), given the output's size; a chain without one fills the output (stretch); an unknown
    /// chain (`placing` nil) is inferred from the two shapes: a picture of another shape in the output is taken as
    /// letterboxed or pillarboxed.
    public static func infer(
        source: StreamInfo, outputWidth ow: Int, outputHeight oh: Int, chain known: Bool, placing: PicturePlacing?
    ) -> ActiveArea {
        let dar = source.displayAspect.doubleValue
        let p: Placement
        if let placing {
            p = placing.placement(displayAspect: dar, canvasWidth: ow, canvasHeight: oh)
        } else {
            let sameShape = abs(Double(ow) / Double(oh) / dar - 1) < 0.01
            p = .fitting(displayAspect: dar, canvasWidth: ow, canvasHeight: oh, known || sameShape ? .stretch : .pad)
        }
        return ActiveArea(placement: p, source: source)
    }

    /// The visible part of a placed picture: in the canvas, and the same part in source pixels (all of the
    /// source when padded or stretched; the middle when cropped).
    public init(placement p: Placement, source: StreamInfo) {
        let cols = p.columns, rows = p.rows
        let sx = Double(source.width) / Double(max(p.width, 1)), sy = Double(source.height) / Double(max(p.height, 1))
        let x = min(source.width - 1, max(0, Int((Double(cols.lowerBound - p.x) * sx).rounded())))
        let y = min(source.height - 1, max(0, Int((Double(rows.lowerBound - p.y) * sy).rounded())))
        output = Rect(x: cols.lowerBound, y: rows.lowerBound, width: cols.count, height: rows.count)
        self.source = Rect(
            x: x, y: y, width: min(source.width - x, Int((Double(cols.count) * sx).rounded())),
            height: min(source.height - y, Int((Double(rows.count) * sy).rounded())))
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
