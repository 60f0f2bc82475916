import Foundation
import FilmCore
import TensorCore
import Networks

/// `upscale`: ×4 super-resolution with the published Real-ESRGAN networks, run on the CPU by our
/// own inference core. Large frames are cut into tiles that overlap by the network's receptive
/// radius (so the seams are invisible: tiled equals untiled), sized from a memory budget. Gray
/// frames are run as RGB and come back as one plane.
public final class UpscaleStage: Stage, OutputAware {
    public static let spec = StageSpec(
        name: "upscale",
        summary:
            "×4 super-resolution (Real-ESRGAN: realesr-general-x4v3 for film, realesr-animevideov3 for animation, realesrgan-x4plus), tiled",
        traits: [.addsDetail],
        options: [
            .model(
                "model", family: "super-resolution", names: SuperResolutionModels.names,
                default: SuperResolutionModels.general,
                "realesr-general-x4v3 (real-world footage), realesr-animevideov3 (animation), realesrgan-x4plus (quality, slow), "
                    + "spanx4_ch48, ClearReality4x, 4xSPANkendata (SPAN), realcugan-se-up4x-conservative, realcugan-se-up2x-conservative "
                    + "(Real-CUGAN), or a path to any ncnn .param (run by the graph runner) or a PyTorch .pth/.safetensors of RRDBNet, "
                    + "SRVGGNetCompact, MSRResNet or SPAN"),
            .number(
                "denoise", 0...1, default: nil, note: "0.5 for realesr-general-x4v3, none for other models",
                "realesr-general-x4v3's denoise strength (Real-ESRGAN's: the x4v3 and wdn-x4v3 weights blended; 0 keeps the most grain and detail)"
            ),
            .integer(
                "tile", 0...8192, default: 0,
                "tile size in input pixels (0: from the memory budget; the whole frame when it fits)"),
            .integer(
                "tile-pad", 0...512, default: nil, note: "the network's receptive radius, at most 32",
                "overlap of tiles in input pixels"),
            .integer("memory", 64...65536, default: 2048, "memory budget for one tile's activations in MiB"),
            .bool(
                "fit-aware", default: false,
                "when a fit follows that would shrink the network's output by more than 1.3x: first resize the frame (Lanczos) so the output lands just above the fit's size; the network, interpolation and grain then work at that size"
            ),
            .bool(
                "back-project", default: true,
                "with fit-aware's resize: the full-size frame's detail that the smaller network input lacked added back (one step of back-projection: the output made the frame's size, the difference enlarged and added)"
            ),
            .precision,
            .modelsDir,
        ])
    /// How much larger than the fit's picture the network's output may be before the frame is made
    /// smaller first, and how far above the fit's picture it is aimed then.
    static let overshootAllowed = 1.3, aimAbove = 1.05
    public static let options = [
        "model":
            "realesr-general-x4v3 (real-world footage, default), realesr-animevideov3 (animation), realesrgan-x4plus (quality, slow), spanx4_ch48, ClearReality4x, 4xSPANkendata (SPAN), realcugan-se-up4x-conservative, realcugan-se-up2x-conservative (Real-CUGAN), or a path to any ncnn .param (run by the graph runner) or a PyTorch .pth/.safetensors of RRDBNet, SRVGGNetCompact, MSRResNet or SPAN",
        "denoise":
            "realesr-general-x4v3's denoise strength 0…1 (Real-ESRGAN's: the x4v3 and wdn-x4v3 weights blended; 0 keeps the most grain and detail, default 0.5)",
        "tile": "tile size in input pixels (default 0: from the memory budget; the whole frame when it fits)",
        "tile-pad": "overlap of tiles in input pixels (default: the network's receptive radius, at most 32)",
        "memory": "memory budget for one tile's activations in MiB (default 2048)",
        "models-dir": "folder with the model files (default: Models/ as installed by `make models`)",
    ]

    public let network: any SuperResolutionNetwork
    public let modelFiles: [String]
    let tile: Int, pad: Int, budget: Int
    let fitAware: Bool, backProject: Bool
    /// The resamplings of `backProject` (output → frame size, and back), made for the first frame.
    private var backProjection: (down: Resampler, up: Resampler)?
    private let workspace: Workspace
    /// The tile the network runs on, in input pixels without its overlap (the whole frame when it fits).
    private var tileWidth = 0, tileHeight = 0
    private var target: (any SizeTarget)?
    /// The frame is first resized to this (nil: the network takes it as it comes).
    private var preScale: Resampler?
    private var sampleAspect = Rational.one

    public init(options: StageOptions) throws {
        let model = options.model("model")
        tile = options.int("tile")
        budget = options.int("memory")
        fitAware = options.bool("fit-aware")
        backProject = options.bool("back-project")
        let precision = try options.precision()
        let denoise: Double? =
            model == SuperResolutionModels.general || options.has("denoise")
            ? options.number("denoise", default: SuperResolutionModels.defaultDenoise) : nil
        do {
            let loaded = try SuperResolutionModels.loadWithFiles(
                model, modelsDir: options.modelsFolder, denoise: denoise)
            (network, modelFiles) = (loaded.value, loaded.files)
        } catch let e as TensorError { throw options.invalid(e.description) }
        pad = options.int("tile-pad", default: min(network.receptiveRadius, 32))
        workspace = Workspace(floats: network.workspaceFloats)
        workspace.precision = precision
    }

    public func aim(at target: any SizeTarget) { self.target = target }

    /// The size the network works at for `input`, and its frames' sample aspect then: the input's
    /// own; or with `fit-aware` and a fit after it, when the network's output would be more than 1.3x
    /// the fitted picture on both axes, the size that puts the output 5 % above the fitted picture on
    /// each axis (a sample aspect that is not square is made square on the way, exactly: the display
    /// aspect, and so the fit's placement, stay as they were).
    func workingSize(for input: StreamInfo) -> (width: Int, height: Int, sampleAspect: Rational) {
        let same = (input.width, input.height, input.sampleAspect)
        guard fitAware, let t = target else { return same }
        let s = Double(network.scale)
        let placed = t.placedSize(displayAspect: input.displayAspect.doubleValue)
        let nx = Double(placed.width) / (s * Double(input.width))
        let ny = Double(placed.height) / (s * Double(input.height))
        guard max(nx, ny) * Self.overshootAllowed < 1 else { return same }
        let w = min(input.width, Int((Double(placed.width) / s * Self.aimAbove).rounded(.up)))
        let h = min(input.height, Int((Double(placed.height) / s * Self.aimAbove).rounded(.up)))
        // w/h × sar = the display aspect the input had.
        let sar = input.displayAspect / Rational(Int64(w), Int64(h))
        return (w, h, sar)
    }

    public func configure(_ input: StreamInfo) throws -> StreamInfo {
        let s = network.scale
        let work = workingSize(for: input)
        sampleAspect = work.sampleAspect
        preScale =
            work.width == input.width && work.height == input.height
            ? nil : Resampler(from: input.width, input.height, to: work.width, work.height)
        (tileWidth, tileHeight) = tiling(width: work.width, height: work.height)
        var out = input
        out.width = work.width * s
        out.height = work.height * s
        out.sampleAspect = work.sampleAspect
        return out
    }

    public func process(_ input: Frame, emit: (Frame) throws -> Void) throws {
        var frame = input
        if let r = preScale {
            guard r.srcWidth == input.width, r.srcHeight == input.height else {
                throw RestoreError.invalidOption(
                    stage: Self.spec.name, message: "frame size \(input.width)x\(input.height) changed mid-stream")
            }
            frame = input.with(width: r.dstWidth, height: r.dstHeight, planes: input.planes.map { r.resample($0) })
            frame.properties.sampleAspect = sampleAspect
        }
        let x = Tensor(planes: frame.promotedToRGB().planes, height: frame.height, width: frame.width)
        // gray: the mean of the network's three planes, made as they are written
        var out = try upscalePlanes(x, gray: frame.layout == .gray)
        let s = network.scale, n = frame.width * s * frame.height * s
        // clipped to 0…1 in place, in row bands on every core
        let bands = 4 * ProcessInfo.processInfo.activeProcessorCount, band = (n + bands - 1) / bands
        out.withMutablePlanePointers { p in
            Parallel.forEach(bands) { k in
                for plane in p {
                    for i in (k * band)..<min((k + 1) * band, n) { plane[i] = min(max(plane[i], 0), 1) }
                }
            }
        }
        if backProject, preScale != nil {
            backProject(&out, width: frame.width * s, height: frame.height * s, to: input)
        }
        try emit(frame.with(width: frame.width * s, height: frame.height * s, planes: out))
    }

    /// One step of iterative back-projection (Irani & Peleg 1991) onto the frame before `fit-aware` made it smaller:
    /// the output made the frame's size (Lanczos, as the report's fidelity measures it), its difference from the
    /// frame enlarged to the output's size and added. The detail the smaller network input lacked comes back from
    /// the frame itself, so the output scaled back matches the frame as the unshrunk chain's does.
    func backProject(_ planes: inout [[Float]], width: Int, height: Int, to source: Frame) {
        let sw = source.width, sh = source.height
        if backProjection.map({ $0.down.srcWidth != width || $0.down.srcHeight != height || $0.down.dstWidth != sw })
            ?? true
        {
            backProjection = (
                Resampler(from: width, height, to: sw, sh), Resampler(from: sw, sh, to: width, height)
            )
        }
        guard let (down, up) = backProjection else { return }
        let src = planes.count == 1 ? [source.luma] : source.promotedToRGB().planes
        for c in planes.indices {
            let small = down.resample(planes[c])
            let d = [Float](unsafeUninitializedCapacity: small.count) { b, n in
                for i in 0..<small.count { b[i] = src[c][i] - small[i] }
                n = small.count
            }
            let u = up.resample(d)
            planes[c].withUnsafeMutableBufferPointer { p in
                Resampler.parallelRows(height) { y in
                    for i in (y * width)..<((y + 1) * width) { p[i] = min(max(p[i] + u[i], 0), 1) }
                }
            }
        }
    }

    /// The tiles a `width`×`height` frame is cut into: `tile`'s squares when it is set; else from the memory
    /// budget, the whole frame when it fits, else bands of whole rows (overlapping above and below only, so
    /// the least is computed twice), of even heights, or squares where even a band of 64 rows would not fit.
    func tiling(width: Int, height: Int) -> (width: Int, height: Int) {
        if tile > 0 { return (tile, tile) }
        let pixels = budget * 1_048_576 / max(network.bytesPerInputPixel, 1)
        if width * height <= pixels { return (width, height) }
        let rows = pixels / width - 2 * pad
        if rows >= 64 {
            let bands = (height + rows - 1) / rows
            return (width, (height + bands - 1) / bands)
        }
        let side = max(32, Int(Double(pixels).squareRoot()) - 2 * pad)
        return (side, side)
    }

    /// The network's output as three planes, or with `gray` one plane their mean: written there by the network
    /// when the frame is one tile, else each tile's centre copied into them.
    func upscalePlanes(_ x: Tensor, gray: Bool = false) throws -> [[Float]] {
        let s = network.scale, tw = tileWidth, th = tileHeight
        if x.width <= tw + 2 * pad && x.height <= th + 2 * pad {
            return gray
                ? [try network.forwardGray(x, workspace: workspace)]
                : try network.forwardPlanes(x, workspace: workspace)
        }
        let ow = x.width * s
        var out = (0..<(gray ? 1 : 3)).map { _ in [Float](repeating: 0, count: ow * x.height * s) }
        for ty in stride(from: 0, to: x.height, by: th) {
            for tx in stride(from: 0, to: x.width, by: tw) {
                let x0 = max(tx - pad, 0), y0 = max(ty - pad, 0)
                let x1 = min(tx + tw + pad, x.width), y1 = min(ty + th + pad, x.height)
                let r = try network.forward(
                    x.region(x: x0, y: y0, width: x1 - x0, height: y1 - y0), workspace: workspace)
                // the tile's own region, without its overlap, in output pixels
                let cw = (min(tx + tw, x.width) - tx) * s, ch = (min(ty + th, x.height) - ty) * s
                let sx = (tx - x0) * s, sy = (ty - y0) * s
                r.data.withUnsafeBufferPointer { src in
                    for c in out.indices {
                        out[c].withUnsafeMutableBufferPointer { dst in
                            for row in 0..<ch {
                                let from = src.baseAddress! + c * r.plane + (sy + row) * r.width + sx
                                let to = dst.baseAddress! + (ty * s + row) * ow + tx * s
                                if !gray { to.update(from: from, count: cw) }
                                for i in 0..<(gray ? cw : 0) {
                                    to[i] = (from[i] + from[r.plane + i] + from[2 * r.plane + i]) / 3
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
