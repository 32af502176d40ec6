import Foundation
import GRDB
import Mapping
import Pixels
import Platform

/// The audit database's schema: numbered migrations, applied in order when a database is opened.
extension AuditStore {
    package static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE mappings (
                    accession TEXT PRIMARY KEY NOT NULL,
                    deid_id TEXT NOT NULL,
                    source_sheet TEXT NOT NULL,
                    source_row INTEGER,
                    imported_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
                );
                CREATE INDEX mappings_deid_id ON mappings(deid_id);
                CREATE TABLE mapping_imports (
                    id INTEGER PRIMARY KEY,
                    source_sheet TEXT NOT NULL,
                    rows INTEGER NOT NULL,
                    imported_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
                );
                CREATE TABLE patients (
                    deid_id TEXT PRIMARY KEY NOT NULL,
                    date_offset_days INTEGER NOT NULL,
                    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
                );
                CREATE TABLE jobs (
                    id INTEGER PRIMARY KEY,
                    source TEXT NOT NULL,
                    folder TEXT NOT NULL,
                    deid_id TEXT,
                    state TEXT NOT NULL,
                    reason TEXT,
                    options TEXT,
                    profile_edition TEXT,
                    tool_version TEXT,
                    output_path TEXT,
                    files_total INTEGER NOT NULL DEFAULT 0,
                    files_delivered INTEGER NOT NULL DEFAULT 0,
                    files_quarantined INTEGER NOT NULL DEFAULT 0,
                    files_ignored INTEGER NOT NULL DEFAULT 0,
                    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
                    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
                );
                CREATE INDEX jobs_folder ON jobs(folder);
                CREATE TABLE events (
                    id INTEGER PRIMARY KEY,
                    job_id INTEGER REFERENCES jobs(id),
                    at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
                    state TEXT NOT NULL,
                    reason TEXT
                );
                CREATE INDEX events_job ON events(job_id);
                CREATE TRIGGER events_no_update BEFORE UPDATE ON events
                    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
                CREATE TRIGGER events_no_delete BEFORE DELETE ON events
                    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
                CREATE TABLE files (
                    id INTEGER PRIMARY KEY,
                    job_id INTEGER NOT NULL REFERENCES jobs(id),
                    input_path TEXT NOT NULL,
                    input_size INTEGER NOT NULL,
                    input_sha256 TEXT,
                    output_path TEXT,
                    output_size INTEGER,
                    output_sha256 TEXT,
                    outcome TEXT NOT NULL,
                    reason TEXT,
                    recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
                );
                CREATE INDEX files_job ON files(job_id);
                CREATE VIEW quarantined_files AS
                    SELECT f.job_id, j.folder, f.input_path, f.reason, f.recorded_at
                    FROM files f JOIN jobs j ON j.id = f.job_id WHERE f.outcome = 'quarantined';
                CREATE VIEW accession_ids AS
                    SELECT m.accession, m.deid_id, m.source_sheet, m.imported_at,
                           (SELECT max(e.at) FROM jobs j JOIN events e ON e.job_id = j.id
                             WHERE j.folder = m.accession AND e.state = 'delivered') AS delivered_at
                    FROM mappings m;
                """)
        }
        migrator.registerMigration("v2") { db in
            // The service moves or deletes the input after delivery, and operators can force a redelivery.
            try db.execute(sql: """
                ALTER TABLE jobs ADD COLUMN input_disposition TEXT;
                ALTER TABLE jobs ADD COLUMN input_disposed_at TEXT;
                ALTER TABLE jobs ADD COLUMN force INTEGER NOT NULL DEFAULT 0;
                CREATE INDEX jobs_state ON jobs(state);
                """)
        }
        migrator.registerMigration("v3") { db in
            // One row per image series of a job: defaced, metadata only, or quarantined, and the QA picture.
            try db.execute(sql: """
                CREATE TABLE series (
                    id INTEGER PRIMARY KEY,
                    job_id INTEGER NOT NULL REFERENCES jobs(id),
                    series_index INTEGER NOT NULL,
                    files INTEGER NOT NULL,
                    verdict TEXT NOT NULL,
                    reason TEXT,
                    voxels_removed INTEGER NOT NULL DEFAULT 0,
                    qa_image TEXT,
                    recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
                );
                CREATE INDEX series_job ON series(job_id);
                """)
        }
        migrator.registerMigration("v4") { db in
            // Burned-in text: a row per masked region (boxes only: the text read is never stored),
            // each file's image series, and the counts per series as a view.
            try db.execute(sql: """
                ALTER TABLE files ADD COLUMN series_index INTEGER;
                ALTER TABLE files ADD COLUMN text_regions INTEGER NOT NULL DEFAULT 0;
                CREATE TABLE text_regions (
                    id INTEGER PRIMARY KEY,
                    job_id INTEGER NOT NULL REFERENCES jobs(id),
                    file_id INTEGER NOT NULL REFERENCES files(id),
                    series_index INTEGER,
                    frame INTEGER NOT NULL,
                    x INTEGER NOT NULL,
                    y INTEGER NOT NULL,
                    width INTEGER NOT NULL,
                    height INTEGER NOT NULL,
                    stage TEXT NOT NULL,
                    detector TEXT NOT NULL
                );
                CREATE INDEX text_regions_job ON text_regions(job_id);
                CREATE VIEW text_series AS
                    SELECT job_id, series_index, count(*) AS images,
                           sum(text_regions > 0) AS images_masked, sum(text_regions) AS regions,
                           sum(outcome = 'quarantined' AND reason LIKE 'burned-in-text%') AS images_quarantined
                    FROM files WHERE series_index IS NOT NULL GROUP BY job_id, series_index;
                """)
        }
        migrator.registerMigration("v5") { db in
            // The review page for a person: per job (and the page of the `ctdeid run` that made it),
            // and the profile rendering beside the frontal one of each defaced series.
            try db.execute(sql: """
                ALTER TABLE jobs ADD COLUMN review_page TEXT;
                ALTER TABLE jobs ADD COLUMN run_review_page TEXT;
                ALTER TABLE series ADD COLUMN qa_profile TEXT;
                """)
        }
        migrator.registerMigration("v6") { db in
            // The database and the site secret belong together: the secret's fingerprint (a hash, not
            // the secret) is kept, so a missing or swapped key file is refused instead of silently
            // giving every later study other UIDs and date offsets.
            try db.execute(sql: "CREATE TABLE site (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            // `run` and `serve` may share a database: each recovers only the jobs it created.
            try db.execute(sql: "ALTER TABLE jobs ADD COLUMN owner TEXT")
        }
        migrator.registerMigration("v7") { db in
            // `delivering` is a state of its own; it was a reason on `processing`.
            try db.execute(sql: "UPDATE jobs SET state = 'delivering', reason = NULL WHERE state = 'processing' AND reason = 'delivering'")
        }
        migrator.registerMigration("v8") { db in
            // A job's reason has a code beside its sentence (`JobReason`); programs match the code.
            try db.execute(sql: "ALTER TABLE jobs ADD COLUMN reason_code TEXT")
            // Older rows get theirs from the sentence, whose first word was the code where it had one.
            let sentences: [(JobReason.Code, String)] = JobReason.Code.allCases.map { ($0, $0.rawValue + ":%") } + [
                (.someFilesQuarantined, "delivered; some files quarantined"), (.everyFileQuarantined, "every file was quarantined"),
                (.folderChanged, "the folder changed%"), (.stagingFailed, "staging failed:%"), (.deliveryFailed, "delivery failed:%"),
                (.folderUnreadable, "% (processed again once the folder changes, e.g. its permissions)"),
                (.folderRemoved, "the folder was removed from the inbox%"), (.folderRemoved, "retry requested, but the folder%"),
                (.mappingImported, "mapping imported"), (.retryRequested, "retry requested by an operator"),
                (.recovered, "delivery completed before %"), (.recovered, "interrupted; redone after %"),
            ]
            for (code, pattern) in sentences {
                try db.execute(sql: "UPDATE jobs SET reason_code = ? WHERE reason_code IS NULL AND reason LIKE ?",
                               arguments: [code.rawValue, pattern])
            }
        }
        return migrator
    }
}
