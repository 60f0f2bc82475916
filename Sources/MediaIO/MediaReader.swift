import CFFmpeg
import FilmCore

/// Demuxes and decodes the best video stream of a file into planar Float32 frames with rational
/// timestamps (seconds from the start of the file).
public final class MediaReader {
    public let path: String
    public let info: MediaInfo
    /// What the decoded frames look like (after rotation).
    public private(set) var stream: StreamInfo
    /// The file's start time in seconds; subtracted from every timestamp (video here, audio in the
    /// writer) so all streams keep their relative offsets.
    public let startOffset: Rational
    public private(set) var framesDecoded = 0
    /// Packets the decoder rejected as corrupt (decoding went on past them).
    public private(set) var corruptPackets = 0
    /// Why reading stopped before the end of the file, if it did (a truncated or damaged file):
    /// the frames decoded until then are delivered, and this names the failed call and its reason.
    public private(set) var readError: String?
    /// Frames of the film seen so far: one more than the highest source index decoded.
    public private(set) var framesSeen = 0
    /// Whether the last frame of the file has been decoded (the reader returned nil at its end).
    public var reachedEnd: Bool { finished }
    /// How many frames the container says the video stream has, and whether that is exact (a frame
    /// count stored in the file) or estimated from a stream duration; nil when it says nothing about
    /// the video stream itself.
    public let declaredFrames: (count: Int, exact: Bool)?
    /// Where the container says the video ends (its own duration, else the file's), on the frames'
    /// clock; nil when it says nothing.
    public let declaredEnd: Rational?
    /// The end of the last frame decoded (its time plus its duration), on the frames' clock.
    public private(set) var decodedEnd: Rational?
    /// The end of the last packet read of any stream (sound included), on the frames' clock: a file
    /// whose every stream stops well before its declared end is cut short.
    public private(set) var packetsEnd: Rational?
    /// Keep each frame's decoded picture as it is (`Frame.decoded`), for a writer that encodes it
    /// unchanged (not for a rotated stream: its pictures are turned upright).
    public var keepDecodedPictures = false
    /// Names of the frames for messages (a picture sequence's files), by source index.
    public var frameNames: [String]? = nil
    /// The timecode of the first frame, as the container gives it (MOV/MXF timecode tracks, a
    /// Matroska TIMECODE tag): HH:MM:SS:FF or HH:MM:SS;FF.
    public let timecode: String?

    private let input: FormatInput
    private let codec: CodecContext
    private let packet: PacketBox
    private let frame: FrameBox
    private let pictures: PictureDecoder
    private let videoIndex: Int32
    private let timeBase: Rational
    /// Every stream's time base (nil: none usable), for the packets' ends.
    private let streamTimeBases: [Rational?]
    private let rotation: Int
    private let streamColor: ColorMetadata?
    private let defaultDuration: Rational
    private var draining = false
    private var finished = false
    private var lastPts: Rational?
    /// The source index the next frame gets (frames are numbered from the start of the file).
    private var nextIndex = 0
    /// After `seek`: frames before this time are decoded and dropped.
    private var seekTarget: (time: Rational, index: Int, fromStart: Bool)?

    /// `sequenceRate`: the rate a picture sequence's frames are shown at (`--input-rate`; ignored for a video file).
    public init(path: String, threads: Int = 0, sequenceRate: Rational? = nil) throws {
        self.path = path
        input = try FormatInput(path: path, sequenceRate: sequenceRate)
        info = Self.describe(input)
        var decoder: UnsafePointer<AVCodec>? = nil
        let best = av_find_best_stream(input.pointer, AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0)
        guard best >= 0, let bestIndex = info.bestVideoStream else {
            if best == fr_averror_decoder_not_found() {
                throw MediaError.unsupported("\(path): no decoder for the video stream")
            }
            throw MediaError.noVideoStream(path: path)
        }
        videoIndex = Int32(bestIndex)
        if bestIndex != Int(best) {
            decoder = avcodec_find_decoder(input.stream(bestIndex).pointee.codecpar.pointee.codec_id)
        }
        guard let dec = decoder else { throw MediaError.unsupported("\(path): no decoder for the video stream") }
        let st = input.stream(bestIndex)
        codec = try CodecContext(codec: dec)
        try check(
            avcodec_parameters_to_context(codec.pointer, st.pointee.codecpar), "avcodec_parameters_to_context", path)
        codec.pointer.pointee.pkt_timebase = st.pointee.time_base
        codec.pointer.pointee.thread_count = Int32(threads)
        codec.pointer.pointee.thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE
        try check(avcodec_open2(codec.pointer, dec, nil), "avcodec_open2", path)
        packet = try PacketBox()
        frame = try FrameBox()
        pictures = try PictureDecoder()

        timeBase = rationalOf(st.pointee.time_base) ?? Rational(1, 90000)
        let opened = input
        streamTimeBases = (0..<opened.streamCount).map { rationalOf(opened.stream($0).pointee.time_base) }
        let startUs = input.pointer.pointee.start_time
        startOffset = startUs == AV_NOPTS ? .zero : Rational(startUs, Int64(AV_TIME_BASE))

        let vs = info.streams[bestIndex]
        rotation = Self.quarterTurns(vs.rotation)
        streamColor = vs.color
        let rate = vs.frameRate ?? vs.averageFrameRate ?? Rational(25)
        let avg = vs.averageFrameRate ?? rate
        defaultDuration = avg.reciprocal
        let isCFR: Bool = {
            guard let r = vs.frameRate, let a = vs.averageFrameRate else { return false }
            return abs(r.doubleValue - a.doubleValue) / r.doubleValue < 0.002
        }()
        let par = st.pointee.codecpar.pointee
        let gray = Self.isGrayFormat(AVPixelFormat(rawValue: par.format))
        var w = Int(par.width), h = Int(par.height)
        var sar = vs.sampleAspect ?? .one
        if rotation % 2 == 1 {
            swap(&w, &h)
            sar = sar.reciprocal
        }
        // The video's first frame on the reader's clock (after the AAC priming a Matroska or MP4
        // often puts before it, 21 ms at 48 kHz): stages that retime to a grid anchor it there.
        let videoStart: Rational =
            st.pointee.start_time == AV_NOPTS
            ? .zero
            : max(.zero, Rational(st.pointee.start_time) * timeBase - startOffset)
        let tb = timeBase, fmtDuration = input.pointer.pointee.duration
        let fileEnd: Rational? =
            fmtDuration != AV_NOPTS && fmtDuration > 0 ? Rational(fmtDuration, Int64(AV_TIME_BASE)) : nil
        // The video's own length: its stream's, else the file's from where the video starts.
        let dur: Rational? = {
            if st.pointee.duration != AV_NOPTS && st.pointee.duration > 0 { return Rational(st.pointee.duration) * tb }
            return fileEnd.map { $0 > videoStart ? $0 - videoStart : $0 }
        }()
        var count: Int? = st.pointee.nb_frames > 0 ? Int(st.pointee.nb_frames) : nil
        if count == nil, let d = dur { count = Int((d * avg).rounded) }
        // The video stream's own duration: its header field, or Matroska's per-track DURATION tag.
        let streamDuration: Rational? = {
            if st.pointee.duration != AV_NOPTS && st.pointee.duration > 0 { return Rational(st.pointee.duration) * tb }
            guard let tag = dictValue(st.pointee.metadata, "DURATION") else { return nil }
            let parts = tag.split(separator: ":").map { Double($0) }
            guard parts.count == 3, let h = parts[0], let m = parts[1], let s = parts[2] else { return nil }
            return Rational(Int64(((h * 3600 + m * 60 + s) * 1000).rounded()), 1000)
        }()
        timecode =
            dictValue(st.pointee.metadata, "timecode") ?? dictValue(input.pointer.pointee.metadata, "timecode")
            ?? dictValue(input.pointer.pointee.metadata, "TIMECODE")
        declaredEnd = streamDuration ?? fileEnd
        if st.pointee.nb_frames > 0 {
            declaredFrames = (Int(st.pointee.nb_frames), true)
        } else if let d = streamDuration {
            declaredFrames = (Int((d * avg).rounded), false)
        } else {
            declaredFrames = nil
        }
        let color = vs.color ?? ColorMetadata.defaultFor(width: w, height: h)
        stream = StreamInfo(
            width: w, height: h, layout: gray ? .gray : .rgb, sampleAspect: sar,
            frameRate: isCFR ? vs.frameRate : nil, averageRate: avg, color: color,
            startTime: videoStart, duration: dur, frameCount: count)
        switch par.field_order {
        case AV_FIELD_PROGRESSIVE: stream.fieldOrder = .progressive
        case AV_FIELD_TT, AV_FIELD_BT: stream.fieldOrder = .topFirst
        case AV_FIELD_BB, AV_FIELD_TB: stream.fieldOrder = .bottomFirst
        default: stream.fieldOrder = .unknown
        }
    }

    /// The next decoded frame, or nil at the end of the stream.
    public func nextFrame() throws -> Frame? { try nextFrame(notBefore: nil) }

    /// The next decoded frame whose time is at or after `time`: earlier frames are decoded (they
    /// must be) but not converted, which is most of a frame's cost at 4K.
    public func nextFrame(notBefore time: Rational?) throws -> Frame? {
        if finished { return nil }
        while true {
            let r = avcodec_receive_frame(codec.pointer, frame.pointer)
            if r == 0 {
                defer { av_frame_unref(frame.pointer) }
                if let target = seekTarget {
                    let t = timestamp(frame.pointer)
                    if t < target.time {
                        lastPts = t
                        continue
                    }
                    if t > target.time && !target.fromStart {
                        // The container's index put us past the frame: read again from the start.
                        try rewindToStart()
                        seekTarget = (target.time, target.index, true)
                        continue
                    }
                    nextIndex = target.index
                    seekTarget = nil
                }
                if let bound = time {
                    let t = timestamp(frame.pointer)
                    if t < bound {
                        lastPts = t
                        framesDecoded += 1
                        nextIndex += 1
                        continue
                    }
                }
                return try makeFrame()
            }
            if r == AVERROR_EOF_ {
                finished = true
                return nil
            }
            if r == fr_averror_invaliddata() {
                corruptPackets += 1
                continue
            }
            if r != AVERROR_EAGAIN_ { try check(r, "avcodec_receive_frame", path) }
            if draining {
                finished = true
                return nil
            }
            let rr = av_read_frame(input.pointer, packet.pointer)
            if rr < 0 && rr != AVERROR_EOF_ && rr != AVERROR_EAGAIN_ {
                // A damaged or truncated file: what was decoded is kept, and the damage is reported.
                readError = "av_read_frame: \(ffmpegErrorString(rr))"
            }
            if rr < 0 && rr != AVERROR_EAGAIN_ {
                try check(avcodec_send_packet(codec.pointer, nil), "avcodec_send_packet", path)
                draining = true
                continue
            }
            try check(rr, "av_read_frame", path)
            defer { av_packet_unref(packet.pointer) }
            notePacketEnd()
            guard packet.pointer.pointee.stream_index == videoIndex else { continue }
            let s = avcodec_send_packet(codec.pointer, packet.pointer)
            if s == fr_averror_invaliddata() {
                corruptPackets += 1
                continue
            }
            try check(s, "avcodec_send_packet", path)
        }
    }

    /// Moves `packetsEnd` to the end of the packet just read, if later.
    private func notePacketEnd() {
        let pk = packet.pointer.pointee
        let idx = Int(pk.stream_index)
        guard idx >= 0, idx < streamTimeBases.count else { return }
        let ts = pk.pts != AV_NOPTS ? pk.pts : pk.dts
        guard ts != AV_NOPTS, let tb = streamTimeBases[idx], tb > .zero,
            abs(ts) < Int64(1) << 52, pk.duration >= 0, pk.duration < Int64(1) << 40
        else { return }
        let end = Rational(ts + pk.duration) * tb - startOffset
        if packetsEnd.map({ end > $0 }) ?? true { packetsEnd = end }
    }

    /// Positions the reader so that the next frame it returns is the first whose timestamp is at or
    /// after `time` (seconds from the start, as frames carry them), numbered `index` (its place in
    /// the file, which the caller knows from an earlier pass). Seeks to the keyframe before and
    /// decodes forward; if the container's index lands past the frame, reads from the start.
    public func seek(to time: Rational, index: Int) throws {
        seekTarget = (time, index, false)
        // A second early, for containers whose index is coarse.
        let target = ((time + startOffset - Rational(1)) / timeBase).floor
        let r = av_seek_frame(input.pointer, videoIndex, target, AVSEEK_FLAG_BACKWARD)
        if r < 0 {
            try rewindToStart()
            seekTarget = (time, index, true)
            return
        }
        resetDecoder()
    }

    /// Back to the first frame (numbered 0).
    public func rewind() throws {
        seekTarget = nil
        nextIndex = 0
        if framesDecoded > 0 { try rewindToStart() }
    }

    private func rewindToStart() throws {
        let st = input.stream(Int(videoIndex))
        let first = st.pointee.start_time != AV_NOPTS ? st.pointee.start_time : 0
        var r = av_seek_frame(input.pointer, videoIndex, first, AVSEEK_FLAG_BACKWARD)
        if r < 0 { r = av_seek_frame(input.pointer, videoIndex, 0, AVSEEK_FLAG_BYTE) }
        try check(r, "av_seek_frame", path)
        resetDecoder()
    }

    private func resetDecoder() {
        avcodec_flush_buffers(codec.pointer)
        draining = false
        finished = false
        lastPts = nil
    }

    /// A decoded frame's time in seconds from the start, increasing from one frame to the next.
    private func timestamp(_ f: UnsafeMutablePointer<AVFrame>) -> Rational {
        var pts: Rational
        let ts = f.pointee.best_effort_timestamp
        if ts != AV_NOPTS {
            pts = Rational(ts) * timeBase - startOffset
        } else if let last = lastPts {
            pts = last + defaultDuration
        } else {
            pts = .zero
        }
        // Timestamps must increase: a repeated or backward timestamp (broken muxing) moves just past
        // the previous one.
        if let last = lastPts, pts <= last { pts = last + timeBase }
        return pts
    }

    private func makeFrame() throws -> Frame {
        let f = frame.pointer
        let pic = try pictures.convert(f, streamColor: streamColor)
        let pts = timestamp(f)
        lastPts = pts
        let d = f.pointee.pkt_duration > 0 ? Rational(f.pointee.pkt_duration) * timeBase : defaultDuration
        decodedEnd = pts + d

        var sar =
            rationalOf(av_guess_sample_aspect_ratio(input.pointer, input.stream(Int(videoIndex)), f))
            ?? stream.sampleAspect
        var width = pic.width, height = pic.height, planes = pic.planes
        if rotation != 0 {
            planes = planes.map {
                Rotation.rotate($0, width: pic.width, height: pic.height, quarterTurnsClockwise: rotation)
            }
            if rotation % 2 == 1 {
                swap(&width, &height)
                sar = sar.reciprocal
            }
        }
        // Every stage and encoder is set up for the stream's size: a picture of another size (a scan
        // folder with one odd picture, a video whose size changes) is refused here, naming the frame,
        // before anything is made of it.
        guard width == stream.width && height == stream.height else {
            let name = frameNames.flatMap { nextIndex < $0.count ? " (\($0[nextIndex]))" : nil } ?? ""
            throw MediaError.unsupported(
                "\(path): frame \(nextIndex + 1)\(name) is \(width)x\(height) but the film's frames are \(stream.width)x\(stream.height): a picture size that changes mid-film is not supported (make every picture one size, or restore the parts separately)"
            )
        }
        let props = FrameProperties(
            color: pic.color, sceneCut: false, sourceIndex: nextIndex, sampleAspect: sar,
            interlaced: fr_frame_is_interlaced(f) != 0, topFieldFirst: fr_frame_top_field_first(f) != 0)
        framesDecoded += 1
        nextIndex += 1
        framesSeen = max(framesSeen, nextIndex)
        var out = Frame(
            width: width, height: height, layout: pic.layout, planes: planes, pts: pts, duration: d, properties: props)
        if keepDecodedPictures && rotation == 0 { out.decoded = DecodedPicture(f) }
        return out
    }

    /// FFmpeg's display-matrix angle (counter-clockwise) → clockwise quarter turns that make the
    /// picture upright, as FFmpeg's autorotate does.
    static func quarterTurns(_ degreesCCW: Double) -> Int {
        let theta = (-degreesCCW).truncatingRemainder(dividingBy: 360)
        let t = theta < 0 ? theta + 360 : theta
        return Int((t / 90).rounded()) % 4
    }

    static func isGrayFormat(_ f: AVPixelFormat) -> Bool {
        guard let d = av_pix_fmt_desc_get(f) else { return false }
        let flags = d.pointee.flags
        if flags & UInt64(AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL) != 0 { return false }
        let n = Int(d.pointee.nb_components) - (flags & UInt64(AV_PIX_FMT_FLAG_ALPHA) != 0 ? 1 : 0)
        return n == 1
    }

    /// Reads the container's streams, color tags and metadata without decoding.
    public static func probe(path: String) throws -> MediaInfo {
        describe(try FormatInput(path: path))
    }

    static func describe(_ input: FormatInput) -> MediaInfo {
        let fc = input.pointer.pointee
        var streams: [MediaInfo.Stream] = []
        for i in 0..<input.streamCount {
            let st = input.stream(i)
            let par = st.pointee.codecpar.pointee
            let kind: MediaInfo.Stream.Kind
            switch par.codec_type {
            case AVMEDIA_TYPE_VIDEO: kind = .video
            case AVMEDIA_TYPE_AUDIO: kind = .audio
            case AVMEDIA_TYPE_SUBTITLE: kind = .subtitle
            case AVMEDIA_TYPE_DATA: kind = .data
            case AVMEDIA_TYPE_ATTACHMENT: kind = .attachment
            default: kind = .unknown
            }
            var s = MediaInfo.Stream(index: i, kind: kind, codec: String(cString: avcodec_get_name(par.codec_id)))
            s.language = dictValue(st.pointee.metadata, "language")
            if st.pointee.duration != AV_NOPTS, let tb = rationalOf(st.pointee.time_base) {
                s.duration = (Rational(st.pointee.duration) * tb).doubleValue
            }
            if kind == .video {
                s.width = Int(par.width)
                s.height = Int(par.height)
                s.pixelFormat = par.format >= 0 ? pixelFormatName(AVPixelFormat(rawValue: par.format)) : nil
                s.sampleAspect =
                    rationalOf(par.sample_aspect_ratio) ?? rationalOf(st.pointee.sample_aspect_ratio) ?? .one
                s.frameRate = rationalOf(st.pointee.r_frame_rate)
                s.averageFrameRate = rationalOf(st.pointee.avg_frame_rate)
                s.bitsPerSample = Int(par.bits_per_raw_sample)
                s.attachedPicture = st.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC != 0
                s.rotation = fr_stream_rotation(st)
                var c = ColorMetadata.defaultFor(width: s.width, height: s.height)
                if let m = ColorMetadata.Matrix(rawValue: Int(par.color_space.rawValue)), m != .unspecified {
                    c.matrix = m
                    c.inferred = false
                }
                c.range = ColorMetadata.Range(rawValue: Int(par.color_range.rawValue)) ?? .unspecified
                if Int(par.color_primaries.rawValue) != 2 { c.primaries = Int(par.color_primaries.rawValue) }
                if Int(par.color_trc.rawValue) != 2 { c.transfer = Int(par.color_trc.rawValue) }
                s.color = c
                switch par.field_order {
                case AV_FIELD_PROGRESSIVE: s.fieldOrder = "progressive"
                case AV_FIELD_TT: s.fieldOrder = "interlaced (top field first)"
                case AV_FIELD_BB: s.fieldOrder = "interlaced (bottom field first)"
                case AV_FIELD_TB: s.fieldOrder = "interlaced (top coded first, bottom displayed first)"
                case AV_FIELD_BT: s.fieldOrder = "interlaced (bottom coded first, top displayed first)"
                default: s.fieldOrder = nil
                }
            } else if kind == .audio {
                s.sampleRate = Int(par.sample_rate)
                s.channels = Int(par.ch_layout.nb_channels)
            }
            streams.append(s)
        }
        // The stream restore decodes: av_find_best_stream's pick, but never an attached picture (cover art).
        var best: Int? = nil
        let b = av_find_best_stream(input.pointer, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        if b >= 0, !streams[Int(b)].attachedPicture {
            best = Int(b)
        } else {
            best = streams.first(where: { $0.kind == .video && !$0.attachedPicture })?.index
        }
        var meta: [String: String] = [:]
        var e: UnsafeMutablePointer<AVDictionaryEntry>? = nil
        while let n = av_dict_get(fc.metadata, "", e, AV_DICT_IGNORE_SUFFIX) {
            meta[String(cString: n.pointee.key)] = String(cString: n.pointee.value)
            e = n
        }
        return MediaInfo(
            path: input.path, format: String(cString: fc.iformat.pointee.name),
            duration: fc.duration != AV_NOPTS ? Double(fc.duration) / Double(AV_TIME_BASE) : nil,
            startTime: fc.start_time != AV_NOPTS ? Double(fc.start_time) / Double(AV_TIME_BASE) : 0,
            bitRate: Int(fc.bit_rate), streams: streams, chapters: Int(fc.nb_chapters), metadata: meta,
            bestVideoStream: best)
    }
}

func dictValue(_ d: OpaquePointer?, _ key: String) -> String? {
    guard let e = av_dict_get(d, key, nil, 0) else { return nil }
    return String(cString: e.pointee.value)
}
