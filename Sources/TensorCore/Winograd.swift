import CBLAS
import Foundation

/// 3×3, stride 1, pad 1 convolution by Winograd F(4×4, 3×3) (Lavin & Gray): each 4×4 output tile
/// is computed from a 6×6 input tile with 36 multiplications per channel pair instead of 144, as
/// 36 matrix products (one per transform position ξ) done by sgemm:
///
///     U[ξ] = (G g Gᵀ)[ξ]          weights, [K][C], transformed once at load
///     V[ξ] = (Bᵀ d B)[ξ]          input tiles, [C][T], per band of tile rows
///     M[ξ] = U[ξ] · V[ξ]          [K][T]
///     Y    = Aᵀ M A               output tiles, with bias and activation fused
///
/// The transforms run across all tiles of a row at once (contiguous vectors over the tiles, so
/// they vectorize); the 36 products run side by side with one OpenBLAS thread each.
struct WinogradConv {
    let inChannels: Int, outChannels: Int
    /// 36 × K × C.
    let u: [Float]

    /// G (6×3) of F(4,3), interpolation points 0, ±1, ±2, ∞.
    static let g: [Double] = [1.0 / 4, 0, 0, -1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6,
                              1.0 / 24, 1.0 / 12, 1.0 / 6, 1.0 / 24, -1.0 / 12, 1.0 / 6, 0, 0, 1]

    init(weight: [Float], inChannels c: Int, outChannels k: Int) {
        inChannels = c; outChannels = k
        var u = [Float](repeating: 0, count: 36 * k * c)
        let G = Self.g
        for o in 0..<k { for i in 0..<c {
            let w = (0..<9).map { Double(weight[(o * c + i) * 9 + $0]) }
            var gg = [Double](repeating: 0, count: 18)          // G g (6×3)
            for r in 0..<6 { for col in 0..<3 { for j in 0..<3 { gg[r * 3 + col] += G[r * 3 + j] * w[j * 3 + col] } } }
            for r in 0..<6 { for col in 0..<6 {                  // (G g) Gᵀ
                var v = 0.0
                for j in 0..<3 { v += gg[r * 3 + j] * G[col * 3 + j] }
                u[((r * 6 + col) * k + o) * c + i] = Float(v)
            }}
        }}
        self.u = u
    }

    /// Floats of workspace per tile (V and M).
    var floatsPerTile: Int { 36 * (inChannels + outChannels) }

    func forward(_ x: UnsafePointer<Float>, height h: Int, width w: Int, out: UnsafeMutablePointer<Float>,
                 bias: [Float], activation: Activation, workspace: Workspace) {
        let tilesX = (w + 3) / 4, tilesY = (h + 3) / 4
        let bandRows = max(1, min(tilesY, workspace.capacity / max(floatsPerTile * tilesX, 1)))
        workspace.reserve(floatsPerTile * tilesX * bandRows)
        let C = inChannels, K = outChannels
        var slopes = [Float](repeating: 1, count: K)
        switch activation {
        case .none: break
        case let .leakyReLU(s): slopes = [Float](repeating: s, count: K)
        case let .prelu(s): slopes = s.count == 1 ? [Float](repeating: s[0], count: K) : s
        }
        var tr0 = 0
        while tr0 < tilesY {
            let rows = min(bandRows, tilesY - tr0)
            let T = rows * tilesX
            let V = workspace.pointer, M = workspace.pointer + 36 * C * T
            // Input transform, one channel per task: Bᵀ down the 6 input rows (whole rows at once),
            // then Bᵀ across each tile's 6 columns (vectors over the tiles of the row).
            DispatchQueue.concurrentPerform(iterations: C) { c in
                let plane = x + c * h * w
                let wp = tilesX * 4 + 2
                let buf = UnsafeMutablePointer<Float>.allocate(capacity: 12 * wp + 6 * tilesX)
                defer { buf.deallocate() }
                let P = buf, R = buf + 6 * wp, G = buf + 12 * wp
                let stride = C * T
                for tr in 0..<rows {
                    let y0 = (tr0 + tr) * 4 - 1
                    for r in 0..<6 {
                        let row = P + r * wp, yy = y0 + r
                        row.update(repeating: 0, count: wp)
                        if yy >= 0 && yy < h { (row + 1).update(from: plane + yy * w, count: w) }
                    }
                    let p0 = P, p1 = P + wp, p2 = P + 2 * wp, p3 = P + 3 * wp, p4 = P + 4 * wp, p5 = P + 5 * wp
                    let r0 = R, r1 = R + wp, r2 = R + 2 * wp, r3 = R + 3 * wp, r4 = R + 4 * wp, r5 = R + 5 * wp
                    for i in 0..<wp {
                        let v0 = p0[i], v1 = p1[i], v2 = p2[i], v3 = p3[i], v4 = p4[i], v5 = p5[i]
                        r0[i] = 4 * v0 - 5 * v2 + v4
                        r1[i] = -4 * v1 - 4 * v2 + v3 + v4
                        r2[i] = 4 * v1 - 4 * v2 - v3 + v4
                        r3[i] = -2 * v1 - v2 + 2 * v3 + v4
                        r4[i] = 2 * v1 - v2 - 2 * v3 + v4
                        r5[i] = 4 * v1 - 5 * v3 + v5
                    }
                    for j in 0..<6 {
                        let rj = R + j * wp
                        for q in 0..<6 { let g = G + q * tilesX; for tc in 0..<tilesX { g[tc] = rj[4 * tc + q] } }
                        let g0 = G, g1 = G + tilesX, g2 = G + 2 * tilesX, g3 = G + 3 * tilesX, g4 = G + 4 * tilesX, g5 = G + 5 * tilesX
                        let o = V + (j * 6) * stride + c * T + tr * tilesX
                        let o0 = o, o1 = o + stride, o2 = o + 2 * stride, o3 = o + 3 * stride, o4 = o + 4 * stride, o5 = o + 5 * stride
                        for tc in 0..<tilesX {
                            let v0 = g0[tc], v1 = g1[tc], v2 = g2[tc], v3 = g3[tc], v4 = g4[tc], v5 = g5[tc]
                            o0[tc] = 4 * v0 - 5 * v2 + v4
                            o1[tc] = -4 * v1 - 4 * v2 + v3 + v4
                            o2[tc] = 4 * v1 - 4 * v2 - v3 + v4
                            o3[tc] = -2 * v1 - v2 + 2 * v3 + v4
                            o4[tc] = 2 * v1 - v2 - 2 * v3 + v4
                            o5[tc] = 4 * v1 - 5 * v3 + v5
                        }
                    }
                }
            }
            // 36 products M[ξ] = U[ξ] · V[ξ]: each is small (K×C by C×T), so they run side by
            // side, one OpenBLAS thread each.
            u.withUnsafeBufferPointer { up in
                let base = up.baseAddress!
                let saved = openblas_get_num_threads()
                openblas_set_num_threads(1)
                DispatchQueue.concurrentPerform(iterations: 36) { xi in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(K), Int32(T), Int32(C), 1,
                                base + xi * K * C, Int32(C), V + xi * C * T, Int32(T), 0, M + xi * K * T, Int32(T))
                }
                openblas_set_num_threads(saved)
            }
            // Output transform with bias and activation, one output channel per task: Aᵀ over the
            // 6 rows of M, then Aᵀ over the 6 columns, vectors over the tiles of a row.
            bias.withUnsafeBufferPointer { bp in slopes.withUnsafeBufferPointer { sp in
                DispatchQueue.concurrentPerform(iterations: K) { k in
                    let plane = out + k * h * w
                    let b = bp[k], slope = sp[k]
                    let stride = K * T
                    let S = UnsafeMutablePointer<Float>.allocate(capacity: 24 * tilesX + 4)
                    defer { S.deallocate() }
                    let O = S + 24 * tilesX
                    let full = w / 4
                    for tr in 0..<rows {
                        let src = M + k * T + tr * tilesX
                        for q in 0..<6 {
                            let m0 = src + q * stride, m1 = src + (6 + q) * stride, m2 = src + (12 + q) * stride
                            let m3 = src + (18 + q) * stride, m4 = src + (24 + q) * stride, m5 = src + (30 + q) * stride
                            let s0 = S + q * tilesX, s1 = S + (6 + q) * tilesX, s2 = S + (12 + q) * tilesX, s3 = S + (18 + q) * tilesX
                            for tc in 0..<tilesX {
                                let a0 = m0[tc], a1 = m1[tc], a2 = m2[tc], a3 = m3[tc], a4 = m4[tc], a5 = m5[tc]
                                s0[tc] = a0 + a1 + a2 + a3 + a4
                                s1[tc] = a1 - a2 + 2 * a3 - 2 * a4
                                s2[tc] = a1 + a2 + 4 * a3 + 4 * a4
                                s3[tc] = a1 - a2 + 8 * a3 - 8 * a4 + a5
                            }
                        }
                        let oy = (tr0 + tr) * 4
                        for r in 0..<4 {
                            let yy = oy + r
                            if yy >= h { break }
                            let v = S + r * 6 * tilesX
                            let v0 = v, v1 = v + tilesX, v2 = v + 2 * tilesX, v3 = v + 3 * tilesX, v4 = v + 4 * tilesX, v5 = v + 5 * tilesX
                            let line = plane + yy * w
                            for tc in 0..<tilesX {
                                let a0 = v0[tc], a1 = v1[tc], a2 = v2[tc], a3 = v3[tc], a4 = v4[tc], a5 = v5[tc]
                                var o0 = a0 + a1 + a2 + a3 + a4 + b
                                var o1 = a1 - a2 + 2 * a3 - 2 * a4 + b
                                var o2 = a1 + a2 + 4 * a3 + 4 * a4 + b
                                var o3 = a1 - a2 + 8 * a3 - 8 * a4 + a5 + b
                                o0 = o0 < 0 ? o0 * slope : o0; o1 = o1 < 0 ? o1 * slope : o1
                                o2 = o2 < 0 ? o2 * slope : o2; o3 = o3 < 0 ? o3 * slope : o3
                                if tc < full {
                                    let d = line + 4 * tc
                                    d[0] = o0; d[1] = o1; d[2] = o2; d[3] = o3
                                } else {
                                    O[0] = o0; O[1] = o1; O[2] = o2; O[3] = o3
                                    for q in 0..<(w - 4 * tc) { line[4 * tc + q] = O[q] }
                                }
                            }
                        }
                    }
                }
            }}
            tr0 += rows
        }
    }
}
