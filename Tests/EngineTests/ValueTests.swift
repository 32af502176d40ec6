@testable import Deidentification
import Foundation
import XCTest

final class ValueTests: XCTestCase {
    func testDateShiftPreservesIntervalsAcrossMonthsAndLeapYears() {
        let shifter = DateShifter(days: -400)
        XCTAssertEqual(shifter.shiftDate("20240301"), "20230126")
        XCTAssertEqual(shifter.shiftDate("20240229"), "20230125")
        // Intervals: 2024-02-28 .. 2024-03-01 is 2 days (leap year) before and after.
        let a = DateShifter.julianDay(year: 2024, month: 2, day: 28)!
        let b = DateShifter.julianDay(year: 2024, month: 3, day: 1)!
        let sa = shifter.shiftDate("20240228")!, sb = shifter.shiftDate("20240301")!
        func jd(_ s: String) -> Int { DateShifter.julianDay(year: Int(s.prefix(4))!, month: Int(s.dropFirst(4).prefix(2))!, day: Int(s.suffix(2))!)! }
        XCTAssertEqual(jd(sb) - jd(sa), b - a)
        XCTAssertEqual(shifter.shiftDateTime("20240301123000.5+0100"), "20230126123000.5+0100")
        XCTAssertNil(shifter.shiftDate("2024"))
        XCTAssertNil(shifter.shiftDate("20241301"))
        XCTAssertNil(shifter.shiftDate("2024-03-01"))
        XCTAssertNil(shifter.shiftDateTime("2024"))
    }

    func testAgeFromBirthDate() {
        XCTAssertEqual(DateShifter.age(birth: "19610315", at: "20240117"), "062Y")
        XCTAssertEqual(DateShifter.age(birth: "19610315", at: "20240315"), "063Y")
        XCTAssertEqual(DateShifter.age(birth: "20230601", at: "20240117"), "007M")
        XCTAssertEqual(DateShifter.age(birth: "20240101", at: "20240117"), "016D")
        XCTAssertNil(DateShifter.age(birth: "20250101", at: "20240117"))
    }

    func testUIDRemappingIsConsistentKeyedAndKeepsStandardUIDs() {
        let remapper = UIDRemapper(secret: testSecret)
        let original = "1.2.826.0.1.3680043.9.7391.1.2.3"
        let mapped = remapper.map(original)
        XCTAssertEqual(mapped, remapper.map(original))
        XCTAssertEqual(mapped, remapper.map(original + " "))
        XCTAssertTrue(mapped.hasPrefix("2.25."))
        XCTAssertLessThanOrEqual(mapped.count, 64)
        XCTAssertTrue(mapped.dropFirst(5).allSatisfy(\.isNumber))
        XCTAssertFalse(mapped.dropFirst(5).hasPrefix("0") && mapped.count > 6)
        XCTAssertNotEqual(mapped, remapper.map(original + ".4"))
        XCTAssertNotEqual(mapped, UIDRemapper(secret: SiteSecret(bytes: Array(repeating: 8, count: 32))).map(original))
        XCTAssertEqual(remapper.map("1.2.840.10008.5.1.4.1.1.2"), "1.2.840.10008.5.1.4.1.1.2")
        let offset = remapper.dateOffsetDays(for: "DEID-0001")
        XCTAssertTrue((-3652 ... -365).contains(offset))
        XCTAssertEqual(offset, remapper.dateOffsetDays(for: "DEID-0001"))
    }

    func testDummyValuesAreValidForTheirVR() {
        XCTAssertEqual(DummyValue.forVR("DA"), "19000101")
        XCTAssertEqual(DummyValue.forVR("AS")?.count, 4)
        XCTAssertLessThanOrEqual(DummyValue.forVR("SH")!.count, 16)
        XCTAssertLessThanOrEqual(DummyValue.forVR("AE")!.count, 16)
        XCTAssertLessThanOrEqual(DummyValue.forVR("CS")!.count, 16)
        XCTAssertTrue(DummyValue.forVR("CS")!.allSatisfy { $0.isUppercase || $0.isNumber || $0 == " " || $0 == "_" })
        XCTAssertEqual(DummyValue.forVR("DS"), "0")
        XCTAssertNil(DummyValue.forVR("OB"))
        XCTAssertNil(DummyValue.forVR("SQ"))
    }

    func testIdentityTokensMatchWordsAndLongSubstrings() {
        var tokens = IdentityTokens()
        tokens.add("QUARTZHOLLOW^ZEPHYRINA^^DR", minimumLength: 2)
        tokens.add("PID7391X0", minimumLength: 3)
        XCTAssertTrue(tokens.matches("CT head quartzhollow"))
        XCTAssertTrue(tokens.matches("for MrQuartzhollows"))
        XCTAssertTrue(tokens.matches("id pid7391x0 scan"))
        XCTAssertFalse(tokens.matches("CT HEAD W/O DR"))
        XCTAssertFalse(tokens.matches("CT HEAD"))
    }

    /// ASCII text is matched on its bytes; it must agree with matching the upper-cased text's words
    /// (the way every other text is matched) on values built from names, digits and separators.
    func testIdentityTokensMatchASCIIOnBytesAsOnWords() {
        var tokens = IdentityTokens()
        tokens.add("QUARTZHOLLOW^ZEPHYRINA^^DR", minimumLength: 2)
        tokens.add("PID7391X0 AB", minimumLength: 2)
        let pieces = ["quartzhollow", "Zephyrina", "zeph", "pid7391x0", "AB", "ab", "xab", "7391", "DR", "hollow", "CT",
                      " ", "^", "/", "\u{0}", "-", "", "Quartzhollowsky"]
        func reference(_ text: String) -> Bool {
            let upper = text.uppercased()
            if IdentityTokens.split(upper).contains(where: tokens.words.contains) { return true }
            return tokens.long.contains { IdentityTokens.contains(Array(upper.utf8), $0) }
        }
        for _ in 0..<2000 {
            let text = (0..<Int.random(in: 0...6)).map { _ in pieces.randomElement()! }.joined()
            XCTAssertEqual(tokens.matches(text), reference(text), text)
        }
    }

    func testSiteSecretIsCreatedPrivateAndRefusedWhenReadableByOthers() throws {
        let dir = try temporaryDirectory()
        let path = dir.appendingPathComponent("secret.key").path
        let first = try SiteSecret.loadOrCreate(at: path)
        XCTAssertEqual(first.bytes.count, 32)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        XCTAssertEqual(try SiteSecret.loadOrCreate(at: path).bytes, first.bytes)
        chmod(path, 0o644)
        XCTAssertThrowsError(try SiteSecret.loadOrCreate(at: path)) { error in
            XCTAssertTrue("\(error)".contains("readable by others"))
        }
    }
}
