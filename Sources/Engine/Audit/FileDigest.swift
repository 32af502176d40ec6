import CSHA256
import Crypto

/// The SHA-256 the audit records for an input or an output file, computed as the bytes go by.
/// On a CPU with the SHA extensions, an input and its output fed the same bytes (the pixel data
/// they share) are hashed in one interleaved pass (`update(_:_:with:)`); elsewhere swift-crypto
/// hashes each stream. Both give the same digest, which the tests check.
struct FileDigest {
    private var hardware = ctd_sha256()
    private var software: SHA256?

    static let hasSHAExtensions = ctd_sha256_available() != 0

    /// `extensions: false` takes swift-crypto even where the CPU has them (for the tests).
    init(extensions: Bool = hasSHAExtensions) {
        if extensions && Self.hasSHAExtensions {
            ctd_sha256_init(&hardware)
        } else {
            software = SHA256()
        }
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        if software != nil {
            software!.update(bufferPointer: bytes)
        } else {
            ctd_sha256_update(&hardware, bytes.baseAddress, bytes.count)
        }
    }

    /// The same bytes appended to both digests.
    static func update(_ first: inout FileDigest, _ second: inout FileDigest, with bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        if first.software == nil && second.software == nil {
            ctd_sha256_update_both(&first.hardware, &second.hardware, bytes.baseAddress, bytes.count)
        } else {
            first.update(bytes)
            second.update(bytes)
        }
    }

    /// `first` gets `a`, `second` gets `b`, in one pass when both are hardware digests.
    static func update(_ first: inout FileDigest, with a: UnsafeRawBufferPointer,
                       _ second: inout FileDigest, with b: UnsafeRawBufferPointer) {
        guard a.count == b.count, !a.isEmpty, first.software == nil && second.software == nil else {
            first.update(a)
            second.update(b)
            return
        }
        ctd_sha256_update_two(&first.hardware, a.baseAddress, &second.hardware, b.baseAddress, a.count)
    }

    /// Lower-case hex.
    consuming func finalize() -> String {
        if let software { return hexString(software.finalize()) }
        var digest = [UInt8](repeating: 0, count: 32)
        ctd_sha256_final(&hardware, &digest)
        return hexString(digest)
    }
}
