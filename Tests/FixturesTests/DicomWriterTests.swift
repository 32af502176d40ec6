import Foundation
import TestSupport
import XCTest
@testable import Fixtures

final class DicomWriterTests: XCTestCase {
    func bytes(_ d: Data) -> [UInt8] { [UInt8](d) }

    func testShortTextElementLayoutAndSpacePadding() throws {
        let d = try DicomWriter.encode([DicomElement(0x0010, 0x0010, .PN, "ABC")])
        XCTAssertEqual(bytes(d), [0x10, 0x00, 0x10, 0x00, 0x50, 0x4E, 0x04, 0x00, 0x41, 0x42, 0x43, 0x20])
    }

    func testUIPaddedWithNul() throws {
        let d = try DicomWriter.encode([DicomElement(0x0020, 0x000D, .UI, "1.2.3")])
        XCTAssertEqual(bytes(d), [0x20, 0x00, 0x0D, 0x00, 0x55, 0x49, 0x06, 0x00, 0x31, 0x2E, 0x32, 0x2E, 0x33, 0x00])
    }

    func testLongLengthVRsUseFourByteLength() throws {
        for vr in [DicomVR.OB, .OW, .UN, .UT] {
            let value: DicomValue = vr == .UT ? .text("XYZ") : .bytes(Data([1, 2, 3]))
            let d = try DicomWriter.encode([DicomElement(tag: DicomTag(0x0009, 0x1010), vr: vr, value: value)])
            let vrBytes = Array(vr.rawValue.utf8)
            let pad: UInt8 = vr == .UT ? 0x20 : 0x00
            let expectedValue: [UInt8] = vr == .UT ? [0x58, 0x59, 0x5A] : [1, 2, 3]
            XCTAssertEqual(bytes(d), [0x09, 0x00, 0x10, 0x10] + vrBytes + [0, 0, 4, 0, 0, 0] + expectedValue + [pad], "\(vr)")
        }
    }

    func testBinaryNumbersAreLittleEndian() throws {
        let d = try DicomWriter.encode([
            DicomElement(0x0028, 0x0010, .US, .uint16([512])),
            DicomElement(0x6000, 0x0050, .SS, .int16([-2, 1])),
            DicomElement(0x0002, 0x0000, .UL, .uint32([0x0102_0304])),
            DicomElement(0x0018, 0x9345, .FD, .float64([1.5])),
            DicomElement(0x0018, 0x9306, .FL, .float32([2.0])),
        ])
        let els = try MiniDicomReader.parseElements(d)
        XCTAssertEqual(els.map { $0.vr }, ["UL", "FL", "FD", "US", "SS"], "sorted by tag")
        XCTAssertEqual(bytes(els[0].value), [4, 3, 2, 1])
        XCTAssertEqual(bytes(els[1].value), [0, 0, 0, 0x40])
        XCTAssertEqual(bytes(els[2].value), [0, 0, 0, 0, 0, 0, 0xF8, 0x3F])
        XCTAssertEqual(bytes(els[3].value), [0x00, 0x02])
        XCTAssertEqual(bytes(els[4].value), [0xFE, 0xFF, 0x01, 0x00])
    }

    func testElementsAreSortedAndDuplicatesRejected() throws {
        let d = try DicomWriter.encode([
            DicomElement(0x0010, 0x0020, .LO, "B"),
            DicomElement(0x0008, 0x0060, .CS, "CT"),
            DicomElement(0x0010, 0x0010, .PN, "A"),
        ])
        let tags = try MiniDicomReader.parseElements(d).map { DicomTag($0.group, $0.element) }
        XCTAssertEqual(tags, [DicomTag(0x0008, 0x0060), DicomTag(0x0010, 0x0010), DicomTag(0x0010, 0x0020)])
        XCTAssertThrowsError(try DicomWriter.encode([DicomElement(0x0010, 0x0010, .PN, "A"), DicomElement(0x0010, 0x0010, .PN, "B")]))
        XCTAssertThrowsError(try DicomWriter.encode([DicomElement(0x0028, 0x0010, .US, .text("12"))]))
    }

    func testUndefinedLengthSequenceDelimiters() throws {
        let sq = DicomElement.sequence(0x0040, 0x0275, [[DicomElement(0x0040, 0x1001, .SH, "RP1")]], undefinedLength: true)
        let d = try DicomWriter.encode([sq])
        XCTAssertEqual(bytes(d), [
            0x40, 0x00, 0x75, 0x02, 0x53, 0x51, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, // (0040,0275) SQ, undefined
            0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF,                   // item, undefined
            0x40, 0x00, 0x01, 0x10, 0x53, 0x48, 0x04, 0x00, 0x52, 0x50, 0x31, 0x20, // (0040,1001) SH "RP1 "
            0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0,                               // item delimitation
            0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0,                               // sequence delimitation
        ])
    }

    func testDefinedLengthNestedSequence() throws {
        let inner = DicomElement.sequence(0x0040, 0xA043, [[DicomElement(0x0008, 0x0100, .SH, "X1")]])
        let outer = DicomElement.sequence(0x0040, 0x0440, [[DicomElement(0x0040, 0xA040, .CS, "PNAME"), inner], []])
        let d = try DicomWriter.encode([outer])
        let els = try MiniDicomReader.parseElements(d)
        XCTAssertEqual(els.count, 1)
        XCTAssertEqual(Int(els[0].rawLength), d.count - 12)
        XCTAssertEqual(els[0].items.count, 2)
        XCTAssertEqual(els[0].items[1].rawLength, 0)
        let item = els[0].items[0]
        XCTAssertFalse(item.undefinedLength)
        XCTAssertEqual(item.first(0x0040, 0xA040)?.trimmed, "PNAME")
        XCTAssertEqual(item.first(0x0040, 0xA043)?.items.first?.first(0x0008, 0x0100)?.trimmed, "X1")
    }

    func testLatin1BytesAndEmptyValue() throws {
        let d = try DicomWriter.encode([
            DicomElement(tag: DicomTag(0x0010, 0x0010), vr: .PN, value: .latin1("MÜ^JÖ")),
            DicomElement(0x0020, 0x1040, .LO, .empty),
        ])
        XCTAssertEqual(bytes(d), [0x10, 0x00, 0x10, 0x00, 0x50, 0x4E, 0x06, 0x00, 0x4D, 0xDC, 0x5E, 0x4A, 0xD6, 0x20,
                                  0x20, 0x00, 0x40, 0x10, 0x4C, 0x4F, 0x00, 0x00])
    }

    func testPart10PreambleMetaAndGroupLength() throws {
        let meta = DicomWriter.fileMeta(sopClassUID: "1.2.840.10008.5.1.4.1.1.2", sopInstanceUID: "1.2.3.4",
                                        implementationClassUID: "1.2.3.9", implementationVersionName: "V1",
                                        sourceAETitle: "AE_SRC")
        let file = try DicomWriter.part10(preamble: Data("HELLO".utf8), meta: meta,
                                          dataset: [DicomElement(0x0010, 0x0010, .PN, "A^B")])
        let p = try MiniDicomReader.parseFile(file)
        XCTAssertEqual(p.preamble.prefix(5), Data("HELLO".utf8))
        XCTAssertEqual(p.preamble.count, 128)
        XCTAssertEqual(p.meta.first?.group, 0x0002)
        XCTAssertEqual(p.meta.first?.element, 0x0000)
        XCTAssertEqual(p.meta.first?.vr, "UL")
        let gl = p.meta[0].value
        XCTAssertEqual(Int(UInt32(gl[0]) | UInt32(gl[1]) << 8 | UInt32(gl[2]) << 16 | UInt32(gl[3]) << 24), p.metaBodyLength)
        XCTAssertEqual(p.meta.first { $0.element == 0x0010 }?.trimmed, DicomWriter.explicitVRLittleEndian)
        XCTAssertEqual(p.meta.first { $0.element == 0x0016 }?.trimmed, "AE_SRC")
        XCTAssertEqual(p.dataset.first(0x0010, 0x0010)?.trimmed, "A^B")
        XCTAssertThrowsError(try DicomWriter.part10(meta: meta, dataset: [DicomElement(0x0002, 0x0003, .UI, "1.2")]))
    }

    func testDecimalStringsFitSixteenCharacters() {
        for v in [0.5, -127.75, 200.0 / 3.0, -66.66666666666667, 1e-7, 123456.789012345, 2.56] {
            let s = DicomText.ds(v)
            XCTAssertLessThanOrEqual(s.count, 16, s)
            XCTAssertEqual(Double(s), DicomText.dsRoundTrip(v))
            XCTAssertEqual(DicomText.ds(DicomText.dsRoundTrip(v)), s, "stable")
        }
        XCTAssertEqual(DicomText.ds(-127.75), "-127.75")
        XCTAssertEqual(DicomText.ds(256), "256")
    }
}
