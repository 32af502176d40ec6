import ArgumentParser
import Fixtures
import Foundation

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Write a synthetic sample inbox (CT head series with made-up PHI) and its mapping sheet.",
        discussion: "For trying ctdeid out and for benchmarks. Every name and number in it is invented."
    )

    @Option(name: .long, help: ArgumentHelp("Folder to write patient folders into.", valueName: "dir"))
    var output: String

    @Option(name: .long, help: ArgumentHelp("Mapping CSV to write (default: mapping.csv beside the output folder).", valueName: "file"))
    var mapping: String?

    @Option(name: .long, help: "Number of patient folders.")
    var patients: Int = 3

    @Option(name: .long, help: "Slices per series.")
    var slices: Int = 200

    @Option(name: .long, help: "Rows and columns of each slice.")
    var size: Int = 512

    @Option(name: .long, help: "Seed: the same seed writes the same bytes.")
    var seed: UInt64 = 1

    func validate() throws {
        if patients < 1 || slices < 1 || size < 16 { throw ValidationError("--patients and --slices must be >= 1, --size >= 16") }
    }

    func run() throws {
        let inbox = URL(fileURLWithPath: output)
        let mappingURL = URL(fileURLWithPath: mapping ?? inbox.deletingLastPathComponent().appendingPathComponent("mapping.csv").path)
        try FileManager.default.createDirectory(at: inbox, withIntermediateDirectories: true)
        let studies = try SampleInbox.write(to: inbox, mappingCSV: mappingURL, patients: patients, slices: slices, size: size, seed: seed)
        print("sample: \(studies.count) patient folder(s) x \(slices) slice(s) of \(size)x\(size) in \(inbox.path); mapping \(mappingURL.path)")
    }
}
