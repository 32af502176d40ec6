import DICOM
/// Which part of the body a series shows, by what its header says. For MR and PET series, which this
/// product does not deface, it is the only evidence there is (a CT series is judged by its pixels:
/// `SkullCheck`). It errs towards the head: a series whose header names no region may be one.
public enum BodyRegion: Sendable, Equatable {
    /// A field names the head (or the whole body, which includes it): the attribute that does.
    case head(String)
    /// Fields name a region away from the head, and none names the head.
    case elsewhere
    /// No field names a region.
    case unnamed

    /// The attributes read, with their keywords (named in reasons; their values never are).
    package static let fields: [(Tag, String)] = [
        (Tag(0x0018, 0x0015), "BodyPartExamined"), (Tag(0x0008, 0x1030), "StudyDescription"),
        (Tag(0x0008, 0x103E), "SeriesDescription"), (Tag(0x0018, 0x1030), "ProtocolName"),
        (Tag(0x0032, 0x1060), "RequestedProcedureDescription"), (Tag(0x0040, 0x0254), "PerformedProcedureStepDescription"),
    ]

    /// Words of the head and what shows it (whole-body imaging), in English and the languages of
    /// sites that send them most (German, French, Spanish, Italian), accents folded.
    package static let headWords: Set<String> = [
        "HEAD", "BRAIN", "SKULL", "CRANIUM", "FACE", "SINUS", "SINUSES", "IAC", "IACS", "PITUITARY", "SELLA", "TMJ",
        "NECK", "HN", "STROKE", "MPRAGE", "WHOLEBODY", "WB", "TOTALBODY", "VERTEX", "EYE", "EYES", "NOSE", "EAR", "EARS",
        "KOPF", "SCHADEL", "SCHAEDEL", "HIRN", "GESICHT", "HALS", "CRANE", "CERVEAU", "TETE", "VISAGE", "COU",
        "CABEZA", "CEREBRO", "CRANEO", "CARA", "CUELLO", "TESTA", "CERVELLO", "CRANIO", "VISO", "COLLO",
    ]
    package static let headPrefixes = ["CEREB", "CRANI", "NEURO", "ENCEPH", "ENCEF", "ORBIT", "MAXILL", "MANDIB", "FACIAL",
                               "OPTIC", "INTRACRAN", "PAROTID", "DENTAL", "SKULLBASE"]
    /// Words of regions away from the head. The spine and "cervical" are not among them: a
    /// cervical spine series shows the jaw and often the face.
    package static let elsewhereWords: Set<String> = [
        "ABDOMEN", "ABD", "ABDO", "PELVIS", "PELVIC", "CHEST", "THORAX", "LUNG", "LUNGS", "HEART", "CARDIAC", "BREAST",
        "BREASTS", "MAMMA", "LIVER", "HEPATIC", "KIDNEY", "KIDNEYS", "RENAL", "PANCREAS", "PROSTATE", "UTERUS",
        "OVARY", "OVARIES", "BLADDER", "SPLEEN", "BOWEL", "COLON", "RECTUM", "RECTAL", "ENTEROGRAPHY", "UROGRAM",
        "MRCP", "LUMBAR", "LSPINE", "SACRUM", "SACRAL", "COCCYX", "KNEE", "KNEES", "HIP", "HIPS", "SHOULDER",
        "SHOULDERS", "ELBOW", "WRIST", "HAND", "HANDS", "FINGER", "FINGERS", "ANKLE", "FOOT", "FEET", "TOE", "TOES",
        "FEMUR", "TIBIA", "FIBULA", "HUMERUS", "LEG", "LEGS", "ARM", "ARMS", "THIGH", "CALF", "EXTREMITY",
        "EXTREMITIES", "AORTA", "RUNOFF", "FETAL", "FETUS", "PLACENTA", "ADRENAL", "ADRENALS", "GALLBLADDER",
        "BAUCH", "BECKEN", "THORAKS", "BRUST", "LEBER", "NIERE", "NIEREN", "KNIE", "HUFTE", "SCHULTER",
        "ABDOMINAL", "BASSIN", "POITRINE", "FOIE", "REIN", "REINS", "GENOU", "HANCHE", "EPAULE",
        "TORAX", "HIGADO", "RINON", "RODILLA", "CADERA", "HOMBRO", "ADDOME", "BACINO", "TORACE", "FEGATO", "GINOCCHIO",
    ]

    /// From one file's header.
    public init(_ dataset: DicomItem) {
        var elsewhere = false
        for (tag, keyword) in Self.fields {
            guard let value = dataset.string(tag), !value.isEmpty else { continue }
            let words = Self.words(value)
            // "WHOLE BODY" and "TOTAL BODY" written as two words.
            let joined = zip(words, words.dropFirst()).map { $0 + $1 }
            if words.contains(where: Self.namesHead) || joined.contains(where: { Self.headWords.contains($0) }) {
                self = .head(keyword)
                return
            }
            if words.contains(where: { Self.elsewhereWords.contains($0) }) { elsewhere = true }
        }
        self = elsewhere ? .elsewhere : .unnamed
    }

    /// A series' region from its files': the head when any file names it, elsewhere when any
    /// names another region, unnamed when none names any.
    public static func of(_ regions: [BodyRegion]) -> BodyRegion {
        if let head = regions.first(where: { if case .head = $0 { true } else { false } }) { return head }
        return regions.contains(.elsewhere) ? .elsewhere : .unnamed
    }

    package static func namesHead(_ word: String) -> Bool {
        headWords.contains(word) || headPrefixes.contains { word.hasPrefix($0) }
    }

    /// Upper case, accents folded, split on everything but letters and digits ("T1_MPRAGE_SAG" is
    /// three words); a word glued to digits ("HEAD2") counts without them.
    package static func words(_ value: String) -> [String] {
        IdentityTokens.folded(value).uppercased()
            .split(whereSeparator: { !($0.isLetter || $0.isNumber) })
            .map { String($0.filter(\.isLetter)) }
            .filter { !$0.isEmpty }
    }
}
