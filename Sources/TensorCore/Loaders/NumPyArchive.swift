import Foundation

/// NumPy's `.npz` (a zip of `.npy` arrays, stored, as `np.savez` writes it): little-endian float64
/// or float32 arrays in C order, read as Double. Nothing in the file is executed (object arrays
/// are refused).
public enum NumPyArchive {
    public struct Array: Sendable {
        public let shape: [Int]
        public let values: [Double]
    }

    /// Every array of the archive, by name (without `.npy`).
    public static func load(_ url: URL) throws -> [String: Array] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TensorError.format("\(url.lastPathComponent): cannot read (\(error.localizedDescription))")
        }
        let zip = try ZipReader(data)
        var out: [String: Array] = [:]
        for name in zip.names where name.hasSuffix(".npy") {
            do { out[String(name.dropLast(4))] = try array(try zip.entry(name)) } catch let e as TensorError {
                throw TensorError.format("\(url.lastPathComponent): \(name): \(e)")
            }
        }
        return out
    }

    /// One `.npy`: magic, version, header length, a Python-literal header, then the data.
    static func array(_ d: Data) throws -> Array {
        var r = ByteReader(d)
        guard try r.bytes(6).elementsEqual([0x93] + Swift.Array("NUMPY".utf8)) else {
            throw TensorError.format("not an .npy array")
        }
        let major = try r.u8()
        _ = try r.u8()
        let headerLength = major == 1 ? Int(try r.le(UInt16.self)) : Int(try r.le(UInt32.self))
        guard let header = String(data: try r.bytes(headerLength), encoding: .ascii) else {
            throw TensorError.format("bad .npy header")
        }
        let descr = try field("descr", header)
        let fortran = try field("fortran_order", header) == "True"
        let shape = try field("shape", header).trimmingCharacters(in: CharacterSet(charactersIn: "()"))
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .map { s -> Int in
                guard let n = Int(s), n >= 0, n <= 1 << 28 else { throw TensorError.format("bad .npy shape \(s)") }
                return n
            }
        let count = try shape.reduce(1) { try Checked.mul($0, $1, "npy") }
        let raw = try r.bytes(r.remaining)
        let type: ScalarType
        switch descr.trimmingCharacters(in: CharacterSet(charactersIn: "'")) {
        case "<f8": type = .f64
        case "<f4": type = .f32
        default: throw TensorError.format(".npy type \(descr) is not supported (float64 or float32, little-endian)")
        }
        guard raw.count == (try Checked.mul(count, type.size, "npy")) else {
            throw TensorError.format(".npy holds \(raw.count) bytes for shape \(shape) of \(descr)")
        }
        let values: [Double] = raw.withUnsafeBytes { p in
            (0..<count).map { i in
                type == .f64
                    ? Double(bitPattern: p.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self).littleEndian)
                    : Double(Float(bitPattern: p.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian))
            }
        }
        return Array(shape: shape, values: fortran ? cOrder(values, shape: shape) : values)
    }

    /// Fortran-order values (first index fastest) rearranged into C order (last index fastest).
    static func cOrder(_ v: [Double], shape: [Int]) -> [Double] {
        guard shape.count > 1 else { return v }
        var fortranStrides = [Int](repeating: 1, count: shape.count)
        for k in 1..<shape.count { fortranStrides[k] = fortranStrides[k - 1] * shape[k - 1] }
        var out = [Double](repeating: 0, count: v.count)
        var index = [Int](repeating: 0, count: shape.count)
        for c in 0..<v.count {
            out[c] = v[zip(index, fortranStrides).reduce(0) { $0 + $1.0 * $1.1 }]
            var k = shape.count - 1
            while k >= 0 {
                index[k] += 1
                if index[k] < shape[k] { break }
                index[k] = 0
                k -= 1
            }
        }
        return out
    }

    /// The value of `'key': value` in the header dictionary (a tuple kept whole).
    static func field(_ key: String, _ header: String) throws -> String {
        guard let k = header.range(of: "'\(key)':") else { throw TensorError.format(".npy header lacks \(key)") }
        var rest = header[k.upperBound...].drop { $0 == " " }
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else { throw TensorError.format("bad .npy header") }
            return String(rest[...close])
        }
        rest = rest.prefix { $0 != "," && $0 != "}" }
        return rest.trimmingCharacters(in: .whitespaces)
    }
}
