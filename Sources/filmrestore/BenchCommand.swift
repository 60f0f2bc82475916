import ArgumentParser
import Foundation
import FilmCore
import Restoration
import TensorCore

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure throughput: `bench stage NAME` (one stage on synthetic frames), `bench upscale` / `bench interpolate` (the networks: s/frame, GFLOP/s, peak memory) or `bench pipeline` (a whole restore).")

    @Argument(help: "What to measure: stage or pipeline.") var what: String
    @Argument(help: "Stage name (for `stage`).") var stage: String?
    @Option(help: "Input frame size WIDTHxHEIGHT.") var size = "640x480"
    @Option(help: "Frames to push through.") var frames = 24
    @Option(help: "Stage option key=value (repeatable).") var option: [String] = []
    @Option(help: "For `pipeline`: the input clip.") var input: String?
    @Option(help: "For `pipeline`: the preset.") var preset = "fit-4k60"
    @Option(help: "For `upscale`: the model.") var model = "realesr-animevideov3"

    func run() throws {
        do {
            switch what {
            case "stage": try benchStage()
            case "pipeline": try benchPipeline()
            case "upscale": try benchUpscale()
            case "interpolate": try benchInterpolate()
            default: throw ValidationError("bench takes `stage NAME`, `upscale`, `interpolate` or `pipeline`")
            }
        } catch let e as ValidationError { throw e } catch { FilmRestore.fail(error) }
    }

    /// The repeated --option key=value pairs.
    func stageOptions() throws -> [String: String] {
        var values: [String: String] = [:]
        for o in option {
            let kv = o.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw ValidationError("--option takes key=value") }
            values[kv[0]] = kv[1]
        }
        return values
    }

    func benchStage() throws {
        guard let name = stage else { throw ValidationError("bench stage needs a stage name") }
        guard let (w, h) = StageOptions.parseSize(size) else { throw ValidationError("--size must be WIDTHxHEIGHT") }
        let values = try stageOptions()
        let s = try StageRegistry.make(name, options: StageOptions(stage: name, values: values))
        let info = StreamInfo(width: w, height: h, layout: .rgb, frameRate: Rational(24), averageRate: Rational(24),
                              color: .bt709, duration: Rational(Int64(frames), 24), frameCount: frames)
        let out = try s.configure(info)
        var rng = SystemRandomNumberGenerator()
        let planes = (0..<3).map { _ in (0..<(w * h)).map { _ in Float.random(in: 0...1, using: &rng) } }
        var emitted = 0
        let t0 = Date()
        for i in 0..<frames {
            let f = Frame(width: w, height: h, layout: .rgb, planes: planes, pts: Rational(Int64(i), 24), duration: Rational(1, 24))
            try s.process(f) { _ in emitted += 1 }
        }
        try s.flush { _ in emitted += 1 }
        let dt = Date().timeIntervalSince(t0)
        print(String(format: "stage %@ %dx%d → %dx%d: %d frames in %.3f s = %.3f s/frame (%.2f input fps), %d frames out",
                     name, w, h, out.width, out.height, frames, dt, dt / Double(frames), Double(frames) / dt, emitted))
    }

    func benchUpscale() throws {
        guard let (w, h) = StageOptions.parseSize(size) else { throw ValidationError("--size must be WIDTHxHEIGHT") }
        var values = try stageOptions()
        values["model"] = values["model"] ?? model
        let stage = try UpscaleStage(options: StageOptions(stage: "upscale", values: values))
        let info = StreamInfo(width: w, height: h, layout: .rgb, frameRate: Rational(24), averageRate: Rational(24), color: .bt709)
        _ = try stage.configure(info)
        let roof = GEMM.measureGFLOPS()
        let frame = Frame(width: w, height: h, layout: .rgb, fill: [0.4, 0.5, 0.6])
        var times: [Double] = []
        for _ in 0..<max(1, frames) {
            let t0 = Date()
            try stage.process(frame) { _ in }
            times.append(Date().timeIntervalSince(t0))
        }
        let best = times.min()!, mean = times.reduce(0, +) / Double(times.count)
        let gflop = stage.network.flops(height: h, width: w) / 1e9
        print(String(format: "upscale %@ %dx%d → %dx%d, %d thread(s): %.3f s/frame (mean %.3f over %d), %.1f GFLOP/frame (as direct convolution), %.1f GFLOP/s effective; sgemm roof %.1f GFLOP/s; peak RSS %.0f MiB",
                     model, w, h, w * 4, h * 4, GEMM.threads, best, mean, times.count, gflop, gflop / best, roof, Double(peakResidentKiB()) / 1024))
    }

    /// One interpolated frame between two synthetic frames (a textured picture and the same moved
    /// by a few pixels), timed end to end: downscale for the flow, IFNet, upsampled flow, warp, blend.
    func benchInterpolate() throws {
        guard let (w, h) = StageOptions.parseSize(size) else { throw ValidationError("--size must be WIDTHxHEIGHT") }
        let stage = try InterpolateStage(options: StageOptions(stage: "interpolate", values: try stageOptions()))
        let info = StreamInfo(width: w, height: h, layout: .rgb, frameRate: Rational(24), averageRate: Rational(24), color: .bt709)
        _ = try stage.configure(info)
        let roof = GEMM.measureGFLOPS()
        func picture(_ shift: Int) -> Frame {
            let planes = (0..<3).map { c in (0..<(w * h)).map { i -> Float in
                let x = Float(i % w + shift), y = Float(i / w)
                return 0.5 + 0.2 * sinf(x * 0.05 + Float(c)) * cosf(y * 0.07) + 0.1 * sinf((x + y) * 0.31)
            }}
            return Frame(width: w, height: h, layout: .rgb, planes: planes, pts: .zero, duration: Rational(1, 24))
        }
        // 24 → 48 fps: every input frame after the first gives one frame at t = ½ (and one copy).
        let s = try InterpolateStage(options: StageOptions(stage: "interpolate", values: ["rate": "48"].merging(try stageOptions()) { $1 }))
        _ = try s.configure(info)
        let pictures = [picture(0), picture(Int(4 / s.flowScale))]
        var times: [Double] = []
        for i in 0...max(1, frames) {
            var f = pictures[i % 2]
            f.pts = Rational(Int64(i), 24)
            let before = s.interpolated
            let t0 = Date()
            try s.process(f) { _ in }
            if i > 0 { times.append(Date().timeIntervalSince(t0)) }
            guard i == 0 || s.interpolated == before + 1 else { throw ValidationError("expected one interpolated frame per input") }
        }
        let best = times.min()!, mean = times.reduce(0, +) / Double(times.count)
        let (fw, fh) = stage.flowSize(width: w, height: h)
        let gflop = stage.networkFlops(width: w, height: h) / 1e9
        print(String(format: "interpolate rife-v4.0 %dx%d (flow at %dx%d, flow-scale %g%@), %d thread(s): %.3f s/frame (mean %.3f over %d), %.1f GFLOP/frame (as direct convolution), %.1f GFLOP/s effective; sgemm roof %.1f GFLOP/s; peak RSS %.0f MiB",
                     w, h, fw, fh, stage.flowScale, stage.ensemble ? ", ensemble" : "", GEMM.threads, best, mean, times.count, gflop, gflop / best, roof, Double(peakResidentKiB()) / 1024))
    }

    func benchPipeline() throws {
        guard let input = input else { throw ValidationError("bench pipeline needs --input CLIP") }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("filmrestore-bench-\(getpid()).mkv").path
        defer { unlink(out) }
        let job = RestoreJob(input: input, output: out, preset: try PresetLibrary.load(preset))
        let r = try Restorer(job: job)
        let s = try r.run()
        print(String(format: "pipeline %@ on %@ (%@ → %@): %d frames out in %.2f s = %.2f fps; peak RSS %.0f MiB",
                     preset, input, r.reader.stream.description, s.output.description, s.framesWritten, s.seconds,
                     Double(s.framesWritten) / s.seconds, Double(peakResidentKiB()) / 1024))
        for (name, sec) in s.stepSeconds { print(String(format: "  %-10@ busy %.2f s", name as NSString, sec)) }
    }
}
