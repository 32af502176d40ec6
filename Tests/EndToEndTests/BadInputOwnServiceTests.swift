import DICOM
import Fixtures
import Foundation
import GRDB
import Synchronization
import XCTest

/// Cases that need a service of their own: a read-only outbox, a full disk, a locked or damaged database.
extension BadInputTests {
    // MARK: - cases with a service of their own

    /// A tree with one small mapped study of patient `index`, prepared in prep/<accession>.
    func ownTree(_ name: String = #function, patient index: Int, slices: Int, size: Int = 16, outbox: URL? = nil,
                 work: URL? = nil, root: URL? = nil) throws -> (BadTree, SyntheticPatient) {
        let tree = try BadTree(try root ?? temporaryDirectory(name), outbox: outbox, work: work)
        let patient = Self.patient(index)
        var factory = SliceFactory(patient: patient)
        factory.size = size
        factory.slices = slices
        try factory.writeGood(0..<slices, into: tree.prep.appendingPathComponent(patient.accessionNumber))
        try tree.importMapping([(patient.accessionNumber, "OWN-\(index)")])
        return (tree, patient)
    }

    /// (id, state, reason) of the latest job of a folder.
    func latestJob(_ tree: BadTree, _ folder: String) -> (id: String, state: String, reason: String?)? {
        tree.rows("SELECT id, state, reason FROM jobs WHERE folder = ? ORDER BY id DESC LIMIT 1", [folder]).first
            .map { ($0[0]!, $0[1]!, $0[2]) }
    }

    /// The latest job once it is failed or held, or delivered/quarantined with its input disposed of
    /// (the state is committed before the input is moved).
    func waitFinal(_ tree: BadTree, _ folder: String, _ daemon: BadDaemon, timeout: Double = 60) -> (id: String, state: String, reason: String?)? {
        pollUntil("a final state", timeout: timeout) {
            if !daemon.isAlive { return true }
            guard let job = latestJob(tree, folder) else { return false }
            switch job.state {
            case "failed", "held": return true
            case "delivered", "quarantined":
                return tree.count("SELECT count(*) FROM jobs WHERE id = ? AND input_disposition IS NOT NULL", [job.id]) == 1
            default: return false
            }
        }
        return latestJob(tree, folder)
    }

    func assertLogClean(_ daemon: BadDaemon, _ patient: SyntheticPatient, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(leaks(SliceFactory(patient: patient).planted.rawByteNeedles(), in: daemon.outputBytes), [],
                       "the log leaks planted PHI", file: file, line: line)
        XCTAssertFalse(daemon.output.contains(patient.accessionNumber), "the log names the folder", file: file, line: line)
    }

    func testReadOnlyOutboxFailsTheJobKeepsTheInputAndARetryDelivers() throws {
        let (tree, patient) = try ownTree(patient: 40, slices: 5)
        let folder = patient.accessionNumber
        let kept = Self.snapshot(tree.prep.appendingPathComponent(folder))
        try FileManager.default.createDirectory(at: tree.outbox, withIntermediateDirectories: true)
        chmod(tree.outbox.path, 0o555)
        defer { chmod(tree.outbox.path, 0o755) }
        let daemon = try BadDaemon(tree, settle: 0.5)
        pollUntil("ready", timeout: 60) { daemon.output.contains("ready") }
        try tree.drop(folder)
        guard let job = waitFinal(tree, folder, daemon) else { return XCTFail("no job") }
        print("CATALOGUE read-only-outbox: job \(job.id) \(job.state) | \(job.reason ?? "-")")
        for row in tree.rows("SELECT input_path, outcome, reason, output_path FROM files WHERE job_id = ?", [job.id]) {
            print("CATALOGUE read-only-outbox:   file \(row[0] ?? "") \(row[1] ?? "") | \(row[2] ?? "-") | \(row[3] ?? "-")")
        }
        XCTAssertTrue(daemon.isAlive)
        XCTAssertEqual(job.state, "failed")
        XCTAssertTrue((job.reason ?? "").hasPrefix("delivery failed: "), job.reason ?? "nil")
        XCTAssertTrue((job.reason ?? "").lowercased().contains("permission"), "the reason names the cause: \(job.reason ?? "nil")")
        XCTAssertEqual(regularFiles(under: tree.outbox), [], "nothing half-delivered")
        XCTAssertEqual(regularFiles(under: tree.staging), [], "staging emptied")
        let now = Dictionary(Self.snapshot(tree.inbox.appendingPathComponent(folder)).map { ($0.path, $0.fingerprint) },
                             uniquingKeysWith: { a, _ in a })
        for file in kept { XCTAssertEqual(now[file.path] ?? nil, file.fingerprint, "input kept in the inbox") }

        // Writable again: an operator retries, and the study is delivered once, complete.
        chmod(tree.outbox.path, 0o755)
        let retry = try runCTDeid(["retry", job.id, "--database", tree.database])
        XCTAssertEqual(retry.status, 0, retry.stderr)
        // Delivered is committed before the input moves to done/: wait for both.
        pollUntil("delivery after the retry", timeout: 60) {
            latestJob(tree, folder)?.state == "delivered"
                && tree.count("SELECT count(*) FROM jobs WHERE id = ? AND input_disposition IS NOT NULL", [job.id]) == 1
        }
        XCTAssertEqual(regularFiles(under: tree.outbox.appendingPathComponent("OWN-40")).count, 5)
        XCTAssertTrue(FileManager.default.fileExists(atPath: tree.done.appendingPathComponent(folder).path))
        XCTAssertEqual(daemon.terminate()?.status, 0)
        assertLogClean(daemon, patient)
    }

    func testReadOnlyOutboxFailedJobRecordsNoDeliveredFiles() throws {
        let (tree, patient) = try ownTree(patient: 45, slices: 3)
        try FileManager.default.createDirectory(at: tree.outbox, withIntermediateDirectories: true)
        chmod(tree.outbox.path, 0o555)
        defer { chmod(tree.outbox.path, 0o755) }
        let daemon = try BadDaemon(tree, settle: 0.5)
        pollUntil("ready", timeout: 60) { daemon.output.contains("ready") }
        try tree.drop(patient.accessionNumber)
        guard let job = waitFinal(tree, patient.accessionNumber, daemon) else { return XCTFail("no job") }
        XCTAssertEqual(job.state, "failed")
        XCTAssertEqual(tree.count("SELECT count(*) FROM files WHERE job_id = ? AND outcome = 'delivered'", [job.id]), 0)
        XCTAssertEqual(tree.count("SELECT files_delivered FROM jobs WHERE id = ?", [job.id]), 0)
        XCTAssertEqual(daemon.terminate()?.status, 0)
    }

    func testDiskFullDuringStagingFailsTheJobKeepsTheInputAndARetryDelivers() throws {
        try diskFullRun()
    }

    /// What holds today when the disk fills: the service lives, the input is kept, nothing is lost.
    func testDiskFullDuringStagingNeverLosesTheInput() throws {
        try diskFullRun(strict: false)
    }

    func diskFullRun(strict: Bool = true, file: StaticString = #filePath, line: UInt = #line) throws {
        let base = try temporaryDirectory("DiskFull")
        let small = base.appendingPathComponent("small")
        try FileManager.default.createDirectory(at: small, withIntermediateDirectories: true)
        guard runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", small.path]) == 0 else {
            throw XCTSkip("cannot mount a small tmpfs here (needs CAP_SYS_ADMIN), and the product has no injectable write failure")
        }
        defer { runTool("/bin/umount", ["-l", small.path]) }
        // 40 slices of 64x64 (~460 KB) do not fit in 256 KB of staging.
        let (tree, patient) = try ownTree(patient: strict ? 41 : 46, slices: 40, size: 64,
                                          outbox: small.appendingPathComponent("outbox"),
                                          work: small.appendingPathComponent("work"), root: base)
        let folder = patient.accessionNumber
        let kept = Self.snapshot(tree.prep.appendingPathComponent(folder))
        let daemon = try BadDaemon(tree, settle: 0.5)
        pollUntil("ready", timeout: 60) { daemon.output.contains("ready") }
        try tree.drop(folder)
        guard let job = waitFinal(tree, folder, daemon) else { return XCTFail("no job", file: file, line: line) }
        print("CATALOGUE disk-full: job \(job.id) \(job.state) | \(job.reason ?? "-")")
        for row in tree.rows("SELECT outcome, reason, count(*) FROM files WHERE job_id = ? GROUP BY 1, 2", [job.id]) {
            print("CATALOGUE disk-full:   \(row[2] ?? "") file(s) \(row[0] ?? "") | \(row[1] ?? "-")")
        }
        XCTAssertTrue(daemon.isAlive, file: file, line: line)
        // Never lost: in the inbox, done/ or quarantine/.
        let locations = [tree.inbox.appendingPathComponent(folder), tree.done.appendingPathComponent(folder),
                         tree.quarantine.appendingPathComponent("job-\(job.id)/\(folder)")]
        let location = locations.first { fileKind($0.path) == "dir" }
        XCTAssertNotNil(location, "input lost", file: file, line: line)
        if let location {
            let now = Dictionary(Self.snapshot(location).map { ($0.path, $0.fingerprint) }, uniquingKeysWith: { a, _ in a })
            for kept in kept { XCTAssertEqual(now[kept.path] ?? nil, kept.fingerprint, "input file lost or changed", file: file, line: line) }
        }
        if strict {
            XCTAssertEqual(job.state, "failed", file: file, line: line)
            XCTAssertTrue((job.reason ?? "").contains("No space left on device"), job.reason ?? "nil", file: file, line: line)
            XCTAssertEqual(regularFiles(under: tree.outbox), [], "no incomplete study in the outbox", file: file, line: line)
            XCTAssertEqual(regularFiles(under: tree.staging), [], "staging emptied", file: file, line: line)
            XCTAssertEqual(location, tree.inbox.appendingPathComponent(folder), "kept in the inbox for a retry", file: file, line: line)
            // Space again: a retry delivers the complete study.
            XCTAssertEqual(runTool("/bin/mount", ["-o", "remount,size=16m", small.path]), 0)
            let retry = try runCTDeid(["retry", job.id, "--database", tree.database])
            XCTAssertEqual(retry.status, 0, retry.stderr, file: file, line: line)
            pollUntil("delivery after the retry", timeout: 60) { latestJob(tree, folder)?.state == "delivered" }
            XCTAssertEqual(regularFiles(under: tree.outbox.appendingPathComponent("OWN-41")).count, 40, file: file, line: line)
        }
        XCTAssertEqual(daemon.terminate()?.status, 0, file: file, line: line)
        assertLogClean(daemon, patient, file: file, line: line)
    }

    /// Another process holding the audit database: `sqlite3` with an open transaction on its stdin.
    final class DatabaseLock {
        let process = Process()
        let input = Pipe()
        let output = Pipe()

        /// Returns once `sqlite3` holds the lock (it prints a marker after the transaction began;
        /// `.bail on` makes it exit instead when the lock could not be taken).
        init(_ database: String, exclusive: Bool) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            process.arguments = [database]
            process.standardInput = input
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            let sql = ".bail on\n.timeout 10000\n"
                + (exclusive ? "PRAGMA locking_mode=EXCLUSIVE;\nBEGIN EXCLUSIVE;\n" : "BEGIN IMMEDIATE;\n")
                + "INSERT INTO mapping_imports (source_sheet, rows) VALUES ('lock', 0);\nSELECT 'LOCK' || 'ED';\n"
            input.fileHandleForWriting.write(Data(sql.utf8))
            var seen = Data()
            while process.isRunning || !seen.isEmpty {
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                seen.append(chunk)
                if String(decoding: seen, as: UTF8.self).contains("LOCKED") { return }
            }
            throw XCTSkip("could not take the database lock with sqlite3")
        }

        /// Ends the session: the transaction is rolled back and the lock released.
        func release() {
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }

        deinit { if process.isRunning { process.terminate() } }
    }

    /// Can another process write the database right now?
    func writable(_ database: String) -> Bool {
        runTool("/usr/bin/sqlite3", [database, "BEGIN IMMEDIATE; ROLLBACK;"]) == 0
    }

    func readable(_ database: String) -> Bool {
        runTool("/usr/bin/sqlite3", [database, "SELECT count(*) FROM mappings;"]) == 0
    }

    struct LockedStart {
        let status: Int32
        let crashed: Bool
        let seconds: Double
        let output: String
    }

    nonisolated(unsafe) static var lockedStart: LockedStart?

    /// The service started while another process holds the database exclusively (cached).
    func startWithExclusiveLock() throws -> (BadTree, SyntheticPatient, LockedStart) {
        let (tree, patient) = try ownTree("LockedAtStart", patient: 42, slices: 3)
        let lock = try DatabaseLock(tree.database, exclusive: true)
        defer { lock.release() }
        XCTAssertFalse(readable(tree.database), "the lock holds")
        let started = Date()
        let daemon = try BadDaemon(tree, settle: 0.5, logName: "locked.log")
        pollUntil("the service to give up", timeout: 60) { !daemon.isAlive }
        let result = LockedStart(status: daemon.terminate()?.status ?? -1, crashed: daemon.process.terminationReason == .uncaughtSignal,
                                 seconds: Date().timeIntervalSince(started), output: daemon.output)
        Self.lockedStart = result
        return (tree, patient, result)
    }

    func testDatabaseLockedAtStartIsRefusedWithAClearReasonAndLeftIntact() throws {
        let (tree, patient, result) = try startWithExclusiveLock()
        print("CATALOGUE locked-at-start: exit \(result.status) after \(String(format: "%.1f", result.seconds)) s | \(result.output.trimmingCharacters(in: .whitespacesAndNewlines))")
        XCTAssertFalse(result.crashed)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertFalse(result.output.contains("ready"), "READY while the database cannot be used")
        XCTAssertTrue(result.output.contains("database is locked"), result.output)
        XCTAssertLessThan(result.seconds, 30)
        // Intact, and usable as soon as the other process lets go.
        XCTAssertEqual(tree.count("SELECT count(*) FROM mappings"), 1)
        let daemon = try BadDaemon(tree, settle: 0.5, logName: "after-lock.log")
        pollUntil("ready", timeout: 60) { daemon.output.contains("ready") }
        try tree.drop(patient.accessionNumber)
        XCTAssertEqual(waitFinal(tree, patient.accessionNumber, daemon)?.state, "delivered")
        XCTAssertEqual(daemon.terminate()?.status, 0)
    }

    /// The service starting while an operator imports a sheet: both create and migrate the same new
    /// database. Every process must succeed, whichever comes first.
    func testNewDatabaseOpenedByManyProcessesAtOnce() throws {
        let dir = try temporaryDirectory()
        let csv = dir.appendingPathComponent("mapping.csv")
        try "Accession_number,De-identification_ID\nACC1,DEID-1\n".write(to: csv, atomically: true, encoding: .utf8)
        for round in 0..<4 {
            let database = dir.appendingPathComponent("db-\(round)/audit.sqlite").path
            let results = Mutex<[ProcessResult]>([])
            DispatchQueue.concurrentPerform(iterations: 6) { _ in
                let result = try? runCTDeid(["mapping", "import", csv.path, "--database", database], timeout: 60)
                results.withLock { $0.append(result ?? ProcessResult(status: -1, stdout: "", stderr: "not started", crashed: false)) }
            }
            for result in results.withLock({ $0 }) {
                XCTAssertEqual(result.status, 0, "round \(round): \(result.stderr)")
            }
            XCTAssertEqual(try sqlite(database, "SELECT deid_id FROM mappings"), [["DEID-1"]])
        }
    }

    func testDatabaseLockedAtStartExitStatusLetsSystemdRetry() throws {
        let result = try Self.lockedStart ?? startWithExclusiveLock().2
        XCTAssertNotEqual(result.status, 2, "a transient condition must not use the exit status systemd does not restart")
    }

    /// `run` is set up as `serve` is (`ProcessingSetup`): a database another process holds locked is
    /// transient for both, exit 1 (try again), not the configuration error (exit 2).
    func testRunWithTheDatabaseLockedExitsOneNotTwo() throws {
        let dir = try temporaryDirectory()
        let input = dir.appendingPathComponent("in")
        try FileManager.default.createDirectory(at: input, withIntermediateDirectories: true)
        let database = dir.appendingPathComponent("db.sqlite").path
        let arguments = ["run", "--input", input.path, "--output", dir.appendingPathComponent("out").path, "--database", database, "--quiet"]
        // A first run with nothing to do creates the database; then another process locks it.
        let first = try runCTDeid(arguments)
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        let lock = try DatabaseLock(database, exclusive: true)
        defer { lock.release() }
        let result = try runCTDeid(arguments)
        XCTAssertEqual(result.status, 1, result.stdout + result.stderr)
        XCTAssertTrue((result.stdout + result.stderr).contains("database is locked"), result.stdout + result.stderr)
    }

    func testDatabaseWriteLockedAtStartTheServiceWaitsInsteadOfExiting() throws {
        let (tree, patient) = try ownTree(patient: 43, slices: 3)
        let lock = try DatabaseLock(tree.database, exclusive: false)
        defer { lock.release() }
        XCTAssertFalse(writable(tree.database), "the lock holds")
        let daemon = try BadDaemon(tree, settle: 0.5)
        pollUntil("ready", timeout: 60) { daemon.output.contains("ready") }
        try tree.drop(patient.accessionNumber)
        usleep(13_000_000)
        XCTAssertTrue(daemon.isAlive, "the service died while the database was busy: \(daemon.output)")
        lock.release()
        XCTAssertEqual(waitFinal(tree, patient.accessionNumber, daemon)?.state, "delivered")
        XCTAssertEqual(daemon.terminate()?.status, 0)
    }

    func testCorruptDatabaseAtStartIsRefusedWithAClearReasonAndLeftIntact() throws {
        let (tree, _) = try ownTree(patient: 44, slices: 1)
        let url = URL(fileURLWithPath: tree.database)
        // 1. Pages after the first overwritten; 2. not a database at all.
        var damaged = try Data(contentsOf: url)
        XCTAssertGreaterThan(damaged.count, 12288)
        damaged.replaceSubrange(4096..<12288, with: noise(8192, seed: 5))
        let garbage = noise(8192, seed: 7)
        for (label, content, message) in [("damaged pages", damaged, "malformed"), ("not a database", garbage, "not a database")] {
            try content.write(to: url)
            chmod(url.path, 0o600)
            let result = try runCTDeid(["serve"] + tree.arguments(settle: 0.5), timeout: 60)
            print("CATALOGUE corrupt database (\(label)): exit \(result.status) | \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
            XCTAssertFalse(result.crashed, label)
            XCTAssertEqual(result.status, 2, label)
            XCTAssertTrue(result.stderr.contains(message) && result.stderr.contains("audit database"), "\(label): \(result.stderr)")
            XCTAssertFalse(result.stderr.contains("ready"), label)
            XCTAssertEqual(try Data(contentsOf: url), content, "\(label): the database file must be left as it was")
        }
    }
}
