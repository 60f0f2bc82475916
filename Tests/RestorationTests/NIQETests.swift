import XCTest
import FilmCore
import MediaIO
import TestSupport
@testable import Restoration

/// NIQE against an independent NumPy implementation, the published check value, and its
/// behaviour: blur and noise make pictures less natural.
final class NIQETests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let model = try? NIQE.shipped(modelsDir: root.appendingPathComponent("Models").path)

    func niqe() throws -> NIQE { try XCTUnwrap(Self.model, "Models/niqe/niqe_pris_params.npz (vendored) did not load") }

    /// Every patch's 36 features and the score equal Tools/make_niqe_reference.py's (float64).
    func test_features_andScore_equalThePythonReference() throws {
        let url = Self.root.appendingPathComponent("Tests/Fixtures/niqe/synthetic.json")
        let j = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let w = try XCTUnwrap(j["width"] as? Int), h = try XCTUnwrap(j["height"] as? Int)
        let y = try XCTUnwrap(j["luma"] as? [Int]).map(Double.init)
        let expected = try XCTUnwrap(j["features"] as? [[Double]])
        let got = try niqe().features(luma: y, width: w, height: h)
        XCTAssertEqual(got.count, expected.count)
        var worst = 0.0
        for (a, b) in zip(got, expected) {
            XCTAssertEqual(a.count, 36)
            for (x, z) in zip(a, b) { worst = max(worst, abs(x - z)) }
        }
        XCTAssertLessThanOrEqual(worst, 1e-6, "largest feature difference")
        let score = try XCTUnwrap(try niqe().score(luma: y, width: w, height: h))
        XCTAssertEqual(score, try XCTUnwrap(j["score"] as? Double), accuracy: 1e-6)
    }

    /// The published value for BasicSR's baboon (Set14's, its first 492 columns): 5.7296 (MATLAB
    /// R2021a 5.72957338). Set14's terms are unstated, so it is not a fixture: skipped without it.
    func test_baboon_matchesThePublishedValue() throws {
        let path = Self.root.deletingLastPathComponent().appendingPathComponent("shared/data/sr/Set14/baboon.png").path
        try XCTSkipUnless(
            FileManager.default.fileExists(atPath: path), "baboon.png not present (../shared/data/sr/Set14)")
        let f = try XCTUnwrap(try MediaReader(path: path).nextFrame())
        XCTAssertEqual(f.width, 500)
        let y = NIQE.luma(f)
        let crop = (0..<f.height).flatMap { r in y[(r * f.width)..<(r * f.width + 492)] }
        let score = try XCTUnwrap(try niqe().score(luma: crop, width: 492, height: f.height))
        XCTAssertEqual(score, 5.7296, accuracy: 0.05)
    }

    func photos() throws -> [Frame] {
        try ["astronaut", "rocket", "coffee", "chelsea", "camera"].map { name in
            let path = Self.root.appendingPathComponent("Tests/Fixtures/photos/\(name).png").path
            return try XCTUnwrap(try MediaReader(path: path).nextFrame(), name)
        }
    }

    /// Gaussian blur σ 1 < 2 < 3 and added noise each raise the score on most photos. (Not on
    /// every one: the rocket is a night scene, mostly flat sky, where NIQE's patch statistics say
    /// little; on this crop Python's reference gives 15.26, 15.56, 13.90, 15.05 for σ 0…3.)
    func test_scoreRisesWithBlurAndNoise_onRealPhotographs() throws {
        let model = try niqe()
        var noisier = 0, blurOrdered = 0
        let all = try photos()
        for (k, f) in all.enumerated() {
            let y = NIQE.luma(f)
            let clean = try XCTUnwrap(model.score(luma: y, width: f.width, height: f.height))
            let blurred = try [1.0, 2.0, 3.0].map { s in
                try XCTUnwrap(
                    model.score(luma: gaussianBlur(y, f.width, f.height, sigma: s), width: f.width, height: f.height))
            }
            if clean < blurred[0] && blurred[0] < blurred[1] && blurred[1] < blurred[2] { blurOrdered += 1 }
            var g = SplitMix64(UInt64(k + 1))
            let noisy = y.map { v -> Double in
                let gauss = (0..<12).reduce(0.0) { s, _ in s + Double(g.nextUnit()) } - 6
                return min(max((v + 20 * gauss).rounded(), 0), 255)
            }
            if try XCTUnwrap(model.score(luma: noisy, width: f.width, height: f.height)) > clean { noisier += 1 }
        }
        XCTAssertGreaterThanOrEqual(blurOrdered, 4, "blur σ 1 < 2 < 3 scores rising on most of \(all.count) photos")
        XCTAssertGreaterThanOrEqual(noisier, 4, "noise σ 20 makes most of \(all.count) photos less natural")
    }

    /// Separable Gaussian blur (edges repeated), radius 3σ.
    func gaussianBlur(_ p: [Double], _ w: Int, _ h: Int, sigma: Double) -> [Double] {
        let r = Int((3 * sigma).rounded(.up))
        let k = (-r...r).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let sum = k.reduce(0, +)
        let kn = k.map { $0 / sum }
        var tmp = p, out = p
        for y in 0..<h {
            for x in 0..<w {
                tmp[y * w + x] = (-r...r).reduce(0.0) { $0 + kn[$1 + r] * p[y * w + min(max(x + $1, 0), w - 1)] }
            }
        }
        for y in 0..<h {
            for x in 0..<w {
                out[y * w + x] = (-r...r).reduce(0.0) { $0 + kn[$1 + r] * tmp[min(max(y + $1, 0), h - 1) * w + x] }
            }
        }
        return out.map { $0.rounded() }
    }

    /// Too small for one patch: no score, not a crash; the pseudo-inverse inverts what it can.
    func test_tooSmall_noScore_pseudoInverse() throws {
        XCTAssertNil(try niqe().score(luma: [Double](repeating: 100, count: 95 * 200), width: 200, height: 95))
        let a: [Double] = [4, 1, 0, 1, 3, 0, 0, 0, 0]
        let p = SymmetricMatrix.pseudoInverse(a, n: 3)
        // the 2×2 block inverted, the zero row and column left zero
        XCTAssertEqual(p[0], 3.0 / 11, accuracy: 1e-12)
        XCTAssertEqual(p[1], -1.0 / 11, accuracy: 1e-12)
        XCTAssertEqual(p[4], 4.0 / 11, accuracy: 1e-12)
        XCTAssertEqual(p[8], 0, accuracy: 1e-12)
    }
}
