@testable import DICOM
@testable import Deidentification
import Foundation
import XCTest

/// Builds a CT dataset in memory with identifying data at the top level, in sequences three
/// deep, in private, overlay and curve groups, then checks every action on the saved result.
final class DeidentifierTests: XCTestCase {
    static let ctImage = "1.2.840.10008.5.1.4.1.1.2"

    override class func setUp() {
        try! DicomToolkit.initialize()
    }

    func makeDataset(in dir: URL) throws -> DicomFile {
        let file = DicomFile()
        let ds = file.dataset
        ds.put(.specificCharacterSet, "ISO_IR 100")
        ds.put(Tag(0x0008, 0x0008), "ORIGINAL\\PRIMARY\\AXIAL")
        ds.put(.sopClassUID, Self.ctImage)
        ds.put(.sopInstanceUID, "1.2.826.0.1.3680043.9.7391.100")
        ds.put(Tag(0x0020, 0x000D), "1.2.826.0.1.3680043.9.7391.1")
        ds.put(Tag(0x0020, 0x000E), "1.2.826.0.1.3680043.9.7391.2")
        ds.put(Tag(0x0020, 0x0052), "1.2.826.0.1.3680043.9.7391.3")
        ds.put(.patientName, "QUARTZHOLLOW^ZEPHYRINA")
        ds.put(.patientID, "PID7391X0")
        ds.put(.patientBirthDate, "19610315")
        ds.put(Tag(0x0010, 0x0040), "F")
        ds.put(Tag(0x0010, 0x1040), "44 VELVETMOOR LANE")
        ds.put(.accessionNumber, "4401203")
        ds.put(.studyDate, "20240117")
        ds.put(Tag(0x0008, 0x0021), "20240118")
        ds.put(Tag(0x0008, 0x0030), "101500")
        ds.put(Tag(0x0008, 0x002A), "20240117101510.25")
        ds.put(Tag(0x0008, 0x1030), "CT HEAD QUARTZHOLLOW")
        ds.put(Tag(0x0008, 0x103E), "AXIAL 5MM")
        ds.put(Tag(0x0008, 0x0080), "VELVETMOOR CLINIC")
        ds.put(Tag(0x0008, 0x0090), "BRAMBLEWICK^OTTO")
        ds.put(Tag(0x0020, 0x4000), "Patient Zephyrina fell at home")
        ds.put(Tag(0x0018, 0x1030), "HEAD ROUTINE")
        ds.put(.modality, "CT")
        ds.put(Tag(0x0020, 0x0010), "STQ77")
        ds.put(.rows, "2")
        ds.put(.columns, "2")
        ds.put(.bitsAllocated, "16")
        ds.put(.samplesPerPixel, "1")
        ds.put(.pixelData, "1\\2\\3\\4", vr: "OW")
        // References: one to another image, one to the study itself three levels down.
        let referenced = ds.appendItem(Tag(0x0008, 0x1140))!
        referenced.put(Tag(0x0008, 0x1150), Self.ctImage)
        referenced.put(Tag(0x0008, 0x1155), "1.2.826.0.1.3680043.9.7391.99")
        let request = ds.appendItem(Tag(0x0040, 0x0275))!
        request.put(Tag(0x0040, 0x1001), "RPQUARTZ1")
        request.put(.accessionNumber, "4401203")
        let study = request.appendItem(Tag(0x0008, 0x1110))!
        study.put(Tag(0x0008, 0x1150), "1.2.840.10008.3.1.2.3.1")
        study.put(Tag(0x0008, 0x1155), "1.2.826.0.1.3680043.9.7391.1")
        study.put(Tag(0x0040, 0xA123), "QUARTZHOLLOW^Z")
        // Private block, overlay, curve, original attributes.
        ds.put(Tag(0x0009, 0x0010), "QUARTZ_PRIVATE_01", vr: "LO")
        ds.put(Tag(0x0009, 0x1001), "QUARTZHOLLOW", vr: "LO")
        ds.appendItem(Tag(0x0009, 0x1002))?.put(Tag(0x0010, 0x0010), "QUARTZHOLLOW")
        ds.put(Tag(0x6000, 0x0010), "2", vr: "US")
        ds.put(Tag(0x6000, 0x0022), "QUARTZHOLLOW overlay", vr: "LO")
        ds.put(Tag(0x6000, 0x3000), "0", vr: "OW")
        ds.put(Tag(0x5000, 0x2500), "QUARTZHOLLOW curve", vr: "LO")
        let original = ds.appendItem(Tag(0x0400, 0x0561))!
        original.appendItem(Tag(0x0400, 0x0550))?.put(.patientName, "QUARTZHOLLOW^OLD")
        ds.put(Tag(0x0010, 0x1010), "")
        // An even-group tag no dictionary knows (found by the fuzzer: kept as an opaque blob).
        ds.put(Tag(0x1008, 0x3200), "QUARTZHOLLOW unknown", vr: "UN")
        ds.put(Tag(0x0018, 0x0050), "5")  // Slice Thickness: known, not in the table, kept
        return try file.roundTrip(in: dir, name: "input.dcm")
    }

    func deidentify(_ options: Set<ProfileOption>, offset: Int = -400) throws -> (DicomFile, DicomFile, UIDRemapper) {
        let dir = try temporaryDirectory()
        let input = try makeDataset(in: dir)
        let remapper = UIDRemapper(secret: testSecret)
        let deidentifier = Deidentifier(profile: try Profile(options: options), uids: remapper)
        let target = try DicomFile(path: dir.appendingPathComponent("input.dcm").path)
        XCTAssertNil(deidentifier.quarantineReason(for: target))
        deidentifier.apply(to: target, patient: PatientContext(
            deidentificationID: "DEID-0001", dateShifter: options.contains(.modifiedDates) ? DateShifter(days: offset) : nil))
        return (input, try target.roundTrip(in: dir, name: "output.dcm"), remapper)
    }

    func testBasicProfileWithoutOptions() throws {
        let (input, output, uids) = try deidentify([])
        let ds = output.dataset
        XCTAssertNotNil(input.dataset.elements.first { $0.tag == Tag(0x1008, 0x3200) })
        XCTAssertNil(ds.elements.first { $0.tag == Tag(0x1008, 0x3200) }, "an unknown standard tag is removed")
        XCTAssertEqual(ds.string(Tag(0x0018, 0x0050)), "5", "a known attribute the table does not list is kept")
        XCTAssertEqual(ds.string(.patientName), "DEID-0001")
        XCTAssertEqual(ds.string(.patientID), "DEID-0001")
        XCTAssertEqual(ds.string(.accessionNumber), "DEID-0001")
        XCTAssertEqual(ds.string(.patientBirthDate), "")                       // Z
        XCTAssertEqual(ds.string(.studyDate), "")                              // Z
        XCTAssertEqual(ds.string(Tag(0x0008, 0x0021)), "19000101")             // X/D -> dummy
        XCTAssertNil(ds.string(Tag(0x0008, 0x1030)))                           // X
        XCTAssertNil(ds.string(Tag(0x0008, 0x103E)))                           // X
        XCTAssertNil(ds.string(Tag(0x0020, 0x4000)))                           // X
        XCTAssertNil(ds.string(Tag(0x0010, 0x1040)))                           // X
        XCTAssertEqual(ds.string(Tag(0x0018, 0x1030)), "REMOVED")              // X/D -> dummy
        XCTAssertEqual(ds.string(Tag(0x0008, 0x0090)), "")                     // Z
        XCTAssertEqual(ds.string(Tag(0x0010, 0x0040)), "")                     // Patient's Sex: Z without the option
        XCTAssertEqual(ds.string(.sopClassUID), Self.ctImage)                  // standard UID kept
        XCTAssertEqual(ds.string(.sopInstanceUID), uids.map("1.2.826.0.1.3680043.9.7391.100"))
        XCTAssertEqual(ds.string(Tag(0x0020, 0x000D)), uids.map("1.2.826.0.1.3680043.9.7391.1"))
        XCTAssertEqual(ds.string(Tag(0x0020, 0x0052)), uids.map("1.2.826.0.1.3680043.9.7391.3"))
        XCTAssertEqual(ds.string(.longitudinalTemporalInformationModified), "REMOVED")
        XCTAssertEqual(ds.string(.patientIdentityRemoved), "YES")
        let codes = ds.items(.deidentificationMethodCodeSequence).compactMap { $0.string(.codeValue) }
        XCTAssertEqual(codes, ["113100"])
        XCTAssertTrue(ds.strings(.deidentificationMethod).contains { $0.contains("2024b") })
        XCTAssertEqual(ds.binary(.pixelData), input.dataset.binary(.pixelData))
    }

    func testSequencesAtDepthKeepReferencesConsistent() throws {
        let (_, output, uids) = try deidentify([])
        let ds = output.dataset
        let referenced = ds.items(Tag(0x0008, 0x1140))
        XCTAssertEqual(referenced.count, 1)
        XCTAssertEqual(referenced[0].string(Tag(0x0008, 0x1150)), Self.ctImage)
        XCTAssertEqual(referenced[0].string(Tag(0x0008, 0x1155)), uids.map("1.2.826.0.1.3680043.9.7391.99"))
        // Request Attributes Sequence is X in the Basic Profile: gone with everything in it.
        XCTAssertTrue(ds.items(Tag(0x0040, 0x0275)).isEmpty)
        XCTAssertNil(ds.string(Tag(0x0040, 0x0275)))
    }

    func testPrivateOverlayCurveAndOriginalAttributesAreRemoved() throws {
        let (_, output, _) = try deidentify(ProfileOption.defaults)
        let tags = output.dataset.elements.map(\.tag)
        XCTAssertFalse(tags.contains { $0.isPrivate }, "private elements left: \(tags.filter(\.isPrivate))")
        XCTAssertFalse(tags.contains { $0.group & 0xFF00 == 0x6000 || $0.group & 0xFF00 == 0x5000 })
        XCTAssertFalse(tags.contains(Tag(0x0400, 0x0561)))
    }

    func testDefaultOptionsShiftDatesCleanDescriptorsAndKeepCharacteristics() throws {
        let (_, output, _) = try deidentify(ProfileOption.defaults, offset: -400)
        let ds = output.dataset
        XCTAssertEqual(ds.string(.studyDate), "20221213")                      // 2024-01-17 - 400 days
        XCTAssertEqual(ds.string(Tag(0x0008, 0x0021)), "20221214")             // still one day later
        XCTAssertEqual(ds.string(Tag(0x0008, 0x002A)), "20221213101510.25")
        XCTAssertEqual(ds.string(Tag(0x0008, 0x0030)), "101500")               // time of day kept
        XCTAssertEqual(ds.string(.patientBirthDate), "")                       // Z, no option keeps it
        XCTAssertEqual(ds.string(.patientAge), "062Y")                         // computed before the dates went
        XCTAssertEqual(ds.string(Tag(0x0010, 0x0040)), "F")
        XCTAssertNil(ds.string(Tag(0x0008, 0x1030)), "descriptor naming the patient must go")
        XCTAssertEqual(ds.string(Tag(0x0008, 0x103E)), "AXIAL 5MM", "a clean descriptor is kept")
        XCTAssertNil(ds.string(Tag(0x0020, 0x4000)), "free text naming the patient must go")
        XCTAssertEqual(ds.string(Tag(0x0018, 0x1030)), "HEAD ROUTINE")
        XCTAssertEqual(ds.string(.longitudinalTemporalInformationModified), "MODIFIED")
        let codes = ds.items(.deidentificationMethodCodeSequence).compactMap { $0.string(.codeValue) }
        XCTAssertEqual(Set(codes), ["113100", "113107", "113108", "113105"])
    }

    func testQuarantineDecisions() throws {
        let dir = try temporaryDirectory()
        var deidentifier = Deidentifier(profile: try Profile(options: []), uids: UIDRemapper(secret: testSecret))
        // With the pixels checked (the default), BurnedInAnnotation=YES takes the pixel path: masked, not refused here.
        XCTAssertEqual(deidentifier.burnedIn, .mask)
        let yes = try makeDataset(in: dir)
        yes.dataset.put(.burnedInAnnotation, "YES")
        XCTAssertNil(deidentifier.quarantineReason(for: try yes.roundTrip(in: dir, name: "yes.dcm")))
        deidentifier.burnedIn = .off
        func check(_ edit: (DicomItem) -> Void) throws -> QuarantineReason? {
            let file = try makeDataset(in: dir)
            edit(file.dataset)
            return deidentifier.quarantineReason(for: try file.roundTrip(in: dir, name: "q.dcm"))
        }
        XCTAssertNil(try check { _ in })
        XCTAssertEqual(try check { $0.put(.burnedInAnnotation, "YES") }, .burnedInAnnotation)
        XCTAssertEqual(try check { $0.put(.sopClassUID, "1.2.840.10008.5.1.4.1.1.88.22") }, .sopClassNotAllowed("1.2.840.10008.5.1.4.1.1.88.22"))
        XCTAssertEqual(try check { $0.put(.sopClassUID, "1.2.840.10008.5.1.4.1.1.7") }, .sopClassNotAllowed("1.2.840.10008.5.1.4.1.1.7"))
        // Only a scout of the head is said to show the face (a hip scout was, once); one whose header
        // names no region may be of the head.
        func scout(_ bodyPart: String) -> (DicomItem) -> Void {
            { item in
                item.put(.imageType, "ORIGINAL\\PRIMARY\\LOCALIZER")
                for (tag, _) in BodyRegion.fields { item.put(tag, "") }
                item.put(Tag(0x0018, 0x0015), bodyPart)
            }
        }
        let hip = try XCTUnwrap(try check(scout("HIP")))
        XCTAssertEqual(hip, .localizer(.elsewhere))
        XCTAssertFalse("\(hip)".contains("face"), "\(hip)")
        XCTAssertEqual(try check(scout("")), .localizer(.unnamed))
        XCTAssertEqual(try check(scout("HEAD")).map { "\($0)" }, "localizer/scout image of the head (shows the face in profile)")
        XCTAssertEqual(try check { $0.put(.rows, "512") }, .pixelDataTruncated(expected: 2048, found: 8))
    }
}

final class IdentityTokensTests: XCTestCase {
    /// The ASCII fast path splits exactly as the Unicode rule does.
    /// The word check reads text as the character set in force for its item, across every
    /// component group of a name, through ISO 2022 escapes and with accents folded away.
    func testTheWordCheckReadsEveryCharacterSetAndForm() throws {
        let dir = try temporaryDirectory()
        let file = DicomFile()
        let ds = file.dataset
        ds.put(.specificCharacterSet, "\\ISO 2022 IR 87")
        ds.put(.sopClassUID, DeidentifierTests.ctImage)
        ds.put(.sopInstanceUID, "1.2.826.0.1.3680043.9.7391.100")
        // Alphabetic, ideographic and phonetic groups; the last two in JIS X 0208 after ESC $ B.
        let esc: UInt8 = 0x1B
        let yamada: [UInt8] = [0x3B, 0x33, 0x45, 0x44]                         // 山田
        let phonetic: [UInt8] = [0x24, 0x64, 0x24, 0x5E, 0x24, 0x40]            // やまだ
        let name = Array("Yamada^Tarou=".utf8) + [esc, 0x24, 0x42] + yamada + [esc, 0x28, 0x42] + Array("^=".utf8)
            + [esc, 0x24, 0x42] + phonetic + [esc, 0x28, 0x42]
        XCTAssertTrue(ds.put(.patientName, bytes: name, vr: "PN"))
        XCTAssertEqual(CharsetConverter(specificCharacterSet: "\\ISO 2022 IR 87").utf8(name), "Yamada^Tarou=山田^=やまだ")
        ds.put(Tag(0x0008, 0x0080), "MÜLLERSTIFT KLINIK")                     // removed: its words are identity
        // Kept text that repeats them: the phonetic name in an item that says it is UTF-8, the
        // alphabetic name split by an escape to ASCII, the institution without its accent.
        let item = ds.appendItem(Tag(0x0040, 0x0260))!                        // Performed Protocol Code Sequence
        item.put(.specificCharacterSet, "ISO_IR 192")
        item.put(Tag(0x0008, 0x0100), "P1")
        item.put(Tag(0x0008, 0x0102), "LOCAL")
        item.put(Tag(0x0008, 0x0104), "やまだ protocol")
        XCTAssertTrue(ds.put(Tag(0x0018, 0x1030), bytes: Array("YAMA".utf8) + [esc, 0x28, 0x42] + Array("DA HEAD".utf8), vr: "LO"))
        let second = ds.appendItem(Tag(0x0040, 0x0260))!
        second.put(Tag(0x0008, 0x0100), "P2")
        second.put(Tag(0x0008, 0x0102), "LOCAL")
        second.put(Tag(0x0008, 0x0104), "MULLERSTIFT room 2")
        ds.put(Tag(0x0018, 0x0015), "TAROU")                                   // a code holding the name
        ds.put(Tag(0x0018, 0x5100), "HFS")                                     // a code holding none
        let input = try file.roundTrip(in: dir, name: "input.dcm")
        let deidentifier = Deidentifier(profile: try Profile(options: ProfileOption.defaults), uids: UIDRemapper(secret: testSecret))
        XCTAssertNil(deidentifier.quarantineReason(for: input))
        deidentifier.apply(to: input, patient: PatientContext(deidentificationID: "DEID-0001", dateShifter: DateShifter(days: -100)))
        let output = try input.roundTrip(in: dir, name: "output.dcm").dataset
        XCTAssertEqual(output.items(Tag(0x0040, 0x0260)).first?.string(Tag(0x0008, 0x0104)), "REMOVED", "phonetic name read as UTF-8 in its item")
        XCTAssertEqual(output.string(Tag(0x0018, 0x1030)), "REMOVED", "a name split by an escape")
        XCTAssertEqual(output.items(Tag(0x0040, 0x0260)).last?.string(Tag(0x0008, 0x0104)), "REMOVED", "the institution without its accent")
        XCTAssertEqual(output.string(Tag(0x0018, 0x0015)), "REMOVED", "a code holding the name")
        XCTAssertEqual(output.string(Tag(0x0018, 0x5100)), "HFS")
    }

    func testASCIISplitAgreesWithTheUnicodeRule() {
        let samples = ["QUARTZHOLLOW^ZEPHYRINA", "Patient Zephyrina fell at home", "  44 velvetmoor-lane, apt.7 ",
                       "", "^^", "a", "AbC123xYz_9", "1.2.840.10008", "O'BRIEN\\SMITH=JONES", "tab\there\nnewline",
                       String((0..<128).map { Character(Unicode.Scalar(UInt8($0))) })]
        for text in samples {
            let unicode = text.uppercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map(String.init)
            XCTAssertEqual(IdentityTokens.split(text), unicode, text.debugDescription)
        }
        XCTAssertEqual(IdentityTokens.split("Müller-Lüdenscheidt"), ["MÜLLER", "LÜDENSCHEIDT"])
    }
}
