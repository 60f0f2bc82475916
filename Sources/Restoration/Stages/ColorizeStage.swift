import Foundation
import FilmCore
import MediaIO
import TensorCore
import Networks

/// Predicts color for a gray picture at render size: chroma (Cb, Cr on the −0.5…0.5 scale of the
/// given matrix) at the picture's size. DeOldify's generators are one; tests bring their own.
public protocol ColorPredictor: AnyObject {
    var name: String { get }
    func chroma(gray: [Float], width: Int, height: Int, matrix: YCbCrMatrix) throws -> (cb: [Float], cr: [Float])
    /// The chroma and, where the predictor can tell, how sure it is of each pixel's colour (0…1).
    func chromaAndCertainty(gray: [Float], width: Int, height: Int, matrix: YCbCrMatrix) throws -> (
        cb: [Float], cr: [Float], certainty: [Float]?
    )
    /// Runs the predictor's network at this precision from now on (no-op for predictors without one).
    func use(_ precision: Precision)
}

extension ColorPredictor {
    public func use(_ precision: Precision) {}

    /// A predictor that cannot tell how sure it is: always sure.
    public func chromaAndCertainty(gray: [Float], width: Int, height: Int, matrix: YCbCrMatrix) throws -> (
        cb: [Float], cr: [Float], certainty: [Float]?
    ) {
        let c = try chroma(gray: gray, width: width, height: height, matrix: matrix)
        return (c.cb, c.cr, nil)
    }
}

/// A DeOldify checkpoint as a predictor: the gray picture as three equal ImageNet-normalized
/// channels in, RGB out, its chroma kept.
public final class DeOldifyPredictor: ColorPredictor {
    public let network: DeOldifyGenerator
    public let name: String
    private let workspace = Workspace()
    public init(_ network: DeOldifyGenerator, name: String) {
        self.network = network
        self.name = name
    }
    public func use(_ precision: Precision) { workspace.precision = precision }
    public func chroma(gray: [Float], width: Int, height: Int, matrix: YCbCrMatrix) throws -> (cb: [Float], cr: [Float])
    {
        let rgb = try network.colorize(gray: gray, height: height, width: width, workspace: workspace)
        let n = width * height
        var cb = [Float](repeating: 0, count: n), cr = cb
        for i in 0..<n {
            let (_, b, r) = matrix.ycbcr(r: rgb.data[i], g: rgb.data[n + i], b: rgb.data[2 * n + i])
            cb[i] = b
            cr[i] = r
        }
        return (cb, cr)
    }
}

/// FilmRestore's own colorizers (compact or film) as a predictor: bin distribution at a quarter of the render
/// size, annealed mean, chroma brought to render size bilinearly and re-expressed in the frame's
/// matrix (the network speaks BT.601 full range).
public final class BinColorizerPredictor: ColorPredictor {
    public let network: any BinColorizer
    public var name: String { "FilmRestore \(network is FilmColorizer ? "film" : "compact") colorizer" }
    private let workspace = Workspace()
    static let bt601 = YCbCrMatrix(kr: 0.299, kb: 0.114)
    /// Also predict the mirror image and average the two (chroma and certainty): twice the network time.
    public var mirrorAverage: Bool
    /// Decode by the posterior mean when the model file carries one (else, or when false, the annealed mean).
    public var posteriorMean: Bool
    public init(_ network: any BinColorizer, mirrorAverage: Bool = false, posteriorMean: Bool = true) {
        self.network = network
        self.mirrorAverage = mirrorAverage
        self.posteriorMean = posteriorMean
    }
    public func use(_ precision: Precision) { workspace.precision = precision }
    func decode(_ logits: Tensor) -> (cb: [Float], cr: [Float], certainty: [Float]) {
        (posteriorMean ? network.decodePosterior(logits) : nil) ?? network.decodeWithCertainty(logits)
    }
    public func chroma(gray: [Float], width: Int, height: Int, matrix: YCbCrMatrix) throws -> (cb: [Float], cr: [Float])
    {
        let c = try chromaAndCertainty(gray: gray, width: width, height: height, matrix: matrix)
        return (c.cb, c.cr)
    }

    /// The certainty is 1 − the normalized entropy of the bin distribution, brought to render size
    /// with the chroma.
    public func chromaAndCertainty(gray: [Float], width: Int, height: Int, matrix: YCbCrMatrix) throws -> (
        cb: [Float], cr: [Float], certainty: [Float]?
    ) {
        var low = decode(try network.logits(gray, height: height, width: width, workspace: workspace))
        if mirrorAverage {
            let m = decode(
                try network.logits(
                    Self.mirrored(gray, width: width), height: height, width: width, workspace: workspace))
            let lw = width / 4
            let (mcb, mcr, mc) = (
                Self.mirrored(m.cb, width: lw), Self.mirrored(m.cr, width: lw), Self.mirrored(m.certainty, width: lw)
            )
            for i in low.cb.indices {
                low.cb[i] = 0.5 * (low.cb[i] + mcb[i])
                low.cr[i] = 0.5 * (low.cr[i] + mcr[i])
                low.certainty[i] = 0.5 * (low.certainty[i] + mc[i])
            }
        }
        let t = Tensor(channels: 3, height: height / 4, width: width / 4, data: low.cb + low.cr + low.certainty)
        let up = Ops.resizeBilinear(t, height: height, width: width)
        let n = width * height
        var cb = [Float](repeating: 0, count: n), cr = cb
        for i in 0..<n {
            let (r, g, b) = Self.bt601.rgb(y: gray[i], cb: up.data[i], cr: up.data[n + i])
            (_, cb[i], cr[i]) = matrix.ycbcr(r: r, g: g, b: b)
        }
        return (cb, cr, Array(up.data[(2 * n)..<(3 * n)]))
    }

    /// Rows of `width` pixels, each reversed.
    static func mirrored(_ plane: [Float], width: Int) -> [Float] {
        var out = plane
        for start in stride(from: 0, to: plane.count, by: width) {
            for x in 0..<width { out[start + x] = plane[start + width - 1 - x] }
        }
        return out
    }
}

/// `colorize`: color for black-and-white film, DeOldify's recipe made steady for video.
///
/// Chroma is predicted at `render-size` (the short side; DeOldify's generators, or chroma carried
/// over from colored reference pictures), brought to full size by a guided filter on the full-
/// resolution luminance (so color edges snap to the picture's own edges), and joined with the
/// original luminance, which is never altered (chroma is only reduced where a color would leave the
/// RGB cube). Each frame's chroma is blended with the previous output's, moved along the motion
/// (block matching on luma) wherever the moved luma agrees with the current one; it starts afresh at
/// scene cuts. Color input passes through unless `force`.
///
/// Keyframes: `reference: keyframe.png` (or a folder of pictures whose names carry the source frame number they
/// show, e.g. `frame-0120.png`, as `filmrestore keyframes` writes them for a colourist) colour each frame from
/// the keyframes themselves: every pixel matched anywhere in the keyframes before and after it (PatchMatch on
/// luminance at two scales, sure as the match is close), combined with the colour carried along the motion
/// from the previous frame (as sure as it was, fading unless confirmed, dropped where a sure keyframe match
/// contradicts it); where neither is sure, the model's colour scaled by its certainty, or gray. Cuts reset.
public final class ColorizeStage: Stage {
    public static let spec = StageSpec(
        name: "colorize",
        summary: "colorization: FilmRestore's own colorizer, a DeOldify checkpoint or colored reference keyframes; "
            + "guided chroma upsampling, luminance kept, stable over time",
        traits: [.colorizes, .temporal],
        options: [
            .model(
                "model", family: "colorizer", names: ["film", "compact"], default: "film",
                "film (FilmRestore's own colorizer, 4.6 M parameters, Models/colorizer/), compact (its first, smaller "
                    + "one: 1.2 M) or a DeOldify generator checkpoint (.pth: ColorizeArtistic_gen, ColorizeStable_gen, "
                    + "ColorizeVideo_gen), as a path or a name in the models folder"
            ),
            .path(
                "reference", .input,
                "a colored picture of the scene, or a folder of colored keyframes named by source frame number "
                    + "(as `filmrestore keyframes` names them); the model then colours only what no keyframe shows"
            ),
            .integer(
                "render-size", 64...2048, .multiple(of: 32), default: nil,
                note:
                    "96 for FilmRestore's own colorizers (chosen on the tuning half of the held-out photos; they were trained "
                    + "at 128), 320 for DeOldify and references",
                "short side in pixels at which color is predicted"),
            .number(
                "stability", 0...1, default: 0.85,
                "how much of the previous frame's motion-compensated color is kept where the motion is reliable"),
            .choice(
                "decoding", ["posterior", "annealed"], default: "posterior",
                "FilmRestore's own colorizers: posterior (the mean colour of the model's distribution with the "
                    + "training's rebalancing taken out, saturated by the model file's chosen scale: falls toward the "
                    + "photos' mean colour by itself where the model is unsure) or annealed (Zhang et al.'s annealed "
                    + "mean: vivid everywhere; use with confidence 0.55)"),
            .number(
                "confidence", 0...1, default: 0.35,
                note:
                    "chosen on the tune half of the held-out photos (24 camera moves, Tools/eval_colorizer_clips.py "
                    + "--half tune): 0, 0.25, 0.35, 0.45 gave the worst clip −7.2, −6.5, −5.1, −4.1 dB against gray at "
                    + "colourfulness 0.63, 0.62, 0.54, 0.43 of the truth's; 0.35 is the safest that keeps 0.5",
                "colour where the model is sure: a pixel's chroma is also scaled by min(1, certainty / confidence), "
                    + "certainty being 1 − the normalized entropy of the model's colour distribution; uncertain "
                    + "regions fall toward gray. Either way, a region less sure than on the previous frame keeps more "
                    + "of the shot's colour along the motion. 0: no scaling (references and DeOldify are always sure)"),
            .bool(
                "mirror", default: false,
                "FilmRestore's own colorizers: also predict the mirror image and average the two (left-right "
                    + "consistent colour; twice the network time, no measured gain on the held-out photos)"),
            .number(
                "match-tolerance", 0.0005...0.1, default: defaultMatchTolerance,
                "keyframes: how far a frame's patch may be from its match in a keyframe and still be trusted (mean "
                    + "squared luma difference at which the match counts 37 % sure; film grain of σ 0.03 makes about "
                    + "0.002); the default chosen on the tune half of the held-out photos' camera moves"),
            .number(
                "disagreement", 0...0.5, default: 0.04,
                "the model's colour falls toward gray where it changes from one frame to the next on the same "
                    + "thing (followed along the motion): by exp(−(Δ / disagreement)²), Δ the change |ΔCb| + |ΔCr| of "
                    + "its colour where the motion is reliable — a model that flips between colours is guessing. "
                    + "0.04 (about one colour bin of the model apart); 0: off"),
            .bool("force", default: false, "colorize input that already has color"),
            .precision,
            .modelsDir,
        ])

    static let defaultMatchTolerance = 0.03
    /// The frame property in which each colorized frame carries how sure its colour is: the mean over the picture
    /// of the per-pixel certainty (0…1; absent with a colorizer that cannot tell). The report shows it by shot.
    public static let certaintyKey = "colour.certainty"
    let predictor: ColorPredictor?
    public let modelFiles: [String]
    let references: [(frame: Int, picture: Frame)]
    let renderSize: Int
    let stability: Float
    let confidence: Float
    let matchTolerance: Float
    let disagreement: Float
    let force: Bool
    let matcher = BlockMatcher()
    /// The previous output of the shot: its luma, chroma and how sure its colour is.
    private var previous: (luma: [Float], cb: [Float], cr: [Float], sure: [Float]?, width: Int, height: Int)?
    /// Keyframes: the model's colour (scaled by its certainty) at render size as last made in the shot, and how many
    /// frames ago (it is made every `fallbackEvery` frames).
    private var lastFallback: (cb: [Float], cr: [Float], age: Int)?
    /// The mean certainty of the model on the frame last predicted (nil: a model that cannot tell).
    private var modelCertainty: Float?
    /// The model's own colour on the previous frame (before it was made steady), where its changes are told.
    private var previousModel: (cb: [Float], cr: [Float])?
    /// With keyframes: the previous frame's colour at the render size, before it was brought to full size (its
    /// small luma, chroma and how sure it is), carried onto the next frame at that size.
    private var previousRender: (luma: [Float], cb: [Float], cr: [Float], sure: [Float], width: Int, height: Int)?
    /// Resamplers between the sizes a frame's colour passes through (full, render, matching, the model's),
    /// made for the first frame and kept.
    private var resamplers: [[Int]: Resampler] = [:]
    /// Keyframes at the matching size, by their place in `references` (made when first needed).
    private var preparedKeyframes: [String: PreparedKeyframe] = [:]
    /// Each keyframe's matches for the shot's last frame, and back (where the next frame's searches start).
    private var lastMatches: [Int: [Int32]] = [:], lastReverse: [Int: [Int32]] = [:]
    /// Frames passed through because they were already in color, and frames colorized.
    public private(set) var passedThrough = 0, colorized = 0

    public init(options: StageOptions) throws {
        stability = Float(options.number("stability"))
        confidence = Float(options.number("confidence"))
        matchTolerance = Float(options.number("match-tolerance"))
        disagreement = Float(options.number("disagreement"))
        force = options.bool("force")
        // with keyframes, the model colours what no keyframe shows (scaled by its certainty)
        references = try options.path("reference").map(Self.loadReferences) ?? []
        let loaded = try Self.loadModel(options.model("model"), modelsDir: options.modelsFolder)
        (predictor, modelFiles) = (loaded.value, loaded.files)
        // the default render size: for our own colorizers short side 96 (the least chroma error at colourfulness
        // ≥ 0.6 of 64, 96, 128 on the tuning half of the held-out photos); 320 for DeOldify and references
        renderSize = options.int(
            "render-size", default: predictor is BinColorizerPredictor && references.isEmpty ? 96 : 320)
        if let ours = predictor as? BinColorizerPredictor {
            ours.mirrorAverage = options.bool("mirror")
            ours.posteriorMean = options.choice("decoding") == "posterior"
        }
        predictor?.use(try options.precision())
    }

    /// For tests and embedding: any predictor.
    public init(
        predictor: ColorPredictor?, references: [(frame: Int, picture: Frame)] = [], renderSize: Int = 320,
        stability: Float = 0.85, confidence: Float = 0, disagreement: Float = 0, force: Bool = false
    ) {
        self.predictor = predictor
        self.disagreement = disagreement
        self.confidence = confidence
        self.matchTolerance = Float(Self.defaultMatchTolerance)
        self.references = references.map { ($0.frame, $0.picture.promotedToRGB()) }.sorted { $0.0 < $1.0 }
        self.modelFiles = []
        self.renderSize = renderSize
        self.stability = stability
        self.force = force
    }

    /// The shipped colorizers' files by name, within a models folder (vendored in the checkout's `Models/`).
    public static let namedFiles = [
        "compact": "colorizer/compact-colorizer.safetensors", "film": "colorizer/film-colorizer.safetensors",
    ]

    static func loadModel(_ model: String, modelsDir: String?) throws -> Loaded<ColorPredictor> {
        if let file = namedFiles[model] {
            let dirs = (modelsDir.map { [$0] } ?? []) + ModelStore.searchPaths
            guard
                let found = dirs.map({ "\($0)/\(file)" }).first(where: {
                    FileManager.default.fileExists(atPath: $0)
                })
            else {
                throw RestoreError.invalidOption(
                    stage: Self.name,
                    message:
                        "the \(model) colorizer (Models/\(file), part of the checkout) is missing; set `model:` to a DeOldify checkpoint or give `reference:` keyframes"
                )
            }
            let url = URL(fileURLWithPath: found)
            do {
                return Loaded(BinColorizerPredictor(try BinColorizers.load(url)), files: [url])
            } catch let e as TensorError {
                throw RestoreError.invalidOption(stage: Self.name, message: "\(found): \(e.description)")
            }
        }
        var path = model
        if !FileManager.default.fileExists(atPath: path) {
            let dirs = modelsDir.map { [$0] } ?? ModelStore.searchPaths
            guard
                let found = dirs.flatMap({ d in ["", ".pth", ".safetensors"].map { "\(d)/\(model)\($0)" } })
                    .first(where: { FileManager.default.fileExists(atPath: $0) })
            else {
                throw RestoreError.invalidOption(
                    stage: Self.name,
                    message: "model '\(model)' not found (neither a file nor in \(dirs.joined(separator: ", ")))")
            }
            path = found
        }
        do {
            let url = URL(fileURLWithPath: path)
            // FilmRestore's own colorizers (compact or film, told by their keys), else a DeOldify generator
            if url.pathExtension.lowercased() == "safetensors", let sd = try? StateDict.load(url), sd["bins"] != nil {
                return Loaded(BinColorizerPredictor(try BinColorizers.load(url)), files: [url])
            }
            let net = try DeOldifyGenerator(contentsOf: url)
            return Loaded(
                DeOldifyPredictor(net, name: "DeOldify \(net.kind == .deep ? "deep" : "wide") \(net.backbone)"),
                files: [url])
        } catch let e as TensorError {
            throw RestoreError.invalidOption(
                stage: Self.name, message: "\((path as NSString).lastPathComponent): \(e.description)")
        }
    }

    /// One picture, or every picture of a folder whose name carries a frame number.
    static func loadReferences(_ path: String) throws -> [(frame: Int, picture: Frame)] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw RestoreError.invalidOption(stage: Self.name, message: "reference '\(path)' does not exist")
        }
        func read(_ p: String) throws -> Frame {
            do {
                let r = try MediaReader(path: p)
                guard let f = try r.nextFrame() else {
                    throw RestoreError.invalidOption(stage: Self.name, message: "reference '\(p)' has no picture")
                }
                return f.promotedToRGB()
            } catch let e as MediaError {
                throw RestoreError.invalidOption(stage: Self.name, message: "reference '\(p)': \(e)")
            }
        }
        guard isDir.boolValue else { return [(0, try read(path))] }
        let names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
        var out: [(Int, Frame)] = []
        for n in names
        where ["png", "jpg", "jpeg", "tif", "tiff", "bmp", "webp"].contains((n as NSString).pathExtension.lowercased())
        {
            let digits = (n as NSString).deletingPathExtension.split(whereSeparator: { !$0.isNumber }).last
            guard let d = digits, let k = Int(d) else { continue }
            out.append((k, try read(path + "/" + n)))
        }
        guard !out.isEmpty else {
            throw RestoreError.invalidOption(
                stage: Self.name,
                message: "reference folder '\(path)' has no pictures named with a frame number (e.g. frame-0120.png)")
        }
        return out.sorted { $0.0 < $1.0 }
    }

    public func configure(_ input: StreamInfo) throws -> StreamInfo {
        var out = input
        out.layout = .rgb
        return out
    }

    public func process(_ frame: Frame, emit: (Frame) throws -> Void) throws {
        let matrix = YCbCrMatrix(frame.properties.color.matrix)
        let w = frame.width, h = frame.height, n = w * h
        let luma = frame.layout == .gray ? frame.planes[0] : matrix.luma(frame.planes)
        if frame.layout == .rgb && !force && Self.chromaMagnitude(frame, matrix) > 0.02 {
            previous = nil
            previousRender = nil
            lastFallback = nil
            passedThrough += 1
            try emit(frame)
            return
        }
        if frame.properties.sceneCut || colorized + passedThrough == 0 {
            previous = nil
            previousRender = nil
            previousModel = nil
            lastFallback = nil
            (lastMatches, lastReverse) = ([:], [:])
        }
        // chroma at render size, brought to full size along the luminance's edges
        var (cb, cr, sure): ([Float], [Float], [Float]?)
        // how sure the frame's colour is, for the report: the model's certainty, or how surely the keyframes matched
        let certainty: Float?
        if !references.isEmpty {
            (cb, cr, sure) = try keyframeColour(
                luma: luma, width: w, height: h, matrix: matrix, sourceIndex: frame.properties.sourceIndex)
            certainty = sure.map { $0.reduce(0, +) / Float(max($0.count, 1)) }
        } else {
            (cb, cr, sure) = try predict(
                luma: luma, width: w, height: h, matrix: matrix, sourceIndex: frame.properties.sourceIndex)
            certainty = modelCertainty
            carry(&cb, &cr, &sure, luma: luma, width: w, height: h)
        }
        // the original luminance with the new chroma, chroma reduced where it would leave the RGB cube
        var r = [Float](repeating: 0, count: n), g = r, b = r
        for i in 0..<n {
            let y = luma[i]
            var s: Float = 1
            for _ in 0..<2 {
                let (rr, gg, bb) = matrix.rgb(y: y, cb: cb[i] * s, cr: cr[i] * s)
                let over = max(rr, gg, bb), under = min(rr, gg, bb)
                var f: Float = 1
                if over > 1 { f = min(f, (1 - y) / max(over - y, 1e-6)) }
                if under < 0 { f = min(f, y / max(y - under, 1e-6)) }
                if f >= 1 { break }
                s *= max(f, 0) * 0.9999
            }
            cb[i] *= s
            cr[i] *= s
            let (rr, gg, bb) = matrix.rgb(y: y, cb: cb[i], cr: cr[i])
            r[i] = min(max(rr, 0), 1)
            g[i] = min(max(gg, 0), 1)
            b[i] = min(max(bb, 0), 1)
        }
        // (with keyframes, the colour is carried at the render size: `previousRender`)
        previous = references.isEmpty ? (luma, cb, cr, sure, w, h) : nil
        colorized += 1
        var out = frame.with(width: w, height: h, layout: .rgb, planes: [r, g, b])
        out.properties = frame.properties
        if let c = certainty {
            out.properties.extra[Self.certaintyKey] = String(format: "%.4f", c)
        }
        try emit(out)
    }

    /// The model's colour made steady: the previous output's chroma moved onto this frame, where the move is
    /// reliable; where this frame is less sure of its colour than the previous one was, more of the previous is
    /// kept (a region that became uncertain keeps the shot's last sure colour), and the certainty moves with it.
    func carry(
        _ cb: inout [Float], _ cr: inout [Float], _ sure: inout [Float]?, luma: [Float], width w: Int, height h: Int
    ) {
        let model = (cb: cb, cr: cr)
        defer { previousModel = model }
        guard stability > 0, let p = previous, p.width == w, p.height == h else { return }
        // a certainty plane only where the model tells one (nil: sure everywhere, nothing to move); the model's own
        // last colour where its changes are told
        var planes = p.sure.map { [p.cb, p.cr, $0] } ?? [p.cb, p.cr]
        let told = disagreement > 0 ? previousModel.flatMap { $0.cb.count == w * h ? $0 : nil } : nil
        if let m = told { planes += [m.cb, m.cr] }
        let moved = matcher.align(planes: planes, width: w, height: h, luma: p.luma, toLuma: luma)
        let agree = Self.agreement(luma, moved.luma, width: w, height: h)
        let before: [Float]? = p.sure != nil ? moved.planes[2] : nil
        // the planes taken out of their optionals once (not per pixel): empty where there is none
        let (lb, lr) = told == nil ? ([], []) : (moved.planes[planes.count - 2], moved.planes[planes.count - 1])
        for i in 0..<(w * h) where moved.valid[i] {
            if !lb.isEmpty {
                // the model changed its mind on the same thing: it is guessing, toward gray (and as unsure)
                let d = (abs(lb[i] - cb[i]) + abs(lr[i] - cr[i])) / disagreement
                let g = 1 - agree[i] * (1 - exp(-d * d))
                cb[i] *= g
                cr[i] *= g
                if sure != nil { sure![i] *= g }
            }
            let now = sure?[i] ?? 1, was = before?[i] ?? 1
            let k = agree[i] * (stability + (1 - stability) * max(was - now, 0))
            cb[i] += k * (moved.planes[0][i] - cb[i])
            cr[i] += k * (moved.planes[1][i] - cr[i])
            if sure != nil { sure![i] = now + k * (was - now) }
        }
    }

    /// Mean chroma magnitude of a color frame.
    static func chromaMagnitude(_ f: Frame, _ m: YCbCrMatrix) -> Float {
        let n = f.width * f.height
        guard n > 0 else { return 0 }
        var s: Double = 0
        let step = max(1, n / 20_000)
        var count = 0
        for i in stride(from: 0, to: n, by: step) {
            let (_, cb, cr) = m.ycbcr(r: f.planes[0][i], g: f.planes[1][i], b: f.planes[2][i])
            s += Double((cb * cb + cr * cr).squareRoot())
            count += 1
        }
        return Float(s / Double(count))
    }

    /// 1 where the moved luma matches the current one within noise (3×3 mean absolute difference
    /// below 0.02), fading to 0 at 0.06: occlusions and missed motion keep their new color.
    static func agreement(_ a: [Float], _ b: [Float], width w: Int, height h: Int) -> [Float] {
        boxMean(zip(a, b).map { abs($0 - $1) }, width: w, height: h, radius: 1).map {
            min(max((0.06 - $0) / 0.04, 0), 1)
        }
    }

    /// With keyframes: a pixel's colour from its keyframe match (`matched`, sure as `match`), the colour carried
    /// along the motion from the previous frame (`carried`, as sure as it was where the moved luma agrees, weighed
    /// stability / (1 − stability) times a sure match's weight: the steadiness) and the fallback (the model's
    /// colour scaled by its certainty, or gray: where neither of the others is sure), each by its weight; and how
    /// sure the result is for the next frame. A sure match that disagrees with the carried colour (|ΔCb| + |ΔCr| of
    /// 0.06 or more) takes its place, so a colour carried onto the wrong thing does not stay there; unconfirmed,
    /// the carried colour loses 5 % of its certainty a frame and gives way to the fallback within seconds.
    static func combine(
        matched: (Float, Float), match: Float, carried: (Float, Float)?, was: Float, agree: Float,
        fallback: (Float, Float), stability: Float
    ) -> (cb: Float, cr: Float, sure: Float) {
        var held: Float = 0
        if let c = carried, stability > 0 {
            held = agree * was * (1 - match * min((abs(c.0 - matched.0) + abs(c.1 - matched.1)) / 0.06, 1))
        }
        let wp = min(stability, 0.99) / (1 - min(stability, 0.99)) * held, wf = (1 - match) * (1 - held)
        let c = carried ?? (0, 0)
        let wsum = match + wf + wp
        return (
            (match * matched.0 + wf * fallback.0 + wp * c.0) / wsum,
            (match * matched.1 + wf * fallback.1 + wp * c.1) / wsum, max(match, 0.95 * held)
        )
    }

    /// The render size for a picture: short side `renderSize` (never above the picture's own,
    /// rounded to 32), long side in proportion, a multiple of 32.
    func renderDimensions(_ w: Int, _ h: Int) -> (Int, Int) { Self.renderDimensions(w, h, short: renderSize) }

    static func renderDimensions(_ w: Int, _ h: Int, short renderSize: Int) -> (Int, Int) {
        let short = max(32, min(renderSize, (min(w, h) + 31) / 32 * 32))
        let long = max(32, Int((Double(short) * Double(max(w, h)) / Double(min(w, h)) / 32).rounded()) * 32)
        return w >= h ? (long, short) : (short, long)
    }

    /// Chroma at render size (scaled toward gray where the model is unsure), brought to full size along
    /// the luminance's edges, and how sure each pixel's colour is (the scale; nil: sure everywhere).
    func predict(luma: [Float], width w: Int, height h: Int, matrix: YCbCrMatrix, sourceIndex: Int) throws -> (
        [Float], [Float], [Float]?
    ) {
        let (rw, rh) = renderDimensions(w, h)
        let small = resampler(from: w, h, to: rw, rh).resample(luma)
        var low: (cb: [Float], cr: [Float], certainty: [Float]?)
        if let p = predictor {
            low = try p.chromaAndCertainty(gray: small, width: rw, height: rh, matrix: matrix)
        } else {
            let zero = [Float](repeating: 0, count: w * h)
            return (zero, zero, nil)
        }
        /// The planes to full size along the luminance's edges, side by side.
        func up(_ v: [[Float]]) -> [[Float]] {
            GuidedUpsampler.upsample(v, guide: small, width: rw, height: rh, to: luma, width: w, height: h)
        }
        modelCertainty = low.certainty.map { $0.reduce(0, +) / Float(max($0.count, 1)) }
        guard let certainty = low.certainty else {
            let full = up([low.cb, low.cr])
            return (full[0], full[1], nil)
        }
        // without scaling, the certainty still tells the steadiness where the colour became less sure
        guard confidence > 0 else {
            let full = up([low.cb, low.cr, certainty])
            return (full[0], full[1], full[2].map { min(max($0, 0), 1) })
        }
        let scale = certainty.map { min($0 / confidence, 1) }
        for i in 0..<scale.count {
            low.cb[i] *= scale[i]
            low.cr[i] *= scale[i]
        }
        let full = up([low.cb, low.cr, scale])
        return (full[0], full[1], full[2].map { min(max($0, 0), 1) })
    }

    /// The resampler between two sizes, kept for the next frame of the same sizes.
    func resampler(from w: Int, _ h: Int, to rw: Int, _ rh: Int) -> Resampler {
        if let r = resamplers[[w, h, rw, rh]] { return r }
        let r = Resampler(from: w, h, to: rw, rh)
        resamplers[[w, h, rw, rh]] = r
        return r
    }

    // MARK: reference mode
    /// A keyframe at the matching size in the frame's matrix: its luma features and its chroma.
    struct PreparedKeyframe {
        let width: Int, height: Int, matrix: YCbCrMatrix
        let features: PatchFeatures
        let luma: [Float], cb: [Float], cr: [Float]
        /// The luma's standard deviation over 5×5 (plain areas match anywhere in themselves).
        let texture: [Float]
        /// Whether `features` are the film's own frame's (see `keyframeColour`).
        var ownFrame = false
    }

    /// Whether two pictures' features are of the same picture: their luma (the features' centre values) differs
    /// by less than 0.03 on average.
    static func samePicture(_ a: PatchFeatures, _ b: PatchFeatures) -> Bool {
        guard a.width == b.width, a.height == b.height else { return false }
        var s: Float = 0
        for p in 0..<(a.width * a.height) { s += abs(a.luma(p) - b.luma(p)) }
        return s / Float(a.width * a.height) < 0.03
    }

    /// Keyframe `k` (its place in `references`) at the matching size, made once per size and matrix.
    func prepared(_ k: Int, width w: Int, height h: Int, matrix: YCbCrMatrix) -> PreparedKeyframe {
        if let p = preparedKeyframes["\(k) \(w)x\(h)"], p.matrix == matrix { return p }
        let ref = references[k].picture
        let rs = Resampler(from: ref.width, ref.height, to: w, h)
        let planes = ref.planes.map { rs.resample($0) }
        let n = w * h
        var ry = [Float](repeating: 0, count: n), rcb = ry, rcr = ry
        for i in 0..<n { (ry[i], rcb[i], rcr[i]) = matrix.ycbcr(r: planes[0][i], g: planes[1][i], b: planes[2][i]) }
        let p = PreparedKeyframe(
            width: w, height: h, matrix: matrix, features: PatchFeatures(luma: ry, width: w, height: h), luma: ry,
            cb: rcb,
            cr: rcr, texture: Self.localVariance(ry, width: w, height: h, radius: 2).map { $0.squareRoot() })
        preparedKeyframes["\(k) \(w)x\(h)"] = p
        return p
    }

    /// The keyframes a frame is matched against: the last at or before it and the next after it (a colourist
    /// may colour a later frame of the shot, where something first appears); a keyframe of another shot
    /// matches badly and gives little. On equal matches the one before wins.
    func candidateKeyframes(for index: Int) -> [Int] {
        let before = references.lastIndex { $0.frame <= index }, after = references.firstIndex { $0.frame > index }
        return [before, after].compactMap { $0 }
    }

    /// The size the keyframes are searched at (PatchMatch): half the render size.
    static func searchDimensions(_ rw: Int, _ rh: Int) -> (Int, Int) { (max(16, rw / 2), max(16, rh / 2)) }

    /// Something moved onto the frame by block matching: its planes, where the move stays inside the picture,
    /// and where its moved luma agrees with the frame's (`agreement`).
    struct Moved {
        let planes: [[Float]], valid: [Bool], agree: [Float]

        init(
            _ planes: [[Float]], from luma: [Float], onto small: [Float], width w: Int, height h: Int,
            _ matcher: BlockMatcher, perPixel: Bool = true
        ) {
            let moved = matcher.align(
                planes: planes, width: w, height: h, luma: luma, toLuma: small, perPixel: perPixel)
            (self.planes, valid) = (moved.planes, moved.valid)
            agree = ColorizeStage.agreement(small, moved.luma, width: w, height: h)
        }
    }

    /// The keyframes' colour for a frame at render size (`small`, its luma) from matching it anywhere in each
    /// candidate keyframe, and how sure each pixel's is (see `keyframeColour`). The keyframes must be prepared at
    /// the search size (`searchDimensions`) first, and the resamplers to it and back are given (`resampler`): the
    /// search runs beside other work, which only reads the prepared keyframes.
    func searchKeyframes(
        _ small: [Float], width rw: Int, height rh: Int, matrix: YCbCrMatrix, sourceIndex: Int,
        down: Resampler, up: Resampler
    ) -> (conf: [Float], cb: [Float], cr: [Float]) {
        let (mw, mh) = Self.searchDimensions(rw, rh), m = mw * mh
        let features = PatchFeatures(luma: down.resample(small), width: mw, height: mh)
        var best = [Float](repeating: 0, count: m), mcb = best, mcr = best
        for k in candidateKeyframes(for: sourceIndex) {
            var key = prepared(k, width: mw, height: mh, matrix: matrix)
            // the keyframe's own frame: matched from now on by the frame's luminance (the colourist's picture
            // may have shifted it a little), where the two are plainly the same picture
            if references[k].frame == sourceIndex, !key.ownFrame, Self.samePicture(key.features, features) {
                key = PreparedKeyframe(
                    width: mw, height: mh, matrix: matrix, features: features, luma: key.luma, cb: key.cb, cr: key.cr,
                    texture: key.texture, ownFrame: true)
                preparedKeyframes["\(k) \(mw)x\(mh)"] = key
            }
            // and back: a match is only sure if the keyframe's pixel finds its way back here (where the
            // keyframe is textured; a plain area matches anywhere in itself): what the keyframe does not show
            // matches something that is elsewhere in the frame. The two searches side by side; one round where
            // the last frame's matches are the start (most are still good; frames take turns scanning forward
            // and back, and trying every other window of the random search), four from scratch.
            let seed = UInt64(sourceIndex &* 31 &+ k), starts = (lastMatches[k], lastReverse[k])
            var found: [(nnf: [Int32], cost: [Float])] = [([], []), ([], [])]
            found.withUnsafeMutableBufferPointer { out in
                Parallel.forEach(2) { d in
                    let start = d == 0 ? starts.0 : starts.1
                    out[d] = PatchMatch.match(
                        d == 0 ? features : key.features, in: d == 0 ? key.features : features, initial: start,
                        iterations: start == nil ? 4 : 1, seed: seed &+ UInt64(7 * d),
                        backwardFirst: start != nil && sourceIndex % 2 == 1,
                        halfTheWindows: start == nil ? nil : sourceIndex / 2 % 2)
                }
            }
            let (nnf, cost, back) = (found[0].nnf, found[0].cost, found[1].nnf)
            (lastMatches[k], lastReverse[k]) = (nnf, back)
            for p in 0..<m {
                let q = Int(nnf[p]), r = Int(back[q])
                let dx = Float(r % mw - p % mw), dy = Float(r / mw - p / mw)
                let cycle = max(exp(-(dx * dx + dy * dy) / 6.25), 1 - min(key.texture[q] / 0.03, 1))
                let c = exp(-cost[p] / matchTolerance) * cycle
                if c > best[p] {
                    best[p] = c
                    mcb[p] = key.cb[q]
                    mcr[p] = key.cr[q]
                }
            }
        }
        // sure as the match is close and comes back, and the colours matched around it agree (3×3 spread)
        let spread = zip(Self.localVariance(mcb, width: mw, height: mh), Self.localVariance(mcr, width: mw, height: mh))
        let conf = up.resample(zip(best, spread).map { c, v in c / (1 + (v.0 + v.1) / (0.03 * 0.03)) })
        return (conf, up.resample(mcb), up.resample(mcr))
    }

    /// A frame's colour from the keyframes, and how sure each pixel's colour is. Every pixel is matched anywhere
    /// in each candidate keyframe (`PatchMatch` at half the render size, from the last frame's matches), and the
    /// keyframe back onto the frame; the surest match gives the colour, sure as its cost is low (exp(−cost /
    /// `match-tolerance`)), as it comes back (within 2.5 pixels, where the keyframe is textured) and as the
    /// colours matched around it agree; or each keyframe moved onto the frame by block matching, where that is
    /// surer (its moved luma agreeing with the frame's). That colour, the one carried along the motion and the
    /// fallback (the model's colour scaled by its certainty, or gray) are combined pixel by pixel (`combine`) at
    /// the render size, and the result is brought to full size along the luminance's edges (`GuidedUpsampler`).
    /// The colour is carried at the render size too: the block matching of the previous frame onto this one at
    /// full size was a fifth of the stage's time (640x480), and two planes upsampled instead of four. The
    /// searches, the block matching and the model run side by side (`Parallel`), not one after another.
    func keyframeColour(luma: [Float], width w: Int, height h: Int, matrix: YCbCrMatrix, sourceIndex: Int) throws
        -> ([Float], [Float], [Float]?)
    {
        let (rw, rh) = renderDimensions(w, h)
        let small = resampler(from: w, h, to: rw, rh).resample(luma)
        let keys = candidateKeyframes(for: sourceIndex), (mw, mh) = Self.searchDimensions(rw, rh)
        // the keyframes at both sizes, prepared before the searches (side by side below, they only read them)
        let atRender = keys.map { k in
            _ = prepared(k, width: mw, height: mh, matrix: matrix)
            return prepared(k, width: rw, height: rh, matrix: matrix)
        }
        let carriedFrom =
            stability > 0 ? previousRender.flatMap { $0.width == rw && $0.height == rh ? $0 : nil } : nil
        // what no keyframe shows: the model's colour scaled by its certainty, made every `fallbackEvery` frames
        // (between, the shot's last one is used: muted colour at a seventh of the render size, where no match is
        // sure)
        var fallback: (cb: [Float], cr: [Float])?
        if let last = lastFallback, last.age < Self.fallbackEvery - 1, last.cb.count == rw * rh {
            fallback = (last.cb, last.cr)
            lastFallback?.age += 1
        }
        let model = fallback == nil ? predictor : nil
        // the resamplers, from the stage's cache (not safe to fill side by side): to the search size and back, and
        // to the model's working size (our colorizers: short side 96 of the frame's shape) and back
        let search = (down: resampler(from: rw, rh, to: mw, mh), up: resampler(from: mw, mh, to: rw, rh))
        let (aw, ah) = model is BinColorizerPredictor ? Self.renderDimensions(w, h, short: 96) : (rw, rh)
        let modelSize = model.map { _ in
            (to: resampler(from: rw, rh, to: aw, ah), back: resampler(from: aw, ah, to: rw, rh))
        }
        // independent work side by side (one after another, the two cores were a third idle): every pixel matched
        // anywhere in the keyframes (`searchKeyframes`), each keyframe moved onto the frame by block matching (the
        // motion near it), the colour carried along the motion from the previous frame, and the model's colour
        var searched: (conf: [Float], cb: [Float], cr: [Float]) = ([], [], [])
        var aligned = [Moved?](repeating: nil, count: keys.count), carried: Moved?
        var modelled: Result<(cb: [Float], cr: [Float]), Error>?
        aligned.withUnsafeMutableBufferPointer { aligned in
            Parallel.forEach(keys.count + 3) { t in
                if t == 0 {
                    searched = searchKeyframes(
                        small, width: rw, height: rh, matrix: matrix, sourceIndex: sourceIndex, down: search.down,
                        up: search.up)
                } else if t <= keys.count {
                    // one vector per block (a pixel does not pick among its neighbours' vectors, as the carried
                    // colour's does): on the tune half's camera moves chroma 37.29 dB against 36.93 with the
                    // per-pixel choice, colourfulness 0.871 against 0.876, and 5 % less time (bikes 640x272)
                    let key = atRender[t - 1]
                    aligned[t - 1] = Moved(
                        [key.cb, key.cr], from: key.luma, onto: small, width: rw, height: rh, matcher, perPixel: false)
                } else if t == keys.count + 1 {
                    if let p = carriedFrom {
                        carried = Moved(
                            [p.cb, p.cr, p.sure], from: p.luma, onto: small, width: rw, height: rh, matcher)
                    }
                } else if let model, let modelSize {
                    modelled = Result {
                        try Self.fallbackColour(model, small, to: modelSize.to, back: modelSize.back, matrix: matrix)
                    }
                }
            }
        }
        if let made = try modelled?.get() {
            fallback = made
            lastFallback = (made.cb, made.cr, 0)
        }
        var (conf, rcb, rcr) = searched
        // a keyframe moved by block matching gives the colour where it is surer than the search (its moved luma
        // agreeing with the frame's)
        for moved in aligned.compactMap({ $0 }) {
            for i in 0..<(rw * rh) where moved.valid[i] && moved.agree[i] > conf[i] {
                (conf[i], rcb[i], rcr[i]) = (moved.agree[i], moved.planes[0][i], moved.planes[1][i])
            }
        }
        // combined pixel by pixel at the render size, then brought to full size along the luminance's edges
        var (cb, cr, sure) = (rcb, rcr, conf)
        // the planes taken out of their optionals once (not per pixel): empty where there is none
        let (valid, moved, agree) = (carried?.valid ?? [], carried?.planes ?? [], carried?.agree ?? [])
        let (fcb, fcr) = (fallback?.cb ?? [], fallback?.cr ?? [])
        for i in 0..<(rw * rh) {
            let c = !valid.isEmpty && valid[i]
            (cb[i], cr[i], sure[i]) = Self.combine(
                matched: (rcb[i], rcr[i]), match: min(max(conf[i], 0), 1),
                carried: c ? (moved[0][i], moved[1][i]) : nil, was: c ? moved[2][i] : 0, agree: c ? agree[i] : 0,
                fallback: fcb.isEmpty ? (0, 0) : (fcb[i], fcr[i]), stability: stability)
        }
        previousRender = (small, cb, cr, sure, rw, rh)
        let full = GuidedUpsampler.upsample(
            [cb, cr], guide: small, width: rw, height: rh, to: luma, width: w, height: h)
        return (full[0], full[1], sure)
    }

    /// With keyframes, the model's colour (the fallback) is made every this many frames of a shot. It is most of
    /// the keyframe mode's time where it runs on our fp32 core (at 640x272 with AVX2: 27 ms a run, against 30 ms
    /// a frame for everything else), and it weighs where no match is sure: 2–9 % of the picture on the bikes shot.
    /// Every 2, 3 or 4 frames gave the same chroma on the tune half's camera moves (37.29 dB; colourfulness 0.871,
    /// 0.870, 0.870).
    static let fallbackEvery = 4

    /// The model's colour for a frame at render size (`small`, its luma), scaled by the model's certainty: made at
    /// the model's own working size (`to`'s), brought back to the render size (`back`).
    static func fallbackColour(
        _ model: ColorPredictor, _ small: [Float], to: Resampler, back: Resampler, matrix: YCbCrMatrix
    ) throws -> (cb: [Float], cr: [Float]) {
        let (aw, ah) = (to.dstWidth, to.dstHeight)
        let auto = try model.chromaAndCertainty(gray: to.resample(small), width: aw, height: ah, matrix: matrix)
        let s = (0..<(aw * ah)).map { min(max(auto.certainty?[$0] ?? 1, 0), 1) }
        return (back.resample(zip(auto.cb, s).map(*)), back.resample(zip(auto.cr, s).map(*)))
    }

    /// The variance over each (2r + 1)² neighbourhood.
    static func localVariance(_ v: [Float], width w: Int, height h: Int, radius r: Int = 1) -> [Float] {
        let m = boxMean(v, width: w, height: h, radius: r),
            m2 = boxMean(v.map { $0 * $0 }, width: w, height: h, radius: r)
        return zip(m, m2).map { max($1 - $0 * $0, 0) }
    }
}

/// The fast guided filter (He & Sun 2015) as an upsampler: at low resolution, chroma ≈ a·luma + b
/// in each window; a and b are smoothed, brought to full size and applied to the full-resolution
/// luminance, so chroma edges follow the picture's own edges. Windows of 3×3 at the render size: chosen on
/// the tuning half of the held-out photos (`Tools/eval_colorizer.py --half tune`; radius 1…4 × eps 1e-4…2e-2
/// all gave chroma RMSE 0.0832–0.0834, while colourfulness fell with the radius, 0.619 at 1 to 0.601 at 4:
/// a wider window averages colour away without a lower error). eps barely mattered (±0.002); 2e-3 (a luma
/// deviation of 0.045) keeps film grain from steering the colour.
enum GuidedUpsampler {
    static func upsample(
        _ p: [Float], guide i: [Float], width w: Int, height h: Int,
        to full: [Float], width fw: Int, height fh: Int, radius: Int = 1, eps: Float = 2e-3
    ) -> [Float] {
        upsample([p], guide: i, width: w, height: h, to: full, width: fw, height: fh, radius: radius, eps: eps)[0]
    }

    /// Several planes along the same guide: the guide's window statistics made once, the planes side by side.
    static func upsample(
        _ planes: [[Float]], guide i: [Float], width w: Int, height h: Int,
        to full: [Float], width fw: Int, height fh: Int, radius: Int = 1, eps: Float = 2e-3
    ) -> [[Float]] {
        let mi = boxMean(i, width: w, height: h, radius: radius)
        let mii = boxMean(zip(i, i).map(*), width: w, height: h, radius: radius)
        var out = [[Float]](repeating: [], count: planes.count)
        out.withUnsafeMutableBufferPointer { out in
            Parallel.forEach(planes.count) { c in
                let p = planes[c]
                let mp = boxMean(p, width: w, height: h, radius: radius)
                let mip = boxMean(zip(i, p).map(*), width: w, height: h, radius: radius)
                var a = [Float](repeating: 0, count: w * h), b = a
                for k in 0..<(w * h) {
                    let v = mii[k] - mi[k] * mi[k], c = mip[k] - mi[k] * mp[k]
                    a[k] = c / (v + eps)
                    b[k] = mp[k] - a[k] * mi[k]
                }
                let ma = boxMean(a, width: w, height: h, radius: radius)
                let mb = boxMean(b, width: w, height: h, radius: radius)
                let ta = Tensor(channels: 2, height: h, width: w, data: ma + mb)
                let up = Ops.resizeBilinear(ta, height: fh, width: fw)
                let n = fw * fh
                out[c] = [Float](unsafeUninitializedCapacity: n) { o, count in
                    for k in 0..<n { o[k] = up.data[k] * full[k] + up.data[n + k] }
                    count = n
                }
            }
        }
        return out
    }
}
