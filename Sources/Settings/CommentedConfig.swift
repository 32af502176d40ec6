/// The commented TOML file that documents every setting: `packaging/ctdeid.toml` is this text with
/// the packaged values (`ctdeid config --packaged`), so the file cannot drift from the table.
package enum CommentedConfig {
    static let header = """
        # /etc/ctdeid/ctdeid.toml: configuration of the ctdeid service (`ctdeid serve --config THIS_FILE`).
        #
        # Every key is optional; a key left out takes the default built into the binary, shown below.
        # Those built-in defaults are relative (var/...), and a relative path in this file is resolved
        # against the folder of this file (/etc/ctdeid): that is why the paths below are absolute.
        # An unknown key or a bad value stops the service at start (exit status 2) with the reason.
        # Flags of the same name (--settle-seconds 30) override a key. Read at start only:
        # `systemctl restart ctdeid` after a change. The operator commands (`ctdeid jobs`,
        # `ctdeid mapping import`) read this file too.
        #
        # The service may write only below /var/lib/ctdeid (ProtectSystem=strict, ReadWritePaths= in the
        # unit). To move a tree elsewhere, also add a drop-in with `systemctl edit ctdeid`:
        #   [Service]
        #   ReadWritePaths=/srv/ctdeid
        # and create the folder with the owner, mode and ACLs of /usr/lib/tmpfiles.d/ctdeid.conf.
        #
        # This file is generated from the settings table (`ctdeid config --packaged`).
        """

    /// Every key with its comment and default; `packaged` sets the packaged values (absolute paths
    /// under /var/lib/ctdeid) instead of the built-in defaults.
    package static func text(packaged: Bool, table: [Setting] = SettingsTable.all) -> String {
        var lines = [header]
        var section: String?
        // Top-level keys first: in TOML a key after a [table] header belongs to that table.
        for setting in table.filter({ $0.section == nil }) + table.filter({ $0.section != nil }) {
            if setting.section != section, let name = setting.section {
                lines += ["", "[\(name)]"]
                section = name
            }
            lines.append("")
            for line in setting.comment.split(separator: "\n", omittingEmptySubsequences: false) {
                lines.append(line.isEmpty ? "#" : "# " + line)
            }
            lines.append("# Default: \(literal(setting, setting.defaultValue)).")
            let value = packaged ? setting.packagedValue ?? setting.defaultValue : setting.defaultValue
            lines.append("\(setting.name) = \(literal(setting, value))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The TOML literal: numbers and booleans bare, everything else a basic string.
    static func literal(_ setting: Setting, _ value: String) -> String {
        switch setting.kind {
        case .number, .count, .bool: return value
        case .list: return "[" + Setting.words(value).map { literal(string: $0) }.joined(separator: ", ") + "]"
        default: return literal(string: value)
        }
    }

    static func literal(string value: String) -> String {
        let escaped = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "\"\(escaped)\""
    }
}
