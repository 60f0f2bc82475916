import ArgumentParser
import Foundation
import MediaIO
import Restoration

struct Keyframes: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keyframes",
        abstract: "Write the frames a colourist colours: the first of each shot (and the least sure of the colorizer).",
        discussion: """
            Each shot (as the scenecut stage finds them) gives its first frame; with --per-shot N, also the N − 1 \
            frames where the shipped colorizer is least sure of its colour, half a second apart at least. The \
            pictures are named by source frame number (frame-000120.png): colour them in any image editor, keep \
            the names, and pass the folder as the colorize stage's reference (--set colorize.reference=FOLDER). \
            One line a picture: its frame, its shot and, with --per-shot above 1, the colorizer's mean certainty.
            """)
    @Argument(help: "The film.") var input: String
    @Option(name: .shortAndLong, help: "The folder to write the pictures into (made if missing).") var output: String
    @Option(help: "Pictures a shot, 1–100.") var perShot = 1
    @Option(help: "Folder with the model files (default: the checkout's Models/).") var modelsDir: String?
    @Flag(name: [.customShort("y"), .long], help: "Replace pictures of the same names.") var force = false

    func validate() throws {
        guard (1...100).contains(perShot) else { throw ValidationError("--per-shot must be 1…100") }
    }

    func run() throws {
        MediaLog.setVerbose(false)
        do {
            let picker = try KeyframePicker(
                input: input, folder: output, perShot: perShot, force: force, modelsDir: modelsDir)
            for p in try picker.run() {
                let sure = p.certainty.map { String(format: ", colorizer certainty %.2f", $0) } ?? ""
                print("\(p.path): frame \(p.frame), shot \(p.shot)\(sure)")
            }
        } catch { FilmRestore.fail(error) }
    }
}
