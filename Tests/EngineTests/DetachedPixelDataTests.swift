@testable import DICOM
@testable import Deidentification
@testable import Platform
import Fixtures
import Foundation
import XCTest

/// The fast path (header parsed from memory, pixel data copied input -> output by the kernel) must
/// write exactly the bytes DCMTK writes when it loads and saves the whole file, and must step
/// aside for every file it cannot copy verbatim.
final class DetachedPixelDataTests: XCTestCase {
    override class func setUp() {
        try! DicomToolkit.initialize()
    }

    /// De-identifies `path` twice, through DCMTK alone and through the fast path; returns both
    /// outputs and whether the fast path detached the pixel data.
    func bothWays(_ path: URL, in dir: URL) throws -> (full: Data, fast: Data, detached: Bool) {
        let deidentifier = Deidentifier(profile: try Profile(options: [.modifiedDates]), uids: UIDRemapper(secret: testSecret))
        let patient = PatientContext(deidentificationID: "DEID-0001", dateShifter: DateShifter(days: -100))
        let full = try DicomFile(path: path.path, lazyThreshold: 64 * 1024)
        XCTAssertNil(deidentifier.quarantineReason(for: full))
        deidentifier.apply(to: full, patient: patient)
        let fullURL = dir.appendingPathComponent("full.dcm")
        try full.save(to: fullURL.path)

        let input = try InputFile(path: path.path)
        let parsed = try input.parse()
        let fast = try parsed ?? DicomFile(path: path.path, lazyThreshold: 64 * 1024)
        XCTAssertNil(deidentifier.quarantineReason(for: fast))
        XCTAssertEqual(fast.pixelDataLength, full.pixelDataLength)
        deidentifier.apply(to: fast, patient: patient)
        let fastURL = dir.appendingPathComponent("fast.dcm")
        let written = try fast.save(to: fastURL.path)
        let fastData = try Data(contentsOf: fastURL)
        if parsed?.detachedPixels != nil {
            // The audit records this hash and size for the output: they must be the file's.
            let written = try XCTUnwrap(written, "a detached save reports what it wrote")
            XCTAssertEqual(written.sha256, sha256Hex(fastData))
            XCTAssertEqual(written.size, fastData.count)
        }
        // The input's pixel data was hashed as it was written: the input's hash must still be the file's.
        XCTAssertEqual(input.sha256, try sha256Hex(Data(contentsOf: path)))
        return (try Data(contentsOf: fullURL), fastData, parsed?.detachedPixels != nil)
    }

    func sha256Hex(_ data: Data) -> String {
        sha256Hex(bytes: [UInt8](data))
    }

    func sha256Hex(bytes: [UInt8]) -> String {
        let dir = try! temporaryDirectory()
        let url = dir.appendingPathComponent("h")
        try! Data(bytes).write(to: url)
        return Platform.sha256(ofFile: url.path)!
    }

    func slice(in dir: URL) throws -> URL {
        let study = try SyntheticStudy.writeSeries(patient: SyntheticPatient(seed: 11, index: 0), slices: 2, rows: 64, columns: 64,
                                                   into: dir.appendingPathComponent("patient"))
        return study.files[0]
    }

    func convert(_ input: URL, _ tool: String, _ arguments: [String], to name: String, in dir: URL) throws -> URL? {
        let path = "/usr/bin/" + tool
        guard FileManager.default.isExecutableFile(atPath: path) else { return nil }
        let output = dir.appendingPathComponent(name)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments + [input.path, output.path]
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "\(tool) \(arguments)")
        return output
    }

    func testExplicitLittleEndianIsCopiedVerbatim() throws {
        let dir = try temporaryDirectory()
        let result = try bothWays(try slice(in: dir), in: dir)
        XCTAssertTrue(result.detached)
        XCTAssertEqual(result.fast, result.full)
        XCTAssertEqual(result.fast.prefix(128), Data(count: 128), "the preamble is zeroed")
    }

    func testImplicitAndRLEAreCopiedVerbatim() throws {
        let dir = try temporaryDirectory()
        let source = try slice(in: dir)
        for (tool, arguments, name) in [("dcmconv", ["+ti"], "implicit.dcm"), ("dcmcrle", [], "rle.dcm")] {
            guard let converted = try convert(source, tool, arguments, to: name, in: dir) else { continue }
            let out = dir.appendingPathComponent(name + ".out")
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            let result = try bothWays(converted, in: out)
            XCTAssertTrue(result.detached, name)
            XCTAssertEqual(result.fast, result.full, name)
        }
    }

    /// Big endian, and anything after the pixel data (here dataset trailing padding, which could as
    /// well be a private element), goes through DCMTK as a whole.
    func testFilesThatCannotBeCopiedVerbatimFallBack() throws {
        let dir = try temporaryDirectory()
        let source = try slice(in: dir)
        for (arguments, name) in [(["+tb"], "big.dcm"), (["+p", "512", "0"], "padded.dcm")] {
            guard let converted = try convert(source, "dcmconv", arguments, to: name, in: dir) else { continue }
            let out = dir.appendingPathComponent(name + ".out")
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            let result = try bothWays(converted, in: out)
            XCTAssertFalse(result.detached, name)
            XCTAssertEqual(result.fast, result.full, name)
        }
    }

    /// The input's hash asked for before the write (all of it hashed at once) leaves the write and
    /// both hashes as they would be otherwise.
    func testInputHashTakenBeforeTheWriteChangesNothing() throws {
        let dir = try temporaryDirectory()
        let path = try slice(in: dir)
        let input = try InputFile(path: path.path)
        let parsed = try XCTUnwrap(try input.parse())
        XCTAssertNotNil(parsed.detachedPixels)
        XCTAssertEqual(input.sha256, try sha256Hex(Data(contentsOf: path)))
        let out = dir.appendingPathComponent("out.dcm")
        let written = try XCTUnwrap(try parsed.save(to: out.path))
        XCTAssertEqual(written.sha256, try sha256Hex(Data(contentsOf: out)))
        XCTAssertEqual(input.sha256, try sha256Hex(Data(contentsOf: path)))
    }

    /// Pixels edited in place (a face removed) are written edited, and the audit's hashes are still
    /// the files': the input's as read (its value kept and hashed in step with the output), the
    /// output's as written; also when the input's hash is asked for before the write.
    func testPixelsEditedInPlaceKeepTheInputsHash() throws {
        for hashFirst in [false, true] {
            let dir = try temporaryDirectory()
            let path = try slice(in: dir)
            let input = try InputFile(path: path.path)
            let parsed = try XCTUnwrap(try input.parse())
            XCTAssertNotNil(parsed.detachedPixels)
            let edited = input.editNativePixels { bytes -> Int in
                for offset in stride(from: 0, to: bytes.count, by: 7) { bytes[offset] ^= 0x5A }
                return bytes.count
            }
            let count = try XCTUnwrap(edited)
            if hashFirst { XCTAssertEqual(input.sha256, try sha256Hex(Data(contentsOf: path))) }
            let out = dir.appendingPathComponent("out.dcm")
            let written = try XCTUnwrap(try parsed.save(to: out.path))
            let output = try Data(contentsOf: out), original = try Data(contentsOf: path)
            XCTAssertEqual(written.sha256, sha256Hex(output), "hash first: \(hashFirst)")
            XCTAssertEqual(input.sha256, sha256Hex(original), "hash first: \(hashFirst)")
            // The edit is in what was written, and only there.
            let outputPixels = [UInt8](output.suffix(count)), inputPixels = [UInt8](original.suffix(count))
            XCTAssertTrue(zip(outputPixels, inputPixels).enumerated().allSatisfy { offset, pair in
                pair.0 == (offset % 7 == 0 ? pair.1 ^ 0x5A : pair.1)
            })
        }
    }

    /// An element hidden after the pixel data must never ride along as "pixel data".
    func testTrailingElementAfterPixelDataIsNotCopied() throws {
        let dir = try temporaryDirectory()
        var bytes = try Data(contentsOf: try slice(in: dir))
        // (0019,0010) LO "X" private creator after the pixel data: a tail the fast path must not copy.
        bytes.append(contentsOf: [0xFF, 0xFF, 0x10, 0x00, 0x4C, 0x4F, 0x04, 0x00] + Array("NAME".utf8))
        let url = dir.appendingPathComponent("tail.dcm")
        try bytes.write(to: url)
        let input = try InputFile(path: url.path)
        if let parsed = try? input.parse() {
            XCTAssertNil(parsed.detachedPixels)
        }
    }

    func testAFileWithoutPixelDataIsParsedWhole() throws {
        let dir = try temporaryDirectory()
        let file = DicomFile()
        file.dataset.put(.sopClassUID, "1.2.840.10008.5.1.4.1.1.2")
        file.dataset.put(.sopInstanceUID, "1.2.3.4")
        file.meta.put(Tag(0x0002, 0x0002), "1.2.840.10008.5.1.4.1.1.2")
        let url = dir.appendingPathComponent("nopixels.dcm")
        try file.save(to: url.path)
        let parsed = try XCTUnwrap(try InputFile(path: url.path).parse())
        XCTAssertNil(parsed.detachedPixels)
        XCTAssertNil(parsed.pixelDataLength)
        XCTAssertEqual(parsed.dataset.string(.sopInstanceUID), "1.2.3.4")
    }

    /// Lookups start from where the last one ended (the walk goes in tag order); any order, and
    /// lookups after removals and insertions, must still find exactly what is there.
    func testElementLookupsInAnyOrderFindWhatIsThere() throws {
        let file = DicomFile()
        let item = file.dataset
        let tags = (0..<40).map { Tag(0x0008 + UInt16($0 / 10) * 2, 0x0010 + UInt16($0 % 10) * 2) }
        for (index, tag) in tags.enumerated().reversed() { item.put(tag, "V\(index)", vr: "LO") }
        var present = Dictionary(uniqueKeysWithValues: tags.enumerated().map { ($1, "V\($0)") })
        var generator = SystemRandomNumberGenerator()
        for round in 0..<200 {
            let tag = tags.randomElement(using: &generator)!
            let missing = Tag(tag.group, tag.element + 1)  // between two present tags, never present
            XCTAssertNil(item.string(missing), "round \(round): \(missing)")
            XCTAssertEqual(item.string(tag), present[tag], "round \(round): \(tag)")
            switch round % 3 {
            case 0:
                XCTAssertEqual(item.remove(tag), present[tag] != nil)
                present[tag] = nil
            case 1:
                item.put(tag, "R\(round)", vr: "LO")
                present[tag] = "R\(round)"
            default:
                break
            }
        }
        XCTAssertEqual(item.elements.map(\.tag), present.keys.sorted(), "elements listed once each, in tag order")
        for tag in tags { XCTAssertEqual(item.string(tag), present[tag]) }
        XCTAssertNil(item.string(Tag(0x0001, 0x0000)))
        XCTAssertNil(item.string(Tag(0xFFFC, 0xFFFC)))
    }

    func testNotPart10IsRefused() throws {
        let dir = try temporaryDirectory()
        let url = dir.appendingPathComponent("raw.dcm")
        try Data(repeating: 0x41, count: 300).write(to: url)
        XCTAssertThrowsError(try InputFile(path: url.path).parse())
    }
}
