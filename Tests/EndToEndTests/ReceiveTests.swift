import DICOM
import Fixtures
import Foundation
@testable import Receiver
import XCTest

/// `ctdeid receive` as a process, fed by DCMTK's own `storescu` and `echoscu` over loopback, with
/// `ctdeid serve` processing what it writes into the inbox.
final class ReceiveTests: XCTestCase {
    /// A running `ctdeid receive`.
    final class Receiver {
        let process = Process()
        let log: URL
        let port: Int

        init(_ tree: ServiceTests.Tree, port: Int, callers: String = "PACS1", peers: String = "127.0.0.1",
             logName: String = "receive.log", extra: [String] = []) throws {
            guard FileManager.default.isExecutableFile(atPath: ctdeidBinary.path) else {
                throw XCTSkip("ctdeid binary not built at \(ctdeidBinary.path)")
            }
            self.port = port
            log = tree.root.appendingPathComponent(logName)
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            handle.seekToEndOfFile()
            process.executableURL = ctdeidBinary
            process.arguments = ["receive", "--inbox", tree.inbox.path, "--port", "\(port)",
                                 "--database", tree.root.appendingPathComponent("receive.sqlite").path,
                                 "--allowed-calling-aes", callers, "--allowed-peers", peers] + extra
            var env = ProcessInfo.processInfo.environment
            env.removeValue(forKey: "NOTIFY_SOCKET")
            process.environment = env
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
        }

        var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        func terminate() -> Int32 {
            process.terminate()
            process.waitUntilExit()
            return process.terminationStatus
        }

        func kill9() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        deinit {
            if process.isRunning { kill9() }
        }
    }

    /// A port nobody listens on: bound to 0, read back, released.
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// DCMTK's command-line tools (Debian `dcmtk`), or a skip that names them.
    static func tool(_ name: String) throws -> URL {
        let url = URL(fileURLWithPath: "/usr/bin/" + name)
        guard FileManager.default.isExecutableFile(atPath: url.path) else { throw XCTSkip("\(name) is not installed (Debian dcmtk)") }
        return url
    }

    static func run(_ tool: URL, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = tool
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func waitForListening(_ receiver: Receiver) {
        waitFor("the receiver listening") { receiver.output.contains("listening") }
    }

    /// The SHA-256 of every delivered DICOM file below a folder, sorted: the same multiset means the
    /// same files delivered, whatever their names.
    func deliveredDigests(under url: URL) -> [String] {
        regularFiles(under: url).filter { $0.pathExtension == "dcm" }.map { fingerprint(try! Data(contentsOf: $0)) }.sorted()
    }

    /// The GE head CT (when ../shared/testdata is here) and two synthetic studies, sent by storescu to
    /// `ctdeid receive` while `ctdeid serve` watches the inbox: each study is delivered complete, and
    /// its files are byte for byte those a `ctdeid run` of the same files delivers.
    func testStudiesSentByStorescuAreDeliveredAsARunOfTheSameFilesWould() throws {
        let storescu = try Self.tool("storescu")
        let tree = try makeTree()
        let (source, mapping, studies) = try makeStudies(in: tree.root, patients: 2, slices: 6)
        var sheet = try String(contentsOf: mapping, encoding: .utf8)
        var folders = studies.map(\.patientFolder)
        if let testdata = sharedTestData {
            // It has no AccessionNumber: its folder is named by its study's hash, which a sheet can map.
            let files = regularFiles(under: testdata.appendingPathComponent("headct/ge_hispeed_human_tilt18"))
                .filter { $0.pathExtension == "dcm" }
            let study = try DicomFile(path: files[0].path).dataset.string(Tag(0x0020, 0x000D))
            let folder = InboxPlacement.relativePath(accession: nil, studyInstanceUID: study, sopInstanceUID: "x")
                .components(separatedBy: "/")[0]
            let copy = source.appendingPathComponent(folder)
            try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
            for file in files { try FileManager.default.copyItem(at: file, to: copy.appendingPathComponent(file.lastPathComponent)) }
            sheet += "\(folder),DEID-GEHEAD\n"
            folders.append(copy)
        } else {
            print("ReceiveTests: ../shared/testdata is not on this machine; sending the synthetic studies only")
        }
        try sheet.write(to: mapping, atomically: true, encoding: .utf8)
        try importMapping(tree, mapping)

        let serve = try ServiceTests.Daemon(tree, settle: 1)
        let receiver = try Receiver(tree, port: Self.freePort())
        waitForListening(receiver)
        for folder in folders {
            let sent = try Self.run(storescu, ["-aet", "PACS1", "-aec", "CTDEID", "+sd", "+r", "localhost", "\(receiver.port)", folder.path])
            XCTAssertEqual(sent.status, 0, sent.output)
        }
        waitFor("every study delivered") { tree.deliveredCount() == folders.count }
        XCTAssertEqual(receiver.terminate(), 0, receiver.output)
        XCTAssertEqual(serve.terminate(), 0)
        XCTAssertTrue(receiver.output.contains("calling_ae=PACS1"), receiver.output)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tree.inbox.appendingPathComponent(".ctdeid-receiving").path), [])
        // `ctdeid jobs` names each job's sender and count from the receiver's record.
        let config = tree.root.appendingPathComponent("ctdeid.toml")
        try "database = \"\(tree.database)\"\n[receive]\ndatabase = \"\(tree.root.appendingPathComponent("receive.sqlite").path)\"\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let jobs = try runCTDeid(["jobs", "--config", config.path])
        for folder in folders {
            XCTAssertTrue(jobs.stdout.contains("PACS1 x\(regularFiles(under: folder).count) "), jobs.stdout)
        }
        XCTAssertEqual(try sqlite(tree.root.appendingPathComponent("receive.sqlite").path,
                                  "SELECT count(*), sum(stored) FROM associations WHERE calling_ae = 'PACS1' AND outcome = 'released'"),
                       [["\(folders.count)", "\(folders.map { regularFiles(under: $0).count }.reduce(0, +))"]])

        let reference = tree.root.appendingPathComponent("reference")
        let result = try runCTDeid(["run", "--input", source.path, "--output", reference.path, "--mapping", mapping.path,
                                    "--database", tree.root.appendingPathComponent("reference.sqlite").path,
                                    "--secret", tree.keyFile.path, "--deface", "off", "--quiet"])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        let received = deliveredDigests(under: tree.outbox), ran = deliveredDigests(under: reference)
        XCTAssertEqual(received.count, folders.map { regularFiles(under: $0).count }.reduce(0, +))
        XCTAssertEqual(received, ran, "the received studies' deliveries are byte for byte a run's")
    }

    /// Who may store: a calling AE title that is not listed is refused whole (nothing reaches the
    /// inbox), while anyone may C-ECHO. An instance of a class ctdeid does not de-identify (here a
    /// secondary capture) is refused alone with a failure status; the rest of its association is stored.
    /// An instance sent twice is stored once; a different object under its SOPInstanceUID is kept too.
    func testAnUnlistedCallerIsRefusedEchoWorksAndAnOffListClassFailsAlone() throws {
        let storescu = try Self.tool("storescu"), echoscu = try Self.tool("echoscu"), dcmodify = try Self.tool("dcmodify")
        let tree = try makeTree()
        let (_, _, studies) = try makeStudies(in: tree.root, patients: 1, slices: 3)
        let files = regularFiles(under: studies[0].patientFolder)
        XCTAssertEqual(files.count, 3)
        let capture = tree.root.appendingPathComponent("capture.dcm")
        try FileManager.default.copyItem(at: files[1], to: capture)
        // dcmodify updates the file meta's class with the data set's.
        let modified = try Self.run(dcmodify, ["-nb", "-m", "(0008,0016)=1.2.840.10008.5.1.4.1.1.7", capture.path])
        XCTAssertEqual(modified.status, 0, modified.output)

        let receiver = try Receiver(tree, port: Self.freePort())
        waitForListening(receiver)
        let echo = try Self.run(echoscu, ["-aet", "NOBODY", "-aec", "CTDEID", "localhost", "\(receiver.port)"])
        XCTAssertEqual(echo.status, 0, echo.output)
        let stranger = try Self.run(storescu, ["-aet", "NOBODY", "-aec", "CTDEID", "localhost", "\(receiver.port)", files[0].path])
        XCTAssertNotEqual(stranger.status, 0, stranger.output)
        XCTAssertTrue(stranger.output.contains("Calling AE Title Not Recognized"), stranger.output)
        let wrongNode = try Self.run(storescu, ["-aet", "PACS1", "-aec", "OTHER", "localhost", "\(receiver.port)", files[0].path])
        XCTAssertTrue(wrongNode.output.contains("Called AE Title Not Recognized"), wrongNode.output)
        XCTAssertEqual(regularFiles(under: tree.inbox).count, 0, "nothing of a refused sender reaches the inbox")

        // -nh: storescu goes on after a failure status (it stops at the first by default).
        let mixed = try Self.run(storescu, ["-v", "-nh", "-aet", "PACS1", "-aec", "CTDEID", "localhost", "\(receiver.port)",
                                            files[0].path, capture.path, files[2].path])
        XCTAssertTrue(mixed.output.contains("Refused: SOPClassNotSupported"), mixed.output)
        let stored = regularFiles(under: tree.inbox).filter { !$0.path.contains("/.ctdeid-receiving/") }
        XCTAssertEqual(stored.count, 2, "the two CT images are stored, the capture is not: \(stored)")

        // Sent again, an instance is stored once; another object under its SOPInstanceUID is kept beside it.
        func inodes(_ urls: [URL]) -> [UInt64] {
            urls.map { url in var info = stat(); return stat(url.path, &info) == 0 ? UInt64(info.st_ino) : 0 }
        }
        let before = inodes(stored)
        let other = tree.root.appendingPathComponent("other.dcm")
        try FileManager.default.copyItem(at: files[2], to: other)
        XCTAssertEqual(try Self.run(dcmodify, ["-nb", "-m", "(0008,103E)=ANOTHER", other.path]).status, 0)
        let again = try Self.run(storescu, ["-aet", "PACS1", "-aec", "CTDEID", "localhost", "\(receiver.port)", files[2].path, other.path])
        XCTAssertEqual(again.status, 0, again.output)
        let kept = regularFiles(under: tree.inbox).filter { !$0.path.contains("/.ctdeid-receiving/") }
        XCTAssertEqual(kept.count, 3, "\(kept)")
        XCTAssertEqual(inodes(stored), before, "the instances already stored are left as they are, not rewritten")
        XCTAssertEqual(receiver.terminate(), 0, receiver.output)
        XCTAssertTrue(receiver.output.contains("association refused"), receiver.output)
    }

    /// kill -9 of the receiver in the middle of a 200-instance send: what is in the inbox is whole
    /// (each file was acknowledged only once renamed there); after a restart the sender sends the
    /// study again, and it is delivered complete, once, without a duplicate instance.
    func testAReceiverKilledMidSendLosesNothingAndAResendDeliversTheStudyOnce() throws {
        let storescu = try Self.tool("storescu")
        let tree = try makeTree()
        let source = tree.root.appendingPathComponent("source"), mapping = tree.root.appendingPathComponent("mapping.csv")
        let studies = try SampleInbox.write(to: source, mappingCSV: mapping, patients: 1, slices: 200, size: 256)
        try importMapping(tree, mapping)
        let serve = try ServiceTests.Daemon(tree, settle: 3)
        let port = Self.freePort()
        var receiver = try Receiver(tree, port: port)
        waitForListening(receiver)
        let arguments = ["-aet", "PACS1", "-aec", "CTDEID", "+sd", "+r", "localhost", "\(port)", studies[0].patientFolder.path]
        let received = tree.inbox.appendingPathComponent(studies[0].patient.accessionNumber)
        func placed() -> [URL] { regularFiles(under: received) }

        let first = Process()
        first.executableURL = storescu
        first.arguments = arguments
        first.standardOutput = FileHandle.nullDevice
        first.standardError = FileHandle.nullDevice
        try first.run()
        let deadline = Date().addingTimeInterval(60)
        while placed().count < 60 && Date() < deadline { usleep(1_000) }
        receiver.kill9()
        first.waitUntilExit()
        let atKill = placed()
        XCTAssertTrue((60..<200).contains(atKill.count), "killed mid-send: \(atKill.count) of 200 placed")
        XCTAssertNotEqual(first.terminationStatus, 0, "the sender saw the connection end")
        for file in atKill {
            XCTAssertNoThrow(try DicomFile(path: file.path).pixels16(), "\(file.lastPathComponent) is whole")
        }

        receiver = try Receiver(tree, port: port, logName: "receive-2.log")
        waitForListening(receiver)
        let again = try Self.run(storescu, arguments)
        XCTAssertEqual(again.status, 0, again.output)
        waitFor("the study delivered") { tree.deliveredCount() == 1 }
        XCTAssertEqual(receiver.terminate(), 0)
        XCTAssertEqual(serve.terminate(), 0)
        XCTAssertEqual(tree.count("SELECT count(*) FROM jobs"), 1, "one job: the study was not processed half")
        let delivered = regularFiles(under: tree.outbox).filter { $0.pathExtension == "dcm" }
        XCTAssertEqual(delivered.count, 200, "every instance delivered once")
        XCTAssertEqual(tree.count("SELECT files_delivered FROM jobs"), 200)
    }

    /// DICOM over TLS with client certificates: a sender presenting a certificate of the configured CA
    /// stores; one speaking plain TCP, or TLS without a certificate, stores nothing. Certificates are
    /// made by openssl for the test (RSA, as DCMTK 3.6.7's TLS 1.2 suites need).
    func testOverTLSOnlyASenderWithACertificateOfTheCAStores() throws {
        let storescu = try Self.tool("storescu"), openssl = try Self.tool("openssl")
        let tree = try makeTree()
        let pki = tree.root.appendingPathComponent("pki")
        try FileManager.default.createDirectory(at: pki, withIntermediateDirectories: true)
        func make(_ arguments: String) throws {
            let made = try Self.run(URL(fileURLWithPath: "/bin/bash"), ["-c", "cd '\(pki.path)' && \(openssl.path) " + arguments])
            XCTAssertEqual(made.status, 0, made.output)
        }
        try make("req -x509 -newkey rsa:2048 -sha256 -days 2 -nodes -keyout ca.key -out ca.crt -subj /CN=test-CA "
                 + "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign")
        for (name, usage) in [("server", "serverAuth"), ("client", "clientAuth")] {
            try make("req -newkey rsa:2048 -nodes -keyout \(name).key -out \(name).csr -subj /CN=\(name)")
            try "extendedKeyUsage=\(usage)\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"
                .write(to: pki.appendingPathComponent("\(name).ext"), atomically: true, encoding: .utf8)
            try make("x509 -req -in \(name).csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -sha256 "
                     + "-extfile \(name).ext -out \(name).crt")
        }
        let (_, _, studies) = try makeStudies(in: tree.root, patients: 1, slices: 2)
        let files = regularFiles(under: studies[0].patientFolder).map(\.path)
        func path(_ name: String) -> String { pki.appendingPathComponent(name).path }
        let receiver = try Receiver(tree, port: Self.freePort(), extra: [
            "--tls-certificate", path("server.crt"), "--tls-private-key", path("server.key"), "--tls-peer-ca", path("ca.crt")])
        waitForListening(receiver)
        func placed() -> Int { regularFiles(under: tree.inbox).filter { !$0.path.contains("/.ctdeid-receiving/") }.count }
        let node = ["-aet", "PACS1", "-aec", "CTDEID", "localhost", "\(receiver.port)"]

        let plain = try Self.run(storescu, node + [files[0]])
        XCTAssertNotEqual(plain.status, 0, plain.output)
        let anonymous = try Self.run(storescu, ["+tla", "+cf", path("ca.crt")] + node + [files[0]])
        XCTAssertNotEqual(anonymous.status, 0, anonymous.output)
        XCTAssertEqual(placed(), 0, "nothing stored without TLS and a certificate")
        let secure = try Self.run(storescu, ["+tls", path("client.key"), path("client.crt"), "+cf", path("ca.crt")] + node + files)
        XCTAssertEqual(secure.status, 0, secure.output)
        XCTAssertEqual(placed(), files.count)
        XCTAssertEqual(receiver.terminate(), 0, receiver.output)
    }
}
