import XCTest
import Foundation
import FilmCore
import Restoration
import TestSupport

final class DespeckleTests: XCTestCase {
    /// Gray textured content panning `speed` px per frame to the left (and `rise` up), with the
    /// moving square on top.
    func panning(_ n: Int, width: Int = 192, height: Int = 128, speed: Int = 2, rise: Int = 0) -> [Frame] {
        (0..<n).map { i in
            let planes = [
                (0..<(width * height)).map { j -> Float in
                    let x = Float(j % width + speed * i), y = Float(j / width + rise * i)
                    var v = 0.45 + 0.15 * sin(x * 0.13) * cos(y * 0.11) + 0.08 * sin((x + 2 * y) * 0.041)
                    let sx = 30 + 3 * i, sy = 40
                    if j % width >= sx && j % width < sx + 24 && j / width >= sy && j / width < sy + 24 {
                        v = 0.72 + 0.1 * sin(Float(j % width - sx) * 0.6)
                    }
                    return v
                }
            ]
            return Frame(
                width: width, height: height, layout: .gray, planes: planes, pts: Rational(Int64(i), 24),
                duration: Rational(1, 24))
        }
    }

    func run(_ frames: [Frame], _ options: [String: String] = [:]) throws -> (DespeckleStage, [Frame]) {
        let h = try StageHarness(
            "despeckle", options: options,
            input: streamInfo(width: frames[0].width, height: frames[0].height, layout: .gray))
        for f in frames { try h.push(f) }
        try h.finish()
        XCTAssertEqual(h.emitted.count, frames.count)
        return (h.stage as! DespeckleStage, h.emitted)
    }

    /// 200 specks (3…12 px across, black or white) on `clean`: the share of their pixels brought
    /// back within 10/255 of the clean picture.
    func speckTest(_ clean: [Frame], label: String) throws -> Double {
        let w = clean[0].width, h = clean[0].height, n = clean.count
        var dirty = clean
        var speck = [[Bool]](repeating: [Bool](repeating: false, count: w * h), count: n)
        var g = SplitMix64(11)
        for _ in 0..<200 {
            let t = Int(g.next() % UInt64(n)), r = 1.5 + 4.5 * Double(g.nextUnit())  // 3…12 px across
            let cx = 8 + Int(g.next() % UInt64(w - 16)), cy = 8 + Int(g.next() % UInt64(h - 16))
            let value: Float = g.nextUnit() < 0.5 ? 20.0 / 255 : 235.0 / 255
            for y in (cy - 7)...(cy + 7) {
                for x in (cx - 7)...(cx + 7) where Double((x - cx) * (x - cx) + (y - cy) * (y - cy)) <= r * r {
                    dirty[t].planes[0][y * w + x] = value
                    speck[t][y * w + x] = true
                }
            }
        }
        let (stage, out) = try run(dirty)
        var total = 0, restored = 0
        for t in 0..<n {
            for i in 0..<(w * h) where speck[t][i] {
                total += 1
                if abs(out[t].planes[0][i] - clean[t].planes[0][i]) <= 10.0 / 255 { restored += 1 }
            }
        }
        let fraction = Double(restored) / Double(total)
        let p = zip(out, clean).map { min(psnr($0, $1), 99) }.reduce(0, +) / Double(n),
            q = zip(dirty, clean).map { min(psnr($0, $1), 99) }.reduce(0, +) / Double(n)
        print(
            String(
                format: "specks, %@: %d pixels, %.1f%% restored within 10/255; PSNR %.1f → %.1f dB; %d pixels repaired",
                label, total, 100 * fraction, q, p, stage.repairedPixels))
        return fraction
    }

    func test_200SingleFrameSpecks_90PercentOfTheirPixelsRestored() throws {
        XCTAssertGreaterThanOrEqual(try speckTest(panning(30), label: "2 px/frame pan"), 0.9)
    }

    /// Fast camera motion: the picture moves 13 px left and 3 px up per frame (at 24 fps, a pan
    /// across a 640-px frame in 2 s).
    func test_specksOnFastCameraMotion_90PercentRestored_cleanFastClipLeftAlone() throws {
        XCTAssertGreaterThanOrEqual(try speckTest(panning(30, speed: 13, rise: 3), label: "13+3 px/frame pan"), 0.9)
        let clean = panning(20, speed: 13, rise: 3)
        let (stage, out) = try run(clean)
        for (a, b) in zip(out, clean) { XCTAssertGreaterThanOrEqual(psnr(a, b), 45, "frame at \(b.pts)") }
        print("clean fast clip: \(stage.repairedPixels) pixels touched")
    }

    func test_cleanMovingClip_isLeftAlone() throws {
        let clean = panning(20)
        let (stage, out) = try run(clean)
        for (a, b) in zip(out, clean) { XCTAssertGreaterThanOrEqual(psnr(a, b), 45, "frame at \(b.pts)") }
        print("clean clip: \(stage.repairedPixels) pixels touched, \(stage.scratchColumns) scratch columns")
        XCTAssertEqual(stage.scratchColumns, 0)
    }

    func test_verticalLineScratches_areRemoved_pictureUnderneathKept() throws {
        // a 2-px bright scratch at x = 70 (+0.2, semi-transparent) and a 1-px dark one drifting from
        // x = 120 by 1 px every 5 frames (−0.15), over panning texture
        let clean = panning(20)
        var dirty = clean
        func columns(_ t: Int) -> [(Int, Float)] { [(70, 0.2), (71, 0.2), (120 + t / 5, -0.15)] }
        for t in 0..<20 { for (x, d) in columns(t) { for y in 0..<128 { dirty[t].planes[0][y * 192 + x] += d } } }
        let (stage, out) = try run(dirty)
        var before = 0.0, after = 0.0
        for t in 0..<20 {
            let xs = columns(t).map { $0.0 }
            func err(_ f: Frame) -> Double {
                var se = 0.0
                for x in xs {
                    for y in 0..<128 {
                        let d = Double(f.planes[0][y * 192 + x] - clean[t].planes[0][y * 192 + x])
                        se += d * d
                    }
                }
                return 10 * log10(1 / max(se / Double(xs.count * 128), 1e-10))
            }
            before += err(dirty[t]) / 20
            after += err(out[t]) / 20
            // the rest of the picture is untouched
            XCTAssertGreaterThanOrEqual(psnr(out[t], clean[t]), 30)
        }
        print(
            String(
                format: "scratch columns: %.1f dB → %.1f dB; %d columns repaired", before, after, stage.scratchColumns))
        // the estimate of the picture under the scratch (from 3 px either side) limits this to ~35 dB
        XCTAssertGreaterThanOrEqual(after, 33)
        XCTAssertGreaterThan(after, before + 18)
    }

    func test_sceneCut_neighbourOfTheOtherShotIsNotUsed() throws {
        // shot B starts at frame 5 (another picture); its first frame keeps its own content
        var frames =
            panning(5)
            + panning(5, width: 192, height: 128).map { f -> Frame in
                f.with(width: 192, height: 128, planes: [f.planes[0].map { 1 - $0 }])
            }
        for i in 5..<10 { frames[i].pts = Rational(Int64(i), 24) }
        frames[5].properties.sceneCut = true
        let (_, out) = try run(frames)
        XCTAssertGreaterThanOrEqual(psnr(out[4], frames[4]), 45)
        XCTAssertGreaterThanOrEqual(psnr(out[5], frames[5]), 45)
    }
}
