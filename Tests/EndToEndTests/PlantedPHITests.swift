import DICOM
import Deidentification
import Fixtures
import Foundation
import XCTest

/// The acceptance scenario of the engine: synthetic CT patient folders with PHI planted
/// everywhere a scanner puts it go through the real `ctdeid run`; then every element of every
/// output is walked and the raw bytes are searched for every planted string.
/// Size: CTDEID_E2E_PATIENTS x CTDEID_E2E_SLICES slices of CTDEID_E2E_SIZE^2 (default 3 x 12 x 96).
final class PlantedPHITests: XCTestCase {
    static let environment = ProcessInfo.processInfo.environment
    let patients = Int(environment["CTDEID_E2E_PATIENTS"] ?? "") ?? 3
    let slices = Int(environment["CTDEID_E2E_SLICES"] ?? "") ?? 12
    let size = Int(environment["CTDEID_E2E_SIZE"] ?? "") ?? 96

    override class func setUp() {
        try? DicomToolkit.initialize()
    }

    struct Scenario {
        let dir: URL
        let inbox: URL
        let mapping: URL
        let studies: [WrittenStudy]
    }

    func makeScenario() throws -> Scenario {
        let dir = try temporaryDirectory()
        let inbox = dir.appendingPathComponent("inbox")
        let mapping = dir.appendingPathComponent("mapping.csv")
        let studies = try SampleInbox.write(to: inbox, mappingCSV: mapping, patients: patients, slices: slices, size: size, seed: 1)
        return Scenario(dir: dir, inbox: inbox, mapping: mapping, studies: studies)
    }

    func run(_ s: Scenario, options: String, output: String = "out", database: String = "db/ctdeid.sqlite") throws -> (ProcessResult, URL, String) {
        let out = s.dir.appendingPathComponent(output)
        let db = s.dir.appendingPathComponent(database).path
        // Metadata de-identification is checked here (pixel data must stay byte-identical);
        // face removal has its own tests (DefacingTests).
        let result = try runCTDeid(["run", "--input", s.inbox.path, "--output", out.path, "--mapping", s.mapping.path,
                                    "--database", db, "--options", options, "--deface", "off"])
        return (result, out, db)
    }

    func testBasicProfileLeavesNothingPlantedAndKeepsStructure() throws {
        try verify(options: "none", profileOptions: [])
    }

    func testDefaultOptionsLeaveNothingPlanted() throws {
        try verify(options: "default", profileOptions: ProfileOption.defaults)
    }

    func verify(options: String, profileOptions: Set<ProfileOption>) throws {
        let s = try makeScenario()
        let inputDigest = treeDigest(s.inbox)
        let (result, out, db) = try run(s, options: options)
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertEqual(treeDigest(s.inbox), inputDigest, "the input must not be modified")

        let profile = try Profile(options: profileOptions)
        let secret = try SiteSecret.loadOrCreate(at: (db as NSString).deletingLastPathComponent + "/secret.key")
        let uids = UIDRemapper(secret: secret)
        let needles = s.studies.reduce(into: [Data]()) { $0 += $1.planted.rawByteNeedles() }
        let plantedUIDs = s.studies.reduce(into: Set<String>()) { $0.formUnion($1.planted.uids) }

        // Nothing planted in what the program printed either.
        for needle in needles {
            XCTAssertNil(Data((result.stdout + result.stderr).utf8).range(of: needle), "stdout/stderr leaks a planted string")
        }

        let rows = try sqlite(db, "SELECT j.folder, j.deid_id, j.output_path, f.input_path, f.output_path, f.outcome FROM files f JOIN jobs j ON j.id = f.job_id")
        XCTAssertEqual(rows.count, patients * slices)
        for study in s.studies {
            let id = study.patient.deidentificationID
            let mine = rows.filter { $0[0] == study.patient.inboxFolderName }
            XCTAssertEqual(mine.count, slices)
            XCTAssertTrue(mine.allSatisfy { $0[1] == id && $0[5] == "delivered" })
            let studyFolder = out.appendingPathComponent(mine[0][2])
            XCTAssertEqual(studyFolder.deletingLastPathComponent().lastPathComponent, id)

            // Hierarchy: same depth below the patient folder, neutral names.
            for row in mine {
                XCTAssertEqual(row[3].split(separator: "/").count - 1, row[4].split(separator: "/").count, "hierarchy depth")
                for needle in study.planted.needleStrings() { XCTAssertFalse(row[4].contains(needle), "output name leaks") }
            }

            var sopInstances: Set<String> = []
            var references: [String] = []
            for row in mine {
                let input = s.inbox.appendingPathComponent(row[3])
                let output = studyFolder.appendingPathComponent(row[4])
                let bytes = try Data(contentsOf: output)
                XCTAssertEqual(bytes.prefix(128), Data(count: 128), "preamble")
                for needle in needles where bytes.range(of: needle) != nil {
                    XCTFail("\(options): planted bytes \(String(decoding: needle, as: UTF8.self)) survive in \(row[4])")
                }
                let before = try DicomFile(path: input.path)
                let file = try DicomFile(path: output.path)
                let ds = file.dataset
                XCTAssertNil(file.meta.string(Tag(0x0002, 0x0016)), "SourceApplicationEntityTitle")
                XCTAssertNil(file.meta.string(Tag(0x0002, 0x0017)), "SendingApplicationEntityTitle")
                XCTAssertEqual(ds.string(.patientName), id)
                XCTAssertEqual(ds.string(.patientID), id)
                XCTAssertEqual(ds.string(.accessionNumber), id)
                XCTAssertEqual(ds.string(.patientIdentityRemoved), "YES")
                XCTAssertTrue(ds.strings(.deidentificationMethod).contains { $0.contains("2024b") })
                let codes = Set(ds.items(.deidentificationMethodCodeSequence).compactMap { $0.string(.codeValue) })
                XCTAssertEqual(codes, Set(["113100"] + profileOptions.map(\.code.value)))
                XCTAssertNotNil(ds.string(.longitudinalTemporalInformationModified))
                XCTAssertEqual(ds.binary(.pixelData), before.dataset.binary(.pixelData), "pixel data unchanged")
                // U: changed, and exactly the keyed hash of the original.
                XCTAssertEqual(ds.string(Tag(0x0020, 0x000D)), uids.map(study.studyInstanceUID))
                XCTAssertEqual(ds.string(Tag(0x0020, 0x000E)), uids.map(study.seriesInstanceUID))
                XCTAssertEqual(ds.string(Tag(0x0020, 0x0052)), uids.map(study.frameOfReferenceUID))
                XCTAssertEqual(ds.string(.sopInstanceUID), uids.map(before.dataset.string(.sopInstanceUID)!))
                XCTAssertEqual(file.meta.string(Tag(0x0002, 0x0003)), ds.string(.sopInstanceUID))
                sopInstances.insert(ds.string(.sopInstanceUID)!)
                references += ds.items(Tag(0x0008, 0x1140)).compactMap { $0.string(Tag(0x0008, 0x1155)) }

                walk(ds) { item, element, depth in
                    let tag = element.tag
                    XCTAssertFalse(tag.isPrivate, "private \(tag) at depth \(depth)")
                    XCTAssertFalse(tag.group & 0xFF00 == 0x5000 || tag.group & 0xFF00 == 0x6000, "curve/overlay \(tag)")
                    if !tag.isPrivate, profile.action(for: tag) == .remove {
                        XCTFail("\(options): X attribute \(tag) present at depth \(depth)")
                    }
                    if element.vr == "UI" {
                        for value in item.strings(tag) where !value.isEmpty {
                            XCTAssertFalse(plantedUIDs.contains(value), "original UID survives in \(tag)")
                            XCTAssertTrue(value.hasPrefix("2.25.") || value.hasPrefix("1.2.840.10008."), "\(tag) = unexpected UID root")
                        }
                    }
                    if element.vr == "PN" {
                        let value = item.string(tag) ?? ""
                        XCTAssertTrue(["", id, "ANONYMOUS"].contains(value), "\(tag) holds a name")
                    }
                }
            }
            // Referential integrity: every referenced image is one of the delivered images.
            XCTAssertFalse(references.isEmpty)
            for reference in references { XCTAssertTrue(sopInstances.contains(reference), "dangling ReferencedSOPInstanceUID") }
        }
    }

    /// As typed in the folder that holds everything: every path relative, the database a bare
    /// file name, so its secret goes beside it in the working folder.
    func testRelativePathsFromTheWorkingFolder() throws {
        let s = try makeScenario()
        let result = try runCTDeid(["run", "--input", "inbox", "--output", "out", "--mapping", "mapping.csv",
                                    "--database", "db.sqlite", "--deface", "off"], in: s.dir)
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertFalse(result.stderr.contains("Error Domain"), result.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: s.dir.appendingPathComponent("secret.key").path))
        XCTAssertEqual(regularFiles(under: s.dir.appendingPathComponent("out")).filter { $0.pathExtension == "dcm" }.count,
                       patients * slices)
    }

    func testRerunIsReproducibleAndNeverDeliversTwice() throws {
        let s = try makeScenario()
        let (first, out, _) = try run(s, options: "default")
        XCTAssertEqual(first.status, 0, first.stderr)
        let firstDigest = treeDigest(out)
        // Same database, same secret, same input: nothing is delivered twice, nothing changes.
        let (second, _, db) = try run(s, options: "default")
        XCTAssertEqual(second.status, 0, second.stdout + second.stderr)
        XCTAssertEqual(treeDigest(out), firstDigest)
        XCTAssertTrue(second.stdout.contains("duplicate"), second.stdout)
        let delivered = try sqlite(db, "SELECT count(*) FROM events WHERE state = 'delivered'")
        XCTAssertEqual(delivered.first?.first, "\(patients)")
        // A fresh output folder with the same database gives byte-identical files.
        let (third, out3, _) = try run(s, options: "default", output: "out3")
        XCTAssertEqual(third.status, 0)
        XCTAssertEqual(treeDigest(out3), firstDigest)
    }

    func testHeldFoldersAndRefusedSheets() throws {
        let s = try makeScenario()
        // A sheet missing one patient: that folder is held, the others delivered, exit 1.
        let partial = s.dir.appendingPathComponent("partial.csv")
        let lines = try String(contentsOf: s.mapping, encoding: .utf8).split(separator: "\n")
        try (lines.dropLast().joined(separator: "\n") + "\n").write(to: partial, atomically: true, encoding: .utf8)
        let db = s.dir.appendingPathComponent("db/a.sqlite").path
        let out = s.dir.appendingPathComponent("out")
        var result = try runCTDeid(["run", "--input", s.inbox.path, "--output", out.path, "--mapping", partial.path, "--database", db, "--quiet"])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stdout.contains("held (no-mapping"), result.stdout)
        let held = try sqlite(db, "SELECT folder FROM jobs WHERE state = 'held'")
        XCTAssertEqual(held.map { $0[0] }, [s.studies.last!.patient.inboxFolderName])
        // Importing the full sheet afterwards lets the held folder through.
        result = try runCTDeid(["run", "--input", s.inbox.path, "--output", out.path, "--mapping", s.mapping.path, "--database", db, "--quiet"])
        XCTAssertEqual(result.status, 0, result.stdout)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path).filter { !$0.hasPrefix(".") }.count, patients)

        // A conflicting sheet is refused whole, naming the row, exit 2.
        let conflict = s.dir.appendingPathComponent("conflict.csv")
        try "Accession_number,De-identification_ID\nA1,P1\nA2,P2\nA1,P3\n".write(to: conflict, atomically: true, encoding: .utf8)
        result = try runCTDeid(["run", "--input", s.inbox.path, "--output", out.path, "--mapping", conflict.path, "--database", db])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("row 4"), result.stderr)

        // Usage errors are exit 2; --help is exit 0.
        XCTAssertEqual(try runCTDeid(["run", "--input", s.inbox.path]).status, 2)
        XCTAssertEqual(try runCTDeid(["run", "--input", "/nonexistent", "--output", out.path, "--database", db]).status, 2)
        XCTAssertEqual(try runCTDeid(["run", "--input", s.inbox.path, "--output", out.path, "--options", "retain-all"]).status, 2)
        let help = try runCTDeid(["run", "--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("--mapping"))
    }

    func testAccessionMismatchHoldsTheFolder() throws {
        let s = try makeScenario()
        // Rename the first patient's folder to another accession that the sheet maps.
        let study = s.studies[0]
        let renamed = s.inbox.appendingPathComponent("AC9999999")
        try FileManager.default.moveItem(at: study.patientFolder, to: renamed)
        try "\(SampleInbox.csvHeader)\nAC9999999,DEID-9999\n".write(to: s.mapping, atomically: true, encoding: .utf8)
        let only = s.dir.appendingPathComponent("only")
        try FileManager.default.createDirectory(at: only, withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: renamed, to: only.appendingPathComponent("AC9999999"))
        let db = s.dir.appendingPathComponent("db/m.sqlite").path
        let result = try runCTDeid(["run", "--input", only.path, "--output", s.dir.appendingPathComponent("out").path,
                                    "--mapping", s.mapping.path, "--database", db, "--quiet"])
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(try sqlite(db, "SELECT state, substr(reason, 1, 18) FROM jobs").first ?? [], ["held", "accession-mismatch"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: s.dir.appendingPathComponent("out/DEID-9999").path))
    }

    /// Paths and contents of every file below a folder, as one string to compare.
    func treeDigest(_ url: URL) -> String {
        regularFiles(under: url).map { file in
            file.path.replacingOccurrences(of: url.path, with: "") + ":" + fingerprint((try? Data(contentsOf: file)) ?? Data())
        }.joined(separator: "\n")
    }
}
