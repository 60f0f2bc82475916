import Foundation
import FilmCore
import TensorCore

/// A stage's options, parsed and checked against its `StageSpec` when made (so a stage's `init`
/// only reads typed values), plus the run's context (the models folder).
///
/// Reading a key the spec does not declare, or as another type than declared, is a programming
/// error in the stage (every stage is built with its defaults by the tests), not an input error.
public struct StageOptions: Sendable {
    public let spec: StageSpec
    /// The run's models folder (`--models-dir`), passed as context: nil for the default search.
    public let modelsDir: String?
    /// The values given (not the defaults).
    public let values: [String: OptionValue]

    public var stage: String { spec.name }

    public init(spec: StageSpec, text: [String: String] = [:], modelsDir: String? = nil) throws {
        self.spec = spec
        self.modelsDir = modelsDir
        self.values = try spec.parse(text)
    }

    /// Options for a registered stage, by name.
    public init(stage: String, values: [String: String] = [:], modelsDir: String? = nil) throws {
        guard let t = StageRegistry.type(named: stage) else {
            throw RestoreError.unknownStage(stage, known: StageRegistry.names)
        }
        try self.init(spec: t.spec, text: values, modelsDir: modelsDir)
    }

    /// Where this stage's model files are looked for first: its own `models-dir` option, else the
    /// run's models folder, else nil (the default search).
    public var modelsFolder: String? { path("models-dir") ?? modelsDir }

    public func has(_ key: String) -> Bool { values[key] != nil }

    /// The stage's `precision` resolved for this CPU: `auto` is bf16 where the CPU multiplies bf16 natively
    /// (AVX512-BF16 or AMX, where oneDNN runs it) and fp32 elsewhere; `bf16` where oneDNN cannot run it is an error.
    public func precision() throws -> Precision {
        let asked = choice("precision")
        if asked == "auto" { return OneDNN.nativeBF16 && OneDNN.bf16Available ? .bf16 : .fp32 }
        guard let p = Precision(rawValue: asked) else { throw invalid("precision \(asked)") }
        if p == .bf16 && !OneDNN.bf16Available {
            throw invalid(
                "precision bf16: oneDNN \(OneDNN.version) has no bf16 kernels on this CPU (\(OneDNN.isa); they need AVX-512): use fp32 or auto, or bf16-emulated to see bf16's numbers"
            )
        }
        return p
    }

    /// An error about this stage's options, for rules that span several options.
    public func invalid(_ message: String) -> RestoreError { .invalidOption(stage: stage, message: message) }

    /// The given value, else the declared default, else `fallback` (for defaults that depend on
    /// other options; the spec's `defaultNote` describes them).
    public func value(_ key: String, fallback: OptionValue? = nil) -> OptionValue {
        guard let o = spec.option(key) else { preconditionFailure("stage \(stage) reads undeclared option '\(key)'") }
        guard let v = values[key] ?? o.defaultValue ?? fallback else {
            preconditionFailure("option \(stage).\(key) has no default")
        }
        return v
    }

    public func number(_ key: String, default d: Double? = nil) -> Double {
        guard case let .number(v) = value(key, fallback: d.map { .number($0) }) else { mismatch(key, "number") }
        return v
    }

    public func int(_ key: String, default d: Int? = nil) -> Int {
        guard case let .integer(v) = value(key, fallback: d.map { .integer($0) }) else { mismatch(key, "integer") }
        return v
    }

    public func bool(_ key: String) -> Bool {
        guard case let .bool(v) = value(key) else { mismatch(key, "bool") }
        return v
    }

    public func rate(_ key: String) -> Rational {
        guard case let .rate(v) = value(key) else { mismatch(key, "rate") }
        return v
    }

    public func size(_ key: String) -> (width: Int, height: Int) {
        guard case let .size(w, h) = value(key) else { mismatch(key, "size") }
        return (w, h)
    }

    public func choice(_ key: String) -> String {
        guard case let .choice(v) = value(key) else { mismatch(key, "choice") }
        return v
    }

    public func model(_ key: String) -> String {
        guard case let .model(v) = value(key) else { mismatch(key, "model") }
        return v
    }

    /// A path option's value, nil when not given.
    public func path(_ key: String) -> String? {
        _ = spec.option(key) ?? { preconditionFailure("stage \(stage) reads undeclared option '\(key)'") }()
        guard let v = values[key] else { return nil }
        guard case let .path(p) = v else { mismatch(key, "path") }
        return p
    }

    public func numbers(_ key: String) -> [Double] {
        guard case let .list(l) = value(key) else { mismatch(key, "list") }
        return l.map { if case let .number(x) = $0 { x } else { mismatch(key, "list of numbers") } }
    }

    /// An `auto`-or-number option: nil for auto.
    public func autoNumber(_ key: String) -> Double? {
        switch value(key) {
        case .auto: return nil
        case let .number(v): return v
        default: mismatch(key, "auto or number")
        }
    }

    private func mismatch(_ key: String, _ type: String) -> Never {
        preconditionFailure(
            "stage \(stage) reads option '\(key)' as \(type), declared \(spec.option(key)!.type.shortName)")
    }

    public static func parseSize(_ s: String) -> (width: Int, height: Int)? {
        let named = [
            "4k": (3840, 2160), "uhd": (3840, 2160), "2160p": (3840, 2160), "1080p": (1920, 1080),
            "hd": (1920, 1080), "720p": (1280, 720), "dci4k": (4096, 2160),
        ]
        if let n = named[s.lowercased()] { return n }
        let parts = s.lowercased().split(separator: "x")
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), w > 0, h > 0, w <= 16384, h <= 16384
        else { return nil }
        return (w, h)
    }
}
