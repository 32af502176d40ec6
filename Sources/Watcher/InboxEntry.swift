import Foundation
import Glibc
import Platform

/// A top-level entry as found by a full scan.
public struct InboxEntry: Sendable, Equatable {
    public let name: String
    /// False for a regular file, symlink, FIFO... lying directly in the inbox (the caller reports them).
    public let isDirectory: Bool
    /// Visible regular files below (0 for non-directories); hidden, .partial and symlinks excluded.
    public let fileCount: Int
    /// Sum of their sizes (for a top-level regular file: its own size).
    public let totalBytes: Int64
    /// Max st_mtime (seconds since epoch) over the entry and everything visible below: a change signature.
    public let latestModification: Double

    public init(name: String, isDirectory: Bool, fileCount: Int, totalBytes: Int64, latestModification: Double) {
        self.name = name
        self.isDirectory = isDirectory
        self.fileCount = fileCount
        self.totalBytes = totalBytes
        self.latestModification = latestModification
    }
}
