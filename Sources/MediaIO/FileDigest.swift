import CFFmpeg
import Foundation

/// SHA-256 of files (FFmpeg's implementation), as lowercase hex.
public enum FileDigest {
    /// The whole file.
    public static func sha256(path: String) throws -> String {
        try digest(path: path) { file, sha in
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = fread(&buffer, 1, buffer.count, file)
                if n > 0 { av_sha_update(sha, buffer, n) }
                if n < buffer.count {
                    if ferror(file) != 0 { throw MediaError.io("\(path): read error") }
                    return
                }
            }
        }
    }

    /// A quick identity of a large file (a film scan of hundreds of GB): SHA-256 of its size and of
    /// `samples` chunks of `chunk` bytes spread evenly from the first byte to the last. Any re-encode,
    /// trim or edit changes it; reading it costs `samples × chunk` bytes, not the whole file.
    public static func sampledSHA256(path: String, samples: Int = 64, chunk: Int = 1 << 20) throws -> String {
        try digest(path: path) { file, sha in
            guard fseeko(file, 0, SEEK_END) == 0 else { throw MediaError.io("\(path): cannot seek") }
            let size = Int64(ftello(file))
            var header = "size:\(size)"
            av_sha_update(sha, &header, header.utf8.count)
            var buffer = [UInt8](repeating: 0, count: chunk)
            let span = max(0, size - Int64(chunk))
            for k in 0..<samples {
                let at = samples > 1 ? span * Int64(k) / Int64(samples - 1) : 0
                guard fseeko(file, off_t(at), SEEK_SET) == 0 else { throw MediaError.io("\(path): cannot seek") }
                let n = fread(&buffer, 1, chunk, file)
                if n > 0 { av_sha_update(sha, buffer, n) }
                if Int64(chunk) >= size { break }
            }
        }
    }

    private static func digest(path: String, _ body: (UnsafeMutablePointer<FILE>, OpaquePointer) throws -> Void) throws -> String {
        guard let file = fopen(path, "rb") else { throw MediaError.io("\(path): \(String(cString: strerror(errno)))") }
        defer { fclose(file) }
        guard let sha = av_sha_alloc() else { throw MediaError.io("av_sha_alloc failed: out of memory") }
        defer { av_free(UnsafeMutableRawPointer(sha)) }
        av_sha_init(sha, 256)
        try body(file, sha)
        var out = [UInt8](repeating: 0, count: 32)
        av_sha_final(sha, &out)
        return out.map { String(format: "%02x", $0) }.joined()
    }
}

extension FileDigest {
    /// SHA-256 of bytes in memory.
    public static func sha256(data: [UInt8]) -> String {
        let sha = av_sha_alloc()!
        defer { av_free(UnsafeMutableRawPointer(sha)) }
        av_sha_init(sha, 256)
        av_sha_update(sha, data, data.count)
        var out = [UInt8](repeating: 0, count: 32)
        av_sha_final(sha, &out)
        return out.map { String(format: "%02x", $0) }.joined()
    }
    public static func sha256(data: Data) -> String { sha256(data: [UInt8](data)) }
}
