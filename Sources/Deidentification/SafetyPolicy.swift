/// What may be delivered at all. Objects off the allow-list or with burned-in text are
/// quarantined: metadata de-identification cannot make their pixels or content safe.
public enum SafetyPolicy {
    /// Image storage classes whose identifying content is in attributes the profile handles.
    /// Secondary captures (dose screens, screenshots), SR, PDF, raw data and presentation
    /// states are absent on purpose.
    public static let allowedSOPClasses: [String: String] = [
        "1.2.840.10008.5.1.4.1.1.2": "CT Image Storage",
        "1.2.840.10008.5.1.4.1.1.2.1": "Enhanced CT Image Storage",
        "1.2.840.10008.5.1.4.1.1.2.2": "Legacy Converted Enhanced CT Image Storage",
        "1.2.840.10008.5.1.4.1.1.4": "MR Image Storage",
        "1.2.840.10008.5.1.4.1.1.4.1": "Enhanced MR Image Storage",
        "1.2.840.10008.5.1.4.1.1.4.4": "Legacy Converted Enhanced MR Image Storage",
        "1.2.840.10008.5.1.4.1.1.128": "Positron Emission Tomography Image Storage",
        "1.2.840.10008.5.1.4.1.1.130": "Enhanced PET Image Storage",
        "1.2.840.10008.5.1.4.1.1.128.1": "Legacy Converted Enhanced PET Image Storage",
    ]
}

/// Why a file is not delivered. The raw value is what the audit database records.
public enum QuarantineReason: Sendable, Equatable, CustomStringConvertible {
    case unreadable(String)
    case sopClassNotAllowed(String)
    case missingSOPClass
    /// The dataset has no SOPInstanceUID: the object cannot be told from any other.
    case missingSOPInstance
    /// The file meta group's length does not match its elements: the reader took dataset
    /// elements for meta (or meta for dataset), and checks on the dataset would see the wrong thing.
    case fileMetaMismatch(String)
    case burnedInAnnotation
    /// A localizer/scout, with the region its header names: only one of the head shows the face.
    case localizer(BodyRegion)
    case pixelDataTruncated(expected: Int, found: Int)
    /// Native pixel data longer than its frames (and the one byte that pads an odd length), or
    /// encapsulated fragments beyond them: the bytes beyond are no image and could hold anything.
    case pixelDataOverlong(String)
    case writeFailed(String)
    /// A head series that cannot be defaced (not assembled, not decodable, too short).
    case cannotDeface(String)
    /// An MR or PET series of the head (or that may be one): not defaced by this product, so not
    /// delivered unless the site chooses to (`undefaced_heads = deliver`).
    case faceNotRemoved(String)
    /// Text found in the pixels, with the policy `quarantine`.
    case burnedInText(String)
    /// Text still found after masking.
    case burnedInTextResidual
    /// The pixels could not be checked for text (not decodable, an unsupported layout).
    case burnedInTextUnchecked(String)

    public var description: String {
        switch self {
        case .unreadable(let why): "not a readable DICOM file: \(why)"
        case .sopClassNotAllowed(let uid): "SOP class \(uid) is not an allowed image storage class"
        case .missingSOPClass: "no SOP Class UID in the dataset"
        case .missingSOPInstance: "no SOP Instance UID in the dataset"
        case .fileMetaMismatch(let why): "the file meta information does not match its group length: \(why)"
        case .burnedInAnnotation: "BurnedInAnnotation is YES"
        case .localizer(.head): "localizer/scout image of the head (shows the face in profile)"
        case .localizer(.elsewhere): "localizer/scout image (a projection image; not delivered unless localizers = blank)"
        case .localizer(.unnamed): "localizer/scout image (its header names no body region: it may show the face in profile)"
        case .pixelDataTruncated(let expected, let found): "pixel data shorter than Rows x Columns x frames (\(found) of \(expected) bytes)"
        case .pixelDataOverlong(let why): "the pixel data holds more than its frames: \(why)"
        case .writeFailed(let why): "cannot write the de-identified file: \(why)"
        case .cannotDeface(let why): why
        case .faceNotRemoved(let why): why
        case .burnedInText(let why): why
        case .burnedInTextResidual: "text remains in the pixels after masking"
        case .burnedInTextUnchecked(let why): "the pixels cannot be checked for burned-in text: \(why)"
        }
    }

    /// A short stable code for queries.
    public var code: String {
        switch self {
        case .unreadable: "unreadable"
        case .sopClassNotAllowed: "sop-class-not-allowed"
        case .missingSOPClass: "no-sop-class"
        case .missingSOPInstance: "no-sop-instance"
        case .fileMetaMismatch: "file-meta-mismatch"
        case .burnedInAnnotation: "burned-in-annotation"
        case .localizer: "localizer"
        case .pixelDataTruncated: "pixel-data-truncated"
        case .pixelDataOverlong: "pixel-data-overlong"
        case .writeFailed: "write-failed"
        case .cannotDeface: "cannot-deface"
        case .faceNotRemoved: "face-not-removed"
        case .burnedInText: "burned-in-text"
        case .burnedInTextResidual: "burned-in-text-residual"
        case .burnedInTextUnchecked: "burned-in-text-unchecked"
        }
    }
}
