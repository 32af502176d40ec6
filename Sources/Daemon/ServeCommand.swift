import ArgumentParser
import Audit
import Foundation
import Logging
import Platform
import Receiver
import ServiceRuntime
import Settings

/// The configuration file and the flags that override its keys, shared by the service commands.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("TOML configuration file (default: /etc/ctdeid/ctdeid.toml when it exists, else the built-in ./var/ tree).", valueName: "file"))
    var config: String?

    // One flag per setting of `SettingsTable`, named after its key, its help taken from the table
    // (a test checks that every setting has its flag here).
    @Option(name: .long, help: setting("inbox", "dir")) var inbox: String?
    @Option(name: .long, help: setting("outbox", "dir")) var outbox: String?
    @Option(name: .long, help: setting("work", "dir")) var work: String?
    @Option(name: .long, help: setting("quarantine", "dir")) var quarantine: String?
    @Option(name: .long, help: setting("done", "dir")) var done: String?
    @Option(name: .long, help: setting("mappings", "dir")) var mappings: String?
    @Option(name: .long, help: setting("database", "file")) var database: String?
    @Option(name: .long, help: setting("key_file", "file")) var keyFile: String?
    @Option(name: .long, help: setting("settle_seconds", "seconds")) var settleSeconds: String?
    @Option(name: .long, help: setting("rescan_seconds", "seconds")) var rescanSeconds: String?
    @Option(name: .long, help: setting("watch", "mode")) var watch: String?
    @Option(name: .long, help: setting("workers", "n")) var workers: String?
    @Option(name: .long, help: setting("options", "list")) var options: String?
    @Option(name: .long, help: setting("after_delivery", "keep|delete")) var afterDelivery: String?
    @Option(name: .long, help: setting("keep_names", "bool")) var keepNames: String?
    @Option(name: .long, help: setting("watchdog_seconds", "seconds")) var watchdogSeconds: String?
    @Option(name: .long, help: setting("log_level", "level")) var logLevel: String?
    @Option(name: .long, help: setting("deface", "mode")) var deface: String?
    @Option(name: .long, help: setting("qa", "dir")) var qa: String?
    @Option(name: .long, help: setting("localizers", "policy")) var localizers: String?
    @Option(name: .long, help: setting("burned_in", "policy")) var burnedIn: String?
    @Option(name: .long, help: setting("undefaced_heads", "policy")) var undefacedHeads: String?

    /// The flags given, by setting key.
    var overrides: [String: String] { settingFlags(of: self) }

    var configFile: URL? { Daemon.configFile(config) }

    /// The receiver's log of associations, when there is one (`ctdeid receive` has run).
    func receptionLog() -> ReceptionLog? {
        guard let values = try? SettingValues(file: configFile, overrides: [:]) else { return nil }
        return try? ReceptionLog(path: values.path("receive.database").path, create: false)
    }

    func load() -> ServiceConfiguration {
        do {
            return try ServiceConfiguration.load(file: configFile, overrides: overrides)
        } catch {
            fail(error.reason, code: 2)
        }
    }

    /// The audit database alone, for the operator commands; `create: false` (the commands that only
    /// look or re-queue) never leaves an empty database where there was none.
    func openStore(create: Bool = true) -> AuditStore {
        let configuration = load()
        do {
            return try AuditStore(path: configuration.database, create: create)
        } catch {
            fail(error.reason, code: 2)
        }
    }
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Watch the inbox and de-identify every patient folder dropped into it, until SIGTERM.",
        discussion: """
            A patient folder is processed once nothing in it changed for settle_seconds; hidden files and \
            *.partial are ignored until renamed. Each study is staged under work/ and moved into \
            outbox/<De-identification_ID>/ with one rename; the input then goes to done/ (or is deleted). \
            Folders without a mapping are held until a sheet with their key is imported \
            (`ctdeid mapping import`, or a sheet dropped into the mappings folder). After a crash, a \
            restart finishes interrupted jobs. systemd Type=notify: READY=1, STATUS=, WATCHDOG=1, STOPPING=1.
            """
    )

    @OptionGroup var settings: ConfigOptions

    func run() async throws {
        let configuration = settings.load()
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "ctdeid")
        do {
            try await Server(configuration: configuration, notifier: SystemdNotifier(), logger: logger).run()
        } catch let error as ConfigurationError {
            fail(error.reason, code: 2)
        } catch {
            fail("\(error)", code: 1)
        }
    }
}
