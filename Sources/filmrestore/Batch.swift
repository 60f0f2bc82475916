import Foundation
import FilmCore
import MediaIO
import Restoration

/// `restore DIR_OF_FILMS -o OUT_DIR`: every video file and every picture-sequence folder in DIR,
/// restored into OUT_DIR under the same name, one after another, each in a process of its own (a
/// film that fails, even by crashing, never stops the others). Finished outputs are skipped, so the
/// same command continues a batch; the run ends with a table and a non-zero exit if any failed.
enum Batch {
    /// Whether `input` is a folder of films (video files or sequence folders, no pictures of its own).
    static func isBatch(_ input: String) -> Bool {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: input, isDirectory: &isDir), isDir.boolValue else { return false }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: input)) ?? []
        if names.contains(where: { ImageSequence.extensions.contains(($0 as NSString).pathExtension.lowercased()) }) {
            return false
        }
        return !items(in: input).isEmpty
    }

    /// The films in `folder`, in name order: video files and folders of pictures.
    static func items(in folder: String) -> [String] {
        let fm = FileManager.default
        return ((try? fm.contentsOfDirectory(atPath: folder)) ?? []).filter { !$0.hasPrefix(".") }.sorted().compactMap {
            name in
            let path = folder + "/" + name
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDir) else { return nil }
            if isDir.boolValue { return ((try? ImageSequence.detect(path)) ?? nil) != nil ? path : nil }
            return FilmFiles.videoExtensions.contains((name as NSString).pathExtension.lowercased()) ? path : nil
        }
    }

    /// The output of each film: the same name in `outDir`, as Matroska (which holds every codec the
    /// presets use); a sequence folder becomes NAME.mkv. Films whose names differ only by their
    /// extension (`b.mkv`, `b.mov`, `b.mp4`) each keep their whole name (`b.mkv.mkv`, `b.mov.mkv`, …),
    /// so no two write one output and none is taken for another's finished work.
    static func outputNames(for films: [String], in outDir: String, preferredExtension: String?) -> [String] {
        let ext = preferredExtension ?? "mkv"
        func stem(_ item: String) -> String {
            let name = (item as NSString).lastPathComponent
            var isDir: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: item, isDirectory: &isDir)
            return isDir.boolValue ? name : (name as NSString).deletingPathExtension
        }
        var uses: [String: Int] = [:]
        for f in films { uses[stem(f).lowercased(), default: 0] += 1 }
        var names = films.map { f -> String in
            let s = stem(f)
            return outDir + "/" + (uses[s.lowercased()]! > 1 ? (f as NSString).lastPathComponent : s) + "." + ext
        }
        // A whole name may still meet another film's stem (`b.mkv` beside a folder `b.mkv`): numbered.
        var seen: [String: Int] = [:]
        for i in names.indices {
            let key = names[i].lowercased()
            seen[key, default: 0] += 1
            if seen[key]! > 1 { names[i] = (names[i] as NSString).deletingPathExtension + "-\(seen[key]!)." + ext }
        }
        return names
    }

    struct Row {
        var film: String
        var frames: String
        var seconds: String
        var status: String
    }

    /// Runs the batch; `arguments` are this restore's own arguments with the input and output
    /// replaced for each film. Returns the exit status.
    static func run(
        input: String, outDir: String, arguments: (String, String) -> [String], preferredExtension: String?, quiet: Bool
    ) -> Int32 {
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: outDir, withIntermediateDirectories: true) } catch {
            FileHandle.standardError.write(
                Data("filmrestore: error: cannot create \(outDir): \(error.localizedDescription)\n".utf8))
            return 1
        }
        var rows: [Row] = []
        var failed = 0
        let films = items(in: input)
        let outputs = outputNames(for: films, in: outDir, preferredExtension: preferredExtension)
        // SIGINT/SIGTERM go to the film's restore too; the batch waits for it to stop (it removes
        // its temporary files), prints its table and exits with the signal's status.
        let child = Locked<Process?>(nil)
        let interrupt = Interrupts.install {
            if let p = child.current, p.isRunning { kill(p.processIdentifier, Interrupts.received) }
        }
        defer { interrupt.cancel() }
        func interrupted() -> Int32? { Interrupts.received == 0 ? nil : 128 + Interrupts.received }
        for (i, film) in films.enumerated() {
            let out = outputs[i]
            let name = (film as NSString).lastPathComponent
            if let status = interrupted() {
                printTable(rows)
                return status
            }
            if fm.fileExists(atPath: out) {
                rows.append(Row(film: name, frames: "", seconds: "", status: "done before (skipped)"))
                continue
            }
            if !quiet { FileHandle.standardError.write(Data("[\(i + 1)/\(films.count)] \(name) → \(out)\n".utf8)) }
            let stats = NSTemporaryDirectory() + "/filmrestore-batch-\(getpid())-\(i).json"
            defer { unlink(stats) }
            let began = Date()
            let p = Process()
            p.executableURL = URL(fileURLWithPath: executablePath())
            var args = arguments(film, out)
            args.insert(contentsOf: ["--stats-json", stats], at: args.lastIndex(of: "--") ?? args.count)
            p.arguments = args
            p.standardInput = FileHandle.nullDevice
            var status: Int32 = 1
            do {
                try p.run()
                child.withLock { $0 = p }
                // A signal that came while it started.
                if Interrupts.received != 0 { kill(p.processIdentifier, Interrupts.received) }
                p.waitUntilExit()
                child.withLock { $0 = nil }
                status = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
            } catch { status = 1 }
            let secs = String(format: "%.1f", Date().timeIntervalSince(began))
            let frames =
                (FileManager.default.contents(atPath: stats).flatMap {
                    try? JSONSerialization.jsonObject(with: $0) as? [String: Any]
                })?["frames_written"] as? Int
            if let sig = interrupted() {
                rows.append(Row(film: name, frames: "", seconds: secs, status: "interrupted"))
                printTable(rows)
                return sig
            }
            switch status {
            case 0: rows.append(Row(film: name, frames: frames.map(String.init) ?? "", seconds: secs, status: "ok"))
            case InputDamage.exitStatus:
                rows.append(
                    Row(
                        film: name, frames: frames.map(String.init) ?? "", seconds: secs,
                        status: "written, input damaged"))
                failed += 1
            case 130, 143:
                rows.append(Row(film: name, frames: "", seconds: secs, status: "interrupted"))
                printTable(rows)
                return status
            default:
                rows.append(Row(film: name, frames: "", seconds: secs, status: "FAILED (exit \(status))"))
                failed += 1
            }
        }
        printTable(rows)
        return failed == 0 ? 0 : 1
    }

    static func printTable(_ rows: [Row]) {
        let w = max(4, rows.map(\.film.count).max() ?? 4)
        var s = "film".padding(toLength: w, withPad: " ", startingAt: 0) + "  frames  seconds  status\n"
        for r in rows {
            s +=
                r.film.padding(toLength: w, withPad: " ", startingAt: 0) + "  " + r.frames.leftPadded(6) + "  "
                + r.seconds.leftPadded(7) + "  " + r.status + "\n"
        }
        print(s, terminator: "")
    }

    static func executablePath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

private extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
