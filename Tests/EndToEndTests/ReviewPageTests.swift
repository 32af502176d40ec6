import DICOM
import Foundation
import XCTest

/// The review page a person opens after a run: every series of every job with its verdict, its
/// renderings and its burned-in text, and no patient data. Opened in headless Chromium (Debian
/// `chromium`), which runs the page's own check that every picture loaded.
final class ReviewPageTests: XCTestCase {
    static let chromium = "/usr/bin/chromium"

    func testTheRunPageShowsEverySeriesWithItsPicturesAndNoPatientData() throws {
        guard let testdata = sharedTestData else { throw XCTSkip("../shared/testdata is not on this machine") }
        guard FileManager.default.isExecutableFile(atPath: Self.chromium) else {
            throw XCTSkip("\(Self.chromium) is missing (make deps installs Debian's chromium)")
        }
        let dir = try temporaryDirectory()
        let inbox = dir.appendingPathComponent("inbox")
        // A head CT to deface, a single head slice (quarantined: too few slices), and CT slices with
        // burned-in text (masked), each folder keyed by its files' accession.
        var sources = regularFiles(under: testdata.appendingPathComponent("headct/ge_hispeed_human_tilt18")).map { ($0, "GEHEAD") }
        sources.append((testdata.appendingPathComponent("headct/cq500_single_slice_compressed/693_UNCI.dcm"), "CQSLICE"))
        sources += regularFiles(under: testdata.appendingPathComponent("phi/pseudo_phi_burned_in_series/ct_urogram_3209648408"))
            .filter { $0.pathExtension == "dcm" }.prefix(6).map { ($0, "") }
        var secrets: Set<String> = []   // values the page must not show
        var folders: Set<String> = []
        for (source, key) in sources where source.pathExtension == "dcm" {
            let file = try DicomFile(path: source.path)
            let accession = file.dataset.string(.accessionNumber).flatMap { $0.isEmpty ? nil : $0 } ?? key
            for tag in [Tag.patientName, Tag.patientID] {
                if let value = file.dataset.string(tag), value.count >= 4 { secrets.insert(value) }
            }
            secrets.insert(accession)
            folders.insert(accession)
            let folder = inbox.appendingPathComponent(accession)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: source, to: folder.appendingPathComponent(source.lastPathComponent))
        }
        let mapping = dir.appendingPathComponent("m.csv")
        try (["Accession_number,De-identification_ID"] + folders.sorted().enumerated().map { "\"\($0.element)\",REVIEW-\($0.offset)" })
            .joined(separator: "\n").write(to: mapping, atomically: true, encoding: .utf8)
        let database = dir.appendingPathComponent("db.sqlite").path
        let result = try runCTDeid(["run", "--input", inbox.path, "--output", dir.appendingPathComponent("out").path,
                                    "--mapping", mapping.path, "--database", database, "--qa", dir.appendingPathComponent("qa").path])
        XCTAssertFalse(result.crashed, result.stderr)
        // `ctdeid run` names the page; the database holds it, and `ctdeid show` prints it.
        let printed = try XCTUnwrap(result.stdout.split(separator: "\n").first { $0.hasPrefix("review:") }, result.stdout)
        let page = String(printed.dropFirst("review:".count).trimmingCharacters(in: .whitespaces).split(separator: " ")[0])
        XCTAssertTrue(FileManager.default.fileExists(atPath: page), page)
        let recorded = try sqlite(database, "SELECT DISTINCT run_review_page FROM jobs")
        XCTAssertEqual(recorded.map { $0[0] }, [page])
        let show = try runCTDeid(["show", "1", "--database", database])
        XCTAssertTrue(show.stdout.contains(page), show.stdout + show.stderr)
        let jobPage = try XCTUnwrap(try sqlite(database, "SELECT review_page FROM jobs WHERE id = 1").first?.first)
        XCTAssertTrue(show.stdout.contains(jobPage) && FileManager.default.fileExists(atPath: jobPage), show.stdout)

        let dom = try dumpDOM(of: page)
        // Every series the database knows, with its verdict; every defaced one with both renderings loaded.
        let series = try sqlite(database, "SELECT job_id, series_index, verdict FROM series ORDER BY job_id, series_index")
        XCTAssertGreaterThanOrEqual(series.count, 4, "\(series)")
        XCTAssertTrue(series.contains { $0[2] == "defaced" } && series.contains { $0[2] == "quarantined" }, "\(series)")
        for row in series {
            let section = try XCTUnwrap(dom.range(of: "data-job=\"\(row[0])\""), "job \(row[0]) missing")
            let rest = dom[section.upperBound...]
            let end = rest.range(of: "</section>")?.lowerBound ?? rest.endIndex
            XCTAssertTrue(rest[..<end].contains("data-series=\"\(row[1])\" data-verdict=\"\(row[2])\""),
                          "job \(row[0]) series \(row[1]) (\(row[2])) not on the page")
        }
        let images = dom.components(separatedBy: "<img").dropFirst()
        let defaced = series.filter { $0[2] == "defaced" }.count
        XCTAssertEqual(images.filter { $0.contains("class=\"frontal\"") }.count, defaced)
        XCTAssertEqual(images.filter { $0.contains("class=\"profile\"") }.count, defaced)
        XCTAssertGreaterThan(images.filter { $0.contains("class=\"text\"") }.count, 0, "no masked-text picture")
        for image in images { XCTAssertTrue(image.contains("data-loaded=\"yes\""), "a picture did not load: <img\(image.prefix(120))") }
        XCTAssertTrue(dom.contains("too few"), "the quarantine reason is shown")
        for secret in secrets { XCTAssertFalse(dom.contains(secret), "the page shows a header value or folder name of the input") }
    }

    /// The page's DOM after its scripts ran, from headless Chromium.
    private func dumpDOM(of page: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.chromium)
        process.arguments = ["--headless=new", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                             "--user-data-dir=" + NSTemporaryDirectory() + "ctdeid-chromium-\(UUID().uuidString)",
                             "--dump-dom", URL(fileURLWithPath: page).absoluteString]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "chromium failed")
        return String(decoding: data, as: UTF8.self)
    }
}
