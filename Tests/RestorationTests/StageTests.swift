import XCTest
import FilmCore
@testable import Restoration
import TestSupport

final class StageTests: XCTestCase {
    // MARK: fps

    func test_fps_24to60_exactTimestampsAndNearestFrames() throws {
        // given 60 frames at 24 fps (2.5 s)
        let h = try StageHarness("fps", options: ["rate": "60"], input: streamInfo(width: 8, height: 8, frames: 60))
        for i in 0..<60 {
            try h.push(
                Frame(
                    width: 8, height: 8, layout: .gray, fill: [Float(i) / 60], pts: Rational(Int64(i), 24),
                    duration: Rational(1, 24), properties: FrameProperties(sourceIndex: i)))
        }
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
        let n = 24_000  // ~16.7 minutes
        let h = try StageHarness(
            "fps", options: ["rate": "60"], input: streamInfo(width: 2, height: 2, fps: rate, frames: n))
        let f0 = Frame(width: 2, height: 2, layout: .gray, fill: [0])
        var count = 0
        for i in 0..<n {
            var f = f0
            f.pts = Rational(Int64(i)) / rate
            f.duration = rate.reciprocal
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
        let h = try StageHarness(
            "fit", options: ["size": "3840x2160"], input: streamInfo(width: 720, height: 480, sar: Rational(8, 9)))
        let white = Frame(
            width: 720, height: 480, layout: .rgb, fill: [1, 1, 1],
            properties: FrameProperties(sampleAspect: Rational(8, 9)))
        let out = try XCTUnwrap(try h.push(white).first)
        XCTAssertEqual(out.width, 3840)
        XCTAssertEqual(out.height, 2160)
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

    func test_fit_pad_resamplesIntoTheCanvas_asScalingThenPlacing() throws {
        // the padded picture is resampled straight into its place: the same numbers as scaling it alone
        // and copying it between the bars
        let src = syntheticFrame(width: 160, height: 120, index: 3, speed: 1)
        let h = try StageHarness("fit", options: ["size": "384x216"], input: streamInfo(width: 160, height: 120))
        let out = try XCTUnwrap(try h.push(src).first)
        let scaled = Resampler(from: 160, 120, to: 288, 216)
        for (c, plane) in src.planes.enumerated() {
            let alone = scaled.resample(plane)
            var worst: Float = 0, bars: Float = 0
            for y in 0..<216 {
                for x in 0..<384 {
                    let v = out.planes[c][y * 384 + x]
                    if x < 48 || x >= 336 {
                        bars = max(bars, abs(v))
                    } else {
                        worst = max(worst, abs(v - alone[y * 288 + x - 48]))
                    }
                }
            }
            XCTAssertEqual(worst, 0, "plane \(c)")
            XCTAssertEqual(bars, 0, "plane \(c): black bars")
        }
    }

    func test_fit_letterboxesWideAndCropsWhenAsked() throws {
        let info = streamInfo(width: 2048, height: 858)  // 2.39:1 scope
        let pad = try StageHarness("fit", options: ["size": "1920x1080"], input: info)
        let f = try XCTUnwrap(try pad.push(Frame(width: 2048, height: 858, layout: .gray, fill: [1])).first)
        let col = (0..<1080).filter { f.planes[0][$0 * 1920 + 960] > 0.5 }.count
        XCTAssertEqual(col, 804)  // 1920 / (2048/858) = 804.4 → 804 (even)
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
        XCTAssertThrowsError(try StageHarness("fps", options: ["rate": "fast"], input: streamInfo(width: 8, height: 8)))
        {
            XCTAssertTrue("\($0)".contains("option 'rate' takes a rate of 1…240 fps"), "\($0)")
        }
        XCTAssertThrowsError(try StageHarness("sharpen", input: streamInfo(width: 8, height: 8))) {
            XCTAssertTrue("\($0)".contains("unknown stage 'sharpen'"), "\($0)")
        }
    }

    // MARK: presets

    func test_presets_shippedOnesAllLoad() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
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
        let stage = try XCTUnwrap(
            try StageRegistry.make(
                "interpolate", options: StageOptions(stage: "interpolate", values: p.stages[0].options))
                as? InterpolateStage)
        XCTAssertEqual(stage.scaleList, [16, 8, 4, 2])
        XCTAssertThrowsError(
            try Preset.parse(yaml: "stages:\n  - interpolate: {scale-list: {coarse: 16}}\n", name: "t")
        ) {
            XCTAssertEqual(
                "\($0)", "preset 't': option interpolate.scale-list takes a value or a list of values, not a mapping")
        }
        XCTAssertThrowsError(
            try Preset.parse(yaml: "stages:\n  - interpolate: {scale-list: [[16, 8], [4, 2]]}\n", name: "t")
        ) {
            XCTAssertTrue(
                "\($0)".contains("interpolate.scale-list takes a value or a list of values, not a list of lists"),
                "\($0)")
        }
    }

    /// A value of the wrong type is refused when the preset is read, naming the stage, the
    /// option, what it takes and the value; so is a list where one value belongs, and a list of
    /// the wrong length.
    func test_presets_wrongType_namesOptionExpectedTypeAndValue() throws {
        func message(_ yaml: String) -> String {
            do {
                _ = try Preset.parse(yaml: yaml, name: "t")
                return "parsed"
            } catch { return "\(error)" }
        }
        XCTAssertEqual(
            message("stages:\n  - denoise: {radius: two}\n"),
            "preset 't': stage 'denoise': option 'radius' takes a whole number in 0…6, not 'two'")
        XCTAssertEqual(
            message("stages:\n  - fit: {size: [3840, 2160]}\n"),
            "preset 't': stage 'fit': option 'size' takes a size WIDTHxHEIGHT (or 4k, 1080p, 720p), not '3840,2160'")
        XCTAssertEqual(
            message("stages:\n  - interpolate: {scale-list: [8, 4, 2]}\n"),
            "preset 't': stage 'interpolate': option 'scale-list' takes a list of 4 (a number in 0.001…64), not '8,4,2'"
        )
        XCTAssertEqual(
            message("stages:\n  - colorize: {render-size: 100}\n"),
            "preset 't': stage 'colorize': option 'render-size' takes a multiple of 32 in 64…2048, not '100'")
        XCTAssertEqual(
            message("stages:\n  - deflicker: {grid: 32x2}\n"),
            "preset 't': stage 'deflicker': option 'grid' takes a size WIDTHxHEIGHT, each at most 16, not '32x2'")
        XCTAssertEqual(
            message("stages:\n  - denoise: {strength: loud}\n"),
            "preset 't': stage 'denoise': option 'strength' takes auto or a number in 0…100, not 'loud'")
        XCTAssertEqual(
            message("stages:\n  - fit: {sise: 4k}\n"),
            "preset 't': stage 'fit': unknown option 'sise' (options: background, fuse, mode, size)")
        XCTAssertEqual(
            message("stages:\n  - interpolate: {scale-list: [16, 8, 4, 2], flow-scale: auto, ensemble: yes}\n"),
            "parsed")
    }

    /// Every registered stage's declaration is whole: unique keys, a help line each, every
    /// default of its own type (it reads back as itself), roles on the options they name, and
    /// every stage builds from its defaults alone (so no stage reads an undeclared option).
    func test_specs_everyStage_defaultsParse_rolesNameOptions_buildsWithDefaults() throws {
        XCTAssertEqual(Set(StageRegistry.names).count, StageRegistry.names.count)
        for t in StageRegistry.stages {
            let s = t.spec
            XCTAssertFalse(s.summary.isEmpty, s.name)
            XCTAssertEqual(Set(s.options.map(\.key)).count, s.options.count, s.name)
            for o in s.options {
                XCTAssertFalse(o.help.isEmpty, "\(s.name).\(o.key)")
                if let d = o.defaultValue {
                    XCTAssertEqual(
                        o.type.parse(d.description), d, "\(s.name).\(o.key): default \(d) is not a \(o.type)")
                } else if case .path = o.type {
                } else {
                    XCTAssertNotNil(
                        o.defaultNote, "\(s.name).\(o.key) has neither a default nor a note saying what it is")
                }
            }
            for key in [s.sizeOption, s.rateOption].compactMap({ $0 }) {
                XCTAssertNotNil(s.option(key), "\(s.name): role on \(key)")
            }
            if s.has(.fallback) { XCTAssertTrue(s.sizeOption != nil || s.rateOption != nil, s.name) }
            XCTAssertNoThrow(try StageRegistry.make(s.name, text: [:]), s.name)
        }
        // the files a stage was built from come with the stage (no side channel): the default
        // upscaler blends two networks, so four files
        let up = try StageRegistry.make("upscale", text: [:])
        XCTAssertEqual(
            up.modelFiles.map { ($0 as NSString).lastPathComponent },
            [
                "realesr-general-x4v3.param", "realesr-general-x4v3.bin", "realesr-general-wdn-x4v3.param",
                "realesr-general-wdn-x4v3.bin",
            ])
        XCTAssertTrue(up.modelFiles.allSatisfy { FileManager.default.fileExists(atPath: $0) })
        XCTAssertEqual(try StageRegistry.make("upscale", text: ["denoise": "1"]).modelFiles.count, 2)
        XCTAssertEqual(
            try StageRegistry.make("colorize", text: [:]).modelFiles.map { ($0 as NSString).lastPathComponent },
            ["film-colorizer.safetensors"])
        XCTAssertEqual(try StageRegistry.make("fit", text: [:]).modelFiles, [])
        XCTAssertEqual(StageRegistry.fallback(for: \.sizeOption)?.name, "fit")
        XCTAssertEqual(StageRegistry.fallback(for: \.rateOption)?.name, "fps")
    }

    /// `--set` reaches every stage of its name, or the N-th with STAGE#N.
    func test_set_everyStageOfTheName_orTheNth() throws {
        var p = try Preset.parse(yaml: "stages: [denoise, fit, denoise]", name: "two")
        try p.apply(setting: "denoise.strength=0.3")
        XCTAssertEqual(p.stages.map { $0.options["strength"] }, ["0.3", nil, "0.3"])
        try p.apply(setting: "denoise#2.strength=0.5")
        XCTAssertEqual(p.stages.map { $0.options["strength"] }, ["0.3", nil, "0.5"])
        XCTAssertThrowsError(try p.apply(setting: "denoise#3.strength=1")) {
            XCTAssertTrue("\($0)".contains("has 2 stage(s) denoise"), "\($0)")
        }
        XCTAssertThrowsError(try p.apply(setting: "blur.radius=1")) {
            XCTAssertTrue("\($0)".contains("has no stage blur"), "\($0)")
        }
        XCTAssertThrowsError(try p.apply(setting: "denoise=1")) {
            XCTAssertTrue("\($0)".contains("STAGE.KEY=VALUE"), "\($0)")
        }
        // checked against the spec at once: type and key
        XCTAssertThrowsError(try p.apply(setting: "denoise.radius=9")) {
            XCTAssertEqual(
                "\($0)", "--set denoise.radius=9: stage 'denoise': option 'radius' takes a whole number in 0…6, not '9'"
            )
        }
        XCTAssertThrowsError(try p.apply(setting: "fit.blur=1")) {
            XCTAssertTrue("\($0)".contains("unknown option 'blur'"), "\($0)")
        }
        XCTAssertEqual(p.stages.map { $0.options["radius"] }, [nil, nil, nil], "a refused setting changes nothing")
    }

    /// `--size` and `--fps` reach the stages by role, whatever their names; the fallback stage
    /// is appended when no stage has the role; the shot finder (and, for interlaced sources, a
    /// deinterlacer) is put in front by trait.
    func test_roles_sizeAndRate_byTrait_automaticStagesByTrait() throws {
        var e: [Preset.StageEntry] = [.init(name: "denoise"), .init(name: "interpolate"), .init(name: "fps")]
        Restorer.setRole(\.rateOption, to: "50", in: &e)
        Restorer.setRole(\.sizeOption, to: "1920x1080", in: &e)
        XCTAssertEqual(e.map(\.name), ["denoise", "interpolate", "fps", "fit"])
        XCTAssertEqual(e.map { $0.options["rate"] }, [nil, "50", "50", nil])
        XCTAssertEqual(e[3].options, ["size": "1920x1080"])
        var d: [Preset.StageEntry] = [.init(name: "fit")]
        Restorer.setRole(\.rateOption, to: "24000/1001", in: &d)
        XCTAssertEqual(d.map(\.name), ["fit", "fps"])
        Restorer.insertAutomaticStages(&d, interlaced: true)
        XCTAssertEqual(d.map(\.name), ["deinterlace", "scenecut", "fit", "fps"])
        Restorer.insertAutomaticStages(&d, interlaced: true)
        XCTAssertEqual(d.count, 4, "inserted once")
        var p: [Preset.StageEntry] = [.init(name: "scenecut", options: ["threshold": "0.5"]), .init(name: "fit")]
        Restorer.insertAutomaticStages(&p, interlaced: false)
        XCTAssertEqual(p.map(\.name), ["scenecut", "fit"])
        // the report's reference: the leading cleanup run, with a shot finder
        let chain: [Preset.StageEntry] = [
            .init(name: "deflicker"), .init(name: "denoise"), .init(name: "upscale"), .init(name: "despeckle"),
        ]
        XCTAssertEqual(ReportMaker.referenceChain(chain).map(\.name), ["scenecut", "deflicker", "denoise"])
    }

    func test_presets_parseAndReportUnavailableStages() throws {
        let p = try Preset.parse(
            yaml: """
                description: test
                stages:
                  - colorize
                  - fit: {size: 1280x720}
                output: {codec: libx265, crf: 20}
                """, name: "t")
        XCTAssertEqual(p.stages.map(\.name), ["colorize", "fit"])
        XCTAssertEqual(p.encoder.codec, "libx265")
        XCTAssertEqual(p.encoder.crf, 20)
        XCTAssertEqual(p.unavailableStages, [])  // every planned stage exists now
        XCTAssertNotNil(StageRegistry.type(named: "colorize"))
        XCTAssertThrowsError(try Preset.parse(yaml: "stages: [blur]", name: "x")) {
            XCTAssertTrue("\($0)".contains("unknown stage 'blur'"))
        }
        XCTAssertThrowsError(try Preset.parse(yaml: "stages: [fit]\noutput: {speed: 3}", name: "x")) {
            XCTAssertTrue("\($0)".contains("unknown output setting"))
        }
    }
}
