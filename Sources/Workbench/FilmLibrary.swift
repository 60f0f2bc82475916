import Crypto
import FilmCore
import Foundation
import MediaIO
import Restoration

/// One film under the root, with what `probe` says of it. What `GET /api/films` lists.
public struct LibraryFilm: Codable, Sendable, Equatable {
    public var id: String
    /// Relative to the root.
    public var path: String
    public var width: Int
    public var height: Int
    /// Frames per second (the average rate for variable-rate films), and the exact rate as a fraction.
    public var rate: Double
    public var rateText: String
    public var variableRate: Bool
    public var frames: Int?
    public var duration: Double?
    /// Sound streams (copied unchanged into every output).
    public var audio: Int
    public var codec: String
    public var colour: String
    public var timecode: String?
    public var sequence: Bool

    enum CodingKeys: String, CodingKey {
        case id, path, width, height, rate, rateText = "rate_text", variableRate = "variable_rate", frames, duration
        case audio, codec, colour, timecode, sequence
    }
}

/// The films under the root: video files (by extension, as a batch takes them) and folders of scans,
/// found again on every listing, probed once per file version (path, size, time). Hidden files and
/// folders, the outputs folder, and links that leave the root are not listed.
public final class FilmLibrary: Sendable {
    public let root: RootFolder
    /// Folders (relative to the root) that are not searched: the workbench's outputs.
    let skipped: Set<String>
    private let cache = Locked([String: (stamp: String, film: LibraryFilm?)]())
    /// id → path, as the last walk found them.
    private let known = Locked([String: String]())
    private let maxDepth = 6

    public init(root: RootFolder, skipping: Set<String>) {
        self.root = root
        self.skipped = skipping
    }

    /// A film's id: the first 12 hex digits of the SHA-256 of its path relative to the root.
    public static func id(for relative: String) -> String {
        SHA256.hash(data: Data(relative.utf8)).prefix(6).map { String(format: "%02x", $0) }.joined()
    }

    public func films() -> [LibraryFilm] { walked().sorted().compactMap(film(at:)) }

    /// The film with this id: where the last walk found it (a poster, a preview or a job names a film the
    /// page has just listed), else found by walking the root again.
    public func film(id: String) throws -> (film: LibraryFilm, absolute: String) {
        if let path = known.withLock({ $0[id] }), let real = RootFolder.realPath(path), root.contains(real),
            let f = film(at: path)
        {
            return (f, path)
        }
        for path in walked() where Self.id(for: root.relative(path)) == id {
            if let f = film(at: path) { return (f, path) }
        }
        throw WorkbenchError.notFound("no film \(id) under the root")
    }

    /// Every film's path under the root, found now; the ids they answer to are remembered.
    private func walked() -> [String] {
        var found: [String] = []
        walk(root.path, depth: 0, into: &found)
        let ids = Dictionary(found.map { (Self.id(for: root.relative($0)), $0) }) { a, _ in a }
        known.withLock { $0 = ids }
        return found
    }

    private func walk(_ folder: String, depth: Int, into found: inout [String]) {
        let fm = FileManager.default
        guard depth <= maxDepth, let names = try? fm.contentsOfDirectory(atPath: folder) else { return }
        for name in names where !name.hasPrefix(".") {
            let path = folder + "/" + name
            // Links are followed only inside the root.
            guard let real = RootFolder.realPath(path), root.contains(real) else { continue }
            if skipped.contains(root.relative(path)) { continue }
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: real, isDirectory: &isDir) else { continue }
            if isDir.boolValue {
                let entries = (try? fm.contentsOfDirectory(atPath: real)) ?? []
                let pictures = entries.contains {
                    ImageSequence.extensions.contains(($0 as NSString).pathExtension.lowercased())
                }
                if pictures {
                    found.append(path)
                } else {
                    walk(path, depth: depth + 1, into: &found)
                }
            } else if FilmFiles.videoExtensions.contains((name as NSString).pathExtension.lowercased()) {
                found.append(path)
            }
        }
    }

    /// The film at `path`, probed (nil when FFmpeg cannot read it: it is not listed).
    func film(at path: String) -> LibraryFilm? {
        guard let stamp = Self.stamp(path) else { return nil }
        if let c = cache.withLock({ $0[path] }), c.stamp == stamp { return c.film }
        let f = Self.probe(path, relative: root.relative(path))
        cache.withLock { $0[path] = (stamp, f) }
        return f
    }

    /// A file's version: its size and modification time (a folder of scans: the folder's).
    public static func stamp(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return "\(st.st_size):\(st.st_mtim.tv_sec):\(st.st_mtim.tv_nsec)"
    }

    static func probe(_ path: String, relative: String) -> LibraryFilm? {
        guard let reader = try? MediaReader(path: path) else { return nil }
        let s = reader.stream
        let rate = s.frameRate ?? s.averageRate
        let info = try? MediaReader.probe(path: path)
        let video = info?.streams.first { $0.kind == .video }
        return LibraryFilm(
            id: id(for: relative), path: relative, width: s.width, height: s.height, rate: rate.doubleValue,
            rateText: rate.description, variableRate: s.frameRate == nil, frames: s.frameCount,
            duration: s.duration?.doubleValue, audio: info?.streams.filter { $0.kind == .audio }.count ?? 0,
            codec: video?.codec ?? "", colour: "\(s.color)", timecode: reader.timecode,
            sequence: ImageSequence.looksLikeSequence(path))
    }

    /// A still of the film a tenth of the way in, as PNG.
    public static func poster(_ path: String, film: LibraryFilm) throws -> [UInt8] {
        let reader = try MediaReader(path: path)
        let at = Rational(Int64(((film.duration ?? 0) * 0.1 * 1000).rounded()), 1000)
        guard
            let frame = try reader.nextFrame(notBefore: reader.stream.startTime + at)
                ?? MediaReader(path: path).nextFrame()
        else { throw WorkbenchError.notFound("\(film.path): no frame decodes") }
        return try StillImage.png(frame)
    }
}
