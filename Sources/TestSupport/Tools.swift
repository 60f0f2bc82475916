import Foundation
import FilmCore
import Restoration
import MediaIO

/// Helpers for tests: synthetic clips made with the `ffmpeg` command, probing with `ffprobe`,
/// image metrics, and a synchronous stage harness.
public enum TestError: Error, CustomStringConvertible {
    case command(String)
    public var description: String {
        if case let .command(s) = self { return s }
        return ""
    }
}

public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs a program and waits for it. Its output goes to temporary files, not pipes, so a
/// grandchild that keeps a pipe open can never hang the test.
@discardableResult
public func runProcess(_ exe: String, _ args: [String]) throws -> ProcessResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe.hasPrefix("/") ? exe : "/usr/bin/env")
    p.arguments = exe.hasPrefix("/") ? args : [exe] + args
    let base = NSTemporaryDirectory() + "/filmrestore-proc-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let outPath = base + ".out", errPath = base + ".err"
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    defer {
        unlink(outPath)
        unlink(errPath)
    }
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    try? out.close()
    try? err.close()
    let o = (try? Data(contentsOf: URL(fileURLWithPath: outPath))) ?? Data()
    let e = (try? Data(contentsOf: URL(fileURLWithPath: errPath))) ?? Data()
    return ProcessResult(
        status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
        stderr: String(decoding: e, as: UTF8.self))
}

/// `ffmpeg -v error -y ARGS`, throwing with its message on failure.
public func ffmpeg(_ args: [String]) throws {
    let r = try runProcess("ffmpeg", ["-nostdin", "-v", "error", "-y"] + args)
    if r.status != 0 { throw TestError.command("ffmpeg \(args.joined(separator: " ")) failed: \(r.stderr)") }
}

/// A clip made by FFmpeg's lavfi: the `testsrc2` picture and a sine tone, H.264 (ultrafast) and AAC
/// (whose priming delay gives the file a real, non-zero sound-to-picture offset). `videoOptions` go
/// before the encoder options (a filter, a quantizer).
/// Two shots of 12 frames each at 12 fps (a moving test card, then a cut to a fractal), gray, lossless (FFV1).
public func twoShotGrayClip(_ path: String) throws {
    try ffmpeg([
        "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=12:duration=1", "-f", "lavfi", "-i",
        "mandelbrot=size=160x120:rate=12", "-filter_complex",
        "[0]format=gray[a];[1]trim=end_frame=12,setpts=PTS-STARTPTS,format=gray[b];[a][b]concat=n=2:v=1[v]",
        "-map", "[v]", "-c:v", "ffv1", path,
    ])
}

public func testClip(
    _ path: String, size: String = "160x120", rate: String = "24", seconds: Double, tone: Int = 440,
    videoOptions: [String] = []
) throws {
    try ffmpeg(
        [
            "-f", "lavfi", "-i", "testsrc2=size=\(size):rate=\(rate):duration=\(seconds)",
            "-f", "lavfi", "-i", "sine=frequency=\(tone):sample_rate=48000:duration=\(seconds)",
        ] + videoOptions + [
            "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", path,
        ])
}

/// ffprobe's JSON for a file.
public func ffprobe(_ path: String, _ args: [String]) throws -> [String: Any] {
    let r = try runProcess("ffprobe", ["-v", "error", "-of", "json"] + args + [path])
    if r.status != 0 { throw TestError.command("ffprobe failed: \(r.stderr)") }
    return (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any] ?? [:]
}

public struct ProbedStream {
    public var index: Int
    public var type: String
    public var codec: String
    public var width: Int, height: Int
    public var rFrameRate: String
    public var duration: Double?
    public var pixFmt: String?
    public var colorSpace: String?, colorRange: String?
}

public func probeStreams(_ path: String) throws -> [ProbedStream] {
    let j = try ffprobe(path, ["-show_streams"])
    return (j["streams"] as? [[String: Any]] ?? []).map { s in
        ProbedStream(
            index: s["index"] as? Int ?? 0, type: s["codec_type"] as? String ?? "",
            codec: s["codec_name"] as? String ?? "",
            width: s["width"] as? Int ?? 0, height: s["height"] as? Int ?? 0,
            rFrameRate: s["r_frame_rate"] as? String ?? "",
            duration: (s["duration"] as? String).flatMap(Double.init), pixFmt: s["pix_fmt"] as? String,
            colorSpace: s["color_space"] as? String, colorRange: s["color_range"] as? String)
    }
}

/// Presentation times (seconds) of every frame of the first video stream, decoded by ffprobe.
public func probeFrameTimes(_ path: String, stream: String = "v:0") throws -> [Double] {
    let j = try ffprobe(
        path, ["-select_streams", stream, "-show_entries", "frame=best_effort_timestamp_time,pts_time"])
    return (j["frames"] as? [[String: Any]] ?? []).compactMap {
        (($0["best_effort_timestamp_time"] ?? $0["pts_time"]) as? String).flatMap(Double.init)
    }
}

/// First presentation time and end (last pts + duration) of a stream, from its packets.
public func packetSpan(_ path: String, stream: String) throws -> (start: Double, end: Double) {
    let j = try ffprobe(path, ["-select_streams", stream, "-show_entries", "packet=pts_time,duration_time"])
    let packets = (j["packets"] as? [[String: Any]] ?? []).compactMap { p -> (Double, Double)? in
        guard let t = (p["pts_time"] as? String).flatMap(Double.init) else { return nil }
        return (t, (p["duration_time"] as? String).flatMap(Double.init) ?? 0)
    }
    guard !packets.isEmpty else { throw TestError.command("no packets in \(stream) of \(path)") }
    return (packets.map { $0.0 }.min()!, packets.map { $0.0 + $0.1 }.max()!)
}

/// Per-packet (pts, duration, size, hash) of a stream, read without decoding.
public func packetHashes(_ path: String, stream: String) throws -> [String] {
    let r = try runProcess(
        "ffmpeg", ["-nostdin", "-v", "error", "-i", path, "-map", "0:\(stream)", "-c", "copy", "-f", "framemd5", "-"])
    if r.status != 0 { throw TestError.command("framemd5 failed: \(r.stderr)") }
    // Lines: stream, dts, pts, duration, size, hash. Keep size and hash (timestamps are rebased by muxers).
    return r.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
        let f = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        return f.suffix(2).joined(separator: ",")
    }
}

/// A fresh folder under the system temporary folder, removed by `remove()`.
public final class TempDir {
    public let path: String
    public init(_ tag: String = "filmrestore-test") {
        path = NSTemporaryDirectory() + "/\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    public func file(_ name: String) -> String { path + "/" + name }
    public func listing() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }
    public func remove() { try? FileManager.default.removeItem(atPath: path) }
    deinit { remove() }
}

// MARK: metrics

/// PSNR in dB between two planes of values in 0…1 (∞ when identical).
public func psnr(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count, "psnr of planes of different sizes")
    var se = 0.0
    for i in 0..<a.count {
        let d = Double(a[i] - b[i])
        se += d * d
    }
    let mse = se / Double(a.count)
    return mse == 0 ? .infinity : 10 * log10(1 / mse)
}

/// PSNR over all planes of two frames.
public func psnr(_ a: Frame, _ b: Frame) -> Double {
    precondition(a.planes.count == b.planes.count)
    return psnr(a.planes.flatMap { $0 }, b.planes.flatMap { $0 })
}

// MARK: synthetic content

/// A textured, moving test picture: smooth gradients, fine stripes and a bright square moving
/// `speed` pixels per frame.
public func syntheticFrame(
    width: Int, height: Int, index: Int, layout: PixelLayout = .rgb, speed: Int = 4,
    fps: Rational = Rational(24)
) -> Frame {
    var planes: [[Float]] = []
    for c in 0..<layout.planeCount {
        var p = [Float](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                let fx = Float(x) / Float(width), fy = Float(y) / Float(height)
                var v = 0.25 + 0.3 * fx + 0.2 * fy * Float(c + 1) / 3
                v += 0.1 * sin(Float(x + index * speed) * 0.3 + Float(c)) * cos(Float(y) * 0.21)
                let sx = (index * speed) % max(width - 16, 1)
                if x >= sx && x < sx + 16 && y >= height / 3 && y < height / 3 + 16 { v = 0.9 }
                p[y * width + x] = min(max(v, 0.02), 0.98)
            }
        }
        planes.append(p)
    }
    let pts = Rational(Int64(index)) / fps
    return Frame(
        width: width, height: height, layout: layout, planes: planes, pts: pts, duration: fps.reciprocal,
        properties: FrameProperties(sourceIndex: index))
}

// MARK: stage harness

/// Runs one stage synchronously (no threads, no queues), like swift-nio's EmbeddedChannel: push
/// frames, read what came out.
public final class StageHarness {
    public let stage: any Stage
    public let output: StreamInfo
    public private(set) var emitted: [Frame] = []

    public init(_ name: String, options: [String: String] = [:], input: StreamInfo) throws {
        stage = try StageRegistry.make(name, options: StageOptions(stage: name, values: options))
        output = try stage.configure(input)
    }

    public init(stage: any Stage, input: StreamInfo) throws {
        self.stage = stage
        output = try stage.configure(input)
    }

    @discardableResult
    public func push(_ f: Frame) throws -> [Frame] {
        var out: [Frame] = []
        try stage.process(f) { out.append($0) }
        emitted += out
        return out
    }

    @discardableResult
    public func finish() throws -> [Frame] {
        var out: [Frame] = []
        try stage.flush { out.append($0) }
        emitted += out
        return out
    }
}

public func streamInfo(
    width: Int, height: Int, layout: PixelLayout = .rgb, fps: Rational = Rational(24),
    sar: Rational = .one, frames: Int? = nil
) -> StreamInfo {
    StreamInfo(
        width: width, height: height, layout: layout, sampleAspect: sar, frameRate: fps, averageRate: fps,
        color: .bt709, duration: frames.map { Rational(Int64($0)) / fps }, frameCount: frames)
}

/// Every frame of a file, decoded by MediaReader, with the reader (for its stream description).
public func decodeAll(_ path: String) throws -> (MediaReader, [Frame]) {
    let r = try MediaReader(path: path)
    var frames: [Frame] = []
    while let f = try r.nextFrame() { frames.append(f) }
    return (r, frames)
}

/// A small seeded generator for test data (SplitMix64): the same numbers on every machine.
public struct SplitMix64 {
    var s: UInt64
    public init(_ seed: UInt64) { s = seed }
    public mutating func next() -> UInt64 {
        s &+= 0x9E37_79B9_7F4A_7C15
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func nextUnit() -> Float { Float(next() >> 40) / Float(1 << 24) }
}

/// A fixture of raw little-endian float32 values.
public func readFloat32(_ url: URL) throws -> [Float] {
    let d = try Data(contentsOf: url)
    return d.withUnsafeBytes { p in
        (0..<(d.count / 4)).map {
            Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
        }
    }
}

// MARK: parity

/// Why a parity comparison could not be made: different lengths, nothing to compare, or a NaN.
public struct ParityError: Error, CustomStringConvertible {
    public let description: String
}

/// The largest absolute difference of two sequences of values — after checking they hold the same number of
/// values (a longer one is not compared by its prefix), at least one, and no NaN (which `max()` would skip).
public func maxAbsDifference<A: Sequence, B: Sequence>(_ a: A, _ b: B) throws -> Double
where A.Element: BinaryFloatingPoint, B.Element: BinaryFloatingPoint {
    let x = a.map { Double($0) }, y = b.map { Double($0) }
    guard x.count == y.count else { throw ParityError(description: "\(x.count) values against \(y.count)") }
    guard !x.isEmpty else { throw ParityError(description: "no values to compare") }
    if let i = x.firstIndex(where: \.isNaN) ?? y.firstIndex(where: \.isNaN) {
        throw ParityError(description: "NaN at value \(i)")
    }
    var worst = 0.0
    for i in x.indices { worst = max(worst, abs(x[i] - y[i])) }
    return worst
}

/// The same for two arrays of floats, as a Float (parity bounds are written in Float).
public func maxAbsDifference(_ a: [Float], _ b: [Float]) throws -> Float {
    Float(try maxAbsDifference(a as [Float], b as [Float]) as Double)
}

/// A source of `count` small gray frames at 24 fps, numbered from 0 (their `sourceIndex`), then nil.
public func numberedFrames(_ count: Int) -> () throws -> Frame? {
    var n = 0
    return {
        guard n < count else { return nil }
        defer { n += 1 }
        return Frame(
            width: 4, height: 4, layout: .gray, fill: [0], pts: Rational(Int64(n), 24),
            properties: FrameProperties(sourceIndex: n))
    }
}
