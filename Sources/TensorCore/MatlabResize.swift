import Foundation

/// MATLAB's bicubic `imresize` (a = −0.5; when shrinking, the kernel widened by 1/scale so it
/// antialiases; edges mirrored, the edge sample repeated), rows then columns. The resize the
/// super-resolution literature means by "bicubic": NIQE's half-size second scale and RAISR's cheap
/// upscale and chroma both use it, as the published code they are checked against does.
public enum MatlabResize {
    /// The taps of one axis: output index o reads `indices[o * count + k]` with `weights[o * count + k]`.
    public struct Taps: Sendable {
        public let count: Int
        public let indices: [Int]
        public let weights: [Double]
        public var outputs: Int { indices.count / count }
    }

    static func cubic(_ x: Double) -> Double {
        let a = abs(x), a2 = a * a, a3 = a2 * a
        if a <= 1 { return 1.5 * a3 - 2.5 * a2 + 1 }
        if a <= 2 { return -0.5 * a3 + 2.5 * a2 - 4 * a + 2 }
        return 0
    }

    /// The output length MATLAB gives an axis of n samples at this scale: ⌈n·scale⌉.
    public static func length(_ n: Int, scale: Double) -> Int { Int((Double(n) * scale).rounded(.up)) }

    /// The taps resizing n samples by `scale`, as MATLAB's `contributions`.
    public static func taps(input n: Int, scale: Double) -> Taps {
        let m = length(n, scale: scale)
        let width = scale < 1 ? 4 / scale : 4
        let p = Int(width.rounded(.up)) + 2
        var indices = [Int](repeating: 0, count: m * p), weights = [Double](repeating: 0, count: m * p)
        for o in 0..<m {
            let u = Double(o + 1) / scale + 0.5 * (1 - 1 / scale)
            let left = Int((u - width / 2).rounded(.down))
            var sum = 0.0
            for k in 0..<p {
                let i = left + k
                let w = scale < 1 ? scale * cubic((u - Double(i)) * scale) : cubic(u - Double(i))
                weights[o * p + k] = w
                sum += w
                // 1-based MATLAB index → 0-based, mirrored at the edges
                var j = i - 1
                if j < 0 { j = -j - 1 }
                if j >= n { j = 2 * n - j - 1 }
                indices[o * p + k] = min(max(j, 0), n - 1)
            }
            for k in 0..<p { weights[o * p + k] /= sum }
        }
        return Taps(count: p, indices: indices, weights: weights)
    }

    /// A plane resized by `scale` on both axes (⌈w·scale⌉ × ⌈h·scale⌉), in double precision.
    public static func resize(_ plane: [Double], width w: Int, height h: Int, scale: Double) -> [Double] {
        apply(plane, width: w, height: h, scale: scale, zero: 0.0) { $0 }
    }

    /// A plane resized by `scale` on both axes (⌈w·scale⌉ × ⌈h·scale⌉), in single precision.
    public static func resize(_ plane: [Float], width w: Int, height h: Int, scale: Double) -> [Float] {
        apply(plane, width: w, height: h, scale: scale, zero: Float(0)) { Float($0) }
    }

    /// Two passes, each output row on its own worker: the one along rows (a weighted sum of
    /// whole rows, which vectorizes along x) and the one along columns (a gather per sample).
    /// Rows first when shrinking, as MATLAB; columns first when enlarging, so the gather runs on
    /// the small picture (the same sums in another order: equal within rounding).
    @inline(__always)
    static func apply<T: BinaryFloatingPoint>(
        _ plane: [T], width w: Int, height h: Int, scale: Double, zero: T, _ weight: (Double) -> T
    ) -> [T] {
        precondition(plane.count == w * h, "MatlabResize: the plane is not \(w)x\(h)")
        let tr = taps(input: h, scale: scale), tc = taps(input: w, scale: scale)
        let oh = tr.outputs, ow = tc.outputs
        let wr = tr.weights.map(weight), wc = tc.weights.map(weight)
        func alongColumns(_ src: [T], rows: Int) -> [T] {
            var out = [T](repeating: zero, count: rows * ow)
            src.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    Parallel.forEach(rows) { y in
                        let s = src.baseAddress! + y * w, o = dst.baseAddress! + y * ow
                        for x in 0..<ow {
                            var v = zero
                            for k in 0..<tc.count { v += wc[x * tc.count + k] * s[tc.indices[x * tc.count + k]] }
                            o[x] = v
                        }
                    }
                }
            }
            return out
        }
        func alongRows(_ src: [T], width n: Int) -> [T] {
            var out = [T](repeating: zero, count: oh * n)
            src.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    Parallel.forEach(oh) { y in
                        let o = dst.baseAddress! + y * n
                        for k in 0..<tr.count {
                            let a = wr[y * tr.count + k], s = src.baseAddress! + tr.indices[y * tr.count + k] * n
                            for x in 0..<n { o[x] += a * s[x] }
                        }
                    }
                }
            }
            return out
        }
        return scale > 1
            ? alongRows(alongColumns(plane, rows: h), width: ow) : alongColumns(alongRows(plane, width: w), rows: oh)
    }
}
