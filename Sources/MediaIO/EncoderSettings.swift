import Foundation
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
    /// The source's transfer when it has no H.273 code (a DPX printing-density or logarithmic scan,
    /// passed through unconverted): the output's transfer is then left unspecified, not claimed to
    /// be BT.709, and this name is written as the file's `source_transfer` tag.
    public var sourceTransfer: String? = nil

    public init(
        codec: String = "libx264", crf: Int? = nil, bitrate: Int? = nil, preset: String? = nil,
        pixelFormat: String? = nil, options: [String: String] = [:]
    ) {
        self.codec = codec
        self.crf = crf
        self.bitrate = bitrate
        self.preset = preset
        self.pixelFormat = pixelFormat
        self.options = options
    }

    /// The options the encoder is opened with: the codec's own defaults, CRF, preset and the
    /// preset file's further options.
    var openOptions: [String: String] {
        var wanted: [String: String] = [:]
        switch codec {
        case "ffv1": wanted = ["level": "3", "slicecrc": "1", "g": "1"]
        case "prores_ks": wanted = ["profile": "hq"]
        default: break
        }
        if let crf = crf, bitrate == nil { wanted["crf"] = String(crf) }
        if let p = preset { wanted["preset"] = p }
        for (k, v) in options where !Self.svtStructure.keys.contains(k) { wanted[k] = v }
        if codec == "libx265" && !MediaLog.verbose { wanted["x265-params"] = "log-level=error" }
        // SVT-AV1 keeps picture buffers per thread it targets: at 4K on the 2-core EPYC 1.9 GB at its default (all
        // cores) against 1.05 GB at one, in the same time (13.3 vs 12.1 s for 30 frames, preset 10, CRF 14). Here
        // the networks keep the other cores busy: it targets half of them.
        if codec == "libsvtav1" {
            let structure = Self.svtStructure.keys.sorted().compactMap { k in options[k].map { "\(k)=\($0)" } }
            wanted["svtav1-params"] = (["lp=\(Self.svtLogicalProcessors)"] + structure).joined(separator: ":")
        }
        return wanted
    }

    /// SVT-AV1's stream structure, which a preset may set (`output.options`) and which sets how many pictures
    /// it holds: the mini-GOP depth (`hierarchical-levels`, 2…5: a mini-GOP of 2^levels pictures) and the
    /// look-ahead in pictures. Passed in `svtav1-params` for SVT-AV1, left out for other encoders.
    public static let svtStructure: [String: ClosedRange<Int>] = ["hierarchical-levels": 2...5, "lookahead": 0...120]

    /// A preset's encoder option `key` = `value` checked: allowed (`allowedOptions`), and in range where it is a
    /// number this tool passes on (`svtStructure`). The error says which and why.
    public static func check(option key: String, value: String) throws {
        guard allowedOptions.contains(key) else {
            throw MediaError.invalidArgument(
                "output option '\(key)' is not allowed (allowed: \(allowedOptions.sorted().joined(separator: ", ")); none may name a file)"
            )
        }
        if let range = svtStructure[key] {
            guard let v = Int(value), range.contains(v) else {
                throw MediaError.invalidArgument(
                    "output option '\(key)' must be a whole number \(range.lowerBound)…\(range.upperBound), not '\(value)'"
                )
            }
        }
    }

    /// The logical processors SVT-AV1 is asked to use (its `lp`): half the cores, at least one.
    public static var svtLogicalProcessors: Int { max(1, ProcessInfo.processInfo.activeProcessorCount / 2) }

    /// The constant-quality range of each codec that has one (nil: the codec takes no CRF).
    public static func crfRange(_ codec: String) -> ClosedRange<Int>? {
        switch codec {
        case "libx264", "libx265": return 0...51
        case "libsvtav1", "libaom-av1", "libvpx-vp9": return 0...63
        default: return nil
        }
    }

    /// The encoder options a preset's `output.options` may set: tuning and stream structure only.
    /// Options that take free text (`x264-params`, `x265-params`, `svtav1-params`, `stats`, …) are
    /// not here: through them a preset file could make an encoder write files anywhere.
    public static let allowedOptions: Set<String> = [
        "tune", "profile", "level", "g", "bf", "refs", "keyint_min", "sc_threshold", "aq-mode", "aq-strength",
        "psy-rd", "deblock", "b-pyramid", "weightp", "rc-lookahead", "slices", "slicecrc", "context", "coder",
        "vendor", "quant_mat", "bits_per_mb", "alpha_bits", "qscale", "film-grain", "film-grain-denoise", "tiles",
        "hierarchical-levels", "lookahead",
    ]

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
