/// Means of a plane over a grid of columns × rows of (nearly) equal blocks, row-major: column c
/// holds x with x·columns/width = c. The reduced pictures the scene-cut and flicker measures
/// compare.
func blockMeans(_ p: [Float], width w: Int, height h: Int, columns: Int, rows: Int) -> [Double] {
    var sums = [Double](repeating: 0, count: columns * rows), counts = [Int](repeating: 0, count: columns * rows)
    let cellOf = (0..<w).map { $0 * columns / w }
    p.withUnsafeBufferPointer { src in
        for y in 0..<h {
            let base = (y * rows / h) * columns, line = src.baseAddress! + y * w
            for x in 0..<w { sums[base + cellOf[x]] += Double(line[x]); counts[base + cellOf[x]] += 1 }
        }
    }
    return zip(sums, counts).map { $0 / Double(max($1, 1)) }
}
