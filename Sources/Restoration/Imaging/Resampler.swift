import Foundation
import TensorCore

/// Separable Lanczos-3 resampling of float planes, with filter taps computed once per geometry.
///
/// Downscaling widens the kernel by the scale factor (so it low-passes instead of aliasing);
/// edges clamp. Rows are processed on all cores.
public final class Resampler {
    public let srcWidth: Int, srcHeight: Int, dstWidth: Int, dstHeight: Int
    private let h: Taps, v: Taps

    struct Taps {
        var start: [Int32]  // first source index per output sample
        var count: Int  // taps per output sample
        var weights: [Float]  // count per output sample
        var padded: Int  // count rounded up to a multiple of 8
        var paddedWeights: [Float]  // padded per output sample, zeros after count (the SIMD pass's layout)

        init(src: Int, dst: Int, a: Double = 3) {
            let scale = Double(dst) / Double(src)
            let support = scale < 1 ? a / scale : a
            let count = Int((support * 2).rounded(.up)) + 1
            self.count = count
            start = [Int32](repeating: 0, count: dst)
            weights = [Float](repeating: 0, count: dst * count)
            let stretch = scale < 1 ? scale : 1
            for i in 0..<dst {
                let center = (Double(i) + 0.5) / scale - 0.5
                let first = Int((center - support).rounded(.up))
                start[i] = Int32(first)
                var ws = [Double](repeating: 0, count: count), sum = 0.0
                for k in 0..<count {
                    let x = (Double(first + k) - center) * stretch
                    let w = Taps.lanczos(x, a)
                    ws[k] = w
                    sum += w
                }
                for k in 0..<count { weights[i * count + k] = Float(ws[k] / sum) }
            }
            padded = (count + 7) / 8 * 8
            paddedWeights = [Float](repeating: 0, count: dst * padded)
            for i in 0..<dst {
                for k in 0..<count { paddedWeights[i * padded + k] = weights[i * count + k] }
            }
        }

        static func lanczos(_ x: Double, _ a: Double) -> Double {
            if x == 0 { return 1 }
            if abs(x) >= a { return 0 }
            let px = Double.pi * x
            return a * sin(px) * sin(px / a) / (px * px)
        }
    }

    public init(from sw: Int, _ sh: Int, to dw: Int, _ dh: Int) {
        srcWidth = sw
        srcHeight = sh
        dstWidth = dw
        dstHeight = dh
        h = Taps(src: sw, dst: dw)
        v = Taps(src: sh, dst: dh)
    }

    /// Resamples one plane.
    public func resample(_ src: [Float]) -> [Float] {
        precondition(src.count == srcWidth * srcHeight)
        if srcWidth == dstWidth && srcHeight == dstHeight { return src }
        return [Float](unsafeUninitializedCapacity: dstWidth * dstHeight) { buf, count in
            resample(src, into: buf.baseAddress!, rowStride: dstWidth)
            count = dstWidth * dstHeight
        }
    }

    /// Resamples one plane into the dstWidth×dstHeight rectangle at `dst` of a larger picture whose rows are
    /// `rowStride` floats apart (every pixel of the rectangle written, nothing outside it touched).
    public func resample(_ src: [Float], into dst: UnsafeMutablePointer<Float>, rowStride: Int) {
        precondition(src.count == srcWidth * srcHeight && rowStride >= dstWidth)
        let sw = srcWidth, sh = srcHeight, dw = dstWidth, dh = dstHeight
        // Horizontal pass: sh rows × dw (every element written), eight taps per vector in the C kernel.
        let mid = [Float](unsafeUninitializedCapacity: dw * sh) { m, count in
            src.withUnsafeBufferPointer { s in
                h.start.withUnsafeBufferPointer { hs in
                    h.paddedWeights.withUnsafeBufferPointer { hw in
                        let mp = m.baseAddress!
                        Self.parallelRows(sh) { y in
                            Kernels.resampleRows(
                                s.baseAddress! + y * sw, sourceWidth: sw, rows: 1, start: hs.baseAddress!,
                                weights: hw.baseAddress!, paddedTaps: h.padded, outWidth: dw, out: mp + y * dw,
                                outStride: dw)
                        }
                    }
                }
            }
            count = dw * sh
        }
        // Vertical pass: dh rows × dw, accumulating whole rows (vectorizes); each row starts from zero.
        let vc = v.count
        mid.withUnsafeBufferPointer { m in
            v.start.withUnsafeBufferPointer { vs in
                v.weights.withUnsafeBufferPointer { vw in
                    Self.parallelRows(dh) { y in
                        let out = dst + y * rowStride
                        out.update(repeating: 0, count: dw)
                        let first = Int(vs[y])
                        for k in 0..<vc {
                            let w = vw[y * vc + k]
                            if w == 0 { continue }
                            let sy = min(max(first + k, 0), sh - 1)
                            let row = m.baseAddress! + sy * dw
                            for x in 0..<dw { out[x] += w * row[x] }
                        }
                    }
                }
            }
        }
    }

    /// Runs body(y) for every row, split into chunks over the cores.
    static func parallelRows(_ rows: Int, _ body: (Int) -> Void) {
        let chunks = min(rows, ProcessInfo.processInfo.activeProcessorCount * 4)
        if chunks <= 1 || rows < 64 {
            for y in 0..<rows { body(y) }
            return
        }
        Parallel.forEach(chunks) { c in
            let a = rows * c / chunks, b = rows * (c + 1) / chunks
            for y in a..<b { body(y) }
        }
    }
}
