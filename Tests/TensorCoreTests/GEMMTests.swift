import XCTest
import TensorCore

final class GEMMTests: XCTestCase {
    func test_sgemm_matchesNaiveReference_onOddShapes() {
        var rng = SystemRandomNumberGenerator()
        // the last two are large enough to be split into bands of rows over the workers (odd row counts)
        for (m, n, k) in [(1, 1, 1), (7, 13, 5), (33, 17, 64), (64, 129, 27), (131, 257, 96), (17, 1029, 160)] {
            let a = (0..<(m * k)).map { _ in Float.random(in: -1...1, using: &rng) }
            let b = (0..<(k * n)).map { _ in Float.random(in: -1...1, using: &rng) }
            var c = [Float](repeating: 0, count: m * n)
            GEMM.sgemm(m: m, n: n, k: k, a: a, b: b, c: &c)
            let ref = GEMM.naive(m: m, n: n, k: k, a: a, b: b)
            for i in 0..<(m * n) {
                XCTAssertEqual(c[i], ref[i], accuracy: 1e-4 * max(1, abs(ref[i])), "(\(m),\(n),\(k)) at \(i)")
            }
            XCTAssertEqual(GEMM.threads, 1, "OpenBLAS runs on one thread (the thread plan)")
        }
    }
}
