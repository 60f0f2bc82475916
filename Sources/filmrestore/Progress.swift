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
/// Dispatch receives signals through a signalfd, which sees only signals that no thread takes: so
/// both are blocked in the main thread at start (`start()`, before any other thread exists, so
/// every thread inherits the mask) and received by one pair of signal sources for the whole
/// process. Outside a run (`install`), a signal ends the process with its status at once.
final class Interrupts {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var signalled: Int32 = 0
    nonisolated(unsafe) private static var handler: (() -> Void)?
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []
    /// The first signal received (0: none).
    static var received: Int32 { lock.withLock { signalled } }

    static func start() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT); sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let q = DispatchQueue(label: "filmrestore.signals")
        sources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            let s = DispatchSource.makeSignalSource(signal: sig, queue: q)
            s.setEventHandler {
                let h: (() -> Void)? = lock.withLock {
                    if signalled == 0 { signalled = sig }
                    return handler
                }
                if let h = h { h() } else { Foundation.exit(128 + sig) }
            }
            s.resume()
            return s
        }
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
