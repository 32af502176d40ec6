import Foundation
import Glibc

/// What stat says of a file, enough to tell that it was replaced or written since it was last looked at:
/// its identity (device and inode), size, and modification and change times to the nanosecond.
public struct FileStamp: Sendable, Equatable {
    public let device: UInt64
    public let inode: UInt64
    public let size: Int64
    package let modified: timespec
    package let changed: timespec

    /// The stamp of `path` (symbolic links followed), nil when it cannot be stat'ed (gone).
    public init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        self.init(info)
    }

    /// The stamp of an open file.
    public init?(descriptor: Int32) {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return nil }
        self.init(info)
    }

    private init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        modified = info.st_mtim
        changed = info.st_ctim
    }

    /// Seconds since the file's content or metadata last changed (by the wall clock).
    public var age: Double {
        let latest = max(Double(modified.tv_sec) + Double(modified.tv_nsec) / 1e9,
                         Double(changed.tv_sec) + Double(changed.tv_nsec) / 1e9)
        return Date().timeIntervalSince1970 - latest
    }

    /// The same file (device and inode), whatever happened to its content.
    public func isSameFile(as other: FileStamp) -> Bool { device == other.device && inode == other.inode }

    public static func == (a: FileStamp, b: FileStamp) -> Bool {
        a.device == b.device && a.inode == b.inode && a.size == b.size
            && a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec
            && a.changed.tv_sec == b.changed.tv_sec && a.changed.tv_nsec == b.changed.tv_nsec
    }
}
