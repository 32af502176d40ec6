@testable import DICOM
@testable import Deidentification
import Foundation
import XCTest

final class ProfileTests: XCTestCase {
    func testEmbeddedTableIsTheCommittedStandardFile() throws {
        let committed = try String(contentsOf: repositoryRoot.appendingPathComponent("standard/confidentiality_profile_attributes.json"), encoding: .utf8)
        XCTAssertEqual(E11Table.json.trimmingCharacters(in: .whitespacesAndNewlines),
                       committed.trimmingCharacters(in: .whitespacesAndNewlines),
                       "run `make profile-table` after changing standard/")
    }

    func testBasicProfileActionsFromTheTable() throws {
        let profile = try Profile(options: [])
        XCTAssertEqual(profile.action(for: Tag(0x0010, 0x0010)), .empty)       // Patient's Name: Z
        XCTAssertEqual(profile.action(for: Tag(0x0008, 0x0050)), .empty)       // Accession Number: Z
        XCTAssertEqual(profile.action(for: Tag(0x0008, 0x0018)), .replaceUID)  // SOP Instance UID: U
        XCTAssertEqual(profile.action(for: Tag(0x0008, 0x1030)), .remove)      // Study Description: X
        XCTAssertEqual(profile.action(for: Tag(0x0008, 0x0090)), .empty)       // Referring Physician: Z
        XCTAssertEqual(profile.action(for: Tag(0x0018, 0x1030)), .dummy)       // Protocol Name: X/D -> D
        XCTAssertEqual(profile.action(for: Tag(0x0008, 0x0022)), .empty)       // Acquisition Date: X/Z -> Z
        XCTAssertEqual(profile.action(for: Tag(0x0008, 0x1140)), .replaceUID)  // Referenced Image Sequence: X/Z/U*
        XCTAssertEqual(profile.action(for: Tag(0x6000, 0x3000)), .remove)      // Overlay Data (60XX,3000)
        XCTAssertEqual(profile.action(for: Tag(0x601E, 0x4000)), .remove)      // Overlay Comments in another group
        XCTAssertEqual(profile.action(for: Tag(0x5004, 0x0010)), .remove)      // Curve Data (50XX,XXXX)
        XCTAssertNil(profile.action(for: Tag(0x0028, 0x0010)))                 // Rows: not in the table
        XCTAssertEqual(profile.edition, "2024b")
    }

    func testCombinedCodesResolveToTheConformantChoice() {
        XCTAssertEqual(Action(code: "X/Z"), .empty)
        XCTAssertEqual(Action(code: "X/D"), .dummy)
        XCTAssertEqual(Action(code: "Z/D"), .dummy)
        XCTAssertEqual(Action(code: "X/Z/D"), .dummy)
        XCTAssertEqual(Action(code: "X/Z/U*"), .replaceUID)
        XCTAssertNil(Action(code: "Q"))
    }

    func testOptionsOverrideTheBasicAction() throws {
        let profile = try Profile(options: [.modifiedDates, .retainPatientCharacteristics, .cleanDescriptors, .retainUIDs])
        XCTAssertEqual(profile.action(for: Tag(0x0008, 0x0020)), .clean)       // Study Date: shifted
        XCTAssertEqual(profile.action(for: Tag(0x0010, 0x1010)), .keep)        // Patient's Age
        XCTAssertEqual(profile.action(for: Tag(0x0008, 0x1030)), .clean)       // Study Description
        XCTAssertEqual(profile.action(for: Tag(0x0008, 0x0018)), .keep)        // SOP Instance UID retained
        XCTAssertEqual(profile.rule(for: Tag(0x0008, 0x1030))?.basic, .remove)
        XCTAssertEqual(profile.action(for: Tag(0x0010, 0x0010)), .empty)       // no option keeps the name
        // Product choices on top of the table: descriptions of the person and ethnic group are not retained.
        XCTAssertEqual(profile.action(for: Tag(0x0010, 0x2180)), .remove)      // Occupation (clean-descriptors C)
        XCTAssertEqual(profile.action(for: Tag(0x0010, 0x4000)), .remove)      // Patient Comments
        XCTAssertEqual(profile.action(for: Tag(0x0010, 0x2160)), .remove)      // Ethnic Group (patient characteristics K)
        XCTAssertEqual(profile.action(for: Tag(0x0010, 0x1030)), .keep)        // Patient's Weight
        let full = try Profile(options: [.retainFullDates])
        XCTAssertEqual(full.action(for: Tag(0x0008, 0x0020)), .keep)
    }

    func testOptionParsing() throws {
        XCTAssertEqual(try ProfileOption.parse("none"), [])
        XCTAssertEqual(try ProfileOption.parse("default"), ProfileOption.defaults)
        XCTAssertEqual(try ProfileOption.parse(" retain-uids , clean-descriptors"), [.retainUIDs, .cleanDescriptors])
        XCTAssertThrowsError(try ProfileOption.parse("retain-everything"))
        XCTAssertThrowsError(try ProfileOption.parse("retain-full-dates,modified-dates"))
    }
}
