import DICOM
import Fixtures
import Foundation
import GRDB
import Synchronization
import XCTest

/// The catalogue, case by case: each test checks its case in the shared run (`BadInputTests`).
extension BadInputTests {
    // MARK: - files that are not readable DICOM

    func testZeroByteFile() throws {
        try assertWhollyQuarantined("zero-byte", files: 1, reasonPrefix: "unreadable: ")
    }

    func testNotDICOM() throws {
        try assertWhollyQuarantined("not-dicom", files: 2, reasonPrefix: "unreadable: ")
    }

    func testTruncatedInThePreamble() throws {
        try assertWhollyQuarantined("truncated-preamble", files: 1, reasonPrefix: "unreadable: ")
    }

    func testTruncatedInTheFileMeta() throws {
        try assertWhollyQuarantined("truncated-meta", files: 1, reasonPrefix: "unreadable: ")
    }

    func testTruncatedInsideASequence() throws {
        try assertWhollyQuarantined("truncated-in-sequence", files: 1, reasonPrefix: "unreadable: ")
    }

    func testTruncatedInsidePixelData() throws {
        try assertWhollyQuarantined("truncated-in-pixel-data", files: 1, reasonPrefix: "unreadable: ")
    }

    func testElementLengthsThatOverrunTheFile() throws {
        try assertWhollyQuarantined("length-overruns-file", files: 2, reasonPrefix: "unreadable: ")
    }

    func testFourGigabyteLengthClaim() throws {
        try assertWhollyQuarantined("length-4GB", files: 2, reasonPrefix: "unreadable: ")
    }

    // MARK: - DICOM that parses but is wrong

    func testSequencesNested1000Deep() throws {
        let c = try catalogue()
        guard let job = assertJob(c, "nested-1000", state: "delivered", reason: nil) else { return }
        XCTAssertEqual(files(c, job: job.id).filter { $0.outcome == "delivered" }.count, 3)
        let out = outputs(c, "nested-1000")
        XCTAssertEqual(out.count, 3)
        assertNoPHI(in: out, c, "nested-1000")
        assertInputKept(c, "nested-1000", job: job.id)
    }

    func testInvalidUIDsAreReplacedByValidOnes() throws {
        let c = try catalogue()
        guard let job = assertJob(c, "invalid-uids", state: "delivered", reason: nil) else { return }
        let out = outputs(c, "invalid-uids")
        XCTAssertEqual(out.count, 3)
        try DicomToolkit.initialize()
        var instances = Set<String>()
        for url in out {
            let file = try DicomFile(path: url.path)
            for tag in [Tag.sopInstanceUID, Tag(0x0020, 0x000D), Tag(0x0020, 0x000E)] {
                let uid = file.dataset.string(tag) ?? ""
                XCTAssertTrue(uid.count <= 64 && uid.hasPrefix("2.25.") && uid.dropFirst(5).allSatisfy(\.isNumber),
                              "\(tag) = \(uid) is not a valid UID")
            }
            XCTAssertEqual(file.meta.string(Tag(0x0002, 0x0003)), file.dataset.string(.sopInstanceUID))
            instances.insert(file.dataset.string(.sopInstanceUID) ?? "")
        }
        XCTAssertEqual(instances.count, 3, "distinct inputs keep distinct UIDs")
        assertNoPHI(in: out, c, "invalid-uids")
        assertInputKept(c, "invalid-uids", job: job.id)
    }

    func testUnknownOrMalformedSOPClassUID() throws {
        try assertWhollyQuarantined("unknown-sop-class", files: 2, reasonPrefix: "sop-class-not-allowed: ")
    }

    func testUnknownCharacterSet() throws {
        let c = try catalogue()
        guard let job = assertJob(c, "charset-unknown", state: "delivered", reason: nil) else { return }
        let out = outputs(c, "charset-unknown")
        XCTAssertEqual(out.count, 3)
        assertNoPHI(in: out, c, "charset-unknown")
        assertInputKept(c, "charset-unknown", job: job.id)
    }

    func testWrongCharacterSet() throws {
        let c = try catalogue()
        guard let job = assertJob(c, "charset-wrong", state: "delivered", reason: nil) else { return }
        let out = outputs(c, "charset-wrong")
        XCTAssertEqual(out.count, 3)
        assertNoPHI(in: out, c, "charset-wrong")
        assertInputKept(c, "charset-wrong", job: job.id)
    }

    func testPixelDataShorterThanRowsTimesColumns() throws {
        try assertWhollyQuarantined("pixel-data-short", files: 2, reasonPrefix: "pixel-data-truncated: ")
    }

    func testDuplicateSOPInstanceUIDs() throws {
        let c = try catalogue()
        let rows = jobs(c, "duplicate-sop-instance-uid")
        XCTAssertEqual(rows.count, 1)
        guard let job = rows.first else { return }
        // Either the job is held for an operator, or the clashing files are quarantined; never
        // two objects with one SOPInstanceUID in the outbox, and the reason says why.
        try DicomToolkit.initialize()
        let uids = try outputs(c, "duplicate-sop-instance-uid").map { try DicomFile(path: $0.path).dataset.string(.sopInstanceUID) ?? "" }
        XCTAssertEqual(Set(uids).count, uids.count, "two delivered objects share a SOPInstanceUID")
        let reasons = [job.reason ?? ""] + files(c, job: job.id).map { $0.reason ?? "" }
        XCTAssertTrue(reasons.contains { $0.lowercased().contains("duplicate") && $0.contains("SOPInstanceUID") }, "\(reasons)")
        assertInputKept(c, "duplicate-sop-instance-uid", job: job.id)
    }

    func testTwoPatientsInOneFolder() throws {
        let c = try catalogue()
        guard let job = assertJob(c, "two-patients", state: "held", reason: "patient-mismatch") else { return }
        XCTAssertEqual(outputs(c, "two-patients"), [])
        assertInputKept(c, "two-patients", job: job.id)
    }

    func testTwoAccessionsInOneFolder() throws {
        let c = try catalogue()
        guard let job = assertJob(c, "two-accessions", state: "held", reason: "accession-mismatch") else { return }
        XCTAssertEqual(outputs(c, "two-accessions"), [])
        assertFiles(files(c, job: job.id), "two-accessions", count: 1, where: { $0.path.hasSuffix("IM0004.dcm") },
                    outcome: "ignored", reasonPrefix: "accession-mismatch")
        XCTAssertEqual(job.disposition, nil)
        assertInputKept(c, "two-accessions", job: job.id)
    }

    func testTwoAccessionsAndATruncatedFileEveryFileHasAReason() throws {
        let c = try catalogue()
        let key = "two-accessions-and-a-truncated-file"
        guard let job = assertJob(c, key, state: "held", reason: "accession-mismatch") else { return }
        let rows = files(c, job: job.id)
        XCTAssertEqual(rows.count, 5)
        for row in rows { XCTAssertNotNil(row.reason, "\(row.path): \(row.outcome) without a reason") }
        assertFiles(rows, key, count: 1, where: { $0.path.hasSuffix("IM0005.dcm") }, outcome: "quarantined", reasonPrefix: "unreadable: ")
        assertInputKept(c, key, job: job.id)
    }

    // MARK: - names

    func testFileAndFolderNamesWithNewlines() throws {
        let c = try catalogue()
        guard let job = assertJob(c, "file-name-newline", state: "delivered", reason: nil) else { return }
        let rows = files(c, job: job.id)
        assertFiles(rows, "file-name-newline", count: 3, outcome: "delivered", reasonPrefix: nil)
        XCTAssertTrue(rows.allSatisfy { $0.path.contains("\n") }, "input paths are recorded as they are")
        XCTAssertEqual(outputs(c, "file-name-newline").map(\.lastPathComponent).sorted(), ["IM00001.dcm", "IM00002.dcm", "IM00003.dcm"])
        assertInputKept(c, "file-name-newline", job: job.id)
    }

    func testFileNamesThatAreNotUTF8() throws {
        let c = try catalogue()
        guard let job = assertJob(c, "file-name-invalid-utf8", state: "delivered", reason: nil) else { return }
        // Output names are neutral, so such files are processed like any other.
        let rows = files(c, job: job.id)
        assertFiles(rows, "file-name-invalid-utf8", count: 3, outcome: "delivered", reasonPrefix: nil)
        XCTAssertEqual(outputs(c, "file-name-invalid-utf8").count, 3)
        assertInputKept(c, "file-name-invalid-utf8", job: job.id)
    }

    func testFolderNameWithANewlineIsHeldWithoutMapping() throws {
        let c = try catalogue()
        guard let job = assertJob(c, "folder-name-newline", state: "held", reason: "no-mapping") else { return }
        assertInputKept(c, "folder-name-newline", job: job.id)
    }

    func testFolderNameThatIsNotUTF8IsRecordedAndKept() throws {
        let c = try catalogue()
        // Held, as no sheet can name it: the reason says so (assertJob with reason nil would demand none).
        guard let job = assertJob(c, "folder-name-invalid-utf8", state: "held", reason: "no-mapping: the folder name is not valid UTF-8") else {
            return assertInputKept(c, "folder-name-invalid-utf8", job: nil)
        }
        XCTAssertFalse((job.reason ?? "").isEmpty)
        assertInputKept(c, "folder-name-invalid-utf8", job: job.id)
    }

    // MARK: - links and special files

    func testSymlinksPointingOutsideTheInboxAreNeverFollowed() throws {
        let c = try catalogue()
        let key = "symlinks-outside-inbox"
        guard let job = assertJob(c, key, state: "delivered", reason: nil) else { return }
        let rows = files(c, job: job.id)
        assertFiles(rows, key, count: 3, where: { $0.outcome == "delivered" }, outcome: "delivered", reasonPrefix: nil)
        assertFiles(rows, key, count: 4, where: { $0.outcome != "delivered" }, outcome: "ignored",
                    reasonPrefix: "symbolic link (never followed)")
        XCTAssertEqual(outputs(c, key).count, 3)
        assertNoPHI(in: outputs(c, key), c, key)
        let other = SliceFactory(patient: Self.patient(26))
        for url in outputs(c, key) {
            XCTAssertEqual(leaks(other.planted.rawByteNeedles(), in: try Data(contentsOf: url)), [], "the link target was read")
        }
        XCTAssertEqual(try Data(contentsOf: c.tree.outside.appendingPathComponent("other-patient.dcm")), try other.good(0))
        assertInputKept(c, key, job: job.id)
    }

    func testTopLevelSymlinkFIFOAndFileInTheInbox() throws {
        let c = try catalogue()
        let key = "top-level-non-folders"
        // Never followed: the linked patient folder outside the inbox is neither processed nor moved.
        XCTAssertEqual(jobs(c, key).filter { $0.state == "delivered" }.count, 0)
        XCTAssertEqual(regularFiles(under: c.tree.outbox.appendingPathComponent("BAD-top-level")), [])
        let outsideFolder = c.tree.outside.appendingPathComponent(Self.patient(27).accessionNumber)
        let now = Dictionary(Self.snapshot(outsideFolder).map { ($0.path, $0.fingerprint) }, uniquingKeysWith: { a, _ in a })
        for kept in c.cases[key]!.kept { XCTAssertEqual(now[kept.path] ?? nil, kept.fingerprint, "outside folder changed") }
        XCTAssertEqual(fileKind(c.tree.inbox.appendingPathComponent(Self.patient(27).accessionNumber).path), "link")
        XCTAssertEqual(fileKind(c.tree.inbox.appendingPathComponent("fifo-in-the-inbox").path), "fifo")
        XCTAssertEqual(fileKind(c.tree.inbox.appendingPathComponent("stray-file.dcm").path), "file")
    }

    func testTopLevelNonFoldersAreReported() throws {
        let c = try catalogue()
        // Phase one only: later, phase three's rescans log them as a side effect.
        XCTAssertTrue(c.logAfterPhaseOne.contains("not folders"), "the service should say it ignores top-level entries that are not folders")
    }

    func testSymlinkLoops() throws {
        let c = try catalogue()
        let key = "symlink-loops"
        guard let job = assertJob(c, key, state: "delivered", reason: nil) else { return }
        let rows = files(c, job: job.id)
        assertFiles(rows, key, count: 3, where: { $0.outcome == "delivered" }, outcome: "delivered", reasonPrefix: nil)
        assertFiles(rows, key, count: 5, where: { $0.outcome != "delivered" }, outcome: "ignored",
                    reasonPrefix: "symbolic link (never followed)")
        XCTAssertEqual(outputs(c, key).count, 3)
        assertInputKept(c, key, job: job.id)
    }

    func testFIFOAndDeviceFilesAreIgnoredNeverOpened() throws {
        let c = try catalogue()
        let key = "fifo-and-devices"
        guard let job = assertJob(c, key, state: "delivered", reason: nil) else { return }
        let rows = files(c, job: job.id)
        assertFiles(rows, key, count: 3, where: { $0.outcome == "delivered" }, outcome: "delivered", reasonPrefix: nil)
        let special = c.cases[key]!.kept.filter { $0.kind != "file" }.count
        assertFiles(rows, key, count: special, where: { $0.outcome != "delivered" }, outcome: "ignored",
                    reasonPrefix: "not a regular file")
        XCTAssertEqual(outputs(c, key).count, 3)
        assertInputKept(c, key, job: job.id)
    }

    // MARK: - permissions

    func testUnreadableFile() throws {
        let c = try catalogue()
        let key = "unreadable-file"
        // The first job is the delivery; the input it could not move may be picked up again later
        // (restart or rescan) and is then held as a duplicate: never delivered twice.
        let rows = jobs(c, key)
        guard let job = rows.first else { return XCTFail("\(key): no job") }
        for row in rows { print("CATALOGUE \(key): job \(row.id) \(row.state) | \(row.reason ?? "-") | input: \(row.disposition ?? "-")") }
        XCTAssertEqual(job.state, "delivered")
        XCTAssertEqual(job.reason, "delivered; some files quarantined")
        XCTAssertTrue(rows.dropFirst().allSatisfy { $0.state == "held" && ($0.reason ?? "").hasPrefix("duplicate") }, "\(rows.map(\.state))")
        let files = files(c, job: job.id)
        assertFiles(files, key, count: 1, where: { $0.outcome != "delivered" }, outcome: "quarantined",
                    reasonPrefix: "unreadable: not a readable DICOM file: Permission denied")
        XCTAssertEqual(outputs(c, key).count, 3)
        // The quarantine copy cannot be made, so the input stays in the inbox, and that is recorded.
        XCTAssertTrue((job.disposition ?? "").hasPrefix("left in the inbox: "), job.disposition ?? "nil")
        assertInputKept(c, key, job: job.id)
    }

    func testUnreadableFileDispositionNamesTheCause() throws {
        let c = try catalogue()
        let job = jobs(c, "unreadable-file").first
        XCTAssertEqual(job?.disposition, "left in the inbox: Permission denied")
    }

    func testUnreadableSubfolderAndPatientFolderAreFailedOnceWithTheCause() throws {
        let c = try catalogue()
        for key in ["unreadable-subfolder", "unreadable-folder"] {
            guard let job = assertJob(c, key, state: "failed", reason: "Permission denied") else { continue }
            XCTAssertEqual(c.eventGrowth[key], 0, "\(key): the failed job keeps cycling")
            assertInputKept(c, key, job: job.id)
        }
        XCTAssertLessThanOrEqual(c.rescansInThreeSeconds, 3, "a folder that cannot be watched makes the service rescan on every turn")
    }

    /// What holds today for unreadable folders: nothing delivered, input kept, service alive.
    func testUnreadableFoldersAreNeitherDeliveredNorLost() throws {
        let c = try catalogue()
        for key in ["unreadable-subfolder", "unreadable-folder"] {
            let rows = jobs(c, key)
            for row in rows { print("CATALOGUE \(key): job \(row.id) \(row.state) | \(row.reason ?? "-") | +\(c.eventGrowth[key] ?? -1) events in 3 s") }
            XCTAssertEqual(rows.count, 1, key)
            XCTAssertFalse(rows.contains { $0.state == "delivered" || $0.state == "quarantined" }, key)
            XCTAssertEqual(outputs(c, key), [], key)
            assertInputKept(c, key, job: rows.first?.id)
        }
        XCTAssertTrue(c.aliveAfterEveryCase)
    }

    // MARK: - mixed folder

    func testMixedFolderDeliversTheGoodFilesAndQuarantinesCopiesOfTheBad() throws {
        let c = try catalogue()
        let key = "mixed-good-and-bad"
        guard let job = assertJob(c, key, state: "delivered", reason: "delivered; some files quarantined") else { return }
        let rows = files(c, job: job.id)
        assertFiles(rows, key, count: 3, where: { $0.outcome == "delivered" }, outcome: "delivered", reasonPrefix: nil)
        assertFiles(rows, key, count: 3, where: { $0.path.hasSuffix("IM0004.dcm") || $0.path.hasSuffix("IM0005.dcm") || $0.path.hasSuffix("notes.txt") },
                    outcome: "quarantined", reasonPrefix: "unreadable: ")
        assertFiles(rows, key, count: 1, where: { $0.path.hasSuffix("IM0006.dcm") }, outcome: "quarantined",
                    reasonPrefix: "sop-class-not-allowed: ")
        XCTAssertEqual(outputs(c, key).count, 3)
        XCTAssertEqual(quarantinedCopies(c, job: job.id).count, 4, "copies of the quarantined files in quarantine/job-N/")
        XCTAssertTrue((job.disposition ?? "").hasPrefix("moved to done/"), job.disposition ?? "nil")
        assertInputKept(c, key, job: job.id)
    }

    // MARK: - a folder removed while it is processed

    func testFolderRemovedWhileStaging() throws {
        let c = try catalogue()
        let key = "removed-while-staging"
        guard let job = assertJob(c, key, state: "failed", reason: "removed") else { return }
        XCTAssertEqual(outputs(c, key), [], "nothing delivered")
        XCTAssertFalse(FileManager.default.fileExists(atPath: c.tree.staging.appendingPathComponent("job-\(job.id)").path))
    }

    /// What holds today: nothing is delivered and staging is left empty.
    func testFolderRemovedDuringTheFirstPassDeliversNothing() throws {
        let c = try catalogue()
        let key = "removed-during-first-pass"
        let rows = jobs(c, key)
        XCTAssertEqual(rows.count, 1)
        guard let job = rows.first else { return }
        print("CATALOGUE \(key): job \(job.id) \(job.state) | \(job.reason ?? "-") | input: \(job.disposition ?? "-")")
        for row in c.tree.rows("SELECT outcome, reason, count(*) FROM files WHERE job_id = ? GROUP BY 1, 2", [String(job.id)]) {
            print("CATALOGUE \(key):   \(row[2] ?? "") file(s) \(row[0] ?? "") | \(row[1] ?? "-")")
        }
        XCTAssertNotEqual(job.state, "delivered")
        XCTAssertEqual(outputs(c, key), [], "nothing delivered")
        XCTAssertFalse(FileManager.default.fileExists(atPath: c.tree.staging.appendingPathComponent("job-\(job.id)").path))
    }

    func testFolderRemovedDuringTheFirstPassIsFailedAsRemoved() throws {
        let c = try catalogue()
        guard let job = assertJob(c, "removed-during-first-pass", state: "failed", reason: "removed") else { return }
        XCTAssertEqual(c.tree.count("SELECT count(*) FROM files WHERE job_id = ? AND outcome = 'quarantined'", [String(job.id)]), 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: c.tree.quarantine.appendingPathComponent("job-\(job.id)").path))
    }

    /// What holds today for names that are not UTF-8: the input is never lost.
    func testNamesThatAreNotUTF8NeverLoseTheInput() throws {
        let c = try catalogue()
        let fileJob = jobs(c, "file-name-invalid-utf8").first
        assertInputKept(c, "file-name-invalid-utf8", job: fileJob?.id)
        XCTAssertFalse(jobs(c, "folder-name-invalid-utf8").contains { $0.state == "delivered" })
        assertInputKept(c, "folder-name-invalid-utf8", job: nil)
    }
}
