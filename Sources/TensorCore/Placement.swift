/// Where a picture scaled to width×height lands in a canvasWidth×canvasHeight canvas: its top-left corner at
/// (x, y), negative where the picture is cropped; the canvas outside the picture (the bars) is `background`.
/// `fit` places its pictures so, and the interpolation can synthesize its frames straight into the same place.
public struct Placement: Sendable, Hashable, CustomStringConvertible {
    public var canvasWidth: Int, canvasHeight: Int
    public var width: Int, height: Int
    public var x: Int, y: Int
    public var background: Float

    public init(canvasWidth: Int, canvasHeight: Int, width: Int, height: Int, x: Int, y: Int, background: Float = 0) {
        (self.canvasWidth, self.canvasHeight, self.width, self.height) = (canvasWidth, canvasHeight, width, height)
        (self.x, self.y, self.background) = (x, y, background)
    }

    /// The picture unscaled, filling a canvas of its own size.
    public static func identity(width: Int, height: Int) -> Placement {
        Placement(canvasWidth: width, canvasHeight: height, width: width, height: height, x: 0, y: 0)
    }

    /// The canvas columns and rows the picture covers.
    public var columns: Range<Int> { max(0, x)..<max(max(0, x), min(canvasWidth, x + width)) }
    public var rows: Range<Int> { max(0, y)..<max(max(0, y), min(canvasHeight, y + height)) }

    public var description: String { "\(width)x\(height) at (\(x), \(y)) in \(canvasWidth)x\(canvasHeight)" }

    /// `planes` canvas planes in one buffer, plane after plane: the bars filled with the background, then `body`
    /// given the buffer writes the picture's part (canvas columns `columns` of rows `rows` of every plane; the
    /// rest of those rows is already filled).
    public func canvas(planes: Int, _ body: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
        let W = canvasWidth, H = canvasHeight, cols = columns, rws = rows
        return [Float](unsafeUninitializedCapacity: planes * W * H) { buf, count in
            let o = buf.baseAddress!
            for p in 0..<planes {
                for r in 0..<H {
                    let row = o + (p * H + r) * W
                    if !rws.contains(r) || cols.isEmpty {
                        row.update(repeating: background, count: W)
                    } else {
                        row.update(repeating: background, count: cols.lowerBound)
                        (row + cols.upperBound).update(repeating: background, count: W - cols.upperBound)
                    }
                }
            }
            if !cols.isEmpty && !rws.isEmpty { body(o) }
            count = planes * W * H
        }
    }
}
