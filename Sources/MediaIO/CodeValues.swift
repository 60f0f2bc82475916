import FilmCore

/// Conversions between integer code values (8–16 bits, limited or full range) and normalized floats.
struct CodeRange {
    let yScale: Float, yOffset: Float, cScale: Float, cOffset: Float, maxCode: Float

    init(range: ColorMetadata.Range, depth: Int) {
        maxCode = Float((1 << depth) - 1)
        if range == .full {
            yScale = maxCode
            yOffset = 0
            cScale = maxCode
            cOffset = Float(1 << (depth - 1))
        } else {
            let k = Float(1 << (depth - 8))
            yScale = 219 * k
            yOffset = 16 * k
            cScale = 224 * k
            cOffset = 128 * k
        }
    }
}

enum YCbCr {
    /// Code-valued Y'CbCr planes (full size) → normalized R'G'B' planes.
    static func toRGB(y: [Float], cb: [Float], cr: [Float], color: ColorMetadata, depth: Int) -> [[Float]] {
        let n = y.count
        let cr_ = CodeRange(range: color.range, depth: depth)
        var r = [Float](repeating: 0, count: n), g = r, b = r
        if color.matrix == .rgb {
            // GBR stored in a Y'CbCr layout: Y=G, Cb=B, Cr=R.
            let s = 1 / cr_.maxCode
            for i in 0..<n {
                g[i] = y[i] * s
                b[i] = cb[i] * s
                r[i] = cr[i] * s
            }
            return [r, g, b]
        }
        let m = YCbCrMatrix(color.matrix)
        let ys = 1 / cr_.yScale, cs = 1 / cr_.cScale, yo = cr_.yOffset, co = cr_.cOffset
        y.withUnsafeBufferPointer { yp in
            cb.withUnsafeBufferPointer { bp in
                cr.withUnsafeBufferPointer { rp in
                    r.withUnsafeMutableBufferPointer { ro in
                        g.withUnsafeMutableBufferPointer { go in
                            b.withUnsafeMutableBufferPointer { bo in
                                for i in 0..<n {
                                    let (rr, gg, bb) = m.rgb(
                                        y: (yp[i] - yo) * ys, cb: (bp[i] - co) * cs, cr: (rp[i] - co) * cs)
                                    ro[i] = rr
                                    go[i] = gg
                                    bo[i] = bb
                                }
                            }
                        }
                    }
                }
            }
        }
        return [r, g, b]
    }
}
