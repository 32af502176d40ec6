@testable import DICOM
@testable import Defacing
@testable import Pixels
import Fixtures
import Foundation
import XCTest

/// The pixel plan judges a job's series one at a time and hands each series' files on while its
/// decoded pixels are held, so that a compressed file is decoded once, for the series' volume.
final class PixelPlanTests: XCTestCase {
    /// A synthetic head series re-encoded as RLE by DCMTK's `dcmcrle` (lossless; the toolkit must decode it):
    /// the toolkit decodes each file once, for the volume; the pixel stage then edits and writes
    /// every file without decoding it again, and what it writes is the file's own pixels with only
    /// the face removed.
    func testACompressedHeadSeriesIsDecodedOnceAndWrittenWithOnlyItsFaceChanged() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/dcmcrle") else {
            throw XCTSkip("dcmcrle is missing (make deps installs Debian's dcmtk)")
        }
        try DicomToolkit.initialize()
        let dir = try temporaryDirectory()
        let study = try SyntheticStudy.writeSeries(patient: SyntheticPatient(seed: 5, index: 0), slices: 100, rows: 128, columns: 128,
                                                   into: dir.appendingPathComponent("plain"))
        let compressed = dir.appendingPathComponent("rle"), written = dir.appendingPathComponent("out")
        for folder in [compressed, written] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        var paths: [String] = []
        for (k, file) in study.files.enumerated() {
            let target = compressed.appendingPathComponent("\(k).dcm")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/dcmcrle")
            process.arguments = [file.path, target.path]
            try process.run()
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0)
            paths.append(target.path)
        }
        var headers: [Int: SliceHeader] = [:]
        for (index, path) in paths.enumerated() {
            let file = try DicomFile(path: path, lazyThreshold: 4096)
            XCTAssertEqual(file.transferSyntax, "1.2.840.10008.1.2.5")
            headers[index] = SliceHeader(file.dataset, sopClass: file.dataset.string(.sopClassUID) ?? "")
        }

        let plan = PixelPlan(defacing: SeriesDefacing(options: DefaceOptions(), workers: 2), headers: headers, paths: paths,
                             judgesUndefaced: true)
        let start = DicomFile.pixelDecodings.load(ordering: .relaxed)
        var removed = 0, forVolume = 0, forWriting = -1
        var edits: [Int: SliceEdit] = [:]
        let finished = try plan.run(judged: { _, files, verdict in
            XCTAssertEqual(files.count, paths.count, "one series")
            guard case .defaced(let voxels, let slices, _, _, let decoded) = verdict else {
                return XCTFail("the synthetic head is defaced: \(verdict)")
            }
            XCTAssertNotNil(decoded, "the toolkit decoded the files: their values are kept")
            removed = voxels
            edits = slices
            forVolume = DicomFile.pixelDecodings.load(ordering: .relaxed) - start
        }, write: { files, face in
            let before = DicomFile.pixelDecodings.load(ordering: .relaxed)
            for index in files {
                guard case .deface(_, _, let decoded)? = face(index) else {
                    XCTFail("file \(index) is part of the defaced series")
                    continue
                }
                XCTAssertNotNil(decoded)
                let input = try InputFile(path: paths[index])
                var file = try XCTUnwrap(try input.parse())
                let result = FilePixels.process(&file, input: input, path: paths[index], face: face(index), text: .off)
                XCTAssertNil(result.quarantine)
                try file.save(to: written.appendingPathComponent("\(index).dcm").path)
            }
            forWriting = DicomFile.pixelDecodings.load(ordering: .relaxed) - before
            return true
        })
        XCTAssertTrue(finished)
        XCTAssertGreaterThan(removed, 10_000)
        XCTAssertGreaterThan(edits.count, 10, "the face spans slices")
        XCTAssertEqual(forVolume, paths.count, "each file decoded once for the volume")
        XCTAssertEqual(forWriting, 0, "and not again to be edited and written")

        // Each written file (still RLE) holds the original pixels with its slice's face edit, exactly.
        var changedFiles = 0
        for index in paths.indices {
            let output = try DicomFile(path: written.appendingPathComponent("\(index).dcm").path)
            XCTAssertEqual(output.transferSyntax, "1.2.840.10008.1.2.5", "lossless stays in its syntax")
            var expected = try DicomFile(path: study.files[index].path).pixels16()
            if let edit = edits[index] {
                edit.apply(to: &expected, header: headers[index]!)
                changedFiles += 1
            }
            XCTAssertTrue(try output.pixels16() == expected, "file \(index): not the original with its face edit")
        }
        XCTAssertEqual(changedFiles, edits.count)
    }

    /// The volume gives back a file's stored values only where they are exact: a value at either end
    /// of the volume's range may have been clamped, so the file is then decoded again.
    func testStoredValuesAreGivenBackOnlyWhenExact() throws {
        try DicomToolkit.initialize()
        let dir = try temporaryDirectory()
        let study = try SyntheticStudy.writeSeries(patient: SyntheticPatient(seed: 6, index: 0), slices: 1, rows: 8, columns: 8,
                                                   into: dir.appendingPathComponent("plain"))
        let file = try DicomFile(path: study.files[0].path)
        let header = SliceHeader(file.dataset, sopClass: file.dataset.string(.sopClassUID) ?? "")
        let stored = try file.pixels16()
        var hu = [Int16](repeating: 0, count: 64)
        stored.withUnsafeBufferPointer { s in
            hu.withUnsafeMutableBufferPointer { SeriesDefacing.decode(s.baseAddress!, into: $0.baseAddress!, count: 64, header: header) }
        }
        func series(_ hu: [Int16]) -> DecodedSeries {
            DecodedSeries(volume: Volume(columns: 8, rows: 8, slices: 1, hu: hu, origins: [.zero], rowDirection: [1, 0, 0],
                                         columnDirection: [0, 1, 0], columnSpacing: 1, rowSpacing: 1),
                          placements: [0: [.init(frame: 0, slice: 0)]], headers: [0: header])
        }
        XCTAssertTrue(series(hu).file(0)?.stored() == stored, "the file's own values")
        XCTAssertNil(series(hu).file(1), "a file the series does not hold")
        var clamped = hu
        clamped[5] = .max
        XCTAssertNotNil(series(clamped).file(0))
        XCTAssertNil(series(clamped).file(0)?.stored(), "a value that may have been clamped")
    }
}
