import Crypto
import Foundation
import Platform
import Synchronization

/// Replaces UIDs with `2.25.` + 128 bits of HMAC-SHA256(site secret, UID): the same input UID
/// gets the same new UID in every file, study and run, so references stay consistent, and
/// nobody without the secret can link the new UID back.
public struct UIDRemapper: Sendable {
    private let secret: [UInt8]
    /// Study, series and frame of reference UIDs recur in every file of a series.
    private let recent = RecentUIDs()

    public init(secret: SiteSecret) {
        self.secret = secret.bytes
    }

    // SymmetricKey is not Sendable, so the key is rebuilt per use (a 32-byte copy).
    private var key: SymmetricKey { SymmetricKey(data: secret) }

    /// Standard UIDs (SOP classes, transfer syntaxes, coding schemes) name no patient.
    public static func isStandard(_ uid: String) -> Bool {
        uid.hasPrefix("1.2.840.10008.")
    }

    public func map(_ uid: String) -> String {
        // Trimmed on the bytes: Foundation's trimming goes through NSString.
        var bytes = Substring(uid).utf8[...]
        while let first = bytes.first, first == 0x20 || first == 0 { bytes.removeFirst() }
        while let last = bytes.last, last == 0x20 || last == 0 { bytes.removeLast() }
        let trimmed = String(Substring(bytes))
        if trimmed.isEmpty || Self.isStandard(trimmed) { return trimmed }
        if let known = recent.entries.withLock({ $0[trimmed] }) { return known }
        let mac = HMAC<SHA256>.authenticationCode(for: Data(("uid:" + trimmed).utf8), using: key)
        let value = mac.withUnsafeBytes { raw in
            raw.prefix(16).reduce(UInt128(0)) { $0 << 8 | UInt128($1) }
        }
        let mapped = "2.25." + String(value)
        recent.entries.withLock {
            if $0.count >= RecentUIDs.capacity { $0.removeAll(keepingCapacity: true) }
            $0[trimmed] = mapped
        }
        return mapped
    }

    /// A keyed, non-reversible short name (hex) for things such as an accession's study folder.
    public func neutralName(_ text: String, length: Int = 12) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(("name:" + text).utf8), using: key)
        return hexString(mac).prefix(length).description
    }

    /// A per-patient date offset in days, derived so that it is reproducible even before the
    /// database records it: between 1 and 10 years into the past.
    public func dateOffsetDays(for deidentificationID: String) -> Int {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(("date-offset:" + deidentificationID).utf8), using: key)
        let value = mac.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        return -(365 + Int(value % 3288))
    }
}

/// UIDs mapped lately, shared by the copies of a remapper handed to worker threads. Small and
/// cleared when full: what recurs is a handful of UIDs per series.
package final class RecentUIDs: Sendable {
    package let entries = Mutex<[String: String]>([:])
    package static let capacity = 1024
}
