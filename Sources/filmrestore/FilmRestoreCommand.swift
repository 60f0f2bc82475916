import ArgumentParser
import Foundation
import FilmCore
import MediaIO
import Restoration
import TensorCore

@main
struct FilmRestore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "filmrestore",
        abstract:
            "Restore old film: clean, color, upscale and interpolate to 4K at 60 fps, with the sound kept in sync.",
        version: FilmRestoreVersion.string,
        subcommands: [
            Restore.self, Preview.self, Plan.self, Assemble.self, Report.self, Probe.self, Presets.self, Stages.self,
            Niqe.self, Keyframes.self, Bench.self, Serve.self,
        ])

    static func main() {
        keepLargeBuffersInTheHeap()
        Interrupts.start()
        refuseDashWords(Array(CommandLine.arguments.dropFirst()))
        // FILMRESTORE_ISA (baseline, avx2, avx512) forces the SIMD kernels; anything else is a usage error
        do { _ = try Kernels.requested() } catch {
            FileHandle.standardError.write(Data("filmrestore: error: \(error)\n".utf8))
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        // One error shape for every failure: usage errors too are one line "filmrestore: error: …"
        // (with the usage hint of the subcommand), exit 64 as swift-argument-parser sets it.
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }  // --help, --version
            let text = message(for: error).replacingOccurrences(of: "\n", with: " ").replacingOccurrences(
                of: "Error: ", with: "")
            FileHandle.standardError.write(Data("filmrestore: error: \(text) (see filmrestore help)\n".utf8))
            Foundation.exit(code.rawValue)
        }
    }

    /// This tool has no grouped short flags, so a word such as `-dash.mp4` before `--` is a file name
    /// that looks like options (the parser would read `-d -a -s -h …` and print the help): an error
    /// naming the fix, never help and exit 0.
    static func refuseDashWords(_ args: [String]) {
        for a in args {
            if a == "--" { return }
            // Grouped flags that take no value (-yq) are fine.
            guard a.hasPrefix("-"), !a.hasPrefix("--"), a.count > 2, Double(a) == nil,
                !a.dropFirst().allSatisfy({ "yqvnh".contains($0) })
            else { continue }
            FileHandle.standardError.write(
                Data(
                    "filmrestore: error: unknown option '\(a)': a file name that starts with '-' goes after '--' (filmrestore restore -o OUT -- \(a))\n"
                        .utf8))
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
    }

    /// Frames and network activations are large arrays made and freed at every frame. By default
    /// glibc gives each one fresh pages from the kernel (mmap) and returns them at once, so every
    /// frame pays page faults and zeroing for all its buffers (a quarter of IFNet's time at
    /// 640x480). Keeping blocks up to 32 MiB in the heap, and not trimming it, reuses the memory:
    /// the peak stays the same, the faults go. But glibc gives each thread that allocates an arena of
    /// its own (up to eight per core), and an untrimmed arena keeps its high-water mark: the stages'
    /// queues, the kernels' workers and the encoder's threads together held 0.9 GB of freed memory at
    /// 4K (`archival-4k60`, 640x480 film on the 2-core EPYC: 3.16 → 2.26 GB peak, the same time). Two
    /// arenas, unless `MALLOC_ARENA_MAX` says otherwise.
    static func keepLargeBuffersInTheHeap() {
        #if os(Linux)
            // <malloc.h>: M_TRIM_THRESHOLD −1, M_TOP_PAD −2, M_MMAP_THRESHOLD −3, M_ARENA_MAX −8
            // glibc's own variables, where set, win (for measuring other settings).
            let env = ProcessInfo.processInfo.environment
            for (option, value, variable) in [
                (Int32(-3), Int32(32 << 20), "MALLOC_MMAP_THRESHOLD_"), (-1, Int32.max, "MALLOC_TRIM_THRESHOLD_"),
                (-2, 64 << 20, "MALLOC_TOP_PAD_"), (-8, 2, "MALLOC_ARENA_MAX"),
            ] where env[variable] == nil {
                _ = glibcMallopt(option, value)
            }
        #endif
    }

    /// Prints one line for an error and exits non-zero; nothing else is printed.
    static func fail(_ error: Error) -> Never {
        let text: String
        switch error {
        case let e as RestoreError: text = e.description
        case let e as MediaError: text = e.description
        default: text = "\(error)"
        }
        FileHandle.standardError.write(
            Data("filmrestore: error: \(text.replacingOccurrences(of: "\n", with: " "))\n".utf8))
        var cancelled = false
        if case RestoreError.cancelled = error { cancelled = true }
        if case RestoreError.resumable(.cancelled, _, _) = error { cancelled = true }
        if cancelled { Foundation.exit(128 + (Interrupts.received == 0 ? SIGINT : Interrupts.received)) }
        Foundation.exit(1)
    }
}

struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Restore a film: IN → OUT through a preset's stages.")

    @Argument(
        help:
            "Input video (anything FFmpeg reads), or a picture sequence: a folder of DPX/TIFF/PNG/EXR/JPEG scans or a pattern like 'reel_%06d.dpx'. With --job: the planned film where this machine mounts it (default: the job's path)."
    ) var input: String?
    @Option(name: .shortAndLong, help: "Output file (.mkv, .mp4 or .mov).") var output: String?
    @Option(
        name: .customLong("job"),
        help: "A job file made by `filmrestore plan`: restore one of its segments (with --segment).") var jobFile:
        String?
    @Option(
        help:
            "The job's segment to restore, 0…N-1 (with --job; default: $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX).")
    var segment: Int?
    @OptionGroup var recipe: RecipeOptions
    @Option(
        name: .customLong("queue-capacity"),
        help:
            "Frames each queue between stages holds, 1…64 (memory vs. smoothing); never more than 64 MiB of frames (a 4K frame is 100 MB: one)."
    ) var queueCapacity = 2
    @Option(
        name: .customLong("stats-json"), help: "Write run statistics (frames, timings, peak memory) to this JSON file.")
    var statsJSON: String?
    @Option(
        help:
            "Write a restoration report: an HTML page (before/after stills, timing audit, flicker, noise, fidelity, run statistics) and the same numbers in a JSON beside it."
    ) var report: String?
    @OptionGroup var part: PartOptions
    @Option(name: .customLong("stills"), help: "With --report: before/after stills spread over the film (1…24).")
    var reportStills = 4
    @Option(name: .customLong("min-psnr"), help: "With --report: flag frames below this PSNR (dB) as invented detail.")
    var minPSNR = 20.0
    @Option(name: .customLong("min-ssim"), help: "With --report: flag frames below this SSIM as invented detail.")
    var minSSIM = 0.5
    @Flag(
        help:
            "Continue an interrupted restore of the same input, preset and output: finished segments are kept, the rest is made."
    ) var resume = false
    @Option(
        name: .customLong("segment-seconds"),
        help:
            "Checkpoint: a segment is closed at the first scene cut after this many seconds of output (resume loses at most one segment)."
    ) var segmentSeconds = 10.0
    @Flag(
        name: .customLong("no-checkpoint"),
        help: "Write straight into OUT in one pass (no segments; cannot be resumed).") var noCheckpoint = false
    @Flag(name: [.customShort("y"), .long], help: "Overwrite OUT (and the statistics and report files) if they exist.")
    var force = false
    @Flag(
        name: [.customShort("n"), .customLong("no-overwrite")],
        help: "Never overwrite: stop if OUT exists (the default; says so explicitly).") var noOverwrite = false
    @Flag(name: .shortAndLong, help: "No progress output.") var quiet = false
    @Flag(name: .shortAndLong, help: "Let FFmpeg print its own warnings.") var verbose = false
    @Option(
        help:
            "Progress display: line (redrawn in place, sized to the terminal), json (one object per line on stderr: frame, total, fps, eta, steps), none."
    ) var progress: ProgressStyle = .line

    func validate() throws {
        if force && noOverwrite { throw ValidationError("-y/--force and -n/--no-overwrite contradict each other") }
        if !(1...64).contains(queueCapacity) {
            throw ValidationError("--queue-capacity must be 1…64 frames, not \(queueCapacity)")
        }
        try Limits.seconds(segmentSeconds, flag: "--segment-seconds", range: Limits.segmentSeconds)
        try Limits.threshold(minPSNR, flag: "--min-psnr", range: 0...100)
        try Limits.threshold(minSSIM, flag: "--min-ssim", range: 0...1)
    }

    func run() throws {
        MediaLog.setVerbose(verbose)
        try recipe.useModelsDir()
        if let jobPath = jobFile {
            if report != nil {
                throw ValidationError(
                    "--report is for a whole film: make it after `assemble` with `filmrestore report SOURCE OUTPUT -o report.html`"
                )
            }
            return runJobSegment(jobPath)
        }
        guard let input = input else { throw ValidationError("give the input video (or --job FILE --segment N)") }
        guard let output = output else { throw ValidationError("give the output file with -o") }
        if Batch.isBatch(input) { return try runBatch(input: input, output: output) }
        let range = try timeRange()
        if let r = report {
            guard ["html", "htm"].contains(URL(fileURLWithPath: r).pathExtension.lowercased()) else {
                throw ValidationError("--report names an HTML page: give it a .html name")
            }
            guard (1...24).contains(reportStills) else { throw ValidationError("--stills must be 1…24") }
            guard !MediaWriter.isImage(output) else {
                throw ValidationError("--report is for a film; a still image has no timing or sound to audit")
            }
        }
        do {
            var job = try recipe.makeJob(input: input, output: output)
            try checkWrites(
                reads: job.inputs,
                writes: [
                    (output, "output"), (statsJSON, "statistics"), (report, "report"),
                    (report.map(ReportPage.jsonPath), "report's JSON"),
                ], force: force)
            job.force = force
            job.range = range
            job.queueCapacity = queueCapacity
            if !noCheckpoint { job.checkpoint = .init(segmentSeconds: segmentSeconds, resume: resume) }
            let restorer = try Restorer(job: job)
            let progress = ProgressPrinter(enabled: !quiet, style: self.progress)
            if !quiet {
                progress.line(
                    "\(input): \(restorer.reader.stream) → \(output): \(restorer.outputStream), \(restorer.encoder.codec); stages: \(restorer.nodes.map(\.name).joined(separator: " → "))"
                )
                for n in restorer.notes { progress.line("note: \(n)") }
            }
            let canceller = restorer.canceller
            let interrupt = Interrupts.install { canceller.cancel() }
            defer { interrupt.cancel() }
            let summary = try restorer.run(progressInterval: self.progress == .json ? 1 : progress.isTerminal ? 0.5 : 5)
            { progress.update($0) }
            progress.finish()
            if !quiet {
                progress.line(
                    String(
                        format: "wrote %@: %d frames in %.1f s (%.2f fps)%@", output, summary.framesWritten,
                        summary.seconds,
                        Double(summary.framesWritten) / max(summary.seconds, 1e-9),
                        summary.copiedStreams.isEmpty
                            ? "" : ", \(summary.copiedStreams.count) audio/subtitle stream(s) copied"))
                if summary.segmentsReused > 0 {
                    progress.line(
                        "resumed: \(summary.segmentsReused) segment(s), \(summary.framesReused) frames, kept from the interrupted run; \(summary.segmentsMade) made now"
                    )
                }
                for s in summary.skippedStreams {
                    progress.line("note: \(s.hasPrefix("#") ? "skipped stream " : "")\(s)")
                }
            }
            let peak = peakResidentKiB()
            // The whole film's time: a part's measured time per frame times the film's frames,
            // else the projection made early in the run.
            var projected = progress.projectedSeconds
            if range != nil, summary.framesWritten > 0, let all = restorer.outputStream.frameCount {
                projected = summary.seconds / Double(summary.framesWritten) * Double(all)
            }
            if let path = statsJSON {
                try writeStats(
                    summary, projected: projected, to: path, inputs: job.inputs + [output], source: job.input,
                    made: output)
            }
            if let path = report {
                if !quiet { progress.line("report: measuring the source and the output…") }
                var run = RestorationReport.Run(
                    seconds: summary.seconds, framesWritten: summary.framesWritten,
                    peakMemoryMiB: Double(peak) / 1024, steps: summary.steps)
                run.inputDamage = summary.inputDamage
                run.projectedSeconds = projected
                run.shotColour = summary.shotColour.isEmpty ? nil : summary.shotColour
                var options = ReportOptions()
                options.stills = reportStills
                options.thresholdPSNR = minPSNR
                options.thresholdSSIM = minSSIM
                if let r = range {
                    options.partStart = r.start
                    options.partEnd =
                        r.duration.map { r.start + $0 }
                        ?? r.frames.map { n in
                            r.start + Rational(Int64(n))
                                / (restorer.outputStream.frameRate ?? restorer.outputStream.averageRate)
                        }
                }
                options.sourceRate = job.inputRate
                let (r, images) = try ReportMaker.make(
                    source: input, output: output, chain: restorer.entries, run: run, options: options)
                let json = try ReportPage.write(
                    r, images: images, to: path, force: force, inputs: job.inputs + [output])
                if !quiet { progress.line(reportLine(r, path, json)) }
            }
            if let damage = summary.inputDamage {
                // Written, but not the whole film: said on one line and in the exit status.
                FileHandle.standardError.write(
                    Data(
                        "filmrestore: \(damage.summary); \(output) holds the \(summary.framesWritten) frames made from what decoded\n"
                            .utf8))
                Foundation.exit(InputDamage.exitStatus)
            }
        } catch let e as ValidationError {
            throw e
        } catch {
            FilmRestore.fail(error)
        }
    }

    /// A folder of films into a folder: each film by a restore of its own (see `Batch`).
    func runBatch(input: String, output: String) throws {
        guard
            URL(fileURLWithPath: output).pathExtension.isEmpty
                || ImageSequence.looksLikeSequence(output) && FileManager.default.fileExists(atPath: output)
        else {
            throw ValidationError("\(input) is a folder of films: -o names the folder to write them into, not a file")
        }
        guard statsJSON == nil, report == nil, jobFile == nil else {
            throw ValidationError("--stats-json and --report are for one film; a batch prints a table")
        }
        if FilePaths.same(input, output) { throw ValidationError("the output folder must not be the folder of films") }
        // This restore's own arguments, with the film and its output in place of the folders.
        let argv = Array(CommandLine.arguments.dropFirst())
        let arguments: (String, String) -> [String] = { film, out in
            var a: [String] = [], skip = false, positional = false
            for t in argv {
                if skip {
                    skip = false
                    continue
                }
                if t == "-o" || t == "--output" {
                    skip = true
                    continue
                }
                if t.hasPrefix("--output=") || t == "--" { continue }
                if t == input && !positional {
                    positional = true
                    continue
                }
                a.append(t)
            }
            return a + ["-o", out, "--", film]
        }
        let code = Batch.run(input: input, outDir: output, arguments: arguments, preferredExtension: nil, quiet: quiet)
        if code != 0 { Foundation.exit(code) }
    }

    func timeRange() throws -> RestoreJob.TimeRange? {
        let r = try part.timeRange()
        guard r == nil || !resume else {
            throw ValidationError(
                "--resume continues a whole-film restore; a part (--start/--duration/--frames) is made in one pass")
        }
        return r
    }

    /// One segment of a job (a Slurm array task, a Kubernetes indexed pod, or `make parallel-demo`).
    func runJobSegment(_ jobPath: String) {
        do {
            let env = ProcessInfo.processInfo.environment
            guard
                let index = segment ?? env["SLURM_ARRAY_TASK_ID"].flatMap(Int.init)
                    ?? env["JOB_COMPLETION_INDEX"].flatMap(Int.init)
            else {
                throw RestoreError.input("--job needs --segment N (or $SLURM_ARRAY_TASK_ID / $JOB_COMPLETION_INDEX)")
            }
            let jf = try JobFile.load(jobPath)
            let path = jf.inputPath(jobPath: jobPath, override: input)
            var rj = RestoreJob(input: path, output: "", preset: jf.preset)
            rj.inputRate = jf.inputRate
            rj.modelsDir = recipe.modelsDir
            rj.stagesResolved = true
            rj.queueCapacity = queueCapacity
            let started = Date()
            let restorer = try Restorer(job: rj)
            let canceller = restorer.canceller
            let interrupt = Interrupts.install { canceller.cancel() }
            defer { interrupt.cancel() }
            let made = try restorer.runSegment(index, of: jf, folder: jf.segmentsFolder(jobPath: jobPath))
            if !quiet {
                let name = JobFile.segmentName(index)
                print(
                    made
                        ? String(
                            format: "segment %d of %d done (%@, %.1f s)", index, jf.segments.count, name,
                            Date().timeIntervalSince(started))
                        : "segment \(index) of \(jf.segments.count) was already done (\(name))")
            }
        } catch {
            FilmRestore.fail(error)
        }
    }

    func writeStats(
        _ s: RestoreSummary, projected: Double?, to path: String, inputs: [String], source: String, made: String
    ) throws {
        var obj: [String: Any] = [
            "frames_decoded": s.framesDecoded, "frames_written": s.framesWritten, "seconds": s.seconds,
            "peak_rss_kib": peakResidentKiB(), "queue_capacity": s.queueCapacity, "queue_high_water": s.queueHighWater,
            "output": [
                "width": s.output.width, "height": s.output.height,
                "fps": s.output.frameRate.map { $0.description } ?? "vfr",
            ],
            "steps": Dictionary(uniqueKeysWithValues: s.steps.map { ($0.name, $0.seconds) }),
            "step_frames": Dictionary(uniqueKeysWithValues: s.steps.map { ($0.name, $0.frames) }),
            "step_order": s.steps.map(\.name),
            "step_sizes": s.steps.map { $0.size ?? "" },
        ]
        if let p = projected { obj["projected_seconds"] = (p * 10).rounded() / 10 }
        // Naturalness of source and output (NIQE: lower is more natural; no reference, not fidelity).
        if let model = try? NIQE.shipped(), let a = try? model.score(file: source, samples: 8),
            let b = try? model.score(file: made, samples: 8)
        {
            obj["niqe"] = [
                "source": a.mean, "output": b.mean, "source_frames": a.scores.count, "output_frames": b.scores.count,
                "note": "NIQE, mean over frames spread over each file: lower is more natural; not a fidelity measure",
            ]
        }
        if !s.shotColour.isEmpty {
            obj["colour_by_shot"] = s.shotColour.map {
                [
                    "first_frame": $0.firstFrame, "time": $0.time, "frames": $0.frames,
                    "mean_certainty": $0.meanCertainty, "least_frame": $0.leastFrame,
                    "least_certainty": $0.leastCertainty,
                ] as [String: Any]
            }
        }
        if let d = s.inputDamage {
            obj["input_damaged"] = [
                "frames_decoded": d.framesDecoded, "frames_declared": d.framesDeclared as Any,
                "corrupt_packets": d.corruptPackets,
                "read_error": d.readError as Any, "summary": d.summary,
                "ended_at_seconds": d.endedAt as Any, "declared_end_seconds": d.declaredEnd as Any,
            ]
        }
        let data = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
        try SmallFile.write(data, to: path, force: force, inputs: inputs)
    }
}

extension ProgressStyle: ExpressibleByArgument {}

struct Preview: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Try a preset on a few seconds before committing days to a film: a short restored clip, the same side by side with its source, a before/after still pair, the measured time per frame and the projected time for the whole film."
    )

    @Argument(help: "The film (or picture sequence).") var input: String
    @OptionGroup var recipe: RecipeOptions
    @Option(help: "Where in the film (seconds or H:MM:SS.sss).") var at = "0"
    @Option(help: "How long a part to restore (seconds).") var duration = "2"
    @Option(
        name: .shortAndLong,
        help: "Folder for the preview files (default: NAME.preview beside the film's name in this folder).") var output:
        String?
    @Flag(name: [.customShort("y"), .long], help: "Replace earlier preview files.") var force = false

    func run() throws {
        MediaLog.setVerbose(false)
        try recipe.useModelsDir()
        let start = try Limits.time(at, flag: "--at", allowZero: true)
        let length = try Limits.time(duration, flag: "--duration", allowZero: false)
        let name = URL(fileURLWithPath: input).deletingPathExtension().lastPathComponent
        let folder = output ?? name + ".preview"
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let clip = folder + "/" + name + ".preview.mkv", before = folder + "/" + name + ".before.png",
                after = folder + "/" + name + ".after.png"
            let pair = folder + "/" + name + ".before-after.mkv"
            var job = try recipe.makeJob(input: input, output: clip)
            try checkWrites(
                reads: job.inputs,
                writes: [
                    (clip, "preview clip"), (before, "before still"), (after, "after still"),
                    (pair, "before/after clip"),
                ], force: force)
            job.force = force
            job.range = RestoreJob.TimeRange(start: start, duration: length)
            let restorer = try Restorer(job: job)
            let canceller = restorer.canceller
            let interrupt = Interrupts.install { canceller.cancel() }
            defer { interrupt.cancel() }
            let summary = try restorer.run()
            // The still pair: the source frame at the start of the part, and what the chain made of it.
            let sourceReader = try MediaReader(path: input, sequenceRate: job.inputRate)
            guard let b = try sourceReader.nextFrame(notBefore: start), let a = try MediaReader(path: clip).nextFrame()
            else {
                throw RestoreError.input("\(input): no frame at \(at)")
            }
            try SmallFile.write(Data(try StillImage.png(b)), to: before, force: force, inputs: job.inputs)
            try SmallFile.write(Data(try StillImage.png(a)), to: after, force: force, inputs: job.inputs)
            // The part side by side with its source, for the eye (and for showing the archive).
            try BeforeAfterClip.write(
                source: input, sourceRate: job.inputRate, start: start, restored: clip, to: pair, force: force,
                inputs: job.inputs)
            let rate = restorer.reader.stream.frameRate ?? restorer.reader.stream.averageRate
            let sourceFrames = max(1, Int((length * rate).rounded))
            let perFrame = summary.seconds / Double(sourceFrames)
            print(
                "wrote \(clip) (\(summary.framesWritten) frames), \(pair) (source | restored), \(before) and \(after)")
            var line = String(
                format: "measured: %.2f s per source frame (%d frames from %@ s, start-up included)", perFrame,
                sourceFrames, at)
            if let total = restorer.reader.stream.frameCount {
                line += String(
                    format: "; projected for the whole film (%d frames): %@", total,
                    ProgressPrinter.clock(perFrame * Double(total)))
            }
            print(line)
        } catch let e as ValidationError { throw e } catch { FilmRestore.fail(error) }
    }
}

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Split a film into segments (at scene cuts) for restoring on many machines; writes a job file.",
        discussion:
            "Then run `filmrestore restore --job JOB --segment i` for every i (anywhere the input, models and segment folder are visible), and `filmrestore assemble JOB -o OUT`."
    )

    @Argument(help: "Input video.") var input: String
    @OptionGroup var recipe: RecipeOptions
    @Option(help: "Number of segments.") var segments: Int?
    @Option(
        name: .customLong("segment-seconds"), help: "Length of a segment in seconds of source (instead of --segments).")
    var segmentSeconds: Double?
    @Option(
        name: .customLong("segments-dir"),
        help: "Folder for the segment files, relative to the job file (default: JOBNAME.segments).") var segmentsDir:
        String?
    @Option(name: .shortAndLong, help: "The job file to write (.json).") var output: String
    @OptionGroup var part: PartOptions
    @Flag(help: "Overwrite the job file if it exists.") var force = false

    func validate() throws {
        guard (segments == nil) != (segmentSeconds == nil) else {
            throw ValidationError("give --segments N or --segment-seconds S")
        }
        if let n = segments, !(1...10_000).contains(n) { throw ValidationError("--segments must be 1…10000, not \(n)") }
        if let s = segmentSeconds {
            try Limits.seconds(s, flag: "--segment-seconds", range: 0.1...Double(Limits.maxSeconds))
        }
    }

    func run() throws {
        MediaLog.setVerbose(false)
        try recipe.useModelsDir()
        do {
            // Stored absolute, so segment tasks on other machines find the film at the same mount point.
            var job = try recipe.makeJob(input: URL(fileURLWithPath: input).standardizedFileURL.path, output: "")
            job.range = try part.timeRange()
            try checkWrites(reads: job.inputs, writes: [(output, "job file")], force: force)
            let restorer = try Restorer(job: job)
            let base = URL(fileURLWithPath: output).deletingPathExtension().lastPathComponent
            let plan = try restorer.plan(
                segments: segments, segmentSeconds: segmentSeconds, segmentsDir: segmentsDir ?? base + ".segments")
            try plan.save(output, force: force, inputs: job.inputs)
            let atCuts = plan.segments.dropFirst().filter(\.startsAtCut).count
            let what =
                plan.part.map { p in
                    String(format: "the part of %@ from %.3f s", input, p.start.doubleValue)
                        + (p.end.map { String(format: " to %.3f s", $0.doubleValue) } ?? " to its end")
                } ?? input
            print(
                "\(output): \(plan.segments.count) segment(s) of \(what) (\(plan.sourceFrames) frames, \(String(format: "%.2f", plan.sourceDuration.doubleValue)) s); \(atCuts) of \(plan.segments.count - 1) boundaries at scene cuts; context \(plan.context.past) frames before, \(plan.context.future) after"
            )
            print(
                "next: filmrestore restore --job \(output) --segment i   (i = 0…\(plan.segments.count - 1)), then: filmrestore assemble \(output) -o OUT"
            )
        } catch let e as ValidationError { throw e } catch { FilmRestore.fail(error) }
    }
}

struct Assemble: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Join a job's finished segments into one file without re-encoding, with the source's audio, subtitles and chapters."
    )
    @Argument(help: "The job file.") var job: String
    @Option(name: .shortAndLong, help: "Output file (.mkv, .mp4 or .mov).") var output: String
    @Option(help: "The planned film where this machine mounts it (default: the job's path).") var input: String?
    @Flag(help: "Overwrite OUT if it exists.") var force = false
    @Flag(help: "No summary line.") var quiet = false

    func run() throws {
        MediaLog.setVerbose(false)
        do {
            let jf = try JobFile.load(job)
            let r = try Assembler.assemble(job: jf, jobPath: job, output: output, input: input, force: force)
            if !quiet {
                print(
                    "wrote \(output): \(r.frames) frames from \(jf.segments.count) segment(s), \(String(format: "%.3f", r.duration?.doubleValue ?? 0)) s, timestamps continuous\(r.copiedStreams.isEmpty ? "" : ", \(r.copiedStreams.count) audio/subtitle stream(s) copied")"
                )
                for s in r.skippedStreams { print("note: skipped stream \(s)") }
            }
        } catch { FilmRestore.fail(error) }
    }
}

/// A part of the film: `--start`, `--duration`, `--frames` (restore, plan and report alike).
struct PartOptions: ParsableArguments {
    @Option(
        help:
            "From this time of the source (seconds, or H:MM:SS.sss): a preview or a part. Temporal stages see the frames around it, so the part equals the same frames of a whole run; the output starts at 0 with its sound cut alike."
    ) var start: String?
    @Option(help: "This many seconds (with or without --start).") var duration: String?
    @Option(
        help:
            "This many output frames (instead of --duration); with a still-image output, --frames 1 takes the frame at --start."
    ) var frames: Int?

    /// The part asked for (nil: the whole film).
    func timeRange() throws -> RestoreJob.TimeRange? {
        guard start != nil || duration != nil || frames != nil else { return nil }
        guard duration == nil || frames == nil else { throw ValidationError("give --duration or --frames, not both") }
        var r = RestoreJob.TimeRange()
        if let s = start { r.start = try Limits.time(s, flag: "--start", allowZero: true) }
        if let d = duration { r.duration = try Limits.time(d, flag: "--duration", allowZero: false) }
        if let n = frames {
            guard (1...Limits.maxFrames).contains(n) else {
                throw ValidationError("--frames must be 1…\(Limits.maxFrames), not \(n)")
            }
            r.frames = n
        }
        return r
    }
}

/// The ranges of the numbers a user gives, checked where they are parsed, so no arithmetic on them
/// can overflow: times up to a million seconds (277 hours), up to 100 million frames, output rates
/// 1…240 fps, scan rates 1…1000 fps, segments of 0.1 s to a day.
enum Limits {
    static let maxSeconds = 1_000_000
    static let maxFrames = 100_000_000
    static let inputRates = Rational(1)...Rational(1000)
    static let segmentSeconds = 0.1...86_400.0

    /// A time option (`--start`, `--duration`, `--at`): seconds or H:MM:SS.sss within 0…maxSeconds.
    static func time(_ text: String, flag: String, allowZero: Bool) throws -> Rational {
        guard let t = parseTime(text), allowZero ? t >= .zero : t > .zero, t <= Rational(Int64(maxSeconds)) else {
            throw ValidationError(
                "\(flag) must be a time \(allowZero ? "from 0" : "above 0") to \(maxSeconds) s (seconds like 12.5, or H:MM:SS.sss), not '\(text)'"
            )
        }
        return t
    }

    /// A rate option within `range`.
    static func rate(_ text: String, flag: String, range: ClosedRange<Rational>) throws -> Rational {
        guard let r = Rational(parsing: text), range.contains(r) else {
            throw ValidationError(
                "\(flag) must be a rate of \(range.lowerBound)…\(range.upperBound) fps, like 60, 24000/1001 or 23.976, not '\(text)'"
            )
        }
        return r
    }

    /// A number of seconds within `range` (finite).
    static func seconds(_ v: Double, flag: String, range: ClosedRange<Double>) throws {
        guard v.isFinite, range.contains(v) else {
            throw ValidationError(
                "\(flag) must be \(OptionType.text(range.lowerBound))…\(OptionType.text(range.upperBound)) seconds, not \(v)"
            )
        }
    }

    /// A report threshold: finite and within `range`.
    static func threshold(_ v: Double, flag: String, range: ClosedRange<Double>) throws {
        guard v.isFinite, range.contains(v) else {
            throw ValidationError(
                "\(flag) must be a number from \(OptionType.text(range.lowerBound)) to \(OptionType.text(range.upperBound)), not \(v)"
            )
        }
    }
}

/// Seconds (12.5), M:SS(.s) or H:MM:SS(.s), exactly (as a rational of milliseconds).
func parseTime(_ s: String) -> Rational? {
    let parts = s.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
    guard (1...3).contains(parts.count) else { return nil }
    var total = Rational.zero
    for (i, p) in parts.enumerated() {
        // Each field at most ten digits before any decimal point: no sum below can overflow.
        guard p.prefix(while: { $0 != "." }).count <= 10, let v = Rational(parsing: p), v >= .zero else { return nil }
        if i < parts.count - 1 { guard v.den == 1 else { return nil } }
        total = total * Rational(60) + v
    }
    return total
}

/// One line on a finished report.
func reportLine(_ r: RestorationReport, _ html: String, _ json: String) -> String {
    let s = r.summary
    let fid =
        s.fidelityFrames == 0
        ? "no frame at the same instant to compare"
        : String(
            format: "fidelity %d frames, mean %.1f dB / SSIM %.3f, %d flagged as invented detail", s.fidelityFrames,
            s.meanPSNR ?? 0, s.meanSSIM ?? 0, s.inventedFrames)
    let flicker = String(
        format: "flicker %@ → %@ %%", s.flickerBefore.map { String(format: "%.2f", $0) } ?? "—",
        s.flickerAfter.map { String(format: "%.2f", $0) } ?? "—")
    return
        "wrote \(html) and \(json): timing \(r.timing.passed ? "kept" : "CHANGED (" + r.timing.problems.joined(separator: "; ") + ")"); \(flicker); \(fid)"
}

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Make a restoration report for a source and its restored output: before/after stills, timing audit, flicker, noise and fidelity, as an HTML page and a JSON.",
        discussion:
            "The cleanup stages are read from the output's filmrestore_chain tag (or --preset) and re-run on the source: fidelity is judged against the cleaned film."
    )

    @Argument(help: "The source film.") var source: String
    @Argument(help: "The restored output.") var restored: String
    @Option(name: .shortAndLong, help: "The report page to write (.html; the JSON goes beside it).") var output: String
    @Option(help: "Run statistics from `restore --stats-json`, to show per-step times and peak memory.") var stats:
        String?
    @Option(help: "The preset that made the output, when the output has no filmrestore_chain tag.") var preset: String?
    @Option(help: "Before/after stills spread over the film.") var stills = 4
    @OptionGroup(title: "A part (the output is a part made with restore --start/--duration/--frames)") var part:
        PartOptions
    @Option(name: .customLong("min-psnr"), help: "Flag frames below this PSNR (dB) as invented detail.") var minPSNR =
        20.0
    @Option(name: .customLong("min-ssim"), help: "Flag frames below this SSIM as invented detail.") var minSSIM = 0.5
    @Flag(help: "Overwrite the report if it exists.") var force = false

    func validate() throws {
        guard ["html", "htm"].contains(URL(fileURLWithPath: output).pathExtension.lowercased()) else {
            throw ValidationError("-o names an HTML page: give it a .html name")
        }
        guard stills >= 1 && stills <= 24 else { throw ValidationError("--stills must be 1…24") }
        try Limits.threshold(minPSNR, flag: "--min-psnr", range: 0...100)
        try Limits.threshold(minSSIM, flag: "--min-ssim", range: 0...1)
    }

    func run() throws {
        MediaLog.setVerbose(false)
        do {
            for p in [source, restored] where !FileManager.default.fileExists(atPath: p) {
                throw RestoreError.input("\(p) does not exist")
            }
            let presetFile = try preset.map { try PresetLibrary.load($0) }
            let reads = [source, restored] + (stats.map { [$0] } ?? []) + (presetFile?.path.map { [$0] } ?? [])
            try checkWrites(
                reads: reads, writes: [(output, "report"), (ReportPage.jsonPath(for: output), "report's JSON")],
                force: force)
            let chain = presetFile?.stages
            var run: RestorationReport.Run?
            if let s = stats { run = try Self.loadStats(s) }
            var options = ReportOptions()
            options.stills = stills
            options.thresholdPSNR = minPSNR
            options.thresholdSSIM = minSSIM
            if let r = try part.timeRange() {
                options.partStart = r.start
                options.partEnd = r.duration.map { r.start + $0 }
                if let n = r.frames {
                    // Output frames: their span at the restored file's rate.
                    let out = try MediaReader(path: restored).stream
                    options.partEnd = r.start + Rational(Int64(n)) / (out.frameRate ?? out.averageRate)
                }
            }
            let (r, images) = try ReportMaker.make(
                source: source, output: restored, chain: chain, run: run, options: options)
            let json = try ReportPage.write(r, images: images, to: output, force: force, inputs: reads)
            print(reportLine(r, output, json))
        } catch let e as ValidationError { throw e } catch { FilmRestore.fail(error) }
    }

    static func loadStats(_ path: String) throws -> RestorationReport.Run {
        guard let data = FileManager.default.contents(atPath: path),
            let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let seconds = o["seconds"] as? Double, let frames = o["frames_written"] as? Int,
            let steps = o["steps"] as? [String: Double]
        else {
            throw RestoreError.input("\(path) is not a statistics file from `restore --stats-json`")
        }
        let counts = o["step_frames"] as? [String: Int] ?? [:]
        let order =
            o["step_order"] as? [String] ?? ["decode"] + steps.keys.filter { $0 != "decode" && $0 != "encode" }.sorted()
            + ["encode"]
        let sizes = o["step_sizes"] as? [String] ?? []
        var run = RestorationReport.Run(
            seconds: seconds, framesWritten: frames, peakMemoryMiB: Double(o["peak_rss_kib"] as? Int ?? 0) / 1024,
            steps: order.enumerated().compactMap { i, n in
                steps[n].map {
                    var s = StepTime(name: n, seconds: $0, frames: counts[n] ?? 0)
                    s.size = i < sizes.count && !sizes[i].isEmpty ? sizes[i] : nil
                    return s
                }
            })
        run.projectedSeconds = o["projected_seconds"] as? Double
        if let d = o["input_damaged"] as? [String: Any], let decoded = d["frames_decoded"] as? Int {
            run.inputDamage = InputDamage(
                framesDecoded: decoded, framesDeclared: d["frames_declared"] as? Int,
                corruptPackets: d["corrupt_packets"] as? Int ?? 0, readError: d["read_error"] as? String,
                endedAt: d["ended_at_seconds"] as? Double, declaredEnd: d["declared_end_seconds"] as? Double)
        }
        return run
    }
}

/// What makes a recipe, shared by `restore` and `plan`: the preset, its stage options and the encoder.
struct RecipeOptions: ParsableArguments {
    @Option(help: "Preset name (see `filmrestore presets`) or path to a preset file.") var preset = "fit-4k60"
    @Option(
        name: .customLong("set"),
        help:
            "Set a stage option of the preset, STAGE.KEY=VALUE for every stage of that name or STAGE#N.KEY=VALUE for the N-th (repeatable), e.g. colorize.reference=keyframes/."
    ) var settings: [String] = []
    @Option(help: "Output size WIDTHxHEIGHT (overrides the preset's fit size).") var size: String?
    @Option(help: "Output frame rate, e.g. 60, 50, 24000/1001 (overrides the preset's).") var fps: String?
    @Option(help: "Video encoder: libx264, libx265, libsvtav1, ffv1, prores_ks.") var codec: String?
    @Option(help: "Constant-quality factor for x264/x265/SVT-AV1.") var crf: Int?
    @Option(help: "Target video bitrate instead of CRF, e.g. 40M or 8000k.") var bitrate: String?
    @Option(
        name: .customLong("encoder-preset"),
        help: "Encoder speed preset (x264/x265: ultrafast…veryslow; SVT-AV1: 0…13).") var encoderPreset: String?
    @Option(
        name: .customLong("models-dir"),
        help: "Folder with the model files (default: Models/ as `make models` installs it; or $FILMRESTORE_MODELS).")
    var modelsDir: String?
    @Option(
        help:
            "The networks' arithmetic: auto (bf16 where the CPU multiplies bf16 natively, else fp32), fp32, bf16 (oneDNN; needs AVX-512), bf16-emulated (bf16's numbers on any CPU). Overrides the preset's."
    ) var precision: String?
    @Option(
        name: .customLong("input-rate"),
        help: "Frame rate of a picture sequence input (default: the DPX or EXR header's, else 24), e.g. 18, 24000/1001."
    ) var inputRate: String?

    /// Checks `--models-dir` (a folder) before anything runs; the folder reaches the stages with
    /// the job (`RestoreJob.modelsDir`), not through the environment.
    func useModelsDir() throws {
        guard let d = modelsDir else { return }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: d, isDirectory: &isDir), isDir.boolValue else {
            throw ValidationError(
                "--models-dir \(d) is not a folder (run `make models`, or give the folder that holds the model files)")
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: d)) ?? []).filter { !$0.hasPrefix(".") }
        guard !names.isEmpty else {
            throw ValidationError(
                "--models-dir \(d) is empty: fill it with `FILMRESTORE_MODELS=\(d) make models`, or leave the option out"
            )
        }
    }

    /// The preset with `--set` applied and the size, rate and encoder overrides.
    func makeJob(input: String, output: String) throws -> RestoreJob {
        var sequenceRate: Rational? = nil
        if let r = inputRate {
            let v = try Limits.rate(r, flag: "--input-rate", range: Limits.inputRates)
            guard ImageSequence.looksLikeSequence(input) else {
                throw ValidationError(
                    "--input-rate is for a picture sequence (a folder or a pattern like reel_%06d.dpx); a video file has its own rate"
                )
            }
            sequenceRate = v
        }
        var p = try PresetLibrary.load(preset)
        try applySettings(settings, to: &p)
        if let v = precision {
            do { try p.setOnEveryStage(key: "precision", value: v, overriding: true) } catch {
                throw ValidationError("--precision \(v): \(error)")
            }
        }
        var job = RestoreJob(input: input, output: output, preset: p)
        job.inputRate = sequenceRate
        job.modelsDir = modelsDir
        job.readFiles = p.path.map { [$0] } ?? []
        if let s = size {
            guard let v = StageOptions.parseSize(s) else {
                throw ValidationError("--size must be WIDTHxHEIGHT, like 3840x2160")
            }
            job.size = v
        }
        if let f = fps {
            job.fps = try Limits.rate(f, flag: "--fps", range: OptionType.rates)
        }
        if let b = bitrate {
            guard let v = Preset.parseBitrate(b) else {
                throw ValidationError("--bitrate must be like 40M or 8000k, from 1k to 2000M, not '\(b)'")
            }
            job.bitrate = v
        }
        job.codec = codec
        job.crf = crf
        job.encoderPreset = encoderPreset
        return job
    }
}

/// The one rule for every file a command writes: never a path that is (or is linked to) a file the
/// command reads, never the same file as another of its outputs (with or without --force), and never
/// an existing file without --force. Checked before any work.
func checkWrites(reads: [String], writes: [(String?, String)], force: Bool) throws {
    let outputs = writes.compactMap { p, role in p.map { (path: $0, role: role) } }
    try FilePaths.checkRoles(inputs: reads, outputs: outputs)
    if !force, let o = outputs.first(where: { FilePaths.exists($0.path) }) {
        throw RestoreError.output("\(o.path) exists (use --force to overwrite)")
    }
}

/// `--set STAGE.KEY=VALUE` (every stage of that name) or `STAGE#N.KEY=VALUE` on a preset.
func applySettings(_ settings: [String], to p: inout Preset) throws {
    for setting in settings {
        do { try p.apply(setting: setting) } catch let e as RestoreError {
            if case let .preset(m) = e { throw ValidationError(m) }
            throw e
        }
    }
}

struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show streams, codecs, size, aspect, rate, duration and color metadata.")
    @Argument(help: "Input file.") var input: String
    func run() throws {
        MediaLog.setVerbose(false)
        guard FileManager.default.fileExists(atPath: input) else {
            FilmRestore.fail(RestoreError.input("input \(input) does not exist"))
        }
        do { print(try MediaReader.probe(path: input).summary) } catch {
            FilmRestore.fail(RestoreError.input("cannot read \(input): \(error)"))
        }
    }
}

struct Presets: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the presets with a one-line description.")
    func run() throws {
        let files = PresetLibrary.allFiles()
        if files.isEmpty {
            FilmRestore.fail(
                RestoreError.preset("no presets found (looked in \(PresetLibrary.searchPaths.joined(separator: ", ")))")
            )
        }
        for case let (path, .failure(error)) in files { print("\(path): broken preset: \(error)") }
        let all = files.compactMap { try? $0.preset.get() }
        let width = all.map(\.name.count).max() ?? 10
        for p in all {
            var line = p.name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + p.description
            let missing = p.unavailableStages
            if !missing.isEmpty { line += " [not yet available: \(missing.joined(separator: ", "))]" }
            print(line)
        }
    }
}

struct Stages: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the stages a preset can name, with every option's type, default, accepted values and help.")
    @Argument(help: "One stage to describe (default: all).") var name: String?
    func run() throws {
        if let name {
            guard let spec = StageRegistry.spec(named: name) else {
                FilmRestore.fail(RestoreError.unknownStage(name, known: StageRegistry.names))
            }
            print(spec.helpText)
            return
        }
        print(StageRegistry.stages.map { $0.spec.helpText }.joined(separator: "\n\n"))
    }
}

/// The most resident memory this process has used so far, in KiB.
func peakResidentKiB() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss
}

/// User and system CPU seconds this process has used so far (every thread, the encoder's included).
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return s(usage.ru_utime) + s(usage.ru_stime)
}

#if os(Linux)
    /// glibc's `int mallopt(int param, int value)` (not exported by the Glibc module).
    @_silgen_name("mallopt") private func glibcMallopt(_ param: Int32, _ value: Int32) -> Int32
#endif
