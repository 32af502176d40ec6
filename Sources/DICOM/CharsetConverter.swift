import CDCMTK
import CPlatform
import Foundation
import Platform
import Synchronization

/// Converts text in a dataset's SpecificCharacterSet to UTF-8. Conversion can fail (ISO 2022
/// IR 87, charsets declared inside a sequence item); callers keep the raw bytes for matching.
public final class CharsetConverter {
    private let handle: OpaquePointer?
    /// Japanese code extensions: DCMTK converts them through the C library's iconv, which on glibc
    /// does not know ISO 2022 IR 87 by that name; Foundation's ISO-2022-JP reads the same escapes
    /// (ESC $ B to JIS X 0208, ESC ( B back to ASCII).
    private let japanese: Bool

    public init(specificCharacterSet: String) {
        handle = ctd_charset_new(specificCharacterSet)
        let terms = specificCharacterSet.split(separator: "\\", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        japanese = terms.contains { ["ISO 2022 IR 87", "ISO 2022 IR 13", "ISO 2022 IR 159"].contains($0) }
    }

    deinit { if let handle { ctd_charset_free(handle) } }

    public func utf8(_ bytes: [UInt8]) -> String? {
        // ISO 2022 text is 7-bit too: only bytes without ESC read as ASCII.
        if bytes.allSatisfy({ $0 < 0x80 && $0 != 0x1B }) { return String(decoding: bytes, as: UTF8.self) }
        if let handle {
            var out: UnsafeMutablePointer<CChar>?
            var length = 0
            let status = bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { ctd_charset_convert(handle, $0.baseAddress, $0.count, &out, &length) }
            }
            if status == 0, let out {
                defer { ctd_string_free(out) }
                return String(cString: out)
            }
        }
        return japanese ? String(data: Data(bytes), encoding: .iso2022JP) : nil
    }
}
