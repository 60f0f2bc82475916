import Foundation

/// An ncnn model: the text graph (`.param`) and the flat weights (`.bin`), read without running
/// anything. The weighted layer types read are Convolution(DepthWise), Deconvolution, InnerProduct, PReLU and
/// MemoryData; any other
/// weighted layer is rejected, so the byte accounting is exact.
public struct NCNNModel {
    public struct Layer {
        public var type: String
        public var name: String
        public var inputs: [String]
        public var outputs: [String]
        /// Scalar parameters by key (ints and floats as written).
        public var params: [Int: String]
        /// Array parameters by key (the -233xx form).
        public var arrays: [Int: [Float]]
        /// Weights read from the .bin, by role ("weight", "bias", "slope").
        public var blobs: [String: [Float]] = [:]

        /// An integer parameter (a float-form value is truncated); values beyond ±2³⁰ read as
        /// `Int.min`, which every range check of a consumer refuses.
        public func int(_ k: Int, _ d: Int) -> Int {
            guard let s = params[k] else { return d }
            if let i = Int(s) { return i.magnitude < 1 << 30 ? i : Int.min }
            if let f = Float(s), f.isFinite, f.magnitude < Float(1 << 30) { return Int(f) }
            return Int.min
        }
        /// A float parameter (finite: checked when the file is read).
        public func float(_ k: Int, _ d: Float) -> Float { params[k].flatMap { Float($0) } ?? d }
    }

    public var layers: [Layer]

    public static let magic = "7767517"

    public init(param: URL, bin: URL) throws {
        guard let text = try? String(contentsOf: param, encoding: .utf8) else {
            throw TensorError.format("\(param.lastPathComponent): cannot read ncnn param file")
        }
        guard let data = try? Data(contentsOf: bin) else {
            throw TensorError.format("\(bin.lastPathComponent): cannot read ncnn bin file")
        }
        try self.init(paramText: text, bin: data, name: param.deletingPathExtension().lastPathComponent)
    }

    public init(paramText: String, bin: Data, name: String = "model") throws {
        var lines = paramText.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter
        { !$0.isEmpty }
        guard lines.first == Self.magic else {
            throw TensorError.format("\(name).param: not an ncnn param file (magic \(Self.magic) missing)")
        }
        lines.removeFirst()
        guard let counts = lines.first?.split(separator: " ").compactMap({ Int($0) }), counts.count == 2 else {
            throw TensorError.format("\(name).param: missing layer and blob counts")
        }
        lines.removeFirst()
        let layerCount = counts[0]
        guard layerCount > 0, layerCount <= 100_000, layerCount == lines.count else {
            throw TensorError.format("\(name).param: declares \(layerCount) layers but has \(lines.count)")
        }
        var layers: [Layer] = []
        for (i, line) in lines.enumerated() {
            let w = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard w.count >= 4, let nin = Int(w[2]), let nout = Int(w[3]), nin >= 0, nout >= 0, nin < 1000, nout < 1000,
                w.count >= 4 + nin + nout
            else {
                throw TensorError.format("\(name).param: layer line \(i + 1) is malformed")
            }
            var layer = Layer(
                type: w[0], name: w[1], inputs: Array(w[4..<(4 + nin)]),
                outputs: Array(w[(4 + nin)..<(4 + nin + nout)]),
                params: [:], arrays: [:])
            for kv in w[(4 + nin + nout)...] {
                let parts = kv.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, let k = Int(parts[0]), k > -23400, k < 100 else {
                    throw TensorError.format("\(name).param: bad parameter '\(kv)' in \(layer.name)")
                }
                if k <= -23300 {
                    let vals = parts[1].split(separator: ",").map(String.init)
                    guard let n = vals.first.flatMap({ Int($0) }), n == vals.count - 1 else {
                        throw TensorError.format("\(name).param: bad array parameter '\(kv)' in \(layer.name)")
                    }
                    let floats = vals.dropFirst().compactMap { Float($0) }
                    guard floats.count == n, floats.allSatisfy(\.isFinite) else {
                        throw TensorError.format("\(name).param: bad array parameter '\(kv)' in \(layer.name)")
                    }
                    layer.arrays[-k - 23300] = floats
                } else {
                    guard Int(parts[1]) != nil || (Float(parts[1])?.isFinite ?? false) else {
                        throw TensorError.format(
                            "\(name).param: parameter '\(kv)' in \(layer.name) is not a finite number")
                    }
                    layer.params[k] = parts[1]
                }
            }
            layers.append(layer)
        }
        // Weights, in layer order.
        var reader = BinReader(data: bin, name: name)
        for i in layers.indices {
            switch layers[i].type {
            case "Convolution", "ConvolutionDepthWise":
                let out = layers[i].int(0, 0), size = layers[i].int(6, 0)
                guard out > 0, size > 0, size % out == 0, size <= 1 << 28 else {
                    throw TensorError.format("\(name): \(layers[i].name) has an implausible weight size \(size)")
                }
                layers[i].blobs["weight"] = try reader.tagged(count: size, layer: layers[i].name)
                if layers[i].int(5, 0) != 0 {
                    layers[i].blobs["bias"] = try reader.raw(count: out, layer: layers[i].name)
                }
            case "Deconvolution", "InnerProduct":
                let deconv = layers[i].type == "Deconvolution"
                let out = layers[i].int(0, 0), size = layers[i].int(deconv ? 6 : 2, 0),
                    hasBias = layers[i].int(deconv ? 5 : 1, 0) != 0
                guard out > 0, size > 0, size % out == 0, size <= 1 << 28 else {
                    throw TensorError.format("\(name): \(layers[i].name) has an implausible weight size \(size)")
                }
                layers[i].blobs["weight"] = try reader.tagged(count: size, layer: layers[i].name)
                if hasBias { layers[i].blobs["bias"] = try reader.raw(count: out, layer: layers[i].name) }
            case "PReLU":
                let n = layers[i].int(0, 0)
                guard n > 0, n <= 1 << 20 else {
                    throw TensorError.format("\(name): \(layers[i].name) has \(n) slopes")
                }
                layers[i].blobs["slope"] = try reader.raw(count: n, layer: layers[i].name)
            case "MemoryData":
                let w = layers[i].int(0, 0), h = layers[i].int(1, 0), c = layers[i].int(2, 0)
                guard (0...(1 << 16)).contains(w), (0...(1 << 16)).contains(h), (0...(1 << 16)).contains(c),
                    max(w, 1) * max(h, 1) * max(c, 1) <= 1 << 26
                else {
                    throw TensorError.format("\(name): \(layers[i].name) has an implausible size \(w)×\(h)×\(c)")
                }
                layers[i].blobs["data"] = try reader.raw(
                    count: max(w, 1) * max(h, 1) * max(c, 1), layer: layers[i].name)
            case "Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "PixelShuffle", "ReLU", "Sigmoid", "Crop",
                "Padding",
                "Swish", "Clip", "TanH", "UnaryOp", "Pooling", "Slice", "Reshape", "Permute", "Flatten":
                break
            default:
                throw TensorError.format("\(name): unsupported ncnn layer type \(layers[i].type) (\(layers[i].name))")
            }
        }
        guard reader.offset == bin.count else {
            throw TensorError.format(
                "\(name).bin: \(bin.count - reader.offset) bytes left over after the last weight (file does not match its param)"
            )
        }
        self.layers = layers
    }

    /// Reads ncnn's weight storage: a tagged blob (fp16 / fp32) or raw fp32.
    struct BinReader {
        let data: Data
        let name: String
        var offset = 0

        mutating func take(_ n: Int, _ layer: String) throws -> Data {
            guard n >= 0, offset + n <= data.count else {
                throw TensorError.format(
                    "\(name).bin is truncated: \(layer) needs \(n) bytes at offset \(offset), file has \(data.count)")
            }
            defer { offset += n }
            return data.subdata(in: (data.startIndex + offset)..<(data.startIndex + offset + n))
        }

        mutating func raw(count: Int, layer: String) throws -> [Float] {
            let d = try take(count * 4, layer)
            return d.withUnsafeBytes { p in
                (0..<count).map {
                    Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
                }
            }
        }

        mutating func tagged(count: Int, layer: String) throws -> [Float] {
            let tag = try take(4, layer).withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
            switch tag {
            case 0x0130_6B47:  // fp16, padded to 4 bytes
                let bytes = (count * 2 + 3) & ~3
                let d = try take(bytes, layer)
                return d.withUnsafeBytes { p in
                    (0..<count).map {
                        Float(
                            Float16(
                                bitPattern: UInt16(
                                    littleEndian: p.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self))))
                    }
                }
            case 0:
                return try raw(count: count, layer: layer)
            default:
                throw TensorError.format(
                    "\(name).bin: \(layer) uses an unsupported (quantized) storage tag 0x\(String(tag, radix: 16))")
            }
        }
    }
}

extension NCNNModel {
    /// Weight-space interpolation of two models of one graph (Real-ESRGAN's "deep network
    /// interpolation"): every weight is `weight·self + (1−weight)·other`. The graphs must match
    /// layer for layer (types, names, parameters, blob sizes).
    public func blended(with other: NCNNModel, weight s: Float) throws -> NCNNModel {
        guard layers.count == other.layers.count else {
            throw TensorError.shape("cannot blend models of \(layers.count) and \(other.layers.count) layers")
        }
        var out = self
        for i in layers.indices {
            let a = layers[i], b = other.layers[i]
            guard a.type == b.type, a.params == b.params, a.inputs.count == b.inputs.count,
                Set(a.blobs.keys) == Set(b.blobs.keys)
            else {
                throw TensorError.shape("cannot blend: layer \(i) differs (\(a.type) \(a.name) / \(b.type) \(b.name))")
            }
            for (role, wa) in a.blobs {
                let wb = b.blobs[role]!
                guard wa.count == wb.count else {
                    throw TensorError.shape("cannot blend: \(a.name).\(role) has \(wa.count) and \(wb.count) values")
                }
                out.layers[i].blobs[role] = zip(wa, wb).map { s * $0 + (1 - s) * $1 }
            }
        }
        return out
    }
}
