import Foundation
import Logging

/// Start-up after a crash or kill -9: every job is brought to a state the loop can continue
/// from, so nothing is delivered twice, nothing half-written stays in the outbox (deliveries
/// are renames) and nothing is left in staging.
struct Recovery {
    let configuration: ServiceConfiguration
    let store: AuditStore
    let logger: Logger

    func run() throws {
        let fm = FileManager.default
        for job in try store.jobs(in: [.processing]) {
            let staging = configuration.stagingRoot.appendingPathComponent("job-\(job.id)")
            if job.reason == "delivering", let output = job.outputPath,
               fm.fileExists(atPath: configuration.outbox.appendingPathComponent(output).path),
               !fm.fileExists(atPath: staging.appendingPathComponent((output as NSString).lastPathComponent).path) {
                // The rename happened before the crash; only its record is missing.
                try store.transition(job: job.id, to: .delivered, reason: "delivery completed before a restart")
                logger.info("job \(job.id): delivery had completed before the restart")
            } else {
                try? fm.removeItem(at: staging)
                try store.transition(job: job.id, to: .queued, reason: "interrupted; redone after a restart")
                logger.info("job \(job.id): interrupted; it is redone")
            }
        }
        // Inputs of delivered jobs that a crash kept from being moved or deleted.
        let disposal = InputDisposal(configuration: configuration, store: store)
        for job in try store.jobs(in: [.delivered, .quarantined]) where job.inputDisposition == nil {
            let source = configuration.inbox.appendingPathComponent(job.folder)
            guard fm.fileExists(atPath: source.path), job.source == source.path else {
                try store.recordInputDisposition(job: job.id, "not in the inbox at restart")
                continue
            }
            do {
                if job.state == .delivered {
                    try disposal.dispose(job: job.id, folder: job.folder, quarantinedFiles: job.filesQuarantined > 0)
                } else {
                    try disposal.quarantine(job: job.id, folder: job.folder)
                }
            } catch {
                logger.error("\(error.reason)")
            }
        }
        // Staging holds nothing that a job still needs now.
        for name in (try? fm.contentsOfDirectory(atPath: configuration.stagingRoot.path)) ?? [] {
            try? fm.removeItem(at: configuration.stagingRoot.appendingPathComponent(name))
        }
    }
}

/// Moves or deletes an input folder once its outcome is committed in the database.
struct InputDisposal {
    let configuration: ServiceConfiguration
    let store: AuditStore

    /// Delivered: quarantined files are copied aside first, then the folder goes to `done` or is
    /// deleted. A failure (permissions, disk) is recorded and logged without the folder's name; the
    /// delivery stands and the service goes on.
    func dispose(job: Int64, folder: String, quarantinedFiles: Bool) throws(AuditError) {
        let source = configuration.inbox.appendingPathComponent(folder)
        do {
            if quarantinedFiles { try copyQuarantinedFiles(job: job, folder: folder) }
            switch configuration.afterDelivery {
            case .keep:
                let target = free(configuration.done.appendingPathComponent(folder), job: job)
                try move(source, to: target)
                try store.recordInputDisposition(job: job, "moved to done/\(target.lastPathComponent)")
            case .delete:
                try FileManager.default.removeItem(at: source)
                try store.recordInputDisposition(job: job, "deleted")
            }
        } catch let error as AuditError {
            throw error
        } catch {
            try store.recordInputDisposition(job: job, "left in the inbox: \(Self.reason(error))")
            throw AuditError(reason: "job \(job): delivered, but the input could not be moved or deleted: \(Self.reason(error))")
        }
    }

    /// Every file quarantined: the whole folder goes to the quarantine tree.
    func quarantine(job: Int64, folder: String) throws(AuditError) {
        let source = configuration.inbox.appendingPathComponent(folder)
        let target = configuration.quarantine.appendingPathComponent("job-\(job)")
        do {
            try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
            try move(source, to: target.appendingPathComponent(folder))
            try store.recordInputDisposition(job: job, "moved to quarantine/job-\(job)")
        } catch let error as AuditError {
            throw error
        } catch {
            try store.recordInputDisposition(job: job, "left in the inbox: \(Self.reason(error))")
            throw AuditError(reason: "job \(job): quarantined, but the input could not be moved: \(Self.reason(error))")
        }
    }

    /// rename(2), reporting errno only: Foundation's messages carry the path, which names the patient.
    private func move(_ source: URL, to target: URL) throws(PipelineError) {
        if rename(source.path, target.path) != 0 {
            throw PipelineError(reason: String(cString: strerror(errno)))
        }
    }

    /// An error's reason without paths.
    static func reason(_ error: Error) -> String {
        if let error = error as? PipelineError { return error.reason }
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        // Foundation's file errors, by code, in the words of errno.
        switch ns.code {
        case 257, 513: return String(cString: strerror(EACCES))
        case 4, 260: return String(cString: strerror(ENOENT))
        case 516: return String(cString: strerror(EEXIST))
        case 640: return String(cString: strerror(ENOSPC))
        case 642: return String(cString: strerror(EROFS))
        default: return "error \(ns.domain) \(ns.code)"
        }
    }

    private func copyQuarantinedFiles(job: Int64, folder: String) throws {
        let target = configuration.quarantine.appendingPathComponent("job-\(job)")
        for path in try store.quarantinedInputPaths(job: job) {
            let source = configuration.inbox.appendingPathComponent(path)
            let destination = target.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: destination.path) {
                try FileManager.default.copyItem(at: source, to: destination)
            }
        }
    }

    /// done/<folder>, or done/<folder>.<job> when an earlier input of that name is already there.
    private func free(_ url: URL, job: Int64) -> URL {
        FileManager.default.fileExists(atPath: url.path) ? url.deletingLastPathComponent()
            .appendingPathComponent(url.lastPathComponent + ".\(job)") : url
    }
}
