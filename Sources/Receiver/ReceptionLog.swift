import Foundation
import GRDB

/// The receiver's record of who sent what: each association (calling AE title, address, counts,
/// how it ended) and the inbox folders it wrote into. Its own SQLite file (mode 0600), beside the
/// audit database rather than in it: the receiver, the one process with network access, writes
/// only into the inbox and this file. `ctdeid jobs` and `ctdeid show` read it to name a job's
/// senders. It holds no patient data beyond the folder names (accession numbers) the inbox has too.
public final class ReceptionLog: Sendable {
    private let queue: DatabaseQueue
    public let path: String

    /// One association's part in a folder.
    public struct Reception: Sendable {
        public let association: Int64
        public let callingAE: String
        public let peer: String
        public let instances: Int
        public let firstAt: String
        public let lastAt: String
    }

    public init(path: String, create: Bool = true) throws {
        self.path = path
        if !create && !FileManager.default.fileExists(atPath: path) {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd >= 0 { close(fd) }
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            // A lost last record after a power cut costs an audit line, never an instance: the
            // instance itself was flushed before it was acknowledged.
            try db.execute(sql: "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL")
        }
        queue = try DatabaseQueue(path: path, configuration: config)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE associations (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
                    ended_at TEXT,
                    calling_ae TEXT NOT NULL,
                    peer TEXT NOT NULL,
                    -- accepted, refused (A-ASSOCIATE-RJ), released, aborted, failed, stopped
                    outcome TEXT NOT NULL,
                    stored INTEGER NOT NULL DEFAULT 0,
                    failed INTEGER NOT NULL DEFAULT 0,
                    echoes INTEGER NOT NULL DEFAULT 0,
                    bytes INTEGER NOT NULL DEFAULT 0
                );
                CREATE TABLE received (
                    association_id INTEGER NOT NULL REFERENCES associations(id),
                    folder TEXT NOT NULL,
                    instances INTEGER NOT NULL,
                    first_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
                    last_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
                    PRIMARY KEY (association_id, folder)
                );
                CREATE INDEX received_folder ON received(folder);
                """)
        }
        try migrator.migrate(queue)
        for suffix in ["-wal", "-shm"] { chmod(path + suffix, 0o600) }
    }

    /// A new association, accepted or refused; its row id.
    public func associationStarted(callingAE: String, peer: String, outcome: String) throws -> Int64 {
        try queue.write { db in
            try db.execute(sql: "INSERT INTO associations (calling_ae, peer, outcome) VALUES (?, ?, ?)", arguments: [callingAE, peer, outcome])
            return db.lastInsertedRowID
        }
    }

    public func instanceStored(association: Int64, folder: String) throws {
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO received (association_id, folder, instances) VALUES (?, ?, 1)
                ON CONFLICT (association_id, folder) DO UPDATE
                SET instances = instances + 1, last_at = strftime('%Y-%m-%dT%H:%M:%fZ','now')
                """, arguments: [association, folder])
        }
    }

    public func associationEnded(_ association: Int64, outcome: String, stored: Int, failed: Int, echoes: Int, bytes: Int64) throws {
        try queue.write { db in
            try db.execute(sql: """
                UPDATE associations SET ended_at = strftime('%Y-%m-%dT%H:%M:%fZ','now'), outcome = ?, stored = ?, failed = ?,
                    echoes = ?, bytes = ? WHERE id = ?
                """, arguments: [outcome, stored, failed, echoes, bytes, association])
        }
    }

    /// What was received into an inbox folder, oldest first.
    public func receptions(folder: String) throws -> [Reception] {
        try queue.read { db in
            try Row.fetchAll(db, sql: """
                SELECT r.association_id, a.calling_ae, a.peer, r.instances, r.first_at, r.last_at
                FROM received r JOIN associations a ON a.id = r.association_id WHERE r.folder = ? ORDER BY r.first_at
                """, arguments: [folder]).map {
                Reception(association: $0[0], callingAE: $0[1], peer: $0[2], instances: $0[3], firstAt: $0[4], lastAt: $0[5])
            }
        }
    }
}
