import DICOM
import Foundation

/// What the profile does to one attribute (PS3.15 E.1.1), after combined codes are resolved.
public enum Action: String, Sendable, Equatable {
    case keep = "K"
    case remove = "X"
    case empty = "Z"
    case dummy = "D"
    case replaceUID = "U"
    case clean = "C"

    /// Combined codes depend on the attribute's Type in its IOD, which the table does not
    /// carry; we take the choice that keeps any IOD conformant (an empty or dummy value is
    /// allowed wherever removal is, but not the other way round). None of them keeps data.
    package init?(code: String) {
        switch code {
        case "K": self = .keep
        case "X": self = .remove
        case "Z", "X/Z": self = .empty
        case "D", "X/D", "Z/D", "X/Z/D": self = .dummy
        case "U", "X/Z/U*", "X/Z/U": self = .replaceUID
        case "C": self = .clean
        default: return nil
        }
    }
}

/// The options of Table E.1-1, with their CID 7050 codes.
public enum ProfileOption: String, CaseIterable, Sendable, Comparable {
    case retainSafePrivate = "retain-safe-private"
    case retainUIDs = "retain-uids"
    case retainDeviceIdentity = "retain-device-identity"
    case retainInstitutionIdentity = "retain-institution-identity"
    case retainPatientCharacteristics = "retain-patient-characteristics"
    case retainFullDates = "retain-full-dates"
    case modifiedDates = "modified-dates"
    case cleanDescriptors = "clean-descriptors"
    case cleanStructuredContent = "clean-structured-content"
    case cleanGraphics = "clean-graphics"

    /// The option column's key in the table data.
    package var column: String {
        switch self {
        case .retainSafePrivate: "rtnSafePrivOpt"
        case .retainUIDs: "rtnUIDsOpt"
        case .retainDeviceIdentity: "rtnDevIdOpt"
        case .retainInstitutionIdentity: "rtnInstIdOpt"
        case .retainPatientCharacteristics: "rtnPatCharsOpt"
        case .retainFullDates: "rtnLongFullDatesOpt"
        case .modifiedDates: "rtnLongModifDatesOpt"
        case .cleanDescriptors: "cleanDescOpt"
        case .cleanStructuredContent: "cleanStructContOpt"
        case .cleanGraphics: "cleanGraphOpt"
        }
    }

    public var code: CodedConcept {
        switch self {
        case .retainSafePrivate: CodedConcept("113111", "Retain Safe Private Option")
        case .retainUIDs: CodedConcept("113110", "Retain UIDs Option")
        case .retainDeviceIdentity: CodedConcept("113109", "Retain Device Identity Option")
        case .retainInstitutionIdentity: CodedConcept("113112", "Retain Institution Identity Option")
        case .retainPatientCharacteristics: CodedConcept("113108", "Retain Patient Characteristics Option")
        case .retainFullDates: CodedConcept("113106", "Retain Longitudinal Temporal Information Full Dates Option")
        case .modifiedDates: CodedConcept("113107", "Retain Longitudinal Temporal Information Modified Dates Option")
        case .cleanDescriptors: CodedConcept("113105", "Clean Descriptors Option")
        case .cleanStructuredContent: CodedConcept("113104", "Clean Structured Content Option")
        case .cleanGraphics: CodedConcept("113103", "Clean Graphics Option")
        }
    }

    public static func < (lhs: ProfileOption, rhs: ProfileOption) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// Shifted dates keep intervals for longitudinal research, age/sex/size/weight matter for
    /// head CT studies, and descriptors ("CT HEAD W/O") are kept only when proven clean.
    public static let defaults: Set<ProfileOption> = [.modifiedDates, .retainPatientCharacteristics, .cleanDescriptors]

    /// Parses `none`, `default`, or a comma-separated list of option names.
    public static func parse(_ text: String) throws(ProfileError) -> Set<ProfileOption> {
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        if names == ["none"] { return [] }
        var options: Set<ProfileOption> = []
        for name in names where !name.isEmpty {
            if name == "default" {
                options.formUnion(defaults)
            } else if let option = ProfileOption(rawValue: name) {
                options.insert(option)
            } else {
                throw ProfileError(reason: "unknown option '\(name)'; known: none, default, "
                    + allCases.map(\.rawValue).joined(separator: ", "))
            }
        }
        if options.contains(.retainFullDates) && options.contains(.modifiedDates) {
            throw ProfileError(reason: "options retain-full-dates and modified-dates exclude each other")
        }
        return options
    }
}

public struct CodedConcept: Sendable, Equatable {
    public let value: String
    public let meaning: String
    public let scheme = "DCM"
    package init(_ value: String, _ meaning: String) {
        self.value = value
        self.meaning = meaning
    }
    public static let basicProfile = CodedConcept("113100", "Basic Application Confidentiality Profile")
    public static let cleanPixelData = CodedConcept("113101", "Clean Pixel Data Option")
    public static let cleanRecognizableVisualFeatures = CodedConcept("113102", "Clean Recognizable Visual Features Option")
}

public struct ProfileError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}

/// Table E.1-1 resolved for one option set into a lookup table built once.
public struct Profile: Sendable {
    public let options: Set<ProfileOption>
    public let edition: String
    /// Exact tags -> rule.
    private let table: [UInt32: Rule]
    /// Repeating-group rows such as (60XX,4000): value & mask == pattern.
    private let masked: [(mask: UInt32, pattern: UInt32, rule: Rule)]

    /// The action for an attribute, and the Basic Profile's action to fall back on when a
    /// clean (C) finds identifying content it cannot remove selectively.
    public struct Rule: Sendable, Equatable {
        public let action: Action
        public let basic: Action
    }

    public init(options: Set<ProfileOption>) throws(ProfileError) {
        struct Row: Decodable {
            package let tag: String
            package let basicProfile: String
            package let rest: [String: String]
            package init(from decoder: Decoder) throws {
                let all = try [String: String](from: decoder)
                tag = all["tag"] ?? ""
                basicProfile = all["basicProfile"] ?? ""
                rest = all
            }
        }
        let rows: [Row]
        do {
            rows = try JSONDecoder().decode([Row].self, from: Data(E11Table.json.utf8))
        } catch {
            throw ProfileError(reason: "the embedded Table E.1-1 cannot be read: \(error)")
        }
        var table: [UInt32: Rule] = [:]
        var masked: [(UInt32, UInt32, Rule)] = []
        for row in rows {
            // "(GGGG,EEEE) WHERE GGGG IS ODD": private attributes, handled by the walker with the
            // safe-private list.
            if row.tag.hasPrefix("(GGGG") { continue }
            guard let (mask, pattern) = Self.parseTag(row.tag) else {
                throw ProfileError(reason: "Table E.1-1 row with unreadable tag \(row.tag)")
            }
            guard let basic = Action(code: row.basicProfile) else {
                throw ProfileError(reason: "Table E.1-1 row \(row.tag) has unknown action \(row.basicProfile)")
            }
            var action = basic
            // An enabled option that retains wins over one that cleans, which wins over the basic action.
            // Clean Descriptors is for descriptions of the study, series and images; descriptions of
            // the person (group 0010: occupation, history, comments) stay with the Basic Profile.
            // Retain Patient Characteristics keeps what a study needs (age, sex, size, weight, coded
            // statuses) but not Ethnic Group, free text in a special category of personal data.
            let optionCodes = options.filter {
                !($0 == .cleanDescriptors && pattern >> 16 == 0x0010)
                    && !($0 == .retainPatientCharacteristics && pattern == 0x0010_2160)
            }.compactMap { row.rest[$0.column] }
            if optionCodes.contains("K") {
                action = .keep
            } else if optionCodes.contains("C") {
                action = .clean
            }
            let rule = Rule(action: action, basic: basic)
            if mask == 0xFFFF_FFFF {
                table[pattern] = rule
            } else {
                masked.append((mask, pattern, rule))
            }
        }
        self.options = options
        self.edition = E11Table.edition
        self.table = table
        self.masked = masked
    }

    /// The table's rule for a standard (even-group) tag; nil when the table does not list it.
    public func rule(for tag: Tag) -> Rule? {
        if let rule = table[tag.key] { return rule }
        for entry in masked where tag.key & entry.mask == entry.pattern { return entry.rule }
        return nil
    }

    public func action(for tag: Tag) -> Action? { rule(for: tag)?.action }

    /// "(60XX,4000)" -> (mask, pattern) with X digits masked out.
    package static func parseTag(_ text: String) -> (UInt32, UInt32)? {
        let hex = text.filter { $0 != "(" && $0 != ")" && $0 != "," }
        guard hex.count == 8 else { return nil }
        var mask: UInt32 = 0
        var pattern: UInt32 = 0
        for character in hex {
            mask <<= 4
            pattern <<= 4
            if character == "X" || character == "x" { continue }
            guard let digit = character.hexDigitValue else { return nil }
            mask |= 0xF
            pattern |= UInt32(digit)
        }
        return (mask, pattern)
    }
}
