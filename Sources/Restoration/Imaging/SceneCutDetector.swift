import Foundation
import FilmCore

/// Finds hard cuts between consecutive frames, and only hard cuts: fades, dissolves, flicker, grain
/// and camera motion are not cuts.
///
/// Each frame is reduced to a luma thumbnail about 64 pixels wide (block means: grain averages
/// out). The change between two frames is 1 − the best normalized cross-correlation of their
/// thumbnails over shifts of up to ±2 thumbnail pixels: normalizing removes brightness and contrast
/// changes (flicker, fades), the shift search absorbs ordinary motion. A cut is a change above
/// `hard`, or above `threshold` that is also `ratio` times the change into the frame before and
/// out of the frame after (an isolated spike, where fast motion gives a run of high values).
/// Near-flat thumbnails (black or white frames in a fade) never make a cut.
public struct SceneCutDetector: Sendable {
    public var threshold: Double
    public var ratio: Double
    public var hard: Double

    public init(threshold: Double = 0.35, ratio: Double = 2.5, hard: Double = 0.65) {
        self.threshold = threshold
        self.ratio = ratio
        self.hard = max(hard, threshold)
    }

    /// A frame reduced for comparison.
    public struct Thumbnail: Sendable {
        public let width: Int, height: Int
        public let values: [Float]
        public let mean: Float, deviation: Float
    }

    public static let thumbnailWidth = 64
    static let searchRadius = 2
    static let flatDeviation: Float = 0.02

    public static func thumbnail(_ f: Frame) -> Thumbnail {
        let tw = min(thumbnailWidth, f.width)
        let th = max(1, min(f.height, Int((Double(tw) * Double(f.height) / Double(f.width)).rounded())))
        let v = blockMeans(f.luma, width: f.width, height: f.height, columns: tw, rows: th).map { Float($0) }
        let mean = v.reduce(0, +) / Float(v.count)
        let dev = (v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(v.count)).squareRoot()
        return Thumbnail(width: tw, height: th, values: v, mean: mean, deviation: dev)
    }

    /// 1 − the best correlation over small shifts (0 = same picture, about 1 = unrelated).
    public static func change(_ a: Thumbnail, _ b: Thumbnail) -> Double {
        guard a.width == b.width, a.height == b.height else { return 1 }
        if a.deviation < flatDeviation || b.deviation < flatDeviation { return 0 }
        let r = min(searchRadius, (a.width - 1) / 4, (a.height - 1) / 4)
        let w = a.width - 2 * r, h = a.height - 2 * r
        var best: Double = -1
        for dy in -r...r {
            for dx in -r...r {
                var sa = 0.0, sb = 0.0, saa = 0.0, sbb = 0.0, sab = 0.0
                for y in 0..<h {
                    let ra = (y + r) * a.width + r, rb = (y + r + dy) * b.width + r + dx
                    for x in 0..<w {
                        let va = Double(a.values[ra + x]), vb = Double(b.values[rb + x])
                        sa += va
                        sb += vb
                        saa += va * va
                        sbb += vb * vb
                        sab += va * vb
                    }
                }
                let n = Double(w * h)
                let cov = sab / n - sa / n * sb / n
                let va = saa / n - sa / n * sa / n, vb = sbb / n - sb / n * sb / n
                guard va > 1e-10, vb > 1e-10 else { continue }
                best = max(best, cov / (va * vb).squareRoot())
            }
        }
        return 1 - best
    }

    /// Is the frame whose incoming change is `current` a cut, given the changes into the frame
    /// before it and out of it?
    public func isCut(previous: Double, current: Double, next: Double) -> Bool {
        if current >= hard { return true }
        return current >= threshold && current >= ratio * max(previous, next)
    }
}
