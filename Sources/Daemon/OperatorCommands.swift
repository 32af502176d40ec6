import ArgumentParser
import Audit
import Foundation
import Mapping
import Receiver

struct MappingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mapping",
        abstract: "Manage the accession -> De-identification_ID mappings.",
        subcommands: [MappingImportCommand.self]
    )
}

struct MappingImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import a mapping sheet (.xlsx or .csv) into the database, all or nothing.",
        discussion: "Columns Accession_number and De-identification_ID. A running service releases the folders it held for want of these keys."
    )

    @Argument(help: ArgumentHelp("The sheet.", valueName: "file")) var file: String
    @OptionGroup var settings: ConfigOptions

    func run() throws {
        let store = settings.openStore()
        do {
            let sheet = try MappingSheet.read(from: URL(fileURLWithPath: file))
            let count = try store.importMappings(sheet.rows.map { ($0.accession, $0.deidentificationID, $0.rowNumber) },
                                                 sourceSheet: sheet.sourceName)
            print("imported \(count) mapping(s) from \(sheet.sourceName)")
        } catch let error as MappingError {
            fail("mapping refused: \(error)", code: 2)
        } catch {
            fail("mapping refused: \(error)", code: 2)
        }
    }
}

struct JobsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "List jobs with their state and reason (by number; query the database for folder names)."
    )

    @Option(name: .long, help: "Only jobs in this state (discovered, settling, queued, processing, delivered, held, failed, quarantined).")
    var state: String?
    @Option(name: .long, help: "How many of the latest jobs.") var limit: Int = 100
    @OptionGroup var settings: ConfigOptions

    func validate() throws {
        if let state, JobState(rawValue: state) == nil {
            throw ValidationError("--state \(state): unknown state; one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() throws {
        let store = settings.openStore(create: false)
        let jobs: [AuditStore.JobDetail]
        do {
            if let state {
                jobs = try store.jobs(in: [JobState(rawValue: state)!])
            } else {
                jobs = try store.allJobs(limit: limit)
            }
        } catch {
            fail("\(error)", code: 1)
        }
        let senders = settings.receptionLog().map { receptions(of: jobs, store: store, log: $0) } ?? [:]
        print(pad("JOB", 6) + pad("STATE", 12) + pad("FILES", 8) + pad("QUAR.", 7) + pad("UPDATED", 26) + pad("FROM", 18) + "REASON")
        for job in jobs {
            let from = senders[job.id].map { list in
                Dictionary(grouping: list, by: \.callingAE).sorted { $0.key < $1.key }
                    .map { "\($0.key) x\($0.value.reduce(0) { $0 + $1.instances })" }.joined(separator: ",")
            } ?? "-"
            print(pad("\(job.id)", 6) + pad(job.state.rawValue, 12) + pad("\(job.filesDelivered)", 8)
                  + pad("\(job.filesQuarantined)", 7) + pad(job.updatedAt, 26) + pad(from, 18) + (job.reason ?? ""))
        }
    }
}

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one job: state, output, counts, history and file reasons (no patient data)."
    )

    @Argument(help: "Job number.") var job: Int64
    @OptionGroup var settings: ConfigOptions

    func run() throws {
        let store = settings.openStore(create: false)
        do {
            try show(store)
        } catch {
            fail("\(error)", code: 1)
        }
    }

    private func show(_ store: AuditStore) throws {
        guard let detail = try store.job(job) else { throw ValidationError("no job \(job)") }
        print("job \(detail.id): \(detail.state.rawValue)" + (detail.reason.map { " (\($0))" } ?? ""))
        print("  De-identification_ID: \(detail.deidentificationID ?? "-")")
        print("  output: \(detail.outputPath ?? "-")")
        print("  options: \(detail.options ?? "-")")
        print("  files: \(detail.filesTotal) total, \(detail.filesDelivered) delivered, \(detail.filesQuarantined) quarantined, \(detail.filesIgnored) ignored")
        print("  input: \(detail.inputDisposition ?? "in the inbox")")
        if let log = settings.receptionLog() {
            for reception in receptions(of: [detail], store: store, log: log)[detail.id] ?? [] {
                print("  received: association \(reception.association) from \(reception.callingAE) (\(reception.peer)), "
                      + "\(reception.instances) instance(s), \(reception.firstAt) to \(reception.lastAt)")
            }
        }
        if let page = detail.reviewPage { print("  review page: \(page)") }
        if let page = detail.runReviewPage { print("  review page of its run: \(page)") }
        print("  history:")
        for event in try store.events(job: job) {
            print("    \(event.at)  \(event.state)" + (event.reason.map { "  \($0)" } ?? ""))
        }
        let series = try store.textSeries(job: job)
        if series.contains(where: { $0.masked + $0.quarantined > 0 }) {
            print("  burned-in text (boxes as x,y widthxheight in pixels; stage: ocr = read as words, screen = rows of character strokes, block = the rest of a text block):")
            for entry in series where entry.masked + entry.quarantined > 0 {
                print("    series \(entry.series): \(entry.images) image(s) checked, \(entry.masked) masked (\(entry.regions) region(s)), \(entry.quarantined) quarantined")
            }
            var byFile: [(String, [String])] = []
            for region in try store.textRegions(job: job) {
                let text = "frame \(region.frame) \(region.box) \(region.stage)"
                if byFile.last?.0 == region.file { byFile[byFile.count - 1].1.append(text) } else { byFile.append((region.file, [text])) }
            }
            for (file, regions) in byFile { print("      \(file): " + regions.joined(separator: "; ")) }
        }
        let reasons = try store.fileReasons(job: job)
        if !reasons.isEmpty {
            print("  files not delivered:")
            for entry in reasons { print("    \(entry.count) x \(entry.outcome): \(entry.reason)") }
        }
    }
}

struct RetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Re-queue a held, failed or quarantined job; a duplicate is then delivered again beside the first copy."
    )

    @Argument(help: "Job number.") var job: Int64
    @OptionGroup var settings: ConfigOptions

    func run() throws {
        let store = settings.openStore(create: false)
        do {
            let before = try store.requestRetry(job: job)
            print("job \(job): queued (was \(before.state.rawValue)); the running service picks it up")
        } catch {
            fail("\(error)", code: 1)
        }
    }
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}

struct SecretCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret",
        abstract: "Manage the site secret (the key of every UID and date offset).",
        subcommands: [SecretCreateCommand.self]
    )
}

struct SecretCreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a new site secret at the key file and record it in the database, deliberately.",
        discussion: """
            ctdeid creates the secret by itself only for a database that has delivered nothing; a database that \
            records deliveries refuses to start without the key file they were made with. Restore that file from \
            backup if you can. This command starts a new secret instead: from now on every study gets other UIDs \
            and date offsets, and a study delivered before and dropped again is delivered again under new UIDs. \
            The key file must not exist.
            """
    )

    @OptionGroup var settings: ConfigOptions

    func run() throws {
        let configuration = settings.load()
        let store = settings.openStore(create: false)
        do {
            let fingerprint = try SecretBinding.create(keyFile: configuration.keyFile, store: store)
            print("created a new site secret at \(configuration.keyFile) (fingerprint \(fingerprint)), recorded in \(store.path)")
        } catch {
            fail(error.reason, code: 2)
        }
    }
}

/// What the receiver wrote into each job's folder: a reception belongs to the first job of its
/// folder updated after its last instance (the job that took those files), else to the folder's
/// latest job (still settling). Calling AE titles and counts only: never patient data.
func receptions(of jobs: [AuditStore.JobDetail], store: AuditStore, log: ReceptionLog) -> [Int64: [ReceptionLog.Reception]] {
    var result: [Int64: [ReceptionLog.Reception]] = [:]
    for folder in Set(jobs.map(\.folder)) {
        guard let all = try? store.jobs(folder: folder), let last = all.last,
              let list = try? log.receptions(folder: folder) else { continue }
        for reception in list {
            let owner = all.first { $0.updatedAt >= reception.lastAt } ?? last
            result[owner.id, default: []].append(reception)
        }
    }
    return result
}
