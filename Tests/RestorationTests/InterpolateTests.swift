import XCTest
import Foundation
import FilmCore
import Restoration
import TestSupport

/// A static textured background with a textured 32x32 square whose left edge is at `offset` + 40:
/// the square's texture moves with it (true motion, not a sliding pattern).
func movingSquare(width: Int = 192, height: Int = 128, offset: Int, layout: PixelLayout = .rgb, pts: Rational = .zero)
    -> Frame
{
    let planes = (0..<layout.planeCount).map { c -> [Float] in
        var p = [Float](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                let fx = Float(x), fy = Float(y), fc = Float(c)
                var v = 0.35 + 0.15 * sin(fx * 0.21 + fc) * cos(fy * 0.17) + 0.1 * sin((fx + 2 * fy) * 0.05) + 0.05 * fc
                let sx = 40 + offset, sy = 48
                if x >= sx && x < sx + 32 && y >= sy && y < sy + 32 {
                    let u = Float(x - sx), w = Float(y - sy)
                    v = 0.75 + 0.15 * sin(u * 0.5 + fc) * cos(w * 0.4) - 0.05 * fc
                }
                p[y * width + x] = v
            }
        }
        return p
    }
    return Frame(width: width, height: height, layout: layout, planes: planes, pts: pts, duration: Rational(1, 24))
}

/// A second, unrelated picture (another shot).
func otherShot(width: Int = 192, height: Int = 128, pts: Rational) -> Frame {
    let planes = (0..<3).map { c -> [Float] in
        (0..<(width * height)).map { i in
            let x = Float(i % width), y = Float(i / width)
            return 0.5 + 0.3 * cos(x * 0.11 - y * 0.07 + Float(c) * 2) * sin(y * 0.09)
        }
    }
    return Frame(width: width, height: height, layout: .rgb, planes: planes, pts: pts, duration: Rational(1, 24))
}

final class InterpolateTests: XCTestCase {
    static let modelsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Models").path

    func harness(_ options: [String: String], input: StreamInfo) throws -> StageHarness {
        try StageHarness(
            "interpolate", options: options.merging(["models-dir": Self.modelsDir]) { a, _ in a }, input: input)
    }

    func test_movingTexturedSquare_quarterInstantsMatchTheTruth() throws {
        // 8 px per frame at 24 fps; at 96 fps the outputs are t = 0, ¼, ½, ¾ between input frames.
        let h = try harness(["rate": "96"], input: streamInfo(width: 192, height: 128))
        for i in 0..<4 { try h.push(movingSquare(offset: 8 * i, pts: Rational(Int64(i), 24))) }
        try h.finish()
        let out = h.emitted
        XCTAssertEqual(out.count, 16)
        for (k, f) in out.enumerated() { XCTAssertEqual(f.pts, Rational(Int64(k), 96)) }
        for (q, offset) in [(1, 10), (2, 12), (3, 14)] {  // between input frames 1 and 2
            let truth = movingSquare(offset: offset)
            let got = out[4 + q]
            let p = psnr(got, truth)
            let blend = psnr(
                movingSquare(offset: 8).with(
                    width: 192, height: 128,
                    planes: zip(movingSquare(offset: 8).planes, movingSquare(offset: 16).planes).map { a, b in
                        zip(a, b).map { $0 * Float(4 - q) / 4 + $1 * Float(q) / 4 }
                    }), truth)
            print(String(format: "t = %.2f: interpolated %.1f dB, linear blend %.1f dB", Double(q) / 4, p, blend))
            XCTAssertGreaterThanOrEqual(p, 30, "t = \(q)/4")
            XCTAssertGreaterThan(p, blend + 3, "t = \(q)/4 beats a blend")
        }
        // t = 0 outputs are the input frames themselves
        XCTAssertEqual(out[4].planes, movingSquare(offset: 8).planes)
    }

    func test_flowScale_motionFromAHalfSizeCopyWarpsTheFullFrame() throws {
        // The same scene at twice the size (16 px per frame), flow estimated at half size.
        let h = try harness(["rate": "48", "flow-scale": "0.5"], input: streamInfo(width: 384, height: 256))
        func big(_ offset: Int, _ i: Int) -> Frame {
            let small = movingSquare(offset: offset)
            var f = small.with(
                width: 384, height: 256,
                planes: small.planes.map { p in
                    (0..<(384 * 256)).map { j in p[(j / 384 / 2) * 192 + (j % 384) / 2] }
                })
            f.pts = Rational(Int64(i), 24)
            return f
        }
        try h.push(big(0, 0))
        try h.push(big(8, 1))
        try h.finish()
        let stage = try XCTUnwrap(h.stage as? InterpolateStage)
        XCTAssertEqual(stage.flowScale, 0.5)
        XCTAssertEqual(stage.interpolated, 1)
        let p = psnr(h.emitted[1], big(4, 0))
        print(String(format: "flow-scale 0.5 at 384x256: %.1f dB", p))
        XCTAssertGreaterThanOrEqual(p, 28)
    }

    /// 24 → 96 fps on three 192x128 frames of a moving square, then fit into `size` (background 0.1), the fit
    /// linked to the interpolation as the pipeline links them: both stages and what the fit emitted.
    func interpolateThenFit(into size: String, fuse: Bool) throws -> (InterpolateStage, FitStage, [Frame]) {
        let interp = try harness(["rate": "96", "flow-scale": "0.5"], input: streamInfo(width: 192, height: 128))
        let fit = try StageHarness(
            "fit", options: ["size": size, "background": "0.1", "fuse": fuse ? "true" : "false"], input: interp.output)
        interp.stage.link(next: fit.stage)
        for i in 0..<3 {
            for f in try interp.push(movingSquare(offset: 8 * i, pts: Rational(Int64(i), 24))) { try fit.push(f) }
        }
        for f in try interp.finish() { try fit.push(f) }
        try fit.finish()
        return (try XCTUnwrap(interp.stage as? InterpolateStage), try XCTUnwrap(fit.stage as? FitStage), fit.emitted)
    }

    func test_beforeFit_newFramesAreMadeInPlaceAtTheOutputSize() throws {
        // 24 → 96 fps, then fit 192x128 into 320x180 (pillarbox): with `fuse` the interpolated frames come out
        // of the interpolation already in the canvas (one bilinear resampling) and pass through fit; the copies
        // are fitted as before. Against the same chain unfused: same instants, sizes and areas, copies equal,
        // new frames close, both as near the truth.
        let (fusedInterp, fusedFit, fused) = try interpolateThenFit(into: "320x180", fuse: true)
        let (plainInterp, plainFit, plain) = try interpolateThenFit(into: "320x180", fuse: false)
        XCTAssertEqual(fusedInterp.placement, fusedFit.placement)
        XCTAssertTrue(fusedFit.fusedUpstream)
        XCTAssertNil(plainInterp.placement)
        XCTAssertFalse(plainFit.fusedUpstream)
        XCTAssertEqual(fusedInterp.interpolated, 6)
        XCTAssertEqual(fused.count, 12)
        XCTAssertEqual(fused.map(\.pts), plain.map(\.pts))
        // The truth at each instant, fitted by the unfused fit.
        let truthFit = try StageHarness(
            "fit", options: ["size": "320x180", "background": "0.1"], input: streamInfo(width: 192, height: 128))
        for (k, (a, b)) in zip(fused, plain).enumerated() {
            XCTAssertEqual(a.width, 320)
            XCTAssertEqual(a.height, 180)
            XCTAssertEqual(a.properties.extra[FitStage.areaKey], "25,0,270,180")
            XCTAssertEqual(a.properties.extra[FitStage.areaKey], b.properties.extra[FitStage.areaKey])
            XCTAssertEqual(a.properties.sampleAspect, .one)
            for p in a.planes {
                XCTAssertEqual(p[0], 0.1)  // the bars
                XCTAssertEqual(p[180 * 320 - 1], 0.1)
            }
            if k % 4 == 0 || k > 8 {  // on the input frames, and the last one held after the end
                XCTAssertEqual(a.planes, b.planes, "frame \(k) is a copy, fitted alike")
                continue
            }
            let truth = try XCTUnwrap(try truthFit.push(movingSquare(offset: 2 * k)).first)
            let (pf, pp, between) = (psnr(a, truth), psnr(b, truth), psnr(a, b))
            print(String(format: "frame %d: in place %.1f dB, warp + fit %.1f dB, between %.1f dB", k, pf, pp, between))
            XCTAssertGreaterThanOrEqual(between, 35, "frame \(k)")
            XCTAssertGreaterThanOrEqual(pf, pp - 0.5, "frame \(k)")
        }
    }

    func test_beforeFitThatOnlyPads_newFramesAreMadeInTheCanvas_asUnfused() throws {
        // 192x128 into a 240x128 canvas: no scaling, only bars (the 4K chain's fit-aware case, 2880x2160 in
        // 3840x2160). Fused, the made frames come out of the interpolation in the canvas, sampled where the
        // unfused chain samples them: every frame equal to the unfused chain's.
        let (_, fusedFit, fused) = try interpolateThenFit(into: "240x128", fuse: true)
        let (_, plainFit, plain) = try interpolateThenFit(into: "240x128", fuse: false)
        XCTAssertTrue(fusedFit.fusedUpstream)
        XCTAssertFalse(plainFit.fusedUpstream)
        XCTAssertEqual(fused.count, 12)
        XCTAssertEqual(fused.map(\.pts), plain.map(\.pts))
        for (k, (a, b)) in zip(fused, plain).enumerated() {
            XCTAssertEqual(a.properties.extra[FitStage.areaKey], "24,0,192,128")
            XCTAssertEqual(a.properties.extra[FitStage.areaKey], b.properties.extra[FitStage.areaKey])
            XCTAssertEqual(a.planes.count, b.planes.count)
            for (p, q) in zip(a.planes, b.planes) {
                XCTAssertLessThanOrEqual(try maxAbsDifference(p, q), 1e-5, "frame \(k)")
            }
        }
    }

    func test_hardCut_noOutputMixesTheShots() throws {
        // Shot A: the moving square; shot B: another picture. scenecut marks B's first frame.
        var sources: [Frame] = []
        for i in 0..<6 { sources.append(movingSquare(offset: 2 * i, pts: Rational(Int64(i), 24))) }
        for i in 6..<12 {
            var f = otherShot(pts: Rational(Int64(i), 24))
            f.planes = f.planes.map { $0.map { $0 * (1 - 0.01 * Float(i - 6)) } }
            sources.append(f)
        }
        let cut = try StageHarness("scenecut", input: streamInfo(width: 192, height: 128))
        for f in sources { try cut.push(f) }
        try cut.finish()
        XCTAssertEqual(
            cut.emitted.map { $0.properties.sceneCut },
            [true] + [Bool](repeating: false, count: 5) + [true] + [Bool](repeating: false, count: 5))
        let h = try harness(["rate": "60"], input: streamInfo(width: 192, height: 128))
        for f in cut.emitted { try h.push(f) }
        try h.finish()
        XCTAssertEqual(h.emitted.count, 30)
        let stage = try XCTUnwrap(h.stage as? InterpolateStage)
        XCTAssertGreaterThan(stage.heldAtCuts, 0)
        for f in h.emitted {
            // every frame is one shot or the other: close to a source frame of one shot and far from the other shot
            let a = sources[0..<6].map { psnr(f, $0) }.max()!, b = sources[6...].map { psnr(f, $0) }.max()!
            let t = f.pts.doubleValue
            if t >= 5.0 / 24 && t < 6.0 / 24 {
                // between the last frame of A and the first of B: a copy of one of them
                XCTAssertGreaterThanOrEqual(max(a, b), 40, "frame at \(t) s")
            }
            XCTAssertTrue(a < 20 || b < 20, "frame at \(t) s resembles both shots (\(a) / \(b) dB)")
        }
        // the cut is marked once, on the first output frame of shot B
        XCTAssertEqual(h.emitted.filter { $0.properties.sceneCut }.map { ($0.pts * Rational(60)).rounded }, [0, 14])
    }

    func test_staticShotsAroundACut_everyOutputIsWithin40dBOfASourceFrame() throws {
        let sources =
            (0..<5).map { i in movingSquare(offset: 0, pts: Rational(Int64(i), 24)) }
            + (5..<10).map { i in otherShot(pts: Rational(Int64(i), 24)) }
        let cut = try StageHarness("scenecut", input: streamInfo(width: 192, height: 128))
        for f in sources { try cut.push(f) }
        try cut.finish()
        let h = try harness(["rate": "60"], input: streamInfo(width: 192, height: 128))
        for f in cut.emitted { try h.push(f) }
        try h.finish()
        for f in h.emitted {
            let best = sources.map { psnr(f, $0) }.max()!
            XCTAssertGreaterThanOrEqual(best, 40, "frame at \(f.pts) s")
        }
    }

    func test_23976_to60_exactTimestampsAndCount() throws {
        let rate = Rational(24000, 1001)
        let n = 48
        let h = try harness(["rate": "60"], input: streamInfo(width: 64, height: 64, fps: rate, frames: n))
        for i in 0..<n {
            var f = movingSquare(width: 64, height: 64, offset: i % 8 - 30, pts: Rational(Int64(i)) / rate)
            f.duration = rate.reciprocal
            try h.push(f)
        }
        try h.finish()
        let duration = Rational(Int64(n)) / rate
        XCTAssertLessThanOrEqual(abs(h.emitted.count - Int((duration * Rational(60)).rounded)), 1)
        for (k, f) in h.emitted.enumerated() {
            XCTAssertEqual(f.pts, Rational(Int64(k), 60))
            XCTAssertEqual(f.duration, Rational(1, 60))
        }
        XCTAssertEqual(h.output.frameRate, Rational(60))
    }

    /// A film whose first frame is 21 ms in (AAC priming in Matroska): the 60 fps grid starts at it,
    /// so every other 24 fps frame is copied, not remade a few ms off.
    func test_gridAnchoredAtTheStreamStart_copiesTheFramesOnIt() throws {
        var info = streamInfo(width: 64, height: 64, fps: Rational(24), frames: 12)
        info.startTime = Rational(21, 1000)
        let h = try harness(["rate": "60"], input: info)
        var source: [Frame] = []
        for i in 0..<12 {
            var f = movingSquare(
                width: 64, height: 64, offset: i * 3 - 30, pts: Rational(21, 1000) + Rational(Int64(i), 24))
            f.duration = Rational(1, 24)
            source.append(f)
            try h.push(f)
        }
        try h.finish()
        XCTAssertEqual(h.emitted.first?.pts, Rational(21, 1000))
        for k in stride(from: 0, to: 12, by: 2) {
            let out = try XCTUnwrap(
                h.emitted.first { $0.pts == source[k].pts }, "an output frame at source frame \(k)'s instant")
            XCTAssertEqual(psnr(out, source[k]), .infinity, "frame \(k) copied")
        }
    }

    func test_vfr_everyInstantBetweenItsNeighbours() throws {
        // irregular times: 0, 30, 95, 110, 180, 230 ms
        let ms: [Int64] = [0, 30, 95, 110, 180, 230, 290]
        let h = try harness(["rate": "60"], input: streamInfo(width: 64, height: 64))
        for (i, t) in ms.enumerated() {
            var f = movingSquare(width: 64, height: 64, offset: i - 30, pts: Rational(t, 1000))
            f.duration = Rational(40, 1000)
            try h.push(f)
        }
        try h.finish()
        // 0 … 330 ms at 60 fps: instants 0 … 19
        XCTAssertEqual(h.emitted.map { $0.pts }, (0..<20).map { Rational(Int64($0), 60) })
    }

    func test_grayInGrayOut_andEnsemble() throws {
        let h = try harness(
            ["rate": "48", "ensemble": "true"], input: streamInfo(width: 192, height: 128, layout: .gray))
        try h.push(movingSquare(offset: 0, layout: .gray))
        try h.push(movingSquare(offset: 8, layout: .gray, pts: Rational(1, 24)))
        try h.finish()
        XCTAssertEqual(h.emitted.count, 4)
        XCTAssertTrue(h.emitted.allSatisfy { $0.layout == .gray && $0.planes.count == 1 })
        XCTAssertGreaterThanOrEqual(psnr(h.emitted[1], movingSquare(offset: 4, layout: .gray)), 30)
    }

    func test_badOptionsAndMissingModel_clearErrors() {
        XCTAssertThrowsError(
            try StageHarness(
                "interpolate", options: ["models-dir": "/nonexistent"], input: streamInfo(width: 64, height: 64))
        ) {
            XCTAssertTrue("\($0)".contains("make models"), "\($0)")
        }
        XCTAssertThrowsError(try harness(["flow-scale": "2"], input: streamInfo(width: 64, height: 64))) {
            XCTAssertTrue("\($0)".contains("flow-scale"), "\($0)")
        }
        XCTAssertThrowsError(try harness(["scale-list": "8,4"], input: streamInfo(width: 64, height: 64))) {
            XCTAssertTrue("\($0)".contains("scale-list"), "\($0)")
        }
        XCTAssertEqual(InterpolateStage.automaticFlowScale(width: 3840, height: 2160), 0.25)
        XCTAssertEqual(InterpolateStage.automaticFlowScale(width: 1920, height: 1080), 0.5)
        XCTAssertEqual(InterpolateStage.automaticFlowScale(width: 1280, height: 720), 1)
    }
}

final class SceneCutTests: XCTestCase {
    func cuts(_ frames: [Frame]) throws -> [Int] {
        let h = try StageHarness("scenecut", input: streamInfo(width: frames[0].width, height: frames[0].height))
        for f in frames { try h.push(f) }
        try h.finish()
        XCTAssertEqual(h.emitted.count, frames.count)
        for (a, b) in zip(h.emitted, frames) {
            XCTAssertEqual(a.planes, b.planes)
            XCTAssertEqual(a.pts, b.pts)
        }
        return h.emitted.enumerated().filter { $0.element.properties.sceneCut }.map { $0.offset }
    }

    func scaled(_ f: Frame, _ s: Float, pts i: Int, noise: Float = 0, seed: UInt64 = 1) -> Frame {
        var g = seed &* 0x9E37_79B9_7F4A_7C15
        var out = f
        out.planes = f.planes.map {
            $0.map { v in
                g = g &* 6364136223846793005 &+ 1442695040888963407
                return v * s + noise * (Float(g >> 40) / Float(1 << 24) - 0.5)
            }
        }
        out.pts = Rational(Int64(i), 24)
        return out
    }

    func test_hardCutsAreFound_inMotionAndGrain() throws {
        let frames =
            (0..<8).map { scaled(movingSquare(offset: 3 * $0), 1, pts: $0, noise: 0.08, seed: UInt64($0)) }
            + (8..<14).map { scaled(otherShot(pts: .zero), 1, pts: $0, noise: 0.08, seed: UInt64($0)) }
            + (14..<20).map { scaled(movingSquare(offset: 3 * $0), 1, pts: $0, noise: 0.08, seed: UInt64($0)) }
        XCTAssertEqual(try cuts(frames), [0, 8, 14])
    }

    func test_fadesDissolvesAndFlicker_areNotCuts() throws {
        let a = movingSquare(offset: 0), b = otherShot(pts: .zero)
        var frames: [Frame] = []
        // flicker: ±15 % brightness from frame to frame, with grain
        for i in 0..<8 { frames.append(scaled(a, i % 2 == 0 ? 1.15 : 0.85, pts: i, noise: 0.05, seed: UInt64(i))) }
        // fade to black over 8 frames and back up into shot B... (a fade through black)
        for i in 0..<8 { frames.append(scaled(a, 1 - Float(i + 1) / 8, pts: 8 + i)) }
        for i in 0..<8 { frames.append(scaled(b, Float(i + 1) / 8, pts: 16 + i)) }
        // a 12-frame dissolve from B back to A
        for i in 0..<12 {
            let w = Float(i + 1) / 13
            var f = b
            f.planes = zip(b.planes, a.planes).map { zip($0, $1).map { $0 * (1 - w) + $1 * w } }
            f.pts = Rational(Int64(24 + i), 24)
            frames.append(f)
        }
        XCTAssertEqual(try cuts(frames), [0])
    }
}
