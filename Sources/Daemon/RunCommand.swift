import ArgumentParser
import Defacing
import Deidentification
import Foundation
import Pipeline
import Platform
import Settings

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "De-identify every patient folder of an input folder into an output folder, once.",
        discussion: """
            Every immediate subfolder of --input is one patient folder (one study), named by its \
            accession number; --mapping gives each accession its De-identification_ID. The output is \
            OUTPUT/<De-identification_ID>/study-<keyed hash>/ with the input's hierarchy below it and \
            neutral folder and file names. The input is never modified. Files that cannot be made safe \
            (unreadable, not DICOM, burned-in annotation, SOP class not an allowed image class, \
            localizers) are quarantined: recorded with their reason and not delivered.
            """
    )

    @Option(name: .long, help: ArgumentHelp("Folder whose immediate subfolders are patient folders.", valueName: "dir"))
    var input: String

    @Option(name: .long, help: ArgumentHelp("Folder that receives <De-identification_ID>/ folders (created if missing).", valueName: "dir"))
    var output: String

    @Option(name: .long, help: ArgumentHelp("Mapping sheet (.xlsx or .csv) with columns Accession_number, De-identification_ID; imported into the database all-or-nothing. Optional when the database already holds the mappings.", valueName: "file"))
    var mapping: String?

    @Option(name: .long, help: ArgumentHelp("Audit database (SQLite, created mode 0600). It is the re-identification key: keep it private.", valueName: "file"))
    var database: String = "var/ctdeid.sqlite"

    @Option(name: .long, help: ArgumentHelp("Site secret for UID hashing and date offsets (created mode 0600 on first use; default: secret.key beside the database). Losing it changes every future UID.", valueName: "file"))
    var secret: String?

    @Option(name: .long, help: ArgumentHelp("""
        Profile options: 'none' (pure Basic Profile), 'default' (\(ProfileOption.defaults.sorted().map(\.rawValue).joined(separator: ","))), \
        or a comma list of: \(ProfileOption.allCases.map(\.rawValue).joined(separator: ", ")).
        """, valueName: "list"))
    var options: String = "default"

    @Option(name: .long, help: setting("workers", "n"))
    var workers: Int = 0

    @Flag(name: .long, help: ArgumentHelp(SettingsTable.setting("keep_names").help.replacingOccurrences(of: ": true or false", with: "")))
    var keepNames = false

    @Option(name: .long, help: setting("deface", "mode"))
    var deface: String = "remove"

    @Option(name: .long, help: setting("localizers", "policy"))
    var localizers: String = "quarantine"

    @Option(name: .long, help: setting("burned_in", "policy"))
    var burnedIn: String = "mask"

    @Option(name: .long, help: setting("undefaced_heads", "policy"))
    var undefacedHeads: String = "quarantine"

    @Option(name: .long, help: ArgumentHelp("Folder for the before/after PNG of each defaced series (default: qa/ beside the database; never inside the output).", valueName: "dir"))
    var qa: String?

    @Flag(name: .long, help: "No progress display.")
    var quiet = false

    func validate() throws {
        // The same settings as `serve`'s, checked by the same table.
        for (key, value) in [("workers", String(workers)), ("deface", deface), ("localizers", localizers),
                             ("burned_in", burnedIn), ("undefaced_heads", undefacedHeads)] {
            let setting = SettingsTable.setting(key)
            if let problem = setting.problem(with: value) { throw ValidationError("\(setting.flag) \(value): \(problem)") }
        }
        do {
            _ = try ProfileOption.parse(options)
        } catch {
            throw ValidationError("--options: \(error.reason)")
        }
    }

    func run() throws {
        let optionSet = try! ProfileOption.parse(options)
        let secretPath = secret ?? ((database as NSString).deletingLastPathComponent.isEmpty
            ? "secret.key" : (database as NSString).deletingLastPathComponent + "/secret.key")
        var configuration = BatchConfiguration(
            input: URL(fileURLWithPath: input), output: URL(fileURLWithPath: output),
            mapping: mapping.map { URL(fileURLWithPath: $0) }, database: database, secret: secretPath,
            options: optionSet, workers: workers == 0 ? ProcessInfo.processInfo.activeProcessorCount : workers, keepNames: keepNames, deface: DefaceMode(rawValue: deface),
            qa: URL(fileURLWithPath: qa ?? (((database as NSString).deletingLastPathComponent as NSString).appendingPathComponent("qa"))))
        configuration.blankLocalizers = localizers == "blank"
        configuration.burnedIn = BurnedInPolicy(rawValue: burnedIn)!
        configuration.undefacedHeads = UndefacedHeads(rawValue: undefacedHeads)!
        let progress = ProgressDisplay(enabled: !quiet && isatty(STDERR_FILENO) == 1)
        let summary: BatchSummary
        do {
            summary = try BatchRun(configuration: configuration).run { done, total in progress.update(done: done, total: total) }
        } catch let error as ConfigurationError {
            progress.finish()
            fail(error.reason, code: 2)
        } catch {
            progress.finish()
            fail("\(error)", code: 1)
        }
        progress.finish()
        print(Self.report(summary, database: database, output: output))
        if !summary.allDelivered { throw ExitCode(1) }
    }

    static func report(_ summary: BatchSummary, database: String, output: String) -> String {
        var lines: [String] = []
        let files = summary.filesDelivered + summary.filesQuarantined
        let rate = summary.seconds > 0 ? Double(files) / summary.seconds : 0
        lines.append(String(format: "ctdeid run: %d folder(s), %d file(s) delivered, %d quarantined, %d ignored in %.1f s (%.0f files/s)",
                            summary.jobs.count, summary.filesDelivered, summary.filesQuarantined, summary.filesIgnored,
                            summary.seconds, rate))
        for job in summary.jobs {
            var line = "  job \(job.jobID): \(job.state.rawValue)"
            if let reason = job.reason { line += " (\(reason.text))" }
            line += ", \(job.delivered) delivered"
            if job.quarantined > 0 {
                line += ", \(job.quarantined) quarantined [" + job.quarantineReasons.sorted { $0.key < $1.key }
                    .map { "\($0.key) x\($0.value)" }.joined(separator: ", ") + "]"
            }
            if job.ignored > 0 { line += ", \(job.ignored) ignored" }
            if let path = job.outputPath, job.state == .delivered { line += " -> \(path)" }
            lines.append(line)
        }
        if summary.looseFiles > 0 {
            lines.append("  \(summary.looseFiles) file(s) directly in the input folder were skipped: only subfolders are patient folders")
        }
        lines.append("output:   \(output)")
        if let page = summary.reviewPage { lines.append("review:   \(page)  (every series: verdict, renderings, text masked, reasons; no patient data)") }
        lines.append("audit:    \(database)  (sqlite3 \(database) \"SELECT id, folder, state, reason FROM jobs\")")
        return lines.joined(separator: "\n")
    }
}

/// "files done / total, rate" on one terminal line, at most ten times a second.
final class ProgressDisplay: @unchecked Sendable {
    private let enabled: Bool
    private let lock = NSLock()
    private var lastDraw = Date.distantPast
    private let start = Date()
    private var drawn = false

    init(enabled: Bool) {
        self.enabled = enabled
    }

    func update(done: Int, total: Int) {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        let now = Date()
        guard done == total || now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        let elapsed = max(now.timeIntervalSince(start), 0.001)
        let line = String(format: "\r%d / %d files  %.0f files/s  ", done, total, Double(done) / elapsed)
        FileHandle.standardError.write(Data(line.utf8))
        drawn = true
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if drawn { FileHandle.standardError.write(Data("\n".utf8)) }
        drawn = false
    }
}
