import Foundation
import FilmCore
import Networks
import MediaIO
import TensorCore

/// NIQE, the Naturalness Image Quality Evaluator (Mittal, Soundararajan and Bovik, "Making a
/// Completely Blind Image Quality Analyzer", 2012): how far a picture's local statistics are from
/// those of pristine natural photographs, with no reference. Lower is more natural. It is not a
/// fidelity measure: a picture can be natural and wrong, or faithful and unnatural.
///
/// As the authors' release and BasicSR compute it: the Y of BT.601 Y'CbCr (16…235, rounded), cut
/// to whole 96×96 patches; at two scales (the second a MATLAB-style antialiased bicubic half),
/// mean-subtracted contrast-normalized coefficients (7×7 Gaussian, σ 7/6); per patch 18 features
/// per scale: an asymmetric generalized Gaussian fit of the coefficients (shape, mean scale) and of
/// their products with the neighbour right, below and on both diagonals (shape, mean, left and right
/// scales); the patches' multivariate Gaussian against the pristine one (`Models/niqe`):
/// √((μp − μ)ᵀ ((Σp + Σ)/2)⁺ (μp − μ)).
public struct NIQE: Sendable {
    /// The pristine model: mean (36), covariance (36×36), the 7×7 window.
    public let mean: [Double], covariance: [Double], window: [Double]
    public static let patch = 96

    public init(mean: [Double], covariance: [Double], window: [Double]) throws {
        guard mean.count == 36, covariance.count == 36 * 36, window.count == 49 else {
            throw TensorError.format("NIQE model: expected a mean of 36, a 36×36 covariance and a 7×7 window")
        }
        self.mean = mean
        self.covariance = covariance
        self.window = window
    }

    /// The shipped pristine model (`Models/niqe/niqe_pris_params.npz`).
    public static func shipped(modelsDir: String? = nil) throws -> NIQE {
        let file = "niqe/niqe_pris_params.npz"
        let loaded = try ModelStore.open(file, model: "NIQE", in: modelsDir, vendored: true) {
            try NumPyArchive.load($0)
        }
        let a = loaded.value
        guard let mu = a["mu_pris_param"], let cov = a["cov_pris_param"], let w = a["gaussian_window"] else {
            throw TensorError.format("\(file): lacks mu_pris_param, cov_pris_param or gaussian_window")
        }
        return try NIQE(mean: mu.values, covariance: cov.values, window: w.values)
    }

    /// The Y NIQE reads from a picture: 16 + 219·(0.299 R + 0.587 G + 0.114 B), rounded half to even.
    public static func luma(_ f: Frame) -> [Double] {
        let rgb = f.promotedToRGB().planes
        return (0..<(f.width * f.height)).map { i in
            let y = 16 + 65.481 * Double(rgb[0][i]) + 128.553 * Double(rgb[1][i]) + 24.966 * Double(rgb[2][i])
            return y.rounded(.toNearestOrEven)
        }
    }

    /// The score of a picture, nil when it is smaller than one patch (or too flat to fit).
    public func score(_ f: Frame) -> Double? { score(luma: Self.luma(f), width: f.width, height: f.height) }

    /// The score of a Y plane (16…235 scale).
    public func score(luma y: [Double], width: Int, height: Int) -> Double? {
        let rows = features(luma: y, width: width, height: height).filter { !$0.contains { $0.isNaN } }
        guard rows.count >= 2 else { return nil }
        let (mu, cov) = Self.meanAndCovariance(rows)
        let avg = zip(covariance, cov).map { ($0 + $1) / 2 }
        let d = zip(mean, mu).map { $0 - $1 }
        let inv = SymmetricMatrix.pseudoInverse(avg, n: 36)
        var q = 0.0
        for i in 0..<36 { for j in 0..<36 { q += d[i] * inv[i * 36 + j] * d[j] } }
        return q.squareRoot()
    }

    /// The 36 features of every whole 96×96 patch (scale 1 then scale 2), patches column by column.
    public func features(luma y: [Double], width w: Int, height h: Int) -> [[Double]] {
        let bw = w / Self.patch, bh = h / Self.patch
        guard bw > 0, bh > 0 else { return [] }
        let cw = bw * Self.patch, ch = bh * Self.patch
        var img = (0..<ch).flatMap { r in y[(r * w)..<(r * w + cw)] }
        var rows = [[Double]](repeating: [], count: bw * bh)
        var (iw, ih) = (cw, ch)
        for scale in 1...2 {
            let coefficients = mscn(img, width: iw, height: ih)
            let s = Self.patch / scale
            for bx in 0..<bw {
                for by in 0..<bh {
                    var block = [Double]()
                    block.reserveCapacity(s * s)
                    for r in (by * s)..<((by + 1) * s) {
                        block += coefficients[(r * iw + bx * s)..<(r * iw + bx * s + s)]
                    }
                    rows[bx * bh + by] += Self.patchFeatures(block, size: s)
                }
            }
            if scale == 1 {
                (img, iw, ih) = (
                    MatlabResize.resize(img.map { $0 / 255 }, width: iw, height: ih, scale: 0.5).map { $0 * 255 },
                    iw / 2, ih / 2
                )
            }
        }
        return rows
    }

    /// Mean-subtracted contrast-normalized coefficients: (I − μ) / (σ + 1), μ and σ local (the
    /// window, edges repeated).
    func mscn(_ img: [Double], width w: Int, height h: Int) -> [Double] {
        var out = [Double](repeating: 0, count: w * h)
        let win = window
        out.withUnsafeMutableBufferPointer { o in
            img.withUnsafeBufferPointer { p in
                Parallel.forEach(h) { y in
                    for x in 0..<w {
                        var m = 0.0, m2 = 0.0
                        for t in 0..<49 {
                            let v = p[min(max(y + t / 7 - 3, 0), h - 1) * w + min(max(x + t % 7 - 3, 0), w - 1)]
                            m += win[t] * v
                            m2 += win[t] * v * v
                        }
                        o[y * w + x] = (p[y * w + x] - m) / (abs(m2 - m * m).squareRoot() + 1)
                    }
                }
            }
        }
        return out
    }

    /// A patch's 18 features: the AGGD fit of its coefficients (shape, mean of the two scales),
    /// then of the products with the neighbour at (0, 1), (1, 0), (1, 1), (1, −1) (wrapping, as
    /// MATLAB's circshift): shape, mean, left scale, right scale.
    static func patchFeatures(_ b: [Double], size s: Int) -> [Double] {
        let a = AGGD.fit(b)
        var out = [a.shape, (a.left + a.right) / 2]
        for (dy, dx) in [(0, 1), (1, 0), (1, 1), (1, -1)] {
            // np.roll(block, (dy, dx)): element (r, c) takes (r − dy, c − dx)
            let products = (0..<(s * s)).map { i in
                let r = i / s, c = i % s
                return b[i] * b[((r - dy + s) % s) * s + (c - dx + s) % s]
            }
            let p = AGGD.fit(products)
            out += [p.shape, (p.right - p.left) * (tgamma(2 / p.shape) / tgamma(1 / p.shape)), p.left, p.right]
        }
        return out
    }

    /// The mean of the rows and their covariance (normalized by n − 1, as np.cov).
    static func meanAndCovariance(_ rows: [[Double]]) -> ([Double], [Double]) {
        let n = Double(rows.count), k = rows[0].count
        let mu = (0..<k).map { j in rows.reduce(0) { $0 + $1[j] } / n }
        var cov = [Double](repeating: 0, count: k * k)
        for r in rows {
            for i in 0..<k { for j in 0..<k { cov[i * k + j] += (r[i] - mu[i]) * (r[j] - mu[j]) } }
        }
        return (mu, cov.map { $0 / (n - 1) })
    }
}

/// The asymmetric generalized Gaussian fit NIQE and BRISQUE use (moment matching over the shapes
/// 0.2, 0.201, …, 10).
enum AGGD {
    static let shapes: [Double] = (0...9800).map { 0.2 + Double($0) * 0.001 }
    /// Γ(2/γ)² / (Γ(1/γ) Γ(3/γ)) for every shape: increasing in γ.
    static let ratios: [Double] = shapes.map { g in pow(tgamma(2 / g), 2) / (tgamma(1 / g) * tgamma(3 / g)) }

    static func fit(_ v: [Double]) -> (shape: Double, left: Double, right: Double) {
        var ls = 0.0, ln = 0, rs = 0.0, rn = 0, absSum = 0.0, sq = 0.0
        for x in v {
            if x < 0 {
                ls += x * x
                ln += 1
            } else if x > 0 {
                rs += x * x
                rn += 1
            }
            absSum += abs(x)
            sq += x * x
        }
        let leftStd = (ls / Double(ln)).squareRoot(), rightStd = (rs / Double(rn)).squareRoot()
        let g = leftStd / rightStd
        let n = Double(v.count)
        let rhat = pow(absSum / n, 2) / (sq / n)
        let target = rhat * (pow(g, 3) + 1) * (g + 1) / pow(g * g + 1, 2)
        guard target.isFinite else { return (.nan, .nan, .nan) }
        let shape = shapes[nearest(target)]
        let scale = (tgamma(1 / shape) / tgamma(3 / shape)).squareRoot()
        return (shape, leftStd * scale, rightStd * scale)
    }

    /// The first index of the smallest (ratio − target)² (as np.argmin): found by bisection of
    /// the increasing table, then the neighbours compared.
    static func nearest(_ target: Double) -> Int {
        var lo = 0, hi = ratios.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if ratios[mid] < target { lo = mid + 1 } else { hi = mid }
        }
        var best = max(lo - 2, 0)
        for i in max(lo - 2, 0)...min(lo + 2, ratios.count - 1)
        where pow(ratios[i] - target, 2) < pow(ratios[best] - target, 2) {
            best = i
        }
        return best
    }
}

/// Small symmetric matrices (NIQE's 36×36 covariances).
enum SymmetricMatrix {
    /// Eigenvalues and eigenvectors (columns of `vectors`, row-major n×n) by cyclic Jacobi rotations.
    static func eigen(_ a: [Double], n: Int) -> (values: [Double], vectors: [Double]) {
        var m = a
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        for _ in 0..<100 {
            var off = 0.0
            for i in 0..<n { for j in (i + 1)..<n { off += m[i * n + j] * m[i * n + j] } }
            if off < 1e-30 { break }
            for p in 0..<n {
                for q in (p + 1)..<n where m[p * n + q] != 0 {
                    rotate(&m, &v, n, p, q)
                }
            }
        }
        return ((0..<n).map { m[$0 * n + $0] }, v)
    }

    /// One Jacobi rotation zeroing m[p][q].
    static func rotate(_ m: inout [Double], _ v: inout [Double], _ n: Int, _ p: Int, _ q: Int) {
        let theta = (m[q * n + q] - m[p * n + p]) / (2 * m[p * n + q])
        let t = (theta >= 0 ? 1 : -1) / (abs(theta) + (theta * theta + 1).squareRoot())
        let c = 1 / (t * t + 1).squareRoot(), s = t * c
        for k in 0..<n {
            let mkp = m[k * n + p], mkq = m[k * n + q]
            m[k * n + p] = c * mkp - s * mkq
            m[k * n + q] = s * mkp + c * mkq
        }
        for k in 0..<n {
            let mpk = m[p * n + k], mqk = m[q * n + k]
            m[p * n + k] = c * mpk - s * mqk
            m[q * n + k] = s * mpk + c * mqk
        }
        for k in 0..<n {
            let vkp = v[k * n + p], vkq = v[k * n + q]
            v[k * n + p] = c * vkp - s * vkq
            v[k * n + q] = s * vkp + c * vkq
        }
    }

    /// The Moore–Penrose inverse, eigenvalues below 1e-15 × the largest treated as 0 (np.linalg.pinv).
    static func pseudoInverse(_ a: [Double], n: Int) -> [Double] {
        let (values, vectors) = eigen(a, n: n)
        let cutoff = 1e-15 * (values.map(abs).max() ?? 0)
        var out = [Double](repeating: 0, count: n * n)
        for k in 0..<n where abs(values[k]) > cutoff {
            let inv = 1 / values[k]
            for i in 0..<n { for j in 0..<n { out[i * n + j] += vectors[i * n + k] * inv * vectors[j * n + k] } }
        }
        return out
    }
}

extension NIQE {
    /// NIQE over a file: one score for a picture; for a video, the scores of up to `samples`
    /// frames spread over it (every k-th decoded frame).
    public struct FileScore: Sendable {
        public let scores: [Double]
        public let framesRead: Int
        public var mean: Double { scores.reduce(0, +) / Double(max(scores.count, 1)) }
        public var range: ClosedRange<Double>? { scores.min().map { $0...scores.max()! } }
    }

    public func score(file path: String, samples: Int = 16) throws -> FileScore {
        let reader: MediaReader
        do { reader = try MediaReader(path: path) } catch let e as MediaError {
            throw RestoreError.input("cannot read \(path): \(e)")
        }
        // A long file: a frame at each of `samples` times spread over it, by seeking.
        if let d = reader.stream.duration, d.doubleValue > 30, samples > 1,
            let sought = try? sampleBySeeking(reader, d, samples)
        {
            return sought
        }
        let stride = max(1, (reader.stream.frameCount ?? samples * 24) / max(samples, 1))
        var scores: [Double] = [], read = 0
        while scores.count < samples, let f = try reader.nextFrame() {
            if read % stride == 0, let s = score(f) { scores.append(s) }
            read += 1
        }
        guard read > 0 else { throw RestoreError.input("\(path): no picture could be decoded") }
        guard !scores.isEmpty else { throw RestoreError.input("\(path): smaller than one 96x96 NIQE patch, or flat") }
        return FileScore(scores: scores, framesRead: read)
    }

    func sampleBySeeking(_ reader: MediaReader, _ duration: Rational, _ samples: Int) throws -> FileScore? {
        let rate = reader.stream.frameRate ?? reader.stream.averageRate
        var scores: [Double] = []
        for i in 0..<samples {
            let t = duration * Rational(Int64(2 * i + 1), Int64(2 * samples))
            try reader.seek(to: t, index: Int((t * rate).floor))
            if let f = try reader.nextFrame(), let s = score(f) { scores.append(s) }
        }
        return scores.isEmpty ? nil : FileScore(scores: scores, framesRead: scores.count)
    }
}
