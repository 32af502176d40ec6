@testable import Audit
import DICOM
import Deidentification
import Fixtures
import Foundation
import Logging
@testable import Pipeline
import ServiceLifecycle
@testable import ServiceRuntime
import Synchronization
import XCTest

/// The service in-process, without the `ctdeid` binary: recovery after a crash, and the inbox loop
/// with the mapping drop folder beside it, on real folders, real inotify and a real database.
final class ServiceLoopTests: XCTestCase {
    /// What the service told its supervisor.
    final class Notes: ServiceNotifier {
        private let messages = Mutex<[String]>([])
        func notify(_ message: String) { messages.withLock { $0.append(message) } }
        var watchdogInterval: Double? { nil }
        var all: [String] { messages.withLock { $0 } }
    }

    private let quiet = Logger(label: "ctdeid-test", factory: { _ in SwiftLogNoOpLogHandler() })

    private func configuration(_ root: URL, settle: Double = 0.2) throws -> ServiceConfiguration {
        var overrides = ["settle_seconds": String(settle), "rescan_seconds": "0", "deface": "off", "burned_in": "off", "workers": "2"]
        for key in ["inbox", "outbox", "work", "quarantine", "done", "mappings", "qa"] {
            overrides[key] = root.appendingPathComponent(key).path
        }
        overrides["database"] = root.appendingPathComponent("audit.sqlite").path
        overrides["key_file"] = root.appendingPathComponent("secret.key").path
        return try ServiceConfiguration.load(file: nil, overrides: overrides)
    }

    /// After a kill -9: a job caught delivering whose study is in the outbox is delivered and its
    /// input moved to done; one whose study is not, and one caught processing, are queued again with
    /// their staging cleared; a `ctdeid run` job sharing the database is not touched.
    func testRecoveryFinishesOrRedoesEachInterruptedJob() throws {
        let root = try temporaryDirectory()
        let c = try configuration(root)
        let store = try AuditStore(path: c.database)
        func job(_ folder: String, owner: JobOwner = .serve) throws -> Int64 {
            let input = c.inbox.appendingPathComponent(folder)
            try FileManager.default.createDirectory(at: input, withIntermediateDirectories: true)
            try Data([1, 2, 3]).write(to: input.appendingPathComponent("IM1.dcm"))
            let id = try store.createJob(source: input.path, folder: folder, options: "", edition: "2024b", toolVersion: "t", owner: owner)
            try store.transition(job: id, to: .processing, deidentificationID: "DEID-" + folder)
            return id
        }
        let delivered = try job("A1")
        try store.transition(job: delivered, to: .delivering, outputPath: "DEID-A1/study-1")
        try FileManager.default.createDirectory(at: c.outbox.appendingPathComponent("DEID-A1/study-1"), withIntermediateDirectories: true)
        let notRenamed = try job("A2")
        try store.transition(job: notRenamed, to: .delivering, outputPath: "DEID-A2/study-2")
        try FileManager.default.createDirectory(at: c.stagingRoot.appendingPathComponent("job-\(notRenamed)/study-2"),
                                                withIntermediateDirectories: true)
        let processing = try job("A3")
        try FileManager.default.createDirectory(at: c.stagingRoot.appendingPathComponent("job-\(processing)"), withIntermediateDirectories: true)
        let batch = try job("A4", owner: .run)

        try Recovery(configuration: c, store: store, logger: quiet).run()

        XCTAssertEqual(try store.job(delivered)?.state, .delivered)
        XCTAssertEqual(try store.job(delivered)?.reasonCode, .recovered)
        XCTAssertTrue(FileManager.default.fileExists(atPath: c.done.appendingPathComponent("A1").path), "the delivered input is kept in done")
        XCTAssertFalse(FileManager.default.fileExists(atPath: c.inbox.appendingPathComponent("A1").path))
        for id in [notRenamed, processing] {
            XCTAssertEqual(try store.job(id)?.state, .queued)
            XCTAssertEqual(try store.job(id)?.reasonCode, .recovered)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: c.stagingRoot.path), [], "staging is empty")
        XCTAssertTrue(FileManager.default.fileExists(atPath: c.inbox.appendingPathComponent("A2/IM1.dcm").path), "inputs to redo stay")
        XCTAssertEqual(try store.job(batch)?.state, .processing, "a run job is not the service's to recover")
    }

    /// The loop and the mapping drop folder as a service group: a mapped folder dropped into the inbox
    /// is delivered and its input moved to done; an unmapped one is held `no-mapping` until a sheet
    /// dropped into the mappings folder is imported, then delivered too; shutdown is graceful.
    func testTheInboxLoopDeliversAndASheetDroppedLaterReleasesAHeldFolder() async throws {
        let root = try temporaryDirectory()
        let c = try configuration(root)
        var setup = ProcessingSetup(database: c.database, secret: c.keyFile, secretOption: "key_file", options: c.options,
                                    deface: c.deface, workers: c.workers, output: c.outbox, staging: c.stagingRoot, qa: c.qa,
                                    owner: .serve)
        setup.burnedIn = c.burnedIn
        let (store, processor) = try setup.open()
        let mapped = SyntheticPatient(seed: 31, index: 0), unmapped = SyntheticPatient(seed: 32, index: 1)
        _ = try store.importMappings([(mapped.accessionNumber, "DEID-0031", 2)], sourceSheet: "before.csv")

        let notes = Notes()
        let inbox = InboxService(configuration: c, processor: processor, store: store, notifier: notes, heartbeat: Heartbeat(),
                                 logger: quiet)
        let sheets = MappingDropFolder(folder: c.mappings, settleSeconds: c.settleSeconds, store: store, logger: quiet)
        let group = ServiceGroup(configuration: .init(services: [.init(service: inbox), .init(service: sheets)],
                                                      gracefulShutdownSignals: [], cancellationSignals: [], logger: quiet))
        let running = Task { try await group.run() }

        func drop(_ patient: SyntheticPatient) throws {
            // Written beside the inbox and renamed in, as a careful copy does.
            let staging = root.appendingPathComponent("copy/\(patient.accessionNumber)")
            _ = try SyntheticStudy.writeSeries(patient: patient, slices: 3, rows: 32, columns: 32, into: staging)
            try FileManager.default.moveItem(at: staging, to: c.inbox.appendingPathComponent(patient.accessionNumber))
        }
        func state(_ folder: String) throws -> AuditStore.JobDetail? {
            try store.allJobs().last { $0.folder == folder }
        }
        func wait(_ what: String, _ condition: () throws -> Bool) async throws {
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                if try condition() { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            XCTFail("timed out waiting for \(what)")
        }

        try drop(mapped)
        try await wait("the mapped folder delivered") { try state(mapped.accessionNumber)?.state == .delivered }
        try await wait("its input moved to done") {
            FileManager.default.fileExists(atPath: c.done.appendingPathComponent(mapped.accessionNumber).path)
        }
        try drop(unmapped)
        try await wait("the unmapped folder held") { try state(unmapped.accessionNumber)?.reasonCode == .noMapping }
        try "Accession_number,De-identification_ID\n\(unmapped.accessionNumber),DEID-0032\n"
            .write(to: c.mappings.appendingPathComponent("late.csv"), atomically: true, encoding: .utf8)
        try await wait("the held folder released and delivered") { try state(unmapped.accessionNumber)?.state == .delivered }
        let imported = try FileManager.default.contentsOfDirectory(atPath: c.mappings.appendingPathComponent("imported").path)
        XCTAssertEqual(imported.count, 1)
        XCTAssertTrue(imported.first?.hasSuffix("-late.csv") == true, "\(imported)")
        XCTAssertEqual(try store.events(job: try XCTUnwrap(state(unmapped.accessionNumber)).id).map(\.state),
                       ["discovered", "settling", "queued", "held", "queued", "processing", "delivering", "delivered"])

        await group.triggerGracefulShutdown()
        try await running.value
        XCTAssertEqual(notes.all.first, "READY=1")
        XCTAssertTrue(notes.all.contains("STOPPING=1"), "\(notes.all)")
        BurnedInPolicy.closeReaders()
    }
}
