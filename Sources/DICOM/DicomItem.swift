import CDCMTK
import CPlatform
import Foundation
import Platform
import Synchronization

/// A dataset, file meta or sequence item. Borrowed from its file, which it keeps alive.
public struct DicomItem {
    package let pointer: OpaquePointer
    package let owner: DicomFile

    public var elements: [ElementInfo] {
        let capacity = Int(ctd_item_count(pointer))
        guard capacity > 0 else { return [] }
        let infos = [ctd_element](unsafeUninitializedCapacity: capacity) { buffer, count in
            count = Int(ctd_item_elements(pointer, buffer.baseAddress, UInt32(capacity)))
        }
        return infos.map { info in
            // Two bytes straight into a small (inline) string: no array per element.
            let vr = withUnsafeBytes(of: info.vr) { String(decoding: $0.prefix(2), as: UTF8.self) }
            return ElementInfo(tag: Tag(info.group, info.element), vr: vr, length: info.length,
                               itemCount: Int(info.item_count))
        }
    }

    /// Raw bytes of a string element (in the file's character set), padding trimmed.
    public func bytes(_ tag: Tag) -> [UInt8]? {
        var data: UnsafePointer<CChar>?
        var length = 0
        guard ctd_get_string(pointer, tag.group, tag.element, &data, &length) == 0, let data else { return nil }
        var bytes = [UInt8](UnsafeRawBufferPointer(start: data, count: length))
        while let last = bytes.last, last == 0x20 || last == 0 { bytes.removeLast() }
        return bytes
    }

    /// A string element decoded as UTF-8 (ASCII values such as UIDs, codes and dates).
    public func string(_ tag: Tag) -> String? {
        bytes(tag).map { String(decoding: Self.trimmed($0[...]), as: UTF8.self) }
    }

    /// The values of a multi-valued string element.
    public func strings(_ tag: Tag) -> [String] {
        guard let value = bytes(tag) else { return [] }
        return value.split(separator: 0x5C, omittingEmptySubsequences: false)  // backslash
            .map { String(decoding: Self.trimmed($0), as: UTF8.self) }
    }

    /// Padding and stray blanks (space, tab) off both ends, on the bytes: Foundation's trimming
    /// goes through NSString and showed in the profile.
    package static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var value = bytes
        while let first = value.first, first == 0x20 || first == 0x09 { value.removeFirst() }
        while let last = value.last, last == 0x20 || last == 0x09 || last == 0 { value.removeLast() }
        return value
    }

    /// Raw value bytes of a binary element, in host byte order.
    public func binary(_ tag: Tag) -> [UInt8]? {
        var data: UnsafePointer<UInt8>?
        var length = 0
        guard ctd_get_bytes(pointer, tag.group, tag.element, &data, &length) == 0 else { return nil }
        guard let data, length > 0 else { return [] }
        return [UInt8](UnsafeBufferPointer(start: data, count: length))
    }

    public func uint16(_ tag: Tag) -> UInt16? {
        guard let raw = binary(tag), raw.count >= 2 else { return nil }
        return raw.withUnsafeBytes { $0.loadUnaligned(as: UInt16.self) }
    }

    public func items(_ tag: Tag) -> [DicomItem] {
        var result: [DicomItem] = []
        var index: UInt32 = 0
        while let item = ctd_sequence_item(pointer, tag.group, tag.element, index) {
            result.append(DicomItem(pointer: item, owner: owner))
            index += 1
        }
        return result
    }

    /// Sets a value given as DICOM text (backslash between values). `vr` nil keeps the
    /// element's VR, or uses the dictionary's for a new or UN element.
    @discardableResult
    public func put(_ tag: Tag, _ value: String, vr: String? = nil) -> Bool {
        var utf8 = Array(value.utf8)
        utf8.append(0)
        return utf8.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                if let vr { return ctd_put_string(pointer, tag.group, tag.element, vr, chars.baseAddress, chars.count - 1) == 0 }
                return ctd_put_string(pointer, tag.group, tag.element, nil, chars.baseAddress, chars.count - 1) == 0
            }
        }
    }

    /// Makes the element zero-length (an empty sequence for SQ), creating it when absent.
    package static let stringVRs: Set<String> = ["AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"]

    /// A standard attribute written with a VR its dictionary entry does not allow (a StudyDate as
    /// LO or OB) is read by the dictionary, at every depth, as the file is loaded: written again
    /// with the dictionary's VR when its value reads as such (text, or numbers written as text),
    /// else removed. Everything that reads the file (the safety checks, head detection, the
    /// profile) then sees the real VR, and the output carries it. UN is read by the dictionary by
    /// DCMTK itself (see the shim's `ctd_init`); private and unknown tags are left to the profile.
    package func readByDictionary() {
        // DCMTK's own classes for pixel and overlay data report internal names ("Pi", "Ov"): not a VR read from the file.
        for element in elements where !element.tag.isPrivate && element.vr != "UN" && !element.tag.isGroupLength
            && element.vr.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) {
            guard DicomToolkit.dictionaryAllows(element.tag, vr: element.vr) == false else {
                if element.isSequence { for child in items(element.tag) { child.readByDictionary() } }
                continue
            }
            let dictionaryVR = DicomToolkit.dictionaryVR(element.tag)
            let readable = !element.isSequence && dictionaryVR != "SQ"
                && (Self.stringVRs.contains(dictionaryVR) || Self.stringVRs.contains(element.vr))
            if readable, let bytes = bytes(element.tag) ?? binary(element.tag), put(element.tag, bytes: bytes, vr: dictionaryVR) {
                continue
            }
            remove(element.tag)
        }
    }

    /// Sets a string element's value from its bytes as they are (in the item's character set).
    @discardableResult
    public func put(_ tag: Tag, bytes: [UInt8], vr: String) -> Bool {
        bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { ctd_put_string(pointer, tag.group, tag.element, vr, $0.baseAddress, $0.count) == 0 }
        }
    }

    @discardableResult
    public func putEmpty(_ tag: Tag, vr: String? = nil) -> Bool {
        if let vr { return ctd_put_empty(pointer, tag.group, tag.element, vr) == 0 }
        return ctd_put_empty(pointer, tag.group, tag.element, nil) == 0
    }

    @discardableResult
    public func remove(_ tag: Tag) -> Bool { ctd_delete(pointer, tag.group, tag.element) == 0 }

    /// Appends an empty item to a sequence, creating the sequence when absent.
    public func appendItem(_ tag: Tag) -> DicomItem? {
        ctd_sequence_append(pointer, tag.group, tag.element).map { DicomItem(pointer: $0, owner: owner) }
    }
}
