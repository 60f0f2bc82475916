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
    static let dims = 18
    let width: Int, height: Int
    /// `dims` values a pixel, pixel after pixel.
    let values: [Float]

    init(luma: [Float], width w: Int, height h: Int) {
        precondition(luma.count == w * h && w > 0 && h > 0)
        let blur = boxMean(luma, width: w, height: h, radius: 2)
        let fine = [(-1, -1), (0, -1), (1, -1), (-1, 0), (0, 0), (1, 0), (-1, 1), (0, 1), (1, 1)]
        let d = Self.dims
        values = [Float](unsafeUninitializedCapacity: w * h * d) { out, n in
            for y in 0..<h {
                for x in 0..<w {
                    let o = (y * w + x) * d
                    for (k, (dx, dy)) in fine.enumerated() {
                        let xx = min(max(x + dx, 0), w - 1), yy = min(max(y + dy, 0), h - 1)
                        out[o + k] = luma[yy * w + xx]
                        let cx = min(max(x + 4 * dx, 0), w - 1), cy = min(max(y + 4 * dy, 0), h - 1)
                        out[o + 9 + k] = blur[cy * w + cx]
                    }
                }
            }
            n = w * h * d
        }
        (width, height) = (w, h)
    }
}

enum PatchMatch {
    /// For every pixel of `a`, the index (y·width + x) of its match in `b` and the match's cost. `initial`: a
    /// previous answer of the same sizes to start from (the last frame's, for a shot: its matches are
    /// mostly still good); else each pixel starts at its own position and at one random one.
    static func match(
        _ a: PatchFeatures, in b: PatchFeatures, initial: [Int32]? = nil, iterations: Int = 4, seed: UInt64 = 1
    ) -> (nnf: [Int32], cost: [Float]) {
        let aw = a.width, ah = a.height, bw = b.width, bh = b.height, n = aw * ah, d = PatchFeatures.dims
        var rng = seed &+ 0x9E37_79B9_7F4A_7C15
        func random(_ bound: Int) -> Int {
            // SplitMix64
            rng = rng &+ 0x9E37_79B9_7F4A_7C15
            var z = rng
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
        var nnf = [Int32](repeating: 0, count: n), cost = [Float](repeating: .infinity, count: n)
        a.values.withUnsafeBufferPointer { av in
            b.values.withUnsafeBufferPointer { bv in
                /// The cost of p ↦ q, or at least `limit` (the sum stops once past it).
                @inline(__always) func distance(_ p: Int, _ q: Int, _ limit: Float) -> Float {
                    let x = av.baseAddress! + p * d, y = bv.baseAddress! + q * d
                    var s: Float = 0
                    for k in 0..<9 {
                        let e = x[k] - y[k]
                        s += e * e
                    }
                    if s >= limit * Float(d) { return .infinity }
                    for k in 9..<d {
                        let e = x[k] - y[k]
                        s += e * e
                    }
                    return s / Float(d)
                }
                @inline(__always) func consider(_ p: Int, _ qx: Int, _ qy: Int) {
                    guard qx >= 0, qx < bw, qy >= 0, qy < bh else { return }
                    let q = qy * bw + qx
                    let c = distance(p, q, cost[p])
                    if c < cost[p] {
                        cost[p] = c
                        nnf[p] = Int32(q)
                    }
                }
                for p in 0..<n {
                    let x = p % aw, y = p / aw
                    if let initial, initial.count == n, Int(initial[p]) < bw * bh {
                        consider(p, Int(initial[p]) % bw, Int(initial[p]) / bw)
                    }
                    consider(p, min(x * bw / aw, bw - 1), min(y * bh / ah, bh - 1))
                    consider(p, random(bw), random(bh))
                }
                for it in 0..<iterations {
                    let forward = it % 2 == 0, step = forward ? 1 : -1
                    for k in 0..<n {
                        let p = forward ? k : n - 1 - k
                        let x = p % aw, y = p / aw
                        // propagation: the neighbour's match, shifted back by the step to it
                        let nx = x - step, ny = y - step
                        if nx >= 0, nx < aw {
                            let q = Int(nnf[y * aw + nx])
                            consider(p, q % bw + step, q / bw)
                        }
                        if ny >= 0, ny < ah {
                            let q = Int(nnf[ny * aw + x])
                            consider(p, q % bw, q / bw + step)
                        }
                        // random search around the best so far, in windows halving from the whole picture
                        var r = max(bw, bh)
                        let q = Int(nnf[p]), qx = q % bw, qy = q / bw
                        while r >= 1 {
                            consider(p, qx + random(2 * r + 1) - r, qy + random(2 * r + 1) - r)
                            r /= 2
                        }
                    }
                }
            }
        }
        return (nnf, cost)
    }
}
