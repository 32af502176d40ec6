import Audit
import Deidentification
import Foundation
import Logging
import Pipeline
import Platform
import ServiceLifecycle
import Watcher

/// `ctdeid serve`: recovery, the inbox loop and the watchdog, composed as services.
public struct Server: Sendable {
    public let configuration: ServiceConfiguration
    public let notifier: ServiceNotifier
    public let logger: Logger

    public init(configuration: ServiceConfiguration, notifier: ServiceNotifier, logger: Logger) {
        self.configuration = configuration
        self.notifier = notifier
        self.logger = logger
    }

    public func run() async throws {
        let c = configuration
        for problem in c.unwritableTrees() { logger.warning("\(problem); the jobs that need it fail until it is mended") }
        // One service per inbox and per database, held until this returns (the kernel drops the locks
        // with the process, however it ends).
        let databaseFolder = (c.database as NSString).deletingLastPathComponent
        if !databaseFolder.isEmpty {
            try? FileManager.default.createDirectory(atPath: databaseFolder, withIntermediateDirectories: true,
                                                     attributes: [.posixPermissions: 0o700])
        }
        let inboxLock = try ServiceLock(path: c.inbox.appendingPathComponent(".ctdeid-serve.lock").path,
                                        guarding: "the inbox \(c.inbox.path)")
        let databaseLock = try ServiceLock(path: c.database + ".serve-lock", guarding: "the audit database \(c.database)")
        defer { withExtendedLifetime((inboxLock, databaseLock)) {} }
        var setup = ProcessingSetup(database: c.database, secret: c.keyFile, secretOption: "key_file", options: c.options,
                                    deface: c.deface, workers: c.workers, output: c.outbox, staging: c.stagingRoot, qa: c.qa,
                                    owner: .serve)
        setup.blankLocalizers = c.blankLocalizers
        setup.burnedIn = c.burnedIn
        setup.undefacedHeads = c.undefacedHeads
        let (store, processor) = try setup.open()
        defer { BurnedInPolicy.closeReaders() }
        let heartbeat = Heartbeat()
        let inbox = InboxService(configuration: c, processor: processor, store: store, notifier: notifier,
                                 heartbeat: heartbeat, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: inbox, successTerminationBehavior: .gracefullyShutdownGroup,
                  failureTerminationBehavior: .gracefullyShutdownGroup),
        ]
        services.append(.init(service: MappingDropFolder(folder: c.mappings, settleSeconds: c.settleSeconds, store: store,
                                                         logger: logger),
                              successTerminationBehavior: .gracefullyShutdownGroup,
                              failureTerminationBehavior: .gracefullyShutdownGroup))
        let interval = c.watchdogSeconds > 0 ? c.watchdogSeconds : notifier.watchdogInterval
        if let interval {
            services.append(.init(service: WatchdogService(notifier: notifier, heartbeat: heartbeat, interval: interval),
                                  successTerminationBehavior: .gracefullyShutdownGroup))
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint],
                                                      cancellationSignals: [], logger: logger))
        try await group.run()
    }
}
