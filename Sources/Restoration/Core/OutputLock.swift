import Foundation

/// One writer per output: a lock file beside OUT (`.OUT.filmrestore.lock`) held with `flock` for
/// the whole run, so a second restore (checkpointed or not) to the same OUT stops at once, naming
/// the process that writes it. The kernel drops the lock when the process dies, however it dies, so
/// a lock left by a killed run never blocks the next one.
public final class OutputLock {
    public let path: String
    private var fd: Int32

    /// Takes the lock of `output`, or throws "another restore is writing OUT (pid N)".
    public init(output: String) throws {
        let url = URL(fileURLWithPath: output).standardizedFileURL
        path = url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".filmrestore.lock"
        while true {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                throw RestoreError.output("cannot create the lock file \(path): \(String(cString: strerror(errno)))")
            }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                // The holder writes its id just after it locks: give it a moment.
                var holder = Self.readPid(fd)
                for _ in 0..<10 where holder == nil {
                    usleep(20_000)
                    holder = Self.readPid(fd)
                }
                close(fd)
                throw RestoreError.output(
                    "another restore is writing \(output)\(holder.map { " (pid \($0))" } ?? ""): wait for it to finish, or stop it first"
                )
            }
            // The holder before us may have removed the file between our open and our lock: then
            // this lock guards nothing and another process may already hold a new file's.
            var a = stat(), b = stat()
            if fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev {
                self.fd = fd
                break
            }
            close(fd)
        }
        let text = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    private static func readPid(_ fd: Int32) -> Int32? {
        var buf = [UInt8](repeating: 0, count: 32)
        let n = pread(fd, &buf, 31, 0)
        guard n > 0 else { return nil }
        return Int32(
            String(decoding: buf.prefix(n).prefix { $0 != 0 }, as: UTF8.self).trimmingCharacters(
                in: .whitespacesAndNewlines))
    }

    /// Releases the lock and removes the file.
    public func release() {
        guard fd >= 0 else { return }
        unlink(path)
        close(fd)
        fd = -1
    }

    deinit { release() }
}
