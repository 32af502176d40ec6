import Defacing
import Deidentification
import Foundation
import Platform
import TOMLKit
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

    /// Every key, with its default, in the order the packaged config documents them.
    public static let defaults: [(key: String, value: String)] = [
        ("inbox", "var/inbox"), ("outbox", "var/outbox"), ("work", "var/work"), ("quarantine", "var/quarantine"),
        ("done", "var/done"), ("mappings", "var/mappings"), ("database", "var/ctdeid.sqlite"),
        ("key_file", "var/secret.key"), ("settle_seconds", "10"),
        ("rescan_seconds", "30"), ("watch", "inotify"), ("workers", "0"), ("options", "default"),
        ("after_delivery", "keep"), ("keep_names", "false"), ("watchdog_seconds", "0"), ("log_level", "info"),
        ("deface", "remove"), ("qa", "var/qa"), ("localizers", "quarantine"), ("burned_in", "mask"),
        ("undefaced_heads", "quarantine"),
    ]
    public static var keys: [String] { defaults.map(\.key) }

    /// Loads the configuration: defaults, then `file` (relative paths in it are resolved against its
    /// folder), then `overrides` (flag values; relative paths against the working directory).
    public static func load(file: URL?, overrides: [String: String]) throws(ConfigurationError) -> ServiceConfiguration {
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        var values: [String: (value: String, base: URL, origin: String)] = [:]
        for (key, value) in defaults { values[key] = (value, cwd, "default") }
        if let file {
            let text: String
            do {
                text = try String(contentsOf: file, encoding: .utf8)
            } catch {
                throw ConfigurationError("config file \(file.path): cannot read: \(error.localizedDescription)")
            }
            let table: TOMLTable
            do {
                table = try TOMLTable(string: text)
            } catch {
                throw ConfigurationError("config file \(file.path): not valid TOML: \(error)")
            }
            let base = file.deletingLastPathComponent()
            for key in table.keys {
                guard keys.contains(key), let value = table[key] else {
                    throw ConfigurationError("config file \(file.path): unknown key '\(key)'; known keys: \(keys.joined(separator: ", "))")
                }
                let text: String
                if let string = value.string { text = string }
                else if let int = value.int { text = String(int) }
                else if let double = value.double { text = String(double) }
                else if let bool = value.bool { text = String(bool) }
                else { throw ConfigurationError("config file \(file.path): key '\(key)' must be a string, number or boolean") }
                values[key] = (text, base, "config file \(file.path)")
            }
        }
        for (key, value) in overrides {
            guard keys.contains(key) else { throw ConfigurationError("unknown setting '\(key)'") }
            values[key] = (value, cwd, "flag --\(key.replacingOccurrences(of: "_", with: "-"))")
        }

        func raw(_ key: String) -> (value: String, base: URL, origin: String) { values[key]! }
        func refuse(_ key: String, _ why: String) -> ConfigurationError {
            let v = raw(key)
            return ConfigurationError("\(v.origin): \(key) = \"\(v.value)\": \(why)")
        }
        func path(_ key: String) throws(ConfigurationError) -> URL {
            let v = raw(key)
            guard !v.value.isEmpty else { throw refuse(key, "must not be empty") }
            guard !v.value.contains("\0") else { throw refuse(key, "contains a NUL byte") }
            let url = v.value.hasPrefix("/") ? URL(fileURLWithPath: v.value) : v.base.appendingPathComponent(v.value)
            return url.standardizedFileURL
        }
        func number(_ key: String, _ range: ClosedRange<Double>) throws(ConfigurationError) -> Double {
            guard let n = Double(raw(key).value), n.isFinite else { throw refuse(key, "not a number") }
            guard range.contains(n) else { throw refuse(key, "must be between \(Int(range.lowerBound)) and \(Int(range.upperBound))") }
            return n
        }
        func flag(_ key: String) throws(ConfigurationError) -> Bool {
            switch raw(key).value.lowercased() {
            case "true", "yes", "1": return true
            case "false", "no", "0": return false
            default: throw refuse(key, "must be true or false")
            }
        }

        let options: Set<ProfileOption>
        do {
            options = try ProfileOption.parse(raw("options").value)
        } catch {
            throw refuse("options", error.reason)
        }
        guard let afterDelivery = AfterDelivery(rawValue: raw("after_delivery").value) else {
            throw refuse("after_delivery", "must be keep (move the input to the done folder) or delete")
        }
        let logLevel = raw("log_level").value
        guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(logLevel) else {
            throw refuse("log_level", "must be one of trace, debug, info, notice, warning, error, critical")
        }
        func localizers() throws(ConfigurationError) -> Bool {
            switch raw("localizers").value {
            case "quarantine": return false
            case "blank": return true
            default: throw refuse("localizers", "must be quarantine or blank (every pixel set to air)")
            }
        }
        guard let burnedIn = BurnedInPolicy(rawValue: raw("burned_in").value) else {
            throw refuse("burned_in", "must be mask (text in the pixels masked, image delivered), quarantine, or off (pixels not checked)")
        }
        guard let undefacedHeads = UndefacedHeads(rawValue: raw("undefaced_heads").value) else {
            throw refuse("undefaced_heads", "must be quarantine (MR and PET series of the head are not delivered) or deliver (delivered with the face, marked RecognizableVisualFeatures=YES)")
        }
        let workerCount = Int(try number("workers", 0...256))
        guard let watch = WatchMode(rawValue: raw("watch").value) else {
            throw refuse("watch", "must be inotify (events, plus a rescan every rescan_seconds) or poll (rescans only, for inboxes on SMB or NFS shares)")
        }
        let deface: DefaceMode?
        switch raw("deface").value {
        case "off": deface = nil
        case let value:
            guard let mode = DefaceMode(rawValue: value) else { throw refuse("deface", "must be off, remove or noise") }
            deface = mode
        }
        let configuration = ServiceConfiguration(
            inbox: try path("inbox"), outbox: try path("outbox"), work: try path("work"),
            quarantine: try path("quarantine"), done: try path("done"), mappings: try path("mappings"),
            database: try path("database").path, keyFile: try path("key_file").path,
            settleSeconds: try number("settle_seconds", 0...86400),
            rescanSeconds: try number("rescan_seconds", 0...86400), watch: watch,
            workers: workerCount == 0 ? ProcessInfo.processInfo.activeProcessorCount : workerCount,
            options: options, afterDelivery: afterDelivery, keepNames: try flag("keep_names"),
            watchdogSeconds: try number("watchdog_seconds", 0...3600), logLevel: logLevel,
            deface: deface, qa: try path("qa"), blankLocalizers: try localizers(), burnedIn: burnedIn,
            undefacedHeads: undefacedHeads)
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
