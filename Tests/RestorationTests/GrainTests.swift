import XCTest
import FilmCore
import TestSupport
@testable import Restoration

/// Grain kept as grain: measured where the cleanup takes it out, put back at the output's size.
final class GrainTests: XCTestCase {
    /// A smooth picture (a slow gradient) and Gaussian noise blurred by `blur` pixels, σ `sigma`.
    func grainy(width w: Int, height h: Int, sigma: Float, blur: Float, seed: UInt64) -> (
        clean: [Float], noisy: [Float]
    ) {
        let clean = (0..<(w * h)).map { i in 0.15 + 0.7 * Float(i % w) / Float(w) }
        var noise = GrainStage.field(width: w, height: h, blur: blur, seed: seed)
        noise = noise.map { $0 * sigma }
        return (clean, zip(clean, noise).map { $0 + $1 })
    }

    func test_profile_measuresStrengthAndSize() {
        let w = 256, h = 192
        let white = grainy(width: w, height: h, sigma: 0.02, blur: 0, seed: 1)
        let p = GrainProfile.measure(original: white.noisy, cleaned: white.clean, width: w, height: h)
        for b in 2..<6 { XCTAssertEqual(p.sigma[b], 0.02, accuracy: 0.002, "bin \(b)") }
        XCTAssertLessThan(p.correlation, 0.05, "white grain")
        let clumped = grainy(width: w, height: h, sigma: 0.02, blur: 1, seed: 2)
        let q = GrainProfile.measure(original: clumped.noisy, cleaned: clumped.clean, width: w, height: h)
        XCTAssertEqual(q.correlation, exp(-0.25), accuracy: 0.05, "Gaussian blur of 1 px: ρ = e^(−1/4)")
        XCTAssertEqual(q.size, 1, accuracy: 0.15)
        // Carried on a frame, read back the same.
        var props = FrameProperties()
        q.store(in: &props)
        let back = GrainProfile(props)
        XCTAssertEqual(back?.width, w)
        XCTAssertEqual(back?.correlation ?? 0, q.correlation, accuracy: 1e-4)
        XCTAssertEqual(back?.sigma[3] ?? 0, q.sigma[3], accuracy: 1e-6)
        props.grain?.sigma = [.nan, 1, 2]
        XCTAssertNil(GrainProfile(props), "a malformed property is not a profile")
    }

    /// The stage at 4×: the grain's level comes back when scaled down to the measured size; the
    /// same frame gets the same grain, the next another; the bars stay black; amount 0 is identity.
    func test_stage_restoresTheLevel_deterministic_picturesOnly() throws {
        let w = 96, h = 72
        let (clean, noisy) = grainy(width: w, height: h, sigma: 0.03, blur: 0.7, seed: 3)
        let profile = GrainProfile.measure(original: noisy, cleaned: clean, width: w, height: h)
        // The cleaned picture at 4× inside a wider canvas with bars (as `fit` leaves it).
        let W = 4 * w + 64, H = 4 * h
        var big = [Float](repeating: 0, count: W * H)
        let up = Resampler(from: w, h, to: 4 * w, 4 * h).resample(clean)
        for y in 0..<H { for x in 0..<(4 * w) { big[y * W + 32 + x] = up[y * 4 * w + x] } }
        var f = Frame(
            width: W, height: H, layout: .gray, planes: [big], pts: Rational(5, 24), duration: Rational(1, 24))
        profile.store(in: &f.properties)
        f.properties.extra[FitStage.areaKey] = "32,0,\(4 * w),\(4 * h)"
        let stage = try StageHarness("grain", input: streamInfo(width: W, height: H, layout: .gray))
        let a = try XCTUnwrap(try stage.push(f).first), again = try XCTUnwrap(try stage.push(f).first)
        XCTAssertEqual(a.planes[0], again.planes[0], "the same frame, the same grain")
        var next = f
        next.pts = Rational(6, 24)
        XCTAssertNotEqual(try XCTUnwrap(try stage.push(next).first).planes[0], a.planes[0], "new grain each frame")
        XCTAssertTrue(
            (0..<H).allSatisfy { y in (0..<32).allSatisfy { a.planes[0][y * W + $0] == 0 } }, "no grain on the bars")
        // Scaled back to the measured size: about the grain the cleanup took out.
        var small = [Float](repeating: 0, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                var s: Float = 0
                for dy in 0..<4 {
                    for dx in 0..<4 {
                        s += a.planes[0][(4 * y + dy) * W + 32 + 4 * x + dx] - big[(4 * y + dy) * W + 32 + 4 * x + dx]
                    }
                }
                small[y * w + x] = s / 16
            }
        }
        let level =
            NoiseEstimate.sigma(zip(clean, small).map { $0 + $1 }, width: w, height: h)
            / NoiseEstimate.sigma(noisy, width: w, height: h)
        XCTAssertGreaterThan(level, 0.6)
        XCTAssertLessThan(level, 1.4)
        let none = try StageHarness(
            "grain", options: ["amount": "0"], input: streamInfo(width: W, height: H, layout: .gray))
        XCTAssertEqual(try none.push(f).first?.planes[0], f.planes[0])
        var unmeasured = f
        unmeasured.properties.grain = nil
        XCTAssertEqual(try stage.push(unmeasured).first?.planes[0], f.planes[0], "no measurement, no grain")
    }
}
