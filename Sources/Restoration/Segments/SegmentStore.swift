import Foundation
import FilmCore
import MediaIO

/// Where a stretch of the film begins: the output frames from `time` on belong to it, made from
/// source frames from `index` on; decoding starts at `contextIndex` (at `contextTime`), early
/// enough that every temporal stage sees the frames before it would see in a single pass.
public struct Boundary: Codable, Equatable, Sendable {
    public var index: Int
    public var time: Rational
    public var contextIndex: Int
    public var contextTime: Rational
}

/// The done marker of one segment: written (atomically) only after its file is complete.
public struct SegmentRecord: Codable, Equatable, Sendable {
    public var fingerprint: String
    /// nil: the film's first frame.
    public var start: Boundary?
    /// nil: to the film's end.
    public var end: Boundary?
    /// The segment file's name in the store (nil when the stretch made no frames).
    public var file: String?
    public var bytes: Int64?
    public var sha256: String?
    public var frames: Int
    public var firstPts: Rational?
    /// The last frame's timestamp plus its duration.
    public var endPts: Rational?
    public var seconds: Double
    /// The writer's color tags (matrix, range, primaries, transfer), restored when joining.
    public var colorTags: [Int]? = nil
}

/// A folder of segment files (`NAME.nut`, video only; `.mov` for codecs NUT cannot hold, such as
/// ProRes) and their done markers (`NAME.done.json`).
/// A segment counts as done only if its marker carries the current recipe's fingerprint and its
/// file has the recorded size and SHA-256; anything else is redone.
public final class SegmentStore {
    public let dir: String
    public let fingerprint: String
    /// The segment files' container (extension).
    public let container: String

    public enum State: Equatable {
        case done(SegmentRecord)
        case missing
        /// Made under another recipe (preset, options, models, input or tool version changed).
        case stale
        /// The file is missing, truncated or altered since it was made.
        case damaged(String)
    }

    public init(dir: String, fingerprint: String, codec: String) throws {
        self.dir = dir
        self.fingerprint = fingerprint
        container = MediaWriter.segmentContainer(for: codec)
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw RestoreError.output("cannot create the segment folder \(dir): \(error.localizedDescription)")
        }
    }

    public func segmentPath(_ name: String) -> String { dir + "/" + name + "." + container }
    func markerPath(_ name: String) -> String { dir + "/" + name + ".done.json" }

    /// Names of all segments with a marker, sorted.
    public var names: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".done.json") }
            .map { String($0.dropLast(".done.json".count)) }.sorted()
    }

    public func state(_ name: String, verifyHash: Bool = true) -> State {
        guard let data = FileManager.default.contents(atPath: markerPath(name)) else { return .missing }
        guard let r = try? JSONDecoder().decode(SegmentRecord.self, from: data) else {
            return .damaged("its done marker is unreadable")
        }
        guard r.fingerprint == fingerprint else { return .stale }
        guard let file = r.file else { return r.frames == 0 ? .done(r) : .damaged("its marker names no file") }
        let path = dir + "/" + file
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: path) else {
            return .damaged("\(file) is missing")
        }
        let size = (attrs[.size] as? NSNumber)?.int64Value ?? -1
        guard size == r.bytes else { return .damaged("\(file) has \(size) bytes, \(r.bytes ?? 0) were written") }
        if verifyHash {
            guard let h = try? FileDigest.sha256(path: path), h == r.sha256 else {
                return .damaged("\(file) does not match its SHA-256")
            }
        }
        return .done(r)
    }

    public func remove(_ name: String) {
        unlink(markerPath(name))
        unlink(segmentPath(name))
    }

    /// Files left by a run that was killed while writing.
    public func removePartials() {
        for n in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where n.contains(".partial") {
            unlink(dir + "/" + n)
        }
    }

    /// A temporary name for a segment being written.
    func partialPath(_ name: String) -> String { dir + "/" + name + ".partial-\(getpid())." + container }

    /// Makes a segment done: renames its finished temporary file, hashes it, then writes the marker
    /// (through a temporary file and a rename, so a marker is never half-written).
    func commit(_ name: String, partial: String?, record: SegmentRecord) throws {
        var r = record
        r.fingerprint = fingerprint
        if let p = partial {
            let final = segmentPath(name)
            guard rename(p, final) == 0 else {
                throw RestoreError.output("cannot rename \(p) to \(final): \(String(cString: strerror(errno)))")
            }
            let attrs = try FileManager.default.attributesOfItem(atPath: final)
            r.file = (final as NSString).lastPathComponent
            r.bytes = (attrs[.size] as? NSNumber)?.int64Value
            r.sha256 = try FileDigest.sha256(path: final)
        } else {
            unlink(segmentPath(name))
            r.file = nil
            r.bytes = nil
            r.sha256 = nil
        }
        try writeJSON(r, to: markerPath(name))
    }
}
