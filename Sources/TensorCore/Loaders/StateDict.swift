import Foundation

/// A named weight: its shape and float values (fp16, bf16 and fp64 storage converted to fp32).
public struct NamedTensor: Sendable, Equatable {
    public var shape: [Int]
    public var data: [Float]
    public init(shape: [Int], data: [Float]) {
        self.shape = shape
        self.data = data
    }
    /// The element count (the loaders check that it matches the data, so it cannot overflow).
    public var count: Int { data.count }
}

/// The weights of a checkpoint by name, in file order.
public struct StateDict: Sendable {
    public var names: [String]
    public var tensors: [String: NamedTensor]

    public init(names: [String] = [], tensors: [String: NamedTensor] = [:]) {
        self.names = names
        self.tensors = tensors
    }

    public subscript(_ key: String) -> NamedTensor? { tensors[key] }

    /// The tensor under `key`, checked against an expected shape; a clear error otherwise.
    public func require(_ key: String, shape: [Int]? = nil) throws -> NamedTensor {
        guard let t = tensors[key] else { throw TensorError.format("checkpoint has no '\(key)'") }
        if let s = shape, s != t.shape { throw TensorError.shape("\(key) is \(t.shape), expected \(s)") }
        return t
    }

    /// Strips a common prefix such as "module." (DataParallel) or "generator.".
    public func removingPrefix(_ p: String) -> StateDict {
        guard !names.isEmpty, names.allSatisfy({ $0.hasPrefix(p) }) else { return self }
        var out = StateDict()
        for n in names {
            let k = String(n.dropFirst(p.count))
            out.names.append(k)
            out.tensors[k] = tensors[n]
        }
        return out
    }

    /// Loads a PyTorch checkpoint (zip or legacy format) or a safetensors file, by its content.
    /// Nothing in the file is executed: pickles go through a restricted unpickler.
    public static func load(_ url: URL) throws -> StateDict {
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw TensorError.format("\(url.lastPathComponent): cannot read (\(error.localizedDescription))")
        }
        do {
            if data.starts(with: [0x50, 0x4B, 0x03, 0x04]) { return try TorchCheckpoint.loadZip(data) }
            if data.first == 0x80 { return try TorchCheckpoint.loadLegacy(data) }
            if data.count >= 10, url.pathExtension == "safetensors" || data[data.startIndex + 8] == UInt8(ascii: "{") {
                return try SafeTensors.load(data)
            }
            throw TensorError.format("not a PyTorch checkpoint or safetensors file (unknown magic)")
        } catch let e as TensorError {
            throw TensorError.format("\(url.lastPathComponent): \(e)")
        }
    }
}

/// Little-endian reads with bounds checks.
struct ByteReader {
    let data: Data
    var pos: Int
    init(_ d: Data, at p: Int = 0) {
        data = d
        pos = d.startIndex + p
    }
    var remaining: Int { data.endIndex - pos }

    mutating func bytes(_ n: Int) throws -> Data {
        guard n >= 0, n <= remaining else {
            throw TensorError.format("truncated: \(n) bytes wanted, \(remaining) left")
        }
        defer { pos += n }
        return data[pos..<(pos + n)]
    }
    mutating func u8() throws -> UInt8 { try bytes(1).first! }
    mutating func le<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let d = try bytes(MemoryLayout<T>.size)
        return d.reduce((T.zero, 0)) { acc, b in (acc.0 | (T(truncatingIfNeeded: b) << acc.1), acc.1 + 8) }.0
    }
}

enum ScalarType: String {
    case f32, f16, bf16, f64
    var size: Int { self == .f64 ? 8 : self == .f32 ? 4 : 2 }

    /// Converts `count` elements starting at element `offset` of raw little-endian storage.
    func floats(_ raw: Data, offset: Int, count: Int) throws -> [Float] {
        guard offset >= 0, count >= 0, let end = try? Checked.mul(Checked.add(offset, count, "tensor"), size, "tensor"),
            end <= raw.count
        else {
            throw TensorError.format(
                "tensor reaches past its storage (\(offset)+\(count) elements of \(raw.count / size))")
        }
        return raw.withUnsafeBytes { p in
            let base = offset * size
            switch self {
            case .f32:
                return (0..<count).map {
                    Float(
                        bitPattern: UInt32(
                            littleEndian: p.loadUnaligned(fromByteOffset: base + $0 * 4, as: UInt32.self)))
                }
            case .f16:
                return (0..<count).map {
                    Float(
                        Float16(
                            bitPattern: UInt16(
                                littleEndian: p.loadUnaligned(fromByteOffset: base + $0 * 2, as: UInt16.self))))
                }
            case .bf16:
                return (0..<count).map {
                    Float(
                        bitPattern: UInt32(
                            UInt16(littleEndian: p.loadUnaligned(fromByteOffset: base + $0 * 2, as: UInt16.self))) << 16
                    )
                }
            case .f64:
                return (0..<count).map {
                    Float(
                        Double(
                            bitPattern: UInt64(
                                littleEndian: p.loadUnaligned(fromByteOffset: base + $0 * 8, as: UInt64.self))))
                }
            }
        }
    }
}
