import CFFmpeg
import FilmCore

/// Joins video-only segment files (written by `MediaWriter` into .nut files with the same encoder
/// settings) into one file without re-encoding, and muxes the source's audio, subtitles, metadata
/// and chapters once, as a single-pass restore would.
public enum SegmentJoiner {
    /// What was found in each segment: packets and the presentation span they cover (seconds).
    public struct Segment: Sendable {
        public var path: String
        public var frames: Int
        public var firstPts: Rational?
        public var end: Rational?
    }

    public struct Report: Sendable {
        public var segments: [Segment]
        public var copiedStreams: [Int]
        public var skippedStreams: [String]
    }

    /// - Parameters:
    ///   - path: the file written (a temporary name; the caller renames it when done).
    ///   - containerFor: the name whose extension chooses the container.
    ///   - copyFrom: the source whose audio, subtitles, metadata and chapters are copied.
    ///   - startOffset: what the reader subtracted from every video timestamp (seconds).
    ///   - span: copy the sound from 0 to this time only (a part of a film).
    /// - segments: each file with the time its first frame was written at: containers may shift a
    ///   file's timestamps (NUT makes a stream with B-frames start at a non-negative decode time),
    ///   so each segment is put back at its own time.
    public static func join(
        segments: [(path: String, firstPts: Rational?)], to path: String, containerFor: String,
        copyFrom source: String?,
        startOffset: Rational = .zero, span: Rational? = nil, metadata: [String: String] = [:], colorTags: [Int]? = nil
    ) throws -> Report {
        guard let firstPath = segments.first?.path else { throw MediaError.invalidArgument("no segments to join") }
        guard let ofmt = av_guess_format(nil, containerFor, nil) else {
            throw MediaError.invalidArgument("\(containerFor): unknown output container (use .mkv, .mp4 or .mov)")
        }
        let output = try OutputContext(format: ofmt, path: path, containerFor: containerFor)
        let oc = output.pointer
        let first = try FormatInput(path: firstPath)
        guard first.streamCount == 1, first.stream(0).pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_VIDEO else {
            throw MediaError.invalidArgument("\(firstPath): not a segment file (one video stream expected)")
        }
        let ref = first.stream(0)
        let codecName = String(cString: avcodec_get_name(ref.pointee.codecpar.pointee.codec_id))
        guard MediaWriter.canStore(ref.pointee.codecpar.pointee.codec_id, in: ofmt, containerFor) else {
            throw MediaError.unsupported(
                "\(codecName) cannot be stored in a .\(MediaWriter.ext(containerFor)) file; use .mkv")
        }
        guard let vst = avformat_new_stream(oc, nil) else { throw MediaError.io("avformat_new_stream failed") }
        try check(avcodec_parameters_copy(vst.pointee.codecpar, ref.pointee.codecpar), "avcodec_parameters_copy")
        vst.pointee.codecpar.pointee.codec_tag = 0
        if let t = colorTags, t.count == 4 {
            // NUT keeps no color tags: the writer's, recorded with the segments.
            let par = vst.pointee.codecpar!
            par.pointee.color_space = AVColorSpace(rawValue: UInt32(t[0]))
            par.pointee.color_range = AVColorRange(rawValue: UInt32(t[1]))
            par.pointee.color_primaries = AVColorPrimaries(rawValue: UInt32(t[2]))
            par.pointee.color_trc = AVColorTransferCharacteristic(rawValue: UInt32(t[3]))
        }
        vst.pointee.time_base = ref.pointee.time_base
        vst.pointee.avg_frame_rate = ref.pointee.avg_frame_rate
        vst.pointee.r_frame_rate = ref.pointee.r_frame_rate
        vst.pointee.sample_aspect_ratio = ref.pointee.codecpar.pointee.sample_aspect_ratio
        let side = try source.map {
            try SideStreams(source: $0, output: oc, containerFor: containerFor, startOffset: startOffset, span: span)
        }
        for (k, v) in metadata { av_dict_set(&oc.pointee.metadata, k, v, 0) }
        try output.writeHeader()

        let packet = try PacketBox()
        let p = packet.pointer
        var found: [Segment] = []
        var lastDts = Int64.min
        for (n, (segPath, written)) in segments.enumerated() {
            let input = n == 0 ? first : try FormatInput(path: segPath)
            guard input.streamCount == 1 else {
                throw MediaError.invalidArgument("\(segPath): not a segment file (one video stream expected)")
            }
            let ist = input.stream(0)
            try Self.checkSame(ist.pointee.codecpar, ref.pointee.codecpar, segPath)
            let tb = rationalOf(ist.pointee.time_base) ?? Rational(1, 90000)
            var seg = Segment(path: segPath, frames: 0, firstPts: nil, end: nil)
            var shift: Int64? = nil  // in the segment's time base
            // Containers such as NUT store no decode time for the first packets of a stream with
            // B-frames (the demuxer derives it once the reorder delay is known): those packets wait
            // here until a packet with a decode time comes, and get one frame duration less each.
            var waiting: [PacketBox] = []
            let write: (UnsafeMutablePointer<AVPacket>) throws -> Void = { q in
                let dts = q.pointee.dts != AV_NOPTS ? q.pointee.dts : q.pointee.pts
                try side?.pump(until: Rational(dts) * tb + Rational(1))
                q.pointee.stream_index = vst.pointee.index
                q.pointee.pos = -1
                av_packet_rescale_ts(q, ist.pointee.time_base, vst.pointee.time_base)
                if q.pointee.dts != AV_NOPTS {
                    guard q.pointee.dts > lastDts else {
                        throw MediaError.invalidArgument(
                            "\(segPath): its packets overlap the previous segment's (decode time not increasing)")
                    }
                    lastDts = q.pointee.dts
                }
                // av_interleaved_write_frame takes the packet's reference.
                try check(av_interleaved_write_frame(oc, q), "av_interleaved_write_frame", segPath)
            }
            let release: () throws -> Void = {
                guard !waiting.isEmpty else { return }
                for (k, w) in waiting.enumerated() {
                    let q = w.pointer
                    if q.pointee.dts == AV_NOPTS, p.pointee.dts != AV_NOPTS {
                        var d = p.pointee.dts
                        for later in waiting[k...] { d -= max(1, later.pointer.pointee.duration) }
                        q.pointee.dts = min(d, q.pointee.pts)
                    }
                    try write(q)
                }
                waiting.removeAll()
            }
            while true {
                let r = av_read_frame(input.pointer, p)
                if r == AVERROR_EOF_ { break }
                try check(r, "av_read_frame", segPath)
                defer { av_packet_unref(p) }
                guard p.pointee.stream_index == 0 else { continue }
                if p.pointee.flags & AV_PKT_FLAG_CORRUPT != 0 { throw MediaError.io("\(segPath): corrupt packet") }
                if shift == nil {
                    // The first packet (a keyframe opening a closed GOP) is the first frame shown.
                    shift = written.map { w in p.pointee.pts == AV_NOPTS ? 0 : (w / tb).rounded - p.pointee.pts } ?? 0
                }
                if let d = shift, d != 0 {
                    if p.pointee.pts != AV_NOPTS { p.pointee.pts += d }
                    if p.pointee.dts != AV_NOPTS { p.pointee.dts += d }
                }
                if p.pointee.pts != AV_NOPTS {
                    let pts = Rational(p.pointee.pts) * tb
                    let end = pts + Rational(max(p.pointee.duration, 0)) * tb
                    if seg.firstPts.map({ pts < $0 }) ?? true { seg.firstPts = pts }
                    if seg.end.map({ end > $0 }) ?? true { seg.end = end }
                }
                seg.frames += 1
                if p.pointee.dts == AV_NOPTS && p.pointee.pts != AV_NOPTS && waiting.count < 64 {
                    let held = try PacketBox()
                    av_packet_move_ref(held.pointer, p)
                    waiting.append(held)
                    continue
                }
                try release()
                try write(p)
            }
            if !waiting.isEmpty {
                // No packet with a decode time at all: intra-only, decode order is display order.
                for w in waiting { w.pointer.pointee.dts = w.pointer.pointee.pts }
                try release()
            }
            found.append(seg)
        }
        try side?.pump(until: nil)
        try output.finish()
        return Report(
            segments: found, copiedStreams: side?.copied ?? [],
            skippedStreams: side?.skipped.map { "#\($0.index): \($0.reason)" } ?? [])
    }

    /// Segments must have been encoded alike: same codec, size, pixel format and codec headers.
    static func checkSame(
        _ a: UnsafeMutablePointer<AVCodecParameters>, _ b: UnsafeMutablePointer<AVCodecParameters>, _ path: String
    ) throws {
        let pa = a.pointee, pb = b.pointee
        var why: String? = nil
        if pa.codec_id != pb.codec_id {
            why =
                "codec \(String(cString: avcodec_get_name(pa.codec_id))) vs \(String(cString: avcodec_get_name(pb.codec_id)))"
        } else if pa.width != pb.width || pa.height != pb.height {
            why = "size \(pa.width)x\(pa.height) vs \(pb.width)x\(pb.height)"
        } else if pa.format != pb.format {
            why = "pixel format"
        } else if pa.extradata_size != pb.extradata_size
            || (pa.extradata_size > 0 && memcmp(pa.extradata, pb.extradata, Int(pa.extradata_size)) != 0)
        {
            why = "codec headers (encoder settings)"
        }
        if let w = why {
            throw MediaError.invalidArgument(
                "\(path) was encoded differently from the first segment (\(w)); it cannot be joined without re-encoding"
            )
        }
    }
}
