import DICOM
import Fixtures
import Foundation
import XCTest

/// MR and PET series are not defaced: a series of the head, or one whose header names no part of
/// the body, is held (`face-not-removed`) unless the site chooses to deliver it with its face,
/// declared by RecognizableVisualFeatures=YES. A series of another region is delivered.
final class UndefacedHeadsTests: XCTestCase {
    /// Three MR series of four slices, one per folder: the head, the abdomen, and one whose header
    /// names no region.
    private func inbox(in dir: URL) throws -> (inbox: URL, mapping: URL) {
        let inbox = dir.appendingPathComponent("inbox")
        var rows = ["Accession_number,De-identification_ID"]
        for (accession, part) in [("MRHEAD1", "HEAD"), ("MRABD1", "ABDOMEN"), ("MRNONE1", "")] {
            var series = BurnedInTextSeries(modality: .mr, slices: 4, rows: 128, columns: 128, accessionNumber: accession)
            series.bodyPart = part
            let folder = inbox.appendingPathComponent(accession)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for k in 0..<series.slices {
                try series.fileBytes(slice: k).write(to: folder.appendingPathComponent("IM\(k).dcm"))
            }
            rows.append("\(accession),DEID-\(accession)")
        }
        let mapping = dir.appendingPathComponent("mapping.csv")
        try rows.joined(separator: "\n").write(to: mapping, atomically: true, encoding: .utf8)
        return (inbox, mapping)
    }

    private func run(_ dir: URL, _ extra: [String]) throws -> (output: URL, database: String) {
        let (inbox, mapping) = try inbox(in: dir)
        let output = dir.appendingPathComponent("out"), database = dir.appendingPathComponent("db.sqlite").path
        let result = try runCTDeid(["run", "--input", inbox.path, "--output", output.path, "--mapping", mapping.path,
                                    "--database", database, "--quiet"] + extra)
        XCTAssertFalse(result.crashed, result.stderr)
        XCTAssertTrue([0, 1].contains(result.status), result.stdout + result.stderr)
        return (output, database)
    }

    /// Per folder: how many files were delivered, how many quarantined face-not-removed.
    private func outcomes(_ database: String) throws -> [String: (delivered: Int, held: Int)] {
        var result: [String: (delivered: Int, held: Int)] = [:]
        for row in try sqlite(database, "SELECT j.folder, sum(f.outcome = 'delivered'), sum(f.reason LIKE 'face-not-removed:%') FROM files f JOIN jobs j ON j.id = f.job_id GROUP BY j.folder") {
            result[row[0]] = (Int(row[1]) ?? -1, Int(row[2]) ?? -1)
        }
        return result
    }

    private func recognizable(_ output: URL, _ id: String) throws -> [String?] {
        try regularFiles(under: output.appendingPathComponent(id)).map { try DicomFile(path: $0.path).dataset.string(.recognizableVisualFeatures) }
    }

    func testMRHeadsAreHeldByDefaultAndOtherRegionsDelivered() throws {
        let dir = try temporaryDirectory()
        let (output, database) = try run(dir, [])
        let seen = try outcomes(database)
        XCTAssertEqual(seen["MRHEAD1"]?.held, 4)
        XCTAssertEqual(seen["MRHEAD1"]?.delivered, 0)
        XCTAssertEqual(seen["MRNONE1"]?.held, 4, "a header that names no region may be a head's")
        XCTAssertEqual(seen["MRABD1"]?.delivered, 4)
        XCTAssertEqual(try recognizable(output, "DEID-MRABD1"), [nil, nil, nil, nil])
        // The series table says why, naming the attribute and never its value.
        let series = try sqlite(database, "SELECT verdict, reason FROM series ORDER BY job_id")
        XCTAssertTrue(series.contains { $0[0] == "quarantined" && $0[1].hasPrefix("MR series of the head (by its BodyPartExamined)") }, "\(series)")
        XCTAssertTrue(series.contains { $0[0] == "metadata-only" && $0[1].hasPrefix("MR series of a region away from the head") }, "\(series)")
        XCTAssertFalse(regularFiles(under: output).contains { $0.path.contains("DEID-MRHEAD1") })
    }

    func testASiteMayDeliverThemWithTheirFaceDeclared() throws {
        let dir = try temporaryDirectory()
        let (output, database) = try run(dir, ["--undefaced-heads", "deliver"])
        let seen = try outcomes(database)
        XCTAssertEqual(seen["MRHEAD1"]?.delivered, 4)
        XCTAssertEqual(seen["MRNONE1"]?.delivered, 4)
        XCTAssertEqual(try recognizable(output, "DEID-MRHEAD1"), ["YES", "YES", "YES", "YES"])
        XCTAssertEqual(try recognizable(output, "DEID-MRABD1"), [nil, nil, nil, nil])
        XCTAssertEqual(try sqlite(database, "SELECT count(*) FROM series WHERE verdict = 'face-kept'").first?.first, "2")

        // With face removal off, nothing is judged by its face: every series is delivered as it is.
        let off = try temporaryDirectory()
        let (_, offDatabase) = try run(off, ["--deface", "off"])
        XCTAssertEqual(try outcomes(offDatabase)["MRHEAD1"]?.delivered, 4)
    }
}
