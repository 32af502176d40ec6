import Audit
import Defacing
import Deidentification
import Dispatch
import Foundation
import Mapping
import Platform
import Synchronization

/// Settings of the one-shot `ctdeid run`.
public struct BatchConfiguration: Sendable {
    public var input: URL
    public var output: URL
    public var mapping: URL?
    public var database: String
    public var secret: String
    public var options: Set<ProfileOption>
    public var workers: Int
    public var keepNames: Bool
    /// nil: defacing off.
    public var deface: DefaceMode?
    public var qa: URL
    public var blankLocalizers = false
    public var burnedIn: BurnedInPolicy = .mask
    public var undefacedHeads: UndefacedHeads = .quarantine

    public init(input: URL, output: URL, mapping: URL?, database: String, secret: String,
                options: Set<ProfileOption>, workers: Int, keepNames: Bool, deface: DefaceMode?, qa: URL) {
        self.input = input
        self.output = output
        self.mapping = mapping
        self.database = database
        self.secret = secret
        self.options = options
        self.workers = workers
        self.keepNames = keepNames
        self.deface = deface
        self.qa = qa
    }
}

public struct BatchSummary: Sendable {
    public let jobs: [JobResult]
    public let looseFiles: Int
    public let seconds: Double
    /// The run's review page (every series of every job), when it could be written.
    public var reviewPage: String? = nil
    public var filesDelivered: Int { jobs.reduce(0) { $0 + $1.delivered } }
    public var filesQuarantined: Int { jobs.reduce(0) { $0 + $1.quarantined } }
    public var filesIgnored: Int { jobs.reduce(0) { $0 + $1.ignored } }

    /// Duplicates were delivered by an earlier run, so they do not make the run fail.
    public var allDelivered: Bool {
        jobs.allSatisfy { $0.state == .delivered && $0.quarantined == 0 || $0.isDuplicate }
    }
}

/// `ctdeid run`: every immediate subfolder of the input is a patient folder keyed by its name.
public struct BatchRun: Sendable {
    public let configuration: BatchConfiguration

    public init(configuration: BatchConfiguration) {
        self.configuration = configuration
    }

    /// Prepares everything that can be refused before any file is touched.
    public func prepare() throws -> (JobProcessor, [PatientFolder], Int) {
        let c = configuration
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: c.input.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ConfigurationError("--input \(c.input.path): not a folder")
        }
        let inputPath = c.input.standardizedFileURL.path
        let outputPath = c.output.standardizedFileURL.path
        if outputPath == inputPath || outputPath.hasPrefix(inputPath + "/") {
            throw ConfigurationError("--output \(c.output.path): must not be inside the input folder")
        }
        var setup = ProcessingSetup(database: c.database, secret: c.secret, secretOption: "--secret", options: c.options,
                                    deface: c.deface, workers: c.workers, output: c.output,
                                    staging: c.output.appendingPathComponent(".ctdeid-staging"), qa: c.qa, owner: .run)
        setup.blankLocalizers = c.blankLocalizers
        setup.burnedIn = c.burnedIn
        setup.undefacedHeads = c.undefacedHeads
        // OCR and the database first: a run that cannot check the pixels creates nothing.
        let (store, processor) = try setup.open()
        do {
            try FileManager.default.createDirectory(at: c.output, withIntermediateDirectories: true)
        } catch {
            throw ConfigurationError("--output \(c.output.path): cannot create: \(error.localizedDescription)")
        }
        if let mapping = c.mapping {
            do {
                let sheet = try MappingSheet.read(from: mapping)
                try store.importMappings(sheet.rows.map { ($0.accession, $0.deidentificationID, $0.rowNumber) },
                                         sourceSheet: sheet.sourceName)
            } catch let error as MappingError {
                throw ConfigurationError("mapping refused: \(error)")
            } catch {
                throw ConfigurationError("mapping refused: \(error)")
            }
        }
        var folders: [PatientFolder] = []
        var loose = 0
        do {
            // Listed as bytes (RawName): a folder whose name is not UTF-8 is still a job.
            for name in try RawName.list(c.input.path).get().sorted() where !name.hasPrefix(".") {
                let url = c.input.appendingPathComponent(name)
                guard let info = RawName.lstat(url.path) else { continue }
                if info.st_mode & S_IFMT == S_IFDIR {
                    folders.append(try PatientFolder(url: url, keepNames: c.keepNames))
                } else {
                    loose += 1
                }
            }
        } catch let error as PipelineError {
            throw ConfigurationError(error.reason)
        } catch {
            throw ConfigurationError("--input \(c.input.path): cannot list: \(SystemError.reason(error))")
        }
        return (processor, folders, loose)
    }

    /// Runs every folder; `progress(done, total)` after each file.
    public func run(progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) throws -> BatchSummary {
        let start = Date()
        defer { BurnedInPolicy.closeReaders() }
        let (processor, folders, loose) = try prepare()
        let total = folders.reduce(0) { $0 + $1.files.count }
        let done = Atomic<Int>(0)
        var results: [JobResult] = []
        // One job is delivered (flushed to disk, recorded, renamed) while the files of the next are
        // staged, so the cores work while the disk catches up. The next job's database work comes
        // first, committed without a flush: a flush waits for everything queued for the disk, and
        // the disk is busy with the job before (its files start writing back as they are closed).
        let delivery = DeliveryLane()
        var undelivered: StagedJob?
        for folder in folders {
            let job: Int64
            let outcome: StageOutcome
            do {
                job = try processor.createJob(for: folder.url, durable: false)
                let beginning = try processor.begin(folder, job: job, durable: false)
                if let staged = undelivered {
                    delivery.start { () throws(AuditError) -> JobResult in try processor.deliver(staged) }
                    undelivered = nil
                }
                switch beginning {
                case .ended(let ended): outcome = ended
                case .ready(let start):
                    outcome = try processor.stageFiles(start) {
                        let value = done.add(1, ordering: .relaxed).newValue
                        progress(value, total)
                    }
                }
            } catch {
                _ = try? delivery.wait()  // a delivery in flight ends before the error does
                throw error
            }
            if let delivered = try delivery.wait() { results.append(delivered) }
            if case .staged(let staged) = outcome {
                undelivered = staged
            } else {
                results.append(try processor.result(of: outcome, job: job, folder: folder))
            }
        }
        if let staged = undelivered { results.append(try processor.deliver(staged)) }
        try? FileManager.default.removeItem(at: processor.stagingRoot)
        var summary = BatchSummary(jobs: results.sorted { $0.jobID < $1.jobID }, looseFiles: loose,
                                   seconds: Date().timeIntervalSince(start))
        if !results.isEmpty, let page = try? ReviewPage.writeRunPage(jobs: results.map(\.jobID), store: processor.store, qaRoot: processor.qaRoot) {
            for job in results { try? processor.store.recordReviewPage(job: job.jobID, page: nil, runPage: page.path) }
            summary.reviewPage = page.path
        }
        return summary
    }
}

/// At most one delivery running in the background; `wait` hands over its result (or its error).
package final class DeliveryLane: Sendable {
    private let running = Mutex<DispatchGroup?>(nil)
    private let outcome = Mutex<Result<JobResult, AuditError>?>(nil)

    package func start(_ work: @escaping @Sendable () throws(AuditError) -> JobResult) {
        let group = DispatchGroup()
        running.withLock { $0 = group }
        DispatchQueue.global().async(group: group) { [self] in
            let result = Result { () throws(AuditError) -> JobResult in try work() }
            outcome.withLock { $0 = result }
        }
    }

    /// The running delivery's result once it ended; nil when none was running.
    package func wait() throws(AuditError) -> JobResult? {
        guard let group = running.withLock({ $0 }) else { return nil }
        group.wait()
        running.withLock { $0 = nil }
        let result = outcome.withLock { value in
            defer { value = nil }
            return value
        }
        return try result?.get()
    }
}
