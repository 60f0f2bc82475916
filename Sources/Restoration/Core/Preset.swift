import Foundation
import Yams
import MediaIO
import FilmCore

/// A named pipeline: an ordered list of stages with their options, and output settings.
///
/// ```yaml
/// description: One line shown by `filmrestore presets`.
/// stages:
///   - fit: {size: 3840x2160, mode: pad}
///   - fps: {rate: 60}
/// output: {codec: libx264, crf: 18, preset: medium, pixel_format: yuv420p}
/// ```
public struct Preset {
    public struct StageEntry {
        public var name: String
        public var options: [String: String]
        public init(name: String, options: [String: String] = [:]) {
            self.name = name
            self.options = options
        }
    }
    public var name: String
    public var description: String
    public var stages: [StageEntry]
    public var encoder: EncoderSettings
    public var path: String?

    public init(
        name: String, description: String = "", stages: [StageEntry], encoder: EncoderSettings = EncoderSettings()
    ) {
        self.name = name
        self.description = description
        self.stages = stages
        self.encoder = encoder
    }

    /// Stages this preset names that this build does not have.
    public var unavailableStages: [String] {
        stages.map(\.name).filter { StageRegistry.type(named: $0) == nil && StageRegistry.planned[$0] != nil }
    }

    /// A preset is a page of text: these bound what parsing one may cost, whatever its aliases.
    static let maxBytes = 1 << 20, maxValues = 10_000, maxDepth = 32

    public static func parse(yaml text: String, name: String) throws -> Preset {
        guard text.utf8.count <= maxBytes else {
            throw RestoreError.preset("preset '\(name)': larger than \(maxBytes >> 20) MiB; a preset is a short text")
        }
        let doc: Any?
        do {
            // Composed first (aliases share their node, so this stays small), counted with a
            // budget, and only then expanded into values: a file of nested aliases ("billion
            // laughs") is refused before it can grow.
            let node = try Yams.compose(yaml: text)
            var budget = maxValues
            if let n = node { try bound(n, depth: 0, budget: &budget, name: name) }
            doc = node?.any
        } catch let e as RestoreError { throw e } catch {
            throw RestoreError.preset(
                "preset '\(name)': not valid YAML (\(String(describing: error).split(separator: "\n").first ?? ""))")
        }
        guard let root = doc as? [String: Any] else {
            throw RestoreError.preset("preset '\(name)': expected a mapping with 'stages' and 'output'")
        }
        let known: Set<String> = ["description", "stages", "output", "name", "precision"]
        if let k = root.keys.first(where: { !known.contains($0) }) {
            throw RestoreError.preset("preset '\(name)': unknown key '\(k)'")
        }
        var p = Preset(name: name, description: root["description"].map { "\($0)" } ?? "", stages: [])
        guard let list = root["stages"] as? [Any] else {
            throw RestoreError.preset("preset '\(name)': 'stages' must be a list")
        }
        for item in list {
            if let s = item as? String {
                p.stages.append(StageEntry(name: s))
                continue
            }
            guard let m = item as? [String: Any], m.count == 1, let (stage, opts) = m.first else {
                throw RestoreError.preset(
                    "preset '\(name)': each stage is a name or a one-key mapping 'name: {options}'")
            }
            var o: [String: String] = [:]
            if let d = opts as? [String: Any] {
                for (k, v) in d { o[k] = try optionText(v, stage: stage, key: k, preset: name) }
            } else if !(opts is NSNull) {
                throw RestoreError.preset("preset '\(name)': options of stage '\(stage)' must be a mapping")
            }
            p.stages.append(StageEntry(name: stage, options: o))
        }
        // the preset's precision: on every network stage that does not set its own
        if let v = root["precision"] {
            do { try p.setOnEveryStage(key: "precision", value: "\(v)", overriding: false) } catch {
                throw RestoreError.preset("preset '\(name)': precision: \(error)")
            }
        }
        for s in p.stages {
            if let spec = StageRegistry.spec(named: s.name) {
                do { _ = try spec.parse(s.options) } catch { throw RestoreError.preset("preset '\(name)': \(error)") }
            } else if StageRegistry.planned[s.name] == nil {
                throw RestoreError.unknownStage(s.name, known: StageRegistry.names)
            }
        }
        if let out = root["output"] { p.encoder = try encoder(out, preset: name) }
        return p
    }

    /// A preset's `output` mapping: codec, crf, bitrate, preset, pixel format and the allowed encoder options.
    static func encoder(_ out: Any, preset name: String) throws -> EncoderSettings {
        guard let o = out as? [String: Any] else {
            throw RestoreError.preset("preset '\(name)': 'output' must be a mapping")
        }
        var e = EncoderSettings()
        for (k, v) in o {
            let s = "\(v)"
            switch k {
            case "codec": e.codec = s
            case "crf":
                guard let c = Int(s) else {
                    throw RestoreError.preset("preset '\(name)': output.crf must be a whole number")
                }
                e.crf = c
            case "bitrate":
                guard let b = parseBitrate(s) else {
                    throw RestoreError.preset("preset '\(name)': output.bitrate must be like 20M or 8000k (1k…2000M)")
                }
                e.bitrate = b
            case "preset": e.preset = s
            case "pixel_format": e.pixelFormat = s
            case "options":
                guard let d = v as? [String: Any] else {
                    throw RestoreError.preset("preset '\(name)': output.options must be a mapping")
                }
                for (ok, ov) in d {
                    do { try EncoderSettings.check(option: ok, value: "\(ov)") } catch {
                        throw RestoreError.preset("preset '\(name)': \(error)")
                    }
                    e.options[ok] = "\(ov)"
                }
            default: throw RestoreError.preset("preset '\(name)': unknown output setting '\(k)'")
            }
        }
        return e
    }

    /// Counts the values `node` expands to (aliases counted each time they are used) and its depth.
    static func bound(_ node: Node, depth: Int, budget: inout Int, name: String) throws {
        budget -= 1
        guard budget >= 0 else {
            throw RestoreError.preset(
                "preset '\(name)': expands to more than \(maxValues) values (nested aliases?); a preset is a short list of stages"
            )
        }
        guard depth <= maxDepth else {
            throw RestoreError.preset("preset '\(name)': nested deeper than \(maxDepth) levels")
        }
        switch node {
        case .scalar, .alias: break
        case let .sequence(s): for n in s { try bound(n, depth: depth + 1, budget: &budget, name: name) }
        case let .mapping(m):
            for (k, v) in m {
                try bound(k, depth: depth + 1, budget: &budget, name: name)
                try bound(v, depth: depth + 1, budget: &budget, name: name)
            }
        }
    }

    /// A YAML option value as text: a scalar as written, a list of scalars joined with commas
    /// (`scale-list: [16, 8, 4, 2]` → "16,8,4,2", which the stage's spec then reads as a list of
    /// numbers); a mapping or a nested list is refused naming the option, what it takes and what it got.
    static func optionText(_ v: Any, stage: String, key: String, preset: String) throws -> String {
        func scalar(_ x: Any) -> String? {
            switch x {
            case is [Any], is [String: Any], is NSNull: return nil
            default: return "\(x)"
            }
        }
        if let s = scalar(v) { return s }
        if let list = v as? [Any], !list.isEmpty, case let items = list.compactMap(scalar), items.count == list.count {
            return items.joined(separator: ",")
        }
        let got =
            v is [String: Any]
            ? "a mapping"
            : v is NSNull ? "nothing" : v is [Any] ? "a list of lists or mappings, or an empty list" : "\(type(of: v))"
        throw RestoreError.preset(
            "preset '\(preset)': option \(stage).\(key) takes a value or a list of values, not \(got)")
    }

    /// Applies `--set STAGE.KEY=VALUE` (every stage of that name) or `STAGE#N.KEY=VALUE` (the
    /// N-th stage of that name, from 1).
    public mutating func apply(setting: String) throws {
        let parts = setting.split(separator: "=", maxSplits: 1).map(String.init)
        let target = parts.first?.split(separator: ".", maxSplits: 1).map(String.init) ?? []
        guard parts.count == 2, target.count == 2, !target[1].isEmpty else {
            throw RestoreError.preset(
                "--set takes STAGE.KEY=VALUE or STAGE#N.KEY=VALUE, like colorize.reference=keyframes/")
        }
        let nameAndIndex = target[0].split(separator: "#", maxSplits: 1).map(String.init)
        let stage = nameAndIndex[0]
        let matching = stages.indices.filter { stages[$0].name == stage }
        guard !matching.isEmpty else {
            throw RestoreError.preset(
                "--set \(setting): preset \(name) has no stage \(stage) (it has \(stages.map(\.name).joined(separator: ", ")))"
            )
        }
        var chosen = matching
        if nameAndIndex.count == 2 {
            guard let n = Int(nameAndIndex[1]), n >= 1, n <= matching.count else {
                throw RestoreError.preset(
                    "--set \(setting): preset \(name) has \(matching.count) stage(s) \(stage); #N counts them from 1")
            }
            chosen = [matching[n - 1]]
        }
        if let spec = StageRegistry.spec(named: stage) {
            do { _ = try spec.parse([target[1]: parts[1]]) } catch {
                throw RestoreError.preset("--set \(setting): \(error)")
            }
        }
        for i in chosen { stages[i].options[target[1]] = parts[1] }
    }

    /// Sets `key` on every stage that declares it (`--precision`, the preset's `precision:`); `overriding`: also
    /// where a stage sets its own. The value is checked against the declaration (one stage's message).
    public mutating func setOnEveryStage(key: String, value: String, overriding: Bool) throws {
        for i in stages.indices {
            guard let spec = StageRegistry.spec(named: stages[i].name), spec.option(key) != nil else { continue }
            _ = try spec.parse([key: value])
            if overriding || stages[i].options[key] == nil { stages[i].options[key] = value }
        }
    }

    public static func parseBitrate(_ s: String) -> Int? {
        let t = s.trimmingCharacters(in: .whitespaces).lowercased()
        let mult: Double = t.hasSuffix("m") ? 1e6 : t.hasSuffix("k") ? 1e3 : 1
        let num = mult == 1 ? t : String(t.dropLast())
        // 1 kbit/s … 2 Gbit/s: anything else (inf, 1e400, NaN) is not a bitrate.
        guard let v = Double(num), v.isFinite, (1e3...2e9).contains(v * mult) else { return nil }
        return Int(v * mult)
    }
}

/// Finds presets by name in the Pipelines folders, or by path.
public enum PresetLibrary {
    /// Where named presets are looked up, first match wins: $FILMRESTORE_PIPELINES, ./Pipelines,
    /// the Pipelines folder of the checkout the binary was built in, /usr/local/share/filmrestore/Pipelines.
    public static var searchPaths: [String] {
        ResourcePaths.candidates(folder: "Pipelines", environment: "FILMRESTORE_PIPELINES")
    }

    public static func load(_ nameOrPath: String) throws -> Preset {
        let fm = FileManager.default
        var path: String? = nil
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".yml") || nameOrPath.hasSuffix(".yaml") {
            guard fm.fileExists(atPath: nameOrPath) else {
                throw RestoreError.preset("preset file \(nameOrPath) does not exist")
            }
            path = nameOrPath
        } else {
            for d in searchPaths {
                for ext in ["yml", "yaml"] where fm.fileExists(atPath: "\(d)/\(nameOrPath).\(ext)") {
                    path = "\(d)/\(nameOrPath).\(ext)"
                    break
                }
                if path != nil { break }
            }
        }
        guard let p = path else {
            let names = all().map(\.name)
            throw RestoreError.preset(
                "unknown preset '\(nameOrPath)' (available: \(names.isEmpty ? "none found" : names.joined(separator: ", ")))"
            )
        }
        let size = (try? fm.attributesOfItem(atPath: p)[.size] as? NSNumber)?.intValue ?? 0
        guard size <= Preset.maxBytes else {
            throw RestoreError.preset("preset \(p): larger than \(Preset.maxBytes >> 20) MiB; a preset is a short text")
        }
        guard let text = try? String(contentsOfFile: p, encoding: .utf8) else {
            throw RestoreError.preset("cannot read preset \(p)")
        }
        let name = URL(fileURLWithPath: p).deletingPathExtension().lastPathComponent
        var preset = try Preset.parse(yaml: text, name: name)
        preset.path = p
        return preset
    }

    /// Every preset in the first search folder that has any.
    public static func all() -> [Preset] { allFiles().compactMap { try? $0.preset.get() } }

    /// Every preset file in the first search folder that has any, loaded or with its error.
    public static func allFiles() -> [(path: String, preset: Result<Preset, Error>)] {
        let fm = FileManager.default
        for d in searchPaths {
            guard let files = try? fm.contentsOfDirectory(atPath: d) else { continue }
            let ymls = files.filter { $0.hasSuffix(".yml") || $0.hasSuffix(".yaml") }.sorted()
            if ymls.isEmpty { continue }
            return ymls.map { f in ("\(d)/\(f)", Result { try load("\(d)/\(f)") }) }
        }
        return []
    }
}
