import CKernels
import Foundation

/// The instruction sets the SIMD kernels (the C target CKernels: one source compiled three times) are built for.
public enum InstructionSet: Int, CaseIterable, Sendable, CustomStringConvertible {
    case baseline = 0, avx2 = 1, avx512 = 2

    public var description: String {
        switch self {
        case .baseline: return "baseline"
        case .avx2: return "avx2"
        case .avx512: return "avx512"
        }
    }

    public init?(name: String) {
        guard let isa = Self.allCases.first(where: { $0.description == name.lowercased() }) else { return nil }
        self = isa
    }
}

/// Which compiled variant of the kernels runs: the best this CPU has (AVX-512 F/BW/DQ/VL, else AVX2 + FMA, else
/// the x86-64 baseline), or the one `FILMRESTORE_ISA` (baseline, avx2, avx512) asks for — lowered to what the
/// CPU has. Chosen once per process, before the first kernel runs.
public enum Kernels {
    /// The best instruction set of this CPU.
    public static var supported: InstructionSet { InstructionSet(rawValue: Int(fr_isa_supported())) ?? .baseline }

    /// `FILMRESTORE_ISA` when it names an instruction set; nil when unset. Throws on any other value.
    public static func requested(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> InstructionSet?
    {
        guard let name = environment["FILMRESTORE_ISA"], !name.isEmpty else { return nil }
        guard let isa = InstructionSet(name: name) else {
            throw TensorError.format("FILMRESTORE_ISA=\(name): not an instruction set (baseline, avx2 or avx512)")
        }
        return isa
    }

    private static let chosen: InstructionSet = {
        let want = (try? requested()) ?? nil
        return InstructionSet(rawValue: Int(fr_isa_select(Int32(want?.rawValue ?? supported.rawValue)))) ?? .baseline
    }()

    /// The instruction set in use (chooses it on first use).
    public static var current: InstructionSet {
        _ = chosen
        return InstructionSet(rawValue: Int(fr_isa_current())) ?? .baseline
    }

    /// Makes the choice before a kernel runs (cheap after the first call).
    @inline(__always) static func prepare() { _ = chosen }

    /// Runs `body` with the kernels of `isa` (lowered to what the CPU has), then restores the choice.
    /// For tests and benchmarks: not to be called while other threads run kernels.
    public static func using<T>(_ isa: InstructionSet, _ body: () throws -> T) rethrows -> T {
        prepare()
        let before = fr_isa_current()
        _ = fr_isa_select(Int32(isa.rawValue))
        defer { _ = fr_isa_select(before) }
        return try body()
    }
}

extension Kernels {
    /// One output row of IFNet's synthesis from low-resolution motion (the C kernel `fr_synth_row`, per
    /// instruction set): `fields` holds this row's vertically blended low-resolution fields, each `fieldWidth`
    /// floats (flow x₀ y₀ x₁ y₁, mask logit, then `residualPlanes` residual planes: 0, 1 or `channels`); output
    /// column x (of `outWidth`, at `out[c] + outOffset` in each plane) takes them at x0[x], x1[x] with weight wx[x]
    /// and samples the frames (plane c of height×width at a[c], b[c]) at (baseX[x], baseY) moved by the flow
    /// scaled by (scaleX, scaleY).
    public static func synthesizeRow(
        fields: UnsafePointer<Float>, fieldWidth: Int, residualPlanes: Int, x0: UnsafePointer<Int32>,
        x1: UnsafePointer<Int32>, wx: UnsafePointer<Float>, a: UnsafePointer<UnsafePointer<Float>?>,
        b: UnsafePointer<UnsafePointer<Float>?>, channels: Int, height: Int, width: Int, baseX: UnsafePointer<Float>,
        baseY: Float, outWidth: Int, scaleX: Float, scaleY: Float, out: UnsafePointer<UnsafeMutablePointer<Float>?>,
        outOffset: Int
    ) {
        prepare()
        fr_synth_row(
            fields, fieldWidth, residualPlanes, x0, x1, wx, a, b, channels, height, width, baseX, baseY, outWidth,
            scaleX, scaleY, out, outOffset)
    }

    /// The horizontal pass of separable resampling (the C kernel `fr_resample_rows`, per instruction set) over
    /// `rows` rows of `sourceWidth` floats: out[y·outStride + x] = Σ_k weights[x·paddedTaps + k] ·
    /// source[y·sourceWidth + start[x] + k] for k < paddedTaps (a multiple of 8, the weights padded with zeros),
    /// indices clamped to the row where the taps reach past its ends.
    public static func resampleRows(
        _ source: UnsafePointer<Float>, sourceWidth: Int, rows: Int, start: UnsafePointer<Int32>,
        weights: UnsafePointer<Float>, paddedTaps: Int, outWidth: Int, out: UnsafeMutablePointer<Float>, outStride: Int
    ) {
        precondition(paddedTaps > 0 && paddedTaps % 8 == 0)
        prepare()
        fr_resample_rows(source, sourceWidth, rows, start, weights, paddedTaps, outWidth, out, outStride)
    }
}
