import CDCMTK
import CPlatform
import Foundation
import Platform
import Synchronization

/// Process-wide DCMTK set-up: codecs, logging, and the data dictionary check.
public enum DicomToolkit {
    /// Throws, naming the dictionary path tried, when DCMTK's data dictionary is missing:
    /// without it every tag reads as "unknown" and VR-dependent actions would go wrong.
    public static func initialize() throws(DicomError) {
        var buffer = [CChar](repeating: 0, count: 1024)
        if ctd_init(&buffer, buffer.count) != 0 {
            throw DicomError(reason: String(cBuffer: buffer))
        }
    }

    /// Whether the data dictionary knows the tag (a standard attribute of DCMTK's edition).
    public static func dictionaryKnows(_ tag: Tag) -> Bool {
        ctd_dictionary_knows(tag.group, tag.element) != 0
    }

    /// Whether the data dictionary allows `vr` for the tag (its own VR, or one its ambiguous VR
    /// stands for); nil when the dictionary does not know the tag. Asked for every element of
    /// every file, so the answers are kept.
    public static func dictionaryAllows(_ tag: Tag, vr: String) -> Bool? {
        let key = UInt64(tag.group) << 32 | UInt64(tag.element) << 16 | UInt64(vr.utf8.reduce(0) { $0 << 8 | UInt16($1) })
        if let known = allowedVRs.withLock({ $0[key] }) { return known }
        let answer = ctd_dictionary_allows(tag.group, tag.element, vr)
        let allows: Bool? = answer < 0 ? nil : answer == 1
        allowedVRs.withLock { $0[key] = allows }
        return allows
    }
    private static let allowedVRs = Mutex<[UInt64: Bool?]>([:])

    /// The VR the data dictionary gives a standard tag ("UN" when unknown).
    public static func dictionaryVR(_ tag: Tag) -> String {
        var vr: (CChar, CChar, CChar) = (0, 0, 0)
        withUnsafeMutablePointer(to: &vr) {
            $0.withMemoryRebound(to: CChar.self, capacity: 3) { ctd_dictionary_vr(tag.group, tag.element, $0) }
        }
        return String(decoding: [UInt8(bitPattern: vr.0), UInt8(bitPattern: vr.1)], as: UTF8.self)
    }
}
