import Foundation
import Restoration

/// The presets and the stages' option declarations as the page's form needs them: the same types,
/// ranges, defaults and help `filmrestore presets` and `filmrestore stages` print, from the same
/// declarations (`StageSpec`), so the form and the CLI cannot drift apart.
enum Catalogue {
    struct PresetInfo: Encodable {
        struct Use: Encodable {
            var name: String
            var options: [String: String]
        }
        var name: String
        var description: String
        var stages: [Use]
        var unavailable: [String]
    }

    struct OptionInfo: Encodable {
        var key: String
        /// The short type name (`number`, `choice`, …) and what it takes, in the CLI's words.
        var type: String
        var takes: String
        var defaultValue: String?
        var help: String
        var choices: [String]?
        var min: Double?
        var max: Double?
        var integer: Bool
        enum CodingKeys: String, CodingKey {
            case key, type, takes, defaultValue = "default", help, choices, min, max, integer
        }
    }

    struct StageInfo: Encodable {
        var name: String
        var summary: String
        var traits: [String]
        var options: [OptionInfo]
    }

    static func presets() -> [PresetInfo] {
        PresetLibrary.all().map { p in
            PresetInfo(
                name: p.name, description: p.description,
                stages: p.stages.map { .init(name: $0.name, options: $0.options) }, unavailable: p.unavailableStages)
        }
    }

    static func stages() -> [StageInfo] {
        StageRegistry.stages.map { t in
            let s = t.spec
            return StageInfo(
                name: s.name, summary: s.summary, traits: s.traits.map(\.description).sorted(),
                options: s.options.map(option))
        }
    }

    static func option(_ o: OptionSpec) -> OptionInfo {
        var info = OptionInfo(
            key: o.key, type: o.type.shortName, takes: o.type.description, defaultValue: o.defaultValue?.description,
            help: o.help, choices: nil, min: nil, max: nil, integer: false)
        var t = o.type
        if case let .auto(inner) = t { t = inner }
        switch t {
        case let .number(r):
            info.min = r.lowerBound
            info.max = r.upperBound
        case let .integer(r, _):
            info.min = Double(r.lowerBound)
            info.max = Double(r.upperBound)
            info.integer = true
        case let .choice(c): info.choices = c
        case .bool: info.choices = ["true", "false"]
        case let .model(_, names): info.choices = names
        default: break
        }
        return info
    }
}
