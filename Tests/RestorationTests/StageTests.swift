import XCTest
import FilmCore
import Restoration
import TestSupport

final class StageTests: XCTestCase {
    // MARK: fps

    func test_fps_24to60_exactTimestampsAndNearestFrames() throws {
        // given 60 frames at 24 fps (2.5 s)
        let h = try StageHarness("fps", options: ["rate": "60"], input: streamInfo(width: 8, height: 8, frames: 60))
        for i in 0..<60 { try h.push(Frame(width: 8, height: 8, layout: .gray, fill: [Float(i) / 60], pts: Rational(Int64(i), 24), duration: Rational(1, 24), properties: FrameProperties(sourceIndex: i))) }
        try h.finish()
        // then 150 frames at exactly k/60, each the nearest input frame
        XCTAssertEqual(h.emitted.count, 150)
        for (k, f) in h.emitted.enumerated() {
            XCTAssertEqual(f.pts, Rational(Int64(k), 60))
            let t = Double(k) / 60
            let nearest = min(59, Int((t * 24).rounded(.toNearestOrAwayFromZero)))
            let src = f.properties.sourceIndex
            // nearest in time (ties may go either way)
            XCTAssertLessThanOrEqual(abs(Double(src) / 24 - t), abs(Double(nearest) / 24 - t) + 1e-9, "k=\(k)")
        }
        XCTAssertEqual(h.output.frameRate, Rational(60))
    }

    func test_fps_23976to60_noDriftOverLongRun() throws {
        let rate = Rational(24000, 1001)
        let n = 24_000   // ~16.7 minutes
        let h = try StageHarness("fps", options: ["rate": "60"], input: streamInfo(width: 2, height: 2, fps: rate, frames: n))
        let f0 = Frame(width: 2, height: 2, layout: .gray, fill: [0])
        var count = 0
        for i in 0..<n {
            var f = f0; f.pts = Rational(Int64(i)) / rate; f.duration = rate.reciprocal
            count += try h.push(f).count
        }
        count += try h.finish().count
        // duration = 24000 × 1001/24000 = 1001 s → exactly 60060 frames
        XCTAssertEqual(count, 60_060)
        XCTAssertEqual(h.emitted.last?.pts, Rational(60_059, 60))
    }

    func test_fps_vfrInput_countMatchesDuration() throws {
        var rng = SystemRandomNumberGenerator()
        let h = try StageHarness("fps", options: ["rate": "60"], input: streamInfo(width: 2, height: 2))
        var t = Rational.zero
        var last = Rational.zero
        for _ in 0..<200 {
            let d = Rational(Int64.random(in: 20...70, using: &rng), 1000)
            try h.push(Frame(width: 2, height: 2, layout: .gray, fill: [0], pts: t, duration: d))
            last = t + d
            t = t + d
        }
        try h.finish()
        let expected = (last * Rational(60)).doubleValue
        XCTAssertLessThanOrEqual(abs(Double(h.emitted.count) - expected.rounded()), 1)
        for (a, b) in zip(h.emitted, h.emitted.dropFirst()) { XCTAssertLessThan(a.pts, b.pts) }
    }

    // MARK: fit

    func test_fit_sar8to9_pillarboxesTo2880Wide() throws {
        // 720x480 with SAR 8:9 is 4:3 on screen → 2880x2160 inside 3840x2160, bars of 480 each side.
        let h = try StageHarness("fit", options: ["size": "3840x2160"], input: streamInfo(width: 720, height: 480, sar: Rational(8, 9)))
        let white = Frame(width: 720, height: 480, layout: .rgb, fill: [1, 1, 1], properties: FrameProperties(sampleAspect: Rational(8, 9)))
        let out = try XCTUnwrap(try h.push(white).first)
        XCTAssertEqual(out.width, 3840); XCTAssertEqual(out.height, 2160)
        XCTAssertEqual(out.properties.sampleAspect, .one)
        let row = 1080 * 3840
        let p = out.planes[1]
        XCTAssertEqual(p[row + 479], 0, accuracy: 1e-6)
        XCTAssertEqual(p[row + 480], 1, accuracy: 1e-3)
        XCTAssertEqual(p[row + 3359], 1, accuracy: 1e-3)
        XCTAssertEqual(p[row + 3360], 0, accuracy: 1e-6)
        // the measured picture width is 2880
        let bright = (0..<3840).filter { p[row + $0] > 0.5 }.count
        XCTAssertEqual(bright, 2880)
    }

    func test_fit_letterboxesWideAndCropsWhenAsked() throws {
        let info = streamInfo(width: 2048, height: 858)   // 2.39:1 scope
        let pad = try StageHarness("fit", options: ["size": "1920x1080"], input: info)
        let f = try XCTUnwrap(try pad.push(Frame(width: 2048, height: 858, layout: .gray, fill: [1])).first)
        let col = (0..<1080).filter { f.planes[0][$0 * 1920 + 960] > 0.5 }.count
        XCTAssertEqual(col, 804)   // 1920 / (2048/858) = 804.4 → 804 (even)
        let crop = try StageHarness("fit", options: ["size": "1920x1080", "mode": "crop"], input: info)
        let c = try XCTUnwrap(try crop.push(Frame(width: 2048, height: 858, layout: .gray, fill: [1])).first)
        XCTAssertEqual(c.planes[0].filter { $0 < 0.5 }.count, 0)
    }

    func test_fit_lanczosDownThenUp_preservesSmoothContent() throws {
        let src = syntheticFrame(width: 256, height: 192, index: 0, speed: 0)
        let down = try StageHarness("fit", options: ["size": "128x96"], input: streamInfo(width: 256, height: 192))
        let small = try XCTUnwrap(try down.push(src).first)
        let up = try StageHarness("fit", options: ["size": "256x192"], input: streamInfo(width: 128, height: 96))
        let back = try XCTUnwrap(try up.push(small).first)
        XCTAssertGreaterThan(psnr(src, back), 28)
        XCTAssertEqual(back.pts, src.pts)
    }

    func test_options_unknownAndInvalidAreRejected() {
        XCTAssertThrowsError(try StageHarness("fit", options: ["sise": "4k"], input: streamInfo(width: 8, height: 8))) {
            XCTAssertTrue("\($0)".contains("unknown option 'sise'"), "\($0)")
        }
        XCTAssertThrowsError(try StageHarness("fps", options: ["rate": "fast"], input: streamInfo(width: 8, height: 8))) {
            XCTAssertTrue("\($0)".contains("rate must be"), "\($0)")
        }
        XCTAssertThrowsError(try StageHarness("sharpen", input: streamInfo(width: 8, height: 8))) {
            XCTAssertTrue("\($0)".contains("unknown stage 'sharpen'"), "\($0)")
        }
    }

    // MARK: presets

    func test_presets_shippedOnesAllLoad() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Pipelines").path
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".yml") }
        XCTAssertTrue(files.contains("fit-4k60.yml") && files.contains("archival-4k60.yml"))
        for f in files {
            let p = try PresetLibrary.load(dir + "/" + f)
            XCTAssertFalse(p.description.isEmpty, f)
        }
    }

    /// A list in YAML reaches its stage as a list; a mapping where a value belongs is refused
    /// naming the option, what it takes and what it got.
    func test_presets_listValuedOption_reachesTheStage_wrongTypeNamed() throws {
        let p = try Preset.parse(yaml: "stages:\n  - interpolate: {rate: 60, scale-list: [16, 8, 4, 2]}\n", name: "t")
        XCTAssertEqual(p.stages[0].options["scale-list"], "16,8,4,2")
        let stage = try XCTUnwrap(try StageRegistry.make("interpolate", options: StageOptions(stage: "interpolate", values: p.stages[0].options)) as? InterpolateStage)
        XCTAssertEqual(stage.scaleList, [16, 8, 4, 2])
        XCTAssertThrowsError(try Preset.parse(yaml: "stages:\n  - interpolate: {scale-list: {coarse: 16}}\n", name: "t")) {
            XCTAssertEqual("\($0)", "preset 't': option interpolate.scale-list takes a value or a list of values, not a mapping")
        }
        XCTAssertThrowsError(try Preset.parse(yaml: "stages:\n  - interpolate: {scale-list: [[16, 8], [4, 2]]}\n", name: "t")) {
            XCTAssertTrue("\($0)".contains("interpolate.scale-list takes a value or a list of values, not a list of lists"), "\($0)")
        }
    }

    /// `--set` reaches every stage of its name, or the N-th with STAGE#N.
    func test_set_everyStageOfTheName_orTheNth() throws {
        var p = try Preset.parse(yaml: "stages: [denoise, fit, denoise]", name: "two")
        try p.apply(setting: "denoise.strength=0.3")
        XCTAssertEqual(p.stages.map { $0.options["strength"] }, ["0.3", nil, "0.3"])
        try p.apply(setting: "denoise#2.strength=0.5")
        XCTAssertEqual(p.stages.map { $0.options["strength"] }, ["0.3", nil, "0.5"])
        XCTAssertThrowsError(try p.apply(setting: "denoise#3.strength=1")) { XCTAssertTrue("\($0)".contains("has 2 stage(s) denoise"), "\($0)") }
        XCTAssertThrowsError(try p.apply(setting: "blur.radius=1")) { XCTAssertTrue("\($0)".contains("has no stage blur"), "\($0)") }
        XCTAssertThrowsError(try p.apply(setting: "denoise=1")) { XCTAssertTrue("\($0)".contains("STAGE.KEY=VALUE"), "\($0)") }
    }

    func test_presets_parseAndReportUnavailableStages() throws {
        let p = try Preset.parse(yaml: """
            description: test
            stages:
              - colorize
              - fit: {size: 1280x720}
            output: {codec: libx265, crf: 20}
            """, name: "t")
        XCTAssertEqual(p.stages.map(\.name), ["colorize", "fit"])
        XCTAssertEqual(p.encoder.codec, "libx265")
        XCTAssertEqual(p.encoder.crf, 20)
        XCTAssertEqual(p.unavailableStages, [])          // every planned stage exists now
        XCTAssertNotNil(StageRegistry.type(named: "colorize"))
        XCTAssertThrowsError(try Preset.parse(yaml: "stages: [blur]", name: "x")) { XCTAssertTrue("\($0)".contains("unknown stage 'blur'")) }
        XCTAssertThrowsError(try Preset.parse(yaml: "stages: [fit]\noutput: {speed: 3}", name: "x")) { XCTAssertTrue("\($0)".contains("unknown output setting")) }
    }
}
