/// Means of a plane over a grid of columns × rows of (nearly) equal blocks, row-major: column c
/// holds x with x·columns/width = c. The reduced pictures the scene-cut and flicker measures
/// compare.
func blockMeans(_ p: [Float], width w: Int, height h: Int, columns: Int, rows: Int) -> [Double] {
    var sums = [Double](repeating: 0, count: columns * rows), counts = [Int](repeating: 0, count: columns * rows)
    let cellOf = (0..<w).map { $0 * columns / w }
    p.withUnsafeBufferPointer { src in
        for y in 0..<h {
            let base = (y * rows / h) * columns, line = src.baseAddress! + y * w
            for x in 0..<w {
                sums[base + cellOf[x]] += Double(line[x])
                counts[base + cellOf[x]] += 1
            }
        }
    }
    return zip(sums, counts).map { $0 / Double(max($1, 1)) }
}

/// Mean of a plane over the (2r+1)² window around each pixel, clipped to the picture (separable
/// running sums): local means for denoise's match confidence, colorize's agreement and guided filter.
func boxMean(_ v: [Float], width w: Int, height h: Int, radius r: Int) -> [Float] {
    guard w > 0, h > 0 else { return v }
    var rows = [Float](repeating: 0, count: w * h), out = rows
    rows.withUnsafeMutableBufferPointer { R in
        v.withUnsafeBufferPointer { V in
            out.withUnsafeMutableBufferPointer { O in
                // across: a running sum along each row
                for y in 0..<h {
                    let src = V.baseAddress! + y * w, dst = R.baseAddress! + y * w
                    var s: Float = 0
                    for x in 0...min(r, w - 1) { s += src[x] }
                    for x in 0..<w {
                        dst[x] = s / Float(min(x + r, w - 1) - max(x - r, 0) + 1)
                        if x + r + 1 < w { s += src[x + r + 1] }
                        if x - r >= 0 { s -= src[x - r] }
                    }
                }
                // down: a running sum of whole rows (row-major, vectorizable)
                withUnsafeTemporaryAllocation(of: Float.self, capacity: w) { colBuf in
                    let col = colBuf.baseAddress!
                    for x in 0..<w { col[x] = 0 }
                    for y in 0...min(r, h - 1) {
                        let row = R.baseAddress! + y * w
                        for x in 0..<w { col[x] += row[x] }
                    }
                    for y in 0..<h {
                        let inv = 1 / Float(min(y + r, h - 1) - max(y - r, 0) + 1), dst = O.baseAddress! + y * w
                        for x in 0..<w { dst[x] = col[x] * inv }
                        if y + r + 1 < h {
                            let add = R.baseAddress! + (y + r + 1) * w
                            for x in 0..<w { col[x] += add[x] }
                        }
                        if y - r >= 0 {
                            let sub = R.baseAddress! + (y - r) * w
                            for x in 0..<w { col[x] -= sub[x] }
                        }
                    }
                }
            }
        }
    }
    return out
}
