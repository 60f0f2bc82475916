import FilmCore
import TensorCore

/// How many neighbouring frames a stage looks at around the frame it is making.
public struct TemporalWindow: Sendable, Equatable {
    public var past: Int
    public var future: Int
    public init(past: Int = 0, future: Int = 0) {
        self.past = past
        self.future = future
    }
    public static let none = TemporalWindow()
}

/// One processing step of the pipeline.
///
/// A stage is configured from preset options, learns the incoming stream in `configure` (where it
/// sizes its buffers, once), then receives frames in presentation order and emits 0…N frames for
/// each; `flush` emits what it still holds at the end of the stream. A stage runs on one queue of
/// its own: it is never called concurrently, and may keep state between calls. Every emitted frame
/// keeps the properties of the source frame it was made from.
public protocol Stage: AnyObject {
    /// The stage's one declaration: name, summary, typed options, traits.
    static var spec: StageSpec { get }

    /// Builds the stage from options already checked against `spec`.
    init(options: StageOptions) throws

    var window: TemporalWindow { get }
    /// The model files the stage was built from (absolute paths), for the recipe and provenance.
    var modelFiles: [String] { get }
    func configure(_ input: StreamInfo) throws -> StreamInfo
    func process(_ frame: Frame, emit: (Frame) throws -> Void) throws
    func flush(emit: (Frame) throws -> Void) throws
    /// Called once every stage is configured, with the stage after this one: a stage that can do part of the
    /// next one's work (interpolation placing its frames where `fit` would) arranges it here. Default: nothing.
    func link(next: any Stage)
}

extension Stage {
    /// The name presets use.
    public static var name: String { spec.name }
    public var window: TemporalWindow { .none }
    public var modelFiles: [String] { [] }
    public func flush(emit: (Frame) throws -> Void) throws {}
    public func link(next: any Stage) {}
}

/// Errors raised while building or running a pipeline. Every message fits on one line.
public enum RestoreError: Error, CustomStringConvertible {
    case invalidOption(stage: String, message: String)
    case unknownStage(String, known: [String])
    case stageUnavailable(preset: String, stages: [String])
    case stageFailed(stage: String, underlying: Error)
    case preset(String)
    case input(String)
    case output(String)
    case cancelled
    /// A checkpointed restore stopped (error or interrupt) with finished segments kept for --resume.
    indirect case resumable(RestoreError, kept: Int, folder: String)

    public var description: String {
        switch self {
        case let .invalidOption(stage, message): return "stage '\(stage)': \(message)"
        case let .unknownStage(name, known):
            return "unknown stage '\(name)' (available: \(known.joined(separator: ", ")))"
        case let .stageUnavailable(preset, stages):
            return
                "preset '\(preset)' needs stages that are not available in this version: \(stages.joined(separator: ", "))"
        case let .stageFailed(stage, underlying): return "stage '\(stage)' failed: \(underlying)"
        case let .preset(m): return m
        case let .input(m): return m
        case let .output(m): return m
        case .cancelled: return "interrupted"
        case let .resumable(e, kept, folder):
            return
                "\(e.description) (\(kept) finished segment(s) kept in \(folder): run the same command with --resume to continue)"
        }
    }
}

/// A stage whose grain is a known function of the frame (its time, its source frame, the grain the
/// cleanup measured on it), so it can be taken out again: what the restoration report does before
/// it measures fidelity.
public protocol SyntheticGrain {
    /// `output` (a frame as written) without the grain this stage gave it; `reference` is the same
    /// instant's frame after the cleanup stages (its time, source index and grain measurement),
    /// `area` where the picture is in `output`. Nil when the stage gave that frame no grain.
    func removingGrain(from output: Frame, madeFor reference: Frame, area: ActiveArea.Rect) -> Frame?
}

/// A stage that sets the output's size (`fit`): where a picture goes in the output.
public protocol SizeTarget: AnyObject {
    /// The size a picture of this display aspect is scaled to in the output (inside the canvas with
    /// `pad`, covering it with `crop`).
    func placedSize(displayAspect: Double) -> (width: Int, height: Int)
}

/// A stage whose working size can be set by the output it feeds (`upscale` with `fit-aware`): told,
/// before any stage is configured, the first `SizeTarget` after it in the chain.
public protocol OutputAware: AnyObject {
    func aim(at target: any SizeTarget)
}

/// A stage that places the picture in a canvas of another size (`fit`): what the restoration report asks to
/// know which part of an output frame shows which part of the source.
public protocol PicturePlacing {
    func placement(displayAspect: Double, canvasWidth: Int, canvasHeight: Int) -> Placement
}
