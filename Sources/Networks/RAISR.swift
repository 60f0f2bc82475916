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
    /// [bucket][k·k]: each tap's weights for the scale² pixel types, in 16 lanes (unused ones 0)
    let taps: [SIMD16<Double>]
    /// Census-transform blending with the cheap upscale (the paper's; on unless a caller turns it off).
    public let census: Bool
    static let window = 5

    public var receptiveRadius: Int { patch / 2 + Self.window / 2 + 2 }
    public var bytesPerInputPixel: Int { 4 * (8 + 3 * scale * scale) }

    public init(contentsOf url: URL, census: Bool = true) throws {
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
        let filters = data.subdata(in: (12 + n)..<data.count).withUnsafeBytes { p in
            (0..<count).map {
                Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))
            }
        }
        guard filters.allSatisfy(\.isFinite) else {
            throw TensorError.format("\(url.lastPathComponent): non-finite filter")
        }
        // the file's [bucket][type][k·k] as [bucket][k·k] vectors over the types
        let d = patch * patch
        var taps = [SIMD16<Double>](repeating: .zero, count: buckets * d)
        for b in 0..<buckets {
            for t in 0..<types {
                for q in 0..<d { taps[b * d + q][t] = Double(filters[(b * types + t) * d + q]) }
            }
        }
        self.taps = taps
        self.census = census
        (self.scale, self.patch, self.angles, strengthEdges, coherenceEdges) = (scale, patch, angles, se, ce)
    }

    public func flops(height: Int, width: Int) -> Double { Double(2 * height * width * scale * scale * patch * patch) }

    public func forward(_ x: Tensor, workspace: Workspace) throws -> Tensor {
        guard x.channels == 3 else { throw TensorError.shape("RAISR takes RGB, not \(x.channels) channels") }
        let h = x.height, w = x.width, n = h * w, s = scale
        // Y of BT.601 on the studio scale the filters were learned on (double: it picks the buckets);
        // Cb, Cr alongside
        var y = [Double](repeating: 0, count: n)
        var cb = [Float](repeating: 0, count: n), cr = cb
        x.data.withUnsafeBufferPointer { p in
            for i in 0..<n {
                let r = p[i], g = p[n + i], b = p[2 * n + i]
                y[i] = (16 + 65.481 * Double(r) + 128.553 * Double(g) + 24.966 * Double(b)) / 255
                cb[i] = -0.168736 * r - 0.331264 * g + 0.5 * b
                cr[i] = 0.5 * r - 0.418688 * g - 0.081312 * b
            }
        }
        var big = upscaleLuma(y, width: w, height: h)
        if census {
            let cheap = MatlabResize.resize(y.map { Float($0) }, width: w, height: h, scale: Double(s))
            big = Self.censusBlend(cheap: cheap, refined: big, width: w * s, height: h * s)
        }
        let bcb = MatlabResize.resize(cb, width: w, height: h, scale: Double(s))
        let bcr = MatlabResize.resize(cr, width: w, height: h, scale: Double(s))
        let m = n * s * s, ow = w * s
        var out = [Float](repeating: 0, count: 3 * m)
        out.withUnsafeMutableBufferPointer { o in
            Parallel.forEach(h * s) { row in
                for i in (row * ow)..<((row + 1) * ow) {
                    let l = (big[i] * 255 - 16) / 219
                    o[i] = l + 1.402 * bcr[i]
                    o[m + i] = l - 0.344136 * bcb[i] - 0.714136 * bcr[i]
                    o[2 * m + i] = l + 1.772 * bcb[i]
                }
            }
        }
        return Tensor(channels: 3, height: h * s, width: w * s, data: out)
    }

    /// The learned upscale of a luma plane (the studio scale, 16…235 as /255), before blending:
    /// each low-resolution pixel's k×k patch (edges repeated) times its bucket's filters, the
    /// scale² pixel types at once in one 16-lane vector, accumulated in double precision.
    public func upscaleLuma(_ y: [Double], width w: Int, height h: Int) -> [Float] {
        let s = scale, k = patch, r = k / 2, d = k * k, types = s * s, pw = w + 2 * r
        let bucket = buckets(y, width: w, height: h)
        var padded = [Double](repeating: 0, count: (h + 2 * r) * pw)
        for i in 0..<(h + 2 * r) {
            let source = min(max(i - r, 0), h - 1) * w
            for j in 0..<pw { padded[i * pw + j] = y[source + min(max(j - r, 0), w - 1)] }
        }
        var out = [Float](repeating: 0, count: w * h * types)
        out.withUnsafeMutableBufferPointer { o in
            padded.withUnsafeBufferPointer { p in
                taps.withUnsafeBufferPointer { f in
                    Parallel.forEach(h) { i in
                        for j in 0..<w {
                            let base = Int(bucket[i * w + j]) * d
                            var acc = SIMD16<Double>()
                            // multiply then add: SIMD's addProduct calls libm's fma once per lane
                            for dy in 0..<k {
                                let row = p.baseAddress! + (i + dy) * pw + j, fr = base + dy * k
                                for dx in 0..<k { acc += SIMD16(repeating: row[dx]) * f[fr + dx] }
                            }
                            for t in 0..<types { o[(i * s + t / s) * w * s + j * s + t % s] = Float(acc[t]) }
                        }
                    }
                }
            }
        }
        return out
    }

    /// The paper's blending: where the filtered picture's local order (the census transform, the
    /// 8 neighbours of a 3×3 window below the centre or not, edges repeated) departs from the
    /// cheap upscale's, the filter likely made an artifact, so the output leans to the cheap upscale
    /// by the share of the 8 bits that changed: out = c·cheap + (1 − c)·filtered. Eight pixels at a
    /// time inside the picture, `censusPixel` on the edge columns; equal to `censusBlendPlain`.
    public static func censusBlend(cheap: [Float], refined: [Float], width w: Int, height h: Int) -> [Float] {
        precondition(cheap.count == w * h && refined.count == w * h, "censusBlend: planes of different sizes")
        var out = refined
        out.withUnsafeMutableBufferPointer { o in
            cheap.withUnsafeBufferPointer { c in
                refined.withUnsafeBufferPointer { f in
                    Parallel.forEach(h) { i in
                        let rows = (max(i - 1, 0) * w, i * w, min(i + 1, h - 1) * w)
                        func load(_ p: UnsafeBufferPointer<Float>, _ at: Int) -> SIMD8<Float> {
                            UnsafeRawPointer(p.baseAddress! + at).loadUnaligned(as: SIMD8<Float>.self)
                        }
                        var j = 1
                        while j + 9 <= w {
                            let cc = load(c, rows.1 + j), fc = load(f, rows.1 + j)
                            var changed = SIMD8<Float>()
                            for a in 0..<3 {
                                let row = a == 0 ? rows.0 : a == 1 ? rows.1 : rows.2
                                for dx in -1...1 where a != 1 || dx != 0 {
                                    let moved = (load(c, row + j + dx) .< cc) .^ (load(f, row + j + dx) .< fc)
                                    changed.replace(with: changed + 1, where: moved)
                                }
                            }
                            let weight = changed / 8
                            let v = weight * cc + (1 - weight) * fc
                            UnsafeMutableRawPointer(o.baseAddress! + rows.1 + j).storeBytes(
                                of: v, as: SIMD8<Float>.self)
                            j += 8
                        }
                        for x in [0] + Array(j..<w) where x < w {
                            o[rows.1 + x] = censusPixel(c, f, rows: rows, x: x, width: w)
                        }
                    }
                }
            }
        }
        return out
    }

    /// The blend one pixel at a time (the naive kernel `censusBlend` is checked against).
    public static func censusBlendPlain(cheap: [Float], refined: [Float], width w: Int, height h: Int) -> [Float] {
        precondition(cheap.count == w * h && refined.count == w * h, "censusBlend: planes of different sizes")
        return cheap.withUnsafeBufferPointer { c in
            refined.withUnsafeBufferPointer { f in
                (0..<(w * h)).map { p in
                    let i = p / w
                    return censusPixel(
                        c, f, rows: (max(i - 1, 0) * w, i * w, min(i + 1, h - 1) * w), x: p % w, width: w)
                }
            }
        }
    }

    @inline(__always)
    static func censusPixel(
        _ c: UnsafeBufferPointer<Float>, _ f: UnsafeBufferPointer<Float>, rows: (Int, Int, Int), x: Int, width w: Int
    ) -> Float {
        let here = rows.1 + x
        var changed = 0
        for a in 0..<3 {
            let row = a == 0 ? rows.0 : a == 1 ? rows.1 : rows.2
            for b in 0..<3 where a != 1 || b != 1 {
                let col = min(max(x + b - 1, 0), w - 1)
                if (c[row + col] < c[here]) != (f[row + col] < f[here]) { changed += 1 }
            }
        }
        let weight = Float(changed) / 8
        return weight * c[here] + (1 - weight) * f[here]
    }

    /// Each pixel's bucket, as `structure` and `buckets` in the training script.
    func buckets(_ y: [Double], width w: Int, height h: Int) -> [Int32] {
        let (a, b, c) = Self.structureTensor(y, width: w, height: h)
        let ns = strengthEdges.count + 1, nc = coherenceEdges.count + 1
        var out = [Int32](repeating: 0, count: w * h)
        out.withUnsafeMutableBufferPointer { o in
            Parallel.forEach(h) { row in
                for i in (row * w)..<((row + 1) * w) {
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
                    o[i] = Int32((ai * ns + si) * nc + ci)
                }
            }
        }
        return out
    }

    /// How many edges lie below v (NumPy's searchsorted, left side), without allocating per pixel.
    @inline(__always) static func below(_ v: Double, _ edges: [Double]) -> Int {
        var n = 0
        for e in edges where e < v { n += 1 }
        return n
    }

    /// Gaussian-weighted (window 5, σ 5/3, edges repeated) products of NumPy-style gradients
    /// (central differences, one-sided at the edges): the structure tensor's xx, xy and yy.
    static func structureTensor(_ y: [Double], width w: Int, height h: Int) -> ([Double], [Double], [Double]) {
        var xx = [Double](repeating: 0, count: w * h), xy = xx, yy = xx
        y.withUnsafeBufferPointer { p in
            xx.withUnsafeMutableBufferPointer { pxx in
                xy.withUnsafeMutableBufferPointer { pxy in
                    yy.withUnsafeMutableBufferPointer { pyy in
                        Parallel.forEach(h) { i in
                            let up = i == 0 ? 0 : i - 1, down = i == h - 1 ? h - 1 : i + 1
                            let dv = down - up > 1 ? 0.5 : down > up ? 1.0 : 0
                            for j in 0..<w {
                                let l = j == 0 ? 0 : j - 1, r = j == w - 1 ? w - 1 : j + 1
                                let dh = r - l > 1 ? 0.5 : r > l ? 1.0 : 0
                                let gx = (p[i * w + r] - p[i * w + l]) * dh
                                let gy = (p[down * w + j] - p[up * w + j]) * dv
                                pxx[i * w + j] = gx * gx
                                pxy[i * w + j] = gx * gy
                                pyy[i * w + j] = gy * gy
                            }
                        }
                    }
                }
            }
        }
        return (smooth(xx, width: w, height: h), smooth(xy, width: w, height: h), smooth(yy, width: w, height: h))
    }

    /// The separable Gaussian of the structure tensor (window 5, σ 5/3, edges repeated): columns then rows.
    static func smooth(_ v: [Double], width w: Int, height h: Int) -> [Double] {
        let r = window / 2, sd = Double(window) / 3
        var g = (0..<window).map { exp(-0.5 * pow(Double($0 - r), 2) / (sd * sd)) }
        let sum = g.reduce(0, +)
        g = g.map { $0 / sum }
        var t = [Double](repeating: 0, count: w * h), o = t
        v.withUnsafeBufferPointer { src in
            t.withUnsafeMutableBufferPointer { dst in
                Parallel.forEach(h) { i in
                    for k in 0..<window {
                        let s = src.baseAddress! + min(max(i + k - r, 0), h - 1) * w, gk = g[k]
                        for j in 0..<w { dst[i * w + j] += gk * s[j] }
                    }
                }
            }
        }
        t.withUnsafeBufferPointer { src in
            o.withUnsafeMutableBufferPointer { dst in
                Parallel.forEach(h) { i in
                    let s = src.baseAddress! + i * w
                    for j in 0..<w {
                        var acc = 0.0
                        for k in 0..<window { acc += g[k] * s[min(max(j + k - r, 0), w - 1)] }
                        dst[i * w + j] = acc
                    }
                }
            }
        }
        return o
    }
}
