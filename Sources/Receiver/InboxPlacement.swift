import Crypto
import DICOM
import Foundation
import Platform

/// Where a received instance goes in the inbox, and how it gets there: read from its temporary
/// file (hidden, in the inbox's filesystem), flushed, renamed to
/// `<AccessionNumber>/<study-key>/<instance-key>.dcm`, and the folders flushed, before the sender is
/// told it is stored. An instance sent twice is found under its own name, so a resend after a crash
/// adds no copy.
public struct InboxPlacement: Sendable {
    public let inbox: URL

    /// The hidden folder of the files being received (ignored by the inbox watcher).
    public var receiving: URL { inbox.appendingPathComponent(".ctdeid-receiving") }

    public init(inbox: URL) {
        self.inbox = inbox
    }

    /// Why an instance could not be placed: a status for the sender, a reason for the log (never
    /// patient data).
    public struct Refusal: Error, Sendable {
        public let status: UInt16
        public let reason: String
    }

    /// DIMSE statuses (PS3.4 Annex B.2.3).
    public enum Status {
        public static let success: UInt16 = 0x0000
        public static let outOfResources: UInt16 = 0xA700
        public static let cannotUnderstand: UInt16 = 0xC000
        public static let sopClassNotSupported: UInt16 = 0x0122
    }

    /// Creates the receiving folder and removes what a killed receiver left in it: those instances
    /// were never acknowledged, so their senders send them again.
    public func prepare() throws(ConfigurationError) {
        do {
            try FileManager.default.createDirectory(at: receiving, withIntermediateDirectories: true)
            for name in try FileManager.default.contentsOfDirectory(atPath: receiving.path) {
                try FileManager.default.removeItem(at: receiving.appendingPathComponent(name))
            }
        } catch {
            throw ConfigurationError("inbox \(inbox.path): cannot prepare \(receiving.lastPathComponent): \(SystemError.reason(error))")
        }
    }

    /// The inbox-relative path the instance was placed at.
    @discardableResult
    public func place(temporaryFile path: String, sopInstanceUID commandInstance: String) throws(Refusal) -> String {
        let accession: String?, study: String?, instance: String?
        do {
            let file = try DicomFile(path: path)
            accession = file.dataset.string(.accessionNumber)
            study = file.dataset.string(Tag(0x0020, 0x000D))
            instance = file.dataset.string(.sopInstanceUID)
        } catch {
            throw Refusal(status: Status.cannotUnderstand, reason: "not a readable DICOM data set")
        }
        var relative = Self.relativePath(accession: accession, studyInstanceUID: study,
                                         sopInstanceUID: instance.flatMap { $0.isEmpty ? nil : $0 } ?? commandInstance)
        // The same instance sent again is already stored: the inbox is left as it is (a folder being
        // processed is not disturbed). A different object under the same SOPInstanceUID is kept
        // beside it (named by its content), so nothing received is lost and the job is held for the
        // conflict, as a dropped folder's would be.
        if let existing = sha256(ofFile: inbox.appendingPathComponent(relative).path), let received = sha256(ofFile: path) {
            if existing == received { return relative }
            relative = String(relative.dropLast(".dcm".count)) + "-" + received.prefix(16) + ".dcm"
        }
        let target = inbox.appendingPathComponent(relative)
        let folder = target.deletingLastPathComponent()
        do {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0, fsync(fd) == 0 else {
                if fd >= 0 { close(fd) }
                throw Self.posixError()
            }
            close(fd)
            try createFolders(folder)
            guard rename(path, target.path) == 0 else { throw Self.posixError() }
            syncDirectory(folder.path)
        } catch {
            throw Refusal(status: Status.outOfResources, reason: "cannot store into the inbox: \(SystemError.reason(error))")
        }
        return relative
    }

    /// `<accession>/<study-key>/<instance-key>.dcm`. The keys are hashes of the UIDs, so the inbox
    /// holds no UID in a name. An instance without a usable AccessionNumber goes to a folder named by
    /// its study's hash, which no mapping holds: its job is held `no-mapping`, as a dropped folder's.
    package static func relativePath(accession: String?, studyInstanceUID: String?, sopInstanceUID: String) -> String {
        let study = studyInstanceUID.flatMap { $0.isEmpty ? nil : $0 } ?? "no-study-uid"
        let studyKey = "study-" + String(hexString(SHA256.hash(data: Array(study.utf8))).prefix(16))
        let instanceKey = String(hexString(SHA256.hash(data: Array(sopInstanceUID.utf8))).prefix(32))
        let folder = accession.map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { usableFolderName($0) ? $0 : nil }
            ?? "no-accession-" + String(studyKey.dropFirst("study-".count))
        return "\(folder)/\(studyKey)/\(instanceKey).dcm"
    }

    /// A name that is one folder and not hidden: no slash, NUL or control character, no leading dot.
    static func usableFolderName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".") && !name.unicodeScalars.contains { $0 == "/" || $0.value < 0x20 || $0.value == 0x7F }
    }

    /// Creates the folders that are missing, each flushed into its parent, so a placed file's path
    /// survives a power cut.
    private func createFolders(_ folder: URL) throws {
        var missing: [URL] = []
        var current = folder
        while !FileManager.default.fileExists(atPath: current.path) && current.path != inbox.path {
            missing.append(current)
            current = current.deletingLastPathComponent()
        }
        for url in missing.reversed() {
            if mkdir(url.path, 0o755) != 0 && errno != EEXIST { throw Self.posixError() }
            syncDirectory(url.deletingLastPathComponent().path)
        }
    }

    private static func posixError() -> Error {
        POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
    }
}
