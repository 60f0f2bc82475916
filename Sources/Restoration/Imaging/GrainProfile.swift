import Foundation
import FilmCore

/// A film's grain as measured where the cleanup removes it: its strength as a function of the
/// picture's brightness (grain is strongest in the mid-tones of a negative, weaker in the shadows
/// and highlights), and its size (the spatial correlation of neighbouring grain values), at the
/// resolution it was measured at. Carried forward on each frame as properties (`grain.*`), so the
/// `grain` stage can put grain back at the output's resolution.
public struct GrainProfile: Sendable, Equatable {
    /// Grain σ (0…1 scale) in `bins` equal brightness bins of the cleaned luma.
    public var sigma: [Float]
    /// Lag-1 autocorrelation of the grain (0: white, independent pixels; towards 1: large clumps).
    public var correlation: Float
    /// The picture width and height the profile was measured at.
    public var width: Int, height: Int

    public static let bins = 8

    /// The grain's Gaussian size (standard deviation in pixels of the blur that, applied to white
    /// noise, gives this correlation: ρ = exp(−1 / (4 s²))).
    public var size: Float {
        let r = min(max(correlation, 0.02), 0.98)
        return (-1 / (4 * log(r))).squareRoot()
    }

    /// The profile of the grain a cleanup removed: `original` and `cleaned` luma of one frame.
    public static func measure(original: [Float], cleaned: [Float], width w: Int, height h: Int) -> GrainProfile {
        var sum = [Double](repeating: 0, count: bins), count = [Int](repeating: 0, count: bins)
        var lag = 0.0, energy = 0.0
        for y in 0..<h {
            for x in 0..<w {
                let i = y * w + x
                let r = Double(original[i] - cleaned[i])
                let b = min(bins - 1, max(0, Int(cleaned[i] * Float(bins))))
                sum[b] += r * r
                count[b] += 1
                energy += r * r
                if x + 1 < w { lag += r * Double(original[i + 1] - cleaned[i + 1]) }
                if y + 1 < h { lag += r * Double(original[i + w] - cleaned[i + w]) }
            }
        }
        let overall = Float((energy / Double(max(w * h, 1))).squareRoot())
        // A cleanup leaves the grain's coarse part in the picture: what it took out is scaled to the
        // level the original shows (Immerkær's estimate of both), at most ×3.
        let residual = zip(original, cleaned).map { $0 - $1 }
        let shown = NoiseEstimate.sigma(original, width: w, height: h),
            taken = NoiseEstimate.sigma(residual, width: w, height: h)
        let gain = taken > 1e-5 ? min(max(shown / taken, 1), 3) : 1
        // A bin with too few pixels to say takes the overall level.
        let sigma = (0..<bins).map { b in
            gain * (count[b] >= max(64, w * h / 200) ? Float((sum[b] / Double(count[b])).squareRoot()) : overall)
        }
        let corr = energy > 0 ? Float(lag / (2 * energy)) : 0
        return GrainProfile(sigma: sigma, correlation: max(0, corr), width: w, height: h)
    }

    /// σ at brightness v (linear between bin centres).
    public func sigma(at v: Float) -> Float {
        let p = min(max(v * Float(sigma.count) - 0.5, 0), Float(sigma.count - 1))
        let i = Int(p), f = p - Float(i)
        return i + 1 < sigma.count ? sigma[i] * (1 - f) + sigma[i + 1] * f : sigma[i]
    }

    /// Written into a frame's properties (the typed `grain` property every stage passes on).
    public func store(in p: inout FrameProperties) {
        p.grain = MeasuredGrain(sigma: sigma, correlation: correlation, width: width, height: height)
    }

    /// Read from a frame's properties (nil when no stage measured the grain, or the measure is not a profile).
    public init?(_ p: FrameProperties) {
        guard let g = p.grain, g.sigma.count == Self.bins, g.sigma.allSatisfy({ $0.isFinite && $0 >= 0 && $0 < 1 }),
            g.correlation.isFinite, g.width > 0, g.height > 0
        else { return nil }
        self.init(sigma: g.sigma, correlation: min(max(g.correlation, 0), 0.99), width: g.width, height: g.height)
    }

    public init(sigma: [Float], correlation: Float, width: Int, height: Int) {
        self.sigma = sigma
        self.correlation = correlation
        self.width = width
        self.height = height
    }
}
