import Foundation

/// The one rule every De-identification_ID meets, checked when a sheet is imported. An ID becomes
/// the name of the patient's folder in the outbox, and outboxes are often SMB shares read from
/// Windows and macOS, so the rule is that of a name every filesystem keeps as written:
/// - 1 to 64 characters (`MappingSheet.maxLength`, as for accessions), each an ASCII letter, a digit, `-`, `_` or `.` (POSIX's portable file
///   name characters);
/// - starting with a letter or a digit: no hidden name (`.x`; the product's own folders in the
///   outbox, such as `.ctdeid-staging`, all start with a dot), no name a shell takes for an option;
/// - not ending with a dot (Windows drops it);
/// - not a device name that Windows reserves, alone or before an extension (`CON`, `nul.txt`, `COM1`);
/// - not the same as another ID but for letter case (`DEID-1`, `deid-1`): on a share that ignores
///   case both would be one folder, two patients merged. Checked within the sheet and against the IDs
///   already in the database.
public enum DeidentificationIDRule {

    /// Device names Windows reserves in every folder, whatever the extension.
    package static let reservedNames: Set<String> = Set(["CON", "PRN", "AUX", "NUL"]
        + (0...9).map { "COM\($0)" } + (0...9).map { "LPT\($0)" })

    /// Why `id` breaks the rule, without quoting it (IDs are identifiers and stay out of logs); nil when it is good.
    public static func problem(with id: String) -> String? {
        let title = "De-identification_ID"
        if let problem = MappingSheet.basicProblem(with: id, title) { return problem }
        guard id.unicodeScalars.allSatisfy(isAllowed) else {
            return "\(title) contains a character other than the letters A-Z and a-z, the digits 0-9, '-', '_' and '.'"
        }
        if id == "." || id == ".." { return "\(title) must not be . or .." }
        if let first = id.unicodeScalars.first, !isLetterOrDigit(first) {
            return "\(title) must start with a letter or a digit (a name starting with '.' is hidden, and the product's own folders start with one)"
        }
        if id.hasSuffix(".") { return "\(title) must not end with '.' (Windows drops it)" }
        let stem = id.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)[0].uppercased()
        if reservedNames.contains(stem) {
            return "\(title) is a device name that Windows reserves (CON, PRN, AUX, NUL, COM0-9, LPT0-9, with or without an extension)"
        }
        return nil
    }

    /// Two IDs collide on a case-insensitive share when these are equal.
    public static func caseKey(_ id: String) -> String { id.lowercased() }

    private static func isLetterOrDigit(_ s: Unicode.Scalar) -> Bool {
        (s >= "A" && s <= "Z") || (s >= "a" && s <= "z") || (s >= "0" && s <= "9")
    }

    private static func isAllowed(_ s: Unicode.Scalar) -> Bool {
        isLetterOrDigit(s) || s == "-" || s == "_" || s == "."
    }
}
