@testable import Audit
import Foundation
import GRDB
import XCTest

final class AuditStoreTests: XCTestCase {
    func testDatabaseIsPrivateVersionedAndEventsAreAppendOnly() throws {
        let dir = try temporaryDirectory()
        let path = dir.appendingPathComponent("audit.sqlite").path
        let store = try AuditStore(path: path)
        let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue
        XCTAssertEqual(mode, 0o600)
        let job = try store.createJob(source: "/in/4401203", folder: "4401203", options: "", edition: "2024b", toolVersion: "t", owner: .serve)
        try store.transition(job: job, to: .processing)
        try store.transition(job: job, to: .delivering, deidentificationID: "DEID-0001", outputPath: "DEID-0001/study-x")
        try store.transition(job: job, to: .delivered)
        let queue = try DatabaseQueue(path: path)
        let states = try queue.read { try String.fetchAll($0, sql: "SELECT state FROM events WHERE job_id = ? ORDER BY id", arguments: [job]) }
        XCTAssertEqual(states, ["discovered", "processing", "delivering", "delivered"])
        XCTAssertThrowsError(try queue.write { try $0.execute(sql: "DELETE FROM events") })
        XCTAssertThrowsError(try queue.write { try $0.execute(sql: "UPDATE events SET state = 'x'") })
        let migrations = try queue.read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations") }
        XCTAssertEqual(migrations, ["v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8"])
        // Reopening applies no migration twice and keeps the data.
        XCTAssertEqual(try AuditStore(path: path).jobs().map(\.state), ["delivered"])
    }

    /// A database that a newer ctdeid migrated (a schema this version does not know) is refused with
    /// the reason, and left as it was: neither migrated nor written.
    func testADatabaseWrittenByANewerVersionIsRefusedAndLeftAlone() throws {
        let path = try temporaryDirectory().appendingPathComponent("audit.sqlite").path
        let job = try AuditStore(path: path).createJob(source: "/in/4401203", folder: "4401203", options: "", edition: "2024b",
                                                       toolVersion: "t", owner: .serve)
        let queue = try DatabaseQueue(path: path)
        try queue.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99')") }
        let before = try queue.read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier") }
        XCTAssertThrowsError(try AuditStore(path: path)) { error in
            let reason = (error as? AuditError)?.reason ?? "\(error)"
            XCTAssertTrue(reason.contains("written by a newer ctdeid") && reason.contains("v99"), reason)
            XCTAssertTrue(reason.contains(path), reason)
        }
        let after = try queue.read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier") }
        XCTAssertEqual(after, before)
        XCTAssertEqual(try queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM jobs WHERE id = ?", arguments: [job]) }, 1)
    }

    /// A job moves only as its lifecycle allows: into `delivered` only through `delivering`, and never
    /// out of it; a refused move changes nothing and names both states.
    func testAJobMovesOnlyAsItsLifecycleAllows() throws {
        let path = try temporaryDirectory().appendingPathComponent("audit.sqlite").path
        let store = try AuditStore(path: path)
        let job = try store.createJob(source: "/in/1", folder: "1", options: "", edition: "2024b", toolVersion: "t", owner: .serve)
        try store.transition(job: job, to: .processing, deidentificationID: "DEID-0001")
        XCTAssertThrowsError(try store.transition(job: job, to: .delivered)) { error in
            let reason = (error as? AuditError)?.reason ?? "\(error)"
            XCTAssertTrue(reason.contains("processing") && reason.contains("delivered"), reason)
        }
        XCTAssertEqual(try store.job(job)?.state, .processing, "a refused move changes nothing")
        try store.transition(job: job, to: .delivering, outputPath: "DEID-0001/study-1")
        try store.transition(job: job, to: .delivered)
        XCTAssertThrowsError(try store.transition(job: job, to: .queued))
        XCTAssertThrowsError(try store.requestRetry(job: job))
        let queue = try DatabaseQueue(path: path)
        let states = try queue.read { try String.fetchAll($0, sql: "SELECT state FROM events WHERE job_id = ? ORDER BY id", arguments: [job]) }
        XCTAssertEqual(states, ["discovered", "processing", "delivering", "delivered"])
    }

    /// A database from before `delivering` was a state (a reason on `processing`) is upgraded in place
    /// when it is opened: the job a crash left mid-delivery is `delivering`, and the others are as they were.
    func testAnOlderDatabaseHasItsDeliveringJobsUpgradedInPlace() throws {
        let path = try temporaryDirectory().appendingPathComponent("audit.sqlite").path
        let store = try AuditStore(path: path)
        var jobs: [Int64] = []
        for folder in ["1", "2"] {
            let job = try store.createJob(source: "/in/" + folder, folder: folder, options: "", edition: "2024b", toolVersion: "t", owner: .serve)
            try store.transition(job: job, to: .processing, deidentificationID: "DEID-000" + folder)
            jobs.append(job)
        }
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: "UPDATE jobs SET reason = 'delivering', output_path = 'DEID-0001/study-1' WHERE id = ?", arguments: [jobs[0]])
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v7'")
        }
        let upgraded = try AuditStore(path: path)
        XCTAssertEqual(try upgraded.job(jobs[0])?.state, .delivering)
        XCTAssertNil(try upgraded.job(jobs[0])?.reason)
        XCTAssertEqual(try upgraded.job(jobs[0])?.outputPath, "DEID-0001/study-1")
        XCTAssertEqual(try upgraded.job(jobs[1])?.state, .processing)
    }

    /// A job's reason is a code and a sentence: the code is what the service matches (a held job is
    /// released by a mapping only when it is `no-mapping`; a `duplicate` is forced on retry). Jobs of
    /// a database from before the codes get theirs from their sentences when it is opened.
    func testAJobReasonIsStoredAsCodeAndSentenceAndOlderReasonsGetTheirCode() throws {
        let path = try temporaryDirectory().appendingPathComponent("audit.sqlite").path
        let store = try AuditStore(path: path)
        let reasons: [JobReason] = [.noMapping(isUTF8: true), .duplicate(output: "DEID-1/study-2"), .patientMismatch(patients: 2),
                                    .folderUnreadable("cannot list: Permission denied"), .deliveryFailed("No space left on device")]
        var jobs: [Int64] = []
        for (index, reason) in reasons.enumerated() {
            let job = try store.createJob(source: "/in/\(index)", folder: "\(index)", options: "", edition: "2024b", toolVersion: "t", owner: .serve)
            try store.transition(job: job, to: .processing, deidentificationID: "DEID-\(index)")
            try store.transition(job: job, to: reason.code == .deliveryFailed || reason.code == .folderUnreadable ? .failed : .held,
                                 reason: reason)
            XCTAssertEqual(try store.job(job)?.reason, reason.text)
            XCTAssertEqual(try store.job(job)?.reasonCode, reason.code)
            jobs.append(job)
        }
        XCTAssertEqual(try store.requestRetry(job: jobs[1]).reasonCode, .duplicate)
        XCTAssertEqual(try store.job(jobs[1])?.force, true, "a duplicate is delivered again on retry")
        XCTAssertEqual(try store.job(jobs[1])?.reasonCode, .retryRequested)
        XCTAssertEqual(try store.requestRetry(job: jobs[2]).reasonCode, .patientMismatch)
        XCTAssertEqual(try store.job(jobs[2])?.force, false)

        // The same database as an older ctdeid left it: sentences only.
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: "ALTER TABLE jobs DROP COLUMN reason_code")
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v8'")
        }
        let upgraded = try AuditStore(path: path)
        XCTAssertEqual(try jobs.map { try upgraded.job($0)?.reasonCode },
                       [.noMapping, .retryRequested, .retryRequested, .folderUnreadable, .deliveryFailed])
    }

    /// `ctdeid run` commits a job's start without a flush; every other commit must still be flushed
    /// afterwards (also after a failed one), and what was committed is there for the next reader.
    func testACommitWithoutFlushLeavesEveryOtherCommitFlushed() throws {
        let path = try temporaryDirectory().appendingPathComponent("audit.sqlite").path
        let store = try AuditStore(path: path)
        XCTAssertEqual(store.synchronousLevel, 2)
        let job = try store.createJob(source: "/in/1", folder: "1", options: "", edition: "2024b", toolVersion: "t", owner: .run, durable: false)
        try store.transition(job: job, to: .processing, deidentificationID: "DEID-0001", durable: false)
        XCTAssertEqual(try store.dateOffset(for: "DEID-0001", derived: -400, durable: false), -400)
        XCTAssertEqual(store.synchronousLevel, 2)
        // A job that does not exist: its event breaks the foreign key, the commit fails.
        XCTAssertThrowsError(try store.transition(job: job + 100, to: .processing, durable: false))
        XCTAssertEqual(store.synchronousLevel, 2)
        let queue = try DatabaseQueue(path: path)
        let states = try queue.read { try String.fetchAll($0, sql: "SELECT state FROM events WHERE job_id = ? ORDER BY id", arguments: [job]) }
        XCTAssertEqual(states, ["discovered", "processing"])
        XCTAssertEqual(try queue.read { try Int.fetchOne($0, sql: "SELECT date_offset_days FROM patients") }, -400)
    }

    func testMappingImportIsAllOrNothingAgainstTheDatabase() throws {
        let store = try AuditStore(path: try temporaryDirectory().appendingPathComponent("a.sqlite").path)
        try store.importMappings([("111", "P1", 2), ("222", "P2", 3)], sourceSheet: "first.xlsx")
        XCTAssertEqual(try store.deidentificationID(forAccession: "222"), "P2")
        XCTAssertThrowsError(try store.importMappings([("333", "P3", 2), ("111", "OTHER", 3)], sourceSheet: "second.csv")) { error in
            XCTAssertTrue("\(error)".contains("second.csv row 3"))
            XCTAssertFalse("\(error)".contains("111"))
        }
        XCTAssertNil(try store.deidentificationID(forAccession: "333"), "a refused sheet imports nothing")
        try store.importMappings([("111", "P1", 2)], sourceSheet: "same-again.csv")
        // An ID that differs from one in the database only in letter case would share its folder.
        XCTAssertThrowsError(try store.importMappings([("444", "P4", 2), ("555", "p1", 3)], sourceSheet: "third.csv")) { error in
            XCTAssertTrue("\(error)".contains("third.csv row 3: the De-identification_ID differs only in letter case"), "\(error)")
            XCTAssertFalse("\(error)".contains("p1"))
        }
        XCTAssertNil(try store.deidentificationID(forAccession: "444"))
        try store.importMappings([("555", "P1", 2)], sourceSheet: "fourth.csv")  // the same patient's second study
    }

    func testADatabaseReadableByOthersIsRefused() throws {
        let path = try temporaryDirectory().appendingPathComponent("a.sqlite").path
        _ = try AuditStore(path: path)
        chmod(path, 0o644)
        XCTAssertThrowsError(try AuditStore(path: path)) { XCTAssertTrue("\($0)".contains("readable by others")) }
    }

    func testDateOffsetIsRecordedOnceAndReused() throws {
        let store = try AuditStore(path: try temporaryDirectory().appendingPathComponent("a.sqlite").path)
        XCTAssertEqual(try store.dateOffset(for: "P1", derived: -500), -500)
        XCTAssertEqual(try store.dateOffset(for: "P1", derived: -900), -500)
    }
}
