import Foundation
#if canImport(Glibc)
import Glibc
private let systemRead = Glibc.read
#else
import Darwin
private let systemRead = Darwin.read
#endif

/// The stored pixel values of an uncompressed little-endian image, read straight from its file.
///
/// Assembling a 300-slice volume through the toolkit parses each file again and copies each
/// 512 KB frame three times into fresh allocations (the toolkit's buffer, the C shim's, the Swift
/// array), whose page faults cost more than the reading. This reads the file into one buffer that
/// the caller reuses, walks its elements (sequences included) to the top-level Pixel Data, and
/// hands out a pointer into the buffer. Anything else (compressed, deflated or big-endian transfer
/// syntaxes, no "DICM" preamble, an inconsistent length) returns nil, and the caller uses the
/// toolkit, which stays the authority.
package struct RawPixels {
    /// Reused between files by one worker; the file occupies its first `size` bytes.
    private var buffer: [UInt8] = []
    private var size = 0

    /// Calls `body` with the first `count` stored values and returns its result, or returns nil.
    package mutating func read<T>(path: String, count: Int, _ body: (UnsafePointer<UInt16>) -> T) -> T? {
        guard count > 0, load(path) else { return nil }
        let size = self.size
        return buffer.withUnsafeBytes { whole -> T? in
            let file = UnsafeRawBufferPointer(rebasing: whole[0..<size])
            guard let offset = Self.pixelDataOffset(file, minimumLength: 2 * count), offset % 2 == 0 else { return nil }
            return body((file.baseAddress! + offset).assumingMemoryBound(to: UInt16.self))
        }
    }

    /// Reads the whole file into `buffer`, which only ever grows.
    private mutating func load(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size > 132, info.st_size < 1 << 31 else { return false }
        size = Int(info.st_size)
        if buffer.count < size { buffer = [UInt8](repeating: 0, count: size) }
        let size = self.size
        return buffer.withUnsafeMutableBytes { raw -> Bool in
            var done = 0
            while done < size {
                let n = systemRead(fd, raw.baseAddress! + done, size - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                done += n
            }
            return true
        }
    }

    package static let explicitLittle = "1.2.840.10008.1.2.1"
    package static let implicitLittle = "1.2.840.10008.1.2"

    /// Offset of the top-level Pixel Data value, when the file is Part 10 in explicit or implicit VR
    /// little endian and that value holds at least `minimumLength` bytes.
    package static func pixelDataOffset(_ file: UnsafeRawBufferPointer, minimumLength: Int) -> Int? {
        guard file.count > 132, file[128] == 0x44, file[129] == 0x49, file[130] == 0x43, file[131] == 0x4D else { return nil }
        let walker = Walker(bytes: file)
        // File meta information: explicit VR little endian, group 0002.
        var offset = 132
        var syntax: String?
        while offset + 8 <= file.count, walker.u16(offset) == 0x0002 {
            guard let e = walker.element(at: offset, explicit: true), e.length != Walker.undefined else { return nil }
            if e.element == 0x0010 {
                let bytes = file[e.value..<e.value + e.length].prefix { $0 != 0 && $0 != 0x20 }
                syntax = String(decoding: bytes, as: UTF8.self)
            }
            offset = e.value + e.length
        }
        let explicit: Bool
        switch syntax {
        case explicitLittle?: explicit = true
        case implicitLittle?: explicit = false
        default: return nil
        }
        while offset + 8 <= file.count {
            guard let e = walker.element(at: offset, explicit: explicit) else { return nil }
            if e.group == 0x7FE0 && e.element == 0x0010 {
                guard e.length != Walker.undefined, e.length >= minimumLength else { return nil }
                return e.value
            }
            if e.length == Walker.undefined {
                // A sequence (or, in explicit VR, UN of undefined length, encoded implicitly).
                guard let next = walker.skipSequence(at: e.value, explicit: explicit && e.vr != Walker.un) else { return nil }
                offset = next
            } else {
                offset = e.value + e.length
            }
        }
        return nil
    }

    /// Element headers of a little-endian data set, checked against the end of the file.
    package struct Walker {
        package let bytes: UnsafeRawBufferPointer
        package static let undefined = 0xFFFF_FFFF
        package static let un = vr("UN"), sq = vr("SQ")
        /// VRs with a 2-byte reserved field and a 4-byte length in explicit VR.
        package static let longVRs: Set<UInt16> = Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"].map(vr))
        /// Sequences stop being followed this deep: a real image nests a few levels.
        package static let maximumDepth = 64

        package static func vr(_ s: String) -> UInt16 {
            let u = Array(s.utf8)
            return UInt16(u[0]) | UInt16(u[1]) << 8
        }

        @inline(__always) package func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
        @inline(__always) package func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }

        package struct Element {
            package let group: Int, element: Int, vr: UInt16, length: Int, value: Int
        }

        package func element(at o: Int, explicit: Bool) -> Element? {
            guard o + 8 <= bytes.count else { return nil }
            let group = u16(o), element = u16(o + 2)
            var vr: UInt16 = 0, length: Int, value: Int
            if group == 0xFFFE || !explicit {
                // Items and delimiters carry no VR in any syntax.
                length = u32(o + 4)
                value = o + 8
            } else {
                vr = UInt16(u16(o + 4))
                if Self.longVRs.contains(vr) {
                    guard o + 12 <= bytes.count else { return nil }
                    length = u32(o + 8)
                    value = o + 12
                } else {
                    length = u16(o + 6)
                    value = o + 8
                }
            }
            if length != Self.undefined && value + length > bytes.count { return nil }
            return Element(group: group, element: element, vr: vr, length: length, value: value)
        }

        /// Offset after the delimiter of the undefined-length sequence whose items start at `o`.
        package func skipSequence(at start: Int, explicit: Bool, depth: Int = 0) -> Int? {
            guard depth < Self.maximumDepth else { return nil }
            var o = start
            while let e = element(at: o, explicit: explicit) {
                guard e.group == 0xFFFE else { return nil }
                switch e.element {
                case 0xE0DD: return e.value
                case 0xE000:
                    if e.length == Self.undefined {
                        guard let next = skipItem(at: e.value, explicit: explicit, depth: depth + 1) else { return nil }
                        o = next
                    } else {
                        o = e.value + e.length
                    }
                default: return nil
                }
            }
            return nil
        }

        /// Offset after the delimiter of the undefined-length item whose elements start at `o`.
        package func skipItem(at start: Int, explicit: Bool, depth: Int) -> Int? {
            var o = start
            while let e = element(at: o, explicit: explicit) {
                if e.group == 0xFFFE {
                    return e.element == 0xE00D ? e.value : nil
                }
                if e.length == Self.undefined {
                    guard let next = skipSequence(at: e.value, explicit: explicit && e.vr != Self.un, depth: depth + 1) else { return nil }
                    o = next
                } else {
                    o = e.value + e.length
                }
            }
            return nil
        }
    }
}
