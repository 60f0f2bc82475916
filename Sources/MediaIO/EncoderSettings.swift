import FilmCore

/// How the video is encoded.
public struct EncoderSettings: Sendable, Equatable, Codable {
    /// FFmpeg encoder name: libx264, libx265, libsvtav1, ffv1, prores_ks (others FFmpeg has may work).
    public var codec: String
    /// Constant-quality factor (x264/x265/SVT-AV1); nil leaves the encoder's default.
    public var crf: Int?
    /// Target bitrate in bits per second (instead of CRF).
    public var bitrate: Int?
    /// Speed preset: x264/x265 names (ultrafast…veryslow), SVT-AV1 numbers (0…13).
    public var preset: String?
    /// Output pixel format; nil picks the codec's default (see `defaultPixelFormat`).
    public var pixelFormat: String?
    /// Further private encoder options, passed as they are (e.g. "tune": "grain", "profile": "hq").
    public var options: [String: String]

    public init(codec: String = "libx264", crf: Int? = nil, bitrate: Int? = nil, preset: String? = nil,
                pixelFormat: String? = nil, options: [String: String] = [:]) {
        self.codec = codec; self.crf = crf; self.bitrate = bitrate; self.preset = preset
        self.pixelFormat = pixelFormat; self.options = options
    }

    public static let knownCodecs = ["libx264", "libx265", "libsvtav1", "ffv1", "prores_ks", "png", "tiff", "mjpeg"]

    /// The format each codec writes unless told otherwise: 8-bit 4:2:0 for H.264 (plays everywhere),
    /// 10-bit 4:2:0 for HEVC and AV1, 10-bit 4:2:2 for ProRes HQ, and for FFV1 (the archive master)
    /// 10-bit 4:4:4, or 16-bit gray for a black-and-white picture.
    public func defaultPixelFormat(gray: Bool) -> String {
        switch codec {
        case "libx264": return "yuv420p"
        case "libx265", "libsvtav1": return "yuv420p10le"
        case "prores_ks", "prores", "prores_aw": return "yuv422p10le"
        case "ffv1": return gray ? "gray16le" : "yuv444p10le"
        case "png": return gray ? "gray16be" : "rgb48be"
        case "tiff": return gray ? "gray16le" : "rgb48le"
        case "mjpeg": return "yuvj444p"
        default: return "yuv420p"
        }
    }
}
