import Fixtures
import Foundation
import XCTest

/// What real deployments do to the service (#14): inboxes on network shares, sheets still being
/// written, IDs that cannot be folders, a database or secret that goes missing, two services.
/// The real binary, real files, a real FUSE mount (bindfs) for the share.
final class DeploymentTests: XCTestCase {
    typealias Tree = ServiceTests.Tree
    typealias Daemon = ServiceTests.Daemon

    /// Copies a study into `inbox/<folder>` file by file (as a share client or a slow copy would).
    func copy(_ study: WrittenStudy, into inbox: URL, pause: useconds_t = 0) throws {
        let target = inbox.appendingPathComponent(study.patient.inboxFolderName)
        for file in regularFiles(under: study.patientFolder) {
            let relative = String(file.path.dropFirst(study.patientFolder.path.count + 1))
            let destination = target.appendingPathComponent(relative)
            try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: file, to: destination)
            if pause > 0 { usleep(pause) }
        }
    }

    /// Runs a program to its end; its exit status (-1 when it could not be started).
    func spawnAndWait(_ argv: [String]) -> Int32 {
        var pid: pid_t = 0
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in [0, 1, 2] { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        guard posix_spawn(&pid, argv[0], &actions, nil, &cArguments, environ) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
    }

    func deliveredFiles(_ tree: Tree, _ study: WrittenStudy) -> Int {
        regularFiles(under: tree.outbox.appendingPathComponent(study.patient.deidentificationID)).count
    }

    // MARK: inboxes on shares

    /// The inbox is a FUSE mount of another folder (bindfs), and the study is written into that
    /// folder, as another client of an SMB or NFS share writes: no inotify event reaches the
    /// service. The periodic rescan finds it.
    func testAFolderWrittenBehindTheWatchIsFoundByTheRescan() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/bindfs") else {
            throw XCTSkip("bindfs is not installed (make deps installs it); the poll mode is tested alone")
        }
        let root = try temporaryDirectory()
        let backing = root.appendingPathComponent("share"), mount = root.appendingPathComponent("mount")
        try FileManager.default.createDirectory(at: backing.appendingPathComponent("inbox"), withIntermediateDirectories: true)
        for tree in ["done", "quarantine"] {
            try FileManager.default.createDirectory(at: backing.appendingPathComponent(tree), withIntermediateDirectories: true)
        }
        try FileManager.default.createDirectory(at: mount, withIntermediateDirectories: true)
        // bindfs daemonizes; spawned and waited for with posix_spawn and waitpid (Foundation's
        // Process did not notice its exit while the daemon it forked lived on).
        guard spawnAndWait(["/usr/bin/bindfs", backing.path, mount.path]) == 0 else {
            throw XCTSkip("bindfs could not mount here (needs /dev/fuse and root); the poll mode is tested alone")
        }
        defer { _ = spawnAndWait(["/bin/fusermount", "-u", mount.path]) }
        let tree = Tree(root)
        let (_, mapping, studies) = try makeStudies(in: root, patients: 1)
        try importMapping(tree, mapping)
        let daemon = try Daemon(tree, settle: 1, extra: ["--inbox", mount.appendingPathComponent("inbox").path,
                                                          "--done", mount.appendingPathComponent("done").path,
                                                          "--quarantine", mount.appendingPathComponent("quarantine").path,
                                                          "--rescan-seconds", "3"])
        waitFor("READY") { daemon.output.contains("ready") }
        let started = Date()
        try copy(studies[0], into: backing.appendingPathComponent("inbox"))
        waitFor("delivery of the folder written behind the mount", timeout: 60) { tree.deliveredCount() == 1 }
        let seconds = Date().timeIntervalSince(started)
        XCTAssertEqual(deliveredFiles(tree, studies[0]), studies[0].files.count, "complete")
        // Found by a rescan (3 s) plus the settle time (1 s, twice: two looks), not by an event.
        XCTAssertLessThan(seconds, 3 + 2 * 1 + 20, "took \(seconds) s")
        XCTAssertEqual(daemon.terminate(), 0, daemon.output)
    }

    /// `watch = poll`: no inotify at all. A copy that takes longer than the settle time is delivered
    /// once, complete; a folder renamed in whole is delivered too.
    func testPollModeDeliversASlowCopyOnceAndComplete() throws {
        let tree = try makeTree()
        let (_, mapping, studies) = try makeStudies(in: tree.root, patients: 2)
        try importMapping(tree, mapping)
        let daemon = try Daemon(tree, settle: 1.5, extra: ["--watch", "poll", "--rescan-seconds", "1"])
        waitFor("READY") { daemon.output.contains("ready") }
        // 8 files 0.6 s apart: 4.8 s of copying, several rescans and settle periods.
        try copy(studies[0], into: tree.inbox, pause: 600_000)
        try FileManager.default.moveItem(at: studies[1].patientFolder,
                                         to: tree.inbox.appendingPathComponent(studies[1].patient.inboxFolderName))
        waitFor("two deliveries", timeout: 60) { tree.deliveredCount() == 2 }
        XCTAssertEqual(daemon.terminate(), 0, daemon.output)
        for study in studies { XCTAssertEqual(deliveredFiles(tree, study), study.files.count, "complete") }
        XCTAssertEqual(tree.count("SELECT count(*) FROM events WHERE state = 'delivered'"), 2, "each delivered once")
    }

    // MARK: sheets

    /// A sheet saved in two parts a second apart (shorter than the settle time) is imported once,
    /// with the IDs of the complete sheet.
    func testASheetWrittenInTwoPartsIsImportedOnceWithTheFinalIDs() throws {
        let tree = try makeTree()
        let daemon = try Daemon(tree, settle: 3)
        waitFor("READY") { daemon.output.contains("ready") }
        let sheet = tree.mappings.appendingPathComponent("sheet.csv")
        XCTAssertTrue(FileManager.default.createFile(atPath: sheet.path, contents: nil))
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: sheet.path))
        try handle.write(contentsOf: Data("Accession_number,De-identification_ID\nACC1,DEID-00".utf8))
        sleep(1)
        try handle.write(contentsOf: Data("12\nACC2,DEID-0013\n".utf8))
        try handle.close()
        waitFor("the sheet imported", timeout: 30) { tree.count("SELECT count(*) FROM mapping_imports") > 0 }
        sleep(2)
        XCTAssertEqual(tree.sql("SELECT accession, deid_id FROM mappings ORDER BY accession"), [["ACC1", "DEID-0012"], ["ACC2", "DEID-0013"]])
        XCTAssertEqual(tree.count("SELECT count(*) FROM mapping_imports"), 1)
        let imported = try FileManager.default.contentsOfDirectory(atPath: tree.mappings.appendingPathComponent("imported").path)
        XCTAssertEqual(imported.count, 1)
        XCTAssertNil(try? FileManager.default.contentsOfDirectory(atPath: tree.mappings.appendingPathComponent("rejected").path).first)
        XCTAssertEqual(daemon.terminate(), 0, daemon.output)
    }

    /// An ID naming the product's own staging folder (the issue's case: the study was reported
    /// delivered and lost with the folder), a hidden one, a Windows device name and a case twin are
    /// each refused with the row and the reason; nothing is delivered.
    func testIDsThatCannotBeFoldersAreRefusedAndNothingIsDelivered() throws {
        let root = try temporaryDirectory()
        let (source, _, studies) = try makeStudies(in: root, patients: 1)
        let accession = studies[0].patient.inboxFolderName
        let cases: [(id: String, reason: String)] = [
            (".ctdeid-staging", "must start with a letter or a digit"),
            ("CON", "device name that Windows reserves"),
            ("nul.txt", "device name that Windows reserves"),
        ]
        for (index, example) in cases.enumerated() {
            let sheet = root.appendingPathComponent("sheet\(index).csv")
            try "Accession_number,De-identification_ID\n\(accession),\(example.id)\n".write(to: sheet, atomically: true, encoding: .utf8)
            let output = root.appendingPathComponent("out\(index)")
            let result = try runCTDeid(["run", "--input", source.path, "--output", output.path, "--mapping", sheet.path,
                                        "--database", root.appendingPathComponent("db\(index).sqlite").path, "--deface", "off"])
            XCTAssertEqual(result.status, 2, result.stderr)
            XCTAssertTrue(result.stderr.contains("sheet\(index).csv row 2") && result.stderr.contains(example.reason), result.stderr)
            XCTAssertEqual(regularFiles(under: output).count, 0, "nothing delivered")
        }
        // A case twin of an ID already in the database.
        let database = root.appendingPathComponent("twin.sqlite").path
        let first = root.appendingPathComponent("first.csv"), second = root.appendingPathComponent("second.csv")
        try "Accession_number,De-identification_ID\nA1,DEID-1\n".write(to: first, atomically: true, encoding: .utf8)
        try "Accession_number,De-identification_ID\nA2,deid-1\n".write(to: second, atomically: true, encoding: .utf8)
        XCTAssertEqual(try runCTDeid(["mapping", "import", first.path, "--database", database]).status, 0)
        let twin = try runCTDeid(["mapping", "import", second.path, "--database", database])
        XCTAssertEqual(twin.status, 2)
        XCTAssertTrue(twin.stderr.contains("second.csv row 2") && twin.stderr.contains("differs only in letter case"), twin.stderr)
    }

    // MARK: the database and the secret

    /// The database deleted, or replaced, under the running service: it stops (exit 2, naming the
    /// database) before delivering anything more, and the study dropped meanwhile stays in the inbox.
    func testADatabaseDeletedOrReplacedUnderTheServiceStopsItBeforeTheNextDelivery() throws {
        for replace in [false, true] {
            let tree = try makeTree("database-\(replace ? "replaced" : "deleted")")
            let (_, mapping, studies) = try makeStudies(in: tree.root, patients: 2)
            try importMapping(tree, mapping)
            let daemon = try Daemon(tree, settle: 0.5)
            waitFor("READY") { daemon.output.contains("ready") }
            try FileManager.default.moveItem(at: studies[0].patientFolder,
                                             to: tree.inbox.appendingPathComponent(studies[0].patient.inboxFolderName))
            waitFor("the first delivery") { tree.deliveredCount() == 1 }
            if replace {
                let copy = tree.database + ".copy"
                try FileManager.default.copyItem(atPath: tree.database, toPath: copy)
                XCTAssertEqual(rename(copy, tree.database), 0)
            } else {
                for suffix in ["", "-wal", "-shm"] { unlink(tree.database + suffix) }
            }
            try FileManager.default.moveItem(at: studies[1].patientFolder,
                                             to: tree.inbox.appendingPathComponent(studies[1].patient.inboxFolderName))
            let status = daemon.exitStatus(within: 30)
            XCTAssertEqual(status, 2, daemon.output)
            XCTAssertTrue(daemon.output.contains("the audit database \(tree.database)")
                          && daemon.output.contains(replace ? "was replaced" : "is gone"), daemon.output)
            XCTAssertFalse(FileManager.default.fileExists(atPath: tree.outbox.appendingPathComponent(studies[1].patient.deidentificationID).path),
                           "delivered without a record")
            XCTAssertTrue(FileManager.default.fileExists(atPath: tree.inbox.appendingPathComponent(studies[1].patient.inboxFolderName).path),
                          "the input left the inbox")
        }
    }

    /// `jobs`, `show` and `retry` on a database path where there is none: exit 2, and no file left behind.
    func testReadOnlyCommandsNeverCreateADatabase() throws {
        let root = try temporaryDirectory()
        let path = root.appendingPathComponent("missing.sqlite").path
        for arguments in [["jobs"], ["show", "1"], ["retry", "1"]] {
            let result = try runCTDeid(arguments + ["--database", path])
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("there is no audit database at \(path)"), result.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: path), "\(arguments) created the database")
        }
    }

    /// The site secret deleted (or swapped) after deliveries: `serve` and `run` refuse to start (exit
    /// 2) naming the key file, instead of minting a new one that would deliver the same study again
    /// under other UIDs. `ctdeid secret create` starts a new one deliberately.
    func testAMissingOrOtherSecretIsRefusedOnceTheDatabaseRecordsDeliveries() throws {
        let tree = try makeTree()
        let (_, mapping, studies) = try makeStudies(in: tree.root, patients: 2)
        try importMapping(tree, mapping)
        var daemon = try Daemon(tree, settle: 0.5)
        waitFor("READY") { daemon.output.contains("ready") }
        try FileManager.default.moveItem(at: studies[0].patientFolder,
                                         to: tree.inbox.appendingPathComponent(studies[0].patient.inboxFolderName))
        waitFor("a delivery") { tree.deliveredCount() == 1 }
        XCTAssertEqual(daemon.terminate(), 0)
        let original = try Data(contentsOf: tree.keyFile)

        try FileManager.default.removeItem(at: tree.keyFile)
        daemon = try Daemon(tree, settle: 0.5, logName: "missing.log")
        XCTAssertEqual(daemon.exitStatus(within: 30), 2, daemon.output)
        XCTAssertTrue(daemon.output.contains("the site secret \(tree.keyFile.path) (key_file) is missing")
                      && daemon.output.contains("records 1 delivery"), daemon.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tree.keyFile.path), "a new secret was minted")
        let run = try runCTDeid(["run", "--input", tree.inbox.path, "--output", tree.root.appendingPathComponent("out").path,
                                 "--database", tree.database, "--secret", tree.keyFile.path, "--deface", "off"])
        XCTAssertEqual(run.status, 2, run.stderr)
        XCTAssertTrue(run.stderr.contains("(--secret) is missing"), run.stderr)

        // Another secret in its place.
        var other = original
        other[0] ^= 0xFF
        XCTAssertTrue(FileManager.default.createFile(atPath: tree.keyFile.path, contents: other, attributes: [.posixPermissions: 0o600]))
        daemon = try Daemon(tree, settle: 0.5, logName: "other.log")
        XCTAssertEqual(daemon.exitStatus(within: 30), 2, daemon.output)
        XCTAssertTrue(daemon.output.contains("is not the one the audit database"), daemon.output)

        // The right one restored: the service starts and delivers the next study.
        try original.write(to: tree.keyFile)
        daemon = try Daemon(tree, settle: 0.5, logName: "restored.log")
        waitFor("READY") { daemon.output.contains("ready") }
        try FileManager.default.moveItem(at: studies[1].patientFolder,
                                         to: tree.inbox.appendingPathComponent(studies[1].patient.inboxFolderName))
        waitFor("the second delivery") { tree.deliveredCount() == 2 }
        XCTAssertEqual(daemon.terminate(), 0)

        // A new secret, deliberately.
        try FileManager.default.removeItem(at: tree.keyFile)
        let create = try runCTDeid(["secret", "create", "--key-file", tree.keyFile.path, "--database", tree.database])
        XCTAssertEqual(create.status, 0, create.stderr)
        XCTAssertNotEqual(try Data(contentsOf: tree.keyFile), original)
        daemon = try Daemon(tree, settle: 0.5, logName: "new.log")
        waitFor("READY with the new secret") { daemon.output.contains("ready") }
        XCTAssertEqual(daemon.terminate(), 0)
        XCTAssertEqual(try runCTDeid(["secret", "create", "--key-file", tree.keyFile.path, "--database", tree.database]).status, 2,
                       "an existing secret is never replaced")
    }

    // MARK: one service

    /// A second `serve` on the same inbox, or on the same database, exits 2 naming the holder; the
    /// first goes on.
    func testASecondServiceOnTheSameInboxOrDatabaseIsRefused() throws {
        let tree = try makeTree()
        let first = try Daemon(tree, settle: 0.5)
        waitFor("READY") { first.output.contains("ready") }
        let otherRoot = try temporaryDirectory()
        let sameInbox = try Daemon(tree, settle: 0.5, logName: "same-inbox.log",
                                   extra: ["--database", otherRoot.appendingPathComponent("other.sqlite").path,
                                           "--key-file", otherRoot.appendingPathComponent("other.key").path])
        XCTAssertEqual(sameInbox.exitStatus(within: 30), 2, sameInbox.output)
        XCTAssertTrue(sameInbox.output.contains("another ctdeid serve is already using the inbox \(tree.inbox.path) (pid \(first.process.processIdentifier)"),
                      sameInbox.output)
        let sameDatabase = try Daemon(tree, settle: 0.5, logName: "same-database.log",
                                      extra: ["--inbox", otherRoot.appendingPathComponent("inbox").path])
        XCTAssertEqual(sameDatabase.exitStatus(within: 30), 2, sameDatabase.output)
        XCTAssertTrue(sameDatabase.output.contains("another ctdeid serve is already using the audit database \(tree.database)"),
                      sameDatabase.output)
        XCTAssertTrue(first.process.isRunning)
        XCTAssertEqual(first.terminate(), 0)
    }

    /// `ctdeid run` and `ctdeid serve` share a database. A run's job caught in `processing` (here the
    /// run is killed -9 in the middle, so that the job stays there whatever the timing) is not the
    /// service's to recover: it gets no "interrupted" event and is not re-queued.
    func testAServiceLeavesTheJobsOfARunOnTheSameDatabaseAlone() throws {
        let tree = try makeTree()
        let runRoot = try temporaryDirectory()
        let (source, mapping, _) = try makeStudies(in: runRoot, patients: 6, slices: 24)
        var caught = false
        for _ in 0..<3 where !caught {
            let run = Process()
            run.executableURL = ctdeidBinary
            run.arguments = ["run", "--input", source.path, "--output", runRoot.appendingPathComponent("out").path,
                             "--mapping", mapping.path, "--database", tree.database, "--secret", tree.keyFile.path,
                             "--deface", "off", "--workers", "1"]
            run.standardOutput = FileHandle.nullDevice
            run.standardError = FileHandle.nullDevice
            try run.run()
            waitFor("the run at work") { tree.count("SELECT count(*) FROM jobs WHERE state = 'processing'") > 0 || !run.isRunning }
            kill(run.processIdentifier, SIGKILL)
            run.waitUntilExit()
            caught = tree.count("SELECT count(*) FROM jobs WHERE state = 'processing' AND owner = 'run'") > 0
        }
        XCTAssertTrue(caught, "no run job was caught in processing")
        let before = tree.sql("SELECT id, state FROM jobs ORDER BY id")
        let daemon = try Daemon(tree, settle: 0.5)
        waitFor("READY") { daemon.output.contains("ready") }
        sleep(2)
        XCTAssertEqual(tree.sql("SELECT id, state FROM jobs ORDER BY id"), before, "the service changed a run's job")
        XCTAssertEqual(tree.count("SELECT count(*) FROM events WHERE reason LIKE '%interrupted%'"), 0)
        XCTAssertEqual(daemon.terminate(), 0)
    }

    // MARK: smaller things

    /// A study whose files lie deeper than PATH_MAX cannot be read whole: the reason says so (it
    /// was held as "empty" once).
    func testAFolderDeeperThanPATHMAXIsReportedAsSuch() throws {
        let root = try temporaryDirectory()
        let (source, mapping, studies) = try makeStudies(in: root, patients: 1, slices: 2)
        defer { _ = spawnAndWait(["/bin/rm", "-rf", source.path]) }
        let folder = source.appendingPathComponent(studies[0].patient.inboxFolderName).path
        let file = try XCTUnwrap(studies[0].files.first).path
        let level = String(repeating: "d", count: 200)
        // mkdir and cd one level at a time: no single path handed to the kernel is too long.
        XCTAssertEqual(spawnAndWait(["/bin/bash", "-c", "cd \"$0\" && for i in $(seq 25); do mkdir \(level) && cd \(level); done && cp \"$1\" deep.dcm",
                                     folder, file]), 0)
        let result = try runCTDeid(["run", "--input", source.path, "--output", root.appendingPathComponent("out").path,
                                    "--mapping", mapping.path, "--database", root.appendingPathComponent("db.sqlite").path, "--deface", "off"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("longer than this system allows (PATH_MAX"), result.stderr)
        XCTAssertFalse(result.stderr.contains("empty"), result.stderr)
    }

    /// Quarantined inputs are moved, so a quarantine on another filesystem is refused at start
    /// (exit 2, naming the key), not found out at the first quarantine.
    func testAQuarantineOnAnotherFilesystemIsRefusedAtStart() throws {
        let tree = try makeTree()
        let other = URL(fileURLWithPath: "/dev/shm/ctdeid-test-\(getpid())-quarantine")
        var a = stat(), b = stat()
        guard stat("/dev/shm", &a) == 0, stat(tree.root.path, &b) == 0, a.st_dev != b.st_dev else {
            throw XCTSkip("/dev/shm is not another filesystem here")
        }
        defer { try? FileManager.default.removeItem(at: other) }
        let daemon = try Daemon(tree, extra: ["--quarantine", other.path])
        XCTAssertEqual(daemon.exitStatus(within: 30), 2, daemon.output)
        XCTAssertTrue(daemon.output.contains("quarantine = \"\(other.path)\": must be on the same filesystem as inbox"), daemon.output)
    }

    /// Bare file names for the database and the secret, relative to the working folder.
    func testRelativeDatabaseNamesWork() throws {
        let root = try temporaryDirectory()
        _ = try makeStudies(in: root, patients: 1, slices: 2)
        let run = try runCTDeid(["run", "--input", "source", "--output", "out", "--mapping", "mapping.csv",
                                 "--database", "db.sqlite", "--secret", "site.key", "--deface", "off"], in: root)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent("db.sqlite").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent("site.key").path))
        let jobs = try runCTDeid(["jobs", "--database", "db.sqlite"], in: root)
        XCTAssertEqual(jobs.status, 0, jobs.stderr)
        XCTAssertTrue(jobs.stdout.contains("delivered"), jobs.stdout)
    }
}
