import Foundation
import FilmCore

/// `grain`: puts the film's grain back after the cleanup removed it and the upscaler smoothed it:
/// grain is the film, not dirt. It is re-synthesized at the output's resolution from what the
/// `denoise` stage measured on each frame (`GrainProfile`, carried as frame properties): its
/// strength as a function of brightness, and its size, scaled by how much the picture was
/// enlarged since. Fresh grain each frame, the same for the same frame in any run (seeded by the
/// frame's time), luminance grain only (gray on black-and-white film). Put last, after `fit`: only
/// the picture gets grain, not the bars, and no interpolated frame blends two frames' grain.
public final class GrainStage: Stage, SyntheticGrain {
    public static let spec = StageSpec(
        name: "grain",
        summary:
            "film grain re-synthesized at the output resolution from the grain the cleanup measured (strength by brightness, size), new each frame",
        traits: [.addsDetail, .addsGrain],
        options: [
            .number("amount", 0...2, default: 1, "grain strength: 1 = the measured grain, 0 = none"),
            .number("size", 0.25...4, default: 1, "grain size relative to the measured grain scaled to the output"),
        ])

    let amount: Float, sizeFactor: Float
    /// Frames given grain, and frames passed unchanged because no stage measured their grain.
    public private(set) var grained = 0, unmeasured = 0

    public init(options: StageOptions) throws {
        amount = Float(options.number("amount"))
        sizeFactor = Float(options.number("size"))
    }

    public func configure(_ input: StreamInfo) throws -> StreamInfo { input }

    public func process(_ frame: Frame, emit: (Frame) throws -> Void) throws {
        guard amount > 0 else {
            try emit(frame)
            return
        }
        guard let profile = GrainProfile(frame.properties) else {
            unmeasured += 1
            try emit(frame)
            return
        }
        try emit(apply(profile, to: frame))
        grained += 1
    }

    /// The picture area of a frame (where `fit` put it), else the whole frame.
    static func area(_ f: Frame) -> (x: Int, y: Int, width: Int, height: Int) {
        if let v = f.properties.extra[FitStage.areaKey]?.split(separator: ",").compactMap({ Int($0) }), v.count == 4,
            v[0] >= 0, v[1] >= 0, v[2] > 0, v[3] > 0, v[0] + v[2] <= f.width, v[1] + v[3] <= f.height
        {
            return (v[0], v[1], v[2], v[3])
        }
        return (0, 0, f.width, f.height)
    }

    func apply(_ profile: GrainProfile, to f: Frame) -> Frame {
        apply(profile, to: f, seed: Self.seed(f), area: Self.area(f), amount: amount)
    }

    public func removingGrain(from output: Frame, madeFor reference: Frame, area: ActiveArea.Rect) -> Frame? {
        guard let profile = GrainProfile(reference.properties) else { return nil }
        return removingGrain(
            profile, from: output, seed: Self.seed(reference), area: (area.x, area.y, area.width, area.height))
    }

    /// `f` with the grain this stage gave the frame whose seed and picture area these are taken
    /// out again (the grain is a known function of the frame): what the restoration report
    /// compares, since grain is declared, not invented. Its strength is taken from `f`'s own
    /// brightness, which the grain moved only slightly.
    public func removingGrain(
        _ profile: GrainProfile, from f: Frame, seed: UInt64, area: (x: Int, y: Int, width: Int, height: Int)
    ) -> Frame {
        guard amount > 0 else { return f }
        return apply(profile, to: f, seed: seed, area: area, amount: -amount)
    }

    func apply(
        _ profile: GrainProfile, to f: Frame, seed: UInt64, area a: (x: Int, y: Int, width: Int, height: Int),
        amount k: Float
    ) -> Frame {
        // Grain enlarged with the picture: made at the size it was measured at (its own correlation),
        // then brought to the output's size as the picture was, so that scaled back it is the grain
        // the cleanup took out.
        let scale = Double(a.width) / Double(profile.width)
        let gw = max(2, Int((Double(a.width) / scale).rounded())),
            gh = max(2, Int((Double(a.height) / scale).rounded()))
        var noise = Self.field(width: gw, height: gh, blur: profile.size * sizeFactor, seed: seed)
        if gw != a.width || gh != a.height {
            noise = Resampler(from: gw, gh, to: a.width, a.height).resample(noise)
        }
        let fw = f.width, np = f.planes.count
        let m = YCbCrMatrix(.bt709), gray = f.layout == .gray || np < 3
        // Taking grain out: a sample at the end of the range was clipped there when the grain went
        // in, so what it held is not known; it is left as it is.
        let removing = k < 0
        // Row by row: each pixel's grain from the brightness it sits on (BT.709 luma of the input), added to
        // every plane; no frame-sized luma or grain buffer.
        var planes = f.planes
        planes.withMutablePlanePointers { out in
            f.planes.withPlanePointers { src in
                Resampler.parallelRows(a.height) { y in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: a.width) { g in
                        let row = (a.y + y) * fw + a.x, nrow = y * a.width
                        for x in 0..<a.width {
                            let i = row + x
                            let l = gray ? src[0][i] : m.kr * src[0][i] + m.kg * src[1][i] + m.kb * src[2][i]
                            g[x] = k * profile.sigma(at: min(max(l, 0), 1)) * noise[nrow + x]
                        }
                        for o in out {
                            for x in 0..<a.width {
                                let i = row + x
                                if removing && (o[i] <= 0.002 || o[i] >= 0.998) { continue }
                                o[i] = min(max(o[i] + g[x], 0), 1)
                            }
                        }
                    }
                }
            }
        }
        return f.with(width: f.width, height: f.height, planes: planes)
    }

    /// The frame's seed: from its time and source frame, so a frame gets the same grain in a
    /// whole run, a part or a segment.
    public static func seed(_ f: Frame) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15
        for v in [UInt64(bitPattern: f.pts.num), UInt64(bitPattern: f.pts.den), UInt64(f.properties.sourceIndex)] {
            h = (h ^ v) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
        }
        return h
    }

    /// Gaussian white noise blurred by a Gaussian of `blur` pixels, normalized to unit variance.
    static func field(width w: Int, height h: Int, blur s: Float, seed: UInt64) -> [Float] {
        var n = [Float](unsafeUninitializedCapacity: w * h) { buf, count in
            count = w * h
            let p = buf.baseAddress!
            Resampler.parallelRows(h) { y in
                var rng = SplitMix(seed ^ (UInt64(y) &* 0xD1B5_4A32_D192_ED03))
                for x in stride(from: 0, to: w, by: 2) {
                    // Box–Muller: two normals from two uniforms.
                    let u1 = max(rng.unit(), 1e-12), u2 = rng.unit()
                    let r = (-2 * log(u1)).squareRoot()
                    p[y * w + x] = Float(r * cos(2 * .pi * u2))
                    if x + 1 < w { p[y * w + x + 1] = Float(r * sin(2 * .pi * u2)) }
                }
            }
        }
        guard s >= 0.3 else { return n }
        // Separable Gaussian, edges clamped; the variance it leaves is Σ taps² per pass.
        let radius = max(1, Int((3 * s).rounded(.up)))
        var taps = (-radius...radius).map { Float(exp(-Double($0 * $0) / (2 * Double(s * s)))) }
        let total = taps.reduce(0, +)
        taps = taps.map { $0 / total }
        let gain = taps.reduce(0) { $0 + $1 * $1 }  // per pass
        // Rows, then columns (scaled back to unit variance: 1 / sqrt(gain²)).
        let mid = Self.pass(n, width: w, height: h, taps: taps, radius: radius, step: 1, scale: 1)
        n = Self.pass(mid, width: w, height: h, taps: taps, radius: radius, step: w, scale: 1 / gain)
        return n
    }

    /// One pass of a separable filter along rows (step 1) or columns (step = width), edges clamped.
    static func pass(_ src: [Float], width w: Int, height h: Int, taps: [Float], radius: Int, step: Int, scale: Float)
        -> [Float]
    {
        let along = step == 1 ? w : h
        return [Float](unsafeUninitializedCapacity: w * h) { ob, count in
            count = w * h
            src.withUnsafeBufferPointer { sb in
                let dst = ob.baseAddress!, s = sb.baseAddress!
                Resampler.parallelRows(h) { y in
                    for x in 0..<w {
                        let at = step == 1 ? x : y, base = y * w + x - at * step
                        var acc: Float = 0
                        for (j, t) in taps.enumerated() {
                            acc += t * s[base + min(max(at + j - radius, 0), along - 1) * step]
                        }
                        dst[y * w + x] = acc * scale
                    }
                }
            }
        }
    }

    /// SplitMix64: a small, fast, well-mixed generator (the seeds differ per row and frame).
    struct SplitMix {
        var state: UInt64
        init(_ s: UInt64) { state = s }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
    }
}
