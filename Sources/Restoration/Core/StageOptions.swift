import Foundation
import FilmCore

/// A stage's options from a preset (scalars as strings, numbers or booleans), read with type checks.
/// Reading an option marks it used; options a stage never reads are reported as unknown.
public final class StageOptions {
    public let stage: String
    /// The run's models folder (`--models-dir`), passed as context: nil for the default search.
    public let modelsDir: String?
    private var values: [String: String]
    private var used = Set<String>()

    public init(stage: String, values: [String: String] = [:], modelsDir: String? = nil) {
        self.stage = stage
        self.values = values
        self.modelsDir = modelsDir
    }

    /// Where this stage's model files are looked for first: its own `models-dir` option, else the
    /// run's models folder, else nil (the default search).
    public var modelsFolder: String? { has("models-dir") ? string("models-dir", default: "") : modelsDir }

    public var keys: [String] { Array(values.keys) }
    public func set(_ key: String, _ value: String) { values[key] = value }
    public func has(_ key: String) -> Bool { values[key] != nil }
    public var raw: [String: String] { values }

    private func fail(_ m: String) -> RestoreError { .invalidOption(stage: stage, message: m) }

    public func string(_ key: String, default d: String) -> String {
        used.insert(key); return values[key] ?? d
    }

    public func choice(_ key: String, _ allowed: [String], default d: String) throws -> String {
        let v = string(key, default: d)
        guard allowed.contains(v) else { throw fail("\(key) must be one of \(allowed.joined(separator: ", ")), not '\(v)'") }
        return v
    }

    public func int(_ key: String, default d: Int, range: ClosedRange<Int>? = nil) throws -> Int {
        used.insert(key)
        guard let s = values[key] else { return d }
        guard let v = Int(s) else { throw fail("\(key) must be a whole number, not '\(s)'") }
        if let r = range, !r.contains(v) { throw fail("\(key) must be in \(r.lowerBound)…\(r.upperBound), not \(v)") }
        return v
    }

    public func double(_ key: String, default d: Double, range: ClosedRange<Double>? = nil) throws -> Double {
        used.insert(key)
        guard let s = values[key] else { return d }
        guard let v = Double(s) else { throw fail("\(key) must be a number, not '\(s)'") }
        if let r = range, !r.contains(v) { throw fail("\(key) must be in \(r.lowerBound)…\(r.upperBound), not \(v)") }
        return v
    }

    public func bool(_ key: String, default d: Bool) throws -> Bool {
        used.insert(key)
        guard let s = values[key]?.lowercased() else { return d }
        switch s {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw fail("\(key) must be true or false, not '\(s)'")
        }
    }

    public func rational(_ key: String, default d: Rational) throws -> Rational {
        used.insert(key)
        guard let s = values[key] else { return d }
        guard let r = Rational(parsing: s), r > .zero else { throw fail("\(key) must be a positive rate like 60, 24000/1001 or 23.976, not '\(s)'") }
        return r
    }

    public func size(_ key: String, default d: (Int, Int)) throws -> (width: Int, height: Int) {
        used.insert(key)
        guard let s = values[key] else { return d }
        guard let v = Self.parseSize(s) else { throw fail("\(key) must be WIDTHxHEIGHT like 3840x2160, not '\(s)'") }
        return v
    }

    public static func parseSize(_ s: String) -> (width: Int, height: Int)? {
        let named = ["4k": (3840, 2160), "uhd": (3840, 2160), "2160p": (3840, 2160), "1080p": (1920, 1080),
                     "hd": (1920, 1080), "720p": (1280, 720), "dci4k": (4096, 2160)]
        if let n = named[s.lowercased()] { return n }
        let parts = s.lowercased().split(separator: "x")
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), w > 0, h > 0, w <= 16384, h <= 16384 else { return nil }
        return (w, h)
    }

    /// Throws for options the stage did not read.
    public func checkAllUsed(known: [String: String]) throws {
        let unknown = Set(values.keys).subtracting(used).sorted()
        if let k = unknown.first {
            throw fail("unknown option '\(k)' (options: \(known.keys.sorted().joined(separator: ", ")))")
        }
    }
}
