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

    /// How a picture is fitted to a canvas of another shape.
    public enum Fit: String, CaseIterable, Sendable {
        /// Scaled to fit inside, the rest bars (letterbox/pillarbox).
        case pad
        /// Scaled to fill, the overhang cut.
        case crop
        /// Scaled to the canvas, the aspect ignored.
        case stretch
    }

    /// A picture of display aspect `dar` fitted to a canvasWidth×canvasHeight canvas (the scaled size even,
    /// centred; negative offsets: cropped).
    public static func fitting(
        displayAspect dar: Double, canvasWidth width: Int, canvasHeight height: Int, _ fit: Fit, background: Float = 0
    ) -> Placement {
        func even(_ v: Double) -> Int { max(2, Int((v / 2).rounded()) * 2) }
        let outAspect = Double(width) / Double(height)
        var sw = width, sh = height
        switch fit {
        case .stretch: break
        case .crop:
            if dar > outAspect { sw = even(Double(height) * dar) } else { sh = even(Double(width) / dar) }
        case .pad:
            if dar > outAspect {
                sh = min(height, even(Double(width) / dar))
            } else {
                sw = min(width, even(Double(height) * dar))
            }
        }
        return Placement(
            canvasWidth: width, canvasHeight: height, width: sw, height: sh, x: (width - sw) / 2, y: (height - sh) / 2,
            background: background)
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
        let n = canvasWidth * canvasHeight
        return [Float](unsafeUninitializedCapacity: planes * n) { buf, count in
            let o = buf.baseAddress!
            for p in 0..<planes { fillBars(o + p * n) }
            if !columns.isEmpty && !rows.isEmpty { body(o) }
            count = planes * n
        }
    }

    /// `planes` canvases, each an array of its own (a frame's planes), made as `canvas` makes one: `body` is given
    /// every plane's buffer at once.
    public func canvases(planes: Int, _ body: ([UnsafeMutablePointer<Float>]) -> Void) -> [[Float]] {
        let n = canvasWidth * canvasHeight
        func make(_ i: Int, _ made: [UnsafeMutablePointer<Float>]) -> [[Float]] {
            if i == planes {
                if !columns.isEmpty && !rows.isEmpty { body(made) }
                return []
            }
            var rest: [[Float]] = []
            let plane = [Float](unsafeUninitializedCapacity: n) { buf, count in
                fillBars(buf.baseAddress!)
                rest = make(i + 1, made + [buf.baseAddress!])
                count = n
            }
            return [plane] + rest
        }
        return make(0, [])
    }

    /// The bars of one canvas plane at `o` filled with the background (the picture's part left as it is).
    private func fillBars(_ o: UnsafeMutablePointer<Float>) {
        let W = canvasWidth, cols = columns, rws = rows
        for r in 0..<canvasHeight {
            let row = o + r * W
            if !rws.contains(r) || cols.isEmpty {
                row.update(repeating: background, count: W)
            } else {
                row.update(repeating: background, count: cols.lowerBound)
                (row + cols.upperBound).update(repeating: background, count: W - cols.upperBound)
            }
        }
    }
}

extension Array where Element == [Float] {
    /// `body` given a pointer to each plane's floats (a frame's planes, each an array of its own).
    public func withPlanePointers<R>(_ body: ([UnsafePointer<Float>]) -> R) -> R {
        func go(_ i: Int, _ got: [UnsafePointer<Float>]) -> R {
            i == count ? body(got) : self[i].withUnsafeBufferPointer { go(i + 1, got + [$0.baseAddress!]) }
        }
        return go(0, [])
    }

    /// `body` given a pointer to each plane's floats to write (each plane made unique first). The planes are moved
    /// out one by one while `body` runs (no overlapping access to the array), then put back.
    public mutating func withMutablePlanePointers<R>(_ body: ([UnsafeMutablePointer<Float>]) -> R) -> R {
        var planes = self
        self = []
        func go(_ i: Int, _ got: [UnsafeMutablePointer<Float>]) -> R {
            if i == planes.count { return body(got) }
            var p = planes[i]
            planes[i] = []
            defer { planes[i] = p }
            return p.withUnsafeMutableBufferPointer { go(i + 1, got + [$0.baseAddress!]) }
        }
        let r = go(0, [])
        self = planes
        return r
    }
}
