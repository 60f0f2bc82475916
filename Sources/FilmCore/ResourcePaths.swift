import Foundation

/// Where the tool looks for a folder of its resources (presets, models), first match wins:
/// the environment variable, ./FOLDER, FOLDER in the checkout the binary was built in (found by
/// walking up from the binary), PREFIX/share/filmrestore/FOLDER for a binary installed in
/// PREFIX/bin (`make install`), /usr/local/share/filmrestore/FOLDER.
public enum ResourcePaths {
    public static func candidates(folder: String, environment: String) -> [String] {
        var dirs: [String] = []
        if let env = ProcessInfo.processInfo.environment[environment] { dirs.append(env) }
        dirs.append(FileManager.default.currentDirectoryPath + "/" + folder)
        var exe = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        let prefix = exe.deletingLastPathComponent().deletingLastPathComponent().path
        for _ in 0..<5 {
            exe = exe.deletingLastPathComponent()
            dirs.append(exe.path + "/" + folder)
        }
        dirs.append(prefix + "/share/filmrestore/" + folder)
        dirs.append("/usr/local/share/filmrestore/" + folder)
        var seen = Set<String>()
        return dirs.filter { seen.insert($0).inserted }
    }
}
