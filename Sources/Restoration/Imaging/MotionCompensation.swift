import Foundation
import FilmCore
import TensorCore

extension BlockMatcher {
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
        align(
            planes: neighbour.layout == .gray ? [] : neighbour.planes, width: neighbour.width, height: neighbour.height,
            luma: ny, toLuma: current, perPixel: perPixel)
    }

    /// Any planes of a picture (with its luma) aligned to the current picture; an empty list moves
    /// the luma alone (it is then also the one plane of the result).
    public func align(
        planes: [[Float]], width: Int, height: Int, luma ny: [Float], toLuma current: [Float],
        perPixel: Bool = true
    ) -> Aligned {
        let field = match(current: current, reference: ny, width: width, height: height)
        return Self.compensate(
            planes: planes, width: width, height: height, referenceLuma: ny, currentLuma: current, field,
            perPixel: perPixel)
    }

    /// Several neighbours (each with its luma) aligned to the current picture, side by side (the
    /// serial parts of one overlap the parallel parts of another).
    public func align(_ neighbours: [(Frame, [Float])], toLuma current: [Float], perPixel: Bool = true) -> [Aligned] {
        var slots = [Aligned?](repeating: nil, count: neighbours.count)
        slots.withUnsafeMutableBufferPointer { out in
            Parallel.forEach(neighbours.count) { k in
                out[k] = align(neighbours[k].0, luma: neighbours[k].1, toLuma: current, perPixel: perPixel)
            }
        }
        return slots.map { $0! }
    }

    /// The `reference` planes moved onto the current picture: out(x, y) = reference(x + dx, y + dy),
    /// every plane and the luma (no planes: the luma is the one plane). Each pixel takes, among the
    /// vectors of its block and the 8 blocks around, the one whose 3×3 neighbourhood matches best
    /// (truncated differences; its own block's wins ties), so object edges inside a block follow
    /// the right motion. `valid` is false where the vector points outside the reference picture.
    /// - simd: false runs the plain kernel everywhere (the SIMD one is tested against it).
    public static func compensate(
        planes reference: [[Float]], width w: Int, height h: Int, referenceLuma ry: [Float],
        currentLuma cy: [Float], _ field: Field, perPixel: Bool = true, simd: Bool = true
    ) -> Aligned {
        let (candidates, counts) = candidateLists(field)
        var vx = [Int32](repeating: 0, count: w * h), vy = vx
        var valid = [Bool](repeating: true, count: w * h)
        vx.withUnsafeMutableBufferPointer { ox in
            vy.withUnsafeMutableBufferPointer { oy in
                valid.withUnsafeMutableBufferPointer { ov in
                    cy.withUnsafeBufferPointer { cp in
                        ry.withUnsafeBufferPointer { rp in
                            candidates.withUnsafeBufferPointer { lists in
                                let k = PixelVectors(
                                    width: w, height: h, current: cp.baseAddress!, reference: rp.baseAddress!,
                                    dx: ox.baseAddress!, dy: oy.baseAddress!, valid: ov.baseAddress!)
                                Parallel.forEach(h) { y in
                                    k.row(
                                        y, field, lists: lists.baseAddress!, counts: counts, perPixel: perPixel,
                                        simd: simd)
                                }
                            }
                        }
                    }
                }
            }
        }
        return warp(reference, luma: ry, width: w, height: h, dx: vx, dy: vy, valid: valid)
    }

    /// Per block: its own vector first, then the other distinct vectors of the 8 blocks around it
    /// (up to 9 vectors per block, x and y interleaved in 18 slots), and how many there are.
    static func candidateLists(_ field: Field) -> (lists: [Int32], counts: [Int]) {
        let bx = field.blocksX, by = field.blocksY
        var lists = [Int32](repeating: 0, count: bx * by * 18), counts = [Int](repeating: 0, count: bx * by)
        lists.withUnsafeMutableBufferPointer { all in
            for j in 0..<by {
                for i in 0..<bx {
                    let own = j * bx + i
                    var list = VectorList(
                        UnsafeMutableBufferPointer(rebasing: all[(own * 18)..<(own * 18 + 18)]), capacity: 9)
                    list.insert(field.dx[own], field.dy[own])
                    for qj in max(j - 1, 0)...min(j + 1, by - 1) {
                        for qi in max(i - 1, 0)...min(i + 1, bx - 1) {
                            list.insert(field.dx[qj * bx + qi], field.dy[qj * bx + qi])
                        }
                    }
                    counts[own] = list.count
                }
            }
        }
        return (lists, counts)
    }

    /// Each plane (and the luma) gathered through the chosen vectors, the picture's edge repeated.
    static func warp(
        _ reference: [[Float]], luma ry: [Float], width w: Int, height h: Int, dx: [Int32], dy: [Int32],
        valid: [Bool]
    ) -> Aligned {
        let n = w * h
        let source = [Int32](unsafeUninitializedCapacity: n) { buf, count in
            for y in 0..<h {
                for x in 0..<w {
                    let k = y * w + x
                    buf[k] = Int32(min(max(y + Int(dy[k]), 0), h - 1) * w + min(max(x + Int(dx[k]), 0), w - 1))
                }
            }
            count = n
        }
        func gather(_ p: [Float]) -> [Float] {
            [Float](unsafeUninitializedCapacity: n) { buf, count in
                p.withUnsafeBufferPointer { pp in
                    source.withUnsafeBufferPointer { sp in
                        for k in 0..<n { buf[k] = pp[Int(sp[k])] }
                    }
                }
                count = n
            }
        }
        let luma = gather(ry)
        return Aligned(planes: reference.isEmpty ? [luma] : reference.map(gather), luma: luma, valid: valid)
    }

    /// The per-pixel choice among a block's candidate vectors: the plain kernel (`pixel`, any
    /// position) and its SIMD version (`eightPixels`, a run of eight pixels of one block well
    /// inside both pictures), written as separate functions and tested against each other.
    struct PixelVectors {
        let width: Int, height: Int
        let current: UnsafePointer<Float>, reference: UnsafePointer<Float>
        let dx: UnsafeMutablePointer<Int32>, dy: UnsafeMutablePointer<Int32>, valid: UnsafeMutablePointer<Bool>
        /// What a pixel's own block's vector is given over the others: it wins ties.
        static let ownBlockBonus: Float = 0.02

        /// One row: runs of eight pixels of one block through the SIMD kernel where they fit, the
        /// plain kernel elsewhere.
        func row(_ y: Int, _ field: Field, lists: UnsafePointer<Int32>, counts: [Int], perPixel: Bool, simd: Bool) {
            let bs = field.block, j = min(y / bs, field.blocksY - 1)
            var x = 0
            while x < width {
                let bi = min(x / bs, field.blocksX - 1), b = j * field.blocksX + bi
                let runEnd = bi == field.blocksX - 1 ? width : (bi + 1) * bs
                let list = lists + b * 18, count = perPixel ? counts[b] : 1
                if simd, count > 1, runEnd - x == 8, fitsEight(x, y, list, count) {
                    eightPixels(x, y, list, count)
                    x += 8
                    continue
                }
                while x < runEnd {
                    pixel(x, y, list, count)
                    x += 1
                }
            }
        }

        /// Whether pixels x…x+7 of row y and every candidate's 3×3 windows around them lie inside.
        func fitsEight(_ x: Int, _ y: Int, _ list: UnsafePointer<Int32>, _ count: Int) -> Bool {
            guard y >= 1, y < height - 1, x >= 1, x + 8 < width else { return false }
            return (0..<count).allSatisfy { k in
                let vx = Int(list[2 * k]), vy = Int(list[2 * k + 1])
                return x + vx >= 1 && x + vx + 8 < width && y + vy >= 1 && y + vy < height - 1
            }
        }

        /// Σ of truncated differences over the 3×3 window of (x, y) against the reference moved by
        /// (vx, vy), the edges repeated.
        func cost(_ x: Int, _ y: Int, _ vx: Int, _ vy: Int) -> Float {
            let w = width, h = height, t = BlockMatcher.truncation
            var c: Float = 0
            for yy in max(y - 1, 0)...min(y + 1, h - 1) {
                for xx in max(x - 1, 0)...min(x + 1, w - 1) {
                    let sx = min(max(xx + vx, 0), w - 1), sy = min(max(yy + vy, 0), h - 1)
                    c += min(abs(current[yy * w + xx] - reference[sy * w + sx]), t)
                }
            }
            return c
        }

        /// The plain kernel: pixel (x, y) takes the candidate whose window matches best.
        func pixel(_ x: Int, _ y: Int, _ list: UnsafePointer<Int32>, _ count: Int) {
            var best = (Int(list[0]), Int(list[1]))
            if count > 1 {
                var bestCost = cost(x, y, best.0, best.1) - Self.ownBlockBonus
                for k in 1..<count {
                    let v = (Int(list[2 * k]), Int(list[2 * k + 1]))
                    let c = cost(x, y, v.0, v.1)
                    if c < bestCost { (bestCost, best) = (c, v) }
                }
            }
            let i = y * width + x, sx = x + best.0, sy = y + best.1
            dx[i] = Int32(best.0)
            dy[i] = Int32(best.1)
            valid[i] = sx >= 0 && sx < width && sy >= 0 && sy < height
        }

        /// The SIMD kernel: pixels x…x+7 of row y (`fitsEight`), every candidate's 3×3 costs in
        /// eight lanes. Every vector points inside by the condition, so `valid` stays true.
        func eightPixels(_ x: Int, _ y: Int, _ list: UnsafePointer<Int32>, _ count: Int) {
            let w = width, t = SIMD8<Float>(repeating: BlockMatcher.truncation)
            func cost8(_ vx: Int, _ vy: Int) -> SIMD8<Float> {
                var acc = SIMD8<Float>()
                for k in -1...1 {
                    let a = UnsafeRawPointer(current + (y + k) * w + x),
                        r = UnsafeRawPointer(reference + (y + k + vy) * w + x + vx)
                    for o in -1...1 {
                        let d =
                            a.loadUnaligned(fromByteOffset: o * 4, as: SIMD8<Float>.self)
                            - r.loadUnaligned(fromByteOffset: o * 4, as: SIMD8<Float>.self)
                        acc += BlockMatcher.absMin(d, t)
                    }
                }
                return acc
            }
            var bestCost = cost8(Int(list[0]), Int(list[1])) - SIMD8<Float>(repeating: Self.ownBlockBonus)
            var bestK = SIMD8<Int32>()
            for k in 1..<count {
                let c = cost8(Int(list[2 * k]), Int(list[2 * k + 1]))
                let better = c .< bestCost
                bestCost.replace(with: c, where: better)
                bestK.replace(with: Int32(k), where: better)
            }
            for l in 0..<8 {
                let k = Int(bestK[l])
                dx[y * w + x + l] = list[2 * k]
                dy[y * w + x + l] = list[2 * k + 1]
            }
        }
    }
}
