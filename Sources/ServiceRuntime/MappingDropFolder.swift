import Audit
import Dispatch
import Foundation
import Logging
import Mapping
import Platform
import ServiceLifecycle
import Watcher

/// The mappings folder, a service of its own beside the inbox loop: sheets dropped into it are
/// imported into the audit database. The inbox loop sees each import (`latestMappingImport`) and
/// releases the jobs held `no-mapping` whose key a sheet now holds.
///
/// `@unchecked Sendable`: its one mutable field is used only by its own loop, one turn at a time.
final class MappingDropFolder: Service, @unchecked Sendable {
    let folder: URL
    let settleSeconds: Double
    let store: AuditStore
    let logger: Logger
    /// Sheets not yet imported: their stamp and since when it has not changed.
    private var sheetStamps: [String: (stamp: FileStamp, since: Double)] = [:]

    init(folder: URL, settleSeconds: Double, store: AuditStore, logger: Logger) {
        self.folder = folder
        self.settleSeconds = settleSeconds
        self.store = store
        self.logger = logger
    }

    /// A look every second until shutdown. A database another process holds locked is waited for
    /// (the sheet stays where it is); any other error ends the group, and systemd restarts it.
    func run() async throws {
        var busyRetries = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var delay = 1
            do {
                try await offload { [self] in Result { try importDroppedSheets() } }.get()
                busyRetries = 0
            } catch let error as AuditError where error.isBusy {
                busyRetries += 1
                delay = min(30, 1 << min(busyRetries - 1, 5))
                logger.warning("mapping sheets: the audit database is locked by another process; retrying in \(delay) s")
            }
            for _ in 0..<(delay * 10) where !Task.isShuttingDownGracefully && !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Sheets dropped into the mappings folder are imported once complete (unchanged for the settle
    /// time: a sheet copied slowly, or saved in parts, is not read half-written); the result is filed
    /// beside them.
    func importDroppedSheets() throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        let now = Double(Heartbeat.now()) / 1e9
        var seen: [String: (stamp: FileStamp, since: Double)] = [:]
        for name in names.sorted() where !InboxWatcher.isIgnoredName(name, isDirectory: false) {
            let lower = name.lowercased()
            guard lower.hasSuffix(".xlsx") || lower.hasSuffix(".csv") else { continue }
            let url = folder.appendingPathComponent(name)
            guard let current = FileStamp(path: url.path) else { continue }
            // Unchanged since first seen for the settle time; a sheet already untouched that long when
            // first seen (it lay there while the service was down) is complete at once.
            var since = now - (current.age >= settleSeconds ? settleSeconds : 0)
            if let known = sheetStamps[name], known.stamp == current { since = known.since }
            seen[name] = (current, since)
            if now - since < settleSeconds { continue }
            let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
            do {
                let sheet = try MappingSheet.read(from: url)
                let count = try store.importMappings(sheet.rows.map { ($0.accession, $0.deidentificationID, $0.rowNumber) },
                                                     sourceSheet: sheet.sourceName)
                try file(url, into: "imported", as: stamp + "-" + name)
                logger.info("mapping sheet imported", metadata: ["rows": "\(count)"])
            } catch let error as AuditError where error.isBusy {
                sheetStamps = seen
                throw error  // the sheet stays where it is and is imported once the lock is gone
            } catch let error as MappingError where error.changedWhileRead {
                seen[name] = (FileStamp(path: url.path) ?? current, now)  // still being written: the next turn
                continue
            } catch {
                try file(url, into: "rejected", as: stamp + "-" + name)
                let note = folder.appendingPathComponent("rejected/\(stamp)-\(name).reason.txt")
                try? Data("\(error)\n".utf8).write(to: note)
                logger.error("mapping sheet refused: \(error)")
            }
            seen[name] = nil
        }
        sheetStamps = seen
    }

    private func file(_ url: URL, into subfolder: String, as name: String) throws {
        let target = url.deletingLastPathComponent().appendingPathComponent(subfolder)
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: url, to: target.appendingPathComponent(name))
    }
}
