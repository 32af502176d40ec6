@testable import DICOM
import Foundation
import XCTest

/// JPEG 2000 through OpenJPEG: every stored value survives a lossless trip, and a file GDCM wrote in
/// JPEG 2000 (what a PACS export holds) is read frame by frame and written back losslessly in its
/// own syntax, or uncompressed when it was lossy.
final class JPEG2000CodecTests: XCTestCase {
    func testLosslessCodingKeepsEveryStoredValue() throws {
        var generator = SystemRandomNumberGenerator()
        let cases: [(width: Int, height: Int, precision: Int, signed: Bool, words: [UInt16])] = [
            // CT: 12 bits signed, two's complement in 16-bit words.
            (64, 48, 12, true, (0..<(64 * 48)).map { _ in UInt16(bitPattern: Int16.random(in: -2048...2047, using: &generator)) }),
            (33, 17, 16, false, (0..<(33 * 17)).map { _ in UInt16.random(in: 0...UInt16.max, using: &generator) }),
            (7, 5, 16, true, (0..<35).map { UInt16(bitPattern: Int16(truncatingIfNeeded: $0 * 1000 - 17000)) }),
            (1, 1, 8, false, [200]),
        ]
        for c in cases {
            let codestream = try JPEG2000Codec.encodeLossless(c.words, width: c.width, height: c.height, precision: c.precision, signed: c.signed)
            XCTAssertEqual(codestream.count % 2, 0, "a fragment is of even length")
            let decoded = try JPEG2000Codec.decode(codestream)
            XCTAssertTrue(decoded.words == c.words, "\(c.width)x\(c.height), \(c.precision) bits, signed \(c.signed): values changed")
            XCTAssertEqual(decoded.coding, .init(width: c.width, height: c.height, precision: c.precision, signed: c.signed, reversible: true))
        }
    }

    func testAValueOutsideThePrecisionWidensItInsteadOfBeingLost() throws {
        // An edit wrote 40000 into 12-bit unsigned data: kept exactly, the precision becomes 16.
        let words: [UInt16] = [0, 4095, 40000, 17]
        let decoded = try JPEG2000Codec.decode(try JPEG2000Codec.encodeLossless(words, width: 2, height: 2, precision: 12, signed: false))
        XCTAssertEqual(decoded.words, words)
        XCTAssertEqual(decoded.coding.precision, 16)
    }

    func testGarbageIsRefusedWithAReason() {
        XCTAssertThrowsError(try JPEG2000Codec.decode([UInt8](repeating: 0x55, count: 64))) { error in
            XCTAssertTrue((error as? DicomError)?.reason.contains("JPEG 2000") == true, "\(error)")
        }
    }

    /// The Enhanced CT (two 512x512 frames) as GDCM writes it in JPEG 2000, lossless and lossy.
    func testAMultiFrameFileGDCMWroteIsDecodedAndWrittenBackLosslessly() throws {
        guard let testdata = sharedTestData else { throw XCTSkip("../shared/testdata is not on this machine") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gdcmconv") else {
            throw XCTSkip("gdcmconv is missing (make deps installs Debian's libgdcm-tools)")
        }
        let dir = try temporaryDirectory()
        let original = testdata.appendingPathComponent("headct/enhanced_ct_multiframe/eCT_Supplemental.dcm").path
        let expected = try DicomFile(path: original, lazyThreshold: 0).pixels16()
        XCTAssertEqual(expected.count, 2 * 512 * 512)

        for (name, arguments, lossless) in [("j2kr", ["--j2k"], true), ("j2ki", ["--j2k", "--lossy", "-r", "5"], false)] {
            let compressed = dir.appendingPathComponent("\(name).dcm").path
            try gdcmconv(arguments + [original, compressed])
            let file = try DicomFile(path: compressed, lazyThreshold: 0)
            XCTAssertEqual(file.transferSyntax, lossless ? JPEG2000Codec.losslessOnly : JPEG2000Codec.lossyOrLossless)
            let decoded = try file.pixels16()
            if lossless {
                XCTAssertTrue(decoded == expected, "\(name): the frames do not decode to the stored values")
            } else {
                XCTAssertEqual(decoded.count, expected.count)
                XCTAssertEqual(file.dataset.string(Tag(0x0028, 0x2110)), "01", "\(name): gdcmconv wrote no lossy codestream")
            }
            // An edit in both frames: a corner set to 0.
            var edited = decoded
            for frame in 0..<2 { for i in 0..<(512 * 40) { edited[frame * 512 * 512 + i] = 0 } }
            XCTAssertEqual(try file.replacePixels16(edited), lossless, "\(name): lossless stays in its syntax, lossy does not")
            let written = dir.appendingPathComponent("\(name)-edited.dcm").path
            try file.save(to: written)
            let reread = try DicomFile(path: written, lazyThreshold: 0)
            XCTAssertEqual(reread.transferSyntax, lossless ? JPEG2000Codec.losslessOnly : "1.2.840.10008.1.2.1")
            // Decoded by GDCM, not by the product.
            let plain = dir.appendingPathComponent("\(name)-plain.dcm").path
            try gdcmconv(["--raw", written, plain])
            XCTAssertTrue(try DicomFile(path: plain, lazyThreshold: 0).pixels16() == edited, "\(name): what was written is not the edit")
        }
    }

    private func gdcmconv(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/gdcmconv")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "gdcmconv \(arguments)")
    }
}
