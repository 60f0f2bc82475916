import CBLAS
import CKernels
import Foundation
import Synchronization

struct WinogradConv {
    let inChannels: Int, outChannels: Int
    /// 64 × K × C.
    let u: [Float]

    /// G (8×3) of F(6,3), interpolation points 0, ±1, ±2, ±½, ∞.
    static let g: [Double] = [
        1, 0, 0, -2.0 / 9, -2.0 / 9, -2.0 / 9, -2.0 / 9, 2.0 / 9, -2.0 / 9,
        1.0 / 90, 1.0 / 45, 2.0 / 45, 1.0 / 90, -1.0 / 45, 2.0 / 45,
        32.0 / 45, 16.0 / 45, 8.0 / 45, 32.0 / 45, -16.0 / 45, 8.0 / 45, 0, 0, 1,
    ]

    init(weight: [Float], inChannels c: Int, outChannels k: Int) {
        inChannels = c
        outChannels = k
        var u = [Float](repeating: 0, count: 64 * k * c)
        let G = Self.g
        for o in 0..<k {
            for i in 0..<c {
                let w = (0..<9).map { Double(weight[(o * c + i) * 9 + $0]) }
                var gg = [Double](repeating: 0, count: 24)  // G g (8×3)
                for r in 0..<8 {
                    for col in 0..<3 { for j in 0..<3 { gg[r * 3 + col] += G[r * 3 + j] * w[j * 3 + col] } }
                }
                for r in 0..<8 {
                    for col in 0..<8 {  // (G g) Gᵀ
                        var v = 0.0
                        for j in 0..<3 { v += gg[r * 3 + j] * G[col * 3 + j] }
                        u[((r * 8 + col) * k + o) * c + i] = Float(v)
                    }
                }
            }
        }
        self.u = u
    }

    private init(inChannels c: Int, outChannels k: Int, u: [Float]) {
        (inChannels, outChannels, self.u) = (c, k, u)
    }

    /// The layer's shape without its weights in the plain order (for the channel-blocked path, which has its own).
    var shapeOnly: WinogradConv { WinogradConv(inChannels: inChannels, outChannels: outChannels, u: []) }

    /// Floats of workspace per tile (V and M).
    var floatsPerTile: Int { 64 * (inChannels + outChannels) }

    /// Tiles per block of the cache-blocked path (the C kernels' block width).
    static let blockTiles = 16

    /// The convolution in blocks of 16 tiles of a tile row: each block's input transform, its 64
    /// products with the transformed weights and its output transform (bias and activation fused) run
    /// one after the other on one worker, so the block's transformed data (64·(C + K)·16 floats) stays in
    /// cache; the workers take blocks in turn.
    func forward(
        _ x: UnsafePointer<Float>, height h: Int, width w: Int, out: UnsafeMutablePointer<Float>,
        bias: [Float], activation: Activation, workspace: Workspace
    ) {
        let C = inChannels, K = outChannels
        runBlocks(
            weights: u, bias: bias, activation: activation, height: h, width: w, tiles: Self.blockTiles,
            scratch: fr_wino63_block_scratch(C, K), workspace: workspace
        ) { tr, tc0, n, up, bp, sp, buffer in
            fr_wino63_block_conv(x, C, h, w, up, K, n, tr, tc0, bp, sp, out, buffer)
        }
    }

    /// `kernel(tileRow, firstTile, tiles, weights, bias, slopes, buffer)` (a C block kernel) over every block of
    /// `tiles` tiles of the tile rows of each of `bands` in turn (all of them by default), with this layer's
    /// weights in the kernel's order, bias and activation slopes.
    private func runBlocks(
        weights: [Float], bias: [Float], activation: Activation, height h: Int, width w: Int,
        bands: [Range<Int>]? = nil, tiles: Int, scratch: Int, workspace: Workspace,
        _ kernel: (
            Int, Int, Int, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>
        ) -> Void
    ) {
        let slopes = Self.slopes(activation, outChannels)
        weights.withUnsafeBufferPointer { up in
            bias.withUnsafeBufferPointer { bp in
                slopes.withUnsafeBufferPointer { sp in
                    for rows in bands ?? [0..<((h + 5) / 6)] {
                        Self.forEachBlock(
                            height: h, width: w, tileRows: rows, tiles: tiles, scratch: scratch, workspace: workspace
                        ) { tr, tc0, n, buffer in
                            kernel(tr, tc0, n, up.baseAddress!, bp.baseAddress!, sp.baseAddress!, buffer)
                        }
                    }
                }
            }
        }
    }

    /// u reordered [ξ][C][K]: the channel-blocked path's products run with tiles as rows.
    func weightsByInput() -> [Float] {
        let C = inChannels, K = outChannels
        var t = [Float](repeating: 0, count: u.count)
        for xi in 0..<64 {
            for k in 0..<K { for c in 0..<C { t[(xi * C + c) * K + k] = u[(xi * K + k) * C + c] } }
        }
        return t
    }

    /// The convolution on channel-blocked tensors (see `ChannelBlocked`): blocks of 12 tiles of a tile row,
    /// each block's input transform, products and output transform (bias and activation fused) on one
    /// worker, eight channels per vector throughout. `ut`: `weightsByInput()`.
    func forwardBlocked(
        _ x: UnsafePointer<Float>, height h: Int, width w: Int, out: UnsafeMutablePointer<Float>, ut: [Float],
        bias: [Float], activation: Activation, workspace: Workspace
    ) {
        blocked(
            x, planeRows: h, height: h, width: w, out: out, planeRows: h, ut: ut, bias: bias, activation: activation,
            workspace: workspace)
    }

    /// The channel-blocked convolution in place (see `InPlaceBlocked`): input and output share planes of
    /// `planeRows` = h + `shift` rows, the input in rows `from` ..< `from` + h of each, the output written to
    /// rows `to` ..< `to` + h, {from, to} = {0, shift}. The output moves `shift` rows away from the input, so
    /// bands of tile rows (at most (shift − 1) / 6 of them, taken from the side the output moves toward)
    /// write only rows no later band reads. K ≤ C: the output's planes are the first K / 8.
    func blockedInPlace(
        _ buffer: UnsafeMutablePointer<Float>, height h: Int, width w: Int, planeRows: Int, from: Int, to: Int,
        ut: [Float], bias: [Float], activation: Activation, workspace: Workspace
    ) {
        let shift = planeRows - h, band = max(1, (shift - 1) / 6), tilesY = (h + 5) / 6
        precondition(shift > 6 && Set([from, to]) == Set([0, shift]) && outChannels <= inChannels)
        var bands = stride(from: 0, to: tilesY, by: band).map { $0..<min($0 + band, tilesY) }
        if to > from { bands.reverse() }
        blocked(
            buffer + from * w * 8, planeRows: planeRows, height: h, width: w, out: buffer + to * w * 8,
            planeRows: planeRows, bands: bands, ut: ut, bias: bias, activation: activation, workspace: workspace)
    }

    private func blocked(
        _ x: UnsafePointer<Float>, planeRows xrows: Int, height h: Int, width w: Int, out: UnsafeMutablePointer<Float>,
        planeRows orows: Int, bands: [Range<Int>]? = nil, ut: [Float], bias: [Float], activation: Activation,
        workspace: Workspace
    ) {
        let C = inChannels, K = outChannels
        runBlocks(
            weights: ut, bias: bias, activation: activation, height: h, width: w, bands: bands,
            tiles: fr_wino63_c8_block_tiles(), scratch: fr_wino63_c8_block_scratch(C, K), workspace: workspace
        ) { tr, tc0, n, up, bp, sp, buffer in
            fr_wino63_c8_block_conv(x, C, h, w, xrows, up, K, n, tr, tc0, bp, sp, out, orows, buffer)
        }
    }

    /// Runs `body(tileRow, firstTile, tiles, buffer)` for every block of up to `tiles` tiles of a tile row
    /// of an h×w picture, on `GEMM.workers` workers that take the blocks in turn, each with its own buffer
    /// of `scratch` floats in `workspace`.
    static func forEachBlock(
        height h: Int, width w: Int, tileRows: Range<Int>? = nil, tiles blockTiles: Int = blockTiles, scratch: Int,
        workspace: Workspace, _ body: (Int, Int, Int, UnsafeMutablePointer<Float>) -> Void
    ) {
        Kernels.prepare()
        let tilesX = (w + 5) / 6, rows = tileRows ?? 0..<((h + 5) / 6)
        let perRow = (tilesX + blockTiles - 1) / blockTiles, blocks = perRow * rows.count
        let workers = min(GEMM.workers, blocks)
        workspace.reserve(workers * scratch)
        let buffers = workspace.pointer
        let next = Atomic<Int>(0)
        Parallel.forEach(workers) { wi in
            while case let b = next.wrappingAdd(1, ordering: .relaxed).oldValue, b < blocks {
                let tc0 = (b % perRow) * blockTiles
                body(rows.lowerBound + b / perRow, tc0, min(blockTiles, tilesX - tc0), buffers + wi * scratch)
            }
        }
    }

    /// The convolution in bands of whole tile rows: every input channel's transform, 64 OpenBLAS
    /// products over the band, every output channel's transform. The blocked `forward`'s reference;
    /// `plain` uses the Swift transforms.
    func forwardBanded(
        _ x: UnsafePointer<Float>, height h: Int, width w: Int, out: UnsafeMutablePointer<Float>,
        bias: [Float], activation: Activation, workspace: Workspace, plain: Bool = false
    ) {
        let tilesX = (w + 5) / 6, tilesY = (h + 5) / 6
        let bandRows = max(1, min(tilesY, workspace.capacity / max(floatsPerTile * tilesX, 1)))
        workspace.reserve(floatsPerTile * tilesX * bandRows)
        let C = inChannels
        let slopes = Self.slopes(activation, outChannels)
        var tr0 = 0
        while tr0 < tilesY {
            let rows = min(bandRows, tilesY - tr0)
            let T = rows * tilesX
            let V = workspace.pointer, M = workspace.pointer + 64 * C * T
            if plain {
                Self.transformInputPlain(
                    x, height: h, width: w, channels: 0..<C, tileRow0: tr0, rows: rows, into: V, vChannels: C,
                    tiles: T)
            } else {
                Self.transformInput(
                    x, height: h, width: w, channels: 0..<C, tileRow0: tr0, rows: rows, into: V, vChannels: C,
                    tiles: T)
            }
            multiply(V, vChannels: C, tiles: T, into: M)
            if plain {
                transformOutputPlain(
                    M, tiles: T, tileRow0: tr0, rows: rows, height: h, width: w, out: out, bias: bias, slopes: slopes)
            } else {
                transformOutput(
                    M, tiles: T, tileRow0: tr0, rows: rows, height: h, width: w, out: out, bias: bias, slopes: slopes)
            }
            tr0 += rows
        }
    }

    static func slopes(_ activation: Activation, _ K: Int) -> [Float] {
        switch activation {
        case .none: return [Float](repeating: 1, count: K)
        case let .leakyReLU(s): return [Float](repeating: s, count: K)
        case let .prelu(s): return s.count == 1 ? [Float](repeating: s[0], count: K) : s
        }
    }

    /// Writes V[(ξ·vChannels + c)·T + t] for the channel planes `channels` of x (planes of h×w),
    /// for the tile rows tileRow0 ..< tileRow0 + rows: the SIMD kernel of the instruction set in use
    /// (`Kernels`), one channel per task.
    static func transformInput(
        _ x: UnsafePointer<Float>, height h: Int, width w: Int, channels: Range<Int>, tileRow0 tr0: Int, rows: Int,
        into V: UnsafeMutablePointer<Float>, vChannels: Int, tiles T: Int
    ) {
        Kernels.prepare()
        let scratch = fr_wino63_input_scratch(w)
        Parallel.forEach(channels.count) { ci in
            let buf = UnsafeMutablePointer<Float>.allocate(capacity: scratch)
            defer { buf.deallocate() }
            fr_wino63_input(
                x + ci * h * w, h, w, tr0, rows, V + (channels.lowerBound + ci) * T, vChannels * T, buf)
        }
    }

    /// The plain Swift input transform: the reference the SIMD kernels are tested against.
    static func transformInputPlain(
        _ x: UnsafePointer<Float>, height h: Int, width w: Int, channels: Range<Int>, tileRow0 tr0: Int, rows: Int,
        into V: UnsafeMutablePointer<Float>, vChannels: Int, tiles T: Int
    ) {
        let tilesX = (w + 5) / 6
        let C = vChannels
        // Input transform, one channel per task: Bᵀ down the 8 input rows (whole rows at once),
        // then Bᵀ across each tile's 8 columns (vectors over the tiles of the row).
        Parallel.forEach(channels.count) { ci in
            let c = channels.lowerBound + ci
            let plane = x + ci * h * w
            let wp = tilesX * 6 + 2
            let gs = tilesX + 1
            let buf = UnsafeMutablePointer<Float>.allocate(capacity: 16 * wp + 6 * gs)
            defer { buf.deallocate() }
            let P = buf, R = buf + 8 * wp, G = buf + 16 * wp
            let stride = C * T
            for tr in 0..<rows {
                let y0 = (tr0 + tr) * 6 - 1
                for r in 0..<8 {
                    let row = P + r * wp, yy = y0 + r
                    row.update(repeating: 0, count: wp)
                    if yy >= 0 && yy < h { (row + 1).update(from: plane + yy * w, count: w) }
                }
                Self.bt(
                    (P, P + wp, P + 2 * wp, P + 3 * wp, P + 4 * wp, P + 5 * wp, P + 6 * wp, P + 7 * wp), R, wp,
                    count: wp)
                for j in 0..<8 {
                    // Tile tc's columns are R[6tc … 6tc+7]: deinterleave the row six ways; columns
                    // 6 and 7 of tile tc are columns 0 and 1 of tile tc+1.
                    let rj = R + j * wp
                    let g0 = G, g1 = G + gs, g2 = G + 2 * gs, g3 = G + 3 * gs, g4 = G + 4 * gs, g5 = G + 5 * gs
                    for tc in 0..<tilesX {
                        let src = rj + 6 * tc
                        g0[tc] = src[0]
                        g1[tc] = src[1]
                        g2[tc] = src[2]
                        g3[tc] = src[3]
                        g4[tc] = src[4]
                        g5[tc] = src[5]
                    }
                    g0[tilesX] = rj[6 * tilesX]
                    g1[tilesX] = rj[6 * tilesX + 1]
                    Self.bt(
                        (g0, g1, g2, g3, g4, g5, g0 + 1, g1 + 1), V + (j * 8) * stride + c * T + tr * tilesX, stride,
                        count: tilesX)
                }
            }
        }
    }

    /// M[ξ] = U[ξ] · V[ξ] over the first `inChannels` rows of V (whose rows are vChannels apart per ξ).
    func multiply(_ V: UnsafeMutablePointer<Float>, vChannels: Int, tiles T: Int, into M: UnsafeMutablePointer<Float>) {
        let C = inChannels, K = outChannels
        // 64 products M[ξ] = U[ξ] · V[ξ]: each is small (K×C by C×T), so they run side by
        // side, one OpenBLAS thread each.
        u.withUnsafeBufferPointer { up in
            let base = up.baseAddress!
            GEMM.singleThreaded {
                Parallel.forEach(64) { xi in
                    cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(K), Int32(T), Int32(C), 1,
                        base + xi * K * C, Int32(C), V + xi * vChannels * T, Int32(T), 0, M + xi * K * T, Int32(T))
                }
            }
        }
    }

    /// The output transform with bias and activation (the SIMD kernel in use), one output channel per task.
    func transformOutput(
        _ M: UnsafeMutablePointer<Float>, tiles T: Int, tileRow0 tr0: Int, rows: Int, height h: Int, width w: Int,
        out: UnsafeMutablePointer<Float>, bias: [Float], slopes: [Float]
    ) {
        Kernels.prepare()
        let K = outChannels
        let scratch = fr_wino63_output_scratch(w)
        bias.withUnsafeBufferPointer { bp in
            slopes.withUnsafeBufferPointer { sp in
                Parallel.forEach(K) { k in
                    let buf = UnsafeMutablePointer<Float>.allocate(capacity: scratch)
                    defer { buf.deallocate() }
                    fr_wino63_output(M + k * T, K * T, tr0, rows, h, w, out + k * h * w, bp[k], sp[k], buf)
                }
            }
        }
    }

    /// The plain Swift output transform: the reference the SIMD kernels are tested against.
    func transformOutputPlain(
        _ M: UnsafeMutablePointer<Float>, tiles T: Int, tileRow0 tr0: Int, rows: Int, height h: Int, width w: Int,
        out: UnsafeMutablePointer<Float>, bias: [Float], slopes: [Float]
    ) {
        let tilesX = (w + 5) / 6
        let K = outChannels
        // Output transform with bias and activation, one output channel per task: Aᵀ over the
        // 8 rows of M, then Aᵀ over the 8 columns, vectors over the tiles of a row.
        bias.withUnsafeBufferPointer { bp in
            slopes.withUnsafeBufferPointer { sp in
                Parallel.forEach(K) { k in
                    let plane = out + k * h * w
                    let b = bp[k], slope = sp[k]
                    let stride = K * T
                    let S = UnsafeMutablePointer<Float>.allocate(capacity: 48 * tilesX + 6 * tilesX + 8)
                    defer { S.deallocate() }
                    let O = S + 48 * tilesX, tail = O + 6 * tilesX
                    let full = w / 6
                    for tr in 0..<rows {
                        let src = M + k * T + tr * tilesX
                        // S[r][q] = Σ_i Aᵀ[r][i] · M[i·8 + q]: rows of M are 8 apart in ξ
                        for q in 0..<8 {
                            Self.at(src + q * stride, 8 * stride, S + q * tilesX, 8 * tilesX, count: tilesX, bias: 0)
                        }
                        let oy = (tr0 + tr) * 6
                        for r in 0..<6 {
                            let yy = oy + r
                            if yy >= h { break }
                            Self.at(S + r * 8 * tilesX, tilesX, O, tilesX, count: tilesX, bias: b)
                            let line = plane + yy * w
                            for tc in 0..<tilesX {
                                var v = (
                                    O[tc], O[tilesX + tc], O[2 * tilesX + tc], O[3 * tilesX + tc], O[4 * tilesX + tc],
                                    O[5 * tilesX + tc]
                                )
                                v.0 = v.0 < 0 ? v.0 * slope : v.0
                                v.1 = v.1 < 0 ? v.1 * slope : v.1
                                v.2 = v.2 < 0 ? v.2 * slope : v.2
                                v.3 = v.3 < 0 ? v.3 * slope : v.3
                                v.4 = v.4 < 0 ? v.4 * slope : v.4
                                v.5 = v.5 < 0 ? v.5 * slope : v.5
                                if tc < full {
                                    let d = line + 6 * tc
                                    d[0] = v.0
                                    d[1] = v.1
                                    d[2] = v.2
                                    d[3] = v.3
                                    d[4] = v.4
                                    d[5] = v.5
                                } else {
                                    tail[0] = v.0
                                    tail[1] = v.1
                                    tail[2] = v.2
                                    tail[3] = v.3
                                    tail[4] = v.4
                                    tail[5] = v.5
                                    for q in 0..<(w - 6 * tc) { line[6 * tc + q] = tail[q] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// out_k = Σ_q Bᵀ[k][q] · in_q for the 8 rows of F(6,3), over `count` contiguous elements;
    /// out rows are `outStride` apart.
    @inline(__always)
    static func bt(
        _ i: (
            UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>,
            UnsafeMutablePointer<Float>,
            UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>,
            UnsafeMutablePointer<Float>
        ),
        _ o: UnsafeMutablePointer<Float>, _ outStride: Int, count: Int
    ) {
        let (i0, i1, i2, i3, i4, i5, i6, i7) = i
        let o0 = o, o1 = o + outStride, o2 = o + 2 * outStride, o3 = o + 3 * outStride
        let o4 = o + 4 * outStride, o5 = o + 5 * outStride, o6 = o + 6 * outStride, o7 = o + 7 * outStride
        for t in 0..<count {
            let v0 = i0[t], v1 = i1[t], v2 = i2[t], v3 = i3[t], v4 = i4[t], v5 = i5[t], v6 = i6[t], v7 = i7[t]
            o0[t] = v0 - v6 + 5.25 * (v4 - v2)
            o7[t] = v7 - v1 + 5.25 * (v3 - v5)
            let a = v2 + v6 - 4.25 * v4, bb = v1 + v5 - 4.25 * v3
            o1[t] = a + bb
            o2[t] = a - bb
            let c2 = v6 + 0.25 * v2 - 1.25 * v4, d2 = 0.5 * v1 - 2.5 * v3 + 2 * v5
            o3[t] = c2 + d2
            o4[t] = c2 - d2
            let e = v6 + 4 * (v2 - 1.25 * v4), f = 2 * v1 - 2.5 * v3 + 0.5 * v5
            o5[t] = e + f
            o6[t] = e - f
        }
    }

    /// out_r = Σ_q Aᵀ[r][q] · in_q (+ bias) for the 6 rows of F(6,3).
    @inline(__always)
    static func at(
        _ i: UnsafePointer<Float>, _ inStride: Int, _ o: UnsafeMutablePointer<Float>, _ outStride: Int, count: Int,
        bias: Float
    ) {
        let i0 = i, i1 = i + inStride, i2 = i + 2 * inStride, i3 = i + 3 * inStride
        let i4 = i + 4 * inStride, i5 = i + 5 * inStride, i6 = i + 6 * inStride, i7 = i + 7 * inStride
        let o0 = o, o1 = o + outStride, o2 = o + 2 * outStride, o3 = o + 3 * outStride, o4 = o + 4 * outStride,
            o5 = o + 5 * outStride
        for t in 0..<count {
            let m0 = i0[t], m1 = i1[t], m2 = i2[t], m3 = i3[t], m4 = i4[t], m5 = i5[t], m6 = i6[t], m7 = i7[t]
            let t1 = m1 + m2, t2 = m1 - m2, t3 = m3 + m4, t4 = m3 - m4, t5 = m5 + m6, t6 = m5 - m6
            o0[t] = m0 + t1 + t3 + t5 + bias
            o1[t] = t2 + 2 * t4 + 0.5 * t6 + bias
            o2[t] = t1 + 4 * t3 + 0.25 * t5 + bias
            o3[t] = t2 + 8 * t4 + 0.125 * t6 + bias
            o4[t] = t1 + 16 * t3 + 0.0625 * t5 + bias
            o5[t] = t2 + 32 * t4 + 0.03125 * t6 + m7 + bias
        }
    }
}

/// The Winograd-domain copy of a channel buffer that grows (a dense block: each convolution reads
/// all channels so far and appends its own). Each channel is transformed once, when appended,
/// instead of once per convolution that reads it. Whole picture in one band.
public final class WinogradInput {
    public let height: Int, width: Int, capacity: Int
    public private(set) var channels = 0
    let tiles: Int
    let v: UnsafeMutablePointer<Float>

    public init(height: Int, width: Int, capacity: Int) {
        self.height = height
        self.width = width
        self.capacity = capacity
        tiles = ((width + 5) / 6) * ((height + 5) / 6)
        // a block reads 16 floats from each row start: the last block of the last row reads past the end
        let count = 64 * capacity * tiles + WinogradConv.blockTiles
        v = .allocate(capacity: count)
        v.initialize(repeating: 0, count: count)
    }
    deinit { v.deallocate() }

    /// Floats held per input pixel and channel (for memory budgets).
    public static let floatsPerPixelPerChannel = 64.0 / 36.0

    public func reset() { channels = 0 }

    /// Transforms `count` channel planes (height×width each) and appends them.
    public func append(_ planes: UnsafePointer<Float>, count: Int) {
        precondition(channels + count <= capacity, "WinogradInput over capacity")
        WinogradConv.transformInput(
            planes, height: height, width: width, channels: channels..<(channels + count), tileRow0: 0,
            rows: (height + 5) / 6, into: v, vChannels: capacity, tiles: tiles)
        channels += count
    }
}

extension Conv2d {
    /// Convolves the first `inChannels` channels of an already transformed input (3×3 Winograd
    /// layers only) into `output`.
    public func forward(
        transformed input: WinogradInput, into output: UnsafeMutablePointer<Float>, workspace: Workspace
    ) throws {
        guard let wg = winograd else { throw TensorError.shape("\(name) is not a 3×3 Winograd layer") }
        guard input.channels >= inChannels else {
            throw TensorError.shape("\(name) needs \(inChannels) channels, \(input.channels) transformed")
        }
        let C = inChannels, K = outChannels, h = input.height, w = input.width, T = input.tiles
        let tilesX = (w + 5) / 6
        let slopes = WinogradConv.slopes(activation, K)
        let v = input.v, xs = input.capacity * T
        wg.u.withUnsafeBufferPointer { up in
            bias.withUnsafeBufferPointer { bp in
                slopes.withUnsafeBufferPointer { sp in
                    WinogradConv.forEachBlock(
                        height: h, width: w, scratch: fr_wino63_block_scratch(0, K), workspace: workspace
                    ) { tr, tc0, n, buffer in
                        fr_wino63_block_product(
                            v + tr * tilesX + tc0, xs, T, C, up.baseAddress!, K, n, tr, tc0, h, w, bp.baseAddress!,
                            sp.baseAddress!, output, buffer)
                    }
                }
            }
        }
    }

    public var usesWinograd: Bool { winogradEligible }
}
