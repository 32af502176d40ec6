import Audit
import DICOM
import Defacing
import Deidentification
import Dispatch
import Foundation
import Logging
import Mapping
import Pipeline
import Platform
import ServiceLifecycle
import Synchronization
import Watcher

/// The mappings folder: sheets dropped into it are imported into the audit database.
extension InboxService {
    /// Sheets dropped into the mappings folder are imported once complete (unchanged for the settle
    /// time: a sheet copied slowly, or saved in parts, is not read half-written); the result is filed
    /// beside them.
    func importDroppedSheets() throws {
        let folder = configuration.mappings
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        let now = Self.now()
        var seen: [String: (stamp: FileStamp, since: Double)] = [:]
        for name in names.sorted() where !InboxWatcher.isIgnoredName(name, isDirectory: false) {
            let lower = name.lowercased()
            guard lower.hasSuffix(".xlsx") || lower.hasSuffix(".csv") else { continue }
            let url = folder.appendingPathComponent(name)
            guard let current = FileStamp(path: url.path) else { continue }
            // Unchanged since first seen for the settle time; a sheet already untouched that long when
            // first seen (it lay there while the service was down) is complete at once.
            var since = now - (current.age >= configuration.settleSeconds ? configuration.settleSeconds : 0)
            if let known = sheetStamps[name], known.stamp == current { since = known.since }
            seen[name] = (current, since)
            if now - since < configuration.settleSeconds { continue }
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

    fileprivate func file(_ url: URL, into subfolder: String, as name: String) throws {
        let target = url.deletingLastPathComponent().appendingPathComponent(subfolder)
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: url, to: target.appendingPathComponent(name))
    }
}
