import DICOM
import Foundation
import XCTest

/// Real DICOM from public sources (../shared/testdata): every file is delivered clean or
/// quarantined with a reason; nothing crashes or hangs.
final class SharedTestDataTests: XCTestCase {
    override class func setUp() {
        try? DicomToolkit.initialize()
    }

    func testEveryFileIsDeliveredCleanOrQuarantinedWithAReason() throws {
        guard let testdata = sharedTestData else { throw XCTSkip("../shared/testdata is not on this machine") }
        let dir = try temporaryDirectory()
        let inbox = dir.appendingPathComponent("inbox")
        var keys: Set<String> = []
        var originalNames: [String: [UInt8]] = [:]   // input relative path -> PatientName bytes
        var count = 0
        for source in regularFiles(under: testdata) where !source.lastPathComponent.hasSuffix(".md") {
            count += 1
            // The folder is keyed by the file's own AccessionNumber, so the accession check passes.
            var key = String(format: "T%03d", count)
            var name: [UInt8]?
            if let file = try? DicomFile(path: source.path) {
                let accession = file.dataset.string(.accessionNumber) ?? ""
                if !accession.isEmpty {
                    guard accession.count <= 64, !accession.contains("/"), !accession.hasPrefix("."),
                          accession.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }) else { continue }
                    key = accession
                }
                name = file.dataset.bytes(.patientName)
            }
            keys.insert(key)
            let folder = inbox.appendingPathComponent(key)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let target = folder.appendingPathComponent(String(format: "%03d-", count) + source.lastPathComponent)
            try FileManager.default.copyItem(at: source, to: target)
            if let name { originalNames[key + "/" + target.lastPathComponent] = name }
        }
        XCTAssertGreaterThan(count, 100)
        let mapping = dir.appendingPathComponent("mapping.csv")
        let rows = keys.sorted().enumerated().map { "\"\($0.element)\",REAL-\($0.offset)" }
        try (["Accession_number,De-identification_ID"] + rows).joined(separator: "\n").write(to: mapping, atomically: true, encoding: .utf8)
        let database = dir.appendingPathComponent("db/ctdeid.sqlite").path
        let output = dir.appendingPathComponent("out")

        let result = try runCTDeid(["run", "--input", inbox.path, "--output", output.path, "--mapping", mapping.path,
                                    "--database", database, "--quiet"])
        XCTAssertFalse(result.crashed, result.stderr)
        XCTAssertTrue([0, 1].contains(result.status), "exit \(result.status): \(result.stderr)")

        let files = try sqlite(database, "SELECT input_path, outcome, coalesce(reason, ''), coalesce(output_path, ''), (SELECT deid_id FROM jobs WHERE id = job_id), (SELECT output_path FROM jobs WHERE id = job_id) FROM files")
        XCTAssertEqual(files.count, count, "every input file has a row")
        var delivered = 0
        for row in files {
            let (path, outcome, reason) = (row[0], row[1], row[2])
            switch outcome {
            case "delivered":
                delivered += 1
                let out = output.appendingPathComponent(row[5]).appendingPathComponent(row[3])
                let file = try DicomFile(path: out.path)
                XCTAssertEqual(file.dataset.string(.patientName), row[4], path)
                XCTAssertEqual(file.dataset.string(.patientIdentityRemoved), "YES", path)
                walk(file.dataset) { _, element, _ in
                    XCTAssertFalse(element.tag.isPrivate, "\(path): private \(element.tag) survived")
                    XCTAssertFalse(element.tag.group & 0xFF00 == 0x6000, "\(path): overlay survived")
                }
                XCTAssertNil(file.meta.string(Tag(0x0002, 0x0016)), path)
                let bytes = try Data(contentsOf: out)
                XCTAssertEqual(bytes.prefix(128), Data(count: 128), "\(path): preamble not zeroed")
                if let name = originalNames[path], name.count >= 5, name != Array("REMOVED".utf8) {
                    XCTAssertNil(bytes.range(of: Data(name)), "\(path): the original PatientName survived in the bytes")
                }
            case "quarantined", "ignored":
                XCTAssertFalse(reason.isEmpty, "\(path) \(outcome) without a reason")
            default:
                XCTFail("\(path): unexpected outcome \(outcome)")
            }
        }
        XCTAssertGreaterThan(delivered, 50, "the real head CT series at least must be delivered")
    }

    /// The GE head CT's output validates with dciodvfy with no error the input did not have.
    func testGEHeadCTOutputHasNoNewValidationErrors() throws {
        guard let testdata = sharedTestData else { throw XCTSkip("../shared/testdata is not on this machine") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/dciodvfy") else { throw XCTSkip("dciodvfy (dicom3tools) not installed") }
        let dir = try temporaryDirectory()
        let folder = dir.appendingPathComponent("inbox/GEHEAD")
        try FileManager.default.createDirectory(at: folder.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: testdata.appendingPathComponent("headct/ge_hispeed_human_tilt18"), to: folder)
        try FileManager.default.removeItem(at: folder.appendingPathComponent("SOURCE.md"))
        let mapping = dir.appendingPathComponent("m.csv")
        try "Accession_number,De-identification_ID\nGEHEAD,GE-0001\n".write(to: mapping, atomically: true, encoding: .utf8)
        for options in ["none", "default"] {
            let output = dir.appendingPathComponent("out-" + options)
            let result = try runCTDeid(["run", "--input", dir.appendingPathComponent("inbox").path, "--output", output.path,
                                        "--mapping", mapping.path, "--database", dir.appendingPathComponent("db-\(options).sqlite").path,
                                        "--options", options, "--quiet"])
            XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
            let outputs = regularFiles(under: output).filter { !$0.path.contains(".ctdeid-staging") }
            XCTAssertEqual(outputs.count, 28)
            for (input, out) in zip(regularFiles(under: folder), outputs).prefix(3) {
                let before = Set(try errors(of: input)), after = Set(try errors(of: out))
                XCTAssertEqual(after.subtracting(before), [], "\(options): new dciodvfy errors in \(out.lastPathComponent)")
            }
        }
    }

    private func errors(of file: URL) throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/dciodvfy")
        process.arguments = [file.path]
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        // Values differ between input and output; compare the messages without them.
        return text.split(separator: "\n").filter { $0.hasPrefix("Error") }.map {
            $0.replacingOccurrences(of: #"<[^>]*> *="#, with: "", options: .regularExpression)
                .replacingOccurrences(of: #"\[[^\]]*\]"#, with: "", options: .regularExpression)
        }
    }
}
