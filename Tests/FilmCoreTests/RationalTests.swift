import XCTest
import FilmCore

final class RationalTests: XCTestCase {
    func test_rational_reducesAndCompares() {
        XCTAssertEqual(Rational(2002, 48000), Rational(1001, 24000))
        XCTAssertTrue(Rational(1, 3) < Rational(34, 100))
        XCTAssertEqual(Rational(1, 24) + Rational(1, 60), Rational(7, 120))
        XCTAssertEqual(Rational(7, 2).floor, 3)
        XCTAssertEqual(Rational(-7, 2).floor, -4)
        XCTAssertEqual(Rational(5, 2).rounded, 3)
        XCTAssertEqual(Rational(7, 3).ceil, 3)
    }

    func test_rational_parsesRates() {
        XCTAssertEqual(Rational(parsing: "23.976"), Rational(24000, 1001))
        XCTAssertEqual(Rational(parsing: "60"), Rational(60))
        XCTAssertEqual(Rational(parsing: "30000/1001"), Rational(30000, 1001))
        XCTAssertEqual(Rational(parsing: "12.5"), Rational(25, 2))
        XCTAssertNil(Rational(parsing: "fast"))
        XCTAssertNil(Rational(parsing: "1/0"))
    }

    func test_rational_noDriftOverAFeatureFilm() {
        // 2 hours at 24000/1001: the 172,627th frame time is exact.
        let rate = Rational(24000, 1001)
        let t = Rational(172_627) / rate
        XCTAssertEqual(t, Rational(172_627 * 1001, 24000))
        XCTAssertEqual((t * rate).rounded, 172_627)
    }

    func test_rotation_quarterTurns() {
        // 3x2 plane: 1 2 3 / 4 5 6 → clockwise: 4 1 / 5 2 / 6 3
        let p: [Float] = [1, 2, 3, 4, 5, 6]
        XCTAssertEqual(Rotation.rotate(p, width: 3, height: 2, quarterTurnsClockwise: 1), [4, 1, 5, 2, 6, 3])
        XCTAssertEqual(Rotation.rotate(p, width: 3, height: 2, quarterTurnsClockwise: 2), [6, 5, 4, 3, 2, 1])
        XCTAssertEqual(Rotation.rotate(p, width: 3, height: 2, quarterTurnsClockwise: 3), [3, 6, 2, 5, 1, 4])
    }

    func test_ycbcr_roundTrip() {
        for m in [ColorMetadata.Matrix.bt709, .smpte170m, .bt2020nc] {
            let k = YCbCrMatrix(m)
            let (y, cb, cr) = k.ycbcr(r: 0.2, g: 0.7, b: 0.4)
            let (r, g, b) = k.rgb(y: y, cb: cb, cr: cr)
            XCTAssertEqual(r, 0.2, accuracy: 1e-6)
            XCTAssertEqual(g, 0.7, accuracy: 1e-6)
            XCTAssertEqual(b, 0.4, accuracy: 1e-6)
        }
    }
}

final class PrimariesTests: XCTestCase {
    func test_smpteC_to_bt709_matrix_matchesPublishedValues() throws {
        // SMPTE-C (170M) → BT.709 linear RGB, D65 (as published, e.g. in SMPTE RP 177 derivations)
        let expected: [Float] = [
            0.939542, 0.050181, 0.010277, 0.017772, 0.965793, 0.016435, -0.001622, -0.004370, 1.005991,
        ]
        let c = try XCTUnwrap(PrimariesConversion(from: 6, to: 1))
        for i in 0..<9 { XCTAssertEqual(c.matrix[i], expected[i], accuracy: 2e-4, "m[\(i)]") }
        XCTAssertNil(PrimariesConversion(from: 1, to: 1))
        XCTAssertNil(PrimariesConversion(from: 2, to: 1), "unknown primaries are left alone")
        // white and grays stay neutral
        let (r, g, b) = c.convert(0.5, 0.5, 0.5)
        XCTAssertEqual(r, 0.5, accuracy: 1e-3)
        XCTAssertEqual(g, 0.5, accuracy: 1e-3)
        XCTAssertEqual(b, 0.5, accuracy: 1e-3)
    }
}
