import Foundation
import FilmCore

/// A numbered picture sequence, as film scanners deliver a reel: a folder of DPX, TIFF, PNG, EXR or
/// JPEG files, or a printf pattern (`reel_%06d.dpx`). Read through FFmpeg's image2 demuxer with the
/// first number and the rate set explicitly (its own defaults are "start within 0…4" and 25 fps).
///
/// Numbering must be consecutive: a gap in a scan is a missing frame of the film, and is an error
/// naming it, never a silent jump.
public struct ImageSequence: Sendable, Equatable {
    /// The printf pattern FFmpeg opens (absolute).
    public let pattern: String
    public let firstNumber: Int
    public let count: Int
    /// The files, in frame order.
    public let files: [String]
    /// The rate the frames are shown at, and where it came from ("DPX header", "--input-rate", "default").
    public let rate: Rational
    public let rateSource: String
    /// What the first file's header says (DPX: transfer, bit depth, timecode).
    public let header: DPXHeader?
    /// An OpenEXR first file's rate and timecode attributes.
    public var exr: EXRHeader? = nil
    /// The first picture's timecode, from whichever header holds one.
    public var timecode: String? { header?.timecode ?? exr?.timecode }

    public static let extensions: Set<String> = ["dpx", "tif", "tiff", "png", "exr", "jpg", "jpeg"]

    /// Whether `path` names a sequence (a folder, or a name with a printf `%d` field).
    public static func looksLikeSequence(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) { return isDir.boolValue }
        return path.range(of: #"%0?\d*d"#, options: .regularExpression) != nil
    }

    /// The sequence `path` names, nil when it names a plain file; an error when it names a folder
    /// or pattern that holds no usable sequence. `rate` (`--input-rate`) is the rate its frames are shown at;
    /// nil: the DPX or EXR header's, else 24.
    public static func detect(_ path: String, rate override: Rational? = nil) throws -> ImageSequence? {
        guard looksLikeSequence(path) else { return nil }
        let fm = FileManager.default
        var isDir: ObjCBool = false
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        let folder: String, prefix: String, suffix: String, width: Int?
        var pictureNames: [String]? = nil
        if fm.fileExists(atPath: absolute, isDirectory: &isDir), isDir.boolValue {
            folder = absolute
            let names = ((try? fm.contentsOfDirectory(atPath: folder)) ?? []).filter { !$0.hasPrefix(".") }
            let pictures = names.filter { extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
            guard let first = pictures.first else {
                throw MediaError.invalidArgument("\(path) is a folder with no DPX, TIFF, PNG, EXR or JPEG pictures")
            }
            pictureNames = pictures
            let exts = Set(pictures.map { ($0 as NSString).pathExtension.lowercased() })
            guard exts.count == 1 else {
                throw MediaError.invalidArgument(
                    "\(path) mixes pictures of several kinds (\(exts.sorted().joined(separator: ", "))): one sequence per folder"
                )
            }
            // The last run of digits in the first name is the frame number.
            guard let digits = first.range(of: #"\d+(?=[^\d]*$)"#, options: .regularExpression) else {
                throw MediaError.invalidArgument("\(path): \(first) has no frame number")
            }
            prefix = String(first[..<digits.lowerBound])
            suffix = String(first[digits.upperBound...])
            width = first[digits].count
        } else {
            let file = URL(fileURLWithPath: absolute)
            folder = file.deletingLastPathComponent().path
            let name = file.lastPathComponent
            // The number field is in the file name; the folders above may hold any character, `%` too.
            guard let field = name.range(of: #"%0?\d*d"#, options: .regularExpression) else {
                if folder.range(of: #"%0?\d*d"#, options: .regularExpression) != nil {
                    throw MediaError.invalidArgument("\(path): the %d field must be in the file name, not a folder")
                }
                throw MediaError.invalidArgument("\(path): not a sequence pattern")
            }
            let spec = name[field].dropFirst().dropLast()
            prefix = String(name[..<field.lowerBound]).replacingOccurrences(of: "%%", with: "%")
            suffix = String(name[field.upperBound...]).replacingOccurrences(of: "%%", with: "%")
            width = spec.isEmpty ? nil : Int(spec)
            guard extensions.contains((absolute as NSString).pathExtension.lowercased()) else {
                throw MediaError.invalidArgument("\(path): a sequence is DPX, TIFF, PNG, EXR or JPEG pictures")
            }
        }
        // Every file of the pattern, by number.
        var numbered: [(Int, String)] = []
        for name in (try? fm.contentsOfDirectory(atPath: folder)) ?? []
        where name.hasPrefix(prefix) && name.hasSuffix(suffix) {
            let mid = name.dropFirst(prefix.count).dropLast(suffix.count)
            guard !mid.isEmpty, mid.allSatisfy(\.isASCII), mid.allSatisfy(\.isNumber), let n = Int(mid) else {
                continue
            }
            if let w = width, mid.count != w, !(mid.count > w && mid.first != "0") { continue }
            numbered.append((n, folder + "/" + name))
        }
        numbered.sort { $0.0 < $1.0 }
        guard let first = numbered.first else { throw MediaError.invalidArgument("\(path): no pictures match") }
        // A folder is one sequence: pictures of another name are not silently left out.
        if let all = pictureNames, all.count != numbered.count {
            let taken = Set(numbered.map { ($0.1 as NSString).lastPathComponent })
            let other = all.first { !taken.contains($0) } ?? "?"
            throw MediaError.invalidArgument(
                "\(path) holds pictures of more than one name (\((first.1 as NSString).lastPathComponent), \(other)): one sequence per folder, or give a pattern like '\(path)/\(prefix.replacingOccurrences(of: "%", with: "%%"))%0\(width ?? 4)d\(suffix.replacingOccurrences(of: "%", with: "%%"))'"
            )
        }
        for (a, b) in zip(numbered, numbered.dropFirst()) where b.0 != a.0 + 1 {
            guard b.0 != a.0 else {
                throw MediaError.invalidArgument(
                    "\(path): frame \(a.0) appears twice (\((a.1 as NSString).lastPathComponent), \((b.1 as NSString).lastPathComponent))"
                )
            }
            let missing = b.0 - a.0 - 1
            throw MediaError.invalidArgument(
                "\(path): \(missing) frame\(missing == 1 ? "" : "s") missing after \((a.1 as NSString).lastPathComponent) (next is \((b.1 as NSString).lastPathComponent)): a sequence must be complete"
            )
        }
        let pattern =
            folder.replacingOccurrences(of: "%", with: "%%") + "/" + prefix.replacingOccurrences(of: "%", with: "%%")
            + (width.map { "%0\($0)d" } ?? "%d")
            + suffix.replacingOccurrences(of: "%", with: "%%")
        let header = suffix.lowercased().hasSuffix(".dpx") ? DPXHeader(path: first.1) : nil
        let exr = suffix.lowercased().hasSuffix(".exr") ? EXRHeader(path: first.1) : nil
        let rate: Rational, source: String
        if let r = override {
            rate = r
            source = "--input-rate"
        } else if let r = header?.frameRate {
            rate = r
            source = "DPX header"
        } else if let r = exr?.frameRate {
            rate = r
            source = "EXR header"
        } else {
            rate = Rational(24)
            source = "default (no rate in the files; set it with --input-rate)"
        }
        var seq = ImageSequence(
            pattern: pattern, firstNumber: first.0, count: numbered.count, files: numbered.map(\.1),
            rate: rate, rateSource: source, header: header)
        seq.exr = exr
        return seq
    }

    /// A sequence's identity for a recipe: total size, and SHA-256 of each file's name and size and
    /// of a sample of the files' contents (first, every 1/16th, last).
    public func identity() throws -> (size: Int64, sampledSHA256: String) {
        var size: Int64 = 0
        var listing = ""
        for f in files {
            let s = ((try? FileManager.default.attributesOfItem(atPath: f))?[.size] as? NSNumber)?.int64Value ?? -1
            size += max(s, 0)
            listing += (f as NSString).lastPathComponent + ":\(s)\n"
        }
        let step = max(1, files.count / 16)
        var picks = Array(stride(from: 0, to: files.count, by: step))
        if picks.last != files.count - 1 { picks.append(files.count - 1) }
        let hashes = try picks.map { try FileDigest.sha256(path: files[$0]) }.joined(separator: "\n")
        return (size, FileDigest.sha256(data: Array((listing + hashes).utf8)))
    }
}

/// The fields of a DPX (SMPTE 268M) header that matter to a restoration: how the values are coded
/// (printing density / log, linear, video), the bit depth, the frame rate and the timecode.
public struct DPXHeader: Sendable, Equatable {
    /// Transfer characteristic code of the first image element (268M table 5).
    public let transfer: Int
    /// Colorimetric specification code (same table).
    public let colorimetric: Int
    public let bitDepth: Int
    public let frameRate: Rational?
    /// SMPTE timecode HH:MM:SS:FF, when the TV header holds one.
    public let timecode: String?

    /// 1 printing density, 3 logarithmic: a log scan (Cineon-like), kept as it is.
    public var isLog: Bool { transfer == 1 || transfer == 3 }
    public var transferName: String {
        switch transfer {
        case 0: return "user-defined"
        case 1: return "printing density"
        case 2: return "linear"
        case 3: return "logarithmic"
        case 4: return "unspecified video"
        case 5: return "SMPTE 274M"
        case 6: return "ITU-R 709"
        case 7, 8: return "ITU-R 601"
        default: return "code \(transfer)"
        }
    }

    public init?(path: String) {
        guard let h = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? h.close() }
        let d = h.readData(ofLength: 2048)
        guard d.count >= 808 else { return nil }
        let bytes = [UInt8](d)
        let big: Bool
        switch String(decoding: bytes[0..<4], as: UTF8.self) {
        case "SDPX": big = true
        case "XPDS": big = false
        default: return nil
        }
        func u32(_ o: Int) -> UInt32? {
            guard o + 4 <= bytes.count else { return nil }
            let v = bytes[o..<(o + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            return big ? v : v.byteSwapped
        }
        func f32(_ o: Int) -> Float? { u32(o).map { Float(bitPattern: $0) } }
        let dataOffset = Int(u32(4) ?? 0)
        transfer = Int(bytes[801])
        colorimetric = Int(bytes[802])
        bitDepth = Int(bytes[803])
        func rate(_ o: Int) -> Rational? {
            guard dataOffset >= o + 4, let f = f32(o), f.isFinite, f > 1, f < 1000 else { return nil }
            // Rates are stored as floats: 23.976 means 24000/1001.
            for r in [Rational(24000, 1001), Rational(30000, 1001), Rational(60000, 1001)]
            where abs(r.doubleValue - Double(f)) < 0.001 { return r }
            return Rational(Int64((Double(f) * 1000).rounded()), 1000)
        }
        frameRate = rate(1724) ?? rate(1940)
        if dataOffset >= 1924, let tc = u32(1920), tc != 0xFFFF_FFFF {
            let digits = (0..<8).reversed().map { Int((tc >> (UInt32($0) * 4)) & 0xF) }
            if digits.allSatisfy({ $0 <= 9 }) {
                timecode = String(
                    format: "%d%d:%d%d:%d%d:%d%d", digits[0], digits[1], digits[2], digits[3], digits[4], digits[5],
                    digits[6], digits[7])
            } else {
                timecode = nil
            }
        } else {
            timecode = nil
        }
    }
}

extension DPXHeader {
    /// What a written DPX file should say of its pictures (nil: leave what the encoder wrote).
    public struct Fields: Sendable, Equatable {
        public var transfer: Int?
        public var colorimetric: Int?
        public var frameRate: Rational?
        public var timecode: String?
        public init(transfer: Int? = nil, colorimetric: Int? = nil, frameRate: Rational? = nil, timecode: String? = nil)
        {
            self.transfer = transfer
            self.colorimetric = colorimetric
            self.frameRate = frameRate
            self.timecode = timecode
        }
    }

    /// The DPX transfer code for an H.273 transfer (nil when DPX has none).
    public static func transferCode(h273 t: Int, primaries: Int) -> Int? {
        switch t {
        case 1, 14, 15: return 6  // ITU-R 709
        case 6: return primaries == 5 ? 7 : 8  // ITU-R 601, 625 or 525 lines
        case 8: return 2  // linear
        default: return nil
        }
    }

    /// Writes `fields` into the DPX file at `path`. FFmpeg writes a 1664-byte header (no film or TV
    /// header, transfer always "linear"): the header is grown to the standard 2048 bytes with
    /// the film and TV headers (frame rate, timecode), unused fields set to "undefined" (all ones).
    public static func stamp(_ path: String, fields: Fields) throws {
        guard let data = FileManager.default.contents(atPath: path), data.count >= 1664 else {
            throw MediaError.invalidArgument("\(path): not a DPX file")
        }
        var b = [UInt8](data)
        let big: Bool
        switch String(decoding: b[0..<4], as: UTF8.self) {
        case "SDPX": big = true
        case "XPDS": big = false
        default: throw MediaError.invalidArgument("\(path): not a DPX file")
        }
        func get(_ o: Int) -> UInt32 {
            let v = b[o..<(o + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            return big ? v : v.byteSwapped
        }
        func put(_ o: Int, _ v: UInt32) {
            let w = big ? v : v.byteSwapped
            for i in 0..<4 { b[o + i] = UInt8(truncatingIfNeeded: w >> (24 - 8 * UInt32(i))) }
        }
        let offset = Int(get(4))
        guard offset <= b.count, offset >= 1664 else {
            throw MediaError.invalidArgument("\(path): DPX image offset \(offset) is out of the file")
        }
        if offset < 2048 {
            // Room for the film (1664…1919) and TV (1920…2047) headers, all undefined.
            b.insert(contentsOf: [UInt8](repeating: 0xFF, count: 2048 - offset), at: offset)
            let grow = UInt32(2048 - offset)
            put(4, 2048)
            put(16, get(16) + grow)  // file size
            put(24, 384)  // industry header size
            put(28, 0)  // no user data
            for e in 0..<8 {  // image elements' data offsets
                let o = 780 + 72 * e + 28
                let v = get(o)
                if v != 0xFFFF_FFFF, Int(v) >= offset { put(o, v + grow) }
            }
        }
        if let t = fields.transfer { b[801] = UInt8(clamping: t) }
        if let c = fields.colorimetric { b[802] = UInt8(clamping: c) }
        if let r = fields.frameRate {
            let f = Float(r.doubleValue).bitPattern
            put(1724, f)  // film header: frames per second
            put(1940, f)  // TV header: temporal sampling rate
        }
        if let tc = fields.timecode, let digits = Timecode.digits(tc) {
            put(1920, digits.reduce(UInt32(0)) { $0 << 4 | UInt32($1) })
        }
        try Data(b).write(to: URL(fileURLWithPath: path))
    }
}

/// SMPTE non-drop-frame timecode arithmetic (HH:MM:SS:FF at an integer frame rate).
public enum Timecode {
    /// The eight digits of "HH:MM:SS:FF" (nil for anything else, drop-frame ";" included).
    public static func digits(_ tc: String) -> [Int]? {
        let parts = tc.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 4,
            parts.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) })
        else { return nil }
        return parts.flatMap { $0.map { Int(String($0))! } }
    }

    /// Hours, minutes, seconds and frames of "HH:MM:SS:FF", nil unless hours < 24 and minutes and
    /// seconds < 60.
    static func fields(_ tc: String) -> (h: Int, m: Int, s: Int, f: Int)? {
        guard let d = digits(tc) else { return nil }
        let h = d[0] * 10 + d[1], m = d[2] * 10 + d[3], s = d[4] * 10 + d[5], f = d[6] * 10 + d[7]
        return h < 24 && m < 60 && s < 60 ? (h, m, s, f) : nil
    }

    /// Whether `tc` is a timecode a film at `rate` can have: HH:MM:SS:FF (HH:MM:SS;FF drop-frame at
    /// 29.97 or 59.94 only) with hours < 24, minutes and seconds < 60, frames < the rate's whole
    /// frames per second (any rate when it is not known).
    public static func isValid(_ tc: String, rate: Rational?) -> Bool {
        let dropFrame = tc.count == 11 && tc[tc.index(tc.startIndex, offsetBy: 8)] == ";"
        let plain = dropFrame ? tc.replacingOccurrences(of: ";", with: ":") : tc
        guard let (_, _, _, f) = fields(plain) else { return false }
        guard let r = rate else { return f < 120 }
        if dropFrame && !(r == Rational(30000, 1001) || r == Rational(60000, 1001)) { return false }
        return f < max(1, Int(r.doubleValue.rounded()))
    }

    /// `tc` plus `frames` frames at `rate` (rounded to whole frames per second, as timecode counts);
    /// nil for a drop-frame or malformed timecode.
    public static func adding(_ tc: String, frames: Int, rate: Rational) -> String? {
        let fps = max(1, Int(rate.doubleValue.rounded()))
        guard let (h, m, s, f) = fields(tc), f < fps else { return nil }
        let day = 24 * 3600 * fps
        var n = ((h * 60 + m) * 60 + s) * fps + f + frames
        n = ((n % day) + day) % day
        return String(format: "%02d:%02d:%02d:%02d", n / (3600 * fps), n / (60 * fps) % 60, n / fps % 60, n % fps)
    }
}

/// The OpenEXR header attributes a sequence needs: `framesPerSecond` (rational) and `timeCode`
/// (SMPTE 12M packed BCD), read from the attribute list without decoding the picture.
public struct EXRHeader: Sendable, Equatable {
    public let frameRate: Rational?
    public let timecode: String?
    /// Where the header ends (the offset table begins).
    public let headerEnd: Int

    public init?(path: String) {
        guard let h = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? h.close() }
        self.init(bytes: [UInt8](h.readData(ofLength: 1 << 16)))
    }

    public init?(bytes b: [UInt8]) {
        guard b.count >= 9, b[0..<4] == [0x76, 0x2F, 0x31, 0x01] else { return nil }
        func u32(_ o: Int) -> UInt32 { (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[o + $1]) << (8 * UInt32($1)) } }
        func cString(_ o: inout Int) -> String? {
            guard let end = b[o...].firstIndex(of: 0), end - o < 256 else { return nil }
            defer { o = end + 1 }
            return String(decoding: b[o..<end], as: UTF8.self)
        }
        var o = 8, rate: Rational? = nil, tc: String? = nil
        while true {
            guard o < b.count else { return nil }
            guard let name = cString(&o) else { return nil }
            if name.isEmpty { break }
            guard let type = cString(&o), o + 4 <= b.count else { return nil }
            let size = Int(u32(o))
            o += 4
            guard size >= 0, o + size <= b.count else { return nil }
            if name == "framesPerSecond", type == "rational", size == 8 {
                let num = Int32(bitPattern: u32(o)), den = u32(o + 4)
                if num > 0, den > 0, Double(num) / Double(den) < 1000 { rate = Rational(Int64(num), Int64(den)) }
            } else if name == "timeCode", type == "timecode", size == 8 {
                let t = u32(o)
                func bcd(_ shift: UInt32, _ tensBits: UInt32) -> Int {
                    Int((t >> (shift + 4)) & tensBits) * 10 + Int((t >> shift) & 0xF)
                }
                let (hh, mm, ss, ff) = (bcd(24, 0x3), bcd(16, 0x7), bcd(8, 0x7), bcd(0, 0x3))
                if hh < 24, mm < 60, ss < 60, ff < 60 {
                    tc = String(format: "%02d:%02d:%02d%@%02d", hh, mm, ss, t & 0x40 != 0 ? ";" : ":", ff)
                }
            }
            o += size
        }
        frameRate = rate
        timecode = tc
        headerEnd = o
    }
}
