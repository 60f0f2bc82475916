import XCTest
import FilmCore
import TestSupport
@testable import Restoration

/// Every SIMD image kernel against its plain reference kernel, on random inputs (as FFmpeg's
/// checkasm and ncnn's layer tests do): the same arithmetic, so equal to float rounding.
final class KernelParityTests: XCTestCase {
    /// A random picture: smooth structure plus noise, so matching has real minima.
    func picture(_ w: Int, _ h: Int, _ g: inout SplitMix64, shift: Int = 0) -> [Float] {
        let phase = Float(g.nextUnit()) * 6
        return (0..<(w * h)).map { i in
            let x = Float(i % w + shift), y = Float(i / w)
            return min(max(0.5 + 0.3 * sinf(x * 0.21 + phase) * cosf(y * 0.17) + 0.08 * (g.nextUnit() - 0.5), 0), 1)
        }
    }

    func test_jointBilateral_simdEqualsPlain_grayAndColour_withAndWithoutGrain() throws {
        var g = SplitMix64(11)
        for (w, h, planes, grain) in [(37, 23, 1, Float(0)), (64, 20, 3, 0), (29, 31, 3, 0.4), (8, 5, 1, 0.2)] {
            let n = w * h
            let source = (0..<(planes * n * (grain > 0 ? 2 : 1))).map { _ in g.nextUnit() }
            let guide = picture(w, h, &g)
            let total = (0..<n).map { _ in 1 + 4 * g.nextUnit() }
            let k = JointBilateral(
                width: w, height: h, planeCount: planes, inverseRange: 1 / (2 * 6.25 * 0.0016), grain: grain)
            let fast = k.filter(source: source, guide: guide, total: total, simd: true)
            let plain = k.filter(source: source, guide: guide, total: total, simd: false)
            XCTAssertEqual(fast.count, planes * n)
            let worst = try maxAbsDifference(fast, plain)
            XCTAssertLessThanOrEqual(worst, 1e-6, "\(w)x\(h)x\(planes) grain \(grain)")
            // the picture part of the source (with grain, the grain planes follow it)
            XCTAssertGreaterThan(
                try maxAbsDifference(fast, Array(source.prefix(planes * n))), 0.01, "the filter does something")
        }
    }

    func test_blockCost_simdEqualsPlain_8and4wide_andAtEdges() {
        var g = SplitMix64(12)
        let w = 50, h = 40
        let c = BlockMatcher.Plane(w: w, h: h, v: picture(w, h, &g)),
            r = BlockMatcher.Plane(w: w, h: h, v: picture(w, h, &g, shift: 3))
        var compared = 0
        for _ in 0..<400 {
            let width = g.next() % 2 == 0 ? 8 : 4, height = 1 + Int(g.next() % 8)
            let x0 = Int(g.next() % UInt64(w - width + 1)), y0 = Int(g.next() % UInt64(h - height + 1))
            let vx = Int(g.next() % 13) - 6, vy = Int(g.next() % 13) - 6
            let fast = c.cost(r, x0, y0, x0 + width, y0 + height, vx, vy)
            let plain = c.costPlain(r, x0, y0, x0 + width, y0 + height, vx, vy)
            XCTAssertEqual(
                fast, plain, accuracy: 1e-5 * Float(width * height), "\(x0),\(y0) \(width)x\(height) by \(vx),\(vy)")
            XCTAssertEqual(c.cost(r, x0, y0, x0 + width, y0 + height, vx, vy, simd: false), plain)
            compared += 1
        }
        XCTAssertEqual(compared, 400)
    }

    func test_motionCompensation_simdEqualsPlain_vectorsAndPictures() {
        var g = SplitMix64(13)
        for (w, h) in [(64, 48), (61, 37)] {
            let current = picture(w, h, &g), reference = picture(w, h, &g, shift: 2)
            let m = BlockMatcher()
            let field = m.match(current: current, reference: reference, width: w, height: h)
            let colour = (0..<3).map { _ in (0..<(w * h)).map { _ in g.nextUnit() } }
            let fast = BlockMatcher.compensate(
                planes: colour, width: w, height: h, referenceLuma: reference, currentLuma: current, field)
            let plain = BlockMatcher.compensate(
                planes: colour, width: w, height: h, referenceLuma: reference, currentLuma: current, field,
                simd: false)
            // the same choices (sums in the same order), so the same pixels
            XCTAssertEqual(fast.luma, plain.luma, "\(w)x\(h)")
            XCTAssertEqual(fast.planes, plain.planes, "\(w)x\(h)")
            XCTAssertEqual(fast.valid, plain.valid, "\(w)x\(h)")
            // and the per-pixel choice is real: more blocks than one vector, and it follows the shift
            XCTAssertGreaterThan(Set(zip(field.dx, field.dy).map { "\($0),\($1)" }).count, 0)
            let inner = (8..<(h - 8)).flatMap { y in (8..<(w - 8)).map { y * w + $0 } }
            let err = inner.map { abs(fast.luma[$0] - current[$0]) }.reduce(0, +) / Float(inner.count)
            XCTAssertLessThan(err, 0.05, "aligned picture close to the current one")
        }
    }
}
