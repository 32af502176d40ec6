import ArgumentParser
import Foundation
import Settings

// The flags of the commands that read the config file: one `@Option` per setting, its help from
// `SettingsTable`, read back by name.

/// A setting's `--help` entry, from the table.
func setting(_ key: String, _ valueName: String) -> ArgumentHelp {
    ArgumentHelp(SettingsTable.setting(key).flagHelp, valueName: valueName)
}

/// The flags given to a command, by setting key: each `@Option` property but `config` is a setting's
/// name in camel case (`keyFile` -> `key_file`): of `section`'s table when it has that name (the
/// receiver's `--database` is `receive.database`), else of the top level (`--inbox`).
func settingFlags(of command: Any, section: String? = nil) -> [String: String] {
    var values: [String: String] = [:]
    for child in Mirror(reflecting: command).children {
        guard let label = child.label, label != "_config", let option = child.value as? Option<String?>,
              let value = option.wrappedValue else { continue }
        let name = settingKey(property: String(label.dropFirst()))
        let inSection = section != nil && SettingsTable.all.contains { $0.section == section && $0.name == name }
        values[inSection ? "\(section!).\(name)" : name] = value
    }
    return values
}

/// --config, else /etc/ctdeid/ctdeid.toml when it exists, else none (the built-in defaults).
func configFile(_ path: String?) -> URL? {
    if let path { return URL(fileURLWithPath: path) }
    return FileManager.default.fileExists(atPath: "/etc/ctdeid/ctdeid.toml") ? URL(fileURLWithPath: "/etc/ctdeid/ctdeid.toml") : nil
}

/// `keyFile` -> `key_file`.
func settingKey(property: String) -> String {
    property.reduce(into: "") { key, character in
        if character.isUppercase { key += "_" + character.lowercased() } else { key.append(character) }
    }
}
