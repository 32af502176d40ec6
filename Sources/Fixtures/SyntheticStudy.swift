import Foundation

/// What `SyntheticStudy.write` produced.
public struct WrittenStudy: Sendable {
    public let patient: SyntheticPatient
    /// The folder given to `write` (in `SampleInbox`: `inbox/<accession>`).
    public let patientFolder: URL
    /// `<patientFolder>/<FAMILY>_<GIVEN>_<StudyDate>`.
    public let studyFolder: URL
    /// `<studyFolder>/SE0002_CT_HEAD_<FAMILY>`.
    public let seriesFolder: URL
    /// One file per slice, in slice order (neck first, vertex last): `<seriesFolder>/IM_<SOPInstanceUID>.dcm`.
    public let files: [URL]
    public let studyInstanceUID: String
    public let seriesInstanceUID: String
    public let frameOfReferenceUID: String
    /// SOPInstanceUID per slice, same order as `files`.
    public let sopInstanceUIDs: [String]
    public let geometry: VolumeGeometry
    public let planted: PlantedPHI

    /// The same study after `patientFolder` was moved to `newPatientFolder`.
    public func relocated(to newPatientFolder: URL) -> WrittenStudy {
        let old = patientFolder.standardizedFileURL.path
        func move(_ u: URL) -> URL {
            let p = u.standardizedFileURL.path
            guard p.hasPrefix(old) else { return u }
            let rest = String(p.dropFirst(old.count)).split(separator: "/").map(String.init)
            return rest.reduce(newPatientFolder) { $0.appendingPathComponent($1) }
        }
        return WrittenStudy(
            patient: patient, patientFolder: newPatientFolder, studyFolder: move(studyFolder),
            seriesFolder: move(seriesFolder), files: files.map(move), studyInstanceUID: studyInstanceUID,
            seriesInstanceUID: seriesInstanceUID, frameOfReferenceUID: frameOfReferenceUID,
            sopInstanceUIDs: sopInstanceUIDs, geometry: geometry, planted: planted)
    }
}

/// A CT head study of one synthetic patient: one axial CT Image Storage series of the `HeadPhantom`,
/// with PHI planted in every place a scanner or PACS puts it (see `dataset(slice:geometry:pixelData:overlayData:)`).
/// Everything is derived from the patient's (seed, index): the same inputs give byte-identical files.
public struct SyntheticStudy: Sendable {
    public static let ctImageStorage = "1.2.840.10008.5.1.4.1.1.2"
    public static let privateCreator = "QUARTZ_PRIVATE_01"
    static let detachedStudyManagement = "1.2.840.10008.3.1.2.3.1"
    static let modalityPerformedProcedureStep = "1.2.840.10008.3.1.2.3.3"

    public let patient: SyntheticPatient
    public let phantom: HeadPhantom
    public let seriesNumber = 2

    public init(patient: SyntheticPatient, phantom: HeadPhantom = HeadPhantom()) {
        self.patient = patient
        self.phantom = phantom
    }

    /// Writes the series below `patientFolder` (created if needed).
    public static func writeSeries(patient: SyntheticPatient, slices: Int = 200, rows: Int = 512, columns: Int = 512,
                                   into patientFolder: URL) throws -> WrittenStudy {
        try SyntheticStudy(patient: patient).write(slices: slices, rows: rows, columns: columns, into: patientFolder)
    }

    // MARK: - identity

    public var studyInstanceUID: String { patient.uid(1) }
    public var seriesInstanceUID: String { patient.uid(2, seriesNumber) }
    public func sopInstanceUID(slice k: Int) -> String { patient.uid(3, k + 1) }
    public var frameOfReferenceUID: String { patient.uid(4) }
    public var instanceCreatorUID: String { patient.uid(5) }
    public var irradiationEventUID: String { patient.uid(6) }
    /// Referenced in ReferencedStudySequence.
    public var referencedStudyUID: String { patient.uid(7) }
    /// Referenced in ReferencedPerformedProcedureStepSequence.
    public var performedProcedureStepUID: String { patient.uid(8) }
    /// A localizer that is not part of the series, referenced in SourceImageSequence.
    public var scoutImageUID: String { patient.uid(9, 1) }
    /// Stored in the private element (0009,1003).
    public var privateUID: String { patient.uid(10) }
    /// Per-seed implementation class UID in the file meta information.
    public var implementationClassUID: String { patient.uidRoot + ".0.1" }

    public var studyFolderName: String { "\(patient.familyName)_\(patient.givenName)_\(patient.studyDate)" }
    public var seriesFolderName: String { "SE" + CivilDate.pad(seriesNumber, 4) + "_CT_HEAD_" + patient.familyName }
    public func fileName(slice k: Int) -> String { "IM_\(sopInstanceUID(slice: k)).dcm" }

    /// All PHI this study plants for a series of `slices` slices.
    public func plantedPHI(slices: Int) -> PlantedPHI {
        let p = patient
        var phi = PlantedPHI()
        phi.names = [p.patientName, p.otherPatientName, p.motherBirthName, p.previousPatientName,
                     p.referringPhysician, p.performingPhysician, p.operatorName, p.readingPhysician, p.requestingPhysician]
        phi.identifiers = [
            p.patientID, p.issuerOfPatientID, p.otherPatientID, p.otherPatientIDIssuer, p.accessionNumber, p.studyID,
            p.requestedProcedureID, p.scheduledProcedureStepID, p.performedProcedureStepID,
            p.address, p.streetWord, p.townWord, p.telephone,
            p.institutionName, String(p.institutionName.split(separator: " ")[0]), p.institutionAddress,
            p.institutionStreetWord, p.departmentName, p.wingWord, p.stationName, p.deviceSerialNumber,
            p.sourceAETitle, p.sendingAETitle, p.receivingAETitle, p.implementationVersionName, Self.modifyingSystem,
        ]
        phi.freeText = [p.historyWord, p.commentWord, p.occupation, p.ethnicGroup]
        phi.uids = [studyInstanceUID, seriesInstanceUID, frameOfReferenceUID, instanceCreatorUID, irradiationEventUID,
                    referencedStudyUID, performedProcedureStepUID, scoutImageUID, privateUID, implementationClassUID]
        for k in 0..<slices { phi.uids.insert(sopInstanceUID(slice: k)) }
        phi.dates = [p.birthDate]
        return phi
    }

    static let modifyingSystem = "QZPACS_MERGE"

    // MARK: - writing

    /// Writes `<patientFolder>/<study folder>/<series folder>/IM_<SOPInstanceUID>.dcm` for every slice.
    public func write(slices: Int = 200, rows: Int = 512, columns: Int = 512, into patientFolder: URL) throws -> WrittenStudy {
        let geometry = VolumeGeometry(slices: slices, rows: rows, columns: columns)
        let studyFolder = patientFolder.appendingPathComponent(studyFolderName, isDirectory: true)
        let seriesFolder = studyFolder.appendingPathComponent(seriesFolderName, isDirectory: true)
        try FileManager.default.createDirectory(at: seriesFolder, withIntermediateDirectories: true)

        let overlay = Self.overlayData(rows: rows, columns: columns)
        var pixels = [Int16](repeating: 0, count: rows * columns)
        var files: [URL] = []
        files.reserveCapacity(slices)
        for k in 0..<slices {
            pixels.withUnsafeMutableBufferPointer { phantom.renderSlice(k, geometry: geometry, into: $0) }
            let bytes = try fileBytes(slice: k, geometry: geometry, pixelData: Self.littleEndianBytes(pixels), overlayData: overlay)
            let url = seriesFolder.appendingPathComponent(fileName(slice: k), isDirectory: false)
            try bytes.write(to: url)
            files.append(url)
        }
        return WrittenStudy(
            patient: patient, patientFolder: patientFolder, studyFolder: studyFolder, seriesFolder: seriesFolder,
            files: files, studyInstanceUID: studyInstanceUID, seriesInstanceUID: seriesInstanceUID,
            frameOfReferenceUID: frameOfReferenceUID, sopInstanceUIDs: (0..<slices).map { sopInstanceUID(slice: $0) },
            geometry: geometry, planted: plantedPHI(slices: slices))
    }

    /// The complete Part 10 bytes of slice `k` (pixel data rendered from the phantom when not given).
    public func fileBytes(slice k: Int, geometry: VolumeGeometry, pixelData: Data? = nil, overlayData: Data? = nil) throws -> Data {
        let pixels = pixelData ?? Self.littleEndianBytes(phantom.slice(k, geometry: geometry))
        let overlay = overlayData ?? Self.overlayData(rows: geometry.rows, columns: geometry.columns)
        let p = patient
        let meta = DicomWriter.fileMeta(
            sopClassUID: Self.ctImageStorage, sopInstanceUID: sopInstanceUID(slice: k),
            implementationClassUID: implementationClassUID, implementationVersionName: p.implementationVersionName,
            sourceAETitle: p.sourceAETitle, sendingAETitle: p.sendingAETitle, receivingAETitle: p.receivingAETitle)
        return try DicomWriter.part10(preamble: preamble, meta: meta,
                                      dataset: dataset(slice: k, geometry: geometry, pixelData: pixels, overlayData: overlay))
    }

    /// 128 bytes: an export banner naming the patient (UTF-8), NUL-padded.
    public var preamble: Data {
        let p = patient
        var d = Data("QZPACS EXPORT|\(p.patientName)|\(p.patientID)|\(p.accessionNumber)|\(p.birthDate)|".utf8)
        if d.count > 128 { d = d.prefix(128) }
        d.append(Data(count: 128 - d.count))
        return d
    }

    /// Text in the file's character set: ISO-8859-1 bytes for the Latin-1 patient, UTF-8 (ASCII) otherwise.
    func text(_ s: String) -> DicomValue {
        if patient.usesLatin1 && !DicomText.isASCII(s) { return .latin1(s) }
        return .text(s)
    }

    func code(_ value: String, _ scheme: String, _ meaning: String) -> [DicomElement] {
        [DicomElement(0x0008, 0x0100, .SH, value), DicomElement(0x0008, 0x0102, .SH, scheme),
         DicomElement(0x0008, 0x0104, .LO, meaning)]
    }

    /// Seconds of day -> "HHMMSS" or "HHMMSS.FFFFFF".
    static func tm(_ seconds: Double, fraction: Bool) -> String {
        let whole = Int(seconds)
        var s = CivilDate.pad(whole / 3600 % 24, 2) + CivilDate.pad(whole / 60 % 60, 2) + CivilDate.pad(whole % 60, 2)
        if fraction {
            s += "." + CivilDate.pad(Int(((seconds - Double(whole)) * 1_000_000).rounded()), 6)
        }
        return s
    }

    var studySeconds: Double {
        let t = Array(patient.studyTime.utf8).map { Int($0) - 48 }
        return Double((t[0] * 10 + t[1]) * 3600 + (t[2] * 10 + t[3]) * 60 + t[4] * 10 + t[5])
    }

    /// The dataset of slice `k`.
    public func dataset(slice k: Int, geometry g: VolumeGeometry, pixelData: Data, overlayData: Data) -> [DicomElement] {
        let p = patient
        let n = g.slices
        let seriesSeconds = studySeconds + 120
        let acquisitionSeconds = seriesSeconds + 5 + Double(k) * 0.25
        let acqTime = Self.tm(acquisitionSeconds, fraction: true)
        let creationTime = Self.tm(acquisitionSeconds + 30, fraction: false)
        let previousSlice = (k - 1 + n) % n
        let humanName = p.givenName + " " + p.familyName
        let referrer = p.referringPhysician.replacingOccurrences(of: "^", with: " ")
        let ds = DicomText.ds
        let z = g.sliceZ[k]

        var e: [DicomElement] = []
        e.reserveCapacity(128)
        func add(_ g: UInt16, _ el: UInt16, _ vr: DicomVR, _ s: String) { e.append(DicomElement(tag: DicomTag(g, el), vr: vr, value: text(s))) }
        func add(_ g: UInt16, _ el: UInt16, _ vr: DicomVR, _ v: DicomValue) { e.append(DicomElement(tag: DicomTag(g, el), vr: vr, value: v)) }

        // SOP Common
        if let cs = p.specificCharacterSet { add(0x0008, 0x0005, .CS, cs) }
        add(0x0008, 0x0008, .CS, "ORIGINAL\\PRIMARY\\AXIAL")
        add(0x0008, 0x0012, .DA, p.studyDate)
        add(0x0008, 0x0013, .TM, creationTime)
        add(0x0008, 0x0014, .UI, instanceCreatorUID)
        add(0x0008, 0x0016, .UI, Self.ctImageStorage)
        add(0x0008, 0x0018, .UI, sopInstanceUID(slice: k))
        add(0x0008, 0x0201, .SH, "+0100")
        // General Study / Series / Image dates and times
        add(0x0008, 0x0020, .DA, p.studyDate)
        add(0x0008, 0x0021, .DA, p.studyDate)
        add(0x0008, 0x0022, .DA, p.studyDate)
        add(0x0008, 0x0023, .DA, p.studyDate)
        add(0x0008, 0x002A, .DT, p.studyDate + acqTime)
        add(0x0008, 0x0030, .TM, p.studyTime)
        add(0x0008, 0x0031, .TM, Self.tm(seriesSeconds, fraction: false))
        add(0x0008, 0x0032, .TM, acqTime)
        add(0x0008, 0x0033, .TM, acqTime)
        add(0x0008, 0x0050, .SH, p.accessionNumber)
        add(0x0008, 0x0060, .CS, "CT")
        add(0x0008, 0x0070, .LO, "SYNTHETIC PHANTOM WORKS")
        add(0x0008, 0x0080, .LO, p.institutionName)
        add(0x0008, 0x0081, .ST, p.institutionAddress)
        add(0x0008, 0x0090, .PN, p.referringPhysician)
        add(0x0008, 0x1010, .SH, p.stationName)
        add(0x0008, 0x1030, .LO, "CT HEAD \(p.familyName)")
        e.append(.sequence(0x0008, 0x1032, [code("CTHEADWO", "99QZLOC", "CT HEAD WITHOUT CONTRAST")]))
        add(0x0008, 0x103E, .LO, "AXIAL HEAD 1MM \(p.familyName)")
        add(0x0008, 0x1040, .LO, p.departmentName)
        add(0x0008, 0x1050, .PN, p.performingPhysician)
        add(0x0008, 0x1060, .PN, p.readingPhysician)
        add(0x0008, 0x1070, .PN, p.operatorName)
        add(0x0008, 0x1090, .LO, "PHANTOMSCAN 64")
        e.append(.sequence(0x0008, 0x1110, [[
            DicomElement(0x0008, 0x1150, .UI, Self.detachedStudyManagement),
            DicomElement(0x0008, 0x1155, .UI, referencedStudyUID),
        ]]))
        e.append(.sequence(0x0008, 0x1111, [[
            DicomElement(0x0008, 0x1150, .UI, Self.modalityPerformedProcedureStep),
            DicomElement(0x0008, 0x1155, .UI, performedProcedureStepUID),
        ]]))
        e.append(.sequence(0x0008, 0x1140, [[
            DicomElement(0x0008, 0x1150, .UI, Self.ctImageStorage),
            DicomElement(0x0008, 0x1155, .UI, sopInstanceUID(slice: previousSlice)),
        ]]))
        e.append(.sequence(0x0008, 0x2112, [[
            DicomElement(0x0008, 0x1150, .UI, Self.ctImageStorage),
            DicomElement(0x0008, 0x1155, .UI, scoutImageUID),
        ]]))
        add(0x0008, 0x3010, .UI, irradiationEventUID)

        // Private block (0009,10xx) owned by QUARTZ_PRIVATE_01
        add(0x0009, 0x0010, .LO, Self.privateCreator)
        add(0x0009, 0x1001, .LO, p.patientName)
        add(0x0009, 0x1002, .LO, p.patientID)
        add(0x0009, 0x1003, .UI, privateUID)
        e.append(.sequence(0x0009, 0x1004, [[
            DicomElement(tag: DicomTag(0x0009, 0x0010), vr: .LO, value: .text(Self.privateCreator)),
            DicomElement(tag: DicomTag(0x0009, 0x1001), vr: .LO, value: text(p.patientName)),
        ]]))
        let unBytes: Data = p.usesLatin1 ? DicomText.latin1Bytes(p.patientName) : Data(p.patientName.utf8)
        add(0x0009, 0x1005, .UN, .bytes(unBytes))

        // Patient
        add(0x0010, 0x0010, .PN, p.patientName)
        add(0x0010, 0x0020, .LO, p.patientID)
        add(0x0010, 0x0021, .LO, p.issuerOfPatientID)
        add(0x0010, 0x0030, .DA, p.birthDate)
        add(0x0010, 0x0032, .TM, p.birthTime)
        add(0x0010, 0x0040, .CS, p.sex)
        add(0x0010, 0x1000, .LO, p.otherPatientID)
        add(0x0010, 0x1001, .PN, p.otherPatientName)
        e.append(.sequence(0x0010, 0x1002, [[
            DicomElement(0x0010, 0x0020, .LO, p.otherPatientID),
            DicomElement(0x0010, 0x0021, .LO, p.otherPatientIDIssuer),
            DicomElement(0x0010, 0x0022, .CS, "TEXT"),
        ]]))
        add(0x0010, 0x1010, .AS, p.age)
        add(0x0010, 0x1020, .DS, p.size)
        add(0x0010, 0x1030, .DS, p.weight)
        add(0x0010, 0x1040, .LO, p.address)
        add(0x0010, 0x1060, .PN, p.motherBirthName)
        add(0x0010, 0x2154, .SH, p.telephone)
        add(0x0010, 0x2160, .SH, p.ethnicGroup)
        add(0x0010, 0x2180, .SH, p.occupation)
        add(0x0010, 0x21B0, .LT, "\(humanName) reports headaches since a fall at \(p.historyWord) farm; born \(p.birthDate).")
        add(0x0010, 0x4000, .LT, "Lives with her sister \(p.commentWord) \(p.familyName); phone \(p.telephone).")

        // Acquisition (CT Image, General Series, Equipment)
        add(0x0018, 0x0015, .CS, "HEAD")
        add(0x0018, 0x0022, .CS, "HELICAL MODE")
        add(0x0018, 0x0050, .DS, ds(g.sliceSpacing))
        add(0x0018, 0x0060, .DS, "120")
        add(0x0018, 0x0088, .DS, ds(g.sliceSpacing))
        add(0x0018, 0x0090, .DS, "500")
        add(0x0018, 0x1000, .LO, p.deviceSerialNumber)
        add(0x0018, 0x1020, .LO, "SYNTH 1.0")
        add(0x0018, 0x1030, .LO, "HEAD_ROUTINE_\(p.familyName)")
        add(0x0018, 0x1100, .DS, ds(Double(g.columns) * g.pixelSpacing))
        add(0x0018, 0x1110, .DS, "1085.6")
        add(0x0018, 0x1111, .DS, "595")
        add(0x0018, 0x1120, .DS, "0")
        add(0x0018, 0x1130, .DS, "152")
        add(0x0018, 0x1140, .CS, "CW")
        add(0x0018, 0x1150, .IS, "1000")
        add(0x0018, 0x1151, .IS, "280")
        add(0x0018, 0x1152, .IS, "280")
        add(0x0018, 0x1160, .SH, "FLAT")
        add(0x0018, 0x1170, .IS, "34")
        add(0x0018, 0x1190, .DS, "1.2")
        add(0x0018, 0x1210, .SH, "H30S")
        add(0x0018, 0x5100, .CS, "HFS")
        add(0x0018, 0x9345, .FD, .float64([58.3]))
        e.append(.sequence(0x0018, 0x9346, [code("113691", "DCM", "IEC Head Dosimetry Phantom")]))

        // Relationship, Image Plane
        add(0x0020, 0x000D, .UI, studyInstanceUID)
        add(0x0020, 0x000E, .UI, seriesInstanceUID)
        add(0x0020, 0x0010, .SH, p.studyID)
        add(0x0020, 0x0011, .IS, String(seriesNumber))
        add(0x0020, 0x0012, .IS, "1")
        add(0x0020, 0x0013, .IS, String(k + 1))
        add(0x0020, 0x0032, .DS, "\(ds(g.originX))\\\(ds(g.originY))\\\(ds(z))")
        add(0x0020, 0x0037, .DS, "1\\0\\0\\0\\1\\0")
        add(0x0020, 0x0052, .UI, frameOfReferenceUID)
        add(0x0020, 0x1040, .LO, .empty)
        add(0x0020, 0x1041, .DS, ds(z))
        add(0x0020, 0x4000, .LT, "Slice \(k + 1) of \(n) for \(humanName), referred by \(referrer).")

        // Image Pixel, CT Image, VOI LUT
        add(0x0028, 0x0002, .US, .uint16([1]))
        add(0x0028, 0x0004, .CS, "MONOCHROME2")
        add(0x0028, 0x0010, .US, .uint16([UInt16(g.rows)]))
        add(0x0028, 0x0011, .US, .uint16([UInt16(g.columns)]))
        add(0x0028, 0x0030, .DS, "\(ds(g.pixelSpacing))\\\(ds(g.pixelSpacing))")
        add(0x0028, 0x0100, .US, .uint16([16]))
        add(0x0028, 0x0101, .US, .uint16([16]))
        add(0x0028, 0x0102, .US, .uint16([15]))
        add(0x0028, 0x0103, .US, .uint16([1]))
        add(0x0028, 0x1050, .DS, "40\\600")
        add(0x0028, 0x1051, .DS, "80\\2800")
        add(0x0028, 0x1052, .DS, "0")
        add(0x0028, 0x1053, .DS, "1")
        add(0x0028, 0x1054, .LO, "HU")
        add(0x0028, 0x1055, .LO, "BRAIN\\BONE")
        add(0x0028, 0x2110, .CS, "00")

        // Request / procedure step (General Series, Imaging Service Request)
        add(0x0032, 0x1032, .PN, p.requestingPhysician)
        add(0x0040, 0x0244, .DA, p.studyDate)
        add(0x0040, 0x0245, .TM, p.studyTime)
        add(0x0040, 0x0253, .SH, p.performedProcedureStepID)
        add(0x0040, 0x0254, .LO, "CT HEAD \(p.familyName)")
        // RequestAttributesSequence (undefined length) > ScheduledProtocolCodeSequence >
        // ProtocolContextSequence (undefined length) > items naming the patient (depth 3).
        let protocolContext = DicomElement.sequence(0x0040, 0x0440, [
            [
                DicomElement(0x0040, 0xA040, .CS, "PNAME"),
                .sequence(0x0040, 0xA043, [code("QZ0001", "99QZLOC", "Patient name as scheduled")]),
                DicomElement(tag: DicomTag(0x0040, 0xA123), vr: .PN, value: text(p.patientName)),
            ],
            [
                DicomElement(0x0040, 0xA040, .CS, "TEXT"),
                .sequence(0x0040, 0xA043, [code("QZ0002", "99QZLOC", "Scheduling note")]),
                DicomElement(tag: DicomTag(0x0040, 0xA160), vr: .UT,
                             value: text("Scheduled for \(humanName) (\(p.patientID)) at the request of \(p.requestingPhysician).")),
            ],
        ], undefinedLength: true)
        e.append(.sequence(0x0040, 0x0275, [[
            DicomElement(0x0008, 0x0050, .SH, p.accessionNumber),
            DicomElement(0x0020, 0x000D, .UI, studyInstanceUID),
            DicomElement(tag: DicomTag(0x0032, 0x1060), vr: .LO, value: text("CT head for \(humanName)")),
            DicomElement(0x0040, 0x0007, .LO, "CT HEAD ROUTINE"),
            .sequence(0x0040, 0x0008, [code("CTHEADWO", "99QZLOC", "CT HEAD WITHOUT CONTRAST") + [protocolContext]]),
            DicomElement(0x0040, 0x0009, .SH, p.scheduledProcedureStepID),
            DicomElement(0x0040, 0x1001, .SH, p.requestedProcedureID),
        ]], undefinedLength: true))

        // Original Attributes (SOP Common): an earlier, misspelt PatientName
        e.append(.sequence(0x0400, 0x0561, [[
            .sequence(0x0400, 0x0550, [[
                DicomElement(tag: DicomTag(0x0010, 0x0010), vr: .PN, value: text(p.previousPatientName)),
            ]]),
            DicomElement(0x0400, 0x0562, .DT, p.studyDate + "080000"),
            DicomElement(0x0400, 0x0563, .LO, Self.modifyingSystem),
            DicomElement(0x0400, 0x0564, .LO, p.otherPatientIDIssuer),
            DicomElement(0x0400, 0x0565, .CS, "CORRECT"),
        ]]))

        // Retired curve group and an overlay plane naming the patient
        add(0x5000, 0x2500, .LO, "CURVE \(humanName)")
        add(0x6000, 0x0010, .US, .uint16([UInt16(g.rows)]))
        add(0x6000, 0x0011, .US, .uint16([UInt16(g.columns)]))
        add(0x6000, 0x0022, .LO, "MARKUP FOR \(p.familyName)")
        add(0x6000, 0x0040, .CS, "G")
        add(0x6000, 0x0045, .LO, "USER")
        add(0x6000, 0x0050, .SS, .int16([1, 1]))
        add(0x6000, 0x0100, .US, .uint16([1]))
        add(0x6000, 0x0102, .US, .uint16([0]))
        add(0x6000, 0x1500, .LO, p.patientName)
        add(0x6000, 0x3000, .OW, .bytes(overlayData))
        add(0x6000, 0x4000, .LT, "Overlay drawn for \(humanName)")

        add(0x7FE0, 0x0010, .OW, .bytes(pixelData))
        return e
    }

    /// Pixel values as little-endian bytes.
    static func littleEndianBytes(_ values: [Int16]) -> Data {
        #if _endian(big)
        return values.map { $0.littleEndian }.withUnsafeBytes { Data($0) }
        #else
        return values.withUnsafeBytes { Data($0) }
        #endif
    }

    /// A 1-bit overlay (a rectangle outline), packed LSB first, padded to an even byte count.
    static func overlayData(rows: Int, columns: Int) -> Data {
        let bits = rows * columns
        var bytes = [UInt8](repeating: 0, count: (bits + 15) / 16 * 2)
        let r0 = rows / 8, r1 = rows - 1 - rows / 8, c0 = columns / 8, c1 = columns - 1 - columns / 8
        func set(_ r: Int, _ c: Int) {
            let i = r * columns + c
            bytes[i >> 3] |= UInt8(1) << UInt8(i & 7)
        }
        if r0 < r1 && c0 < c1 {
            for c in c0...c1 { set(r0, c); set(r1, c) }
            for r in r0...r1 { set(r, c0); set(r, c1) }
        }
        return Data(bytes)
    }
}
