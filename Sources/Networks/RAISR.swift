import Foundation
import TensorCore

/// RAISR (Romano, Isidoro and Milanfar, 2016) as `Tools/train_raisr.py` learns it: every output
/// pixel is a k×k filter of the low-resolution luma around its source pixel, the filter chosen by
/// that pixel's hash bucket (angle × strength × coherence of the Gaussian-weighted structure tensor
/// of its gradients) and by the output pixel's place among the scale² it makes. Chroma is
/// upscaled by MATLAB's bicubic. One or two orders of magnitude cheaper than a CNN.
///
/// File: "RAISR\0\0\0", a little-endian UInt32 header length, a JSON header (scale, patch, angles,
/// strength_edges, coherence_edges, buckets, types), then float32 filters [bucket][type][k·k].
public final class RAISR: SuperResolutionNetwork, Sendable {
    public let scale: Int
    public let patch: Int
    let angles: Int
    let strengthEdges: [Double], coherenceEdges: [Double]
    /// [bucket][type][k·k]
    let filters: [Float]
    static let window = 5

    public var receptiveRadius: Int { patch / 2 + Self.window / 2 + 2 }
    public var bytesPerInputPixel: Int { 4 * (8 + 3 * scale * scale) }

    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TensorError.format("\(url.lastPathComponent): cannot read (\(error.localizedDescription))")
        }
        guard data.count >= 12, data.prefix(8).elementsEqual(Array("RAISR".utf8) + [0, 0, 0]) else {
            throw TensorError.format("\(url.lastPathComponent): not a RAISR filter file")
        }
        let n = data.subdata(in: 8..<12).withUnsafeBytes {
            Int(UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)))
        }
        guard n > 0, 12 + n <= data.count,
            let h = try? JSONSerialization.jsonObject(with: data.subdata(in: 12..<(12 + n))) as? [String: Any],
            let scale = h["scale"] as? Int, let patch = h["patch"] as? Int, let angles = h["angles"] as? Int,
            let se = h["strength_edges"] as? [Double], let ce = h["coherence_edges"] as? [Double],
            let buckets = h["buckets"] as? Int, let types = h["types"] as? Int
        else { throw TensorError.format("\(url.lastPathComponent): bad RAISR header") }
        guard (2...4).contains(scale), patch % 2 == 1, (3...11).contains(patch), (1...64).contains(angles),
            buckets == angles * (se.count + 1) * (ce.count + 1), types == scale * scale, se.count <= 8, ce.count <= 8
        else { throw TensorError.format("\(url.lastPathComponent): RAISR header out of range") }
        let count = buckets * types * patch * patch
        guard data.count - 12 - n == 4 * count else {
            throw TensorError.format(
                "\(url.lastPathComponent): \(data.count - 12 - n) bytes of filters, expected \(4 * count)")
        }
        filters = data.subdata(in: (12 + n)..<data.count).withUnsafeBytes { p in
            (0..<count).map {
                Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))
            }
        }
        guard filters.allSatisfy(\.isFinite) else {
            throw TensorError.format("\(url.lastPathComponent): non-finite filter")
        }
        (self.scale, self.patch, self.angles, strengthEdges, coherenceEdges) = (scale, patch, angles, se, ce)
    }

    public func flops(height: Int, width: Int) -> Double { Double(2 * height * width * scale * scale * patch * patch) }

    public func forward(_ x: Tensor, workspace: Workspace) throws -> Tensor {
        guard x.channels == 3 else { throw TensorError.shape("RAISR takes RGB, not \(x.channels) channels") }
        let h = x.height, w = x.width, n = h * w, s = scale
        // Y of BT.601 on the studio scale the filters were learned on; Cb, Cr alongside
        var y = [Double](repeating: 0, count: n), cb = [Double](repeating: 0, count: n), cr = cb
        for i in 0..<n {
            let r = Double(x.data[i]), g = Double(x.data[n + i]), b = Double(x.data[2 * n + i])
            y[i] = (16 + 65.481 * r + 128.553 * g + 24.966 * b) / 255
            cb[i] = -0.168736 * r - 0.331264 * g + 0.5 * b
            cr[i] = 0.5 * r - 0.418688 * g - 0.081312 * b
        }
        let big = upscaleLuma(y, width: w, height: h)
        let bcb = BicubicResize.resize(cb, width: w, height: h, scale: s)
        let bcr = BicubicResize.resize(cr, width: w, height: h, scale: s)
        let m = n * s * s
        var out = [Float](repeating: 0, count: 3 * m)
        for i in 0..<m {
            let l = (big[i] * 255 - 16) / 219
            out[i] = Float(l + 1.402 * bcr[i])
            out[m + i] = Float(l - 0.344136 * bcb[i] - 0.714136 * bcr[i])
            out[2 * m + i] = Float(l + 1.772 * bcb[i])
        }
        return Tensor(channels: 3, height: h * s, width: w * s, data: out)
    }

    /// The learned upscale of a luma plane (the studio scale, 16…235 as /255).
    public func upscaleLuma(_ y: [Double], width w: Int, height h: Int) -> [Double] {
        let s = scale, k = patch, r = k / 2, d = k * k, types = s * s
        let bucket = buckets(y, width: w, height: h)
        var out = [Double](repeating: 0, count: w * h * types)
        out.withUnsafeMutableBufferPointer { o in
            filters.withUnsafeBufferPointer { f in
                Parallel.forEach(h) { i in
                    var p = [Double](repeating: 0, count: d)
                    for j in 0..<w {
                        for t in 0..<d {
                            p[t] = y[min(max(i + t / k - r, 0), h - 1) * w + min(max(j + t % k - r, 0), w - 1)]
                        }
                        let base = bucket[i * w + j] * types * d
                        for t in 0..<types {
                            var v = 0.0
                            for q in 0..<d { v += Double(f[base + t * d + q]) * p[q] }
                            o[(i * s + t / s) * w * s + j * s + t % s] = v
                        }
                    }
                }
            }
        }
        return out
    }

    /// Each pixel's bucket, as `structure` and `buckets` in the training script.
    func buckets(_ y: [Double], width w: Int, height h: Int) -> [Int] {
        let (a, b, c) = Self.structureTensor(y, width: w, height: h)
        let ns = strengthEdges.count + 1, nc = coherenceEdges.count + 1
        return (0..<(w * h)).map { i in
            let tr = a[i] + c[i], det = a[i] * c[i] - b[i] * b[i]
            let disc = max(tr * tr / 4 - det, 0).squareRoot()
            let l1 = tr / 2 + disc, l2 = max(tr / 2 - disc, 0)
            var theta = atan2(l1 - a[i], b[i]).truncatingRemainder(dividingBy: .pi)
            if theta < 0 { theta += .pi }
            if abs(b[i]) < 1e-12 { theta = a[i] >= c[i] ? 0 : .pi / 2 }
            let r1 = l1.squareRoot(), r2 = l2.squareRoot()
            let coherence = r1 + r2 > 1e-12 ? (r1 - r2) / (r1 + r2 + 1e-12) : 0
            let ai = min(Int(theta / .pi * Double(angles)), angles - 1)
            let si = Self.below(r1, strengthEdges), ci = Self.below(coherence, coherenceEdges)
            return (ai * ns + si) * nc + ci
        }
    }

    /// How many edges lie below v (NumPy's searchsorted, left side), without allocating per pixel.
    @inline(__always) static func below(_ v: Double, _ edges: [Double]) -> Int {
        var n = 0
        for e in edges where e < v { n += 1 }
        return n
    }

    /// Gaussian-weighted (window 5, σ 5/3, edges repeated) products of NumPy-style gradients.
    static func structureTensor(_ y: [Double], width w: Int, height h: Int) -> ([Double], [Double], [Double]) {
        func at(_ i: Int, _ j: Int) -> Double { y[i * w + j] }
        var gx = [Double](repeating: 0, count: w * h), gy = gx
        for i in 0..<h {
            for j in 0..<w {
                gx[i * w + j] =
                    w < 2
                    ? 0
                    : j == 0
                        ? at(i, 1) - at(i, 0) : j == w - 1 ? at(i, j) - at(i, j - 1) : (at(i, j + 1) - at(i, j - 1)) / 2
                gy[i * w + j] =
                    h < 2
                    ? 0
                    : i == 0
                        ? at(1, j) - at(0, j) : i == h - 1 ? at(i, j) - at(i - 1, j) : (at(i + 1, j) - at(i - 1, j)) / 2
            }
        }
        let sd = Double(window) / 3
        var g = (0..<window).map { exp(-0.5 * pow(Double($0 - window / 2), 2) / (sd * sd)) }
        let sum = g.reduce(0, +)
        g = g.map { $0 / sum }
        func smooth(_ v: [Double]) -> [Double] {
            let r = window / 2
            var t = v, o = v
            for i in 0..<h {
                for j in 0..<w {
                    t[i * w + j] = (0..<window).reduce(0.0) { $0 + g[$1] * v[min(max(i + $1 - r, 0), h - 1) * w + j] }
                }
            }
            for i in 0..<h {
                for j in 0..<w {
                    o[i * w + j] = (0..<window).reduce(0.0) { $0 + g[$1] * t[i * w + min(max(j + $1 - r, 0), w - 1)] }
                }
            }
            return o
        }
        return (smooth(zip(gx, gx).map(*)), smooth(zip(gx, gy).map(*)), smooth(zip(gy, gy).map(*)))
    }
}

/// MATLAB's bicubic `imresize` up by an integer factor (a = −0.5, symmetric edges), rows then columns.
public enum BicubicResize {
    static func cubic(_ x: Double) -> Double {
        let a = abs(x), a2 = a * a, a3 = a2 * a
        if a <= 1 { return 1.5 * a3 - 2.5 * a2 + 1 }
        if a <= 2 { return -0.5 * a3 + 2.5 * a2 - 4 * a + 2 }
        return 0
    }

    static func taps(input n: Int, scale s: Int) -> [[(Int, Double)]] {
        (1...(n * s)).map { x in
            let u = Double(x) / Double(s) + 0.5 * (1 - 1 / Double(s))
            let left = Int((u - 2).rounded(.down))
            var t = (0..<6).map { k -> (Int, Double) in (left + k, cubic(u - Double(left + k))) }
            let sum = t.reduce(0) { $0 + $1.1 }
            t = t.map { tap in
                var j = tap.0 - 1
                if j < 0 { j = -j - 1 }
                if j >= n { j = 2 * n - j - 1 }
                return (min(max(j, 0), n - 1), tap.1 / sum)
            }
            return t
        }
    }

    public static func resize(_ p: [Double], width w: Int, height h: Int, scale s: Int) -> [Double] {
        let tr = taps(input: h, scale: s), tc = taps(input: w, scale: s)
        let oh = h * s, ow = w * s
        var rows = [Double](repeating: 0, count: oh * w)
        for y in 0..<oh { for x in 0..<w { rows[y * w + x] = tr[y].reduce(0) { $0 + $1.1 * p[$1.0 * w + x] } } }
        var out = [Double](repeating: 0, count: oh * ow)
        for y in 0..<oh { for x in 0..<ow { out[y * ow + x] = tc[x].reduce(0) { $0 + $1.1 * rows[y * w + $1.0] } } }
        return out
    }
}
