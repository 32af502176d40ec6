import Foundation

/// RFC 4180 CSV as Excel, LibreOffice and scripts write it; `;` is accepted when the header line uses it
/// (Excel in locales with a decimal comma).
package enum MappingCSVReader {
    package static func read(_ data: Data, file: String) throws(MappingError) -> [MappingTableRow] {
        try parse(decode(data, file: file), file: file)
    }

    /// UTF-8 (with or without BOM), or UTF-16 when it carries a BOM. Anything else is refused rather than
    /// guessed, since a wrongly decoded ID would silently name the wrong folder.
    package static func decode(_ data: Data, file: String) throws(MappingError) -> String {
        let text: String?
        if data.starts(with: [0xFF, 0xFE]) {
            text = String(data: data, encoding: .utf16LittleEndian)
        } else if data.starts(with: [0xFE, 0xFF]) {
            text = String(data: data, encoding: .utf16BigEndian)
        } else {
            text = String(data: data, encoding: .utf8)
        }
        guard var text else {
            throw MappingError(file: file, row: nil, reason: "file is not UTF-8 text (save it as \"CSV UTF-8\")")
        }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        return text
    }

    package static func delimiter(for text: String) -> Unicode.Scalar {
        let header = text.split(whereSeparator: \.isNewline)
            .first { !$0.trimmingCharacters(in: .whitespaces).isEmpty } ?? ""
        return header.contains(";") && !header.contains(",") ? ";" : ","
    }

    package static func parse(_ text: String, file: String) throws(MappingError) -> [MappingTableRow] {
        let delimiter = delimiter(for: text)
        let scalars = Array(text.unicodeScalars)
        var rows: [MappingTableRow] = []
        var fields: [String] = []
        var field = String.UnicodeScalarView()
        var inQuotes = false
        var closedQuote = false
        var record = 1

        func endField() {
            fields.append(String(field))
            field = String.UnicodeScalarView()
            closedQuote = false
        }
        func endRecord() {
            var cells: [Int: MappingCell] = [:]
            for (index, value) in fields.enumerated() { cells[index] = .text(value) }
            rows.append(MappingTableRow(number: record, cells: cells))
            fields = []
            record += 1
        }

        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            i += 1
            if inQuotes {
                if c == "\"" {
                    if i < scalars.count && scalars[i] == "\"" {
                        field.append(c)
                        i += 1
                    } else {
                        inQuotes = false
                        closedQuote = true
                    }
                } else {
                    field.append(c) // line breaks inside quotes belong to the field
                }
                continue
            }
            let isPadding = c == " " || c == "\t"
            if c == delimiter {
                endField()
            } else if c == "\r" || c == "\n" {
                if c == "\r" && i < scalars.count && scalars[i] == "\n" { i += 1 }
                endField()
                endRecord()
            } else if closedQuote {
                guard isPadding else {
                    throw MappingError(file: file, row: record, reason: "malformed CSV: text after a closing quote")
                }
            } else if c == "\"" && field.allSatisfy({ $0 == " " || $0 == "\t" }) {
                // A quote opens a quoted field even after padding; the padding would be trimmed anyway.
                field = String.UnicodeScalarView()
                inQuotes = true
            } else {
                field.append(c)
            }
        }
        if inQuotes {
            throw MappingError(file: file, row: record, reason: "malformed CSV: quoted field is never closed")
        }
        if !fields.isEmpty || !field.isEmpty || closedQuote {
            endField()
            endRecord()
        }
        return rows
    }
}
