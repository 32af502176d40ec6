@testable import Engine
import Fixtures
import Foundation
import XCTest

/// The pixel stage on one file, with real Tesseract: masking, the quarantine policy, and the residual
/// check that keeps an image whose text could not be masked from being delivered.
final class TextMaskTests: XCTestCase {
    override class func setUp() {
        try? DicomToolkit.initialize()
    }

    private func slice(with placements: [TextPlacement]) throws -> String {
        let series = BurnedInTextSeries(modality: .ct, slices: 1, rows: 256, columns: 256, accessionNumber: "UNIT1")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ctdeid-textmask-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("IM.dcm").path
        try series.fileBytes(slice: 0, placements: placements).write(to: URL(fileURLWithPath: path))
        return path
    }

    private let overlay = [TextPlacement("NAME: DOE^JANE\nID: 12345678", x: 10, y: 10, height: 12)]

    func testTextIsMaskedAndTheMaskedFrameIsCheckedAgain() throws {
        let path = try slice(with: overlay)
        var file = try DicomFile(path: path)
        let result = FilePixels.process(&file, input: nil, path: path, face: nil, text: .mask)
        XCTAssertNil(result.quarantine)
        XCTAssertFalse(result.masked.isEmpty)
        XCTAssertTrue(result.masked.allSatisfy { $0.box.x0 < 120 && $0.box.y0 < 50 }, "\(result.masked)")
    }

    func testAnImageTheMaskCannotCleanIsQuarantinedAsResidual() throws {
        let path = try slice(with: overlay)
        var file = try DicomFile(path: path)
        // A mask that leaves the pixels as they were: the check after masking still finds the text.
        let result = FilePixels.process(&file, input: nil, path: path, face: nil, text: .mask, masking: { _, _, _ in })
        XCTAssertEqual(result.quarantine, .burnedInTextResidual)
        XCTAssertEqual(result.quarantine?.code, "burned-in-text-residual")
    }

    func testQuarantinePolicyAndTextFreeSlices() throws {
        let path = try slice(with: overlay)
        var file = try DicomFile(path: path)
        XCTAssertEqual(FilePixels.process(&file, input: nil, path: path, face: nil, text: .quarantine).quarantine?.code, "burned-in-text")
        let clean = try slice(with: [])
        var cleanFile = try DicomFile(path: clean)
        let result = FilePixels.process(&cleanFile, input: nil, path: clean, face: nil, text: .mask)
        XCTAssertNil(result.quarantine)
        XCTAssertTrue(result.masked.isEmpty)
    }

    func testTheScreenFindsRowsOfStrokesInBothPolaritiesAndTurnedText() throws {
        let series = BurnedInTextSeries(modality: .ct, slices: 1, rows: 256, columns: 256, accessionNumber: "UNIT2")
        for placement in [TextPlacement("ST MARY HOSPITAL", x: 20, y: 20, height: 10),
                          TextPlacement("ST MARY HOSPITAL", x: 60, y: 120, height: 12, polarity: .dark),
                          TextPlacement("ST MARY HOSPITAL", x: 220, y: 40, height: 10, rotated: true)] {
            let (values, placed) = series.slice(0, placements: [placement])
            let frame = Frame(width: 256, height: 256, values: values.map { Int32(Int16(bitPattern: $0)) })
            let box = placed[0].box
            let found = TextScreen.candidates(in: frame).filter {
                $0.box.x0 <= box.x1 && box.x0 < $0.box.x1 && $0.box.y0 <= box.y1 && box.y0 < $0.box.y1
            }
            XCTAssertFalse(found.isEmpty, "no candidate over \(placement.lines) (\(placement.polarity), rotated \(placement.rotated))")
            XCTAssertTrue(found.contains { $0.vertical == placement.rotated }, "\(found)")
        }
    }
}
