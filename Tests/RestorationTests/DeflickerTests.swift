import XCTest
import Foundation
import FilmCore
import Restoration
import TestSupport

final class DeflickerTests: XCTestCase {
    /// The flicker index of the evaluation: std over time of the frame-mean luma (0–255) after
    /// removing its 5-frame moving average.
    func flickerIndex(_ frames: [Frame]) -> Double {
        let mu = frames.map { f in Double(f.planes[0].reduce(0, +)) / Double(f.planes[0].count) * 255 }
        var r: [Double] = []
        for i in 2..<(mu.count - 2) { r.append(mu[i] - mu[(i - 2)...(i + 2)].reduce(0, +) / 5) }
        let m = r.reduce(0, +) / Double(r.count)
        return (r.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(r.count)).squareRoot()
    }

    func run(_ frames: [Frame], _ options: [String: String] = [:]) throws -> [Frame] {
        let h = try StageHarness(
            "deflicker", options: options,
            input: streamInfo(width: frames[0].width, height: frames[0].height, layout: frames[0].layout))
        for f in frames { try h.push(f) }
        try h.finish()
        XCTAssertEqual(h.emitted.count, frames.count)
        XCTAssertEqual(h.emitted.map(\.pts), frames.map(\.pts))
        return h.emitted
    }

    /// Textured, moving gray content (the square moves 2 px per frame).
    func clip(_ n: Int, gain: (Int) -> Float = { _ in 1 }) -> [Frame] {
        (0..<n).map { i in
            let f = movingSquare(width: 96, height: 64, offset: 2 * i - 30, layout: .gray, pts: Rational(Int64(i), 24))
            return f.with(width: 96, height: 64, planes: [f.planes[0].map { min($0 * gain(i), 1) }])
        }
    }

    func gains(_ n: Int, amplitude: Float, seed: UInt64) -> [Float] {
        var g = SplitMix64(seed)
        return (0..<n).map { _ in 1 + amplitude * (2 * g.nextUnit() - 1) }
    }

    func test_randomGainFlicker_indexFallsByMoreThan80Percent() throws {
        let g = gains(60, amplitude: 0.15, seed: 7)
        let clean = clip(60), flickering = clip(60) { g[$0] }
        let out = try run(flickering)
        let before = flickerIndex(flickering), after = flickerIndex(out), truth = flickerIndex(clean)
        print(
            String(
                format: "flicker index: clean %.3f, flickering %.3f, deflickered %.3f (%.0f%% lower)", truth, before,
                after, 100 * (1 - after / before)))
        XCTAssertLessThanOrEqual(after, 0.2 * before)
        // and the pictures come back close to the clean ones
        let p = zip(out, clean).map { psnr($0, $1) }.reduce(0, +) / Double(out.count)
        let q = zip(flickering, clean).map { psnr($0, $1) }.reduce(0, +) / Double(out.count)
        XCTAssertGreaterThan(p, q + 6, "mean PSNR to the clean clip \(p) dB (flickering \(q) dB)")
    }

    func test_regionalFlicker_leftHalfOnly_isRemovedToo() throws {
        let g = gains(40, amplitude: 0.15, seed: 3)
        let clean = clip(40)
        let flickering = clean.enumerated().map { i, f in
            f.with(
                width: 96, height: 64,
                planes: [f.planes[0].enumerated().map { j, v in j % 96 < 48 ? min(v * g[i], 1) : v }])
        }
        let out = try run(flickering, ["grid": "2x1", "local": "0.3"])
        func half(_ fs: [Frame]) -> [Frame] {
            fs.map { f in
                f.with(width: 48, height: 64, planes: [(0..<(48 * 64)).map { f.planes[0][($0 / 48) * 96 + $0 % 48] }])
            }
        }
        let before = flickerIndex(half(flickering)), after = flickerIndex(half(out))
        print(String(format: "left-half flicker index %.3f → %.3f", before, after))
        XCTAssertLessThanOrEqual(after, 0.35 * before)
    }

    func test_fadeToBlack_andCleanClip_areKept() throws {
        // 12 steady frames, a 24-frame linear fade to black, 6 black frames
        let steady = clip(42)
        let fading = steady.enumerated().map { i, f -> Frame in
            let level = Float(i < 12 ? 1 : max(0, 1 - Double(i - 11) / 24))
            return f.with(width: 96, height: 64, planes: [f.planes[0].map { $0 * level }])
        }
        let out = try run(fading)
        // the fade keeps its course: every frame within 3 % (or 1/255 near black) of its level; a
        // deflicker that flattened the fade would be off by tens of percent
        var worst: Float = 0
        for (a, b) in zip(out, fading) {
            let ma = a.planes[0].reduce(0, +) / Float(a.planes[0].count),
                mb = b.planes[0].reduce(0, +) / Float(b.planes[0].count)
            worst = max(worst, abs(ma - mb) / max(mb, 1e-3))
            XCTAssertEqual(ma, mb, accuracy: max(0.03 * mb, 1.0 / 255), "frame at \(b.pts)")
        }
        print(String(format: "fade to black: worst frame-mean deviation %.1f%%", 100 * worst))
        // no flicker, moving content: no damage
        let clean = try run(steady)
        for (a, b) in zip(clean, steady) { XCTAssertGreaterThanOrEqual(psnr(a, b), 40) }
    }

    func test_sceneCut_brightnessStepIsNotSmoothed() throws {
        // shot A at full brightness, shot B (from frame 20) at 60 %: each keeps its level
        var frames = clip(40) { $0 < 20 ? 1 : 0.6 }
        frames[20].properties.sceneCut = true
        let out = try run(frames)
        for i in [17, 18, 19, 20, 21, 22] {
            let m = { (f: Frame) in f.planes[0].reduce(0, +) / Float(f.planes[0].count) }
            XCTAssertEqual(m(out[i]), m(frames[i]), accuracy: 0.01 * m(frames[i]) + 0.5 / 255, "frame \(i)")
        }
    }

    func test_options_areChecked() {
        XCTAssertThrowsError(
            try StageHarness("deflicker", options: ["window": "4"], input: streamInfo(width: 8, height: 8))
        ) {
            XCTAssertTrue("\($0)".contains("option 'window' takes an odd whole number in 1…301, not '4'"), "\($0)")
        }
        XCTAssertThrowsError(
            try StageHarness("deflicker", options: ["strength": "3"], input: streamInfo(width: 8, height: 8)))
    }
}
