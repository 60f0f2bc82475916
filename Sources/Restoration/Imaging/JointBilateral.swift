import Foundation
import TensorCore

/// The denoiser's spatial pass: a 5×5 joint bilateral filter on one or three planes, guided by
/// one plane (the temporally averaged luma), its range set per pixel by the noise the temporal
/// pass left (`total`: the summed temporal weights). One set of 25 weights per pixel serves
/// every plane. Optionally a fraction of the original (`grain`) is put back.
///
/// As FFmpeg and ncnn keep them, the plain kernel (`pixel`, any position, the edge repeated)
/// and its SIMD version (`eightPixels`, eight pixels inside the picture) are separate functions,
/// tested against each other; `filter` uses the SIMD one where it can unless told not to.
struct JointBilateral {
    let width: Int, height: Int
    let planeCount: Int
    /// 1 / (2·2.5²·σ²): 1 / the range for a pixel whose temporal weights sum to 1.
    let inverseRange: Float
    let grain: Float

    /// Gaussian spatial weights (σ 1.5) of the 5×5 window, row by row.
    static let spatial: [Float] = (-2...2).flatMap { dy in
        (-2...2).map { dx in expf(-Float(dx * dx + dy * dy) / (2 * 1.5 * 1.5)) }
    }

    /// The bilateral filter's range kernel, exp(−x) as (1 − x/256)^256: within 0.2 % of exp(−x)
    /// for x ≤ 1 and at most 0.002 below it anywhere, and eight multiplications in SIMD lanes
    /// where a table lookup cannot go.
    @inline(__always) static func rangeWeight(_ x: Float) -> Float {
        var b = max(1 - x * (1 / 256), 0)
        for _ in 0..<8 { b *= b }
        return b
    }

    @inline(__always) static func rangeWeight(_ x: SIMD8<Float>) -> SIMD8<Float> {
        var b = 1 - x * (1 / 256)
        b = b.replacing(with: 0, where: b .< 0)
        for _ in 0..<8 { b *= b }
        return b
    }

    /// The memory one call reads and writes: `source` holds the planes side by side (then, when
    /// `grain` > 0, the originals side by side); `out` the filtered planes side by side.
    struct Planes {
        let out: UnsafeMutablePointer<Float>
        let source: UnsafePointer<Float>
        let guide: UnsafePointer<Float>
        let total: UnsafePointer<Float>
        let spatial: UnsafePointer<Float>
    }

    /// Filters every pixel; rows run in parallel (each writes only its own row).
    func filter(source: [Float], guide: [Float], total: [Float], simd: Bool = true) -> [Float] {
        let n = width * height
        var result = [Float](repeating: 0, count: planeCount * n)
        result.withUnsafeMutableBufferPointer { rp in
            source.withUnsafeBufferPointer { sp in
                guide.withUnsafeBufferPointer { gp in
                    total.withUnsafeBufferPointer { tp in
                        Self.spatial.withUnsafeBufferPointer { wp in
                            let p = Planes(
                                out: rp.baseAddress!, source: sp.baseAddress!, guide: gp.baseAddress!,
                                total: tp.baseAddress!, spatial: wp.baseAddress!)
                            Parallel.forEach(height) { y in row(y, p, simd: simd) }
                        }
                    }
                }
            }
        }
        return result
    }

    /// One row: eight pixels at a time inside the picture (two pixels from every edge), the plain
    /// kernel elsewhere.
    func row(_ y: Int, _ p: Planes, simd: Bool) {
        var x = 0
        if simd && y >= 2 && y < height - 2 {
            while x < 2 {
                pixel(x, y, p)
                x += 1
            }
            while x + 8 <= width - 2 {
                eightPixels(x, y, p)
                x += 8
            }
        }
        while x < width {
            pixel(x, y, p)
            x += 1
        }
    }

    /// The plain kernel: one pixel at any position (the picture's edge repeats).
    func pixel(_ x: Int, _ y: Int, _ p: Planes) {
        let w = width, h = height, n = w * h, i = y * w + x
        // range = 2·(2.5·σ/√total)²: the noise left after averaging
        let k = inverseRange * p.total[i], g0 = p.guide[i]
        withUnsafeTemporaryAllocation(of: (offset: Int, weight: Float).self, capacity: 25) { taps in
            var sum: Float = 0
            for t in 0..<25 {
                let q = min(max(y + t / 5 - 2, 0), h - 1) * w + min(max(x + t % 5 - 2, 0), w - 1)
                let e = p.guide[q] - g0
                taps[t] = (q, p.spatial[t] * Self.rangeWeight(e * e * k))
                sum += taps[t].weight
            }
            let norm = 1 / sum
            for c in 0..<planeCount {
                let plane = p.source + c * n
                var s: Float = 0
                for t in 0..<25 { s += taps[t].weight * plane[taps[t].offset] }
                var v = s * norm
                if grain > 0 { v += grain * (p.source[(planeCount + c) * n + i] - v) }
                p.out[c * n + i] = min(max(v, 0), 1)
            }
        }
    }

    /// The SIMD kernel: pixels x…x+7 of row y, all at least two pixels inside the picture; the
    /// same arithmetic as `pixel` in eight lanes.
    @inline(__always) func eightPixels(_ x: Int, _ y: Int, _ p: Planes) {
        let w = width, n = w * height, i = y * w + x
        func load(_ q: UnsafePointer<Float>, _ at: Int) -> SIMD8<Float> {
            UnsafeRawPointer(q + at).loadUnaligned(as: SIMD8<Float>.self)
        }
        let k = load(p.total, i) * inverseRange, g0 = load(p.guide, i)
        var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), s2 = SIMD8<Float>(), sum = SIMD8<Float>()
        for t in 0..<25 {
            let o = i + (t / 5 - 2) * w + t % 5 - 2
            let e = load(p.guide, o) - g0
            let wt = Self.rangeWeight(e * e * k) * p.spatial[t]
            sum += wt
            s0 += wt * load(p.source, o)
            if planeCount == 3 {
                s1 += wt * load(p.source, n + o)
                s2 += wt * load(p.source, 2 * n + o)
            }
        }
        let norm = 1 / sum
        for c in 0..<planeCount {
            var v = (c == 0 ? s0 : c == 1 ? s1 : s2) * norm
            if grain > 0 { v += grain * (load(p.source, (planeCount + c) * n + i) - v) }
            v = v.replacing(with: 0, where: v .< 0).replacing(with: 1, where: v .> 1)
            UnsafeMutableRawPointer(p.out + c * n + i).storeBytes(of: v, as: SIMD8<Float>.self)
        }
    }
}
