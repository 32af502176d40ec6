@testable import DICOM
@testable import Deidentification
import XCTest

/// MR and PET series are judged by what their header says about the part of the body they show.
final class BodyRegionTests: XCTestCase {
    override class func setUp() {
        try? DicomToolkit.initialize()
    }

    private func region(_ values: [(UInt16, UInt16, String, String)]) -> BodyRegion {
        let file = DicomFile()
        for (group, element, vr, value) in values { file.dataset.put(Tag(group, element), value, vr: vr) }
        return BodyRegion(file.dataset)
    }

    func testTheHeadIsNamedInAnyFieldAndAnyOfTheCommonLanguages() {
        XCTAssertEqual(region([(0x0018, 0x0015, "CS", "HEAD")]), .head("BodyPartExamined"))
        XCTAssertEqual(region([(0x0008, 0x1030, "LO", "MRI BRAIN W/WO CONTRAST")]), .head("StudyDescription"))
        XCTAssertEqual(region([(0x0008, 0x103E, "LO", "t1_mprage_sag_p2_iso")]), .head("SeriesDescription"))
        XCTAssertEqual(region([(0x0008, 0x1030, "LO", "MRT Schädel nativ")]), .head("StudyDescription"))
        XCTAssertEqual(region([(0x0008, 0x1030, "LO", "IRM CÉRÉBRALE")]), .head("StudyDescription"))
        XCTAssertEqual(region([(0x0018, 0x1030, "LO", "PET WHOLE BODY FDG")]), .head("ProtocolName"))
        XCTAssertEqual(region([(0x0008, 0x1030, "LO", "PET/CT SKULL BASE TO MID THIGH")]), .head("StudyDescription"))
        // A head word wins over any other region named beside it.
        XCTAssertEqual(region([(0x0018, 0x0015, "CS", "ABDOMEN"), (0x0008, 0x103E, "LO", "NECK AXIAL T2")]), .head("SeriesDescription"))
    }

    func testOtherRegionsAndHeadersThatNameNone() {
        XCTAssertEqual(region([(0x0008, 0x1030, "LO", "MRI ABDOMEN PELVIS WWO CONT")]), .elsewhere)
        XCTAssertEqual(region([(0x0018, 0x0015, "CS", "KNEE"), (0x0008, 0x103E, "LO", "PD FS SAG")]), .elsewhere)
        XCTAssertEqual(region([(0x0008, 0x103E, "LO", "T2 TSE AX")]), .unnamed)
        XCTAssertEqual(region([]), .unnamed)
        // The cervical spine shows the jaw and often the face: not a region away from the head.
        XCTAssertEqual(region([(0x0008, 0x1030, "LO", "MR CERVICAL SPINE")]), .unnamed)
        XCTAssertEqual(BodyRegion.of([.elsewhere, .unnamed, .head("ProtocolName")]), .head("ProtocolName"))
        XCTAssertEqual(BodyRegion.of([.unnamed, .elsewhere]), .elsewhere)
        XCTAssertEqual(BodyRegion.of([.unnamed]), .unnamed)
    }
}
