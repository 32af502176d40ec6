import Foundation
import Glibc

/// File names on Linux are bytes, not text: exports from PACS or CD viewers can hold names that are not
/// UTF-8 (Latin-1 patient names, broken tools). Foundation turns such bytes into U+FFFD, and the altered
/// name then names no file. The service carries every name it lists as text that maps back to the
/// very same bytes, and turns that text back into bytes at each system call.
///
/// The text form: valid UTF-8 is kept as it is; each byte that is not part of valid UTF-8 becomes
/// `\xNN` (two upper-case hex digits, always 80-FF). A literal backslash becomes `\x5C` only where it
/// would otherwise be read as such an escape (followed by `x` and 80-FF or 5C), so the mapping is
/// lossless both ways and every name that is valid UTF-8 (all but the odd one) is recorded unchanged.
public enum RawName {
    /// The text form of a name (or a relative path) as found on disk.
    public static func text<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String {
        if !bytes.contains(0x5C), let valid = String(validating: bytes, as: UTF8.self) { return valid }
        var result = ""
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let length = validSequenceLength(bytes, at: index)
            if length == 0 {
                result += escape(bytes[index])
                index = bytes.index(after: index)
                continue
            }
            let end = bytes.index(index, offsetBy: length)
            if bytes[index] == 0x5C, isEscape(bytes[bytes.index(after: index)..<bytes.endIndex]) {
                result += escape(0x5C)
            } else {
                result += String(decoding: bytes[index..<end], as: UTF8.self)
            }
            index = end
        }
        return result
    }

    /// The bytes a text form stands for (the inverse of `text`).
    public static func bytes(_ text: String) -> [UInt8] {
        let utf8 = Array(text.utf8)
        guard utf8.contains(0x5C) else { return utf8 }
        var result: [UInt8] = []
        result.reserveCapacity(utf8.count)
        var index = 0
        while index < utf8.count {
            if utf8[index] == 0x5C, let value = escapedByte(utf8[(index + 1)...]) {
                result.append(value)
                index += 4
            } else {
                result.append(utf8[index])
                index += 1
            }
        }
        return result
    }

    /// True when the text form is the name's bytes as they are (no escape in it).
    public static func isVerbatim(_ text: String) -> Bool {
        bytes(text) == Array(text.utf8)
    }

    /// A name that can be written as it reads: escapes lose their backslash (`IM\xFF.dcm` becomes
    /// `IM%xFF.dcm`), for outputs that keep input names.
    public static func writable(_ text: String) -> String {
        isVerbatim(text) ? text : text.replacingOccurrences(of: "\\", with: "%")
    }

    /// A NUL-terminated path for libc from a text-form path.
    public static func systemPath(_ text: String) -> [CChar] {
        (bytes(text) + [0]).map { CChar(bitPattern: $0) }
    }

    /// False for a name whose bytes are not UTF-8 (its text form holds `\xNN` escapes).
    public static func isUTF8(_ text: String) -> Bool {
        String(validating: bytes(text), as: UTF8.self) != nil
    }

    /// lstat(2) of a text-form path: symbolic links are never followed.
    public static func lstat(_ text: String) -> stat? {
        var info = stat()
        return Glibc.lstat(systemPath(text), &info) == 0 ? info : nil
    }

    /// The names in a folder in text form, without "." and "..", unsorted; the errno on failure.
    public static func list(_ directory: String) -> Result<[String], POSIXError> {
        guard let handle = opendir(systemPath(directory)) else { return .failure(posixError(errno)) }
        defer { closedir(handle) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(handle) else {
                if errno != 0 { return .failure(posixError(errno)) }
                return .success(names)
            }
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { raw in text(raw.prefix { $0 != 0 }) }
            if name != "." && name != ".." { names.append(name) }
        }
    }

    package static func posixError(_ code: Int32) -> POSIXError { POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO) }

    // MARK: - escapes

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    private static func escape(_ byte: UInt8) -> String {
        "\\x" + String(decoding: [hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]], as: UTF8.self)
    }

    /// The byte of an escape whose `x` starts `rest` (the bytes after a backslash), if it is one.
    private static func escapedByte<Bytes: Collection<UInt8>>(_ rest: Bytes) -> UInt8? {
        var iterator = rest.makeIterator()
        guard iterator.next() == UInt8(ascii: "x"), let high = iterator.next().flatMap(hexValue),
              let low = iterator.next().flatMap(hexValue) else { return nil }
        let value = high << 4 | low
        return value >= 0x80 || value == 0x5C ? value : nil
    }

    private static func isEscape<Bytes: Collection<UInt8>>(_ rest: Bytes) -> Bool { escapedByte(rest) != nil }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Length of the valid UTF-8 sequence at `index` (RFC 3629: no overlongs, no surrogates,
    /// nothing past U+10FFFF), 0 when the byte there does not start one.
    private static func validSequenceLength<Bytes: Collection<UInt8>>(_ bytes: Bytes, at index: Bytes.Index) -> Int {
        let lead = bytes[index]
        if lead < 0x80 { return 1 }
        let length: Int
        var lower: UInt8 = 0x80, upper: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; lower = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; upper = 0x9F
        case 0xF0: length = 4; lower = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; upper = 0x8F
        default: return 0
        }
        var position = bytes.index(after: index)
        for offset in 1..<length {
            guard position != bytes.endIndex else { return 0 }
            let byte = bytes[position]
            let (low, high) = offset == 1 ? (lower, upper) : (UInt8(0x80), UInt8(0xBF))
            guard byte >= low && byte <= high else { return 0 }
            position = bytes.index(after: position)
        }
        return length
    }
}
