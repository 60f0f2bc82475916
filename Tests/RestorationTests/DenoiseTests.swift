import XCTest
import Foundation
import FilmCore
import Restoration
import TestSupport

final class DenoiseTests: XCTestCase {
    var dir: TempDir!
    override func setUp() { dir = TempDir("denoise") }
    override func tearDown() { dir.remove() }

    /// Gray textured content, 8-bit values; `pan` px per frame to the left (0 = static).
    func content(_ n: Int, pan: Int, width: Int = 160, height: Int = 120) -> [[UInt8]] {
        (0..<n).map { i in
            (0..<(width * height)).map { j -> UInt8 in
                let x = Float(j % width + pan * i), y = Float(j / width)
                let v =
                    0.45 + 0.2 * sin(x * 0.11) * cos(y * 0.09) + 0.1 * sin((x + 2 * y) * 0.05) + 0.06
                    * cos(x * 0.4 + y * 0.3)
                return UInt8(max(0, min(255, (v * 255).rounded())))
            }
        }
    }

    func noisy(_ clean: [[UInt8]], sigma: Float, seed: UInt64) -> [[UInt8]] {
        var g = SplitMix64(seed)
        func gauss() -> Float {
            let u1 = max(g.nextUnit(), 1e-7), u2 = g.nextUnit()
            return (-2 * logf(u1)).squareRoot() * cosf(2 * .pi * u2)
        }
        return clean.map { $0.map { UInt8(max(0, min(255, (Float($0) + sigma * gauss()).rounded()))) } }
    }

    func frames(_ data: [[UInt8]], width: Int = 160, height: Int = 120) -> [Frame] {
        data.enumerated().map { i, d in
            Frame(
                width: width, height: height, layout: .gray, planes: [d.map { Float($0) / 255 }],
                pts: Rational(Int64(i), 24), duration: Rational(1, 24))
        }
    }

    func ours(_ data: [[UInt8]], _ options: [String: String] = [:]) throws -> ([[UInt8]], DenoiseStage) {
        let h = try StageHarness("denoise", options: options, input: streamInfo(width: 160, height: 120, layout: .gray))
        for f in frames(data) { try h.push(f) }
        try h.finish()
        XCTAssertEqual(h.emitted.count, data.count)
        return (
            h.emitted.map { $0.planes[0].map { UInt8(max(0, min(255, ($0 * 255).rounded()))) } },
            h.stage as! DenoiseStage
        )
    }

    /// FFmpeg's filter on the same 8-bit frames (raw gray in, raw gray out).
    func ffmpegFilter(_ data: [[UInt8]], _ filter: String) throws -> [[UInt8]] {
        let input = dir.file("in-\(filter.hashValue).gray"), output = dir.file("out-\(filter.hashValue).gray")
        try Data(data.flatMap { $0 }).write(to: URL(fileURLWithPath: input))
        try ffmpeg([
            "-f", "rawvideo", "-pix_fmt", "gray", "-s", "160x120", "-r", "24", "-i", input, "-vf", filter,
            "-f", "rawvideo", "-pix_fmt", "gray", output,
        ])
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: output)))
        return (0..<data.count).map { Array(bytes[($0 * 160 * 120)..<(($0 + 1) * 160 * 120)]) }
    }

    func meanPSNR(_ a: [[UInt8]], _ b: [[UInt8]]) -> Double {
        var total = 0.0
        for (x, y) in zip(a, b) {
            var se = 0.0
            for k in 0..<x.count {
                let d = Double(Int(x[k]) - Int(y[k]))
                se += d * d
            }
            let mse = se / Double(x.count)
            total += mse == 0 ? 99 : 10 * log10(255 * 255 / mse)
        }
        return total / Double(a.count)
    }

    func test_gaussianNoise_beatsHqdn3dAndNlmeansByADecibel() throws {
        for (sigma, pan) in [(Float(15), 0), (15, 2), (25, 0), (25, 2)] {
            let clean = content(10, pan: pan)
            let dirty = noisy(clean, sigma: sigma, seed: UInt64(sigma) + UInt64(pan))
            let (mine, stage) = try ours(dirty)
            let p = meanPSNR(mine, clean), pn = meanPSNR(dirty, clean)
            let ph = meanPSNR(try ffmpegFilter(dirty, "hqdn3d"), clean),
                pl = meanPSNR(try ffmpegFilter(dirty, "nlmeans"), clean)
            print(
                String(
                    format: "σ %.0f pan %d: noisy %.2f, ours %.2f (σ measured %.1f), hqdn3d %.2f, nlmeans %.2f dB",
                    sigma, pan, pn, p, stage.lastSigma, ph, pl))
            XCTAssertGreaterThanOrEqual(p, max(ph, pl) + 1, "σ \(sigma) pan \(pan)")
        }
    }

    func test_movingEdge_isNotGhosted() throws {
        // a bright bar moving 6 px per frame over a dark textured background, σ 15
        let clean: [[UInt8]] = (0..<9).map { i in
            (0..<(160 * 120)).map { j -> UInt8 in
                let x = j % 160, y = j / 160
                if x >= 30 + 6 * i && x < 50 + 6 * i { return 210 }
                let t: Float = sin(Float(x) * 0.2) * cos(Float(y) * 0.15)
                return UInt8(60 + 20 * t)
            }
        }
        let dirty = noisy(clean, sigma: 15, seed: 5)
        let (mine, _) = try ours(dirty)
        // where the bar was one and two frames ago the background must come back, not a trace of the bar
        for i in 2..<7 {
            var err = 0.0, count = 0
            for y in 20..<100 {
                for x in (30 + 6 * (i - 2))..<(30 + 6 * i) {
                    err += Double(Int(mine[i][y * 160 + x]) - Int(clean[i][y * 160 + x]))
                    count += 1
                }
            }
            XCTAssertLessThan(
                abs(err / Double(count)), 4, "frame \(i): mean error \(err / Double(count)) behind the bar")
        }
    }

    func test_noiseEstimate_andGrainOption() throws {
        let clean = content(5, pan: 1)
        let (_, s) = try ours(noisy(clean, sigma: 20, seed: 9))
        XCTAssertEqual(s.lastSigma, 20, accuracy: 3)
        let dirty = noisy(clean, sigma: 20, seed: 9)
        let (none, _) = try ours(dirty), (half, _) = try ours(dirty, ["grain": "0.5"])
        // grain 0.5 keeps part of the noise: between the denoised and the noisy picture
        XCTAssertLessThan(meanPSNR(half, dirty), meanPSNR(dirty, dirty))
        XCTAssertGreaterThan(meanPSNR(half, dirty), meanPSNR(none, dirty))
    }
}
