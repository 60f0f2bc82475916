import FilmCore
import Foundation
import TestSupport
import XCTest

@testable import Restoration

/// Keyframe colour through motion, on generated scenes whose true colour is known: a textured background, objects
/// of their own texture and colour, moving, hidden and panned past. The stage sees the gray frames and the
/// keyframes (true-colour frames of the same scene); no model, so what no keyframe shows should stay gray.
final class KeyframeColourTests: XCTestCase {
    static let matrix = YCbCrMatrix(.bt709)
    static let background = (cb: Float(0.08), cr: Float(-0.05))

    /// A scene: luma and true chroma planes of `width`×`height`, the background's, then each layer painted on.
    struct Scene {
        let width: Int, height: Int
        var luma: [Float], cb: [Float], cr: [Float]

        init(width: Int, height: Int, panX: Int = 0) {
            (self.width, self.height) = (width, height)
            luma = (0..<(width * height)).map { i in
                let x = Float(i % width + panX), y = Float(i / width)
                return 0.5 + 0.12 * sin(x * 0.21) * cos(y * 0.17) + 0.05 * sin((x + 2 * y) * 0.05)
            }
            cb = [Float](repeating: KeyframeColourTests.background.cb, count: width * height)
            cr = [Float](repeating: KeyframeColourTests.background.cr, count: width * height)
        }

        /// A disc of radius `r` at (cx, cy): striped (`dots` false) or dotted texture, one colour.
        mutating func disc(_ cx: Int, _ cy: Int, _ r: Int, dots: Bool, cb c: Float, cr d: Float) {
            paint { x, y in
                let dx = x - cx, dy = y - cy
                guard dx * dx + dy * dy <= r * r else { return nil }
                let t =
                    dots
                    ? 0.3 + 0.2 * Float((dx & 4) ^ (dy & 4) == 0 ? 1 : 0) : 0.25 + 0.1 * sin(Float(dx + dy) * 0.9)
                return (t, c, d)
            }
        }

        /// A rectangle of high-contrast checks (period 8), gray in truth.
        mutating func checks(x0: Int, x1: Int, y0: Int = 0, y1: Int? = nil) {
            let bottom = y1 ?? height
            paint { x, y in
                guard x >= x0, x < x1, y >= y0, y < bottom else { return nil }
                return ((x / 4 + y / 4) % 2 == 0 ? 0.12 : 0.88, 0, 0)
            }
        }

        mutating func paint(_ f: (Int, Int) -> (Float, Float, Float)?) {
            for y in 0..<height {
                for x in 0..<width {
                    if let (l, c, d) = f(x, y) {
                        (luma[y * width + x], cb[y * width + x], cr[y * width + x]) = (l, c, d)
                    }
                }
            }
        }

        func gray(index: Int) -> Frame {
            var f = Frame(
                width: width, height: height, layout: .gray, planes: [luma], pts: Rational(Int64(index), 24),
                duration: Rational(1, 24))
            f.properties.sourceIndex = index
            f.properties.sceneCut = index == 0
            return f
        }

        func colour() -> Frame {
            var p = [[Float]](repeating: [Float](repeating: 0, count: width * height), count: 3)
            for i in 0..<(width * height) {
                let c = KeyframeColourTests.matrix.rgb(y: luma[i], cb: cb[i], cr: cr[i])
                (p[0][i], p[1][i], p[2][i]) = (min(max(c.0, 0), 1), min(max(c.1, 0), 1), min(max(c.2, 0), 1))
            }
            return Frame(width: width, height: height, layout: .rgb, planes: p, pts: .zero, duration: .zero)
        }
    }

    func colourise(
        _ scenes: [Scene], keyframes: [Int], predictor: ColorPredictor? = nil, cuts: Set<Int> = []
    ) throws -> [Frame] {
        let stage = ColorizeStage(
            predictor: predictor, references: keyframes.map { ($0, scenes[$0].colour()) }, renderSize: 128)
        let h = try StageHarness(
            stage: stage, input: streamInfo(width: scenes[0].width, height: scenes[0].height, layout: .gray))
        for (k, s) in scenes.enumerated() {
            var f = s.gray(index: k)
            f.properties.sceneCut = f.properties.sceneCut || cuts.contains(k)
            try h.push(f)
        }
        try h.finish()
        return h.emitted
    }

    /// The output's mean (Cb, Cr) over the pixels where `inside` holds.
    func meanChroma(_ f: Frame, _ inside: (Int, Int) -> Bool) -> (cb: Float, cr: Float) {
        var s = (Float(0), Float(0)), n: Float = 0
        for y in 0..<f.height {
            for x in 0..<f.width where inside(x, y) {
                let i = y * f.width + x
                let (_, b, r) = Self.matrix.ycbcr(r: f.planes[0][i], g: f.planes[1][i], b: f.planes[2][i])
                s = (s.0 + b, s.1 + r)
                n += 1
            }
        }
        return (s.0 / max(n, 1), s.1 / max(n, 1))
    }

    static func within(_ cx: Int, _ cy: Int, _ r: Int) -> (Int, Int) -> Bool {
        { x, y in (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r }
    }

    /// A red striped disc crosses behind a checked bar (hidden wholly for several frames) and comes out the
    /// other side: it is red again, as the keyframe (frame 0) showed it; the bar, which is gray, stays gray.
    func test_movingObject_keepsItsKeyframeColour_afterAnOcclusion() throws {
        let red = (cb: Float(-0.06), cr: Float(0.16))
        let scenes = (0..<32).map { k -> Scene in
            var s = Scene(width: 192, height: 128)
            s.disc(24 + 5 * k, 64, 14, dots: false, cb: red.cb, cr: red.cr)
            s.checks(x0: 84, x1: 124)
            return s
        }
        let out = try colourise(scenes, keyframes: [0])
        XCTAssertEqual(out.count, 32)
        // hidden wholly while its centre is 14 px inside the bar: frames 15…17
        XCTAssertTrue((15...17).allSatisfy { 24 + 5 * $0 - 14 >= 84 && 24 + 5 * $0 + 14 < 124 })
        print(
            "occlusion: the disc's mean (Cb, Cr) by frame",
            (0..<32).map { k in
                let m = meanChroma(out[k], Self.within(24 + 5 * k, 64, 9))
                return String(format: "%d:(%.3f,%.3f)", k, m.cb, m.cr)
            }.joined(separator: " "))
        for k in 26...31 {
            let m = meanChroma(out[k], Self.within(24 + 5 * k, 64, 9))
            XCTAssertLessThan(abs(m.cb - red.cb) + abs(m.cr - red.cr), 0.06, "frame \(k): \(m)")
        }
        let bar = meanChroma(out[31]) { x, y in x >= 88 && x < 120 && y > 8 && y < 120 }
        XCTAssertLessThan(abs(bar.cb) + abs(bar.cr), 0.04, "the bar: \(bar)")
    }

    /// A fast pan (12 px a frame) past the keyframe's content onto a wall of checks no keyframe shows: the wall
    /// falls back to gray instead of being smeared with the colours the pan carried onto it, while what the
    /// keyframe shows keeps its colour.
    func test_fastPan_pastTheKeyframe_fallsBackInsteadOfSmearing() throws {
        let scenes = (0..<20).map { k -> Scene in
            var s = Scene(width: 192, height: 128, panX: 12 * k)
            s.checks(x0: 200 - 12 * k, x1: 192)
            return s
        }
        let out = try colourise(scenes, keyframes: [0])
        let kept = meanChroma(out[3]) { x, _ in x < 150 }
        XCTAssertLessThan(abs(kept.cb - Self.background.cb) + abs(kept.cr - Self.background.cr), 0.04, "\(kept)")
        for k in [16, 19] {
            let wall = meanChroma(out[k]) { x, _ in x >= 200 - 12 * k + 8 }
            XCTAssertLessThan(abs(wall.cb) + abs(wall.cr), 0.03, "frame \(k), the wall: \(wall)")
        }
    }

    /// One colour everywhere, sure of it, counting the frames it is asked about.
    final class CountingPredictor: ColorPredictor {
        let name = "counting test predictor"
        static let colour = (cb: Float(-0.1), cr: Float(0.1))
        private(set) var calls = 0
        func chroma(gray: [Float], width: Int, height: Int, matrix: YCbCrMatrix) throws -> (cb: [Float], cr: [Float]) {
            calls += 1
            return (
                [Float](repeating: Self.colour.cb, count: gray.count),
                [Float](repeating: Self.colour.cr, count: gray.count)
            )
        }
    }

    /// The same fast pan with a model: the wall no keyframe shows takes the model's colour (more than half of it,
    /// not gray, not the colour the pan carried), what the keyframe shows keeps the keyframe's; the model is asked every
    /// `fallbackEvery` frames of a shot (frames 0, 4, 8, …), again from the first frame after a cut.
    func test_fastPan_withAModel_theWallTakesTheModelsColour_madeEveryFourthFrameOfAShot() throws {
        XCTAssertEqual(ColorizeStage.fallbackEvery, 4)
        let scenes = (0..<20).map { k -> Scene in
            var s = Scene(width: 192, height: 128, panX: 12 * k)
            s.checks(x0: 200 - 12 * k, x1: 192)
            return s
        }
        let model = CountingPredictor()
        let out = try colourise(scenes, keyframes: [0], predictor: model)
        XCTAssertEqual(out.count, 20)
        XCTAssertEqual(model.calls, 5)
        let kept = meanChroma(out[3]) { x, _ in x < 150 }
        XCTAssertLessThan(abs(kept.cb - Self.background.cb) + abs(kept.cr - Self.background.cr), 0.04, "\(kept)")
        let m = CountingPredictor.colour
        for k in [16, 19] {
            let wall = meanChroma(out[k]) { x, _ in x >= 200 - 12 * k + 8 }
            // its share of the model's colour (along it) and how far it strays from that direction; gray would be
            // 0 along, the background the pan carried −0.9
            let along = (wall.cb * m.cb + wall.cr * m.cr) / (m.cb * m.cb + m.cr * m.cr)
            let off = abs(wall.cb - along * m.cb) + abs(wall.cr - along * m.cr)
            print(
                String(
                    format: "frame %d, the wall: (%.3f, %.3f): %.2f of the model's colour, %.3f off it", k, wall.cb,
                    wall.cr, along, off))
            XCTAssertGreaterThan(along, 0.5, "frame \(k), the wall: \(wall)")
            XCTAssertLessThan(along, 1.05, "frame \(k), the wall: \(wall)")
            XCTAssertLessThan(off, 0.02, "frame \(k), the wall: \(wall)")
        }
        // a cut at frame 10: 0, 4, 8, then 10, 14, 18
        let again = CountingPredictor()
        _ = try colourise(scenes, keyframes: [0], predictor: again, cuts: [10])
        XCTAssertEqual(again.calls, 6)
    }

    /// Two keyframes of one shot: frame 0 shows a red disc, frame 16 also a blue dotted one that came in from the
    /// right at frame 6. Before frame 16, the blue disc takes its colour from the later keyframe and the red one
    /// keeps the first's.
    func test_twoKeyframes_eachWinsWhereItMatches() throws {
        let red = (cb: Float(-0.06), cr: Float(0.16)), blue = (cb: Float(0.16), cr: Float(-0.08))
        let scenes = (0..<20).map { k -> Scene in
            var s = Scene(width: 192, height: 128)
            s.disc(50, 60, 16, dots: false, cb: red.cb, cr: red.cr)
            if k >= 6 { s.disc(max(206 - 6 * (k - 6), 140), 70, 16, dots: true, cb: blue.cb, cr: blue.cr) }
            return s
        }
        let out = try colourise(scenes, keyframes: [0, 16])
        for k in 12...15 {
            let b = meanChroma(out[k], Self.within(max(206 - 6 * (k - 6), 140), 70, 10))
            let r = meanChroma(out[k], Self.within(50, 60, 10))
            XCTAssertLessThan(abs(b.cb - blue.cb) + abs(b.cr - blue.cr), 0.07, "frame \(k), blue: \(b)")
            XCTAssertLessThan(abs(r.cb - red.cb) + abs(r.cr - red.cr), 0.06, "frame \(k), red: \(r)")
        }
    }
}

/// `filmrestore keyframes`: a colourist's frames, one (or more) a shot, named by source frame number.
final class KeyframePickerTests: XCTestCase {
    /// Two shots of 12 frames each (a moving test card, then a cut to a fractal), gray, lossless.
    func twoShots(_ dir: TempDir) throws -> String {
        let clip = dir.file("two-shots.mkv")
        try twoShotGrayClip(clip)
        return clip
    }

    func test_keyframes_firstOfEachShot_namedByFrame_andTheSamePicture() throws {
        let dir = TempDir("keyframes")
        let clip = try twoShots(dir)
        let picks = try KeyframePicker(input: clip, folder: dir.file("keys")).run()
        XCTAssertEqual(picks.map(\.frame), [0, 12])
        XCTAssertEqual(picks.map(\.shot), [1, 2])
        XCTAssertEqual(dir.listing().contains("keys"), true)
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: dir.file("keys")).sorted(),
            ["frame-000000.png", "frame-000012.png"])
        // the picture is the frame itself (8-bit)
        let (_, frames) = try decodeAll(clip)
        let (_, written) = try decodeAll(dir.file("keys/frame-000012.png"))
        XCTAssertGreaterThan(psnr(written[0].luma, frames[12].luma), 45)
        // named by frame number, they are read back as the colorize stage's keyframes
        let refs = try ColorizeStage.loadReferences(dir.file("keys"))
        XCTAssertEqual(refs.map(\.frame), [0, 12])
        // written once: again without --force is refused, nothing replaced
        XCTAssertThrowsError(try KeyframePicker(input: clip, folder: dir.file("keys")).run())
        XCTAssertEqual(try KeyframePicker(input: clip, folder: dir.file("keys"), force: true).run().count, 2)
    }

    func test_keyframes_perShot_addsTheColorizersLeastSureFrame_halfASecondOn() throws {
        let dir = TempDir("keyframes-sure")
        let clip = try twoShots(dir)
        let picks = try KeyframePicker(input: clip, folder: dir.file("keys"), perShot: 2).run()
        XCTAssertEqual(picks.count, 4)
        let (_, frames) = try decodeAll(clip)
        let certainty = KeyframePicker.certainty(try ColorizeStage.loadModel("film", modelsDir: nil).value)
        for shot in 1...2 {
            let mine = picks.filter { $0.shot == shot }
            let first = (shot - 1) * 12
            XCTAssertEqual(mine.first?.frame, first)
            let extra = try XCTUnwrap(mine.last)
            XCTAssertGreaterThanOrEqual(extra.frame - first, 6)  // half a second at 12 fps
            // the least sure of the frames it could be
            let eligible = try (first + 6..<first + 12).map { try certainty(frames[$0]) }
            XCTAssertEqual(try XCTUnwrap(extra.certainty), eligible.min()!, accuracy: 1e-9)
            XCTAssertTrue((0...1).contains(extra.certainty!))
        }
        XCTAssertThrowsError(try KeyframePicker(input: clip, folder: dir.file("k2"), perShot: 0))
    }
}

/// `PatchMatch` against the exhaustive search it approximates (every position tried with the plain sum).
final class PatchMatchTests: XCTestCase {
    /// A textured picture and the same one moved by (5, −3) with a square of another texture pasted in: nearly every
    /// pixel's best match is found, no match is better than the exhaustive one, and the costs returned are the plain
    /// sum's at the positions returned.
    func test_patchMatch_findsTheExhaustiveBest_onAMovedPicture() {
        let w = 56, h = 40
        func texture(_ x: Int, _ y: Int) -> Float {
            let (fx, fy) = (Float(x), Float(y))
            return 0.5 + 0.2 * sin(fx * 0.37 + 0.5 * sin(fy * 0.23)) * cos(fy * 0.29) + 0.1 * sin((fx - 2 * fy) * 0.11)
        }
        let key = PatchFeatures(
            luma: (0..<(w * h)).map { texture($0 % w, $0 / w) }, width: w, height: h)
        let frame = PatchFeatures(
            luma: (0..<(w * h)).map { i in
                let x = i % w, y = i / w
                if (30..<42).contains(x), (6..<18).contains(y) { return 0.2 + 0.3 * Float((x ^ y) & 1) }
                return texture(x + 5, y - 3)
            }, width: w, height: h)
        let fast = PatchMatch.match(frame, in: key, iterations: 4, seed: 3)
        let exact = PatchMatch.exhaustive(frame, in: key)
        var found = 0  // pixels whose best match was found
        for p in 0..<(w * h) {
            let plain = PatchFeatures.cost(frame, p, key, Int(fast.nnf[p]))
            XCTAssertEqual(fast.cost[p], plain, accuracy: 1e-6 + 1e-4 * plain, "pixel \(p): vector cost vs plain sum")
            XCTAssertGreaterThanOrEqual(fast.cost[p], exact.cost[p] - 1e-6, "pixel \(p) beat the exhaustive search")
            if fast.cost[p] <= exact.cost[p] + 1e-5 { found += 1 }
        }
        // where the picture moved whole (an exact match exists) it is found; elsewhere (the borders, the pasted
        // square) the best is found or one within film grain's cost (0.002)
        let exactly = (0..<(w * h)).filter { exact.cost[$0] < 1e-6 }
        XCTAssertGreaterThan(exactly.count, 500)
        XCTAssertGreaterThanOrEqual(
            Double(exactly.filter { fast.cost[$0] < 1e-6 }.count) / Double(exactly.count), 0.99,
            "share of the moved pixels whose exact match was found")
        XCTAssertGreaterThan(Double(found) / Double(w * h), 0.6, "share of pixels whose best match was found")
        XCTAssertGreaterThan(
            Double((0..<(w * h)).filter { fast.cost[$0] <= exact.cost[$0] + 0.002 }.count) / Double(w * h), 0.97,
            "share of pixels within 0.002 of the best")
        // and started from that answer, two more rounds keep it (no pixel gets worse)
        let again = PatchMatch.match(frame, in: key, initial: fast.nnf, iterations: 2, seed: 4)
        for p in 0..<(w * h) { XCTAssertLessThanOrEqual(again.cost[p], fast.cost[p] + 1e-6) }
    }
}

/// The report's colour by shot, from the certainty `colorize` leaves on each frame.
final class ShotColourTallyTests: XCTestCase {
    func test_tally_shotsStartAtCuts_madeFramesCountedOnce_framesWithoutCertaintySkipped() {
        let tally = ShotColourTally()
        // source frames 0…5, a cut at 3; frames made between source frames repeat their source index
        let seen: [(k: Int, cut: Bool, c: String?)] = [
            (0, false, "0.5"), (0, false, "0.9"), (1, false, "0.3"), (2, false, "0.4"), (3, true, "0.8"),
            (4, false, nil), (5, false, "0.6"),
        ]
        for (i, s) in seen.enumerated() {
            var f = Frame(width: 2, height: 2, layout: .gray, fill: [0], pts: Rational(Int64(i), 24))
            f.properties.sourceIndex = s.k
            f.properties.sceneCut = s.cut
            if let c = s.c { f.properties.extra[ColorizeStage.certaintyKey] = c }
            tally.see(f)
        }
        XCTAssertEqual(tally.shots.map(\.firstFrame), [0, 3])
        XCTAssertEqual(tally.shots.map(\.frames), [3, 2])
        XCTAssertEqual(tally.shots[0].meanCertainty, 0.4, accuracy: 1e-12)
        XCTAssertEqual(tally.shots[1].meanCertainty, 0.7, accuracy: 1e-12)
        XCTAssertEqual(tally.shots.map(\.leastFrame), [1, 5])
        XCTAssertEqual(tally.shots[0].time, 0, accuracy: 1e-12)
        XCTAssertEqual(tally.shots[1].time, 4.0 / 24, accuracy: 1e-12)
    }
}
