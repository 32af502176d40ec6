import Audit
import DICOM
import Defacing
import Deidentification
import Dispatch
import Foundation
import Logging
import Mapping
import Pipeline
import Platform
import ServiceLifecycle
import Synchronization
import Watcher

/// The inbox loop: watch, settle, queue, process, deliver, dispose of the input.
final class InboxService: Service, @unchecked Sendable {
    // Everything below is touched only by the loop's own task, one step at a time.
    let configuration: ServiceConfiguration
    let processor: JobProcessor
    let store: AuditStore
    let notifier: ServiceNotifier
    let heartbeat: Heartbeat
    let logger: Logger
    let stopping = StopSignal()

    struct Tracked {
        var job: Int64
        var state: JobState
        var lastChange: Double
        var reason: JobReason.Code?
        /// The folder's signature when last walked (by a scan, or when it was about to be queued); nil
        /// when its last change was reported by inotify.
        var signature: InboxEntry?
    }
    /// Keyed by folder name in RawName's text form (names need not be UTF-8).
    var tracked: [String: Tracked] = [:]
    var queue: [String] = []
    /// Top-level entries that are not folders, already reported (logged once, not on every event).
    var reportedNonFolders: Set<String> = []
    var lastMappingImport: Int64 = 0
    var lastDatabasePoll = 0.0
    var lastRescan = 0.0
    var delivered = 0
    var lastStatus = ""

    init(configuration: ServiceConfiguration, processor: JobProcessor, store: AuditStore, notifier: ServiceNotifier,
         heartbeat: Heartbeat, logger: Logger) {
        self.configuration = configuration
        self.processor = processor
        self.store = store
        self.notifier = notifier
        self.heartbeat = heartbeat
        self.logger = logger
    }

    static func now() -> Double { Double(Heartbeat.now()) / 1e9 }

    /// The watcher belongs to the loop; it is lent to one background call at a time.
    struct UncheckedBox<T>: @unchecked Sendable {
        let value: T
        init(_ value: T) { self.value = value }
    }

    func run() async throws {
        try await withGracefulShutdownHandler {
            do {
                try await loop()
            } catch let error as AuditError where error.isIdentityLost {
                // Not transient: a restart would start on a new, empty database. Exit 2, which the
                // unit does not restart, and say what to put back.
                logger.critical("\(error.reason)")
                throw ConfigurationError(error.reason)
            }
        } onGracefulShutdown: { [self] in
            notifier.notify("STOPPING=1")
            stopping.stop()
            logger.info("stopping: finishing the current file")
        }
    }

    func loop() async throws {
        let watcher: InboxWatcher
        do {
            watcher = try InboxWatcher(inbox: configuration.inbox, mode: configuration.watch)
        } catch {
            throw ConfigurationError("inbox \(configuration.inbox.path): \(error.reason)")
        }
        try Recovery(configuration: configuration, store: store, logger: logger).run()
        lastMappingImport = try store.latestMappingImport()
        delivered = try store.stateCounts()[.delivered] ?? 0
        try reconcile(watcher.scan(), watcher)
        lastRescan = Self.now()
        notifier.notify("READY=1")
        logger.info("ready: watching the inbox", metadata: ["folders": "\(tracked.count)"])
        publishStatus()
        // The watchdog pings only once the loop runs, so READY=1 and STATUS= come first.
        heartbeat.beat()

        var busyRetries = 0
        var stateIsStale = false
        while !stopping.isSet {
            do {
                if stateIsStale {
                    try resynchronise(with: watcher)
                    stateIsStale = false
                }
                try await turn(watcher)
                busyRetries = 0
            } catch let error as AuditError where error.isBusy {
                // Another process (a backup, an operator's sqlite3) holds the database's write lock. The
                // service waits for it instead of exiting; what the interrupted step left half-done in
                // memory is rebuilt afterwards from the database and the inbox, as a restart would.
                busyRetries += 1
                let delay = min(30, 1 << min(busyRetries - 1, 5))
                logger.warning("the audit database is locked by another process; retrying in \(delay) s (attempt \(busyRetries))")
                stateIsStale = true
                await pause(seconds: delay)
            }
        }
        logger.info("stopped")
    }

    /// One turn of the loop: take in the inbox's changes, then move every job that can move.
    func turn(_ watcher: InboxWatcher) async throws {
        heartbeat.beat()
        let timeout = nextTimeout()
        let box = UncheckedBox(watcher)
        let changes = await offload { box.value.wait(timeoutMilliseconds: timeout) }
        if stopping.isSet { return }
        if changes.rescanNeeded || watcher.watchFailure != nil {
            logger.notice("rescanning the inbox (event queue overflow or watch limit)")
            try reconcile(watcher.scan(), watcher)
            lastRescan = Self.now()
        } else if !changes.changed.isEmpty {
            try noteChanges(changes.changed)
        }
        if configuration.rescanSeconds > 0 && Self.now() - lastRescan >= configuration.rescanSeconds {
            // What inotify cannot see: files another client of a share wrote (or, in poll mode, anything).
            let start = Self.now()
            let found = watcher.rescan()
            lastRescan = Self.now()
            logger.debug("inbox rescanned", metadata: ["folders": "\(watcher.folderCount)", "changed": "\(found.changed.count)",
                                                       "ms": "\(Int((lastRescan - start) * 1000))"])
            reportNonFolders(Array(watcher.loose))
            try noteChanges(found.changed, from: watcher)
        }
        let now = Self.now()
        if now - lastDatabasePoll >= 1 {
            lastDatabasePoll = now
            try store.verifyIdentity()
            try pollDatabase()
        }
        try promoteSettled(watcher)
        if !queue.isEmpty {
            try await processNext()
        }
        publishStatus()
    }

    /// After a database error left a step half-done: forget the in-memory job states and take them
    /// again from the database (Recovery settles jobs caught in processing or delivery) and a scan.
    func resynchronise(with watcher: InboxWatcher) throws {
        try Recovery(configuration: configuration, store: store, logger: logger, occasion: "a database lock").run()
        tracked = [:]
        queue = []
        reportedNonFolders = []
        lastMappingImport = try store.latestMappingImport()
        try reconcile(watcher.scan(), watcher)
        logger.info("the audit database is usable again; resumed", metadata: ["folders": "\(tracked.count)"])
    }

    /// Sleeps up to `seconds`, waking early for shutdown; the watchdog keeps seeing a live loop.
    func pause(seconds: Int) async {
        for _ in 0..<(seconds * 10) where !stopping.isSet {
            heartbeat.beat()
            try? await Task.sleep(for: .milliseconds(100))
        }
    }


    /// Wake up when the next folder settles (no polling delay), and at least once a second.
    func nextTimeout() -> Int32 {
        if !queue.isEmpty { return 0 }
        var wait = 1.0
        let now = Self.now()
        for entry in tracked.values where entry.state == .settling {
            wait = min(wait, max(0, entry.lastChange + configuration.settleSeconds - now))
        }
        return Int32((wait * 1000).rounded(.up))
    }

    // MARK: folder states

    func reconcile(_ entries: [InboxEntry], _ watcher: InboxWatcher) throws {
        let present = Set(entries.filter(\.isDirectory).map(\.name))
        let loose = entries.filter { !$0.isDirectory }.map(\.name)
        reportedNonFolders.formIntersection(loose)
        reportNonFolders(loose)
        for name in tracked.keys where !present.contains(name) { try folderRemoved(name) }
        try noteChanges(present.filter { tracked[$0] == nil }, from: watcher)
    }

    /// Changes found by walking the inbox (a scan or rescan): as inotify's, but each folder's
    /// signature is known, and settling can be judged by it.
    func noteChanges(_ names: Set<String>, from watcher: InboxWatcher) throws {
        try noteChanges(names)
        for name in names where tracked[name] != nil { tracked[name]?.signature = watcher.lastSignature(of: name) }
    }

    func noteChanges(_ names: Set<String>) throws {
        let now = Self.now()
        var notFolders: [String] = []
        for name in names.sorted() {
            let path = configuration.inbox.appendingPathComponent(name).path
            let info = RawName.lstat(path)
            guard let info, info.st_mode & S_IFMT == S_IFDIR else {
                try folderRemoved(name)
                if info != nil { notFolders.append(name) } else { reportedNonFolders.remove(name) }
                continue
            }
            reportedNonFolders.remove(name)
            if var entry = tracked[name] {
                entry.lastChange = now
                entry.signature = nil
                if entry.state != .settling {
                    try store.transition(job: entry.job, to: .settling, reason: .folderChanged(whileProcessed: false))
                    entry.state = .settling
                    queue.removeAll { $0 == name }
                }
                tracked[name] = entry
            } else {
                let job: Int64
                if let open = try store.openJob(folder: name, ownedBy: .serve) {
                    job = open.id
                } else {
                    job = try processor.createJob(for: URL(fileURLWithPath: path))
                }
                try store.transition(job: job, to: .settling, reason: nil)
                tracked[name] = Tracked(job: job, state: .settling, lastChange: now)
                logger.info("job \(job): discovered, settling")
            }
        }
        reportNonFolders(notFolders)
    }

    /// Symbolic links, FIFOs, sockets and files lying directly in the inbox are never jobs (a link is
    /// never followed out of the inbox). Each is logged once, by kind and count: its name may be an
    /// accession number.
    func reportNonFolders(_ names: [String]) {
        var kinds: [String: Int] = [:]
        for name in names where reportedNonFolders.insert(name).inserted {
            let path = configuration.inbox.appendingPathComponent(name).path
            let kind = switch (RawName.lstat(path)?.st_mode ?? 0) & S_IFMT {
            case S_IFLNK: "symbolic link"
            case S_IFREG: "file"
            case S_IFIFO: "FIFO"
            case S_IFSOCK: "socket"
            case S_IFCHR, S_IFBLK: "device"
            default: "other entry"
            }
            kinds[kind, default: 0] += 1
        }
        let count = kinds.values.reduce(0, +)
        guard count > 0 else { return }
        let detail = kinds.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        logger.warning("ignoring \(count) entr\(count == 1 ? "y" : "ies") directly in the inbox (\(detail)): entries that are not folders are never jobs")
    }

    func folderRemoved(_ name: String) throws {
        guard let entry = tracked.removeValue(forKey: name) else { return }
        queue.removeAll { $0 == name }
        try store.transition(job: entry.job, to: .failed, reason: .folderRemoved)
        logger.warning("job \(entry.job): folder removed from the inbox before delivery")
    }

    /// Queues the folders unchanged for the settle time. Before it is queued a folder is walked, and
    /// it is queued only if nothing in it changed since the last walk (or, known only through inotify
    /// events, since the last event): a share's other clients write without events, and a poll finds
    /// a copy in progress only by comparing two looks.
    func promoteSettled(_ watcher: InboxWatcher) throws {
        let now = Self.now()
        for (name, entry) in tracked.sorted(by: { $0.value.job < $1.value.job })
        where entry.state == .settling && now - entry.lastChange >= configuration.settleSeconds {
            let current = watcher.signature(of: name)
            if current == nil || (entry.signature == nil ? configuration.watch == .poll : entry.signature != current) {
                // Still changing (or not yet looked at twice): another settle period.
                tracked[name]?.signature = current
                tracked[name]?.lastChange = Self.now()
                continue
            }
            try store.transition(job: entry.job, to: .queued)
            tracked[name]?.state = .queued
            queue.append(name)
        }
    }

    /// Picks up what other processes changed: imported sheets release held jobs; `ctdeid retry` re-queues.
    func pollDatabase() throws {
        let latest = try store.latestMappingImport()
        if latest != lastMappingImport {
            lastMappingImport = latest
            for (name, entry) in tracked where entry.state == .held && entry.reason == .noMapping {
                if try store.deidentificationID(forAccession: name) != nil {
                    try store.transition(job: entry.job, to: .queued, reason: .mappingImported)
                    tracked[name]?.state = .queued
                    queue.append(name)
                    logger.info("job \(entry.job): released, a mapping sheet now holds its key")
                }
            }
        }
        for job in try store.jobs(in: [.queued], ownedBy: .serve) {
            guard let entry = tracked[job.folder], entry.job == job.id else {
                if tracked[job.folder] == nil {
                    try store.transition(job: job.id, to: .failed, reason: .retryWithoutFolder)
                }
                continue
            }
            if entry.state != .queued && entry.state != .settling {
                tracked[job.folder]?.state = .queued
                queue.append(job.folder)
                logger.info("job \(job.id): re-queued by an operator")
            }
        }
    }

    // MARK: processing

    func processNext() async throws {
        let name = queue.removeFirst()
        guard let entry = tracked[name], entry.state == .queued else { return }
        let url = configuration.inbox.appendingPathComponent(name)
        let before: PatientFolder
        do {
            before = try PatientFolder(url: url, keepNames: configuration.keepNames)
        } catch {
            guard isFolderInInbox(name) else { return try folderRemoved(name) }
            // Still there but unreadable (permissions): failed once with the cause. The chmod that
            // fixes it is an event on the folder, which then settles and is processed again.
            let reason = JobReason.folderUnreadable(error.reason)
            try store.transition(job: entry.job, to: .failed, reason: reason)
            tracked[name]?.state = .failed
            tracked[name]?.reason = reason.code
            logger.warning("job \(entry.job): failed (\(reason.text))")
            return
        }
        let force = try store.job(entry.job)?.force ?? false
        tracked[name]?.state = .processing
        logger.info("job \(entry.job): processing \(before.files.count) file(s)")
        let processor = self.processor, heartbeat = self.heartbeat, stopping = self.stopping
        let job = entry.job
        let outcome = try await offload { () -> Result<StageOutcome, AuditError> in
            Result { () throws(AuditError) -> StageOutcome in
                try processor.stage(before, job: job, force: force, progress: { heartbeat.beat() },
                                    shouldStop: { stopping.isSet })
            }
        }.get()
        switch outcome {
        case .interrupted:
            tracked[name]?.state = .processing
            logger.info("job \(job): interrupted by shutdown; it is redone on the next start")
        case .finished(let result):
            try settle(name, result)
        case .changed:
            try folderChangedWhileProcessed(name, job: job)
        case .staged(let staged):
            // The processor checked the folder at the end of staging (`.changed` otherwise).
            let result = try await offload { () -> Result<JobResult, AuditError> in
                Result { () throws(AuditError) -> JobResult in try processor.deliver(staged) }
            }.get()
            try settle(name, result)
        }
    }

    /// The folder changed or vanished under the job (nothing was recorded): gone, the job fails as
    /// removed; still there, it settles again, as its copy was not complete.
    func folderChangedWhileProcessed(_ name: String, job: Int64) throws {
        guard isFolderInInbox(name) else { return try folderRemoved(name) }
        try store.transition(job: job, to: .settling, reason: .folderChanged(whileProcessed: true))
        tracked[name]?.state = .settling
        tracked[name]?.lastChange = Self.now()
    }

    func isFolderInInbox(_ name: String) -> Bool {
        (RawName.lstat(configuration.inbox.appendingPathComponent(name).path)?.st_mode ?? 0) & S_IFMT == S_IFDIR
    }

    /// After a job ends: the input is moved or deleted once its delivery is committed.
    func settle(_ name: String, _ result: JobResult) throws {
        let summary = "job \(result.jobID): \(result.state.rawValue)" + (result.reason.map { " (\($0.text))" } ?? "")
            + ", \(result.delivered) delivered, \(result.quarantined) quarantined"
        switch result.state {
        case .delivered:
            delivered += 1
            logger.info("\(summary) -> \(result.outputPath ?? "")")
            tracked.removeValue(forKey: name)
            do {
                try InputDisposal(configuration: configuration, store: store).dispose(job: result.jobID, folder: name,
                                                                                        quarantinedFiles: result.quarantined > 0)
            } catch where error.isBusy {
                throw error  // the loop waits; Recovery disposes of the input once the lock is gone
            } catch {
                logger.error("\(error.reason)")
            }
        case .quarantined:
            logger.warning("\(summary)")
            tracked.removeValue(forKey: name)
            do {
                try InputDisposal(configuration: configuration, store: store).quarantine(job: result.jobID, folder: name)
            } catch where error.isBusy {
                throw error
            } catch {
                logger.error("\(error.reason)")
            }
        default:
            logger.warning("\(summary)")
            tracked[name]?.state = result.state
            tracked[name]?.reason = result.reason?.code
        }
    }

    func publishStatus() {
        var counts: [JobState: Int] = [:]
        for entry in tracked.values { counts[entry.state, default: 0] += 1 }
        let status = "STATUS=\(counts[.settling] ?? 0) settling, \(queue.count) queued, \(counts[.processing] ?? 0) processing, "
            + "\(counts[.held] ?? 0) held, \(counts[.failed] ?? 0) failed, \(delivered) delivered"
        if status != lastStatus {
            lastStatus = status
            notifier.notify(status)
        }
    }
}
