import Foundation
import FilmCore
import MediaIO

/// A numbered picture sequence as the output (`out/frame_%06d.tif`, `.dpx`, `.png`, `.exr`): what
/// restorers hand back to an archive. The folder is made whole or not at all: the pictures are
/// written into a hidden folder beside it, each under a temporary name renamed when complete, and
/// the folder is renamed to its final name at the end; an interrupted run continues with
/// `--resume`, keeping every picture already written.
public struct SequenceOutput: Sendable {
    /// The folder the pictures go in, and the file name pattern inside it.
    public let folder: String
    public let namePattern: String
    public let ext: String

    public static let extensions: Set<String> = ["tif", "tiff", "png", "dpx", "exr"]

    /// The sequence `path` names, nil for a plain output file.
    public init?(_ path: String) {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        let name = url.lastPathComponent
        guard name.range(of: #"%0?\d*d"#, options: .regularExpression) != nil,
            Self.extensions.contains(url.pathExtension.lowercased())
        else { return nil }
        folder = url.deletingLastPathComponent().path
        namePattern = name
        ext = url.pathExtension.lowercased()
    }

    public func name(_ number: Int) -> String { String(format: namePattern, number) }

    /// The hidden folder the pictures are written into until the sequence is complete.
    public var workFolder: String {
        let url = URL(fileURLWithPath: folder)
        return url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".filmrestore-sequence"
    }

    /// The sound beside the pictures: the pattern's name before its number, as a WAV file that
    /// starts at the first picture (see `SoundExport`).
    public var soundName: String {
        let stem = namePattern.components(separatedBy: "%").first ?? "sound"
        let trimmed = stem.trimmingCharacters(in: CharacterSet(charactersIn: "_-. "))
        return (trimmed.isEmpty ? "sound" : trimmed) + ".wav"
    }

    /// The encoder a picture of this kind is written with: 16-bit TIFF and PNG, 10-bit DPX, float EXR.
    public func encoder(gray: Bool) -> EncoderSettings {
        var e = EncoderSettings(codec: MediaWriter.imageCodecs[ext] ?? "tiff")
        switch ext {
        case "png": e.pixelFormat = gray ? "gray16be" : "rgb48be"
        case "dpx": e.pixelFormat = "gbrp10le"
        case "exr": e.pixelFormat = "gbrpf32le"
        default: e.pixelFormat = gray ? "gray16le" : "rgb48le"
        }
        return e
    }

    /// Whether every file in the existing folder belongs to a sequence of this pattern (or its sound):
    /// only such a folder is replaced with --force.
    func holdsOnlyOurFiles() -> Bool {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return true }
        let parts = namePattern.components(separatedBy: "%")
        let prefix = parts.first ?? "", suffix = "." + ext
        return names.allSatisfy { n in
            n == soundName
                || (n.hasPrefix(prefix) && n.hasSuffix(suffix)
                    && n.dropFirst(prefix.count).dropLast(suffix.count).allSatisfy(\.isNumber))
        }
    }
}

extension Restorer {
    /// Writes the film as numbered pictures (see `SequenceOutput`).
    func runSequence(_ seq: SequenceOutput, progressInterval: Double, progress: ((RestoreProgress) -> Void)?) throws
        -> RestoreSummary
    {
        let began = Date()
        let fm = FileManager.default
        let work = seq.workFolder
        let resume = job.checkpoint?.resume ?? false
        if fm.fileExists(atPath: seq.folder) {
            let empty = ((try? fm.contentsOfDirectory(atPath: seq.folder)) ?? []).isEmpty
            guard empty || (job.force && seq.holdsOnlyOurFiles()) else {
                throw RestoreError.output(
                    job.force
                        ? "\(seq.folder) holds other files than a \(seq.namePattern) sequence: give a new folder"
                        : "\(seq.folder) exists and is not empty (use --force to replace the sequence in it)")
            }
        }
        if fm.fileExists(atPath: work) && !resume {
            guard job.force else {
                throw RestoreError.output(
                    "an interrupted restore of \(job.output) is in \(work): add --resume to continue it, or --force to start over"
                )
            }
            try? fm.removeItem(atPath: work)
        }
        do { try fm.createDirectory(atPath: work, withIntermediateDirectories: true) } catch {
            throw RestoreError.output("cannot create \(work): \(error.localizedDescription)")
        }
        // Pictures that a killed run left half-written.
        for n in (try? fm.contentsOfDirectory(atPath: work)) ?? [] where n.hasPrefix(".partial-") {
            unlink(work + "/" + n)
        }
        // A sequence in, the same frames out: the scans' numbers are kept (for a part too).
        let sameFrames = sequence != nil && outputStream.frameRate == reader.stream.frameRate
        let first = sameFrames ? sequence!.firstNumber : 1
        let encoder = self.encoder, stream = outputStream, pipeline = self.pipeline
        let window = try job.range.map { try rangeWindow($0) }
        final class Count {
            var k = 0, kept = 0, written = 0
            var firstPts: Rational?, endPts: Rational = .zero
        }
        let count = Count()
        let timer = progressTimer(every: progressInterval, since: began, framesDone: { count.k }, progress)
        defer { timer?.cancel() }
        try pipeline.run(
            source: windowedSource(window),
            sink: { f in
                if let w = window {
                    guard f.pts >= w.from, w.to.map({ f.pts < $0 }) ?? true, w.frames.map({ count.k < $0 }) ?? true
                    else { return }
                }
                let name = seq.name(sameFrames ? first + f.properties.sourceIndex : first + count.k)
                let final = work + "/" + name
                count.k += 1
                if count.firstPts == nil { count.firstPts = f.pts }
                count.endPts = f.pts + f.duration
                if resume, let size = (try? fm.attributesOfItem(atPath: final))?[.size] as? NSNumber, size.intValue > 0
                {
                    count.kept += 1
                    return
                }
                let partial = work + "/.partial-\(getpid())-" + name
                do {
                    let w = try MediaWriter(
                        path: partial, containerFor: name, stream: stream, settings: encoder, copyFrom: nil)
                    try w.write(f)
                    try w.finish()
                    if seq.ext == "dpx" { try DPXHeader.stamp(partial, fields: self.dpxFields(frame: f)) }
                } catch {
                    unlink(partial)
                    throw error
                }
                guard rename(partial, final) == 0 else {
                    throw RestoreError.output(
                        "cannot rename \(partial) to \(final): \(String(cString: strerror(errno)))")
                }
                count.written += 1
            })
        timer?.cancel()
        if count.k == 0 {
            try? fm.removeItem(atPath: work)
            throw window == nil ? noFrames() : RestoreError.input("\(job.input): no frame in the range asked for")
        }
        var copied: [Int] = []
        var notes: [String] = []
        if sequence == nil, let firstPts = count.firstPts {
            // The sound of exactly these pictures, from the first to the end of the last.
            let partial = work + "/.partial-\(getpid())-" + seq.soundName
            do {
                if let r = try SoundExport.writeWAV(
                    from: job.input, to: partial, start: reader.startOffset + firstPts,
                    duration: count.endPts - firstPts)
                {
                    guard rename(partial, work + "/" + seq.soundName) == 0 else {
                        throw RestoreError.output("cannot write \(seq.soundName)")
                    }
                    copied = [r.sourceStream]
                    notes.append(
                        "sound: \(seq.soundName), \(r.channels) channel(s) at \(r.sampleRate) Hz, \(r.bitsPerSample)-bit, from the first picture"
                            + (r.paddedSamples > 0
                                ? String(
                                    format: " (%.3f s of silence before the sound begins)",
                                    Double(r.paddedSamples) / Double(r.sampleRate)) : ""))
                } else {
                    unlink(partial)
                }
            } catch let e as MediaError {
                unlink(partial)
                throw RestoreError.output(
                    "cannot write the sound \(seq.soundName) (the pictures are kept in \(work)): \(e)")
            }
        }
        // Published whole: the finished folder takes the final name in one rename.
        if fm.fileExists(atPath: seq.folder) {
            // Empty, or (with --force) a sequence of ours: replaced.
            try? fm.removeItem(atPath: seq.folder)
        }
        guard rename(work, seq.folder) == 0 else {
            throw RestoreError.output(
                "cannot rename \(work) to \(seq.folder): \(String(cString: strerror(errno))) (the pictures are kept in \(work))"
            )
        }
        progress?(
            RestoreProgress(
                framesDone: count.k, framesTotal: count.k, elapsed: Date().timeIntervalSince(began),
                stepRates: pipeline.stepRates))
        if count.kept > 0 {
            notes.append("resumed: \(count.kept) picture(s) kept from the interrupted run, \(count.written) made now")
        }
        return RestoreSummary(
            input: reader.stream, output: outputStream, framesDecoded: reader.framesDecoded, framesWritten: count.k,
            seconds: Date().timeIntervalSince(began), queueHighWater: pipeline.queues.map(\.highWater),
            queueCapacity: pipeline.capacity, copiedStreams: copied, skippedStreams: notes,
            steps: pipeline.stats.map(StepTime.init), corruptPackets: reader.corruptPackets,
            inputDamage: InputDamage.of(reader))
    }
}
