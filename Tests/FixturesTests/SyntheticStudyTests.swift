import Foundation
import TestSupport
import XCTest
@testable import Fixtures

/// Shared helpers for the fixture tests.
enum TestSupport {
    static func temporaryFolder(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("fixtures-tests-\(name)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Full path of an executable on PATH, or nil.
    static func which(_ tool: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs a tool; returns (exit status, stdout + stderr).
    static func run(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Every file below `folder` as (path relative to `folder`, bytes), sorted by path.
    static func tree(_ folder: URL) throws -> [(String, Data)] {
        let base = folder.standardizedFileURL.path
        var out: [(String, Data)] = []
        let e = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey])
        while let u = e?.nextObject() as? URL {
            guard (try u.resourceValues(forKeys: [.isRegularFileKey])).isRegularFile == true else { continue }
            let p = u.standardizedFileURL.path
            out.append((String(p.dropFirst(base.count)), try Data(contentsOf: u)))
        }
        return out.sorted { $0.0 < $1.0 }
    }
}

final class SyntheticStudyTests: XCTestCase {
    var folders: [URL] = []

    override func tearDown() {
        for f in folders { try? FileManager.default.removeItem(at: f) }
        folders = []
        super.tearDown()
    }

    func tmp(_ name: String) throws -> URL {
        let u = try TestSupport.temporaryFolder(name)
        folders.append(u)
        return u
    }

    func testPatientsAreDistinctDistinctiveAndDeterministic() {
        let ps = (0..<20).map { SyntheticPatient(seed: 1, index: $0) }
        XCTAssertEqual(Set(ps.map(\.patientName)).count, 20)
        XCTAssertEqual(Set(ps.map(\.patientID)).count, 20)
        XCTAssertEqual(Set(ps.map(\.accessionNumber)).count, 20)
        XCTAssertEqual(SyntheticPatient(seed: 1, index: 3), SyntheticPatient(seed: 1, index: 3))
        XCTAssertNotEqual(SyntheticPatient(seed: 2, index: 0).patientID, ps[0].patientID)
        XCTAssertEqual(ps[0].patientName, "QUARTZHOLLOW^ZEPHYRINA")
        XCTAssertEqual(ps[1].patientName, "MÜLLERSBACH^JÖRGINA")
        XCTAssertTrue(ps[1].usesLatin1)
        XCTAssertEqual(ps[1].specificCharacterSet, "ISO_IR 100")
        XCTAssertNil(ps[0].specificCharacterSet)
        XCTAssertEqual(ps[0].deidentificationID, "DEID-0001")
        for p in ps {
            let phi = SyntheticStudy(patient: p).plantedPHI(slices: 2)
            for n in phi.rawByteNeedles() { XCTAssertGreaterThanOrEqual(n.count, 6, String(decoding: n, as: UTF8.self)) }
            XCTAssertEqual(phi.dates, [p.birthDate])
            XCTAssertFalse(phi.uids.contains(SyntheticStudy.ctImageStorage))
            XCTAssertLessThanOrEqual(p.telephone.count, 16)
            XCTAssertTrue(phi.uids.allSatisfy { $0.count <= 64 })
        }
    }

    func testSeriesLayoutAndStructure() throws {
        let folder = try tmp("layout")
        let p = SyntheticPatient(seed: 1, index: 0)
        let w = try SyntheticStudy.writeSeries(patient: p, slices: 4, rows: 32, columns: 32, into: folder)
        XCTAssertEqual(w.files.count, 4)
        XCTAssertEqual(w.studyFolder.lastPathComponent, "QUARTZHOLLOW_ZEPHYRINA_\(p.studyDate)")
        XCTAssertEqual(w.seriesFolder.lastPathComponent, "SE0002_CT_HEAD_QUARTZHOLLOW")
        XCTAssertEqual(w.files[0].lastPathComponent, "IM_\(w.sopInstanceUIDs[0]).dcm")
        XCTAssertEqual(w.files[0].deletingLastPathComponent().standardizedFileURL, w.seriesFolder.standardizedFileURL)

        let sops = Set(w.sopInstanceUIDs)
        var lastZ = -Double.infinity
        for (k, url) in w.files.enumerated() {
            let bytes = try Data(contentsOf: url)
            let f = try MiniDicomReader.parseFile(bytes)
            let ds = f.dataset
            // file meta
            XCTAssertEqual(f.meta.first { $0.element == 0x0016 }?.trimmed, "QZHOSP_AE1")
            XCTAssertEqual(f.meta.first { $0.element == 0x0017 }?.trimmed, p.sendingAETitle)
            XCTAssertEqual(f.meta.first { $0.element == 0x0003 }?.trimmed, w.sopInstanceUIDs[k])
            XCTAssertTrue(f.preamble.containsBytes(Data(p.patientName.utf8)))
            // top level
            XCTAssertEqual(ds.first(0x0010, 0x0010)?.trimmed, p.patientName)
            XCTAssertEqual(ds.first(0x0008, 0x0050)?.trimmed, p.accessionNumber)
            XCTAssertEqual(ds.first(0x0008, 0x1030)?.trimmed, "CT HEAD QUARTZHOLLOW")
            XCTAssertEqual(ds.first(0x0008, 0x0016)?.trimmed, SyntheticStudy.ctImageStorage)
            XCTAssertEqual(ds.first(0x0020, 0x0013)?.trimmed, String(k + 1))
            XCTAssertEqual(ds.first(0x0028, 0x0103)?.uint16, 1)
            XCTAssertEqual(ds.first(0x7FE0, 0x0010)?.value.count, 32 * 32 * 2)
            XCTAssertNil(ds.first(0x0008, 0x0005), "ASCII patient has no SpecificCharacterSet")
            let ipp = try XCTUnwrap(ds.first(0x0020, 0x0032)?.trimmed).split(separator: "\\").compactMap { Double($0) }
            XCTAssertEqual(ipp, [w.geometry.originX, w.geometry.originY, w.geometry.sliceZ[k]])
            XCTAssertGreaterThan(ipp[2], lastZ)
            lastZ = ipp[2]
            // elements sorted at top level
            let tags = ds.elements.map { UInt32($0.group) << 16 | UInt32($0.element) }
            XCTAssertEqual(tags, tags.sorted())
            // referential integrity: previous slice
            let ref = ds.first(0x0008, 0x1140)?.items.first?.first(0x0008, 0x1155)?.trimmed
            XCTAssertEqual(ref, w.sopInstanceUIDs[(k + 3) % 4])
            XCTAssertTrue(sops.contains(ref ?? ""))
            // depth-3 chain in an undefined-length sequence
            let ras = try XCTUnwrap(ds.first(0x0040, 0x0275))
            XCTAssertTrue(ras.undefinedLength)
            XCTAssertEqual(ras.items.first?.first(0x0040, 0x1001)?.trimmed, p.requestedProcedureID)
            let context = ras.items.first?.first(0x0040, 0x0008)?.items.first?.first(0x0040, 0x0440)
            XCTAssertEqual(context?.items.first?.first(0x0040, 0xA123)?.trimmed, p.patientName)
            XCTAssertTrue(context?.undefinedLength ?? false)
            // private block
            XCTAssertEqual(ds.first(0x0009, 0x0010)?.trimmed, "QUARTZ_PRIVATE_01")
            XCTAssertEqual(ds.first(0x0009, 0x1001)?.trimmed, p.patientName)
            XCTAssertEqual(ds.first(0x0009, 0x1004)?.items.first?.first(0x0009, 0x1001)?.trimmed, p.patientName)
            XCTAssertEqual(ds.first(0x0009, 0x1005)?.vr, "UN")
            XCTAssertEqual(ds.first(0x0009, 0x1005)?.trimmed, p.patientName)
            // repeating groups, original attributes
            XCTAssertEqual(ds.first(0x6000, 0x1500)?.trimmed, p.patientName)
            XCTAssertEqual(ds.first(0x6000, 0x3000)?.vr, "OW")
            XCTAssertTrue(ds.first(0x5000, 0x2500)?.trimmed.contains("QUARTZHOLLOW") ?? false)
            let old = ds.first(0x0400, 0x0561)?.items.first?.first(0x0400, 0x0550)?.items.first?.first(0x0010, 0x0010)
            XCTAssertEqual(old?.trimmed, p.previousPatientName)
            XCTAssertEqual(ds.first(0x0010, 0x1002)?.items.first?.first(0x0010, 0x0020)?.trimmed, p.otherPatientID)
        }
    }

    /// The stored pixels are exactly the phantom rendered at the positions written in the file.
    func testPixelsMatchPhantomAtWrittenPositions() throws {
        let folder = try tmp("pixels")
        let w = try SyntheticStudy.writeSeries(patient: SyntheticPatient(seed: 3, index: 0), slices: 6, rows: 48, columns: 40, into: folder)
        let phantom = HeadPhantom()
        for url in w.files {
            let ds = try MiniDicomReader.parseFile(try Data(contentsOf: url)).dataset
            let ipp = try XCTUnwrap(ds.first(0x0020, 0x0032)?.trimmed).split(separator: "\\").compactMap { Double($0) }
            let spacing = try XCTUnwrap(ds.first(0x0028, 0x0030)?.trimmed).split(separator: "\\").compactMap { Double($0) }
            let rows = Int(try XCTUnwrap(ds.first(0x0028, 0x0010)).uint16)
            let cols = Int(try XCTUnwrap(ds.first(0x0028, 0x0011)).uint16)
            XCTAssertEqual([rows, cols], [48, 40])
            let px = [UInt8](try XCTUnwrap(ds.first(0x7FE0, 0x0010)).value)
            for r in 0..<rows {
                for c in 0..<cols {
                    let i = 2 * (r * cols + c)
                    let v = Int16(bitPattern: UInt16(px[i]) | UInt16(px[i + 1]) << 8)
                    let x = ipp[0] + Double(c) * spacing[1], y = ipp[1] + Double(r) * spacing[0]
                    XCTAssertEqual(v, phantom.hounsfield(x: x, y: y, z: ipp[2]))
                }
            }
        }
    }

    func testLatin1Patient() throws {
        let folder = try tmp("latin1")
        let p = SyntheticPatient(seed: 1, index: 1)
        let w = try SyntheticStudy.writeSeries(patient: p, slices: 2, rows: 16, columns: 16, into: folder)
        let bytes = try Data(contentsOf: w.files[0])
        let ds = try MiniDicomReader.parseFile(bytes).dataset
        XCTAssertEqual(ds.first(0x0008, 0x0005)?.trimmed, "ISO_IR 100")
        XCTAssertEqual(ds.first(0x0010, 0x0010)?.value.prefix(19), DicomText.latin1Bytes("MÜLLERSBACH^JÖRGINA"))
        XCTAssertTrue(bytes.containsBytes(DicomText.latin1Bytes("MÜLLERSBACH")))
        XCTAssertTrue(bytes.containsBytes(Data("MÜLLERSBACH".utf8)), "UTF-8 in the preamble")
        let needles = w.planted.rawByteNeedles()
        XCTAssertTrue(needles.contains(DicomText.latin1Bytes("JÖRGINA")))
        XCTAssertTrue(needles.contains(Data("JÖRGINA".utf8)))
        XCTAssertTrue(w.studyFolder.lastPathComponent.hasPrefix("MÜLLERSBACH_JÖRGINA_"))
    }

    /// Every planted string is really in the output: in a file's bytes or in a path name.
    func testEveryPlantedNeedleOccurs() throws {
        for index in [0, 1] {
            let folder = try tmp("needles\(index)")
            let w = try SyntheticStudy.writeSeries(patient: SyntheticPatient(seed: 7, index: index), slices: 3, rows: 16, columns: 16, into: folder)
            let contents = try w.files.map { try Data(contentsOf: $0) }
            let paths = w.files.map { Data($0.path.utf8) }
            let needles = Set(w.planted.rawByteNeedles())
            for s in w.planted.needleStrings() {
                let encodings = PlantedPHI.encodings(of: s)
                XCTAssertTrue(encodings.allSatisfy { needles.contains($0) }, s)
                let found = encodings.contains { needle in
                    contents.contains { $0.containsBytes(needle) } || paths.contains { $0.containsBytes(needle) }
                }
                XCTAssertTrue(found, "not planted: \(s)")
            }
            // The patient's own name components appear in every encoding (UTF-8 preamble and paths).
            for comp in [w.patient.familyName, w.patient.givenName] {
                for needle in PlantedPHI.encodings(of: comp) {
                    XCTAssertTrue(contents.contains { $0.containsBytes(needle) }, comp)
                }
            }
            for uid in w.planted.uids {
                XCTAssertTrue(contents.contains { $0.containsBytes(Data(uid.utf8)) }, uid)
            }
            XCTAssertEqual(w.planted.all.count,
                           w.planted.names.count + w.planted.identifiers.count + w.planted.freeText.count
                           + w.planted.uids.count + w.planted.dates.count)
        }
    }

    /// No planted string hides in attributes a de-identifier legitimately keeps (pixel data, geometry,
    /// acquisition parameters, fixed descriptors), so finding one in the output always means a leak.
    func testNeedlesAreAbsentFromKeptAttributes() throws {
        let folder = try tmp("kept")
        for index in [0, 1, 2] {
            let w = try SyntheticStudy.writeSeries(patient: SyntheticPatient(seed: 1, index: index), slices: 4, rows: 64, columns: 64,
                                                   into: folder.appendingPathComponent("\(index)"))
            let personal: Set<UInt32> = [0x0018_1000, 0x0018_1030] // DeviceSerialNumber, ProtocolName
            let keptGroups: Set<UInt16> = [0x0018, 0x0028, 0x7FE0]
            let keptTags: Set<UInt32> = [0x0008_0008, 0x0008_0016, 0x0008_0060, 0x0008_0070, 0x0008_1032, 0x0008_1090,
                                         0x0020_0011, 0x0020_0012, 0x0020_0013, 0x0020_0032, 0x0020_0037, 0x0020_1041,
                                         0x6000_0010, 0x6000_0011, 0x6000_0040, 0x6000_0050, 0x6000_0100, 0x6000_0102, 0x6000_3000]
            let needles = w.planted.rawByteNeedles()
            for url in w.files {
                let ds = try MiniDicomReader.parseFile(try Data(contentsOf: url)).dataset
                var kept = Data()
                for e in ds.elements {
                    let tag = UInt32(e.group) << 16 | UInt32(e.element)
                    guard (keptGroups.contains(e.group) || keptTags.contains(tag)) && !personal.contains(tag) else { continue }
                    kept.append(e.value)
                    for item in e.items { for sub in item.elements { kept.append(sub.value) } }
                }
                XCTAssertGreaterThan(kept.count, 64 * 64 * 2)
                for n in needles { XCTAssertFalse(kept.containsBytes(n), String(decoding: n, as: UTF8.self)) }
            }
        }
    }

    func testDeterministicBytes() throws {
        let a = try tmp("detA"), b = try tmp("detB")
        let p = SyntheticPatient(seed: 42, index: 1)
        _ = try SyntheticStudy.writeSeries(patient: p, slices: 5, rows: 24, columns: 24, into: a)
        _ = try SyntheticStudy.writeSeries(patient: p, slices: 5, rows: 24, columns: 24, into: b)
        let ta = try TestSupport.tree(a), tb = try TestSupport.tree(b)
        XCTAssertEqual(ta.count, 5)
        XCTAssertEqual(ta.map(\.0), tb.map(\.0))
        for (x, y) in zip(ta, tb) { XCTAssertEqual(x.1, y.1, x.0) }
        let c = try tmp("detC")
        _ = try SyntheticStudy.writeSeries(patient: SyntheticPatient(seed: 43, index: 1), slices: 5, rows: 24, columns: 24, into: c)
        XCTAssertNotEqual(try TestSupport.tree(c).map(\.0), ta.map(\.0))
    }

    func testDcmdumpReadsGeneratedFile() throws {
        guard let dcmdump = TestSupport.which("dcmdump") else { throw XCTSkip("dcmdump not installed") }
        let folder = try tmp("dcmdump")
        for index in [0, 1] {
            let p = SyntheticPatient(seed: 1, index: index)
            let w = try SyntheticStudy.writeSeries(patient: p, slices: 2, rows: 32, columns: 32, into: folder.appendingPathComponent("\(index)"))
            let (status, out) = try TestSupport.run(dcmdump, ["+U8", w.files[1].path])
            XCTAssertEqual(status, 0, out)
            XCTAssertTrue(out.contains("(0010,0010) PN [\(p.patientName)]"), out)
            XCTAssertTrue(out.contains("(0009,0010) LO [QUARTZ_PRIVATE_01]"), out)
            XCTAssertTrue(out.contains("Sequence with undefined length"), out)
            XCTAssertFalse(out.contains("E: "), out)
        }
    }

    func testDciodvfyReportsNoErrors() throws {
        guard let tool = TestSupport.which("dciodvfy") else { throw XCTSkip("dciodvfy not installed") }
        let folder = try tmp("dciodvfy")
        for index in [0, 1] {
            let w = try SyntheticStudy.writeSeries(patient: SyntheticPatient(seed: 1, index: index), slices: 2, rows: 32, columns: 32, into: folder.appendingPathComponent("\(index)"))
            let (_, out) = try TestSupport.run(tool, [w.files[0].path])
            let errors = out.split(separator: "\n").filter { $0.contains("Error") }
            XCTAssertEqual(errors, [], out)
            XCTAssertTrue(out.contains("CTImage"), out)
        }
    }
}

final class SampleInboxTests: XCTestCase {
    func testWritesFoldersAndMappingCSV() throws {
        let root = try TestSupport.temporaryFolder("inbox")
        defer { try? FileManager.default.removeItem(at: root) }
        let inbox = root.appendingPathComponent("inbox"), csv = root.appendingPathComponent("mapping.csv")
        let studies = try SampleInbox.write(to: inbox, mappingCSV: csv, patients: 3, slices: 3, size: 32, seed: 1)
        XCTAssertEqual(studies.count, 3)
        let accessions = studies.map(\.patient.accessionNumber)
        XCTAssertEqual(Set(accessions).count, 3)
        let listing = try FileManager.default.contentsOfDirectory(atPath: inbox.path).sorted()
        XCTAssertEqual(listing, accessions.sorted(), "no .tmp- leftovers")
        for s in studies {
            XCTAssertEqual(s.patientFolder.lastPathComponent, s.patient.accessionNumber)
            XCTAssertEqual(s.files.count, 3)
            for f in s.files { XCTAssertTrue(FileManager.default.fileExists(atPath: f.path), f.path) }
            XCTAssertTrue(s.files[0].path.hasPrefix(inbox.appendingPathComponent(s.patient.accessionNumber).path))
        }
        let text = try String(contentsOf: csv, encoding: .utf8)
        XCTAssertEqual(text, "Accession_number,De-identification_ID\n"
                       + "\(accessions[0]),DEID-0001\n\(accessions[1]),DEID-0002\n\(accessions[2]),DEID-0003\n")
        // Rewriting replaces the folders and gives the same bytes.
        let before = try TestSupport.tree(inbox)
        _ = try SampleInbox.write(to: inbox, mappingCSV: csv, patients: 3, slices: 3, size: 32, seed: 1)
        let after = try TestSupport.tree(inbox)
        XCTAssertEqual(before.map(\.0), after.map(\.0))
        XCTAssertTrue(zip(before, after).allSatisfy { $0.1 == $1.1 })
    }
}
