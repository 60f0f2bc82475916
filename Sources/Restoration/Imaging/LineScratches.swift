import Foundation
import FilmCore

/// Vertical line scratches: thin lines along the reel, brighter or darker than the picture, that
/// run down most of the frame and stay in place from frame to frame.
///
/// A column is a candidate when its horizontal residual r(x, y) = Y(x, y) − (Y(x − 3, y) + Y(x + 3, y)) / 2
/// has one sign along at least `coverage` of the rows with a median beyond `threshold`. A scratch
/// is a candidate column found (within ±1 px) in most frames around (the caller decides how many);
/// picture content — an edge, a post — rarely keeps one sign down the whole frame. Repair subtracts
/// the scratch's own profile (the running median of r down the column), so the picture under a
/// semi-transparent scratch is kept.
enum LineScratches {
    static let reach = 3
    static let threshold: Float = 0.03
    static let coverage: Float = 0.85

    static func residual(_ y: [Float], _ w: Int, _ h: Int, column x: Int) -> [Float] {
        let l = max(x - reach, 0), r = min(x + reach, w - 1)
        return (0..<h).map { row in y[row * w + x] - (y[row * w + l] + y[row * w + r]) / 2 }
    }

    /// Columns that look like a scratch in this frame.
    static func candidates(_ y: [Float], width w: Int, height h: Int) -> [Int] {
        guard w > 2 * reach + 2, h >= 16 else { return [] }
        var found: [Int: Float] = [:]
        var medians = [Float](repeating: 0, count: w)
        for x in reach..<(w - reach) {
            let r = residual(y, w, h, column: x)
            let m = r.sorted()[h / 2]
            medians[x] = m
            guard abs(m) > threshold else { continue }
            let same = r.reduce(0) { $0 + (($1 > threshold / 2 && m > 0) || ($1 < -threshold / 2 && m < 0) ? 1 : 0) }
            if Float(same) >= coverage * Float(h) { found[x] = m }
        }
        // a scratch also shows, at half strength and the other sign, `reach` columns to either
        // side: keep only columns near the strongest response around them
        return found.keys.sorted().filter { x in
            let peak = (max(x - reach, 0)...min(x + reach, w - 1)).map { abs(medians[$0]) }.max() ?? 0
            return abs(medians[x]) >= 0.75 * peak
        }
    }

    /// Removes the scratch profile from the given columns (every plane, equally).
    static func repair(_ f: Frame, luma y: [Float], columns: [Int]) -> Frame {
        guard !columns.isEmpty else { return f }
        let w = f.width, h = f.height, half = 7
        var out = f
        for x in columns {
            let r = residual(y, w, h, column: x)
            let offsets = (0..<h).map { row -> Float in
                let a = max(row - half, 0), b = min(row + half, h - 1)
                return Array(r[a...b]).sorted()[(b - a) / 2]
            }
            for c in 0..<out.planes.count {
                for row in 0..<h {
                    out.planes[c][row * w + x] = min(max(out.planes[c][row * w + x] - offsets[row], 0), 1)
                }
            }
        }
        return out
    }
}
