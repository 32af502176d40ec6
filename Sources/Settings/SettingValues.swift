import Foundation
import Platform
import TOMLKit

/// The value of every setting and where it came from: the built-in default, then the TOML file
/// (relative paths against its folder), then flags (relative paths against the working directory).
/// Each value is checked against its `Setting` as it is read, so a bad one is refused at start with
/// its origin, key, value and why.
package struct SettingValues: Sendable {
    private struct Value: Sendable {
        var text: String
        var base: URL
        var origin: String
    }

    package let table: [Setting]
    private var values: [String: Value] = [:]

    /// `overrides` are flag values by key.
    package init(table: [Setting] = SettingsTable.all, file: URL?, overrides: [String: String]) throws(ConfigurationError) {
        self.table = table
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        for setting in table { values[setting.key] = Value(text: setting.defaultValue, base: cwd, origin: "default") }
        if let file { try read(file) }
        for (key, text) in overrides {
            guard let setting = table.first(where: { $0.key == key }) else { throw ConfigurationError("unknown setting '\(key)'") }
            values[key] = Value(text: text, base: cwd, origin: "flag \(setting.flag)")
        }
        for setting in table {
            if let problem = setting.problem(with: values[setting.key]!.text) { throw refuse(setting.key, problem) }
        }
    }

    private mutating func read(_ file: URL) throws(ConfigurationError) {
        let text: String
        do {
            text = try String(contentsOf: file, encoding: .utf8)
        } catch {
            throw ConfigurationError("config file \(file.path): cannot read: \(error.localizedDescription)")
        }
        let toml: TOMLTable
        do {
            toml = try TOMLTable(string: text)
        } catch {
            throw ConfigurationError("config file \(file.path): not valid TOML: \(error)")
        }
        let base = file.deletingLastPathComponent()
        let sections = Set(table.compactMap(\.section))
        var entries: [(key: String, value: TOMLValueConvertible)] = []
        for key in toml.keys {
            if sections.contains(key), let section = toml[key]?.table {
                for name in section.keys { entries.append(("\(key).\(name)", section[name]!)) }
            } else {
                entries.append((key, toml[key]!))
            }
        }
        let keys = table.map(\.key)
        for (key, value) in entries {
            guard let setting = table.first(where: { $0.key == key }) else {
                throw ConfigurationError("config file \(file.path): unknown key '\(key)'; known keys: \(keys.joined(separator: ", "))")
            }
            let text: String
            if case .list = setting.kind {
                // An array of strings; one string is taken as a list of one (or a comma-separated list).
                if let array = value.array, array.allSatisfy({ $0.string != nil }) {
                    text = array.map { $0.string! }.joined(separator: ",")
                } else if let string = value.string {
                    text = string
                } else {
                    throw ConfigurationError("config file \(file.path): key '\(key)' must be an array of strings")
                }
            } else if let string = value.string { text = string }
            else if let int = value.int { text = String(int) }
            else if let double = value.double { text = String(double) }
            else if let bool = value.bool { text = String(bool) }
            else { throw ConfigurationError("config file \(file.path): key '\(key)' must be a string, number or boolean") }
            values[key] = Value(text: text, base: base, origin: "config file \(file.path)")
        }
    }

    /// The refusal of a key's value, naming where it came from.
    package func refuse(_ key: String, _ why: String) -> ConfigurationError {
        let value = values[key]!
        return ConfigurationError("\(value.origin): \(key) = \"\(value.text)\": \(why)")
    }

    /// The value as written (a `.choice` or `.text` setting).
    package func text(_ key: String) -> String { values[key]!.text }

    package func path(_ key: String) -> URL {
        let value = values[key]!
        let url = value.text.hasPrefix("/") ? URL(fileURLWithPath: value.text) : value.base.appendingPathComponent(value.text)
        return url.standardizedFileURL
    }

    /// An `.optionalPath` value, nil when empty.
    package func optionalPath(_ key: String) -> URL? {
        values[key]!.text.isEmpty ? nil : path(key)
    }

    package func number(_ key: String) -> Double { Double(values[key]!.text)! }

    package func count(_ key: String) -> Int { Int(values[key]!.text)! }

    package func bool(_ key: String) -> Bool { Setting.bool(values[key]!.text)! }

    /// A `.list` value's words.
    package func list(_ key: String) -> [String] { Setting.words(values[key]!.text) }
}
