import ArgumentParser
import Foundation
import FilmCore
import MediaIO
import Restoration
import TensorCore

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Measure throughput: `bench stage NAME` (one stage on synthetic frames), `bench upscale` / `bench interpolate` (the networks: s/frame, GFLOP/s, peak memory), `bench rebuild --input CLIP` (interpolation quality: every other frame dropped and rebuilt) or `bench pipeline` (a whole restore)."
    )

    @Argument(help: "What to measure: stage or pipeline.") var what: String
    @Argument(help: "Stage name (for `stage`).") var stage: String?
    @Option(help: "Input frame size WIDTHxHEIGHT.") var size = "640x480"
    @Option(help: "Frames to push through.") var frames = 24
    @Option(help: "Stage option key=value (repeatable).") var option: [String] = []
    @Option(help: "For `pipeline`, `rebuild`, and optionally `stage`: the input clip.") var input: String?
    @Option(help: "For `pipeline`: the preset.") var preset = "fit-4k60"
    @Option(help: "For `upscale`: the model.") var model = "realesr-animevideov3"
    @Option(help: "For `stage --input`: the clean clip the input was made from; prints PSNR (8-bit RGB) against it.")
    var reference: String?
    @Option(
        help:
            "For `stage --input`: FFmpeg filters to time (and score with --reference) on the same input, comma-separated, e.g. nlmeans,bm3d=sigma=10."
    ) var peers: String?

    func run() throws {
        do {
            switch what {
            case "stage": try benchStage()
            case "pipeline": try benchPipeline()
            case "upscale": try benchUpscale()
            case "interpolate": try benchInterpolate()
            case "rebuild": try benchRebuild()
            default:
                throw ValidationError("bench takes `stage NAME`, `upscale`, `interpolate`, `rebuild` or `pipeline`")
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
        // the input: the first --frames frames of --input (decoded before the clock starts), or
        // random frames of --size (one picture repeated)
        var input: [Frame] = [], info: StreamInfo
        if let path = self.input {
            (info, input) = try Self.readFrames(path, count: frames)
            guard !input.isEmpty else { throw ValidationError("\(path): no frames") }
        } else {
            info = StreamInfo(
                width: w, height: h, layout: .rgb, frameRate: Rational(24), averageRate: Rational(24),
                color: .bt709, duration: Rational(Int64(frames), 24), frameCount: frames)
            var rng = SystemRandomNumberGenerator()
            let planes = (0..<3).map { _ in (0..<(w * h)).map { _ in Float.random(in: 0...1, using: &rng) } }
            input = (0..<frames).map {
                Frame(
                    width: w, height: h, layout: .rgb, planes: planes, pts: Rational(Int64($0), 24),
                    duration: Rational(1, 24))
            }
        }
        let out = try s.configure(info)
        let clean = try reference.map { try Self.readFrames($0, count: input.count).1 }
        var emitted = 0, scores: [Double] = []
        func collect(_ f: Frame) {
            if let clean = clean, emitted < clean.count { scores.append(Self.psnr8(f, clean[emitted])) }
            emitted += 1
        }
        let t0 = Date()
        for f in input { try s.process(f) { collect($0) } }
        try s.flush { collect($0) }
        let dt = Date().timeIntervalSince(t0)
        let n = input.count
        let quality =
            scores.isEmpty
            ? ""
            : String(
                format: "; PSNR %.2f dB vs reference (input %.2f dB)", Self.mean(scores),
                Self.mean(zip(input, clean!).map { Self.psnr8($0, $1) }))
        print(
            String(
                format:
                    "stage %@ %dx%d → %dx%d%@: %d frames in %.3f s = %.3f s/frame (%.2f input fps), %d frames out%@",
                name, info.width, info.height, out.width, out.height,
                self.input.map { " on \(($0 as NSString).lastPathComponent)" } ?? " (random frames)",
                n, dt, dt / Double(n), Double(n) / dt, emitted, quality))
        if let peers = peers, let path = self.input {
            for filter in peers.split(separator: ",").map(String.init) {
                try benchFFmpegFilter(filter, input: path, frames: n, clean: clean)
            }
        }
    }

    static func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(max(v.count, 1)) }

    /// The stream's description and its first `count` frames.
    static func readFrames(_ path: String, count: Int) throws -> (StreamInfo, [Frame]) {
        let reader = try MediaReader(path: path)
        var frames: [Frame] = []
        while frames.count < count, let f = try reader.nextFrame() { frames.append(f) }
        return (reader.stream, frames)
    }

    /// An FFmpeg filter on the same frames through the `ffmpeg` command (lossless FFV1 out): its
    /// time per frame less that of the same command without the filter (decoding and encoding),
    /// and its output's PSNR against the reference.
    func benchFFmpegFilter(_ filter: String, input: String, frames n: Int, clean: [Frame]?) throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("filmrestore-bench-\(getpid()).mkv")
            .path
        defer { unlink(out) }
        func run(_ vf: String) throws -> Double {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = [
                "ffmpeg", "-v", "error", "-y", "-i", input, "-frames:v", "\(n)", "-vf", vf, "-an", "-c:v", "ffv1", out,
            ]
            let t0 = Date()
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else {
                throw ValidationError("ffmpeg -vf \(vf) failed (exit \(p.terminationStatus))")
            }
            return Date().timeIntervalSince(t0)
        }
        let base = try run("null"), total = try run(filter)
        var quality = ""
        if let clean = clean {
            let frames = try Self.readFrames(out, count: clean.count).1
            quality = String(
                format: "; PSNR %.2f dB vs reference", Self.mean(zip(frames, clean).map { Self.psnr8($0, $1) }))
        }
        print(
            String(
                format: "ffmpeg -vf %@ on the same %d frames: %.3f s/frame (%.3f s/frame with decoding and encoding)%@",
                filter, n, max(total - base, 0) / Double(n), total / Double(n), quality))
    }

    /// The precisions a network benchmark runs: the one `--option precision=` names, else fp32 (our core),
    /// bf16-emulated (oneDNN's fp32 kernels plus bf16 rounding: how oneDNN's fp32 compares with ours here) and
    /// bf16 where oneDNN runs it on this CPU.
    func precisions() throws -> [String] {
        if let p = try stageOptions()["precision"] { return [p] }
        return ["fp32", "bf16-emulated"] + (OneDNN.bf16Available ? ["bf16"] : [])
    }

    /// The kernels oneDNN chose while `body` ran (impl_info, layer count), or "our core" when none.
    func kernelsNamed(_ body: () throws -> Void) rethrows -> String {
        OneDNN.resetKernelTally()
        try body()
        let used = OneDNN.kernelTally
        guard !used.isEmpty else { return "our core, kernels \(Kernels.current)" }
        return "oneDNN \(OneDNN.version) on \(OneDNN.isa): "
            + used.sorted { $0.key < $1.key }.map { "\($0.value)x \($0.key)" }.joined(separator: ", ")
    }

    func benchUpscale() throws {
        guard let (w, h) = StageOptions.parseSize(size) else { throw ValidationError("--size must be WIDTHxHEIGHT") }
        let roof = GEMM.measureGFLOPS()
        for precision in try precisions() {
            var values = try stageOptions()
            values["model"] = values["model"] ?? model
            values["precision"] = precision
            let stage = try UpscaleStage(options: StageOptions(stage: "upscale", values: values))
            let info = StreamInfo(
                width: w, height: h, layout: .rgb, frameRate: Rational(24), averageRate: Rational(24), color: .bt709)
            _ = try stage.configure(info)
            let frame = Frame(width: w, height: h, layout: .rgb, fill: [0.4, 0.5, 0.6])
            var times: [Double] = []
            let kernels = try kernelsNamed {
                for _ in 0..<max(1, frames) {
                    let t0 = Date()
                    try stage.process(frame) { _ in }
                    times.append(Date().timeIntervalSince(t0))
                }
            }
            let best = times.min()!, mean = times.reduce(0, +) / Double(times.count)
            let gflop = stage.network.flops(height: h, width: w) / 1e9
            print(
                String(
                    format:
                        "upscale %@ %dx%d → %dx%d, %@, %d thread(s), %@: %.3f s/frame (mean %.3f over %d), %.1f GFLOP/frame (as direct convolution), %.1f GFLOP/s effective; sgemm roof %.1f GFLOP/s; peak RSS %.0f MiB",
                    values["model"] ?? model, w, h, w * stage.network.scale, h * stage.network.scale, precision,
                    GEMM.workers, kernels, best, mean, times.count, gflop, gflop / best, roof,
                    Double(peakResidentKiB()) / 1024))
        }
    }

    /// One interpolated frame between two synthetic frames (a textured picture and the same moved
    /// by a few pixels), timed end to end: downscale for the flow, IFNet, upsampled flow, warp, blend.
    func benchInterpolate() throws {
        guard let (w, h) = StageOptions.parseSize(size) else { throw ValidationError("--size must be WIDTHxHEIGHT") }
        let roof = GEMM.measureGFLOPS()
        func picture(_ shift: Int) -> Frame {
            let planes = (0..<3).map { c in
                (0..<(w * h)).map { i -> Float in
                    let x = Float(i % w + shift), y = Float(i / w)
                    return 0.5 + 0.2 * sinf(x * 0.05 + Float(c)) * cosf(y * 0.07) + 0.1 * sinf((x + y) * 0.31)
                }
            }
            return Frame(width: w, height: h, layout: .rgb, planes: planes, pts: .zero, duration: Rational(1, 24))
        }
        let info = StreamInfo(
            width: w, height: h, layout: .rgb, frameRate: Rational(24), averageRate: Rational(24), color: .bt709)
        for precision in try precisions() {
            // 24 → 48 fps: every input frame after the first gives one frame at t = ½ (and one copy).
            let values = try stageOptions().merging(["rate": "48", "precision": precision]) { $1 }
            let s = try InterpolateStage(options: StageOptions(stage: "interpolate", values: values))
            _ = try s.configure(info)
            let pictures = [picture(0), picture(Int(4 / s.flowScale))]
            var times: [Double] = []
            let kernels = try kernelsNamed {
                for i in 0...max(1, frames) {
                    var f = pictures[i % 2]
                    f.pts = Rational(Int64(i), 24)
                    let before = s.interpolated
                    let t0 = Date()
                    try s.process(f) { _ in }
                    if i > 0 { times.append(Date().timeIntervalSince(t0)) }
                    guard i == 0 || s.interpolated == before + 1 else {
                        throw ValidationError("expected one interpolated frame per input")
                    }
                }
            }
            let best = times.min()!, mean = times.reduce(0, +) / Double(times.count)
            let (fw, fh) = s.flowSize(width: w, height: h)
            let gflop = s.networkFlops(width: w, height: h) / 1e9
            print(
                String(
                    format:
                        "interpolate rife-v4.0 %dx%d (flow at %dx%d, flow-scale %g%@), %@, %d thread(s), %@: %.3f s/frame (mean %.3f over %d), %.1f GFLOP/frame (as direct convolution), %.1f GFLOP/s effective; sgemm roof %.1f GFLOP/s; peak RSS %.0f MiB",
                    w, h, fw, fh, s.flowScale, s.ensemble ? ", ensemble" : "", precision, GEMM.workers, kernels, best,
                    mean, times.count, gflop, gflop / best, roof, Double(peakResidentKiB()) / 1024))
        }
    }

    /// Interpolation quality on a real clip: the even frames go through `scenecut` and
    /// `interpolate` at the clip's own rate, so every odd frame is rebuilt at t = ½ from its
    /// neighbours; PSNR (8-bit RGB scale) against the dropped frame, beside a blend of the neighbours.
    func benchRebuild() throws {
        guard let input = input else { throw ValidationError("bench rebuild needs --input CLIP") }
        let reader = try MediaReader(path: input)
        guard let rate = reader.stream.frameRate else {
            throw ValidationError("bench rebuild needs a constant-rate clip")
        }
        var values = try stageOptions()
        values["rate"] = rate.description
        let cut = try StageRegistry.make("scenecut", options: StageOptions(stage: "scenecut"))
        let interp = try InterpolateStage(options: StageOptions(stage: "interpolate", values: values))
        _ = try interp.configure(try cut.configure(reader.stream))
        var truth: [Int64: Frame] = [:]  // dropped frames waiting for their rebuilt copy, by frame number
        var ours: [Double] = [], blend: [Double] = []
        var previousEven: Frame?, pendingOdd: Frame?
        var index = 0
        let t0 = Date()
        func collect(_ f: Frame) {
            if let t = truth.removeValue(forKey: (f.pts * rate).rounded) { ours.append(Self.psnr8(f, t)) }
        }
        func push(_ f: Frame) throws { try cut.process(f) { g in try interp.process(g) { collect($0) } } }
        while let f = try reader.nextFrame() {
            defer { index += 1 }
            if index % 2 == 1 {
                pendingOdd = f
                continue
            }
            if let odd = pendingOdd, let before = previousEven {
                truth[(odd.pts * rate).rounded] = odd
                let mean = before.with(
                    width: f.width, height: f.height,
                    planes: zip(before.planes, f.planes).map { a, b in zip(a, b).map { ($0 + $1) / 2 } })
                blend.append(Self.psnr8(mean, odd))
            }
            pendingOdd = nil
            try push(f)
            previousEven = f
        }
        try cut.flush { g in try interp.process(g) { collect($0) } }
        try interp.flush { collect($0) }
        guard !ours.isEmpty else { throw ValidationError("\(input): too short to rebuild any frame") }
        let mean = { (v: [Double]) in v.reduce(0, +) / Double(v.count) }
        print(
            String(
                format:
                    "rebuild every other frame of %@ (%@, %@): interpolate %.2f dB, blend of the neighbours %.2f dB, over %d frames; %.2f s per rebuilt frame",
                (input as NSString).lastPathComponent, reader.stream.description,
                values.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " "),
                mean(ours), mean(blend), ours.count, Date().timeIntervalSince(t0) / Double(ours.count)))
    }

    /// PSNR of two frames quantized to 8 bits, as a viewer of the encoded video would compare them.
    static func psnr8(_ a: Frame, _ b: Frame) -> Double {
        var se = 0.0, n = 0
        for (p, q) in zip(a.promotedToRGB().planes, b.promotedToRGB().planes) {
            for (x, y) in zip(p, q) {
                let d = Double((min(max(x, 0), 1) * 255).rounded() - (min(max(y, 0), 1) * 255).rounded())
                se += d * d
            }
            n += p.count
        }
        return se == 0 ? 99 : 10 * log10(255 * 255 / (se / Double(n)))
    }

    func benchPipeline() throws {
        guard let input = input else { throw ValidationError("bench pipeline needs --input CLIP") }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("filmrestore-bench-\(getpid()).mkv")
            .path
        defer { unlink(out) }
        let job = RestoreJob(input: input, output: out, preset: try PresetLibrary.load(preset))
        let r = try Restorer(job: job)
        let s = try r.run()
        print(
            String(
                format: "pipeline %@ on %@ (%@ → %@): %d frames out in %.2f s = %.2f fps; peak RSS %.0f MiB",
                preset, input, r.reader.stream.description, s.output.description, s.framesWritten, s.seconds,
                Double(s.framesWritten) / s.seconds, Double(peakResidentKiB()) / 1024))
        print(Self.stepTable(s.steps, sourceFrames: s.framesDecoded, wall: s.seconds, cpu: processCPUSeconds()))
    }

    /// Where the time goes: each step's busy seconds per source frame and share of the run, and the
    /// seconds it waited for input (the step before was slower) or for room downstream (the step after
    /// was slower). Steps run at once on their own queues, so the run is as slow as its busiest step:
    /// the critical path is the step busy nearly all the run, neither starved nor blocked.
    static func stepTable(_ steps: [StepTime], sourceFrames: Int, wall: Double, cpu: Double) -> String {
        let n = Double(max(sourceFrames, 1))
        func pad(_ v: String, _ w: Int) -> String { v.count >= w ? v : v + String(repeating: " ", count: w - v.count) }
        var lines = ["  " + pad("step", 12) + "  s/src frame  of run   starved   blocked  frames  threads (BLAS)"]
        for t in steps {
            let blas = (t.blasThreads ?? 0) > 0 ? " (\(t.blasThreads ?? 0))" : ""
            lines.append(
                "  " + pad(t.name, 12)
                    + String(
                        format: "  %11.3f  %5.0f%%  %7.1fs  %7.1fs  %6d  %7d", t.seconds / n,
                        100 * t.seconds / max(wall, 1e-9), t.starved ?? 0, t.blocked ?? 0, t.frames, t.threads ?? 0)
                    + blas)
        }
        if let critical = steps.max(by: { $0.seconds < $1.seconds }) {
            lines.append(
                String(
                    format:
                        "  critical path: %@ (busy %.0f%% of the run, %.3f s per source frame); the process used %.2f cores on average (%.1f CPU-s in %.1f s)",
                    critical.name as NSString, 100 * critical.seconds / max(wall, 1e-9), critical.seconds / n,
                    cpu / max(wall, 1e-9), cpu, wall))
        }
        return lines.joined(separator: "\n")
    }
}
