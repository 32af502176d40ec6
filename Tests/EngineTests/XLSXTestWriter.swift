import Foundation
import Mapping
import ZIPFoundation

/// Writes minimal but valid .xlsx packages, so the reader is tested against the real zip + XML layout
/// and against the variations writers produce (part names, target styles, cell types, sparse rows).
enum XLSXTestWriter {
    enum Value {
        case shared(String)        // t="s", collected into xl/sharedStrings.xml
        case inline(String)        // t="inlineStr", as openpyxl writes
        case number(String)        // no t attribute, lexical form as given
        case formulaString(String) // t="str" with a formula
        case boolean(Bool)         // t="b"
        case raw(String)           // whole <c> element, for shapes the cases above cannot express
    }

    struct Cell {
        var ref: String?           // nil -> no r attribute (position follows the previous cell)
        var value: Value
    }

    struct Row {
        var number: Int?           // nil -> no r attribute on <row>
        var cells: [Cell]

        /// Cells in columns A, B, C...; nil leaves the cell out (sparse row).
        static func at(_ number: Int, _ values: [Value?], withRefs: Bool = true) -> Row {
            let cells = values.enumerated().compactMap { index, value in
                value.map { Cell(ref: withRefs ? "\(columnName(index))\(number)" : nil, value: $0) }
            }
            return Row(number: number, cells: cells)
        }
    }

    struct Sheet {
        var name: String
        var file: String           // part file name under xl/worksheets/
        var rows: [Row]
    }

    static func columnName(_ index: Int) -> String {
        var index = index + 1
        var name = ""
        while index > 0 {
            let remainder = (index - 1) % 26
            name = String(UnicodeScalar(UInt8(65 + remainder))) + name
            index = (index - 1) / 26
        }
        return name
    }

    /// `sheets` are listed in the workbook in the given order; the relationships are written in reverse
    /// order with unrelated ids so a reader that guesses by position or by file name fails.
    /// `prefixed` writes SpreadsheetML elements as `x:name` and relationship ids as `rel:id`, as some
    /// .NET writers do, instead of the usual default namespace and `r:` prefix.
    static func write(to url: URL, sheets: [Sheet], absoluteTargets: Bool = false,
                      sharedStringsXML: String? = nil, stylesXML: String? = nil, prefixed: Bool = false) throws {
        var sharedStrings: [String] = []
        func sharedIndex(_ text: String) -> Int {
            if let index = sharedStrings.firstIndex(of: text) { return index }
            sharedStrings.append(text)
            return sharedStrings.count - 1
        }

        var parts: [(String, String)] = []
        for sheet in sheets {
            var xml = """
                <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
                <worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" \
                xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheetData>
                """
            for row in sheet.rows {
                xml += row.number.map { "<row r=\"\($0)\">" } ?? "<row>"
                for cell in row.cells {
                    let r = cell.ref.map { " r=\"\($0)\"" } ?? ""
                    switch cell.value {
                    case .shared(let text): xml += "<c\(r) t=\"s\"><v>\(sharedIndex(text))</v></c>"
                    case .inline(let text): xml += "<c\(r) t=\"inlineStr\"><is><t>\(escape(text))</t></is></c>"
                    case .number(let text): xml += "<c\(r)><v>\(text)</v></c>"
                    case .formulaString(let text):
                        xml += "<c\(r) t=\"str\"><f>CONCATENATE(\"\(escape(text))\")</f><v>\(escape(text))</v></c>"
                    case .boolean(let flag): xml += "<c\(r) t=\"b\"><v>\(flag ? 1 : 0)</v></c>"
                    case .raw(let element): xml += element
                    }
                }
                xml += "</row>"
            }
            xml += "</sheetData></worksheet>"
            parts.append(("xl/worksheets/\(sheet.file)", xml))
        }

        let sheetList = sheets.enumerated().map { index, sheet in
            "<sheet name=\"\(escape(sheet.name))\" sheetId=\"\(index + 1)\" r:id=\"rIdSheet\(sheets.count - index)\"/>"
        }.joined()
        parts.append(("xl/workbook.xml", """
            <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
            <workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" \
            xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">\
            <sheets>\(sheetList)</sheets></workbook>
            """))

        let relType = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
        let prefix = absoluteTargets ? "/xl/" : ""
        var relationships = sheets.enumerated().reversed().map { index, sheet in
            "<Relationship Id=\"rIdSheet\(sheets.count - index)\" Type=\"\(relType)/worksheet\" "
                + "Target=\"\(prefix)worksheets/\(sheet.file)\"/>"
        }
        let sharedXML = sharedStringsXML ?? (sharedStrings.isEmpty ? nil : """
            <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
            <sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="\(sharedStrings.count)" \
            uniqueCount="\(sharedStrings.count)">\(sharedStrings.map { "<si><t>\(escape($0))</t></si>" }.joined())</sst>
            """)
        if let sharedXML {
            parts.append(("xl/sharedStrings.xml", sharedXML))
            relationships.append("<Relationship Id=\"rIdStrings\" Type=\"\(relType)/sharedStrings\" Target=\"\(prefix)sharedStrings.xml\"/>")
        }
        if let stylesXML {
            parts.append(("xl/styles.xml", stylesXML))
            relationships.append("<Relationship Id=\"rIdStyles\" Type=\"\(relType)/styles\" Target=\"\(prefix)styles.xml\"/>")
        }
        parts.append(("xl/_rels/workbook.xml.rels", """
            <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
            <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\
            \(relationships.joined())</Relationships>
            """))
        parts.append(("_rels/.rels", """
            <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
            <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\
            <Relationship Id="rId1" Type="\(relType)/officeDocument" Target="xl/workbook.xml"/></Relationships>
            """))
        let overrides = sheets.map {
            "<Override PartName=\"/xl/worksheets/\($0.file)\" "
                + "ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>"
        }.joined()
        parts.append(("[Content_Types].xml", """
            <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
            <Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">\
            <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>\
            <Default Extension="xml" ContentType="application/xml"/>\
            <Override PartName="/xl/workbook.xml" \
            ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>\
            <Override PartName="/xl/sharedStrings.xml" \
            ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>\
            \(overrides)</Types>
            """))

        if prefixed {
            parts = parts.map { path, xml in
                guard !path.hasSuffix(".rels") && !path.hasPrefix("[") else { return (path, xml) }
                let renamed = xml.replacingOccurrences(of: "<(/?)([A-Za-z])", with: "<$1x:$2", options: .regularExpression)
                    .replacingOccurrences(of: "xmlns=", with: "xmlns:x=")
                    .replacingOccurrences(of: "xmlns:r=", with: "xmlns:rel=")
                    .replacingOccurrences(of: " r:id=", with: " rel:id=")
                return (path, renamed)
            }
        }

        try? FileManager.default.removeItem(at: url)
        let archive = try Archive(url: url, accessMode: .create)
        // Content types first, as Office writes it.
        for (path, text) in parts.reversed() {
            let data = Data(text.utf8)
            try archive.addEntry(with: path, type: .file, uncompressedSize: Int64(data.count),
                                 compressionMethod: .deflate) { position, size in
                data.subdata(in: Int(position)..<Int(position) + size)
            }
        }
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;")
            .replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }
}
