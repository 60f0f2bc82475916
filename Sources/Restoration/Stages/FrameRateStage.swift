import FilmCore

/// `fps`: changes the frame rate to an exact constant rate by taking, for each output instant
/// k / rate, the input frame nearest in time (repeating or dropping frames). Timestamps are exact
/// rationals, so 23.976 and VFR input never drift against the sound. This is the baseline that
/// `interpolate` replaces with real motion interpolation.
public final class FrameRateStage: Stage {
    public static let spec = StageSpec(
        name: "fps",
        summary: "constant frame rate by nearest frame (repeat/drop), exact timestamps",
        traits: [.setsRate(option: "rate"), .fallback],
        options: [.rate("rate", default: Rational(60), "output frame rate: 60, 50, 24000/1001, 23.976…")])

    public let rate: Rational
    /// The instant of output frame 0: the input's first frame (as `interpolate` anchors its grid), so
    /// a picture that starts after the sound's priming keeps its place against the sound.
    private var origin: Rational = .zero
    private var previous: Frame?
    private var nextIndex: Int64 = 0
    private var previousEmitted = false

    public var window: TemporalWindow { TemporalWindow(past: 0, future: 1) }

    public init(options: StageOptions) throws {
        rate = options.rate("rate")
    }

    public func configure(_ input: StreamInfo) throws -> StreamInfo {
        origin = input.startTime
        return input.atConstantRate(rate)
    }

    private func instant(_ k: Int64) -> Rational { origin + Rational(k) / rate }

    public func process(_ frame: Frame, emit: (Frame) throws -> Void) throws {
        guard let prev = previous else {
            previous = frame
            previousEmitted = false
            nextIndex = ((frame.pts - origin) * rate).rounded
            return
        }
        // Output instants before the midpoint of the two frames show the earlier one.
        let mid = (prev.pts + frame.pts) / Rational(2)
        try emitUntil(mid, prev, emit)
        previous = frame
        previousEmitted = false
    }

    public func flush(emit: (Frame) throws -> Void) throws {
        guard let prev = previous else { return }
        try emitUntil(prev.pts + prev.duration, prev, emit)
        previous = nil
    }

    private func emitUntil(_ end: Rational, _ f: Frame, _ emit: (Frame) throws -> Void) throws {
        while instant(nextIndex) < end {
            var out = f
            out.pts = instant(nextIndex)
            out.duration = rate.reciprocal
            // A scene cut marks only the first output frame of the shot.
            if previousEmitted { out.properties.sceneCut = false }
            try emit(out)
            previousEmitted = true
            nextIndex += 1
        }
    }
}
