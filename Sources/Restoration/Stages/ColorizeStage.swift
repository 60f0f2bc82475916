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
/// Reference mode needs no weights: `reference: keyframe.png` (or a folder of pictures whose names
/// carry the source frame number they show, e.g. `frame-0120.png`) gives each frame the chroma of the
/// reference aligned onto it where the reference shows the same scene, and elsewhere the chroma of
/// reference pixels with the same luminance and texture (remapped luminance statistics, as Welsh et
/// al.). A reference overrides a model.
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
                "a colored picture of the scene, or a folder of colored keyframes named by source frame number; overrides model"
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
                "confidence", 0...1, default: 0,
                "colour where the model is sure: a pixel's chroma is also scaled by min(1, certainty / confidence), "
                    + "certainty being 1 − the normalized entropy of the model's colour distribution; uncertain "
                    + "regions fall toward gray. Either way, a region less sure than on the previous frame keeps more "
                    + "of the shot's colour along the motion. 0: no scaling (references and DeOldify are always sure)"),
            .bool(
                "mirror", default: false,
                "FilmRestore's own colorizers: also predict the mirror image and average the two (left-right "
                    + "consistent colour; twice the network time, no measured gain on the held-out photos)"),
            .bool("force", default: false, "colorize input that already has color"),
            .precision,
            .modelsDir,
        ])

    let predictor: ColorPredictor?
    public let modelFiles: [String]
    let references: [(frame: Int, picture: Frame)]
    let renderSize: Int
    let stability: Float
    let confidence: Float
    let force: Bool
    let matcher = BlockMatcher()
    /// The previous output of the shot: its luma, chroma and how sure its colour is.
    private var previous: (luma: [Float], cb: [Float], cr: [Float], sure: [Float]?, width: Int, height: Int)?
    private var lastResampler: Resampler?
    private var preparedReference: PreparedReference?
    /// Frames passed through because they were already in color, and frames colorized.
    public private(set) var passedThrough = 0, colorized = 0

    public init(options: StageOptions) throws {
        stability = Float(options.number("stability"))
        confidence = Float(options.number("confidence"))
        force = options.bool("force")
        if let reference = options.path("reference") {
            references = try Self.loadReferences(reference)
            predictor = nil
            modelFiles = []
        } else {
            references = []
            let loaded = try Self.loadModel(options.model("model"), modelsDir: options.modelsFolder)
            (predictor, modelFiles) = (loaded.value, loaded.files)
        }
        // the default render size: for our own colorizers short side 96 (the least chroma error at colourfulness
        // ≥ 0.6 of 64, 96, 128 on the tuning half of the held-out photos); 320 for DeOldify and references
        renderSize = options.int("render-size", default: predictor is BinColorizerPredictor ? 96 : 320)
        if let ours = predictor as? BinColorizerPredictor {
            ours.mirrorAverage = options.bool("mirror")
            ours.posteriorMean = options.choice("decoding") == "posterior"
        }
        predictor?.use(try options.precision())
    }

    /// For tests and embedding: any predictor.
    public init(
        predictor: ColorPredictor, renderSize: Int = 320, stability: Float = 0.85, confidence: Float = 0,
        force: Bool = false
    ) {
        self.predictor = predictor
        self.confidence = confidence
        self.references = []
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
            passedThrough += 1
            try emit(frame)
            return
        }
        if frame.properties.sceneCut { previous = nil }
        // chroma at render size, brought to full size along the luminance's edges
        var (cb, cr, sure) = try predict(
            luma: luma, width: w, height: h, matrix: matrix, sourceIndex: frame.properties.sourceIndex)
        // steadiness: the previous output's chroma moved onto this frame, where the move is reliable;
        // where this frame is less sure of its colour than the previous one was, more of the previous
        // is kept (a region that became uncertain keeps the shot's last sure colour), and the
        // certainty moves with it
        if stability > 0, let p = previous, p.width == w, p.height == h {
            // a certainty plane only where the model tells one (nil: sure everywhere, nothing to move)
            let planes = p.sure.map { [p.cb, p.cr, $0] } ?? [p.cb, p.cr]
            let moved = matcher.align(planes: planes, width: w, height: h, luma: p.luma, toLuma: luma)
            let agree = Self.agreement(luma, moved.luma, width: w, height: h)
            let before: [Float]? = moved.planes.count > 2 ? moved.planes[2] : nil
            for i in 0..<n where moved.valid[i] {
                let now = sure?[i] ?? 1, was = before?[i] ?? 1
                let k = agree[i] * (stability + (1 - stability) * max(was - now, 0))
                cb[i] += k * (moved.planes[0][i] - cb[i])
                cr[i] += k * (moved.planes[1][i] - cr[i])
                if sure != nil { sure![i] = now + k * (was - now) }
            }
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
        previous = (luma, cb, cr, sure, w, h)
        colorized += 1
        var out = frame.with(width: w, height: h, layout: .rgb, planes: [r, g, b])
        out.properties = frame.properties
        try emit(out)
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

    /// The render size for a picture: short side `renderSize` (never above the picture's own,
    /// rounded to 32), long side in proportion, a multiple of 32.
    func renderDimensions(_ w: Int, _ h: Int) -> (Int, Int) {
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
        if !references.isEmpty {
            let c = referenceChroma(small, width: rw, height: rh, matrix: matrix, sourceIndex: sourceIndex)
            low = (c.0, c.1, nil)
        } else if let p = predictor {
            low = try p.chromaAndCertainty(gray: small, width: rw, height: rh, matrix: matrix)
        } else {
            let zero = [Float](repeating: 0, count: w * h)
            return (zero, zero, nil)
        }
        func up(_ v: [Float]) -> [Float] {
            GuidedUpsampler.upsample(v, guide: small, width: rw, height: rh, to: luma, width: w, height: h)
        }
        guard let certainty = low.certainty else { return (up(low.cb), up(low.cr), nil) }
        // without scaling, the certainty still tells the steadiness where the colour became less sure
        guard confidence > 0 else { return (up(low.cb), up(low.cr), up(certainty).map { min(max($0, 0), 1) }) }
        let scale = certainty.map { min($0 / confidence, 1) }
        for i in 0..<scale.count {
            low.cb[i] *= scale[i]
            low.cr[i] *= scale[i]
        }
        return (up(low.cb), up(low.cr), up(scale).map { min(max($0, 0), 1) })
    }

    /// The resampler between two sizes, kept for the next frame of the same sizes.
    func resampler(from w: Int, _ h: Int, to rw: Int, _ rh: Int) -> Resampler {
        if let r = lastResampler, r.srcWidth == w, r.srcHeight == h, r.dstWidth == rw, r.dstHeight == rh { return r }
        let r = Resampler(from: w, h, to: rw, rh)
        lastResampler = r
        return r
    }

    // MARK: reference mode
    /// A keyframe at render size in the frame's matrix, with its transfer table: made once per
    /// keyframe, size and matrix, and kept while frames use it.
    struct PreparedReference {
        let keyframe: Int, width: Int, height: Int, matrix: YCbCrMatrix
        let luma: [Float], cb: [Float], cr: [Float]
        let transfer: ChromaTransfer
    }

    func prepared(forSource index: Int, width w: Int, height h: Int, matrix: YCbCrMatrix) -> PreparedReference {
        // the last keyframe at or before the frame, else the first
        let k = references.lastIndex(where: { $0.frame <= index }) ?? 0
        if let p = preparedReference, p.keyframe == k, p.width == w, p.height == h, p.matrix == matrix { return p }
        let ref = references[k].picture
        let rs = Resampler(from: ref.width, ref.height, to: w, h)
        let planes = ref.planes.map { rs.resample($0) }
        let n = w * h
        var ry = [Float](repeating: 0, count: n), rcb = ry, rcr = ry
        for i in 0..<n { (ry[i], rcb[i], rcr[i]) = matrix.ycbcr(r: planes[0][i], g: planes[1][i], b: planes[2][i]) }
        let p = PreparedReference(
            keyframe: k, width: w, height: h, matrix: matrix, luma: ry, cb: rcb, cr: rcr,
            transfer: ChromaTransfer(referenceLuma: ry, cb: rcb, cr: rcr, width: w, height: h))
        preparedReference = p
        return p
    }

    func referenceChroma(_ gray: [Float], width w: Int, height h: Int, matrix: YCbCrMatrix, sourceIndex: Int) -> (
        [Float], [Float]
    ) {
        let ref = prepared(forSource: sourceIndex, width: w, height: h, matrix: matrix)
        // 1. statistics: chroma of reference pixels by (remapped luminance, local texture)
        var (cb, cr) = ref.transfer.apply(to: gray, width: w, height: h)
        // 2. the same scene: the reference aligned onto the frame, trusted where its luma agrees
        let moved = matcher.align(planes: [ref.cb, ref.cr], width: w, height: h, luma: ref.luma, toLuma: gray)
        let agree = Self.agreement(gray, moved.luma, width: w, height: h)
        for i in 0..<(w * h) where moved.valid[i] {
            cb[i] += agree[i] * (moved.planes[0][i] - cb[i])
            cr[i] += agree[i] * (moved.planes[1][i] - cr[i])
        }
        return (cb, cr)
    }
}

/// Color transfer by luminance and texture statistics (Welsh, Ashikhmin & Mueller 2002): the
/// reference's luminance is remapped to the target's mean and spread; each target pixel takes the
/// mean chroma of reference pixels with similar luminance and local standard deviation (a table of
/// 32 × 8 bins, empty bins filled from the nearest luminance bin that has pixels).
struct ChromaTransfer {
    static let lumaBins = 32, textureBins = 8
    var table: [(cb: Float, cr: Float)]
    let refMean: Float, refStd: Float

    init(referenceLuma y: [Float], cb: [Float], cr: [Float], width w: Int, height h: Int) {
        let sd = Self.localStd(y, width: w, height: h)
        (refMean, refStd) = Self.meanStd(y)
        var sum = [(Double, Double, Double)](repeating: (0, 0, 0), count: Self.lumaBins * Self.textureBins)
        for i in 0..<y.count {
            let b = Self.bin(Self.normalized(y[i], refMean, refStd), sd[i])
            sum[b].0 += Double(cb[i])
            sum[b].1 += Double(cr[i])
            sum[b].2 += 1
        }
        table = [(cb: Float, cr: Float)](repeating: (0, 0), count: sum.count)
        for t in 0..<Self.textureBins {
            for l in 0..<Self.lumaBins {
                // the nearest filled bin: this texture first, then any texture, by luminance distance
                var found: (Float, Float)? = nil
                search: for d in 0..<Self.lumaBins {
                    for ll in [l - d, l + d] where ll >= 0 && ll < Self.lumaBins {
                        let s = sum[t * Self.lumaBins + ll]
                        if s.2 > 0 {
                            found = (Float(s.0 / s.2), Float(s.1 / s.2))
                            break search
                        }
                    }
                    for tt in 0..<Self.textureBins {
                        for ll in [l - d, l + d] where ll >= 0 && ll < Self.lumaBins {
                            let s = sum[tt * Self.lumaBins + ll]
                            if s.2 > 0 {
                                found = (Float(s.0 / s.2), Float(s.1 / s.2))
                                break search
                            }
                        }
                    }
                }
                table[t * Self.lumaBins + l] = found ?? (0, 0)
            }
        }
    }

    /// Luminance as z-score mapped to 0…1 (±2.5 σ).
    static func normalized(_ v: Float, _ mean: Float, _ std: Float) -> Float {
        min(max((v - mean) / max(std, 1e-3) / 5 + 0.5, 0), 1)
    }

    static func bin(_ l: Float, _ sd: Float) -> Int {
        let li = min(Int(l * Float(lumaBins)), lumaBins - 1)
        let ti = min(Int(min(sd / 0.12, 1) * Float(textureBins)), textureBins - 1)
        return ti * lumaBins + li
    }

    static func meanStd(_ v: [Float]) -> (Float, Float) {
        let m = v.reduce(0, +) / Float(max(v.count, 1))
        let s = (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Float(max(v.count, 1))).squareRoot()
        return (m, s)
    }

    /// Standard deviation over each 5×5 neighbourhood.
    static func localStd(_ y: [Float], width w: Int, height h: Int) -> [Float] {
        let m = boxMean(y, width: w, height: h, radius: 2)
        let m2 = boxMean(y.map { $0 * $0 }, width: w, height: h, radius: 2)
        return zip(m, m2).map { max($1 - $0 * $0, 0).squareRoot() }
    }

    func apply(to gray: [Float], width w: Int, height h: Int) -> ([Float], [Float]) {
        let (m, s) = Self.meanStd(gray)
        let sd = Self.localStd(gray, width: w, height: h)
        var cb = [Float](repeating: 0, count: gray.count), cr = cb
        for i in 0..<gray.count {
            let e = table[Self.bin(Self.normalized(gray[i], m, s), sd[i])]
            cb[i] = e.cb
            cr[i] = e.cr
        }
        return (cb, cr)
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
        let mi = boxMean(i, width: w, height: h, radius: radius), mp = boxMean(p, width: w, height: h, radius: radius)
        let mii = boxMean(zip(i, i).map(*), width: w, height: h, radius: radius)
        let mip = boxMean(zip(i, p).map(*), width: w, height: h, radius: radius)
        var a = [Float](repeating: 0, count: w * h), b = a
        for k in 0..<(w * h) {
            let v = mii[k] - mi[k] * mi[k], c = mip[k] - mi[k] * mp[k]
            a[k] = c / (v + eps)
            b[k] = mp[k] - a[k] * mi[k]
        }
        let ma = boxMean(a, width: w, height: h, radius: radius), mb = boxMean(b, width: w, height: h, radius: radius)
        let ta = Tensor(channels: 2, height: h, width: w, data: ma + mb)
        let up = Ops.resizeBilinear(ta, height: fh, width: fw)
        let n = fw * fh
        return [Float](unsafeUninitializedCapacity: n) { out, count in
            for k in 0..<n { out[k] = up.data[k] * full[k] + up.data[n + k] }
            count = n
        }
    }
}
