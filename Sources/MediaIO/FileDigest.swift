import Crypto
import Foundation

/// SHA-256 of files (swift-crypto), as lowercase hex. Every byte hashed is an explicit byte of
/// the file or of a fixed ASCII header: nothing of the process (an address, a length word) can
/// enter the hash, so the same file gives the same hash on every run and every machine.
public enum FileDigest {
    /// The whole file.
    public static func sha256(path: String) throws -> String {
        try withFile(path) { file in
            var sha = SHA256()
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = fread(&buffer, 1, buffer.count, file)
                if n > 0 {
                    buffer.withUnsafeBytes { sha.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[..<n])) }
                }
                if n < buffer.count {
                    if ferror(file) != 0 { throw MediaError.io("\(path): read error") }
                    return hex(sha.finalize())
                }
            }
        }
    }

    /// A quick identity of a large file (a film scan of hundreds of GB): SHA-256 of its size (as the
    /// ASCII text `size:N`) and of `samples` chunks of `chunk` bytes spread evenly from the first byte
    /// to the last. Any re-encode, trim or edit changes it; reading it costs `samples × chunk` bytes,
    /// not the whole file.
    public static func sampledSHA256(path: String, samples: Int = 64, chunk: Int = 1 << 20) throws -> String {
        try withFile(path) { file in
            guard fseeko(file, 0, SEEK_END) == 0 else { throw MediaError.io("\(path): cannot seek") }
            let size = Int64(ftello(file))
            var sha = SHA256()
            sha.update(data: Array("size:\(size)".utf8))
            var buffer = [UInt8](repeating: 0, count: chunk)
            let span = max(0, size - Int64(chunk))
            for k in 0..<samples {
                let at = samples > 1 ? span * Int64(k) / Int64(samples - 1) : 0
                guard fseeko(file, off_t(at), SEEK_SET) == 0 else { throw MediaError.io("\(path): cannot seek") }
                let n = fread(&buffer, 1, chunk, file)
                if n < chunk && ferror(file) != 0 { throw MediaError.io("\(path): read error") }
                if n > 0 {
                    buffer.withUnsafeBytes { sha.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[..<n])) }
                }
                if Int64(chunk) >= size { break }
            }
            return hex(sha.finalize())
        }
    }

    private static func withFile(_ path: String, _ body: (UnsafeMutablePointer<FILE>) throws -> String) throws -> String
    {
        guard let file = fopen(path, "rb") else { throw MediaError.io("\(path): \(String(cString: strerror(errno)))") }
        defer { fclose(file) }
        return try body(file)
    }

    private static func hex(_ d: SHA256.Digest) -> String { d.map { String(format: "%02x", $0) }.joined() }

    /// SHA-256 of bytes in memory.
    public static func sha256(data: [UInt8]) -> String { hex(SHA256.hash(data: data)) }
    public static func sha256(data: Data) -> String { hex(SHA256.hash(data: data)) }
}
