import FilmCore

/// `deinterlace`: makes interlaced video (tape transfers, telecined TV) progressive, one output frame
/// per input frame at the time of its first field, with the YADIF method: every line of the second
/// field is rebuilt from the first field's lines above and below (edge-directed), kept within the
/// range that the same line in the neighbouring frames allows, so static areas keep full vertical
/// detail and moving areas lose their combing.
///
/// `mode: auto` (the default) treats frames as interlaced when the stream or the frame says so and
/// passes progressive frames through untouched; `mode: all` deinterlaces everything.
public final class DeinterlaceStage: Stage {
    public static let spec = StageSpec(
        name: "deinterlace",
        summary: "interlaced → progressive (YADIF-style, edge-directed, motion-adaptive)",
        traits: [.cleanup, .deinterlaces, .temporal],
        options: [
            .choice(
                "mode", ["auto", "all"], default: "auto",
                "auto: frames flagged interlaced, or all when the stream is; all: every frame"),
            .choice(
                "parity", ["auto", "tff", "bff"], default: "auto",
                "field order: auto (from the stream and frames), tff (top field first) or bff"),
        ])

    let mode: String
    let parity: String
    private var streamOrder: FieldOrder = .unknown
    private var prev: Frame?, cur: Frame?

    public var window: TemporalWindow { TemporalWindow(past: 1, future: 1) }

    public init(options: StageOptions) throws {
        mode = options.choice("mode")
        parity = options.choice("parity")
    }

    public func configure(_ input: StreamInfo) throws -> StreamInfo {
        streamOrder = input.fieldOrder
        prev = nil
        cur = nil
        var out = input
        out.fieldOrder = .progressive
        return out
    }

    public func process(_ frame: Frame, emit: (Frame) throws -> Void) throws {
        if let c = cur { try emit(deinterlaced(c, prev: prev ?? c, next: frame)) }
        prev = cur
        cur = frame
    }

    public func flush(emit: (Frame) throws -> Void) throws {
        if let c = cur { try emit(deinterlaced(c, prev: prev ?? c, next: c)) }
        prev = nil
        cur = nil
    }

    private func isInterlaced(_ f: Frame) -> Bool {
        mode == "all" || f.properties.interlaced || streamOrder.isInterlaced
    }

    private func topFirst(_ f: Frame) -> Bool {
        switch parity {
        case "tff": return true
        case "bff": return false
        default:
            if streamOrder == .bottomFirst { return false }
            if streamOrder == .topFirst { return true }
            return f.properties.interlaced ? f.properties.topFieldFirst : true
        }
    }

    func deinterlaced(_ f: Frame, prev: Frame, next: Frame) -> Frame {
        guard isInterlaced(f), f.height >= 4 else { return f }
        var out = f
        // The first field in time is kept; the lines of the other field are rebuilt.
        let rebuild = topFirst(f) ? 1 : 0
        let sameSize =
            prev.width == f.width && prev.height == f.height && next.width == f.width && next.height == f.height
        for c in 0..<f.planes.count {
            out.planes[c] = Self.filterPlane(
                cur: f.planes[c], prev: sameSize ? prev.planes[c] : f.planes[c],
                next: sameSize ? next.planes[c] : f.planes[c],
                width: f.width, height: f.height, rebuildParity: rebuild)
        }
        out.properties.interlaced = false
        return out
    }

    /// YADIF's line filter. The rebuilt field was captured half a frame after the kept one, so
    /// its temporal estimate at the kept field's time is the mean of that line in the previous
    /// frame and in this one.
    static func filterPlane(cur: [Float], prev: [Float], next: [Float], width w: Int, height h: Int, rebuildParity: Int)
        -> [Float]
    {
        var out = cur
        cur.withUnsafeBufferPointer { c in
            prev.withUnsafeBufferPointer { p in
                next.withUnsafeBufferPointer { n in
                    out.withUnsafeMutableBufferPointer { o in
                        Resampler.parallelRows(h) { y in
                            guard y & 1 == rebuildParity else { return }
                            let up = y > 0 ? y - 1 : y + 1, dn = y < h - 1 ? y + 1 : y - 1
                            let up2 = y >= 2 ? y - 2 : y, dn2 = y + 2 < h ? y + 2 : y
                            for x in 0..<w {
                                let cUp = c[up * w + x], cDn = c[dn * w + x]
                                // temporal: this line before (prev2) and after (next2) the kept field's instant
                                let prev2 = p[y * w + x], next2 = c[y * w + x]
                                let d = (prev2 + next2) / 2
                                let td0 = abs(prev2 - next2)
                                let td1 = (abs(p[up * w + x] - cUp) + abs(p[dn * w + x] - cDn)) / 2
                                let td2 = (abs(n[up * w + x] - cUp) + abs(n[dn * w + x] - cDn)) / 2
                                var diff = max(td0 / 2, td1, td2)
                                // edge-directed spatial prediction (ELA over −1…+1)
                                var spatial = (cUp + cDn) / 2
                                if x >= 2 && x < w - 2 {
                                    func score(_ k: Int) -> Float {
                                        abs(c[up * w + x - 1 + k] - c[dn * w + x - 1 - k])
                                            + abs(c[up * w + x + k] - c[dn * w + x - k])
                                            + abs(c[up * w + x + 1 + k] - c[dn * w + x + 1 - k])
                                    }
                                    var best = score(0)
                                    for k in [-1, 1] {
                                        let s = score(k)
                                        if s < best {
                                            best = s
                                            spatial = (c[up * w + x + k] + c[dn * w + x - k]) / 2
                                        }
                                    }
                                }
                                // the interlacing check: how far the field lines two above/below move
                                let b = (p[up2 * w + x] + c[up2 * w + x]) / 2, f = (p[dn2 * w + x] + c[dn2 * w + x]) / 2
                                let mx = max(d - cDn, d - cUp, min(b - cUp, f - cDn))
                                let mn = min(d - cDn, d - cUp, max(b - cUp, f - cDn))
                                diff = max(diff, mn, -mx)
                                o[y * w + x] = min(max(spatial, d - diff), d + diff)
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
