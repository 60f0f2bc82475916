import Foundation

/// The report as one self-contained HTML page: stills as embedded PNGs, plots as inline SVG, no
/// outside resources. Every number on the page carries `data-key` (its path in report.json) and
/// `data-fmt` (decimals shown), so a test can hold the page to the JSON.
public enum ReportPage {
    public static func html(_ r: RestorationReport, images: ReportImages) -> String {
        var h = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Restoration report — \(esc(name(r.output.path)))</title>
            <style>\(style)</style>
            <script>\(script)</script>
            </head><body>
            <h1>Restoration report</h1>
            <p class="files"><b>\(esc(name(r.source.path)))</b> → <b>\(esc(name(r.output.path)))</b>
            · made by filmrestore \(str("tool", r.tool)) on \(str("created", r.created))</p>
            \(partLine(r))
            <div class="verdicts">
            \(verdict(r.timing.passed, "timing and sound kept", "timing or sound changed"))
            \(verdict(r.summary.inventedFrames == 0, "no frame below the fidelity thresholds", "\(r.summary.inventedFrames) frame(s) flagged as invented detail"))
            </div>

            """
        h += section("Before and after") + stillsBlock(r, images.stills)
        h += betweenBlock(r, images.between)
        h += section("Picture: flicker and noise")
        h += """
            <table><tr><th></th><th>source</th><th>output</th></tr>
            <tr><td>Flicker index (RMS deviation of each frame's brightness from the local trend, a line fitted over ±0.25 s within the shot; % of mean brightness)</td><td>\(num("summary.flickerBefore", r.summary.flickerBefore, 2, "%"))</td><td>\(num("summary.flickerAfter", r.summary.flickerAfter, 2, "%"))</td></tr>
            <tr><td>Noise σ (Immerkær, 8-bit levels, at the source's size)</td><td>\(num("summary.noiseBefore", r.summary.noiseBefore, 2))</td><td>\(num("summary.noiseAfter", r.summary.noiseAfter, 2))</td></tr>
            <tr><td>NIQE, naturalness with no reference (mean over the \(int("summary.niqeFrames", r.summary.niqeFrames)) stills' frames; the output at its own size; reference \(num("summary.niqeReference", r.summary.niqeReference, 2)))</td><td>\(num("summary.niqeSource", r.summary.niqeSource, 2))</td><td>\(num("summary.niqeOutput", r.summary.niqeOutput, 2))</td></tr>
            </table>
            <p class="note">NIQE (Mittal, Soundararajan and Bovik) compares a picture's local statistics with those of pristine
            photographs: lower is more natural. It needs no clean original, so it catches what fidelity cannot (a waxy or
            wormy upscale scores worse), but it is not a fidelity measure: a natural-looking picture can still be wrong.</p>
            \(chart("Brightness deviation from the local trend (%) — flicker", unit: "%", series: [
            ("source", "#888", r.frames.map { ($0.time, $0.flickerBefore) }),
            ("output", "#1565c0", r.frames.map { ($0.time, $0.flickerAfter) })], threshold: nil, flagged: []))
            \(chart("Noise σ (8-bit levels)", unit: "", series: [
            ("source", "#888", r.frames.map { ($0.time, $0.noiseBefore) }),
            ("output", "#1565c0", r.frames.map { ($0.time, $0.noiseAfter) })], threshold: nil, flagged: []))

            """
        h += section("Fidelity to the source")
        h += """
            <p>Each output frame at the same instant as a source frame is scaled back to the source's size and compared with
            \(str("reference", r.reference)). Frames below \(num("summary.thresholdPSNR", r.summary.thresholdPSNR, 1, " dB")) PSNR or
            \(num("summary.thresholdSSIM", r.summary.thresholdSSIM, 2)) SSIM are flagged <span class="bad">invented detail</span>:
            the output shows something the film does not.</p>
            <table><tr><th>frames compared</th><th>mean PSNR</th><th>lowest PSNR</th><th>mean SSIM</th><th>lowest SSIM</th><th>flagged</th></tr>
            <tr><td>\(int("summary.fidelityFrames", r.summary.fidelityFrames))</td><td>\(num("summary.meanPSNR", r.summary.meanPSNR, 2, " dB"))</td>
            <td>\(num("summary.minPSNR", r.summary.minPSNR, 2, " dB"))</td><td>\(num("summary.meanSSIM", r.summary.meanSSIM, 4))</td>
            <td>\(num("summary.minSSIM", r.summary.minSSIM, 4))</td><td>\(int("summary.inventedFrames", r.summary.inventedFrames))</td></tr></table>
            \(chart("PSNR against the reference (dB)", unit: " dB", series: [("PSNR", "#2e7d32", r.frames.map { ($0.time, $0.psnr) })],
                threshold: r.summary.thresholdPSNR, flagged: r.frames.filter(\.inventedDetail).compactMap { f in f.psnr.map { (f.time, $0) } }))
            \(chart("SSIM against the reference", unit: "", series: [("SSIM", "#6a1b9a", r.frames.map { ($0.time, $0.ssim) })],
                threshold: r.summary.thresholdSSIM, flagged: r.frames.filter(\.inventedDetail).compactMap { f in f.ssim.map { (f.time, $0) } }))

            """
        let flagged = r.frames.enumerated().filter { $0.element.inventedDetail }
        if !flagged.isEmpty {
            h +=
                "<h3>Flagged frames</h3><table><tr><th>frame</th><th>time (s)</th><th>PSNR (dB)</th><th>SSIM</th></tr>\n"
            for (i, f) in flagged.prefix(100) {
                h +=
                    "<tr class=\"badrow\"><td>\(int("frames.\(i).index", f.index))</td><td>\(num("frames.\(i).time", f.time, 3))</td><td>\(num("frames.\(i).psnr", f.psnr, 2))</td><td>\(num("frames.\(i).ssim", f.ssim, 4))</td></tr>\n"
            }
            if flagged.count > 100 { h += "<tr><td colspan=4>… \(flagged.count - 100) more in report.json</td></tr>\n" }
            h += "</table>\n"
        }
        h += section("Timing and sound") + timingBlock(r.timing)
        h += section("Run") + runBlock(r.run)
        h += section("Files and provenance") + filesBlock(r)
        h +=
            "<footer>Numbers on this page are those of the JSON report beside it. filmrestore \(esc(r.tool)).</footer>\n</body></html>\n"
        return h
    }

    // MARK: blocks

    static func stillsBlock(_ r: RestorationReport, _ images: [StillImages]) -> String {
        guard !r.stills.isEmpty else { return "<p>No frame of the output lined up with the source: no stills.</p>\n" }
        var h = ""
        for (i, (s, im)) in zip(r.stills, images).enumerated() {
            let k = "stills.\(i)"
            let beforeName = s.before == "source" ? "source" : "reference (cleaned source)"
            h += """
                <figure class="still">
                <figcaption><b>\(str("\(k).label", s.label))</b> — source frame \(int("\(k).index", s.index)) at \(num("\(k).time", s.time, 3, " s")),
                output frame at \(num("\(k).outputTime", s.outputTime, 3, " s")); PSNR \(num("\(k).psnr", s.psnr, 2, " dB")), SSIM \(num("\(k).ssim", s.ssim, 4));
                NIQE source \(num("\(k).niqeSource", s.niqeSource, 2)), reference \(num("\(k).niqeReference", s.niqeReference, 2)), output \(num("\(k).niqeOutput", s.niqeOutput, 2))</figcaption>
                <div class="pair"><div><img alt="before" src="\(png(im.before))"><span>\(beforeName)</span></div>
                <div><img alt="after" src="\(png(im.after))"><span>output</span></div></div>
                <div class="wipe"><canvas aria-label="before/after wipe"></canvas>
                <label><input type="range" min="0" max="100" value="50"> wipe: \(beforeName) on the left, output on the right</label></div>
                <div class="pair crops"><div><img class="crop pixelated" alt="source detail" src="\(png(im.beforeCrop))"><span>\(beforeName), \(int("\(k).crop.width", s.crop.width))×\(int("\(k).crop.height", s.crop.height)) px at (\(int("\(k).crop.x", s.crop.x)), \(int("\(k).crop.y", s.crop.y))), pixels enlarged</span></div>
                <div><img class="crop pixelated" alt="output detail" src="\(png(im.afterCrop))"><span>output, the same part at its own pixels (click to enlarge)</span></div></div>
                </figure>

                """
        }
        return h
    }

    static func partLine(_ r: RestorationReport) -> String {
        guard let p = r.part else { return "" }
        return
            "<p class=\"note\">A part of the film: from \(num("part.start", p.start, 3, " s")) to \(p.end.map { num("part.end", $0, 3, " s") } ?? "its end") of the source; every figure below is of this part.</p>"
    }

    static func projectedLine(_ r: RestorationReport.Run) -> String {
        guard let p = r.projectedSeconds else { return "" }
        return
            " Projected time for the whole film at this speed: \(clock(p)) (\(num("run.projectedSeconds", p, 0, " s")))."
    }

    /// The interpolated frame between the source frames it was made from.
    static func betweenBlock(_ r: RestorationReport, _ images: [[UInt8]]) -> String {
        guard let b = r.between, images.count == 3 else { return "" }
        return section("An interpolated frame") + """
            <p>An output frame made between two source frames, shown between them: where motion interpolation ghosts,
            tears or doubles an edge, it shows here.</p>
            <div class="pair triptych"><div><img alt="source frame" src="\(png(images[0]))"><span>source frame \(int("between.index", b.index)) at \(num("between.time", b.time, 3, " s")) (cleaned)</span></div>
            <div><img alt="interpolated frame" src="\(png(images[1]))"><span>interpolated, at \(num("between.outputTime", b.outputTime, 3, " s"))</span></div>
            <div><img alt="next source frame" src="\(png(images[2]))"><span>next source frame at \(num("between.nextTime", b.nextTime, 3, " s")) (cleaned)</span></div></div>

            """
    }

    /// H:MM:SS.
    static func clock(_ s: Double) -> String {
        let t = Int(s.rounded())
        return String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60)
    }

    static func timingBlock(_ t: RestorationReport.Timing) -> String {
        var h = """
            <table><tr><th></th><th>source</th><th>output</th></tr>
            <tr><td>Picture duration</td><td>\(num("timing.inputDuration", t.inputDuration, 3, " s"))</td><td>\(num("timing.outputDuration", t.outputDuration, 3, " s"))</td></tr>
            <tr><td>Frames</td><td>\(int("timing.inputFrames", t.inputFrames))</td><td>\(int("timing.outputFrames", t.outputFrames)) (expected \(intOpt("timing.expectedFrames", t.expectedFrames)); missing \(int("timing.missingFrames", t.missingFrames)))</td></tr>
            <tr><td>Sound − picture at the start</td><td>\(num("timing.inputOffsetAtStart", t.inputOffsetAtStart.map { $0 * 1000 }, 1, " ms", scale: 1000))</td><td>\(num("timing.outputOffsetAtStart", t.outputOffsetAtStart.map { $0 * 1000 }, 1, " ms", scale: 1000))</td></tr>
            <tr><td>Sound − picture at the end</td><td>\(num("timing.inputOffsetAtEnd", t.inputOffsetAtEnd.map { $0 * 1000 }, 1, " ms", scale: 1000))</td><td>\(num("timing.outputOffsetAtEnd", t.outputOffsetAtEnd.map { $0 * 1000 }, 1, " ms", scale: 1000))</td></tr>
            </table>

            """
        if t.problems.isEmpty {
            h += "<p class=\"good\">Timing and sound were kept.</p>\n"
        } else {
            h +=
                "<ul class=\"bad\">"
                + t.problems.enumerated().map { "<li>\(str("timing.problems.\($0.offset)", $0.element))</li>" }.joined()
                + "</ul>\n"
        }
        return h
    }

    static func runBlock(_ run: RestorationReport.Run?) -> String {
        guard let r = run else {
            return
                "<p>Not recorded: this report was made for an existing output (give <code>--stats</code> a file from <code>restore --stats-json</code> to include it).</p>\n"
        }
        var h = """
            <p>\(int("run.framesWritten", r.framesWritten)) frames written in \(num("run.seconds", r.seconds, 1, " s")); peak memory \(num("run.peakMemoryMiB", r.peakMemoryMiB, 0, " MiB")).\(projectedLine(r))</p>
            \(r.inputDamage.map { "<p class=\"bad\"><b>Input damaged</b>: \(int("run.inputDamage.framesDecoded", $0.framesDecoded)) of \($0.framesDeclared.map { int("run.inputDamage.framesDeclared", $0) } ?? "an unknown number of") frames decoded\(stopsEarly($0)), \(int("run.inputDamage.corruptPackets", $0.corruptPackets)) packets corrupt\($0.readError.map { "; reading stopped early (" + str("run.inputDamage.readError", $0) + ")" } ?? ""). The output holds the frames made from what decoded: it is not the whole film.</p>" } ?? "")
            <table><tr><th>step</th><th>frames made at</th><th>busy time</th><th>frames</th><th>throughput</th></tr>

            """
        for (i, s) in r.steps.enumerated() {
            h +=
                "<tr><td>\(str("run.steps.\(i).name", s.name))</td><td>\(s.size.map { str("run.steps.\(i).size", $0) } ?? "—")</td><td>\(num("run.steps.\(i).seconds", s.seconds, 2, " s"))</td><td>\(int("run.steps.\(i).frames", s.frames))</td><td>\(num("run.steps.\(i).framesPerSecond", s.framesPerSecond, 2, " fps"))</td></tr>\n"
        }
        return h
            + "</table>\n<p class=\"note\">Steps run at once, each on its own queue: busy times overlap and add up to more than the run.</p>\n"
            + colourBlock(r.shotColour)
    }

    /// The colour's certainty by shot, least sure first (at most 20 shown; every shot is in the JSON).
    static func colourBlock(_ shots: [ShotColour]?) -> String {
        guard let shots, !shots.isEmpty else { return "" }
        let order = shots.indices.sorted { shots[$0].meanCertainty < shots[$1].meanCertainty }
        var h = """
            <h3>Colour, shot by shot</h3>
            <p>How sure the colorizer was of each shot's colour (the mean over the shot of its per-pixel certainty: \
            0 unsure, 1 sure; where it is unsure, the colour falls toward gray). The least sure shots are the ones to \
            give a keyframe: <code>filmrestore keyframes</code> writes their frames for colouring, and \
            <code>colorize.reference</code> reads them back. \(shots.count) shot\(shots.count == 1 ? "" : "s")\
            \(shots.count > 20 ? ", the 20 least sure shown" : ""):</p>
            <table><tr><th>shot from frame</th><th>at</th><th>frames</th><th>mean certainty</th><th>least sure frame</th></tr>

            """
        for i in order.prefix(20) {
            let s = shots[i], k = "run.shotColour.\(i)"
            h +=
                "<tr><td>\(int("\(k).firstFrame", s.firstFrame))</td><td>\(num("\(k).time", s.time, 2, " s"))</td><td>\(int("\(k).frames", s.frames))</td><td>\(num("\(k).meanCertainty", s.meanCertainty, 3, ""))</td><td>\(int("\(k).leastFrame", s.leastFrame)) (\(num("\(k).leastCertainty", s.leastCertainty, 3, "")))</td></tr>\n"
        }
        return h + "</table>\n"
    }

    static func filesBlock(_ r: RestorationReport) -> String {
        func row(_ label: String, _ k: String, _ f: RestorationReport.FileSummary) -> String {
            "<tr><td>\(label)</td><td class=\"path\">\(str("\(k).path", f.path))</td><td>\(int("\(k).width", f.width))×\(int("\(k).height", f.height))</td><td>\(str("\(k).frameRate", f.frameRate))</td><td>\(int("\(k).frames", f.frames))</td><td>\(num("\(k).duration", f.duration, 3, " s"))</td></tr>\n"
        }
        var h = "<table><tr><th></th><th>file</th><th>size</th><th>rate</th><th>frames</th><th>duration</th></tr>\n"
        h += row("source", "source", r.source) + row("output", "output", r.output) + "</table>\n"
        h +=
            "<p>Picture area compared: output \(int("activeArea.output.width", r.activeArea.output.width))×\(int("activeArea.output.height", r.activeArea.output.height)) at (\(int("activeArea.output.x", r.activeArea.output.x)), \(int("activeArea.output.y", r.activeArea.output.y))) ↔ source \(int("activeArea.source.width", r.activeArea.source.width))×\(int("activeArea.source.height", r.activeArea.source.height)).</p>\n"
        if r.provenance.isEmpty {
            h += "<p>The output carries no filmrestore provenance tags.</p>\n"
        } else {
            h += "<table class=\"prov\"><tr><th>tag</th><th>value</th></tr>\n"
            for k in r.provenance.keys.sorted() {
                h += "<tr><td>\(esc(k))</td><td>\(str("provenance.\(k)", r.provenance[k]!))</td></tr>\n"
            }
            h += "</table>\n"
        }
        return h
    }

    // MARK: plots

    /// A line chart over the film's time; nil values break the line.
    static func chart(
        _ title: String, unit: String, series: [(String, String, [(Double, Double?)])], threshold: Double?,
        flagged: [(Double, Double)]
    ) -> String {
        let w = 900.0, ht = 220.0, ml = 56.0, mr = 16.0, mt = 28.0, mb = 34.0
        let xs = series.flatMap { $0.2.map(\.0) }
        var ys = series.flatMap { $0.2.compactMap(\.1) }
        if let t = threshold { ys.append(t) }
        guard let x0 = xs.min(), let x1 = xs.max(), var y0 = ys.min(), var y1 = ys.max() else {
            return "<p class=\"note\">\(esc(title)): no values.</p>\n"
        }
        if y1 - y0 < 1e-9 {
            y0 -= 1
            y1 += 1
        }
        let yt = ticks(y0, y1), xt = ticks(x0, max(x1, x0 + 1e-3))
        y0 = min(y0, yt.first!)
        y1 = max(y1, yt.last!)
        let xspan = max(x1 - x0, 1e-3)
        func px(_ x: Double) -> Double { ml + (x - x0) / xspan * (w - ml - mr) }
        func py(_ y: Double) -> Double { ht - mb - (y - y0) / (y1 - y0) * (ht - mt - mb) }
        var s =
            "<svg class=\"chart\" viewBox=\"0 0 \(Int(w)) \(Int(ht))\" role=\"img\" aria-label=\"\(esc(title))\"><title>\(esc(title))</title>\n"
        s += "<text x=\"\(ml)\" y=\"16\" class=\"ct\">\(esc(title))</text>\n"
        for t in yt {
            s +=
                "<line x1=\"\(f1(ml))\" x2=\"\(f1(w - mr))\" y1=\"\(f1(py(t)))\" y2=\"\(f1(py(t)))\" class=\"grid\"/><text x=\"\(f1(ml - 6))\" y=\"\(f1(py(t) + 4))\" class=\"yl\">\(label(t))</text>\n"
        }
        for t in xt where t >= x0 - 1e-9 && t <= x1 + 1e-9 {
            s +=
                "<line x1=\"\(f1(px(t)))\" x2=\"\(f1(px(t)))\" y1=\"\(f1(mt))\" y2=\"\(f1(ht - mb))\" class=\"grid\"/><text x=\"\(f1(px(t)))\" y=\"\(f1(ht - mb + 16))\" class=\"xl\">\(label(t)) s</text>\n"
        }
        if let t = threshold {
            s +=
                "<line x1=\"\(f1(ml))\" x2=\"\(f1(w - mr))\" y1=\"\(f1(py(t)))\" y2=\"\(f1(py(t)))\" class=\"thr\"/><text x=\"\(f1(w - mr))\" y=\"\(f1(py(t) - 4))\" class=\"tl\">threshold \(label(t))\(esc(unit))</text>\n"
        }
        for (i, (name, color, pts)) in series.enumerated() {
            var runs: [[(Double, Double)]] = [[]]
            for (x, y) in decimated(pts, bins: 1200) {
                if let y = y { runs[runs.count - 1].append((x, y)) } else if !runs.last!.isEmpty { runs.append([]) }
            }
            for run in runs where !run.isEmpty {
                if run.count == 1 {
                    s += "<circle cx=\"\(f1(px(run[0].0)))\" cy=\"\(f1(py(run[0].1)))\" r=\"2\" fill=\"\(color)\"/>\n"
                    continue
                }
                s +=
                    "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.4\" points=\""
                    + run.map { "\(f1(px($0.0))),\(f1(py($0.1)))" }.joined(separator: " ") + "\"/>\n"
            }
            let lx = w - mr - 110 * Double(series.count - i)
            s +=
                "<rect x=\"\(f1(lx))\" y=\"8\" width=\"12\" height=\"4\" fill=\"\(color)\"/><text x=\"\(f1(lx + 16))\" y=\"14\" class=\"lg\">\(esc(name))</text>\n"
        }
        for (x, y) in flagged { s += "<circle cx=\"\(f1(px(x)))\" cy=\"\(f1(py(y)))\" r=\"3.5\" class=\"flag\"/>\n" }
        return s + "</svg>\n"
    }

    /// A feature film has 100,000+ frames: beyond 2 points per bin, each bin keeps its lowest and
    /// highest value (in time order), so spikes stay visible and the page stays small. A gap (nil)
    /// in a bin is kept as a gap.
    static func decimated(_ pts: [(Double, Double?)], bins: Int) -> [(Double, Double?)] {
        guard pts.count > 2 * bins, let x0 = pts.first?.0, let x1 = pts.last?.0, x1 > x0 else { return pts }
        var out: [(Double, Double?)] = []
        var i = 0
        for b in 0..<bins {
            let end = b == bins - 1 ? x1 + 1 : x0 + (x1 - x0) * Double(b + 1) / Double(bins)
            var lo: (Double, Double)?, hi: (Double, Double)?, gap = false
            while i < pts.count && pts[i].0 < end {
                if let y = pts[i].1 {
                    if lo == nil || y < lo!.1 { lo = (pts[i].0, y) }
                    if hi == nil || y > hi!.1 { hi = (pts[i].0, y) }
                } else {
                    gap = true
                }
                i += 1
            }
            if gap { out.append((x0, nil)) }
            if let l = lo, let h = hi { out += l.0 <= h.0 ? [(l.0, l.1), (h.0, h.1)] : [(h.0, h.1), (l.0, l.1)] }
        }
        return out
    }

    /// About five round steps covering lo…hi.
    static func ticks(_ lo: Double, _ hi: Double) -> [Double] {
        let raw = (hi - lo) / 5
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        var t = floor(lo / step) * step, out: [Double] = []
        while t <= hi + step * 1e-9 {
            out.append(t)
            t += step
        }
        if out.last! < hi { out.append(t) }
        return out
    }

    // MARK: pieces

    static func section(_ t: String) -> String { "<h2>\(esc(t))</h2>\n" }
    static func verdict(_ ok: Bool, _ good: String, _ bad: String) -> String {
        "<span class=\"verdict \(ok ? "good" : "bad")\">\(ok ? "✔" : "✘") \(esc(ok ? good : bad))</span>"
    }
    /// A number with its JSON path; "—" for a missing value. `scale` says the page shows the JSON value times it.
    static func num(_ key: String, _ v: Double?, _ decimals: Int, _ unit: String = "", scale: Double = 1) -> String {
        guard let v = v, v.isFinite else {
            return "<span data-key=\"\(key)\" data-fmt=\"\(decimals)\" data-scale=\"\(scale)\">—</span>"
        }
        return
            "<span data-key=\"\(key)\" data-fmt=\"\(decimals)\" data-scale=\"\(scale)\">\(String(format: "%.\(decimals)f", v))</span>\(esc(unit))"
    }
    static func int(_ key: String, _ v: Int) -> String {
        "<span data-key=\"\(key)\" data-fmt=\"0\" data-scale=\"1\">\(v)</span>"
    }
    static func intOpt(_ key: String, _ v: Int?) -> String {
        v.map { int(key, $0) } ?? "<span data-key=\"\(key)\" data-fmt=\"0\" data-scale=\"1\">—</span>"
    }
    static func str(_ key: String, _ v: String) -> String {
        "<span data-key=\"\(key)\" data-fmt=\"s\">\(esc(v))</span>"
    }
    static func f1(_ v: Double) -> String { String(format: "%.1f", v) }
    static func label(_ v: Double) -> String {
        abs(v - v.rounded()) < 1e-9
            ? String(format: "%.0f", v)
            : (abs(v * 10 - (v * 10).rounded()) < 1e-9 ? String(format: "%.1f", v) : String(format: "%.2f", v))
    }
    static func name(_ p: String) -> String { (p as NSString).lastPathComponent }
    static func png(_ bytes: [UInt8]) -> String { "data:image/png;base64," + Data(bytes).base64EncodedString() }
    public static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static let style = """
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1340px;padding:0 16px;color:#222;background:#fafafa}
        h1{margin:0 0 4px}h2{margin-top:32px;border-bottom:1px solid #ccc;padding-bottom:4px}
        table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}th{background:#eee}
        .verdict{display:inline-block;margin:8px 8px 0 0;padding:4px 10px;border-radius:4px;font-weight:600}
        .good{color:#1b5e20}.verdict.good{background:#e8f5e9}.bad{color:#b71c1c}.verdict.bad{background:#ffebee}.badrow td{background:#fff3f3}
        figure.still{margin:16px 0;padding:12px;background:#fff;border:1px solid #ddd;border-radius:6px}
        .pair{display:flex;gap:12px;flex-wrap:wrap}.pair>div{display:flex;flex-direction:column;gap:4px}.pair img{max-width:640px;width:100%;height:auto;background:#000}
        .wipe{display:flex;flex-direction:column;gap:4px;margin:8px 0}.wipe canvas{max-width:640px;width:100%;height:auto;background:#000}.wipe input{width:min(640px,100%)}
        .crops img{width:320px;height:320px;object-fit:contain;cursor:zoom-in}.crops img.zoomed{width:640px;height:640px;cursor:zoom-out}
        .pixelated{image-rendering:pixelated}.pair span{font-size:12px;color:#555}
        svg.chart{width:100%;max-width:900px;background:#fff;border:1px solid #ddd;margin:8px 0;display:block}
        .grid{stroke:#eee}.yl{font-size:10px;text-anchor:end;fill:#555}.xl{font-size:10px;text-anchor:middle;fill:#555}.ct{font-size:12px;font-weight:600}
        .thr{stroke:#c62828;stroke-dasharray:4 3}.tl{font-size:10px;text-anchor:end;fill:#c62828}.lg{font-size:11px}.flag{fill:#c62828}
        .note{color:#666;font-size:12px}.path{font-family:monospace;font-size:12px;word-break:break-all}.prov td{font-family:monospace;font-size:12px;word-break:break-all}
        footer{margin-top:32px;color:#777;font-size:12px}
        """

    /// Enlarges a crop on click; records any script error and how many images decoded on the
    /// body, where the headless-browser check reads them.
    static let script = """
        window.addEventListener('error', function (e) {
          var b = document.body || document.documentElement;
          b.setAttribute('data-script-errors', (b.getAttribute('data-script-errors') || '') + (e.message || 'error') + '; ');
        });
        document.addEventListener('DOMContentLoaded', function () {
          document.querySelectorAll('img.crop').forEach(function (img) {
            img.addEventListener('click', function () { img.classList.toggle('zoomed'); });
          });
          document.body.setAttribute('data-rendered', 'yes');
        });
        window.addEventListener('load', function () {
          // Before/after wipe: the still pair drawn into one canvas, split where the slider says.
          var figures = document.querySelectorAll('figure.still'), wipes = 0;
          figures.forEach(function (fig) {
            var pair = fig.querySelectorAll('.pair:not(.crops) img'), canvas = fig.querySelector('.wipe canvas'), slider = fig.querySelector('.wipe input');
            if (pair.length < 2 || !canvas || !slider) { return; }
            var before = pair[0], after = pair[1], w = before.naturalWidth, h = before.naturalHeight;
            if (!w || !h) { return; }
            canvas.width = w; canvas.height = h;
            var ctx = canvas.getContext('2d');
            function draw() {
              var x = Math.round(w * slider.value / 100), ax = after.naturalWidth / w, ay = after.naturalHeight / h;
              ctx.drawImage(before, 0, 0, w, h);
              if (x < w) { ctx.drawImage(after, x * ax, 0, (w - x) * ax, h * ay, x, 0, w - x, h); }
              ctx.fillStyle = '#ff0'; ctx.fillRect(Math.max(0, x - 1), 0, 2, h);
            }
            slider.addEventListener('input', draw);
            draw();
            // drawn: the left and right halves show different pictures (or the pair is identical)
            wipes += 1;
          });
          document.body.setAttribute('data-wipes', wipes + '/' + figures.length);
          var imgs = Array.prototype.slice.call(document.images);
          var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
          document.body.setAttribute('data-images', ok + '/' + imgs.length);
        });
        """
}

extension ReportPage {
    /// Writes the page and, beside it, the JSON (same name, `.json`), each through a temporary
    /// file renamed at the end. Returns the JSON's path.
    @discardableResult
    public static func write(
        _ r: RestorationReport, images: ReportImages, to path: String, force: Bool = true, inputs: [String] = []
    ) throws -> String {
        let url = URL(fileURLWithPath: path)
        guard url.pathExtension.lowercased() == "html" || url.pathExtension.lowercased() == "htm" else {
            throw RestoreError.output("the report is an HTML page: name it .html (\(path))")
        }
        let json = jsonPath(for: path)
        try writeJSON(r, to: json, force: force, inputs: inputs)
        try writeAtomically(Data(html(r, images: images).utf8), to: path, force: force, inputs: inputs)
        return json
    }

    /// The report's JSON: beside the page, same name, `.json`.
    public static func jsonPath(for page: String) -> String {
        URL(fileURLWithPath: page).deletingPathExtension().appendingPathExtension("json").path
    }
}

/// " (the film stops at E s of the D s the file declares)" for a film cut short, else "".
private func stopsEarly(_ d: InputDamage) -> String {
    guard let e = d.endedAt, let end = d.declaredEnd else { return "" }
    return String(format: " (the film stops at %.2f s of the %.2f s the file declares)", e, end)
}
