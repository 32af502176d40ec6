import Foundation
import GRDB
import Mapping
import Pixels
import Platform

/// The accession -> De-identification_ID mappings in the audit database, and the sheets they came from.
extension AuditStore {
    /// Imports a sheet all-or-nothing: an accession already mapped to a different ID refuses
    /// the whole sheet (the row number says where).
    @discardableResult
    public func importMappings(_ rows: [(accession: String, id: String, row: Int)], sourceSheet: String) throws(AuditError) -> Int {
        try write { db in
            // IDs already in the database that differ from a new one only in letter case: both would be
            // one folder on a share that ignores case.
            var known: [String: String] = [:]
            for id in try String.fetchAll(db, sql: "SELECT DISTINCT deid_id FROM mappings") {
                known[DeidentificationIDRule.caseKey(id)] = id
            }
            for entry in rows {
                if let other = known[DeidentificationIDRule.caseKey(entry.id)], other != entry.id {
                    throw AuditError(reason: "\(sourceSheet) row \(entry.row): the De-identification_ID differs only in letter case from one already in the database; on a share that ignores case both would be one folder; the sheet was not imported")
                }
                if let existing = try String.fetchOne(db, sql: "SELECT deid_id FROM mappings WHERE accession = ?",
                                                      arguments: [entry.accession]), existing != entry.id {
                    throw AuditError(reason: "\(sourceSheet) row \(entry.row): the accession is already mapped to a different De-identification_ID in the database; the sheet was not imported")
                }
            }
            for entry in rows {
                try db.execute(sql: """
                    INSERT INTO mappings (accession, deid_id, source_sheet, source_row) VALUES (?, ?, ?, ?)
                    ON CONFLICT(accession) DO NOTHING
                    """, arguments: [entry.accession, entry.id, sourceSheet, entry.row])
            }
            try db.execute(sql: "INSERT INTO mapping_imports (source_sheet, rows) VALUES (?, ?)",
                           arguments: [sourceSheet, rows.count])
            return rows.count
        }
    }

    public func deidentificationID(forAccession accession: String) throws(AuditError) -> String? {
        try read { db in try String.fetchOne(db, sql: "SELECT deid_id FROM mappings WHERE accession = ?", arguments: [accession]) }
    }

    /// The patient's date offset: the recorded one, or `derived` recorded now.
    public func dateOffset(for deidentificationID: String, derived: Int, durable: Bool = true) throws(AuditError) -> Int {
        try write(durable: durable) { db in
            if let days = try Int.fetchOne(db, sql: "SELECT date_offset_days FROM patients WHERE deid_id = ?",
                                           arguments: [deidentificationID]) {
                return days
            }
            try db.execute(sql: "INSERT INTO patients (deid_id, date_offset_days) VALUES (?, ?)",
                           arguments: [deidentificationID, derived])
            return derived
        }
    }
}
