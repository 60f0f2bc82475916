import Foundation
import FilmCore

/// A stage's one declaration: its name, summary, typed options (with defaults, ranges and help)
/// and its traits. Parsing and checking of preset values, `--set`, `filmrestore stages`, the
/// driver's `--size`/`--fps`, the report's reference chain and the recipe's files all derive from
/// it, as FFmpeg derives its option handling from a filter's AVOption table.
public struct StageSpec: Sendable {
    public let name: String
    /// One line for `filmrestore stages` and error messages.
    public let summary: String
    public let traits: Set<StageTrait>
    public let options: [OptionSpec]

    public init(name: String, summary: String, traits: Set<StageTrait> = [], options: [OptionSpec] = []) {
        self.name = name
        self.summary = summary
        self.traits = traits
        self.options = options
    }

    public func option(_ key: String) -> OptionSpec? { options.first { $0.key == key } }
    public func has(_ trait: StageTrait) -> Bool { traits.contains(trait) }

    /// The option that carries a role (`--size`, `--fps`), if the stage has it.
    public var sizeOption: String? { traitOption { if case let .setsSize(k) = $0 { k } else { nil } } }
    public var rateOption: String? { traitOption { if case let .setsRate(k) = $0 { k } else { nil } } }
    private func traitOption(_ pick: (StageTrait) -> String?) -> String? { traits.lazy.compactMap(pick).first }

    /// Parses and checks a preset's option text against the declaration: every key declared,
    /// every value of its type and in range. Errors name the option, what it takes and the value.
    public func parse(_ text: [String: String]) throws -> [String: OptionValue] {
        var out: [String: OptionValue] = [:]
        for key in text.keys.sorted() {
            guard let o = option(key) else {
                throw RestoreError.invalidOption(
                    stage: name,
                    message: "unknown option '\(key)' (options: \(options.map(\.key).sorted().joined(separator: ", ")))"
                )
            }
            out[key] = try o.parse(text[key]!, stage: name)
        }
        return out
    }
}

/// What a stage is, for the driver and the report (declared once, read by role, never by name).
public enum StageTrait: Hashable, Sendable {
    /// Cleans the film without adding picture: a chain's leading run of these is the reference
    /// the report judges fidelity against.
    case cleanup
    /// Only marks frames (properties), never changes a pixel.
    case analysis
    /// Marks shot boundaries; the driver puts one on the source frames when a chain lacks it.
    case findsShots
    /// Makes interlaced frames progressive; the driver puts one first for interlaced sources.
    case deinterlaces
    /// Sets the output size through this option (`--size`).
    case setsSize(option: String)
    /// Sets the output frame rate through this option (`--fps`).
    case setsRate(option: String)
    /// Makes new frames between source frames (the report shows one).
    case synthesizesFrames
    /// Looks at neighbouring frames (its window is the instance's `window`).
    case temporal
    /// Adds colour to monochrome pictures.
    case colorizes
    /// Adds detail (upscaling, grain): output differs from the source by design.
    case addsDetail
    /// Adds synthetic grain that it can take out again (`SyntheticGrain`): the report measures
    /// fidelity with it taken out (grain is declared, not invented).
    case addsGrain
    /// The stage the driver appends when a chain lacks the role above it carries (`--size`, `--fps`).
    case fallback
}

/// What a path option names.
public enum PathRole: String, Sendable {
    /// A file or folder the stage reads: hashed into the recipe, never written.
    case input
    /// A folder of model files: the files actually read are hashed, not the folder.
    case modelsFolder
}

/// A rule on whole numbers beyond their range.
public enum IntegerRule: Sendable, Equatable {
    case any, odd
    case multiple(of: Int)
}

/// The type of an option value.
public indirect enum OptionType: Sendable, Equatable, CustomStringConvertible {
    case number(ClosedRange<Double>)
    case integer(ClosedRange<Int>, IntegerRule)
    /// A positive rate: 60, 24000/1001, 23.976.
    case rate
    /// WIDTHxHEIGHT (or 4k, 1080p, …), each side at most `maxSide`.
    case size(maxSide: Int)
    case choice([String])
    case bool
    case list(OptionType, count: ClosedRange<Int>)
    case path(PathRole)
    /// A model of a family: one of the shipped names, or a path to a file of the family.
    case model(family: String, names: [String])
    /// The word `auto`, or a value of the type.
    case auto(OptionType)

    public var description: String {
        switch self {
        case let .number(r): return "a number in \(Self.text(r.lowerBound))…\(Self.text(r.upperBound))"
        case let .integer(r, rule):
            let kind: String
            switch rule {
            case .any: kind = "a whole number"
            case .odd: kind = "an odd whole number"
            case let .multiple(m): kind = "a multiple of \(m)"
            }
            return "\(kind) in \(r.lowerBound)…\(r.upperBound)"
        case .rate: return "a rate of 1…240 fps (60, 24000/1001, 23.976)"
        case let .size(m):
            return m >= 16384 ? "a size WIDTHxHEIGHT (or 4k, 1080p, 720p)" : "a size WIDTHxHEIGHT, each at most \(m)"
        case let .choice(c): return "one of \(c.joined(separator: ", "))"
        case .bool: return "true or false"
        case let .list(t, n):
            let count = n.lowerBound == n.upperBound ? "\(n.lowerBound)" : "\(n.lowerBound)…\(n.upperBound)"
            return "a list of \(count) (\(t))"
        case .path(.input): return "a path to a file or folder to read"
        case .path(.modelsFolder): return "a folder of model files"
        case let .model(family, names):
            return "a \(family) model (\(names.joined(separator: ", ")), or a path to a model file)"
        case let .auto(t): return "auto or \(t)"
        }
    }

    /// The short name `filmrestore stages` prints in its type column.
    public var shortName: String {
        switch self {
        case .number: return "number"
        case .integer: return "integer"
        case .rate: return "rate"
        case .size: return "size"
        case .choice: return "choice"
        case .bool: return "bool"
        case let .list(t, _): return "list of \(t.shortName)"
        case .path: return "path"
        case .model: return "model"
        case let .auto(t): return "auto|\(t.shortName)"
        }
    }

    /// The output frame rates a stage accepts: 1…240 fps.
    public static let rates = Rational(1)...Rational(240)

    /// A number as the help prints it: whole numbers without a decimal point.
    public static func text(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x) }

    /// The value `text` denotes, or nil when it is not of this type.
    public func parse(_ text: String) -> OptionValue? {
        let s = text.trimmingCharacters(in: .whitespaces)
        switch self {
        case let .number(r):
            guard let v = Double(s), v.isFinite, r.contains(v) else { return nil }
            return .number(v)
        case let .integer(r, rule):
            guard let v = Int(s), r.contains(v) else { return nil }
            switch rule {
            case .any: break
            case .odd: guard v % 2 != 0 else { return nil }
            case let .multiple(m): guard v % m == 0 else { return nil }
            }
            return .integer(v)
        case .rate:
            guard let v = Rational(parsing: s), OptionType.rates.contains(v) else { return nil }
            return .rate(v)
        case let .size(m):
            guard let v = StageOptions.parseSize(s), v.width <= m, v.height <= m else { return nil }
            return .size(width: v.width, height: v.height)
        case let .choice(c): return c.contains(s) ? .choice(s) : nil
        case .bool:
            switch s.lowercased() {
            case "true", "yes", "on", "1": return .bool(true)
            case "false", "no", "off", "0": return .bool(false)
            default: return nil
            }
        case let .list(t, n):
            let items = s.split(separator: ",", omittingEmptySubsequences: false).map { t.parse(String($0)) }
            guard n.contains(items.count), items.allSatisfy({ $0 != nil }) else { return nil }
            return .list(items.map { $0! })
        case .path: return s.isEmpty ? nil : .path(s)
        case .model: return s.isEmpty ? nil : .model(s)
        case let .auto(t): return s.lowercased() == "auto" ? .auto : t.parse(s)
        }
    }
}

/// A typed option value.
public indirect enum OptionValue: Sendable, Equatable, CustomStringConvertible {
    case number(Double)
    case integer(Int)
    case rate(Rational)
    case size(width: Int, height: Int)
    case choice(String)
    case bool(Bool)
    case list([OptionValue])
    case path(String)
    case model(String)
    case auto

    /// The canonical text (what a preset would say, lists joined with commas).
    public var description: String {
        switch self {
        case let .number(v): return OptionType.text(v)
        case let .integer(v): return String(v)
        case let .rate(r): return r.description
        case let .size(w, h): return "\(w)x\(h)"
        case let .choice(s), let .path(s), let .model(s): return s
        case let .bool(b): return b ? "true" : "false"
        case let .list(l): return l.map(\.description).joined(separator: ",")
        case .auto: return "auto"
        }
    }
}

/// One option of a stage: key, type, default and help. The default is of the option's type; an
/// option whose default depends on others has none here, and its `defaultNote` says what it is.
public struct OptionSpec: Sendable {
    public let key: String
    public let type: OptionType
    public let defaultValue: OptionValue?
    public let defaultNote: String?
    public let help: String

    public init(_ key: String, _ type: OptionType, default value: OptionValue?, note: String? = nil, help: String) {
        self.key = key
        self.type = type
        self.defaultValue = value
        self.defaultNote = note
        self.help = help
    }

    /// The default as `filmrestore stages` shows it.
    public var defaultText: String { defaultValue?.description ?? defaultNote ?? "none" }

    func parse(_ text: String, stage: String) throws -> OptionValue {
        guard let v = type.parse(text) else {
            throw RestoreError.invalidOption(stage: stage, message: "option '\(key)' takes \(type), not '\(text)'")
        }
        return v
    }

    public static func number(
        _ key: String, _ range: ClosedRange<Double>, default d: Double?, note: String? = nil, _ help: String
    ) -> OptionSpec {
        OptionSpec(key, .number(range), default: d.map { .number($0) }, note: note, help: help)
    }
    public static func integer(
        _ key: String, _ range: ClosedRange<Int>, _ rule: IntegerRule = .any, default d: Int?, note: String? = nil,
        _ help: String
    ) -> OptionSpec {
        OptionSpec(key, .integer(range, rule), default: d.map { .integer($0) }, note: note, help: help)
    }
    public static func rate(_ key: String, default d: Rational, _ help: String) -> OptionSpec {
        OptionSpec(key, .rate, default: .rate(d), help: help)
    }
    public static func size(_ key: String, maxSide: Int = 16384, default d: (Int, Int), _ help: String) -> OptionSpec {
        OptionSpec(key, .size(maxSide: maxSide), default: .size(width: d.0, height: d.1), help: help)
    }
    public static func choice(_ key: String, _ values: [String], default d: String, _ help: String) -> OptionSpec {
        OptionSpec(key, .choice(values), default: .choice(d), help: help)
    }
    public static func bool(_ key: String, default d: Bool, _ help: String) -> OptionSpec {
        OptionSpec(key, .bool, default: .bool(d), help: help)
    }
    public static func numbers(
        _ key: String, _ range: ClosedRange<Double>, count: ClosedRange<Int>, default d: [Double], _ help: String
    ) -> OptionSpec {
        OptionSpec(key, .list(.number(range), count: count), default: .list(d.map { .number($0) }), help: help)
    }
    public static func path(_ key: String, _ role: PathRole, note: String? = nil, _ help: String) -> OptionSpec {
        OptionSpec(key, .path(role), default: nil, note: note, help: help)
    }
    public static func model(_ key: String, family: String, names: [String], default d: String, _ help: String)
        -> OptionSpec
    {
        OptionSpec(key, .model(family: family, names: names), default: .model(d), help: help)
    }
    /// `auto` (the default) or a number.
    public static func autoNumber(_ key: String, _ range: ClosedRange<Double>, note: String? = nil, _ help: String)
        -> OptionSpec
    {
        OptionSpec(key, .auto(.number(range)), default: .auto, note: note, help: help)
    }
    /// The arithmetic of a network stage's convolutions (TensorCore's `Precision`); the run's `--precision` or the
    /// preset's `precision:` sets it on every stage that declares it.
    public static let precision = choice(
        "precision", ["auto", "fp32", "bf16", "bf16-emulated"], default: "auto",
        "the convolutions' arithmetic: fp32 (our core), bf16 (oneDNN, bf16 weights and activations, fp32 sums; needs AVX-512), bf16-emulated (bf16's numbers on fp32 kernels, to check them on any CPU), auto (bf16 where the CPU multiplies bf16 natively, AVX512-BF16 or AMX; else fp32)"
    )
    /// The run's models folder, overridable per stage.
    public static let modelsDir = path(
        "models-dir", .modelsFolder, note: "the run's --models-dir, else Models/",
        "folder with the model files (as installed by `make models`)")
}

extension StageTrait: CustomStringConvertible {
    public var description: String {
        switch self {
        case .cleanup: return "cleanup"
        case .analysis: return "analysis"
        case .findsShots: return "finds-shots"
        case .deinterlaces: return "deinterlaces"
        case let .setsSize(k): return "sets-size(\(k))"
        case let .setsRate(k): return "sets-rate(\(k))"
        case .synthesizesFrames: return "synthesizes-frames"
        case .temporal: return "temporal"
        case .colorizes: return "colorizes"
        case .addsDetail: return "adds-detail"
        case .addsGrain: return "adds-grain"
        case .fallback: return "fallback"
        }
    }
}

extension StageSpec {
    /// What `filmrestore stages NAME` prints: the summary, the traits, and every option with its
    /// type, default, accepted values and help.
    public var helpText: String {
        var lines = ["\(name): \(summary)"]
        if !traits.isEmpty { lines.append("  traits: \(traits.map(\.description).sorted().joined(separator: ", "))") }
        if options.isEmpty { lines.append("  (no options)") }
        for o in options {
            lines.append("  \(o.key) (\(o.type.shortName), default \(o.defaultText))")
            lines.append("      takes \(o.type)")
            lines.append("      \(o.help)")
        }
        return lines.joined(separator: "\n")
    }
}
