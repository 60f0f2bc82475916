import CFFmpeg

// Owned FFmpeg objects. Each class frees its object in deinit; nothing here is public, and no
// pointer borrowed from an owner (an AVStream inside a format context) is stored beyond the owner.

final class FormatInput {
    var ctx: UnsafeMutablePointer<AVFormatContext>?
    let path: String

    /// A file, or a picture sequence (a folder or a printf pattern: `ImageSequence`), opened with
    /// FFmpeg's image2 demuxer at its first number and rate (`sequenceRate`, else the sequence's own).
    init(path: String, sequenceRate: Rational? = nil) throws {
        self.path = path
        var c: UnsafeMutablePointer<AVFormatContext>? = nil
        if let seq = try ImageSequence.detect(path, rate: sequenceRate) {
            var opts: OpaquePointer? = nil
            defer { av_dict_free(&opts) }
            av_dict_set(&opts, "start_number", String(seq.firstNumber), 0)
            av_dict_set(&opts, "framerate", "\(seq.rate.num)/\(seq.rate.den)", 0)
            av_dict_set(&opts, "pattern_type", "sequence", 0)
            try check(
                avformat_open_input(&c, seq.pattern, av_find_input_format("image2"), &opts), "avformat_open_input", path
            )
        } else {
            try check(avformat_open_input(&c, path, nil, nil), "avformat_open_input", path)
        }
        ctx = c
        try check(avformat_find_stream_info(c, nil), "avformat_find_stream_info", path)
    }

    var pointer: UnsafeMutablePointer<AVFormatContext> { ctx! }

    func stream(_ i: Int) -> UnsafeMutablePointer<AVStream> { pointer.pointee.streams[i]! }
    var streamCount: Int { Int(pointer.pointee.nb_streams) }

    deinit { if ctx != nil { avformat_close_input(&ctx) } }
}

final class CodecContext {
    var ctx: UnsafeMutablePointer<AVCodecContext>?
    init(codec: UnsafePointer<AVCodec>?) throws {
        guard let c = avcodec_alloc_context3(codec) else {
            throw MediaError.ffmpeg(
                call: "avcodec_alloc_context3", code: fr_averror(ENOMEM), reason: "out of memory", context: "")
        }
        ctx = c
    }
    var pointer: UnsafeMutablePointer<AVCodecContext> { ctx! }
    /// For encoders: frames sent, and whether end-of-stream was sent.
    var framesSent = 0
    var flushed = false

    deinit {
        // An encoder freed without end-of-stream (a write that failed after it was opened) can wait
        // for it forever, and one given end-of-stream before any frame waits for a packet forever
        // (SVT-AV1 1.4 does both): give it a blank frame if it had none, end the stream, drain.
        if let c = ctx, !flushed, avcodec_is_open(c) != 0, av_codec_is_encoder(c.pointee.codec) != 0,
            let pkt = try? PacketBox()
        {
            if framesSent == 0, let blank = try? FrameBox() {
                let f = blank.pointer
                f.pointee.width = c.pointee.width
                f.pointee.height = c.pointee.height
                f.pointee.format = c.pointee.pix_fmt.rawValue
                f.pointee.pts = 0
                // Its contents do not matter: the packets are dropped.
                if av_frame_get_buffer(f, 0) >= 0 { _ = avcodec_send_frame(c, f) }
            }
            if avcodec_send_frame(c, nil) >= 0 {
                while avcodec_receive_packet(c, pkt.pointer) >= 0 { av_packet_unref(pkt.pointer) }
            }
        }
        avcodec_free_context(&ctx)
    }
}

final class FrameBox {
    var frame: UnsafeMutablePointer<AVFrame>?
    init() throws {
        guard let f = av_frame_alloc() else { throw MediaError.io("av_frame_alloc failed: out of memory") }
        frame = f
    }
    var pointer: UnsafeMutablePointer<AVFrame> { frame! }
    deinit { av_frame_free(&frame) }
}

/// A decoded picture kept as the decoder gave it (a reference to its buffers), for a chain that
/// changes no picture: the writer encodes it as it is, bit for bit, in the source's own format.
public final class DecodedPicture: @unchecked Sendable {
    var frame: UnsafeMutablePointer<AVFrame>?
    /// FFmpeg's name of its pixel format (yuv420p, yuv422p10le, gray16le…).
    public let pixelFormat: String
    public let width: Int, height: Int
    /// Takes a new reference to `f`'s buffers (nil when FFmpeg cannot: out of memory).
    init?(_ f: UnsafeMutablePointer<AVFrame>) {
        guard let c = av_frame_clone(f) else { return nil }
        frame = c
        pixelFormat = pixelFormatName(AVPixelFormat(rawValue: c.pointee.format))
        width = Int(c.pointee.width)
        height = Int(c.pointee.height)
    }
    deinit { av_frame_free(&frame) }
}

final class PacketBox {
    var packet: UnsafeMutablePointer<AVPacket>?
    init() throws {
        guard let p = av_packet_alloc() else { throw MediaError.io("av_packet_alloc failed: out of memory") }
        packet = p
    }
    var pointer: UnsafeMutablePointer<AVPacket> { packet! }
    deinit { av_packet_free(&packet) }
}

final class ScalerBox {
    let ctx: OpaquePointer
    init(srcW: Int32, srcH: Int32, srcFmt: AVPixelFormat, dstW: Int32, dstH: Int32, dstFmt: AVPixelFormat) throws {
        guard
            let c = sws_getContext(
                srcW, srcH, srcFmt, dstW, dstH, dstFmt,
                SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_FULL_CHR_H_INP,
                nil, nil, nil)
        else {
            throw MediaError.unsupported(
                "sws_getContext failed: cannot convert \(pixelFormatName(srcFmt)) to \(pixelFormatName(dstFmt))")
        }
        ctx = c
    }
    deinit { sws_freeContext(ctx) }
}

func pixelFormatName(_ f: AVPixelFormat) -> String {
    guard let n = av_get_pix_fmt_name(f) else { return "pix_fmt(\(f.rawValue))" }
    return String(cString: n)
}

func rationalOf(_ q: AVRational) -> Rational? {
    guard q.den != 0, q.num != 0 else { return nil }
    return Rational(Int64(q.num), Int64(q.den))
}

/// Plane i of a frame (data[i], linesize[i]).
func planeOf(_ f: UnsafeMutablePointer<AVFrame>, _ i: Int) -> (UnsafeMutablePointer<UInt8>, Int) {
    let data = withUnsafeBytes(of: &f.pointee.data) {
        $0.load(
            fromByteOffset: i * MemoryLayout<UnsafeMutablePointer<UInt8>?>.stride, as: UnsafeMutablePointer<UInt8>?.self
        )
    }
    let line = withUnsafeBytes(of: &f.pointee.linesize) {
        $0.load(fromByteOffset: i * MemoryLayout<Int32>.stride, as: Int32.self)
    }
    return (data!, Int(line))
}

import FilmCore

/// An output file being muxed: owns the format context and its file, writes header and trailer.
final class OutputContext {
    private var ctx: UnsafeMutablePointer<AVFormatContext>?
    private let format: UnsafePointer<AVOutputFormat>
    private let path: String, containerFor: String
    private var ioOpen = false, finished = false

    init(format: UnsafePointer<AVOutputFormat>, path: String, containerFor: String) throws {
        self.format = format
        self.path = path
        self.containerFor = containerFor
        var c: UnsafeMutablePointer<AVFormatContext>? = nil
        try check(avformat_alloc_output_context2(&c, format, nil, path), "avformat_alloc_output_context2", containerFor)
        ctx = c
    }

    var pointer: UnsafeMutablePointer<AVFormatContext> { ctx! }

    /// Opens the file (unless the format needs none) and writes the header: MP4/MOV with the index at
    /// the front and every global tag kept (the provenance), still pictures as one file.
    func writeHeader(options: [String: String] = [:]) throws {
        if format.pointee.flags & AVFMT_NOFILE == 0 {
            var pb: UnsafeMutablePointer<AVIOContext>? = nil
            try check(avio_open(&pb, path, AVIO_FLAG_WRITE), "avio_open", path)
            pointer.pointee.pb = pb
            ioOpen = true
        }
        var opts: OpaquePointer? = nil
        defer { av_dict_free(&opts) }
        let ext = MediaWriter.ext(containerFor)
        if ext == "mp4" || ext == "mov" { av_dict_set(&opts, "movflags", "+faststart+use_metadata_tags", 0) }
        if MediaWriter.isImage(containerFor) { av_dict_set(&opts, "update", "1", 0) }  // one picture, one file
        for (k, v) in options { av_dict_set(&opts, k, v, 0) }
        try check(avformat_write_header(ctx, &opts), "avformat_write_header", containerFor)
    }

    func finish() throws {
        guard !finished else { return }
        finished = true
        try check(av_write_trailer(ctx), "av_write_trailer")
        if ioOpen {
            avio_closep(&ctx!.pointee.pb)
            ioOpen = false
        }
    }

    deinit {
        if ioOpen { avio_closep(&ctx!.pointee.pb) }
        avformat_free_context(ctx)
    }
}
