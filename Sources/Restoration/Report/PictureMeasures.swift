import Foundation

/// Per-frame figures of a picture's luminance (values 0…1) for the restoration report.
public enum PictureMeasures {
    public static func mean(_ y: [Float]) -> Double {
        var s = 0.0
        for v in y { s += Double(v) }
        return y.isEmpty ? 0 : s / Double(y.count)
    }

    /// The standard deviation of the noise (grain) in 8-bit levels: Immerkær's estimator ("Fast
    /// noise variance estimation", CVIU 1996), the one `denoise` measures its input with. It reads
    /// the grain of a film, or what denoising left of it.
    public static func noiseSigma(_ y: [Float], width w: Int, height h: Int) -> Double {
        255 * Double(NoiseEstimate.sigma(y, width: w, height: h))
    }

    /// Flicker: how far each frame's mean brightness strays from the local trend — a straight line
    /// fitted to the frames around it (±`halfWindow` seconds, within its shot; at least 4 frames) —
    /// in percent of the film's mean brightness. Fades and lighting changes are slower than the
    /// window and do not count (nor at a shot's ends); frame-to-frame pumping does. Returns the index (RMS over the frames that have a value) and
    /// each frame's deviation.
    public static func flicker(means: [Double?], times: [Double], cuts: [Bool], halfWindow: Double = 0.25) -> (
        index: Double?, deviations: [Double?]
    ) {
        let n = means.count
        precondition(times.count == n && cuts.count == n)
        var shot = [Int](repeating: 0, count: n)
        for i in 1..<max(n, 1) { shot[i] = shot[i - 1] + (cuts[i] ? 1 : 0) }
        let known = means.compactMap { $0 }
        guard !known.isEmpty else { return (nil, Array(repeating: nil, count: n)) }
        let level = max(known.reduce(0, +) / Double(known.count), 1e-3)
        var dev = [Double?](repeating: nil, count: n)
        var lo = 0, hi = 0
        for i in 0..<n {
            guard let m = means[i] else { continue }
            while lo < i && (times[i] - times[lo] > halfWindow || shot[lo] != shot[i]) { lo += 1 }
            if hi < i { hi = i }
            while hi + 1 < n && times[hi + 1] - times[i] <= halfWindow && shot[hi + 1] == shot[i] { hi += 1 }
            // Least squares m ≈ a + b·(t − tᵢ); the deviation is m − a.
            var c = 0.0, st = 0.0, sm = 0.0, stt = 0.0, stm = 0.0
            for j in lo...hi {
                guard let v = means[j] else { continue }
                let t = times[j] - times[i]
                c += 1
                st += t
                sm += v
                stt += t * t
                stm += t * v
            }
            let det = c * stt - st * st
            if c >= 4 && det > 1e-12 {
                let a = (stt * sm - st * stm) / det
                dev[i] = 100 * (m - a) / level
            }
        }
        let d = dev.compactMap { $0 }
        return (d.isEmpty ? nil : sqrt(d.reduce(0) { $0 + $1 * $1 } / Double(d.count)), dev)
    }

    /// The centre of the size×size square with the most detail (largest variance) on a coarse
    /// grid: where a zoomed crop shows what the restoration did to fine structure.
    public static func detailCenter(_ y: [Float], width w: Int, height h: Int, size: Int) -> (x: Int, y: Int) {
        let s = max(4, min(size, w, h))
        let step = max(1, s / 4)
        var best = (x: w / 2, y: h / 2), bestVar = -1.0
        var ty = 0
        while ty + s <= h {
            var tx = 0
            while tx + s <= w {
                var sum = 0.0, sq = 0.0
                var yy = ty
                while yy < ty + s {
                    var xx = tx
                    while xx < tx + s {
                        let v = Double(y[yy * w + xx])
                        sum += v
                        sq += v * v
                        xx += 2
                    }
                    yy += 2
                }
                let n = Double(((s + 1) / 2) * ((s + 1) / 2))
                let v = sq / n - (sum / n) * (sum / n)
                if v > bestVar {
                    bestVar = v
                    best = (tx + s / 2, ty + s / 2)
                }
                tx += step
            }
            ty += step
        }
        return best
    }
}
