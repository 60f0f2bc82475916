import CFFmpeg
import FilmCore

/// Encodes float frames and muxes them, together with every audio stream (and the subtitle streams
/// the container can hold) copied packet for packet from the source, plus the source's metadata and
/// chapters.
///
/// Audio is read from the source by a second demuxer of its own and interleaved as video packets
/// are written, so nothing accumulates however long the film is.
public final class MediaWriter {
    public let path: String
    public let outputColor: ColorMetadata
    public let pixelFormat: String
    /// The output's color tags: matrix, range, primaries, transfer (FFmpeg's codes), for files that
    /// are joined from segments in a container that does not store them (NUT).
    public var colorTags: [Int] {
        [outputColor.matrix.rawValue, outputColor.range.rawValue, outputColor.primaries, outputColor.transfer]
    }
    public private(set) var framesWritten = 0
    /// Video packets the encoder has given back and the muxer has taken: frames truly written (an
    /// encoder with look-ahead holds frames that `framesWritten` already counts).
    public private(set) var packetsMuxed = 0
    public var copiedStreams: [Int] { side?.copied ?? [] }
    public var skippedStreams: [(index: Int, reason: String)] { side?.skipped ?? [] }

    private let output: OutputContext
    private var oc: UnsafeMutablePointer<AVFormatContext> { output.pointer }
    private let enc: CodecContext
    private let videoStream: UnsafeMutablePointer<AVStream>
    private let encFrame: FrameBox
    private let encPacket: PacketBox
    private var picture: PictureEncoder
    private let packed: AVPixelFormat?
    private let planarRGB: Bool
    private let frameRate: Rational?
    private let encTimeBase: Rational
    private var lastPts: Int64 = Int64.min
    private var finished = false
    /// Frames that carry their decoded picture (`Frame.decoded`) in this writer's format are encoded
    /// from it as it is (a chain that changes no picture: the master is the source, bit for bit).
    private let keepDecoded: Bool
    private let passFrame: FrameBox
    /// The size every frame must have.
    private let frameSize: (width: Int, height: Int)
    /// Frames encoded from their decoded picture as it is.
    public private(set) var framesKeptAsDecoded = 0
    /// The coded size when the frames are padded to it (odd sizes in 4:2:0 or 4:2:2).
    private let padding: (width: Int, height: Int)?

    // Side streams (audio/subtitles) copied from the source.
    private var side: SideStreams?

    /// - Parameters:
    ///   - path: the file written (a temporary name; the caller renames it when done).
    ///   - containerFor: the name whose extension chooses the container (the final output name).
    ///   - stream: size, rate and layout of the frames that will be written.
    ///   - copyFrom: the source whose audio, subtitles, metadata and chapters are copied.
    ///   - startOffset: what the reader subtracted from every timestamp (seconds).
    ///   - metadata: extra global tags to write.
    ///   - sideSpan: copy only the sound and subtitles from 0 to this time (after the shift by
    ///     `startOffset`): a part of a film. Nil: everything.
    public init(
        path: String, containerFor: String, stream: StreamInfo, settings: EncoderSettings,
        copyFrom source: String?, startOffset: Rational = .zero, sideSpan: Rational? = nil,
        metadata: [String: String] = [:], keepDecodedPictures: Bool = false
    ) throws {
        self.path = path
        self.keepDecoded = keepDecodedPictures
        frameSize = (stream.width, stream.height)
        guard let ofmt = av_guess_format(nil, containerFor, nil) else {
            throw MediaError.invalidArgument("\(containerFor): unknown output container (use .mkv, .mp4 or .mov)")
        }
        output = try OutputContext(format: ofmt, path: path, containerFor: containerFor)
        let ctx = output.pointer
        guard let codec = avcodec_find_encoder_by_name(settings.codec) else {
            throw MediaError.unsupported(
                "encoder \(settings.codec) is not available in this FFmpeg build (known: \(EncoderSettings.knownCodecs.joined(separator: ", ")))"
            )
        }
        guard Self.canStore(codec.pointee.id, in: ofmt, containerFor) else {
            throw MediaError.unsupported(
                "\(settings.codec) cannot be stored in a .\(Self.ext(containerFor)) file; use .mkv\(codec.pointee.id == AV_CODEC_ID_AV1 ? " or .mp4" : Self.ext(containerFor) == "mov" ? "" : " or .mov")"
            )
        }
        let pixName = settings.pixelFormat ?? settings.defaultPixelFormat(gray: stream.layout == .gray)
        let pix = av_get_pix_fmt(pixName)
        guard pix != AV_PIX_FMT_NONE, PictureEncoder.supported(pix) || PictureEncoder.planarRGBFormats.contains(pix)
        else {
            throw MediaError.unsupported(
                "output pixel format \(pixName) is not supported (use a planar yuv or gray format such as yuv420p, yuv420p10le, yuv422p10le, yuv444p10le, gray16le)"
            )
        }
        planarRGB = PictureEncoder.planarRGBFormats.contains(pix)
        if let list = codec.pointee.pix_fmts {
            var ok = false, i = 0
            while list[i] != AV_PIX_FMT_NONE {
                if list[i] == pix { ok = true }
                i += 1
            }
            guard ok else { throw MediaError.unsupported("\(settings.codec) cannot encode \(pixName)") }
        }
        pixelFormat = pixName
        let isGrayFormat = av_pix_fmt_desc_get(pix)!.pointee.nb_components == 1
        packed = PictureEncoder.packedFormats.contains(pix) ? pix : nil
        // HD and 4K are BT.709 (converting SD primaries); SD keeps its own primaries and curve.
        var color: ColorMetadata
        if stream.height >= 720 || stream.width >= 1280 {
            color = .bt709
        } else {
            color = .bt601
            if PrimariesConversion.chromaticities(stream.color.primaries) != nil {
                color.primaries = stream.color.primaries
            }
            if stream.color.primaries == 5 { color.matrix = .bt470bg }
            if stream.color.transfer != 2 { color.transfer = stream.color.transfer }
        }
        // The source's pictures as they are: its own tags with them (an RGB or gray format's as below).
        if keepDecodedPictures {
            color = stream.color
            // Untagged Y'CbCr is limited range (as every decoder reads it): said so in the output.
            if color.range == .unspecified { color.range = .limited }
        }
        if isGrayFormat || packed != nil || pixName.hasPrefix("yuvj") { color.range = .full }
        if planarRGB {
            color.range = .full
            color.matrix = .rgb
        }
        if settings.sourceTransfer != nil { color.transfer = 2 }
        if packed != nil, !isGrayFormat { color.matrix = .rgb }
        outputColor = color

        enc = try CodecContext(codec: codec)
        let c = enc.pointer
        // Subsampled chroma needs whole chroma samples: an odd size is padded by repeating the last
        // column and row (Self.encodedSize says so before any work).
        let coded = Self.encodedSize(width: stream.width, height: stream.height, pixelFormat: pix)
        padding = coded.width != stream.width || coded.height != stream.height ? coded : nil
        c.pointee.width = Int32(coded.width)
        c.pointee.height = Int32(coded.height)
        c.pointee.pix_fmt = pix
        frameRate = stream.frameRate
        // One tick per frame, unless the picture starts off that grid (a source whose video follows
        // the sound's priming by 21 ms): then a thousandth of a frame, so the first frame keeps its
        // place against the sound (within 0.05 ms) instead of moving to the nearest whole frame.
        if let r = stream.frameRate {
            let ticks = stream.startTime * r
            let fine = r.reciprocal / Rational(1000)
            encTimeBase = ticks.den == 1 || fine.den > Int64(Int32.max) ? r.reciprocal : fine
        } else {
            encTimeBase = Rational(1, 90000)
        }
        c.pointee.time_base = AVRational(num: Int32(encTimeBase.num), den: Int32(encTimeBase.den))
        let rate = stream.frameRate ?? stream.averageRate
        c.pointee.framerate = AVRational(num: Int32(rate.num), den: Int32(rate.den))
        c.pointee.sample_aspect_ratio = AVRational(
            num: Int32(stream.sampleAspect.num), den: Int32(stream.sampleAspect.den))
        c.pointee.colorspace = AVColorSpace(rawValue: UInt32(color.matrix.rawValue))
        c.pointee.color_range = AVColorRange(rawValue: UInt32(color.range.rawValue))
        c.pointee.color_primaries = AVColorPrimaries(rawValue: UInt32(color.primaries))
        c.pointee.color_trc = AVColorTransferCharacteristic(rawValue: UInt32(color.transfer))
        c.pointee.chroma_sample_location = AVCHROMA_LOC_LEFT
        c.pointee.field_order = AV_FIELD_PROGRESSIVE
        c.pointee.thread_count = 0
        if let b = settings.bitrate { c.pointee.bit_rate = Int64(b) }
        // Segment files (.nut) always carry the codec headers out of band, so that they can be joined
        // into any container (MP4 and Matroska need them there).
        if ofmt.pointee.flags & AVFMT_GLOBALHEADER != 0 || ["nut", "mov"].contains(Self.ext(containerFor)) {
            c.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER
        }

        var opts: OpaquePointer? = nil
        defer { av_dict_free(&opts) }
        var wanted = settings.openOptions
        // Fixed quantizer (JPEG quality, 2 = best … 31), as FFmpeg's -q:v.
        if let q = wanted.removeValue(forKey: "qscale") {
            guard let v = Int32(q), (1...31).contains(v) else {
                throw MediaError.invalidArgument("qscale must be 1…31, not '\(q)'")
            }
            c.pointee.flags |= AV_CODEC_FLAG_QSCALE
            c.pointee.global_quality = v * FF_QP2LAMBDA
        }
        for (k, v) in wanted { av_dict_set(&opts, k, v, 0) }
        try check(avcodec_open2(c, codec, &opts), "avcodec_open2", settings.codec)
        if let left = av_dict_get(opts, "", nil, AV_DICT_IGNORE_SUFFIX) {
            throw MediaError.invalidArgument("\(settings.codec) has no option '\(String(cString: left.pointee.key))'")
        }

        guard let st = avformat_new_stream(ctx, nil) else { throw MediaError.io("avformat_new_stream failed") }
        videoStream = st
        try check(avcodec_parameters_from_context(st.pointee.codecpar, c), "avcodec_parameters_from_context")
        st.pointee.time_base = c.pointee.time_base
        st.pointee.avg_frame_rate = c.pointee.framerate
        st.pointee.sample_aspect_ratio = c.pointee.sample_aspect_ratio

        encFrame = try FrameBox()
        passFrame = try FrameBox()
        encFrame.pointer.pointee.width = c.pointee.width
        encFrame.pointer.pointee.height = c.pointee.height
        encFrame.pointer.pointee.format = pix.rawValue
        // On every frame too: some encoders (ProRes) write the frame's tags into the bitstream.
        encFrame.pointer.pointee.colorspace = c.pointee.colorspace
        encFrame.pointer.pointee.color_range = c.pointee.color_range
        encFrame.pointer.pointee.color_primaries = c.pointee.color_primaries
        encFrame.pointer.pointee.color_trc = c.pointee.color_trc
        try check(av_frame_get_buffer(encFrame.pointer, 0), "av_frame_get_buffer")
        encPacket = try PacketBox()
        picture = PictureEncoder(
            width: coded.width, height: coded.height, format: packed == nil && !planarRGB ? pix : AV_PIX_FMT_YUV444P,
            color: color,
            sourcePrimaries: stream.layout == .gray ? color.primaries : stream.color.primaries)

        // Side streams, metadata, chapters.
        if let source = source {
            side = try SideStreams(
                source: source, output: ctx, containerFor: containerFor, startOffset: startOffset, span: sideSpan)
        }
        for (k, v) in metadata { av_dict_set(&ctx.pointee.metadata, k, v, 0) }

        try output.writeHeader()
    }

    /// Fails at once, before any work, if `output`'s container cannot hold what `settings` encode.
    public static func checkContainer(_ settings: EncoderSettings, for output: String) throws {
        guard let ofmt = av_guess_format(nil, output, nil) else {
            throw MediaError.invalidArgument("\(output): unknown output container (use .mkv, .mp4 or .mov)")
        }
        guard let codec = avcodec_find_encoder_by_name(settings.codec) else {
            throw MediaError.unsupported(
                "encoder \(settings.codec) is not available in this FFmpeg build (known: \(EncoderSettings.knownCodecs.joined(separator: ", ")))"
            )
        }
        guard canStore(codec.pointee.id, in: ofmt, output) else {
            throw MediaError.unsupported(
                "\(settings.codec) cannot be stored in a .\(ext(output)) file; use .mkv\(codec.pointee.id == AV_CODEC_ID_AV1 ? " or .mp4" : ext(output) == "mov" ? "" : " or .mov")"
            )
        }
    }

    /// The size an encoder codes a picture of `width`×`height` at: rounded up to whole chroma samples.
    static func encodedSize(width: Int, height: Int, pixelFormat pix: AVPixelFormat) -> (width: Int, height: Int) {
        guard let d = av_pix_fmt_desc_get(pix) else { return (width, height) }
        let mw = 1 << Int(d.pointee.log2_chroma_w), mh = 1 << Int(d.pointee.log2_chroma_h)
        return ((width + mw - 1) / mw * mw, (height + mh - 1) / mh * mh)
    }

    /// Opens the encoder once with the run's settings at the output's (coded) size, as the run
    /// will, and frees it: a preset name, an option or a size the encoder refuses fails here, before
    /// any decoding. Returns a note when the picture is padded to whole chroma samples.
    /// Whether `codec` can encode pictures of `pixelFormat` as they are (and this writer could
    /// encode a float frame in that format too, should one come without its decoded picture).
    public static func canKeepDecoded(pixelFormat: String, codec name: String) -> Bool {
        let pix = av_get_pix_fmt(unJPEG(pixelFormat))
        guard pix != AV_PIX_FMT_NONE, PictureEncoder.supported(pix) || PictureEncoder.planarRGBFormats.contains(pix),
            let codec = avcodec_find_encoder_by_name(name), let list = codec.pointee.pix_fmts
        else { return false }
        var i = 0
        while list[i] != AV_PIX_FMT_NONE {
            if list[i] == pix { return true }
            i += 1
        }
        return false
    }

    /// The planar format of the same samples as a JPEG ("full range") format: yuvj420p → yuv420p
    /// (the range travels as a tag).
    public static func unJPEG(_ name: String) -> String {
        name.hasPrefix("yuvj") ? "yuv" + name.dropFirst(4) : name
    }

    public static func checkEncoder(_ settings: EncoderSettings, stream: StreamInfo) throws -> String? {
        guard let codec = avcodec_find_encoder_by_name(settings.codec) else {
            throw MediaError.unsupported(
                "encoder \(settings.codec) is not available in this FFmpeg build (known: \(EncoderSettings.knownCodecs.joined(separator: ", ")))"
            )
        }
        let pixName = settings.pixelFormat ?? settings.defaultPixelFormat(gray: stream.layout == .gray)
        let pix = av_get_pix_fmt(pixName)
        guard pix != AV_PIX_FMT_NONE,
            PictureEncoder.supported(pix) || PictureEncoder.packedFormats.contains(pix)
                || PictureEncoder.planarRGBFormats.contains(pix)
        else {
            throw MediaError.unsupported(
                "output pixel format \(pixName) is not supported (use a planar yuv or gray format such as yuv420p, yuv420p10le, yuv422p10le, yuv444p10le, gray16le)"
            )
        }
        let coded = encodedSize(width: stream.width, height: stream.height, pixelFormat: pix)
        let enc = try CodecContext(codec: codec)
        let c = enc.pointer
        c.pointee.width = Int32(coded.width)
        c.pointee.height = Int32(coded.height)
        c.pointee.pix_fmt = pix
        let rate = stream.frameRate ?? stream.averageRate
        c.pointee.time_base = AVRational(num: Int32(rate.den), den: Int32(rate.num))
        c.pointee.framerate = AVRational(num: Int32(rate.num), den: Int32(rate.den))
        if let b = settings.bitrate { c.pointee.bit_rate = Int64(b) }
        var opts: OpaquePointer? = nil
        defer { av_dict_free(&opts) }
        for (k, v) in settings.openOptions where k != "qscale" { av_dict_set(&opts, k, v, 0) }
        let r = avcodec_open2(c, codec, &opts)
        if r < 0 {
            var what = "\(coded.width)x\(coded.height) \(pixName)"
            if let p = settings.preset { what += ", preset \(p)" }
            if let q = settings.crf { what += ", crf \(q)" }
            throw MediaError.invalidArgument(
                "\(settings.codec) refuses these settings (\(what)): \(ffmpegErrorString(r))")
        }
        if let left = av_dict_get(opts, "", nil, AV_DICT_IGNORE_SUFFIX) {
            throw MediaError.invalidArgument("\(settings.codec) has no option '\(String(cString: left.pointee.key))'")
        }
        guard coded.width != stream.width || coded.height != stream.height else { return nil }
        return
            "\(settings.codec) (\(pixName)) codes whole chroma samples: the \(stream.width)x\(stream.height) picture is padded to \(coded.width)x\(coded.height) (its last column and row repeated); ffv1 (4:4:4 or gray) keeps the size exactly"
    }

    /// The container of segment files for a codec: NUT (small, exact timestamps) where it can hold
    /// the codec, QuickTime otherwise (ProRes).
    public static func segmentContainer(for codec: String) -> String {
        guard let c = avcodec_find_encoder_by_name(codec), let nut = av_guess_format("nut", nil, nil) else {
            return "nut"
        }
        return canStore(c.pointee.id, in: nut, "x.nut") ? "nut" : "mov"
    }

    /// Whether the container takes the codec (FFmpeg's QuickTime muxer lists AV1 but refuses it outside MP4).
    static func canStore(_ id: AVCodecID, in ofmt: UnsafePointer<AVOutputFormat>, _ containerFor: String) -> Bool {
        if id == AV_CODEC_ID_AV1 && ext(containerFor) == "mov" { return false }
        return avformat_query_codec(ofmt, id, FF_COMPLIANCE_NORMAL) != 0
    }

    static func ext(_ p: String) -> String { String(p.split(separator: ".").last ?? "").lowercased() }

    /// Still-image outputs and the encoder that writes each.
    public static let imageCodecs = [
        "png": "png", "jpg": "mjpeg", "jpeg": "mjpeg", "tif": "tiff", "tiff": "tiff", "dpx": "dpx", "exr": "exr",
    ]

    /// Copies the source's sound and subtitles, packet for packet, into a file of their own (a
    /// picture sequence's sound beside its pictures), shifted by `startOffset` like the video.
    public static func copySound(from source: String, to path: String, containerFor: String, startOffset: Rational)
        throws -> Int
    {
        guard let ofmt = av_guess_format(nil, containerFor, nil) else {
            throw MediaError.invalidArgument("\(containerFor): unknown container")
        }
        let output = try OutputContext(format: ofmt, path: path, containerFor: containerFor)
        let side = try SideStreams(
            source: source, output: output.pointer, containerFor: containerFor, startOffset: startOffset)
        guard !side.copied.isEmpty else { return 0 }
        try output.writeHeader()
        try side.pump(until: nil)
        try output.finish()
        return side.copied.count
    }
    public static func isImage(_ path: String) -> Bool { imageCodecs[ext(path)] != nil }

    /// Encodes one frame. Frames must come in presentation order with increasing timestamps.
    public func write(_ frame: Frame) throws {
        guard frame.width == frameSize.width && frame.height == frameSize.height else {
            throw MediaError.invalidArgument(
                "\(path): a \(frame.width)x\(frame.height) frame at \(String(format: "%.3f", frame.pts.doubleValue)) s in a \(frameSize.width)x\(frameSize.height) stream: refused"
            )
        }
        if keepDecoded, padding == nil, let d = frame.decoded as? DecodedPicture, let src = d.frame,
            Self.unJPEG(d.pixelFormat) == pixelFormat, d.width == frameSize.width, d.height == frameSize.height
        {
            let f = passFrame.pointer
            av_frame_unref(f)
            try check(av_frame_ref(f, src), "av_frame_ref")
            defer { av_frame_unref(f) }
            f.pointee.format = enc.pointer.pointee.pix_fmt.rawValue
            f.pointee.pict_type = AV_PICTURE_TYPE_NONE
            try send(f, frame)
            framesKeptAsDecoded += 1
            return
        }
        let f = encFrame.pointer
        try check(av_frame_make_writable(f), "av_frame_make_writable")
        if let p = packed {
            PictureEncoder.fillPacked(f, from: frame, format: p)
        } else if planarRGB {
            PictureEncoder.fillPlanarRGB(f, from: frame, format: AVPixelFormat(rawValue: f.pointee.format))
        } else if let pad = padding {
            picture.fill(f, from: frame.paddedByRepeatingEdges(width: pad.width, height: pad.height))
        } else {
            picture.fill(f, from: frame)
        }
        try send(f, frame)
    }

    /// Times `f` as `frame` and encodes it.
    private func send(_ f: UnsafeMutablePointer<AVFrame>, _ frame: Frame) throws {
        var pts = (frame.pts / encTimeBase).rounded
        if pts <= lastPts { pts = lastPts + 1 }
        lastPts = pts
        f.pointee.pts = pts
        f.pointee.pkt_duration = max(1, (frame.duration / encTimeBase).rounded)
        f.pointee.sample_aspect_ratio = enc.pointer.pointee.sample_aspect_ratio
        try check(avcodec_send_frame(enc.pointer, f), "avcodec_send_frame")
        enc.framesSent += 1
        try drainEncoder()
        framesWritten += 1
    }

    private func drainEncoder() throws {
        while true {
            let r = avcodec_receive_packet(enc.pointer, encPacket.pointer)
            if r == AVERROR_EAGAIN_ || r == AVERROR_EOF_ { return }
            try check(r, "avcodec_receive_packet")
            let p = encPacket.pointer
            let dts = p.pointee.dts != AV_NOPTS ? p.pointee.dts : p.pointee.pts
            // Copy side packets up to a second past this video packet, then the packet itself.
            try side?.pump(until: Rational(dts) * encTimeBase + Rational(1))
            p.pointee.stream_index = videoStream.pointee.index
            av_packet_rescale_ts(p, enc.pointer.pointee.time_base, videoStream.pointee.time_base)
            try check(av_interleaved_write_frame(oc, p), "av_interleaved_write_frame")
            packetsMuxed += 1
        }
    }

    /// Flushes the encoder, copies the rest of the side streams and writes the trailer.
    public func finish() throws {
        guard !finished else { return }
        finished = true
        enc.flushed = true
        try check(avcodec_send_frame(enc.pointer, nil), "avcodec_send_frame")
        try drainEncoder()
        try side?.pump(until: nil)
        try output.finish()
    }
}
