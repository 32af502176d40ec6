/// Job states of SPEC.md section 5. `delivering`: the job's files are recorded and its study is being
/// renamed into the outbox; a restart finds out which side of the rename it stopped on.
public enum JobState: String, Sendable, CaseIterable {
    case discovered, settling, queued, processing, delivering, delivered, held, failed, quarantined

    /// The moves the product makes from each state, and no others: `AuditStore` refuses the rest, so
    /// a job cannot leave `delivered`, nor reach it without `delivering`.
    package static let moves: [JobState: Set<JobState>] = [
        // `serve` settles a new folder; `run` begins it at once (or holds it: no mapping, empty).
        .discovered: [.settling, .queued, .processing, .held, .failed],
        // A folder that changes settles again; one removed from the inbox fails.
        .settling: [.settling, .queued, .failed],
        .queued: [.processing, .held, .failed, .settling],
        // Verdicts before delivery; redone after a crash (queued) or when the folder changed (settling).
        .processing: [.delivering, .held, .failed, .quarantined, .settling, .queued],
        // The rename happened (delivered), failed (failed), or a restart found it had not (queued).
        .delivering: [.delivered, .failed, .queued],
        // An operator's retry or a new mapping queues it again; a changed folder settles again.
        .held: [.queued, .settling, .failed],
        .failed: [.queued, .settling],
        .quarantined: [.queued],
        .delivered: [],
    ]

    package func canMove(to next: JobState) -> Bool { Self.moves[self, default: []].contains(next) }
}
