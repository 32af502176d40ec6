import Foundation
import Platform

/// One input file of a patient folder and the neutral path it gets in the output.
public struct PlannedFile: Sendable {
    /// Path relative to the patient folder, as found.
    public let relativePath: String
    /// Path relative to the study folder in the output.
    public let outputPath: String
    public let size: Int64
}

/// Something in a patient folder that is not processed, and why.
public struct IgnoredEntry: Sendable {
    public let relativePath: String
    public let reason: String
}

/// The files of one patient folder, listed without following symbolic links, with neutral
/// output names decided up front from the sorted listing so re-runs give identical names.
public struct PatientFolder: Sendable {
    public let url: URL
    public let name: String
    public let files: [PlannedFile]
    public let ignored: [IgnoredEntry]
    /// How each folder and file looked when listed. A job is delivered only if the folder still
    /// looks so after it was processed (`hasChanged`): the folder is listed once per pass, and
    /// checked, not listed again, at its end.
    private let stamps: [Stamp]

    /// A listed path's modification time and size. A folder's time changes when an entry is added,
    /// removed or renamed in it (hidden and `*.partial` ones too); a file's when it is written.
    private struct Stamp: Sendable, Equatable {
        let path: String
        let seconds: Int
        let nanoseconds: Int
        let size: Int64

        init(_ path: String, _ info: stat) {
            self.path = path
            seconds = info.st_mtim.tv_sec
            nanoseconds = info.st_mtim.tv_nsec
            size = Int64(info.st_size)
        }
    }

    public init(url: URL, keepNames: Bool = false) throws(PipelineError) {
        self.url = url
        name = url.lastPathComponent
        var files: [PlannedFile] = []
        var ignored: [IgnoredEntry] = []
        var stamps: [Stamp] = []
        // The folder's own stamp first, so an entry added at its top is seen too.
        if let info = RawName.lstat(url.path) { stamps.append(Stamp(url.path, info)) }
        try Self.walk(url.path, relative: "", output: "", keepNames: keepNames, files: &files, ignored: &ignored,
                      stamps: &stamps)
        self.files = files
        self.ignored = ignored
        self.stamps = stamps
    }

    /// True when the folder is gone, or an entry was added, removed, renamed, written or touched
    /// since it was listed. Stats what was listed; reads no folder again.
    public func hasChanged() -> Bool {
        stamps.contains { stamp in
            guard let info = RawName.lstat(stamp.path) else { return true }
            return Stamp(stamp.path, info) != stamp
        }
    }

    /// A path deeper than the system allows: its files cannot be opened, so the folder is refused as
    /// a whole (rather than processed without them, or taken for empty).
    package static let tooLong = PipelineError(reason: "a path in the folder is longer than this system allows (PATH_MAX, \(PATH_MAX) bytes): "
                                       + "its files cannot be read; move them to shallower folders")

    /// Names are listed as bytes (readdir) and carried in RawName's text form, so a name that is not
    /// UTF-8 still names its file; paths are in that form too (`folder.url.path + "/" + relativePath`).
    private static func walk(_ path: String, relative: String, output: String, keepNames: Bool,
                             files: inout [PlannedFile], ignored: inout [IgnoredEntry],
                             stamps: inout [Stamp]) throws(PipelineError) {
        let names: [String]
        switch RawName.list(path) {
        case .success(let listed): names = listed.sorted()
        case .failure(let error):
            if error.code.rawValue == ENAMETOOLONG { throw tooLong }
            // No path in the message: folder names below the inbox name the patient.
            throw PipelineError(reason: "cannot list a folder of the input: \(String(cString: strerror(error.code.rawValue)))")
        }
        var directoryNumber = 0
        var fileNumber = 0
        for name in names {
            let full = path + "/" + name
            let rel = relative.isEmpty ? name : relative + "/" + name
            if name.hasPrefix(".") || name.hasSuffix(".partial") {
                ignored.append(IgnoredEntry(relativePath: rel, reason: "hidden or partial file"))
                continue
            }
            if full.utf8.count >= Int(PATH_MAX) { throw tooLong }
            guard let info = RawName.lstat(full) else {
                if errno == ENAMETOOLONG { throw tooLong }
                ignored.append(IgnoredEntry(relativePath: rel, reason: "cannot stat: \(String(cString: strerror(errno)))"))
                continue
            }
            stamps.append(Stamp(full, info))
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                directoryNumber += 1
                let out = keepNames ? RawName.writable(name) : String(format: "D%03d", directoryNumber)
                try walk(full, relative: rel, output: output.isEmpty ? out : output + "/" + out, keepNames: keepNames,
                         files: &files, ignored: &ignored, stamps: &stamps)
            case S_IFREG:
                fileNumber += 1
                let out = keepNames ? RawName.writable(name) : String(format: "IM%05d.dcm", fileNumber)
                files.append(PlannedFile(relativePath: rel, outputPath: output.isEmpty ? out : output + "/" + out,
                                         size: Int64(info.st_size)))
            case S_IFLNK:
                ignored.append(IgnoredEntry(relativePath: rel, reason: "symbolic link (never followed)"))
            default:
                ignored.append(IgnoredEntry(relativePath: rel, reason: "not a regular file"))
            }
        }
    }
}

public struct PipelineError: ReasonedError, Sendable, CustomStringConvertible {
    public let reason: String
    package init(reason: String) { self.reason = reason }
    public var description: String { reason }
}
