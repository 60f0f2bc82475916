import Foundation

/// A request the workbench refuses: the HTTP status and one line saying why (the CLI's message
/// where the CLI has one).
public struct WorkbenchError: Error, CustomStringConvertible {
    public let status: Int
    public let description: String
    static func badRequest(_ m: String) -> Self { .init(status: 400, description: m) }
    static func forbidden(_ m: String) -> Self { .init(status: 403, description: m) }
    static func notFound(_ m: String) -> Self { .init(status: 404, description: m) }
    static func conflict(_ m: String) -> Self { .init(status: 409, description: m) }
}

/// The folder the workbench serves (`--root`): every path a request names is resolved inside it,
/// symbolic links included, or refused (403) before anything is read or written.
public struct RootFolder: Sendable {
    /// The root with its own links resolved.
    public let path: String

    public init(_ path: String) throws {
        guard let r = Self.realPath(path) else { throw WorkbenchError.notFound("--root \(path) does not exist") }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: r, isDirectory: &isDir), isDir.boolValue else {
            throw WorkbenchError.badRequest("--root \(path) is not a folder")
        }
        self.path = r
    }

    static func realPath(_ p: String) -> String? {
        guard let r = realpath(p, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }

    /// Whether an absolute, resolved path is the root or inside it.
    public func contains(_ resolved: String) -> Bool { resolved == path || resolved.hasPrefix(path + "/") }

    /// The absolute path of `relative` inside the root. `mustExist`: it exists, resolved through its links;
    /// otherwise its folder exists inside the root (a file to write) and the name is not a link.
    /// `..`, absolute paths and links that leave the root: 403.
    public func resolve(_ relative: String, mustExist: Bool = true) throws -> String {
        let parts = relative.split(separator: "/", omittingEmptySubsequences: true)
        guard !relative.hasPrefix("/"), !relative.contains("\0"), !relative.contains("\\") else {
            throw WorkbenchError.forbidden("\(relative): only paths inside the root, relative to it, are served")
        }
        guard !parts.contains(where: { $0 == ".." }) else {
            throw WorkbenchError.forbidden("\(relative): '..' leaves the root")
        }
        let joined = parts.isEmpty ? path : path + "/" + parts.joined(separator: "/")
        if let r = Self.realPath(joined) {
            guard contains(r) else { throw WorkbenchError.forbidden("\(relative) leads outside the root") }
            return r
        }
        // A dangling link, or a name that does not exist yet.
        var st = stat()
        if lstat(joined, &st) == 0 { throw WorkbenchError.forbidden("\(relative) is a link that leads nowhere") }
        guard !mustExist else { throw WorkbenchError.notFound("\(relative) does not exist") }
        let folder = (joined as NSString).deletingLastPathComponent
        guard let f = Self.realPath(folder) else {
            throw WorkbenchError.notFound("\((relative as NSString).deletingLastPathComponent): no such folder")
        }
        guard contains(f) else { throw WorkbenchError.forbidden("\(relative) leads outside the root") }
        return f + "/" + (joined as NSString).lastPathComponent
    }

    /// `absolute` relative to the root (it is inside it).
    public func relative(_ absolute: String) -> String {
        absolute == path ? "" : String(absolute.dropFirst(path.count + 1))
    }
}
