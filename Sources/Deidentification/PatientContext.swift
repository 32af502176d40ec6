import DICOM
import Foundation
import Platform

/// What is known about the patient a file belongs to.
public struct PatientContext: Sendable {
    public let deidentificationID: String
    /// Present when the modified-dates option is on.
    public let dateShifter: DateShifter?

    public init(deidentificationID: String, dateShifter: DateShifter?) {
        self.deidentificationID = deidentificationID
        self.dateShifter = dateShifter
    }
}
