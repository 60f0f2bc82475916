import FilmCore
import Foundation
import Restoration

/// A look: a preset and option changes, checked as the CLI checks them (the same messages), with
/// every path an option names resolved inside the root.
struct Look: Sendable {
    let preset: String
    let settings: [String: String]
    /// `--set` arguments for the tool, paths made absolute.
    let arguments: [String]

    static func check(preset: String, settings: [String: String], root: RootFolder) throws -> Look {
        // Only the library's presets by name: a path would read a file the request chose.
        guard preset.range(of: #"^[A-Za-z0-9][A-Za-z0-9._-]*$"#, options: .regularExpression) != nil,
            !preset.hasSuffix(".yml"), !preset.hasSuffix(".yaml")
        else { throw WorkbenchError.badRequest("unknown preset '\(preset)': give a preset's name") }
        var p: Preset
        do { p = try PresetLibrary.load(preset) } catch { throw WorkbenchError.badRequest("\(error)") }
        var arguments: [String] = []
        for (key, raw) in settings.sorted(by: { $0.key < $1.key }) {
            var value = raw
            let target = key.split(separator: ".", maxSplits: 1).map(String.init)
            let stage = target.first.map { String($0.split(separator: "#")[0]) } ?? ""
            if target.count == 2, let option = StageRegistry.spec(named: stage)?.option(target[1]) {
                value = try resolvePaths(value, type: option.type, key: key, root: root)
            }
            do { try p.apply(setting: "\(key)=\(value)") } catch let e as RestoreError {
                if case let .preset(m) = e { throw WorkbenchError.badRequest(m) }
                throw WorkbenchError.badRequest("\(e)")
            }
            arguments += ["--set", "\(key)=\(value)"]
        }
        return Look(preset: p.name, settings: settings, arguments: arguments)
    }

    /// A path option's value inside the root (relative to it), or a model's shipped name.
    static func resolvePaths(_ value: String, type: OptionType, key: String, root: RootFolder) throws -> String {
        switch type {
        case .path(.modelsFolder):
            throw WorkbenchError.forbidden("--set \(key): the models folder is the server's, not a request's")
        case .path:
            return try root.resolve(value, mustExist: true)
        case let .model(_, names) where !names.contains(value):
            return try root.resolve(value, mustExist: true)
        case let .auto(t):
            return value.lowercased() == "auto" ? value : try resolvePaths(value, type: t, key: key, root: root)
        default:
            return value
        }
    }
}
