import FilmCore

/// The frames a temporal stage holds around the one it is making, by input number: frames come in
/// with `add`, `next(flushing:)` says which frame can be made once `future` frames after it have
/// arrived (or at the end), and `neighbour(of:at:)` gives a frame only when no scene cut lies
/// between the two, so a stage never mixes shots. Each frame's luma is computed once, on arrival.
/// Frames older than `past` are dropped.
struct ShotWindow {
    let past: Int, future: Int
    private var frames: [Int: Frame] = [:]
    private var lumas: [Int: [Float]] = [:]
    private(set) var received = 0, released = 0

    init(past: Int, future: Int) {
        self.past = past
        self.future = future
    }

    mutating func add(_ f: Frame) {
        frames[received] = f
        lumas[received] = f.luma
        received += 1
    }

    /// The number of the next frame to make, if it can be made now.
    mutating func next(flushing: Bool) -> Int? {
        guard released < received, flushing || released + future < received else { return nil }
        frames[released - past - 1] = nil
        lumas[released - past - 1] = nil
        released += 1
        return released - 1
    }

    subscript(_ i: Int) -> Frame? { frames[i] }

    /// The luma of a held frame.
    func luma(_ i: Int) -> [Float]? { lumas[i] }

    /// Frame j when it is held and of the same shot as frame i.
    func neighbour(of i: Int, at j: Int) -> Frame? {
        guard let g = frames[j], frames[i] != nil else { return nil }
        // no shot starts after the earlier of the two, up to the later
        let (a, b) = (min(i, j), max(i, j))
        for k in stride(from: a + 1, through: b, by: 1) where frames[k]?.properties.sceneCut ?? true { return nil }
        return g
    }

    mutating func clear() {
        frames = [:]
        lumas = [:]
    }
}
