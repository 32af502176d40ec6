/// A DICOM attribute tag (group, element).
public struct Tag: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let group: UInt16
    public let element: UInt16

    public init(_ group: UInt16, _ element: UInt16) {
        self.group = group
        self.element = element
    }

    /// Packed as 0xGGGGEEEE, the key of the profile's lookup table.
    public var key: UInt32 { UInt32(group) << 16 | UInt32(element) }

    public var isPrivate: Bool { group & 1 == 1 }
    /// (gggg,0010-00FF) in an odd group reserves a block of private elements.
    public var isPrivateCreator: Bool { isPrivate && element >= 0x10 && element <= 0xFF }
    public var isGroupLength: Bool { element == 0 }
    public var isFileMeta: Bool { group == 0x0002 }

    public static func < (lhs: Tag, rhs: Tag) -> Bool { lhs.key < rhs.key }

    public var description: String {
        "(" + hex(group) + "," + hex(element) + ")"
    }

    private func hex(_ value: UInt16) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: 4 - digits.count) + digits
    }
}

extension Tag {
    public static let specificCharacterSet = Tag(0x0008, 0x0005)
    public static let imageType = Tag(0x0008, 0x0008)
    public static let sopClassUID = Tag(0x0008, 0x0016)
    public static let sopInstanceUID = Tag(0x0008, 0x0018)
    public static let studyDate = Tag(0x0008, 0x0020)
    public static let accessionNumber = Tag(0x0008, 0x0050)
    public static let modality = Tag(0x0008, 0x0060)
    public static let patientName = Tag(0x0010, 0x0010)
    public static let patientID = Tag(0x0010, 0x0020)
    public static let patientBirthDate = Tag(0x0010, 0x0030)
    public static let patientAge = Tag(0x0010, 0x1010)
    public static let patientIdentityRemoved = Tag(0x0012, 0x0062)
    public static let deidentificationMethod = Tag(0x0012, 0x0063)
    public static let deidentificationMethodCodeSequence = Tag(0x0012, 0x0064)
    public static let codeValue = Tag(0x0008, 0x0100)
    public static let codingSchemeDesignator = Tag(0x0008, 0x0102)
    public static let codeMeaning = Tag(0x0008, 0x0104)
    public static let samplesPerPixel = Tag(0x0028, 0x0002)
    public static let numberOfFrames = Tag(0x0028, 0x0008)
    public static let rows = Tag(0x0028, 0x0010)
    public static let columns = Tag(0x0028, 0x0011)
    public static let bitsAllocated = Tag(0x0028, 0x0100)
    public static let burnedInAnnotation = Tag(0x0028, 0x0301)
    public static let recognizableVisualFeatures = Tag(0x0028, 0x0302)
    public static let longitudinalTemporalInformationModified = Tag(0x0028, 0x0303)
    public static let pixelData = Tag(0x7FE0, 0x0010)
    public static let mediaStorageSOPClassUID = Tag(0x0002, 0x0002)
}
