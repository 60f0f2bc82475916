import CFFmpeg
import FilmCore

/// The audio and subtitle streams of a source, copied packet for packet into an output that is
/// being written, with the source's global metadata and chapters. A second demuxer of its own reads
/// the source; `pump(until:)` copies packets up to a time as the video is written, so nothing
/// accumulates however long the film is.
///
/// The output context is borrowed from the writer that owns this object (and outlives it).
final class SideStreams {
    private let input: FormatInput
    private let output: UnsafeMutablePointer<AVFormatContext>
    private var map: [Int32: Int32] = [:]
    private let packet: PacketBox
    private var pending = false
    private var done = false
    private let startOffset: Rational
    private let span: Rational?
    private(set) var copied: [Int] = []
    private(set) var skipped: [(index: Int, reason: String)] = []

    /// Adds the output streams (call before the header is written).
    /// - startOffset: what the reader subtracted from every video timestamp (seconds).
    /// - span: copy only packets from 0 to this time after the shift (a part of a film); nil: all.
    init(
        source: String, output ctx: UnsafeMutablePointer<AVFormatContext>, containerFor: String, startOffset: Rational,
        span: Rational? = nil
    ) throws {
        input = try FormatInput(path: source)
        output = ctx
        self.startOffset = startOffset
        self.span = span
        if startOffset > Rational(2) {
            // A part deep in the film: start reading the sound a second before it.
            let us = ((startOffset - Rational(1)) * Rational(Int64(AV_TIME_BASE))).floor
            _ = av_seek_frame(input.pointer, -1, us, AVSEEK_FLAG_BACKWARD)
        }
        packet = try PacketBox()
        let ofmt = ctx.pointee.oformat!
        av_dict_copy(&ctx.pointee.metadata, input.pointer.pointee.metadata, 0)
        let restored = MediaReader.describe(input).bestVideoStream
        for i in 0..<input.streamCount {
            let ist = input.stream(i)
            let par = ist.pointee.codecpar!
            let type = par.pointee.codec_type
            let name = String(cString: avcodec_get_name(par.pointee.codec_id))
            guard type == AVMEDIA_TYPE_AUDIO || type == AVMEDIA_TYPE_SUBTITLE else {
                // Nothing is dropped without a word: every stream not restored nor copied is named.
                if i == restored { continue }
                if type == AVMEDIA_TYPE_VIDEO && ist.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC != 0 {
                    skipped.append((i, "cover art (\(name) picture) not copied"))
                } else if type == AVMEDIA_TYPE_VIDEO {
                    skipped.append(
                        (
                            i,
                            "a second video stream (\(name)) is neither restored nor copied: only stream #\(restored ?? 0) is restored"
                        ))
                } else {
                    skipped.append(
                        (i, "\(type == AVMEDIA_TYPE_ATTACHMENT ? "attachment" : "data") stream (\(name)) not copied"))
                }
                continue
            }
            if avformat_query_codec(ofmt, par.pointee.codec_id, FF_COMPLIANCE_NORMAL) == 0 {
                if type == AVMEDIA_TYPE_AUDIO {
                    throw MediaError.unsupported(
                        "audio stream #\(i) (\(name)) cannot be copied into a .\(MediaWriter.ext(containerFor)) file; use .mkv or .mov"
                    )
                }
                skipped.append((i, "subtitle codec \(name) cannot be stored in .\(MediaWriter.ext(containerFor))"))
                continue
            }
            guard let ost = avformat_new_stream(ctx, nil) else { throw MediaError.io("avformat_new_stream failed") }
            try check(avcodec_parameters_copy(ost.pointee.codecpar, par), "avcodec_parameters_copy")
            ost.pointee.codecpar.pointee.codec_tag = 0
            ost.pointee.time_base = ist.pointee.time_base
            ost.pointee.disposition = ist.pointee.disposition
            av_dict_copy(&ost.pointee.metadata, ist.pointee.metadata, 0)
            map[Int32(i)] = ost.pointee.index
            copied.append(i)
        }
        let offUs = (startOffset * Rational(Int64(AV_TIME_BASE))).rounded
        try check(fr_copy_chapters(ctx, input.pointer, offUs), "copying chapters")
    }

    /// Copies source packets of the mapped streams whose time is ≤ `until` seconds (all of them when nil).
    func pump(until: Rational?) throws {
        guard !done else { return }
        let p = packet.pointer
        while true {
            if !pending {
                let r = av_read_frame(input.pointer, p)
                if r == AVERROR_EOF_ {
                    done = true
                    return
                }
                try check(r, "av_read_frame", input.path)
                guard map[p.pointee.stream_index] != nil else {
                    av_packet_unref(p)
                    continue
                }
                pending = true
            }
            let ist = input.stream(Int(p.pointee.stream_index))
            let tb = rationalOf(ist.pointee.time_base) ?? Rational(1, 1000)
            let ts = p.pointee.dts != AV_NOPTS ? p.pointee.dts : p.pointee.pts
            if let limit = until, ts != AV_NOPTS, Rational(ts) * tb - startOffset > limit { return }
            if let end = span, ts != AV_NOPTS {
                // A part of a film: packets outside [0, end) after the shift are not copied.
                let t = Rational(ts) * tb - startOffset
                if t >= end {
                    done = true
                    pending = false
                    av_packet_unref(p)
                    return
                }
                if t < .zero {
                    pending = false
                    av_packet_unref(p)
                    continue
                }
            }
            let out = map[p.pointee.stream_index]!
            let shift = (startOffset / tb).rounded
            if p.pointee.pts != AV_NOPTS { p.pointee.pts -= shift }
            if p.pointee.dts != AV_NOPTS { p.pointee.dts -= shift }
            p.pointee.stream_index = out
            p.pointee.pos = -1
            av_packet_rescale_ts(p, ist.pointee.time_base, output.pointee.streams[Int(out)]!.pointee.time_base)
            pending = false
            // takes the packet's reference
            try check(av_interleaved_write_frame(output, p), "av_interleaved_write_frame")
        }
    }
}
