import ArgumentParser
import Foundation

@main
struct CTDeid: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctdeid",
        abstract: "De-identify head CT: DICOM PS3.15 Annex E metadata de-identification with an SQLite audit trail.",
        discussion: """
            Exit codes: 0 every folder delivered, 1 something held or quarantined, 2 usage or configuration error. \
            Patient data never appears in the output of this program: jobs are named by number; \
            query the audit database with sqlite3 for details (see the README).
            """,
        version: "0.1.0",
        subcommands: [RunCommand.self, ServeCommand.self, MappingCommand.self, JobsCommand.self, ShowCommand.self,
                      RetryCommand.self, SecretCommand.self, DefaceCommand.self, SampleCommand.self, ConfigCommand.self, ReceiveCommand.self]
    )

    /// ArgumentParser uses 64 for usage errors; the product promises 2.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { print(message) }
                Foundation.exit(0)
            }
            if !message.isEmpty { FileHandle.standardError.write(Data((message + "\n").utf8)) }
            Foundation.exit(code == .validationFailure ? 2 : code.rawValue)
        }
    }
}

/// A refusal before any work: printed as `ctdeid: <reason>`, exit code 2.
struct UsageFailure: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}

func fail(_ reason: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data("ctdeid: \(reason)\n".utf8))
    Foundation.exit(code)
}
