import Foundation
import FilmCore
import MediaIO

/// A side-by-side clip of a part of a film: the source on the left, the restoration on the right,
/// both at the same height and at the same instant, with the part's sound — what a restorer shows
/// an archive before a chain is run on a whole film (`filmrestore preview`).
public enum BeforeAfterClip {
    /// Writes the clip to `path` (atomically). `restored` is the restored part (starting at 0),
    /// `source` the film it was made from, `start` where the part begins in the source.
    /// Each half is at most `maxHeight` rows (never enlarged past the restoration's height).
    @discardableResult
    public static func write(
        source: String, sourceRate: Rational? = nil, start: Rational, restored: String, to path: String,
        maxHeight: Int = 540,
        force: Bool, inputs: [String]
    ) throws -> Int {
        let after = try MediaReader(path: restored)
        let before = try MediaReader(path: source, sequenceRate: sourceRate)
        let a = after.stream, b = before.stream
        // The halves share a height; each keeps its own display shape.
        let h = min(maxHeight, a.height) & ~1
        func halfWidth(_ s: StreamInfo) -> Int {
            max(2, Int((Double(h) * s.displayAspect.doubleValue).rounded()) & ~1)
        }
        let wb = halfWidth(b), wa = halfWidth(a)
        let rate = a.frameRate ?? a.averageRate
        let info = StreamInfo(
            width: wb + wa, height: h, layout: .rgb, frameRate: rate, averageRate: rate,
            color: .bt709, duration: a.duration)
        let out = try OutputFile(path: path, inputs: inputs, force: force)
        do {
            guard var current = try before.nextFrame(notBefore: start) else {
                throw RestoreError.input("\(source): no frame at \(String(format: "%.3f", start.doubleValue)) s")
            }
            let origin = current.pts
            var next = try before.nextFrame()
            var writer: MediaWriter?
            let sb = Resampler(from: b.width, b.height, to: wb, h), sa = Resampler(from: a.width, a.height, to: wa, h)
            var count = 0
            while let f = try after.nextFrame() {
                // The source frame shown at this instant: the last one that began at or before it.
                while let n = next, n.pts - origin <= f.pts + Rational(1, 2000) {
                    current = n
                    next = try before.nextFrame()
                }
                if writer == nil {
                    writer = try MediaWriter(
                        path: out.temporaryPath, containerFor: path, stream: info,
                        settings: EncoderSettings(codec: "libx264", crf: 16, preset: "fast"),
                        copyFrom: source, startOffset: before.startOffset + origin,
                        sideSpan: a.duration ?? Rational(3600),
                        metadata: ["comment": "filmrestore preview: source (left), restored (right)"])
                }
                let l = current.promotedToRGB(), r = f.promotedToRGB()
                var planes: [[Float]] = []
                for p in 0..<3 {
                    let left = sb.resample(l.planes[p]), right = sa.resample(r.planes[p])
                    var row = [Float]()
                    row.reserveCapacity((wb + wa) * h)
                    for y in 0..<h {
                        row.append(contentsOf: left[(y * wb)..<((y + 1) * wb)])
                        row.append(contentsOf: right[(y * wa)..<((y + 1) * wa)])
                    }
                    planes.append(row)
                }
                var props = f.properties
                props.sampleAspect = .one
                try writer!.write(
                    Frame(
                        width: wb + wa, height: h, layout: .rgb, planes: planes, pts: f.pts, duration: f.duration,
                        properties: props))
                count += 1
            }
            guard let w = writer else { throw RestoreError.input("\(restored): no frame to show") }
            try w.finish()
            try out.commit()
            return count
        } catch {
            out.discard()
            throw error
        }
    }
}
