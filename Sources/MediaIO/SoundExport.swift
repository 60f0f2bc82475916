import CFFmpeg
import FilmCore

/// The sound of a film as a PCM WAV file beside a picture sequence (what a conform or a sound
/// studio takes with a DPX/TIFF reel): the source's first audio stream decoded and written sample
/// for sample, starting exactly at the first picture (silence where the sound starts later, the
/// samples before it dropped) and ending with the pictures.
///
/// Integer sound keeps its depth (16, 24 or 32 bits); decoded float sound (AAC, Opus, MP3…) is
/// written as 24-bit integers, the archive's usual deliverable. Files past 4 GiB become RF64.
public enum SoundExport {
    public struct Result: Sendable, Equatable {
        public var sampleRate: Int
        public var channels: Int
        public var bitsPerSample: Int
        public var samples: Int64
        /// Samples of silence put before the sound, where it starts after the first picture.
        public var paddedSamples: Int64
        public var sourceStream: Int
    }

    /// Writes the first audio stream of `source` from `start` (seconds on the source's clock) for
    /// `duration` seconds (nil: to its end) into `path` as WAV. Nil when the source has no sound.
    public static func writeWAV(from source: String, to path: String, start: Rational, duration: Rational?) throws
        -> Result?
    {
        let input = try FormatInput(path: source)
        var index = -1
        for i in 0..<input.streamCount where input.stream(i).pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_AUDIO {
            index = i
            break
        }
        guard index >= 0 else { return nil }
        let ist = input.stream(index)
        let par = ist.pointee.codecpar!
        guard let codec = avcodec_find_decoder(par.pointee.codec_id) else {
            throw MediaError.unsupported(
                "audio stream #\(index): no decoder for \(String(cString: avcodec_get_name(par.pointee.codec_id)))")
        }
        let dec = try CodecContext(codec: codec)
        try check(avcodec_parameters_to_context(dec.pointer, par), "avcodec_parameters_to_context", source)
        dec.pointer.pointee.pkt_timebase = ist.pointee.time_base
        try check(avcodec_open2(dec.pointer, codec, nil), "avcodec_open2", "audio stream #\(index)")
        let rate = Int(dec.pointer.pointee.sample_rate)
        let channels = Int(dec.pointer.pointee.ch_layout.nb_channels)
        guard rate > 0, (1...64).contains(channels) else {
            throw MediaError.invalidArgument(
                "audio stream #\(index): \(rate) Hz, \(channels) channels cannot be written as WAV")
        }
        // Integer sound keeps its depth; float sound becomes 24-bit.
        let fmt = av_get_packed_sample_fmt(dec.pointer.pointee.sample_fmt)
        let bits: Int, pcm: AVCodecID
        switch fmt {
        case AV_SAMPLE_FMT_U8, AV_SAMPLE_FMT_S16:
            bits = 16
            pcm = AV_CODEC_ID_PCM_S16LE
        case AV_SAMPLE_FMT_S32
        where dec.pointer.pointee.bits_per_raw_sample == 24 || par.pointee.bits_per_raw_sample == 24:
            bits = 24
            pcm = AV_CODEC_ID_PCM_S24LE
        case AV_SAMPLE_FMT_S32, AV_SAMPLE_FMT_S64:
            bits = 32
            pcm = AV_CODEC_ID_PCM_S32LE
        default:
            bits = 24
            pcm = AV_CODEC_ID_PCM_S24LE
        }
        // A part of the film: start reading a second early.
        if start > Rational(2) {
            let us = ((start - Rational(1)) * Rational(Int64(AV_TIME_BASE))).floor
            _ = av_seek_frame(input.pointer, -1, us, AVSEEK_FLAG_BACKWARD)
            avcodec_flush_buffers(dec.pointer)
        }

        let output = try OutputContext(format: av_guess_format("wav", nil, nil), path: path, containerFor: "x.wav")
        guard let ost = avformat_new_stream(output.pointer, nil) else {
            throw MediaError.io("avformat_new_stream failed")
        }
        let op = ost.pointee.codecpar!
        op.pointee.codec_type = AVMEDIA_TYPE_AUDIO
        op.pointee.codec_id = pcm
        op.pointee.sample_rate = Int32(rate)
        try check(
            av_channel_layout_copy(&op.pointee.ch_layout, &dec.pointer.pointee.ch_layout), "av_channel_layout_copy")
        op.pointee.bits_per_coded_sample = Int32(bits)
        op.pointee.block_align = Int32(channels * bits / 8)
        op.pointee.bit_rate = Int64(rate * channels * bits)
        ost.pointee.time_base = AVRational(num: 1, den: Int32(rate))
        av_dict_set(
            &output.pointer.pointee.metadata, "comment",
            "sound of the pictures, from audio stream #\(index), first sample at the first picture", 0)
        try output.writeHeader(options: ["rf64": "auto"])

        let tb = rationalOf(ist.pointee.time_base) ?? Rational(1, Int64(rate))
        let limit: Int64? = duration.map { ($0 * Rational(Int64(rate))).rounded }
        var written: Int64 = 0, padded: Int64 = 0
        let bytesPerSample = bits / 8
        let packet = try PacketBox(), frame = try FrameBox(), out = try PacketBox()
        var finished = false
        var expected: Int64?

        /// Writes `count` samples from `frame` beginning at sample `from` (nil frame: silence).
        func emit(_ f: UnsafeMutablePointer<AVFrame>?, from: Int, count: Int) throws {
            guard count > 0 else { return }
            let o = out.pointer
            try check(av_new_packet(o, Int32(count * channels * bytesPerSample)), "av_new_packet")
            let dst = o.pointee.data!
            if let f = f {
                let planar = av_sample_fmt_is_planar(AVSampleFormat(rawValue: f.pointee.format)) != 0
                let srcFmt = av_get_packed_sample_fmt(AVSampleFormat(rawValue: f.pointee.format))
                let srcBytes = Int(av_get_bytes_per_sample(srcFmt))
                var d = 0
                for s in from..<(from + count) {
                    for ch in 0..<channels {
                        // extended_data: a planar frame of more than 8 channels keeps the rest there.
                        let base = f.pointee.extended_data[planar ? ch : 0]
                        // in [-1, 1) as a 32-bit integer scale
                        let v = base.map { Self.sample($0 + (planar ? s : s * channels + ch) * srcBytes, srcFmt) } ?? 0
                        Self.store(v, bits: bits, to: dst + d)
                        d += bytesPerSample
                    }
                }
            } else {
                dst.initialize(repeating: 0, count: count * channels * bytesPerSample)
            }
            o.pointee.stream_index = 0
            o.pointee.pts = written
            o.pointee.dts = written
            o.pointee.duration = Int64(count)
            written += Int64(count)
            av_packet_rescale_ts(o, AVRational(num: 1, den: Int32(rate)), ost.pointee.time_base)
            try check(av_interleaved_write_frame(output.pointer, o), "av_interleaved_write_frame", path)
        }

        func take(_ f: UnsafeMutablePointer<AVFrame>) throws {
            let n = Int(f.pointee.nb_samples)
            guard n > 0, !finished else { return }
            // Where this frame's first sample falls, counted from the first picture.
            var at = written
            let pts = f.pointee.best_effort_timestamp
            if pts != AV_NOPTS { at = ((Rational(pts) * tb - start) * Rational(Int64(rate))).rounded }
            // The sound is continuous from its first decoded frame: timestamps rounded by the
            // container (Matroska's milliseconds) are not gaps; only a jump of more than 20 ms is.
            if let e = expected, abs(at - e) <= Int64(rate / 50) { at = e }
            expected = at + Int64(n)
            var from = 0
            if at > written {
                // The sound starts (or resumes) later: silence up to it (more than a second is a gap in the source, kept).
                let gap = at - written
                if written == 0 { padded += gap }
                var left = limit.map { min(gap, $0 - written) } ?? gap
                while left > 0 {
                    let k = Int(min(left, Int64(rate)))
                    try emit(nil, from: 0, count: k)
                    left -= Int64(k)
                }
            } else if at < written {
                from = Int(min(Int64(n), written - at))  // before the first picture, or overlapping: dropped
            }
            var count = n - from
            if let l = limit { count = Int(max(0, min(Int64(count), l - written))) }
            try emit(f, from: from, count: count)
            if let l = limit, written >= l { finished = true }
        }

        func receive() throws {
            while true {
                let r = avcodec_receive_frame(dec.pointer, frame.pointer)
                if r == AVERROR_EAGAIN_ || r == AVERROR_EOF_ { return }
                try check(r, "avcodec_receive_frame", "audio stream #\(index)")
                try take(frame.pointer)
                av_frame_unref(frame.pointer)
            }
        }

        while !finished {
            let r = av_read_frame(input.pointer, packet.pointer)
            if r == AVERROR_EOF_ { break }
            try check(r, "av_read_frame", source)
            defer { av_packet_unref(packet.pointer) }
            guard packet.pointer.pointee.stream_index == Int32(index) else { continue }
            let s = avcodec_send_packet(dec.pointer, packet.pointer)
            if s < 0 && s != AVERROR_EAGAIN_ { continue }  // a damaged packet: the decoder resynchronises
            try receive()
        }
        if !finished {
            _ = avcodec_send_packet(dec.pointer, nil)
            try receive()
        }
        // Sound that ends before the pictures is not stretched: the file is as long as the sound.
        try output.finish()
        return Result(
            sampleRate: rate, channels: channels, bitsPerSample: bits, samples: written, paddedSamples: padded,
            sourceStream: index)
    }

    /// A sample as a signed 32-bit-scale integer (full scale ±2^31).
    static func sample(_ p: UnsafeMutablePointer<UInt8>, _ fmt: AVSampleFormat) -> Int64 {
        switch fmt {
        case AV_SAMPLE_FMT_U8: return (Int64(p.pointee) - 128) << 24
        case AV_SAMPLE_FMT_S16: return Int64(p.withMemoryRebound(to: Int16.self, capacity: 1) { $0.pointee }) << 16
        case AV_SAMPLE_FMT_S32: return Int64(p.withMemoryRebound(to: Int32.self, capacity: 1) { $0.pointee })
        case AV_SAMPLE_FMT_S64: return p.withMemoryRebound(to: Int64.self, capacity: 1) { $0.pointee } >> 32
        case AV_SAMPLE_FMT_FLT: return scaled(Double(p.withMemoryRebound(to: Float.self, capacity: 1) { $0.pointee }))
        case AV_SAMPLE_FMT_DBL: return scaled(p.withMemoryRebound(to: Double.self, capacity: 1) { $0.pointee })
        default: return 0
        }
    }

    static func scaled(_ x: Double) -> Int64 {
        guard x.isFinite else { return 0 }
        return Int64((min(max(x, -1), 1) * 2147483648).rounded())
    }

    /// Stores a 32-bit-scale sample as little-endian PCM of `bits` (rounded, clipped).
    static func store(_ v: Int64, bits: Int, to p: UnsafeMutablePointer<UInt8>) {
        let shift = Int64(32 - bits)
        let maxV = (Int64(1) << (bits - 1)) - 1, minV = -(Int64(1) << (bits - 1))
        var q = shift == 0 ? v : (v + (Int64(1) << (shift - 1))) >> shift
        q = min(max(q, minV), maxV)
        for b in 0..<(bits / 8) { p[b] = UInt8(truncatingIfNeeded: q >> (8 * Int64(b))) }
    }
}
