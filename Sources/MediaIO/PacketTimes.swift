import CFFmpeg
import FilmCore

/// The presentation times of every packet of a file's streams, read without decoding (fast even for
/// a feature film): what a timing audit needs.
public struct PacketTimes: Sendable {
    public struct Stream: Sendable {
        public var index: Int
        public var kind: MediaInfo.Stream.Kind
        /// Every packet's presentation time in seconds, sorted (from the file's zero, not its start).
        public var times: [Double]
        /// The last packet's time plus its duration.
        public var end: Double?
        /// The stream's declared frame rate (video).
        public var frameRate: Rational?
        public var first: Double? { times.first }
    }
    public var streams: [Stream]
    /// The container's start time (what a restore subtracts from every stream).
    public var startTime: Double

    public static func scan(path: String) throws -> PacketTimes {
        let input = try FormatInput(path: path)
        let info = MediaReader.describe(input)
        var times = [[Double]](repeating: [], count: input.streamCount)
        var ends = [Double?](repeating: nil, count: input.streamCount)
        let packet = try PacketBox()
        let p = packet.pointer
        while true {
            let r = av_read_frame(input.pointer, p)
            if r == AVERROR_EOF_ { break }
            try check(r, "av_read_frame", path)
            defer { av_packet_unref(p) }
            let i = Int(p.pointee.stream_index)
            guard i < times.count, p.pointee.pts != AV_NOPTS, let tb = rationalOf(input.stream(i).pointee.time_base)
            else { continue }
            let t = (Rational(p.pointee.pts) * tb).doubleValue
            times[i].append(t)
            let e = t + (Rational(max(0, p.pointee.duration)) * tb).doubleValue
            ends[i] = max(ends[i] ?? e, e)
        }
        let streams = info.streams.map { s in
            Stream(
                index: s.index, kind: s.kind, times: times[s.index].sorted(), end: ends[s.index], frameRate: s.frameRate
            )
        }
        return PacketTimes(streams: streams, startTime: info.startTime)
    }
}
