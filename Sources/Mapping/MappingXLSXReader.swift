import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import ZIPFoundation

/// Reads the first worksheet of an .xlsx (Office Open XML) workbook into raw cells.
/// Parts are located through the package relationships, as Excel does, because writers name and order
/// worksheet files freely (the first tab is not necessarily sheet1.xml).
package enum MappingXLSXReader {
    /// Uncompressed bound per part: a mapping sheet is small, a zip bomb is not.
    package static let maxPartBytes: UInt64 = 64 << 20

    package static func read(_ data: Data, file: String) throws(MappingError) -> [MappingTableRow] {
        func refuse(_ reason: String) -> MappingError { MappingError(file: file, row: nil, reason: reason) }
        let archive: Archive
        do {
            archive = try Archive(data: data, accessMode: .read)
        } catch {
            throw refuse("not a readable .xlsx workbook (not a zip archive; password-protected workbooks are not supported)")
        }
        let package = XLSXPackage(archive: archive, file: file)

        let rootRelationships = try package.relationships(of: "")
        let workbookPath = rootRelationships.first { $0.type.hasSuffix("/officeDocument") }
            .map { resolve($0.target, from: "") } ?? "xl/workbook.xml"
        guard let workbookData = try package.data(at: workbookPath) else {
            throw refuse("not a valid .xlsx workbook (\(workbookPath) is missing)")
        }
        let workbook = WorkbookHandler()
        try parse(workbookData, with: workbook, part: workbookPath, file: file)
        guard let sheetID = workbook.firstSheetRelationshipID else {
            throw refuse("workbook lists no sheets")
        }

        let workbookRelationships = try package.relationships(of: workbookPath)
        guard let sheet = workbookRelationships.first(where: { $0.id == sheetID }), !sheet.isExternal else {
            throw refuse("not a valid .xlsx workbook (first sheet has no part)")
        }
        guard sheet.type.hasSuffix("/worksheet") else { throw refuse("first sheet is not a worksheet") }
        let sheetPath = resolve(sheet.target, from: workbookPath)

        var sharedStrings: [String] = []
        let sharedPath = workbookRelationships.first { $0.type.hasSuffix("/sharedStrings") && !$0.isExternal }
            .map { resolve($0.target, from: workbookPath) } ?? "xl/sharedStrings.xml"
        if let data = try package.data(at: sharedPath) {
            let handler = SharedStringsHandler()
            try parse(data, with: handler, part: sharedPath, file: file)
            sharedStrings = handler.strings
        }

        // Which cell styles show a number as a date or time: Excel turns an ID such as 3-5-24 into
        // the serial number 45356 shown as a date, and reading the number would import a wrong ID.
        var dateStyles = Set<Int>()
        let stylesPath = workbookRelationships.first { $0.type.hasSuffix("/styles") && !$0.isExternal }
            .map { resolve($0.target, from: workbookPath) } ?? "xl/styles.xml"
        if let data = try package.data(at: stylesPath) {
            let handler = StylesHandler()
            try parse(data, with: handler, part: stylesPath, file: file)
            dateStyles = handler.dateStyles
        }

        guard let sheetData = try package.data(at: sheetPath) else {
            throw refuse("not a valid .xlsx workbook (\(sheetPath) is missing)")
        }
        let worksheet = WorksheetHandler(sharedStrings: sharedStrings, dateStyles: dateStyles)
        try parse(sheetData, with: worksheet, part: sheetPath, file: file)
        if let failure = worksheet.failure {
            throw MappingError(file: file, row: failure.row, reason: failure.reason)
        }
        return worksheet.rows
    }

    /// Resolves a relationship target against the part that owns the relationship (OPC part names).
    package static func resolve(_ target: String, from sourcePart: String) -> String {
        let target = target.removingPercentEncoding ?? target
        var segments: [Substring]
        if target.hasPrefix("/") {
            segments = []
        } else {
            segments = sourcePart.split(separator: "/")
            if !segments.isEmpty { segments.removeLast() } // the source part's own file name
        }
        for segment in target.split(separator: "/") {
            switch segment {
            case ".": continue
            case "..": if !segments.isEmpty { segments.removeLast() }
            default: segments.append(segment)
            }
        }
        return segments.joined(separator: "/")
    }

    private static func parse(_ data: Data, with handler: some XMLParserDelegate, part: String, file: String) throws(MappingError) {
        let parser = XMLParser(data: data)
        parser.shouldResolveExternalEntities = false
        parser.delegate = handler
        let ok = parser.parse()
        if !ok, (handler as? WorksheetHandler)?.failure == nil {
            throw MappingError(file: file, row: nil, reason: "not a valid .xlsx workbook (\(part) is not well-formed XML)")
        }
    }
}

// MARK: - Package access

private struct Relationship {
    package let id: String
    package let type: String
    package let target: String
    package let isExternal: Bool
}

private struct XLSXPackage {
    package let archive: Archive
    package let file: String

    /// Part bytes, or nil when the part does not exist. Zip names are matched exactly first, then leniently
    /// (case, backslashes) because some writers are sloppy about them.
    package func data(at path: String) throws(MappingError) -> Data? {
        let entry = archive[path] ?? archive.first { entry in
            entry.path.replacingOccurrences(of: "\\", with: "/").lowercased() == path.lowercased()
        }
        guard let entry, entry.type == .file else { return nil }
        let limit = MappingXLSXReader.maxPartBytes
        guard entry.uncompressedSize <= limit else {
            throw MappingError(file: file, row: nil, reason: "\(path) is larger than \(limit >> 20) MiB")
        }
        var data = Data()
        do {
            _ = try archive.extract(entry, skipCRC32: false) { chunk in
                data.append(chunk)
                // The declared size can lie; count what actually comes out.
                if data.count > limit { throw CocoaError(.fileReadTooLarge) }
            }
        } catch {
            throw MappingError(file: file, row: nil, reason: "not a valid .xlsx workbook (\(path) cannot be extracted)")
        }
        return data
    }

    /// Relationships of a part ("" for the package itself); none when the .rels part is absent.
    package func relationships(of part: String) throws(MappingError) -> [Relationship] {
        let directory = part.split(separator: "/").dropLast().joined(separator: "/")
        let name = part.split(separator: "/").last.map(String.init) ?? ""
        let relsPath = (directory.isEmpty ? "" : directory + "/") + "_rels/" + name + ".rels"
        guard let data = try data(at: relsPath) else { return [] }
        let handler = RelationshipsHandler()
        let parser = XMLParser(data: data)
        parser.shouldResolveExternalEntities = false
        parser.delegate = handler
        guard parser.parse() else {
            throw MappingError(file: file, row: nil, reason: "not a valid .xlsx workbook (\(relsPath) is not well-formed XML)")
        }
        return handler.relationships
    }
}

// MARK: - XML handlers (namespace processing is off, so names are matched by their local part)

private func localName(_ qualifiedName: String) -> Substring {
    guard let colon = qualifiedName.lastIndex(of: ":") else { return Substring(qualifiedName) }
    return qualifiedName[qualifiedName.index(after: colon)...]
}

private final class RelationshipsHandler: NSObject, XMLParserDelegate {
    package var relationships: [Relationship] = []

    package func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes: [String: String] = [:]) {
        guard localName(elementName) == "Relationship", let id = attributes["Id"], let target = attributes["Target"] else { return }
        relationships.append(Relationship(id: id, type: attributes["Type"] ?? "", target: target,
                                          isExternal: attributes["TargetMode"] == "External"))
    }
}

private final class WorkbookHandler: NSObject, XMLParserDelegate {
    private static let relationshipNamespaces: Set<String> = [
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
        "http://purl.oclc.org/ooxml/officeDocument/relationships", // Strict OOXML
    ]
    private var relationshipPrefixes: Set<String> = ["r"]
    private var inSheets = false
    package var firstSheetRelationshipID: String?

    package func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes: [String: String] = [:]) {
        // The prefix of the relationship id attribute is whatever the writer bound to the namespace.
        for (name, value) in attributes where name.hasPrefix("xmlns:") && Self.relationshipNamespaces.contains(value) {
            relationshipPrefixes.insert(String(name.dropFirst("xmlns:".count)))
        }
        switch localName(elementName) {
        case "sheets": inSheets = true
        case "sheet" where inSheets && firstSheetRelationshipID == nil:
            firstSheetRelationshipID = attributes.first { name, _ in
                guard let colon = name.firstIndex(of: ":") else { return false }
                return name[name.index(after: colon)...] == "id" && relationshipPrefixes.contains(String(name[..<colon]))
            }?.value
        default: break
        }
    }

    package func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        if localName(elementName) == "sheets" { inSheets = false }
    }
}

/// Text of a string item: `<t>` directly in the item or inside rich-text runs `<r>`;
/// phonetic runs (`<rPh>`) are annotations, not content.
private struct StringItemText {
    package private(set) var text = ""
    package private(set) var capturing = false

    package mutating func start(_ name: Substring, parent: Substring?, itemElement: Substring) {
        if name == "t" && (parent == itemElement || parent == "r") { capturing = true }
    }
    package mutating func end(_ name: Substring) { if name == "t" { capturing = false } }
    package mutating func append(_ string: String) { if capturing { text += string } }
    package mutating func reset() { self = StringItemText() }
}

private final class SharedStringsHandler: NSObject, XMLParserDelegate {
    package var strings: [String] = []
    private var stack: [Substring] = []
    private var item = StringItemText()

    package func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes: [String: String] = [:]) {
        let name = localName(elementName)
        if name == "si" { item.reset() }
        item.start(name, parent: stack.last, itemElement: "si")
        stack.append(name)
    }

    package func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        let name = localName(elementName)
        item.end(name)
        if name == "si" { strings.append(item.text) }
        stack.removeLast()
    }

    package func parser(_ parser: XMLParser, foundCharacters string: String) { item.append(string) }

    package func parser(_ parser: XMLParser, foundCDATA CDATABlock: Data) {
        item.append(String(decoding: CDATABlock, as: UTF8.self))
    }
}

/// xl/styles.xml: the cell formats (`cellXfs`, indexed by a cell's `s`) whose number format is a
/// date or a time, built in (ids 14-22, 27-36, 45-47, 50-58) or custom (a format code with d, m, y,
/// h or s outside quoted text, escapes and [brackets]).
private final class StylesHandler: NSObject, XMLParserDelegate {
    private var customDateFormats = Set<Int>()
    private var inCellXfs = false
    private var xfIndex = 0
    package var dateStyles = Set<Int>()

    package static let builtInDateFormats: Set<Int> = Set(Array(14...22) + Array(27...36) + Array(45...47) + Array(50...58))

    package static func isDateFormat(_ code: String) -> Bool {
        var inQuote = false, inBracket = false, escaped = false
        for character in code.lowercased() {
            if escaped { escaped = false; continue }
            if inQuote { if character == "\"" { inQuote = false }; continue }
            if inBracket { if character == "]" { inBracket = false }; continue }
            switch character {
            case "\\", "_", "*": escaped = true
            case "\"": inQuote = true
            case "[": inBracket = true
            case "d", "m", "y", "h", "s": return true
            default: break
            }
        }
        return false
    }

    package func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes: [String: String] = [:]) {
        switch localName(elementName) {
        case "numFmt":
            if let id = attributes["numFmtId"].flatMap(Int.init), let code = attributes["formatCode"], Self.isDateFormat(code) {
                customDateFormats.insert(id)
            }
        case "cellXfs": inCellXfs = true
        case "xf" where inCellXfs:
            let id = attributes["numFmtId"].flatMap(Int.init) ?? 0
            if Self.builtInDateFormats.contains(id) || customDateFormats.contains(id) { dateStyles.insert(xfIndex) }
            xfIndex += 1
        default: break
        }
    }

    package func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        if localName(elementName) == "cellXfs" { inCellXfs = false }
    }
}

private final class WorksheetHandler: NSObject, XMLParserDelegate {
    private let sharedStrings: [String]
    private let dateStyles: Set<Int>
    package var rows: [MappingTableRow] = []
    package var failure: (row: Int?, reason: String)?

    private var stack: [Substring] = []
    private var inSheetData = false
    // Current row: its number may come from <row r>, from a cell reference, or follow the previous row.
    private var rowNumber: Int?
    private var lastRowNumber = 0
    private var cells: [Int: MappingCell] = [:]
    private var lastColumn = -1
    // Current cell.
    private var cellColumn = 0
    private var cellType: String?
    private var cellStyle = 0
    private var hasFormula = false
    private var value: String?
    private var inlineText: StringItemText?
    private var capturingValue = false

    package init(sharedStrings: [String], dateStyles: Set<Int>) {
        self.sharedStrings = sharedStrings
        self.dateStyles = dateStyles
    }

    private func fail(_ parser: XMLParser, _ reason: String) {
        guard failure == nil else { return }
        failure = (rowNumber ?? lastRowNumber + 1, reason)
        parser.abortParsing()
    }

    package func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes: [String: String] = [:]) {
        let name = localName(elementName)
        defer { stack.append(name) }
        guard failure == nil else { return }
        switch name {
        case "sheetData":
            inSheetData = true
        case "row" where inSheetData:
            cells = [:]
            lastColumn = -1
            rowNumber = nil
            if let r = attributes["r"] {
                guard let number = Int(r), (1...1_048_576).contains(number) else {
                    return fail(parser, "invalid row number in the worksheet")
                }
                rowNumber = number
            }
        case "c" where inSheetData:
            cellType = attributes["t"]
            cellStyle = attributes["s"].flatMap(Int.init) ?? 0
            hasFormula = false
            value = nil
            inlineText = nil
            if let reference = attributes["r"] {
                guard let (column, row) = Self.parseReference(reference) else {
                    return fail(parser, "invalid cell reference in the worksheet")
                }
                cellColumn = column
                if rowNumber == nil, let row { rowNumber = row }
            } else {
                cellColumn = lastColumn + 1
            }
            lastColumn = cellColumn
        case "v" where stack.last == "c":
            value = ""
            capturingValue = true
        case "is" where stack.last == "c":
            inlineText = StringItemText()
        case "f" where stack.last == "c":
            hasFormula = true
        default:
            inlineText?.start(name, parent: stack.last, itemElement: "is")
        }
    }

    package func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        let name = localName(elementName)
        stack.removeLast()
        guard failure == nil else { return }
        switch name {
        case "sheetData":
            inSheetData = false
        case "row" where inSheetData:
            let number = rowNumber ?? lastRowNumber + 1
            if !cells.isEmpty { rows.append(MappingTableRow(number: number, cells: cells)) }
            lastRowNumber = number
            rowNumber = nil
        case "c" where inSheetData:
            finishCell(parser)
        case "v":
            capturingValue = false
        default:
            inlineText?.end(name)
        }
    }

    package func parser(_ parser: XMLParser, foundCharacters string: String) { append(string) }

    package func parser(_ parser: XMLParser, foundCDATA CDATABlock: Data) {
        append(String(decoding: CDATABlock, as: UTF8.self))
    }

    private func append(_ string: String) {
        if capturingValue { value? += string }
        inlineText?.append(string)
    }

    private func finishCell(_ parser: XMLParser) {
        let cell: MappingCell?
        if hasFormula && (value ?? "").isEmpty && inlineText == nil {
            // Written by a program that does not compute formulas (a script): there is no value to read.
            cells[cellColumn] = .unsupported("a formula without a saved value (open and save the sheet in Excel or LibreOffice, or paste the values)")
            return
        }
        switch cellType {
        case "s":
            guard let value, !value.isEmpty else { return }
            guard let index = Int(value.trimmingCharacters(in: .whitespaces)), sharedStrings.indices.contains(index) else {
                return fail(parser, "cell refers to a shared string that does not exist")
            }
            cell = .text(sharedStrings[index])
        case "inlineStr":
            cell = (inlineText?.text ?? value).map(MappingCell.text)
        case "str":
            cell = value.map(MappingCell.text)
        case nil, "n":
            if dateStyles.contains(cellStyle), let value, !value.isEmpty {
                cell = .unsupported("a cell formatted as a date or time (Excel turned what was typed into a date; format the column as Text and type the values again)")
            } else {
                cell = value.flatMap { $0.isEmpty ? nil : MappingCell.number($0) }
            }
        case "b":
            cell = value.map { _ in .unsupported("a boolean cell") }
        case "e":
            cell = value.map { _ in .unsupported("a formula error cell") }
        case "d":
            cell = value.map { _ in .unsupported("a date cell") }
        default:
            cell = .unsupported("a cell of an unknown type")
        }
        if let cell { cells[cellColumn] = cell }
    }

    /// "B7" -> (column 1, row 7); the row part may be absent in hand-made files.
    package static func parseReference(_ reference: String) -> (column: Int, row: Int?)? {
        let letters = reference.prefix { $0.isASCII && $0.isLetter }
        let digits = reference.dropFirst(letters.count)
        guard (1...3).contains(letters.count) else { return nil }
        var column = 0
        for letter in letters.uppercased().unicodeScalars {
            column = column * 26 + Int(letter.value - 64)
        }
        guard column <= 16_384 else { return nil }
        if digits.isEmpty { return (column - 1, nil) }
        guard let row = Int(digits), (1...1_048_576).contains(row) else { return nil }
        return (column - 1, row)
    }
}
