import ArgumentParser
import Audit
import Foundation
import Logging
import Platform
import ServiceRuntime

/// The configuration file and the flags that override its keys, shared by the service commands.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("TOML configuration file (default: /etc/ctdeid/ctdeid.toml when it exists, else the built-in ./var/ tree).", valueName: "file"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Folder where patient folders are dropped.", valueName: "dir")) var inbox: String?
    @Option(name: .long, help: ArgumentHelp("Folder that receives <De-identification_ID>/ studies.", valueName: "dir")) var outbox: String?
    @Option(name: .long, help: ArgumentHelp("Staging folder; must be on the outbox's filesystem.", valueName: "dir")) var work: String?
    @Option(name: .long, help: ArgumentHelp("Where inputs that cannot be made safe are kept.", valueName: "dir")) var quarantine: String?
    @Option(name: .long, help: ArgumentHelp("Where inputs go after delivery (after_delivery = keep).", valueName: "dir")) var done: String?
    @Option(name: .long, help: ArgumentHelp("Drop folder for mapping sheets (.xlsx/.csv), imported automatically.", valueName: "dir")) var mappings: String?
    @Option(name: .long, help: ArgumentHelp("Audit database (SQLite, mode 0600).", valueName: "file")) var database: String?
    @Option(name: .long, help: ArgumentHelp("Site secret for UID hashing and date offsets (mode 0600).", valueName: "file")) var keyFile: String?
    @Option(name: .long, help: "Seconds a folder must stay unchanged before it is processed (default 10).") var settleSeconds: String?
    @Option(name: .long, help: "Seconds between rescans of the inbox, for what inotify does not see (files written by other clients of an SMB or NFS share); 0 = none (default 30).") var rescanSeconds: String?
    @Option(name: .long, help: "How the inbox is watched: inotify (events plus rescans) or poll (rescans only).") var watch: String?
    @Option(name: .long, help: "Files processed in parallel (0 = number of cores).") var workers: String?
    @Option(name: .long, help: "Profile options: none, default, or a comma list (see `ctdeid run --help`).") var options: String?
    @Option(name: .long, help: "After delivery: keep (move the input to the done folder) or delete.") var afterDelivery: String?
    @Option(name: .long, help: "Keep folder and file names below the patient folder: true or false.") var keepNames: String?
    @Option(name: .long, help: "Seconds between watchdog pings (0 = from systemd's WATCHDOG_USEC).") var watchdogSeconds: String?
    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical.") var logLevel: String?
    @Option(name: .long, help: "Face removal: remove, noise or off.") var deface: String?
    @Option(name: .long, help: "Localizers/scouts: quarantine or blank.") var localizers: String?
    @Option(name: .long, help: "Burned-in text in the pixels: mask, quarantine or off.") var burnedIn: String?
    @Option(name: .long, help: "MR and PET series of the head (not defaced): quarantine or deliver.") var undefacedHeads: String?
    @Option(name: .long, help: ArgumentHelp("Folder for the before/after PNG of each defaced series.", valueName: "dir")) var qa: String?

    var overrides: [String: String] {
        var values: [String: String] = [:]
        let pairs: [(String, String?)] = [
            ("inbox", inbox), ("outbox", outbox), ("work", work), ("quarantine", quarantine), ("done", done),
            ("mappings", mappings), ("database", database), ("key_file", keyFile), ("settle_seconds", settleSeconds),
            ("rescan_seconds", rescanSeconds), ("watch", watch),
            ("workers", workers), ("options", options), ("after_delivery", afterDelivery), ("keep_names", keepNames),
            ("watchdog_seconds", watchdogSeconds), ("log_level", logLevel), ("deface", deface), ("qa", qa), ("localizers", localizers), ("burned_in", burnedIn),
            ("undefaced_heads", undefacedHeads),
        ]
        for (key, value) in pairs { if let value { values[key] = value } }
        return values
    }

    func load() -> ServiceConfiguration {
        let file: URL?
        if let config {
            file = URL(fileURLWithPath: config)
        } else if FileManager.default.fileExists(atPath: "/etc/ctdeid/ctdeid.toml") {
            file = URL(fileURLWithPath: "/etc/ctdeid/ctdeid.toml")
        } else {
            file = nil
        }
        do {
            return try ServiceConfiguration.load(file: file, overrides: overrides)
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
