import Foundation
import Synchronization

/// Words taken from the values the profile removes (names, IDs, addresses, institutions):
/// a descriptor kept by the Clean Descriptors option must contain none of them. Matching runs
/// on the text converted to UTF-8 and, independently, on the raw bytes read as Latin-1, so a
/// character set that cannot be converted cannot hide a name.
package struct IdentityTokens {
    package private(set) var words: Set<String> = []
    /// Long tokens are also searched inside words ("QUARTZHOLLOWS", "DRQUARTZHOLLOW"), as UTF-8 bytes.
    package private(set) var long: Set<[UInt8]> = []

    /// Titles and connectives that occur in names but identify nobody.
    private static let ignored: Set<String> = ["DR", "MD", "MR", "MRS", "MS", "PHD", "JR", "SR", "THE", "AND", "OF", "VON", "VAN", "DE"]

    package var isEmpty: Bool { words.isEmpty }

    package mutating func add(_ text: String, minimumLength: Int) {
        for word in Self.split(text) where word.count >= minimumLength && !Self.ignored.contains(word) {
            // Short numbers (1, 12, 007) are too common to stand for a person.
            if word.utf8.count < 4 && word.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) { continue }
            // "MÜLLER" is also written "MULLER": the word is kept with its accents folded away too.
            for form in Set([word, Self.folded(word)]) {
                words.insert(form)
                if form.count >= 5 { long.insert(Array(form.utf8)) }
            }
        }
    }

    /// Accents and other diacritics taken off (NFD, combining marks dropped); ASCII as it is.
    package static func folded(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 < 0x80 }) { return text }
        let scalars = text.decomposedStringWithCanonicalMapping.unicodeScalars.filter {
            !(0x0300...0x036F).contains($0.value)
        }
        return String(String.UnicodeScalarView(scalars))
    }

    package func matches(_ text: String) -> Bool {
        // Most values are ASCII: upper-cased and split on their bytes, as `split` does.
        var bytes = Array(text.utf8)
        if bytes.allSatisfy({ $0 < 0x80 }) {
            var start = 0
            for index in 0...bytes.count {
                var byte: UInt8 = 0
                if index < bytes.count {
                    byte = bytes[index]
                    if byte >= 0x61 && byte <= 0x7A { byte -= 0x20; bytes[index] = byte }
                }
                if (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) { continue }
                if index > start && words.contains(String(decoding: bytes[start..<index], as: UTF8.self)) { return true }
                start = index + 1
            }
            return long.contains { Self.contains(bytes, $0) }
        }
        let upper = text.uppercased()
        for word in Self.split(upper) where words.contains(word) || words.contains(Self.folded(word)) { return true }
        guard !long.isEmpty else { return false }
        // A byte search: Foundation's String.contains is locale-aware and far slower.
        let haystack = Array(upper.utf8), foldedHaystack = Array(Self.folded(upper).utf8)
        return long.contains { Self.contains(haystack, $0) || Self.contains(foldedHaystack, $0) }
    }

    package static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        let first = needle[0]
        for start in 0...(haystack.count - needle.count) where haystack[start] == first {
            var index = 1
            while index < needle.count && haystack[start + index] == needle[index] { index += 1 }
            if index == needle.count { return true }
        }
        return false
    }

    package static func split(_ text: String) -> [String] {
        // Most values are ASCII: split their bytes directly (Character properties are slow).
        if text.utf8.allSatisfy({ $0 < 0x80 }) {
            var words: [String] = []
            var word: [UInt8] = []
            for byte in text.utf8 {
                switch byte {
                case 0x30...0x39, 0x41...0x5A: word.append(byte)
                case 0x61...0x7A: word.append(byte - 0x20)
                default:
                    if !word.isEmpty { words.append(String(decoding: word, as: UTF8.self)) }
                    word.removeAll(keepingCapacity: true)
                }
            }
            if !word.isEmpty { words.append(String(decoding: word, as: UTF8.self)) }
            return words
        }
        return text.uppercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map(String.init)
    }

    /// 7-bit bytes without ESC: they read the same in every character set DICOM allows. (ISO 2022
    /// text is 7-bit too, but its escapes switch to other sets, JIS X 0208 for instance.)
    package static func isPlainASCII(_ bytes: [UInt8]) -> Bool {
        bytes.allSatisfy { $0 < 0x80 && $0 != 0x1B }
    }

    /// The bytes with every ISO 2022 escape sequence (ESC, intermediate bytes 0x20-0x2F, a final
    /// byte 0x30-0x7E) taken out: an escape to ASCII inside a word ("QUARTZ<ESC>(BHOLLOW") would
    /// otherwise split it in two.
    package static func withoutEscapes(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.contains(0x1B) else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x1B {
                var j = i + 1
                while j < bytes.count, bytes[j] >= 0x20, bytes[j] <= 0x2F { j += 1 }
                if j < bytes.count, bytes[j] >= 0x30, bytes[j] <= 0x7E { i = j + 1; continue }
            }
            out.append(bytes[i])
            i += 1
        }
        return out
    }

    /// Raw bytes as Latin-1: lossless for any byte, so the same bytes always give the same words.
    package static func latin1(_ bytes: [UInt8]) -> String {
        if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
        return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }
}

/// Identity words of recent files, keyed by the values they were taken from: the files of a series
/// share names, IDs and institutions, and building the word sets for every file showed in the
/// profile. Small and cleared when full: a job's series need a handful of entries.
package final class IdentityTokenCache: Sendable {
    /// Every removed value's words, and those of the values that name or number the patient alone.
    package struct Sets {
        package var all = IdentityTokens()
        package var personal = IdentityTokens()
    }
    private let entries = Mutex<[[UInt8]: Sets]>([:])
    package static let capacity = 64

    package func tokens(for key: [UInt8], build: () -> Sets) -> Sets {
        if let hit = entries.withLock({ $0[key] }) { return hit }
        let built = build()
        entries.withLock {
            if $0.count >= Self.capacity { $0.removeAll() }
            $0[key] = built
        }
        return built
    }
}
