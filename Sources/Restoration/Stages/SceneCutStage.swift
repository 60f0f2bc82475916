import Foundation
import FilmCore

/// `scenecut`: marks the first frame of every shot (`FrameProperties.sceneCut`), so that temporal
/// stages reset there: interpolation never blends two shots, denoisers and colorization
/// stabilizers do not carry one shot into the next. The restore driver puts it first in every
/// pipeline (after deinterlacing) unless the preset places it itself. Holds one frame back (it
/// compares a frame with the one after, to tell a cut from fast motion). Pixels pass unchanged.
public final class SceneCutStage: Stage {
    public static let spec = StageSpec(
        name: "scenecut",
        summary: "marks hard cuts as a frame property (fades, dissolves, flicker and motion are not cuts)",
        traits: [.cleanup, .analysis, .findsShots, .temporal],
        options: [
            .number(
                "threshold", 0.01...2, default: 0.35,
                "smallest change (1 − correlation of 64-px luma thumbnails) that can be a cut, if it stands out"),
            .number("ratio", 1...100, default: 2.5, "how many times larger than the changes around it a cut must be"),
            .number(
                "hard", 0.01...2, default: nil, note: "0.65, or threshold if larger",
                "a change above this is a cut whatever surrounds it; at least threshold"),
        ])

    public let detector: SceneCutDetector
    private var pending: Frame?
    private var pendingThumb: SceneCutDetector.Thumbnail?
    private var pendingChange = 0.0, changeBefore = 0.0
    private var first = true
    /// Cuts found so far (for statistics and tests).
    public private(set) var cuts = 0

    public var window: TemporalWindow { TemporalWindow(past: 1, future: 1) }

    public init(options: StageOptions) throws {
        let threshold = options.number("threshold")
        let hard = options.number("hard", default: max(0.65, threshold))
        guard hard >= threshold else {
            throw options.invalid("hard (\(hard)) must be at least threshold (\(threshold))")
        }
        detector = SceneCutDetector(threshold: threshold, ratio: options.number("ratio"), hard: hard)
    }

    public func configure(_ input: StreamInfo) throws -> StreamInfo { input }

    public func process(_ frame: Frame, emit: (Frame) throws -> Void) throws {
        let thumb = SceneCutDetector.thumbnail(frame)
        guard let p = pending, let pt = pendingThumb else {
            pending = frame
            pendingThumb = thumb
            return
        }
        let next = SceneCutDetector.change(pt, thumb)
        try release(p, next: next, emit)
        changeBefore = pendingChange
        pendingChange = next
        pending = frame
        pendingThumb = thumb
    }

    public func flush(emit: (Frame) throws -> Void) throws {
        if let p = pending { try release(p, next: 0, emit) }
        pending = nil
        pendingThumb = nil
    }

    private func release(_ f: Frame, next: Double, _ emit: (Frame) throws -> Void) throws {
        var out = f
        // The first frame opens the first shot.
        out.properties.sceneCut = first || detector.isCut(previous: changeBefore, current: pendingChange, next: next)
        if out.properties.sceneCut && !first { cuts += 1 }
        out.properties.extra["scene.change"] = String(format: "%.3f", pendingChange)
        first = false
        try emit(out)
    }
}
