import CFFmpeg
import FilmCore

/// One frame as an image file in memory (for embedding in a report page).
public enum StillImage {
    /// The frame as an 8-bit PNG (RGB, or gray for gray frames), full range as it is in the frame.
    public static func png(_ frame: Frame) throws -> [UInt8] {
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_PNG) else {
            throw MediaError.unsupported("this FFmpeg build has no PNG encoder")
        }
        let format = frame.layout == .gray ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_RGB24
        let enc = try CodecContext(codec: codec)
        let c = enc.pointer
        c.pointee.width = Int32(frame.width)
        c.pointee.height = Int32(frame.height)
        c.pointee.pix_fmt = format
        c.pointee.time_base = AVRational(num: 1, den: 1)
        try check(avcodec_open2(c, codec, nil), "avcodec_open2", "png")
        let box = try FrameBox(), packet = try PacketBox()
        let f = box.pointer
        f.pointee.width = c.pointee.width
        f.pointee.height = c.pointee.height
        f.pointee.format = format.rawValue
        f.pointee.pts = 0
        try check(av_frame_get_buffer(f, 0), "av_frame_get_buffer", "png")
        PictureEncoder.fillPacked(f, from: frame, format: format)
        try check(avcodec_send_frame(c, f), "avcodec_send_frame", "png")
        enc.framesSent = 1
        try check(avcodec_send_frame(c, nil), "avcodec_send_frame", "png")
        enc.flushed = true
        var bytes: [UInt8] = []
        while avcodec_receive_packet(c, packet.pointer) == 0 {
            let p = packet.pointer.pointee
            bytes += UnsafeBufferPointer(start: p.data, count: Int(p.size))
            av_packet_unref(packet.pointer)
        }
        guard !bytes.isEmpty else { throw MediaError.io("png: the encoder gave no image") }
        return bytes
    }
}
