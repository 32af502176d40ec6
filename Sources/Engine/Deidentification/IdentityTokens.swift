import Foundation
import Synchronization

/// Words taken from the values the profile removes (names, IDs, addresses, institutions):
/// a descriptor kept by the Clean Descriptors option must contain none of them. Matching runs
/// on the text converted to UTF-8 and, independently, on the raw bytes read as Latin-1, so a
/// character set that cannot be converted cannot hide a name.
struct IdentityTokens {
    private(set) var words: Set<String> = []
    /// Long tokens are also searched inside words ("QUARTZHOLLOWS", "DRQUARTZHOLLOW"), as UTF-8 bytes.
    private(set) var long: Set<[UInt8]> = []

    /// Titles and connectives that occur in names but identify nobody.
    private static let ignored: Set<String> = ["DR", "MD", "MR", "MRS", "MS", "PHD", "JR", "SR", "THE", "AND", "OF", "VON", "VAN", "DE"]

    var isEmpty: Bool { words.isEmpty }

    mutating func add(_ text: String, minimumLength: Int) {
        for word in Self.split(text) where word.count >= minimumLength && !Self.ignored.contains(word) {
            // Short numbers (1, 12, 007) are too common to stand for a person.
            if word.utf8.count < 4 && word.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) { continue }
            words.insert(word)
            if word.count >= 5 { long.insert(Array(word.utf8)) }
        }
    }

    func matches(_ text: String) -> Bool {
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
        for word in Self.split(upper) where words.contains(word) { return true }
        guard !long.isEmpty else { return false }
        // A byte search: Foundation's String.contains is locale-aware and far slower.
        let haystack = Array(upper.utf8)
        return long.contains { Self.contains(haystack, $0) }
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        let first = needle[0]
        for start in 0...(haystack.count - needle.count) where haystack[start] == first {
            var index = 1
            while index < needle.count && haystack[start + index] == needle[index] { index += 1 }
            if index == needle.count { return true }
        }
        return false
    }

    static func split(_ text: String) -> [String] {
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

    /// Raw bytes as Latin-1: lossless for any byte, so the same bytes always give the same words.
    static func latin1(_ bytes: [UInt8]) -> String {
        if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
        return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }
}

/// Identity words of recent files, keyed by the values they were taken from: the files of a series
/// share names, IDs and institutions, and building the word sets for every file showed in the
/// profile. Small and cleared when full: a job's series need a handful of entries.
final class IdentityTokenCache: Sendable {
    private let entries = Mutex<[[UInt8]: IdentityTokens]>([:])
    static let capacity = 64

    func tokens(for key: [UInt8], build: () -> IdentityTokens) -> IdentityTokens {
        if let hit = entries.withLock({ $0[key] }) { return hit }
        let built = build()
        entries.withLock {
            if $0.count >= Self.capacity { $0.removeAll() }
            $0[key] = built
        }
        return built
    }
}
