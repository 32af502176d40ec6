import Foundation
import GRDB
import Mapping
import Pixels
import Platform

public struct AuditError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    /// Another process holds the lock the statement needed (SQLITE_BUSY or SQLITE_LOCKED after the busy
    /// timeout): transient, worth retrying, unlike a damaged or unwritable database.
    public var isBusy = false

    package init(reason: String, isBusy: Bool = false) {
        self.reason = reason
        self.isBusy = isBusy
    }
    /// The database file this process opened was deleted, moved or replaced under it: whatever it
    /// writes from now on lands in a file nobody will read. Fatal: stop before delivering anything more.
    public var isIdentityLost = false
    public var description: String { reason }
}

extension AuditError {
    /// An error of GRDB or SQLite, with the database path for context.
    package init(_ error: Error, path: String, context: String = "audit database") {
        reason = "\(context) \(path): \(error)"
        if let error = error as? DatabaseError {
            isBusy = error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED
        }
    }
}
