import Audit
import Foundation
import Logging
import Pipeline
import Platform

/// Start-up after a crash or kill -9: every job of the service (not those of a `ctdeid run` sharing
/// the database, which may be at work) is brought to a state the loop can continue from, so nothing is delivered twice, nothing half-written stays in the outbox (deliveries
/// are renames) and nothing is left in staging.
struct Recovery {
    let configuration: ServiceConfiguration
    let store: AuditStore
    let logger: Logger
    /// What interrupted the jobs, for the reasons and the log.
    var occasion = "a restart"

    func run() throws {
        let fm = FileManager.default
        for job in try store.jobs(in: [.processing, .delivering], ownedBy: .serve) {
            let staging = configuration.stagingRoot.appendingPathComponent("job-\(job.id)")
            if job.state == .delivering, let output = job.outputPath,
               fm.fileExists(atPath: configuration.outbox.appendingPathComponent(output).path),
               !fm.fileExists(atPath: staging.appendingPathComponent((output as NSString).lastPathComponent).path) {
                // The rename happened before the crash; only its record is missing.
                try store.transition(job: job.id, to: .delivered, reason: .deliveredBeforeRestart(occasion: occasion))
                logger.info("job \(job.id): delivery had completed before \(occasion)")
            } else {
                try? fm.removeItem(at: staging)
                try store.transition(job: job.id, to: .queued, reason: .redoneAfterRestart(occasion: occasion))
                logger.info("job \(job.id): interrupted; it is redone")
            }
        }
        // Inputs of delivered jobs that a crash kept from being moved or deleted.
        let disposal = InputDisposal(configuration: configuration, store: store)
        for job in try store.jobs(in: [.delivered, .quarantined], ownedBy: .serve) where job.inputDisposition == nil {
            let source = configuration.inbox.appendingPathComponent(job.folder)
            guard RawName.lstat(source.path) != nil, job.source == source.path else {
                try store.recordInputDisposition(job: job.id, "not in the inbox at \(occasion)")
                continue
            }
            do {
                if job.state == .delivered {
                    try disposal.dispose(job: job.id, folder: job.folder, quarantinedFiles: job.filesQuarantined > 0)
                } else {
                    try disposal.quarantine(job: job.id, folder: job.folder)
                }
            } catch where error.isBusy {
                throw error
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
                try delete(source, job: job)
                try store.recordInputDisposition(job: job, "deleted")
            }
        } catch let error as AuditError {
            throw error
        } catch {
            try store.recordInputDisposition(job: job, "left in the inbox: \(SystemError.reason(error))")
            throw AuditError(reason: "job \(job): delivered, but the input could not be moved or deleted: \(SystemError.reason(error))")
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
            try store.recordInputDisposition(job: job, "left in the inbox: \(SystemError.reason(error))")
            throw AuditError(reason: "job \(job): quarantined, but the input could not be moved: \(SystemError.reason(error))")
        }
    }

    /// rename(2), reporting errno only: Foundation's messages carry the path, which names the patient.
    /// Paths are in RawName's text form: the input keeps its name, UTF-8 or not.
    private func move(_ source: URL, to target: URL) throws(PipelineError) {
        if rename(RawName.systemPath(source.path), RawName.systemPath(target.path)) != 0 {
            throw PipelineError(reason: String(cString: strerror(errno)))
        }
    }

    /// Foundation cannot name a folder that is not UTF-8: it is first renamed to a hidden name of the
    /// job (ignored by the watcher), then removed; names below it are handled as bytes by fts.
    private func delete(_ source: URL, job: Int64) throws {
        var doomed = source
        if !RawName.isVerbatim(source.lastPathComponent) {
            doomed = source.deletingLastPathComponent().appendingPathComponent(".ctdeid-deleting-job-\(job)")
            try move(source, to: doomed)
        }
        try FileManager.default.removeItem(at: doomed)
    }

    /// Copies under quarantine/job-N/ with the input's own names (recorded in RawName's text form).
    private func copyQuarantinedFiles(job: Int64, folder: String) throws {
        let target = configuration.quarantine.appendingPathComponent("job-\(job)")
        for path in try store.quarantinedInputPaths(job: job) {
            let source = configuration.inbox.appendingPathComponent(path)
            let destination = target.appendingPathComponent(path)
            try Self.makeFolders(destination.deletingLastPathComponent().path)
            if RawName.lstat(destination.path) == nil {
                try Self.copyFile(source.path, to: destination.path)
            }
        }
    }

    /// mkdir -p on a text-form path (modes as Foundation gives them: 0777 less the umask).
    static func makeFolders(_ path: String) throws(PipelineError) {
        if path.isEmpty || path == "/" || RawName.lstat(path) != nil { return }
        try makeFolders((path as NSString).deletingLastPathComponent)
        if mkdir(RawName.systemPath(path), 0o777) != 0 && errno != EEXIST {
            throw PipelineError(reason: String(cString: strerror(errno)))
        }
    }

    /// Copies a regular file between text-form paths, with the source's permission bits; never over an
    /// existing file (O_EXCL), and a copy that fails half-way is removed.
    static func copyFile(_ source: String, to destination: String) throws(PipelineError) {
        func failure() -> PipelineError { PipelineError(reason: String(cString: strerror(errno))) }
        let input = open(RawName.systemPath(source), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard input >= 0 else { throw failure() }
        defer { close(input) }
        var info = stat()
        guard fstat(input, &info) == 0 else { throw failure() }
        let output = open(RawName.systemPath(destination), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, info.st_mode & 0o777)
        guard output >= 0 else { throw failure() }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var error: PipelineError?
        copying: while true {
            let count = read(input, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count < 0 { error = failure(); break }
            if count == 0 { break }
            var written = 0
            while written < count {
                let step = buffer.withUnsafeBytes { write(output, $0.baseAddress! + written, count - written) }
                if step < 0 && errno == EINTR { continue }
                if step < 0 { error = failure(); break copying }
                written += step
            }
        }
        if close(output) != 0 && error == nil { error = failure() }
        if let error {
            unlink(RawName.systemPath(destination))
            throw error
        }
    }

    /// done/<folder>, or done/<folder>.<job> when an earlier input of that name is already there.
    private func free(_ url: URL, job: Int64) -> URL {
        RawName.lstat(url.path) != nil ? url.deletingLastPathComponent()
            .appendingPathComponent(url.lastPathComponent + ".\(job)") : url
    }
}
