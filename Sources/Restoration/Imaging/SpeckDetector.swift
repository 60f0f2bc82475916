import Foundation

/// Finds single-frame defects (dust, dirt) in a frame from its two motion-aligned neighbours of
/// the same shot, and gives the weights to repair them with.
///
/// 1. Spikes (SDIa with a consistency check): brighter than both aligned neighbours by more than
///    `threshold`, or darker than both, where the neighbours agree with each other (within
///    `threshold`/2).
/// 2. Faint defects: the same sign against both neighbours by more than max(0.3·threshold,
///    2 × the neighbours' local disagreement) — a dark speck on a near-black wall differs from it
///    by a few code values only, but where the aligned neighbours agree to within noise that is
///    still a defect.
/// 3. Each connected blob of 1 and 2 is kept when it holds a spike or is at least 6 pixels, when
///    its neighbours agree far better than it differs from them (mean |p − q| < ¼ of its mean
///    deviation: where alignment failed, as at fast-moving edges, they disagree as much as they
///    differ), and — for a blob of 1–2 pixels — only with twice the spike threshold.
/// 4. A kept blob grows (4 steps) into the neighbouring pixels of nearly its own value that
///    deviate the same way: a defect is locally smooth, its faint rim belongs to it.
/// 5. A blob is dropped when the 3-pixel ring around it matches neither neighbour (mean error
///    ≥ 0.4·threshold): a defect sits on content the neighbours are aligned with.
public struct SpeckDetector: Sendable {
    public var threshold: Float

    public init(threshold: Float) { self.threshold = threshold }

    /// The defect mask of luma `y` given the aligned neighbours `p`, `q` (and where they are valid).
    /// - faint: look for faint defects too (steps 2 and 4). Only with a neighbour on each side:
    ///   two frames on the same side (a shot's first or last frame) agree with each other on
    ///   content the current frame has just uncovered, where neither of them has it.
    public func mask(y: [Float], p: [Float], q: [Float], valid: [Bool], width w: Int, height h: Int, faint: Bool = true)
        -> [Bool]
    {
        let n = w * h, t = threshold
        // sign of the deviation from both neighbours (0: mixed), its size, their disagreement
        var sign = [Int8](repeating: 0, count: n), dev = [Float](repeating: 0, count: n),
            dis = [Float](repeating: 0, count: n)
        for i in 0..<n where valid[i] {
            let d0 = y[i] - p[i], d1 = y[i] - q[i]
            if d0 > 0 && d1 > 0 { sign[i] = 1 } else if d0 < 0 && d1 < 0 { sign[i] = -1 }
            dev[i] = min(abs(d0), abs(d1))
            dis[i] = abs(p[i] - q[i])
        }
        let localDis = Self.max3x3(dis, w, h)
        var spike = [Bool](repeating: false, count: n), candidate = [Bool](repeating: false, count: n)
        var any = false
        for i in 0..<n where sign[i] != 0 {
            spike[i] = dev[i] > t && dis[i] < t / 2
            candidate[i] = spike[i] || (faint && dev[i] > max(0.3 * t, 2 * localDis[i]))
            any = any || candidate[i]
        }
        guard any else { return [Bool](repeating: false, count: n) }
        // connected blobs (8-neighbourhood) of the candidates, judged as a whole
        var out = [Bool](repeating: false, count: n)
        Self.forEachBlob(of: candidate, width: w, height: h) { blob in
            let hasSpike = blob.contains { spike[$0] }
            let sumDev = blob.reduce(Float(0)) { $0 + dev[$1] }, sumDis = blob.reduce(Float(0)) { $0 + dis[$1] }
            let meanDev = sumDev / Float(blob.count)
            guard hasSpike || blob.count >= 6, sumDis < 0.25 * sumDev, blob.count >= 3 || meanDev > 2 * t else {
                return
            }
            for i in blob { out[i] = true }
        }
        // grow into the blob's faint rim: same deviation sign, nearly the same value
        var frontier = (0..<n).filter { out[$0] }
        for _ in 0..<(faint ? 4 : 0) where !frontier.isEmpty {
            var next: [Int] = []
            for i in frontier {
                let x = i % w, yy = i / w
                for dy in -1...1 {
                    for dx in -1...1 where dx != 0 || dy != 0 {
                        let nx = x + dx, ny = yy + dy
                        guard nx >= 0, nx < w, ny >= 0, ny < h else { continue }
                        let j = ny * w + nx
                        if !out[j], sign[j] == sign[i], sign[j] != 0, dev[j] > 0.2 * t, abs(y[j] - y[i]) < 0.15 * t {
                            out[j] = true
                            next.append(j)
                        }
                    }
                }
            }
            frontier = next
        }
        // a defect sits on content the neighbours are aligned with: where even the ring around a
        // blob matches neither (uncovered content, failed alignment), it is not a defect
        for r in Self.rings(y: y, p: p, q: q, mask: out, width: w, height: h)
        where min(r.errorP, r.errorQ) >= Double(0.4 * t) {
            for i in r.pixels { out[i] = false }
        }
        return out
    }

    /// Each connected region of `mask` grown by 3 pixels: its pixels, and the mean |y − p| and
    /// |y − q| over its ring (the grown pixels outside the mask): how well each neighbour is
    /// aligned around the defect.
    static func rings(y: [Float], p: [Float], q: [Float], mask: [Bool], width w: Int, height h: Int) -> [(
        pixels: [Int], errorP: Double, errorQ: Double
    )] {
        var out: [(pixels: [Int], errorP: Double, errorQ: Double)] = []
        forEachBlob(of: Dilation.square(mask, w, h, 3), width: w, height: h) { blob in
            var ep: Double = 0, eq: Double = 0, ring = 0
            for i in blob where !mask[i] {
                ep += Double(abs(y[i] - p[i]))
                eq += Double(abs(y[i] - q[i]))
                ring += 1
            }
            let r = Double(ring)
            out.append((blob, ring == 0 ? .infinity : ep / r, ring == 0 ? .infinity : eq / r))
        }
        return out
    }

    /// Calls `body` with the pixels of each 8-connected blob of `mask`.
    static func forEachBlob(of mask: [Bool], width w: Int, height h: Int, _ body: ([Int]) -> Void) {
        var seen = [Bool](repeating: false, count: w * h)
        var stack: [Int] = []
        for s in 0..<(w * h) where mask[s] && !seen[s] {
            var blob: [Int] = []
            stack.append(s)
            seen[s] = true
            while let i = stack.popLast() {
                blob.append(i)
                let x = i % w, y = i / w
                for ny in max(y - 1, 0)...min(y + 1, h - 1) {
                    for nx in max(x - 1, 0)...min(x + 1, w - 1) {
                        let j = ny * w + nx
                        if mask[j] && !seen[j] {
                            seen[j] = true
                            stack.append(j)
                        }
                    }
                }
            }
            body(blob)
        }
    }

    /// For each pixel of `mask`, the weight of the first neighbour in a p/q blend: per blob (with
    /// a 3-pixel ring around it), the neighbour whose ring matches the frame better counts more
    /// (weights 1/(error² + 10⁻⁵)) — after fast motion one side is often aligned better.
    public static func repairWeights(y: [Float], p: [Float], q: [Float], mask: [Bool], width w: Int, height h: Int)
        -> [Float]
    {
        var weight = [Float](repeating: 0.5, count: w * h)
        for r in rings(y: y, p: p, q: q, mask: mask, width: w, height: h) where r.errorP.isFinite {
            let wp = 1 / (r.errorP * r.errorP + 1e-5), wq = 1 / (r.errorQ * r.errorQ + 1e-5)
            let a = Float(wp / (wp + wq))
            for i in r.pixels where mask[i] { weight[i] = a }
        }
        return weight
    }

    /// max over each pixel's 3×3 neighbourhood (separable, edges clamped).
    static func max3x3(_ v: [Float], _ w: Int, _ h: Int) -> [Float] {
        var rows = v
        for y in 0..<h {
            for x in 0..<w {
                let i = y * w + x
                rows[i] = max(v[i], x > 0 ? v[i - 1] : v[i], x < w - 1 ? v[i + 1] : v[i])
            }
        }
        var out = rows
        for y in 0..<h {
            for x in 0..<w {
                let i = y * w + x
                out[i] = max(rows[i], y > 0 ? rows[i - w] : rows[i], y < h - 1 ? rows[i + w] : rows[i])
            }
        }
        return out
    }
}

/// Square dilation of a mask by r pixels (separable: rows, then columns).
enum Dilation {
    static func square(_ m: [Bool], _ w: Int, _ h: Int, _ r: Int) -> [Bool] {
        let rows = spread(m, lines: h, length: w, lineStride: w, step: 1, r)
        return spread(rows, lines: w, length: h, lineStride: 1, step: w, r)
    }

    /// Each line (`length` values `step` apart, lines `lineStride` apart) dilated by r along itself.
    private static func spread(_ m: [Bool], lines: Int, length: Int, lineStride: Int, step: Int, _ r: Int) -> [Bool] {
        var out = [Bool](repeating: false, count: m.count)
        for l in 0..<lines {
            let base = l * lineStride
            var last = -r - 1
            for k in 0..<length {
                if m[base + k * step] { last = k }
                if k - last <= r { out[base + k * step] = true }
            }
            last = length + r + 1
            for k in stride(from: length - 1, through: 0, by: -1) {
                if m[base + k * step] { last = k }
                if last - k <= r { out[base + k * step] = true }
            }
        }
        return out
    }
}
