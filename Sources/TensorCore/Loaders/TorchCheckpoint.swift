import Foundation

/// PyTorch checkpoints, read without Python and without executing anything.
///
/// - zip format (`torch.save` since 1.6): `<prefix>/data.pkl` holds the pickled object, each
///   storage is `<prefix>/data/<key>` (stored, not compressed);
/// - legacy format: a pickled magic number, protocol and system info, the pickled object, the
///   pickled list of storage keys, then each storage as an int64 element count and its bytes.
///
/// State dicts may be wrapped (`{"params_ema": …}`, `{"params": …}`, `{"model": …}`,
/// `{"state_dict": …}`); the wrapper is taken off.
enum TorchCheckpoint {
    /// 0x1950a86a20f9469cfc6c, little-endian, as pickled (LONG1 of 10 bytes).
    static let legacyMagic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    static func loadZip(_ data: Data) throws -> StateDict {
        let zip = try ZipReader(data)
        guard let pkl = zip.names.first(where: { $0.hasSuffix("/data.pkl") || $0 == "data.pkl" }) else {
            throw TensorError.format("zip checkpoint without data.pkl")
        }
        let prefix = String(pkl.dropLast("data.pkl".count))
        let (root, _) = try Pickle.load(try zip.entry(pkl))
        return try stateDict(root) { key in try zip.entry(prefix + "data/" + key) }
    }

    static func loadLegacy(_ data: Data) throws -> StateDict {
        var offset = 0
        let (magic, o1) = try Pickle.load(data, at: offset)
        offset = o1
        guard case let .bigInt(m) = magic, Array(m) == legacyMagic else {
            throw TensorError.format("not a PyTorch checkpoint (bad magic number)")
        }
        let (_, o2) = try Pickle.load(data, at: offset)
        offset = o2  // protocol version
        let (_, o3) = try Pickle.load(data, at: offset)
        offset = o3  // sys info
        let (root, o4) = try Pickle.load(data, at: offset)
        offset = o4
        let (keysValue, o5) = try Pickle.load(data, at: offset)
        offset = o5
        guard case let .list(keys) = keysValue else {
            throw TensorError.format("legacy checkpoint: storage key list missing")
        }
        var storages: [String: Data] = [:]
        var r = ByteReader(data, at: offset)
        let sizes = storageSizes(root)
        for k in keys.items {
            guard case let .string(key) = k else { throw TensorError.format("legacy checkpoint: bad storage key") }
            let count = try r.le(Int64.self)
            guard count >= 0, count < Int64(data.count) else {
                throw TensorError.format("legacy checkpoint: absurd storage size \(count)")
            }
            let elem = sizes[key] ?? 4
            guard Int(count) <= r.remaining / elem else {
                throw TensorError.format("legacy checkpoint is truncated (storage \(key))")
            }
            storages[key] = try r.bytes(Int(count) * elem)
        }
        return try stateDict(root) { key in
            guard let d = storages[key] else { throw TensorError.format("legacy checkpoint: storage \(key) missing") }
            return d
        }
    }

    static func scalarType(_ storageType: String) throws -> ScalarType {
        switch storageType {
        case "torch.FloatStorage", "torch.float32": return .f32
        case "torch.HalfStorage", "torch.float16": return .f16
        case "torch.BFloat16Storage", "torch.bfloat16": return .bf16
        case "torch.DoubleStorage", "torch.float64": return .f64
        default: throw TensorError.format("tensors of \(storageType) are not weights this loader reads")
        }
    }

    /// Element size of every storage in the object (for the legacy layout).
    static func storageSizes(_ v: Pickle.Value) -> [String: Int] {
        var out: [String: Int] = [:]
        Pickle.visit(v) { v in
            if case let .tensor(type, key, _, _, _) = v { out[key] = (try? scalarType(type).size) ?? 8 }
        }
        return out
    }

    static func stateDict(_ root: Pickle.Value, storage: (String) throws -> Data) throws -> StateDict {
        guard case var .dict(d) = root else { throw TensorError.format("checkpoint is not a dictionary") }
        for wrapper in ["params_ema", "params", "model", "state_dict", "net", "generator"] {
            if case let .dict(inner)? = d.values[wrapper] {
                d = inner
                break
            }
        }
        var out = StateDict()
        var cache: [String: Data] = [:]
        for name in d.keys {
            guard case let .tensor(type, key, offset, shape, stride)? = d.values[name] else { continue }
            guard let st = try? scalarType(type) else { continue }  // integer buffers (e.g. num_batches_tracked)
            let raw = try cache[key] ?? storage(key)
            cache[key] = raw
            guard shape.count == stride.count else {
                throw TensorError.format("\(name): \(shape.count) sizes but \(stride.count) strides")
            }
            let count = try Checked.count(shape, name)
            guard count <= 1 << 31 else { throw TensorError.format("\(name): absurd size \(shape)") }
            var values: [Float]
            var contiguous = true, expected = 1
            for i in shape.indices.reversed() where shape[i] != 1 {
                if stride[i] != expected { contiguous = false }
                expected = try Checked.mul(expected, shape[i], name)
            }
            if contiguous || count <= 1 {
                values = try st.floats(raw, offset: offset, count: count)
            } else {
                // A strided view: gather element by element from the span it covers.
                var span = 1
                for (n, s) in zip(shape, stride) where n > 0 {
                    span = try Checked.add(span, Checked.mul(n - 1, s, name), name)
                }
                guard count == 0 || span <= raw.count / st.size else {
                    throw TensorError.format("\(name): its strides reach past its storage")
                }
                let all = count == 0 ? [] : try st.floats(raw, offset: offset, count: span)
                values = [Float](repeating: 0, count: count)
                for i in 0..<count {
                    var rem = i, src = 0
                    for dim in shape.indices.reversed() {
                        src += (rem % shape[dim]) * stride[dim]
                        rem /= shape[dim]
                    }
                    values[i] = all[src]
                }
            }
            out.names.append(name)
            out.tensors[name] = NamedTensor(shape: shape, data: values)
        }
        if out.names.isEmpty { throw TensorError.format("checkpoint holds no float tensors") }
        return out
    }
}

/// The entries of a zip archive that are stored (not compressed), as PyTorch writes them.
struct ZipReader {
    let data: Data
    private(set) var entries: [String: (offset: Int, size: Int, method: UInt16)] = [:]
    private(set) var names: [String] = []

    init(_ data: Data) throws {
        self.data = data
        // End of central directory: the last 22 + up to 65535 bytes.
        let tail = max(0, data.count - 22 - 65535)
        var eocd = -1
        var i = data.count - 22
        while i >= tail {
            if data[data.startIndex + i] == 0x50 && data[data.startIndex + i + 1] == 0x4B
                && data[data.startIndex + i + 2] == 5 && data[data.startIndex + i + 3] == 6
            {
                eocd = i
                break
            }
            i -= 1
        }
        guard eocd >= 0 else { throw TensorError.format("zip: end of central directory not found (truncated file?)") }
        var r = ByteReader(data, at: eocd + 10)
        let count = Int(try r.le(UInt16.self))
        _ = try r.le(UInt32.self)
        let cdOffset = Int(try r.le(UInt32.self))
        guard cdOffset != 0xFFFF_FFFF else { throw TensorError.format("zip64 archives are not supported") }
        var c = ByteReader(data, at: cdOffset)
        for _ in 0..<count {
            guard try c.le(UInt32.self) == 0x0201_4B50 else {
                throw TensorError.format("zip: bad central directory entry")
            }
            _ = try c.bytes(6)
            let method = try c.le(UInt16.self)
            _ = try c.bytes(8)
            let compressed = Int(try c.le(UInt32.self))
            let size = Int(try c.le(UInt32.self))
            let nameLen = Int(try c.le(UInt16.self)), extraLen = Int(try c.le(UInt16.self)),
                commentLen = Int(try c.le(UInt16.self))
            _ = try c.bytes(8)
            let local = Int(try c.le(UInt32.self))
            guard let name = String(data: try c.bytes(nameLen), encoding: .utf8) else {
                throw TensorError.format("zip: bad entry name")
            }
            _ = try c.bytes(extraLen + commentLen)
            var l = ByteReader(data, at: local)
            guard try l.le(UInt32.self) == 0x0403_4B50 else {
                throw TensorError.format("zip: bad local header for \(name)")
            }
            _ = try l.bytes(22)
            let ln = Int(try l.le(UInt16.self)), le = Int(try l.le(UInt16.self))
            let start = local + 30 + ln + le
            // A stored entry's two sizes agree; the one used is the one checked against the file.
            if method == 0 && size != compressed {
                throw TensorError.format("zip: \(name) is stored with two different sizes (\(size), \(compressed))")
            }
            guard start >= 0, compressed >= 0, start + compressed <= data.count else {
                throw TensorError.format("zip: \(name) reaches past the end of the file (truncated?)")
            }
            entries[name] = (start, compressed, method)
            names.append(name)
        }
    }

    func entry(_ name: String) throws -> Data {
        guard let e = entries[name] else { throw TensorError.format("zip: no entry \(name)") }
        guard e.method == 0 else {
            throw TensorError.format("zip: \(name) is compressed; PyTorch checkpoints store entries uncompressed")
        }
        return data[(data.startIndex + e.offset)..<(data.startIndex + e.offset + e.size)]
    }
}

/// safetensors: an 8-byte little-endian header length, a JSON header
/// `{name: {dtype, shape, data_offsets: [begin, end]}}`, then the data.
enum SafeTensors {
    static func load(_ data: Data) throws -> StateDict {
        var r = ByteReader(data)
        let n = try r.le(UInt64.self)
        guard n > 1, n <= 100_000_000, Int(n) <= r.remaining else {
            throw TensorError.format("safetensors: header length \(n) does not fit the file")
        }
        let header = try r.bytes(Int(n))
        guard let json = try? JSONSerialization.jsonObject(with: header) as? [String: Any] else {
            throw TensorError.format("safetensors: header is not JSON")
        }
        let base = 8 + Int(n), body = data.count - base
        var out = StateDict()
        let ordered = json.compactMap { k, v -> (String, [String: Any], Int)? in
            guard k != "__metadata__", let d = v as? [String: Any], let o = d["data_offsets"] as? [Int], o.count == 2
            else { return nil }
            return (k, d, o[0])
        }.sorted { $0.2 < $1.2 }
        for (name, d, _) in ordered {
            guard let dtype = d["dtype"] as? String, let shape = d["shape"] as? [Int],
                let o = d["data_offsets"] as? [Int]
            else {
                throw TensorError.format("safetensors: malformed entry \(name)")
            }
            let st: ScalarType
            switch dtype {
            case "F32": st = .f32
            case "F16": st = .f16
            case "BF16": st = .bf16
            case "F64": st = .f64
            default: continue
            }
            guard shape.allSatisfy({ $0 >= 0 && $0 < 1 << 31 }), o[0] >= 0, o[1] >= o[0], o[1] <= body else {
                throw TensorError.format("safetensors: \(name) lies outside the file")
            }
            let count = try Checked.count(shape, "safetensors: \(name)")
            guard count <= (o[1] - o[0]) / st.size, count * st.size == o[1] - o[0] else {
                throw TensorError.format("safetensors: \(name) has \(o[1] - o[0]) bytes for shape \(shape)")
            }
            let raw = data[(data.startIndex + base + o[0])..<(data.startIndex + base + o[1])]
            out.names.append(name)
            out.tensors[name] = NamedTensor(shape: shape, data: try st.floats(Data(raw), offset: 0, count: count))
        }
        if out.names.isEmpty { throw TensorError.format("safetensors: no float tensors") }
        return out
    }
}
