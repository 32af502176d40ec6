@testable import Platform
import Foundation
import XCTest

final class RawNameTests: XCTestCase {
    func testUTF8NamesAreKeptAsTheyAre() {
        for name in ["AC12345678", "IM0001.dcm", "SE\n1", "Müller Ünal", "a\\b", "\\xZZ", "\\x41", "\\xff", "日本"] {
            XCTAssertEqual(RawName.text(Array(name.utf8)), name, name.debugDescription)
            XCTAssertEqual(RawName.bytes(name), Array(name.utf8), name.debugDescription)
            XCTAssertTrue(RawName.isVerbatim(name))
        }
    }

    func testBytesThatAreNotUTF8AreEscaped() {
        XCTAssertEqual(RawName.text([0x49, 0x4D, 0xFF, 0xFE, 0x32]), "IM\\xFF\\xFE2")
        XCTAssertEqual(RawName.text([0x49, 0x4D, 0xC3, 0x28, 0x33]), "IM\\xC3(3")
        XCTAssertEqual(RawName.text(Array("Mü".utf8) + [0xE9]), "Mü\\xE9")  // Latin-1 é after UTF-8 ü
        XCTAssertEqual(RawName.text([0xED, 0xA0, 0x80]), "\\xED\\xA0\\x80")  // a surrogate is not UTF-8
        XCTAssertEqual(RawName.text([0xC0, 0xAF]), "\\xC0\\xAF")  // nor an overlong "/"
        XCTAssertFalse(RawName.isUTF8("IM\\xFF"))
        XCTAssertTrue(RawName.isUTF8("IM\\x41"))
    }

    func testALiteralBackslashThatWouldReadAsAnEscapeIsEscaped() {
        // The name "\xFF" in plain ASCII must not read back as the byte FF.
        XCTAssertEqual(RawName.text(Array("\\xFF".utf8)), "\\x5CxFF")
        XCTAssertEqual(RawName.bytes("\\x5CxFF"), Array("\\xFF".utf8))
        XCTAssertEqual(RawName.text(Array("\\x5C".utf8)), "\\x5Cx5C")
        XCTAssertEqual(RawName.writable("IM\\xFF.dcm"), "IM%xFF.dcm")
    }

    func testEveryByteStringSurvivesTheRoundTrip() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = [0x5C, 0x78, 0x46, 0x43, 0x35, 0x38, 0x30, 0x41, 0xC3, 0xA9, 0xFF, 0x80, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x2F]
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...8, using: &generator)
            let name = (0..<length).map { _ in alphabet.randomElement(using: &generator)! }
            let text = RawName.text(name)
            XCTAssertEqual(RawName.bytes(text), name, "\(name) -> \(text.debugDescription)")
        }
    }

    func testListingAndStatFindNamesThatAreNotUTF8() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("RawNameTests-\(getpid())")
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let name: [UInt8] = [0x49, 0x4D, 0xFF, 0x2E, 0x64, 0x63, 0x6D]
        let fd = open((Array(folder.path.utf8) + [0x2F] + name + [0]).map { CChar(bitPattern: $0) }, O_CREAT | O_WRONLY, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        close(fd)
        let listed = try RawName.list(folder.path).get()
        XCTAssertEqual(listed, ["IM\\xFF.dcm"])
        XCTAssertNotNil(RawName.lstat(folder.path + "/" + listed[0]))
        XCTAssertNil(RawName.lstat(folder.path + "/IM\u{FFFD}.dcm"))
        XCTAssertEqual(folder.appendingPathComponent(listed[0]).path, folder.path + "/" + listed[0], "URLs keep the text form")
    }
}
