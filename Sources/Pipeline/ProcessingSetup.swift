import Audit
import DICOM
import Defacing
import Deidentification
import Foundation
import Pixels
import Platform

/// What `ctdeid run` and `ctdeid serve` both build before a file is touched, in one place so the two
/// cannot disagree: OCR checked, the toolkit set up, the audit database opened and bound to its site
/// secret, the profile, the de-identifier and the job processor.
///
/// A database another process holds locked is transient: its `AuditError` (`isBusy`) is thrown as it
/// is, exit 1, worth trying again (systemd restarts the service). Anything else refused here is
/// configuration: `ConfigurationError`, exit 2.
public struct ProcessingSetup: Sendable {
    public var database: String
    public var secret: String
    /// How the user names the secret (`--secret`, `key_file`), for the messages.
    public var secretOption: String
    public var options: Set<ProfileOption>
    public var blankLocalizers = false
    public var burnedIn: BurnedInPolicy = .mask
    /// nil: defacing off (metadata only).
    public var deface: DefaceMode?
    public var undefacedHeads: UndefacedHeads = .quarantine
    public var workers: Int
    public var output: URL
    public var staging: URL
    public var qa: URL
    public var owner: JobOwner

    public init(database: String, secret: String, secretOption: String, options: Set<ProfileOption>, deface: DefaceMode?,
                workers: Int, output: URL, staging: URL, qa: URL, owner: JobOwner) {
        self.database = database
        self.secret = secret
        self.secretOption = secretOption
        self.options = options
        self.deface = deface
        self.workers = workers
        self.output = output
        self.staging = staging
        self.qa = qa
        self.owner = owner
    }

    /// The audit database and the job processor; call `BurnedInPolicy.closeReaders()` when done.
    public func open() throws -> (store: AuditStore, processor: JobProcessor) {
        // Before anything is opened: a process that cannot check the pixels starts nothing.
        try burnedIn.checkReady()
        do {
            try DicomToolkit.initialize()
        } catch {
            throw ConfigurationError(error.reason)
        }
        let store: AuditStore
        let secretKey: SiteSecret
        let profile: Profile
        do {
            store = try AuditStore(path: database)
            // A bare file name (`--secret key`) puts the secret in the current folder.
            let secretFolder = (secret as NSString).deletingLastPathComponent
            if !secretFolder.isEmpty {
                do {
                    try FileManager.default.createDirectory(atPath: secretFolder, withIntermediateDirectories: true,
                                                            attributes: [.posixPermissions: 0o700])
                } catch {
                    throw ConfigurationError("\(secretOption) \(secret): cannot create its folder: \(SystemError.reason(error))")
                }
            }
            secretKey = try SecretBinding.open(keyFile: secret, store: store, option: secretOption)
            profile = try Profile(options: options)
        } catch let error as AuditError {
            if error.isBusy { throw error }
            throw ConfigurationError(error.reason)
        } catch let error as ProfileError {
            throw ConfigurationError(error.reason)
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError("\(error)")
        }
        var deidentifier = Deidentifier(profile: profile, uids: UIDRemapper(secret: secretKey))
        deidentifier.blankLocalizers = blankLocalizers
        deidentifier.burnedIn = burnedIn
        let processor = JobProcessor(deidentifier: deidentifier, store: store, outputRoot: output, stagingRoot: staging,
                                     workers: workers,
                                     defacing: deface.map { SeriesDefacing(options: DefaceOptions(mode: $0), workers: workers,
                                                                           undefacedHeads: undefacedHeads) },
                                     qaRoot: qa, owner: owner)
        return (store, processor)
    }
}
