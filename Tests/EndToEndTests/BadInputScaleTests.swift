import DICOM
import Fixtures
import Foundation
import GRDB
import Synchronization
import XCTest

/// 100,000 files in one folder.
extension BadInputTests {
    // MARK: - 100,000 files in one folder

    /// Peak RSS budget for 100,000 files: the service holds a record per file, not the files.
    static let rssBudgetKiB = 400 * 1024

    func testHundredThousandFilesInOneFolder() throws {
        let count = Int(ProcessInfo.processInfo.environment["CTDEID_BAD_INPUT_FILES"] ?? "") ?? 100_000
        let started = Date()
        // The whole tree on a tmpfs when one can be mounted: 300,000 files come and go in no time and
        // the shared disk is spared (about 1 GB of memory while the test runs). Else the temp folder.
        let root = try temporaryDirectory()
        let mounted = runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=2g,mode=0755", "tmpfs", root.path]) == 0
        defer {
            if mounted { runTool("/bin/umount", ["-l", root.path]) } else { runTool("/bin/rm", ["-rf", root.path]) }
        }
        let tree = try BadTree(root)
        let patient = Self.patient(47)
        let study = SyntheticStudy(patient: patient)
        // One minimal 16x16 CT slice with fixed-width markers, patched per copy: every file has its own
        // SOPInstanceUID, InstanceNumber and position.
        let uid = patient.uidRoot + ".3.9.999999"
        let pixels = Data((0..<512).map { UInt8($0 % 7) })
        let dataset: [DicomElement] = [
            DicomElement(0x0008, 0x0008, .CS, "ORIGINAL\\PRIMARY\\AXIAL"),
            DicomElement(0x0008, 0x0016, .UI, SyntheticStudy.ctImageStorage),
            DicomElement(0x0008, 0x0018, .UI, uid),
            DicomElement(0x0008, 0x0020, .DA, patient.studyDate),
            DicomElement(0x0008, 0x0050, .SH, patient.accessionNumber),
            DicomElement(0x0008, 0x0060, .CS, "CT"),
            DicomElement(0x0010, 0x0010, .PN, patient.patientName),
            DicomElement(0x0010, 0x0020, .LO, patient.patientID),
            DicomElement(0x0010, 0x0030, .DA, patient.birthDate),
            DicomElement(0x0020, 0x000D, .UI, study.studyInstanceUID),
            DicomElement(0x0020, 0x000E, .UI, study.seriesInstanceUID),
            DicomElement(0x0020, 0x0013, .IS, "888888"),
            DicomElement(0x0020, 0x0032, .DS, "0\\0\\77777.7"),
            DicomElement(0x0020, 0x0037, .DS, "1\\0\\0\\0\\1\\0"),
            DicomElement(0x0020, 0x0052, .UI, study.frameOfReferenceUID),
            DicomElement(0x0028, 0x0002, .US, .uint16([1])),
            DicomElement(0x0028, 0x0004, .CS, "MONOCHROME2"),
            DicomElement(0x0028, 0x0010, .US, .uint16([16])),
            DicomElement(0x0028, 0x0011, .US, .uint16([16])),
            DicomElement(0x0028, 0x0030, .DS, "0.5\\0.5"),
            DicomElement(0x0028, 0x0100, .US, .uint16([16])),
            DicomElement(0x0028, 0x0101, .US, .uint16([16])),
            DicomElement(0x0028, 0x0102, .US, .uint16([15])),
            DicomElement(0x0028, 0x0103, .US, .uint16([1])),
            DicomElement(0x0028, 0x1052, .DS, "0"),
            DicomElement(0x0028, 0x1053, .DS, "1"),
            DicomElement(0x7FE0, 0x0010, .OW, .bytes(pixels)),
        ]
        let meta = DicomWriter.fileMeta(sopClassUID: SyntheticStudy.ctImageStorage, sopInstanceUID: uid,
                                        implementationClassUID: study.implementationClassUID)
        let template = [UInt8](try DicomWriter.part10(meta: meta, dataset: dataset))
        func offsets(_ marker: String) -> [Int] {
            let needle = Array(marker.utf8)
            return (0...(template.count - needle.count)).filter { Array(template[$0..<($0 + needle.count)]) == needle }
        }
        let uidAt = offsets("999999"), numberAt = offsets("888888"), zAt = offsets("77777.7")
        XCTAssertEqual(uidAt.count, 2)
        XCTAssertEqual(numberAt.count, 1)
        XCTAssertEqual(zAt.count, 1)
        let folder = tree.prep.appendingPathComponent(patient.accessionNumber)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var bytes = template
        for index in 0..<count {
            for (offsets, text) in [(uidAt, String(100_000 + index)), (numberAt, String(format: "%06d", index + 1)),
                                    (zAt, String(format: "%07.1f", Double(index) * 0.5))] {
                for offset in offsets { bytes.replaceSubrange(offset..<(offset + text.utf8.count), with: Array(text.utf8)) }
            }
            let fd = open(folder.appendingPathComponent(String(format: "IM%06d.dcm", index)).path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            let written = write(fd, bytes, bytes.count)
            close(fd)
            guard written == bytes.count else { throw POSIXError(.EIO) }
        }
        let generated = Date().timeIntervalSince(started)
        try tree.importMapping([(patient.accessionNumber, "OWN-47")])

        let daemon = try BadDaemon(tree, settle: 0.5)
        pollUntil("ready", timeout: 60) { daemon.output.contains("ready") }
        let dropped = Date()
        try tree.drop(patient.accessionNumber)
        guard let job = waitFinal(tree, patient.accessionNumber, daemon, timeout: 900) else { return XCTFail("no job") }
        let seconds = Date().timeIntervalSince(dropped)
        let peak = daemon.peakRSSKiB() ?? Int.max
        print("CATALOGUE \(count) files\(mounted ? " (tmpfs)" : ""): job \(job.id) \(job.state) | \(job.reason ?? "-") | generated in \(String(format: "%.0f", generated)) s, delivered in \(String(format: "%.0f", seconds)) s, peak RSS \(peak / 1024) MiB")
        XCTAssertEqual(job.state, "delivered")
        XCTAssertEqual(tree.count("SELECT files_delivered FROM jobs WHERE id = ?", [job.id]), count)
        let delivered = (try? FileManager.default.contentsOfDirectory(atPath: tree.outbox.appendingPathComponent("OWN-47").path)) ?? []
        XCTAssertEqual(delivered.count, 1)
        XCTAssertEqual(rawListing(tree.outbox.appendingPathComponent("OWN-47").appendingPathComponent(delivered.first ?? "-")).count, count)
        XCTAssertLessThan(peak, Self.rssBudgetKiB, "peak RSS \(peak) KiB over the \(Self.rssBudgetKiB / 1024) MiB budget")
        XCTAssertTrue(daemon.isAlive)
        XCTAssertEqual(daemon.terminate()?.status, 0)
        assertLogClean(daemon, patient)
    }
}
