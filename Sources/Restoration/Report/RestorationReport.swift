import Foundation
import FilmCore

/// Everything a restoration report shows, as numbers: what `report.json` holds and what the HTML
/// page renders (images aside). Times are seconds from the start of the file; brightness and noise
/// are measured on luminance at the source's size.
public struct RestorationReport: Codable, Sendable {
    public struct FileSummary: Codable, Sendable {
        public var path: String
        public var width: Int
        public var height: Int
        public var frameRate: String
        public var frames: Int
        public var duration: Double
    }
    /// The run that made the output (absent when a report is made later for an existing pair).
    public struct Run: Codable, Sendable {
        public var seconds: Double
        public var framesWritten: Int
        public var peakMemoryMiB: Double
        public var steps: [Step]
        /// The input was damaged: the output holds what decoded (nil: a sound input).
        public var inputDamage: InputDamage?
        /// The time the whole film takes (or was projected to take early in the run) at this run's
        /// speed; for a part, its measured time per frame times the film's frames.
        public var projectedSeconds: Double?
        /// How sure the colour is, shot by shot (nil: nothing was colorized by a colorizer that can tell).
        public var shotColour: [ShotColour]?
        public struct Step: Codable, Sendable {
            public var name: String
            public var seconds: Double
            public var frames: Int
            public var framesPerSecond: Double
            /// The size of the frames it gave ("WxH"; nil when not recorded).
            public var size: String? = nil
        }
        public init(seconds: Double, framesWritten: Int, peakMemoryMiB: Double, steps: [StepTime]) {
            self.seconds = seconds
            self.framesWritten = framesWritten
            self.peakMemoryMiB = peakMemoryMiB
            self.steps = steps.map {
                Step(
                    name: $0.name, seconds: $0.seconds, frames: $0.frames, framesPerSecond: $0.framesPerSecond,
                    size: $0.size)
            }
        }
    }
    public struct Timing: Codable, Sendable {
        public var inputDuration: Double
        public var outputDuration: Double
        public var inputFrames: Int
        public var outputFrames: Int
        /// Output frames the source's duration calls for at the output rate (constant-rate output).
        public var expectedFrames: Int?
        public var missingFrames: Int
        /// Audio start − video start, and audio end − video end, in each file (nil: no sound).
        public var inputOffsetAtStart: Double?
        public var outputOffsetAtStart: Double?
        public var inputOffsetAtEnd: Double?
        public var outputOffsetAtEnd: Double?
        public var problems: [String]
        public var passed: Bool

        init(_ a: TimingAudit) {
            inputDuration = a.input.videoDuration
            outputDuration = a.output.videoDuration
            inputFrames = a.input.videoFrames
            outputFrames = a.output.videoFrames
            expectedFrames = a.expectedFrames
            missingFrames = a.gaps.count
            inputOffsetAtStart = a.input.offsetAtStart
            outputOffsetAtStart = a.output.offsetAtStart
            inputOffsetAtEnd = a.input.offsetAtEnd
            outputOffsetAtEnd = a.output.offsetAtEnd
            problems = a.problems
            passed = a.passed
        }
    }
    /// One source frame: the source's figures, the output frame nearest its time, and fidelity
    /// where an output frame shows the same instant.
    public struct FrameFigures: Codable, Sendable {
        public var index: Int
        public var time: Double
        public var sceneCut: Bool
        public var brightnessBefore: Double
        public var noiseBefore: Double
        public var flickerBefore: Double?
        /// The output frame compared with this one (nil: none within half an output frame).
        public var outputTime: Double?
        public var brightnessAfter: Double?
        public var noiseAfter: Double?
        public var flickerAfter: Double?
        /// PSNR (dB, capped at 99) and SSIM of the output scaled back to the source size against the
        /// reference (cleaned source); only where the output frame is at the same instant (within 2 %
        /// of a source frame or 1 ms — where `interpolate` copies the source frame), never for the
        /// in-between frames interpolation makes: no source frame shows their instant.
        public var psnr: Double?
        public var ssim: Double?
        public var inventedDetail: Bool
        /// The chain's synthetic grain was taken out of the output before PSNR and SSIM were measured.
        public var grainRemoved: Bool? = nil
    }
    public struct Summary: Codable, Sendable {
        /// Flicker index (% of mean brightness, RMS) and noise σ (8-bit levels, mean over frames).
        public var flickerBefore: Double?
        public var flickerAfter: Double?
        public var noiseBefore: Double
        public var noiseAfter: Double?
        public var fidelityFrames: Int
        public var meanPSNR: Double?
        public var minPSNR: Double?
        public var meanSSIM: Double?
        public var minSSIM: Double?
        public var inventedFrames: Int
        public var thresholdPSNR: Double
        public var thresholdSSIM: Double
        /// NIQE (naturalness with no reference: lower is more natural; not a fidelity measure), mean
        /// over the stills' frames: the source as decoded, the reference (after the cleanup stages),
        /// the output at its own size.
        public var niqeSource: Double? = nil
        public var niqeReference: Double? = nil
        public var niqeOutput: Double? = nil
        public var niqeFrames: Int = 0
    }
    public struct Still: Codable, Sendable {
        public var label: String
        public var index: Int
        public var time: Double
        public var outputTime: Double
        /// "source" (as decoded) or "reference" (the cleaned source fidelity is measured against).
        public var before: String
        public var psnr: Double?
        public var ssim: Double?
        /// The zoomed part, in source pixels.
        public var crop: ActiveArea.Rect
        /// NIQE of the source frame as decoded, of the reference, and of the output frame.
        public var niqeSource: Double? = nil
        public var niqeReference: Double? = nil
        public var niqeOutput: Double? = nil
    }

    /// An interpolated frame between the two source frames it was made from, where ghosting or
    /// tearing would show.
    public struct Between: Codable, Sendable {
        public var index: Int
        public var time: Double
        public var outputTime: Double
        public var nextTime: Double
    }
    /// The part of the film a report audits (source times), when it is not the whole film.
    public struct Part: Codable, Sendable {
        public var start: Double
        public var end: Double?
        /// The source time the output's time 0 shows (from the output's part tag, or its first frame).
        public var origin: Double?
    }

    public var tool: String
    public var created: String
    public var source: FileSummary
    public var output: FileSummary
    /// The output file's provenance tags (tool, version, preset, stages, models with SHA-256).
    public var provenance: [String: String]
    /// What fidelity compares against, in words.
    public var reference: String
    public var referenceStages: [String]
    public var activeArea: ActiveArea
    public var run: Run?
    public var timing: Timing
    public var summary: Summary
    public var stills: [Still]
    public var frames: [FrameFigures]
    public var between: Between? = nil
    public var part: Part? = nil
}
