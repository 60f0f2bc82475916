import Foundation
import FilmCore

/// How faithful a restored frame is to its source: the output's luminance scaled back to the
/// source's size (Lanczos, low-passed when shrinking) and compared with the source's — PSNR and
/// SSIM (Wang et al. 2004, 7×7 box windows, K1 0.01, K2 0.03 on a 0…1 range). An upscaler that adds
/// plausible texture keeps both high once scaled back; a frame whose content was replaced or
/// hallucinated (another face, another shot) does not.
public enum Fidelity {
    public struct Score: Codable, Sendable, Equatable {
        public var psnr: Double
        public var ssim: Double
    }

    public static func score(output: Frame, source: Frame) -> Score {
        var y = output.luma
        if output.width != source.width || output.height != source.height {
            y = Resampler(from: output.width, output.height, to: source.width, source.height).resample(y)
        }
        return compare(y, source.luma, width: source.width, height: source.height)
    }

    /// PSNR and SSIM of two planes of one size (values 0…1).
    public static func compare(_ a: [Float], _ b: [Float], width w: Int, height h: Int) -> Score {
        precondition(a.count == w * h && b.count == w * h)
        var se = 0.0
        for i in 0..<a.count {
            let d = Double(a[i] - b[i])
            se += d * d
        }
        let mse = se / Double(a.count)
        let psnr = mse > 0 ? 10 * log10(1 / mse) : .infinity
        let r = 3
        let ma = boxMean(a, width: w, height: h, radius: r), mb = boxMean(b, width: w, height: h, radius: r)
        let aa = boxMean(a.map { $0 * $0 }, width: w, height: h, radius: r)
        let bb = boxMean(b.map { $0 * $0 }, width: w, height: h, radius: r)
        let ab = boxMean(zip(a, b).map { $0 * $1 }, width: w, height: h, radius: r)
        let c1 = 0.01 * 0.01, c2 = 0.03 * 0.03
        var sum = 0.0
        for i in 0..<a.count {
            let mx = Double(ma[i]), my = Double(mb[i])
            let vx = max(0, Double(aa[i]) - mx * mx), vy = max(0, Double(bb[i]) - my * my),
                cxy = Double(ab[i]) - mx * my
            sum += (2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        }
        return Score(psnr: psnr, ssim: sum / Double(a.count))
    }
}
