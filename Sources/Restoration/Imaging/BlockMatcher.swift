import Foundation
import FilmCore

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

    public init(block: Int = 8, radius: Int = 6) { self.block = block; self.radius = radius }

    /// One motion field: a vector per block, row-major, and each block's mean absolute difference
    /// after matching (0…1 scale).
    public struct Field: Sendable {
        public let blocksX: Int, blocksY: Int, block: Int
        public var dx: [Int32], dy: [Int32]
        public var error: [Float]
    }

    struct Plane {
        let w: Int, h: Int
        let v: [Float]
        @inline(__always) func at(_ x: Int, _ y: Int) -> Float { v[min(max(y, 0), h - 1) * w + min(max(x, 0), w - 1)] }
        /// Σ min(|self(x, y) − ref(x + vx, y + vy)|, truncation) over [x0, x1) × [y0, y1).
        func cost(_ r: Plane, _ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ vx: Int, _ vy: Int) -> Float {
            var cost: Float = 0
            let t = BlockMatcher.truncation
            v.withUnsafeBufferPointer { cp in r.v.withUnsafeBufferPointer { rp in
                if x0 + vx >= 0, x1 + vx <= r.w, y0 + vy >= 0, y1 + vy <= r.h {
                    for y in y0..<y1 {
                        let a = cp.baseAddress! + y * w, b = rp.baseAddress! + (y + vy) * r.w + vx
                        for x in x0..<x1 { cost += min(abs(a[x] - b[x]), t) }
                    }
                } else {
                    for y in y0..<y1 {
                        let sy = min(max(y + vy, 0), r.h - 1)
                        for x in x0..<x1 { cost += min(abs(cp[y * w + x] - rp[sy * r.w + min(max(x + vx, 0), r.w - 1)]), t) }
                    }
                }
            }}
            return cost
        }

        func half() -> Plane {
            let hw = max(1, w / 2), hh = max(1, h / 2)
            var out = [Float](repeating: 0, count: hw * hh)
            for y in 0..<hh { for x in 0..<hw {
                out[y * hw + x] = (at(2 * x, 2 * y) + at(2 * x + 1, 2 * y) + at(2 * x, 2 * y + 1) + at(2 * x + 1, 2 * y + 1)) / 4
            }}
            return Plane(w: hw, h: hh, v: out)
        }
    }

    public func match(current: [Float], reference: [Float], width w: Int, height h: Int) -> Field {
        let levels = 3
        var cur = [Plane(w: w, h: h, v: current)], ref = [Plane(w: w, h: h, v: reference)]
        for _ in 1..<levels { cur.append(cur.last!.half()); ref.append(ref.last!.half()) }
        var field: Field? = nil
        for level in stride(from: levels - 1, through: 0, by: -1) {
            let c = cur[level], r = ref[level]
            let bs = max(2, block >> level)
            let bx = (c.w + bs - 1) / bs, by = (c.h + bs - 1) / bs
            var dxs = [Int32](repeating: 0, count: bx * by), dys = dxs, errs = [Float](repeating: 0, count: bx * by)
            let prev = field
            dxs.withUnsafeMutableBufferPointer { dxp in dys.withUnsafeMutableBufferPointer { dyp in errs.withUnsafeMutableBufferPointer { ep in
            let dxo = dxp, dyo = dyp, eo = ep
            DispatchQueue.concurrentPerform(iterations: by) { j in
                for i in 0..<bx {
                    var candidates: [(Int, Int)] = []
                    let span: Int
                    if let p = prev {
                        // the doubled vectors of the same area one level up and its neighbours, refined by ±1
                        let pi = min(i * bs / 2 / p.block, p.blocksX - 1), pj = min(j * bs / 2 / p.block, p.blocksY - 1)
                        for (oi, oj) in [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)] {
                            let qi = min(max(pi + oi, 0), p.blocksX - 1), qj = min(max(pj + oj, 0), p.blocksY - 1)
                            let v = (2 * Int(p.dx[qj * p.blocksX + qi]), 2 * Int(p.dy[qj * p.blocksX + qi]))
                            if !candidates.contains(where: { $0 == v }) { candidates.append(v) }
                        }
                        span = 1
                    } else {
                        candidates = [(0, 0)]
                        span = radius
                    }
                    var best = (0, 0), bestCost = Float.infinity
                    let x0 = i * bs, y0 = j * bs, x1 = min(x0 + bs, c.w), y1 = min(y0 + bs, c.h)
                    for (cx, cy) in candidates {
                        for sy in -span...span { for sx in -span...span {
                            let vx = cx + sx, vy = cy + sy
                            var cost = c.cost(r, x0, y0, x1, y1, vx, vy)
                            // a slight preference for small vectors keeps flat areas still
                            cost += Float(abs(vx) + abs(vy)) * 1e-5 * Float(bs * bs)
                            if cost < bestCost { bestCost = cost; best = (vx, vy) }
                        }}
                    }
                    let n = Float((x1 - x0) * (y1 - y0))
                    dxo[j * bx + i] = Int32(best.0); dyo[j * bx + i] = Int32(best.1)
                    eo[j * bx + i] = bestCost / max(n, 1)
                }
            }
            }}}
            var next = Field(blocksX: bx, blocksY: by, block: bs, dx: dxs, dy: dys, error: errs)
            smooth(&next, c, r, level: level)
            field = next
        }
        return field!
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
        let bs = f.block
        let lambda = Self.smoothness * Float(1 << level)
        for _ in 0..<2 {
            var dx = f.dx, dy = f.dy, err = f.error
            for j in 0..<f.blocksY { for i in 0..<f.blocksX {
                var cands: [(Int, Int)] = []
                var xs: [Int32] = [], ys: [Int32] = []
                for oj in -1...1 { for oi in -1...1 {
                    let qi = i + oi, qj = j + oj
                    guard qi >= 0, qi < f.blocksX, qj >= 0, qj < f.blocksY else { continue }
                    let q = qj * f.blocksX + qi
                    xs.append(f.dx[q]); ys.append(f.dy[q])
                    let v = (Int(f.dx[q]), Int(f.dy[q]))
                    if !cands.contains(where: { $0 == v }) { cands.append(v) }
                }}
                let mx = Int(xs.sorted()[xs.count / 2]), my = Int(ys.sorted()[ys.count / 2])
                if !cands.contains(where: { $0 == (mx, my) }) { cands.append((mx, my)) }
                let x0 = i * bs, y0 = j * bs, x1 = min(x0 + bs, c.w), y1 = min(y0 + bs, c.h)
                let n = Float((x1 - x0) * (y1 - y0))
                var best = (0, 0), bestTotal = Float.infinity, bestErr: Float = 0
                for (vx, vy) in cands {
                    let e = c.cost(r, x0, y0, x1, y1, vx, vy) / n
                    let total = e + lambda * Float(abs(vx - mx) + abs(vy - my))
                    if total < bestTotal { bestTotal = total; best = (vx, vy); bestErr = e }
                }
                let b = j * f.blocksX + i
                dx[b] = Int32(best.0); dy[b] = Int32(best.1); err[b] = bestErr
            }}
            f.dx = dx; f.dy = dy; f.error = err
        }
    }

    /// Cost per pixel of distance from the neighbourhood's motion, per full-resolution pixel.
    static let smoothness: Float = 0.003

    /// A neighbouring frame moved onto the current one.
    public struct Aligned {
        public let planes: [[Float]]
        /// Its luma, moved the same way.
        public let luma: [Float]
        /// False where the motion points outside the neighbour's picture.
        public let valid: [Bool]
    }

    /// `neighbour` (with its luma) aligned to the current picture: match, then per-pixel compensation.
    public func align(_ neighbour: Frame, luma ny: [Float], toLuma current: [Float]) -> Aligned {
        let field = match(current: current, reference: ny, width: neighbour.width, height: neighbour.height)
        return Self.compensate(neighbour, referenceLuma: ny, currentLuma: current, field)
    }

    /// `reference` moved onto the current picture: out(x, y) = reference(x + dx, y + dy), every
    /// plane and the luma. Each pixel takes, among the vectors of its block and the 8 blocks around, the one
    /// whose 3×3 neighbourhood matches best (truncated differences; its own block's wins ties), so
    /// object edges inside a block follow the right motion. `valid` is false where the vector
    /// points outside the reference picture.
    public static func compensate(_ reference: Frame, referenceLuma ry: [Float], currentLuma cy: [Float],
                                  _ field: Field) -> Aligned {
        let w = reference.width, h = reference.height, bs = field.block
        var vx = [Int32](repeating: 0, count: w * h), vy = vx
        var valid = [Bool](repeating: true, count: w * h)
        // per block: its own vector first, then the other distinct vectors around it
        // (flat: up to 9 vectors per block, x and y interleaved, and a count)
        let blocks = field.blocksX * field.blocksY
        var candidates = [Int32](repeating: 0, count: blocks * 18), counts = [Int](repeating: 0, count: blocks)
        for j in 0..<field.blocksY { for i in 0..<field.blocksX {
            let own = j * field.blocksX + i
            var list = [(field.dx[own], field.dy[own])]
            for oj in -1...1 { for oi in -1...1 {
                let qi = i + oi, qj = j + oj
                guard qi >= 0, qi < field.blocksX, qj >= 0, qj < field.blocksY else { continue }
                let b = qj * field.blocksX + qi
                let v = (field.dx[b], field.dy[b])
                if !list.contains(where: { $0 == v }) { list.append(v) }
            }}
            counts[own] = list.count
            for (k, v) in list.enumerated() { candidates[own * 18 + 2 * k] = v.0; candidates[own * 18 + 2 * k + 1] = v.1 }
        }}
        vx.withUnsafeMutableBufferPointer { vxp in vy.withUnsafeMutableBufferPointer { vyp in valid.withUnsafeMutableBufferPointer { vp in
        cy.withUnsafeBufferPointer { cp in ry.withUnsafeBufferPointer { rp in candidates.withUnsafeBufferPointer { candp in counts.withUnsafeBufferPointer { cntp in
            let ox = vxp, oy = vyp, ov = vp, C = cp.baseAddress!, R = rp.baseAddress!, V = candp.baseAddress!, N = cntp.baseAddress!
            DispatchQueue.concurrentPerform(iterations: h) { y in
                let j = min(y / bs, field.blocksY - 1)
                for x in 0..<w {
                    let b = j * field.blocksX + min(x / bs, field.blocksX - 1)
                    let list = V + b * 18, count = N[b]
                    var best = (Int(list[0]), Int(list[1]))
                    if count > 1 {
                        func cost(_ dx: Int, _ dy: Int) -> Float {
                            var c: Float = 0
                            if x >= 1, x < w - 1, y >= 1, y < h - 1, x + dx >= 1, x + dx < w - 1, y + dy >= 1, y + dy < h - 1 {
                                for k in -1...1 {
                                    let a = C + (y + k) * w + x, b = R + (y + k + dy) * w + x + dx
                                    c += min(abs(a[-1] - b[-1]), truncation) + min(abs(a[0] - b[0]), truncation) + min(abs(a[1] - b[1]), truncation)
                                }
                                return c
                            }
                            for yy in max(y - 1, 0)...min(y + 1, h - 1) { for xx in max(x - 1, 0)...min(x + 1, w - 1) {
                                let sx = min(max(xx + dx, 0), w - 1), sy = min(max(yy + dy, 0), h - 1)
                                c += min(abs(C[yy * w + xx] - R[sy * w + sx]), truncation)
                            }}
                            return c
                        }
                        var bestCost = cost(best.0, best.1) - 0.02      // its own block's vector wins ties
                        for k in 1..<count {
                            let v = (Int(list[2 * k]), Int(list[2 * k + 1]))
                            let c = cost(v.0, v.1)
                            if c < bestCost { bestCost = c; best = v }
                        }
                    }
                    ox[y * w + x] = Int32(best.0); oy[y * w + x] = Int32(best.1)
                    let sx = x + best.0, sy = y + best.1
                    ov[y * w + x] = sx >= 0 && sx < w && sy >= 0 && sy < h
                }
            }
        }}}}}}}
        // the source index of every pixel, then each plane gathered through it
        let n = w * h
        let source = [Int32](unsafeUninitializedCapacity: n) { buf, count in
            for y in 0..<h { for x in 0..<w {
                let k = y * w + x
                buf[k] = Int32(min(max(y + Int(vy[k]), 0), h - 1) * w + min(max(x + Int(vx[k]), 0), w - 1))
            }}
            count = n
        }
        func gather(_ p: [Float]) -> [Float] {
            [Float](unsafeUninitializedCapacity: n) { buf, count in
                p.withUnsafeBufferPointer { pp in source.withUnsafeBufferPointer { sp in
                    for k in 0..<n { buf[k] = pp[Int(sp[k])] }
                }}
                count = n
            }
        }
        let planes = reference.planes.map(gather)
        return Aligned(planes: planes, luma: reference.layout == .gray ? planes[0] : gather(ry), valid: valid)
    }
}
