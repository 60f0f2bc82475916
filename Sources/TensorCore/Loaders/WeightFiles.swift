import Foundation

/// Which weight files were read while building something, so a restore can name (and hash) every
/// model its output depends on. Recording is per thread: stages are built on one thread.
public enum WeightFiles {
    private static let key = "filmrestore.weightFiles"

    /// Runs `body` and returns the weight files it read (absolute paths, first-read order).
    public static func recording<T>(_ body: () throws -> T) rethrows -> (T, [String]) {
        let dict = Thread.current.threadDictionary
        let outer = dict[key]
        dict[key] = Recorder()
        defer { dict[key] = outer }
        let value = try body()
        return (value, (dict[key] as? Recorder)?.paths ?? [])
    }

    static func record(_ url: URL) {
        guard let r = Thread.current.threadDictionary[key] as? Recorder else { return }
        let p = url.standardizedFileURL.path
        if !r.paths.contains(p) { r.paths.append(p) }
    }

    private final class Recorder { var paths: [String] = [] }
}
