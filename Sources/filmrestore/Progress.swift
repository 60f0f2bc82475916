import Foundation
import Restoration

/// Prints progress to stderr: one line redrawn in place on a terminal, plain lines otherwise.
final class ProgressPrinter: @unchecked Sendable {
    let enabled: Bool
    let isTerminal = isatty(STDERR_FILENO) != 0
    private var drewInPlace = false
    private let lock = NSLock()

    init(enabled: Bool) { self.enabled = enabled }

    func line(_ s: String) {
        guard enabled else { return }
        lock.withLock {
            if drewInPlace { FileHandle.standardError.write(Data("\n".utf8)); drewInPlace = false }
            FileHandle.standardError.write(Data((s + "\n").utf8))
        }
    }

    func update(_ p: RestoreProgress) {
        guard enabled else { return }
        var s = "frame \(p.framesDone)"
        if let t = p.framesTotal { s += "/\(t)" }
        s += String(format: "  %.2f fps", p.speed)
        if let eta = p.eta { s += "  ETA " + Self.clock(eta) }
        s += "  [" + p.stepRates.map { $0.fps >= 1000 ? "\($0.name) >999" : String(format: "%@ %.1f", $0.name, $0.fps) }.joined(separator: ", ") + " fps]"
        lock.withLock {
            if isTerminal {
                FileHandle.standardError.write(Data(("\r\u{1B}[K" + s).utf8))
                drewInPlace = true
            } else {
                FileHandle.standardError.write(Data((s + "\n").utf8))
            }
        }
    }

    func finish() {
        lock.withLock {
            if drewInPlace { FileHandle.standardError.write(Data("\n".utf8)); drewInPlace = false }
        }
    }

    static func clock(_ s: Double) -> String {
        let t = Int(s.rounded())
        return String(format: "%d:%02d:%02d", t / 3600, (t / 60) % 60, t % 60)
    }
}

/// SIGINT/SIGTERM stop the run cleanly (the temporary output is removed) instead of killing it.
/// The exit status then says which signal, as a shell's would: 130 for SIGINT, 143 for SIGTERM.
///
/// A process-wide signal handler (any thread may take the signal: OpenBLAS starts its threads
/// before `main`, with whatever mask they inherit) writes the signal's number to a pipe; a dispatch
/// source reads the pipe and acts outside the handler. Both signals are unblocked at start, since a
/// parent may have blocked them. Outside a run (`install`), a signal ends the process with its status.
final class Interrupts {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var signalled: Int32 = 0
    nonisolated(unsafe) private static var handler: (() -> Void)?
    nonisolated(unsafe) private static var source: DispatchSourceRead?
    /// The first signal received (0: none).
    static var received: Int32 { lock.withLock { signalled } }

    static func start() {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        signalPipe = fds[1]
        let s = DispatchSource.makeReadSource(fileDescriptor: fds[0], queue: DispatchQueue(label: "filmrestore.signals"))
        s.setEventHandler {
            var b: UInt8 = 0
            guard read(fds[0], &b, 1) == 1 else { return }
            let sig = Int32(b)
            let h: (() -> Void)? = lock.withLock {
                if signalled == 0 { signalled = sig }
                return handler
            }
            if let h = h { h() } else { Foundation.exit(128 + sig) }
        }
        s.resume()
        source = s
        var set = sigset_t()
        sigemptyset(&set)
        for sig in [SIGINT, SIGTERM] {
            signal(sig, onSignal)
            sigaddset(&set, sig)
        }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    private init() {}

    /// Calls `handler` (instead of exiting) on SIGINT/SIGTERM until `cancel()`.
    static func install(_ h: @escaping () -> Void) -> Interrupts {
        lock.withLock {
            handler = h
            // A signal that came before the run could be told: the run stops at once.
            if signalled != 0 { DispatchQueue.global().async(execute: h) }
        }
        return Interrupts()
    }

    func cancel() { Self.lock.withLock { Self.handler = nil } }
}

/// The write end of the signal pipe (set once, before the handler is installed).
nonisolated(unsafe) private var signalPipe: Int32 = -1

/// The signal handler: only `write`, which is async-signal-safe.
private func onSignal(_ sig: Int32) {
    var b = UInt8(truncatingIfNeeded: sig)
    _ = write(signalPipe, &b, 1)
}
