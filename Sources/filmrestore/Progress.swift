import Foundation
import Restoration
import FilmCore

/// How progress is shown: a line redrawn in place (plain lines when stderr is not a terminal),
/// one JSON object per line for GUIs and schedulers, or nothing.
enum ProgressStyle: String, CaseIterable {
    case line, json, none
}

/// Prints progress to stderr: one line redrawn in place on a terminal, never wider than it (so it
/// never wraps and leaves stale lines), plain lines otherwise, or JSON lines. The ETA comes from a
/// smoothed rate (an exponential average over the updates), not the rate since the start.
final class ProgressPrinter: Sendable {
    let enabled: Bool
    let style: ProgressStyle
    let isTerminal = isatty(STDERR_FILENO) != 0
    /// What the updates (from the progress timer's thread) and the run's own lines share.
    private struct State {
        var drewInPlace = false
        var last: (frames: Int, time: Double)?
        var smoothedRate: Double?
        var projectedSeconds: Double?
    }
    private let state = Locked(State())
    /// The time the whole run was projected to take, once enough frames were measured.
    var projectedSeconds: Double? { state.withLock { $0.projectedSeconds } }

    init(enabled: Bool, style: ProgressStyle = .line) {
        self.style = enabled ? style : .none
        self.enabled = enabled && style != .none
    }

    func line(_ s: String) {
        // JSON progress: the run's lines (what it reads and writes, notes, a resume's reused segments) as
        // `{"note": …}` objects between the progress objects.
        if enabled, style == .json, let d = try? JSONSerialization.data(withJSONObject: ["note": s]) {
            FileHandle.standardError.write(d + Data("\n".utf8))
            return
        }
        guard enabled, style == .line else { return }
        state.withLock { st in
            if st.drewInPlace {
                FileHandle.standardError.write(Data("\n".utf8))
                st.drewInPlace = false
            }
            FileHandle.standardError.write(Data((s + "\n").utf8))
        }
    }

    /// The terminal's width in columns (80 when it cannot be told).
    static func terminalColumns() -> Int {
        var w = winsize()
        if ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &w) == 0, w.ws_col > 0 { return Int(w.ws_col) }
        if let c = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init), c > 0 { return c }
        return 80
    }

    /// The rate to project with: an exponential average of the rates between updates.
    private static func rate(_ p: RestoreProgress, _ st: inout State) -> Double {
        defer { st.last = (p.framesDone, p.elapsed) }
        guard let l = st.last, p.elapsed > l.time else { return st.smoothedRate ?? p.speed }
        let now = Double(p.framesDone - l.frames) / (p.elapsed - l.time)
        let r = st.smoothedRate.map { 0.8 * $0 + 0.2 * now } ?? p.speed
        st.smoothedRate = r
        return r
    }

    /// The line for `p`, at most `width` columns: the step rates go first, then the line is cut.
    static func render(_ p: RestoreProgress, rate: Double, width: Int) -> String {
        var s = "frame \(p.framesDone)"
        if let t = p.framesTotal { s += "/\(t)" }
        s += String(format: "  %.2f fps", p.speed)
        if let t = p.framesTotal, t > p.framesDone, rate > 0 { s += "  ETA " + clock(Double(t - p.framesDone) / rate) }
        let steps =
            "  ["
            + p.stepRates.map { $0.fps >= 1000 ? "\($0.name) >999" : String(format: "%@ %.1f", $0.name, $0.fps) }
            .joined(separator: ", ") + " fps]"
        if s.count + steps.count <= width { s += steps }
        return String(s.prefix(max(1, width)))
    }

    /// After the first dozen frames and three seconds: the projected time for the whole run, once.
    private static func project(_ p: RestoreProgress, _ st: inout State) -> String? {
        guard st.projectedSeconds == nil, let t = p.framesTotal, t > 0, p.framesDone >= min(12, t),
            p.elapsed >= 3 || p.framesDone >= t
        else { return nil }
        let total = p.elapsed * Double(t) / Double(max(p.framesDone, 1))
        st.projectedSeconds = total
        return String(
            format: "projected: %@ for all %d frames (%.2f s per frame so far)", clock(total), t,
            p.elapsed / Double(max(p.framesDone, 1)))
    }

    func update(_ p: RestoreProgress) {
        let pr: String? = state.withLock { $0.projectedSeconds == nil ? Self.project(p, &$0) : nil }
        if let pr = pr { line(pr) }
        guard enabled else { return }
        state.withLock { st in
            let r = Self.rate(p, &st)
            switch style {
            case .json:
                var o: [String: Any] = [
                    "frame": p.framesDone, "fps": (p.speed * 100).rounded() / 100,
                    "elapsed": (p.elapsed * 10).rounded() / 10,
                    "steps": Dictionary(
                        uniqueKeysWithValues: p.stepRates.map { ($0.name, ($0.fps * 10).rounded() / 10) }),
                ]
                if let t = p.framesTotal {
                    o["total"] = t
                    if t > p.framesDone, r > 0 { o["eta"] = (Double(t - p.framesDone) / r).rounded() }
                }
                if let d = try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]) {
                    FileHandle.standardError.write(d + Data("\n".utf8))
                }
            case .line where isTerminal:
                // One column short of the width: a full-width line makes some terminals wrap.
                FileHandle.standardError.write(
                    Data(("\r\u{1B}[K" + Self.render(p, rate: r, width: Self.terminalColumns() - 1)).utf8))
                st.drewInPlace = true
            case .line:
                FileHandle.standardError.write(Data((Self.render(p, rate: r, width: 200) + "\n").utf8))
            case .none: break
            }
        }
    }

    func finish() {
        state.withLock { st in
            if st.drewInPlace {
                FileHandle.standardError.write(Data("\n".utf8))
                st.drewInPlace = false
            }
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
    /// The first signal received (0: none), the run's handler, and the pipe's reader (kept alive).
    /// `@unchecked Sendable`: its one non-Sendable field is a dispatch source, a libdispatch object (those are
    /// thread-safe, only not declared Sendable).
    private struct State: @unchecked Sendable {
        var signalled: Int32 = 0
        var handler: (@Sendable () -> Void)?
        var source: DispatchSourceRead?
    }
    private static let state = Locked(State())
    /// The first signal received (0: none).
    static var received: Int32 { state.withLock { $0.signalled } }

    static func start() {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        signalPipe = fds[1]
        let s = DispatchSource.makeReadSource(
            fileDescriptor: fds[0], queue: DispatchQueue(label: "filmrestore.signals"))
        s.setEventHandler {
            var b: UInt8 = 0
            guard read(fds[0], &b, 1) == 1 else { return }
            let sig = Int32(b)
            let h: (@Sendable () -> Void)? = state.withLock {
                if $0.signalled == 0 { $0.signalled = sig }
                return $0.handler
            }
            if let h = h { h() } else { Foundation.exit(128 + sig) }
        }
        s.resume()
        state.withLock { $0.source = s }
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
    static func install(_ h: @escaping @Sendable () -> Void) -> Interrupts {
        state.withLock {
            $0.handler = h
            // A signal that came before the run could be told: the run stops at once.
            if $0.signalled != 0 { DispatchQueue.global().async(execute: h) }
        }
        return Interrupts()
    }

    func cancel() { Self.state.withLock { $0.handler = nil } }
}

/// The write end of the signal pipe (set once, before the handler is installed).
nonisolated(unsafe) private var signalPipe: Int32 = -1

/// The signal handler: only `write`, which is async-signal-safe.
private func onSignal(_ sig: Int32) {
    var b = UInt8(truncatingIfNeeded: sig)
    _ = write(signalPipe, &b, 1)
}
