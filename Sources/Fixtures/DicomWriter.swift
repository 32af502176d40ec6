import Foundation

// A small, pure-Swift DICOM Part 10 writer.
//
// Scope: exactly what the fixture generator needs. Files are written as
//   128-byte preamble | "DICM" | file meta group (0002) | dataset
// with the file meta group and the dataset both in Explicit VR Little Endian
// (1.2.840.10008.1.2.1). Elements are sorted by tag within every item.
// There is no reader here; the tests carry a minimal one of their own.

/// A DICOM attribute tag (group, element).
public struct DicomTag: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let group: UInt16
    public let element: UInt16

    public init(_ group: UInt16, _ element: UInt16) {
        self.group = group
        self.element = element
    }

    public static func < (lhs: DicomTag, rhs: DicomTag) -> Bool {
        (lhs.group, lhs.element) < (rhs.group, rhs.element)
    }

    /// Odd groups are private (except the reserved groups 1, 3, 5, 7 and FFFF, which are never written here).
    public var isPrivate: Bool { group & 1 == 1 }

    /// `(gggg,eeee)` in upper-case hex, as dcmdump prints it.
    public var description: String {
        "(" + DicomTag.hex4(group) + "," + DicomTag.hex4(element) + ")"
    }

    static func hex4(_ v: UInt16) -> String {
        let s = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: 4 - s.count) + s
    }

    public static let item = DicomTag(0xFFFE, 0xE000)
    public static let itemDelimitationItem = DicomTag(0xFFFE, 0xE00D)
    public static let sequenceDelimitationItem = DicomTag(0xFFFE, 0xE0DD)
    public static let fileMetaInformationGroupLength = DicomTag(0x0002, 0x0000)
    public static let pixelData = DicomTag(0x7FE0, 0x0010)
}

/// Value representations. Explicit VR Little Endian uses a 2-byte length for most VRs
/// and a 4-byte length (after 2 reserved bytes) for the "long" ones.
public enum DicomVR: String, Sendable, CaseIterable {
    case AE, AS, AT, CS, DA, DS, DT, FD, FL, IS, LO, LT, OB, OD, OF, OL, OV, OW
    case PN, SH, SL, SQ, SS, ST, SV, TM, UC, UI, UL, UN, UR, US, UT, UV

    /// True for OB, OD, OF, OL, OV, OW, SQ, SV, UC, UN, UR, UT, UV (12-byte element header).
    public var hasLongLength: Bool {
        switch self {
        case .OB, .OD, .OF, .OL, .OV, .OW, .SQ, .SV, .UC, .UN, .UR, .UT, .UV: return true
        default: return false
        }
    }

    /// Byte used to pad a value to even length: NUL for UI and the binary VRs, space for text.
    public var paddingByte: UInt8 {
        switch self {
        case .UI, .OB, .OD, .OF, .OL, .OV, .OW, .UN, .AT, .FD, .FL, .SL, .SS, .SV, .UL, .US, .UV, .SQ:
            return 0x00
        default:
            return 0x20
        }
    }

    /// VRs whose `.text` value is meaningful (character strings, possibly multi-valued with `\`).
    public var isText: Bool {
        switch self {
        case .AE, .AS, .CS, .DA, .DS, .DT, .IS, .LO, .LT, .PN, .SH, .ST, .TM, .UC, .UI, .UR, .UT:
            return true
        default:
            return false
        }
    }

    var twoBytes: (UInt8, UInt8) {
        let u = Array(rawValue.utf8)
        return (u[0], u[1])
    }
}

/// The value of one element.
public enum DicomValue: Sendable {
    /// Character string, written as UTF-8 (multiple values separated by `\`).
    case text(String)
    /// Raw bytes, written as given (used for OB/OW/UN and for text in a non-UTF-8 character set).
    case bytes(Data)
    /// Sequence items (VR SQ only); each item is a list of elements (sorted on write).
    case items([[DicomElement]])
    case uint16([UInt16])
    case int16([Int16])
    case uint32([UInt32])
    case int32([Int32])
    case float32([Float])
    case float64([Double])
    /// Attribute tags (VR AT).
    case tags([DicomTag])
    /// Zero-length value (Type 2 "present but empty").
    case empty

    /// ISO-8859-1 (Latin-1) bytes of `string`, for use with SpecificCharacterSet "ISO_IR 100".
    /// Characters outside Latin-1 become `?`.
    public static func latin1(_ string: String) -> DicomValue {
        .bytes(DicomText.latin1Bytes(string))
    }
}

/// One data element. `undefinedLength` only matters for SQ: the sequence and its items are then
/// written with length 0xFFFFFFFF and closed with item / sequence delimitation items.
public struct DicomElement: Sendable {
    public var tag: DicomTag
    public var vr: DicomVR
    public var value: DicomValue
    public var undefinedLength: Bool

    public init(tag: DicomTag, vr: DicomVR, value: DicomValue, undefinedLength: Bool = false) {
        self.tag = tag
        self.vr = vr
        self.value = value
        self.undefinedLength = undefinedLength
    }

    public init(_ group: UInt16, _ element: UInt16, _ vr: DicomVR, _ value: DicomValue, undefinedLength: Bool = false) {
        self.init(tag: DicomTag(group, element), vr: vr, value: value, undefinedLength: undefinedLength)
    }

    /// Text element convenience: `DicomElement(0x0010, 0x0010, .PN, "DOE^JOHN")`.
    public init(_ group: UInt16, _ element: UInt16, _ vr: DicomVR, _ text: String) {
        self.init(tag: DicomTag(group, element), vr: vr, value: .text(text))
    }

    /// Sequence convenience.
    public static func sequence(_ group: UInt16, _ element: UInt16, _ items: [[DicomElement]], undefinedLength: Bool = false) -> DicomElement {
        DicomElement(tag: DicomTag(group, element), vr: .SQ, value: .items(items), undefinedLength: undefinedLength)
    }
}

public enum DicomWriterError: Error, Equatable, CustomStringConvertible {
    case invalidValue(DicomTag, String)
    case duplicateTag(DicomTag)
    case valueTooLong(DicomTag, Int)

    public var description: String {
        switch self {
        case .invalidValue(let t, let why): return "invalid value for \(t): \(why)"
        case .duplicateTag(let t): return "duplicate tag \(t) in one item"
        case .valueTooLong(let t, let n): return "value of \(t) is \(n) bytes, too long for a 2-byte length"
        }
    }
}

public enum DicomWriter {
    public static let explicitVRLittleEndian = "1.2.840.10008.1.2.1"
    static let undefined: UInt32 = 0xFFFF_FFFF

    /// A complete Part 10 file.
    /// - Parameters:
    ///   - preamble: up to 128 bytes (shorter is padded with NUL, longer is an error).
    ///   - meta: the group 0002 elements except (0002,0000), which is computed. Must be group 2.
    ///   - dataset: the dataset; written in Explicit VR Little Endian.
    public static func part10(preamble: Data = Data(), meta: [DicomElement], dataset: [DicomElement]) throws -> Data {
        guard preamble.count <= 128 else {
            throw DicomWriterError.invalidValue(DicomTag(0, 0), "preamble longer than 128 bytes")
        }
        let metaElements = meta.filter { $0.tag != DicomTag.fileMetaInformationGroupLength }
        for e in metaElements where e.tag.group != 0x0002 {
            throw DicomWriterError.invalidValue(e.tag, "file meta elements must be in group 0002")
        }
        for e in dataset where e.tag.group == 0x0002 {
            throw DicomWriterError.invalidValue(e.tag, "group 0002 belongs in the file meta information")
        }
        var metaBody = Data()
        try encode(metaElements, into: &metaBody)

        var out = Data()
        out.reserveCapacity(132 + 12 + metaBody.count + estimatedSize(dataset))
        out.append(preamble)
        if preamble.count < 128 { out.append(Data(count: 128 - preamble.count)) }
        out.append(contentsOf: [0x44, 0x49, 0x43, 0x4D]) // "DICM"
        try encode([DicomElement(tag: DicomTag.fileMetaInformationGroupLength, vr: .UL, value: .uint32([UInt32(metaBody.count)]))], into: &out)
        out.append(metaBody)
        try encode(dataset, into: &out)
        return out
    }

    /// The usual file meta elements (without the group length, which `part10` computes).
    public static func fileMeta(
        sopClassUID: String,
        sopInstanceUID: String,
        implementationClassUID: String,
        implementationVersionName: String? = nil,
        sourceAETitle: String? = nil,
        sendingAETitle: String? = nil,
        receivingAETitle: String? = nil
    ) -> [DicomElement] {
        var m: [DicomElement] = [
            DicomElement(0x0002, 0x0001, .OB, .bytes(Data([0x00, 0x01]))),
            DicomElement(0x0002, 0x0002, .UI, sopClassUID),
            DicomElement(0x0002, 0x0003, .UI, sopInstanceUID),
            DicomElement(0x0002, 0x0010, .UI, explicitVRLittleEndian),
            DicomElement(0x0002, 0x0012, .UI, implementationClassUID),
        ]
        if let v = implementationVersionName { m.append(DicomElement(0x0002, 0x0013, .SH, v)) }
        if let v = sourceAETitle { m.append(DicomElement(0x0002, 0x0016, .AE, v)) }
        if let v = sendingAETitle { m.append(DicomElement(0x0002, 0x0017, .AE, v)) }
        if let v = receivingAETitle { m.append(DicomElement(0x0002, 0x0018, .AE, v)) }
        return m
    }

    /// Encodes a list of elements (one item's worth) in Explicit VR Little Endian, sorted by tag.
    public static func encode(_ elements: [DicomElement]) throws -> Data {
        var d = Data()
        try encode(elements, into: &d)
        return d
    }

    /// Appends the encoding of `elements`, sorted by tag, to `out`.
    public static func encode(_ elements: [DicomElement], into out: inout Data) throws {
        let sorted = elements.sorted { $0.tag < $1.tag }
        var previous: DicomTag?
        for e in sorted {
            if e.tag == previous { throw DicomWriterError.duplicateTag(e.tag) }
            previous = e.tag
            try encodeElement(e, into: &out)
        }
    }

    // MARK: - internals

    static func encodeElement(_ e: DicomElement, into out: inout Data) throws {
        if e.vr == .SQ {
            guard case .items(let items) = e.value else {
                if case .empty = e.value {
                    writeHeader(e.tag, .SQ, length: 0, into: &out)
                    return
                }
                throw DicomWriterError.invalidValue(e.tag, "SQ needs .items")
            }
            if e.undefinedLength {
                writeHeader(e.tag, .SQ, length: undefined, into: &out)
                for item in items {
                    appendTag(DicomTag.item, into: &out)
                    appendUInt32(undefined, into: &out)
                    try encode(item, into: &out)
                    appendTag(DicomTag.itemDelimitationItem, into: &out)
                    appendUInt32(0, into: &out)
                }
                appendTag(DicomTag.sequenceDelimitationItem, into: &out)
                appendUInt32(0, into: &out)
            } else {
                var body = Data()
                for item in items {
                    let itemBytes = try encode(item)
                    appendTag(DicomTag.item, into: &body)
                    appendUInt32(UInt32(itemBytes.count), into: &body)
                    body.append(itemBytes)
                }
                writeHeader(e.tag, .SQ, length: UInt32(body.count), into: &out)
                out.append(body)
            }
            return
        }
        if case .items = e.value { throw DicomWriterError.invalidValue(e.tag, "items given for VR \(e.vr)") }
        if e.undefinedLength { throw DicomWriterError.invalidValue(e.tag, "undefined length is only supported for SQ") }

        let pad = e.vr.paddingByte
        switch e.value {
        case .bytes(let data):
            try writeValue(e, count: data.count, pad: pad, into: &out) { $0.append(data) }
        case .text(let s):
            guard e.vr.isText else { throw DicomWriterError.invalidValue(e.tag, ".text for non-text VR \(e.vr)") }
            let utf8 = s.utf8
            try writeValue(e, count: utf8.count, pad: pad, into: &out) { $0.append(contentsOf: utf8) }
        case .empty:
            writeHeader(e.tag, e.vr, length: 0, into: &out)
        case .uint16(let v):
            try checkVR(e, [.US, .OW, .UN, .OB])
            try writeValue(e, count: v.count * 2, pad: pad, into: &out) { o in for x in v { appendUInt16(x, into: &o) } }
        case .int16(let v):
            try checkVR(e, [.SS, .OW, .UN, .OB])
            try writeValue(e, count: v.count * 2, pad: pad, into: &out) { o in for x in v { appendUInt16(UInt16(bitPattern: x), into: &o) } }
        case .uint32(let v):
            try checkVR(e, [.UL, .OL, .UN, .OB])
            try writeValue(e, count: v.count * 4, pad: pad, into: &out) { o in for x in v { appendUInt32(x, into: &o) } }
        case .int32(let v):
            try checkVR(e, [.SL, .OL, .UN, .OB])
            try writeValue(e, count: v.count * 4, pad: pad, into: &out) { o in for x in v { appendUInt32(UInt32(bitPattern: x), into: &o) } }
        case .float32(let v):
            try checkVR(e, [.FL, .OF, .UN, .OB])
            try writeValue(e, count: v.count * 4, pad: pad, into: &out) { o in for x in v { appendUInt32(x.bitPattern, into: &o) } }
        case .float64(let v):
            try checkVR(e, [.FD, .OD, .UN, .OB])
            try writeValue(e, count: v.count * 8, pad: pad, into: &out) { o in
                for x in v {
                    let b = x.bitPattern
                    appendUInt32(UInt32(truncatingIfNeeded: b), into: &o)
                    appendUInt32(UInt32(truncatingIfNeeded: b >> 32), into: &o)
                }
            }
        case .tags(let v):
            try checkVR(e, [.AT, .UN])
            try writeValue(e, count: v.count * 4, pad: pad, into: &out) { o in
                for t in v { appendUInt16(t.group, into: &o); appendUInt16(t.element, into: &o) }
            }
        case .items:
            break // handled above
        }
    }

    static func checkVR(_ e: DicomElement, _ allowed: [DicomVR]) throws {
        if !allowed.contains(e.vr) {
            throw DicomWriterError.invalidValue(e.tag, "value kind does not fit VR \(e.vr)")
        }
    }

    /// Writes header + value (+ one pad byte when `count` is odd).
    static func writeValue(_ e: DicomElement, count: Int, pad: UInt8, into out: inout Data, body: (inout Data) -> Void) throws {
        let padded = count + (count & 1)
        if !e.vr.hasLongLength && padded > 0xFFFF { throw DicomWriterError.valueTooLong(e.tag, padded) }
        if padded > 0xFFFF_FFFE { throw DicomWriterError.valueTooLong(e.tag, padded) }
        writeHeader(e.tag, e.vr, length: UInt32(padded), into: &out)
        body(&out)
        if count & 1 == 1 { out.append(pad) }
    }

    static func writeHeader(_ tag: DicomTag, _ vr: DicomVR, length: UInt32, into out: inout Data) {
        appendTag(tag, into: &out)
        let (a, b) = vr.twoBytes
        out.append(a)
        out.append(b)
        if vr.hasLongLength {
            out.append(0)
            out.append(0)
            appendUInt32(length, into: &out)
        } else {
            appendUInt16(UInt16(truncatingIfNeeded: length), into: &out)
        }
    }

    @inline(__always) static func appendTag(_ t: DicomTag, into out: inout Data) {
        appendUInt16(t.group, into: &out)
        appendUInt16(t.element, into: &out)
    }

    @inline(__always) static func appendUInt16(_ v: UInt16, into out: inout Data) {
        out.append(UInt8(truncatingIfNeeded: v))
        out.append(UInt8(truncatingIfNeeded: v >> 8))
    }

    @inline(__always) static func appendUInt32(_ v: UInt32, into out: inout Data) {
        out.append(UInt8(truncatingIfNeeded: v))
        out.append(UInt8(truncatingIfNeeded: v >> 8))
        out.append(UInt8(truncatingIfNeeded: v >> 16))
        out.append(UInt8(truncatingIfNeeded: v >> 24))
    }

    static func estimatedSize(_ elements: [DicomElement]) -> Int {
        var n = 0
        for e in elements {
            switch e.value {
            case .bytes(let d): n += d.count + 12
            case .text(let s): n += s.utf8.count + 12
            default: n += 64
            }
        }
        return n
    }
}

/// Text helpers shared by the fixture code.
public enum DicomText {
    /// ISO-8859-1 bytes; characters outside Latin-1 become `?`.
    public static func latin1Bytes(_ s: String) -> Data {
        var d = Data()
        d.reserveCapacity(s.unicodeScalars.count)
        for u in s.unicodeScalars {
            d.append(u.value < 256 ? UInt8(u.value) : 0x3F)
        }
        return d
    }

    /// True when every scalar is 7-bit ASCII.
    public static func isASCII(_ s: String) -> Bool {
        s.unicodeScalars.allSatisfy { $0.value < 128 }
    }

    /// Decimal String (DS) text of at most 16 characters. Uses the shortest representation that
    /// parses back to the same Double when it fits, otherwise rounds to fewer significant digits.
    /// `Double(ds(v))` is what a reader gets back; use `dsRoundTrip` to know it in advance.
    public static func ds(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 {
            return String(Int64(v))
        }
        let s = "\(v)"
        if s.count <= 16 { return s }
        var precision = 15
        while precision > 1 {
            let t = String(format: "%.\(precision)g", v)
            if t.count <= 16 { return t }
            precision -= 1
        }
        return String(format: "%.1g", v)
    }

    /// The Double a reader obtains from `ds(v)`.
    public static func dsRoundTrip(_ v: Double) -> Double {
        Double(ds(v)) ?? v
    }
}
