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
}
