import Foundation
import FilmCore
import TensorCore

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
    public static let spec = StageSpec(
        name: "denoise",
        summary:
            "motion-compensated temporal denoise with an edge-preserving spatial fallback; noise measured per frame",
        traits: [.cleanup, .temporal],
        options: [
            .autoNumber("strength", 0...100, "noise level σ on the 0–255 scale; auto measures it per frame"),
            .integer("radius", 0...6, default: 2, "frames used on each side"),
            .number("grain", 0...1, default: 0, "how much of the removed grain to put back"),
        ])

    let sigmaOption: Float?  // 0…1 scale; nil = auto
    let radius: Int
    let grain: Float
    let matcher = BlockMatcher()
    private var held: ShotWindow
    /// The noise level (0–255) of the last frame, for statistics and tests.
    public private(set) var lastSigma: Float = 0

    public var window: TemporalWindow { TemporalWindow(past: radius, future: radius) }

    public init(options: StageOptions) throws {
        sigmaOption = options.autoNumber("strength").map { Float($0) / 255 }
        radius = options.int("radius")
        held = ShotWindow(past: radius, future: radius)
        grain = Float(options.number("grain"))
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
                if g.width == f.width && g.height == f.height && g.layout == f.layout {
                    neighbours.append((g, held.luma(i + side * d)!))
                }
            }
        }
        var out = denoise(f, luma: held.luma(i)!, neighbours)
        // The grain it took out, handed forward for the `grain` stage.
        GrainProfile.measure(original: held.luma(i)!, cleaned: out.luma, width: f.width, height: f.height).store(
            in: &out.properties)
        try emit(out)
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

    /// Frame f (luma y) denoised with its neighbours of the same shot (each with its luma).
    func denoise(_ f: Frame, luma y: [Float], _ neighbours: [(Frame, [Float])]) -> Frame {
        let w = f.width, h = f.height, n = w * h
        let sigma = sigmaOption ?? NoiseEstimate.sigma(y, width: w, height: h)
        lastSigma = sigma * 255
        guard sigma > 0.5 / 255 else { return f }
        // a vector per block, not per pixel: a per-pixel choice fits the noise and averages less of it
        let aligned = matcher.align(neighbours, toLuma: y, perPixel: false)
        let (temporal, total) = Self.temporalAverage(f, luma: y, aligned, sigma: sigma)
        // spatial: joint bilateral (5×5, guided by the temporal luma), range set by the noise left
        let guide = f.with(width: w, height: h, planes: temporal).luma
        let planeCount = temporal.count
        let bilateral = JointBilateral(
            width: w, height: h, planeCount: planeCount, inverseRange: 1 / (2 * 2.5 * 2.5 * sigma * sigma),
            grain: grain)
        let result = bilateral.filter(
            source: temporal.flatMap { $0 } + (grain > 0 ? f.planes.flatMap { $0 } : []), guide: guide, total: total)
        var out = f
        out.planes = (0..<planeCount).map { c in Array(result[c * n..<(c + 1) * n]) }
        return out
    }

    /// The temporal pass: each plane averaged over the frame (weight 1) and its aligned
    /// neighbours, each weighted per pixel by its confidence (from the 3×3 mean squared luma
    /// difference beyond the noise); also the summed weights per pixel.
    static func temporalAverage(
        _ f: Frame, luma y: [Float], _ aligned: [BlockMatcher.Aligned],
        sigma: Float
    ) -> (planes: [[Float]], total: [Float]) {
        let w = f.width, h = f.height, n = w * h
        let s2 = 2 * sigma * sigma
        let weights: [[Float]] = aligned.map { a in
            let msd = boxMean(zip(y, a.luma).map { ($0 - $1) * ($0 - $1) }, width: w, height: h, radius: 1)
            return (0..<n).map { a.valid[$0] ? expNeg(max(msd[$0] - s2, 0) / s2, expTable) : 0 }
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
        return (temporal, total)
    }
}
