import Foundation
import FilmCore
import MediaIO

/// Everything a restore's output depends on: the tool's version, the input's identity, the stages
/// with their options (after every override and automatic insertion), the encoder settings, and
/// every model or reference file the stages read, each with its hash. Its `fingerprint` (SHA-256 of
/// the canonical JSON) marks every segment: a segment made under another recipe is never reused.
public struct Recipe: Codable, Equatable, Sendable {
    public struct Input: Codable, Equatable, Sendable {
        public var path: String
        public var size: Int64
        /// `FileDigest.sampledSHA256`: size and 64 chunks of 1 MiB spread over the file.
        public var sampledSHA256: String
    }
    public struct StageRecord: Codable, Equatable, Sendable {
        public var name: String
        public var options: [String: String]
    }
    /// A model or reference file a stage reads.
    public struct File: Codable, Equatable, Sendable {
        public var stage: String
        public var path: String
        public var sha256: String
    }

    public var tool: String
    public var input: Input
    public var preset: String
    public var stages: [StageRecord]
    public var encoder: EncoderSettings
    public var files: [File]
    /// The source's timecode at its first frame (a DPX header's, or a MOV/MXF timecode track's),
    /// carried to the output's timecode (a tmcd track in MOV/MP4, a TIMECODE tag in Matroska).
    public var timecode: String? = nil

    /// SHA-256 of the recipe as canonical JSON (sorted keys; the input's path left out, so a film
    /// moved to another folder or mounted elsewhere on a cluster node keeps its segments).
    public var fingerprint: String {
        var r = self
        r.input.path = ""
        r.files = r.files.map {
            File(stage: $0.stage, path: ($0.path as NSString).lastPathComponent, sha256: $0.sha256)
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return FileDigest.sha256(data: try! enc.encode(r))
    }

    /// The tag of a part of a film (`--start`): the source time (reader's clock, as a rational)
    /// that the part's time 0 shows, so that a report pairs its frames exactly.
    public static let partOriginTag = "filmrestore_part_origin"

    /// Provenance written into the output file's global metadata: the tool and version, the preset,
    /// the stages, and every model with its SHA-256.
    public var metadata: [String: String] {
        var m = [
            "encoding_tool": "filmrestore \(tool) (preset \(preset))",
            "filmrestore_version": tool,
            "filmrestore_preset": preset,
            "filmrestore_stages": stages.map(\.name).joined(separator: ","),
            "filmrestore_recipe": fingerprint,
            Self.chainTag: Self.chainJSON(stages),
        ]
        if let tc = timecode { m["timecode"] = tc }
        if let t = encoder.sourceTransfer { m["source_transfer"] = t }
        if !files.isEmpty {
            m["filmrestore_models"] = files.map {
                "\($0.stage):\(($0.path as NSString).lastPathComponent) sha256:\($0.sha256)"
            }.joined(separator: "; ")
        }
        return m
    }

    /// The stages with every option, as JSON, so that `filmrestore report` can re-run the cleanup
    /// part of the chain on the source.
    public static let chainTag = "filmrestore_chain"
    static func chainJSON(_ stages: [StageRecord]) -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return String(decoding: try! enc.encode(stages), as: UTF8.self)
    }
    public static func chain(fromMetadata m: [String: String]) -> [StageRecord]? {
        guard let s = m[chainTag] else { return nil }
        return try? JSONDecoder().decode([StageRecord].self, from: Data(s.utf8))
    }

    static func identify(input path: String) throws -> Input {
        if let seq = try ImageSequence.detect(path) {
            let id = try seq.identity()
            return Input(path: path, size: id.size, sampledSHA256: id.sampledSHA256)
        }
        let attrs = try FileManager.default.attributesOfItem(atPath: path)
        return Input(
            path: path, size: (attrs[.size] as? NSNumber)?.int64Value ?? 0,
            sampledSHA256: try FileDigest.sampledSHA256(path: path))
    }

    /// The model files, plus every file or folder of pictures an input path option names (colorize
    /// keyframes): the options the stage's spec declares as `.path(.input)`, nothing guessed.
    static func files(stages: [StageRecord], weights: [[String]]) throws -> [File] {
        var out: [File] = []
        for (i, s) in stages.enumerated() {
            var paths = weights[i]
            let declared = StageRegistry.spec(named: s.name)?.options ?? []
            for key in s.options.keys.sorted()
            where declared.contains(where: { $0.key == key && $0.type == .path(.input) }) {
                let v = s.options[key]!
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: v, isDirectory: &isDir) else { continue }
                if isDir.boolValue {
                    let names = (try? FileManager.default.contentsOfDirectory(atPath: v)) ?? []
                    paths += names.sorted().filter { !$0.hasPrefix(".") }.map { v + "/" + $0 }
                } else {
                    paths.append(v)
                }
            }
            for p in paths where !out.contains(where: { $0.path == p && $0.stage == s.name }) {
                out.append(File(stage: s.name, path: p, sha256: try FileDigest.sha256(path: p)))
            }
        }
        return out
    }
}
