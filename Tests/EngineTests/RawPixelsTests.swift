@testable import DICOM
@testable import Defacing
import Fixtures
import Foundation
import XCTest

/// The defacer's direct pixel reader against the toolkit: wherever it answers, it reads exactly
/// the values DCMTK decodes; where it cannot be sure, it declines and the toolkit is used.
final class RawPixelsTests: XCTestCase {
    override class func setUp() {
        try? DicomToolkit.initialize()
    }

    /// Values of the first frame via RawPixels, or nil where it declines.
    func raw(_ path: String, count: Int, reader: inout RawPixels) -> [UInt16]? {
        reader.read(path: path, count: count) { Array(UnsafeBufferPointer(start: $0, count: count)) }
    }

    func testSyntheticSeriesIsReadDirectlyAndExactly() throws {
        let dir = try temporaryDirectory()
        _ = try SampleInbox.write(to: dir.appendingPathComponent("inbox"), mappingCSV: dir.appendingPathComponent("m.csv"),
                                  patients: 1, slices: 12, size: 64, seed: 5)
        let files = try FileManager.default.subpathsOfDirectory(atPath: dir.appendingPathComponent("inbox").path)
            .map { dir.appendingPathComponent("inbox/" + $0).path }
            .filter { (try? DicomFile(path: $0)) != nil }
        XCTAssertEqual(files.count, 12)
        var reader = RawPixels()
        for path in files {
            let toolkit = try DicomFile(path: path).pixels16()
            XCTAssertEqual(raw(path, count: toolkit.count, reader: &reader), toolkit, path)
        }
    }

    func testSharedTestDataAgreesWithTheToolkit() throws {
        guard let testdata = sharedTestData else { throw XCTSkip("../shared/testdata is not on this machine") }
        var reader = RawPixels()
        var direct = 0, declined = 0
        let paths = (FileManager.default.enumerator(atPath: testdata.path)?.allObjects as? [String] ?? []).sorted()
        for relative in paths {
            let path = testdata.appendingPathComponent(relative).path
            guard let file = try? DicomFile(path: path), let frames = try? file.pixels16(), !frames.isEmpty,
                  file.dataset.uint16(.bitsAllocated) == 16 else { continue }
            // One frame: rows x columns (the reader serves single-frame slices).
            let plane = Int(file.dataset.uint16(.rows) ?? 0) * Int(file.dataset.uint16(.columns) ?? 0)
            guard plane > 0, plane <= frames.count else { continue }
            if let values = raw(path, count: plane, reader: &reader) {
                direct += 1
                XCTAssertEqual(values, Array(frames.prefix(plane)), relative)
            } else {
                declined += 1
            }
        }
        print("RawPixels: \(direct) files read directly, \(declined) left to the toolkit")
        XCTAssertGreaterThan(direct, 28, "the GE head series and the other uncompressed files")
        XCTAssertGreaterThan(declined, 0, "compressed files are left to the toolkit")
    }

    func testDeclinesWhatItDoesNotKnow() throws {
        let dir = try temporaryDirectory()
        var reader = RawPixels()
        let junk = dir.appendingPathComponent("junk").path
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: junk))
        XCTAssertNil(raw(junk, count: 16, reader: &reader), "no DICM preamble")
        XCTAssertNil(raw(dir.appendingPathComponent("missing").path, count: 16, reader: &reader))
        // A Part 10 file cut off inside its pixel data.
        _ = try SampleInbox.write(to: dir.appendingPathComponent("inbox"), mappingCSV: dir.appendingPathComponent("m.csv"),
                                  patients: 1, slices: 1, size: 64, seed: 6)
        let file = try XCTUnwrap(FileManager.default.subpathsOfDirectory(atPath: dir.appendingPathComponent("inbox").path)
            .map { dir.appendingPathComponent("inbox/" + $0).path }.first { (try? DicomFile(path: $0)) != nil })
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        let cut = dir.appendingPathComponent("cut").path
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: cut))
        XCTAssertNil(raw(cut, count: 64 * 64, reader: &reader), "truncated pixel data")
        XCTAssertNotNil(raw(file, count: 64 * 64, reader: &reader))
        XCTAssertNil(raw(file, count: 64 * 64 + 1, reader: &reader), "fewer values than asked for")
    }
}
