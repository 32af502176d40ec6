import Foundation

/// Sample inboxes for `make demo`, `make bench` and the end-to-end tests.
public enum SampleInbox {
    /// Header line of the mapping CSV.
    public static let csvHeader = "Accession_number,De-identification_ID"

    /// Writes `patients` studies into `inbox`, one folder per patient named by its accession number
    /// (`inbox/<accession>/<FAMILY>_<GIVEN>_<date>/SE0002_CT_HEAD_<FAMILY>/IM_<uid>.dcm`), and the
    /// mapping CSV (`Accession_number,De-identification_ID`, one line per patient, `DEID-0001`, ...).
    ///
    /// The CSV is written first (atomically). Each patient folder is written to the sibling
    /// `inbox/.tmp-<accession>` and then renamed into place, so a watcher never sees half a folder.
    /// An existing `inbox/<accession>` is replaced.
    @discardableResult
    public static func write(to inbox: URL, mappingCSV: URL, patients: Int = 3, slices: Int = 200, size: Int = 512,
                             seed: UInt64 = 1) throws -> [WrittenStudy] {
        let fm = FileManager.default
        try fm.createDirectory(at: inbox, withIntermediateDirectories: true)
        let people = (0..<patients).map { SyntheticPatient(seed: seed, index: $0) }

        var csv = csvHeader + "\n"
        for p in people { csv += "\(p.accessionNumber),\(p.deidentificationID)\n" }
        try fm.createDirectory(at: mappingCSV.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(csv.utf8).write(to: mappingCSV, options: .atomic)

        var written: [WrittenStudy] = []
        for p in people {
            let tmp = inbox.appendingPathComponent(".tmp-" + p.accessionNumber, isDirectory: true)
            let final = inbox.appendingPathComponent(p.inboxFolderName, isDirectory: true)
            if fm.fileExists(atPath: tmp.path) { try fm.removeItem(at: tmp) }
            let study = try SyntheticStudy.writeSeries(patient: p, slices: slices, rows: size, columns: size, into: tmp)
            if fm.fileExists(atPath: final.path) { try fm.removeItem(at: final) }
            try fm.moveItem(at: tmp, to: final)
            written.append(study.relocated(to: final))
        }
        return written
    }
}
