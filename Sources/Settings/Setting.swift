import Foundation

/// One setting of ctdeid's configuration, declared once: its TOML key, the values it takes, its
/// default, and the words that explain it. The TOML reader, the flags' help and the shipped,
/// commented `packaging/ctdeid.toml` all come from these declarations (`SettingsTable`).
package struct Setting: Sendable {
    /// The values a setting takes; a value outside them is refused at start naming key, value and why.
    package enum Kind: Sendable {
        /// A file or folder; relative paths resolve against the config file's folder (or the working
        /// directory for a flag).
        case path
        /// A path that may be left empty (a feature off until it is set).
        case optionalPath
        /// A number of seconds or similar, fractions allowed.
        case number(ClosedRange<Double>)
        /// A whole number.
        case count(ClosedRange<Int>)
        case bool
        /// One of a few words, each with what it means.
        case choice([Choice])
        /// Free text checked by the code that reads it (the profile options list).
        case text
        /// A list of words (in TOML an array of strings; as a flag, comma-separated), each checked
        /// by the code that reads it.
        case list
    }

    package struct Choice: Sendable {
        package let value: String
        package let meaning: String
        package init(_ value: String, _ meaning: String) {
            self.value = value
            self.meaning = meaning
        }
    }

    /// The TOML table it belongs to (`receive` for `[receive]`), nil at the top level.
    package let section: String?
    /// The key within its table.
    package let name: String
    package let kind: Kind
    package let defaultValue: String
    /// The value the packaged config (`/etc/ctdeid/ctdeid.toml`) sets, where it is not the default.
    package let packagedValue: String?
    /// One line for `--help`.
    package let help: String
    /// The paragraph above the key in the shipped config; its last line, the default, is added.
    package let comment: String

    package init(_ name: String, _ kind: Kind, default defaultValue: String, packaged: String? = nil,
                 help: String, comment: String, section: String? = nil) {
        self.section = section
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.packagedValue = packaged
        self.help = help
        self.comment = comment
    }

    /// How values and messages name it: `settle_seconds`, `receive.port`.
    package var key: String { section.map { "\($0).\(name)" } ?? name }

    /// The flag that overrides this key, of the command that uses its table: `settle_seconds` ->
    /// `--settle-seconds` (`serve`), `receive.port` -> `--port` (`receive`).
    package var flag: String { "--" + name.replacingOccurrences(of: "_", with: "-") }

    /// `--help`'s line: the help and the default.
    /// A `.list` value's words (empty for an empty value).
    package static func words(_ value: String) -> [String] {
        value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    package var flagHelp: String {
        let text = help.hasSuffix(".") ? String(help.dropLast()) : help
        return "\(text) (default: \(defaultValue.isEmpty ? "none" : defaultValue))."
    }

    /// Why `value` is refused, or nil when it is one this setting takes.
    package func problem(with value: String) -> String? {
        switch kind {
        case .path:
            if value.isEmpty { return "must not be empty" }
            if value.contains("\0") { return "contains a NUL byte" }
        case .number(let range):
            guard let n = Double(value), n.isFinite else { return "not a number" }
            if !range.contains(n) { return "must be between \(Self.format(range.lowerBound)) and \(Self.format(range.upperBound))" }
        case .count(let range):
            guard let n = Int(value) else { return "not a whole number" }
            if !range.contains(n) { return "must be between \(range.lowerBound) and \(range.upperBound)" }
        case .bool:
            if Self.bool(value) == nil { return "must be true or false" }
        case .choice(let choices):
            if !choices.contains(where: { $0.value == value }) {
                let list = choices.map { "\($0.value) (\($0.meaning))" }
                return "must be " + (list.count > 1 ? list.dropLast().joined(separator: ", ") + " or " + list.last! : list[0])
            }
        case .optionalPath:
            if value.contains("\0") { return "contains a NUL byte" }
        case .text, .list:
            break
        }
        return nil
    }

    static func bool(_ value: String) -> Bool? {
        switch value.lowercased() {
        case "true", "yes", "1": return true
        case "false", "no", "0": return false
        default: return nil
        }
    }

    static func format(_ number: Double) -> String {
        number == number.rounded() ? String(Int(number)) : String(number)
    }
}
