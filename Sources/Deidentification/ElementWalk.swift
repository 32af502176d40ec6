import DICOM
import Foundation
import Platform

/// One pass over one file. Holds the per-file state: the character set and identity tokens.
struct ElementWalk {
    package let deidentifier: Deidentifier
    package let patient: PatientContext
    /// The dataset's SpecificCharacterSet; an item with its own is read with that one.
    package let characterSet: String
    package var tokens = IdentityTokens()
    /// The words of names and of the patient's identifiers alone: what a coded (CS) value is checked
    /// against. A code such as HEAD is no identity because a removed description said HEAD.
    package var personal = IdentityTokens()
    /// The file's own UIDs that are about to be remapped: a text value that quotes one (a
    /// RetrieveURL with the study's UID in it) gives the original away as surely as a name.
    package var originalUIDs: [[UInt8]] = []
    private var converters: [String: CharsetConverter] = [:]

    package init(deidentifier: Deidentifier, patient: PatientContext, characterSet: String) {
        self.deidentifier = deidentifier
        self.patient = patient
        self.characterSet = characterSet
    }

    package var profile: Profile { deidentifier.profile }

    package static let textVRs: Set<String> = ["PN", "LO", "SH", "AE", "ST", "LT", "UT", "UC", "CS", "UR"]

    /// The VR that decides the action: the dictionary's when the file says UN.
    package func effectiveVR(_ element: ElementInfo) -> String {
        element.vr == "UN" && !element.tag.isPrivate ? DicomToolkit.dictionaryVR(element.tag) : element.vr
    }

    // MARK: identity tokens

    /// Gathers the values the identity words come from, then takes the words from the cache when
    /// another file had the same values (the files of a series share them).
    package mutating func collectTokens(_ item: DicomItem) {
        var sources: [Source] = []
        var uids: Set<[UInt8]> = []
        gatherSources(item, characterSet: characterSet, into: &sources, uids: &uids)
        originalUIDs = uids.sorted { $0.lexicographicallyPrecedes($1) }
        var key: [UInt8] = []
        for source in sources {
            key.append(0xFF)
            key.append(UInt8(source.minimum) | (source.personal ? 0x80 : 0))
            key.append(contentsOf: source.characterSet.utf8)
            key.append(0)
            withUnsafeBytes(of: UInt32(source.bytes.count).littleEndian) { key.append(contentsOf: $0) }
            key.append(contentsOf: source.bytes)
        }
        let sets = deidentifier.tokenCache.tokens(for: key) {
            var sets = IdentityTokenCache.Sets()
            var converters: [String: CharsetConverter] = [:]
            func add(_ text: String, _ source: Source) {
                sets.all.add(text, minimumLength: source.minimum)
                if source.personal { sets.personal.add(text, minimumLength: source.minimum) }
            }
            for source in sources {
                if source.minimum == Self.birthDate {
                    add(String(decoding: source.bytes, as: UTF8.self), source)
                    continue
                }
                add(IdentityTokens.latin1(IdentityTokens.withoutEscapes(source.bytes)), source)
                // Plain ASCII reads the same as Latin-1 and as UTF-8: once is enough. (ISO 2022
                // text is 7-bit too, but its escapes switch to other sets: it is converted.)
                guard !IdentityTokens.isPlainASCII(source.bytes) else { continue }
                let converter = converters[source.characterSet] ?? CharsetConverter(specificCharacterSet: source.characterSet)
                converters[source.characterSet] = converter
                if let text = converter.utf8(source.bytes) { add(text, source) }
            }
            return sets
        }
        tokens = sets.all
        personal = sets.personal
    }

    /// A birth date is one word of 8 digits, as read (the minimum length marks it).
    package static let birthDate = 8

    /// A value the identity words come from, with the character set in force where it was found.
    package struct Source {
        package var bytes: [UInt8]
        package var minimum: Int
        package var characterSet: String
        /// A name, an identifier of the patient or the birth date.
        package var personal = false
    }

    /// The patient's identifiers (besides names, which are every PN): PatientID, OtherPatientIDs,
    /// AccessionNumber, MedicalRecordLocator, AdmissionID, IssuerOfPatientID.
    package static let patientIdentifiers: Set<Tag> = [
        Tag(0x0010, 0x0020), Tag(0x0010, 0x1000), Tag(0x0008, 0x0050), Tag(0x0010, 0x1090), Tag(0x0038, 0x0010), Tag(0x0010, 0x0021),
    ]

    /// The character set in force in an item: its own SpecificCharacterSet, else the enclosing one's.
    package static func characterSet(of item: DicomItem, inheriting outer: String) -> String {
        item.bytes(.specificCharacterSet).map { String(decoding: $0, as: UTF8.self) } ?? outer
    }

    /// The values whose words must not survive anywhere: names, IDs and other text the profile
    /// removes, private text, and the birth date (minimum word length 8), at every depth.
    private func gatherSources(_ item: DicomItem, characterSet outer: String, into sources: inout [Source], uids: inout Set<[UInt8]>) {
        let characterSet = Self.characterSet(of: item, inheriting: outer)
        for element in item.elements {
            let tag = element.tag
            if element.isSequence {
                for child in item.items(tag) { gatherSources(child, characterSet: characterSet, into: &sources, uids: &uids) }
                continue
            }
            let vr = effectiveVR(element)
            if vr == "UI", !Self.namesADefinition(tag) {
                for value in item.strings(tag) where value.utf8.count >= 10 && !UIDRemapper.isStandard(value) {
                    uids.insert(Array(value.utf8))
                }
                continue
            }
            let isSource: Bool
            if tag.isPrivate {
                isSource = !tag.isPrivateCreator && (Self.textVRs.contains(vr) || vr == "UN")
            } else if let rule = profile.rule(for: tag) {
                isSource = Self.textVRs.contains(vr) && vr != "CS"
                    && [.remove, .empty, .dummy, .replaceUID].contains(rule.action)
            } else {
                isSource = vr == "PN"
            }
            guard isSource, let bytes = item.bytes(tag) ?? item.binary(tag), !bytes.isEmpty else { continue }
            sources.append(Source(bytes: bytes, minimum: vr == "PN" ? 2 : 3, characterSet: characterSet,
                                  personal: vr == "PN" || Self.patientIdentifiers.contains(tag)))
        }
        if let birth = item.string(.patientBirthDate), birth.count == 8 {
            sources.append(Source(bytes: Array(birth.utf8), minimum: Self.birthDate, characterSet: "", personal: true))
        }
    }

    package mutating func utf8(_ bytes: [UInt8], characterSet: String) -> String? {
        if IdentityTokens.isPlainASCII(bytes) { return String(decoding: bytes, as: UTF8.self) }
        let converter = converters[characterSet] ?? CharsetConverter(specificCharacterSet: characterSet)
        converters[characterSet] = converter
        return converter.utf8(bytes)
    }

    // MARK: applying the profile

    package mutating func process(_ item: DicomItem, characterSet outer: String? = nil) {
        let characterSet = Self.characterSet(of: item, inheriting: outer ?? self.characterSet)
        var privateElements: [ElementInfo] = []
        for element in item.elements {
            let tag = element.tag
            if tag.isPrivate {
                privateElements.append(element)
                continue
            }
            // Group lengths, file meta and command elements (a C-MOVE's destination and originator
            // AE titles) never belong in a stored dataset; encrypted attributes and digital
            // signatures carry the original identity (or its signer's) for whoever holds the key.
            if tag.isGroupLength || tag.isFileMeta || tag.group == 0x0000 || Self.carriesOriginals(tag) {
                item.remove(tag)
                continue
            }
            // Curves (50xx) and overlays (60xx) can carry burned-in text and names: removed whole.
            if tag.group & 0xFF00 == 0x5000 || tag.group & 0xFF00 == 0x6000 {
                item.remove(tag)
                continue
            }
            let vr = effectiveVR(element)
            // A sequence read as UN cannot be walked, so nothing inside it can be vouched for.
            if element.vr == "UN" && vr == "SQ" {
                item.remove(tag)
                continue
            }
            guard let rule = profile.rule(for: tag) else {
                // Not in the table: kept, but person names anywhere are never passed on, and text
                // that contains a word of a removed value (a name in a protocol note) is replaced.
                // A tag neither the table nor the dictionary knows is no standard attribute anyone
                // can vouch for (an unknown UN blob could hold anything): removed.
                // One rule per kind for the rest: a UID is remapped like the table's (unless it
                // names a class, syntax or coding scheme), a date or time goes as the options
                // say dates go, and text of any string VR is checked for the removed values' words.
                if !DicomToolkit.dictionaryKnows(tag) {
                    item.remove(tag)
                } else if vr == "PN" {
                    dummy(item, element, vr: vr)
                } else if element.isSequence {
                    recurse(item, tag, characterSet: characterSet)
                } else if vr == "UI" {
                    if !profile.options.contains(.retainUIDs), !Self.namesADefinition(tag) { remapUIDs(item, tag) }
                } else if vr == "DA" || vr == "DT" || vr == "TM" {
                    unlistedDate(element, vr: vr, in: item)
                } else if Self.textVRs.contains(vr), containsIdentity(item, tag, characterSet: characterSet, coded: vr == "CS") {
                    dummy(item, element, vr: vr)
                }
                continue
            }
            apply(rule.action, rule: rule, to: element, vr: vr, in: item, characterSet: characterSet)
        }
        if !privateElements.isEmpty { processPrivate(item, privateElements) }
    }

    /// Encrypted Attributes Sequence, the rest of the digital signature group (0400,xxxx), Digital
    /// Signatures Sequence and MAC Parameters Sequence.
    package static func carriesOriginals(_ tag: Tag) -> Bool {
        tag.group == 0x0400 || tag == Tag(0xFFFA, 0xFFFA) || tag == Tag(0x4FFE, 0x0001)
    }

    /// UI attributes whose values name a definition (a SOP class, a transfer syntax, a coding
    /// scheme or mapping resource), not an instance: their values identify nobody, and a receiver
    /// needs them as they are. Well-known values (1.2.840.10008.*) are kept in any attribute.
    package static let definitionUIDs: Set<Tag> = [
        Tag(0x0008, 0x0016), Tag(0x0008, 0x001A), Tag(0x0008, 0x001B), Tag(0x0008, 0x0062), Tag(0x0008, 0x1150),
        Tag(0x0008, 0x010C), Tag(0x0008, 0x010D), Tag(0x0008, 0x0118), Tag(0x0004, 0x1510), Tag(0x0004, 0x1512),
    ]
    package static func namesADefinition(_ tag: Tag) -> Bool { definitionUIDs.contains(tag) }

    /// A date, date-time or time the table does not list (another domain's dates, such as
    /// DICONDE's or DICOS's): shifted with the patient's offset under the modified-dates option
    /// (a time of day moves unchanged with a whole-day shift), kept under full dates, else removed.
    package func unlistedDate(_ element: ElementInfo, vr: String, in item: DicomItem) {
        let tag = element.tag
        if profile.options.contains(.retainFullDates) { return }
        guard let shifter = patient.dateShifter else {
            item.remove(tag)
            return
        }
        guard vr != "TM" else { return }
        let values = item.strings(tag)
        let shifted = values.map { $0.isEmpty ? "" : (vr == "DA" ? shifter.shiftDate($0) : shifter.shiftDateTime($0)) }
        if shifted.contains(where: { $0 == nil }) {
            item.remove(tag)
        } else if values.contains(where: { !$0.isEmpty }) {
            item.put(tag, shifted.map { $0! }.joined(separator: "\\"), vr: vr)
        }
    }

    package mutating func apply(_ action: Action, rule: Profile.Rule, to element: ElementInfo, vr: String, in item: DicomItem,
                        characterSet: String) {
        let tag = element.tag
        switch action {
        case .keep:
            if element.isSequence {
                recurse(item, tag, characterSet: characterSet)
            } else if Self.textVRs.contains(vr), containsIdentity(item, tag, characterSet: characterSet, coded: vr == "CS") {
                dummy(item, element, vr: vr)
            }
        case .remove:
            item.remove(tag)
        case .empty:
            item.putEmpty(tag, vr: element.vr == "UN" ? vr : nil)
        case .dummy:
            dummy(item, element, vr: vr)
        case .replaceUID:
            if element.isSequence {
                recurse(item, tag, characterSet: characterSet)
            } else if vr == "UI" {
                remapUIDs(item, tag)
            } else {
                dummy(item, element, vr: vr)
            }
        case .clean:
            clean(rule: rule, element: element, vr: vr, in: item, characterSet: characterSet)
        }
    }

    package mutating func clean(rule: Profile.Rule, element: ElementInfo, vr: String, in item: DicomItem, characterSet: String) {
        let tag = element.tag
        let fallback = rule.basic == .clean ? Action.remove : rule.basic
        switch vr {
        case "SQ":
            recurse(item, tag, characterSet: characterSet)
        case "DA", "DT":
            guard let shifter = patient.dateShifter else {
                apply(fallback, rule: rule, to: element, vr: vr, in: item, characterSet: characterSet)
                return
            }
            let values = item.strings(tag)
            let shifted = values.map { $0.isEmpty ? "" : (vr == "DA" ? shifter.shiftDate($0) : shifter.shiftDateTime($0)) }
            if shifted.contains(where: { $0 == nil }) {
                item.putEmpty(tag, vr: element.vr == "UN" ? vr : nil)
            } else if values.contains(where: { !$0.isEmpty }) {
                item.put(tag, shifted.map { $0! }.joined(separator: "\\"), vr: element.vr == "UN" ? vr : nil)
            }
        case "TM":
            break  // a time of day moves with a whole-day shift unchanged
        case "UI":
            remapUIDs(item, tag)
        case _ where Self.textVRs.contains(vr) || vr == "UN":
            if element.vr == "UN" || containsIdentity(item, tag, characterSet: characterSet, coded: vr == "CS") { apply(fallback, rule: rule, to: element, vr: vr, in: item, characterSet: characterSet) }
        default:
            break
        }
    }

    /// Whether a text value contains a word of the values the profile removes, in the converted
    /// text or in the raw bytes.
    /// `coded`: the value is a code (CS), checked against names and the patient's identifiers only.
    package mutating func containsIdentity(_ item: DicomItem, _ tag: Tag, characterSet: String, coded: Bool = false) -> Bool {
        let words = coded ? personal : tokens
        guard !words.isEmpty || !originalUIDs.isEmpty, let bytes = item.bytes(tag) ?? item.binary(tag), !bytes.isEmpty else { return false }
        // An ISO 2022 escape inside a word ("QUARTZ<ESC>(BHOLLOW") must not split it.
        let plain = IdentityTokens.withoutEscapes(bytes)
        if originalUIDs.contains(where: { IdentityTokens.contains(plain, $0) }) { return true }
        if words.matches(IdentityTokens.latin1(plain)) { return true }
        return !IdentityTokens.isPlainASCII(bytes) && (utf8(bytes, characterSet: characterSet).map(words.matches) ?? false)
    }

    package mutating func recurse(_ item: DicomItem, _ tag: Tag, characterSet: String) {
        for child in item.items(tag) { process(child, characterSet: characterSet) }
    }

    package func dummy(_ item: DicomItem, _ element: ElementInfo, vr: String) {
        let tag = element.tag
        if vr == "SQ" {
            item.putEmpty(tag, vr: "SQ")
        } else if vr == "UI" {
            remapUIDs(item, tag)
        } else if let value = DummyValue.forVR(vr) {
            item.put(tag, value, vr: element.vr == "UN" ? vr : nil)
        } else {
            item.putEmpty(tag, vr: element.vr == "UN" ? vr : nil)
        }
    }

    package func remapUIDs(_ item: DicomItem, _ tag: Tag) {
        let values = item.strings(tag)
        guard values.contains(where: { !$0.isEmpty }) else { return }
        item.put(tag, values.map { deidentifier.uids.map($0) }.joined(separator: "\\"), vr: "UI")
    }

    /// Private elements go, except the safe-private list's under the Retain Safe Private
    /// option, together with the creator elements that reserve their blocks.
    package func processPrivate(_ item: DicomItem, _ elements: [ElementInfo]) {
        var keptBlocks: Set<UInt32> = []
        if profile.options.contains(.retainSafePrivate) {
            var creators: [UInt32: String] = [:]
            for element in elements where element.tag.isPrivateCreator {
                creators[UInt32(element.tag.group) << 8 | UInt32(element.tag.element)] =
                    item.string(element.tag)?.trimmingCharacters(in: .whitespaces)
            }
            for element in elements where !element.tag.isPrivateCreator && element.tag.element > 0xFF {
                let block = UInt32(element.tag.group) << 8 | UInt32(element.tag.element >> 8)
                let safe = SafePrivateAttribute(creator: creators[block] ?? "", group: element.tag.group,
                                                element: UInt8(element.tag.element & 0xFF))
                if creators[block] != nil, deidentifier.safePrivate.contains(safe), !element.isSequence {
                    keptBlocks.insert(block)
                } else {
                    item.remove(element.tag)
                }
            }
            for element in elements where element.tag.isPrivateCreator || element.tag.element <= 0xFF {
                let block = UInt32(element.tag.group) << 8 | UInt32(element.tag.element)
                if !(element.tag.isPrivateCreator && keptBlocks.contains(block)) { item.remove(element.tag) }
            }
            return
        }
        for element in elements { item.remove(element.tag) }
    }
}
