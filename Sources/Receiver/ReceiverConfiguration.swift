import DICOM
import Deidentification
import Foundation
import Platform
import Settings

/// Settings of `ctdeid receive`: the inbox (shared with `serve`), the log level, and the `[receive]`
/// table. Read from the same file as the service's, with the same refusals at start.
public struct ReceiverConfiguration: Sendable {
    public var inbox: URL
    public var logLevel: String
    /// The reception log (`ReceptionLog`).
    public var database: String
    public var aeTitle: String
    public var port: Int
    public var allowedCallingAEs: Set<String>
    public var allowedPeers: [IPv4Network]
    public var maxPDU: Int
    public var acseTimeoutSeconds: Int
    public var dimseTimeoutSeconds: Int
    public var maxAssociations: Int
    /// Storage SOP classes stored; an instance of another is refused with a failure status.
    public var sopClasses: [String]
    /// Transfer syntaxes accepted, the preferred first.
    public var transferSyntaxes: [String]
    /// DICOM over TLS when both are set.
    public var tlsCertificate: URL?
    public var tlsPrivateKey: URL?
    /// Senders must present a certificate signed by one of these CAs.
    public var tlsPeerCA: URL?

    /// Explicit and implicit VR little endian first (no decoding needed), then the compressed syntaxes
    /// the pipeline reads, stored as they come.
    public static let defaultTransferSyntaxes = [
        "1.2.840.10008.1.2.1", "1.2.840.10008.1.2",
        "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
        "1.2.840.10008.1.2.5",
    ]

    /// Storage classes a PACS commonly sends with a study that ctdeid does not de-identify
    /// (secondary captures, SR, presentation states, PDF, raw data, other modalities): negotiated so
    /// that each instance is refused with a failure status (0x0122) instead of failing the association.
    public static let refusedStorageClasses = [
        "1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.7.1", "1.2.840.10008.5.1.4.1.1.7.2",
        "1.2.840.10008.5.1.4.1.1.7.3", "1.2.840.10008.5.1.4.1.1.7.4", "1.2.840.10008.5.1.4.1.1.88.11",
        "1.2.840.10008.5.1.4.1.1.88.22", "1.2.840.10008.5.1.4.1.1.88.33", "1.2.840.10008.5.1.4.1.1.88.67",
        "1.2.840.10008.5.1.4.1.1.11.1", "1.2.840.10008.5.1.4.1.1.104.1", "1.2.840.10008.5.1.4.1.1.66",
        "1.2.840.10008.5.1.4.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.6.1",
        "1.2.840.10008.5.1.4.1.1.12.1", "1.2.840.10008.5.1.4.1.1.20", "1.2.840.10008.5.1.4.1.1.481.1",
        "1.2.840.10008.5.1.4.1.1.481.2", "1.2.840.10008.5.1.4.1.1.481.3", "1.2.840.10008.5.1.4.1.1.481.5",
    ]

    /// The configuration: defaults, then `file`, then `overrides` (flag values by key, e.g. `receive.port`).
    public static func load(file: URL?, overrides: [String: String]) throws(ConfigurationError) -> ReceiverConfiguration {
        let settings = try SettingValues(file: file, overrides: overrides)
        let aeTitle = settings.text("receive.ae_title")
        if let problem = Self.problem(aeTitle: aeTitle) { throw settings.refuse("receive.ae_title", problem) }
        var callers: Set<String> = []
        for title in settings.list("receive.allowed_calling_aes") {
            if let problem = Self.problem(aeTitle: title) { throw settings.refuse("receive.allowed_calling_aes", "'\(title)': \(problem)") }
            callers.insert(title)
        }
        var peers: [IPv4Network] = []
        for peer in settings.list("receive.allowed_peers") {
            guard let network = IPv4Network(peer) else {
                throw settings.refuse("receive.allowed_peers", "'\(peer)' is not an IPv4 address or network (10.1.2.3, 10.1.2.0/24)")
            }
            peers.append(network)
        }
        var sopClasses = settings.list("receive.sop_classes")
        if sopClasses.isEmpty { sopClasses = SafetyPolicy.allowedSOPClasses.keys.sorted() }
        for uid in sopClasses where SafetyPolicy.allowedSOPClasses[uid] == nil {
            throw settings.refuse("receive.sop_classes", "\(uid) is not an image class ctdeid de-identifies (\(SafetyPolicy.allowedSOPClasses.keys.sorted().joined(separator: ", ")))")
        }
        var syntaxes = settings.list("receive.transfer_syntaxes")
        if syntaxes.isEmpty { syntaxes = defaultTransferSyntaxes }
        for uid in syntaxes where !defaultTransferSyntaxes.contains(uid) {
            throw settings.refuse("receive.transfer_syntaxes", "\(uid) is not a transfer syntax ctdeid reads (\(defaultTransferSyntaxes.joined(separator: ", ")))")
        }
        let certificate = settings.optionalPath("receive.tls_certificate"), key = settings.optionalPath("receive.tls_private_key")
        let peerCA = settings.optionalPath("receive.tls_peer_ca")
        if certificate != nil && key == nil {
            throw settings.refuse("receive.tls_certificate", "TLS needs the certificate's private key too (tls_private_key)")
        }
        if key != nil && certificate == nil {
            throw settings.refuse("receive.tls_private_key", "TLS needs the certificate too (tls_certificate)")
        }
        if peerCA != nil && certificate == nil {
            throw settings.refuse("receive.tls_peer_ca", "asking senders for certificates needs TLS (tls_certificate and tls_private_key)")
        }
        for (key, url) in [("receive.tls_certificate", certificate), ("receive.tls_private_key", key), ("receive.tls_peer_ca", peerCA)] {
            if let url, !FileManager.default.isReadableFile(atPath: url.path) {
                throw settings.refuse(key, "cannot read \(url.path)")
            }
        }
        let inbox = settings.path("inbox")
        do {
            try FileManager.default.createDirectory(at: inbox, withIntermediateDirectories: true)
        } catch {
            throw settings.refuse("inbox", "cannot create the folder: \(error.localizedDescription)")
        }
        return ReceiverConfiguration(
            inbox: inbox, logLevel: settings.text("log_level"), database: settings.path("receive.database").path, aeTitle: aeTitle, port: settings.count("receive.port"),
            allowedCallingAEs: callers, allowedPeers: peers, maxPDU: settings.count("receive.max_pdu"),
            acseTimeoutSeconds: settings.count("receive.acse_timeout_seconds"),
            dimseTimeoutSeconds: settings.count("receive.dimse_timeout_seconds"),
            maxAssociations: settings.count("receive.max_associations"), sopClasses: sopClasses, transferSyntaxes: syntaxes,
            tlsCertificate: certificate, tlsPrivateKey: key, tlsPeerCA: peerCA)
    }

    /// An AE title is 1 to 16 characters of the default repertoire, without backslash or control
    /// characters, and not only spaces (PS3.5 6.2, AE).
    static func problem(aeTitle: String) -> String? {
        if aeTitle.trimmingCharacters(in: .whitespaces).isEmpty { return "an AE title must not be empty" }
        if aeTitle.utf8.count > 16 { return "an AE title has at most 16 characters" }
        if aeTitle.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value > 0x7E || $0 == "\\" }) {
            return "an AE title holds only printable ASCII characters, no backslash"
        }
        return nil
    }

    /// Whether a sender may store: its calling AE title and its address are both allowed.
    public func mayStore(callingAE: String, peer: String) -> Bool {
        allowedCallingAEs.contains(callingAE) && allowedPeers.contains { $0.contains(peer) }
    }
}

/// An IPv4 address or network, as `allowed_peers` lists them.
public struct IPv4Network: Sendable, Equatable {
    let address: UInt32
    let prefix: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let address = Self.parse(String(parts[0])) else { return nil }
        var prefix = 32
        if parts.count == 2 {
            guard let length = Int(parts[1]), (0...32).contains(length) else { return nil }
            prefix = length
        }
        self.address = address
        self.prefix = prefix
    }

    static func parse(_ text: String) -> UInt32? {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        var value: UInt32 = 0
        for octet in octets {
            guard octet.count <= 3, let byte = UInt8(octet) else { return nil }
            value = value << 8 | UInt32(byte)
        }
        return value
    }

    public func contains(_ text: String) -> Bool {
        guard let other = Self.parse(text) else { return false }
        let mask: UInt32 = prefix == 0 ? 0 : ~UInt32(0) << (32 - prefix)
        return other & mask == address & mask
    }
}
