import Foundation

/// Deterministic pseudo-random numbers (SplitMix64). Everything in the fixtures derives from it.
struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    init(seed: UInt64, stream: UInt64) {
        var s = SplitMix64(seed: seed ^ (stream &* 0xD1B5_4A32_D192_ED03))
        state = s.next()
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<n (n > 0).
    mutating func int(_ n: Int) -> Int {
        Int(next() % UInt64(n))
    }
}

/// Proleptic Gregorian calendar arithmetic on day numbers (days since 1970-01-01), no Foundation dates.
enum CivilDate {
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// "YYYYMMDD".
    static func da(_ days: Int) -> String {
        let c = civil(days)
        return pad(c.year, 4) + pad(c.month, 2) + pad(c.day, 2)
    }

    static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}

/// Made-up, distinctive words (each at least 6 characters) for the planted PHI.
enum WordLists {
    static let families = [
        "QUARTZHOLLOW", "BRAMBLEQUIST", "CINDERHAVEN", "DRIFTWHISTLE", "EMBERCRANE", "FROSTLANTERN",
        "GLIMMERDALE", "HARROWBLOOM", "IVORYTHATCH", "JUNIPERVANE", "KESTRELMOOT", "LARKSPURNE",
        "MOSSWEAVER", "NIGHTBURROW", "ORCHARDQUILL", "PEBBLEFORGE",
    ]
    static let givens: [(String, String)] = [
        ("ZEPHYRINA", "F"), ("ALARICUS", "M"), ("BELPHOEBE", "F"), ("CASSIMERO", "M"),
        ("DELPHINEA", "F"), ("EVANDRUS", "M"), ("FIORELLA", "F"), ("GODRICKA", "F"),
        ("HYACINTHO", "M"), ("ISAURINA", "F"), ("JOVIANNE", "F"), ("KALLISTOR", "M"),
        ("LEOCADIA", "F"), ("MERIDOCK", "M"), ("NERISSAE", "F"), ("ORLANDIS", "M"),
    ]
    /// Names with Latin-1 letters (written as ISO-8859-1 with SpecificCharacterSet ISO_IR 100).
    static let latin1Names: [(String, String, String)] = [
        ("MÜLLERSBACH", "JÖRGINA", "F"), ("GRÜNEWALDTZ", "SÖRENIUS", "M"),
        ("HÄBERLINGK", "MÄRTHELE", "F"), ("ØSTERGÅRDEN", "ÉLODIANE", "F"),
    ]
    static let otherFamilies = [
        "FERNGLASS", "SALTMARROW", "TWILLBECK", "UMBERHOLT", "VESPERLYN", "WHEATCROFTE",
        "YARROWDENE", "ZINNIAFORD", "ASPENWROTH", "BIRCHANVIL", "COPPERWYND", "DUSKMEADOW",
        "ELDERQUAY", "FLINTMARSH", "GORSEBRIDGE", "HOLLYCRAGG",
    ]
    static let motherGivens = [
        "ODALINDA", "PRIMROSETTE", "QUENBURGA", "ROSAMUNDE", "SIGOURNEA", "THEOPHANIA", "URSELINE", "VERBENIA",
    ]
    static let streets = [
        "VELVETMOOR", "ASHENFORD", "BRACKENRIDGE", "CLOVERMANTLE", "DAPPLEWOOD", "EVERGLIMM", "FOXGLOVERY", "GLENTHISTLE",
    ]
    static let streetKinds = ["LANE", "ROAD", "CLOSE", "ROW"]
    static let towns = [
        "BRISKETON", "CHALKWORTHY", "DUNMERROW", "ELMSTAVEN", "FARTHINGSEY", "GRAYSWICKE", "HALLOWBRIDGE", "INKERSHAM",
    ]
    static let occupations = [
        "LANTERNWRIGHT", "QUILLBINDER", "HORNPOLISHER", "KILNWARDEN", "SALTRAKERESS", "ROPEWEAVERIST", "BELLFOUNDRESS", "TALLOWMONGER",
    ]
    static let ethnicGroups = ["VALEBORNIAN", "TARNSHIRIAN", "MOORCASTIAN", "GLENWARDIC"]
    static let historyWords = [
        "BRACKENWHISTLE", "TOLLYMARSH", "QUIBBLESTONE", "SNAPDRAGONNE", "WICKERFALLOW", "PUDDLEGROVE", "MUDLARKSBY", "CRICKLEWADE",
    ]
    static let commentWords = [
        "MARIGOLDINE", "HONEYSUCKLA", "BLUEBELLINE", "SNOWDROPPA", "CAMPIONELLA", "FOXTAILLIE", "TEASELWYN", "VETCHLINGA",
    ]
    static let staffFamilies = [
        "THORNBECKLE", "MARROWDEAN", "GRIMSTOKE", "LUMBERWICK", "OAKENSHADE", "BRISTLECOMBE",
        "FALLOWMERE", "HEATHERLOCK", "KETTLEBRAMM", "NETTLEFORTH", "PEWTERGALE", "QUILLANBY",
    ]
    static let staffGivens = [
        "OSWINTAR", "ELSPETHA", "TAVISHEN", "FENELLIA", "BRIDGETTA", "CORMACKAN",
        "ISOLDINE", "PERCIVAN", "ROWENETTE", "SEBASTIAR", "WINIFREDA", "AUGUSTINO",
    ]
    static let institutions = ["HOLLOWMERE INFIRMARY", "WINTERCOMBE CLINIC", "SORRELHAVEN HOSPITAL", "MAPLETHORNE MEDICAL"]
    static let institutionStreets = ["GLIMMERFORD", "TANSYBROOK", "WILLOWSTAITH", "CRANBERWICK"]
    static let institutionTowns = ["WESTERBRISK", "NORTHAMBLEY", "SOUTHQUENDON", "EASTMARRICK"]
    static let wings = ["CORMORANTE", "PTARMIGANE", "WHIMBRELLA", "GODWITTAN"]
}

/// A synthetic patient and the identity of one CT head study, derived from (seed, index) only.
///
/// Every identifying string is a made-up word of at least 6 characters, so a search for it in the
/// de-identified output cannot hit by chance. Patient index 1 has a Latin-1 name
/// (e.g. "MÜLLERSBACH^JÖRGINA"); its files use SpecificCharacterSet "ISO_IR 100" and ISO-8859-1 text.
public struct SyntheticPatient: Sendable, Equatable {
    public let seed: UInt64
    public let index: Int

    // Identity
    public let familyName: String
    public let givenName: String
    /// True for the patient whose text is written as ISO-8859-1 (index 1).
    public let usesLatin1: Bool
    public let patientID: String
    public let issuerOfPatientID: String
    public let otherPatientID: String
    public let otherPatientIDIssuer: String
    /// "YYYYMMDD".
    public let birthDate: String
    /// "HHMMSS".
    public let birthTime: String
    public let sex: String
    /// Age at the study date, "nnnY".
    public let age: String
    /// Metres and kilograms, as DS strings.
    public let size: String
    public let weight: String
    public let streetWord: String
    public let townWord: String
    public let address: String
    public let telephone: String
    public let motherBirthName: String
    /// Alias / maiden name (OtherPatientNames).
    public let otherPatientName: String
    /// The name before a correction, kept in OriginalAttributesSequence.
    public let previousPatientName: String
    public let ethnicGroup: String
    public let occupation: String
    /// Distinctive words planted in free text (AdditionalPatientHistory, PatientComments).
    public let historyWord: String
    public let commentWord: String

    // Staff
    public let referringPhysician: String
    public let performingPhysician: String
    public let operatorName: String
    public let readingPhysician: String
    public let requestingPhysician: String

    // Site
    public let institutionName: String
    public let institutionStreetWord: String
    public let institutionAddress: String
    public let wingWord: String
    public let departmentName: String
    public let stationName: String
    public let deviceSerialNumber: String
    public let sourceAETitle: String
    public let sendingAETitle: String
    public let receivingAETitle: String
    public let implementationVersionName: String

    // Study identity
    public let accessionNumber: String
    public let studyID: String
    public let requestedProcedureID: String
    public let scheduledProcedureStepID: String
    public let performedProcedureStepID: String
    /// "YYYYMMDD" and "HHMMSS".
    public let studyDate: String
    public let studyTime: String
    /// The de-identification ID the sample inbox's mapping CSV assigns ("DEID-0001" for index 0).
    public let deidentificationID: String
    /// Per-seed UID root, "1.2.826.0.1.3680043.9.7391.<seed mod 10^8>".
    public let uidRoot: String
    /// Per-patient salt used in all of this patient's UIDs.
    let uidSalt: Int

    public init(seed: UInt64, index: Int) {
        precondition(index >= 0, "index must be >= 0")
        self.seed = seed
        self.index = index
        var rng = SplitMix64(seed: seed, stream: UInt64(index) &+ 1)
        var site = SplitMix64(seed: seed, stream: 0)
        let code = 1000 + site.int(9000) // 4 digits shared by the seed's identifiers
        let offset = Int((seed &- 1) % 16)
        let i = index

        // Names
        if index == 1 {
            let n = WordLists.latin1Names[Int((seed &- 1) % UInt64(WordLists.latin1Names.count))]
            familyName = n.0; givenName = n.1; sex = n.2; usesLatin1 = true
        } else {
            // (family, given) pairs are distinct for the first 256 indices of a seed.
            familyName = WordLists.families[(offset + i) % 16]
            let g = WordLists.givens[(offset + i + i / 16) % 16]
            givenName = g.0; sex = g.1; usesLatin1 = false
        }
        let other = WordLists.otherFamilies[(offset + i) % WordLists.otherFamilies.count]
        otherPatientName = other + "^" + givenName
        motherBirthName = WordLists.otherFamilies[(offset + i + 7) % WordLists.otherFamilies.count] + "^"
            + WordLists.motherGivens[(offset + i) % WordLists.motherGivens.count]
        previousPatientName = familyName + "E^" + givenName + "A"

        // Identifiers
        let idx3 = CivilDate.pad(i, 3)
        patientID = "PID\(code)X\(i)"
        issuerOfPatientID = "QZHOSP_MRN_AUTH"
        otherPatientID = "OPID\(code)Z\(i)"
        otherPatientIDIssuer = "QZREGION_EMPI"
        accessionNumber = "AC\(code)\(idx3)"
        studyID = "SID\(code)Q\(i)"
        requestedProcedureID = "RPID\(code)Q\(i)"
        scheduledProcedureStepID = "SPS\(code)Q\(i)"
        performedProcedureStepID = "PPS\(code)Q\(i)"
        deidentificationID = "DEID-" + CivilDate.pad(i + 1, 4)

        // Dates
        let studyDay = CivilDate.days(year: 2024, month: 1, day: 17) + rng.int(330)
        studyDate = CivilDate.da(studyDay)
        studyTime = CivilDate.pad(8 + rng.int(9), 2) + CivilDate.pad(rng.int(60), 2) + CivilDate.pad(rng.int(60), 2)
        let by = 1935 + rng.int(60), bm = 1 + rng.int(12), bd = 1 + rng.int(28)
        birthDate = CivilDate.pad(by, 4) + CivilDate.pad(bm, 2) + CivilDate.pad(bd, 2)
        birthTime = CivilDate.pad(rng.int(24), 2) + CivilDate.pad(rng.int(60), 2) + CivilDate.pad(rng.int(60), 2)
        let sc = CivilDate.civil(studyDay)
        var years = sc.year - by
        if (sc.month, sc.day) < (bm, bd) { years -= 1 }
        age = CivilDate.pad(years, 3) + "Y"
        size = "1." + String(55 + rng.int(40))
        weight = String(50 + rng.int(50)) + "." + String(rng.int(10))

        // Address, phone, social
        streetWord = WordLists.streets[(offset + i) % WordLists.streets.count]
        townWord = WordLists.towns[(offset + i * 3) % WordLists.towns.count]
        address = "\(10 + rng.int(89)) \(streetWord) \(WordLists.streetKinds[i % 4]), \(townWord)"
        telephone = "01632-\(code)-\(100 + rng.int(900))\(i % 10)" // SH: at most 16 characters
        ethnicGroup = WordLists.ethnicGroups[(offset + i) % WordLists.ethnicGroups.count]
        occupation = WordLists.occupations[(offset + i) % WordLists.occupations.count]
        historyWord = WordLists.historyWords[(offset + i) % WordLists.historyWords.count]
        commentWord = WordLists.commentWords[(offset + i + 3) % WordLists.commentWords.count]

        // Staff: five different people per patient
        func staff(_ role: Int) -> String {
            WordLists.staffFamilies[(offset + i * 5 + role) % 12] + "^" + WordLists.staffGivens[(offset + i * 5 + role * 7) % 12]
        }
        referringPhysician = staff(0)
        performingPhysician = staff(1)
        operatorName = staff(2)
        readingPhysician = staff(3)
        requestingPhysician = staff(4)

        // Site (per seed)
        let s = Int(seed % 4)
        institutionName = WordLists.institutions[s]
        institutionStreetWord = WordLists.institutionStreets[s]
        institutionAddress = "\(10 + site.int(80)) \(institutionStreetWord) ROAD, \(WordLists.institutionTowns[s])"
        wingWord = WordLists.wings[s]
        departmentName = "\(wingWord) WING RADIOLOGY"
        stationName = "QZCTST\(code)"
        deviceSerialNumber = "SN\(code)QZ\(site.int(90) + 10)"
        sourceAETitle = "QZHOSP_AE1"
        sendingAETitle = "QZSENDER_AE2"
        receivingAETitle = "QZRECEIVE_AE3"
        implementationVersionName = "QZPACS_\(code)"

        uidRoot = "1.2.826.0.1.3680043.9.7391.\(seed % 100_000_000)"
        uidSalt = 100_000 + rng.int(900_000)
    }

    /// "FAMILY^GIVEN".
    public var patientName: String { familyName + "^" + givenName }

    /// "ISO_IR 100" for the Latin-1 patient, nil (default repertoire) otherwise.
    public var specificCharacterSet: String? { usesLatin1 ? "ISO_IR 100" : nil }

    /// The patient's top-level folder name used by `SampleInbox` (the accession number).
    public var inboxFolderName: String { accessionNumber }

    /// A UID under this patient's root: root.kind.(index+1).salt[.n].
    func uid(_ kind: Int, _ n: Int? = nil) -> String {
        var s = "\(uidRoot).\(kind).\(index + 1).\(uidSalt)"
        if let n { s += ".\(n)" }
        return s
    }
}

/// The PHI planted in a written study, by category. All sets are de-duplicated.
public struct PlantedPHI: Sendable, Equatable {
    /// Person names as written (PN, "FAMILY^GIVEN").
    public var names: Set<String> = []
    /// IDs, accession, AE titles, station, serial numbers, phone, addresses and their words,
    /// institution and department.
    public var identifiers: Set<String> = []
    /// Distinctive words from free text (history, comments, occupation, ethnic group).
    public var freeText: Set<String> = []
    /// Every UID the fixture created (not the standard SOP Class / Transfer Syntax UIDs).
    public var uids: Set<String> = []
    /// The birth date only (other dates may legitimately be shifted, not removed).
    public var dates: Set<String> = []

    public init() {}

    public var all: Set<String> { names.union(identifiers).union(freeText).union(uids).union(dates) }

    /// Each planted string as bytes: UTF-8 (= ASCII for ASCII strings), plus ISO-8859-1 for strings
    /// with Latin-1 letters; for names also each PN component ("QUARTZHOLLOW", "ZEPHYRINA") in both
    /// encodings. Sorted and de-duplicated; every needle is at least 6 bytes long.
    public func rawByteNeedles() -> [Data] {
        var out = Set<Data>()
        for s in needleStrings() { out.formUnion(Self.encodings(of: s)) }
        return out.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// `all` plus every component of every name (split at `^` and `=`), keeping strings of at least
    /// 6 characters. The fixture writes each of them in the file's character set (ISO-8859-1 for the
    /// Latin-1 patient) and, for the patient name, also as UTF-8 (preamble, folder names); so each
    /// string appears in at least one of `encodings(of:)`.
    public func needleStrings() -> Set<String> {
        var strings = all
        for n in names {
            for group in n.split(separator: "=") {
                for comp in group.split(separator: "^") { strings.insert(String(comp)) }
            }
        }
        return strings.filter { $0.unicodeScalars.count >= 6 }
    }

    /// UTF-8 bytes of `s`, plus its ISO-8859-1 bytes when `s` is not ASCII.
    public static func encodings(of s: String) -> [Data] {
        DicomText.isASCII(s) ? [Data(s.utf8)] : [Data(s.utf8), DicomText.latin1Bytes(s)]
    }

    public mutating func formUnion(_ other: PlantedPHI) {
        names.formUnion(other.names)
        identifiers.formUnion(other.identifiers)
        freeText.formUnion(other.freeText)
        uids.formUnion(other.uids)
        dates.formUnion(other.dates)
    }
}
