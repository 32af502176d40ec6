import Foundation
import XCTest

// What every test target needs, in one place: the repository, the shared test data when this
// machine has it, temporary folders that go away with the test process, and file listings.

/// The repository root (for committed data such as standard/ and packaging/).
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// ../shared/testdata beside the repository, when this machine has it; tests that need it skip,
/// saying so, when it does not.
public var sharedTestData: URL? {
    let url = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/testdata")
    return FileManager.default.fileExists(atPath: url.path) ? url : nil
}

/// ../shared/testdata, or a skip that says it is missing.
public func requireSharedTestData() throws -> URL {
    guard let url = sharedTestData else { throw XCTSkip("../shared/testdata is not on this machine") }
    return url
}

/// A fresh temporary folder per test, removed with `TemporaryRoot` when the tests finish.
public func temporaryDirectory(_ name: String = #function) throws -> URL {
    let url = TemporaryRoot.url
        .appendingPathComponent(name.filter { $0.isLetter || $0.isNumber } + "-" + UUID().uuidString.prefix(8))
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The test process's own temporary folder, removed with everything in it when the tests finish.
public final class TemporaryRoot: NSObject, XCTestObservation {
    public static let url: URL = {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("ctdeid-tests-\(ProcessInfo.processInfo.processIdentifier)")
        XCTestObservationCenter.shared.addTestObserver(TemporaryRoot())
        return url
    }()

    public func testBundleDidFinish(_ testBundle: Bundle) {
        try? FileManager.default.removeItem(at: Self.url)
    }
}

/// Every regular file below a folder, sorted.
public func regularFiles(under url: URL) -> [URL] {
    guard let enumerator = FileManager.default.enumerator(at: url, includingPropertiesForKeys: [.isRegularFileKey]) else { return [] }
    return enumerator.compactMap { $0 as? URL }
        .filter { (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true }
        .sorted { $0.path < $1.path }
}
