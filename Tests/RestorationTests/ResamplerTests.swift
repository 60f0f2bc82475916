import XCTest
import TensorCore
import TestSupport
@testable import Restoration

/// The Resampler's SIMD row pass against Lanczos-3 written out directly in double precision.
final class ResamplerTests: XCTestCase {
    /// Separable Lanczos-3 with the Resampler's geometry (pixel centres, the kernel widened by the scale when
    /// shrinking, normalized weights, edges clamped), in doubles, one output pixel at a time.
    func reference(_ src: [Float], _ sw: Int, _ sh: Int, _ dw: Int, _ dh: Int) -> [Double] {
        func taps(_ n: Int, _ m: Int, _ i: Int) -> [(Int, Double)] {
            let scale = Double(m) / Double(n), support = scale < 1 ? 3 / scale : 3, stretch = min(scale, 1)
            let center = (Double(i) + 0.5) / scale - 0.5
            let first = Int((center - support).rounded(.up)), count = Int((support * 2).rounded(.up)) + 1
            let ws = (0..<count).map { k -> Double in
                let x = (Double(first + k) - center) * stretch
                if x == 0 { return 1 }
                if abs(x) >= 3 { return 0 }
                return 3 * sin(Double.pi * x) * sin(Double.pi * x / 3) / (Double.pi * x * Double.pi * x)
            }
            let sum = ws.reduce(0, +)
            return (0..<count).map { (min(max(first + $0, 0), n - 1), ws[$0] / sum) }
        }
        let tx = (0..<dw).map { taps(sw, dw, $0) }, ty = (0..<dh).map { taps(sh, dh, $0) }
        var out = [Double](repeating: 0, count: dw * dh)
        for y in 0..<dh {
            for x in 0..<dw {
                var acc = 0.0
                for (sy, wy) in ty[y] { for (sx, wx) in tx[x] { acc += wy * wx * Double(src[sy * sw + sx]) } }
                out[y * dw + x] = acc
            }
        }
        return out
    }

    func test_lanczos_downUpAndOdd_matchesTheDirectSum_onEveryInstructionSet() throws {
        var rng = SystemRandomNumberGenerator()
        let isas = InstructionSet.allCases.filter { $0.rawValue <= Kernels.supported.rawValue }
        // shrinking by 4 (the motion estimate's copy: 25 taps), enlarging by 1.125 (the 4K fit: 7 taps),
        // odd sizes both ways, narrower than the taps at the edges
        for (sw, sh, dw, dh) in [(96, 64, 24, 16), (64, 48, 72, 54), (37, 23, 50, 11), (13, 9, 5, 20)] {
            let src = (0..<(sw * sh)).map { _ in Float.random(in: 0...1, using: &rng) }
            let want = reference(src, sw, sh, dw, dh)
            for isa in isas {
                let got = Kernels.using(isa) { Resampler(from: sw, sh, to: dw, dh).resample(src) }
                let worst = (try maxAbsDifference(got, want))
                XCTAssertLessThan(worst, 1e-5, "\(isa) \(sw)x\(sh) → \(dw)x\(dh)")
            }
        }
    }
}
