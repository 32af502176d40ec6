import CReceiver
import Foundation
import Logging
import Platform
import Synchronization

/// `ctdeid receive`: a C-STORE and C-ECHO endpoint on DCMTK's dcmnet (the `CReceiver` shim), which
/// decides nothing itself. This type decides who may store (`ReceiverConfiguration.mayStore`) and
/// where an instance goes (`InboxPlacement`); the sender hears "stored" only once the instance is
/// on disk under its name in the inbox.
///
/// `@unchecked Sendable`: its fields are immutable after init, and the shim's handle is used by
/// `run` on one thread and by `stop`, which only sets an atomic flag.
public final class DicomReceiver: @unchecked Sendable {
    public let configuration: ReceiverConfiguration
    let placement: InboxPlacement
    let logger: Logger
    private let handle: OpaquePointer
    private let onListening: @Sendable () -> Void
    /// Opened by `run`.
    private let log = Mutex<ReceptionLog?>(nil)
    /// The shim's association numbers (one run) -> the reception log's rows.
    private let rows = Mutex<[UInt64: Int64]>([:])

    public init(configuration: ReceiverConfiguration, logger: Logger, onListening: @escaping @Sendable () -> Void = {}) {
        self.configuration = configuration
        self.placement = InboxPlacement(inbox: configuration.inbox)
        self.logger = logger
        self.onListening = onListening
        handle = ctd_receiver_create()
    }

    deinit {
        ctd_receiver_destroy(handle)
    }

    /// Serves until `stop()`. Throws when the port cannot be opened or DCMTK refuses the setup.
    public func run() throws(ConfigurationError) {
        try placement.prepare()
        // Debian's DCMTK leaves Nagle's algorithm on unless TCP_NODELAY=1 is in the environment: each
        // C-STORE-RSP then waits for the sender's delayed ACK (about 40 ms an instance on loopback).
        setenv("TCP_NODELAY", "1", 0)
        do {
            let opened = try ReceptionLog(path: configuration.database)
            log.withLock { $0 = opened }
        } catch {
            throw ConfigurationError("receive.database = \(configuration.database): cannot open: \(error)")
        }
        // DCMTK's own log is routed here at INFO at most: its DEBUG and TRACE levels print UIDs and data sets.
        ctd_log_configure(Int32(CTD_LOG_WARN), { context, _, _, message in
            let receiver = Unmanaged<DicomReceiver>.fromOpaque(context!).takeUnretainedValue()
            receiver.logger.warning("dcmnet: \(String(cString: message!))")
        }, Unmanaged.passUnretained(self).toOpaque())
        // DCMTK's log is process-wide: it must not call back into this object once run has returned.
        defer { ctd_log_configure(Int32(CTD_LOG_OFF), nil, nil) }
        let c = configuration
        var error = [CChar](repeating: 0, count: 512)
        // Classes off the list that PACS commonly send within a study are negotiated too, so that
        // each such instance gets a failure status (the sender records it) while the rest is stored.
        let negotiated = c.sopClasses + ReceiverConfiguration.refusedStorageClasses.filter { !c.sopClasses.contains($0) }
        let texts = [c.aeTitle, placement.receiving.path, c.tlsCertificate?.path ?? "", c.tlsPrivateKey?.path ?? "",
                     c.tlsPeerCA?.path ?? ""]
        let status = withCStrings(negotiated) { sopClasses in
            withCStrings(c.transferSyntaxes) { syntaxes in
                withCStrings(texts) { text in
                    var config = ctd_receiver_config()
                    config.ae_title = text[0]
                    config.port = UInt16(c.port)
                    config.max_pdu = UInt32(c.maxPDU)
                    config.acse_timeout_s = UInt32(c.acseTimeoutSeconds)
                    config.dimse_timeout_s = UInt32(c.dimseTimeoutSeconds)
                    config.max_associations = UInt32(c.maxAssociations)
                    config.sop_class_uids = sopClasses.baseAddress
                    config.sop_class_count = sopClasses.count
                    config.transfer_syntax_uids = syntaxes.baseAddress
                    config.transfer_syntax_count = syntaxes.count
                    config.temp_dir = text[1]
                    // Within a context the sender's order wins: its files are stored as it holds them.
                    config.prefer_proposed_order = 1
                    config.tls_certificate_file = text[2]
                    config.tls_private_key_file = text[3]
                    config.tls_peer_ca_file = text[4]
                    var callbacks = ctd_receiver_callbacks()
                    callbacks.admit = { context, info in
                        Unmanaged<DicomReceiver>.fromOpaque(context!).takeUnretainedValue().admit(info!.pointee)
                    }
                    callbacks.on_instance = { context, info in
                        Int32(Unmanaged<DicomReceiver>.fromOpaque(context!).takeUnretainedValue().store(info!.pointee))
                    }
                    callbacks.on_event = { context, event in
                        Unmanaged<DicomReceiver>.fromOpaque(context!).takeUnretainedValue().note(event!.pointee)
                    }
                    return ctd_receiver_run(handle, &config, &callbacks, Unmanaged.passUnretained(self).toOpaque(),
                                            &error, error.count)
                }
            }
        }
        if status != 0 {
            let reason = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ConfigurationError("ctdeid receive, port \(c.port): \(reason)")
        }
    }

    /// Ends `run` within about a second: new associations are refused, those under way are ended
    /// after the message in hand. Safe from a signal handler.
    public func stop() {
        ctd_receiver_stop(handle)
    }

    func admit(_ info: ctd_association_info) -> Int32 {
        let calling = String(cString: info.calling_ae), called = String(cString: info.called_ae)
        let peer = String(cString: info.peer_ip)
        if called != configuration.aeTitle { return Int32(CTD_REJECT_CALLED_AE.rawValue) }
        if configuration.mayStore(callingAE: calling, peer: peer) { return Int32(CTD_ADMIT_ACCEPT.rawValue) }
        // Anyone may check that the node answers (C-ECHO alone); a sender that is not listed and
        // proposes storage is refused whole, so it fails at once rather than file by file.
        if info.proposes_verification != 0 && info.proposes_other == 0 { return Int32(CTD_ADMIT_ECHO_ONLY.rawValue) }
        return Int32(CTD_REJECT_CALLING_AE.rawValue)
    }

    func store(_ info: ctd_instance_info) -> UInt16 {
        let sopClass = String(cString: info.sop_class_uid)
        guard configuration.sopClasses.contains(sopClass) else {
            return InboxPlacement.Status.sopClassNotSupported
        }
        do {
            let placed = try placement.place(temporaryFile: String(cString: info.temp_path),
                                             sopInstanceUID: String(cString: info.sop_instance_uid))
            record(info.assoc_id) { try $0.instanceStored(association: $1, folder: String(placed.prefix { $0 != "/" })) }
            return InboxPlacement.Status.success
        } catch {
            logger.error("association \(info.assoc_id) from \(String(cString: info.calling_ae)): an instance was not stored: \(error.reason)")
            return error.status
        }
    }

    /// Associations are logged by number, calling AE title, address and counts: never patient data.
    func note(_ event: ctd_event) {
        let calling = String(cString: event.calling_ae), peer = String(cString: event.peer_ip)
        switch Int(event.type) {
        case Int(CTD_EVENT_LISTENING.rawValue):
            logger.info("listening", metadata: ["ae_title": "\(configuration.aeTitle)", "port": "\(configuration.port)"])
            onListening()
        case Int(CTD_EVENT_ASSOC_REJECTED.rawValue):
            logger.notice("association refused", metadata: ["calling_ae": "\(calling)", "peer": "\(peer)", "reason": "\(event.reason)"])
            do {
                _ = try log.withLock { try $0?.associationStarted(callingAE: calling, peer: peer, outcome: "refused") }
            } catch {
                logger.error("the reception log cannot be written: \(error)")
            }
        case Int(CTD_EVENT_ASSOC_STARTED.rawValue):
            logger.info("association \(event.assoc_id) started", metadata: ["calling_ae": "\(calling)", "peer": "\(peer)"])
            do {
                if let row = try log.withLock({ try $0?.associationStarted(callingAE: calling, peer: peer, outcome: "accepted") }) {
                    rows.withLock { $0[event.assoc_id] = row }
                }
            } catch {
                logger.error("the reception log cannot be written: \(error)")
            }
        case Int(CTD_EVENT_ASSOC_ENDED.rawValue):
            let outcome = [1: "released", 2: "aborted", 3: "failed", 4: "stopped"][Int(event.reason)] ?? "ended"
            record(event.assoc_id) {
                try $0.associationEnded($1, outcome: outcome, stored: Int(event.stores_ok), failed: Int(event.stores_failed),
                                        echoes: Int(event.echoes), bytes: Int64(event.bytes_received))
            }
            rows.withLock { _ = $0.removeValue(forKey: event.assoc_id) }
            logger.info("association \(event.assoc_id) ended", metadata: [
                "calling_ae": "\(calling)", "stored": "\(event.stores_ok)", "failed": "\(event.stores_failed)",
                "echoes": "\(event.echoes)", "bytes": "\(event.bytes_received)", "end": "\(event.reason)"])
        default:
            logger.warning("receiver: \(String(cString: event.message))")
        }
    }
}

extension DicomReceiver {
    /// Writes to the reception log for an association; a failure is logged, never passed to the
    /// sender: the instance is safe in the inbox whatever its record.
    func record(_ association: UInt64, _ write: (ReceptionLog, Int64) throws -> Void) {
        guard let row = rows.withLock({ $0[association] }) else { return }
        do {
            try log.withLock { log in if let log { try write(log, row) } }
        } catch {
            logger.error("the reception log cannot be written: \(error)")
        }
    }
}

/// C strings for a list, alive for the call.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafeBufferPointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { UnsafePointer($0) }
    return pointers.withUnsafeBufferPointer(body)
}
