import Foundation
import FilmCore
import MediaIO

/// Proves (or disproves) that a restore kept the film's timing and its sound: durations, frame
/// counts, the picture's continuity, and the audio/video offset at the start and at the end,
/// source against output, from packet times alone (nothing decoded).
public struct TimingAudit: Codable, Sendable {
    public struct Side: Codable, Sendable {
        public var videoFrames: Int
        public var videoStart: Double
        public var videoEnd: Double
        public var videoDuration: Double { videoEnd - videoStart }
        public var audioStart: Double?
        public var audioEnd: Double?
        /// Audio start − video start, and audio end − video end (seconds).
        public var offsetAtStart: Double? { audioStart.map { $0 - videoStart } }
        public var offsetAtEnd: Double? { audioEnd.map { $0 - videoEnd } }
    }
    public var input: Side
    public var output: Side
    /// The output's frame interval (constant-rate output), else nil.
    public var outputFrameInterval: Double?
    /// Output frames expected from the source's duration at the output rate (constant-rate output).
    public var expectedFrames: Int?
    /// Output timestamps where a frame is missing: the gap before them is 1.5 intervals or more.
    public var gaps: [Double]
    /// Plain-language problems; empty when timing and sound were kept.
    public var problems: [String]
    public var passed: Bool { problems.isEmpty }

    /// - tolerance: allowed change of the audio/video offsets (seconds; default 5 ms, well under
    ///   the ±45 ms where viewers notice).
    /// - part: the output is this part of the input (source times from its first frame; nil end: to
    ///   its end): the input is judged over the part only, and the sound may start and end on the
    ///   source's packets (a copied packet is not cut).
    public static func run(
        input: String, output: String, tolerance: Double = 0.005, part: (start: Rational, end: Rational?)? = nil
    ) throws -> TimingAudit {
        let a = try PacketTimes.scan(path: input), b = try PacketTimes.scan(path: output)
        guard var sa = try side(a, input), let sb = try side(b, output) else {
            throw RestoreError.input("no video stream to audit")
        }
        var tolerance = tolerance
        if let p = part, let v = a.streams.first(where: { $0.kind == .video && !$0.times.isEmpty }) {
            let t0 = v.first! - a.startTime
            let from = t0 + p.start.doubleValue, to = p.end.map { t0 + $0.doubleValue }
            let inside = v.times.map { $0 - a.startTime }.filter { t in
                t >= from - 1e-6 && (to.map { t < $0 - 1e-6 } ?? true)
            }
            let step = v.frameRate.map { $0.reciprocal.doubleValue } ?? 0.04
            sa.videoFrames = inside.count
            sa.videoStart = inside.first ?? from
            // A part ends where it was cut (with --frames, inside a source frame's span).
            sa.videoEnd = min(v.end! - a.startTime, (inside.last ?? from) + step, to ?? .infinity)
            if let s0 = sa.audioStart, let s1 = sa.audioEnd {
                sa.audioStart = max(s0, sa.videoStart)
                sa.audioEnd = min(s1, sa.videoEnd)
            }
            if let au = a.streams.first(where: { $0.kind == .audio && $0.times.count > 1 }) {
                let longest = zip(au.times.dropFirst(), au.times).map { $0 - $1 }.max() ?? 0
                tolerance = max(tolerance, longest + 0.001)
            }
        }
        var problems: [String] = []
        // The output's frame interval: its declared rate, if nine in ten timestamp steps agree with it
        // (to the container's millisecond rounding).
        let video = b.streams.first { $0.kind == .video && !$0.times.isEmpty }!
        let vb = video.times
        let steps = zip(vb.dropFirst(), vb).map { $0 - $1 }
        let interval = video.frameRate.map { $0.reciprocal.doubleValue }
        let constant =
            interval.map { i in steps.filter { abs($0 - i) < 0.0015 }.count >= steps.count * 9 / 10 } ?? false
        var gaps: [Double] = []
        if constant, let i = interval {
            for (k, s) in steps.enumerated() where s >= 1.5 * i { gaps.append(vb[k + 1] - b.startTime) }
            if !gaps.isEmpty {
                problems.append(
                    "\(gaps.count) frame(s) missing in the output (first before \(String(format: "%.3f", gaps[0])) s)")
            }
        }
        let expected = constant ? interval.map { Int((sa.videoDuration / $0).rounded()) } : nil
        if let e = expected, abs(sb.videoFrames - e) > 1 {
            problems.append(
                "\(sb.videoFrames) output frames, \(e) expected for the source's \(String(format: "%.3f", sa.videoDuration)) s"
            )
        }
        let frame = interval ?? 0.04
        if abs(sb.videoDuration - sa.videoDuration) > frame + 1e-6 {
            problems.append(
                String(format: "picture lasts %.3f s, the source %.3f s", sb.videoDuration, sa.videoDuration))
        }
        if let s0 = sa.offsetAtStart, let s1 = sb.offsetAtStart, abs(s1 - s0) > tolerance {
            problems.append(
                String(
                    format: "sound moved against the picture at the start: offset %+.3f s, the source %+.3f s", s1, s0))
        }
        if let e0 = sa.offsetAtEnd, let e1 = sb.offsetAtEnd,
            abs(e1 - e0) > frame + tolerance + (part == nil ? 0 : tolerance)
        {
            problems.append(String(format: "sound and picture end apart: offset %+.3f s, the source %+.3f s", e1, e0))
        }
        if sa.audioStart != nil && sb.audioStart == nil { problems.append("the output has no sound; the source has") }
        return TimingAudit(
            input: sa, output: sb, outputFrameInterval: constant ? interval : nil, expectedFrames: expected,
            gaps: gaps, problems: problems)
    }

    static func side(_ t: PacketTimes, _ path: String) throws -> Side? {
        guard let v = t.streams.first(where: { $0.kind == .video && !$0.times.isEmpty }), let v0 = v.first,
            let v1 = v.end
        else { return nil }
        let a = t.streams.first { $0.kind == .audio && !$0.times.isEmpty }
        // Times from the container's start, as a restore writes them.
        return Side(
            videoFrames: v.times.count, videoStart: v0 - t.startTime, videoEnd: v1 - t.startTime,
            audioStart: a?.first.map { $0 - t.startTime }, audioEnd: a?.end.map { $0 - t.startTime })
    }
}
