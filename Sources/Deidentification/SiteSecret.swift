import Foundation

/// The site's 32-byte secret for UID hashing and date offsets. Created on first use with mode
/// 0600; a secret that others can read is refused, because it is half of the re-identification key.
public struct SiteSecret: Sendable {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    public static func loadOrCreate(at path: String) throws(SiteSecretError) -> SiteSecret {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd >= 0 {
            var bytes = [UInt8](repeating: 0, count: 32)
            var generator = SystemRandomNumberGenerator()
            for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255, using: &generator) }
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            let synced = fsync(fd)
            close(fd)
            guard written == 32, synced == 0 else {
                unlink(path)
                throw SiteSecretError(reason: "cannot write the site secret \(path): \(String(cString: strerror(errno)))")
            }
            return SiteSecret(bytes: bytes)
        }
        guard errno == EEXIST else {
            throw SiteSecretError(reason: "cannot create the site secret \(path): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw SiteSecretError(reason: "cannot read the site secret \(path): \(String(cString: strerror(errno)))")
        }
        if info.st_mode & 0o077 != 0 {
            throw SiteSecretError(reason: "the site secret \(path) is readable by others (mode \(String(info.st_mode & 0o777, radix: 8))); run chmod 600 on it")
        }
        guard let data = FileManager.default.contents(atPath: path), data.count == 32 else {
            throw SiteSecretError(reason: "the site secret \(path) is not 32 bytes; restore it from backup (a new secret changes every UID)")
        }
        return SiteSecret(bytes: [UInt8](data))
    }
}

public struct SiteSecretError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}
