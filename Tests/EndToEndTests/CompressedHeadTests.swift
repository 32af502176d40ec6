import DICOM
import Foundation
import XCTest

/// A head series arrives in whatever transfer syntax the PACS stores it in. Every real head series
/// of ../shared/testdata is re-encoded by GDCM's `gdcmconv` in each compressed syntax a PACS may
/// send and run through `ctdeid run` beside its uncompressed original. Lossless: the delivered
/// pixels are exactly the defaced pixels of the uncompressed run, in the input's own syntax. Lossy:
/// defaced again (the face removed from the lossy pixels), written uncompressed with the lossy
/// history. Delivered pixels are decoded by GDCM, not by the product, before they are compared.
final class CompressedHeadTests: XCTestCase {
    struct Encoding {
        let name: String
        let arguments: [String]
        let transferSyntax: String
        let lossless: Bool
    }

    static let encodings = [
        Encoding(name: "J2KR", arguments: ["--j2k"], transferSyntax: "1.2.840.10008.1.2.4.90", lossless: true),
        Encoding(name: "J2KI", arguments: ["--j2k", "--lossy", "-r", "5"], transferSyntax: "1.2.840.10008.1.2.4.91", lossless: false),
        Encoding(name: "JLSR", arguments: ["--jpegls"], transferSyntax: "1.2.840.10008.1.2.4.80", lossless: true),
        Encoding(name: "JLSI", arguments: ["--jpegls", "--lossy", "-e", "2"], transferSyntax: "1.2.840.10008.1.2.4.81", lossless: false),
        Encoding(name: "RLE", arguments: ["--rle"], transferSyntax: "1.2.840.10008.1.2.5", lossless: true),
        Encoding(name: "JPLL", arguments: ["--jpeg"], transferSyntax: "1.2.840.10008.1.2.4.70", lossless: true),
    ]

    func testGEHeadInEveryCompressedSyntaxIsDefacedLikeTheUncompressedOne() throws {
        try check(Self.encodings, of: "headct/ge_hispeed_human_tilt18", key: "GE")
    }

    func testInVesaliusHeadInEveryCompressedSyntaxIsDefacedLikeTheUncompressedOne() throws {
        try check(Self.encodings, of: "headct/invesalius_0051/dicom", key: "IV")
    }

    /// The Philips skull phantom (a bare skull, tilted 18.5 degrees) shows no head to deface: in every
    /// syntax it is judged alike and delivered with its pixels unchanged.
    func testThePhilipsSkullPhantomInEveryCompressedSyntaxIsJudgedLikeTheUncompressedOne() throws {
        try check(Self.encodings, of: "headct/philips_skullphantom_tilt-18.5", key: "PH", defaced: false)
    }

    private func check(_ encodings: [Encoding], of series: String, key: String, defaced expectDefaced: Bool = true) throws {
        guard let testdata = sharedTestData else { throw XCTSkip("../shared/testdata is not on this machine") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gdcmconv") else {
            throw XCTSkip("gdcmconv is missing (make deps installs Debian's libgdcm-tools)")
        }
        let dir = try temporaryDirectory()
        let inbox = dir.appendingPathComponent("inbox")
        let sources = regularFiles(under: testdata.appendingPathComponent(series)).filter { isDicom($0) }
        XCTAssertGreaterThan(sources.count, 10)
        let raw = inbox.appendingPathComponent("\(key)RAW")
        try FileManager.default.createDirectory(at: raw, withIntermediateDirectories: true)
        for (index, source) in sources.enumerated() {
            try FileManager.default.copyItem(at: source, to: raw.appendingPathComponent(String(format: "%04d.dcm", index)))
        }
        for encoding in encodings {
            let folder = inbox.appendingPathComponent(key + encoding.name)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let failures = try gdcmconv(
                encoding.arguments, pairs: sources.indices.map {
                    (raw.appendingPathComponent(String(format: "%04d.dcm", $0)), folder.appendingPathComponent(String(format: "%04d.dcm", $0)))
                })
            XCTAssertEqual(failures, [], "gdcmconv \(encoding.arguments) failed")
            let syntax = try DicomFile(path: folder.appendingPathComponent("0000.dcm").path).transferSyntax
            XCTAssertEqual(syntax, encoding.transferSyntax, "gdcmconv \(encoding.arguments) wrote another syntax")
        }
        let folders = ["RAW"] + encodings.map(\.name)
        let mapping = dir.appendingPathComponent("m.csv")
        try (["Accession_number,De-identification_ID"] + folders.map { "\(key)\($0),OUT-\($0)" })
            .joined(separator: "\n").write(to: mapping, atomically: true, encoding: .utf8)
        let database = dir.appendingPathComponent("db.sqlite").path
        let output = dir.appendingPathComponent("out")
        let result = try runCTDeid(["run", "--input", inbox.path, "--output", output.path, "--mapping", mapping.path,
                                    "--database", database, "--quiet"])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)

        func verdict(_ name: String) throws -> (verdict: String, removed: Int) {
            let row = try sqlite(database, "SELECT s.verdict, s.voxels_removed FROM series s JOIN jobs j ON j.id = s.job_id WHERE j.folder = '\(key)\(name)'")
            return (row.first?[0] ?? "none", Int(row.first?[1] ?? "") ?? 0)
        }
        let reference = try verdict("RAW")
        if expectDefaced {
            XCTAssertEqual(reference.verdict, "defaced")
            XCTAssertGreaterThan(reference.removed, 10_000)
        } else {
            XCTAssertEqual(reference.verdict, "metadata-only")
        }
        let input = try decodedPixels(under: raw)
        let defaced = try decodedPixels(under: output.appendingPathComponent("OUT-RAW"))
        XCTAssertEqual(defaced.count, sources.count)

        for encoding in encodings {
            let delivered = output.appendingPathComponent("OUT-\(encoding.name)")
            let outcome = try verdict(encoding.name)
            let files = regularFiles(under: delivered)
            XCTAssertEqual(files.count, sources.count, "\(encoding.name): not every file delivered")
            XCTAssertEqual(outcome.verdict, reference.verdict, "\(encoding.name)")
            let pixels = try decodedPixels(under: delivered)
            var removedKept = 0, removed = 0
            for (instance, original) in input {
                guard let face = defaced[instance], let got = pixels[instance] else { continue }
                for i in original.indices where original[i] != face[i] {
                    removed += 1
                    if got[i] != face[i] { removedKept += 1 }
                }
            }
            print("\(key) \(encoding.name): \(outcome.removed) voxels removed (uncompressed: \(reference.removed)); "
                + "\(removedKept) of the \(removed) voxels removed from the uncompressed series are not background here")
            let written = try DicomFile(path: files[0].path)
            if !expectDefaced {
                // Nothing to deface: the input's own pixels, in its own syntax, lossy or not.
                XCTAssertEqual(written.transferSyntax, encoding.transferSyntax, "\(encoding.name)")
                if encoding.lossless {
                    for (instance, face) in defaced {
                        XCTAssertTrue(pixels[instance] == face, "\(encoding.name): instance \(instance) differs from the uncompressed run's")
                    }
                }
            } else if encoding.lossless {
                XCTAssertEqual(outcome.removed, reference.removed, "\(encoding.name)")
                XCTAssertEqual(written.transferSyntax, encoding.transferSyntax, "\(encoding.name): lossless must stay in its syntax")
                for (instance, face) in defaced {
                    XCTAssertTrue(pixels[instance] == face, "\(encoding.name): instance \(instance) differs from the uncompressed run's")
                }
            } else {
                // The face is found again in the lossy pixels: its boundary may move by a voxel.
                XCTAssertGreaterThan(Double(outcome.removed), 0.9 * Double(reference.removed), "\(encoding.name)")
                XCTAssertLessThan(Double(removedKept), 0.05 * Double(removed), "\(encoding.name): face voxels left")
                XCTAssertEqual(written.transferSyntax, "1.2.840.10008.1.2.1", "\(encoding.name): lossy is written uncompressed")
                XCTAssertEqual(written.dataset.string(Tag(0x0028, 0x2110)), "01", "\(encoding.name): the lossy history is kept")
            }
        }
    }

    private func isDicom(_ url: URL) -> Bool {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 132)) ?? Data()
        return head.count == 132 && head.suffix(4) == Data("DICM".utf8)
    }

    /// Runs gdcmconv on each pair (input, output), four at a time; returns the inputs it failed on.
    private func gdcmconv(_ arguments: [String], pairs: [(URL, URL)]) throws -> [String] {
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: 4) { lane in
            for k in stride(from: lane, to: pairs.count, by: 4) {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/gdcmconv")
                process.arguments = arguments + [pairs[k].0.path, pairs[k].1.path]
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                do {
                    try process.run()
                    process.waitUntilExit()
                    if process.terminationStatus != 0 { failures.add(pairs[k].0.lastPathComponent) }
                } catch {
                    failures.add(pairs[k].0.lastPathComponent)
                }
            }
        }
        return failures.sorted
    }

    /// Stored pixel values of every file below a folder by InstanceNumber, decoded by GDCM
    /// (`gdcmconv --raw`), read by DCMTK from the uncompressed copy.
    private func decodedPixels(under folder: URL) throws -> [Int: [UInt16]] {
        let scratch = folder.deletingLastPathComponent().appendingPathComponent("raw-" + folder.lastPathComponent)
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let files = regularFiles(under: folder)
        let pairs = files.enumerated().map { ($0.element, scratch.appendingPathComponent("\($0.offset).dcm")) }
        XCTAssertEqual(try gdcmconv(["--raw"], pairs: pairs), [], "gdcmconv --raw failed under \(folder.lastPathComponent)")
        var pixels: [Int: [UInt16]] = [:]
        for (_, copy) in pairs {
            let file = try DicomFile(path: copy.path)
            let instance = Int(file.dataset.string(Tag(0x0020, 0x0013))?.trimmingCharacters(in: .whitespaces) ?? "") ?? -1
            XCTAssertNil(pixels[instance], "two files of instance \(instance) under \(folder.lastPathComponent)")
            pixels[instance] = try file.pixels16()
        }
        return pixels
    }
}

private final class Failures: @unchecked Sendable {
    private var names: [String] = []
    private let lock = NSLock()
    func add(_ name: String) { lock.withLock { names.append(name) } }
    var sorted: [String] { lock.withLock { names.sorted() } }
}
