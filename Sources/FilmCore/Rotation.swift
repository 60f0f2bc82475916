/// Quarter-turn rotations of one plane.
public enum Rotation {
    /// Rotates a width×height plane clockwise by 90° × `quarterTurnsClockwise`.
    public static func rotate(_ p: [Float], width w: Int, height h: Int, quarterTurnsClockwise q: Int) -> [Float] {
        let turns = ((q % 4) + 4) % 4
        if turns == 0 { return p }
        var out = [Float](repeating: 0, count: p.count)
        p.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { d in
                switch turns {
                case 1:  // new size h×w: new(x', y') = old(y', h-1-x')
                    for y in 0..<h { for x in 0..<w { d[x * h + (h - 1 - y)] = s[y * w + x] } }
                case 2:
                    for i in 0..<(w * h) { d[w * h - 1 - i] = s[i] }
                default:
                    for y in 0..<h { for x in 0..<w { d[(w - 1 - x) * h + y] = s[y * w + x] } }
                }
            }
        }
        return out
    }
}
