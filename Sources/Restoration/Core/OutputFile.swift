import Foundation

/// The output of a run: written under a temporary name in the output folder and renamed over the
/// final name only when complete, so a failed or interrupted run leaves nothing behind and never
/// a half-written file under the final name.
public final class OutputFile {
    public let finalPath: String
    public let temporaryPath: String
    private var committed = false

    /// Checks the destination (folder exists, not the input, not present unless `force`).
    /// - temporaryDirectory: where the file is written until it is complete (on the output's file
    ///   system; default: the output's folder).
    public init(path: String, input: String?, force: Bool, temporaryDirectory: String? = nil) throws {
        let fm = FileManager.default
        let url = URL(fileURLWithPath: path).standardizedFileURL
        let dir = url.deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw RestoreError.output("output folder \(dir) does not exist")
        }
        if isDirectoryPath(path) { throw RestoreError.output("output \(path) is a folder; give a file name") }
        if let input = input, Self.sameFile(input, path) {
            throw RestoreError.output("refusing to write over the input \(input)")
        }
        if fm.fileExists(atPath: path) && !force {
            throw RestoreError.output("\(path) exists (use --force to overwrite)")
        }
        finalPath = path
        let ext = url.pathExtension
        temporaryPath = (temporaryDirectory ?? dir) + "/." + url.deletingPathExtension().lastPathComponent +
            ".partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))" + (ext.isEmpty ? "" : "." + ext)
    }

    /// Renames the finished temporary file to the final name.
    public func commit() throws {
        if rename(temporaryPath, finalPath) != 0 {
            let reason = String(cString: strerror(errno))
            throw RestoreError.output("cannot rename \(temporaryPath) to \(finalPath): \(reason)")
        }
        committed = true
    }

    /// Removes the temporary file (also done on deinit if not committed).
    public func discard() { if !committed { unlink(temporaryPath) } }

    deinit { discard() }

    static func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        if stat(a, &sa) == 0 && stat(b, &sb) == 0 { return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino }
        return URL(fileURLWithPath: a).standardizedFileURL.resolvingSymlinksInPath().path ==
            URL(fileURLWithPath: b).standardizedFileURL.resolvingSymlinksInPath().path
    }
}

private func isDirectoryPath(_ p: String) -> Bool {
    var isDir: ObjCBool = false
    return FileManager.default.fileExists(atPath: p, isDirectory: &isDir) && isDir.boolValue
}

/// Writes a whole file through a temporary file beside it and a rename, so no reader ever sees half
/// of it (done markers, job files, reports).
func writeAtomically(_ data: Data, to path: String) throws {
    let file = try OutputFile(path: path, input: nil, force: true)
    do { try data.write(to: URL(fileURLWithPath: file.temporaryPath)) } catch {
        throw RestoreError.output("cannot write \(path): \(error.localizedDescription)")
    }
    try file.commit()
}

/// Writes JSON (pretty, sorted keys) atomically.
func writeJSON<T: Encodable>(_ value: T, to path: String) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    try writeAtomically(try enc.encode(value), to: path)
}
