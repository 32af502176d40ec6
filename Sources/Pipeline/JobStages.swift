import Audit
import DICOM
import Defacing
import Deidentification
import Dispatch
import Foundation
import Pixels
import Platform
import Synchronization

/// How one job ended, for the summary. Carries job ids and counts, never patient data.
public struct JobResult: Sendable {
    public let jobID: Int64
    public let state: JobState
    public let reason: JobReason?
    public let delivered: Int
    public let quarantined: Int
    public let ignored: Int
    /// Output folder relative to the output root, e.g. "DEID-0001/study-3f9a…".
    public let outputPath: String?
    /// Quarantine reason codes and how many files had each.
    public let quarantineReasons: [String: Int]

    /// A duplicate was delivered earlier: nothing is missing.
    public var isDuplicate: Bool { reason?.code == .duplicate }
}

/// A job whose files are de-identified in staging, ready to be moved into the output.
public struct StagedJob: Sendable {
    public let job: Int64
    public let folder: PatientFolder
    public let deidentificationID: String
    package let records: [FileRecord]
    package let stagedStudy: URL
    package let studyName: String
}

/// A job whose database work before its files is done (`JobProcessor.begin`).
public struct StagingStart: Sendable {
    package let job: Int64
    package let folder: PatientFolder
    package let id: String
    package let patient: PatientContext
    package let studyName: String
}

/// What `JobProcessor.begin` came to: ready for its files, or already ended (held: no mapping, empty).
public enum StageBeginning: Sendable {
    case ready(StagingStart)
    case ended(StageOutcome)
}

/// What staging a folder came to.
public enum StageOutcome: Sendable {
    /// Ready to deliver.
    case staged(StagedJob)
    /// Ended without delivery (held, quarantined); already recorded.
    case finished(JobResult)
    /// Stopped for shutdown: staging removed, the job stays `processing` and is redone on restart.
    case interrupted
    /// The folder changed or vanished while its files were read, so what they seemed to be (unreadable,
    /// say) is not to be believed: nothing recorded, staging removed; the caller looks at the folder again.
    case changed
}
