import ArgumentParser
import Settings

/// The commented configuration file, every setting with its default.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Print the configuration file with every setting, its meaning and its default.",
        discussion: """
            The output is a valid ctdeid.toml that changes nothing: every key is set to its default.             With --packaged, the paths are those of the Debian package (/var/lib/ctdeid/...): this is             packaging/ctdeid.toml, installed as /etc/ctdeid/ctdeid.toml.
            """
    )

    @Flag(name: .long, help: "The packaged config (absolute paths under /var/lib/ctdeid) instead of the built-in defaults.")
    var packaged = false

    func run() {
        print(CommentedConfig.text(packaged: packaged), terminator: "")
    }
}
