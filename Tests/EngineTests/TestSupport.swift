import DICOM
import Deidentification
import Foundation
import XCTest
@_exported import TestSupport

let testSecret = SiteSecret(bytes: Array(repeating: 7, count: 32))

extension DicomFile {
    /// Saves and loads again through DCMTK, as the pipeline does with real files.
    func roundTrip(in directory: URL, name: String = "t.dcm") throws -> DicomFile {
        let path = directory.appendingPathComponent(name).path
        try save(to: path)
        return try DicomFile(path: path)
    }
}
