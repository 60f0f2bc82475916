import Foundation
import FilmCore

/// `deflicker`: removes brightness flicker (uneven exposure and processing) by matching each
/// frame's luminance, over the whole frame and in coarse regions, to its trend over a window of
/// neighbouring frames of the same shot.
///
/// For frame i the trend of a statistic (mean luma of the frame, or of one region) is the least-
/// squares quadratic through its values over the window, read at i; at a shot boundary
/// (`scenecut`) the window is cut and the fit still follows a real fade. Linear fades, to black or between levels, are kept exactly;
/// near-black frames are left alone. Optional regional corrections (`grid`) ride on the global one
/// and are limited (moving objects change a region's mean for real); per-pixel gains are
/// interpolated bilinearly between region centres. Holds `window / 2` frames back.
public final class DeflickerStage: Stage {
    public static let spec = StageSpec(
        name: "deflicker",
        summary: "removes brightness flicker (global and regional), keeps fades, resets at scene cuts",
        traits: [.cleanup, .temporal],
        options: [
            .integer("window", 1...301, .odd, default: 15, "frames the brightness trend is taken over"),
            .size(
                "grid", maxSide: 16, default: (1, 1),
                "regions for a local correction, COLUMNSxROWS (1x1: global only; 3x3 for uneven exposure across the frame)"
            ),
            .number("local", 0...1, default: 0.1, "largest regional correction beyond the global one, as a fraction"),
            .number("strength", 0...1, default: 1, "how much of the correction to apply"),
        ])

    let radius: Int
    let columns: Int, rows: Int
    let localLimit: Double
    let strength: Double

    /// By input number: mean luma of the frame, then of each region (row-major).
    private var stats: [Int: [Double]] = [:]
    private var pending: [Int: Frame] = [:]
    private var cuts: [Int] = []
    private var received = 0, emitted = 0
    static let dark = 0.02

    public var window: TemporalWindow { TemporalWindow(past: radius, future: radius) }

    public init(options: StageOptions) throws {
        radius = options.int("window") / 2
        (columns, rows) = options.size("grid")
        localLimit = options.number("local")
        strength = options.number("strength")
    }

    public func configure(_ input: StreamInfo) throws -> StreamInfo { input }

    public func process(_ frame: Frame, emit: (Frame) throws -> Void) throws {
        let i = received
        received += 1
        if frame.properties.sceneCut && i > 0 { cuts.append(i) }
        stats[i] = measure(frame)
        pending[i] = frame
        while emitted + radius < received { try release(emit) }
    }

    public func flush(emit: (Frame) throws -> Void) throws {
        while emitted < received { try release(emit) }
        stats = [:]
        pending = [:]
        cuts = []
    }

    private func release(_ emit: (Frame) throws -> Void) throws {
        let i = emitted
        emitted += 1
        guard let f = pending.removeValue(forKey: i) else { return }
        // the window, cut at the shots' edges
        let shotStart = cuts.last(where: { $0 <= i }) ?? 0
        let nextCut = cuts.first(where: { $0 > i }) ?? Int.max
        let lo = max(i - radius, shotStart), hi = min(i + radius, received - 1, nextCut - 1)
        let own = stats[i]!
        let trend = (0..<own.count).map { s in Self.trend((lo...hi).map { stats[$0]![s] }, at: i - lo) }
        stats[i - radius - 1] = nil
        cuts.removeAll { $0 < shotStart }
        try emit(apply(f, own: own, trend: trend))
    }

    /// The least-squares quadratic (a line below 5 values) through values[0…n−1], read at `x0`:
    /// it follows fades and their ends, while frame-to-frame flicker averages out.
    static func trend(_ v: [Double], at x0: Int) -> Double {
        let n = v.count
        guard n > 1 else { return v[0] }
        let order = n >= 5 ? 2 : 1
        let mx = Double(n - 1) / 2
        // normal equations for y ≈ Σ c_k (x − mx)^k
        var a = [[Double]](repeating: [Double](repeating: 0, count: order + 2), count: order + 1)
        for (j, y) in v.enumerated() {
            let x = Double(j) - mx
            var pw = [Double](repeating: 1, count: 2 * order + 1)
            for k in 1..<pw.count { pw[k] = pw[k - 1] * x }
            for r in 0...order {
                for c in 0...order { a[r][c] += pw[r + c] }
                a[r][order + 1] += pw[r] * y
            }
        }
        // Gauss-Jordan (tiny, well conditioned on centred x)
        for col in 0...order {
            let p = a[col][col]
            for c in col...(order + 1) { a[col][c] /= p }
            for r in 0...order where r != col {
                let f = a[r][col]
                for c in col...(order + 1) { a[r][c] -= f * a[col][c] }
            }
        }
        let x = Double(x0) - mx
        var y = 0.0, pw = 1.0
        for k in 0...order {
            y += a[k][order + 1] * pw
            pw *= x
        }
        return y
    }

    private func measure(_ f: Frame) -> [Double] {
        let y = f.luma
        let global = y.reduce(0.0) { $0 + Double($1) } / Double(y.count)
        return [global] + blockMeans(y, width: f.width, height: f.height, columns: columns, rows: rows)
    }

    private func gain(_ own: Double, _ trend: Double, limit: ClosedRange<Double>) -> Double {
        guard own > Self.dark, trend > 0 else { return 1 }
        return min(max(trend / own, limit.lowerBound), limit.upperBound)
    }

    private func apply(_ f: Frame, own: [Double], trend: [Double]) -> Frame {
        let global = gain(own[0], trend[0], limit: 0.5...2)
        // regional gains relative to the global one, limited
        let regional = (0..<(columns * rows)).map { k -> Double in
            gain(own[k + 1] * global, trend[k + 1], limit: (1 - localLimit)...(1 + localLimit))
        }
        let s = strength
        let cellGain = regional.map { Float(1 + s * ($0 * global - 1)) }
        if cellGain.allSatisfy({ abs($0 - 1) < 1e-6 }) { return f }
        // per-pixel gain: bilinear between region centres (constant beyond the outer centres)
        func axis(_ n: Int, _ cells: Int) -> [(Int, Int, Float)] {
            (0..<n).map { p in
                let u = min(max((Double(p) + 0.5) * Double(cells) / Double(n) - 0.5, 0), Double(cells - 1))
                let a = Int(u), b = min(a + 1, cells - 1)
                return (a, b, Float(u - Double(a)))
            }
        }
        let ax = axis(f.width, columns), ay = axis(f.height, rows)
        let w = f.width
        var pixelGain = [Float](repeating: 1, count: w * f.height)  // once, for every plane
        for yy in 0..<f.height {
            let (r0, r1, fy) = ay[yy]
            for x in 0..<w {
                let (c0, c1, fx) = ax[x]
                let top = cellGain[r0 * columns + c0] + (cellGain[r0 * columns + c1] - cellGain[r0 * columns + c0]) * fx
                let bottom =
                    cellGain[r1 * columns + c0] + (cellGain[r1 * columns + c1] - cellGain[r1 * columns + c0]) * fx
                pixelGain[yy * w + x] = top + (bottom - top) * fy
            }
        }
        var out = f
        out.planes = f.planes.map { plane -> [Float] in
            zip(plane, pixelGain).map { (v: Float, g: Float) -> Float in min(max(v * g, 0), 1) }
        }
        return out
    }
}
