import DICOM
import Fixtures
import Foundation
import XCTest

/// The whole product on the synthetic head: `ctdeid run` defaces the phantom's series; the
/// phantom's exact labels say what must have changed and what must not.
final class DefacingTests: XCTestCase {
    override class func setUp() {
        try? DicomToolkit.initialize()
    }

    func testRunDefacesThePhantomFaceAndLeavesBrainAndBoneBitIdentical() throws {
        let dir = try temporaryDirectory()
        let inbox = dir.appendingPathComponent("inbox"), mapping = dir.appendingPathComponent("m.csv")
        let studies = try SampleInbox.write(to: inbox, mappingCSV: mapping, patients: 1, slices: 60, size: 128, seed: 3)
        let database = dir.appendingPathComponent("db/ctdeid.sqlite").path
        let output = dir.appendingPathComponent("out")
        let result = try runCTDeid(["run", "--input", inbox.path, "--output", output.path, "--mapping", mapping.path,
                                    "--database", database, "--quiet"])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)

        let series = try sqlite(database, "SELECT verdict, voxels_removed, coalesce(qa_image, '') FROM series")
        XCTAssertEqual(series.count, 1)
        XCTAssertEqual(series.first?[0], "defaced", "\(series)")
        let png = URL(fileURLWithPath: series.first?[2] ?? "")
        XCTAssertTrue(FileManager.default.fileExists(atPath: png.path), "QA picture recorded and written")
        XCTAssertEqual(try Data(contentsOf: png).prefix(8), Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        XCTAssertFalse(png.path.hasPrefix(output.path), "the QA picture stays outside the output")

        let study = studies[0]
        let phantom = HeadPhantom()
        let geometry = study.geometry
        var face = 0, faceAir = 0, brain = 0, brainChanged = 0, bone = 0, boneChanged = 0, otherChanged = 0
        let rows = try sqlite(database, "SELECT f.input_path, j.output_path || '/' || f.output_path FROM files f JOIN jobs j ON j.id = f.job_id")
        XCTAssertEqual(rows.count, 60)
        for row in rows {
            let before = try DicomFile(path: inbox.appendingPathComponent(row[0]).path)
            let after = try DicomFile(path: output.appendingPathComponent(row[1]).path)
            XCTAssertEqual(after.dataset.string(.recognizableVisualFeatures), "NO")
            XCTAssertTrue(after.dataset.items(.deidentificationMethodCodeSequence).contains { $0.string(.codeValue) == "113102" })
            let z = Double(before.dataset.strings(Tag(0x0020, 0x0032))[2])!
            let original = try before.pixels16(), defaced = try after.pixels16()
            for r in 0..<geometry.rows {
                for c in 0..<geometry.columns {
                    let p = r * geometry.columns + c
                    let changed = original[p] != defaced[p]
                    switch phantom.label(x: geometry.x(column: c), y: geometry.y(row: r), z: z) {
                    case .face:
                        face += 1
                        if Int16(bitPattern: defaced[p]) <= -990 { faceAir += 1 }
                    case .brain:
                        brain += 1
                        if changed { brainChanged += 1 }
                    case .bone:
                        bone += 1
                        if changed { boneChanged += 1 }
                    case .air, .ear:
                        break
                    case .softTissue:
                        if changed { otherChanged += 1 }
                    }
                }
            }
        }
        XCTAssertGreaterThan(face, 1000)
        XCTAssertEqual(brainChanged, 0, "brain voxels must stay bit-identical (\(brain) checked)")
        XCTAssertEqual(boneChanged, 0, "bone must stay as it is (\(bone) checked)")
        XCTAssertGreaterThanOrEqual(Double(faceAir), 0.99 * Double(face), "face voxels become air: \(faceAir) of \(face)")
        XCTAssertLessThan(Double(otherChanged), 0.02 * Double(face), "soft tissue outside the face changed: \(otherChanged)")
    }

    func testDefacingOffDeliversMetadataOnly() throws {
        let dir = try temporaryDirectory()
        let inbox = dir.appendingPathComponent("inbox"), mapping = dir.appendingPathComponent("m.csv")
        _ = try SampleInbox.write(to: inbox, mappingCSV: mapping, patients: 1, slices: 20, size: 64, seed: 4)
        let database = dir.appendingPathComponent("db/ctdeid.sqlite").path
        let result = try runCTDeid(["run", "--input", inbox.path, "--output", dir.appendingPathComponent("out").path,
                                    "--mapping", mapping.path, "--database", database, "--deface", "off", "--quiet"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(try sqlite(database, "SELECT count(*) FROM series").first?.first, "0")
    }

    /// The real GE head CT (tilted, uneven spacing): defaced, intracranial voxels unchanged; the
    /// compressed single slices and the Enhanced CT are judged by their decoded pixels.
    func testRealHeadCTSeries() throws {
        guard let testdata = sharedTestData else { throw XCTSkip("../shared/testdata is not on this machine") }
        let dir = try temporaryDirectory()
        let inbox = dir.appendingPathComponent("inbox")
        try FileManager.default.createDirectory(at: inbox, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: testdata.appendingPathComponent("headct/ge_hispeed_human_tilt18"),
                                         to: inbox.appendingPathComponent("GEHEAD"))
        for name in ["693_UNCI.dcm", "693_J2KR.dcm"] {
            let folder = inbox.appendingPathComponent("CQ" + name.dropFirst(4).prefix(4))
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: testdata.appendingPathComponent("headct/cq500_single_slice_compressed/" + name),
                                             to: folder.appendingPathComponent(name))
        }
        let ect = inbox.appendingPathComponent("ECT")
        try FileManager.default.createDirectory(at: ect, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: testdata.appendingPathComponent("headct/enhanced_ct_multiframe/eCT_Supplemental.dcm"),
                                         to: ect.appendingPathComponent("e.dcm"))
        // Key each folder by its own AccessionNumber where the files have one.
        var keys: [String: String] = [:]
        for folder in try FileManager.default.contentsOfDirectory(atPath: inbox.path) {
            let files = regularFiles(under: inbox.appendingPathComponent(folder)).filter { $0.pathExtension == "dcm" }
            let accession = (try? DicomFile(path: files[0].path))?.dataset.string(.accessionNumber) ?? ""
            var key = folder
            if !accession.isEmpty {
                key = accession
                try FileManager.default.moveItem(at: inbox.appendingPathComponent(folder), to: inbox.appendingPathComponent(accession))
            }
            keys[folder] = key
            for other in regularFiles(under: inbox.appendingPathComponent(key)) where other.pathExtension != "dcm" {
                try FileManager.default.removeItem(at: other)
            }
        }
        let mapping = dir.appendingPathComponent("m.csv")
        try (["Accession_number,De-identification_ID"] + keys.values.sorted().enumerated().map { "\"\($0.element)\",R\($0.offset)" })
            .joined(separator: "\n").write(to: mapping, atomically: true, encoding: .utf8)
        let database = dir.appendingPathComponent("db/ctdeid.sqlite").path
        let output = dir.appendingPathComponent("out")
        let result = try runCTDeid(["run", "--input", inbox.path, "--output", output.path, "--mapping", mapping.path,
                                    "--database", database, "--quiet"])
        XCTAssertFalse(result.crashed)
        print(result.stdout)
        let ge = try sqlite(database, "SELECT s.verdict, s.voxels_removed, coalesce(s.qa_image, ''), coalesce(s.reason, '') FROM series s JOIN jobs j ON j.id = s.job_id WHERE j.folder = '\(keys["GEHEAD"]!)'")
        XCTAssertEqual(ge.first?[0], "defaced", "\(ge)")
        XCTAssertGreaterThan(Int(ge.first?[1] ?? "0") ?? 0, 10000)
        print("GE QA picture: \(ge.first?[2] ?? "")")
        // Every file of the other folders ends delivered or quarantined with a reason.
        for row in try sqlite(database, "SELECT outcome, coalesce(reason, '') FROM files") {
            XCTAssertTrue(row[0] == "delivered" || !row[1].isEmpty, "\(row)")
        }
        // JPEG 2000 is decoded (OpenJPEG): the slice is judged like its uncompressed twin, one slice
        // being too few to find a face in 3-D, not refused as undecodable.
        let j2k = try sqlite(database, "SELECT f.outcome, f.reason FROM files f WHERE f.input_path LIKE '%J2KR%'")
        let twin = try sqlite(database, "SELECT f.outcome, f.reason FROM files f WHERE f.input_path LIKE '%UNCI%'")
        XCTAssertEqual(j2k.first, twin.first, "\(j2k) \(twin)")
        XCTAssertTrue(j2k.first?[1].contains("1 slice(s)") == true, "\(j2k)")
        // The Enhanced CT sample (two frames of a perfusion map, geometry in functional groups) is
        // assembled from its frames; it shows no skull, so it is delivered without defacing.
        let multiframe = try sqlite(database, "SELECT f.outcome, coalesce(f.reason, '') FROM files f WHERE f.input_path LIKE '%/e.dcm'")
        XCTAssertEqual(multiframe.first?[0], "delivered", "\(multiframe)")
        let enhanced = try sqlite(database, "SELECT s.verdict, s.reason FROM series s JOIN jobs j ON j.id = s.job_id WHERE j.folder = '\(keys["ECT"]!)'")
        XCTAssertEqual(enhanced.first?[0], "metadata-only", "\(enhanced)")
        XCTAssertTrue(enhanced.first?[1].contains("no skull") == true, "\(enhanced)")
    }

    /// Localizers are quarantined by default; `--localizers blank` delivers them with every pixel air.
    func testLocalizersAreQuarantinedOrBlanked() throws {
        guard let testdata = sharedTestData else { throw XCTSkip("../shared/testdata is not on this machine") }
        let scout = try XCTUnwrap(regularFiles(under: testdata.appendingPathComponent("phi/pseudo_phi_burned_in"))
            .first { $0.lastPathComponent.contains("SCOUT") && $0.pathExtension == "dcm" })
        let accession = try DicomFile(path: scout.path).dataset.string(.accessionNumber) ?? ""
        let key = accession.isEmpty ? "SCOUT" : accession
        for policy in ["quarantine", "blank"] {
            let dir = try temporaryDirectory()
            let folder = dir.appendingPathComponent("inbox/\(key)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: scout, to: folder.appendingPathComponent("s.dcm"))
            let mapping = dir.appendingPathComponent("m.csv")
            try "Accession_number,De-identification_ID\n\"\(key)\",S1\n".write(to: mapping, atomically: true, encoding: .utf8)
            let database = dir.appendingPathComponent("db/ctdeid.sqlite").path
            let output = dir.appendingPathComponent("out")
            let result = try runCTDeid(["run", "--input", dir.appendingPathComponent("inbox").path, "--output", output.path,
                                        "--mapping", mapping.path, "--database", database, "--localizers", policy, "--quiet"])
            let rows = try sqlite(database, "SELECT f.outcome, coalesce(f.reason, ''), coalesce(j.output_path || '/' || f.output_path, '') FROM files f JOIN jobs j ON j.id = f.job_id")
            // A quiet run says nothing on stderr: no warnings from Tesseract about its cache at
            // exit, which came with a SIGABRT when the process ended while a reader was loading.
            XCTAssertEqual(result.stderr, "", "policy \(policy)")
            if policy == "quarantine" {
                XCTAssertEqual(result.status, 1, result.stderr)
                XCTAssertEqual(rows.first?[0], "quarantined")
                XCTAssertTrue(rows.first?[1].hasPrefix("localizer") ?? false, "\(rows)")
            } else {
                XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
                XCTAssertEqual(rows.first?[0], "delivered", "\(rows)")
                let file = try DicomFile(path: output.appendingPathComponent(rows[0][2]).path)
                let values = try file.pixels16()
                XCTAssertEqual(Set(values).count, 1, "every pixel the same (air)")
                XCTAssertEqual(file.dataset.string(.recognizableVisualFeatures), "NO")
            }
        }
    }
}
