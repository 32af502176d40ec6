import Foundation
import Glibc
import Platform

/// Recursive inotify watch of an inbox (or, in poll mode, none). Not thread-safe: one thread owns it
/// (the service's watcher loop).
///
/// inotify only speeds things up: the caller still does a full `scan()` at start-up and whenever
/// `rescanNeeded` is reported, and a `rescan()` every so often.
public final class InboxWatcher {
    public let inbox: URL
    public let mode: WatchMode
    private let inboxPath: String
    private let fd: Int32
    /// Per top-level folder, as last walked: its signature and the directories below it with their
    /// identity and modification time. A rescan stats those directories only: a file created,
    /// deleted or renamed changes its directory's time, and an idle folder costs a stat per directory
    /// instead of one per file.
    private var snapshots: [String: FolderSnapshot] = [:]

    package struct FolderSnapshot {
        package var entry: InboxEntry
        package var directories: [(path: String, inode: UInt64, modification: Double)]
    }
    /// Fixed, reused read buffer: memory stays bounded however many events arrive.
    private let buffer: UnsafeMutableRawPointer
    private static let bufferSize = 64 * 1024
    /// wd -> path relative to the inbox ("" for the inbox itself).
    private var paths: [Int32: String] = [:]

    /// The latest failure to add a watch (e.g. ENOSPC, the watch limit), cleared by scan() when every
    /// visible directory could be watched. While set, changes below unwatched directories are only
    /// seen by scan(), so the caller should scan periodically.
    public private(set) var watchFailure: WatcherError?

    /// Directories (relative paths) that cannot be watched because the service may not read them
    /// (EACCES). Not a watch failure: nothing inside can be processed anyway, and the chmod that makes
    /// one readable is an IN_ATTRIB on its parent's watch, which watches it then. Rescanning for
    /// them would only spin.
    public private(set) var unreadableDirectories: Set<String> = []

    public var fileDescriptor: Int32 { fd }
    public var watchCount: Int { paths.count }

    public init(inbox: URL, mode: WatchMode = .inotify) throws(WatcherError) {
        self.inbox = inbox
        self.mode = mode
        var path = inbox.path
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        inboxPath = path
        if mode == .poll {
            fd = -1
            buffer = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
            var info = stat()
            guard stat(RawName.systemPath(path), &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
                throw WatcherError(reason: "cannot read the inbox \(path): \(errnoText(errno))")
            }
            return
        }
        let descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        if descriptor < 0 {
            throw WatcherError(reason: "inotify_init1 failed for \(path): \(errnoText(errno))")
        }
        fd = descriptor
        buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.bufferSize, alignment: 8)
        // Fully initialised from here on: a throw runs deinit, which closes the fd.
        if case .failed(let error) = addWatch("") { throw error }
        if !watchTree(below: ""), let error = watchFailure { throw error }
    }

    deinit {
        if fd >= 0 { close(fd) }
        buffer.deallocate()
    }

    // MARK: - Events

    /// Waits up to `timeoutMilliseconds` (-1 forever, 0 no wait) for relevant events, then drains every
    /// pending event without blocking and returns the accumulated changes. Events that are all
    /// irrelevant (hidden or .partial files) do not end the wait early.
    public func wait(timeoutMilliseconds: Int32) -> InboxChanges {
        var changes = InboxChanges()
        if mode == .poll {
            // Nothing to wait for but time: changes are found by rescan().
            if timeoutMilliseconds > 0 { _ = poll(nil, 0, timeoutMilliseconds) }
            return changes
        }
        let deadline = timeoutMilliseconds > 0 ? monotonicNanoseconds() + UInt64(timeoutMilliseconds) * 1_000_000 : 0
        while true {
            var remaining = timeoutMilliseconds
            if timeoutMilliseconds > 0 {
                let now = monotonicNanoseconds()
                // Round up so we never return before the deadline.
                remaining = now >= deadline ? 0 : Int32((deadline - now + 999_999) / 1_000_000)
            }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, remaining)
            if ready < 0 {
                if errno == EINTR { continue }
                changes.rescanNeeded = true
                return changes
            }
            if ready == 0 { return changes }
            if descriptor.revents & Int16(POLLERR | POLLNVAL) != 0 {
                changes.rescanNeeded = true
                return changes
            }
            drain(into: &changes)
            if !changes.isEmpty || timeoutMilliseconds == 0 { return changes }
        }
    }

    private func drain(into changes: inout InboxChanges) {
        while true {
            let count = read(fd, buffer, Self.bufferSize)
            if count > 0 {
                parse(count, into: &changes)
                continue
            }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && errno != EAGAIN { changes.rescanNeeded = true }
            return
        }
    }

    /// Records are struct inotify_event (wd, mask, cookie, len: 16 bytes) followed by `len` bytes of NUL-padded name.
    private func parse(_ count: Int, into changes: inout InboxChanges) {
        var offset = 0
        while offset + 16 <= count {
            let wd = buffer.loadUnaligned(fromByteOffset: offset, as: Int32.self)
            let mask = buffer.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
            let length = Int(buffer.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
            let nameStart = offset + 16
            guard nameStart + length <= count else { break }
            let bytes = UnsafeRawBufferPointer(start: buffer + nameStart, count: length)
            let end = bytes.firstIndex(of: 0) ?? length
            let name = RawName.text(bytes[..<end])
            handle(wd: wd, mask: mask, name: name, into: &changes)
            offset = nameStart + length
        }
    }

    private func handle(wd: Int32, mask: UInt32, name: String, into changes: inout InboxChanges) {
        if mask & inQueueOverflow != 0 {
            changes.rescanNeeded = true
            return
        }
        // Unknown wd: a watch we already dropped (its trailing events and IN_IGNORED).
        guard let base = paths[wd] else { return }
        if mask & inIgnored != 0 {
            paths[wd] = nil
            if base.isEmpty { changes.rescanNeeded = true }  // the inbox itself is no longer watched
            return
        }
        if base.isEmpty && mask & (inDeleteSelf | inMoveSelf | inUnmount) != 0 {
            changes.rescanNeeded = true
            return
        }
        if name.isEmpty {
            // Event about a watched subdirectory itself (attributes, deletion); never the inbox's own attributes.
            if !base.isEmpty { changes.changed.insert(topLevelName(of: base)) }
            return
        }
        let isDirectory = mask & inIsDir != 0
        if Self.isIgnoredName(name, isDirectory: isDirectory) { return }
        let path = base.isEmpty ? name : base + "/" + name
        changes.changed.insert(topLevelName(of: path))
        guard isDirectory else { return }
        if mask & (inCreate | inMovedTo) != 0 || (mask & inAttrib != 0 && isUnreadable(path)) {
            // Watch it and everything already inside: files may have landed before the watch existed,
            // and they belong to the top-level name just reported. A chmod may have made an
            // unreadable directory (or what is below it) readable: try again.
            if !watchTree(from: path) { changes.rescanNeeded = true }
        } else if mask & inMovedFrom != 0 {
            // Its stored paths are stale (moved elsewhere in the inbox, or out of it): drop them; if it
            // reappears inside, the IN_MOVED_TO re-adds the watches under the new path.
            unwatchTree(path)
        }
    }

    // MARK: - Scan

    /// Full scan: every visible top-level entry with its signature, sorted by name. Also re-adds
    /// watches for every visible directory and drops watches on anything no longer reachable, so the
    /// wd map is rebuilt (the remedy for `rescanNeeded`).
    public func scan() -> [InboxEntry] {
        let previous = paths
        paths = [:]
        watchFailure = nil
        unreadableDirectories = []
        var entries: [InboxEntry] = []
        snapshots = [:]
        _ = addWatch("")
        for child in listDirectory("") {
            let full = inboxPath + "/" + child
            guard let info = lstatInfo(full) else { continue }
            if info.isDirectory {
                if Self.isIgnoredName(child, isDirectory: true) { continue }
                let snapshot = scanFolder(child, info: info)
                snapshots[child] = snapshot
                entries.append(snapshot.entry)
            } else {
                if Self.isIgnoredName(child, isDirectory: false) { continue }
                entries.append(InboxEntry(
                    name: child, isDirectory: false, fileCount: 0,
                    totalBytes: info.isRegular ? info.size : 0, latestModification: info.modification))
            }
        }
        // Watches not confirmed by this walk point at moved or deleted directories.
        for wd in previous.keys where paths[wd] == nil {
            inotify_rm_watch(fd, wd)
        }
        return entries.sorted { $0.name < $1.name }
    }

    private func scanFolder(_ name: String, info: FileInfo) -> FolderSnapshot {
        var fileCount = 0
        var totalBytes: Int64 = 0
        var latest = info.modification
        var directories: [(path: String, inode: UInt64, modification: Double)] = [(name, info.inode, info.modification)]
        var pending = [name]
        while let directory = pending.popLast() {
            guard case .watched = addWatch(directory) else { continue }
            for child in listDirectory(directory) {
                let path = directory + "/" + child
                guard let info = lstatInfo(inboxPath + "/" + path),
                      !Self.isIgnoredName(child, isDirectory: info.isDirectory) else { continue }
                latest = max(latest, info.modification)
                if info.isDirectory {
                    pending.append(path)
                    directories.append((path, info.inode, info.modification))
                } else if info.isRegular {
                    fileCount += 1
                    totalBytes += info.size
                }
            }
        }
        return FolderSnapshot(entry: InboxEntry(name: name, isDirectory: true, fileCount: fileCount,
                                                totalBytes: totalBytes, latestModification: latest),
                              directories: directories)
    }

    /// The periodic rescan, for what inotify does not report (files written by another client of a
    /// share) or in poll mode: the top-level names that appeared, disappeared or changed since the
    /// last scan. A folder seen before is walked again only when one of its directories changed
    /// (identity or modification time); otherwise it costs a stat per directory.
    public func rescan() -> InboxChanges {
        var changes = InboxChanges()
        var present = Set<String>()
        _ = addWatch("")
        for child in listDirectory("") {
            guard !Self.isIgnoredName(child, isDirectory: true), let info = lstatInfo(inboxPath + "/" + child) else { continue }
            guard info.isDirectory else {
                // A loose entry: the caller reports it (once); it is never a job. Where a folder was,
                // the folder is gone.
                if snapshots.removeValue(forKey: child) != nil { changes.changed.insert(child) }
                if !Self.isIgnoredName(child, isDirectory: false) { present.insert(child) }
                continue
            }
            present.insert(child)
            if let known = snapshots[child], !hasDirectoryChanged(known) { continue }
            let snapshot = scanFolder(child, info: info)
            if snapshots[child]?.entry != snapshot.entry { changes.changed.insert(child) }
            snapshots[child] = snapshot
        }
        for name in snapshots.keys where !present.contains(name) {
            snapshots[name] = nil
            changes.changed.insert(name)
        }
        loose = present.filter { snapshots[$0] == nil }
        return changes
    }

    /// Top-level folders known from the last walks.
    public var folderCount: Int { snapshots.count }

    /// The signature of a top-level folder as the last scan, rescan or `signature(of:)` walked it.
    public func lastSignature(of name: String) -> InboxEntry? { snapshots[name]?.entry }

    /// Top-level entries that are not folders, as the last `rescan()` found them.
    public private(set) var loose: Set<String> = []

    /// Walks one top-level folder now (every file), updating what rescans compare against; nil when
    /// it is not a folder any more. Its signature tells whether anything in it changed between two calls.
    public func signature(of name: String) -> InboxEntry? {
        guard let info = lstatInfo(inboxPath + "/" + name), info.isDirectory else {
            snapshots[name] = nil
            return nil
        }
        let snapshot = scanFolder(name, info: info)
        snapshots[name] = snapshot
        return snapshot.entry
    }

    private func hasDirectoryChanged(_ snapshot: FolderSnapshot) -> Bool {
        for directory in snapshot.directories {
            guard let info = lstatInfo(inboxPath + "/" + directory.path), info.isDirectory,
                  info.inode == directory.inode, info.modification == directory.modification else { return true }
        }
        return false
    }

    // MARK: - Watches

    private enum AddResult { case watched, gone, unreadable, failed(WatcherError) }

    private func addWatch(_ path: String) -> AddResult {
        if mode == .poll { return .watched }
        let full = path.isEmpty ? inboxPath : inboxPath + "/" + path
        // IN_MOVE_SELF only on the inbox: a subdirectory's move is reported by its parent.
        let mask = path.isEmpty ? directoryMask | inMoveSelf : directoryMask
        let wd = inotify_add_watch(fd, RawName.systemPath(full), mask)
        if wd >= 0 {
            paths[wd] = path  // same inode -> same wd: this also refreshes a stale path
            unreadableDirectories.remove(path)
            return .watched
        }
        let code = errno
        // A subdirectory vanished or replaced (e.g. by a symlink, refused by IN_DONT_FOLLOW|IN_ONLYDIR)
        // meanwhile is not an error; a missing inbox is.
        if !path.isEmpty && (code == ENOENT || code == ENOTDIR) { return .gone }
        if !path.isEmpty && code == EACCES {
            unreadableDirectories.insert(path)
            return .unreadable
        }
        let error = WatcherError(reason: "cannot watch \(full): \(errnoText(code))")
        watchFailure = error
        return .failed(error)
    }

    /// Watches `path` and every visible directory below; false if some watch could not be added.
    private func watchTree(from path: String) -> Bool {
        var complete = true
        var pending = [path]
        while let directory = pending.popLast() {
            switch addWatch(directory) {
            case .watched: break
            case .gone, .unreadable: continue
            case .failed: complete = false; continue
            }
            // Listed after the watch exists, so nothing created in between is missed.
            pending.append(contentsOf: subdirectories(of: directory))
        }
        return complete
    }

    /// Watches every visible directory strictly below `path` (already watched).
    private func watchTree(below path: String) -> Bool {
        var complete = true
        for child in subdirectories(of: path) where !watchTree(from: child) { complete = false }
        return complete
    }

    /// `path` or a directory below it could not be watched for want of permission.
    private func isUnreadable(_ path: String) -> Bool {
        let prefix = path + "/"
        return unreadableDirectories.contains { $0 == path || $0.hasPrefix(prefix) }
    }

    private func unwatchTree(_ path: String) {
        let prefix = path + "/"
        unreadableDirectories = unreadableDirectories.filter { $0 != path && !$0.hasPrefix(prefix) }
        for (wd, watched) in paths where watched == path || watched.hasPrefix(prefix) {
            inotify_rm_watch(fd, wd)
            paths[wd] = nil
        }
    }

    private func subdirectories(of path: String) -> [String] {
        var result: [String] = []
        for (child, type) in listDirectoryTyped(path) where !Self.isIgnoredName(child, isDirectory: true) {
            let relative = path.isEmpty ? child : path + "/" + child
            // d_type spares an lstat per file (DT_LNK is never a directory); some filesystems leave it unknown.
            let isDirectory = type == UInt8(DT_UNKNOWN)
                ? lstatInfo(inboxPath + "/" + relative)?.isDirectory == true
                : type == UInt8(DT_DIR)
            if isDirectory { result.append(relative) }
        }
        return result
    }

    /// Names in a directory, without "." and ".." (hidden names included; callers filter).
    private func listDirectory(_ path: String) -> [String] {
        listDirectoryTyped(path).map(\.name)
    }

    private func listDirectoryTyped(_ path: String) -> [(name: String, type: UInt8)] {
        let full = path.isEmpty ? inboxPath : inboxPath + "/" + path
        guard let directory = opendir(RawName.systemPath(full)) else { return [] }
        defer { closedir(directory) }
        var names: [(name: String, type: UInt8)] = []
        while let entry = readdir(directory) {
            // Bytes, not String(cString:): a name that is not UTF-8 must still name its folder.
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { RawName.text($0.prefix { $0 != 0 }) }
            if name != "." && name != ".." { names.append((name, entry.pointee.d_type)) }
        }
        return names
    }

    // MARK: - Names

    /// The inbox contract: hidden names (files or folders) and `*.partial` files are ignored until
    /// renamed to a visible name.
    public static func isIgnoredName(_ name: String, isDirectory: Bool) -> Bool {
        name.hasPrefix(".") || (!isDirectory && name.hasSuffix(".partial"))
    }

    private func topLevelName(of path: String) -> String {
        guard let slash = path.firstIndex(of: "/") else { return path }
        return String(path[..<slash])
    }
}

// MARK: - Glibc helpers

private let inCreate = UInt32(IN_CREATE)
private let inMovedFrom = UInt32(IN_MOVED_FROM)
private let inMovedTo = UInt32(IN_MOVED_TO)
private let inDeleteSelf = UInt32(IN_DELETE_SELF)
private let inMoveSelf = UInt32(IN_MOVE_SELF)
private let inUnmount = UInt32(IN_UNMOUNT)
private let inIgnored = UInt32(IN_IGNORED)
private let inAttrib = UInt32(IN_ATTRIB)
private let inQueueOverflow = UInt32(IN_Q_OVERFLOW)
private let inIsDir = UInt32(IN_ISDIR)
private let directoryMask = UInt32(IN_CREATE) | UInt32(IN_CLOSE_WRITE) | UInt32(IN_MODIFY)
    | UInt32(IN_MOVED_FROM) | UInt32(IN_MOVED_TO) | UInt32(IN_DELETE) | UInt32(IN_DELETE_SELF)
    | UInt32(IN_ATTRIB) | UInt32(IN_DONT_FOLLOW) | UInt32(IN_ONLYDIR) | UInt32(IN_EXCL_UNLINK)

private struct FileInfo {
    package let isDirectory: Bool
    package let isRegular: Bool
    package let size: Int64
    package let modification: Double
    package let inode: UInt64
}

/// lstat: symbolic links are never followed.
private func lstatInfo(_ path: String) -> FileInfo? {
    var info = stat()
    guard lstat(RawName.systemPath(path), &info) == 0 else { return nil }
    let type = info.st_mode & S_IFMT
    return FileInfo(
        isDirectory: type == S_IFDIR, isRegular: type == S_IFREG, size: Int64(info.st_size),
        modification: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1_000_000_000,
        inode: UInt64(info.st_ino))
}

private func errnoText(_ code: Int32) -> String {
    String(cString: strerror(code)) + " (errno \(code))"
}

private func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
