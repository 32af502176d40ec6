/// Why a job is in its state: a code that programs match (`jobs.reason_code`) and a sentence for
/// people (`jobs.reason`), as `QuarantineReason` is for a file. Neither ever holds patient data:
/// counts, paths below the outbox, system errors.
public enum JobReason: Sendable, Equatable {
    /// Held: no imported sheet maps the folder's name (`isUTF8: false`: the name cannot be in one).
    case noMapping(isUTF8: Bool)
    /// Held: the folder holds no files.
    case empty
    /// Held: AccessionNumber in the files differs from the folder name.
    case accessionMismatch
    /// Held: files of more than one patient (PatientID).
    case patientMismatch(patients: Int)
    /// Held: different files share SOPInstanceUIDs.
    case instanceUIDConflict(files: Int, uids: Int, contents: String)
    /// Held: the study is already in the output (path relative to the outbox).
    case duplicate(output: String)
    /// Delivered, with some files quarantined.
    case someFilesQuarantined
    /// Quarantined: no file could be made safe.
    case everyFileQuarantined
    /// Failed (`run`): the folder changed while it was processed.
    case changedWhileProcessed
    /// Settling again (`serve`): the folder changed, while it settled or was processed.
    case folderChanged(whileProcessed: Bool)
    case stagingFailed(String)
    case deliveryFailed(String)
    /// Failed: the folder cannot be listed (permissions); processed again once it changes.
    case folderUnreadable(String)
    /// Failed: the folder left the inbox before its study was delivered.
    case folderRemoved
    /// Failed: an operator asked for a retry, but the folder is no longer in the inbox.
    case retryWithoutFolder
    /// Queued: a sheet with the folder's key was imported.
    case mappingImported
    /// Queued: `ctdeid retry`.
    case retryRequested
    /// Recovery after a crash or stop: the delivery had completed (`occasion`: "this start").
    case deliveredBeforeRestart(occasion: String)
    /// Recovery after a crash or stop: the job is done again.
    case redoneAfterRestart(occasion: String)
    /// `run` was stopped while the job was processed (its result only; not recorded).
    case interrupted

    /// The stable code, stored in `jobs.reason_code`.
    public enum Code: String, Sendable, CaseIterable {
        case noMapping = "no-mapping", empty, accessionMismatch = "accession-mismatch", patientMismatch = "patient-mismatch"
        case instanceUIDConflict = "sop-instance-uid-conflict", duplicate, someFilesQuarantined = "some-quarantined"
        case everyFileQuarantined = "all-quarantined", folderChanged = "folder-changed", stagingFailed = "staging-failed"
        case deliveryFailed = "delivery-failed", folderUnreadable = "folder-unreadable", folderRemoved = "folder-removed"
        case mappingImported = "mapping-imported", retryRequested = "retry-requested", recovered, interrupted
    }

    public var code: Code {
        switch self {
        case .noMapping: .noMapping
        case .empty: .empty
        case .accessionMismatch: .accessionMismatch
        case .patientMismatch: .patientMismatch
        case .instanceUIDConflict: .instanceUIDConflict
        case .duplicate: .duplicate
        case .someFilesQuarantined: .someFilesQuarantined
        case .everyFileQuarantined: .everyFileQuarantined
        case .changedWhileProcessed, .folderChanged: .folderChanged
        case .stagingFailed: .stagingFailed
        case .deliveryFailed: .deliveryFailed
        case .folderUnreadable: .folderUnreadable
        case .folderRemoved, .retryWithoutFolder: .folderRemoved
        case .mappingImported: .mappingImported
        case .retryRequested: .retryRequested
        case .deliveredBeforeRestart, .redoneAfterRestart: .recovered
        case .interrupted: .interrupted
        }
    }

    /// The sentence in `jobs.reason`, `ctdeid jobs` and the logs.
    public var text: String {
        switch self {
        case .noMapping(let isUTF8):
            isUTF8 ? "no-mapping: the folder name is not in any imported mapping sheet"
                : "no-mapping: the folder name is not valid UTF-8 (recorded with \\xNN for its other bytes), so no mapping sheet holds it; rename the folder to its accession number"
        case .empty: "empty: the folder holds no files"
        case .accessionMismatch: "accession-mismatch: AccessionNumber in the files differs from the folder name"
        case .patientMismatch(let patients):
            "patient-mismatch: the folder holds files of \(patients) patients (PatientID); one folder must be one patient's study"
        case .instanceUIDConflict(let files, let uids, let contents):
            "sop-instance-uid-conflict: duplicate SOPInstanceUIDs, \(files) files sharing \(uids) UID(s) "
                + "(\(contents)); downstream they would be one object. Remove the extra files and the folder is processed again"
        case .duplicate(let output): "duplicate: this study is already in the output (\(output)); nothing was written"
        case .someFilesQuarantined: "delivered; some files quarantined"
        case .everyFileQuarantined: "every file was quarantined"
        case .changedWhileProcessed: "the folder changed while it was processed; run again"
        case .folderChanged(let whileProcessed): whileProcessed ? "the folder changed while it was processed" : "the folder changed"
        case .stagingFailed(let why): "staging failed: \(why); the input stays in place for a retry"
        case .deliveryFailed(let why): "delivery failed: \(why)"
        case .folderUnreadable(let why): why + " (processed again once the folder changes, e.g. its permissions)"
        case .folderRemoved: "the folder was removed from the inbox before it was delivered"
        case .retryWithoutFolder: "retry requested, but the folder is no longer in the inbox"
        case .mappingImported: "mapping imported"
        case .retryRequested: "retry requested by an operator"
        case .deliveredBeforeRestart(let occasion): "delivery completed before \(occasion)"
        case .redoneAfterRestart(let occasion): "interrupted; redone after \(occasion)"
        case .interrupted: "interrupted"
        }
    }
}
