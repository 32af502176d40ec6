import Fixtures
import Foundation
import GRDB
import XCTest

// Support for BadInputTests: a service tree, the `ctdeid serve` process, DICOM byte surgery and
// raw (byte) file names. Kept apart from ServiceTests' helpers on purpose (different names).

/// One service tree. `outbox` and `work` may live elsewhere (a small tmpfs for the ENOSPC case).
struct BadTree {
    let root: URL
    let outbox: URL
    let work: URL
    var inbox: URL { root.appendingPathComponent("inbox") }
    var done: URL { root.appendingPathComponent("done") }
    var quarantine: URL { root.appendingPathComponent("quarantine") }
    var mappings: URL { root.appendingPathComponent("mappings") }
    var qa: URL { root.appendingPathComponent("qa") }
    /// Where test folders are prepared before they are renamed into the inbox (same filesystem).
    var prep: URL { root.appendingPathComponent("prep") }
    /// Files the inbox may link to: "outside the inbox".
    var outside: URL { root.appendingPathComponent("outside") }
    var database: String { root.appendingPathComponent("ctdeid.sqlite").path }
    var keyFile: URL { root.appendingPathComponent("secret.key") }
    var staging: URL { work.appendingPathComponent("staging") }

    init(_ root: URL, outbox: URL? = nil, work: URL? = nil) throws {
        self.root = root
        self.outbox = outbox ?? root.appendingPathComponent("outbox")
        self.work = work ?? root.appendingPathComponent("work")
        for dir in [inbox, prep, outside] {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        }
    }

    func arguments(settle: Double, extra: [String] = []) -> [String] {
        ["--inbox", inbox.path, "--outbox", outbox.path, "--work", work.path, "--quarantine", quarantine.path,
         "--done", done.path, "--mappings", mappings.path, "--database", database, "--key-file", keyFile.path,
         "--qa", qa.path, "--settle-seconds", "\(settle)", "--workers", "2"] + extra
    }

    /// Rows of a query, read in-process (values may hold newlines, which sqlite3's output cannot carry).
    func rows(_ sql: String, _ arguments: [String] = []) -> [[String?]] {
        guard FileManager.default.fileExists(atPath: database) else { return [] }
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        guard let queue = try? DatabaseQueue(path: database, configuration: configuration) else { return [] }
        return (try? queue.read { db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map { row in
                (0..<row.count).map { index -> String? in
                    let value: DatabaseValue = row[index]
                    if value.isNull { return nil }
                    return String.fromDatabaseValue(value) ?? Int64.fromDatabaseValue(value).map { String($0) }
                }
            }
        }) ?? []
    }

    func count(_ sql: String, _ arguments: [String] = []) -> Int {
        Int(rows(sql, arguments).first?.first.flatMap { $0 } ?? "0") ?? 0
    }

    /// Mapping CSV written and imported before the service starts (the CLI runs as root).
    func importMapping(_ pairs: [(accession: String, id: String)]) throws {
        let csv = root.appendingPathComponent("mapping.csv")
        var text = SampleInbox.csvHeader + "\n"
        for pair in pairs { text += "\(pair.accession),\(pair.id)\n" }
        try Data(text.utf8).write(to: csv)
        let result = try runCTDeid(["mapping", "import", csv.path, "--database", database], timeout: 60)
        XCTAssertEqual(result.status, 0, result.stderr)
    }

    /// Prepared outside the inbox, then renamed in whole (the documented way to drop a folder).
    func drop(_ name: String) throws {
        try FileManager.default.moveItem(at: prep.appendingPathComponent(name), to: inbox.appendingPathComponent(name))
    }
}

/// A running `ctdeid serve`. With `dropDAC` it runs as root without CAP_DAC_OVERRIDE and
/// CAP_DAC_READ_SEARCH (setpriv), so file permissions apply to it as to the packaged `ctdeid`
/// user: that is what makes "unreadable file" and "read-only outbox" testable on a root machine.
final class BadDaemon {
    let process = Process()
    let log: URL

    init(_ tree: BadTree, settle: Double = 0.5, extra: [String] = [], dropDAC: Bool = true,
         logName: String = "serve.log") throws {
        guard FileManager.default.isExecutableFile(atPath: ctdeidBinary.path) else {
            throw XCTSkip("ctdeid binary not built at \(ctdeidBinary.path)")
        }
        log = tree.root.appendingPathComponent(logName)
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        let serve = ["serve"] + tree.arguments(settle: settle, extra: extra)
        let setpriv = "/usr/bin/setpriv"
        if dropDAC && getuid() == 0 && FileManager.default.isExecutableFile(atPath: setpriv) {
            process.executableURL = URL(fileURLWithPath: setpriv)
            process.arguments = ["--bounding-set=-dac_override,-dac_read_search", "--", ctdeidBinary.path] + serve
        } else {
            process.executableURL = ctdeidBinary
            process.arguments = serve
        }
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "NOTIFY_SOCKET")
        process.environment = env
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isAlive: Bool { process.isRunning }
    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
    var outputBytes: Data { (try? Data(contentsOf: log)) ?? Data() }

    /// SIGTERM, then waits up to `timeout` s; nil when it did not exit (it is then killed).
    func terminate(timeout: Double = 30) -> (status: Int32, crashed: Bool)? {
        guard process.isRunning else {
            return (process.terminationStatus, process.terminationReason == .uncaughtSignal)
        }
        process.terminate()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        return (process.terminationStatus, process.terminationReason == .uncaughtSignal)
    }

    /// Peak resident set size (VmHWM) in KiB, from /proc while the process runs.
    func peakRSSKiB() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }

    deinit {
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Polls `condition` every 20 ms; false (and, with `report`, an XCTFail naming `what`) on timeout.
@discardableResult
func pollUntil(_ what: String, timeout: Double, report: Bool = true, file: StaticString = #filePath, line: UInt = #line,
               _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    if condition() { return true }
    if report { XCTFail("timed out after \(Int(timeout)) s waiting for \(what)", file: file, line: line) }
    return false
}

// MARK: - good and bad DICOM files

/// Small synthetic slices (16x16 by default) of one patient, with hooks to edit elements.
struct SliceFactory {
    let patient: SyntheticPatient
    var size = 16
    var slices = 12

    var study: SyntheticStudy { SyntheticStudy(patient: patient) }
    var geometry: VolumeGeometry { VolumeGeometry(slices: slices, rows: size, columns: size) }
    var planted: PlantedPHI { study.plantedPHI(slices: slices) }

    /// The fixture's own bytes for slice `k`.
    func good(_ k: Int) throws -> Data {
        try study.fileBytes(slice: k, geometry: geometry)
    }

    /// Slice `k` with its dataset (and the meta's SOP UIDs) edited.
    func edited(_ k: Int, metaSOPClass: String? = nil, metaSOPInstance: String? = nil,
                _ edit: (inout [DicomElement]) -> Void) throws -> Data {
        var pixels = Data(capacity: size * size * 2)
        for value in study.phantom.slice(k, geometry: geometry) {
            let bits = UInt16(bitPattern: value)
            pixels.append(UInt8(bits & 0xFF))
            pixels.append(UInt8(bits >> 8))
        }
        var elements = study.dataset(slice: k, geometry: geometry, pixelData: pixels,
                                     overlayData: Data(count: (size * size + 15) / 16 * 2))
        edit(&elements)
        let meta = DicomWriter.fileMeta(
            sopClassUID: metaSOPClass ?? SyntheticStudy.ctImageStorage,
            sopInstanceUID: metaSOPInstance ?? study.sopInstanceUID(slice: k),
            implementationClassUID: study.implementationClassUID)
        return try DicomWriter.part10(preamble: study.preamble, meta: meta, dataset: elements)
    }

    /// Writes slices `range` as `IM000k.dcm` into `folder/sub`.
    @discardableResult
    func writeGood(_ range: Range<Int>, into folder: URL, sub: String = "SE1") throws -> [URL] {
        let dir = folder.appendingPathComponent(sub)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return try range.map { k in
            let url = dir.appendingPathComponent(String(format: "IM%04d.dcm", k + 1))
            try good(k).write(to: url)
            return url
        }
    }
}

extension Array where Element == DicomElement {
    /// Replaces (or adds) a text element.
    mutating func set(_ group: UInt16, _ element: UInt16, _ vr: DicomVR, _ value: DicomValue) {
        removeAll { $0.tag == DicomTag(group, element) }
        append(DicomElement(tag: DicomTag(group, element), vr: vr, value: value))
    }

    mutating func set(_ group: UInt16, _ element: UInt16, _ vr: DicomVR, _ text: String) {
        set(group, element, vr, .text(text))
    }
}

/// One element header found in a Part 10 file (Explicit VR Little Endian), with its offsets.
struct RawElement {
    let group: UInt16
    let element: UInt16
    let vr: String
    let offset: Int
    let lengthOffset: Int
    let lengthSize: Int
    let length: UInt32
    let valueOffset: Int
}

/// Byte surgery on Part 10 files: offsets come from parsing, never from guesses.
enum Part10 {
    static let longLengthVRs: Set<String> = ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]

    /// Every element header in file order, descending into sequences and items (128-byte preamble,
    /// "DICM", then group 0002 and the dataset, both Explicit VR Little Endian).
    static func elements(_ data: Data) -> [RawElement] {
        let bytes = [UInt8](data)
        func u16(_ i: Int) -> UInt16 { UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8 }
        func u32(_ i: Int) -> UInt32 { UInt32(u16(i)) | UInt32(u16(i + 2)) << 16 }
        var result: [RawElement] = []
        var i = 132
        while i + 8 <= bytes.count {
            let group = u16(i), element = u16(i + 2)
            if group == 0xFFFE {
                // Items and delimiters: no VR, 4-byte length; an item's content is parsed in line.
                result.append(RawElement(group: group, element: element, vr: "", offset: i, lengthOffset: i + 4,
                                         lengthSize: 4, length: u32(i + 4), valueOffset: i + 8))
                i += 8
                continue
            }
            let vr = String(decoding: bytes[(i + 4)..<(i + 6)], as: UTF8.self)
            let raw: RawElement
            if longLengthVRs.contains(vr) {
                guard i + 12 <= bytes.count else { break }
                raw = RawElement(group: group, element: element, vr: vr, offset: i, lengthOffset: i + 8, lengthSize: 4,
                                 length: u32(i + 8), valueOffset: i + 12)
            } else {
                raw = RawElement(group: group, element: element, vr: vr, offset: i, lengthOffset: i + 6, lengthSize: 2,
                                 length: UInt32(u16(i + 6)), valueOffset: i + 8)
            }
            result.append(raw)
            if vr == "SQ" {
                i = raw.valueOffset
            } else {
                if raw.length == 0xFFFF_FFFF { break }
                i = raw.valueOffset + Int(raw.length)
            }
        }
        return result
    }

    static func find(_ data: Data, _ group: UInt16, _ element: UInt16) -> RawElement? {
        elements(data).first { $0.group == group && $0.element == element }
    }

    /// Overwrites the length field of `element` (the value bytes stay as they are).
    static func setLength(_ data: inout Data, of element: RawElement, to length: UInt32) {
        var bytes = [UInt8](data)
        for index in 0..<element.lengthSize {
            bytes[element.lengthOffset + index] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(index)))
        }
        data = Data(bytes)
    }

    /// (0002,0000): the length of the rest of the file meta information.
    static func metaGroupLength(_ data: Data) -> Int {
        let bytes = [UInt8](data)
        // "DICM" (132) then (0002,0000) UL, length 4, value at 140.
        return Int(UInt32(bytes[140]) | UInt32(bytes[141]) << 8 | UInt32(bytes[142]) << 16 | UInt32(bytes[143]) << 24)
    }
}

// MARK: - raw file names (newlines, invalid UTF-8)

/// A path whose last component is raw bytes (not necessarily UTF-8), NUL-terminated for libc.
func rawPath(_ directory: URL, _ name: [UInt8]) -> [CChar] {
    (Array(directory.path.utf8) + [UInt8(ascii: "/")] + name + [0]).map { CChar(bitPattern: $0) }
}

func rawWrite(_ data: Data, to directory: URL, name: [UInt8]) throws {
    let fd = open(rawPath(directory, name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    defer { close(fd) }
    let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard written == data.count else { throw POSIXError(.EIO) }
}

func rawExists(_ directory: URL, _ name: [UInt8]) -> Bool {
    var info = stat()
    return lstat(rawPath(directory, name), &info) == 0
}

/// Names in a directory as raw bytes (readdir), for names Foundation cannot represent.
func rawListing(_ directory: URL) -> [[UInt8]] {
    guard let dir = opendir(directory.path) else { return [] }
    defer { closedir(dir) }
    var names: [[UInt8]] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: &entry.pointee.d_name) { Array($0.prefix(while: { $0 != 0 })) }
        if name != [UInt8(ascii: ".")] && name != [UInt8(ascii: "."), UInt8(ascii: ".")] { names.append(name) }
    }
    return names
}

/// File type of a path without following links: "file", "dir", "link", "fifo", "char", "block", "other", nil.
func fileKind(_ path: String) -> String? {
    var info = stat()
    guard lstat(path, &info) == 0 else { return nil }
    switch info.st_mode & S_IFMT {
    case S_IFREG: return "file"
    case S_IFDIR: return "dir"
    case S_IFLNK: return "link"
    case S_IFIFO: return "fifo"
    case S_IFCHR: return "char"
    case S_IFBLK: return "block"
    default: return "other"
    }
}

/// Runs a short system command (mount, chmod...), returning its exit status.
@discardableResult
func runTool(_ executable: String, _ arguments: [String]) -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return -1 }
    process.waitUntilExit()
    return process.terminationStatus
}

/// Every byte string of `needles` found in `data` (PHI in a log or an output file).
func leaks(_ needles: [Data], in data: Data) -> [String] {
    needles.filter { data.range(of: $0) != nil }.map { String(decoding: $0, as: UTF8.self) }
}

/// Reproducible pseudo-random bytes (SplitMix64), for "not DICOM" and "corrupt database" content.
func noise(_ count: Int, seed: UInt64) -> Data {
    var state = seed
    var bytes = [UInt8]()
    bytes.reserveCapacity(count)
    while bytes.count < count {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        for shift in stride(from: 0, to: 64, by: 8) where bytes.count < count { bytes.append(UInt8(truncatingIfNeeded: z >> UInt64(shift))) }
    }
    return Data(bytes)
}
