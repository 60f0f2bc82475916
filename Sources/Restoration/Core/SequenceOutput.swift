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
              Self.extensions.contains(url.pathExtension.lowercased()) else { return nil }
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

    /// The sound beside the pictures: the pattern's name before its number, `.mka` (copied packet
    /// for packet, as in every output).
    public var soundName: String {
        let stem = namePattern.components(separatedBy: "%").first ?? "sound"
        let trimmed = stem.trimmingCharacters(in: CharacterSet(charactersIn: "_-. "))
        return (trimmed.isEmpty ? "sound" : trimmed) + ".mka"
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
            n == soundName || (n.hasPrefix(prefix) && n.hasSuffix(suffix) && n.dropFirst(prefix.count).dropLast(suffix.count).allSatisfy(\.isNumber))
        }
    }
}

extension Restorer {
    /// Writes the film as numbered pictures (see `SequenceOutput`).
    func runSequence(_ seq: SequenceOutput, progressInterval: Double, progress: ((RestoreProgress) -> Void)?) throws -> RestoreSummary {
        let began = Date()
        let fm = FileManager.default
        let work = seq.workFolder
        let resume = job.checkpoint?.resume ?? false
        if fm.fileExists(atPath: seq.folder) {
            let empty = ((try? fm.contentsOfDirectory(atPath: seq.folder)) ?? []).isEmpty
            guard empty || (job.force && seq.holdsOnlyOurFiles()) else {
                throw RestoreError.output(job.force ? "\(seq.folder) holds other files than a \(seq.namePattern) sequence: give a new folder"
                                                    : "\(seq.folder) exists and is not empty (use --force to replace the sequence in it)")
            }
        }
        if fm.fileExists(atPath: work) && !resume {
            guard job.force else { throw RestoreError.output("an interrupted restore of \(job.output) is in \(work): add --resume to continue it, or --force to start over") }
            try? fm.removeItem(atPath: work)
        }
        do { try fm.createDirectory(atPath: work, withIntermediateDirectories: true) } catch {
            throw RestoreError.output("cannot create \(work): \(error.localizedDescription)")
        }
        // Pictures that a killed run left half-written.
        for n in (try? fm.contentsOfDirectory(atPath: work)) ?? [] where n.hasPrefix(".partial-") { unlink(work + "/" + n) }
        // A sequence in, the same frames out: the scans' numbers are kept.
        let sameFrames = sequence != nil && outputStream.frameRate == reader.stream.frameRate
        let first = sameFrames ? sequence!.firstNumber : 1
        let encoder = self.encoder, stream = outputStream, reader = self.reader, pipeline = self.pipeline
        final class Count { var k = 0, kept = 0, written = 0 }
        let count = Count()
        let timer = progressTimer(every: progressInterval, since: began, framesDone: { count.k }, progress)
        defer { timer?.cancel() }
        try pipeline.run(source: { try reader.nextFrame() }, sink: { f in
            let name = seq.name(first + count.k)
            let final = work + "/" + name
            count.k += 1
            if resume, let size = (try? fm.attributesOfItem(atPath: final))?[.size] as? NSNumber, size.intValue > 0 {
                count.kept += 1
                return
            }
            let partial = work + "/.partial-\(getpid())-" + name
            do {
                let w = try MediaWriter(path: partial, containerFor: name, stream: stream, settings: encoder, copyFrom: nil)
                try w.write(f)
                try w.finish()
            } catch {
                unlink(partial)
                throw error
            }
            guard rename(partial, final) == 0 else { throw RestoreError.output("cannot rename \(partial) to \(final): \(String(cString: strerror(errno)))") }
            count.written += 1
        })
        timer?.cancel()
        if count.k == 0 {
            try? fm.removeItem(atPath: work)
            throw noFrames()
        }
        var copied: [Int] = []
        if sequence == nil {
            let partial = work + "/.partial-\(getpid())-" + seq.soundName
            let n = try MediaWriter.copySound(from: job.input, to: partial, containerFor: seq.soundName, startOffset: reader.startOffset)
            if n > 0 {
                guard rename(partial, work + "/" + seq.soundName) == 0 else { throw RestoreError.output("cannot write \(seq.soundName)") }
                copied = Array(0..<n)
            } else { unlink(partial) }
        }
        // Published whole: the finished folder takes the final name in one rename.
        if fm.fileExists(atPath: seq.folder) {
            // Empty, or (with --force) a sequence of ours: replaced.
            try? fm.removeItem(atPath: seq.folder)
        }
        guard rename(work, seq.folder) == 0 else {
            throw RestoreError.output("cannot rename \(work) to \(seq.folder): \(String(cString: strerror(errno))) (the pictures are kept in \(work))")
        }
        progress?(RestoreProgress(framesDone: count.k, framesTotal: count.k, elapsed: Date().timeIntervalSince(began), stepRates: pipeline.stepRates))
        var notes: [String] = []
        if count.kept > 0 { notes.append("resumed: \(count.kept) picture(s) kept from the interrupted run, \(count.written) made now") }
        return RestoreSummary(input: reader.stream, output: outputStream, framesDecoded: reader.framesDecoded, framesWritten: count.k,
                              seconds: Date().timeIntervalSince(began), queueHighWater: pipeline.queues.map(\.highWater),
                              queueCapacity: pipeline.capacity, copiedStreams: copied, skippedStreams: notes,
                              steps: pipeline.stats.map(StepTime.init), corruptPackets: reader.corruptPackets,
                              inputDamage: InputDamage.of(reader))
    }
}
