import ArgumentParser
import Foundation
import MediaIO
import Restoration

struct Niqe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "niqe",
        abstract: "Score how natural pictures look (NIQE: lower is more natural; no reference needed).",
        discussion: """
            NIQE (Mittal, Soundararajan and Bovik) measures how far a picture's local statistics are from \
            those of pristine photographs. It needs no clean original, so it says something fidelity \
            figures cannot (a waxy or wormy upscale scores worse), but it is not a fidelity measure: a \
            picture can look natural and be wrong. For a video, the mean and range over sampled frames.
            """)
    @Argument(help: "Pictures or videos.") var files: [String]
    @Option(help: "Frames sampled from a video (spread over it).") var samples: Int = 16
    @Flag(help: "One JSON object per file.") var json = false

    func validate() throws {
        guard samples >= 1 else { throw ValidationError("--samples must be at least 1") }
    }

    func run() throws {
        MediaLog.setVerbose(false)
        let model: NIQE
        do { model = try NIQE.shipped() } catch { FilmRestore.fail(RestoreError.input("\(error)")) }
        // Every file is scored: one that cannot be (missing, unreadable, smaller than NIQE's 192x96
        // window) gets its own error line and the others are still scored; the exit status is 1 then.
        var failed = 0
        for path in files {
            let s: NIQE.FileScore
            do {
                guard FileManager.default.fileExists(atPath: path) else {
                    throw RestoreError.input("\(path) does not exist")
                }
                s = try model.score(file: path, samples: samples)
            } catch {
                failed += 1
                let text = "\((error as? RestoreError)?.description ?? "\(error)")".replacingOccurrences(
                    of: "\n", with: " ")
                FileHandle.standardError.write(Data("filmrestore: error: \(path): \(text)\n".utf8))
                if json {
                    let data = try JSONSerialization.data(
                        withJSONObject: ["file": path, "error": text], options: [.sortedKeys])
                    print(String(decoding: data, as: UTF8.self))
                }
                continue
            }
            if json {
                var o: [String: Any] = ["file": path, "niqe": s.mean, "frames_scored": s.scores.count]
                if s.scores.count > 1, let r = s.range {
                    o["min"] = r.lowerBound
                    o["max"] = r.upperBound
                }
                let data = try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else if s.scores.count == 1 {
                print(String(format: "%@: NIQE %.4f", path, s.mean))
            } else if let r = s.range {
                print(
                    String(
                        format: "%@: NIQE mean %.4f (range %.4f–%.4f) over %d frames sampled", path, s.mean,
                        r.lowerBound, r.upperBound, s.scores.count))
            }
        }
        if failed > 0 { Foundation.exit(1) }
    }
}
