import ArgumentParser
import Defacing
import Deidentification
import Foundation
import Pipeline
import Platform

struct DefaceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deface",
        abstract: "Remove the face from the axial head CT series in a folder, for review (metadata untouched).",
        discussion: """
            Every CT series found below --input is assembled into a volume (slices ordered along their \
            normal; gantry tilt and uneven spacing kept). Head series get their facial soft tissue \
            (nose, lips, chin, cheeks, eyes, forehead skin) replaced; the intracranial space and the bone \
            are never changed. Defaced files go to --output under their own relative paths, with a \
            before/after frontal rendering per series in OUTPUT/qa/. Files of other series are not written. \
            The metadata is NOT de-identified: use `ctdeid run` for that.
            """
    )

    @Option(name: .long, help: ArgumentHelp("Folder with the series (searched recursively).", valueName: "dir")) var input: String
    @Option(name: .long, help: ArgumentHelp("Folder for the defaced files and qa/ pictures.", valueName: "dir")) var output: String
    @Option(name: .long, help: "remove (air, -1000 HU) or noise.") var mode: String = "remove"
    @Option(name: .long, help: "Threads (default: number of cores).") var workers: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .long, help: ArgumentHelp("Text burned into the pixels of the written files: mask, quarantine (such files are not written) or off.", valueName: "policy"))
    var burnedIn: String = "mask"

    func validate() throws {
        if DefaceMode(rawValue: mode) == nil { throw ValidationError("--mode must be remove or noise") }
        if BurnedInPolicy(rawValue: burnedIn) == nil { throw ValidationError("--burned-in must be mask, quarantine or off") }
    }

    func run() throws {
        let start = Date()
        let review = FaceReview(input: URL(fileURLWithPath: input), output: URL(fileURLWithPath: output),
                                options: DefaceOptions(mode: DefaceMode(rawValue: mode)!), workers: workers,
                                burnedIn: BurnedInPolicy(rawValue: burnedIn)!)
        let outcome: FaceReview.Outcome
        do {
            outcome = try review.run()
        } catch let error as ConfigurationError {
            fail(error.reason, code: 2)
        } catch {
            fail("\(error)", code: 1)
        }
        print(String(format: "ctdeid deface: %d series, %d file(s) written in %.2f s", outcome.series.count, outcome.filesWritten,
                     Date().timeIntervalSince(start)))
        if outcome.filesWithheld > 0 { print("  \(outcome.filesWithheld) file(s) not written: text in their pixels (--burned-in)") }
        for series in outcome.series {
            var line = "  series \(series.index): \(series.verdict), \(series.files) file(s)"
            if series.voxelsRemoved > 0 { line += ", \(series.voxelsRemoved) voxels removed" }
            if let reason = series.reason { line += " (\(reason))" }
            if let png = series.qaImage { line += "\n    QA: \(png)" }
            if let png = series.qaProfile { line += "\n    QA profile: \(png)" }
            print(line)
        }
        if outcome.series.contains(where: { $0.verdict == "cannot deface" }) { throw ExitCode(1) }
    }
}
