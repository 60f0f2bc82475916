import XCTest
import Foundation
import TensorCore
import Networks
import TestSupport

/// Parity of the DeOldify generators with the PyTorch definition in Tools/make_deoldify_reference.py.
/// The weights are not stored: every tensor is filled from its key by the same counter-based
/// generator as the script's (FNV-1a of the key seeds SplitMix64), so the fixture is the key list,
/// one input and the reference output.
final class DeOldifyTests: XCTestCase {
    static var fixtures: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
            "Fixtures/deoldify")
    }

    struct Case {
        let height: Int, width: Int
        let keys: [(String, [Int])]
    }

    static func loadCase(_ kind: String) throws -> Case {
        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("README.json")))
            as! [String: Any]
        let c = (json["cases"] as! [String: Any])[kind] as! [String: Any]
        let keys = (c["keys"] as! [[Any]]).map { ($0[0] as! String, ($0[1] as! [NSNumber]).map(\.intValue)) }
        return Case(height: c["height"] as! Int, width: c["width"] as! Int, keys: keys)
    }

    static func fnv1a(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    /// The script's `uniform(key, n)`, each value mapped by `f` (in Double, stored as Float).
    static func uniform(_ key: String, _ n: Int, _ f: (Double) -> Double) -> [Float] {
        let seed = fnv1a(key)
        return [Float](unsafeUninitializedCapacity: n) { buf, count in
            for i in 0..<n {
                var z = seed &+ UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                z = z ^ (z >> 31)
                buf[i] = Float(f(Double(z >> 40) / Double(1 << 24)))
            }
            count = n
        }
    }

    /// The script's `fill`: the deterministic state dict for these keys and shapes.
    static func stateDict(_ keys: [(String, [Int])]) -> StateDict {
        var sd = StateDict()
        for (k, shape) in keys where !k.hasSuffix("num_batches_tracked") && !k.hasSuffix("weight_u") {
            let n = shape.reduce(1, *)
            var v: [Float]
            if k.hasSuffix("running_var") {
                v = uniform(k, n) { 0.5 + $0 }
            } else if k.hasSuffix("running_mean") {
                v = uniform(k, n) { ($0 - 0.5) * 0.2 }
            } else if k.hasSuffix("gamma") {
                v = uniform(k, n) { 0.2 + 0.4 * $0 }
            } else if k.hasSuffix("weight_g") {
                v = uniform(k, n) { 0.5 + $0 }
            } else if k.hasSuffix("weight_v") && shape.count == 1 {
                let raw = uniform(k, n) { $0 }  // exact in Float: 24-bit values
                let centred = raw.map { Double($0) - 0.5 }
                let norm = centred.reduce(0) { $0 + $1 * $1 }.squareRoot()
                v = centred.map { Float($0 / norm) }
            } else if shape.count == 1 && k.hasSuffix("weight") {
                v = uniform(k, n) { 0.1 * (0.5 + $0) }
            } else if k.hasSuffix("bias") {
                v = uniform(k, n) { ($0 - 0.5) * 0.2 }
            } else {
                let a = 2 * 3.0.squareRoot() * (1 / Double(n / shape[0])).squareRoot()
                v = uniform(k, n) { ($0 - 0.5) * a }
            }
            sd.names.append(k)
            sd.tensors[k] = NamedTensor(shape: shape, data: v)
        }
        for (k, shape) in keys where k.hasSuffix("weight_u") {
            let base = String(k.dropLast("weight_u".count))
            let w = sd.tensors[base + "weight_orig"]!.data, v = sd.tensors[base + "weight_v"]!.data
            let rows = shape[0], cols = w.count / rows
            var u = [Double](repeating: 0, count: rows)
            w.withUnsafeBufferPointer { wp in
                for r in 0..<rows {
                    var s = 0.0
                    for j in 0..<cols { s += Double(wp[r * cols + j]) * Double(v[j]) }
                    u[r] = s
                }
            }
            let norm = u.reduce(0) { $0 + $1 * $1 }.squareRoot()
            sd.names.append(k)
            sd.tensors[k] = NamedTensor(shape: shape, data: u.map { Float($0 / norm) })
        }
        return sd
    }

    static func floats(_ name: String) throws -> [Float] { try readFloat32(fixtures.appendingPathComponent(name)) }

    func parity(_ kind: String, backbone: String) throws {
        let c = try Self.loadCase(kind)
        let net = try DeOldifyGenerator(stateDict: Self.stateDict(c.keys))
        XCTAssertEqual(net.kind.rawValue, kind)
        XCTAssertEqual(net.backbone, backbone)
        let input = Tensor(channels: 3, height: c.height, width: c.width, data: try Self.floats("\(kind).input.f32"))
        let expected = try Self.floats("\(kind).output.f32")
        let t0 = Date()
        let out = try net.forward(input, workspace: Workspace())
        XCTAssertEqual(out.shape, [3, c.height, c.width])
        let err = (try maxAbsDifference(out.data, expected))
        let spread = expected.map { abs($0) }.max()!
        print(
            String(
                format: "DeOldify %@ (%@, %d parameters) %dx%d: max abs error %.2e (output within ±%.2f), %.2f s",
                kind, net.backbone, net.parameterCount, c.width, c.height, err, spread, Date().timeIntervalSince(t0)))
        XCTAssertLessThanOrEqual(err, 2e-3)
    }

    func test_artistic_deepResNet34_matchesPyTorchDefinition() throws { try parity("deep", backbone: "ResNet-34") }

    func test_stable_wideResNet101_matchesPyTorchDefinition() throws { try parity("wide", backbone: "ResNet-101") }

    func test_checkpointWithMissingOrMisshapenKeys_isRejectedNamingTheKey() throws {
        let c = try Self.loadCase("deep")
        var sd = Self.stateDict(c.keys)
        let key = "layers.5.conv2.3.query.weight_orig"
        sd.tensors[key] = nil
        XCTAssertThrowsError(try DeOldifyGenerator(stateDict: sd)) { XCTAssertTrue("\($0)".contains(key), "\($0)") }
        sd.tensors[key] = NamedTensor(shape: [96, 760, 1], data: [Float](repeating: 0, count: 96 * 760))
        XCTAssertThrowsError(try DeOldifyGenerator(stateDict: sd)) {
            XCTAssertTrue("\($0)".contains(key) && "\($0)".contains("[96, 760, 1]"), "\($0)")
        }
        // not a DeOldify checkpoint at all
        let other = StateDict(
            names: ["conv_first.weight"],
            tensors: ["conv_first.weight": NamedTensor(shape: [64, 3, 3, 3], data: [Float](repeating: 0, count: 1728))])
        XCTAssertThrowsError(try DeOldifyGenerator(stateDict: other)) {
            XCTAssertTrue("\($0)".contains("not a DeOldify generator"), "\($0)")
        }
    }

    func test_unetOps_matchTheirDefinitions() throws {
        // max pool 3/2/1 on a ramp; blur up-left; nearest resize 3 → 4 (PyTorch: floor(i·3/4))
        let x = Tensor(channels: 1, height: 4, width: 4, data: (0..<16).map(Float.init))
        XCTAssertEqual(Ops.maxPool(x, kernel: 3, stride: 2, padding: 1).data, [5, 7, 13, 15])
        XCTAssertEqual(Ops.blurUpLeft(x).data[0], 0)
        XCTAssertEqual(Ops.blurUpLeft(x).data[5], (0 + 1 + 4 + 5) / 4)
        XCTAssertEqual(Ops.blurUpLeft(x).data[1], (0 + 1 + 0 + 1) / 4)
        let r = Tensor(channels: 1, height: 1, width: 3, data: [10, 20, 30])
        XCTAssertEqual(Ops.resizeNearest(r, height: 1, width: 4).data, [10, 10, 20, 30])
        // attention with γ = 0 is the identity; with one position it adds γ·Wv·x
        let a = Tensor(channels: 8, height: 1, width: 1, data: (0..<8).map { Float($0) })
        let q = [Float](repeating: 0.1, count: 8), eye = (0..<64).map { $0 % 9 == 0 ? Float(1) : 0 }
        XCTAssertEqual(try Ops.selfAttention(a, query: q, key: q, value: eye, gamma: 0).data, a.data)
        XCTAssertEqual(try Ops.selfAttention(a, query: q, key: q, value: eye, gamma: 0.5).data, a.data.map { $0 * 1.5 })
    }
}
