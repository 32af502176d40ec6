import ArgumentParser
import Dispatch
import Foundation
import Logging
import Platform
import Receiver
import Settings

struct ReceiveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receive",
        abstract: "Receive studies over the DICOM network (C-STORE, C-ECHO) into the inbox, until SIGTERM.",
        discussion: """
            Each instance is written into the inbox as <AccessionNumber>/<study>/<instance>.dcm through a hidden \
            temporary file, flushed and renamed before the sender is told it is stored; `ctdeid serve` \
            then processes the folder once nothing arrived for settle_seconds. Only senders whose calling \
            AE title and address are both allowed may store; anyone may C-ECHO. Instances of classes \
            other than CT, MR and PET images are refused one by one with a failure status. Settings: the \
            [receive] table of the config file (`ctdeid config`), or the flags below. \
            systemd Type=notify: READY=1 once listening, STOPPING=1.
            """
    )

    @Option(name: .long, help: ArgumentHelp("TOML configuration file (default: /etc/ctdeid/ctdeid.toml when it exists).", valueName: "file"))
    var config: String?
    @Option(name: .long, help: setting("inbox", "dir")) var inbox: String?
    @Option(name: .long, help: setting("log_level", "level")) var logLevel: String?
    // One flag per row of the [receive] table, named after its key.
    @Option(name: .long, help: setting("receive.ae_title", "title")) var aeTitle: String?
    @Option(name: .long, help: setting("receive.database", "file")) var database: String?
    @Option(name: .long, help: setting("receive.port", "port")) var port: String?
    @Option(name: .long, help: setting("receive.allowed_calling_aes", "list")) var allowedCallingAes: String?
    @Option(name: .long, help: setting("receive.allowed_peers", "list")) var allowedPeers: String?
    @Option(name: .long, help: setting("receive.tls_certificate", "file")) var tlsCertificate: String?
    @Option(name: .long, help: setting("receive.tls_private_key", "file")) var tlsPrivateKey: String?
    @Option(name: .long, help: setting("receive.tls_peer_ca", "file")) var tlsPeerCa: String?
    @Option(name: .long, help: setting("receive.max_pdu", "bytes")) var maxPdu: String?
    @Option(name: .long, help: setting("receive.acse_timeout_seconds", "seconds")) var acseTimeoutSeconds: String?
    @Option(name: .long, help: setting("receive.dimse_timeout_seconds", "seconds")) var dimseTimeoutSeconds: String?
    @Option(name: .long, help: setting("receive.max_associations", "n")) var maxAssociations: String?
    @Option(name: .long, help: setting("receive.sop_classes", "list")) var sopClasses: String?
    @Option(name: .long, help: setting("receive.transfer_syntaxes", "list")) var transferSyntaxes: String?

    /// The flags given, by setting key (`receive.port`; `inbox` and `log_level` are the top level's).
    var overrides: [String: String] { settingFlags(of: self, section: "receive") }

    func run() throws {
        let file = configFile(config)
        let configuration: ReceiverConfiguration
        do {
            configuration = try ReceiverConfiguration.load(file: file, overrides: overrides)
        } catch {
            fail(error.reason, code: 2)
        }
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let notifier = SystemdNotifier()
        let receiver = DicomReceiver(configuration: configuration, logger: Logger(label: "ctdeid-receive"),
                                     onListening: { notifier.notify("READY=1") })
        // SIGTERM and SIGINT end the receiver: associations under way end after the message in hand.
        var sources: [DispatchSourceSignal] = []
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                notifier.notify("STOPPING=1")
                receiver.stop()
            }
            source.resume()
            sources.append(source)
        }
        do {
            try receiver.run()
        } catch {
            fail(error.reason, code: 2)
        }
        withExtendedLifetime(sources) {}
    }
}
