/// Arithmetic on sizes, offsets and strides read from a file: every step checked for overflow, so a
/// crafted value ends in an error naming what it described instead of a trap.
enum Checked {
    static func mul(_ a: Int, _ b: Int, _ what: @autoclosure () -> String) throws -> Int {
        let (v, o) = a.multipliedReportingOverflow(by: b)
        guard !o else { throw TensorError.format("\(what()): size overflows (\(a) × \(b))") }
        return v
    }

    static func add(_ a: Int, _ b: Int, _ what: @autoclosure () -> String) throws -> Int {
        let (v, o) = a.addingReportingOverflow(b)
        guard !o else { throw TensorError.format("\(what()): offset overflows (\(a) + \(b))") }
        return v
    }

    /// The element count of a shape: every dimension ≥ 0, the product without overflow.
    static func count(_ shape: [Int], _ what: @autoclosure () -> String) throws -> Int {
        var n = 1
        for d in shape {
            guard d >= 0 else { throw TensorError.format("\(what()): negative dimension in \(shape)") }
            n = try mul(n, d, what())
        }
        return n
    }

    /// An integer parameter of a model file, checked to lie in `range`.
    static func param(_ v: Int, _ range: ClosedRange<Int>, _ what: @autoclosure () -> String) throws -> Int {
        guard range.contains(v) else {
            throw TensorError.format("\(what()) is \(v), outside \(range.lowerBound)…\(range.upperBound)")
        }
        return v
    }
}
