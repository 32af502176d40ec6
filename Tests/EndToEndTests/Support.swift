import DICOM
import Fixtures
import Foundation
import XCTest
@_exported import TestSupport

/// The real `ctdeid` binary: $CTDEID_BIN, else the debug build `make test` made first.
var ctdeidBinary: URL {
    if let path = ProcessInfo.processInfo.environment["CTDEID_BIN"] { return URL(fileURLWithPath: path) }
    return repositoryRoot.appendingPathComponent(".build/debug/ctdeid")
}

struct ProcessResult {
    let status: Int32
    let stdout: String
    let stderr: String
    /// True when the process ended by a signal (a crash), not by exit().
    let crashed: Bool
}

/// Runs ctdeid as a process, killing it after `timeout` seconds (a hang is a failure).
func runCTDeid(_ arguments: [String], timeout: TimeInterval = 600, in folder: URL? = nil,
               file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
    let binary = ctdeidBinary
    guard FileManager.default.isExecutableFile(atPath: binary.path) else {
        throw XCTSkip("ctdeid binary not built at \(binary.path): run `swift build` first (make test does)")
    }
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    if let folder { process.currentDirectoryURL = folder }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let deadline = DispatchTime.now() + timeout
    let outData = ReadAll(out.fileHandleForReading), errData = ReadAll(err.fileHandleForReading)
    let finished = DispatchSemaphore(value: 0)
    DispatchQueue.global().async { process.waitUntilExit(); finished.signal() }
    if finished.wait(timeout: deadline) == .timedOut {
        process.terminate()
        XCTFail("ctdeid \(arguments.first ?? "") did not finish within \(Int(timeout)) s (hang)", file: file, line: line)
        finished.wait()
    }
    return ProcessResult(status: process.terminationStatus, stdout: outData.wait(), stderr: errData.wait(),
                         crashed: process.terminationReason == .uncaughtSignal)
}

/// Drains a pipe on a background thread so a chatty process never blocks on a full pipe.
final class ReadAll: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)
    init(_ handle: FileHandle) {
        DispatchQueue.global().async {
            self.data = handle.readDataToEndOfFile()
            self.done.signal()
        }
    }
    func wait() -> String {
        done.wait()
        done.signal()
        return String(decoding: data, as: UTF8.self)
    }
}

/// Every element at every depth of a dataset, with the item it lives in.
func walk(_ item: DicomItem, _ visit: (DicomItem, ElementInfo, Int) -> Void, depth: Int = 0) {
    for element in item.elements {
        visit(item, element, depth)
        if element.isSequence {
            for child in item.items(element.tag) { walk(child, visit, depth: depth + 1) }
        }
    }
}

func sqlite(_ database: String, _ query: String) throws -> [[String]] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    process.arguments = ["-separator", "\t", database, query]
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).split(separator: "\n").map { $0.components(separatedBy: "\t") }
}

/// FNV-1a of the whole content: enough to tell two files apart in a test.
func fingerprint(_ data: Data) -> String {
    var hash: UInt64 = 1469598103934665603
    for byte in data { hash = (hash ^ UInt64(byte)) &* 1099511628211 }
    return String(hash, radix: 16)
}

/// Helpers of the tests that run `ctdeid serve` on temporary trees.
extension XCTestCase {
    func waitFor(_ what: String, timeout: Double = 120, _ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return }
            usleep(50_000)
        }
        XCTFail("timed out waiting for \(what)")
    }

    func makeTree(_ name: String = #function, keyFile: URL? = nil) throws -> ServiceTests.Tree {
        let tree = ServiceTests.Tree(try temporaryDirectory(name), keyFile: keyFile)
        try FileManager.default.createDirectory(at: tree.inbox, withIntermediateDirectories: true)
        return tree
    }

    /// Sample studies written outside the inbox, ready to be copied or renamed in.
    func makeStudies(in dir: URL, patients: Int = 2, slices: Int = 8) throws -> (URL, URL, [WrittenStudy]) {
        let source = dir.appendingPathComponent("source")
        let mapping = dir.appendingPathComponent("mapping.csv")
        let studies = try SampleInbox.write(to: source, mappingCSV: mapping, patients: patients, slices: slices, size: 64)
        return (source, mapping, studies)
    }

    func importMapping(_ tree: ServiceTests.Tree, _ mapping: URL) throws {
        let result = try runCTDeid(["mapping", "import", mapping.path, "--database", tree.database])
        XCTAssertEqual(result.status, 0, result.stderr)
    }
}
