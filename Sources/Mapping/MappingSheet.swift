import Foundation
import Glibc
import Platform

/// One study of the coordinators' sheet: its accession number and the pseudonym it gets.
public struct MappingRow: Sendable, Equatable {
    public let accession: String
    public let deidentificationID: String
    /// 1-based row in the sheet as a spreadsheet shows it (the header is row 1 when nothing precedes it).
    public let rowNumber: Int
}

/// Why a mapping sheet was refused. Messages name the file, the row and the rule, never a cell's value:
/// accession numbers and pseudonyms are identifiers and must not end up in logs.
public struct MappingError: Error, Sendable, CustomStringConvertible {
    public let file: String
    public let row: Int?
    public let reason: String
    /// The file was still being written: not a verdict on the sheet, read it again later.
    public var changedWhileRead = false

    package init(file: String, row: Int?, reason: String) {
        self.file = file
        self.row = row
        self.reason = reason
    }

    public var description: String {
        if let row { return "\(file) row \(row): \(reason)" }
        return "\(file): \(reason)"
    }
}

/// The accession -> De-identification_ID sheet, validated as a whole: any broken rule refuses every row.
public struct MappingSheet: Sendable {
    /// Unique accessions in sheet order; exact duplicate rows are collapsed into their first occurrence.
    public let rows: [MappingRow]
    /// Last path component of the file the sheet came from.
    public let sourceName: String
    private let idByAccession: [String: String]

    /// A sheet is small; the bound keeps a wrong file from exhausting memory.
    package static let maxBytes = 32 << 20

    /// Reads the file in one go and parses what was read. A file that changed while it was read
    /// (another program still writing it) is refused with `changedWhileRead` set: read it again later.
    public static func read(from url: URL) throws(MappingError) -> MappingSheet {
        let file = url.lastPathComponent
        let kind = url.pathExtension.lowercased()
        guard kind == "xlsx" || kind == "csv" else {
            throw MappingError(file: file, row: nil, reason: "unsupported file type; expected .xlsx or .csv")
        }
        let data = try readWhole(url, file: file)
        return try parse(data, kind: kind, file: file)
    }

    /// Parses the bytes of a sheet; `kind` is "xlsx" or "csv", `file` names it in messages.
    package static func parse(_ data: Data, kind: String, file: String) throws(MappingError) -> MappingSheet {
        let table = kind == "xlsx" ? try MappingXLSXReader.read(data, file: file) : try MappingCSVReader.read(data, file: file)
        return try MappingSheet(table: table, sourceName: file)
    }

    /// The whole file, and a check that it is the same file, unchanged, once read: its `FileStamp`
    /// as fstat saw it before the first byte and as stat sees the path after the last.
    package static func readWhole(_ url: URL, file: String) throws(MappingError) -> Data {
        func refuse(_ reason: String) -> MappingError { MappingError(file: file, row: nil, reason: reason) }
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw refuse("cannot read the file (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, let before = FileStamp(descriptor: fd) else {
            throw refuse("not a regular file")
        }
        guard before.size <= maxBytes else { throw refuse("file is larger than \(maxBytes >> 20) MiB") }
        var data = Data(count: Int(before.size) + 1)
        var length = 0
        let failed = data.withUnsafeMutableBytes { buffer -> Bool in
            while length < buffer.count {
                let n = Glibc.read(fd, buffer.baseAddress! + length, buffer.count - length)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { return true }
                if n == 0 { break }
                length += n
            }
            return false
        }
        if failed { throw refuse("cannot read the file (\(String(cString: strerror(errno))))") }
        let same = length == Int(before.size) && FileStamp(path: url.path) == before
        guard same else {
            var error = refuse("the file changed while it was read (still being written?)")
            error.changedWhileRead = true
            throw error
        }
        data.count = length
        return data
    }

    /// Looks up the pseudonym; DICOM pads AccessionNumber with spaces, so the key is trimmed like the sheet's values.
    public func deidentificationID(for accession: String) -> String? {
        idByAccession[accession.trimmingCharacters(in: .whitespacesAndNewlines)]
    }

    package static let maxLength = 64

    package init(table: [MappingTableRow], sourceName file: String) throws(MappingError) {
        func refuse(_ row: Int?, _ reason: String) -> MappingError {
            MappingError(file: file, row: row, reason: reason)
        }
        guard let headerIndex = table.firstIndex(where: { !$0.isBlank }) else {
            throw refuse(nil, "the sheet is empty (no header row)")
        }
        let header = table[headerIndex]
        var columns: [MappingColumn: Int] = [:]
        for (index, cell) in header.cells.sorted(by: { $0.key < $1.key }) {
            guard let column = MappingColumn(headerName: cell.headerText) else { continue }
            if columns[column] != nil {
                throw refuse(header.number, "header has more than one \(column.title) column")
            }
            columns[column] = index
        }
        guard let accessionColumn = columns[.accession], let idColumn = columns[.deidentificationID] else {
            let missing = MappingColumn.allCases.filter { columns[$0] == nil }.map(\.title).joined(separator: " and ")
            throw refuse(header.number, "header must contain Accession_number and De-identification_ID (missing: \(missing))")
        }

        var rows: [MappingRow] = []
        var firstSeen: [String: MappingRow] = [:]
        var rowOfID: [String: (id: String, row: Int)] = [:]
        for row in table[(headerIndex + 1)...] {
            let accession = try Self.value(row.cells[accessionColumn], .accession, row: row.number, file: file)
            let id = try Self.value(row.cells[idColumn], .deidentificationID, row: row.number, file: file)
            // Only the two mapping cells count: a row holding just a note in another column is skipped too.
            if accession.isEmpty && id.isEmpty { continue }
            for (column, value) in [(MappingColumn.accession, accession), (.deidentificationID, id)] {
                if let problem = Self.problem(with: value, column) { throw refuse(row.number, problem) }
            }
            if let prior = firstSeen[accession] {
                guard prior.deidentificationID == id else {
                    throw refuse(row.number, "accession already mapped to a different De-identification_ID in row \(prior.rowNumber)")
                }
                continue
            }
            let key = DeidentificationIDRule.caseKey(id)
            if let other = rowOfID[key], other.id != id {
                throw refuse(row.number, "De-identification_ID differs only in letter case from the one in row \(other.row); on a share that ignores case both would be one folder")
            }
            rowOfID[key] = rowOfID[key] ?? (id, row.number)
            let mapped = MappingRow(accession: accession, deidentificationID: id, rowNumber: row.number)
            firstSeen[accession] = mapped
            rows.append(mapped)
        }
        guard !rows.isEmpty else { throw refuse(nil, "no mapping rows") }
        self.rows = rows
        self.sourceName = file
        self.idByAccession = firstSeen.mapValues(\.deidentificationID)
    }

    /// The trimmed text of a mapping cell; "" when missing or blank.
    private static func value(_ cell: MappingCell?, _ column: MappingColumn, row: Int, file: String) throws(MappingError) -> String {
        switch cell {
        case nil: return ""
        case .text(let text)?: return text.trimmingCharacters(in: .whitespacesAndNewlines)
        case .number(let raw)?:
            switch MappingCell.integerText(raw) {
            case .integer(let digits): return digits
            case .fractional:
                throw MappingError(file: file, row: row, reason: "\(column.title) is a number with a fractional part; expected a whole number or text")
            case .invalid:
                throw MappingError(file: file, row: row, reason: "\(column.title) is not a valid number")
            }
        case .unsupported(let kind)?:
            throw MappingError(file: file, row: row, reason: "\(column.title) is \(kind); expected text or a whole number")
        }
    }

    /// IDs become folder names (`DeidentificationIDRule`); accessions name inbox folders and are
    /// looked up in headers, hence the character rules.
    private static func problem(with value: String, _ column: MappingColumn) -> String? {
        column == .deidentificationID ? DeidentificationIDRule.problem(with: value) : basicProblem(with: value, column.title)
    }

    /// The rules of both columns: not empty, at most `maxLength` characters, no path separator, no
    /// control or invisible formatting character. `title` names the column in the message.
    package static func basicProblem(with value: String, _ title: String) -> String? {
        if value.isEmpty { return "\(title) is empty" }
        if value.count > maxLength { return "\(title) is longer than \(maxLength) characters" }
        if value.contains("/") || value.contains("\\") { return "\(title) contains a path separator (/ or \\)" }
        let forbidden = value.unicodeScalars.contains { scalar in
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator: return true
            default: return false
            }
        }
        if forbidden { return "\(title) contains a control or invisible formatting character" }
        return nil
    }
}

package enum MappingColumn: CaseIterable, Hashable {
    case accession, deidentificationID

    package var title: String {
        switch self {
        case .accession: "Accession_number"
        case .deidentificationID: "De-identification_ID"
        }
    }

    /// Exact names modulo case and surrounding whitespace.
    package init?(headerName: String) {
        let name = headerName.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        guard let match = Self.allCases.first(where: { $0.title.lowercased() == name }) else { return nil }
        self = match
    }
}
