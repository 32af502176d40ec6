import DICOM
import Deidentification
import Fixtures
import Foundation
import XCTest

/// Files written the way an odd PACS, a conversion tool or an attacker writes them, through the real
/// binary: no planted value and no original UID comes out however the attributes are encoded, and
/// what the safety policy refuses stays refused.
final class MetadataHardeningTests: XCTestCase {
    override class func setUp() {
        try? DicomToolkit.initialize()
    }

    private func tool(_ name: String) throws -> String {
        let path = "/usr/bin/\(name)"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw XCTSkip("\(path) is not installed (make deps installs it)")
        }
        return path
    }

    @discardableResult
    private func execute(_ path: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Every element at every depth but the pixel data, as "depth tag VR value": what two files
    /// must share to be the same attribute for attribute.
    private func attributes(_ file: DicomFile) -> [String] {
        var lines: [String] = []
        walk(file.dataset) { item, element, depth in
            guard element.tag != .pixelData else { return }
            let value = element.isSequence ? "\(item.items(element.tag).count) items"
                : (item.bytes(element.tag) ?? item.binary(element.tag) ?? []).map { String(format: "%02x", $0) }.joined()
            lines.append("\(depth) \(element.tag) \(element.vr) \(value)")
        }
        return lines
    }

    /// GDCM's `gdcmconv`, asked to compress an implicit VR file, writes every attribute as UN. A head
    /// study so written comes out as the same study written plainly does: attribute for attribute
    /// (the real VRs, UIDs remapped, dates shifted, the face found and removed), pixel for pixel.
    func testAStudyWrittenAllInUNComesOutAsThePlainStudyDoesAndDefaced() throws {
        let dcmconv = try tool("dcmconv"), gdcmconv = try tool("gdcmconv")
        let dir = try temporaryDirectory()
        let plain = dir.appendingPathComponent("plain"), un = dir.appendingPathComponent("un")
        let mapping = dir.appendingPathComponent("mapping.csv")
        let studies = try SampleInbox.write(to: plain, mappingCSV: mapping, patients: 1, slices: 40, size: 128, seed: 12)
        // What the policy refuses, refused when every attribute is UN too: a secondary capture and
        // a localizer made from the first slice (new instance UIDs: each is its own object).
        let first = try XCTUnwrap(regularFiles(under: plain).first { $0.pathExtension == "dcm" })
        for (name, edit) in [("refused-sc.dcm", { (ds: DicomItem) in ds.put(.sopClassUID, "1.2.840.10008.5.1.4.1.1.7") }),
                             ("refused-localizer.dcm", { (ds: DicomItem) in ds.put(Tag(0x0008, 0x0008), "ORIGINAL\\PRIMARY\\LOCALIZER") })] {
            let file = try DicomFile(path: first.path, lazyThreshold: 0)
            _ = edit(file.dataset)
            file.dataset.put(.sopInstanceUID, "1.2.826.0.1.3680043.9.7391.555." + String(name.count))
            _ = try file.save(to: first.deletingLastPathComponent().appendingPathComponent(name).path)
        }
        var converted = 0
        for input in regularFiles(under: plain) where input.pathExtension == "dcm" {
            // GDCM cannot convert the fixture's overlays (it asserts on their comment attributes);
            // ctdeid removes overlays from both studies anyway.
            let file = try DicomFile(path: input.path, lazyThreshold: 0)
            for element in file.dataset.elements where element.tag.group & 0xFF00 == 0x5000 || element.tag.group & 0xFF00 == 0x6000 {
                file.dataset.remove(element.tag)
            }
            _ = try file.save(to: input.path)
            let relative = String(input.path.dropFirst(plain.path.count + 1))
            let target = un.appendingPathComponent(relative)
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            let implicit = dir.appendingPathComponent("implicit.dcm").path
            XCTAssertEqual(try execute(dcmconv, ["+ti", input.path, implicit]), 0)
            XCTAssertEqual(try execute(gdcmconv, ["--rle", implicit, target.path]), 0, relative)
            converted += 1
        }
        XCTAssertEqual(converted, 42)
        // The converted files really say UN: Modality (0008,0060) is written with VR "UN".
        let sample = try Data(contentsOf: try XCTUnwrap(regularFiles(under: un).first { $0.pathExtension == "dcm" }))
        XCTAssertNotNil(sample.range(of: Data([0x08, 0x00, 0x60, 0x00, 0x55, 0x4E])), "gdcmconv wrote Modality as UN")

        let secret = dir.appendingPathComponent("secret.key").path
        var outputs: [URL] = []
        for (name, inbox) in [("plain", plain), ("un", un)] {
            let output = dir.appendingPathComponent("out-\(name)"), database = dir.appendingPathComponent("\(name).sqlite").path
            let result = try runCTDeid(["run", "--input", inbox.path, "--output", output.path, "--mapping", mapping.path,
                                        "--database", database, "--secret", secret, "--keep-names", "--quiet"])
            XCTAssertEqual(result.status, 1, name + ": " + result.stdout + result.stderr)  // 1: files quarantined
            XCTAssertEqual(try sqlite(database, "SELECT verdict FROM series").map { $0[0] }, ["defaced"], name)
            let refused = try sqlite(database, "SELECT input_path, reason FROM files WHERE outcome = 'quarantined' ORDER BY input_path")
                .map { "\($0[0].split(separator: "/").last ?? "") \($0[1].split(separator: ":").first ?? "")" }
            XCTAssertEqual(refused, ["refused-localizer.dcm localizer", "refused-sc.dcm sop-class-not-allowed"], name)
            outputs.append(output)
        }
        let plainOutputs = regularFiles(under: outputs[0]).filter { $0.pathExtension == "dcm" }
        let unOutputs = Dictionary(uniqueKeysWithValues: regularFiles(under: outputs[1]).filter { $0.pathExtension == "dcm" }
            .map { ($0.lastPathComponent, $0) })
        XCTAssertEqual(plainOutputs.count, 40)
        XCTAssertEqual(unOutputs.count, 40)
        let needles = studies[0].planted.rawByteNeedles(), uids = studies[0].planted.uids
        for output in plainOutputs {
            let name = output.lastPathComponent
            let other = try XCTUnwrap(unOutputs[name], name)
            let a = try DicomFile(path: output.path, lazyThreshold: 0), b = try DicomFile(path: other.path, lazyThreshold: 0)
            XCTAssertEqual(attributes(a), attributes(b), name)
            XCTAssertEqual(try a.pixels16(), try b.pixels16(), "\(name): pixels")
            let bytes = try Data(contentsOf: other)
            for needle in needles where bytes.range(of: needle) != nil {
                XCTFail("\(name): a planted string survives (not printed: test PHI)")
            }
            walk(b.dataset) { item, element, _ in
                XCTAssertNotEqual(element.vr, "UN", "\(name): \(element.tag) is still UN")
                if element.vr == "UI" {
                    for value in item.strings(element.tag) { XCTAssertFalse(uids.contains(value), "\(name): original UID in \(element.tag)") }
                }
            }
        }
    }

    // MARK: a crafted corpus

    static let name = "ZEBULONQUIRKE^HEPZIBAH", patientID = "QX774411", birthDate = "19320804", studyDate = "20240801"
    static let root = "1.2.826.0.1.3680043.9.7391.99"
    static let studyUID = root + ".1", seriesUID = root + ".2", frameUID = root + ".4"
    /// What must not come out of any delivered file, in any form this test knows to look for.
    static var needles: [String] { ["ZEBULONQUIRKE", "HEPZIBAH", "MULLERQUIRKE", "MÜLLERQUIRKE", "やまだ", patientID, birthDate, studyDate, root] }
    /// やまだ in JIS X 0208 between ISO 2022 escapes (ESC $ B ... ESC ( B).
    static let jisYamada = Data([0x1B, 0x24, 0x42, 0x24, 0x64, 0x24, 0x5E, 0x24, 0x40, 0x1B, 0x28, 0x42])
    /// The same bytes as other character sets write them.
    static var rawNeedles: [Data] {
        [Data([0x4D, 0xDC, 0x4C, 0x4C, 0x45, 0x52, 0x51, 0x55, 0x49, 0x52, 0x4B, 0x45]),   // MÜLLERQUIRKE in Latin-1
         Data([0x24, 0x64, 0x24, 0x5E, 0x24, 0x40]),                                       // やまだ in JIS X 0208
         Data("ZEBULON".utf8) + Data([0x1B, 0x28, 0x42]) + Data("QUIRKE".utf8)]
    }

    /// A 16x16 CT slice with the planted identity, `extra` added (or replacing) and `drop` left out.
    static func slice(_ index: Int, extra: [DicomElement] = [], drop: Set<DicomTag> = [],
                      sopClass: String = "1.2.840.10008.5.1.4.1.1.2",
                      transferSyntax: String = DicomWriter.explicitVRLittleEndian) throws -> Data {
        let instance = "\(root).3.\(index)"
        var elements: [DicomElement] = [
            DicomElement(0x0008, 0x0008, .CS, "ORIGINAL\\PRIMARY\\AXIAL"),
            DicomElement(0x0008, 0x0016, .UI, sopClass),
            DicomElement(0x0008, 0x0018, .UI, instance),
            DicomElement(0x0008, 0x0020, .DA, studyDate),
            DicomElement(0x0008, 0x0050, .SH, "HARDEN1"),
            DicomElement(0x0008, 0x0060, .CS, "CT"),
            DicomElement(0x0010, 0x0010, .PN, name),
            DicomElement(0x0010, 0x0020, .LO, patientID),
            DicomElement(0x0010, 0x0030, .DA, birthDate),
            DicomElement(0x0020, 0x000D, .UI, studyUID),
            DicomElement(0x0020, 0x000E, .UI, seriesUID),
            DicomElement(0x0020, 0x0013, .IS, "\(index)"),
            DicomElement(0x0020, 0x0052, .UI, frameUID),
            DicomElement(0x0028, 0x0002, .US, .uint16([1])),
            DicomElement(0x0028, 0x0004, .CS, "MONOCHROME2"),
            DicomElement(0x0028, 0x0010, .US, .uint16([16])),
            DicomElement(0x0028, 0x0011, .US, .uint16([16])),
            DicomElement(0x0028, 0x0100, .US, .uint16([16])),
            DicomElement(0x0028, 0x0101, .US, .uint16([12])),
            DicomElement(0x0028, 0x0102, .US, .uint16([11])),
            DicomElement(0x0028, 0x0103, .US, .uint16([0])),
            DicomElement(0x7FE0, 0x0010, .OW, .bytes(Data((0..<512).map { UInt8(truncatingIfNeeded: $0 * 7) }))),
        ]
        let replaced = Set(extra.map(\.tag)).union(drop)
        elements = elements.filter { !replaced.contains($0.tag) } + extra
        let meta = DicomWriter.fileMeta(sopClassUID: sopClass, sopInstanceUID: instance, implementationClassUID: "1.2.3.4")
            .map { $0.tag == DicomTag(0x0002, 0x0010) ? DicomElement(0x0002, 0x0010, .UI, transferSyntax) : $0 }
        return try DicomWriter.part10(meta: meta, dataset: elements)
    }

    /// A slice whose pixel data is encapsulated in `syntax`: an empty Basic Offset Table, then
    /// `fragments` as given (the test's bytes, not a decodable image: the file is refused before
    /// anything decodes it).
    static func encapsulated(_ index: Int, syntax: String, fragments: [Data]) throws -> Data {
        let file = try slice(index, drop: [DicomTag(0x7FE0, 0x0010)], transferSyntax: syntax)
        var pixels = Data([0xE0, 0x7F, 0x10, 0x00, 0x4F, 0x42, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF])
        func item(_ value: Data) {
            pixels.append(contentsOf: [0xFE, 0xFF, 0x00, 0xE0])
            withUnsafeBytes(of: UInt32(value.count).littleEndian) { pixels.append(contentsOf: $0) }
            pixels.append(value)
        }
        item(Data())
        for fragment in fragments { item(fragment) }
        pixels.append(contentsOf: [0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0])
        return file + pixels
    }

    /// The file with its (0002,0000) grown to swallow the dataset's elements up to and including
    /// `last`: a reader that trusts it takes them for file meta.
    static func overlongMeta(_ data: Data, through last: DicomTag) -> Data {
        var bytes = [UInt8](data)
        func u16(_ i: Int) -> Int { Int(bytes[i]) | Int(bytes[i + 1]) << 8 }
        func u32(_ i: Int) -> Int { u16(i) | u16(i + 2) << 16 }
        let declared = u32(140)
        var i = 144 + declared
        while i + 8 <= bytes.count {
            let tag = DicomTag(UInt16(u16(i)), UInt16(u16(i + 2)))
            let vr = String(decoding: bytes[(i + 4)..<(i + 6)], as: UTF8.self)
            let long = ["OB", "OW", "SQ", "UN", "UT", "UR", "UC", "OD", "OF", "OL"].contains(vr)
            i += long ? 12 + u32(i + 8) : 8 + u16(i + 6)
            if tag >= last { break }
        }
        let grown = i - 144
        for k in 0..<4 { bytes[140 + k] = UInt8(truncatingIfNeeded: grown >> (8 * k)) }
        return Data(bytes)
    }

    /// Each way around the metadata engine that was seen, in one patient folder, through `ctdeid
    /// run` with the default options: nothing planted comes out of a delivered file (raw bytes, and
    /// a walk of every element), and what the policy refuses stays refused.
    func testACraftedFolderLeavesNothingPlantedAndRefusesWhatItHides() throws {
        let profile = try Profile(options: ProfileOption.defaults)
        // The attributes below are chosen because the table does not list them.
        let unlisted: [(Tag, String)] = [(Tag(0x0008, 0x1167), "UI"), (Tag(0x0020, 0x0242), "UI"), (Tag(0x0040, 0xE011), "UI"),
                                         (Tag(0x0014, 0x0102), "DA"), (Tag(0x4010, 0x1025), "DT"), (Tag(0x0008, 0x1190), "UR"),
                                         (Tag(0x0018, 0x0015), "CS"), (Tag(0x0400, 0x0500), "SQ")]
        for (tag, vr) in unlisted {
            XCTAssertNil(profile.rule(for: tag), "\(tag) is listed: the case tests nothing")
            XCTAssertEqual(DicomToolkit.dictionaryVR(tag), vr, "\(tag)")
        }
        let dir = try temporaryDirectory()
        let folder = dir.appendingPathComponent("inbox/HARDEN1")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let study = Self.studyUID, series = Self.seriesUID, own = "\(Self.root).3.2"
        let delivered: [String: Data] = [
            // Words of the name in CS and UR values, a UID of the study in a URL.
            "cs-ur.dcm": try Self.slice(1, extra: [
                DicomElement(0x0018, 0x0015, .CS, "ZEBULONQUIRKE"),
                DicomElement(0x0008, 0x0068, .CS, "FOR HEPZIBAH"),
                DicomElement(0x0008, 0x0056, .CS, "HEPZIBAH"),
                DicomElement(0x0028, 0x0302, .CS, .bytes(Data("NO\u{0}ZEBULONQUIRKE".utf8))),
                DicomElement(0x0008, 0x1190, .UR, "https://pacs.example.org/wado?studyUID=\(study)"),
                DicomElement(0x0040, 0xE010, .UR, "https://pacs.example.org/ZEBULONQUIRKE"),
                DicomElement(0x0028, 0x7FE0, .UR, "https://pacs.example.org/series/\(series)"),
            ]),
            // UIDs, dates and times the table does not list.
            "unlisted.dcm": try Self.slice(2, extra: [
                DicomElement(0x0008, 0x1167, .UI, own),
                DicomElement(0x0020, 0x0242, .UI, own),
                DicomElement(0x0040, 0xE011, .UI, Self.root + ".77"),
                DicomElement(0x0014, 0x0102, .DA, Self.birthDate),
                DicomElement(0x4010, 0x1025, .DT, Self.studyDate + "101010"),
            ]),
            // The original identity, encrypted (here in the clear, as a key holder would read it).
            "encrypted.dcm": try Self.slice(3, extra: [
                .sequence(0x0400, 0x0500, [[
                    DicomElement(0x0400, 0x0510, .UI, "1.2.840.10008.1.2.1"),
                    DicomElement(0x0400, 0x0520, .OB, .bytes(Data((Self.name + " " + Self.patientID).utf8))),
                ]]),
            ]),
            // Command elements in the dataset and in an item.
            "command.dcm": try Self.slice(4, extra: [
                DicomElement(0x0000, 0x0600, .AE, "ZEBULONQUIRKE"),
                DicomElement(0x0000, 0x1030, .AE, "HEPZIBAH"),
                .sequence(0x0008, 0x1140, [[
                    DicomElement(0x0000, 0x0600, .AE, "HEPZIBAH"),
                    DicomElement(0x0008, 0x1150, .UI, "1.2.840.10008.5.1.4.1.1.2"),
                    DicomElement(0x0008, 0x1155, .UI, "\(Self.root).3.1"),
                ]]),
            ]),
            // Names in other character sets and forms: Latin-1 with an accent, repeated without it in
            // a code and in UTF-8 in an item that says so; a JIS phonetic name repeated in UTF-8; a name
            // split by an ISO 2022 escape.
            "latin1.dcm": try Self.slice(15, extra: [
                DicomElement(0x0008, 0x0005, .CS, "ISO_IR 100"),
                DicomElement(0x0010, 0x0010, .PN, .latin1("MÜLLERQUIRKE^HEPZIBAH")),
                DicomElement(0x0018, 0x0015, .CS, "MULLERQUIRKE"),
                .sequence(0x0040, 0x0260, [[
                    DicomElement(0x0008, 0x0005, .CS, "ISO_IR 192"),
                    DicomElement(0x0008, 0x0100, .SH, "P1"),
                    DicomElement(0x0008, 0x0102, .SH, "LOCAL"),
                    DicomElement(0x0008, 0x0104, .LO, "MÜLLERQUIRKE room"),
                ]]),
            ]),
            "iso2022.dcm": try Self.slice(16, extra: [
                DicomElement(0x0008, 0x0005, .CS, "\\ISO 2022 IR 87"),
                DicomElement(0x0010, 0x0010, .PN, .bytes(Data("ZEBULONQUIRKE^HEPZIBAH=".utf8) + Self.jisYamada)),
                DicomElement(0x0018, 0x1030, .LO, .bytes(Data("ZEBULON".utf8) + Data([0x1B, 0x28, 0x42]) + Data("QUIRKE HEAD ".utf8))),
                .sequence(0x0040, 0x0260, [[
                    DicomElement(0x0008, 0x0005, .CS, "ISO_IR 192"),
                    DicomElement(0x0008, 0x0100, .SH, "P1"),
                    DicomElement(0x0008, 0x0102, .SH, "LOCAL"),
                    DicomElement(0x0008, 0x0104, .LO, "やまだ protocol"),
                ]]),
            ]),
            // A standard attribute written with a VR the dictionary does not give it.
            "wrong-vr.dcm": try Self.slice(5, extra: [
                DicomElement(0x0008, 0x0020, .LO, Self.studyDate),
                DicomElement(0x0008, 0x0021, .OB, .bytes(Data(Self.studyDate.utf8))),
                DicomElement(0x0008, 0x0080, .OB, .bytes(Data("HEPZIBAH CLINIC ".utf8))),
            ]),
        ]
        // Refused however its attributes are hidden: a secondary capture, a localizer and a
        // BurnedInAnnotation=YES image whose first elements an over-long meta length swallows,
        // and a dataset without its SOP Instance UID.
        let refused: [String: (Data, String)] = [
            "meta-sc.dcm": (Self.overlongMeta(try Self.slice(6, sopClass: "1.2.840.10008.5.1.4.1.1.7"), through: DicomTag(0x0008, 0x0018)),
                            "file-meta-mismatch"),
            "meta-localizer.dcm": (Self.overlongMeta(try Self.slice(7, extra: [DicomElement(0x0008, 0x0008, .CS, "ORIGINAL\\PRIMARY\\LOCALIZER")]),
                                                     through: DicomTag(0x0008, 0x0008)), "file-meta-mismatch"),
            "meta-burned-in.dcm": (Self.overlongMeta(try Self.slice(8, extra: [DicomElement(0x0028, 0x0301, .CS, "YES")]),
                                                     through: DicomTag(0x0028, 0x0301)), "file-meta-mismatch"),
            "no-instance.dcm": (try Self.slice(9, drop: [DicomTag(0x0008, 0x0018)]), "no-sop-instance"),
            // A secondary capture whose SOPClassUID is written as UN, or as OB.
            "sc-un.dcm": (try Self.slice(17, extra: [DicomElement(0x0008, 0x0016, .UN, .bytes(Data("1.2.840.10008.5.1.4.1.1.7\u{0}".utf8)))],
                                         sopClass: "1.2.840.10008.5.1.4.1.1.2"), "sop-class-not-allowed"),
            "sc-ob.dcm": (try Self.slice(18, extra: [DicomElement(0x0008, 0x0016, .OB, .bytes(Data("1.2.840.10008.5.1.4.1.1.7\u{0}".utf8)))],
                                         sopClass: "1.2.840.10008.5.1.4.1.1.2"), "sop-class-not-allowed"),
            // Encapsulated pixel data with a fragment beyond the frame, or bytes after its end marker.
            "rle-extra-fragment.dcm": (try Self.encapsulated(11, syntax: "1.2.840.10008.1.2.5", fragments: [
                Data(count: 64), Data((Self.name + "  ").utf8)]), "pixel-data-overlong"),
            "jpeg-extra-fragment.dcm": (try Self.encapsulated(12, syntax: "1.2.840.10008.1.2.4.70", fragments: [
                Data([0xFF, 0xD8]) + Data(count: 60) + Data([0xFF, 0xD9]), Data((Self.name + "  ").utf8)]), "pixel-data-overlong"),
            "jpeg-after-end.dcm": (try Self.encapsulated(13, syntax: "1.2.840.10008.1.2.4.70", fragments: [
                Data([0xFF, 0xD8]) + Data(count: 60) + Data([0xFF, 0xD9]) + Data((Self.name + "  ").utf8)]), "pixel-data-overlong"),
            // The same read by DCMTK whole (an element after the pixel data keeps it off the fast path).
            "rle-extra-fragment-trailing.dcm": (try Self.encapsulated(14, syntax: "1.2.840.10008.1.2.5", fragments: [
                Data(count: 64), Data((Self.name + "  ").utf8)]) + Data([0xFC, 0xFF, 0xFC, 0xFF, 0x4F, 0x42, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0]),
                                                "pixel-data-overlong"),
            // Native pixel data with bytes beyond the frame.
            "pixels-overlong.dcm": (try Self.slice(10, extra: [DicomElement(0x7FE0, 0x0010, .OW, .bytes(Data(count: 512) + Data((Self.name + "  ").utf8)))]),
                                    "pixel-data-overlong"),
        ]
        for (name, data) in delivered { try data.write(to: folder.appendingPathComponent(name)) }
        for (name, (data, _)) in refused { try data.write(to: folder.appendingPathComponent(name)) }
        let mapping = dir.appendingPathComponent("mapping.csv")
        try "Accession_number,De-identification_ID\nHARDEN1,HARD-0001\n".write(to: mapping, atomically: true, encoding: .utf8)
        let output = dir.appendingPathComponent("out"), database = dir.appendingPathComponent("db.sqlite").path
        let result = try runCTDeid(["run", "--input", dir.appendingPathComponent("inbox").path, "--output", output.path,
                                    "--mapping", mapping.path, "--database", database, "--keep-names", "--deface", "off", "--quiet"])
        XCTAssertFalse(result.crashed, result.stderr)
        for needle in Self.needles { XCTAssertFalse((result.stdout + result.stderr).contains(needle), "the run printed a planted value") }

        let reasons = Dictionary(try sqlite(database, "SELECT input_path, reason FROM files WHERE outcome = 'quarantined'")
            .map { (String($0[0].split(separator: "/").last ?? ""), $0.count > 1 ? $0[1] : "") }, uniquingKeysWith: { a, _ in a })
        for (name, (_, code)) in refused {
            XCTAssertTrue(reasons[name]?.hasPrefix(code) == true, "\(name): \(reasons[name] ?? "delivered"), expected \(code)")
        }
        let outputs = regularFiles(under: output).filter { $0.pathExtension == "dcm" }
        XCTAssertEqual(Set(outputs.map(\.lastPathComponent)), Set(delivered.keys))
        let encodings = Self.needles.flatMap { [Data($0.utf8), Data($0.utf16.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8($0 >> 8)] })] }
            + Self.rawNeedles
        for url in outputs {
            let name = url.lastPathComponent
            let bytes = try Data(contentsOf: url)
            for needle in encodings where bytes.range(of: needle) != nil {
                XCTFail("\(name): a planted value survives in the bytes")
            }
            let file = try DicomFile(path: url.path, lazyThreshold: 0)
            walk(file.dataset) { item, element, depth in
                let tag = element.tag
                XCTAssertNotEqual(tag.group, 0x0000, "\(name): command element \(tag) at depth \(depth)")
                XCTAssertNotEqual(tag.group, 0x0400, "\(name): \(tag) at depth \(depth)")
                XCTAssertTrue(DicomToolkit.dictionaryAllows(tag, vr: element.vr) != false || element.vr.first?.isLowercase == true
                              || element.vr.last?.isLowercase == true, "\(name): \(tag) written as \(element.vr)")
                let text = String(decoding: item.bytes(tag) ?? item.binary(tag) ?? [], as: UTF8.self).uppercased()
                for needle in Self.needles where text.contains(needle) { XCTFail("\(name): \(tag) holds a planted value") }
                if element.vr == "UI" {
                    for value in item.strings(tag) where !value.isEmpty {
                        XCTAssertTrue(value.hasPrefix("2.25.") || value.hasPrefix("1.2.840.10008."), "\(name): \(tag) keeps an original UID")
                    }
                }
            }
            if name == "wrong-vr.dcm" {
                XCTAssertEqual(file.dataset.elements.first { $0.tag == Tag(0x0008, 0x0020) }?.vr, "DA")
                XCTAssertNotEqual(file.dataset.string(Tag(0x0008, 0x0020)), Self.studyDate)
            }
        }
    }
}
