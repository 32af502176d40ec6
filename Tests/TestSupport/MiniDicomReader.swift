import Foundation

/// A minimal Explicit VR Little Endian reader, independent of the writer, used to check its bytes.
public struct ParsedElement {
    public var group: UInt16
    public var element: UInt16
    public var vr: String
    /// The length field as written (0xFFFFFFFF for undefined length).
    public var rawLength: UInt32
    /// Value bytes (empty for SQ).
    public var value: Data
    /// Items of an SQ.
    public var items: [ParsedItem] = []
    /// Offset of the element's first byte in the parsed buffer.
    public var offset: Int

    public var undefinedLength: Bool { rawLength == 0xFFFF_FFFF }
    public var string: String { String(decoding: value, as: UTF8.self) }
    /// Text with trailing padding (space or NUL) removed.
    public var trimmed: String {
        var v = value
        while let last = v.last, last == 0x20 || last == 0x00 { v.removeLast() }
        return String(decoding: v, as: UTF8.self)
    }
    public var uint16: UInt16 { UInt16(value[value.startIndex]) | UInt16(value[value.startIndex + 1]) << 8 }
}

public struct ParsedItem {
    public var rawLength: UInt32
    public var elements: [ParsedElement]
    public var undefinedLength: Bool { rawLength == 0xFFFF_FFFF }

    public func first(_ g: UInt16, _ e: UInt16) -> ParsedElement? {
        elements.first { $0.group == g && $0.element == e }
    }
}

public struct ParsedFile {
    public var preamble: Data
    public var meta: [ParsedElement]
    public var dataset: ParsedItem
    /// Byte count of the meta elements after (0002,0000).
    public var metaBodyLength: Int
}

public enum MiniDicomError: Error { case truncated(Int), notPart10, badItem(Int), badDelimiter(Int) }

public struct MiniDicomReader {
    public let d: [UInt8]
    public var pos = 0

    public init(_ data: Data) { d = [UInt8](data) }

    public static let longVRs: Set<String> = ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]

    public static func parseFile(_ data: Data) throws -> ParsedFile {
        var r = MiniDicomReader(data)
        guard r.d.count >= 132, Array(r.d[128..<132]) == Array("DICM".utf8) else { throw MiniDicomError.notPart10 }
        r.pos = 132
        var meta: [ParsedElement] = []
        var metaStart = 0
        while r.pos + 2 <= r.d.count, r.u16(r.pos) == 0x0002 {
            let e = try r.element()
            if e.element == 0 { metaStart = r.pos }
            meta.append(e)
        }
        let metaBody = r.pos - metaStart
        var elements: [ParsedElement] = []
        while r.pos < r.d.count { elements.append(try r.element()) }
        return ParsedFile(preamble: Data(r.d[0..<128]), meta: meta,
                          dataset: ParsedItem(rawLength: UInt32(elements.count), elements: elements), metaBodyLength: metaBody)
    }

    public static func parseElements(_ data: Data) throws -> [ParsedElement] {
        var r = MiniDicomReader(data)
        var out: [ParsedElement] = []
        while r.pos < r.d.count { out.append(try r.element()) }
        return out
    }

    public func u16(_ p: Int) -> UInt16 { UInt16(d[p]) | UInt16(d[p + 1]) << 8 }
    public func u32(_ p: Int) -> UInt32 { UInt32(u16(p)) | UInt32(u16(p + 2)) << 16 }

    public mutating func need(_ n: Int) throws { if pos + n > d.count { throw MiniDicomError.truncated(pos) } }

    public mutating func element() throws -> ParsedElement {
        try need(8)
        let start = pos
        let g = u16(pos), el = u16(pos + 2)
        let vr = String(decoding: d[(pos + 4)..<(pos + 6)], as: UTF8.self)
        var length: UInt32
        if Self.longVRs.contains(vr) {
            try need(12)
            length = u32(pos + 8)
            pos += 12
        } else {
            length = UInt32(u16(pos + 6))
            pos += 8
        }
        var e = ParsedElement(group: g, element: el, vr: vr, rawLength: length, value: Data(), offset: start)
        if vr == "SQ" {
            e.items = try sequenceItems(length)
        } else {
            try need(Int(length))
            e.value = Data(d[pos..<(pos + Int(length))])
            pos += Int(length)
        }
        return e
    }

    public mutating func sequenceItems(_ length: UInt32) throws -> [ParsedItem] {
        var items: [ParsedItem] = []
        let end = length == 0xFFFF_FFFF ? Int.max : pos + Int(length)
        while pos < end {
            try need(8)
            let g = u16(pos), el = u16(pos + 2), len = u32(pos + 4)
            pos += 8
            if g == 0xFFFE && el == 0xE0DD {
                guard length == 0xFFFF_FFFF, len == 0 else { throw MiniDicomError.badDelimiter(pos - 8) }
                return items
            }
            guard g == 0xFFFE && el == 0xE000 else { throw MiniDicomError.badItem(pos - 8) }
            var elements: [ParsedElement] = []
            if len == 0xFFFF_FFFF {
                while true {
                    try need(8)
                    if u16(pos) == 0xFFFE && u16(pos + 2) == 0xE00D {
                        guard u32(pos + 4) == 0 else { throw MiniDicomError.badDelimiter(pos) }
                        pos += 8
                        break
                    }
                    elements.append(try element())
                }
            } else {
                let itemEnd = pos + Int(len)
                while pos < itemEnd { elements.append(try element()) }
                guard pos == itemEnd else { throw MiniDicomError.badItem(pos) }
            }
            items.append(ParsedItem(rawLength: len, elements: elements))
        }
        guard pos == end else { throw MiniDicomError.badItem(pos) }
        return items
    }
}

extension Data {
    /// True when `needle` occurs as a contiguous byte run.
    public func containsBytes(_ needle: Data) -> Bool {
        guard !needle.isEmpty else { return true }
        return self.range(of: needle) != nil
    }
}
