import DICOM
import Fixtures
import Foundation
import XCTest

/// An Enhanced CT head (one multi-frame object, geometry in its functional groups) is defaced like
/// the same slices sent as single-frame images. The object is built here from the real GE head CT:
/// its slices as frames, in reverse order (a volume is ordered by position, not frame number).
final class EnhancedCTTests: XCTestCase {
    func testAnEnhancedCTHeadIsDefacedExactlyLikeItsSingleFrameSlices() throws {
        guard let testdata = sharedTestData else { throw XCTSkip("../shared/testdata is not on this machine") }
        let dir = try temporaryDirectory()
        let inbox = dir.appendingPathComponent("inbox")
        let single = inbox.appendingPathComponent("GESINGLE")
        try FileManager.default.createDirectory(at: inbox, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: testdata.appendingPathComponent("headct/ge_hispeed_human_tilt18"), to: single)
        for other in regularFiles(under: single) where other.pathExtension != "dcm" { try FileManager.default.removeItem(at: other) }
        let slices = regularFiles(under: single)
        let multi = inbox.appendingPathComponent("GEMULTI")
        try FileManager.default.createDirectory(at: multi, withIntermediateDirectories: true)
        let order = try Self.writeEnhancedCT(from: slices.reversed(), to: multi.appendingPathComponent("enhanced.dcm"))

        let mapping = dir.appendingPathComponent("m.csv")
        try "Accession_number,De-identification_ID\nGESINGLE,OUT-SINGLE\nGEMULTI,OUT-MULTI\n"
            .write(to: mapping, atomically: true, encoding: .utf8)
        let database = dir.appendingPathComponent("db.sqlite").path
        let output = dir.appendingPathComponent("out")
        let result = try runCTDeid(["run", "--input", inbox.path, "--output", output.path, "--mapping", mapping.path,
                                    "--database", database, "--quiet"])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        func series(_ folder: String) throws -> [String] {
            try sqlite(database, "SELECT s.verdict, s.voxels_removed, coalesce(s.reason, '') FROM series s JOIN jobs j ON j.id = s.job_id WHERE j.folder = '\(folder)'").first ?? []
        }
        let one = try series("GESINGLE"), many = try series("GEMULTI")
        XCTAssertEqual(one.first, "defaced", "\(one)")
        XCTAssertEqual(many.first, "defaced", "\(many)")
        XCTAssertEqual(many.dropFirst().first, one.dropFirst().first, "the same voxels removed")

        // Frame k of the delivered object is the delivered single-frame slice it was made from.
        let delivered = regularFiles(under: output.appendingPathComponent("OUT-MULTI"))
        XCTAssertEqual(delivered.count, 1)
        let frames = try DicomFile(path: try XCTUnwrap(delivered.first).path, lazyThreshold: 0)
        XCTAssertEqual(frames.dataset.string(.recognizableVisualFeatures), "NO")
        let words = try frames.pixels16()
        var bySOP: [String: [UInt16]] = [:]
        for file in regularFiles(under: output.appendingPathComponent("OUT-SINGLE")) {
            let slice = try DicomFile(path: file.path, lazyThreshold: 0)
            bySOP[slice.dataset.string(Tag(0x0020, 0x0013)) ?? ""] = try slice.pixels16()
        }
        let plane = 512 * 512
        var changedFrames = 0
        for (k, instance) in order.enumerated() {
            let frame = Array(words[k * plane..<(k + 1) * plane])
            XCTAssertTrue(frame == bySOP[instance], "frame \(k + 1) (instance \(instance)) differs from its single-frame slice")
            let original = try DicomFile(path: slices.first { (try? DicomFile(path: $0.path))?.dataset.string(Tag(0x0020, 0x0013)) == instance }!.path, lazyThreshold: 0).pixels16()
            if frame != original { changedFrames += 1 }
        }
        XCTAssertGreaterThan(changedFrames, 5, "the face runs through several frames")
    }

    /// The slices' 16-bit pixels as frames of one Enhanced CT Image Storage object, the per-slice
    /// geometry in Per-frame Functional Groups, the common geometry and rescale in Shared ones.
    /// Returns each frame's InstanceNumber in the source slices.
    static func writeEnhancedCT(from slices: [URL], to url: URL) throws -> [String] {
        var pixels = Data()
        var perFrame: [[DicomElement]] = []
        var instances: [String] = []
        var first: DicomFile?
        for path in slices {
            let slice = try DicomFile(path: path.path, lazyThreshold: 0)
            if first == nil { first = slice }
            let words = try slice.pixels16()
            words.withUnsafeBytes { pixels.append(contentsOf: $0) }
            let position = slice.dataset.strings(Tag(0x0020, 0x0032)).joined(separator: "\\")
            perFrame.append([
                .sequence(0x0020, 0x9113, [[DicomElement(0x0020, 0x0032, .DS, position)]]),
                .sequence(0x0020, 0x9111, [[DicomElement(0x0020, 0x9157, .UL, .uint32([1, UInt32(instances.count + 1)]))]]),
            ])
            instances.append(slice.dataset.string(Tag(0x0020, 0x0013)) ?? "")
        }
        let head = try XCTUnwrap(first).dataset
        func text(_ group: UInt16, _ element: UInt16) -> String { head.strings(Tag(group, element)).joined(separator: "\\") }
        func us(_ group: UInt16, _ element: UInt16) -> UInt16 { head.uint16(Tag(group, element)) ?? 0 }
        let sopClass = "1.2.840.10008.5.1.4.1.1.2.1"
        let sopInstance = "2.25.\(UInt64.random(in: 1...UInt64.max))"
        let dataset: [DicomElement] = [
            DicomElement(0x0008, 0x0008, .CS, "ORIGINAL\\PRIMARY\\AXIAL\\NONE"),
            DicomElement(0x0008, 0x0016, .UI, sopClass),
            DicomElement(0x0008, 0x0018, .UI, sopInstance),
            DicomElement(0x0008, 0x0020, .DA, text(0x0008, 0x0020)),
            DicomElement(0x0008, 0x0050, .SH, "GEMULTI"),
            DicomElement(0x0008, 0x0060, .CS, "CT"),
            DicomElement(0x0010, 0x0010, .PN, text(0x0010, 0x0010)),
            DicomElement(0x0010, 0x0020, .LO, text(0x0010, 0x0020)),
            DicomElement(0x0020, 0x000D, .UI, "2.25.\(UInt64.random(in: 1...UInt64.max))"),
            DicomElement(0x0020, 0x000E, .UI, "2.25.\(UInt64.random(in: 1...UInt64.max))"),
            DicomElement(0x0020, 0x0013, .IS, "1"),
            DicomElement(0x0028, 0x0002, .US, .uint16([1])),
            DicomElement(0x0028, 0x0004, .CS, "MONOCHROME2"),
            DicomElement(0x0028, 0x0008, .IS, "\(slices.count)"),
            DicomElement(0x0028, 0x0010, .US, .uint16([us(0x0028, 0x0010)])),
            DicomElement(0x0028, 0x0011, .US, .uint16([us(0x0028, 0x0011)])),
            DicomElement(0x0028, 0x0100, .US, .uint16([16])),
            DicomElement(0x0028, 0x0101, .US, .uint16([us(0x0028, 0x0101)])),
            DicomElement(0x0028, 0x0102, .US, .uint16([us(0x0028, 0x0102)])),
            DicomElement(0x0028, 0x0103, .US, .uint16([us(0x0028, 0x0103)])),
            .sequence(0x5200, 0x9229, [[
                .sequence(0x0020, 0x9116, [[DicomElement(0x0020, 0x0037, .DS, text(0x0020, 0x0037))]]),
                .sequence(0x0028, 0x9110, [[
                    DicomElement(0x0018, 0x0050, .DS, text(0x0018, 0x0050)),
                    DicomElement(0x0028, 0x0030, .DS, text(0x0028, 0x0030)),
                ]]),
                .sequence(0x0028, 0x9145, [[
                    DicomElement(0x0028, 0x1052, .DS, text(0x0028, 0x1052)),
                    DicomElement(0x0028, 0x1053, .DS, text(0x0028, 0x1053)),
                    DicomElement(0x0028, 0x1054, .LO, "HU"),
                ]]),
            ]]),
            .sequence(0x5200, 0x9230, perFrame),
            DicomElement(0x7FE0, 0x0010, .OW, .bytes(pixels)),
        ]
        let meta = DicomWriter.fileMeta(sopClassUID: sopClass, sopInstanceUID: sopInstance, implementationClassUID: "2.25.1")
        try DicomWriter.part10(meta: meta, dataset: dataset).write(to: url)
        return instances
    }
}
