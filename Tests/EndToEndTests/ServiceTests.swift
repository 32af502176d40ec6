import Deidentification
import Fixtures
import Foundation
import GRDB
import Settings
import XCTest

/// `ctdeid serve` as a process on temporary trees: real inotify, real SQLite, kill -9.
final class ServiceTests: XCTestCase {
    /// One service tree: inbox, outbox, work, ... under `root`, with a shared or own key file.
    struct Tree {
        let root: URL
        let keyFile: URL
        var inbox: URL { root.appendingPathComponent("inbox") }
        var outbox: URL { root.appendingPathComponent("outbox") }
        var done: URL { root.appendingPathComponent("done") }
        var mappings: URL { root.appendingPathComponent("mappings") }
        var database: String { root.appendingPathComponent("ctdeid.sqlite").path }
        var staging: URL { root.appendingPathComponent("work/staging") }

        /// The service tests are about the service; face removal is exercised by the crash test and DefacingTests.
        var deface = "off"

        init(_ root: URL, keyFile: URL? = nil) {
            self.root = root
            self.keyFile = keyFile ?? root.appendingPathComponent("secret.key")
        }

        func arguments(settle: Double) -> [String] {
            ["--inbox", inbox.path, "--outbox", outbox.path, "--work", root.appendingPathComponent("work").path,
             "--quarantine", root.appendingPathComponent("quarantine").path, "--done", done.path,
             "--mappings", mappings.path, "--database", database, "--key-file", keyFile.path,
             "--qa", root.appendingPathComponent("qa").path, "--deface", deface,
             "--settle-seconds", "\(settle)", "--workers", "2"]
        }

        func sql(_ query: String) -> [[String]] { (try? sqlite(database, query)) ?? [] }

        /// Read in-process (no sqlite3 process per poll), so kill points can follow the service closely.
        func count(_ query: String) -> Int {
            guard FileManager.default.fileExists(atPath: database) else { return 0 }
            var configuration = Configuration()
            configuration.readonly = true
            configuration.busyMode = .timeout(5)
            guard let queue = try? DatabaseQueue(path: database, configuration: configuration) else { return 0 }
            return ((try? queue.read { try Int.fetchOne($0, sql: query) }) ?? nil) ?? 0
        }

        func deliveredCount() -> Int { count("SELECT count(*) FROM jobs WHERE state = 'delivered'") }
    }

    /// A running `ctdeid serve`.
    final class Daemon {
        let process = Process()
        let log: URL

        init(_ tree: Tree, settle: Double = 1, environment: [String: String] = [:], logName: String = "serve.log",
             extra: [String] = []) throws {
            guard FileManager.default.isExecutableFile(atPath: ctdeidBinary.path) else {
                throw XCTSkip("ctdeid binary not built at \(ctdeidBinary.path)")
            }
            log = tree.root.appendingPathComponent(logName)
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            handle.seekToEndOfFile()
            process.executableURL = ctdeidBinary
            process.arguments = ["serve"] + tree.arguments(settle: settle) + extra
            var env = ProcessInfo.processInfo.environment
            env.removeValue(forKey: "NOTIFY_SOCKET")
            for (key, value) in environment { env[key] = value }
            process.environment = env
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
        }

        func terminate() -> Int32 {
            process.terminate()
            process.waitUntilExit()
            return process.terminationStatus
        }

        /// Waits up to `timeout` seconds for the process to end by itself; its exit status, nil if it did not.
        func exitStatus(within timeout: Double) -> Int32? {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { usleep(50_000) }
            if process.isRunning { return nil }
            return process.terminationStatus
        }

        func kill9() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        deinit {
            if process.isRunning { kill9() }
        }
    }

    // MARK: delivery

    func testSlowCopyAndRenameAreEachDeliveredOnceAndComplete() throws {
        let tree = try makeTree()
        let (source, mapping, studies) = try makeStudies(in: tree.root)
        try importMapping(tree, mapping)
        let daemon = try Daemon(tree, settle: 2)
        waitFor("READY") { daemon.output.contains("ready") }

        // Patient 1 arrives file by file, with pauses shorter than the settle time.
        let slow = studies[0]
        let target = tree.inbox.appendingPathComponent(slow.patient.inboxFolderName)
        for file in regularFiles(under: slow.patientFolder) {
            let relative = String(file.path.dropFirst(slow.patientFolder.path.count + 1))
            let destination = target.appendingPathComponent(relative)
            try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: file, to: destination)
            usleep(400_000)
            XCTAssertEqual(tree.deliveredCount(), 0, "delivered before the copy finished")
        }
        // Patient 2 is renamed into the inbox whole.
        try FileManager.default.moveItem(at: studies[1].patientFolder,
                                         to: tree.inbox.appendingPathComponent(studies[1].patient.inboxFolderName))
        waitFor("two deliveries") { tree.deliveredCount() == 2 }
        XCTAssertEqual(daemon.terminate(), 0, daemon.output)

        for study in studies {
            let id = study.patient.deidentificationID
            let studies = try FileManager.default.contentsOfDirectory(atPath: tree.outbox.appendingPathComponent(id).path)
            XCTAssertEqual(studies.count, 1)
            XCTAssertEqual(regularFiles(under: tree.outbox.appendingPathComponent(id)).count, study.files.count, "complete")
            XCTAssertTrue(FileManager.default.fileExists(atPath: tree.done.appendingPathComponent(study.patient.inboxFolderName).path))
        }
        XCTAssertEqual(tree.sql("SELECT folder, count(*) FROM events e JOIN jobs j ON j.id = e.job_id WHERE e.state = 'delivered' GROUP BY folder").map { $0[1] }, ["1", "1"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tree.inbox.path), [".ctdeid-serve.lock"])
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: tree.staging.path)) ?? [], [])
        _ = source
        // Nothing planted in the log.
        let log = Data(daemon.output.utf8)
        for needle in studies.flatMap({ $0.planted.rawByteNeedles() }) { XCTAssertNil(log.range(of: needle), "log leaks PHI") }
    }

    func testHeldWithoutMappingThenReleasedByImportAndDuplicatesAreNotDeliveredTwice() throws {
        let tree = try makeTree()
        let (_, mapping, studies) = try makeStudies(in: tree.root, patients: 1)
        let daemon = try Daemon(tree, settle: 0.5)
        waitFor("READY") { daemon.output.contains("ready") }
        let name = studies[0].patient.inboxFolderName
        let copy = tree.root.appendingPathComponent("copy")
        try FileManager.default.copyItem(at: studies[0].patientFolder, to: copy)
        try FileManager.default.moveItem(at: studies[0].patientFolder, to: tree.inbox.appendingPathComponent(name))
        waitFor("held") { tree.sql("SELECT state, reason FROM jobs").first?.first == "held" }
        XCTAssertTrue(tree.sql("SELECT reason FROM jobs").first?.first?.hasPrefix("no-mapping") ?? false)

        try importMapping(tree, mapping)
        waitFor("released and delivered") { tree.deliveredCount() == 1 }
        let outbox = treeListing(tree.outbox)

        // The same folder again (once the first has left the inbox: the delivery is recorded just
        // before its input is moved to done/): identical output, so a duplicate, held, nothing new
        // in the outbox.
        waitFor("the first input out of the inbox") {
            !FileManager.default.fileExists(atPath: tree.inbox.appendingPathComponent(name).path)
        }
        try FileManager.default.moveItem(at: copy, to: tree.inbox.appendingPathComponent(name))
        waitFor("duplicate") { tree.sql("SELECT count(*) FROM jobs WHERE reason LIKE 'duplicate%'").first?.first == "1" }
        XCTAssertEqual(treeListing(tree.outbox), outbox)
        XCTAssertEqual(tree.deliveredCount(), 1)

        // An operator asks for it again: delivered beside the first copy, never over it.
        let job = try XCTUnwrap(tree.sql("SELECT id FROM jobs WHERE reason LIKE 'duplicate%'").first?.first)
        let retry = try runCTDeid(["retry", job, "--database", tree.database])
        XCTAssertEqual(retry.status, 0, retry.stderr)
        waitFor("forced redelivery") { tree.deliveredCount() == 2 }
        let id = studies[0].patient.deidentificationID
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tree.outbox.appendingPathComponent(id).path).count, 2)
        XCTAssertEqual(daemon.terminate(), 0)

        let show = try runCTDeid(["show", job, "--database", tree.database])
        XCTAssertEqual(show.status, 0)
        XCTAssertTrue(show.stdout.contains("delivered"), show.stdout)
        let jobs = try runCTDeid(["jobs", "--database", tree.database])
        XCTAssertTrue(jobs.stdout.contains("delivered"))
        XCTAssertFalse(jobs.stdout.contains(name), "jobs must not print the accession")
    }

    // MARK: systemd

    func testNotifyProtocolAndCleanStopOnSIGTERM() throws {
        let tree = try makeTree()
        let socketPath = tree.root.appendingPathComponent("notify.sock").path
        let receiver = try DatagramReceiver(path: socketPath)
        let daemon = try Daemon(tree, settle: 1, environment: ["NOTIFY_SOCKET": socketPath, "WATCHDOG_USEC": "400000"])
        waitFor("WATCHDOG=1") { receiver.messages.contains("WATCHDOG=1") }
        let status = daemon.terminate()
        XCTAssertEqual(status, 0, daemon.output)
        usleep(100_000)
        let messages = receiver.messages
        func first(_ prefix: String) -> Int? { messages.firstIndex { $0.hasPrefix(prefix) } }
        guard let ready = first("READY=1"), let statusLine = first("STATUS="), let watchdog = first("WATCHDOG=1"),
              let stopping = first("STOPPING=1") else {
            return XCTFail("missing messages: \(messages)")
        }
        XCTAssertLessThan(ready, statusLine)
        XCTAssertLessThan(statusLine, watchdog)
        XCTAssertLessThan(watchdog, stopping)
        XCTAssertTrue(messages[statusLine].contains("queued"), messages[statusLine])
    }

    func testBadConfigurationIsRefusedNamingKeyAndValue() throws {
        let tree = try makeTree()
        var result = try runCTDeid(["serve"] + tree.arguments(settle: 1) + ["--settle-seconds", "soon"])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("settle_seconds") && result.stderr.contains("soon"), result.stderr)
        let config = tree.root.appendingPathComponent("ctdeid.toml")
        try "inbox = \"in\"\nsettle_secs = 3\n".write(to: config, atomically: true, encoding: .utf8)
        result = try runCTDeid(["serve", "--config", config.path])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("settle_secs"), result.stderr)
        try "outbox = \"in/out\"\ninbox = \"in\"\n".write(to: config, atomically: true, encoding: .utf8)
        result = try runCTDeid(["serve", "--config", config.path])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("outbox"), result.stderr)
    }

    // MARK: crashes

    /// kill -9 at many points of a multi-folder job; each restart finishes the work. The final
    /// outbox equals an uninterrupted run's byte for byte and every study is delivered once.
    func testKill9AtManyPointsEndsInTheSameOutboxAsAnUninterruptedRun() throws {
        let base = try temporaryDirectory()
        let (source, mapping, studies) = try makeStudies(in: base, patients: 3, slices: 40)
        let key = base.appendingPathComponent("shared-secret.key")
        _ = try SiteSecret.loadOrCreate(at: key.path)

        func prepare(_ name: String) throws -> Tree {
            var tree = Tree(base.appendingPathComponent(name), keyFile: key)
            tree.deface = "remove"
            try FileManager.default.createDirectory(at: tree.root, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: source, to: tree.inbox)
            try importMapping(tree, mapping)
            return tree
        }

        let reference = try prepare("reference")
        let first = try Daemon(reference, settle: 0.3)
        waitFor("reference deliveries") { reference.deliveredCount() == studies.count }
        waitFor("ready") { first.output.contains("ready") }
        XCTAssertEqual(first.terminate(), 0)

        let crashed = try prepare("crashed")
        // Kill points by phase: start-up and recovery, settling, n files staged, mid-delivery
        // (files recorded, rename pending), just after a delivery was committed.
        enum Point { case afterSpawn(Double), afterReady, staged(Int), delivering, afterDelivery }
        // The points that let a study through (delivering, afterDelivery) come late, so at least 20
        // kills happen before the work is done.
        let points: [Point] = [
            .afterSpawn(0.01), .afterReady, .staged(1), .staged(10), .afterSpawn(0.05), .staged(39), .staged(5),
            .afterReady, .staged(20), .afterSpawn(0.1), .staged(30), .staged(15), .afterSpawn(0.03), .afterReady,
            .staged(25), .staged(2), .afterSpawn(0.2), .delivering, .staged(12), .afterDelivery, .staged(35),
            .delivering, .afterReady, .afterDelivery, .staged(8),
        ]
        func stagedFiles() -> Int { regularFiles(under: crashed.staging).count }
        var kills = 0
        for point in points {
            if crashed.deliveredCount() == studies.count { break }
            let delivered = crashed.deliveredCount()
            let daemon = try Daemon(crashed, settle: 0.3, logName: "serve-\(kills).log")
            let deadline = Date().addingTimeInterval(5)
            // A point that is not reached before a study is delivered kills right after that delivery,
            // so every restart advances by at most one study.
            func until(_ condition: () -> Bool) {
                while Date() < deadline && !condition() && crashed.deliveredCount() == delivered { usleep(1_000) }
            }
            switch point {
            case .afterSpawn(let seconds): usleep(useconds_t(seconds * 1e6))
            case .afterReady: until { daemon.output.contains("ready") }
            case .staged(let count): until { daemon.output.contains("ready") && stagedFiles() >= count }
            case .delivering: until { crashed.count("SELECT count(*) FROM jobs WHERE state = 'delivering'") == 1 }
            case .afterDelivery: until { crashed.deliveredCount() > delivered }
            }
            daemon.kill9()
            print("kill \(kills) at \(point): staged \(stagedFiles()), delivered \(crashed.deliveredCount())")
            kills += 1
        }
        let last = try Daemon(crashed, settle: 0.3, logName: "serve-last.log")
        waitFor("deliveries after \(kills) kills") { crashed.deliveredCount() == studies.count }
        waitFor("ready") { last.output.contains("ready") }
        XCTAssertEqual(last.terminate(), 0, last.output)
        XCTAssertGreaterThanOrEqual(kills, 20, "the work finished too early to be interrupted enough times")

        XCTAssertEqual(treeListing(crashed.outbox, contents: true), treeListing(reference.outbox, contents: true))
        let deliveries = crashed.sql("SELECT j.folder, count(*) FROM events e JOIN jobs j ON j.id = e.job_id WHERE e.state = 'delivered' GROUP BY j.folder")
        XCTAssertEqual(deliveries.count, studies.count)
        XCTAssertTrue(deliveries.allSatisfy { $0[1] == "1" }, "\(deliveries)")
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: crashed.staging.path)) ?? [], [], "orphans in staging")
        // Nothing left in the inbox but the service's own lock (hidden, ignored as every hidden name).
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: crashed.inbox.path), [".ctdeid-serve.lock"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: crashed.done.path).count, studies.count)
    }

    /// Relative paths (and contents) of everything below a folder.
    func treeListing(_ url: URL, contents: Bool = false) -> [String] {
        regularFiles(under: url).map { file in
            let relative = String(file.path.dropFirst(url.path.count))
            guard contents, let data = try? Data(contentsOf: file) else { return relative }
            return relative + " \(data.count) " + fingerprint(data)
        }
    }
}

/// A fake systemd: a Unix datagram socket that records every sd_notify message.
final class DatagramReceiver: @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()
    private var received: [String] = []

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.prefix(buffer.count - 1).enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard fd >= 0, bound == 0 else { throw XCTSkip("cannot bind a Unix datagram socket at \(path)") }
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = recv(fd, &buffer, buffer.count, 0)
                if count <= 0 { return }
                let text = String(decoding: buffer.prefix(count), as: UTF8.self)
                lock.lock()
                received.append(contentsOf: text.split(separator: "\n").map(String.init))
                lock.unlock()
            }
        }
    }

    var messages: [String] {
        lock.lock()
        defer { lock.unlock() }
        return received
    }
}

extension ServiceTests {
    /// Every setting of the table can be given as a flag of `serve` (`receive` for the [receive] table), named after its key.
    func testEverySettingIsAServeFlag() throws {
        let help = try runCTDeid(["serve", "--help"])
        XCTAssertEqual(help.status, 0)
        for setting in SettingsTable.all where setting.section == nil {
            XCTAssertTrue(help.stdout.contains(setting.flag + " "), "\(setting.flag) in `ctdeid serve --help`")
        }
        let receive = try runCTDeid(["receive", "--help"])
        for setting in SettingsTable.all where setting.section == "receive" {
            XCTAssertTrue(receive.stdout.contains(setting.flag + " "), "\(setting.flag) in `ctdeid receive --help`")
        }
        let config = try runCTDeid(["config"])
        XCTAssertEqual(config.status, 0)
        XCTAssertTrue(config.stdout.contains("inbox = \"var/inbox\""), config.stdout)
    }
}
