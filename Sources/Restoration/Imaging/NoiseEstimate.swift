/// How noisy a picture is, without a clean reference.
public enum NoiseEstimate {
    /// Immerkær's fast noise estimate (σ on the 0…1 scale) of a plane.
    public static func sigma(_ p: [Float], width w: Int, height h: Int) -> Float {
        guard w > 2, h > 2 else { return 0 }
        var sum: Double = 0
        for y in 1..<(h - 1) {
            let a = (y - 1) * w, b = y * w, c = (y + 1) * w
            for x in 1..<(w - 1) {
                let v =
                    p[a + x - 1] - 2 * p[a + x] + p[a + x + 1] - 2 * p[b + x - 1] + 4 * p[b + x] - 2 * p[b + x + 1]
                    + p[c + x - 1] - 2 * p[c + x] + p[c + x + 1]
                sum += Double(abs(v))
            }
        }
        return Float((Double.pi / 2).squareRoot() * sum / (6 * Double((w - 2) * (h - 2))))
    }
}
