/// Color description of a picture, as tagged in the stream (or as inferred when untagged).
///
/// The values mirror ITU-T H.273 code points, which is what FFmpeg and every codec use.
public struct ColorMetadata: Hashable, Sendable, CustomStringConvertible {
    public enum Matrix: Int, Sendable, CaseIterable {
        case rgb = 0, bt709 = 1, unspecified = 2, fcc = 4, bt470bg = 5, smpte170m = 6, smpte240m = 7,
            ycgco = 8, bt2020nc = 9, bt2020c = 10
        public var name: String {
            switch self {
            case .rgb: "gbr"
            case .bt709: "bt709"
            case .unspecified: "unknown"
            case .fcc: "fcc"
            case .bt470bg: "bt470bg"
            case .smpte170m: "smpte170m"
            case .smpte240m: "smpte240m"
            case .ycgco: "ycgco"
            case .bt2020nc: "bt2020nc"
            case .bt2020c: "bt2020c"
            }
        }
        /// Luma coefficients (Kr, Kb) of a Y'CbCr matrix, nil for RGB/YCgCo.
        public var lumaCoefficients: (kr: Double, kb: Double)? {
            switch self {
            case .bt709: (0.2126, 0.0722)
            case .fcc: (0.30, 0.11)
            case .bt470bg, .smpte170m, .unspecified: (0.299, 0.114)
            case .smpte240m: (0.212, 0.087)
            case .bt2020nc, .bt2020c: (0.2627, 0.0593)
            case .rgb, .ycgco: nil
            }
        }
    }
    public enum Range: Int, Sendable {
        case unspecified = 0, limited = 1, full = 2
        public var name: String { self == .limited ? "tv" : self == .full ? "pc" : "unknown" }
    }

    public var matrix: Matrix
    public var range: Range
    /// H.273 ColourPrimaries code point (1 = BT.709, 5 = BT.470BG, 6 = SMPTE 170M, 9 = BT.2020, 2 = unspecified).
    public var primaries: Int
    /// H.273 TransferCharacteristics code point (1 = BT.709, 6 = SMPTE 170M, 13 = sRGB, 2 = unspecified).
    public var transfer: Int
    /// True when matrix/range were not tagged in the stream and were inferred from the picture size.
    public var inferred: Bool

    public init(matrix: Matrix, range: Range, primaries: Int = 2, transfer: Int = 2, inferred: Bool = false) {
        self.matrix = matrix
        self.range = range
        self.primaries = primaries
        self.transfer = transfer
        self.inferred = inferred
    }

    public static let bt709 = ColorMetadata(matrix: .bt709, range: .limited, primaries: 1, transfer: 1)
    public static let bt601 = ColorMetadata(matrix: .smpte170m, range: .limited, primaries: 6, transfer: 6)

    /// The convention for untagged video: SD (height < 720 and width < 1280) is BT.601, HD and larger BT.709.
    public static func defaultFor(width: Int, height: Int) -> ColorMetadata {
        var c = (height >= 720 || width >= 1280) ? bt709 : bt601
        // 625-line (PAL) → EBU primaries
        if c.matrix == .smpte170m && (height == 576 || height == 288) { c.primaries = 5 }
        c.inferred = true
        return c
    }

    public var description: String {
        "matrix=\(matrix.name)\(inferred ? "(inferred)" : "") range=\(range.name) primaries=\(primaries) transfer=\(transfer)"
    }
}
