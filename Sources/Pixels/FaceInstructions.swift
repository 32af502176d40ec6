import Defacing
import Deidentification
/// What the face stage asks of one file's pixels, from its series' verdict.
package enum FaceInstructions: Sendable {
    case quarantine(QuarantineReason)
    /// Part of a defaced series; the edit is nil for slices with no face voxels. `decoded` gives the
    /// file's stored values when the toolkit already decoded them for the series' volume.
    case deface(SliceEdit?, SliceHeader, decoded: DecodedSeries.File?)
    /// Part of a head series delivered with its face (MR or PET, by the site's choice).
    case keepFace

    /// For file `index` of a series judged `verdict`; nil when its pixels are the face stage's no concern.
    package init?(_ verdict: SeriesVerdict, file index: Int, headers: [Int: SliceHeader]) {
        switch verdict {
        case .metadataOnly:
            return nil
        case .faceKept:
            self = .keepFace
        case .faceNotRemoved(let reason):
            self = .quarantine(.faceNotRemoved(reason))
        case .quarantine(let reason):
            self = .quarantine(.cannotDeface(reason))
        case .defaced(_, let edits, _, _, let decoded):
            guard let header = headers[index] else { return nil }
            self = .deface(edits[index], header, decoded: decoded?.file(index))
        }
    }
}
