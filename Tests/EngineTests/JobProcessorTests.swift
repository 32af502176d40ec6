@testable import Audit
import DICOM
@testable import Deidentification
@testable import Pipeline
@testable import Platform
import Fixtures
import Foundation
import XCTest

/// The job processor in-process, on an audit database in memory: a folder goes from the inbox to the
/// output, the job through its states, without the `ctdeid` binary.
final class JobProcessorTests: XCTestCase {
    override class func setUp() {
        try? DicomToolkit.initialize()
    }

    private func processor(_ dir: URL, store: AuditStore) throws -> JobProcessor {
        var deidentifier = Deidentifier(profile: try Profile(options: []), uids: UIDRemapper(secret: testSecret))
        deidentifier.burnedIn = .off
        return JobProcessor(deidentifier: deidentifier, store: store, outputRoot: dir.appendingPathComponent("out"),
                            stagingRoot: dir.appendingPathComponent("staging"), workers: 2, qaRoot: dir.appendingPathComponent("qa"))
    }

    func testAMappedFolderIsDeliveredAndItsJobMovesThroughDelivering() throws {
        let dir = try temporaryDirectory()
        let patient = SyntheticPatient(seed: 17, index: 0)
        let study = try SyntheticStudy.writeSeries(patient: patient, slices: 4, rows: 32, columns: 32,
                                                   into: dir.appendingPathComponent("in/\(patient.accessionNumber)"))
        let store = try AuditStore(inMemory: ())
        try store.importMappings([(patient.accessionNumber, "DEID-0017", 2)], sourceSheet: "test.csv")
        let processor = try processor(dir, store: store)
        let folder = try PatientFolder(url: dir.appendingPathComponent("in/\(patient.accessionNumber)"), keepNames: false)
        let job = try processor.createJob(for: folder.url)
        let result = try processor.result(of: try processor.stage(folder, job: job), job: job, folder: folder)
        XCTAssertEqual(result.state, .delivered, result.reason?.text ?? "")
        XCTAssertEqual(result.delivered, study.files.count)
        XCTAssertEqual(try store.events(job: job).map(\.state), ["discovered", "processing", "delivering", "delivered"])
        let output = try XCTUnwrap(result.outputPath)
        XCTAssertTrue(output.hasPrefix("DEID-0017/"), output)
        let delivered = FileManager.default.enumerator(atPath: dir.appendingPathComponent("out/\(output)").path)?
            .compactMap { $0 as? String }.filter { $0.hasSuffix(".dcm") } ?? []
        XCTAssertEqual(delivered.count, study.files.count)
        XCTAssertFalse(FileManager.default.fileExists(atPath: processor.stagingFolder(job: job).path), "staging is cleared")
    }

    func testAFolderWithoutAMappingIsHeldAndNothingIsWritten() throws {
        let dir = try temporaryDirectory()
        let patient = SyntheticPatient(seed: 18, index: 0)
        _ = try SyntheticStudy.writeSeries(patient: patient, slices: 2, rows: 32, columns: 32,
                                           into: dir.appendingPathComponent("in/\(patient.accessionNumber)"))
        let store = try AuditStore(inMemory: ())
        let processor = try processor(dir, store: store)
        let folder = try PatientFolder(url: dir.appendingPathComponent("in/\(patient.accessionNumber)"), keepNames: false)
        let job = try processor.createJob(for: folder.url)
        let result = try processor.result(of: try processor.stage(folder, job: job), job: job, folder: folder)
        XCTAssertEqual(result.state, .held)
        XCTAssertEqual(result.reason, .noMapping(isUTF8: true))
        XCTAssertEqual(try store.job(job)?.reasonCode, .noMapping)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out").path))
    }

    /// A folder is listed once per pass and checked at its end: a file added (even a hidden one, in
    /// a subfolder), written or removed after the listing is seen without listing it again.
    func testAFolderChangedAfterItsListingIsSeen() throws {
        let dir = try temporaryDirectory()
        let patient = SyntheticPatient(seed: 19, index: 0)
        let url = dir.appendingPathComponent("in/\(patient.accessionNumber)")
        let study = try SyntheticStudy.writeSeries(patient: patient, slices: 3, rows: 32, columns: 32, into: url.appendingPathComponent("series"))
        let changes: [(String, (URL) throws -> Void)] = [
            ("a file added at the top", { try Data([1]).write(to: $0.appendingPathComponent("new.dcm")) }),
            ("a hidden file added in a subfolder", { try Data([1]).write(to: $0.appendingPathComponent("series/.tmp")) }),
            ("a file rewritten", { _ in try Data([1]).write(to: study.files[1]) }),
            ("a file removed", { _ in try FileManager.default.removeItem(at: study.files[0]) }),
            ("the folder removed", { try FileManager.default.removeItem(at: $0) }),
        ]
        for (what, change) in changes {
            let folder = try PatientFolder(url: url)
            XCTAssertFalse(folder.hasChanged(), "unchanged right after the listing (before: \(what))")
            usleep(10_000)
            try change(url)
            XCTAssertTrue(folder.hasChanged(), what)
        }
    }

    /// A file added while the job is staged: nothing is delivered or recorded as a verdict, and
    /// staging is cleared, so the folder settles and is processed again.
    func testAFolderThatChangesWhileItIsStagedIsNotDelivered() throws {
        let dir = try temporaryDirectory()
        let patient = SyntheticPatient(seed: 20, index: 0)
        let url = dir.appendingPathComponent("in/\(patient.accessionNumber)")
        _ = try SyntheticStudy.writeSeries(patient: patient, slices: 4, rows: 32, columns: 32, into: url)
        let store = try AuditStore(inMemory: ())
        try store.importMappings([(patient.accessionNumber, "DEID-0020", 2)], sourceSheet: "test.csv")
        let processor = try processor(dir, store: store)
        let folder = try PatientFolder(url: url)
        let job = try processor.createJob(for: url)
        let late = url.appendingPathComponent("late.dcm")
        let outcome = try processor.stage(folder, job: job, progress: {
            if !FileManager.default.fileExists(atPath: late.path) { try? Data([1]).write(to: late) }
        })
        guard case .changed = outcome else { return XCTFail("expected .changed, got \(outcome)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: processor.stagingFolder(job: job).path), "staging is cleared")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out/DEID-0020").path))
        XCTAssertEqual(try store.job(job)?.state, .processing, "no verdict recorded; the caller settles the folder again")
    }
}
