import Foundation
import FilmCore
import MediaIO

/// `filmrestore keyframes`: the frames of a film a colourist colours, written as pictures named by their source
/// frame number (`frame-000120.png`), so that the folder, coloured in any image editor, is `colorize.reference`.
/// Each shot (as `scenecut` finds them) gives its first frame; with more than one a shot, the others are the frames
/// where the shipped colorizer is least sure of its colour (its mean certainty, 1 − the normalized entropy of its
/// colour distribution), at least half a second from each other and from the first.
public final class KeyframePicker {
    public struct Pick: Sendable, Equatable {
        /// The source frame number, the shot's number (from 1) and the colorizer's mean certainty there.
        public let frame: Int, shot: Int
        public let certainty: Double?
        public let path: String
    }

    public let input: String, folder: String, perShot: Int, force: Bool
    let modelsDir: String?

    public init(input: String, folder: String, perShot: Int = 1, force: Bool = false, modelsDir: String? = nil) throws {
        guard (1...100).contains(perShot) else { throw RestoreError.input("--per-shot must be 1…100 (got \(perShot))") }
        (self.input, self.folder, self.perShot, self.force, self.modelsDir) = (input, folder, perShot, force, modelsDir)
    }

    /// Finds the shots, picks their frames and writes them; the picks, in frame order.
    public func run() throws -> [Pick] {
        let reader: MediaReader
        do { reader = try MediaReader(path: input) } catch let e as MediaError {
            throw RestoreError.input("\(input): \(e.description)")
        }
        let cuts = Pipeline.Node(name: "scenecut", stage: try StageRegistry.make("scenecut", text: [:]))
        let predictor = perShot > 1 ? try ColorizeStage.loadModel("film", modelsDir: modelsDir).value : nil
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw RestoreError.output("cannot make the folder \(folder): \(error.localizedDescription)")
        }
        // each pick written as soon as it is final (a shot's first frame at once, the others at the shot's end):
        // memory stays flat however many shots the film has
        let (folder, force, input) = (self.folder, self.force, self.input)
        let sink = KeyframeSink(perShot: perShot, certainty: predictor.map(Self.certainty)) { p in
            let k = p.frame.properties.sourceIndex
            let path = folder + "/" + String(format: "frame-%06d.png", k)
            try SmallFile.write(Data(try StillImage.png(p.frame)), to: path, force: force, inputs: [input])
            return Pick(frame: k, shot: p.shot, certainty: p.certainty, path: path)
        }
        try RunLoop.run(Pipeline(nodes: [cuts]), source: { try reader.nextFrame() }, into: sink)
        guard !sink.written.isEmpty else { throw RestoreError.input("\(input): no frames") }
        return sink.written.sorted { $0.frame < $1.frame }
    }

    /// The colorizer's mean certainty on a frame, seen at its working size (short side 96).
    static func certainty(_ predictor: ColorPredictor) -> (Frame) throws -> Double {
        { f in
            let (w, h) = ColorizeStage.renderDimensions(f.width, f.height, short: 96)
            let luma = f.layout == .gray ? f.planes[0] : YCbCrMatrix(f.properties.color.matrix).luma(f.planes)
            let small = Resampler(from: f.width, f.height, to: w, h).resample(luma)
            let c = try predictor.chromaAndCertainty(
                gray: small, width: w, height: h, matrix: YCbCrMatrix(f.properties.color.matrix))
            guard let sure = c.certainty, !sure.isEmpty else { return 1 }
            return Double(sure.reduce(0, +)) / Double(sure.count)
        }
    }
}

/// The picker's sink: each shot's first frame, and (`perShot` > 1) its least sure frames kept as they come; each
/// handed to `save` once final.
final class KeyframeSink: FrameSink {
    struct Picked {
        let frame: Frame, shot: Int
        let certainty: Double?
    }
    let perShot: Int
    let certainty: ((Frame) throws -> Double)?
    let save: (Picked) throws -> KeyframePicker.Pick
    private(set) var written: [KeyframePicker.Pick] = []
    private var shot = 0, shotFirst = 0, candidates: [Picked] = []
    /// Frames apart picks must be (half a second at the source rate, as the frames' times tell).
    private var gap = 12

    init(
        perShot: Int, certainty: ((Frame) throws -> Double)?, save: @escaping (Picked) throws -> KeyframePicker.Pick
    ) {
        (self.perShot, self.certainty, self.save) = (perShot, certainty, save)
    }

    func write(_ f: Frame) throws {
        if f.properties.sceneCut || shot == 0 {
            try closeShot()
            shot += 1
            shotFirst = f.properties.sourceIndex
            if f.duration > .zero { gap = max(1, Int((0.5 / f.duration.doubleValue).rounded())) }
            written.append(try save(Picked(frame: f, shot: shot, certainty: try certainty?(f))))
            return
        }
        guard perShot > 1, let certainty, f.properties.sourceIndex - shotFirst >= gap else { return }
        candidates.append(Picked(frame: f, shot: shot, certainty: try certainty(f)))
        // keep only what can still be picked: the least sure, spaced apart
        candidates = Self.leastSure(candidates, count: perShot - 1, gap: gap)
    }

    func commit() throws { try closeShot() }

    private func closeShot() throws {
        for c in candidates { written.append(try save(c)) }
        candidates = []
    }

    /// Up to `count` of `c`, least sure first, each at least `gap` frames from those taken before it.
    static func leastSure(_ c: [Picked], count: Int, gap: Int) -> [Picked] {
        var out: [Picked] = []
        for p in c.sorted(by: { ($0.certainty ?? 1) < ($1.certainty ?? 1) }) where out.count < count {
            let k = p.frame.properties.sourceIndex
            if out.allSatisfy({ abs($0.frame.properties.sourceIndex - k) >= gap }) { out.append(p) }
        }
        return out
    }
}
