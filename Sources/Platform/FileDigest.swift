import CSHA256
import Crypto
import Foundation

/// The SHA-256 the audit records for an input or an output file, computed as the bytes go by.
/// On a CPU with the SHA extensions, an input and its output fed the same bytes (the pixel data
/// they share) are hashed in one interleaved pass (`update(_:_:with:)`); elsewhere swift-crypto
/// hashes each stream. Both give the same digest, which the tests check.
package struct FileDigest {
    private var hardware = ctd_sha256()
    private var software: SHA256?

    package static let hasSHAExtensions = ctd_sha256_available() != 0

    /// `extensions: false` takes swift-crypto even where the CPU has them (for the tests).
    package init(extensions: Bool = hasSHAExtensions) {
        if extensions && Self.hasSHAExtensions {
            ctd_sha256_init(&hardware)
        } else {
            software = SHA256()
        }
    }

    package mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        if software != nil {
            software!.update(bufferPointer: bytes)
        } else {
            ctd_sha256_update(&hardware, bytes.baseAddress, bytes.count)
        }
    }

    /// The same bytes appended to both digests.
    package static func update(_ first: inout FileDigest, _ second: inout FileDigest, with bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        if first.software == nil && second.software == nil {
            ctd_sha256_update_both(&first.hardware, &second.hardware, bytes.baseAddress, bytes.count)
        } else {
            first.update(bytes)
            second.update(bytes)
        }
    }

    /// `first` gets `a`, `second` gets `b`, in one pass when both are hardware digests.
    package static func update(_ first: inout FileDigest, with a: UnsafeRawBufferPointer,
                       _ second: inout FileDigest, with b: UnsafeRawBufferPointer) {
        guard a.count == b.count, !a.isEmpty, first.software == nil && second.software == nil else {
            first.update(a)
            second.update(b)
            return
        }
        ctd_sha256_update_two(&first.hardware, a.baseAddress, &second.hardware, b.baseAddress, a.count)
    }

    /// Lower-case hex.
    package consuming func finalize() -> String {
        if let software { return hexString(software.finalize()) }
        var digest = [UInt8](repeating: 0, count: 32)
        ctd_sha256_final(&hardware, &digest)
        return hexString(digest)
    }
}

/// SHA-256 of a file, read in 1 MiB blocks so memory stays flat for any file size. `path` is in
/// RawName's text form.
package func sha256(ofFile path: String) -> String? {
    let fd = open(RawName.systemPath(path), O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var hasher = SHA256()
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 { return nil }
        if count == 0 { break }
        buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
    }
    return hexString(hasher.finalize())
}

/// Lower-case hex of a digest (String(format:) per byte costs more than the hashing of a header).
package func hexString<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(64)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}
