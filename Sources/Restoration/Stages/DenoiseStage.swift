import Foundation
import FilmCore

/// `denoise`: motion-compensated temporal filtering with a spatial fallback, sized to the noise.
///
/// The `radius` frames on each side (same shot only) are aligned to the current frame (block
/// matching with a smoothness prior, a vector choice per pixel). Each aligned pixel is averaged in
/// with a confidence from how well its 3×3 neighbourhood matches the current one, given the noise:
/// a match within the noise counts fully, a worse match (motion the alignment missed, occlusion,
/// a defect) fades out, so moving edges do not ghost. What noise is left — all of it where no
/// neighbour matched — goes to an edge-preserving spatial filter (a joint bilateral on luma) whose
/// strength is the remaining noise level. `strength: auto` measures the noise of every frame
/// (Immerkær's estimator on luma); `grain` puts part of the removed grain back for a film look.
public final class DenoiseStage: Stage {
    public static let name = "denoise"
    public static let summary = "motion-compensated temporal denoise with an edge-preserving spatial fallback; noise measured per frame"
    public static let options = [
        "strength": "noise level σ on the 0–255 scale, or auto (default: measured per frame)",
        "radius": "frames used on each side (default 2)",
        "grain": "0…1, how much of the removed grain to put back (default 0)",
    ]

    let sigmaOption: Float?          // 0…1 scale; nil = auto
    let radius: Int
    let grain: Float
    let matcher = BlockMatcher()
    private var held: ShotWindow
    /// The noise level (0–255) of the last frame, for statistics and tests.
    public private(set) var lastSigma: Float = 0

    public var window: TemporalWindow { TemporalWindow(past: radius, future: radius) }

    public init(options: StageOptions) throws {
        let s = options.string("strength", default: "auto")
        if s == "auto" { sigmaOption = nil } else {
            guard let v = Float(s), v >= 0, v <= 100 else {
                throw RestoreError.invalidOption(stage: Self.name, message: "strength must be auto or a noise level 0…100 (0–255 scale), not '\(s)'")
            }
            sigmaOption = v / 255
        }
        radius = try options.int("radius", default: 2, range: 0...6)
        held = ShotWindow(past: radius, future: radius)
        grain = Float(try options.double("grain", default: 0, range: 0...1))
    }

    public func configure(_ input: StreamInfo) throws -> StreamInfo { input }

    public func process(_ frame: Frame, emit: (Frame) throws -> Void) throws {
        held.add(frame)
        while let i = held.next(flushing: false) { try release(i, emit) }
    }

    public func flush(emit: (Frame) throws -> Void) throws {
        while let i = held.next(flushing: true) { try release(i, emit) }
        held.clear()
    }

    /// Frame i averaged with up to `radius` frames on each side, as far as its shot goes.
    private func release(_ i: Int, _ emit: (Frame) throws -> Void) throws {
        let f = held[i]!
        var neighbours: [(Frame, [Float])] = []
        for side in [-1, 1] {
            for d in 1...max(radius, 1) where radius > 0 {
                guard let g = held.neighbour(of: i, at: i + side * d) else { break }
                if g.width == f.width && g.height == f.height && g.layout == f.layout { neighbours.append((g, held.luma(i + side * d)!)) }
            }
        }
        try emit(denoise(f, luma: held.luma(i)!, neighbours))
    }

    /// exp(−x) for x ≥ 0 from a table (linear interpolation; error below 1e-4), 0 beyond 16.
    nonisolated(unsafe) static let expTable: UnsafeMutablePointer<Float> = {
        let t = UnsafeMutablePointer<Float>.allocate(capacity: 4097)
        for k in 0...4096 { t[k] = expf(-Float(k) / 256) }
        return t
    }()
    @inline(__always) static func expNeg(_ x: Float, _ table: UnsafeMutablePointer<Float>) -> Float {
        let u = x * 256
        guard u < 4096 else { return 0 }
        let i = Int(u), f = u - Float(i)
        return table[i] + (table[i + 1] - table[i]) * f
    }

    /// Immerkær's fast noise estimate (σ on the 0…1 scale) of a plane.
    public static func estimateNoise(_ p: [Float], width w: Int, height h: Int) -> Float {
        guard w > 2, h > 2 else { return 0 }
        var sum: Double = 0
        for y in 1..<(h - 1) {
            let a = (y - 1) * w, b = y * w, c = (y + 1) * w
            for x in 1..<(w - 1) {
                let v = p[a + x - 1] - 2 * p[a + x] + p[a + x + 1] - 2 * p[b + x - 1] + 4 * p[b + x] - 2 * p[b + x + 1]
                    + p[c + x - 1] - 2 * p[c + x] + p[c + x + 1]
                sum += Double(abs(v))
            }
        }
        return Float((Double.pi / 2).squareRoot() * sum / (6 * Double((w - 2) * (h - 2))))
    }

    /// Frame f (luma y) denoised with its neighbours of the same shot (each with its luma).
    func denoise(_ f: Frame, luma y: [Float], _ neighbours: [(Frame, [Float])]) -> Frame {
        let w = f.width, h = f.height, n = w * h
        let sigma = sigmaOption ?? Self.estimateNoise(y, width: w, height: h)
        lastSigma = sigma * 255
        guard sigma > 0.5 / 255 else { return f }
        let aligned = neighbours.map { matcher.align($0.0, luma: $0.1, toLuma: y) }
        let s2 = 2 * sigma * sigma
        let E = Self.expTable
        // temporal: confidence per neighbour and pixel from the 3×3 mean squared luma difference
        var weights = [[Float]](repeating: [Float](repeating: 0, count: n), count: aligned.count)
        for k in 0..<aligned.count {
            let ay = aligned[k].luma, valid = aligned[k].valid
            weights[k].withUnsafeMutableBufferPointer { wp in
                let out = wp
                DispatchQueue.concurrentPerform(iterations: h) { yy in
                    for x in 0..<w {
                        guard valid[yy * w + x] else { out[yy * w + x] = 0; continue }
                        var d: Float = 0, c: Float = 0
                        for py in max(yy - 1, 0)...min(yy + 1, h - 1) { for px in max(x - 1, 0)...min(x + 1, w - 1) {
                            let e = y[py * w + px] - ay[py * w + px]; d += e * e; c += 1
                        }}
                        let excess = max(d / c - s2, 0)
                        out[yy * w + x] = Self.expNeg(excess / s2, E)
                    }
                }
            }
        }
        var total = [Float](repeating: 1, count: n)
        for wk in weights { for i in 0..<n { total[i] += wk[i] } }
        // Σ w·aligned over the current pixel (weight 1) and every neighbour, then / Σ w
        var temporal = f.planes
        for c in 0..<temporal.count {
            temporal[c].withUnsafeMutableBufferPointer { acc in
                for (wk, a) in zip(weights, aligned) {
                    let ac = a.planes[c]
                    for i in 0..<n { acc[i] += wk[i] * ac[i] }
                }
                for i in 0..<n { acc[i] /= total[i] }
            }
        }
        // spatial: joint bilateral (5×5, guided by the temporal luma), range set by the noise left
        let guide = f.with(width: w, height: h, planes: temporal).luma
        let spatialW: [Float] = (-2...2).flatMap { dy in (-2...2).map { dx in expf(-Float(dx * dx + dy * dy) / (2 * 1.5 * 1.5)) } }
        var out = f
        let inv = 1 / (2 * 2.5 * 2.5 * sigma * sigma)        // 1 / range for total weight 1
        out.planes = temporal.enumerated().map { c, plane in
            var dst = [Float](repeating: 0, count: n)
            dst.withUnsafeMutableBufferPointer { dp in plane.withUnsafeBufferPointer { pp in guide.withUnsafeBufferPointer { gp in
            total.withUnsafeBufferPointer { tp in f.planes[c].withUnsafeBufferPointer { op in spatialW.withUnsafeBufferPointer { sw in
                let o = dp.baseAddress!, P = pp.baseAddress!, G = gp.baseAddress!, T = tp.baseAddress!, orig = op.baseAddress!, W = sw.baseAddress!
                DispatchQueue.concurrentPerform(iterations: h) { yy in
                    let inner = yy >= 2 && yy < h - 2
                    for x in 0..<w {
                        let i = yy * w + x
                        // range = 2·(2.5·σ/√total)²: the noise left after averaging
                        let k = inv * T[i]
                        let g0 = G[i]
                        var s: Float = 0, ws: Float = 0
                        if inner && x >= 2 && x < w - 2 {
                            var t = 0
                            for dy in -2...2 {
                                let row = i + dy * w
                                for dx in -2...2 {
                                    let e = G[row + dx] - g0
                                    let wt = W[t] * Self.expNeg(e * e * k, E)
                                    s += wt * P[row + dx]; ws += wt; t += 1
                                }
                            }
                        } else {
                            var t = 0
                            for dy in -2...2 {
                                let py = min(max(yy + dy, 0), h - 1)
                                for dx in -2...2 {
                                    let q = py * w + min(max(x + dx, 0), w - 1)
                                    let e = G[q] - g0
                                    let wt = W[t] * Self.expNeg(e * e * k, E)
                                    s += wt * P[q]; ws += wt; t += 1
                                }
                            }
                        }
                        let v = s / ws
                        o[i] = min(max(v + grain * (orig[i] - v), 0), 1)
                    }
                }
            }}}}}}
            return dst
        }
        return out
    }
}
