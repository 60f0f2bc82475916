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

    public init(block: Int = 8, radius: Int = 6) { self.block = block; self.radius = radius }

    /// One motion field: a vector per block, row-major, and each block's mean absolute difference
    /// after matching (0…1 scale).
    public struct Field: Sendable {
        public let blocksX: Int, blocksY: Int, block: Int
        public var dx: [Int32], dy: [Int32]
        public var error: [Float]
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
        /// Σ min(|self(x, y) − ref(x + vx, y + vy)|, truncation) over [x0, x1) × [y0, y1).
        /// Rows of 8 or 4 inside both pictures go through SIMD lanes (the blocks of the two finer levels).
        func cost(_ r: Plane, _ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ vx: Int, _ vy: Int) -> Float {
            var cost: Float = 0
            let t = BlockMatcher.truncation
            v.withUnsafeBufferPointer { cp in r.v.withUnsafeBufferPointer { rp in
                if x0 + vx >= 0, x1 + vx <= r.w, y0 + vy >= 0, y1 + vy <= r.h {
                    let C = UnsafeRawPointer(cp.baseAddress!), R = UnsafeRawPointer(rp.baseAddress!)
                    let stride = MemoryLayout<Float>.stride
                    switch x1 - x0 {
                    case 8:
                        var acc = SIMD8<Float>(), tv = SIMD8<Float>(repeating: t)
                        for y in y0..<y1 {
                            let a = C.loadUnaligned(fromByteOffset: (y * w + x0) * stride, as: SIMD8<Float>.self)
                            let b = R.loadUnaligned(fromByteOffset: ((y + vy) * r.w + x0 + vx) * stride, as: SIMD8<Float>.self)
                            let d = a - b
                            acc += BlockMatcher.absMin(d, tv)
                        }
                        tv = acc; cost = tv.sum()
                    case 4:
                        var acc = SIMD4<Float>()
                        let tv = SIMD4<Float>(repeating: t)
                        for y in y0..<y1 {
                            let a = C.loadUnaligned(fromByteOffset: (y * w + x0) * stride, as: SIMD4<Float>.self)
                            let b = R.loadUnaligned(fromByteOffset: ((y + vy) * r.w + x0 + vx) * stride, as: SIMD4<Float>.self)
                            let d = a - b
                            acc += BlockMatcher.absMin(d, tv)
                        }
                        cost = acc.sum()
                    default:
                        for y in y0..<y1 {
                            let a = cp.baseAddress! + y * w, b = rp.baseAddress! + (y + vy) * r.w + vx
                            for x in x0..<x1 { cost += min(abs(a[x] - b[x]), t) }
                        }
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
            // the coarsest level searches exhaustively: its blocks are as large as the next level's
            // (twice the area in the picture), fewer searches and steadier in noise
            let bs = max(2, block >> level)
            let bx = (c.w + bs - 1) / bs, by = (c.h + bs - 1) / bs
            var dxs = [Int32](repeating: 0, count: bx * by), dys = dxs, errs = [Float](repeating: 0, count: bx * by)
            let prev = field
            dxs.withUnsafeMutableBufferPointer { dxp in dys.withUnsafeMutableBufferPointer { dyp in errs.withUnsafeMutableBufferPointer { ep in
            let dxo = dxp, dyo = dyp, eo = ep
            Parallel.forEach(by) { j in
                guard let p = prev else {
                    Self.exhaustiveRow(j, c, r, block: bs, blocksX: bx, radius: radius, dxo.baseAddress!, dyo.baseAddress!, eo.baseAddress!)
                    return
                }
                withUnsafeTemporaryAllocation(of: Int.self, capacity: 10) { cand in
                for i in 0..<bx {
                    let x0 = i * bs, y0 = j * bs, x1 = min(x0 + bs, c.w), y1 = min(y0 + bs, c.h)
                    var best = (0, 0), bestCost = Float.infinity
                    var bestPure: Float = 0
                    @inline(__always) func tryVector(_ vx: Int, _ vy: Int) {
                        // a slight preference for small vectors keeps flat areas still
                        let pure = c.cost(r, x0, y0, x1, y1, vx, vy)
                        let cost = pure + Float(abs(vx) + abs(vy)) * 1e-5 * Float(bs * bs)
                        if cost < bestCost { bestCost = cost; best = (vx, vy); bestPure = pure }
                    }
                    // predictors: the doubled vectors of the same area one level up and of its four
                    // neighbours; then ±1 around the best of them
                    var nc = 0
                    let pi = min(i * bs / 2 / p.block, p.blocksX - 1), pj = min(j * bs / 2 / p.block, p.blocksY - 1)
                    for (oi, oj) in [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)] {
                        let qi = min(max(pi + oi, 0), p.blocksX - 1), qj = min(max(pj + oj, 0), p.blocksY - 1)
                        let vx = 2 * Int(p.dx[qj * p.blocksX + qi]), vy = 2 * Int(p.dy[qj * p.blocksX + qi])
                        var seen = false
                        for k in 0..<nc where cand[2 * k] == vx && cand[2 * k + 1] == vy { seen = true; break }
                        if !seen { cand[2 * nc] = vx; cand[2 * nc + 1] = vy; nc += 1; tryVector(vx, vy) }
                    }
                    let centre = best
                    for sy in -1...1 { for sx in -1...1 where sx != 0 || sy != 0 {
                        let vx = centre.0 + sx, vy = centre.1 + sy
                        var seen = false
                        for k in 0..<nc where cand[2 * k] == vx && cand[2 * k + 1] == vy { seen = true; break }
                        if !seen { tryVector(vx, vy) }
                    }}
                    let n = Float((x1 - x0) * (y1 - y0))
                    dxo[j * bx + i] = Int32(best.0); dyo[j * bx + i] = Int32(best.1)
                    eo[j * bx + i] = bestPure / max(n, 1)
                }
                }
            }
            }}}
            var next = Field(blocksX: bx, blocksY: by, block: bs, dx: dxs, dy: dys, error: errs)
            smooth(&next, c, r, level: level)
            field = next
        }
        return field!
    }

    /// Block row j of the coarsest level: every vector within ±radius for all its blocks at once,
    /// a whole picture row per vector (the reference row padded by repeating its edge pixels).
    static func exhaustiveRow(_ j: Int, _ c: Plane, _ r: Plane, block bs: Int, blocksX bx: Int, radius: Int,
                              _ dxo: UnsafeMutablePointer<Int32>, _ dyo: UnsafeMutablePointer<Int32>, _ eo: UnsafeMutablePointer<Float>) {
        let w = c.w, y0 = j * bs, y1 = min(y0 + bs, c.h), rows = y1 - y0, pw = w + 2 * radius
        let t = truncation
        withUnsafeTemporaryAllocation(of: Float.self, capacity: rows * pw + w + 2 * bx) { buf in
            let padded = buf.baseAddress!, diff = padded + rows * pw, sum = diff + w, best = sum + bx
            for i in 0..<bx { best[i] = .infinity }
            c.v.withUnsafeBufferPointer { cp in r.v.withUnsafeBufferPointer { rp in
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
                                dxo[j * bx + i] = Int32(vx); dyo[j * bx + i] = Int32(vy)
                                eo[j * bx + i] = sum[i] / Float(max((min((i + 1) * bs, w) - i * bs) * rows, 1))
                            }
                        }
                    }
                }
            }}
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
        let bs = f.block, bx = f.blocksX, by = f.blocksY
        let lambda = Self.smoothness * Float(1 << level)
        var changed = [Bool](repeating: true, count: bx * by)
        for _ in 0..<(level == 0 ? 1 : 2) {
            var dx = f.dx, dy = f.dy, err = f.error
            let field = f
            let before = changed
            var after = [Bool](repeating: false, count: bx * by)
            after.withUnsafeMutableBufferPointer { ap in
            let moved = ap
            dx.withUnsafeMutableBufferPointer { dxp in dy.withUnsafeMutableBufferPointer { dyp in err.withUnsafeMutableBufferPointer { ep in
            let ox = dxp, oy = dyp, oe = ep
            Parallel.forEach(by) { j in
                // up to 9 neighbours' vectors and their median, on the stack
                withUnsafeTemporaryAllocation(of: Int32.self, capacity: 40) { tmp in
                    let xs = tmp.baseAddress!, ys = xs + 9, cx = ys + 9, cy = cx + 10
                    for i in 0..<bx {
                        // a block whose neighbourhood did not change chooses as before
                        var stale = true
                        for qj in max(j - 1, 0)...min(j + 1, by - 1) { for qi in max(i - 1, 0)...min(i + 1, bx - 1) where before[qj * bx + qi] { stale = false } }
                        if stale { continue }
                        var m = 0, nc = 0
                        for qj in max(j - 1, 0)...min(j + 1, by - 1) { for qi in max(i - 1, 0)...min(i + 1, bx - 1) {
                            let q = qj * bx + qi, vx = field.dx[q], vy = field.dy[q]
                            xs[m] = vx; ys[m] = vy; m += 1
                            var seen = false
                            for k in 0..<nc where cx[k] == vx && cy[k] == vy { seen = true; break }
                            if !seen { cx[nc] = vx; cy[nc] = vy; nc += 1 }
                        }}
                        let mx = Self.median(xs, m), my = Self.median(ys, m)
                        var seen = false
                        for k in 0..<nc where cx[k] == mx && cy[k] == my { seen = true; break }
                        if !seen { cx[nc] = mx; cy[nc] = my; nc += 1 }
                        let x0 = i * bs, y0 = j * bs, x1 = min(x0 + bs, c.w), y1 = min(y0 + bs, c.h)
                        let n = Float((x1 - x0) * (y1 - y0))
                        var best = (Int32(0), Int32(0)), bestTotal = Float.infinity, bestErr: Float = 0
                        let own = j * bx + i
                        for k in 0..<nc {
                            let e = cx[k] == field.dx[own] && cy[k] == field.dy[own] ? field.error[own]
                                : c.cost(r, x0, y0, x1, y1, Int(cx[k]), Int(cy[k])) / n
                            let total = e + lambda * Float(abs(cx[k] - mx) + abs(cy[k] - my))
                            if total < bestTotal { bestTotal = total; best = (cx[k], cy[k]); bestErr = e }
                        }
                        let b = j * bx + i
                        moved[b] = best.0 != field.dx[b] || best.1 != field.dy[b]
                        ox[b] = best.0; oy[b] = best.1; oe[b] = bestErr
                    }
                }
            }
            }}}
            }
            changed = after
            f.dx = dx; f.dy = dy; f.error = err
        }
    }

    /// The median of n ≤ 9 values (the upper one of an even count), sorting them in place.
    @inline(__always) static func median(_ v: UnsafeMutablePointer<Int32>, _ n: Int) -> Int32 {
        for a in 1..<max(n, 1) {
            let x = v[a]; var b = a - 1
            while b >= 0, v[b] > x { v[b + 1] = v[b]; b -= 1 }
            v[b + 1] = x
        }
        return v[n / 2]
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
    public func align(_ neighbour: Frame, luma ny: [Float], toLuma current: [Float], perPixel: Bool = true) -> Aligned {
        // a gray frame's plane is its luma: moved once
        align(planes: neighbour.layout == .gray ? [] : neighbour.planes, width: neighbour.width, height: neighbour.height,
              luma: ny, toLuma: current, perPixel: perPixel)
    }

    /// Any planes of a picture (with its luma) aligned to the current picture; an empty list moves
    /// the luma alone (it is then also the one plane of the result).
    public func align(planes: [[Float]], width: Int, height: Int, luma ny: [Float], toLuma current: [Float],
                      perPixel: Bool = true) -> Aligned {
        let field = match(current: current, reference: ny, width: width, height: height)
        return Self.compensate(planes: planes, width: width, height: height, referenceLuma: ny, currentLuma: current, field, perPixel: perPixel)
    }

    /// Several neighbours (each with its luma) aligned to the current picture, side by side (the
    /// serial parts of one overlap the parallel parts of another).
    public func align(_ neighbours: [(Frame, [Float])], toLuma current: [Float], perPixel: Bool = true) -> [Aligned] {
        var slots = [Aligned?](repeating: nil, count: neighbours.count)
        slots.withUnsafeMutableBufferPointer { sp in
            let out = sp
            Parallel.forEach(neighbours.count) { k in
                out[k] = align(neighbours[k].0, luma: neighbours[k].1, toLuma: current, perPixel: perPixel)
            }
        }
        return slots.map { $0! }
    }

    /// The `reference` planes moved onto the current picture: out(x, y) = reference(x + dx, y + dy),
    /// every plane and the luma (no planes: the luma is the one plane). Each pixel takes, among the vectors of its block and the 8 blocks around, the one
    /// whose 3×3 neighbourhood matches best (truncated differences; its own block's wins ties), so
    /// object edges inside a block follow the right motion. `valid` is false where the vector
    /// points outside the reference picture.
    public static func compensate(planes reference: [[Float]], width w: Int, height h: Int, referenceLuma ry: [Float],
                                  currentLuma cy: [Float], _ field: Field, perPixel: Bool = true) -> Aligned {
        let bs = field.block
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
            @inline(__always) func pixel(_ x: Int, _ y: Int, _ list: UnsafePointer<Int32>, _ count: Int) {
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
            Parallel.forEach(h) { y in
                let j = min(y / bs, field.blocksY - 1)
                var x = 0
                while x < w {
                    let bi = min(x / bs, field.blocksX - 1)
                    let b = j * field.blocksX + bi
                    let runEnd = bi == field.blocksX - 1 ? w : (bi + 1) * bs
                    let list = V + b * 18, count = perPixel ? N[b] : 1
                    if count > 1, runEnd - x == 8, y >= 1, y < h - 1, x >= 1, x + 8 < w,
                       (0..<count).allSatisfy({ k in
                           let dx = Int(list[2 * k]), dy = Int(list[2 * k + 1])
                           return x + dx >= 1 && x + dx + 8 < w && y + dy >= 1 && y + dy < h - 1 }) {
                        // eight pixels of one block row at once: 3×3 truncated costs of every candidate
                        let T = SIMD8<Float>(repeating: truncation)
                        @inline(__always) func cost8(_ dx: Int, _ dy: Int) -> SIMD8<Float> {
                            var acc = SIMD8<Float>()
                            for k in -1...1 {
                                let a = UnsafeRawPointer(C + (y + k) * w + x), r = UnsafeRawPointer(R + (y + k + dy) * w + x + dx)
                                for o in -1...1 {
                                    let d = a.loadUnaligned(fromByteOffset: o * 4, as: SIMD8<Float>.self)
                                        - r.loadUnaligned(fromByteOffset: o * 4, as: SIMD8<Float>.self)
                                    acc += absMin(d, T)
                                }
                            }
                            return acc
                        }
                        var bestCost = cost8(Int(list[0]), Int(list[1])) - SIMD8<Float>(repeating: 0.02)   // its own block's vector wins ties
                        var bestK = SIMD8<Int32>()
                        for k in 1..<count {
                            let c = cost8(Int(list[2 * k]), Int(list[2 * k + 1]))
                            let better = c .< bestCost
                            bestCost.replace(with: c, where: better)
                            bestK.replace(with: Int32(k), where: better)
                        }
                        for l in 0..<8 {
                            let k = Int(bestK[l]), dx = Int(list[2 * k]), dy = Int(list[2 * k + 1])
                            ox[y * w + x + l] = Int32(dx); oy[y * w + x + l] = Int32(dy)
                            // in bounds by the condition above
                        }
                        x += 8
                        continue
                    }
                    while x < runEnd {
                        pixel(x, y, list, count)
                        x += 1
                    }
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
        let luma = gather(ry)
        return Aligned(planes: reference.isEmpty ? [luma] : reference.map(gather), luma: luma, valid: valid)
    }
}
