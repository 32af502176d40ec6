import Defacing
import Deidentification
import Foundation
import Platform
import Settings
import Watcher

/// What happens to an input folder once its study is delivered.
public enum AfterDelivery: String, Sendable {
    case keep, delete
}

/// Settings of `ctdeid serve`: the embedded default (a local `./var/` tree), then the TOML file,
/// then flags. A bad value is refused at start with the key, the value and why.
public struct ServiceConfiguration: Sendable {
    public var inbox: URL
    public var outbox: URL
    public var work: URL
    public var quarantine: URL
    public var done: URL
    public var mappings: URL
    public var database: String
    public var keyFile: String
    public var settleSeconds: Double
    /// Seconds between rescans of the inbox (0: none besides start-up and overflows).
    public var rescanSeconds: Double
    public var watch: WatchMode
    public var workers: Int
    public var options: Set<ProfileOption>
    public var afterDelivery: AfterDelivery
    public var keepNames: Bool
    public var watchdogSeconds: Double
    public var logLevel: String
    /// nil: defacing off.
    public var deface: DefaceMode?
    public var qa: URL
    public var blankLocalizers: Bool
    public var burnedIn: BurnedInPolicy
    public var undefacedHeads: UndefacedHeads

    /// Loads the configuration: the defaults of `SettingsTable`, then `file` (relative paths in it are
    /// resolved against its folder), then `overrides` (flag values by key; relative paths against the
    /// working directory).
    public static func load(file: URL?, overrides: [String: String]) throws(ConfigurationError) -> ServiceConfiguration {
        let settings = try SettingValues(file: file, overrides: overrides)
        let options: Set<ProfileOption>
        do {
            options = try ProfileOption.parse(settings.text("options"))
        } catch {
            throw settings.refuse("options", error.reason)
        }
        // The choices were checked against the table; these conversions cannot fail.
        let workers = settings.count("workers")
        let deface = settings.text("deface") == "off" ? nil : DefaceMode(rawValue: settings.text("deface"))!
        let configuration = ServiceConfiguration(
            inbox: settings.path("inbox"), outbox: settings.path("outbox"), work: settings.path("work"),
            quarantine: settings.path("quarantine"), done: settings.path("done"), mappings: settings.path("mappings"),
            database: settings.path("database").path, keyFile: settings.path("key_file").path,
            settleSeconds: settings.number("settle_seconds"), rescanSeconds: settings.number("rescan_seconds"),
            watch: WatchMode(rawValue: settings.text("watch"))!,
            workers: workers == 0 ? ProcessInfo.processInfo.activeProcessorCount : workers,
            options: options, afterDelivery: AfterDelivery(rawValue: settings.text("after_delivery"))!,
            keepNames: settings.bool("keep_names"), watchdogSeconds: settings.number("watchdog_seconds"),
            logLevel: settings.text("log_level"), deface: deface, qa: settings.path("qa"),
            blankLocalizers: settings.text("localizers") == "blank",
            burnedIn: BurnedInPolicy(rawValue: settings.text("burned_in"))!,
            undefacedHeads: UndefacedHeads(rawValue: settings.text("undefaced_heads"))!)
        let refuse = settings.refuse
        try configuration.checkTrees(refuse: refuse)
        return configuration
    }

    /// The trees must not nest (the watcher would see its own output), and a delivery is one rename,
    /// so the work tree and the outbox share a filesystem.
    func checkTrees(refuse: (String, String) -> ConfigurationError) throws(ConfigurationError) {
        let trees: [(String, URL)] = [("inbox", inbox), ("outbox", outbox), ("work", work), ("quarantine", quarantine),
                                      ("done", done), ("mappings", mappings), ("qa", qa)]
        for (key, url) in trees {
            for (otherKey, other) in trees where otherKey != key {
                if url.path == other.path { throw refuse(key, "is the same folder as \(otherKey)") }
                if url.path.hasPrefix(other.path + "/") { throw refuse(key, "lies inside \(otherKey) (\(other.path))") }
            }
        }
        for (key, url) in trees {
            do {
                try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            } catch {
                throw refuse(key, "cannot create the folder: \(error.localizedDescription)")
            }
        }
        func device(_ url: URL) -> UInt64? {
            var info = stat()
            return stat(url.path, &info) == 0 ? UInt64(info.st_dev) : nil
        }
        if device(work) != device(outbox) {
            throw refuse("work", "must be on the same filesystem as outbox (\(outbox.path)): a delivery is one rename")
        }
        if afterDelivery == .keep && device(done) != device(inbox) {
            throw refuse("done", "must be on the same filesystem as inbox (\(inbox.path)): inputs are moved, not copied")
        }
        if device(quarantine) != device(inbox) {
            throw refuse("quarantine", "must be on the same filesystem as inbox (\(inbox.path)): quarantined inputs are moved, not copied")
        }

    }

    /// The trees the service cannot write into (it writes into every one: the inbox too, its lock and
    /// folders moved out of it), each with the reason. Reported at start as warnings, not refused:
    /// permissions can be mended while the service runs, and the jobs that need the tree fail with
    /// the cause until then and are retried.
    func unwritableTrees() -> [String] {
        let trees: [(String, URL)] = [("inbox", inbox), ("outbox", outbox), ("work", work), ("quarantine", quarantine),
                                      ("done", done), ("mappings", mappings), ("qa", qa)]
        return trees.compactMap { key, url in
            access(url.path, W_OK | X_OK) == 0 ? nil : "\(key) = \(url.path): the service cannot write into it (\(String(cString: strerror(errno))))"
        }
    }

    public var stagingRoot: URL { work.appendingPathComponent("staging") }
}
