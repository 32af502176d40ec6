import Foundation
import GRDB
import Mapping
import Pixels
import Platform

/// The audit database: the re-identification key and the record of every job, file and
/// mapping. Created mode 0600; schema changes are numbered migrations; the events table is
/// append-only (triggers refuse UPDATE and DELETE); a job's state change and its event are
/// written in one transaction.
public final class AuditStore: Sendable {
    private let queue: DatabaseQueue
    public let path: String
    /// The file opened (device and inode), to notice it being deleted or replaced under the process.
    private let identity: FileStamp?
    /// Opened by `init(inMemory:)`: no file to verify.
    private let isInMemory: Bool

    /// Opens the database at `path`; `create: false` (the read-only commands) refuses a path where
    /// there is none rather than leave an empty database behind.
    public init(path: String, create: Bool = true) throws(AuditError) {
        self.path = path
        isInMemory = false
        if !create && FileStamp(path: path) == nil {
            throw AuditError(reason: "there is no audit database at \(path) (check --database or the config file's database key)")
        }
        do {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            }
            // Two processes opening a new database at once (the service starting while an operator
            // runs `ctdeid mapping import`) would both find it unmigrated and both migrate it: one
            // failed ("table mappings already exists", or a busy switch to WAL). Opening is serialised
            // on an flock of the database's folder; SQLite's own locks are fcntl locks on its files,
            // which this neither takes nor releases.
            let folderLock = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            defer { if folderLock >= 0 { close(folderLock) } }
            if folderLock >= 0 { while flock(folderLock, LOCK_EX) != 0 && errno == EINTR {} }
            // Create the file 0600 before SQLite does, so it is never readable by others; an existing
            // database that others can read is refused: it is the re-identification key.
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            if fd < 0 { throw AuditError(reason: "cannot open the database \(path): \(String(cString: strerror(errno)))") }
            var info = stat()
            let mode = fstat(fd, &info) == 0 ? info.st_mode & 0o777 : 0
            close(fd)
            if mode & 0o077 != 0 {
                throw AuditError(reason: "the database \(path) is readable by others (mode \(String(mode, radix: 8))); run chmod 600 on it")
            }
            var config = Configuration()
            config.busyMode = .timeout(10)
            config.prepareDatabase { db in
                try db.execute(sql: "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON")
            }
            queue = try DatabaseQueue(path: path, configuration: config)
            // A database migrated by a newer ctdeid holds migrations this one does not know: its
            // tables may mean something this version would misread or break. Refused, untouched.
            let unknown = try queue.read { db in
                try Self.migrator.hasBeenSuperseded(db)
                    ? try Self.migrator.appliedIdentifiers(db).subtracting(Self.migrator.migrations).sorted() : []
            }
            if !unknown.isEmpty {
                throw AuditError(reason: "the database \(path) was written by a newer ctdeid (schema \(unknown.joined(separator: ", ")), which this version does not know): run that version or a later one, or restore the database from before it")
            }
            try Self.migrator.migrate(queue)
            for suffix in ["-wal", "-shm"] { chmod(path + suffix, 0o600) }
            identity = FileStamp(path: path)
        } catch let error as AuditError {
            throw error
        } catch {
            throw AuditError(error, path: path, context: "cannot open the audit database")
        }
    }

    /// A database in memory, for tests of what is built on the audit: the same schema, triggers and
    /// moves, gone with the store. There is no file, so nothing to keep private or to verify.
    package init(inMemory: Void = ()) throws(AuditError) {
        path = ":memory:"
        identity = nil
        isInMemory = true
        do {
            var config = Configuration()
            config.prepareDatabase { db in try db.execute(sql: "PRAGMA foreign_keys = ON") }
            queue = try DatabaseQueue(configuration: config)
            try Self.migrator.migrate(queue)
        } catch {
            throw AuditError(error, path: ":memory:", context: "cannot open an audit database in memory")
        }
    }

    public func recordSeries(job: Int64, _ record: SeriesRecord) throws(AuditError) {
        try write { db in
            try db.execute(sql: "DELETE FROM series WHERE job_id = ? AND series_index = ?", arguments: [job, record.index])
            try db.execute(sql: """
                INSERT INTO series (job_id, series_index, files, verdict, reason, voxels_removed, qa_image, qa_profile)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [job, record.index, record.files, record.verdict, record.reason, record.voxelsRemoved,
                                 record.qaImage, record.qaProfile])
        }
    }

    /// The series of a job, in their order.
    public func series(job: Int64) throws(AuditError) -> [SeriesRecord] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT series_index, files, verdict, reason, voxels_removed, qa_image, qa_profile FROM series
                WHERE job_id = ? ORDER BY series_index
                """, arguments: [job]).map {
                SeriesRecord(index: $0["series_index"], files: $0["files"], verdict: $0["verdict"], reason: $0["reason"],
                             voxelsRemoved: $0["voxels_removed"], qaImage: $0["qa_image"], qaProfile: $0["qa_profile"])
            }
        }
    }

    /// Where a job's review page was written, and the page of the `ctdeid run` the job was part of.
    public func recordReviewPage(job: Int64, page: String?, runPage: String? = nil) throws(AuditError) {
        try write(durable: false) { db in
            if let page { try db.execute(sql: "UPDATE jobs SET review_page = ? WHERE id = ?", arguments: [page, job]) }
            if let runPage { try db.execute(sql: "UPDATE jobs SET run_review_page = ? WHERE id = ?", arguments: [runPage, job]) }
        }
    }

    /// Throws unless `path` still names the file this store opened: deleted, moved away or replaced
    /// (same path, another inode), the records written from now on would be lost with the old file.
    public func verifyIdentity() throws(AuditError) {
        if isInMemory { return }
        let what: String
        if let current = FileStamp(path: path) {
            guard let identity, !current.isSameFile(as: identity) else { return }
            what = "was replaced by another file (same path, another inode)"
        } else {
            what = "is gone (deleted or moved away)"
        }
        var error = AuditError(reason: "the audit database \(path) \(what) while ctdeid was using it; stopped before delivering anything more, "
                               + "as the records of those deliveries would be lost. Put the database back (or restore it from backup), then start again")
        error.isIdentityLost = true
        throw error
    }

    // MARK: site secret

    /// The fingerprint of the site secret this database's deliveries were made with, nil before the first.
    public func secretFingerprint() throws(AuditError) -> String? {
        try read { db in try String.fetchOne(db, sql: "SELECT value FROM site WHERE key = 'secret_fingerprint'") }
    }

    /// Records `fingerprint` as the site secret's, replacing any other (only an explicit command replaces one).
    public func recordSecretFingerprint(_ fingerprint: String) throws(AuditError) {
        try write { db in
            try db.execute(sql: "INSERT INTO site (key, value) VALUES ('secret_fingerprint', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                           arguments: [fingerprint])
        }
    }

    // MARK: jobs

    public func createJob(source: String, folder: String, options: String, edition: String, toolVersion: String,
                          owner: JobOwner, durable: Bool = true) throws(AuditError) -> Int64 {
        try write(durable: durable) { db in
            try db.execute(sql: """
                INSERT INTO jobs (source, folder, state, options, profile_edition, tool_version, owner) VALUES (?, ?, 'discovered', ?, ?, ?, ?)
                """, arguments: [source, folder, options, edition, toolVersion, owner.rawValue])
            let id = db.lastInsertedRowID
            try db.execute(sql: "INSERT INTO events (job_id, state, reason) VALUES (?, 'discovered', NULL)", arguments: [id])
            return id
        }
    }

    /// Moves a job to a state and appends its event, in one transaction.
    public func transition(job: Int64, to state: JobState, reason: JobReason? = nil, deidentificationID: String? = nil,
                           outputPath: String? = nil, durable: Bool = true) throws(AuditError) {
        try write(durable: durable) { db in
            try Self.move(db, job: job, to: state, reason: reason, deidentificationID: deidentificationID, outputPath: outputPath)
        }
    }

    /// The one place a job's state is written: refused unless its lifecycle allows the move
    /// (`JobState.moves`), and recorded as an event.
    private static func move(_ db: Database, job: Int64, to state: JobState, reason: JobReason?, deidentificationID: String? = nil,
                             outputPath: String? = nil, force: Bool? = nil) throws {
        guard let current = try String.fetchOne(db, sql: "SELECT state FROM jobs WHERE id = ?", arguments: [job]) else {
            throw AuditError(reason: "no job \(job)")
        }
        guard JobState(rawValue: current)?.canMove(to: state) == true else {
            throw AuditError(reason: "job \(job) is \(current); it cannot move to \(state.rawValue)")
        }
        try db.execute(sql: """
            UPDATE jobs SET state = ?, reason = ?, reason_code = ?, deid_id = coalesce(?, deid_id), output_path = coalesce(?, output_path),
                force = coalesce(?, force), updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?
            """, arguments: [state.rawValue, reason?.text, reason?.code.rawValue, deidentificationID, outputPath, force, job])
        try db.execute(sql: "INSERT INTO events (job_id, state, reason) VALUES (?, ?, ?)", arguments: [job, state.rawValue, reason?.text])
    }

    /// Records a job's files in one transaction, with the counts on the job row.
    public func recordFiles(job: Int64, _ files: [FileRecord]) throws(AuditError) {
        try write { db in
            try db.execute(sql: "DELETE FROM text_regions WHERE job_id = ?", arguments: [job])
            try db.execute(sql: "DELETE FROM files WHERE job_id = ?", arguments: [job])
            let statement = try db.makeStatement(sql: """
                INSERT INTO files (job_id, input_path, input_size, input_sha256, output_path, output_size, output_sha256, outcome, reason,
                                   series_index, text_regions)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            let region = try db.makeStatement(sql: """
                INSERT INTO text_regions (job_id, file_id, series_index, frame, x, y, width, height, stage, detector)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for file in files {
                try statement.execute(arguments: [job, file.inputPath, file.inputSize, file.inputSHA256, file.outputPath,
                                                  file.outputSize, file.outputSHA256, file.outcome.rawValue, file.reason,
                                                  file.seriesIndex, file.textRegions.count])
                let id = db.lastInsertedRowID
                for masked in file.textRegions {
                    try region.execute(arguments: [job, id, file.seriesIndex, masked.frame + 1, masked.box.x0, masked.box.y0,
                                                   masked.box.width, masked.box.height, masked.stage, TextMask.detectorVersion])
                }
            }
            func count(_ outcome: FileOutcome) -> Int { files.filter { $0.outcome == outcome }.count }
            try db.execute(sql: """
                UPDATE jobs SET files_total = ?, files_delivered = ?, files_quarantined = ?, files_ignored = ? WHERE id = ?
                """, arguments: [files.count, count(.delivered), count(.quarantined), count(.ignored), job])
        }
    }

    public struct JobSummary: Sendable {
        public let id: Int64
        public let folder: String
        public let state: String
        public let reason: String?
        public let deidentificationID: String?
    }

    public func jobs() throws(AuditError) -> [JobSummary] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT id, folder, state, reason, deid_id FROM jobs ORDER BY id").map {
                JobSummary(id: $0["id"], folder: $0["folder"], state: $0["state"], reason: $0["reason"],
                           deidentificationID: $0["deid_id"])
            }
        }
    }

    public struct JobDetail: Sendable {
        public let id: Int64
        public let source: String
        public let folder: String
        public let state: JobState
        public let reason: String?
        /// What programs match; `reason` is the sentence.
        public let reasonCode: JobReason.Code?
        public let deidentificationID: String?
        public let outputPath: String?
        public let options: String?
        public let filesTotal: Int
        public let filesDelivered: Int
        public let filesQuarantined: Int
        public let filesIgnored: Int
        public let inputDisposition: String?
        public let force: Bool
        public let createdAt: String
        public let updatedAt: String
        /// The job's review page (HTML, no patient data) and the page of the run it was part of.
        public let reviewPage: String?
        public let runReviewPage: String?

        package init(_ row: Row) {
            id = row["id"]
            source = row["source"]
            folder = row["folder"]
            state = JobState(rawValue: row["state"]) ?? .failed
            reason = row["reason"]
            reasonCode = (row["reason_code"] as String?).flatMap(JobReason.Code.init(rawValue:))
            deidentificationID = row["deid_id"]
            outputPath = row["output_path"]
            options = row["options"]
            filesTotal = row["files_total"]
            filesDelivered = row["files_delivered"]
            filesQuarantined = row["files_quarantined"]
            filesIgnored = row["files_ignored"]
            inputDisposition = row["input_disposition"]
            force = row["force"]
            createdAt = row["created_at"]
            updatedAt = row["updated_at"]
            reviewPage = row["review_page"]
            runReviewPage = row["run_review_page"]
        }
    }

    public func job(_ id: Int64) throws(AuditError) -> JobDetail? {
        try read { db in try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE id = ?", arguments: [id]).map(JobDetail.init) }
    }

    /// Jobs in `states`; of one owner only when `owner` is given.
    public func jobs(in states: [JobState], ownedBy owner: JobOwner? = nil) throws(AuditError) -> [JobDetail] {
        let list = states.map { "'\($0.rawValue)'" }.joined(separator: ",")
        let mine = owner.map { " AND \($0.condition)" } ?? ""
        return try read { db in try Row.fetchAll(db, sql: "SELECT * FROM jobs WHERE state IN (\(list))\(mine) ORDER BY id").map(JobDetail.init) }
    }

    /// Every job of an inbox folder, oldest first.
    public func jobs(folder: String) throws(AuditError) -> [JobDetail] {
        try read { db in try Row.fetchAll(db, sql: "SELECT * FROM jobs WHERE folder = ? ORDER BY id", arguments: [folder]).map(JobDetail.init) }
    }

    public func allJobs(limit: Int = 1000) throws(AuditError) -> [JobDetail] {
        try read { db in try Row.fetchAll(db, sql: "SELECT * FROM (SELECT * FROM jobs ORDER BY id DESC LIMIT ?) ORDER BY id", arguments: [limit]).map(JobDetail.init) }
    }

    /// The job a folder in the inbox belongs to: its latest job unless that one ended.
    public func openJob(folder: String, ownedBy owner: JobOwner) throws(AuditError) -> JobDetail? {
        try read { db in
            try Row.fetchOne(db, sql: """
                SELECT * FROM jobs WHERE folder = ? AND state NOT IN ('delivered', 'quarantined') AND \(owner.condition) ORDER BY id DESC LIMIT 1
                """, arguments: [folder]).map(JobDetail.init)
        }
    }

    public struct Event: Sendable {
        public let at: String
        public let state: String
        public let reason: String?
    }

    public func events(job: Int64) throws(AuditError) -> [Event] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT at, state, reason FROM events WHERE job_id = ? ORDER BY id", arguments: [job])
                .map { Event(at: $0["at"], state: $0["state"], reason: $0["reason"]) }
        }
    }

    /// Burned-in text per image series of a job.
    public struct TextSeries: Sendable {
        public let series: Int
        public let images: Int
        public let masked: Int
        public let regions: Int
        public let quarantined: Int
    }

    public func textSeries(job: Int64) throws(AuditError) -> [TextSeries] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT series_index, images, images_masked, regions, images_quarantined FROM text_series
                WHERE job_id = ? ORDER BY series_index
                """, arguments: [job]).map {
                TextSeries(series: $0["series_index"], images: $0["images"], masked: $0["images_masked"] ?? 0,
                           regions: $0["regions"] ?? 0, quarantined: $0["images_quarantined"] ?? 0)
            }
        }
    }

    /// The masked regions of a job, by delivered file (its output path: neutral, unlike the input's).
    public func textRegions(job: Int64) throws(AuditError) -> [(file: String, series: Int?, frame: Int, box: PixelBox, stage: String)] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT coalesce(f.output_path, '') AS file, t.series_index, t.frame, t.x, t.y, t.width, t.height, t.stage
                FROM text_regions t JOIN files f ON f.id = t.file_id WHERE t.job_id = ? ORDER BY t.id
                """, arguments: [job]).map { row in
                let (x, y, w, h): (Int, Int, Int, Int) = (row["x"], row["y"], row["width"], row["height"])
                return (row["file"], row["series_index"], row["frame"], PixelBox(x0: x, y0: y, x1: x + w, y1: y + h), row["stage"])
            }
        }
    }

    /// Quarantine and ignore reasons of a job's files, with counts (no paths: they can name the patient).
    public func fileReasons(job: Int64) throws(AuditError) -> [(outcome: String, reason: String, count: Int)] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT outcome, coalesce(reason, '') AS reason, count(*) AS n FROM files WHERE job_id = ? AND outcome != 'delivered'
                GROUP BY outcome, reason ORDER BY outcome, reason
                """, arguments: [job]).map { ($0["outcome"], $0["reason"], $0["n"]) }
        }
    }

    public func quarantinedInputPaths(job: Int64) throws(AuditError) -> [String] {
        try read { db in
            try String.fetchAll(db, sql: "SELECT input_path FROM files WHERE job_id = ? AND outcome = 'quarantined'", arguments: [job])
        }
    }

    public func recordInputDisposition(job: Int64, _ disposition: String) throws(AuditError) {
        try write { db in
            try db.execute(sql: """
                UPDATE jobs SET input_disposition = ?, input_disposed_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?
                """, arguments: [disposition, job])
        }
    }

    /// Re-queues a held, failed or quarantined job; a duplicate is then delivered again beside the first copy.
    public func requestRetry(job: Int64) throws(AuditError) -> JobDetail {
        try write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE id = ?", arguments: [job]) else {
                throw AuditError(reason: "no job \(job)")
            }
            let detail = JobDetail(row)
            guard [.held, .failed, .quarantined].contains(detail.state) else {
                throw AuditError(reason: "job \(job) is \(detail.state.rawValue); only held, failed or quarantined jobs can be retried")
            }
            let force = detail.reasonCode == .duplicate
            try Self.move(db, job: job, to: .queued, reason: .retryRequested, force: force)
            return detail
        }
    }

    /// Increases with every imported sheet: the service re-checks held jobs when it moves.
    public func latestMappingImport() throws(AuditError) -> Int64 {
        try read { db in try Int64.fetchOne(db, sql: "SELECT coalesce(max(id), 0) FROM mapping_imports") ?? 0 }
    }

    public func stateCounts() throws(AuditError) -> [JobState: Int] {
        try read { db in
            var counts: [JobState: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, count(*) AS n FROM jobs GROUP BY state") {
                if let state = JobState(rawValue: row["state"]) { counts[state] = row["n"] }
            }
            return counts
        }
    }

    // MARK: plumbing

    /// One transaction. `durable: false` commits without waiting for the disk: a flush waits for
    /// everything queued before it (a delivery's files, say), and work that a crash would only make
    /// redone does not need it. The log is written in order, so the next durable commit (every
    /// delivery's is) makes this one durable too.
    func write<T>(durable: Bool = true, _ body: (Database) throws -> T) throws(AuditError) -> T {
        do {
            if durable { return try queue.write(body) }
            return try queue.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                let result = Result { () throws -> T in
                    var value: T?
                    try db.inTransaction {
                        value = try body(db)
                        return .commit
                    }
                    return value!
                }
                try db.execute(sql: "PRAGMA synchronous = FULL")
                return try result.get()
            }
        } catch let error as AuditError {
            throw error
        } catch {
            throw AuditError(error, path: path)
        }
    }

    /// SQLite's `synchronous` level on this connection (2: FULL, every commit flushed), for the tests.
    package var synchronousLevel: Int { (try? queue.read { try Int.fetchOne($0, sql: "PRAGMA synchronous") } ?? -1) ?? -1 }

    func read<T>(_ body: (Database) throws -> T) throws(AuditError) -> T {
        do {
            return try queue.read(body)
        } catch {
            throw AuditError(error, path: path)
        }
    }
}
