import DICOM
import Deidentification
import Foundation
import XCTest

/// A fresh temporary folder per test (removed with `TemporaryRoot` when the tests finish).
func temporaryDirectory(_ name: String = #function) throws -> URL {
    let url = TemporaryRoot.url
        .appendingPathComponent(name.filter { $0.isLetter || $0.isNumber } + "-" + UUID().uuidString.prefix(8))
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The repository root (for committed data such as standard/).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// ../shared/testdata beside the repository, when this machine has it.
var sharedTestData: URL? {
    let url = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/testdata")
    return FileManager.default.fileExists(atPath: url.path) ? url : nil
}

let testSecret = SiteSecret(bytes: Array(repeating: 7, count: 32))

extension DicomFile {
    /// Saves and loads again through DCMTK, as the pipeline does with real files.
    func roundTrip(in directory: URL, name: String = "t.dcm") throws -> DicomFile {
        let path = directory.appendingPathComponent(name).path
        try save(to: path)
        return try DicomFile(path: path)
    }
}

/// The test process's own temporary folder, removed with everything in it when the tests finish.
final class TemporaryRoot: NSObject, XCTestObservation {
    static let url: URL = {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("ctdeid-tests-\(ProcessInfo.processInfo.processIdentifier)")
        XCTestObservationCenter.shared.addTestObserver(TemporaryRoot())
        return url
    }()

    func testBundleDidFinish(_ testBundle: Bundle) {
        try? FileManager.default.removeItem(at: Self.url)
    }
}
