import COneDNN
import Foundation
import Locking

/// The arithmetic the networks' convolutions use.
/// - fp32: our own core (im2col/Winograd on OpenBLAS and the SIMD kernels), the reference.
/// - bf16: oneDNN's primitives with bf16 weights and activations and fp32 accumulation; a chain of layers keeps
///   its activations in oneDNN's own (blocked, bf16) layouts from layer to layer. Fast on CPUs with AVX512-BF16
///   or AMX. Debian's oneDNN 2.6 has bf16 kernels only from AVX-512 on (emulating the bf16 instructions on
///   AVX-512 cores without them); on an AVX2-only CPU it refuses bf16 (`OneDNN.bf16Available` is false).
/// - bf16-emulated: bf16's numbers on any CPU — oneDNN's fp32 kernels on the bf16-rounded weights, each layer's
///   input rounded to bf16 as the native path stores it. For checking what bf16 does to a picture where the
///   CPU cannot run it; no faster than fp32.
public enum Precision: String, Sendable, CaseIterable, CustomStringConvertible {
    case fp32, bf16
    case bf16Emulated = "bf16-emulated"
    public var description: String { rawValue }
    /// The code the C bridge takes.
    var code: Int32 {
        switch self {
        case .fp32: return 0
        case .bf16: return 1
        case .bf16Emulated: return 2
        }
    }
}

/// What oneDNN (Debian's libdnnl, through the C target COneDNN) is and can do on this CPU.
public enum OneDNN {
    /// The library's version.
    public static var version: String { String(cString: fr_dnnl_version()) }

    private static let capped: Void = {
        Kernels.prepare()
        // FILMRESTORE_ISA caps oneDNN as it caps our kernels (avx2: no AVX-512, no bf16 or AMX units)
        if let want = (try? Kernels.requested()) ?? nil, want != .avx512 {
            _ = fr_dnnl_limit_isa(Int32(want.rawValue))
        }
    }()

    /// The instruction set oneDNN uses here (e.g. "Intel AVX2", "Intel AMX with bfloat16 ...").
    public static var isa: String {
        _ = capped
        return String(cString: fr_dnnl_isa())
    }

    /// Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX-BF16) within the cap in force.
    public static var nativeBF16: Bool {
        _ = capped
        return fr_dnnl_native_bf16() != 0
    }

    static func prepare() { _ = capped }

    /// Whether oneDNN runs bf16 convolutions on this CPU (within the cap in force): probed once with a small layer.
    public static let bf16Available: Bool = {
        guard
            let probe = try? Conv2d(
                name: "probe", inChannels: 16, outChannels: 16, kernel: 3,
                weight: [Float](repeating: 0.01, count: 2304),
                bias: nil)
        else { return false }
        return (try? DNNLChain([probe], height: 8, width: 8, precision: .bf16)) != nil
    }()

    /// The kernels (impl_info) of the chains built since the last reset, with their layer counts: for the
    /// benchmarks to name what oneDNN chose.
    public static var kernelTally: [String: Int] { tally.current }
    public static func resetKernelTally() { tally.withLock { $0 = [:] } }
    static func record(_ kernels: [String]) { tally.withLock { for k in kernels { $0[k, default: 0] += 1 } } }
    private static let tally = Locked<[String: Int]>([:])

    /// Rounds each value to the nearest bf16 (ties to even), as the bf16 path stores activations.
    public static func roundToBF16(_ values: inout [Float]) {
        values.withUnsafeMutableBufferPointer { fr_round_bf16($0.baseAddress, $0.count) }
    }
}

/// A chain of convolutions built as oneDNN primitives for one input size: fp32 planar in and out.
public final class DNNLChain: @unchecked Sendable {
    /// A C error buffer's text (up to its NUL).
    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // @unchecked: the handle is immutable after creation and the C side serializes runs on it.
    private let handle: OpaquePointer
    public let inChannels: Int, outChannels: Int
    public let inputHeight: Int, inputWidth: Int
    public let outputHeight: Int, outputWidth: Int
    public let precision: Precision

    /// The convolutions in order (each one's input the previous one's output), their activations fused.
    public init(_ convs: [Conv2d], height: Int, width: Int, precision: Precision) throws {
        guard let first = convs.first, let last = convs.last else {
            throw TensorError.shape("a oneDNN chain needs at least one convolution")
        }
        OneDNN.prepare()
        var err = [CChar](repeating: 0, count: 256)
        // each layer's activation: its kind for the bridge and its slopes
        let activations: [(kind: Int32, slopes: [Float])] = convs.map {
            switch $0.activation {
            case .none: return (0, [0])
            case let .leakyReLU(s): return (1, [s])
            case let .prelu(s): return (2, s)
            }
        }
        // weights, biases and slopes pinned (n each, in that order) while the chain copies them
        let n = convs.count
        let made: OpaquePointer? = withPinned(convs.map(\.weight) + convs.map(\.bias) + activations.map(\.slopes)) {
            p in
            let layers = convs.enumerated().map { i, c in
                fr_dnnl_layer(
                    ic: Int32(c.inChannels), oc: Int32(c.outChannels), kernel: Int32(c.kernel), stride: Int32(c.stride),
                    padding: Int32(c.padding), weight: p[i], bias: p[n + i], activation: activations[i].kind,
                    slopes: p[2 * n + i], nslopes: Int32(activations[i].slopes.count))
            }
            return fr_dnnl_chain_create(layers, Int32(n), height, width, precision.code, &err, err.count)
        }
        guard let made else {
            throw TensorError.format(
                "\(first.name)…\(last.name) on oneDNN (\(precision)): \(Self.text(err))")
        }
        handle = made
        inChannels = first.inChannels
        outChannels = last.outChannels
        inputHeight = height
        inputWidth = width
        var oh = 0, ow = 0
        fr_dnnl_chain_output_size(made, &oh, &ow)
        outputHeight = oh
        outputWidth = ow
        self.precision = precision
    }

    deinit { fr_dnnl_chain_destroy(handle) }

    /// The implementation oneDNN chose for each layer (its impl_info, e.g. "brgconv:avx512_core_amx_bf16").
    public var implementations: [String] {
        (0..<Int(fr_dnnl_chain_count(handle))).map { String(cString: fr_dnnl_chain_impl(handle, Int32($0))) }
    }

    /// Runs the chain on raw planar memory (inChannels planes of the input size in, outChannels planes out).
    public func run(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>) throws {
        var err = [CChar](repeating: 0, count: 256)
        guard fr_dnnl_chain_run(handle, input, output, Int32(GEMM.workers), &err, err.count) == 0 else {
            throw TensorError.format("oneDNN (\(precision)): \(Self.text(err))")
        }
    }

    public func run(_ x: Tensor) throws -> Tensor {
        guard x.channels == inChannels, x.height == inputHeight, x.width == inputWidth else {
            throw TensorError.shape(
                "oneDNN chain built for \(inChannels)×\(inputHeight)×\(inputWidth), got \(x.channels)×\(x.height)×\(x.width)"
            )
        }
        var out = Tensor(channels: outChannels, height: outputHeight, width: outputWidth)
        try x.data.withUnsafeBufferPointer { s in
            try out.data.withUnsafeMutableBufferPointer { d in try run(s.baseAddress!, into: d.baseAddress!) }
        }
        return out
    }
}

/// The chains one network (or layer) has built, by input size and precision: made on first use, kept for the
/// next frame (a handful of tile sizes per film), dropped together when too many sizes have been seen.
public final class DNNLChainCache: Sendable {
    private struct Key: Hashable {
        let height: Int, width: Int
        let precision: Precision
    }
    private let chains = Locked<[Key: DNNLChain]>([:])
    private let limit: Int

    public init(limit: Int = 12) { self.limit = limit }

    public func chain(_ convs: [Conv2d], height: Int, width: Int, precision: Precision) throws -> DNNLChain {
        let key = Key(height: height, width: width, precision: precision)
        return try chains.withLock { chains in
            if let c = chains[key] { return c }
            let c = try DNNLChain(convs, height: height, width: width, precision: precision)
            OneDNN.record(c.implementations)
            if chains.count >= limit { chains.removeAll() }
            chains[key] = c
            return c
        }
    }
}

/// Pins each array's storage for the duration of `body` (pointers to the first element of each).
private func withPinned<R>(_ arrays: [[Float]], _ body: ([UnsafePointer<Float>]) -> R) -> R {
    var pointers: [UnsafePointer<Float>] = []
    pointers.reserveCapacity(arrays.count)
    func go(_ i: Int) -> R {
        if i == arrays.count { return body(pointers) }
        return arrays[i].withUnsafeBufferPointer {
            pointers.append($0.baseAddress!)
            return go(i + 1)
        }
    }
    return go(0)
}
