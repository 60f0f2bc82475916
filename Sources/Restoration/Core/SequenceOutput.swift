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
    /// The name around the number (`%%` already turned into `%`), and the number's width (0: as is).
    let prefix: String, suffix: String, width: Int

    public static let extensions: Set<String> = ["tif", "tiff", "png", "dpx", "exr"]

    /// The record beside the pictures in the work folder (and in the published folder): which run
    /// made them, so a resume keeps only pictures of the same recipe and a `--force` replaces only a
    /// folder this tool made.
    static let markerName = ".filmrestore-sequence.json"
    struct Marker: Codable, Equatable {
        var fingerprint: String
        var preset: String
        var pattern: String
        var width: Int
        var height: Int
        var codec: String
        /// The pixel format the first picture written reads back as (nil until one is written).
        var pixelFormat: String?
    }

    /// The sequence `path` names, nil for a plain output file. A picture name with a `%` must be a
    /// pattern of exactly one number field (`%d`, `%0Nd`) and `%%` for a percent sign: anything else
    /// is an error naming the field, never a name printf makes up.
    public static func named(_ path: String) throws -> SequenceOutput? {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        let name = url.lastPathComponent
        let ext = url.pathExtension.lowercased()
        guard name.contains("%"), extensions.contains(ext) || ["jpg", "jpeg", "bmp"].contains(ext) else { return nil }
        var prefix = "", suffix = "", width: Int? = nil
        let chars = Array(name)
        var i = 0
        func bad(_ field: String) -> RestoreError {
            RestoreError.output(
                "-o \(name): a picture sequence's name takes one number field, %d or %0Nd (like f_%06d.\(ext)), and %% for a percent sign; '\(field)' is not allowed"
            )
        }
        while i < chars.count {
            let c = chars[i]
            guard c == "%" else {
                if width == nil { prefix.append(c) } else { suffix.append(c) }
                i += 1
                continue
            }
            if i + 1 < chars.count && chars[i + 1] == "%" {
                if width == nil { prefix.append("%") } else { suffix.append("%") }
                i += 2
                continue
            }
            // %d or %0Nd
            var j = i + 1
            var digits = ""
            while j < chars.count, chars[j].isASCII, chars[j].isNumber {
                digits.append(chars[j])
                j += 1
            }
            let field = String(chars[i..<min(j + 1, chars.count)])
            guard j < chars.count, chars[j] == "d", digits.isEmpty || (digits.first == "0" && digits.count <= 3)
            else { throw bad(field) }
            guard width == nil else { throw bad(field + "' (a second number field") }
            width = Int(digits) ?? 0
            guard width! <= 12 else { throw bad(field) }
            i = j + 1
        }
        guard let w = width else { throw bad("%") }
        guard extensions.contains(ext) else {
            throw RestoreError.output(
                "-o \(name): a picture sequence is written as \(extensions.sorted().joined(separator: ", ")) pictures")
        }
        return SequenceOutput(
            folder: url.deletingLastPathComponent().path, namePattern: name, ext: ext, prefix: prefix, suffix: suffix,
            width: w)
    }

    private init(folder: String, namePattern: String, ext: String, prefix: String, suffix: String, width: Int) {
        self.folder = folder
        self.namePattern = namePattern
        self.ext = ext
        self.prefix = prefix
        self.suffix = suffix
        self.width = width
    }

    public func name(_ number: Int) -> String {
        let digits = String(number)
        return prefix + String(repeating: "0", count: max(0, width - digits.count)) + digits + suffix
    }

    /// Whether `name` is one of this sequence's picture names.
    func isPictureName(_ n: String) -> Bool {
        guard n.count > prefix.count + suffix.count, n.hasPrefix(prefix), n.hasSuffix(suffix) else { return false }
        let mid = n.dropFirst(prefix.count).dropLast(suffix.count)
        return mid.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// The hidden folder the pictures are written into until the sequence is complete.
    public var workFolder: String {
        let url = URL(fileURLWithPath: folder)
        return url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".filmrestore-sequence"
    }

    /// The sound beside the pictures: the pattern's name before its number, as a WAV file that
    /// starts at the first picture (see `SoundExport`).
    public var soundName: String {
        let trimmed = prefix.trimmingCharacters(in: CharacterSet(charactersIn: "_-. "))
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

    /// The names in `dir` that this tool did not make for this sequence (its pictures, its sound, its
    /// record, pictures being written): anything else, or anything not a regular file.
    func foreignEntries(in dir: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { n in
            let ours =
                n == soundName || n == Self.markerName || isPictureName(n)
                || (n.hasPrefix(".partial-") && isPictureName(String(n.split(separator: "-", maxSplits: 2).last ?? "")))
                || n.hasPrefix(".partial-") && n.hasSuffix(soundName)
            return !ours || FilePaths.kind(dir + "/" + n) != S_IFREG
        }.sorted()
    }

    func readMarker(in dir: String) -> Marker? {
        guard let d = FileManager.default.contents(atPath: dir + "/" + Self.markerName) else { return nil }
        return try? JSONDecoder().decode(Marker.self, from: d)
    }

    func writeMarker(_ m: Marker, in dir: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeAtomically(try enc.encode(m), to: dir + "/" + Self.markerName)
    }

    /// The rules for a sequence's folder: a folder (never a file, device or link), not the current
    /// folder or one holding it, not one holding any of `inputs`, and if it holds anything, a sequence
    /// this tool made, replaced only with `force`.
    func checkFolder(inputs: [String], force: Bool) throws {
        let cwd = FileManager.default.currentDirectoryPath
        if FilePaths.isFolder(folder, atOrAbove: cwd) {
            throw RestoreError.output(
                "refusing to write the sequence into \(folder): it is the current folder or holds it; give a new folder (like out/f_%06d.\(ext))"
            )
        }
        if let f = inputs.first(where: { FilePaths.isFolder(folder, atOrAbove: $0) }) {
            throw RestoreError.output("refusing to write the sequence into \(folder): it holds the input \(f)")
        }
        guard let k = FilePaths.kind(folder) else { return }
        guard k == S_IFDIR else {
            throw RestoreError.output(
                "refusing to write the sequence into \(folder): it is \(FilePaths.kindName(k)), not a folder; give a new folder"
            )
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        guard !names.isEmpty else { return }
        guard isOurFolder(folder) else {
            throw RestoreError.output(
                "\(folder) holds files this tool did not make for a \(namePattern) sequence: give a new folder")
        }
        guard force else {
            throw RestoreError.output("\(folder) holds a sequence already (use --force to replace it)")
        }
    }

    /// Whether `dir` is a folder this tool made for a sequence of this pattern: its record is there
    /// and nothing else is.
    func isOurFolder(_ dir: String) -> Bool {
        readMarker(in: dir) != nil && foreignEntries(in: dir).isEmpty
    }
}

extension Restorer {
    /// Writes the film as numbered pictures (see `SequenceOutput`).
    func runSequence(_ seq: SequenceOutput, progressInterval: Double, progress: ((RestoreProgress) -> Void)?) throws
        -> RestoreSummary
    {
        let began = Date()
        let marker = try prepareWorkFolder(seq)
        // A sequence in, the same frames out: the scans' numbers are kept (for a part too).
        let sameFrames = sequence != nil && outputStream.frameRate == reader.stream.frameRate
        let window = try job.range.map { try rangeWindow($0) }
        let sink = PictureSequenceSink(
            seq, marker: marker, resume: job.checkpoint?.resume ?? false, stream: outputStream, encoder: encoder,
            numbering: sameFrames ? .source(first: sequence!.firstNumber) : .counted,
            dpxFields: { [self] f in dpxFields(frame: f) },
            publish: { [self] s in try publish(seq, s, range: window != nil) })
        let timer = progressTimer(every: progressInterval, since: began, framesDone: { sink.pictures }, progress)
        defer { timer?.cancel() }
        try RunLoop.run(
            pipeline, source: windowedSource(window), window: window, into: sink, observe: shotColour.see)
        timer?.cancel()
        var notes = sink.notes
        if sink.kept > 0 || sink.replaced > 0 {
            notes.append(
                "resumed: \(sink.kept) picture(s) kept from the interrupted run, \(sink.written) made now"
                    + (sink.replaced > 0
                        ? " (\(sink.replaced) found there were not pictures of this run and were made again)" : ""))
        }
        return finished(
            since: began, written: sink.pictures, decoded: reader.framesDecoded, progress: progress,
            totals: RunTotals(pipeline), copied: sink.copied, notes: notes)
    }

    /// The work folder the pictures are made in, with this run's marker: kept when resuming the same recipe,
    /// else (a folder this tool made, with --force or nothing in it to resume) started over; a folder with
    /// anything this tool did not make is refused.
    func prepareWorkFolder(_ seq: SequenceOutput) throws -> SequenceOutput.Marker {
        let fm = FileManager.default
        let work = seq.workFolder
        let fingerprint = try recipe().fingerprint
        var marker = SequenceOutput.Marker(
            fingerprint: fingerprint, preset: job.preset.name, pattern: seq.namePattern, width: outputStream.width,
            height: outputStream.height, codec: encoder.codec, pixelFormat: nil)
        if let k = FilePaths.kind(work) {
            guard k == S_IFDIR else {
                throw RestoreError.output(
                    "\(work) is \(FilePaths.kindName(k)), not this tool's work folder: move it away")
            }
            let foreign = seq.foreignEntries(in: work)
            guard foreign.isEmpty else {
                throw RestoreError.output(
                    "\(work) holds files this tool did not make (\(foreign.prefix(3).joined(separator: ", "))): move them away first"
                )
            }
            let old = seq.readMarker(in: work)
            var keep = false
            if job.checkpoint?.resume ?? false {
                if let old, old.fingerprint == fingerprint {
                    keep = true
                    marker.pixelFormat = old.pixelFormat
                } else if !job.force {
                    throw RestoreError.output(
                        old.map {
                            "the interrupted restore in \(work) was made with another recipe (preset \($0.preset), \($0.width)x\($0.height)): --resume continues only the same input, preset and options; --force starts over"
                        } ?? "\(work) has no record of the run that made it: --force starts over")
                }
            } else {
                try refuseInterruptedRun(in: work)
            }
            if !keep {
                do { try fm.removeItem(atPath: work) } catch {
                    throw RestoreError.output("cannot remove \(work): \(error.localizedDescription)")
                }
            }
        }
        do {
            try fm.createDirectory(atPath: work, withIntermediateDirectories: true)
            if seq.readMarker(in: work) == nil { try seq.writeMarker(marker, in: work) }
            marker = seq.readMarker(in: work) ?? marker
        } catch let e as RestoreError { throw e } catch {
            throw RestoreError.output("cannot create \(work): \(error.localizedDescription)")
        }
        // Pictures that a killed run left half-written.
        for n in (try? fm.contentsOfDirectory(atPath: work)) ?? [] where n.hasPrefix(".partial-") {
            unlink(work + "/" + n)
        }
        return marker
    }

    /// The finished pictures published: the sound of exactly these pictures beside them (a video in), then
    /// the work folder renamed to the output folder in one step.
    func publish(_ seq: SequenceOutput, _ sink: PictureSequenceSink, range: Bool) throws {
        let fm = FileManager.default, work = seq.workFolder
        guard let firstPts = sink.firstPts else {
            try? fm.removeItem(atPath: work)
            throw range ? RestoreError.input("\(job.input): no frame in the range asked for") : noFrames()
        }
        if sequence == nil {
            // The sound of exactly these pictures, from the first to the end of the last.
            let partial = work + "/.partial-\(getpid())-" + seq.soundName
            do {
                if let r = try SoundExport.writeWAV(
                    from: job.input, to: partial, start: reader.startOffset + firstPts,
                    duration: sink.endPts - firstPts)
                {
                    guard rename(partial, work + "/" + seq.soundName) == 0 else {
                        throw RestoreError.output("cannot write \(seq.soundName)")
                    }
                    sink.copied = [r.sourceStream]
                    sink.notes.append(
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
        // Published whole: the finished folder takes the final name in one rename. What is there is
        // checked again (it may have changed during the run): empty, or (with --force) a sequence
        // this tool made, moved aside first and removed once the new one is in place.
        try seq.checkFolder(inputs: Self.readFolders(job, sequence), force: job.force)
        let aside = work + ".replaced-\(getpid())"
        if FilePaths.kind(seq.folder) != nil,
            !((try? fm.contentsOfDirectory(atPath: seq.folder)) ?? []).isEmpty
        {
            guard rename(seq.folder, aside) == 0 else {
                throw RestoreError.output(
                    "cannot move the earlier \(seq.folder) aside: \(String(cString: strerror(errno))) (the pictures are kept in \(work))"
                )
            }
        }
        defer { if FilePaths.kind(aside) != nil { try? fm.removeItem(atPath: aside) } }
        guard rename(work, seq.folder) == 0 else {
            throw RestoreError.output(
                "cannot rename \(work) to \(seq.folder): \(String(cString: strerror(errno))) (the pictures are kept in \(work))"
            )
        }
    }

    /// Whether the picture at `path` is one this run would write: its header gives the run's size,
    /// codec and pixel format.
    static func pictureMatches(_ path: String, _ m: SequenceOutput.Marker) -> Bool {
        guard FilePaths.kind(path) == S_IFREG, let info = try? MediaReader.probe(path: path),
            let v = info.streams.first(where: { $0.kind == .video })
        else { return false }
        return v.width == m.width && v.height == m.height && v.codec == m.codec
            && (m.pixelFormat == nil || v.pixelFormat == m.pixelFormat)
    }
}

/// The film as numbered pictures in the work folder: each picture written to a partial file and renamed into
/// place; resuming, a picture already there that this run would write is kept, anything else there made again.
/// Published (with its sound) at commit; on failure the pictures stay for --resume.
final class PictureSequenceSink: FrameSink {
    /// How pictures are numbered: on from the source scans' numbers (the same frames out), or 1, 2, 3…
    enum Numbering {
        case source(first: Int)
        case counted
    }
    let seq: SequenceOutput, resume: Bool, stream: StreamInfo, encoder: EncoderSettings, numbering: Numbering
    let dpxFields: (Frame) -> DPXHeader.Fields
    let publish: (PictureSequenceSink) throws -> Void
    private(set) var marker: SequenceOutput.Marker
    /// Pictures handed in, kept from an interrupted run, made now, found not of this run and made again.
    private let handed = Locked(0)
    private(set) var kept = 0, written = 0, replaced = 0
    private(set) var firstPts: Rational?, endPts: Rational = .zero
    /// What publishing added: the sound's source stream and a note on it.
    var copied: [Int] = [], notes: [String] = []

    init(
        _ seq: SequenceOutput, marker: SequenceOutput.Marker, resume: Bool, stream: StreamInfo,
        encoder: EncoderSettings, numbering: Numbering, dpxFields: @escaping (Frame) -> DPXHeader.Fields,
        publish: @escaping (PictureSequenceSink) throws -> Void
    ) {
        (self.seq, self.marker, self.resume, self.stream, self.encoder, self.numbering) =
            (seq, marker, resume, stream, encoder, numbering)
        (self.dpxFields, self.publish) = (dpxFields, publish)
    }

    /// Pictures handed in so far (read by the progress timer).
    var pictures: Int { handed.current }

    func write(_ f: Frame) throws {
        let k = handed.withLock { n -> Int in
            defer { n += 1 }
            return n
        }
        let name: String
        switch numbering {
        case .source(let first): name = seq.name(first + f.properties.sourceIndex)
        case .counted: name = seq.name(1 + k)
        }
        let work = seq.workFolder, final = work + "/" + name
        if firstPts == nil { firstPts = f.pts }
        endPts = f.pts + f.duration
        if resume, FilePaths.kind(final) != nil {
            if Restorer.pictureMatches(final, marker) {
                kept += 1
                return
            }
            // Not a picture of this run (damaged, planted, another size): made again.
            unlink(final)
            replaced += 1
        }
        let partial = work + "/.partial-\(getpid())-" + name
        do {
            let w = try MediaWriter(path: partial, containerFor: name, stream: stream, settings: encoder, copyFrom: nil)
            try w.write(f)
            try w.finish()
            if seq.ext == "dpx" { try DPXHeader.stamp(partial, fields: dpxFields(f)) }
        } catch {
            unlink(partial)
            throw error
        }
        guard rename(partial, final) == 0 else {
            throw RestoreError.output("cannot rename \(partial) to \(final): \(String(cString: strerror(errno)))")
        }
        written += 1
        if marker.pixelFormat == nil {
            // What a picture of this run reads back as: a kept picture must read back the same.
            marker.pixelFormat = try? MediaReader.probe(path: final).streams.first?.pixelFormat
            if marker.pixelFormat != nil { try seq.writeMarker(marker, in: work) }
        }
    }

    func commit() throws { try publish(self) }
}
