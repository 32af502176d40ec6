import DICOM
import Defacing
import Deidentification
import Foundation
import XCTest

/// Inputs found by the fuzz target (Sources/FuzzDeidentify, `make fuzz`), minimised or rebuilt by
/// hand, each run through the same per-file path: load, checks, pixel round trip, de-identify, save,
/// load the output again. A regression is a trap or a sanitizer report, not a failed assertion.
final class FuzzRegressionTests: XCTestCase {
    override class func setUp() {
        try! DicomToolkit.initialize()
    }

    /// The fuzz target's path for one input (keep in step with Sources/FuzzDeidentify/main.swift).
    /// Returns the load error, nil when the file loaded.
    @discardableResult
    func runPerFilePath(_ bytes: [UInt8], lazyThreshold: UInt32 = 1024,
                        file: StaticString = #filePath, line: UInt = #line) throws -> DicomError? {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("input.dcm").path, output = dir.appendingPathComponent("output.dcm").path
        try Data(bytes).write(to: URL(fileURLWithPath: input))
        let dicom: DicomFile
        do {
            dicom = try DicomFile(path: input, lazyThreshold: lazyThreshold)
        } catch {
            return error
        }
        var deidentifier = Deidentifier(profile: try Profile(options: ProfileOption.defaults), uids: UIDRemapper(secret: testSecret))
        deidentifier.blankLocalizers = true
        if deidentifier.quarantineReason(for: dicom) != nil { return nil }
        var defaced = false
        if dicom.dataset.elements.contains(where: { $0.tag == .pixelData }) {
            let header = SliceHeader(dicom.dataset, sopClass: dicom.dataset.string(.sopClassUID) ?? "")
            if var values = try? dicom.pixels16() {
                for index in 0..<min(values.count, max(1, header.columns) * max(1, header.rows) / 4) { values[index] = 0 }
                _ = try? dicom.replacePixels16(values)
                defaced = true
            }
        }
        deidentifier.apply(to: dicom, patient: PatientContext(deidentificationID: "FUZZ-0001", dateShifter: DateShifter(days: -400)),
                           defaced: defaced)
        if (try? dicom.save(to: output)) != nil {
            XCTAssertNoThrow(try DicomFile(path: output, lazyThreshold: 0), "the output of a loadable input loads", file: file, line: line)
        }
        return nil
    }

    /// Found by the fuzzer: in a deflated dataset DCMTK cannot see how many bytes remain, so it
    /// allocates a value's declared length (here 0xF0000000) before reading it. The input must be
    /// refused as unreadable, whether or not the allocation succeeds (ASan refuses it with NULL
    /// under `make fuzz`), and must not keep gigabytes: nothing beyond the real bytes is touched.
    func testDeflatedValueClaimingGigabytesIsUnreadable() throws {
        // Preamble, "DICM", a file meta naming Deflated Explicit VR Little Endian, then a raw deflate
        // stream of (0008,0016) UI CT Image Storage and (0009,1010) UN of length 0xF0000000 + 4 bytes.
        let body = Data(base64Encoded: """
            AgAAAFVMBABeAAAAAgABAE9CAAACAAAAAAECAAIAVUkaADEuMi44NDAuMTAwMDguNS4xLjQuMS4xLjIAAgADAFVJCAAxLjIuMy40AAIA\
            EABVSRYAMS4yLjg0MC4xMDAwOC4xLjIuMS45OeNgEGMI9ZRiMNQz0rMwMdAzNDAwsNAz1TPUMwFioCgDJ4OAQKgfAwh8KEnMzAEA
            """)!
        let error = try runPerFilePath([UInt8](repeating: 0, count: 128) + Array("DICM".utf8) + [UInt8](body))
        XCTAssertNotNil(error, "a value longer than the stream is a read error")
    }

    /// Found by the fuzzer: DCMTK pads an odd-length OB/OW/UN value to even length when it loads it,
    /// but a value left on disk (longer than the lazy threshold) is loaded only while it is written,
    /// after the explicit lengths of the sequence items around it were computed. The saved file then
    /// declared items one byte shorter than their content and nothing could read it back.
    func testOddLengthValueLeftOnDiskInsideASequenceItemIsWrittenReadably() throws {
        for (length, threshold) in [(1025, UInt32(1024)), (64 * 1024 + 1, UInt32(64 * 1024))] {
            let item = Self.element(0x0008, 0x0100, "SH", Array("CODE01".utf8))
                + Self.element(0x1008, 0x3200, "UN", [UInt8](repeating: 0x41, count: length))
            let sequence = Self.element(0x0008, 0x1032, "SQ", [0xFE, 0xFF, 0x00, 0xE0] + Self.uint32(UInt32(item.count)) + item)
            let dataset = Self.element(0x0008, 0x0016, "UI", Array("1.2.840.10008.5.1.4.1.1.2\0".utf8))
                + Self.element(0x0008, 0x0018, "UI", Array("1.2.3.4.5".utf8) + [0]) + Self.element(0x0008, 0x0060, "CS", Array("CT".utf8))
                + sequence
            XCTAssertNil(try runPerFilePath(Self.part10(dataset), lazyThreshold: threshold), "the input loads")
        }
    }

    // MARK: bytes by hand (Fixtures' writer pads every value, which would hide the odd lengths)

    static func uint32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }

    /// One Explicit VR Little Endian element, its value written as given (odd lengths stay odd).
    static func element(_ group: UInt16, _ element: UInt16, _ vr: String, _ value: [UInt8]) -> [UInt8] {
        var bytes = withUnsafeBytes(of: group.littleEndian, Array.init) + withUnsafeBytes(of: element.littleEndian, Array.init)
        bytes += Array(vr.utf8)
        if ["OB", "OW", "UN", "UT", "SQ"].contains(vr) {
            bytes += [0, 0] + uint32(UInt32(value.count))
        } else {
            bytes += withUnsafeBytes(of: UInt16(value.count).littleEndian, Array.init)
        }
        return bytes + value
    }

    /// Preamble, "DICM" and a file meta for Explicit VR Little Endian, then the dataset.
    static func part10(_ dataset: [UInt8]) -> [UInt8] {
        let meta = element(0x0002, 0x0001, "OB", [0, 1]) + element(0x0002, 0x0002, "UI", Array("1.2.840.10008.5.1.4.1.1.2\0".utf8))
            + element(0x0002, 0x0003, "UI", Array("1.2.3.4.5".utf8) + [0]) + element(0x0002, 0x0010, "UI", Array("1.2.840.10008.1.2.1".utf8) + [0])
        return [UInt8](repeating: 0, count: 128) + Array("DICM".utf8) + element(0x0002, 0x0000, "UL", uint32(UInt32(meta.count))) + meta + dataset
    }
}
