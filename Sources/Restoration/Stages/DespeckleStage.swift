import Foundation
import FilmCore

/// `despeckle`: repairs dust and dirt, defects that live in a single frame.
///
/// The frames before and after are aligned to the current one (block matching on luma, a vector
/// per 8×8 block). A pixel is a defect when it is brighter than both aligned neighbours by more
/// than `threshold`, or darker than both, while the two neighbours agree with each other (within
/// `threshold`/2: where they disagree the scene moved or was uncovered, and nothing is touched) —
/// the spike-detection test of film restoration (SDIa with a consistency check). The defect mask
/// is grown by `grow` pixels to take in soft edges, and its pixels are replaced by the mean of the
/// aligned neighbours. The neighbours are always two frames of the same shot: at a shot's (or the
/// clip's) first frame the next two, at its last the previous two. Holds two frames back.
public final class DespeckleStage: Stage {
    public static let name = "despeckle"
    public static let summary = "repairs single-frame dust and dirt from the motion-aligned frames before and after"
    public static let options = [
        "threshold": "how much brighter or darker than both aligned neighbours a defect is, 0…1 (default 0.1 ≈ 25/255)",
        "grow": "pixels added around every defect (default 1)",
        "scratches": "also remove vertical line scratches that stay in place over 3 of 5 frames (default true)",
    ]

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
        threshold = Float(try options.double("threshold", default: 0.1, range: 0.005...1))
        grow = try options.int("grow", default: 1, range: 0...8)
        scratches = try options.bool("scratches", default: true)
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
        if let p = near(i - 1), let q = near(i + 1) { pair = (p, q) }
        else if let q = near(i + 1), let q2 = near(i + 2) { pair = (q, q2) }
        else if let p = near(i - 1), let p2 = near(i - 2) { pair = (p, p2) }
        var out = try pair.map { try repair(f, luma: held.luma(i)!, [$0.0, $0.1].map { (held[$0]!, held.luma($0)!) }) } ?? f
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
    func repair(_ f: Frame, luma y: [Float], _ neighbours: [(Frame, [Float])]) throws -> Frame {
        guard neighbours.count == 2, neighbours.allSatisfy({ $0.0.width == f.width && $0.0.height == f.height && $0.0.layout == f.layout }) else { return f }
        let w = f.width, h = f.height, n = w * h
        let aligned = matcher.align(neighbours, toLuma: y)
        // the defect mask
        let t = threshold
        var mask = [Bool](repeating: false, count: n)
        var any = false
        let (p, q) = (aligned[0], aligned[1])
        for i in 0..<n {
            let d0 = y[i] - p.luma[i], d1 = y[i] - q.luma[i]
            let hit = ((d0 > t && d1 > t) || (d0 < -t && d1 < -t)) && abs(p.luma[i] - q.luma[i]) < t / 2
                && p.valid[i] && q.valid[i]
            if hit { mask[i] = true; any = true }
        }
        guard any else { return f }
        if grow > 0 { mask = Self.dilate(mask, w, h, grow) }
        var out = f
        for c in 0..<f.planes.count {
            let pc = p.planes[c], qc = q.planes[c]
            for i in 0..<n where mask[i] { out.planes[c][i] = (pc[i] + qc[i]) / 2 }
        }
        repairedPixels += mask.reduce(0) { $0 + ($1 ? 1 : 0) }
        return out
    }

    /// Square dilation by r pixels (separable).
    static func dilate(_ m: [Bool], _ w: Int, _ h: Int, _ r: Int) -> [Bool] {
        var rows = [Bool](repeating: false, count: w * h)
        for y in 0..<h {
            var last = -r - 1
            for x in 0..<w { if m[y * w + x] { last = x }; if x - last <= r { rows[y * w + x] = true } }
            last = w + r + 1
            for x in stride(from: w - 1, through: 0, by: -1) { if m[y * w + x] { last = x }; if last - x <= r { rows[y * w + x] = true } }
        }
        var out = [Bool](repeating: false, count: w * h)
        for x in 0..<w {
            var last = -r - 1
            for y in 0..<h { if rows[y * w + x] { last = y }; if y - last <= r { out[y * w + x] = true } }
            last = h + r + 1
            for y in stride(from: h - 1, through: 0, by: -1) { if rows[y * w + x] { last = y }; if last - y <= r { out[y * w + x] = true } }
        }
        return out
    }
}
