import Foundation
import XCTest

/// Is a face still found, or matched, on the frontal skin rendering after removal? The check a
/// published defacer is judged by, with a face recognition model from PyPI (dlib's detectors and
/// its ResNet embedding, in the venv `make test` makes: scripts/face_check.py), on the QA picture
/// `ctdeid run` writes for each defaced series.
final class FaceCheckTests: XCTestCase {
    /// The real head CT with a whole face (forehead to upper lip, ears): a face is found before;
    /// after, none is found, or none matches the face before.
    func testTheInVesaliusFaceIsFoundBeforeAndNeitherFoundNorMatchedAfter() throws {
        guard let testdata = sharedTestData else { throw XCTSkip("../shared/testdata is not on this machine") }
        let python = repositoryRoot.appendingPathComponent(".build-venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw XCTSkip("no face check: \(python.path) is missing (make test creates it with dlib-bin and face-recognition-models from PyPI)")
        }
        let dir = try temporaryDirectory()
        let folder = dir.appendingPathComponent("inbox/IV0051")
        try FileManager.default.createDirectory(at: folder.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: testdata.appendingPathComponent("headct/invesalius_0051/dicom"), to: folder)
        let mapping = dir.appendingPathComponent("m.csv")
        try "Accession_number,De-identification_ID\nIV0051,IV-0001\n".write(to: mapping, atomically: true, encoding: .utf8)
        let qa = dir.appendingPathComponent("qa")
        let result = try runCTDeid(["run", "--input", dir.appendingPathComponent("inbox").path, "--output",
                                    dir.appendingPathComponent("out").path, "--mapping", mapping.path,
                                    "--database", dir.appendingPathComponent("db.sqlite").path, "--qa", qa.path, "--quiet"])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        let picture = qa.appendingPathComponent("job-1/series-1.png")
        XCTAssertTrue(FileManager.default.fileExists(atPath: picture.path), "no QA picture: the series was not defaced")

        let process = Process()
        process.executableURL = python
        process.arguments = [repositoryRoot.appendingPathComponent("scripts/face_check.py").path, picture.path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let report = String(decoding: data, as: UTF8.self)
        if process.terminationStatus == 3 { throw XCTSkip(report) }
        XCTAssertEqual(process.terminationStatus, 0, report)
        let check = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any], report)
        print("face check, InVesalius 0051: \(report)")
        XCTAssertFalse((check["before"] as? [String] ?? []).isEmpty, "no face found before removal: the check proves nothing (\(report))")
        XCTAssertEqual(check["match"] as? Bool, false, "the face after removal matches the face before: \(report)")
    }
}
