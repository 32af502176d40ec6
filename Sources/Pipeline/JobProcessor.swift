import Audit
import DICOM
import Defacing
import Deidentification
import Foundation
import Pixels
import Platform

/// Turns one patient folder into one delivered study: every file de-identified in parallel
/// into staging, then the study moved into the output with one rename.
public struct JobProcessor: Sendable {
    public let deidentifier: Deidentifier
    public let store: AuditStore
    public let outputRoot: URL
    public let stagingRoot: URL
    public let workers: Int
    /// nil: defacing off (metadata only).
    public let defacing: SeriesDefacing?
    /// Where the before/after PNG of each defaced series goes (job-N/series-M.png), outside the output.
    public let qaRoot: URL
    /// Recorded on every job it creates: the service recovers only its own.
    public let owner: JobOwner

    public init(deidentifier: Deidentifier, store: AuditStore, outputRoot: URL, stagingRoot: URL, workers: Int,
                defacing: SeriesDefacing? = nil, qaRoot: URL? = nil, owner: JobOwner = .run) {
        self.deidentifier = deidentifier
        self.owner = owner
        self.store = store
        self.outputRoot = outputRoot
        self.stagingRoot = stagingRoot
        self.workers = max(1, workers)
        self.defacing = defacing
        self.qaRoot = qaRoot ?? stagingRoot.deletingLastPathComponent().appendingPathComponent("qa")
    }

    /// A new job row for a patient folder. `durable: false`: see `begin`.
    public func createJob(for folder: URL, durable: Bool = true) throws(AuditError) -> Int64 {
        let profile = deidentifier.profile
        return try store.createJob(source: folder.path, folder: folder.lastPathComponent,
                                   options: profile.options.sorted().map(\.rawValue).joined(separator: ","),
                                   edition: profile.edition, toolVersion: deidentifier.toolVersion, owner: owner, durable: durable)
    }

    public func stagingFolder(job: Int64) -> URL { stagingRoot.appendingPathComponent("job-\(job)") }

    /// The result of a job from what staging came to (`.staged` is delivered).
    public func result(of outcome: StageOutcome, job: Int64, folder: PatientFolder) throws(AuditError) -> JobResult {
        switch outcome {
        case .staged(let staged): return try deliver(staged)
        case .finished(let result): return result
        case .interrupted: return JobResult(jobID: job, state: .processing, reason: .interrupted, delivered: 0,
                                            quarantined: 0, ignored: 0, outputPath: nil, quarantineReasons: [:])
        case .changed: return try finish(job, folder, .failed, .changedWhileProcessed)
        }
    }

    /// De-identifies every file of the folder into staging. `shouldStop` is asked before each file.
    public func stage(_ folder: PatientFolder, job: Int64, force: Bool = false, progress: @Sendable () -> Void = {},
                      shouldStop: @Sendable () -> Bool = { false }) throws(AuditError) -> StageOutcome {
        switch try begin(folder, job: job, force: force) {
        case .ended(let outcome): return outcome
        case .ready(let start): return try stageFiles(start, progress: progress, shouldStop: shouldStop)
        }
    }

    /// The database work before a job's files: its mapping, its `processing` state, the patient's
    /// date offset. `durable: false` commits them without waiting for the disk, where the disk is
    /// busy writing an earlier job: a crash before the next durable commit (every delivery's is)
    /// loses no delivery, only the note that this job had begun, and it is redone (the date offset
    /// is derived from the ID, so it comes out the same).
    public func begin(_ folder: PatientFolder, job: Int64, force: Bool = false, durable: Bool = true) throws(AuditError) -> StageBeginning {
        guard let id = try store.deidentificationID(forAccession: folder.name) else {
            return .ended(.finished(try finish(job, folder, .held, .noMapping(isUTF8: RawName.isUTF8(folder.name)))))
        }
        if folder.files.isEmpty {
            return .ended(.finished(try finish(job, folder, .held, .empty, id: id)))
        }
        try store.transition(job: job, to: .processing, deidentificationID: id, durable: durable)

        let profile = deidentifier.profile
        var shifter: DateShifter?
        if profile.options.contains(.modifiedDates) {
            shifter = DateShifter(days: try store.dateOffset(for: id, derived: deidentifier.uids.dateOffsetDays(for: id),
                                                             durable: durable))
        }
        var studyName = "study-" + deidentifier.uids.neutralName("study:" + folder.name)
        // A forced redelivery of a study already in the output goes beside it, never over it.
        if force { studyName += "-\(job)" }
        return .ready(StagingStart(job: job, folder: folder, id: id,
                                   patient: PatientContext(deidentificationID: id, dateShifter: shifter), studyName: studyName))
    }

    /// The files of a begun job into staging; the database is used again only where the job ends
    /// without a delivery (and, with defacing on, to record its series).
    public func stageFiles(_ start: StagingStart, progress: @Sendable () -> Void = {},
                           shouldStop: @Sendable () -> Bool = { false }) throws(AuditError) -> StageOutcome {
        let (job, folder, id, patient, studyName) = (start.job, start.folder, start.id, start.patient, start.studyName)
        let staging = stagingFolder(job: job)
        let stagedStudy = staging.appendingPathComponent(studyName)
        try? FileManager.default.removeItem(at: staging)

        // With defacing on, a first pass reads the headers so head CT series can be found and
        // defaced as volumes; each series' files are written while its volume is held, then the rest.
        let deidentifier = self.deidentifier
        var written = [FileWork?](repeating: nil, count: folder.files.count)
        func write(_ files: [Int], face: @Sendable (Int) -> FaceInstructions?) -> Bool {
            let works = parallelMap(files.count, progress: progress, shouldStop: shouldStop) { position in
                FileWork.run(folder.files[files[position]], folder: folder, stagedStudy: stagedStudy, patient: patient,
                             deidentifier: deidentifier, face: face(files[position]))
            }
            guard let works else { return false }
            for (index, work) in zip(files, works) { written[index] = work }
            return true
        }
        if let defacing {
            let inspections = parallelMap(folder.files.count, shouldStop: shouldStop) { index in
                FileWork.inspect(folder.files[index], folder: folder, deidentifier: deidentifier)
            }
            guard let inspections else {
                try? FileManager.default.removeItem(at: staging)
                return .interrupted
            }
            if let reason = mismatch(inspections.map(\.record), patients: Set(inspections.compactMap(\.patient)).count) {
                // Files that vanished under this pass read as unreadable: check before the verdict.
                if folder.hasChanged() { return .changed }
                return .finished(try heldForMismatch(job, folder, inspections.map(\.record), reason, id: id))
            }
            var headers: [Int: SliceHeader] = [:]
            for (index, inspection) in inspections.enumerated() {
                if let header = inspection.header, header.isCT || header.isUndefacedModality { headers[index] = header }
            }
            let plan = PixelPlan(defacing: defacing, headers: headers, paths: folder.files.map { folder.url.path + "/" + $0.relativePath },
                                 judgesUndefaced: true)
            let finished = try plan.run(judged: { (number, files, verdict) throws(AuditError) -> Void in
                try recordSeries(number, files: files, verdict, job: job)
            }, write: { (files, face) throws(AuditError) -> Bool in write(files, face: face) })
            guard finished else {
                try? FileManager.default.removeItem(at: staging)
                return .interrupted
            }
        }
        // Every file outside a judged series (all of them with defacing off).
        guard write(written.indices.filter { written[$0] == nil }, face: { _ in nil }) else {
            try? FileManager.default.removeItem(at: staging)
            return .interrupted
        }
        let works = written.map { $0! }
        let records = numberedSeries(works, job: job)
        // Files that vanished under this pass (rm -rf) read as unreadable: check before recording any verdict.
        if folder.hasChanged() {
            try? FileManager.default.removeItem(at: staging)
            return .changed
        }

        // A file that could not be written (disk full, I/O error) says nothing about the input: the
        // job fails whole, nothing partial is delivered, and the input stays for a retry.
        if let failure = works.compactMap(\.stagingFailure).first {
            try? FileManager.default.removeItem(at: staging)
            return .finished(try finish(job, folder, .failed, .stagingFailed(failure),
                                        records: withoutDelivery(records, reason: "not delivered: staging failed"), id: id))
        }
        if let reason = mismatch(records, patients: Set(works.compactMap(\.patient)).count) {
            try? FileManager.default.removeItem(at: staging)
            return .finished(try heldForMismatch(job, folder, records, reason, id: id))
        }
        if let held = try heldForSharedInstanceUIDs(job, folder, works, id: id) {
            try? FileManager.default.removeItem(at: staging)
            return .finished(held)
        }
        guard records.contains(where: { $0.outcome == .delivered }) else {
            try? FileManager.default.removeItem(at: staging)
            return .finished(try finish(job, folder, .quarantined, .everyFileQuarantined, records: records, id: id))
        }
        return .staged(StagedJob(job: job, folder: folder, deidentificationID: id, records: records,
                                 stagedStudy: stagedStudy, studyName: studyName))
    }

    /// `body` for every file index on the job's workers; nil when `shouldStop` interrupted it.
    package func parallelMap<T: Sendable>(_ count: Int, progress: @Sendable () -> Void = {}, shouldStop: @Sendable () -> Bool,
                                          _ body: @Sendable (Int) -> T) -> [T]? {
        Platform.parallelMap(count, workers: workers, progress: progress, shouldStop: shouldStop, body)
    }

    /// The job's records once it will not be delivered: staged files become `ignored` with `reason`.
    package func withoutDelivery(_ records: [FileRecord], reason: String) -> [FileRecord] {
        records.map { record in
            guard record.outcome == .delivered else { return record }
            var undelivered = record
            undelivered.outcome = .ignored
            undelivered.reason = reason
            undelivered.outputPath = nil
            undelivered.outputSHA256 = nil
            undelivered.outputSize = nil
            return undelivered
        }
    }

    /// Why the files disagree with the folder (accession) or with each other (patient), if they do.
    package func mismatch(_ records: [FileRecord], patients: Int) -> JobReason? {
        if records.contains(where: { $0.reason == "accession-mismatch" }) { return .accessionMismatch }
        if patients > 1 { return .patientMismatch(patients: patients) }
        return nil
    }

    /// Held before delivery for a mismatch.
    package func heldForMismatch(_ job: Int64, _ folder: PatientFolder, _ records: [FileRecord], _ reason: JobReason,
                                 id: String) throws(AuditError) -> JobResult {
        try finish(job, folder, .held, reason, records: withoutDelivery(records, reason: "job held before delivery"), id: id)
    }

    /// Held when different files carry one SOPInstanceUID: downstream they would be one object (an
    /// archive keeps one, drops the others), so the study would arrive silently incomplete. The UIDs
    /// are never written into the reason, only counts.
    package func heldForSharedInstanceUIDs(_ job: Int64, _ folder: PatientFolder, _ works: [FileWork],
                                   id: String) throws(AuditError) -> JobResult? {
        var holders: [String: [Int]] = [:]
        for (index, work) in works.enumerated() where work.record.outcome == .delivered {
            if let uid = work.sopInstanceUID, !uid.isEmpty { holders[uid, default: []].append(index) }
        }
        let shared = holders.values.filter { $0.count > 1 }
        guard !shared.isEmpty else { return nil }
        let files = shared.reduce(0) { $0 + $1.count }
        let copies = shared.filter { Set($0.map { works[$0].record.inputSHA256 ?? "" }).count == 1 }.count
        var records = withoutDelivery(works.map(\.record), reason: "job held before delivery")
        for group in shared {
            for index in group {
                records[index].reason = "sop-instance-uid-conflict: its SOPInstanceUID is also in \(group.count - 1) other file(s)"
            }
        }
        let contents = copies == 0 ? "different contents" : copies == shared.count ? "byte-identical copies"
            : "\(copies) of the groups byte-identical copies"
        return try finish(job, folder, .held, .instanceUIDConflict(files: files, uids: shared.count, contents: contents),
                          records: records, id: id)
    }

    /// The records with each image's series number (1, 2, ... by the series' first file), and one QA
    /// picture per series whose images had text masked (`qa/job-N/text-series-M.png`).
    package func numberedSeries(_ works: [FileWork], job: Int64) -> [FileRecord] {
        var records = works.map(\.record)
        var numbers: [String: Int] = [:]
        var previews: [Int: [TextPreview]] = [:]
        for (index, work) in works.enumerated() {
            guard let uid = work.seriesUID else { continue }
            let number = numbers[uid] ?? numbers.count + 1
            numbers[uid] = number
            records[index].seriesIndex = number
            if let preview = work.textPreview { previews[number, default: []].append(preview) }
        }
        for (number, shown) in previews {
            guard let png = TextPreview.sheet(shown) else { continue }
            let url = qaRoot.appendingPathComponent("job-\(job)/text-series-\(number).png")
            try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try? png.write(to: url)
        }
        return records
    }

    /// Records a judged series (and writes its QA renderings when defaced).
    package func recordSeries(_ number: Int, files: [Int], _ verdict: SeriesVerdict, job: Int64) throws(AuditError) {
        var record = SeriesRecord(index: number, files: files.count, verdict: "", reason: nil, voxelsRemoved: 0, qaImage: nil)
        switch verdict {
        case .metadataOnly(let reason):
            record.verdict = "metadata-only"
            record.reason = reason
        case .faceKept(let reason):
            record.verdict = "face-kept"
            record.reason = reason
        case .faceNotRemoved(let reason), .quarantine(let reason):
            record.verdict = "quarantined"
            record.reason = reason
        case .defaced(let removed, _, let png, let profile, _):
            record.verdict = "defaced"
            record.voxelsRemoved = removed
            for (picture, suffix) in [(png, ""), (profile, "-profile")] {
                guard let picture else { continue }
                let url = qaRoot.appendingPathComponent("job-\(job)/series-\(number)\(suffix).png")
                do {
                    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try picture.write(to: url)
                    if suffix.isEmpty { record.qaImage = url.path } else { record.qaProfile = url.path }
                } catch {
                    record.reason = "QA image not written: \(SystemError.reason(error))"
                }
            }
        }
        try store.recordSeries(job: job, record)
    }

    /// Flushes staging, records the files and the destination, then moves the study into the
    /// output with one rename. A crash between the record and the rename is resolved on restart
    /// by `Recovery`: the destination either exists (delivered) or not (redo).
    public func deliver(_ staged: StagedJob) throws(AuditError) -> JobResult {
        // A delivery the audit cannot record is not made: the database must still be the file opened.
        try store.verifyIdentity()
        let id = staged.deidentificationID
        let patientFolder = outputRoot.appendingPathComponent(id)
        let destination = patientFolder.appendingPathComponent(staged.studyName)
        let relativeOutput = id + "/" + staged.studyName
        let staging = stagingFolder(job: staged.job)
        defer { try? FileManager.default.removeItem(at: staging) }
        // Where nothing is delivered, staging goes before the verdict is recorded, so whoever sees
        // the verdict (an operator, a test) never sees leftovers.
        if FileManager.default.fileExists(atPath: destination.path) {
            try? FileManager.default.removeItem(at: staging)
            return try finish(staged.job, staged.folder, .held,
                              .duplicate(output: relativeOutput),
                              records: withoutDelivery(staged.records, reason: "duplicate of an earlier delivery"), id: id)
        }
        do {
            syncFileSystem(of: staged.stagedStudy.path)
            try FileManager.default.createDirectory(at: patientFolder, withIntermediateDirectories: true)
            try store.recordFiles(job: staged.job, staged.records + ignoredRecords(staged.folder))
            try store.transition(job: staged.job, to: .delivering, deidentificationID: id,
                                 outputPath: relativeOutput)
            if rename(staged.stagedStudy.path, destination.path) != 0 {
                throw PipelineError(reason: "cannot move the study into the output: \(String(cString: strerror(errno)))")
            }
            syncDirectory(patientFolder.path)
        } catch let error as AuditError {
            throw error
        } catch {
            try? FileManager.default.removeItem(at: staging)
            return try finish(staged.job, staged.folder, .failed, .deliveryFailed(SystemError.reason(error)),
                              records: withoutDelivery(staged.records, reason: "not delivered: delivery failed"), id: id)
        }
        let quarantined = staged.records.contains { $0.outcome == .quarantined }
        return try finish(staged.job, staged.folder, .delivered, quarantined ? .someFilesQuarantined : nil,
                          records: staged.records, output: relativeOutput, id: id, filesRecorded: true)
    }

    package func ignoredRecords(_ folder: PatientFolder) -> [FileRecord] {
        folder.ignored.map {
            FileRecord(inputPath: folder.name + "/" + $0.relativePath, inputSize: 0, inputSHA256: nil, outcome: .ignored, reason: $0.reason)
        }
    }

    /// Records the job's files (unless `filesRecorded`: the delivery recorded these very records
    /// before its rename) and its final state.
    package func finish(_ job: Int64, _ folder: PatientFolder, _ state: JobState, _ reason: JobReason?, records: [FileRecord] = [],
                output: String? = nil, id: String? = nil, filesRecorded: Bool = false) throws(AuditError) -> JobResult {
        let ignored = ignoredRecords(folder)
        if !filesRecorded { try store.recordFiles(job: job, records + ignored) }
        try store.transition(job: job, to: state, reason: reason, deidentificationID: id, outputPath: output)
        // The review page is for a person; a failure to write it never fails the job (the audit
        // rows above are the record).
        if let page = try? ReviewPage.writeJobPage(job: job, store: store, qaRoot: qaRoot) {
            try? store.recordReviewPage(job: job, page: page.path)
        }
        var reasons: [String: Int] = [:]
        for record in records where record.outcome == .quarantined {
            reasons[record.reason?.components(separatedBy: ":").first ?? "", default: 0] += 1
        }
        return JobResult(jobID: job, state: state, reason: reason,
                         delivered: state == .delivered ? records.filter { $0.outcome == .delivered }.count : 0,
                         quarantined: records.filter { $0.outcome == .quarantined }.count,
                         ignored: ignored.count, outputPath: output, quarantineReasons: reasons)
    }
}
