import Foundation

/// Where each pixel of a picture is found in another, anywhere in it: PatchMatch (Barnes, Shechtman,
/// Finkelstein & Goldman 2009) on luminance features at two scales. A frame is matched against a colourist's
/// keyframe directly, so an object found again after an occlusion, or far from where it was, takes the
/// keyframe's colour without being carried there frame by frame.
///
/// A pixel's feature: the 3×3 luma around it (fine) and nine samples 4 pixels apart of the luma averaged over
/// 5×5 (the 13×13 around it: where it is). The cost of a match is the mean squared difference of the two
/// features; `match` returns for every pixel the best position found and its cost.
struct PatchFeatures {
    /// The values of a pixel's feature, and the bytes it takes (the last 14 are zero: two 16-wide loads, half a
    /// cache line).
    static let dims = 18, stride = 32
    /// A value is kept as a byte: round(luma × `levels`), luma clamped to 0…1 (7 bits: a difference's square
    /// fits 16 bits; the rounding, 1/254 of the luma range, adds about 1e-5 to a cost).
    static let levels: Float = 127
    let width: Int, height: Int
    /// `stride` values a pixel, pixel after pixel.
    let values: [UInt8]

    init(luma: [Float], width w: Int, height h: Int) {
        precondition(luma.count == w * h && w > 0 && h > 0)
        let blur = boxMean(luma, width: w, height: h, radius: 2)
        let fine = [(-1, -1), (0, -1), (1, -1), (-1, 0), (0, 0), (1, 0), (-1, 1), (0, 1), (1, 1)]
        let d = Self.stride
        @inline(__always) func byte(_ v: Float) -> UInt8 { UInt8(min(max(v, 0), 1) * Self.levels + 0.5) }
        values = [UInt8](unsafeUninitializedCapacity: w * h * d) { out, n in
            for y in 0..<h {
                for x in 0..<w {
                    let o = (y * w + x) * d
                    for (k, (dx, dy)) in fine.enumerated() {
                        let xx = min(max(x + dx, 0), w - 1), yy = min(max(y + dy, 0), h - 1)
                        out[o + k] = byte(luma[yy * w + xx])
                        let cx = min(max(x + 4 * dx, 0), w - 1), cy = min(max(y + 4 * dy, 0), h - 1)
                        out[o + 9 + k] = byte(blur[cy * w + cx])
                    }
                    for k in Self.dims..<d { out[o + k] = 0 }
                }
            }
            n = w * h * d
        }
        (width, height) = (w, h)
    }

    /// Pixel `p`'s luma (the feature's centre value).
    @inline(__always) func luma(_ p: Int) -> Float { Float(values[p * Self.stride + 4]) / Self.levels }

    /// The cost of matching pixel `p` of `a` with pixel `q` of `b`: the mean squared difference of their
    /// features (the plain sum, the reference for `PatchMatch`'s vector one).
    static func cost(_ a: PatchFeatures, _ p: Int, _ b: PatchFeatures, _ q: Int) -> Float {
        var s = 0
        for k in 0..<dims {
            let e = Int(a.values[p * stride + k]) - Int(b.values[q * stride + k])
            s += e * e
        }
        return Float(s) / (levels * levels * Float(dims))
    }
}

enum PatchMatch {
    /// For every pixel of `a`, the index (y·width + x) of its match in `b` and the match's cost. `initial`: a
    /// previous answer of the same sizes to start from (the last frame's, for a shot: its matches are
    /// mostly still good); else each pixel starts at its own position and at one random one. Each iteration scans
    /// the picture one way, the next the other way, the first backward when `backwardFirst` (a shot's frames take
    /// turns, so one iteration a frame still spreads good matches both ways). The random search tries windows
    /// halving from the whole picture down to one pixel; `halfTheWindows` 0 or 1 tries every other one of them (those
    /// at even or odd places: two frames taking turns try them all, at half the cost a frame).
    static func match(
        _ a: PatchFeatures, in b: PatchFeatures, initial: [Int32]? = nil, iterations: Int = 4, seed: UInt64 = 1,
        backwardFirst: Bool = false, halfTheWindows: Int? = nil
    ) -> (nnf: [Int32], cost: [Float]) {
        let aw = a.width, ah = a.height, bw = b.width, bh = b.height, n = aw * ah, d = PatchFeatures.stride
        var rng = seed &+ 0x9E37_79B9_7F4A_7C15
        /// A number in 0..<bound (SplitMix64, scaled by a multiply: no division).
        @inline(__always) func random(_ bound: Int) -> Int {
            rng = rng &+ 0x9E37_79B9_7F4A_7C15
            var z = rng
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((((z ^ (z >> 31)) >> 32) &* UInt64(bound)) >> 32)
        }
        // the matches as coordinates (no division in the loops), joined into indices at the end
        var mx = [Int32](repeating: 0, count: n), my = mx, cost = [Float](repeating: .infinity, count: n)
        a.values.withUnsafeBufferPointer { av in
            b.values.withUnsafeBufferPointer { bv in
                mx.withUnsafeMutableBufferPointer { mx in
                    my.withUnsafeMutableBufferPointer { my in
                        cost.withUnsafeMutableBufferPointer { cost in
                            let base = UnsafeRawPointer(av.baseAddress!), other = UnsafeRawPointer(bv.baseAddress!)
                            let scale = 1 / (PatchFeatures.levels * PatchFeatures.levels * Float(PatchFeatures.dims))
                            /// The cost of p ↦ q: two 16-wide differences of bytes (the padding is zero in both),
                            /// squared in 16 bits and summed in 32.
                            @inline(__always) func distance(_ p: Int, _ q: Int) -> Float {
                                let x = base + p * d, y = other + q * d
                                let e0 =
                                    SIMD16<Int16>(truncatingIfNeeded: x.loadUnaligned(as: SIMD16<UInt8>.self))
                                    &- SIMD16<Int16>(truncatingIfNeeded: y.loadUnaligned(as: SIMD16<UInt8>.self))
                                let (x1, y1) = (
                                    x.loadUnaligned(fromByteOffset: 16, as: SIMD2<UInt8>.self),
                                    y.loadUnaligned(fromByteOffset: 16, as: SIMD2<UInt8>.self)
                                )
                                let e1 = SIMD2<Int16>(truncatingIfNeeded: x1) &- SIMD2<Int16>(truncatingIfNeeded: y1)
                                let s =
                                    SIMD16<Int32>(truncatingIfNeeded: e0 &* e0).wrappedSum()
                                    &+ SIMD2<Int32>(truncatingIfNeeded: e1 &* e1).wrappedSum()
                                return Float(s) * scale
                            }
                            @inline(__always) func consider(_ p: Int, _ qx: Int, _ qy: Int) {
                                guard qx >= 0, qx < bw, qy >= 0, qy < bh else { return }
                                let c = distance(p, qy * bw + qx)
                                if c < cost[p] {
                                    cost[p] = c
                                    mx[p] = Int32(qx)
                                    my[p] = Int32(qy)
                                }
                            }
                            let start = initial.flatMap { $0.count == n ? $0 : nil }
                            for y in 0..<ah {
                                for x in 0..<aw {
                                    let p = y * aw + x
                                    if let start, start[p] >= 0, Int(start[p]) < bw * bh {
                                        consider(p, Int(start[p]) % bw, Int(start[p]) / bw)
                                    }
                                    consider(p, min(x * bw / aw, bw - 1), min(y * bh / ah, bh - 1))
                                    consider(p, random(bw), random(bh))
                                }
                            }
                            var radii: [Int] = []
                            var r = max(bw, bh)
                            while r >= 1 {
                                radii.append(r)
                                r /= 2
                            }
                            if let h = halfTheWindows {
                                radii = radii.enumerated().filter { $0.offset % 2 == h % 2 }.map(\.element)
                            }
                            let candidates = UnsafeMutablePointer<Int>.allocate(capacity: radii.count)
                            let costs = UnsafeMutablePointer<Float>.allocate(capacity: radii.count)
                            defer {
                                candidates.deallocate()
                                costs.deallocate()
                            }
                            for it in 0..<iterations {
                                let forward = (it + (backwardFirst ? 1 : 0)) % 2 == 0, step = forward ? 1 : -1
                                for k in 0..<ah {
                                    let y = forward ? k : ah - 1 - k
                                    for j in 0..<aw {
                                        let x = forward ? j : aw - 1 - j, p = y * aw + x
                                        // propagation: the neighbour's match, shifted back by the step to it
                                        let nx = x - step, ny = y - step
                                        if nx >= 0, nx < aw {
                                            consider(p, Int(mx[p - step]) + step, Int(my[p - step]))
                                        }
                                        if ny >= 0, ny < ah {
                                            consider(p, Int(mx[p - step * aw]), Int(my[p - step * aw]) + step)
                                        }
                                        // random search around the best so far, in windows halving from the whole
                                        // picture (clamped to it): the candidates first, then their costs (loads
                                        // that do not wait for one another), then the least
                                        let qx = Int(mx[p]), qy = Int(my[p])
                                        for (i, r) in radii.enumerated() {
                                            let cx = min(max(qx + random(2 * r + 1) - r, 0), bw - 1)
                                            let cy = min(max(qy + random(2 * r + 1) - r, 0), bh - 1)
                                            candidates[i] = cy * bw + cx
                                        }
                                        for i in 0..<radii.count { costs[i] = distance(p, candidates[i]) }
                                        for i in 0..<radii.count where costs[i] < cost[p] {
                                            cost[p] = costs[i]
                                            mx[p] = Int32(candidates[i] % bw)
                                            my[p] = Int32(candidates[i] / bw)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return ((0..<n).map { my[$0] * Int32(bw) + mx[$0] }, cost)
    }

    /// The exact answer, by trying every position: the reference `match` is tested against (slow: for tests).
    static func exhaustive(_ a: PatchFeatures, in b: PatchFeatures) -> (nnf: [Int32], cost: [Float]) {
        var nnf = [Int32](repeating: 0, count: a.width * a.height)
        var cost = [Float](repeating: .infinity, count: a.width * a.height)
        for p in nnf.indices {
            for q in 0..<(b.width * b.height) {
                let c = PatchFeatures.cost(a, p, b, q)
                if c < cost[p] { (cost[p], nnf[p]) = (c, Int32(q)) }
            }
        }
        return (nnf, cost)
    }
}
