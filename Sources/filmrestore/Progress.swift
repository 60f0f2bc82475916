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
final class Interrupts {
    private let sources: [DispatchSourceSignal]

    private init(_ sources: [DispatchSourceSignal]) { self.sources = sources }

    static func install(_ handler: @escaping () -> Void) -> Interrupts {
        let q = DispatchQueue(label: "filmrestore.signals")
        let sources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: q)
            s.setEventHandler(handler: handler)
            s.resume()
            return s
        }
        return Interrupts(sources)
    }

    func cancel() { sources.forEach { $0.cancel() } }
}
