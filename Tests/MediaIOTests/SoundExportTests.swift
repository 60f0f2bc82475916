import XCTest
import FilmCore
import MediaIO
import TestSupport

/// The sound beside a picture sequence, and what the writer counts as written.
final class SoundExportTests: XCTestCase {
    var dir: TempDir!
    override func setUp() { dir = TempDir("sound") }
    override func tearDown() { dir.remove() }

    /// The WAV's samples, as Int16 (the test sources are 16-bit).
    func samples(_ path: String) throws -> [Int16] {
        let raw = dir.file("raw.s16")
        try ffmpeg(["-i", path, "-f", "s16le", "-ac", "1", raw])
        let d = try Data(contentsOf: URL(fileURLWithPath: raw))
        try FileManager.default.removeItem(atPath: raw)
        return d.withUnsafeBytes { Array($0.bindMemory(to: Int16.self)) }
    }

    func test_wavStartsAtTheFirstPicture_paddingLateSound_andCuttingAPart() throws {
        // 2 s of pictures; the sound (16-bit PCM, a click every 0.25 s) starts 0.5 s after them.
        let src = dir.file("late.mkv")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24:duration=2",
            "-itsoffset", "0.5", "-f", "lavfi", "-i", "aevalsrc='if(lt(mod(n,12000),48),0.5,0)':s=48000:d=1.5",
            "-c:v", "ffv1", "-c:a", "pcm_s16le", src,
        ])
        let whole = try XCTUnwrap(
            try SoundExport.writeWAV(from: src, to: dir.file("whole.wav"), start: .zero, duration: Rational(2)))
        XCTAssertEqual(whole.bitsPerSample, 16)
        XCTAssertEqual(whole.sampleRate, 48000)
        XCTAssertEqual(whole.channels, 1)
        XCTAssertEqual(whole.samples, 96000)
        XCTAssertEqual(whole.paddedSamples, 24000)
        let pcm = try samples(dir.file("whole.wav"))
        XCTAssertEqual(pcm.count, 96000)
        let clicks = (1..<pcm.count).filter { pcm[$0] > 8000 && pcm[$0 - 1] < 8000 }
        XCTAssertEqual(
            clicks, [24000, 36000, 48000, 60000, 72000, 84000], "each click at its time after the pictures begin")
        // A part from 1.1 s for 0.5 s: the click at 1.25 s is 0.15 s in.
        let part = try XCTUnwrap(
            try SoundExport.writeWAV(
                from: src, to: dir.file("part.wav"), start: Rational(11, 10), duration: Rational(1, 2)))
        XCTAssertEqual(part.samples, 24000)
        XCTAssertEqual(part.paddedSamples, 0)
        let pp = try samples(dir.file("part.wav"))
        XCTAssertEqual((1..<pp.count).filter { pp[$0] > 8000 && pp[$0 - 1] < 8000 }, [7200, 19200])
        // No sound: nothing written.
        let silent = dir.file("silent.mkv")
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24:duration=0.5", "-c:v", "ffv1", silent])
        XCTAssertNil(try SoundExport.writeWAV(from: silent, to: dir.file("none.wav"), start: .zero, duration: nil))
    }

    func test_floatSound_isWrittenAs24BitPCM() throws {
        let src = dir.file("aac.mp4")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24:duration=1", "-f", "lavfi", "-i",
            "sine=f=1000:r=44100:d=1",
            "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-ac", "2", src,
        ])
        let r = try XCTUnwrap(
            try SoundExport.writeWAV(from: src, to: dir.file("a.wav"), start: .zero, duration: Rational(1)))
        XCTAssertEqual(r.bitsPerSample, 24)
        XCTAssertEqual(r.channels, 2)
        XCTAssertEqual(r.samples, 44100)
        let v = try XCTUnwrap(try probeStreams(dir.file("a.wav")).first)
        XCTAssertEqual(v.codec, "pcm_s24le")
    }

    /// Ten planar channels (past AVFrame's eight data pointers): each keeps its own level.
    func test_tenPlanarChannels_eachKeptInItsPlace() throws {
        let src = dir.file("ten.nut")
        let expr = (0..<10).map { String(format: "%.2f*sin(440*2*PI*t)", Double($0 + 1) / 12) }.joined(separator: "|")
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=s=64x48:r=24:d=0.5", "-f", "lavfi", "-i", "aevalsrc=\(expr):s=48000:d=0.5",
            "-c:v", "ffv1", "-c:a", "pcm_s16le_planar", src,
        ])
        let r = try XCTUnwrap(
            try SoundExport.writeWAV(from: src, to: dir.file("ten.wav"), start: .zero, duration: Rational(1, 2)))
        XCTAssertEqual(r.channels, 10)
        XCTAssertEqual(r.bitsPerSample, 16)
        XCTAssertEqual(r.samples, 24000)
        let raw = dir.file("ten.s16")
        try ffmpeg(["-i", dir.file("ten.wav"), "-f", "s16le", raw])
        let pcm = try Data(contentsOf: URL(fileURLWithPath: raw)).withUnsafeBytes {
            Array($0.bindMemory(to: Int16.self))
        }
        XCTAssertEqual(pcm.count, 240_000)
        for c in 0..<10 {
            let amplitude = stride(from: c, to: pcm.count, by: 10).map { abs(Double(pcm[$0])) }.max() ?? 0
            XCTAssertEqual(amplitude / 32768, Double(c + 1) / 12, accuracy: 0.01, "channel \(c)")
        }
    }

    func test_packetsMuxed_lagsFramesSentWhileTheEncoderLooksAhead_andCatchesUpAtTheEnd() throws {
        let out = dir.file("x.mkv")
        let info = streamInfo(width: 128, height: 96, fps: Rational(24), frames: 40)
        let w = try MediaWriter(
            path: out, containerFor: out, stream: info, settings: EncoderSettings(codec: "libx264", preset: "medium"),
            copyFrom: nil)
        for k in 0..<20 { try w.write(syntheticFrame(width: 128, height: 96, index: k)) }
        XCTAssertEqual(w.framesWritten, 20)
        XCTAssertLessThan(w.packetsMuxed, 20, "x264's look-ahead holds frames: progress must not count them as written")
        try w.finish()
        XCTAssertEqual(w.packetsMuxed, 20)
    }
}
