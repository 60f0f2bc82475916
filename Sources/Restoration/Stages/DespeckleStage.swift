import Foundation
import FilmCore

/// `despeckle`: repairs dust and dirt, defects that live in a single frame.
///
/// The frames before and after are aligned to the current one (block matching on luma, a vector
/// per 8×8 block, refined per pixel). Defects are found by `SpeckDetector`: spikes brighter or
/// darker than both aligned neighbours by more than `threshold` where the neighbours agree (the
/// spike-detection test of film restoration, SDIa with a consistency check), plus faint blobs
/// that deviate the same way from both where they agree to within noise, each blob judged as a
/// whole (kept only where its neighbours agree far better than it differs from them) and grown
/// into its faint rim. The mask is grown by `grow` pixels, and its pixels are replaced by a blend
/// of the aligned neighbours weighted, per blob, by how well each matches the frame around it.
/// The neighbours are always two frames of the same shot: at a shot's (or the clip's) first
/// frame the next two, at its last the previous two. Holds two frames back.
public final class DespeckleStage: Stage {
    public static let spec = StageSpec(
        name: "despeckle",
        summary: "repairs single-frame dust and dirt from the motion-aligned frames before and after",
        traits: [.cleanup, .temporal],
        options: [
            .number(
                "threshold", 0.005...1, default: 0.1,
                "how much brighter or darker than both aligned neighbours a defect is (0.1 ≈ 25/255)"),
            .integer("grow", 0...8, default: 1, "pixels added around every defect"),
            .bool(
                "scratches", default: true, "also remove vertical line scratches that stay in place over 3 of 5 frames"),
        ])

    public let threshold: Float
    public let grow: Int
    public let scratches: Bool
    private var scratchCandidates: [Int: [Int]] = [:]
    /// Columns repaired as line scratches so far (statistics and tests).
    public private(set) var scratchColumns = 0
    let matcher = BlockMatcher()
    private var held = ShotWindow(past: 2, future: 2)
    /// Pixels repaired so far (statistics and tests).
    public private(set) var repairedPixels = 0

    public var window: TemporalWindow { TemporalWindow(past: 2, future: 2) }

    public init(options: StageOptions) throws {
        threshold = Float(options.number("threshold"))
        grow = options.int("grow")
        scratches = options.bool("scratches")
    }

    public func configure(_ input: StreamInfo) throws -> StreamInfo { input }

    public func process(_ frame: Frame, emit: (Frame) throws -> Void) throws {
        held.add(frame)
        while let i = held.next(flushing: false) { try release(i, emit) }
    }

    public func flush(emit: (Frame) throws -> Void) throws {
        while let i = held.next(flushing: true) { try release(i, emit) }
        held.clear()
        scratchCandidates = [:]
    }

    /// Frame i with two neighbours of its own shot: i ± 1, or the next two at the start of a shot
    /// (or clip), or the previous two at its end.
    private func release(_ i: Int, _ emit: (Frame) throws -> Void) throws {
        let f = held[i]!
        let near = { (j: Int) in self.held.neighbour(of: i, at: j) == nil ? nil : j }
        var pair: (Int, Int)? = nil
        if let p = near(i - 1), let q = near(i + 1) {
            pair = (p, q)
        } else if let q = near(i + 1), let q2 = near(i + 2) {
            pair = (q, q2)
        } else if let p = near(i - 1), let p2 = near(i - 2) {
            pair = (p, p2)
        }
        let bothSides = pair.map { $0.0 < i && $0.1 > i } ?? false
        var out =
            try pair.map {
                try repair(
                    f, luma: held.luma(i)!, [$0.0, $0.1].map { (held[$0]!, held.luma($0)!) }, bothSides: bothSides)
            } ?? f
        if scratches { out = removeScratches(out, i) }
        try emit(out)
    }

    /// Line scratches of frame i: candidate columns that recur (±1 px) in at least 3 of the up
    /// to 5 frames i − 2 … i + 2 of its shot.
    private func removeScratches(_ f: Frame, _ i: Int) -> Frame {
        func cands(_ j: Int) -> [Int]? {
            if let c = scratchCandidates[j] { return c }
            guard let g = held.neighbour(of: i, at: j), let y = held.luma(j) else { return nil }
            let c = LineScratches.candidates(y, width: g.width, height: g.height)
            scratchCandidates[j] = c
            return c
        }
        scratchCandidates[i - 3] = nil
        guard let own = cands(i), !own.isEmpty else { return f }
        let around = (i - 2...i + 2).filter { $0 != i }.compactMap { cands($0) }
        let columns = own.filter { x in 1 + around.filter { $0.contains { abs($0 - x) <= 1 } }.count >= 3 }
        guard !columns.isEmpty else { return f }
        scratchColumns += columns.count
        return LineScratches.repair(f, luma: f.luma, columns: columns)
    }

    /// Frame f (luma y) repaired from two neighbours of its shot (each with its luma).
    func repair(_ f: Frame, luma y: [Float], _ neighbours: [(Frame, [Float])], bothSides: Bool = true) throws -> Frame {
        guard neighbours.count == 2,
            neighbours.allSatisfy({ $0.0.width == f.width && $0.0.height == f.height && $0.0.layout == f.layout })
        else { return f }
        let w = f.width, h = f.height, n = w * h
        let aligned = matcher.align(neighbours, toLuma: y)
        let (p, q) = (aligned[0], aligned[1])
        let valid = zip(p.valid, q.valid).map { $0 && $1 }
        var mask = SpeckDetector(threshold: threshold).mask(
            y: y, p: p.luma, q: q.luma, valid: valid, width: w, height: h, faint: bothSides)
        guard mask.contains(true) else { return f }
        if grow > 0 { mask = Dilation.square(mask, w, h, grow) }
        let a = SpeckDetector.repairWeights(y: y, p: p.luma, q: q.luma, mask: mask, width: w, height: h)
        var out = f
        for c in 0..<f.planes.count {
            let pc = p.planes[c], qc = q.planes[c]
            for i in 0..<n where mask[i] { out.planes[c][i] = a[i] * pc[i] + (1 - a[i]) * qc[i] }
        }
        repairedPixels += mask.reduce(0) { $0 + ($1 ? 1 : 0) }
        return out
    }
}
