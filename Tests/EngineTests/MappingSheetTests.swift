import Foundation
import Mapping
import XCTest

final class MappingSheetTests: XCTestCase {
    private typealias W = XLSXTestWriter
    private var directory = URL(fileURLWithPath: NSTemporaryDirectory())

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("mapping-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: - Helpers

    private func csv(_ name: String, _ text: String) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    private func xlsx(_ rows: [W.Row], name: String = "mapping.xlsx", absoluteTargets: Bool = false,
                      sharedStringsXML: String? = nil) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try W.write(to: url, sheets: [W.Sheet(name: "Mapping", file: "sheet1.xml", rows: rows)],
                    absoluteTargets: absoluteTargets, sharedStringsXML: sharedStringsXML)
        return url
    }

    private static let header: W.Row = .at(1, [.shared("Accession_number"), .shared("De-identification_ID")])

    /// "accession->id@row" per mapped row, for compact comparisons.
    private func summary(_ sheet: MappingSheet) -> [String] {
        sheet.rows.map { "\($0.accession)->\($0.deidentificationID)@\($0.rowNumber)" }
    }

    private func read(_ url: URL, file: StaticString = #filePath, line: UInt = #line) -> MappingSheet? {
        do {
            return try MappingSheet.read(from: url)
        } catch {
            XCTFail("unexpected refusal: \(error)", file: file, line: line)
            return nil
        }
    }

    /// Asserts the sheet is refused at `row` for `reason`, and that the message leaks none of `secrets`.
    private func assertRefused(_ url: URL, row: Int?, reason: String, secrets: [String] = [],
                               file: StaticString = #filePath, line: UInt = #line) {
        do {
            let sheet = try MappingSheet.read(from: url)
            XCTFail("expected a refusal, got \(sheet.rows.count) rows", file: file, line: line)
        } catch {
            XCTAssertEqual(error.file, url.lastPathComponent, file: file, line: line)
            XCTAssertEqual(error.row, row, "\(error)", file: file, line: line)
            XCTAssertTrue(error.reason.contains(reason), "\(error)", file: file, line: line)
            let expectedStart = row.map { "\(url.lastPathComponent) row \($0): " } ?? "\(url.lastPathComponent): "
            XCTAssertTrue(error.description.hasPrefix(expectedStart), "\(error)", file: file, line: line)
            for secret in secrets {
                XCTAssertFalse(error.description.contains(secret), "message leaks a cell value: \(error)",
                               file: file, line: line)
            }
        }
    }

    // MARK: - XLSX cell kinds

    func testSharedStrings() throws {
        let url = try xlsx([
            Self.header,
            .at(2, [.shared("ACC001"), .shared("P001")]),
            .at(3, [.shared(" ACC002 "), .shared("P002")]),
        ])
        let sheet = try XCTUnwrap(read(url))
        XCTAssertEqual(summary(sheet), ["ACC001->P001@2", "ACC002->P002@3"])
        XCTAssertEqual(sheet.sourceName, "mapping.xlsx")
    }

    func testRichTextSharedStringsConcatenateRunsAndSkipPhonetics() throws {
        let strings = """
            <?xml version="1.0" encoding="UTF-8"?>
            <sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">\
            <si><t>Accession_number</t></si>\
            <si><r><t>De-identification</t></r><r><rPr><b/></rPr><t>_ID</t></r></si>\
            <si><r><t>ACC</t></r><r><rPr><i/></rPr><t xml:space="preserve">00</t></r><r><t>7</t></r>\
            <rPh sb="0" eb="1"><t>PHONETIC</t></rPh></si>\
            <si><t>P&amp;7</t><phoneticPr fontId="1"/></si>\
            </sst>
            """
        func cell(_ ref: String, _ index: Int) -> W.Cell { W.Cell(ref: ref, value: .raw("<c r=\"\(ref)\" t=\"s\"><v>\(index)</v></c>")) }
        let url = try xlsx([
            W.Row(number: 1, cells: [cell("A1", 0), cell("B1", 1)]),
            W.Row(number: 2, cells: [cell("A2", 3), cell("B2", 2)]),
        ], sharedStringsXML: strings)
        XCTAssertEqual(summary(try XCTUnwrap(read(url))), ["P&7->ACC007@2"])
    }

    func testInlineStringsAsOpenpyxlWritesThem() throws {
        let url = try xlsx([
            .at(1, [.inline("Accession_number"), .inline("De-identification_ID")]),
            .at(2, [.inline("ACC1"), .inline("P001")]),
            W.Row(number: 3, cells: [
                W.Cell(ref: "A3", value: .inline("ACC2")),
                W.Cell(ref: "B3", value: .raw(#"<c r="B3" t="inlineStr"><is><r><t>P0</t></r><r><t>02</t></r></is></c>"#)),
            ]),
        ])
        XCTAssertEqual(summary(try XCTUnwrap(read(url))), ["ACC1->P001@2", "ACC2->P002@3"])
    }

    func testNumericCellsBecomeWholeNumberText() throws {
        let url = try xlsx([
            Self.header,
            .at(2, [.number("12345678"), .shared("P1")]),
            .at(3, [.number("1.2345679E7"), .shared("P2")]),
            .at(4, [.number("12345680.0"), .shared("P3")]),
            .at(5, [.raw(#"<c r="A5" t="n"><v>9.87654321E+8</v></c>"#), .number("42")]),
            .at(6, [.number("1.2345678901234567890E19"), .number("7.00E0")]),
            .at(7, [.formulaString("ACC-7"), .formulaString("P7")]),
        ])
        XCTAssertEqual(summary(try XCTUnwrap(read(url))), [
            "12345678->P1@2", "12345679->P2@3", "12345680->P3@4", "987654321->42@5",
            "12345678901234567890->7@6", "ACC-7->P7@7",
        ])
    }

    func testScientificNotationEqualsPlainNumber() throws {
        let url = try xlsx([
            Self.header,
            .at(2, [.number("12345678"), .shared("P1")]),
            .at(3, [.number("1.2345678E7"), .shared("P1")]),
            .at(4, [.number("12345678.0"), .shared("P1")]),
        ])
        let sheet = try XCTUnwrap(read(url))
        XCTAssertEqual(summary(sheet), ["12345678->P1@2"])
        XCTAssertEqual(sheet.deidentificationID(for: "12345678"), "P1")
    }

    func testNonIntegralNumberIsRefused() throws {
        let url = try xlsx([Self.header, .at(2, [.shared("ACC1"), .shared("P1")]), .at(3, [.number("1.5"), .shared("P2")])])
        assertRefused(url, row: 3, reason: "Accession_number is a number with a fractional part", secrets: ["1.5", "P2"])
        let id = try xlsx([Self.header, .at(2, [.shared("ACC1"), .number("2.25E0")])], name: "id.xlsx")
        assertRefused(id, row: 2, reason: "De-identification_ID is a number with a fractional part", secrets: ["ACC1", "2.25"])
    }

    func testBooleanCellIsRefused() throws {
        let url = try xlsx([Self.header, .at(2, [.shared("ACC1"), .boolean(true)])])
        assertRefused(url, row: 2, reason: "De-identification_ID is a boolean cell", secrets: ["ACC1"])
    }

    // MARK: - XLSX structure

    func testFirstSheetIsFoundThroughTheWorkbookNotByFileName() throws {
        let url = directory.appendingPathComponent("tabs.xlsx")
        try W.write(to: url, sheets: [
            W.Sheet(name: "Mapping", file: "sheet2.xml", rows: [Self.header, .at(2, [.shared("ACC1"), .shared("P1")])]),
            W.Sheet(name: "Decoy", file: "sheet1.xml", rows: [Self.header, .at(2, [.shared("DECOY"), .shared("X")])]),
        ])
        XCTAssertEqual(summary(try XCTUnwrap(read(url))), ["ACC1->P1@2"])
    }

    func testAbsoluteRelationshipTargets() throws {
        let url = try xlsx([Self.header, .at(2, [.shared("ACC1"), .shared("P1")])], absoluteTargets: true)
        XCTAssertEqual(summary(try XCTUnwrap(read(url))), ["ACC1->P1@2"])
    }

    func testNamespacePrefixesOtherThanTheUsualOnes() throws {
        let url = directory.appendingPathComponent("prefixed.xlsx")
        try W.write(to: url, sheets: [
            W.Sheet(name: "Mapping", file: "data.xml", rows: [
                Self.header,
                .at(2, [.shared("ACC1"), .inline("P1")]),
                .at(3, [.number("3E2"), .formulaString("P3")]),
            ]),
            W.Sheet(name: "Decoy", file: "sheet1.xml", rows: [Self.header, .at(2, [.shared("DECOY"), .shared("X")])]),
        ], prefixed: true)
        XCTAssertEqual(summary(try XCTUnwrap(read(url))), ["ACC1->P1@2", "300->P3@3"])
    }

    func testHeaderCaseSpacesExtraColumnSwappedOrderAndOffset() throws {
        let url = try xlsx([
            .at(2, [.shared("  DE-IDENTIFICATION_id "), .shared("Notes"), .shared(" accession_NUMBER")]),
            .at(3, [.shared("P1"), .shared("first scan"), .number("555")]),
            .at(4, [.shared("P2"), nil, .shared("ACC2")]),
        ])
        XCTAssertEqual(summary(try XCTUnwrap(read(url))), ["555->P1@3", "ACC2->P2@4"])
    }

    func testSparseCellsAndMissingReferences() throws {
        let url = try xlsx([
            .at(1, [nil, .shared("Accession_number"), nil, .shared("De-identification_ID")]),
            // No r on the row: the cell references give the row number.
            W.Row(number: nil, cells: [W.Cell(ref: "B3", value: .shared("ACC3")), W.Cell(ref: "D3", value: .shared("P3"))]),
            // Only a note outside the mapping columns: skipped.
            .at(5, [.shared("note only")]),
            // Cells without r follow the previous cell.
            W.Row(number: 7, cells: [
                W.Cell(ref: "B7", value: .shared("ACC7")),
                W.Cell(ref: nil, value: .shared("ignored")),
                W.Cell(ref: nil, value: .shared("P7")),
            ]),
            // Neither row nor cells carry r: next row after 7, columns from A.
            W.Row(number: nil, cells: [
                W.Cell(ref: nil, value: .shared("x")), W.Cell(ref: nil, value: .shared("ACC8")),
                W.Cell(ref: nil, value: .shared("y")), W.Cell(ref: nil, value: .shared("P8")),
            ]),
            // Empty row and empty-valued cells: skipped.
            W.Row(number: 9, cells: []),
            .at(10, [.shared("  "), .shared(""), nil, .shared(" ")]),
        ])
        XCTAssertEqual(summary(try XCTUnwrap(read(url))), ["ACC3->P3@3", "ACC7->P7@7", "ACC8->P8@8"])
    }

    func testMissingCellInSparseRowIsAnEmptyValue() throws {
        let url = try xlsx([Self.header, .at(2, [.shared("ACC1"), .shared("P1")]), .at(6, [.shared("ACC6")])])
        assertRefused(url, row: 6, reason: "De-identification_ID is empty", secrets: ["ACC6"])
    }

    func testNotAZipArchive() throws {
        let url = try csv("broken.xlsx", "Accession_number,De-identification_ID\nACC1,P1\n")
        assertRefused(url, row: nil, reason: "not a readable .xlsx workbook", secrets: ["ACC1"])
    }

    func testWorkbookWithoutRowsIsEmpty() throws {
        assertRefused(try xlsx([]), row: nil, reason: "empty")
    }

    // MARK: - CSV

    func testCSVWithBOMQuotesAndCRLF() throws {
        let text = "Accession_number,Notes,De-identification_ID\r\n"
            + "\"A,1\",\"said \"\"hi\"\"\",P001\r\n"
            + " A2 ,\"two\r\nlines\", \" P002 \"\r\n"
            + "\r\n"
            + "A3,,P003"
        let url = directory.appendingPathComponent("mapping.csv")
        try (Data([0xEF, 0xBB, 0xBF]) + Data(text.utf8)).write(to: url)
        XCTAssertEqual(summary(try XCTUnwrap(read(url))), ["A,1->P001@2", "A2->P002@3", "A3->P003@5"])
    }

    func testCSVWithSemicolonsAndLF() throws {
        let url = try csv("MAPPING.CSV", " de-identification_id ;ACCESSION_NUMBER\nP1;123\nP2;\"4;56\"\n;\n")
        let sheet = try XCTUnwrap(read(url))
        XCTAssertEqual(summary(sheet), ["123->P1@2", "4;56->P2@3"])
        XCTAssertEqual(sheet.sourceName, "MAPPING.CSV")
    }

    func testCSVCommaWinsWhenHeaderHasBoth() throws {
        let url = try csv("m.csv", "Accession_number,De-identification_ID,Note;x\nA1,P1,n;1\n")
        XCTAssertEqual(summary(try XCTUnwrap(read(url))), ["A1->P1@2"])
    }

    func testCSVUnterminatedQuoteIsRefused() throws {
        let url = try csv("m.csv", "Accession_number,De-identification_ID\nA1,P1\nA2,\"P2\nA3,P3\n")
        assertRefused(url, row: 3, reason: "never closed", secrets: ["A2", "P2"])
    }

    func testCSVTextAfterClosingQuoteIsRefused() throws {
        let url = try csv("m.csv", "Accession_number,De-identification_ID\n\"A1\"x,P1\n")
        assertRefused(url, row: 2, reason: "after a closing quote", secrets: ["A1", "P1"])
    }

    func testCSVThatIsNotUTF8IsRefused() throws {
        let url = directory.appendingPathComponent("latin1.csv")
        try (Data("Accession_number,De-identification_ID\nA1,P".utf8) + Data([0xE9]) + Data("\n".utf8)).write(to: url)
        assertRefused(url, row: nil, reason: "not UTF-8")
    }

    // MARK: - Rules

    func testExactDuplicatesCollapseAndSharedIDsAreAllowed() throws {
        let url = try csv("m.csv", "Accession_number,De-identification_ID\nA1,P1\nA2,P1\nA1,P1\n A1 , P1\nA3,P3\n")
        let sheet = try XCTUnwrap(read(url))
        XCTAssertEqual(summary(sheet), ["A1->P1@2", "A2->P1@3", "A3->P3@6"])
    }

    func testConflictingIDsRefuseTheWholeSheet() throws {
        let url = try xlsx([
            Self.header,
            .at(2, [.shared("ACC1"), .shared("P001")]),
            .at(3, [.shared("ACC2"), .shared("P002")]),
            .at(4, [.shared("ACC1"), .shared("P001")]),
            .at(7, [.shared("ACC1"), .shared("P009")]),
        ])
        assertRefused(url, row: 7, reason: "accession already mapped to a different De-identification_ID in row 2",
                      secrets: ["ACC1", "P001", "P009"])
    }

    func testMalformedValuesAreRefusedWithRowAndColumn() throws {
        let long = String(repeating: "7", count: 65)
        let cases: [(row: String, reason: String, secrets: [String])] = [
            ("A9,", "De-identification_ID is empty", ["A9"]),
            (",P9", "Accession_number is empty", ["P9"]),
            ("A9,P/9", "De-identification_ID contains a path separator", ["A9", "P/9"]),
            ("A9,P\\9", "De-identification_ID contains a path separator", ["A9", "P\\9"]),
            ("A/9,P9", "Accession_number contains a path separator", ["A/9", "P9"]),
            ("A9,..", "De-identification_ID must not be . or ..", ["A9"]),
            ("A9,.", "De-identification_ID must not be . or ..", ["A9"]),
            ("A9,P\u{0}9", "De-identification_ID contains a control", ["A9", "P9"]),
            ("A\u{7}9,P9", "Accession_number contains a control", ["A9", "P9"]),
            ("A9,\"P\n9\"", "De-identification_ID contains a control", ["A9"]),
            ("A9,P\u{200B}9", "De-identification_ID contains a control or invisible formatting character", ["A9"]),
            ("\(long),P9", "Accession_number is longer than 64 characters", [long, "P9"]),
            ("A9,\(long)", "De-identification_ID is longer than 64 characters", [long, "A9"]),
        ]
        for (index, example) in cases.enumerated() {
            let url = try csv("bad\(index).csv", "Accession_number,De-identification_ID\nA1,P1\n\n\(example.row)\nA10,P10\n")
            assertRefused(url, row: 4, reason: example.reason, secrets: example.secrets + ["A10", "P10"])
        }
        // The limit is inclusive.
        let edge = String(repeating: "x", count: 64)
        let ok = try csv("ok.csv", "Accession_number,De-identification_ID\n\(edge),P.1\nA2,\(edge)\n")
        XCTAssertEqual(summary(try XCTUnwrap(read(ok))), ["\(edge)->P.1@2", "A2->\(edge)@3"])
    }

    /// IDs become folder names on shares read from Windows and macOS: one rule, each break refused
    /// with its row and reason (and without quoting the ID).
    func testIDsThatCannotBeAFolderEverywhereAreRefused() throws {
        let cases: [(id: String, reason: String)] = [
            (".ctdeid-staging", "must start with a letter or a digit"),
            (".x", "must start with a letter or a digit"),
            ("...", "must start with a letter or a digit"),
            ("-rf", "must start with a letter or a digit"),
            ("_P1", "must start with a letter or a digit"),
            ("P1.", "must not end with '.'"),
            ("con", "device name that Windows reserves"),
            ("nul.txt", "device name that Windows reserves"),
            ("Com1", "device name that Windows reserves"),
            ("lpt9.tar.gz", "device name that Windows reserves"),
            ("P 1", "contains a character other than"),
            ("P:1", "contains a character other than"),
            ("Pé1", "contains a character other than"),
            ("P*1", "contains a character other than"),
        ]
        for (index, example) in cases.enumerated() {
            let url = try csv("id\(index).csv", "Accession_number,De-identification_ID\nA1,P1\nA2,\(example.id)\n")
            assertRefused(url, row: 3, reason: example.reason, secrets: [example.id])
        }
        // Names that merely contain a reserved word, or a dot inside, are fine.
        let ok = try csv("ok.csv", "Accession_number,De-identification_ID\nA1,CONSENT-1\nA2,NUL1\nA3,COM10\nA4,P.1_a-b\n")
        XCTAssertEqual(read(ok)?.rows.count, 4)
    }

    /// Excel shows a number as a date when its cell's style says so (an ID typed as 3-5-24 is stored
    /// as 45356): such a cell is refused, not imported as the serial number. Styles whose format only
    /// decorates a number are read as before.
    func testDateFormattedCellsAreRefused() throws {
        let styles = """
            <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
            <styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">\
            <numFmts count="2"><numFmt numFmtId="164" formatCode="dd/mm/yyyy;@"/>\
            <numFmt numFmtId="165" formatCode="&quot;DEID-&quot;0000"/></numFmts>\
            <cellXfs count="4"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/>\
            <xf numFmtId="164" applyNumberFormat="1"/><xf numFmtId="165" applyNumberFormat="1"/></cellXfs></styleSheet>
            """
        func sheet(_ style: Int, name: String) throws -> URL {
            let url = directory.appendingPathComponent(name)
            try W.write(to: url, sheets: [W.Sheet(name: "Mapping", file: "sheet1.xml", rows: [
                Self.header,
                .at(2, [.shared("ACC1"), .raw("<c r=\"B2\" s=\"\(style)\"><v>45356</v></c>")]),
            ])], stylesXML: styles)
            return url
        }
        assertRefused(try sheet(1, name: "builtin.xlsx"), row: 2, reason: "De-identification_ID is a cell formatted as a date or time",
                      secrets: ["ACC1", "45356"])
        assertRefused(try sheet(2, name: "custom.xlsx"), row: 2, reason: "formatted as a date or time")
        XCTAssertEqual(summary(try XCTUnwrap(read(try sheet(3, name: "decorated.xlsx")))), ["ACC1->45356@2"])
        XCTAssertEqual(summary(try XCTUnwrap(read(try sheet(0, name: "plain.xlsx")))), ["ACC1->45356@2"])
    }

    /// A formula cell without a saved value (a script wrote the sheet, nothing computed it) has no
    /// value to read: the row is refused, not skipped as empty.
    func testFormulaCellsWithoutASavedValueAreRefused() throws {
        let url = try xlsx([
            Self.header,
            .at(2, [.shared("ACC1"), .shared("P1")]),
            .at(3, [.raw("<c r=\"A3\"><f>A2&amp;\"2\"</f></c>"), .raw("<c r=\"B3\" t=\"str\"><f>B2&amp;\"2\"</f></c>")]),
        ])
        assertRefused(url, row: 3, reason: "Accession_number is a formula without a saved value")
    }

    func testIDsDifferingOnlyInCaseRefuseTheSheet() throws {
        let url = try csv("case.csv", "Accession_number,De-identification_ID\nA1,DEID-1\nA2,DEID-1\nA3,deid-1\n")
        assertRefused(url, row: 4, reason: "differs only in letter case from the one in row 2", secrets: ["deid-1", "DEID-1"])
    }

    func testHeaderOnlyHasNoMappingRows() throws {
        assertRefused(try csv("h.csv", "Accession_number,De-identification_ID\n\n , \n"), row: nil, reason: "no mapping rows")
        assertRefused(try xlsx([Self.header]), row: nil, reason: "no mapping rows")
    }

    func testEmptyFileHasNoHeader() throws {
        assertRefused(try csv("empty.csv", ""), row: nil, reason: "the sheet is empty")
        assertRefused(try csv("blank.csv", "\n , \n\n"), row: nil, reason: "the sheet is empty")
    }

    func testHeaderMustNameBothColumns() throws {
        assertRefused(try csv("h1.csv", "\nAccession,De-identification_ID\nA1,P1\n"), row: 2,
                      reason: "header must contain Accession_number and De-identification_ID (missing: Accession_number)")
        // A sheet without a header: its first data row is read as the header and must not be echoed.
        assertRefused(try csv("h2.csv", "A12345,P001\nA2,P2\n"), row: 1,
                      reason: "missing: Accession_number and De-identification_ID", secrets: ["A12345", "P001"])
        assertRefused(try csv("h3.csv", "Accession_number,De-identification_ID,accession_number\nA1,P1,A1\n"), row: 1,
                      reason: "more than one Accession_number column")
    }

    func testUnknownExtensionsAreRefused() throws {
        for name in ["mapping.txt", "mapping.xls", "mapping"] {
            let url = try csv(name, "Accession_number,De-identification_ID\nA1,P1\n")
            assertRefused(url, row: nil, reason: "unsupported file type")
        }
    }

    func testMissingFile() {
        assertRefused(directory.appendingPathComponent("absent.csv"), row: nil, reason: "cannot read")
        assertRefused(directory.appendingPathComponent("absent.xlsx"), row: nil, reason: "cannot read")
    }

    func testLookup() throws {
        let sheet = try XCTUnwrap(read(try csv("m.csv", "Accession_number,De-identification_ID\nA1,P1\n00042,P2\n")))
        XCTAssertEqual(sheet.deidentificationID(for: "A1"), "P1")
        XCTAssertEqual(sheet.deidentificationID(for: "00042 "), "P2") // DICOM pads values with spaces
        XCTAssertNil(sheet.deidentificationID(for: "42"))
        XCTAssertNil(sheet.deidentificationID(for: "a1"))
    }

    // MARK: - A workbook from a real writer

    func testWorkbookWrittenByOpenpyxl() throws {
        guard run(["python3", "-c", "import openpyxl"]) == 0 else {
            throw XCTSkip("python3 with openpyxl is not available (pip install openpyxl)")
        }
        let url = directory.appendingPathComponent("openpyxl.xlsx")
        let script = """
            import sys, openpyxl
            wb = openpyxl.Workbook()
            ws = wb.active
            ws.title = "Mapping"
            ws.append(["Accession_number", "Comment", "De-identification_ID"])
            ws.append([12345678, "int", "P001"])
            ws.append(["ACC-2", None, "P002"])
            ws.append([87654321.0, "float", 17])
            ws["A6"] = "  ACC-6 "
            ws["C6"] = "P006"
            decoy = wb.create_sheet("Decoy")
            decoy.append(["Accession_number", "De-identification_ID"])
            decoy.append(["DECOY", "X"])
            wb.save(sys.argv[1])
            """
        XCTAssertEqual(run(["python3", "-c", script, url.path]), 0, "openpyxl failed to write the workbook")
        XCTAssertEqual(summary(try XCTUnwrap(read(url))),
                       ["12345678->P001@2", "ACC-2->P002@3", "87654321->17@4", "ACC-6->P006@6"])
    }

    /// Exit status, or nil when the command cannot be started.
    private func run(_ arguments: [String]) -> Int32? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }
}
