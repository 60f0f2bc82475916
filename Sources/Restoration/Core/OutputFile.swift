import Foundation

/// The output of a run: written under a temporary name in the output folder and published under
/// the final name only when complete, so a failed or interrupted run leaves nothing behind and never
/// a half-written file under the final name.
///
/// Publishing never replaces a file that appeared meanwhile unless `force` (`renameat2` with
/// `RENAME_NOREPLACE`, or `link` + `unlink` where the file system lacks it), and never replaces any
/// of the command's inputs, even with `force`.
public final class OutputFile {
    public let finalPath: String
    public let temporaryPath: String
    public let force: Bool
    /// The files the command reads: never written over.
    private let inputs: [String]
    private var committed = false

    /// Checks the destination (folder exists, not a folder, not an input, not present unless `force`).
    /// - inputs: every file the command reads (the film, a preset file, a statistics file…).
    /// - temporaryDirectory: where the file is written until it is complete (on the output's file
    ///   system; default: the output's folder).
    public init(path: String, inputs: [String], force: Bool, temporaryDirectory: String? = nil) throws {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        let dir = url.deletingLastPathComponent().path
        guard isDirectoryPath(dir) else { throw RestoreError.output("output folder \(dir) does not exist") }
        if isDirectoryPath(path) { throw RestoreError.output("output \(path) is a folder; give a file name") }
        try FilePaths.checkReplaceable(path)
        for input in inputs where FilePaths.same(input, path) {
            throw RestoreError.output("refusing to write \(path): it is the input \(input)")
        }
        if FilePaths.exists(path) && !force {
            throw RestoreError.output("\(path) exists (use --force to overwrite)")
        }
        finalPath = path
        self.force = force
        self.inputs = inputs
        temporaryPath =
            (temporaryDirectory ?? dir) + "/" + Self.temporaryPrefix(for: path)
            + "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            + (url.pathExtension.isEmpty ? "" : "." + url.pathExtension)
    }

    public convenience init(path: String, input: String?, force: Bool, temporaryDirectory: String? = nil) throws {
        try self.init(
            path: path, inputs: input.map { [$0] } ?? [], force: force, temporaryDirectory: temporaryDirectory)
    }

    /// `.NAME.partial-` for `dir/NAME.ext`: the temporary files of `path` start with it, followed by
    /// the writing process's id.
    static func temporaryPrefix(for path: String) -> String {
        "." + URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent + ".partial-"
    }

    /// Publishes the finished temporary file under the final name.
    public func commit() throws {
        // Checked again now: a file may have appeared (or been linked to an input) during the run.
        for input in inputs where FilePaths.same(input, finalPath) {
            throw RestoreError.output("refusing to write \(finalPath): it is the input \(input)")
        }
        try FilePaths.checkReplaceable(finalPath)
        try FilePaths.publish(temporaryPath, as: finalPath, replacing: force)
        committed = true
    }

    /// Removes the temporary file (also done on deinit if not committed).
    public func discard() { if !committed { unlink(temporaryPath) } }

    deinit { discard() }

    /// Removes the temporary files of `path` that processes no longer alive left (a run killed with
    /// SIGKILL or by a power cut). Files of live processes are left alone.
    public static func removeStaleTemporaries(of path: String, in folder: String? = nil) {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        let dir = folder ?? url.deletingLastPathComponent().path
        let prefix = temporaryPrefix(for: path)
        let ext = url.pathExtension.isEmpty ? "" : "." + url.pathExtension
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        where name.hasPrefix(prefix) && name.hasSuffix(ext) {
            let rest = name.dropFirst(prefix.count)
            guard let pid = rest.split(separator: "-").first.flatMap({ Int32($0) }), pid > 0, !processIsAlive(pid)
            else { continue }
            unlink(dir + "/" + name)
        }
    }
}

/// What names a film: the video files a batch or the workbench's library takes (by extension).
public enum FilmFiles {
    public static let videoExtensions: Set<String> = [
        "mkv", "mp4", "mov", "avi", "mxf", "ts", "m2ts", "mts", "mpg", "mpeg", "webm", "m4v", "dv", "nut", "wmv", "flv",
        "ogv", "3gp",
    ]
}

/// Path identity and publishing, shared by every file the tool writes.
public enum FilePaths {
    /// The same file: the same inode (hard links, symbolic links, `./a` and `a`), or, when one does
    /// not exist yet, the same path once resolved.
    public static func same(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        if stat(a, &sa) == 0 && stat(b, &sb) == 0 { return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino }
        return resolved(a) == resolved(b)
    }

    /// The absolute path with `.`, `..` and symbolic links (of the path and its folders) resolved.
    public static func resolved(_ p: String) -> String {
        let url = URL(fileURLWithPath: p).standardizedFileURL
        let folder = url.deletingLastPathComponent().resolvingSymlinksInPath()
        return folder.appendingPathComponent(url.lastPathComponent).resolvingSymlinksInPath().path
    }

    /// Present as anything (a dangling symbolic link counts).
    public static func exists(_ p: String) -> Bool {
        var s = stat()
        return lstat(p, &s) == 0
    }

    /// What is at `p` without following a final symbolic link: nil when nothing is.
    public static func kind(_ p: String) -> mode_t? {
        var s = stat()
        guard lstat(p, &s) == 0 else { return nil }
        return s.st_mode & S_IFMT
    }

    static func kindName(_ k: mode_t) -> String {
        switch k {
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFIFO: return "a FIFO (named pipe)"
        case S_IFSOCK: return "a socket"
        case S_IFDIR: return "a folder"
        case S_IFLNK: return "a symbolic link"
        case S_IFREG: return "a file"
        default: return "not a regular file"
        }
    }

    /// The one rule for replacing a file (with `--force`): only a regular file (or a symbolic link,
    /// which is replaced, never its target's contents, and only when it points to a regular file or
    /// nowhere). Never a device, FIFO, socket or folder, whatever the flags say.
    public static func checkReplaceable(_ p: String) throws {
        guard let k = kind(p), k != S_IFREG else { return }
        if k == S_IFLNK {
            var s = stat()
            if stat(p, &s) != 0 || s.st_mode & S_IFMT == S_IFREG { return }
            throw RestoreError.output(
                "refusing to replace \(p): it links to \(kindName(s.st_mode & S_IFMT)); only a regular file is replaced"
            )
        }
        throw RestoreError.output("refusing to replace \(p): it is \(kindName(k)); only a regular file is replaced")
    }

    /// Whether `folder` is `path` itself or one of the folders that hold it (both resolved).
    public static func isFolder(_ folder: String, atOrAbove path: String) -> Bool {
        let f = resolved(folder), p = resolved(path)
        return p == f || p.hasPrefix(f.hasSuffix("/") ? f : f + "/")
    }

    /// Renames `temporary` to `final`. Without `replacing`, an existing `final` is never replaced,
    /// even one that appears at the last moment: the kernel checks and renames in one step.
    static func publish(_ temporary: String, as final: String, replacing: Bool) throws {
        if replacing {
            guard rename(temporary, final) == 0 else { throw failure(temporary, final, errno) }
            return
        }
        if renameNoReplace(temporary, final) == 0 { return }
        let e = errno
        if e == EEXIST {
            throw RestoreError.output("\(final) exists (it appeared during the run; use --force to overwrite)")
        }
        guard e == EINVAL || e == ENOSYS || e == ENOTSUP else { throw failure(temporary, final, e) }
        // No RENAME_NOREPLACE on this file system: a hard link fails the same way if `final` exists.
        if link(temporary, final) == 0 {
            unlink(temporary)
            return
        }
        let le = errno
        if le == EEXIST {
            throw RestoreError.output("\(final) exists (it appeared during the run; use --force to overwrite)")
        }
        throw failure(temporary, final, le)
    }

    private static func failure(_ a: String, _ b: String, _ e: Int32) -> RestoreError {
        RestoreError.output("cannot rename \(a) to \(b): \(String(cString: strerror(e)))")
    }

    /// Checks one command's files before any work: no output may be (or be linked to) an input or
    /// another output. `outputs` are (path, what it is) pairs for the message.
    public static func checkRoles(inputs: [String], outputs: [(path: String, role: String)]) throws {
        for (i, o) in outputs.enumerated() {
            try checkReplaceable(o.path)
            for input in inputs where same(input, o.path) {
                throw RestoreError.output("refusing to write the \(o.role) to \(o.path): it is the input \(input)")
            }
            for other in outputs[..<i] where same(other.path, o.path) {
                throw RestoreError.output(
                    "the \(o.role) and the \(other.role) would both be written to \(o.path): give them different names")
            }
        }
    }
}

#if os(Linux)
    @_silgen_name("renameat2") private func c_renameat2(
        _ olddirfd: Int32, _ oldpath: UnsafePointer<CChar>, _ newdirfd: Int32,
        _ newpath: UnsafePointer<CChar>, _ flags: UInt32
    ) -> Int32
    private func renameNoReplace(_ a: String, _ b: String) -> Int32 {
        let AT_FDCWD: Int32 = -100, RENAME_NOREPLACE: UInt32 = 1
        return c_renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE)
    }
#else
    private func renameNoReplace(_ a: String, _ b: String) -> Int32 {
        errno = ENOTSUP
        return -1
    }
#endif

/// Whether a process with this id exists (it may belong to another user).
func processIsAlive(_ pid: Int32) -> Bool {
    kill(pid, 0) == 0 || errno == EPERM
}

private func isDirectoryPath(_ p: String) -> Bool {
    var isDir: ObjCBool = false
    return FileManager.default.fileExists(atPath: p, isDirectory: &isDir) && isDir.boolValue
}

/// Writes a whole file through a temporary file beside it and an atomic publish, so no reader ever
/// sees half of it (done markers, job files, reports, statistics). Without `force` an existing file
/// is not replaced; `inputs` are never written over.
func writeAtomically(_ data: Data, to path: String, force: Bool = true, inputs: [String] = []) throws {
    let file = try OutputFile(path: path, inputs: inputs, force: force)
    do { try data.write(to: URL(fileURLWithPath: file.temporaryPath)) } catch {
        throw RestoreError.output("cannot write \(path): \(error.localizedDescription)")
    }
    try file.commit()
}

/// Writes JSON (pretty, sorted keys) atomically.
func writeJSON<T: Encodable>(_ value: T, to path: String, force: Bool = true, inputs: [String] = []) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    try writeAtomically(try enc.encode(value), to: path, force: force, inputs: inputs)
}

/// Public entry for the command line: statistics and other small files.
public enum SmallFile {
    public static func write(_ data: Data, to path: String, force: Bool, inputs: [String]) throws {
        try writeAtomically(data, to: path, force: force, inputs: inputs)
    }
}
