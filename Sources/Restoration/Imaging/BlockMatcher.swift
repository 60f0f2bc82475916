import Foundation
import FilmCore
import TensorCore

/// Integer-pel block motion between two pictures, coarse to fine (a three-level pyramid), by the
/// sum of absolute differences of luma; and motion compensation of a whole frame with it.
///
/// `match(current:, reference:)` gives, for every `block`×`block` block of the current picture,
/// the offset (dx, dy) such that reference(x + dx, y + dy) best matches current(x, y). The coarsest
/// level searches ±`radius` exhaustively; each finer level refines the doubled vector of the block
/// above (and its neighbours' candidates) by ±1. Used by the cleanup stages to align the frames
/// before and after the current one.
public struct BlockMatcher: Sendable {
    public var block: Int
    public var radius: Int

    public init(block: Int = 8, radius: Int = 6) {
        self.block = block
        self.radius = radius
    }

    /// One motion field: a vector per block, row-major, and each block's mean absolute difference
    /// after matching (0…1 scale).
    public struct Field: Sendable {
        public let blocksX: Int, blocksY: Int, block: Int
        public var dx: [Int32], dy: [Int32]
        public var error: [Float]

        /// The vectors and errors as memory that workers fill, each its own blocks.
        struct Rows {
            let blocksX: Int
            let dx: UnsafeMutablePointer<Int32>, dy: UnsafeMutablePointer<Int32>, error: UnsafeMutablePointer<Float>
            func set(_ b: Int, _ vx: Int, _ vy: Int, error e: Float) {
                dx[b] = Int32(vx)
                dy[b] = Int32(vy)
                error[b] = e
            }
        }

        mutating func withRows<R>(_ body: (Rows) -> R) -> R {
            let bx = blocksX
            return dx.withUnsafeMutableBufferPointer { x in
                dy.withUnsafeMutableBufferPointer { y in
                    error.withUnsafeMutableBufferPointer { e in
                        body(Rows(blocksX: bx, dx: x.baseAddress!, dy: y.baseAddress!, error: e.baseAddress!))
                    }
                }
            }
        }
    }

    /// A short list of distinct vectors in memory the caller provides (on its stack).
    struct VectorList {
        let xy: UnsafeMutableBufferPointer<Int32>
        private(set) var count = 0
        init(_ storage: UnsafeMutableBufferPointer<Int32>, capacity: Int) {
            precondition(storage.count >= 2 * capacity)
            xy = storage
        }
        subscript(k: Int) -> (x: Int32, y: Int32) { (xy[2 * k], xy[2 * k + 1]) }
        func contains(_ x: Int32, _ y: Int32) -> Bool {
            for k in 0..<count where xy[2 * k] == x && xy[2 * k + 1] == y { return true }
            return false
        }
        /// Adds the vector unless it is there; true when added.
        @discardableResult mutating func insert(_ x: Int32, _ y: Int32) -> Bool {
            guard !contains(x, y) else { return false }
            xy[2 * count] = x
            xy[2 * count + 1] = y
            count += 1
            return true
        }
    }

    /// min(|d|, t) lane by lane. (The standard library's generic `pointwiseMin`/`pointwiseMax` are not
    /// inlined here and cost 20× more.)
    @inline(__always) static func absMin(_ d: SIMD8<Float>, _ t: SIMD8<Float>) -> SIMD8<Float> {
        let a = d.replacing(with: -d, where: d .< 0)
        return a.replacing(with: t, where: a .> t)
    }
    @inline(__always) static func absMin(_ d: SIMD4<Float>, _ t: SIMD4<Float>) -> SIMD4<Float> {
        let a = d.replacing(with: -d, where: d .< 0)
        return a.replacing(with: t, where: a .> t)
    }

    struct Plane {
        let w: Int, h: Int
        let v: [Float]
        @inline(__always) func at(_ x: Int, _ y: Int) -> Float { v[min(max(y, 0), h - 1) * w + min(max(x, 0), w - 1)] }
        /// Σ min(|self(x, y) − ref(x + vx, y + vy)|, truncation) over [x0, x1) × [y0, y1): rows of 8
        /// or 4 inside both pictures (the blocks of the two finer levels) through the SIMD kernels,
        /// anything else through the plain one.
        func cost(_ r: Plane, _ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ vx: Int, _ vy: Int, simd: Bool = true)
            -> Float
        {
            let inside = x0 + vx >= 0 && x1 + vx <= r.w && y0 + vy >= 0 && y1 + vy <= r.h
            guard simd, inside, x1 - x0 == 8 || x1 - x0 == 4 else { return costPlain(r, x0, y0, x1, y1, vx, vy) }
            return v.withUnsafeBufferPointer { cp in
                r.v.withUnsafeBufferPointer { rp in
                    let a = cp.baseAddress! + y0 * w + x0, b = rp.baseAddress! + (y0 + vy) * r.w + x0 + vx
                    return x1 - x0 == 8
                        ? Self.cost8(a, w, b, r.w, rows: y1 - y0) : Self.cost4(a, w, b, r.w, rows: y1 - y0)
                }
            }
        }

        /// The plain kernel: any rectangle, the reference's edge repeated outside it.
        func costPlain(_ r: Plane, _ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ vx: Int, _ vy: Int) -> Float {
            let t = BlockMatcher.truncation
            var cost: Float = 0
            for y in y0..<y1 {
                let sy = min(max(y + vy, 0), r.h - 1)
                for x in x0..<x1 { cost += min(abs(v[y * w + x] - r.v[sy * r.w + min(max(x + vx, 0), r.w - 1)]), t) }
            }
            return cost
        }

        /// The SIMD kernel for blocks 8 wide: `rows` rows from `a` (stride `sa`) against `b` (stride `sb`).
        @inline(__always) static func cost8(
            _ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int, rows: Int
        ) -> Float {
            var acc = SIMD8<Float>()
            let t = SIMD8<Float>(repeating: BlockMatcher.truncation)
            for y in 0..<rows {
                let d =
                    UnsafeRawPointer(a + y * sa).loadUnaligned(as: SIMD8<Float>.self)
                    - UnsafeRawPointer(b + y * sb).loadUnaligned(as: SIMD8<Float>.self)
                acc += BlockMatcher.absMin(d, t)
            }
            return acc.sum()
        }

        /// The SIMD kernel for blocks 4 wide.
        @inline(__always) static func cost4(
            _ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int, rows: Int
        ) -> Float {
            var acc = SIMD4<Float>()
            let t = SIMD4<Float>(repeating: BlockMatcher.truncation)
            for y in 0..<rows {
                let d =
                    UnsafeRawPointer(a + y * sa).loadUnaligned(as: SIMD4<Float>.self)
                    - UnsafeRawPointer(b + y * sb).loadUnaligned(as: SIMD4<Float>.self)
                acc += BlockMatcher.absMin(d, t)
            }
            return acc.sum()
        }

        func half() -> Plane {
            let hw = max(1, w / 2), hh = max(1, h / 2)
            var out = [Float](repeating: 0, count: hw * hh)
            for y in 0..<hh {
                for x in 0..<hw {
                    out[y * hw + x] =
                        (at(2 * x, 2 * y) + at(2 * x + 1, 2 * y) + at(2 * x, 2 * y + 1) + at(2 * x + 1, 2 * y + 1)) / 4
                }
            }
            return Plane(w: hw, h: hh, v: out)
        }
    }

    public func match(current: [Float], reference: [Float], width w: Int, height h: Int) -> Field {
        let levels = 3
        var cur = [Plane(w: w, h: h, v: current)], ref = [Plane(w: w, h: h, v: reference)]
        for _ in 1..<levels {
            cur.append(cur.last!.half())
            ref.append(ref.last!.half())
        }
        var field: Field? = nil
        for level in stride(from: levels - 1, through: 0, by: -1) {
            let c = cur[level], r = ref[level]
            // the coarsest level searches exhaustively: its blocks are as large as the next level's
            // (twice the area in the picture), fewer searches and steadier in noise
            let bs = max(2, block >> level)
            let bx = (c.w + bs - 1) / bs, by = (c.h + bs - 1) / bs
            var next = Field(
                blocksX: bx, blocksY: by, block: bs, dx: [Int32](repeating: 0, count: bx * by),
                dy: [Int32](repeating: 0, count: bx * by), error: [Float](repeating: 0, count: bx * by))
            let prev = field, radius = self.radius
            next.withRows { out in
                Parallel.forEach(by) { j in
                    if let p = prev {
                        Self.refineRow(j, c, r, block: bs, above: p, out)
                    } else {
                        Self.exhaustiveRow(j, c, r, block: bs, blocksX: bx, radius: radius, out)
                    }
                }
            }
            smooth(&next, c, r, level: level)
            field = next
        }
        return field!
    }

    /// Block row j of a finer level: each block tries the doubled vectors of the same area one
    /// level up and of its four neighbours, then ±1 around the best of them.
    static func refineRow(_ j: Int, _ c: Plane, _ r: Plane, block bs: Int, above p: Field, _ out: Field.Rows) {
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 20) { storage in
            for i in 0..<out.blocksX {
                let x0 = i * bs, y0 = j * bs, x1 = min(x0 + bs, c.w), y1 = min(y0 + bs, c.h)
                var best = (0, 0), bestCost = Float.infinity, bestPure: Float = 0
                func tryVector(_ vx: Int, _ vy: Int) {
                    // a slight preference for small vectors keeps flat areas still
                    let pure = c.cost(r, x0, y0, x1, y1, vx, vy)
                    let cost = pure + Float(abs(vx) + abs(vy)) * 1e-5 * Float(bs * bs)
                    if cost < bestCost { (bestCost, best, bestPure) = (cost, (vx, vy), pure) }
                }
                var tried = VectorList(storage, capacity: 10)
                let pi = min(i * bs / 2 / p.block, p.blocksX - 1), pj = min(j * bs / 2 / p.block, p.blocksY - 1)
                for (oi, oj) in [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)] {
                    let q = min(max(pj + oj, 0), p.blocksY - 1) * p.blocksX + min(max(pi + oi, 0), p.blocksX - 1)
                    let vx = 2 * p.dx[q], vy = 2 * p.dy[q]
                    if tried.insert(vx, vy) { tryVector(Int(vx), Int(vy)) }
                }
                let centre = best
                for sy in -1...1 {
                    for sx in -1...1
                    where (sx != 0 || sy != 0) && !tried.contains(Int32(centre.0 + sx), Int32(centre.1 + sy)) {
                        tryVector(centre.0 + sx, centre.1 + sy)
                    }
                }
                out.set(j * out.blocksX + i, best.0, best.1, error: bestPure / Float(max((x1 - x0) * (y1 - y0), 1)))
            }
        }
    }

    /// Block row j of the coarsest level: every vector within ±radius for all its blocks at once,
    /// a whole picture row per vector (the reference row padded by repeating its edge pixels).
    static func exhaustiveRow(
        _ j: Int, _ c: Plane, _ r: Plane, block bs: Int, blocksX bx: Int, radius: Int, _ out: Field.Rows
    ) {
        let w = c.w, y0 = j * bs, y1 = min(y0 + bs, c.h), rows = y1 - y0, pw = w + 2 * radius
        let t = truncation
        withUnsafeTemporaryAllocation(of: Float.self, capacity: rows * pw + w + 2 * bx) { buf in
            let padded = buf.baseAddress!, diff = padded + rows * pw, sum = diff + w, best = sum + bx
            for i in 0..<bx { best[i] = .infinity }
            c.v.withUnsafeBufferPointer { cp in
                r.v.withUnsafeBufferPointer { rp in
                    let C = cp.baseAddress!, R = rp.baseAddress!
                    for vy in -radius...radius {
                        for y in y0..<y1 {
                            let src = R + min(max(y + vy, 0), r.h - 1) * r.w, dst = padded + (y - y0) * pw
                            for x in 0..<pw { dst[x] = src[min(max(x - radius, 0), r.w - 1)] }
                        }
                        for vx in -radius...radius {
                            // the block rows' differences summed down each column, then across each block
                            for x in 0..<w { diff[x] = 0 }
                            for y in y0..<y1 {
                                let a = C + y * w, b = padded + (y - y0) * pw + radius + vx
                                for x in 0..<w { diff[x] += min(abs(a[x] - b[x]), t) }
                            }
                            for i in 0..<bx {
                                var s: Float = 0
                                for x in (i * bs)..<min((i + 1) * bs, w) { s += diff[x] }
                                sum[i] = s
                            }
                            for i in 0..<bx {
                                // a slight preference for small vectors keeps flat areas still
                                let cost = sum[i] + Float(abs(vx) + abs(vy)) * 1e-5 * Float(bs * bs)
                                if cost < best[i] {
                                    best[i] = cost
                                    out.set(
                                        j * bx + i, vx, vy,
                                        error: sum[i] / Float(max((min((i + 1) * bs, w) - i * bs) * rows, 1)))
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Differences are truncated at this in the matching cost, so a defect in the block (a speck,
    /// a scratch) cannot pull the vector: it costs the same whatever the vector.
    static let truncation: Float = 0.1

    /// Motion is smooth: each block chooses again among its own vector, the median of its 3×3
    /// neighbourhood and its neighbours' vectors, paying `smoothness` per pixel of distance from
    /// that median (per pixel of the block, on the 0…1 scale). A speck matched onto another speck
    /// elsewhere, or a flat block's arbitrary vector, loses to the neighbourhood's motion; a real
    /// object moving differently (its texture matching by more than the distance costs) keeps its
    /// own. Two passes.
    func smooth(_ f: inout Field, _ c: Plane, _ r: Plane, level: Int) {
        let bx = f.blocksX, by = f.blocksY
        let lambda = Self.smoothness * Float(1 << level)
        var changed = [Bool](repeating: true, count: bx * by)
        for _ in 0..<(level == 0 ? 1 : 2) {
            let field = f, before = changed
            var after = [Bool](repeating: false, count: bx * by)
            after.withUnsafeMutableBufferPointer { moved in
                f.withRows { out in
                    Parallel.forEach(by) { j in
                        for i in 0..<bx where Self.neighbourhoodChanged(i, j, before, bx, by) {
                            moved[j * bx + i] = Self.smoothBlock(i, j, field, c, r, lambda: lambda, out)
                        }
                    }
                }
            }
            changed = after
        }
    }

    /// Whether a block or one around it changed in the last pass (else it chooses as before).
    static func neighbourhoodChanged(_ i: Int, _ j: Int, _ changed: [Bool], _ bx: Int, _ by: Int) -> Bool {
        for qj in max(j - 1, 0)...min(j + 1, by - 1) {
            for qi in max(i - 1, 0)...min(i + 1, bx - 1) where changed[qj * bx + qi] { return true }
        }
        return false
    }

    /// Block (i, j) chooses among its 3×3 neighbourhood's vectors and their median, by its matching
    /// error plus `lambda` per pixel of distance from the median; true when its vector changed.
    static func smoothBlock(
        _ i: Int, _ j: Int, _ field: Field, _ c: Plane, _ r: Plane, lambda: Float, _ out: Field.Rows
    ) -> Bool {
        let bs = field.block, bx = field.blocksX, by = field.blocksY, own = j * bx + i
        return withUnsafeTemporaryAllocation(of: Int32.self, capacity: 38) { tmp in
            // the neighbours' vectors (for the median, x and y apart) and the distinct ones
            let xs = tmp.baseAddress!, ys = xs + 9
            var distinct = VectorList(UnsafeMutableBufferPointer(rebasing: tmp[18...]), capacity: 10)
            var m = 0
            for qj in max(j - 1, 0)...min(j + 1, by - 1) {
                for qi in max(i - 1, 0)...min(i + 1, bx - 1) {
                    let q = qj * bx + qi
                    (xs[m], ys[m]) = (field.dx[q], field.dy[q])
                    m += 1
                    distinct.insert(field.dx[q], field.dy[q])
                }
            }
            let mx = median(xs, m), my = median(ys, m)
            distinct.insert(mx, my)
            let x0 = i * bs, y0 = j * bs, x1 = min(x0 + bs, c.w), y1 = min(y0 + bs, c.h)
            let n = Float((x1 - x0) * (y1 - y0))
            var best = (Int32(0), Int32(0)), bestTotal = Float.infinity, bestErr: Float = 0
            for k in 0..<distinct.count {
                let (vx, vy) = distinct[k]
                let e =
                    vx == field.dx[own] && vy == field.dy[own]
                    ? field.error[own] : c.cost(r, x0, y0, x1, y1, Int(vx), Int(vy)) / n
                let total = e + lambda * Float(abs(vx - mx) + abs(vy - my))
                if total < bestTotal { (bestTotal, best, bestErr) = (total, (vx, vy), e) }
            }
            out.set(own, Int(best.0), Int(best.1), error: bestErr)
            return best.0 != field.dx[own] || best.1 != field.dy[own]
        }
    }

    /// The median of n ≤ 9 values (the upper one of an even count), sorting them in place.
    @inline(__always) static func median(_ v: UnsafeMutablePointer<Int32>, _ n: Int) -> Int32 {
        for a in 1..<max(n, 1) {
            let x = v[a]
            var b = a - 1
            while b >= 0, v[b] > x {
                v[b + 1] = v[b]
                b -= 1
            }
            v[b + 1] = x
        }
        return v[n / 2]
    }

    /// Cost per pixel of distance from the neighbourhood's motion, per full-resolution pixel.
    static let smoothness: Float = 0.003
}
