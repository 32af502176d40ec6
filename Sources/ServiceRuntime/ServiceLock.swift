import Foundation
import Glibc
import Platform

/// An exclusive lock held for a service's life, so that two services never share an inbox or a
/// database (both would discover every folder, and each would take the other's jobs for
/// interrupted ones). An flock on a file of its own, which the kernel releases when the process
/// dies, however it dies: no stale lock after kill -9. The file says who holds it, for the message
/// of the process refused.
final class ServiceLock: Sendable {
    private let descriptor: Int32

    /// Takes the lock at `path` or throws, naming the holder. `what` names the thing guarded in
    /// messages ("the inbox /srv/inbox").
    init(path: String, guarding what: String) throws(ConfigurationError) {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw ConfigurationError("cannot open the lock file \(path) for \(what): \(String(cString: strerror(errno)))")
        }
        var result: Int32
        repeat { result = flock(fd, LOCK_EX | LOCK_NB) } while result != 0 && errno == EINTR
        if result != 0 {
            let code = errno
            let holder = Self.holder(fd)
            close(fd)
            if code == EWOULDBLOCK {
                throw ConfigurationError("another ctdeid serve is already using \(what)" + (holder.map { " (\($0))" } ?? "")
                                         + "; one service per inbox and database. Stop it first (lock file \(path))")
            }
            throw ConfigurationError("cannot lock \(path) for \(what): \(String(cString: strerror(code)))")
        }
        descriptor = fd
        let host = ProcessInfo.processInfo.hostName
        let since = ISO8601DateFormatter().string(from: Date())
        let text = "pid \(getpid()) on \(host), since \(since)\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    deinit { close(descriptor) }

    private static func holder(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = pread(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }
}
