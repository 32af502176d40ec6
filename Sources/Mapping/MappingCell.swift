import Foundation

/// A cell as the file stores it, before the mapping rules look at it.
package enum MappingCell: Sendable, Equatable {
    case text(String)
    /// Lexical form of a numeric cell exactly as written (e.g. "1.2345678E7"), converted only when needed.
    case number(String)
    /// A cell type the mapping cannot hold; the associated value names it for messages ("a boolean cell").
    case unsupported(String)

    package var isBlank: Bool {
        if case .text(let text) = self { return text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
        return false
    }

    /// What a header cell says, for matching column names.
    package var headerText: String {
        switch self {
        case .text(let text), .number(let text): text
        case .unsupported: ""
        }
    }

    package enum IntegerText: Equatable {
        case integer(String)
        case fractional
        case invalid
    }

    /// Whole-number digits of a numeric cell, by string manipulation: Excel stores 12345678 as "12345678",
    /// "1.2345678E7" or "12345678.0", and going through Double could print an exponent or lose digits.
    package static func integerText(_ raw: String) -> IntegerText {
        var text = Substring(raw.trimmingCharacters(in: .whitespaces))
        var negative = false
        if text.first == "-" || text.first == "+" {
            negative = text.first == "-"
            text = text.dropFirst()
        }
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            // The bound keeps absurd exponents from building huge strings; 64 digits is the length limit anyway.
            guard let value = Int(text[text.index(after: e)...]), abs(value) <= 400 else { return .invalid }
            exponent = value
            text = text[..<e]
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { return .invalid }
        let whole = parts[0]
        let fraction = parts.count == 2 ? parts[1] : ""
        guard !(whole.isEmpty && fraction.isEmpty),
              (whole + fraction).allSatisfy({ $0.isASCII && $0.isNumber }) else { return .invalid }

        let digits = Array(whole + fraction)
        let point = whole.count + exponent
        let fractionalDigits = point <= 0 ? digits[...] : digits.dropFirst(point)
        if fractionalDigits.contains(where: { $0 != "0" }) { return .fractional }
        let integerDigits = point <= 0 ? "" : String(digits.prefix(point)) + String(repeating: "0", count: max(0, point - digits.count))
        let trimmed = integerDigits.drop(while: { $0 == "0" })
        if trimmed.isEmpty { return .integer("0") }
        return .integer((negative ? "-" : "") + trimmed)
    }
}

/// One row of the sheet: its spreadsheet row number and the cells present, keyed by 0-based column.
package struct MappingTableRow: Sendable {
    package let number: Int
    package var cells: [Int: MappingCell]

    package var isBlank: Bool { cells.values.allSatisfy(\.isBlank) }
}
