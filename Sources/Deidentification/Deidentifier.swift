import DICOM
import Foundation
import Platform

/// Applies a Profile to one file: the walker visits every element at every depth, the table
/// decides what happens, and small helpers (UIDRemapper, DateShifter, DummyValue,
/// IdentityTokens) decide how.
public struct Deidentifier: Sendable {
    public let profile: Profile
    public let uids: UIDRemapper
    public let toolVersion: String
    public var safePrivate: Set<SafePrivateAttribute> = SafePrivateAttribute.defaults
    /// Localizers/scouts show the face in profile: quarantined, or (when set) delivered with every
    /// pixel set to air.
    public var blankLocalizers = false
    /// What happens to images with text in their pixels (and to BurnedInAnnotation=YES).
    public var burnedIn: BurnedInPolicy = .mask
    /// Shared by the copies handed to worker threads.
    package let tokenCache = IdentityTokenCache()

    public init(profile: Profile, uids: UIDRemapper, toolVersion: String = EngineVersion.string) {
        self.profile = profile
        self.uids = uids
        self.toolVersion = toolVersion
    }

    /// Why this file cannot be made safe by metadata de-identification, if it cannot.
    public func quarantineReason(for file: DicomFile) -> QuarantineReason? {
        let dataset = file.dataset
        // The checks read the dataset, whatever the meta claims: an over-long (0002,0000) makes
        // the reader take the dataset's first elements (SOPClassUID among them) for meta.
        if let stray = file.meta.elements.first(where: { $0.tag.group != 0x0002 }) {
            return .fileMetaMismatch("element \(stray.tag) read as file meta")
        }
        if let stray = dataset.elements.first(where: { $0.tag.group == 0x0002 }) {
            return .fileMetaMismatch("file meta element \(stray.tag) read as dataset")
        }
        guard let sopClass = dataset.string(.sopClassUID), !sopClass.isEmpty else { return .missingSOPClass }
        guard let instance = dataset.string(.sopInstanceUID), !instance.isEmpty else { return .missingSOPInstance }
        if SafetyPolicy.allowedSOPClasses[sopClass] == nil { return .sopClassNotAllowed(sopClass) }
        // With the pixel check on, such images take the same path as every other: masked or quarantined by what is found.
        if burnedIn == .off, dataset.string(.burnedInAnnotation)?.uppercased() == "YES" { return .burnedInAnnotation }
        if Self.isLocalizer(dataset) && !blankLocalizers { return .localizer(BodyRegion(dataset)) }
        if TransferSyntax.native.contains(file.transferSyntax),
           let rows = dataset.uint16(.rows), let columns = dataset.uint16(.columns),
           let bits = dataset.uint16(.bitsAllocated), bits > 0,
           let length = file.pixelDataLength, length != 0xFFFF_FFFF {
            let samples = Int(dataset.uint16(.samplesPerPixel) ?? 1)
            let frames = max(1, Int(dataset.string(.numberOfFrames) ?? "1") ?? 1)
            let expected = (Int(rows) * Int(columns) * samples * frames * Int(bits) + 7) / 8
            if Int(length) < expected { return .pixelDataTruncated(expected: expected, found: Int(length)) }
            if Int(length) > expected + (expected & 1) {
                return .pixelDataOverlong("\(length) bytes where \(expected) hold Rows x Columns x frames")
            }
        }
        if file.pixelDataLength == 0xFFFF_FFFF, let fragments = file.pixelFragments,
           let why = PixelFragments.beyondFrames(fragments, frames: max(1, Int(dataset.string(.numberOfFrames) ?? "1") ?? 1),
                                                 transferSyntax: file.transferSyntax) {
            return .pixelDataOverlong(why)
        }
        return nil
    }

    package static func isLocalizer(_ dataset: DicomItem) -> Bool {
        dataset.strings(.imageType).contains { $0.uppercased() == "LOCALIZER" }
    }

    /// De-identifies the file in memory. Call `quarantineReason(for:)` first. `defaced` declares
    /// that the face was removed from the pixels of this file's series.
    /// `faceKept`: the file is part of a head series delivered with its face (MR or PET, by the
    /// site's choice); it is declared so (RecognizableVisualFeatures=YES).
    public func apply(to file: DicomFile, patient: PatientContext, defaced: Bool = false, textMasked: Bool = false,
                      faceKept: Bool = false) {
        let dataset = file.dataset
        var walk = ElementWalk(deidentifier: self, patient: patient,
                        characterSet: dataset.string(.specificCharacterSet) ?? "")
        // Age is a patient characteristic computed from dates that are about to go.
        var age: String?
        if profile.options.contains(.retainPatientCharacteristics), (dataset.string(.patientAge) ?? "").isEmpty,
           let birth = dataset.string(.patientBirthDate),
           let date = [Tag.studyDate, Tag(0x0008, 0x0021), Tag(0x0008, 0x0022), Tag(0x0008, 0x0023)]
               .lazy.compactMap({ dataset.string($0) }).first(where: { !$0.isEmpty }) {
            age = DateShifter.age(birth: birth, at: date)
        }
        walk.collectTokens(dataset)
        walk.process(dataset)

        let id = patient.deidentificationID
        dataset.put(.patientName, id, vr: "PN")
        dataset.put(.patientID, id, vr: "LO")
        dataset.put(.accessionNumber, id, vr: "SH")
        if let age { dataset.put(.patientAge, age, vr: "AS") }
        declare(on: dataset, defaced: defaced, textMasked: textMasked)
        if faceKept { dataset.put(.recognizableVisualFeatures, "YES", vr: "CS") }
    }

    private func declare(on dataset: DicomItem, defaced: Bool, textMasked: Bool) {
        dataset.put(.patientIdentityRemoved, "YES", vr: "CS")
        let options = profile.options.sorted()
        let method = ["ctdeid \(toolVersion)", "PS3.15 \(profile.edition) Table E.1-1 Basic Profile"]
            + options.map(\.rawValue) + (defaced ? ["3-D face removal"] : []) + (textMasked ? ["burned-in text masked"] : [])
        dataset.put(.deidentificationMethod, method.joined(separator: "\\"), vr: "LO")
        dataset.remove(.deidentificationMethodCodeSequence)
        if defaced { dataset.put(.recognizableVisualFeatures, "NO", vr: "CS") }
        if textMasked { dataset.put(.burnedInAnnotation, "NO", vr: "CS") }
        let pixelCodes: [CodedConcept] = (textMasked ? [.cleanPixelData] : []) + (defaced ? [.cleanRecognizableVisualFeatures] : [])
        for code in [CodedConcept.basicProfile] + options.map(\.code) + pixelCodes {
            guard let item = dataset.appendItem(.deidentificationMethodCodeSequence) else { continue }
            item.put(.codeValue, code.value, vr: "SH")
            item.put(.codingSchemeDesignator, code.scheme, vr: "SH")
            item.put(.codeMeaning, code.meaning, vr: "LO")
        }
        let temporal = profile.options.contains(.modifiedDates) ? "MODIFIED"
            : profile.options.contains(.retainFullDates) ? "UNMODIFIED" : "REMOVED"
        dataset.put(.longitudinalTemporalInformationModified, temporal, vr: "CS")
    }
}
