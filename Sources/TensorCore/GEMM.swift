import CBLAS
import Dispatch
import Foundation

/// Single-precision matrix products on OpenBLAS: the base of the inference core (im2col + sgemm).
/// Row-major: C[m×n] = alpha · A[m×k] · B[k×n] + beta · C.
public enum GEMM {
    public static func sgemm(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, alpha: Float = 1, beta: Float = 0
    ) {
        _ = oneThread
        // a large product: bands of rows of A and C over the workers, one single-threaded sgemm each
        let bands = m * n * k >= 1 << 21 ? min(workers, m / 8) : 1
        if ThreadUsage.currentTag != nil { ThreadUsage.noteBLAS(max(bands, 1)) }
        if bands <= 1 {
            cblas_sgemm(
                CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), alpha,
                a, Int32(k), b, Int32(n), beta, c, Int32(n))
            return
        }
        Parallel.forEach(bands) { i in
            let r0 = i * m / bands, r1 = (i + 1) * m / bands
            cblas_sgemm(
                CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(r1 - r0), Int32(n), Int32(k), alpha,
                a + r0 * k, Int32(k), b, Int32(n), beta, c + r0 * n, Int32(n))
        }
    }

    /// The reference the fast path is tested against.
    public static func naive(m: Int, n: Int, k: Int, a: [Float], b: [Float]) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s: Float = 0
                for p in 0..<k { s += a[i * k + p] * b[p * n + j] }
                c[i * n + j] = s
            }
        }
        return c
    }

    /// Achieved sgemm speed on a large square product (the roof for the convolutions).
    public static func measureGFLOPS(size n: Int = 1536) -> Double {
        let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        sgemm(m: n, n: n, k: n, a: a, b: b, c: &c)
        var best = Double.infinity
        for _ in 0..<3 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            sgemm(m: n, n: n, k: n, a: a, b: b, c: &c)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        return 2 * Double(n) * Double(n) * Double(n) / best / 1e9
    }

    /// How many workers the kernels split their work over (one per core).
    public static let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// The thread plan: OpenBLAS runs on one thread, always, and every kernel spreads its work with
    /// `Parallel.forEach`, i.e. over Dispatch's one pool for the whole process — shared by all stages of a
    /// pipeline, never more workers than cores, no thread spinning while it waits. (OpenBLAS's own threads
    /// spin-wait after each product; in a pipeline, where other steps and the encoder want the cores, that
    /// spinning cost a third of the CPU time of the archival chain.) Set before the first product.
    private static let oneThread: Void = { openblas_set_num_threads(1) }()

    /// Runs `body`, which calls OpenBLAS directly (products spread over the cores by the caller).
    static func singleThreaded<R>(_ body: () throws -> R) rethrows -> R {
        _ = oneThread
        return try body()
    }

    /// Threads OpenBLAS uses for one product (1 once the first product ran).
    public static var threads: Int { Int(openblas_get_num_threads()) }
}
