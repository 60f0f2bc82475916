/// Converting R'G'B' between color primaries (e.g. SMPTE-C / EBU standard definition to BT.709
/// for an HD or 4K master), in linear light, with the BT.709 transfer curve on both sides.
public struct PrimariesConversion: Sendable {
    /// Row-major 3x3 matrix on linear RGB.
    public let matrix: [Float]
    private let toLinear: [Float]  // LUT of the inverse BT.709 curve over 0…1
    private let fromLinear: [Float]  // LUT of the BT.709 curve over 0…encodeRange
    private static let steps = 4096, encodeSteps = 16384
    private static let encodeRange: Float = 1.25

    /// nil when no conversion is needed or one of the primaries is unknown.
    public init?(from src: Int, to dst: Int) {
        guard src != dst, let s = Self.rgbToXYZ(src), let d = Self.rgbToXYZ(dst) else { return nil }
        guard let dInv = Self.invert(d) else { return nil }
        matrix = Self.multiply(dInv, s).map { Float($0) }
        toLinear = (0...Self.steps).map { Float(Self.bt709ToLinear(Double($0) / Double(Self.steps))) }
        fromLinear = (0...Self.encodeSteps).map {
            Float(Self.linearToBT709(Double($0) / Double(Self.encodeSteps) * Double(Self.encodeRange)))
        }
    }

    /// xy chromaticities of R, G, B (H.273 ColourPrimaries), D65 white.
    public static func chromaticities(_ code: Int) -> [(Double, Double)]? {
        switch code {
        case 1: return [(0.640, 0.330), (0.300, 0.600), (0.150, 0.060)]  // BT.709
        case 5: return [(0.640, 0.330), (0.290, 0.600), (0.150, 0.060)]  // BT.470BG (EBU, PAL)
        case 6, 7: return [(0.630, 0.340), (0.310, 0.595), (0.155, 0.070)]  // SMPTE 170M/240M (SMPTE-C, NTSC)
        case 9: return [(0.708, 0.292), (0.170, 0.797), (0.131, 0.046)]  // BT.2020
        default: return nil
        }
    }

    static func rgbToXYZ(_ code: Int) -> [Double]? {
        guard let c = chromaticities(code) else { return nil }
        let (wx, wy) = (0.3127, 0.3290)
        let W = [wx / wy, 1, (1 - wx - wy) / wy]
        // columns: XYZ of each primary with Y = 1
        let X: [Double] = c.map { $0.0 / $0.1 }
        let Z: [Double] = c.map { (1 - $0.0 - $0.1) / $0.1 }
        let P: [Double] = X + [1.0, 1.0, 1.0] + Z
        guard let Pinv = invert(P) else { return nil }
        var S = [Double](repeating: 0, count: 3)
        for r in 0..<3 { for k in 0..<3 { S[r] += Pinv[r * 3 + k] * W[k] } }
        return (0..<9).map { P[$0] * S[$0 % 3] }
    }

    static func multiply(_ a: [Double], _ b: [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: 9)
        for r in 0..<3 { for c in 0..<3 { for k in 0..<3 { out[r * 3 + c] += a[r * 3 + k] * b[k * 3 + c] } } }
        return out
    }

    static func invert(_ m: [Double]) -> [Double]? {
        let a = m[0], b = m[1], c = m[2], d = m[3], e = m[4], f = m[5], g = m[6], h = m[7], i = m[8]
        let det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
        guard abs(det) > 1e-12 else { return nil }
        return [
            (e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det,
            (f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det,
            (d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det,
        ]
    }

    static func bt709ToLinear(_ v: Double) -> Double {
        v < 0.081 ? v / 4.5 : pow((v + 0.099) / 1.099, 1 / 0.45)
    }
    static func linearToBT709(_ l: Double) -> Double {
        l < 0.018 ? 4.5 * l : 1.099 * pow(l, 0.45) - 0.099
    }

    @inline(__always) private func linear(_ v: Float) -> Float {
        if v <= 0 { return v / 4.5 }
        if v >= 1 { return Float(Self.bt709ToLinear(Double(v))) }
        let x = v * Float(Self.steps)
        let i = Int(x)
        let f = x - Float(i)
        return toLinear[i] + (toLinear[min(i + 1, Self.steps)] - toLinear[i]) * f
    }

    @inline(__always) private func encoded(_ l: Float) -> Float {
        if l <= 0 { return 0 }
        let x = l / Self.encodeRange * Float(Self.encodeSteps)
        if x >= Float(Self.encodeSteps) { return Float(Self.linearToBT709(Double(l))) }
        let i = Int(x)
        let f = x - Float(i)
        return fromLinear[i] + (fromLinear[i + 1] - fromLinear[i]) * f
    }

    /// Converts one R'G'B' pixel.
    @inline(__always) public func convert(_ r: Float, _ g: Float, _ b: Float) -> (Float, Float, Float) {
        let lr = linear(r), lg = linear(g), lb = linear(b)
        let m = matrix
        return (
            encoded(m[0] * lr + m[1] * lg + m[2] * lb), encoded(m[3] * lr + m[4] * lg + m[5] * lb),
            encoded(m[6] * lr + m[7] * lg + m[8] * lb)
        )
    }
}

import Foundation
