import Foundation
import FilmCore

/// How sure the colour of one shot is: the mean over its frames of what `colorize` reports for each frame
/// (`ColorizeStage.certaintyKey`: the mean over the picture of its per-pixel certainty — the model's, 1 − the
/// normalized entropy of its colour distribution, or with keyframes how surely each pixel matched one). A
/// colourist reads it to know which shots need a keyframe.
public struct ShotColour: Codable, Sendable, Equatable {
    /// The source frame number of the shot's first frame, and its time (seconds).
    public var firstFrame: Int
    public var time: Double
    public var frames: Int
    public var meanCertainty: Double
    /// The least sure frame of the shot: its source frame number and certainty.
    public var leastFrame: Int
    public var leastCertainty: Double
}

/// Tallies the frames of a run, as they reach the output, into shots (a scene cut starts one), from the
/// certainty `colorize` left on each (frames made between two source frames are counted once, by their source
/// frame). Used on the run's last queue only; read once the run is over.
final class ShotColourTally {
    private(set) var shots: [ShotColour] = []
    private var lastSource: Int?, sum = 0.0

    func see(_ f: Frame) {
        guard let text = f.properties.extra[ColorizeStage.certaintyKey], let v = Double(text), v.isFinite else {
            return
        }
        let k = f.properties.sourceIndex
        guard k != lastSource else { return }
        lastSource = k
        if f.properties.sceneCut || shots.isEmpty {
            shots.append(
                ShotColour(
                    firstFrame: k, time: f.pts.doubleValue, frames: 0, meanCertainty: 0, leastFrame: k,
                    leastCertainty: v))
            sum = 0
        }
        sum += v
        shots[shots.count - 1].frames += 1
        shots[shots.count - 1].meanCertainty = sum / Double(shots[shots.count - 1].frames)
        if v < shots[shots.count - 1].leastCertainty {
            (shots[shots.count - 1].leastFrame, shots[shots.count - 1].leastCertainty) = (k, v)
        }
    }
}
