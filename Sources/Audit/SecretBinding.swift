import Crypto
import Deidentification
import Foundation
import Platform

/// The audit database and the site secret are one identity: every UID and date offset the database
/// records was derived with that secret. Opening them together refuses what would silently break it:
/// a key file gone while the database records deliveries (a new secret would give the same study
/// other UIDs, a second delivery), or a key file that is not the one the database was used with.
/// A new secret is minted only for a database that has delivered nothing, or by `ctdeid secret create`.
public enum SecretBinding {
    /// The secret at `keyFile`, checked against (and recorded in) `store`: a database that records
    /// deliveries refuses a missing key file and one whose fingerprint is not the recorded one.
    /// `option` names the setting in messages (`key_file`, `--secret`).
    public static func open(keyFile: String, store: AuditStore, option: String) throws(ConfigurationError) -> SiteSecret {
        do {
            let recorded = try store.secretFingerprint()
            // Only deliveries bind: until a study is delivered, a new or other secret changes nothing anyone holds.
            let delivered = try store.stateCounts()[.delivered] ?? 0
            if !FileManager.default.fileExists(atPath: keyFile) && delivered > 0 {
                throw ConfigurationError(missing(keyFile, store, option, delivered))
            }
            let secret = try SiteSecret.loadOrCreate(at: keyFile)
            let fingerprint = fingerprint(of: secret)
            if let recorded, recorded != fingerprint, delivered > 0 {
                throw ConfigurationError("the site secret \(keyFile) (\(option)) is not the one the audit database \(store.path) records "
                    + "\(delivered) deliver\(delivered == 1 ? "y" : "ies") made with (its fingerprint differs): every UID and date offset would change. "
                    + "Restore the key file that belongs to this database, or point \(option) at it")
            }
            // Another process holding the write lock (a backup) does not stop the start: the service
            // waits for such a lock rather than exit, and the fingerprint is recorded at a later start.
            if recorded != fingerprint { _ = try recordUnlessBusy(fingerprint, store) }
            return secret
        } catch let error as ConfigurationError {
            throw error
        } catch let error as SiteSecretError {
            throw ConfigurationError(error.reason)
        } catch let error as AuditError {
            throw ConfigurationError(error.reason)
        } catch {
            throw ConfigurationError("\(error)")
        }
    }

    /// Records the fingerprint; false (and nothing recorded) when the database is write-locked.
    private static func recordUnlessBusy(_ fingerprint: String, _ store: AuditStore) throws(AuditError) -> Bool {
        do {
            try store.recordSecretFingerprint(fingerprint)
            return true
        } catch {
            if error.isBusy { return false }
            throw error
        }
    }

    /// Creates a new secret at `keyFile` (which must not exist) and records it as the database's,
    /// replacing the old one's record: from now on every study gets new UIDs and date offsets.
    public static func create(keyFile: String, store: AuditStore) throws(ConfigurationError) -> String {
        guard !FileManager.default.fileExists(atPath: keyFile) else {
            throw ConfigurationError("the site secret \(keyFile) exists; it is not replaced (move it away first if that is really meant)")
        }
        do {
            let secret = try SiteSecret.loadOrCreate(at: keyFile)
            let print = fingerprint(of: secret)
            try store.recordSecretFingerprint(print)
            return print
        } catch let error as SiteSecretError {
            throw ConfigurationError(error.reason)
        } catch let error as AuditError {
            throw ConfigurationError(error.reason)
        } catch {
            throw ConfigurationError("\(error)")
        }
    }

    /// A hash of the secret that tells secrets apart and reveals nothing of them (not the secret's
    /// own SHA-256: the secret is only ever an HMAC key).
    public static func fingerprint(of secret: SiteSecret) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Data("ctdeid site secret fingerprint v1".utf8),
                                                   using: SymmetricKey(data: secret.bytes))
        return hexString(Array(code)).prefix(16).description
    }

    private static func missing(_ keyFile: String, _ store: AuditStore, _ option: String, _ delivered: Int) -> String {
        "the site secret \(keyFile) (\(option)) is missing, and the audit database \(store.path) records \(delivered) "
            + "deliver\(delivered == 1 ? "y" : "ies") made with it. "
            + "A new secret would give every study other UIDs and date offsets (the same study delivered again under "
            + "other UIDs). Restore \(keyFile) from backup. To start a new secret deliberately: "
            + "ctdeid secret create --key-file \(keyFile) --database \(store.path)"
    }
}
