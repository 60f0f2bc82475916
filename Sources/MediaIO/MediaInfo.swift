import FilmCore

/// What `probe` reports of a file.
public struct MediaInfo: Sendable {
    public struct Stream: Sendable {
        public enum Kind: String, Sendable { case video, audio, subtitle, data, attachment, unknown }
        public var index: Int
        public var kind: Kind
        public var codec: String
        public var language: String?
        public var duration: Double?
        // video
        public var width: Int = 0
        public var height: Int = 0
        public var pixelFormat: String?
        public var sampleAspect: Rational?
        public var frameRate: Rational?
        public var averageFrameRate: Rational?
        public var color: ColorMetadata?
        public var fieldOrder: String?
        public var rotation: Double = 0
        public var bitsPerSample: Int = 0
        public var attachedPicture = false
        // audio
        public var sampleRate: Int = 0
        public var channels: Int = 0
    }
    public var path: String
    public var format: String
    public var duration: Double?
    public var startTime: Double
    public var bitRate: Int
    public var streams: [Stream]
    public var chapters: Int
    public var metadata: [String: String]
    /// Index of the video stream that `restore` would decode.
    public var bestVideoStream: Int?

    public var summary: String {
        var lines: [String] = []
        let dur = duration.map { String(format: "%.3f s", $0) } ?? "unknown"
        lines.append(
            "\(path): \(format), duration \(dur), start \(String(format: "%.3f", startTime)) s, \(bitRate / 1000) kb/s, \(chapters) chapters"
        )
        for (k, v) in metadata.sorted(by: { $0.key < $1.key }) { lines.append("  metadata \(k): \(v)") }
        for s in streams {
            var l = "  stream #\(s.index) \(s.kind.rawValue): \(s.codec)"
            if let lang = s.language { l += " [\(lang)]" }
            switch s.kind {
            case .video:
                l += ", \(s.width)x\(s.height)"
                if let p = s.pixelFormat { l += ", \(p)" }
                if let sar = s.sampleAspect {
                    let dar = Rational(Int64(s.width), Int64(max(s.height, 1))) * sar
                    l += ", SAR \(sar.num):\(sar.den) DAR \(dar.num):\(dar.den)"
                }
                if let r = s.frameRate { l += String(format: ", %.3f fps (%@)", r.doubleValue, r.description) }
                if let a = s.averageFrameRate, a != s.frameRate { l += String(format: ", avg %.3f fps", a.doubleValue) }
                if let c = s.color { l += ", \(c)" }
                if let f = s.fieldOrder { l += ", \(f)" }
                if s.rotation != 0 { l += ", rotation \(Int(s.rotation))°" }
                if s.attachedPicture { l += ", attached picture" }
                if s.index == bestVideoStream { l += " (selected)" }
            case .audio:
                l += ", \(s.sampleRate) Hz, \(s.channels) channels"
            default: break
            }
            if let d = s.duration { l += String(format: ", %.3f s", d) }
            lines.append(l)
        }
        return lines.joined(separator: "\n")
    }
}
