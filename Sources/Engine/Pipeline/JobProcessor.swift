import CDCMTK
import Crypto
import Dispatch
import Foundation
import Synchronization

/// How one job ended, for the summary. Carries job ids and counts, never patient data.
public struct JobResult: Sendable {
    public let jobID: Int64
    public let state: JobState
    public let reason: String?
    public let delivered: Int
    public let quarantined: Int
    public let ignored: Int
    /// Output folder relative to the output root, e.g. "DEID-0001/study-3f9a…".
    public let outputPath: String?
    /// Quarantine reason codes and how many files had each.
    public let quarantineReasons: [String: Int]
}

/// Turns one patient folder into one delivered study: every file de-identified in parallel
/// into staging, then the study moved into the output with one rename.
public struct JobProcessor: Sendable {
    public let deidentifier: Deidentifier
    public let store: AuditStore
    public let outputRoot: URL
    public let workers: Int
    public let keepNames: Bool

    public init(deidentifier: Deidentifier, store: AuditStore, outputRoot: URL, workers: Int, keepNames: Bool = false) {
        self.deidentifier = deidentifier
        self.store = store
        self.outputRoot = outputRoot
        self.workers = max(1, workers)
        self.keepNames = keepNames
    }

    var stagingRoot: URL { outputRoot.appendingPathComponent(".ctdeid-staging") }

    /// Processes one planned folder. `progress` is called once per finished file, from any thread.
    public func process(_ folder: PatientFolder, progress: @Sendable () -> Void = {}) throws(AuditError) -> JobResult {
        let profile = deidentifier.profile
        let job = try store.createJob(source: folder.url.path, folder: folder.name,
                                      options: profile.options.sorted().map(\.rawValue).joined(separator: ","),
                                      edition: profile.edition, toolVersion: deidentifier.toolVersion)
        let ignoredRecords = folder.ignored.map {
            FileRecord(inputPath: folder.name + "/" + $0.relativePath, inputSize: 0, inputSHA256: nil, outcome: .ignored, reason: $0.reason)
        }
        func finish(_ state: JobState, _ reason: String?, records: [FileRecord] = [], output: String? = nil,
                    id: String? = nil) throws(AuditError) -> JobResult {
            try store.recordFiles(job: job, records + ignoredRecords)
            try store.transition(job: job, to: state, reason: reason, deidentificationID: id, outputPath: output)
            var reasons: [String: Int] = [:]
            for record in records where record.outcome == .quarantined { reasons[record.reason?.components(separatedBy: ":").first ?? "", default: 0] += 1 }
            return JobResult(jobID: job, state: state, reason: reason,
                             delivered: records.filter { $0.outcome == .delivered }.count,
                             quarantined: records.filter { $0.outcome == .quarantined }.count,
                             ignored: ignoredRecords.count, outputPath: output, quarantineReasons: reasons)
        }

        guard let id = try store.deidentificationID(forAccession: folder.name) else {
            return try finish(.held, "no-mapping: the folder name is not in any imported mapping sheet")
        }
        if folder.files.isEmpty {
            return try finish(.held, "empty: the folder holds no files", id: id)
        }
        try store.transition(job: job, to: .processing, deidentificationID: id)

        var shifter: DateShifter?
        if profile.options.contains(.modifiedDates) {
            shifter = DateShifter(days: try store.dateOffset(for: id, derived: deidentifier.uids.dateOffsetDays(for: id)))
        }
        let patient = PatientContext(deidentificationID: id, dateShifter: shifter)
        let studyName = "study-" + deidentifier.uids.neutralName("study:" + folder.name)
        let staging = stagingRoot.appendingPathComponent("job-\(job)")
        let stagedStudy = staging.appendingPathComponent(studyName)
        try? FileManager.default.removeItem(at: staging)

        let outcomes = Mutex([FileWork?](repeating: nil, count: folder.files.count))
        let deidentifier = self.deidentifier
        let iterations = folder.files.count
        let chunk = max(1, (iterations + workers * 4 - 1) / (workers * 4))
        DispatchQueue.concurrentPerform(iterations: (iterations + chunk - 1) / chunk) { slice in
            for index in slice * chunk..<min(iterations, (slice + 1) * chunk) {
                let planned = folder.files[index]
                let work = FileWork.run(planned, folder: folder, stagedStudy: stagedStudy, patient: patient,
                                        deidentifier: deidentifier)
                outcomes.withLock { $0[index] = work }
                progress()
            }
        }
        let works = outcomes.withLock { $0.map { $0! } }
        let records = works.map(\.record)

        if works.contains(where: \.accessionMismatch) {
            try? FileManager.default.removeItem(at: staging)
            return try finish(.held, "accession-mismatch: AccessionNumber in the files differs from the folder name",
                              records: records.map { var r = $0; if r.outcome == .delivered { r.outcome = .ignored; r.reason = "job held"; r.outputPath = nil; r.outputSHA256 = nil; r.outputSize = nil }; return r },
                              id: id)
        }
        guard records.contains(where: { $0.outcome == .delivered }) else {
            try? FileManager.default.removeItem(at: staging)
            return try finish(.quarantined, "every file was quarantined", records: records, id: id)
        }

        // Durable before visible: flush staging, rename into place, flush the parent folder.
        let patientFolder = outputRoot.appendingPathComponent(id)
        let destination = patientFolder.appendingPathComponent(studyName)
        let relativeOutput = id + "/" + studyName
        do {
            syncFileSystem(of: stagedStudy.path)
            try FileManager.default.createDirectory(at: patientFolder, withIntermediateDirectories: true)
            if FileManager.default.fileExists(atPath: destination.path) {
                try? FileManager.default.removeItem(at: staging)
                return try finish(.held, "duplicate: this study is already in the output (\(relativeOutput)); nothing was overwritten",
                                  records: records.map { var r = $0; if r.outcome == .delivered { r.outcome = .ignored; r.reason = "duplicate of an earlier delivery" }; return r },
                                  output: relativeOutput, id: id)
            }
            if rename(stagedStudy.path, destination.path) != 0 {
                throw PipelineError(reason: "cannot move the study into the output: \(String(cString: strerror(errno)))")
            }
            syncDirectory(patientFolder.path)
            try? FileManager.default.removeItem(at: staging)
        } catch let error as AuditError {
            throw error
        } catch {
            try? FileManager.default.removeItem(at: staging)
            return try finish(.failed, "delivery failed: \(error)", records: records, id: id)
        }
        let quarantined = records.contains { $0.outcome == .quarantined }
        return try finish(.delivered, quarantined ? "delivered; some files quarantined" : nil, records: records,
                          output: relativeOutput, id: id)
    }
}

/// One file's trip: hash, load, check, de-identify, save, hash.
struct FileWork: Sendable {
    var record: FileRecord
    var accessionMismatch = false

    static func run(_ planned: PlannedFile, folder: PatientFolder, stagedStudy: URL, patient: PatientContext,
                    deidentifier: Deidentifier) -> FileWork {
        let inputPath = folder.url.path + "/" + planned.relativePath
        var record = FileRecord(inputPath: folder.name + "/" + planned.relativePath, inputSize: planned.size,
                                inputSHA256: sha256(ofFile: inputPath), outcome: .quarantined)
        func quarantine(_ reason: QuarantineReason) -> FileWork {
            record.outcome = .quarantined
            record.reason = reason.code + ": " + reason.description
            return FileWork(record: record)
        }
        let file: DicomFile
        do {
            file = try DicomFile(path: inputPath, lazyThreshold: 64 * 1024)
        } catch {
            return quarantine(.unreadable(error.reason))
        }
        let accession = file.dataset.string(.accessionNumber) ?? ""
        if !accession.isEmpty && accession != folder.name {
            var work = FileWork(record: record)
            work.record.outcome = .ignored
            work.record.reason = "accession-mismatch"
            work.accessionMismatch = true
            return work
        }
        if let reason = deidentifier.quarantineReason(for: file) { return quarantine(reason) }
        deidentifier.apply(to: file, patient: patient)
        let output = stagedStudy.appendingPathComponent(planned.outputPath)
        do {
            try FileManager.default.createDirectory(at: output.deletingLastPathComponent(), withIntermediateDirectories: true)
            try file.save(to: output.path)
        } catch let error as DicomError {
            return quarantine(.writeFailed(error.reason))
        } catch {
            return quarantine(.writeFailed("\(error)"))
        }
        record.outcome = .delivered
        record.outputPath = planned.outputPath
        record.outputSHA256 = sha256(ofFile: output.path)
        var info = stat()
        if stat(output.path, &info) == 0 { record.outputSize = Int64(info.st_size) }
        return FileWork(record: record)
    }
}

/// SHA-256 of a file, read in 1 MiB blocks so memory stays flat for any file size.
func sha256(ofFile path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var hasher = SHA256()
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 { return nil }
        if count == 0 { break }
        buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
    }
    return hasher.finalize().map { String(format: "%02x", $0) }.joined()
}

/// One syncfs for a whole job instead of one fsync per file.
func syncFileSystem(of path: String) {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { return }
    ctd_syncfs(fd)
    close(fd)
}

func syncDirectory(_ path: String) {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { return }
    fsync(fd)
    close(fd)
}
