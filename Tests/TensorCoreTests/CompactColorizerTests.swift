import XCTest
import Foundation
import TensorCore
import Networks
import TestSupport

/// The shipped colorizer (Models/colorizer/compact-colorizer.safetensors) against the training
/// framework's own output for the same weights (Tests/Fixtures/colorizer, written by
/// Tools/train_colorizer.py at export).
final class CompactColorizerTests: XCTestCase {
    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    func test_shippedWeights_reproduceTheTrainingFrameworksOutput() throws {
        let net = try assertShippedColorizerMatchesTraining(
            weights: "Models/colorizer/compact-colorizer.safetensors", fixture: "Tests/Fixtures/colorizer",
            bound: 1e-5)
        XCTAssertTrue(net is CompactColorizer)
    }

    /// Certainty is 1 − the decoding distribution's entropy over log Q: 1 for one bin, 0 for all bins
    /// alike, and, for two equal bins out of Q, 1 − log 2 / log Q (against the entropy summed directly).
    func test_certainty_isOneMinusTheNormalizedEntropy() throws {
        let net = try CompactColorizer(
            contentsOf: Self.root.appendingPathComponent("Models/colorizer/compact-colorizer.safetensors"))
        let q = net.bins.count, t = net.temperature
        // three pixels: one bin far above the rest, all equal, two bins equal and far above the rest
        var logits = [Float](repeating: 0, count: q * 4)
        logits[0 * 4 + 0] = 80 * t
        logits[5 * 4 + 2] = 80 * t
        logits[9 * 4 + 2] = 80 * t
        // the fourth: random logits, its entropy summed directly
        var g = SplitMix64(7)
        for k in 0..<q { logits[k * 4 + 3] = 3 * (g.nextUnit() - 0.5) }
        let d = net.decodeWithCertainty(Tensor(channels: q, height: 1, width: 4, data: logits))
        XCTAssertEqual(d.certainty[0], 1, accuracy: 1e-4)
        XCTAssertEqual(d.certainty[1], 0, accuracy: 1e-5)
        XCTAssertEqual(d.certainty[2], 1 - logf(2) / logf(Float(q)), accuracy: 1e-4)
        let p = (0..<q).map { expf(logits[$0 * 4 + 3] / t) }, sum = p.reduce(0, +)
        let entropy = p.map { -($0 / sum) * logf($0 / sum) }.reduce(0, +)
        XCTAssertEqual(d.certainty[3], 1 - entropy / logf(Float(q)), accuracy: 1e-4)
        // the one-bin pixel decodes to that bin's chroma; the chroma equals the plain decode
        XCTAssertEqual(d.cb[0], net.bins[0].cb, accuracy: 1e-5)
        let plain = net.decode(Tensor(channels: q, height: 1, width: 4, data: logits))
        XCTAssertEqual(plain.cb, d.cb)
        XCTAssertEqual(plain.cr, d.cr)
    }

    /// The posterior mean against the sum written out: p ∝ exp(logit + bias), mean of the bins under p,
    /// moved away from the center by the scale; a one-bin pixel lands at center + scale·(bin − center).
    func test_posteriorMean_isTheScaledMeanUnderTheBias() throws {
        let net = try CompactColorizer(
            contentsOf: Self.root.appendingPathComponent("Models/colorizer/compact-colorizer.safetensors"))
        let post = try XCTUnwrap(net.chroma.posterior, "the shipped colorizer carries a posterior decoding")
        let q = net.bins.count
        var logits = [Float](repeating: 0, count: q * 2)
        var g = SplitMix64(11)
        for k in 0..<q { logits[k * 2] = 4 * (g.nextUnit() - 0.5) }
        logits[7 * 2 + 1] = 200
        let d = try XCTUnwrap(net.decodePosterior(Tensor(channels: q, height: 1, width: 2, data: logits)))
        let e = (0..<q).map { Double(expf(logits[$0 * 2] + post.bias[$0])) }, sum = e.reduce(0, +)
        let mb = zip(e, net.bins).map { $0 * Double($1.cb) }.reduce(0, +) / sum
        let mr = zip(e, net.bins).map { $0 * Double($1.cr) }.reduce(0, +) / sum
        XCTAssertEqual(d.cb[0], post.center.cb + post.scale * (Float(mb) - post.center.cb), accuracy: 1e-5)
        XCTAssertEqual(d.cr[0], post.center.cr + post.scale * (Float(mr) - post.center.cr), accuracy: 1e-5)
        XCTAssertEqual(d.cb[1], post.center.cb + post.scale * (net.bins[7].cb - post.center.cb), accuracy: 1e-5)
        XCTAssertEqual(d.cr[1], post.center.cr + post.scale * (net.bins[7].cr - post.center.cr), accuracy: 1e-5)
        // the certainty is the annealed decoding's
        let a = net.decodeWithCertainty(Tensor(channels: q, height: 1, width: 2, data: logits))
        XCTAssertEqual(d.certainty, a.certainty)
    }

    func test_posteriorDecoding_incompleteOrOutOfRange_isRejected() throws {
        let sd = try StateDict.load(Self.root.appendingPathComponent("Models/colorizer/compact-colorizer.safetensors"))
        var partial = sd
        partial.tensors["posterior.center"] = nil
        XCTAssertThrowsError(try CompactColorizer(stateDict: partial)) {
            XCTAssertTrue("\($0)".contains("posterior.center"), "\($0)")
        }
        var zero = sd
        zero.tensors["posterior.scale"] = NamedTensor(shape: [1], data: [0])
        XCTAssertThrowsError(try CompactColorizer(stateDict: zero)) {
            XCTAssertTrue("\($0)".contains("scale"), "\($0)")
        }
        var none = sd
        for k in ["posterior.bias", "posterior.center", "posterior.scale"] { none.tensors[k] = nil }
        XCTAssertNil(try CompactColorizer(stateDict: none).chroma.posterior, "without them: the annealed mean only")
    }

    func test_missingOrMisshapenKeys_areRejectedNamingTheKey() throws {
        var sd = try StateDict.load(Self.root.appendingPathComponent("Models/colorizer/compact-colorizer.safetensors"))
        sd.tensors["attn.value.weight"] = nil
        XCTAssertThrowsError(try CompactColorizer(stateDict: sd)) {
            XCTAssertTrue("\($0)".contains("attn.value.weight"), "\($0)")
        }
        sd.tensors["attn.value.weight"] = NamedTensor(
            shape: [128, 64, 1], data: [Float](repeating: 0, count: 128 * 64))
        XCTAssertThrowsError(try CompactColorizer(stateDict: sd)) {
            XCTAssertTrue("\($0)".contains("[128, 64, 1]"), "\($0)")
        }
    }
}

/// Loads a shipped colorizer (`weights`, relative to the package) and checks it against the chroma the
/// training framework decoded from the same weights at export (`fixture`: input.f32, chroma.f32 and
/// README.json, written by Tools/train_colorizer.py): the largest absolute chroma difference must stay
/// within `bound`. Returns the network for further checks.
@discardableResult
func assertShippedColorizerMatchesTraining(
    weights: String, fixture: String, bound: Float, file: StaticString = #filePath, line: UInt = #line
) throws -> any BinColorizer {
    let net = try BinColorizers.load(CompactColorizerTests.root.appendingPathComponent(weights))
    let fx = CompactColorizerTests.root.appendingPathComponent(fixture)
    let note =
        try JSONSerialization.jsonObject(with: Data(contentsOf: fx.appendingPathComponent("README.json")))
        as! [String: Any]
    XCTAssertEqual(
        note["weights"] as? String, weights, "the fixture was made from other weights", file: file, line: line)
    let h = note["height"] as! Int, w = note["width"] as! Int
    func floats(_ n: String) throws -> [Float] { try readFloat32(fx.appendingPathComponent(n)) }
    let input = try floats("input.f32"), expected = try floats("chroma.f32")
    let (cb, cr) = net.decode(try net.logits(input, height: h, width: w, workspace: Workspace()))
    XCTAssertEqual(cb.count + cr.count, expected.count, file: file, line: line)
    let err = (try maxAbsDifference(cb + cr, expected))
    let spread = expected.map { abs($0) }.max() ?? 0
    print(
        String(
            format: "%@ (%d parameters, %d bins, T %.2f) %dx%d: max abs chroma error %.2e (chroma within ±%.3f)",
            weights, net.parameterCount, net.bins.count, net.temperature, w, h, err, spread))
    XCTAssertLessThanOrEqual(err, bound, file: file, line: line)
    XCTAssertGreaterThan(spread, 0.02, "the fixture's chroma is not flat", file: file, line: line)
    // the posterior-mean decoding, where the weights carry one (posterior.f32 beside)
    if net.chroma.posterior != nil || note["posterior"] != nil {
        let expected = try floats("posterior.f32")
        let d = try XCTUnwrap(
            net.decodePosterior(try net.logits(input, height: h, width: w, workspace: Workspace())),
            "the fixture has a posterior decoding the weights lack", file: file, line: line)
        XCTAssertEqual(d.cb.count + d.cr.count, expected.count, file: file, line: line)
        let err = (try maxAbsDifference(d.cb + d.cr, expected))
        print(String(format: "%@ posterior mean: max abs chroma error %.2e", weights, err))
        XCTAssertLessThanOrEqual(err, bound, file: file, line: line)
    }
    return net
}
