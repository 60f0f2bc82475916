/// An exact rational number, always reduced, with a positive denominator.
///
/// Timestamps and frame rates are rationals from decode to encode, so 24000/1001 fps and VFR input
/// never accumulate rounding drift.
public struct Rational: Hashable, Sendable, CustomStringConvertible {
    public let num: Int64
    public let den: Int64

    public init(_ num: Int64, _ den: Int64 = 1) {
        precondition(den != 0, "Rational with zero denominator")
        var n = num, d = den
        if d < 0 {
            n = -n
            d = -d
        }
        let g = Rational.gcd(n.magnitude, d.magnitude)
        self.num = g > 1 ? n / Int64(g) : n
        self.den = g > 1 ? d / Int64(g) : d
    }

    public init(_ value: Int) { self.init(Int64(value), 1) }

    public static let zero = Rational(0, 1)
    public static let one = Rational(1, 1)

    public var doubleValue: Double { Double(num) / Double(den) }
    public var description: String { den == 1 ? "\(num)" : "\(num)/\(den)" }

    static func gcd(_ a: UInt64, _ b: UInt64) -> UInt64 {
        var a = a, b = b
        while b != 0 { (a, b) = (b, a % b) }
        return a
    }

    /// Parses "60", "24000/1001", "23.976" (as 24000/1001), "29.97" (30000/1001), "59.94" (60000/1001)
    /// or another decimal, exactly.
    public init?(parsing text: String) {
        let t = text.trimmingCharacters(in: .whitespaces)
        if let slash = t.firstIndex(of: "/") {
            guard let n = Int64(t[..<slash]), let d = Int64(t[t.index(after: slash)...]), d != 0, n != .min, d != .min
            else { return nil }
            self.init(n, d)
            return
        }
        if let n = Int64(t), n != .min {
            self.init(n, 1)
            return
        }
        let ntsc: [String: Rational] = [
            "23.976": Rational(24000, 1001), "23.98": Rational(24000, 1001),
            "29.97": Rational(30000, 1001), "47.952": Rational(48000, 1001),
            "59.94": Rational(60000, 1001), "119.88": Rational(120000, 1001),
        ]
        if let r = ntsc[t] {
            self = r
            return
        }
        guard let dot = t.firstIndex(of: "."), let whole = Int64(t[..<dot]) else { return nil }
        let fracText = t[t.index(after: dot)...]
        guard !fracText.isEmpty, fracText.count <= 9, let frac = Int64(fracText), frac >= 0 else { return nil }
        var den: Int64 = 1
        for _ in 0..<fracText.count { den *= 10 }
        // Numbers past Int64 are not numbers this tool can use: nil, never an overflow trap.
        let scaled = whole.multipliedReportingOverflow(by: den)
        guard !scaled.overflow, whole != .min else { return nil }
        let sum = scaled.partialValue.addingReportingOverflow(whole < 0 || t.hasPrefix("-") ? -frac : frac)
        guard !sum.overflow else { return nil }
        self.init(sum.partialValue, den)
    }

    // MARK: arithmetic (overflow traps: timestamps stay far below Int64's range when reduced)

    public static func + (a: Rational, b: Rational) -> Rational {
        let g = Int64(gcd(a.den.magnitude, b.den.magnitude))
        return Rational(a.num * (b.den / g) + b.num * (a.den / g), a.den / g * b.den)
    }
    public static func - (a: Rational, b: Rational) -> Rational { a + Rational(-b.num, b.den) }
    public static func * (a: Rational, b: Rational) -> Rational {
        let g1 = Int64(gcd(a.num.magnitude, b.den.magnitude)), g2 = Int64(gcd(b.num.magnitude, a.den.magnitude))
        return Rational((a.num / max(g1, 1)) * (b.num / max(g2, 1)), (a.den / max(g2, 1)) * (b.den / max(g1, 1)))
    }
    public static func / (a: Rational, b: Rational) -> Rational {
        precondition(b.num != 0, "division by zero rational")
        return a * Rational(b.den, b.num)
    }
    public static func * (a: Rational, k: Int) -> Rational { a * Rational(Int64(k), 1) }
    public var reciprocal: Rational { Rational(den, num) }

    /// Largest integer ≤ self.
    public var floor: Int64 {
        num >= 0 ? num / den : -((-num + den - 1) / den)
    }
    /// Smallest integer ≥ self.
    public var ceil: Int64 { -Rational(-num, den).floor }
    /// Nearest integer, halves away from zero.
    public var rounded: Int64 {
        num >= 0 ? (Rational(num * 2 + den, den * 2)).floor : -Rational(-num, den).rounded
    }
}

extension Rational: Comparable {
    public static func < (a: Rational, b: Rational) -> Bool {
        // Compare a.num*b.den with b.num*a.den without overflow.
        let l = a.num.multipliedFullWidth(by: b.den), r = b.num.multipliedFullWidth(by: a.den)
        return (l.high, l.low) < (r.high, r.low)
    }
}

import Foundation

/// Stored as exact text, "24000/1001" or "60", so job files keep timestamps exactly.
extension Rational: Codable {
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let r = Rational(parsing: text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not a rational: \(text)"))
        }
        self = r
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
